use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{CacheError, REDIS_TIMEOUT};

/// The Redis backend: one multiplexed connection, made on first use and
/// re-made by the connection manager after a failure.
#[derive(Clone)]
pub(super) struct RedisCache {
    client: redis::Client,
    connection: std::sync::Arc<OnceCell<ConnectionManager>>,
}

impl std::fmt::Debug for RedisCache {
    // The client holds the URL, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").finish_non_exhaustive()
    }
}

impl RedisCache {
    pub(super) fn new(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(|_| CacheError::InvalidUrl)?;
        Ok(Self {
            client,
            connection: Default::default(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, CacheError> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(REDIS_TIMEOUT)
                    .set_response_timeout(REDIS_TIMEOUT)
                    .set_number_of_retries(1)
                    .set_max_delay(1000);
                bounded(ConnectionManager::new_with_config(
                    self.client.clone(),
                    config,
                ))
                .await
            })
            .await?;
        Ok(manager.clone())
    }

    pub(super) async fn incr(&self, key: &str, window: Duration) -> Result<u64, CacheError> {
        let mut conn = self.connection().await?;
        // One round trip: create the key with the window's expiry if it is
        // new (SET … NX EX, which every Redis since 2.6 knows), then count.
        let (count,): (u64,) = bounded(
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(key)
                .arg(0)
                .arg("EX")
                .arg(window.as_secs().max(1))
                .arg("NX")
                .ignore()
                .incr(key, 1)
                .query_async(&mut conn),
        )
        .await?;
        Ok(count)
    }

    pub(super) async fn ttl(&self, key: &str) -> Result<Option<Duration>, CacheError> {
        let mut conn = self.connection().await?;
        let millis: i64 = bounded(conn.pttl(key)).await?;
        Ok((millis >= 0).then(|| Duration::from_millis(millis as u64)))
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let mut conn = self.connection().await?;
        bounded(conn.get(key)).await
    }

    pub(super) async fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        bounded(conn.pset_ex(key, value, millis)).await
    }

    pub(super) async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let mut conn = self.connection().await?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = bounded(
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(millis)
                .arg("NX")
                .query_async(&mut conn),
        )
        .await?;
        Ok(set.is_some())
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let _: u64 = bounded(conn.del(key)).await?;
        Ok(())
    }

    pub(super) async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let _: String = bounded(redis::cmd("PING").query_async(&mut conn)).await?;
        Ok(())
    }
}

/// Runs a Redis future under [`REDIS_TIMEOUT`].
async fn bounded<T>(fut: impl Future<Output = redis::RedisResult<T>>) -> Result<T, CacheError> {
    match tokio::time::timeout(REDIS_TIMEOUT, fut).await {
        Ok(result) => result.map_err(CacheError::from),
        Err(_) => Err(CacheError::Timeout),
    }
}
