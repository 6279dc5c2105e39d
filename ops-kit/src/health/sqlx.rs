use sqlx::{Connection, Database, Pool};

use super::{CheckError, HealthCheck};

/// Readiness of a sqlx pool: acquires a connection and pings it.
///
/// Prints `connected` / `disconnected`. The probe's timeout (not the pool's
/// acquire timeout, 30 s by default) bounds how long a dead database can
/// hold a probe. Available with the `postgres` or `sqlite` feature.
///
/// # Example
///
/// ```
/// # async fn demo() -> Result<(), sqlx::Error> {
/// use ops_kit::health::PoolCheck;
///
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let app = ops_kit::App::new("svc", "1.0.0")
///     .readiness_check("database", PoolCheck::new(pool.clone()));
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PoolCheck<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> PoolCheck<DB> {
    /// A check of `pool`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::health::{HealthCheck, PoolCheck};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let check = PoolCheck::new(pool.clone());
    /// assert_eq!(check.check().await, Ok(()));
    /// assert_eq!(check.healthy_label(), "connected");
    ///
    /// pool.close().await;
    /// assert_eq!(check.check().await.unwrap_err().to_string(), "pool is closed");
    /// # Ok(()) }
    /// ```
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }
}

impl<DB: Database> HealthCheck for PoolCheck<DB> {
    async fn check(&self) -> Result<(), CheckError> {
        if self.pool.is_closed() {
            return Err(CheckError::new("pool is closed"));
        }
        let mut conn = self.pool.acquire().await.map_err(CheckError::new)?;
        conn.ping().await.map_err(CheckError::new)
    }

    fn healthy_label(&self) -> &'static str {
        "connected"
    }

    fn unhealthy_label(&self) -> &'static str {
        "disconnected"
    }
}
