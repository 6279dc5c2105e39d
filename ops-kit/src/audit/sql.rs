use std::collections::HashMap;

use futures_util::TryStreamExt;
use sqlx::Row as _;
use sqlx::types::Json;
use uuid::Uuid;

use super::entry::{AuditEntry, GENESIS_HASH, chain_hash};
use super::read::{AuditRecord, SELECT_ROWS, decode};
use super::sink::{AuditError, AuditSink, SinkFuture};
use crate::sql::{Pool, Transaction};

/// Stores entries in the `audit_logs` table, hash-chained per tenant.
///
/// With the request's transaction the entry is written inside it, so the
/// change and its entry commit together or not at all. Without one (a
/// handler that did not use [`Tx`](crate::sql::Tx)) the sink writes the
/// entry in a transaction of its own, after the handler.
///
/// On PostgreSQL the chain link and the row are one statement: the chain
/// head row is upserted (which locks it until commit, so concurrent
/// writers of one tenant take turns) and the new hash is computed by the
/// database from the previous one. Create the tables with [`migrate`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ops_kit::audit::{self, SqlSink};
/// use ops_kit::sql::Pool;
///
/// let pool = Pool::connect_lazy("sqlite::memory:")?;
/// audit::migrate(&pool).await?;
/// let app = ops_kit::App::new("svc", "1.0.0")
///     .database(pool.clone())
///     .audit_sink(SqlSink::new(pool));
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqlSink {
    pool: Pool,
}

impl SqlSink {
    /// A sink writing to `pool`'s `audit_logs` table.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ops_kit::audit::{self, AuditEntry, AuditSink, SqlSink};
    ///
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// audit::migrate(&pool).await?;
    /// let sink = SqlSink::new(pool.clone());
    /// sink.record(&AuditEntry::new("lead.upsert", "lead", "req-1"), None).await?;
    /// assert_eq!(audit::verify(&pool, None).await?.entries, 1);
    /// # Ok(()) }
    /// ```
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

impl AuditSink for SqlSink {
    fn record<'a>(
        &'a self,
        entry: &'a AuditEntry,
        tx: Option<&'a mut Transaction>,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            match tx {
                Some(tx) => insert(tx, entry).await,
                None => {
                    // Scoped to the entry's tenant, as Row-Level Security on
                    // the audit tables requires.
                    let mut own = match entry.tenant_id {
                        Some(tenant) => self.pool.begin_for_tenant(tenant).await?,
                        None => self.pool.begin().await?,
                    };
                    insert(&mut own, entry).await?;
                    own.commit().await?;
                    Ok(())
                }
            }
        })
    }
}

#[cfg(feature = "postgres")]
const PG_INSERT: &str = r#"
WITH head AS (
    INSERT INTO audit_chain_heads AS h (tenant_key, seq, prev_hash, last_hash)
    VALUES ($1, 1, $2, sha256($2 || $3))
    ON CONFLICT (tenant_key) DO UPDATE
        SET seq = h.seq + 1, prev_hash = h.last_hash, last_hash = sha256(h.last_hash || $3)
    RETURNING seq, prev_hash, last_hash
)
INSERT INTO audit_logs (tenant_key, seq, id, tenant_id, user_id, occurred_at, action,
    resource_type, resource_id, changes, ip_address, user_agent, request_id, prev_hash, hash)
SELECT $1, head.seq, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, head.prev_hash, head.last_hash
FROM head
"#;

/// Lets the transaction write (and, until [`ANONYMOUS_OFF`], read) the
/// chain of entries without a tenant where Row-Level Security guards it.
#[cfg(feature = "postgres")]
const ANONYMOUS_ON: &str = "SELECT set_config('app.audit_anonymous', 'on', true)";
#[cfg(feature = "postgres")]
const ANONYMOUS_OFF: &str = "SELECT set_config('app.audit_anonymous', '', true)";

#[cfg(feature = "sqlite")]
const INSERT_ROW: &str = r#"
INSERT INTO audit_logs (tenant_key, seq, id, tenant_id, user_id, occurred_at, action,
    resource_type, resource_id, changes, ip_address, user_agent, request_id, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
"#;

/// Writes `entry` and links it into its tenant's chain, inside `tx`.
///
/// On PostgreSQL an entry without a tenant is written with the
/// transaction-local setting `app.audit_anonymous` at `on`, cleared right
/// after: Row-Level Security policies on the audit tables can let the
/// chain of such entries through for that write alone (`docs/audit.md`).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ops_kit::audit::{self, AuditEntry};
///
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// audit::migrate(&pool).await?;
/// let mut tx = pool.begin().await?;
/// audit::insert(&mut tx, &AuditEntry::new("lead.upsert", "lead", "req-1")).await?;
/// tx.commit().await?;
/// assert_eq!(audit::verify(&pool, None).await?.entries, 1);
/// # Ok(()) }
/// ```
pub async fn insert(tx: &mut Transaction, entry: &AuditEntry) -> Result<(), AuditError> {
    let key = entry.chain_key();
    let digest = entry.digest();
    let changes = entry.changes.as_ref().map(Json);
    match tx {
        #[cfg(feature = "postgres")]
        Transaction::Postgres(tx) => {
            // Row-Level Security on the audit tables (as crm-app sets it up)
            // keys them on the transaction's tenant; an entry without one
            // is let through by this setting, for this statement only.
            let anonymous = entry.tenant_id.is_none();
            if anonymous {
                sqlx::query(ANONYMOUS_ON).execute(&mut **tx).await?;
            }
            sqlx::query(PG_INSERT)
                .bind(&key)
                .bind(&GENESIS_HASH[..])
                .bind(&digest[..])
                .bind(entry.id)
                .bind(entry.tenant_id)
                .bind(entry.user_id)
                .bind(entry.occurred_at)
                .bind(&entry.action)
                .bind(&entry.resource_type)
                .bind(&entry.resource_id)
                .bind(changes)
                .bind(&entry.ip_address)
                .bind(&entry.user_agent)
                .bind(&entry.request_id)
                .execute(&mut **tx)
                .await?;
            if anonymous {
                sqlx::query(ANONYMOUS_OFF).execute(&mut **tx).await?;
            }
        }
        #[cfg(feature = "sqlite")]
        Transaction::Sqlite(tx) => {
            // SQLite has no sha256(): take the chain head (a write, so the
            // transaction holds the write lock from here on), hash here,
            // then store the link.
            let (seq, prev): (i64, Vec<u8>) = sqlx::query_as(
                "INSERT INTO audit_chain_heads (tenant_key, seq, prev_hash, last_hash) \
                 VALUES ($1, 1, $2, $2) \
                 ON CONFLICT (tenant_key) DO UPDATE SET seq = seq + 1, prev_hash = last_hash \
                 RETURNING seq, prev_hash",
            )
            .bind(&key)
            .bind(&GENESIS_HASH[..])
            .fetch_one(&mut **tx)
            .await?;
            let hash = chain_hash(&prev, &digest);
            sqlx::query("UPDATE audit_chain_heads SET last_hash = $1 WHERE tenant_key = $2")
                .bind(&hash[..])
                .bind(&key)
                .execute(&mut **tx)
                .await?;
            sqlx::query(INSERT_ROW)
                .bind(&key)
                .bind(seq)
                .bind(entry.id)
                .bind(entry.tenant_id)
                .bind(entry.user_id)
                .bind(entry.occurred_at)
                .bind(&entry.action)
                .bind(&entry.resource_type)
                .bind(&entry.resource_id)
                .bind(changes)
                .bind(&entry.ip_address)
                .bind(&entry.user_agent)
                .bind(&entry.request_id)
                .bind(prev)
                .bind(&hash[..])
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Creates (or brings up to date) the audit tables on `pool`'s backend.
///
/// The migrations are recorded in sqlx's `_sqlx_migrations` table with
/// small version numbers (1, 2, …). A service that runs its own sqlx
/// migrations in the same database must call
/// `Migrator::set_ignore_missing(true)` on its migrator, as must this one.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// ops_kit::audit::migrate(&pool).await?;
/// ops_kit::audit::migrate(&pool).await?; // idempotent
/// # Ok(()) }
/// ```
pub async fn migrate(pool: &Pool) -> Result<(), sqlx::migrate::MigrateError> {
    match pool {
        #[cfg(feature = "postgres")]
        Pool::Postgres(pool) => {
            let mut migrator = sqlx::migrate!("./migrations/postgres");
            migrator.set_ignore_missing(true);
            migrator.run(pool).await
        }
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(pool) => {
            let mut migrator = sqlx::migrate!("./migrations/sqlite");
            migrator.set_ignore_missing(true);
            migrator.run(pool).await
        }
    }
}

/// The outcome of [`verify`].
///
/// # Example
///
/// ```
/// let report = ops_kit::audit::VerifyReport::default();
/// assert!(report.is_intact());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many chains (tenants) were checked.
    pub chains: usize,
    /// How many entries were checked.
    pub entries: u64,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

impl VerifyReport {
    /// Whether every chain verified.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ops_kit::audit::{self, AuditEntry, AuditSink, SqlSink};
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # audit::migrate(&pool).await?;
    /// let sink = SqlSink::new(pool.clone());
    /// let mut entry = AuditEntry::new("lead.upsert", "lead", "req-1");
    /// entry.tenant_id = Some(uuid::Uuid::new_v4());
    /// sink.record(&entry, None).await?;
    /// sink.record(&AuditEntry::new("user.login", "user", "req-2"), None).await?;
    /// let report = audit::verify(&pool, None).await?;
    /// assert!(report.is_intact());
    /// assert_eq!((report.chains, report.entries), (2, 2)); // one tenant, plus no tenant
    /// # Ok(()) }
    /// ```
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where a chain stops verifying, and why.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ops_kit::audit::{self, AuditEntry};
/// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// # audit::migrate(&pool).await?;
/// let mut tx = pool.begin().await?;
/// audit::insert(&mut tx, &AuditEntry::new("lead.upsert", "lead", "req-1")).await?;
/// // As if the newest entry had been removed: the chain head claims one more.
/// ops_kit::on_backend!(&mut tx, conn => {
///     sqlx::query("UPDATE audit_chain_heads SET seq = seq + 1").execute(&mut **conn).await?;
/// });
/// tx.commit().await?;
/// let broken = audit::verify(&pool, None).await?.broken.unwrap();
/// assert_eq!(broken.to_string(), "tenant (none), entry #2: the chain ends at #1 but its head says #2: entries were removed");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The chain's tenant (`None` for the chain of entries without a tenant).
    pub tenant_id: Option<Uuid>,
    /// The position in the chain where verification failed.
    pub seq: i64,
    /// The entry found there, if there is one.
    pub entry_id: Option<Uuid>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenant = self
            .tenant_id
            .map(|t| t.to_string())
            .unwrap_or_else(|| "(none)".into());
        write!(f, "tenant {tenant}, entry #{}", self.seq)?;
        if let Some(id) = self.entry_id {
            write!(f, " ({id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Checks the hash chains: of one tenant, or of every tenant (`None`).
///
/// Each entry's content must match its hash, each entry must link to the
/// previous one's hash, positions must follow one another without gaps, and
/// the chain head must point at the last entry (so removing the newest
/// entries is caught too). The first broken link is reported.
///
/// With a tenant, the reading transaction is scoped to it
/// (`app.tenant_id`), so that the application's role can verify its
/// tenants' chains where Row-Level Security guards the audit tables. For
/// every tenant, run it as a role that sees every row (the tables' owner
/// where policies let it, as crm-app's do): a role that sees none finds no
/// chain to check.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// ops_kit::audit::migrate(&pool).await?;
/// let report = ops_kit::audit::verify(&pool, None).await?;
/// assert!(report.is_intact());
/// assert_eq!(report.entries, 0);
/// # Ok(()) }
/// ```
pub async fn verify(pool: &Pool, tenant: Option<Uuid>) -> Result<VerifyReport, sqlx::Error> {
    let key = tenant.map(|t| t.to_string());
    let mut rows = Vec::new();
    let mut heads: HashMap<String, (i64, Vec<u8>)> = HashMap::new();
    let filter = if key.is_some() {
        " WHERE tenant_key = $1"
    } else {
        ""
    };
    let rows_sql = format!("{SELECT_ROWS}{filter} ORDER BY tenant_key, seq");
    let heads_sql = format!("SELECT tenant_key, seq, last_hash FROM audit_chain_heads{filter}");
    // The same reads on either backend, in one snapshot: entries and heads
    // must agree even while writers append.
    macro_rules! load {
        ($tx:expr) => {{
            let (rows_query, heads_query) = (sqlx::query(&rows_sql), sqlx::query(&heads_sql));
            let (rows_query, heads_query) = match &key {
                Some(key) => (rows_query.bind(key), heads_query.bind(key)),
                None => (rows_query, heads_query),
            };
            for row in heads_query.fetch_all(&mut *$tx).await? {
                heads.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
            }
            {
                let mut stream = rows_query.fetch(&mut *$tx);
                while let Some(row) = stream.try_next().await? {
                    rows.push(decode(&row)?);
                }
            }
            $tx.rollback().await?;
        }};
    }
    match pool {
        #[cfg(feature = "postgres")]
        Pool::Postgres(pool) => {
            let mut tx = pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            if let Some(key) = &key {
                sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            load!(tx)
        }
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(pool) => {
            // A deferred transaction reads from one WAL snapshot.
            let mut tx = pool.begin_with("BEGIN DEFERRED").await?;
            load!(tx)
        }
    }
    Ok(check_chains(&rows, &heads))
}

fn tenant_of(key: &str) -> Option<Uuid> {
    Uuid::parse_str(key).ok()
}

fn check_chains(rows: &[AuditRecord], heads: &HashMap<String, (i64, Vec<u8>)>) -> VerifyReport {
    let mut report = VerifyReport::default();
    // Rows arrive ordered by chain, then position: index each chain's slice
    // once instead of scanning every row per chain.
    let mut chains: HashMap<&String, &[AuditRecord]> = HashMap::new();
    let mut start = 0;
    for end in 1..=rows.len() {
        if end == rows.len() || rows[end].tenant_key != rows[start].tenant_key {
            chains.insert(&rows[start].tenant_key, &rows[start..end]);
            start = end;
        }
    }
    let keys: std::collections::BTreeSet<&String> =
        heads.keys().chain(chains.keys().copied()).collect();
    for key in keys {
        report.chains += 1;
        let chain = chains.get(key).copied().unwrap_or_default().iter();
        let mut expected_seq = 1;
        let mut prev: Vec<u8> = GENESIS_HASH.to_vec();
        let broken = |seq: i64, entry_id: Option<Uuid>, reason: String| BrokenLink {
            tenant_id: tenant_of(key),
            seq,
            entry_id,
            reason,
        };
        for row in chain {
            report.entries += 1;
            if row.seq != expected_seq {
                report.broken = Some(broken(
                    expected_seq,
                    None,
                    format!(
                        "entry #{expected_seq} is missing (the next one is #{})",
                        row.seq
                    ),
                ));
                return report;
            }
            if row.prev_hash != prev {
                report.broken = Some(broken(
                    row.seq,
                    Some(row.entry.id),
                    "its link to the previous entry does not match".into(),
                ));
                return report;
            }
            if row.hash[..] != chain_hash(&prev, &row.entry.digest())[..] {
                report.broken = Some(broken(
                    row.seq,
                    Some(row.entry.id),
                    "its content does not match its hash (the entry was changed)".into(),
                ));
                return report;
            }
            prev = row.hash.clone();
            expected_seq += 1;
        }
        let last = expected_seq - 1;
        match heads.get(key) {
            Some((seq, hash)) if *seq == last && *hash == prev => {}
            Some((seq, _)) => {
                report.broken = Some(broken(
                    last + 1,
                    None,
                    format!(
                        "the chain ends at #{last} but its head says #{seq}: entries were removed"
                    ),
                ));
                return report;
            }
            None => {
                report.broken = Some(broken(
                    last,
                    None,
                    "the chain has entries but no head".into(),
                ));
                return report;
            }
        }
    }
    report
}
