//! The database steps of activities: every statement on the `activities`
//! table, the list query included. Each takes the request's transaction
//! and names its tenant.

use chrono::{DateTime, Utc};
use ops_kit::on_backend;
use ops_kit::sql::Transaction;
use uuid::Uuid;

use super::model::{ActivityKind, ActivityRow, COLUMNS, DueRow};
use crate::api::list::{Cursor, Deleted, Sort};
use crate::api::sql::{Arg, Sql};
use crate::bind_args;
use crate::leads::store::for_update;

/// An activity of the tenant, deleted or not.
pub async fn get(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<ActivityRow>, sqlx::Error> {
    fetch(tx, tenant, id, "").await
}

/// [`get`], the row locked until the transaction ends (on PostgreSQL;
/// SQLite's write transaction already excludes other writers).
pub async fn get_for_update(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<ActivityRow>, sqlx::Error> {
    let lock = for_update(tx);
    fetch(tx, tenant, id, lock).await
}

async fn fetch(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    lock: &str,
) -> Result<Option<ActivityRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM activities WHERE tenant_id = $1 AND id = $2{lock}");
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
    run(tx, &sql).await
}

/// Which activities a list shows: every condition is optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Deleted ones too, or only them.
    pub deleted: Deleted,
    /// On this lead.
    pub lead_id: Option<Uuid>,
    /// Of this kind.
    pub kind: Option<ActivityKind>,
    /// Assigned to this user.
    pub assigned_user_id: Option<Uuid>,
    /// `true`: not completed; `false`: completed.
    pub open: Option<bool>,
    /// `true`: open and due before `now`; `false`: not so.
    pub overdue: Option<bool>,
    /// Due before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// Due after this time.
    pub due_after: Option<DateTime<Utc>>,
    /// Changed after this time.
    pub updated_after: Option<DateTime<Utc>>,
}

/// One page of the tenant's activities matching `filter` at `now`, in
/// `sort` order, after `cursor`: up to `limit + 1` rows, the last telling
/// whether there is a next page.
pub async fn list(
    tx: &mut Transaction,
    tenant: Uuid,
    filter: &Filter,
    now: DateTime<Utc>,
    sort: &Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM activities WHERE tenant_id = $1"
    ));
    sql.args.push(Arg::Uuid(tenant));
    sql.push(filter.deleted.condition());
    if let Some(lead) = filter.lead_id {
        sql.and(" AND lead_id = ?", [Arg::Uuid(lead)]);
    }
    if let Some(kind) = filter.kind {
        sql.and(" AND type = ?", [Arg::Text(kind.as_str().to_owned())]);
    }
    if let Some(user) = filter.assigned_user_id {
        sql.and(" AND assigned_user_id = ?", [Arg::Uuid(user)]);
    }
    match filter.open {
        Some(true) => sql.push(" AND completed_at IS NULL"),
        Some(false) => sql.push(" AND completed_at IS NOT NULL"),
        None => &mut sql,
    };
    match filter.overdue {
        Some(true) => sql.and(" AND completed_at IS NULL AND due_at < ?", [Arg::Time(now)]),
        Some(false) => sql.and(
            " AND NOT (completed_at IS NULL AND due_at IS NOT NULL AND due_at < ?)",
            [Arg::Time(now)],
        ),
        None => &mut sql,
    };
    for (column, op, value) in [
        ("due_at", "<", filter.due_before),
        ("due_at", ">", filter.due_after),
        ("updated_at", ">", filter.updated_after),
    ] {
        if let Some(t) = value {
            sql.and(&format!(" AND {column} {op} ?"), [Arg::Time(t)]);
        }
    }
    if let Some(cursor) = cursor {
        sort.after(&mut sql, cursor, "id");
    }
    sql.push(&sort.order_by("id"));
    sql.and(" LIMIT ?", [Arg::Int(limit + 1)]);
    run(tx, &sql).await
}

/// The open activities assigned to `user` that are due before `until`,
/// on live leads of the tenant, soonest first, each with its lead's name:
/// up to `limit` of them.
pub async fn due_for(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueRow>, sqlx::Error> {
    let columns: Vec<String> = COLUMNS
        .split(',')
        .map(|c| format!("a.{}", c.trim()))
        .collect();
    // Times compare as stored on both databases (PostgreSQL's timestamptz,
    // SQLite's RFC 3339 text in UTC), as in `list`.
    let sql = format!(
        "SELECT {}, l.name AS lead_name FROM activities a \
         JOIN leads l ON l.tenant_id = a.tenant_id AND l.id = a.lead_id \
         WHERE a.tenant_id = $1 AND a.assigned_user_id = $2 AND a.completed_at IS NULL \
         AND a.deleted_at IS NULL AND l.deleted_at IS NULL \
         AND a.due_at IS NOT NULL AND a.due_at < $3 \
         ORDER BY a.due_at, a.id LIMIT $4",
        columns.join(", ")
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(user)
            .bind(until)
            .bind(limit)
            .fetch_all(&mut **conn)
            .await
    })
}

async fn run(tx: &mut Transaction, sql: &Sql) -> Result<Vec<ActivityRow>, sqlx::Error> {
    on_backend!(tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await
    })
}

/// Stores a new activity.
pub async fn insert(tx: &mut Transaction, a: &ActivityRow) -> Result<(), sqlx::Error> {
    write(
        tx,
        a,
        "INSERT INTO activities (tenant_id, id, lead_id, type, subject, body, direction, due_at, occurred_at, \
         duration_minutes, completed_at, outcome, assigned_user_id, created_by, created_at, updated_at, \
         deleted_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .await
}

/// Rewrites a stored activity.
pub async fn update(tx: &mut Transaction, a: &ActivityRow) -> Result<(), sqlx::Error> {
    write(
        tx,
        a,
        "UPDATE activities SET lead_id = $3, type = $4, subject = $5, body = $6, direction = $7, due_at = $8, \
         occurred_at = $9, duration_minutes = $10, completed_at = $11, outcome = $12, assigned_user_id = $13, \
         created_by = $14, created_at = $15, updated_at = $16, deleted_at = $17, version = $18 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .await
}

/// Runs `sql` with every column of `a` bound in [`COLUMNS`] order.
async fn write(tx: &mut Transaction, a: &ActivityRow, sql: &str) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(sql)
            .bind(a.tenant_id)
            .bind(a.id)
            .bind(a.lead_id)
            .bind(a.kind.as_str())
            .bind(&a.subject)
            .bind(&a.body)
            .bind(a.direction.map(|d| d.as_str()))
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
