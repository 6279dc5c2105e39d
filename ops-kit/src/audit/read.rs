//! Reading the audit trail back: [`AuditRecord`] (a stored entry with its
//! place in its chain) and [`list`], filtered by an [`AuditQuery`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::entry::AuditEntry;
use crate::sql::Transaction;

/// One stored audit entry: the entry as recorded and its link in its
/// tenant's hash chain.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ops_kit::audit::{self, AuditEntry, AuditQuery, GENESIS_HASH};
///
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// audit::migrate(&pool).await?;
/// let mut tx = pool.begin().await?;
/// let entry = AuditEntry::new("lead.upsert", "lead", "req-1");
/// audit::insert(&mut tx, &entry).await?;
/// let records = audit::list(&mut tx, &AuditQuery::default()).await?;
/// assert_eq!(records[0].entry, entry);
/// assert_eq!((records[0].tenant_key.as_str(), records[0].seq), ("", 1));
/// assert_eq!(records[0].prev_hash, GENESIS_HASH);
/// assert_eq!(records[0].hash.len(), 32);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The chain the entry belongs to ([`AuditEntry::chain_key`]).
    pub tenant_key: String,
    /// The entry's position in its chain, from 1.
    pub seq: i64,
    /// The entry.
    pub entry: AuditEntry,
    /// The hash of the previous entry of the chain
    /// ([`GENESIS_HASH`](super::GENESIS_HASH) for the first).
    pub prev_hash: Vec<u8>,
    /// This entry's link: [`chain_hash`](super::chain_hash) of the previous
    /// hash and the entry's digest.
    pub hash: Vec<u8>,
}

/// Which order [`list`] returns records in.
///
/// # Example
///
/// ```
/// use ops_kit::audit::AuditOrder;
/// assert_eq!(AuditOrder::default(), AuditOrder::Oldest);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditOrder {
    /// Chain by chain, each in the order of its writes.
    #[default]
    Oldest,
    /// Chain by chain (in descending key order), newest write first.
    Newest,
}

/// Which audit records [`list`] returns: every field left at its default
/// matches every record.
///
/// # Example
///
/// ```
/// use ops_kit::audit::{AuditOrder, AuditQuery};
///
/// let tenant = uuid::Uuid::new_v4();
/// // A tenant's `lead.upsert` entries, newest first, 50 at a time.
/// let query = AuditQuery {
///     tenant: Some(tenant),
///     action: Some("lead.upsert".into()),
///     order: AuditOrder::Newest,
///     limit: Some(50),
///     ..AuditQuery::default()
/// };
/// assert!(query.user_id.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this tenant's chain (`None`: every chain, including that of
    /// entries without a tenant).
    pub tenant: Option<Uuid>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this resource type.
    pub resource_type: Option<String>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// Only entries by this user.
    pub user_id: Option<Uuid>,
    /// Only entries that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only entries that occurred before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only entries before this position in their chain (the `seq` of the
    /// last record of the previous page, newest first).
    pub before_seq: Option<i64>,
    /// The order.
    pub order: AuditOrder,
    /// At most this many records.
    pub limit: Option<i64>,
}

pub(crate) const SELECT_ROWS: &str = "SELECT tenant_key, seq, id, tenant_id, user_id, occurred_at, \
    action, resource_type, resource_id, changes, ip_address, user_agent, request_id, prev_hash, \
    hash FROM audit_logs";

pub(crate) fn decode<R>(row: &R) -> Result<AuditRecord, sqlx::Error>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Json<Value>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRecord {
        tenant_key: row.try_get("tenant_key")?,
        seq: row.try_get("seq")?,
        entry: AuditEntry {
            id: row.try_get("id")?,
            occurred_at: row.try_get("occurred_at")?,
            tenant_id: row.try_get("tenant_id")?,
            user_id: row.try_get("user_id")?,
            action: row.try_get("action")?,
            resource_type: row.try_get("resource_type")?,
            resource_id: row.try_get("resource_id")?,
            changes: row
                .try_get::<Option<Json<Value>>, _>("changes")?
                .map(|j| j.0),
            ip_address: row.try_get("ip_address")?,
            user_agent: row.try_get("user_agent")?,
            request_id: row.try_get("request_id")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// A value bound to a placeholder of the list query.
enum Arg<'q> {
    Text(&'q str),
    Owned(String),
    Uuid(Uuid),
    Time(DateTime<Utc>),
    Int(i64),
}

/// The list query's SQL and its arguments, in placeholder order.
fn list_sql(query: &AuditQuery) -> (String, Vec<Arg<'_>>) {
    let mut sql = String::from(SELECT_ROWS);
    let mut args = Vec::new();
    let mut conditions: Vec<(&str, Arg<'_>)> = Vec::new();
    if let Some(tenant) = query.tenant {
        conditions.push(("tenant_key = ?", Arg::Owned(tenant.to_string())));
    }
    if let Some(action) = &query.action {
        conditions.push(("action = ?", Arg::Text(action)));
    }
    if let Some(resource_type) = &query.resource_type {
        conditions.push(("resource_type = ?", Arg::Text(resource_type)));
    }
    if let Some(resource_id) = &query.resource_id {
        conditions.push(("resource_id = ?", Arg::Text(resource_id)));
    }
    if let Some(user) = query.user_id {
        conditions.push(("user_id = ?", Arg::Uuid(user)));
    }
    if let Some(from) = query.from {
        conditions.push(("occurred_at >= ?", Arg::Time(from)));
    }
    if let Some(to) = query.to {
        conditions.push(("occurred_at < ?", Arg::Time(to)));
    }
    if let Some(seq) = query.before_seq {
        conditions.push(("seq < ?", Arg::Int(seq)));
    }
    for (condition, arg) in conditions {
        sql.push_str(if args.is_empty() { " WHERE " } else { " AND " });
        args.push(arg);
        sql.push_str(&condition.replace('?', &format!("${}", args.len())));
    }
    sql.push_str(match query.order {
        AuditOrder::Oldest => " ORDER BY tenant_key, seq",
        AuditOrder::Newest => " ORDER BY tenant_key DESC, seq DESC",
    });
    if let Some(limit) = query.limit {
        args.push(Arg::Int(limit));
        sql.push_str(&format!(" LIMIT ${}", args.len()));
    }
    (sql, args)
}

/// The audit records `query` selects, read in `tx`.
///
/// Where Row-Level Security guards the audit tables, `tx` sees only what
/// its tenant setting lets through: begin it with
/// [`Pool::begin_for_tenant`](crate::sql::Pool::begin_for_tenant) (or
/// [`begin_read_for_tenant`](crate::sql::Pool::begin_read_for_tenant)) for
/// a tenant's own trail.
///
/// # Errors
///
/// The database's.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ops_kit::audit::{self, AuditEntry, AuditOrder, AuditQuery};
///
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// audit::migrate(&pool).await?;
/// let tenant = uuid::Uuid::new_v4();
/// let mut tx = pool.begin().await?;
/// for action in ["lead.upsert", "lead.delete", "lead.upsert"] {
///     let mut entry = AuditEntry::new(action, "lead", "req-1");
///     entry.tenant_id = Some(tenant);
///     audit::insert(&mut tx, &entry).await?;
/// }
/// let query = AuditQuery {
///     tenant: Some(tenant),
///     action: Some("lead.upsert".into()),
///     order: AuditOrder::Newest,
///     ..AuditQuery::default()
/// };
/// let seqs: Vec<i64> = audit::list(&mut tx, &query).await?.iter().map(|r| r.seq).collect();
/// assert_eq!(seqs, [3, 1]);
/// let page = AuditQuery { before_seq: Some(3), limit: Some(1), ..query };
/// assert_eq!(audit::list(&mut tx, &page).await?[0].seq, 1);
/// # Ok(()) }
/// ```
pub async fn list(
    tx: &mut Transaction,
    query: &AuditQuery,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    let (sql, args) = list_sql(query);
    crate::on_backend!(tx, conn => {
        let mut q = sqlx::query(&sql);
        for arg in &args {
            q = match arg {
                Arg::Text(v) => q.bind(*v),
                Arg::Owned(v) => q.bind(v.as_str()),
                Arg::Uuid(v) => q.bind(*v),
                Arg::Time(v) => q.bind(*v),
                Arg::Int(v) => q.bind(*v),
            };
        }
        q.fetch_all(&mut **conn).await?.iter().map(decode).collect()
    })
}
