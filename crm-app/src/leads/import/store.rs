//! The database steps of lead imports: every statement on `lead_imports`.
//! Each takes the request's (or the import task's) transaction and names
//! its tenant.

use chrono::{DateTime, Utc};
use ops_kit::on_backend;
use ops_kit::sql::Transaction;
use sqlx::types::Json;
use uuid::Uuid;

use super::model::{ImportState, LeadImport, Progress, Refused};
use crate::leads::store::for_update;

const COLUMNS: &str = "tenant_id, id, created_by, file_name, state, rows, refused, ignored, \
     total, processed, created, updated, unchanged, failed, created_at, heartbeat_at, finished_at";

const PROGRESS: &str = "state, total, processed, created, updated, unchanged, heartbeat_at";

/// Stores a previewed import.
pub async fn insert(tx: &mut Transaction, import: &LeadImport) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "INSERT INTO lead_imports (tenant_id, id, created_by, file_name, state, rows, refused, \
             ignored, total, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(import.tenant_id)
        .bind(import.id)
        .bind(import.created_by)
        .bind(&import.file_name)
        .bind(&import.state)
        .bind(&import.rows)
        .bind(&import.refused)
        .bind(&import.ignored)
        .bind(import.total)
        .bind(import.created_at)
        .execute(&mut **conn)
        .await
        .map(drop)
    })
}

/// An import of the tenant, rows and all.
pub async fn get(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<LeadImport>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM lead_imports WHERE tenant_id = $1 AND id = $2");
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut **conn).await
    })
}

/// An import's progress, locked for the rest of the transaction.
pub async fn progress_for_update(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<Progress>, sqlx::Error> {
    let sql = format!(
        "SELECT {PROGRESS} FROM lead_imports WHERE tenant_id = $1 AND id = $2{}",
        for_update(tx)
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut **conn).await
    })
}

/// The rows that failed so far, locked with the import.
pub async fn failed_for_update(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Vec<Refused>, sqlx::Error> {
    let sql = format!(
        "SELECT failed FROM lead_imports WHERE tenant_id = $1 AND id = $2{}",
        for_update(tx)
    );
    let failed: Option<Json<Vec<Refused>>> = on_backend!(tx, conn => {
        sqlx::query_scalar(&sql).bind(tenant).bind(id).fetch_optional(&mut **conn).await?
    });
    Ok(failed.map(|f| f.0).unwrap_or_default())
}

/// Moves an import to `state` with its last batch's time.
pub async fn set_state(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    state: ImportState,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "UPDATE lead_imports SET state = $3, heartbeat_at = $4 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(state.as_str())
        .bind(now)
        .execute(&mut **conn)
        .await
        .map(drop)
    })
}

/// The counts after a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance<'a> {
    /// Rows written or failed.
    pub processed: i32,
    /// New leads.
    pub created: i32,
    /// Changed leads.
    pub updated: i32,
    /// Unchanged leads.
    pub unchanged: i32,
    /// Every row failed so far.
    pub failed: &'a [Refused],
    /// Whether this was the last batch.
    pub done: bool,
}

/// Records a batch's counts (and the end, after the last one).
pub async fn advance(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    counts: &Advance<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let state = if counts.done {
        ImportState::Done
    } else {
        ImportState::Running
    };
    let finished = counts.done.then_some(now);
    on_backend!(tx, conn => {
        sqlx::query(
            "UPDATE lead_imports SET processed = $3, created = $4, updated = $5, unchanged = $6, \
             failed = $7, state = $8, heartbeat_at = $9, finished_at = $10 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(counts.processed)
        .bind(counts.created)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(Json(counts.failed))
        .bind(state.as_str())
        .bind(now)
        .bind(finished)
        .execute(&mut **conn)
        .await
        .map(drop)
    })
}

/// Deletes a previewed import; `false` when there is none to delete.
pub async fn discard(tx: &mut Transaction, tenant: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query("DELETE FROM lead_imports WHERE tenant_id = $1 AND id = $2 AND state = 'previewed'")
            .bind(tenant)
            .bind(id)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected() == 1)
    })
}
