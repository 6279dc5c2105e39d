//! The database steps of leads. Each names its tenant even where
//! Row-Level Security would filter anyway.

use chrono::{DateTime, Utc};
use ops_kit::on_backend;
use ops_kit::sql::{Backend, Transaction};
use sqlx::types::Json;
use uuid::Uuid;

use super::model::{COLUMNS, LeadRef, LeadRow};
use crate::api::sql::{Arg, Sql};
use crate::bind_args;

/// `FOR UPDATE` where the database has it. SQLite's write transactions
/// (`BEGIN IMMEDIATE`) already exclude other writers.
pub fn for_update(tx: &Transaction) -> &'static str {
    match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        _ => "",
    }
}

/// A lead of the tenant, deleted or not, locked for the rest of the
/// transaction when `lock`.
pub async fn get(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Option<LeadRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM leads WHERE tenant_id = $1 AND id = $2{}",
        if lock { for_update(tx) } else { "" }
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut **conn).await
    })
}

/// The lead with this external id or email key (deleted ones too).
pub async fn find_by(
    tx: &mut Transaction,
    tenant: Uuid,
    column: &'static str,
    value: &str,
) -> Result<Option<LeadRow>, sqlx::Error> {
    debug_assert!(matches!(column, "external_id" | "email_key"));
    let sql = format!(
        "SELECT {COLUMNS} FROM leads WHERE tenant_id = $1 AND {column} = $2{}",
        for_update(tx)
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(value).fetch_optional(&mut **conn).await
    })
}

/// Whether `user` is a user of the tenant.
pub async fn user_exists(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
) -> Result<bool, sqlx::Error> {
    let found: Option<(Uuid,)> = on_backend!(tx, conn => {
        sqlx::query_as("SELECT id FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(user)
            .fetch_optional(&mut **conn)
            .await?
    });
    Ok(found.is_some())
}

/// Inserts a new lead.
pub async fn insert(tx: &mut Transaction, lead: &LeadRow) -> Result<(), sqlx::Error> {
    write(
        tx,
        lead,
        "INSERT INTO leads (tenant_id, id, external_id, name, company, email, email_key, phone, source, \
         project_type, estimated_value_e4, currency, site_address, desired_install_date, owner_user_id, \
         tags, notes, status, lost_reason, status_changed_at, created_at, updated_at, deleted_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $22, $23, $24)",
    )
    .await
}

/// Writes every field of a lead back (the caller has bumped its version).
pub async fn update(tx: &mut Transaction, lead: &LeadRow) -> Result<(), sqlx::Error> {
    write(
        tx,
        lead,
        "UPDATE leads SET external_id = $3, name = $4, company = $5, email = $6, email_key = $7, \
         phone = $8, source = $9, project_type = $10, estimated_value_e4 = $11, currency = $12, \
         site_address = $13, desired_install_date = $14, owner_user_id = $15, tags = $16, notes = $17, \
         status = $18, lost_reason = $19, status_changed_at = $20, created_at = $21, updated_at = $22, \
         deleted_at = $23, version = $24 WHERE tenant_id = $1 AND id = $2",
    )
    .await
}

/// Runs `sql` with every column of the lead bound, in `COLUMNS` order with
/// `email_key` after `email`.
async fn write(tx: &mut Transaction, lead: &LeadRow, sql: &str) -> Result<(), sqlx::Error> {
    let email_key = lead.email_key();
    on_backend!(tx, conn => {
        sqlx::query(sql)
            .bind(lead.tenant_id)
            .bind(lead.id)
            .bind(&lead.external_id)
            .bind(&lead.name)
            .bind(&lead.company)
            .bind(&lead.email)
            .bind(&email_key)
            .bind(&lead.phone)
            .bind(&lead.source)
            .bind(&lead.project_type)
            .bind(lead.estimated_value_e4)
            .bind(&lead.currency)
            .bind(&lead.site_address)
            .bind(lead.desired_install_date)
            .bind(lead.owner_user_id)
            .bind(Json(&lead.tags.0))
            .bind(&lead.notes)
            .bind(&lead.status)
            .bind(&lead.lost_reason)
            .bind(lead.status_changed_at)
            .bind(lead.created_at)
            .bind(lead.updated_at)
            .bind(lead.deleted_at)
            .bind(lead.version)
            .execute(&mut **conn)
            .await?;
    });
    Ok(())
}

/// A status change of a lead.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusEvent {
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The event.
    pub id: Uuid,
    /// The lead.
    pub lead_id: Uuid,
    /// The status before (`None` for the lead's creation).
    pub from_status: Option<String>,
    /// The status after.
    pub to_status: String,
    /// Why it was lost.
    pub lost_reason: Option<String>,
    /// A note from the user.
    pub note: Option<String>,
    /// Who moved it (`None` when the service did, on its own rule).
    pub user_id: Option<Uuid>,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

impl StatusEvent {
    /// The JSON shown in a timeline.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "leadId": self.lead_id,
            "fromStatus": self.from_status,
            "toStatus": self.to_status,
            "lostReason": self.lost_reason,
            "note": self.note,
            "userId": self.user_id,
            "occurredAt": self.occurred_at,
        })
    }
}

/// Appends a status event.
pub async fn insert_event(tx: &mut Transaction, event: &StatusEvent) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "INSERT INTO lead_status_events (tenant_id, id, lead_id, from_status, to_status, lost_reason, \
             note, user_id, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.tenant_id)
        .bind(event.id)
        .bind(event.lead_id)
        .bind(&event.from_status)
        .bind(&event.to_status)
        .bind(&event.lost_reason)
        .bind(&event.note)
        .bind(event.user_id)
        .bind(event.occurred_at)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// Runs a list query built with [`Sql`] (selecting [`COLUMNS`]).
pub async fn list(tx: &mut Transaction, sql: &Sql) -> Result<Rows, sqlx::Error> {
    Ok(match tx {
        Transaction::Postgres(conn) => Rows::Postgres(
            bind_args!(sqlx::query(&sql.text), &sql.args)
                .fetch_all(&mut **conn)
                .await?,
        ),
        Transaction::Sqlite(conn) => Rows::Sqlite(
            bind_args!(sqlx::query(&sql.text), &sql.args)
                .fetch_all(&mut **conn)
                .await?,
        ),
    })
}

/// The rows of a list query as the database sent them, to be read as
/// [`LeadRef`]s that borrow their text from the rows.
pub enum Rows {
    /// From PostgreSQL.
    Postgres(Vec<sqlx::postgres::PgRow>),
    /// From SQLite.
    Sqlite(Vec<sqlx::sqlite::SqliteRow>),
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (backend, len) = match self {
            Rows::Postgres(rows) => ("Postgres", rows.len()),
            Rows::Sqlite(rows) => ("Sqlite", rows.len()),
        };
        write!(f, "Rows::{backend}({len} rows)")
    }
}

impl Rows {
    /// The leads, in the rows' order.
    pub fn leads(&self) -> Result<Vec<LeadRef<'_>>, sqlx::Error> {
        use sqlx::FromRow as _;
        match self {
            Rows::Postgres(rows) => rows.iter().map(LeadRef::from_row).collect(),
            Rows::Sqlite(rows) => rows.iter().map(LeadRef::from_row).collect(),
        }
    }
}

/// Per status and currency: the number of live leads and the sum of their
/// estimated values in ten-thousandths, as decimal digits (the sum of a
/// tenant's leads can pass `i64`). Read from the totals the database keeps
/// with every change to a lead (see the `lead_pipeline_totals` migration),
/// not by scanning the leads.
pub async fn summary(
    tx: &mut Transaction,
    tenant: Uuid,
) -> Result<Vec<(String, Option<String>, i64, String)>, sqlx::Error> {
    match tx {
        Transaction::Postgres(conn) => {
            sqlx::query_as(
                "SELECT status, NULLIF(currency, ''), lead_count, value_e4::text FROM lead_pipeline_totals \
                 WHERE tenant_id = $1 AND lead_count > 0 ORDER BY status, currency",
            )
            .bind(tenant)
            .fetch_all(&mut **conn)
            .await
        }
        Transaction::Sqlite(conn) => {
            sqlx::query_as(
                "SELECT status, NULLIF(currency, ''), lead_count, \
                 CASE typeof(value_e4) WHEN 'integer' THEN CAST(value_e4 AS TEXT) ELSE printf('%.0f', value_e4) END \
                 FROM lead_pipeline_totals WHERE tenant_id = $1 AND lead_count > 0 ORDER BY status, currency",
            )
            .bind(tenant)
            .fetch_all(&mut **conn)
            .await
        }
    }
}

/// One entry of a lead's timeline.
pub type TimelineKey = (String, Uuid, DateTime<Utc>);

/// A page of a lead's timeline keys (`kind`, `id`, `at`), newest first.
pub async fn timeline(tx: &mut Transaction, sql: &Sql) -> Result<Vec<TimelineKey>, sqlx::Error> {
    on_backend!(tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await
    })
}

/// Status events by id.
pub async fn events(
    tx: &mut Transaction,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<Vec<StatusEvent>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT tenant_id, id, lead_id, from_status, to_status, lost_reason, note, user_id, occurred_at \
         FROM lead_status_events WHERE tenant_id = $1 AND id IN ",
    );
    sql.args.push(Arg::Uuid(tenant));
    sql.in_list(ids);
    on_backend!(tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await
    })
}
