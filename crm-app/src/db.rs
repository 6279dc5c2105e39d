//! The database: PostgreSQL in production, an embedded SQLite file by default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

/// A connection pool on one of the two supported backends.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL (`postgres://…`).
    Postgres(PgPool),
    /// SQLite (`sqlite://…`).
    Sqlite(SqlitePool),
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names neither backend.
    #[error("DATABASE_URL must start with postgres:// or sqlite:// (got scheme {0:?})")]
    UnsupportedScheme(String),
    /// The URL could not be parsed (the URL itself is not shown: it may hold a password).
    #[error("DATABASE_URL is not a valid database URL")]
    InvalidUrl,
    /// The directory for the SQLite file could not be created.
    #[error("cannot create the directory for the SQLite database: {0}")]
    Directory(#[source] std::io::Error),
    /// sqlx refused.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

impl Db {
    /// Opens a pool for `url` without connecting yet: the first connection
    /// is made by the start-up task, while the probes already answer.
    pub fn connect_lazy(url: &str) -> Result<Self, DbError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "postgres" | "postgresql" => {
                let options = PgConnectOptions::from_str(url).map_err(|_| DbError::InvalidUrl)?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .min_connections(0)
                    // Fail fast when the database is down instead of queueing
                    // requests for the default 30 s.
                    .acquire_timeout(Duration::from_secs(3))
                    // A ping per acquire costs a round trip on every request;
                    // broken connections surface as errors and are replaced.
                    .test_before_acquire(false)
                    .connect_lazy_with(options);
                Ok(Self::Postgres(pool))
            }
            "sqlite" => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|_| DbError::InvalidUrl)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                if let Some(dir) = options.get_filename().parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(DbError::Directory)?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_lazy_with(options);
                Ok(Self::Sqlite(pool))
            }
            other => Err(DbError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// Makes sure the database answers (the start-up task).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    /// Closes the pool, waiting for checked-out connections to come back.
    pub async fn close(&self) {
        match self {
            Db::Postgres(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_unknown_scheme_without_echoing_the_url() {
        let err = Db::connect_lazy("mysql://root:hunter2@db/crm").unwrap_err();
        assert!(matches!(err, DbError::UnsupportedScheme(ref s) if s == "mysql"));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn creates_the_sqlite_file_and_its_directory_on_first_use() {
        let dir = std::env::temp_dir().join(format!("crm-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/nested/crm.db", dir.display());
        let db = Db::connect_lazy(&url).unwrap();
        db.ping().await.unwrap();
        assert!(dir.join("nested/crm.db").exists());
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
