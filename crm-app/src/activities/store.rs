//! The database steps of activities.

use ops_kit::on_backend;
use ops_kit::sql::Transaction;
use uuid::Uuid;

use super::model::{ActivityRow, COLUMNS};
use crate::api::sql::{Arg, Sql};
use crate::bind_args;
use crate::leads::store::for_update;

/// An activity of the tenant, deleted or not, locked when `lock`.
pub async fn get(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Option<ActivityRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM activities WHERE tenant_id = $1 AND id = $2{}",
        if lock { for_update(tx) } else { "" }
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut **conn).await
    })
}

/// Activities by id.
pub async fn by_ids(
    tx: &mut Transaction,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM activities WHERE tenant_id = $1 AND id IN "
    ));
    sql.args.push(Arg::Uuid(tenant));
    sql.in_list(ids);
    list(tx, &sql).await
}

/// Runs a list query built with [`Sql`].
pub async fn list(tx: &mut Transaction, sql: &Sql) -> Result<Vec<ActivityRow>, sqlx::Error> {
    on_backend!(tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await
    })
}

/// Inserts or rewrites an activity.
pub async fn save(tx: &mut Transaction, a: &ActivityRow, new: bool) -> Result<(), sqlx::Error> {
    let sql = if new {
        "INSERT INTO activities (tenant_id, id, lead_id, type, subject, body, direction, due_at, occurred_at, \
         duration_minutes, completed_at, outcome, assigned_user_id, created_by, created_at, updated_at, \
         deleted_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    } else {
        "UPDATE activities SET lead_id = $3, type = $4, subject = $5, body = $6, direction = $7, due_at = $8, \
         occurred_at = $9, duration_minutes = $10, completed_at = $11, outcome = $12, assigned_user_id = $13, \
         created_by = $14, created_at = $15, updated_at = $16, deleted_at = $17, version = $18 \
         WHERE tenant_id = $1 AND id = $2"
    };
    on_backend!(tx, conn => {
        sqlx::query(sql)
            .bind(a.tenant_id)
            .bind(a.id)
            .bind(a.lead_id)
            .bind(&a.kind)
            .bind(&a.subject)
            .bind(&a.body)
            .bind(&a.direction)
            .bind(a.due_at)
            .bind(a.occurred_at)
            .bind(a.duration_minutes)
            .bind(a.completed_at)
            .bind(&a.outcome)
            .bind(a.assigned_user_id)
            .bind(a.created_by)
            .bind(a.created_at)
            .bind(a.updated_at)
            .bind(a.deleted_at)
            .bind(a.version)
            .execute(&mut **conn)
            .await?;
    });
    Ok(())
}
