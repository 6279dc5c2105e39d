//! The database steps of leads: every SQL text about leads, their status
//! events, their pipeline totals and their timeline, including the list
//! queries whose filters depend on the request. Each names its tenant even
//! where Row-Level Security would filter anyway.

use chrono::{DateTime, Utc};
use ops_kit::on_backend;
use ops_kit::sql::{Backend, Transaction};
use sqlx::types::Json;
use uuid::Uuid;

use super::kinds::TimelineKind;
use super::model::{COLUMNS, Lead, LeadRow, LeadSource, LeadStatus, LostReason, ProjectType};
use crate::api::list::{Cursor, Deleted, KeyKind, Sort, SortField};
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

/// A lead of the tenant, deleted or not.
pub async fn get(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<LeadRow>, sqlx::Error> {
    fetch(tx, tenant, id, "").await
}

/// [`get`], locked for the rest of the transaction.
pub async fn get_for_update(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<LeadRow>, sqlx::Error> {
    let lock = for_update(tx);
    fetch(tx, tenant, id, lock).await
}

async fn fetch(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    lock: &str,
) -> Result<Option<LeadRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM leads WHERE tenant_id = $1 AND id = $2{lock}");
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut **conn).await
    })
}

/// A key that names at most one lead of a tenant, besides its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `externalId`, as written.
    ExternalId,
    /// `email`, ignoring case (its lower-cased form).
    EmailKey,
}

impl Key {
    fn column(self) -> &'static str {
        match self {
            Key::ExternalId => "external_id",
            Key::EmailKey => "email_key",
        }
    }
}

/// The lead with this external id or email key (deleted ones too), locked
/// for the rest of the transaction.
pub async fn find_by(
    tx: &mut Transaction,
    tenant: Uuid,
    key: Key,
    value: &str,
) -> Result<Option<LeadRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM leads WHERE tenant_id = $1 AND {} = $2{}",
        key.column(),
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
            .bind(lead.source.as_str())
            .bind(lead.project_type.as_str())
            .bind(lead.estimated_value_e4)
            .bind(&lead.currency)
            .bind(&lead.site_address)
            .bind(lead.desired_install_date)
            .bind(lead.owner_user_id)
            .bind(Json(&lead.tags.0))
            .bind(&lead.notes)
            .bind(lead.status.as_str())
            .bind(lead.lost_reason.map(LostReason::as_str))
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

/// A status change of a lead; its serde form is the item of a timeline
/// entry.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    /// Its tenant.
    #[serde(skip)]
    pub tenant_id: Uuid,
    /// The event.
    pub id: Uuid,
    /// The lead.
    pub lead_id: Uuid,
    /// The status before (`None` for the lead's creation).
    pub from_status: Option<LeadStatus>,
    /// The status after.
    pub to_status: LeadStatus,
    /// Why it was lost.
    pub lost_reason: Option<LostReason>,
    /// A note from the user.
    pub note: Option<String>,
    /// Who moved it (`None` when the service did, on its own rule).
    pub user_id: Option<Uuid>,
    /// When.
    pub occurred_at: DateTime<Utc>,
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
        .bind(event.from_status.map(LeadStatus::as_str))
        .bind(event.to_status.as_str())
        .bind(event.lost_reason.map(LostReason::as_str))
        .bind(&event.note)
        .bind(event.user_id)
        .bind(event.occurred_at)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// The sorts of the lead list: API name, column, kind.
pub const SORTS: &[SortField] = &[
    ("createdAt", "created_at", KeyKind::Time),
    ("updatedAt", "updated_at", KeyKind::Time),
    ("name", "name", KeyKind::Text),
];

/// The filters of a page of leads, checked.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Any of these statuses (all when empty).
    pub statuses: Vec<LeadStatus>,
    /// Only this source.
    pub source: Option<LeadSource>,
    /// Only this kind of job.
    pub project_type: Option<ProjectType>,
    /// Only this owner.
    pub owner_user_id: Option<Uuid>,
    /// Text in the name, company, email or phone (a `LIKE` pattern).
    pub contains: Option<String>,
    /// Changed after this time.
    pub updated_after: Option<DateTime<Utc>>,
    /// Whether soft-deleted leads are shown.
    pub deleted: Deleted,
}

/// The sort key of a listed lead, for the next page's cursor.
pub fn sort_key(lead: &Lead<'_>, sort: &Sort) -> Cursor {
    let key = match sort.column {
        "updated_at" => Arg::Time(lead.updated_at),
        "name" => Arg::Text(lead.name.to_owned()),
        _ => Arg::Time(lead.created_at),
    };
    Cursor { key, id: lead.id }
}

/// A page of the tenant's leads: `limit + 1` rows (the extra one says
/// another page follows) after `cursor` in `sort` order.
pub async fn list(
    tx: &mut Transaction,
    tenant: Uuid,
    filter: &Filter,
    sort: &Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Rows, sqlx::Error> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM leads WHERE tenant_id = $1"));
    sql.args.push(Arg::Uuid(tenant));
    sql.push(filter.deleted.condition());
    // Several statuses are read as one branch each (see `merge_branches`).
    const STATUS_MARKER: &str = "\u{1}status\u{1}";
    let statuses: Vec<String> = filter
        .statuses
        .iter()
        .map(|status| sql.arg(Arg::Text(status.as_str().into())))
        .collect();
    match statuses.as_slice() {
        [] => {}
        [one] => {
            sql.push(&format!(" AND status = {one}"));
        }
        _ => {
            sql.push(&format!(" AND status = {STATUS_MARKER}"));
        }
    }
    if let Some(source) = filter.source {
        sql.and(" AND source = ?", [Arg::Text(source.as_str().into())]);
    }
    if let Some(project_type) = filter.project_type {
        sql.and(
            " AND project_type = ?",
            [Arg::Text(project_type.as_str().into())],
        );
    }
    if let Some(owner) = filter.owner_user_id {
        sql.and(" AND owner_user_id = ?", [Arg::Uuid(owner)]);
    }
    if let Some(pattern) = &filter.contains {
        sql.and(
            " AND (lower(name) LIKE ? ESCAPE '\\' OR lower(coalesce(company, '')) LIKE ? ESCAPE '\\' \
             OR coalesce(email_key, '') LIKE ? ESCAPE '\\' OR coalesce(phone, '') LIKE ? ESCAPE '\\')",
            std::iter::repeat_n(Arg::Text(pattern.clone()), 4),
        );
    }
    if let Some(after) = filter.updated_after {
        sql.and(" AND updated_at > ?", [Arg::Time(after)]);
    }
    if let Some(cursor) = cursor {
        sort.after(&mut sql, cursor, "id");
    }
    let order_by = sort.order_by("id");
    sql.push(&order_by);
    let page = sql.arg(Arg::Int(limit + 1));
    sql.push(&format!(" LIMIT {page}"));
    if statuses.len() > 1 {
        sql.text =
            crate::api::list::merge_branches(&sql.text, STATUS_MARKER, &statuses, &order_by, &page);
    }
    rows(tx, &sql).await
}

/// Runs a query selecting [`COLUMNS`].
async fn rows(tx: &mut Transaction, sql: &Sql) -> Result<Rows, sqlx::Error> {
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
/// [`Lead`]s that borrow their text from the rows.
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
    pub fn leads(&self) -> Result<Vec<Lead<'_>>, sqlx::Error> {
        use sqlx::FromRow as _;
        match self {
            Rows::Postgres(rows) => rows.iter().map(Lead::from_row).collect(),
            Rows::Sqlite(rows) => rows.iter().map(Lead::from_row).collect(),
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
) -> Result<Vec<(LeadStatus, Option<String>, i64, String)>, sqlx::Error> {
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
pub type TimelineKey = (TimelineKind, Uuid, DateTime<Utc>);

/// The one sort of a timeline: newest first.
pub const TIMELINE_SORT: &[SortField] = &[("at", "at", KeyKind::Time)];

/// A page of a lead's timeline keys (`kind`, `id`, `at`): its activities,
/// status events and quote events, `limit + 1` of them after `cursor`,
/// newest first.
pub async fn timeline(
    tx: &mut Transaction,
    tenant: Uuid,
    lead: Uuid,
    sort: &Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<TimelineKey>, sqlx::Error> {
    let mut sql = Sql::new(
        "SELECT kind, id, at FROM (\
         SELECT 'activity' AS kind, id, COALESCE(occurred_at, completed_at, created_at) AS at FROM activities \
         WHERE tenant_id = $1 AND lead_id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT 'status_change' AS kind, id, occurred_at AS at FROM lead_status_events \
         WHERE tenant_id = $1 AND lead_id = $2 \
         UNION ALL SELECT 'quote_event' AS kind, id, occurred_at AS at FROM quote_events \
         WHERE tenant_id = $1 AND lead_id = $2) AS timeline WHERE 1 = 1",
    );
    sql.args.extend([Arg::Uuid(tenant), Arg::Uuid(lead)]);
    if let Some(cursor) = cursor {
        sort.after(&mut sql, cursor, "id");
    }
    sql.push(&sort.order_by("id"));
    sql.and(" LIMIT ?", [Arg::Int(limit + 1)]);
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
