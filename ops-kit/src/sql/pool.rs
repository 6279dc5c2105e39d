use std::str::FromStr;
use std::time::Duration;

use super::{DbFault, availability};
use crate::health::{CheckError, HealthCheck};

/// Which database a [`Pool`] talks to.
///
/// # Example
///
/// ```
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
/// assert_eq!(pool.backend(), ops_kit::sql::Backend::Sqlite);
/// assert_eq!(pool.backend().as_str(), "sqlite");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Backend {
    /// `"postgres"` or `"sqlite"`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::sql::Backend;
    ///
    /// assert_eq!(Backend::Postgres.as_str(), "postgres");
    /// assert_eq!(Backend::Sqlite.as_str(), "sqlite");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// A connection pool on PostgreSQL or SQLite.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
/// pool.ping().await.unwrap();
/// pool.close().await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub enum Pool {
    /// A PostgreSQL pool.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    /// A SQLite pool.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// A transaction on either backend. Rolled back when dropped uncommitted.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
/// let tx = pool.begin().await?;
/// assert_eq!(tx.backend(), ops_kit::sql::Backend::Sqlite);
/// tx.rollback().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum Transaction {
    /// A PostgreSQL transaction.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    /// A SQLite transaction.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// Why a pool could not be made from a URL.
///
/// # Example
///
/// ```
/// let err = ops_kit::sql::Pool::connect_lazy("mysql://root:pw@db/app").unwrap_err();
/// assert!(!err.to_string().contains("pw"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The scheme names no enabled backend.
    #[error("the database URL must start with postgres:// or sqlite:// (got scheme {0:?})")]
    UnsupportedScheme(String),
    /// The URL could not be parsed (it is not shown: it may hold a password).
    #[error("the database URL is not valid")]
    InvalidUrl,
    /// The directory for a SQLite file could not be created.
    #[error("cannot create the directory for the SQLite database: {0}")]
    Directory(#[source] std::io::Error),
    /// [`connect_lazy_existing`](Pool::connect_lazy_existing) was given a
    /// SQLite file that does not exist.
    #[error("the SQLite database {} does not exist", .0.display())]
    Missing(std::path::PathBuf),
}

impl Pool {
    /// A pool for `url` (`postgres://…` or `sqlite://…`) that connects on
    /// first use, tuned for request handling: at most 3 s to get a
    /// connection, 300 ms once the database is known to be down (see
    /// [`begin`](Self::begin)), no ping
    /// before each checkout. SQLite files (and their directory) are created
    /// when missing and run in WAL mode with foreign keys on.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::sql::{Pool, PoolError};
    ///
    /// let pool = Pool::connect_lazy("sqlite::memory:").unwrap();
    /// assert_eq!(pool.size_and_idle(), (0, 0)); // nothing opened yet
    /// let err = Pool::connect_lazy("mysql://db/app").unwrap_err();
    /// assert!(matches!(err, PoolError::UnsupportedScheme(scheme) if scheme == "mysql"));
    /// ```
    pub fn connect_lazy(url: &str) -> Result<Self, PoolError> {
        Self::connect_lazy_sized(url, None)
    }

    /// [`connect_lazy`](Self::connect_lazy) with at most `max_connections`
    /// open connections (`None`: PostgreSQL gets
    /// [`default_max_connections`](Self::default_max_connections), a SQLite
    /// file 8, an in-memory SQLite database always 1).
    ///
    /// More connections than the database has cores to run them make
    /// requests slower, not faster: they queue inside the database instead
    /// of in the pool, and contend for its locks and caches.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// let pool = ops_kit::sql::Pool::connect_lazy_sized("sqlite::memory:", Some(2)).unwrap();
    /// pool.ping().await?;
    /// assert_eq!(pool.size_and_idle().0, 1); // in memory: one connection, whatever the size
    /// # Ok(()) }
    /// ```
    pub fn connect_lazy_sized(url: &str, max_connections: Option<u32>) -> Result<Self, PoolError> {
        Self::build(url, max_connections, Create::IfMissing)
    }

    /// [`connect_lazy_sized`](Self::connect_lazy_sized) for a database that
    /// must already exist: a SQLite file that is not there is an error
    /// naming its path, and neither the file nor its directory is created.
    /// For operator jobs, where a mistyped path must not leave an empty
    /// database behind. (A PostgreSQL database is never created by either.)
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::sql::{Pool, PoolError};
    ///
    /// let path = std::env::temp_dir().join("no-such-dir-4711/crm.db");
    /// let err = Pool::connect_lazy_existing(&format!("sqlite://{}", path.display()), Some(1)).unwrap_err();
    /// assert!(matches!(&err, PoolError::Missing(p) if *p == path));
    /// assert!(err.to_string().contains("no-such-dir-4711/crm.db"));
    /// assert!(!path.parent().unwrap().exists());
    /// ```
    pub fn connect_lazy_existing(
        url: &str,
        max_connections: Option<u32>,
    ) -> Result<Self, PoolError> {
        Self::build(url, max_connections, Create::Never)
    }

    fn build(url: &str, max_connections: Option<u32>, create: Create) -> Result<Self, PoolError> {
        // Only SQLite creates anything.
        let _ = create;
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let options = sqlx::postgres::PgConnectOptions::from_str(url)
                    .map_err(|_| PoolError::InvalidUrl)?;
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max_connections.unwrap_or_else(Self::default_max_connections))
                    .min_connections(0)
                    .acquire_timeout(Duration::from_secs(3))
                    .test_before_acquire(false)
                    .connect_lazy_with(options);
                Ok(Pool::Postgres(pool))
            }
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|_| PoolError::InvalidUrl)?
                    .create_if_missing(create == Create::IfMissing)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                if !in_memory {
                    let file = options.get_filename();
                    match create {
                        Create::Never if !file.is_file() => {
                            return Err(PoolError::Missing(file.to_path_buf()));
                        }
                        Create::Never => {}
                        Create::IfMissing => {
                            if let Some(dir) = file.parent()
                                && !dir.as_os_str().is_empty()
                            {
                                std::fs::create_dir_all(dir).map_err(PoolError::Directory)?;
                            }
                        }
                    }
                }
                let pool = SqlitePoolOptions::new()
                    // An in-memory database lives and dies with its one
                    // connection.
                    .max_connections(if in_memory {
                        1
                    } else {
                        max_connections.unwrap_or(8)
                    })
                    .idle_timeout(if in_memory {
                        None
                    } else {
                        Some(Duration::from_secs(600))
                    })
                    .max_lifetime(if in_memory {
                        None
                    } else {
                        Some(Duration::from_secs(1800))
                    })
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_lazy_with(options);
                Ok(Pool::Sqlite(pool))
            }
            other => Err(PoolError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// The default size of a PostgreSQL pool: twice this machine's cores,
    /// plus two (the well-known starting point for a database on the same
    /// kind of machine; measure and set it for yours).
    ///
    /// # Example
    ///
    /// ```
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    /// assert_eq!(ops_kit::sql::Pool::default_max_connections(), 2 * cores + 2);
    /// ```
    pub fn default_max_connections() -> u32 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        2 * cores + 2
    }

    /// Which backend this is.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::sql::{Backend, Pool};
    ///
    /// let pool = Pool::connect_lazy("sqlite::memory:").unwrap();
    /// assert_eq!(pool.backend(), Backend::Sqlite);
    /// ```
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Begins a transaction. On SQLite it is `BEGIN IMMEDIATE`: it takes
    /// the write lock at once, so that a transaction that reads first and
    /// writes later cannot fail half-way because another writer got there
    /// in between.
    ///
    /// # Fails fast while the database is down
    ///
    /// Once the pool's readiness check has failed (or a begin lost its
    /// connection), every `begin*` waits at most 300 ms, not the pool's
    /// 3 s, and fails with `PoolTimedOut` (a 503 through
    /// [`ApiError::database`](crate::ApiError::database)). The next check
    /// or begin that reaches the database ends this by itself.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let mut tx = pool.begin().await?;
    /// let notes: i64 = ops_kit::on_backend!(&mut tx, conn => {
    ///     sqlx::query("CREATE TABLE notes (body TEXT)").execute(&mut **conn).await?;
    ///     sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut **conn).await?
    /// });
    /// assert_eq!(notes, 0);
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        Ok(match self {
            // The tenant setting is cleared explicitly: should a connection
            // ever come back from a cancelled request still inside a
            // transaction, no tenant carries over into this one.
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => Transaction::Postgres(
                begin_detached(pool, "BEGIN; SELECT set_config('app.tenant_id', '', true)").await?,
            ),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                Transaction::Sqlite(begin_detached(pool, "BEGIN IMMEDIATE").await?)
            }
        })
    }

    /// Begins a transaction scoped to `tenant` (see
    /// [`Transaction::set_tenant`]). On PostgreSQL the `BEGIN` and the
    /// tenant setting travel in one round trip.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let tx = pool.begin_for_tenant(uuid::Uuid::new_v4()).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin_for_tenant(&self, tenant: uuid::Uuid) -> Result<Transaction, sqlx::Error> {
        Ok(match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                // A UUID's text form is safe to inline; one simple-query
                // round trip instead of two.
                let begin = format!("BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)");
                Transaction::Postgres(begin_detached(pool, begin).await?)
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => {
                let _ = tenant;
                self.begin().await?
            }
        })
    }

    /// Begins a read-only transaction scoped to `tenant`, for requests that
    /// only read. Every query in it sees one snapshot of the database
    /// (PostgreSQL: `REPEATABLE READ READ ONLY`, with the tenant setting in
    /// the same round trip; SQLite: a deferred `BEGIN`, which takes no
    /// write lock, so readers never queue behind writers).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let mut tx = pool.begin_read_for_tenant(uuid::Uuid::new_v4()).await?;
    /// let one: i64 = ops_kit::on_backend!(&mut tx, conn => {
    ///     sqlx::query_scalar("SELECT 1").fetch_one(&mut **conn).await?
    /// });
    /// assert_eq!(one, 1);
    /// tx.rollback().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin_read_for_tenant(
        &self,
        tenant: uuid::Uuid,
    ) -> Result<Transaction, sqlx::Error> {
        Ok(match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let begin = format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                     SELECT set_config('app.tenant_id', '{tenant}', true)"
                );
                Transaction::Postgres(begin_detached(pool, begin).await?)
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let _ = tenant;
                Transaction::Sqlite(begin_detached(pool, "BEGIN").await?)
            }
        })
    }

    /// Runs `SELECT 1`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// assert!(pool.ping().await.is_ok());
    /// assert_eq!(pool.size_and_idle().0, 1); // the ping opened the connection
    /// # }
    /// ```
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    /// Closes the pool, waiting for checked-out connections to come back.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// assert!(pool.ping().await.is_ok());
    /// pool.close().await;
    /// assert!(pool.ping().await.is_err());
    /// assert!(pool.begin().await.is_err());
    /// # }
    /// ```
    pub async fn close(&self) {
        match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => pool.close().await,
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => pool.close().await,
        }
    }

    fn availability_key(&self) -> usize {
        match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => availability::key(pool),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => availability::key(pool),
        }
    }

    /// Connections open now, and how many of them are idle.
    ///
    /// # Example
    ///
    /// ```
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// assert_eq!(pool.size_and_idle(), (0, 0));
    /// ```
    pub fn size_and_idle(&self) -> (u32, usize) {
        match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => (pool.size(), pool.num_idle()),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => (pool.size(), pool.num_idle()),
        }
    }
}

/// Whether opening a SQLite database may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    IfMissing,
    Never,
}

impl HealthCheck for Pool {
    /// Pings the database; the result also marks the pool up or down for
    /// the fail-fast rule of [`begin`](Pool::begin) (a check abandoned at
    /// its timeout marks it down).
    async fn check(&self) -> Result<(), CheckError> {
        let key = self.availability_key();
        let abandoned = availability::DownUnlessDisarmed(Some(key));
        let result = match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => crate::health::PoolCheck::new(pool.clone()).check().await,
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => crate::health::PoolCheck::new(pool.clone()).check().await,
        };
        abandoned.disarm();
        match result {
            Ok(()) => availability::mark_up(key),
            Err(_) => availability::mark_down(key),
        }
        result
    }

    fn healthy_label(&self) -> &'static str {
        "connected"
    }

    fn unhealthy_label(&self) -> &'static str {
        "disconnected"
    }
}

impl Transaction {
    /// Which backend this is.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let tx = pool.begin().await?;
    /// assert_eq!(tx.backend(), ops_kit::sql::Backend::Sqlite);
    /// assert_eq!(tx.backend(), pool.backend());
    /// # Ok(()) }
    /// ```
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "postgres")]
            Transaction::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "sqlite")]
            Transaction::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Commits.
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
    /// tx.commit().await?;
    /// assert_eq!(audit::verify(&pool, None).await?.entries, 1);
    /// # Ok(()) }
    /// ```
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "postgres")]
            Transaction::Postgres(tx) => tx.commit().await,
            #[cfg(feature = "sqlite")]
            Transaction::Sqlite(tx) => tx.commit().await,
        }
    }

    /// Rolls back (dropping the transaction does the same, later).
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
    /// tx.rollback().await?;
    /// assert_eq!(audit::verify(&pool, None).await?.entries, 0);
    /// # Ok(()) }
    /// ```
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "postgres")]
            Transaction::Postgres(tx) => tx.rollback().await,
            #[cfg(feature = "sqlite")]
            Transaction::Sqlite(tx) => tx.rollback().await,
        }
    }

    /// Ends a transaction that only read, without waiting for the server.
    ///
    /// On PostgreSQL the `ROLLBACK` is queued on the connection and goes
    /// out with the check the pool makes when the connection comes back:
    /// one round trip instead of two, and a request that read a page
    /// answers as soon as it has the rows (`rollback` waits for the
    /// `ROLLBACK`, then the pool's check costs a round trip of its own). If
    /// that `ROLLBACK` fails, the check fails with it and the pool closes
    /// the connection rather than reuse it, so this returns `Ok` at once: a
    /// read has nothing to undo.
    ///
    /// On SQLite, where a rollback is no round trip, it rolls back and
    /// waits, as [`rollback`](Self::rollback) does: sqlx would drop the
    /// error of a rollback queued there and could hand the connection on
    /// still inside the transaction.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// use ops_kit::on_backend;
    ///
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let mut tx = pool.begin_read_for_tenant(uuid::Uuid::new_v4()).await?;
    /// let (one,): (i64,) = on_backend!(&mut tx, conn => {
    ///     sqlx::query_as("SELECT 1").fetch_one(&mut **conn).await?
    /// });
    /// tx.end_read().await?;
    /// assert_eq!(one, 1);
    /// // The connection is back in the pool for the next transaction.
    /// pool.begin().await?.rollback().await?;
    /// # Ok(()) }
    /// ```
    pub async fn end_read(self) -> Result<(), sqlx::Error> {
        match self {
            // sqlx queues the ROLLBACK when a transaction is dropped open.
            #[cfg(feature = "postgres")]
            Transaction::Postgres(tx) => {
                drop(tx);
                Ok(())
            }
            #[cfg(feature = "sqlite")]
            Transaction::Sqlite(tx) => tx.rollback().await,
        }
    }

    /// Scopes Row-Level Security to `tenant` for the rest of this
    /// transaction (PostgreSQL: `set_config('app.tenant_id', …, true)`; a
    /// no-op on SQLite, which has no RLS).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let mut tx = pool.begin().await?;
    /// tx.set_tenant(uuid::Uuid::new_v4()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_tenant(&mut self, tenant: uuid::Uuid) -> Result<(), sqlx::Error> {
        match self {
            #[cfg(feature = "postgres")]
            Transaction::Postgres(tx) => {
                sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                    .bind(tenant.to_string())
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
            #[cfg(feature = "sqlite")]
            Transaction::Sqlite(_) => {
                let _ = tenant;
                Ok(())
            }
        }
    }
}

/// Begins a transaction in a task of its own, so that a caller that gives
/// up half-way (a request cancelled because its client went away) cannot
/// leave the connection inside a transaction the pool knows nothing of.
///
/// `sqlx` counts a transaction as open only once `BEGIN` has answered; a
/// future dropped while waiting for that answer leaves the server in the
/// transaction and the connection returns to the pool that way, and the
/// next request's `BEGIN` silently joins it (read-only, or holding locks).
/// In its own task the `BEGIN` always completes; if nobody is waiting any
/// more, the finished transaction is dropped, which rolls it back as usual.
///
/// A `BEGIN` that fails because its pooled connection was lost is tried
/// once more. While the database is marked down (see `availability`), the caller
/// waits at most `FAIL_FAST` and gets `PoolTimedOut`; the task goes on, and
/// its success marks the database up again.
async fn begin_detached<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    statement: impl Into<std::borrow::Cow<'static, str>>,
) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
    let key = availability::key(pool);
    let pool = pool.clone();
    let statement = statement.into();
    let task = tokio::spawn(async move {
        let mut result = pool.begin_with(statement.clone()).await;
        // A pooled connection the server ended while it was idle (a
        // restart, a failover, an operator's pg_terminate_backend) fails
        // its first statement. Nothing was begun: one more try, on a
        // connection the pool opens afresh, hides it from the request.
        if let Err(err) = &result
            && DbFault::of(err) == DbFault::Unavailable
            && !matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
        {
            result = pool.begin_with(statement).await;
        }
        availability::record(key, &result);
        result
    });
    let joined = if availability::is_down(key) {
        tokio::time::timeout(availability::FAIL_FAST, task)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    } else {
        task.await
    };
    joined.map_err(|_| sqlx::Error::WorkerCrashed)?
}
