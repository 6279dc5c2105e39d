//! A small shared cache: Redis when several instances must agree (login
//! throttling, for instance), in memory for a single instance or
//! development.
//!
//! [`Cache`] offers what such uses need: counters with a time window
//! ([`incr`](Cache::incr)), values with a lifetime, and removal. Every
//! Redis operation is bounded by a short timeout, so an outage reads as an
//! error within a fraction of a second instead of hanging requests; the
//! caller decides whether that fails open or closed. As a readiness check
//! the cache reports `connected` / `disconnected`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ops_kit::cache::CacheError> {
//! use std::time::Duration;
//! use ops_kit::cache::Cache;
//!
//! let cache = Cache::memory();
//! let window = Duration::from_secs(60);
//! assert_eq!(cache.incr("login:ada@example.com", window).await?, 1);
//! assert_eq!(cache.incr("login:ada@example.com", window).await?, 2);
//! cache.delete("login:ada@example.com").await?;
//! assert_eq!(cache.incr("login:ada@example.com", window).await?, 1);
//! # Ok(()) }
//! ```

mod memory;
mod redis_backend;

use std::sync::Arc;
use std::time::Duration;

use crate::health::{CheckError, HealthCheck};

use self::memory::MemoryCache;
use self::redis_backend::RedisCache;

/// How long one Redis operation may take before it counts as failed.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

/// Why a cache operation failed.
///
/// # Example
///
/// ```
/// let err = ops_kit::cache::CacheError::Timeout;
/// assert_eq!(err.to_string(), "the cache did not answer in time");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// `REDIS_URL` is not a valid Redis URL (not shown: it may hold a password).
    #[error("REDIS_URL is not a valid Redis URL")]
    InvalidUrl,
    /// Redis refused or the connection failed.
    #[error("the cache failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within [`REDIS_TIMEOUT`].
    #[error("the cache did not answer in time")]
    Timeout,
}

/// A cache on Redis or in process memory. Cheap to clone.
///
/// # Example
///
/// ```
/// let cache = ops_kit::cache::Cache::memory();
/// assert_eq!(cache.backend(), "memory");
/// ```
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Memory(Arc<MemoryCache>),
    Redis(RedisCache),
}

impl Cache {
    /// A cache in this process's memory: not shared between instances.
    pub fn memory() -> Self {
        Self {
            inner: Inner::Memory(Arc::new(MemoryCache::default())),
        }
    }

    /// A cache on the Redis server at `url`. Connects on first use and
    /// reconnects by itself after an outage.
    ///
    /// # Example
    ///
    /// ```
    /// let cache = ops_kit::cache::Cache::redis("redis://127.0.0.1:6379").unwrap();
    /// assert_eq!(cache.backend(), "redis");
    /// assert!(ops_kit::cache::Cache::redis("http://nope").is_err());
    /// ```
    pub fn redis(url: &str) -> Result<Self, CacheError> {
        Ok(Self {
            inner: Inner::Redis(RedisCache::new(url)?),
        })
    }

    /// `"redis"` or `"memory"`.
    pub fn backend(&self) -> &'static str {
        match self.inner {
            Inner::Memory(_) => "memory",
            Inner::Redis(_) => "redis",
        }
    }

    /// Adds one to the counter `key` and returns the new count. The first
    /// increment starts a window of `window`; the counter disappears when
    /// the window ends (a fixed window, as rate limits use).
    pub async fn incr(&self, key: &str, window: Duration) -> Result<u64, CacheError> {
        match &self.inner {
            Inner::Memory(cache) => Ok(cache.incr(key, window)),
            Inner::Redis(cache) => cache.incr(key, window).await,
        }
    }

    /// How long until `key` expires; `None` when it does not exist.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ops_kit::cache::CacheError> {
    /// use std::time::Duration;
    /// let cache = ops_kit::cache::Cache::memory();
    /// assert_eq!(cache.ttl("k").await?, None);
    /// cache.incr("k", Duration::from_secs(60)).await?;
    /// assert!(cache.ttl("k").await?.unwrap() <= Duration::from_secs(60));
    /// # Ok(()) }
    /// ```
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, CacheError> {
        match &self.inner {
            Inner::Memory(cache) => Ok(cache.ttl(key)),
            Inner::Redis(cache) => cache.ttl(key).await,
        }
    }

    /// The value of `key`, if it exists.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ops_kit::cache::CacheError> {
    /// use std::time::Duration;
    /// let cache = ops_kit::cache::Cache::memory();
    /// cache.set("greeting", "hello", Duration::from_secs(5)).await?;
    /// assert_eq!(cache.get("greeting").await?.as_deref(), Some("hello"));
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        match &self.inner {
            Inner::Memory(cache) => Ok(cache.get(key)),
            Inner::Redis(cache) => cache.get(key).await,
        }
    }

    /// Sets `key` to `value` for `ttl`.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        match &self.inner {
            Inner::Memory(cache) => {
                cache.set(key, value, ttl);
                Ok(())
            }
            Inner::Redis(cache) => cache.set(key, value, ttl).await,
        }
    }

    /// Sets `key` to `value` for `ttl` unless it already exists; whether it
    /// was set. A reader filling the cache from the database uses this, so
    /// that a value it read before a writer's change cannot overwrite the
    /// one the writer set after it.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ops_kit::cache::CacheError> {
    /// use std::time::Duration;
    /// let cache = ops_kit::cache::Cache::memory();
    /// let ttl = Duration::from_secs(5);
    /// assert!(cache.set_if_absent("epoch", "1", ttl).await?);
    /// assert!(!cache.set_if_absent("epoch", "0", ttl).await?);
    /// assert_eq!(cache.get("epoch").await?.as_deref(), Some("1"));
    /// # Ok(()) }
    /// ```
    pub async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        match &self.inner {
            Inner::Memory(cache) => Ok(cache.set_if_absent(key, value, ttl)),
            Inner::Redis(cache) => cache.set_if_absent(key, value, ttl).await,
        }
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match &self.inner {
            Inner::Memory(cache) => {
                cache.delete(key);
                Ok(())
            }
            Inner::Redis(cache) => cache.delete(key).await,
        }
    }

    /// Asks the backend whether it is there (`PING` on Redis).
    pub async fn ping(&self) -> Result<(), CacheError> {
        match &self.inner {
            Inner::Memory(_) => Ok(()),
            Inner::Redis(cache) => cache.ping().await,
        }
    }
}

impl HealthCheck for Cache {
    async fn check(&self) -> Result<(), CheckError> {
        self.ping().await.map_err(CheckError::new)
    }

    fn healthy_label(&self) -> &'static str {
        "connected"
    }

    fn unhealthy_label(&self) -> &'static str {
        "disconnected"
    }
}

#[cfg(test)]
mod tests;
