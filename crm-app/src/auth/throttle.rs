//! Login throttling: repeated failures for one email or from one address
//! are refused for a while (429 with `Retry-After`).
//!
//! Failures are counted in the shared cache (Redis when `REDIS_URL` is set),
//! so every instance enforces one limit. When the shared cache cannot be
//! reached, counting falls back to this instance's memory: the limit then
//! holds per instance instead of across them. It fails that way, not open
//! (no limit at all, which would let an outage be used for password
//! guessing) and not closed (nobody can log in while Redis is down).

use std::net::IpAddr;
use std::time::Duration;

use ops_kit::cache::Cache;

/// Failures allowed per email within the window.
pub const MAX_FAILURES_PER_EMAIL: u64 = 5;
/// Failures allowed per client address within the window.
pub const MAX_FAILURES_PER_IP: u64 = 20;
/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts login failures.
#[derive(Debug, Clone)]
pub struct Throttle {
    shared: Cache,
    local: Cache,
}

impl Throttle {
    /// A throttle counting in `shared`.
    pub fn new(shared: Cache) -> Self {
        Self {
            shared,
            local: Cache::memory(),
        }
    }

    fn keys(email: &str, ip: Option<IpAddr>) -> Vec<(String, u64)> {
        let mut keys = vec![(
            format!("crm:login-failures:email:{email}"),
            MAX_FAILURES_PER_EMAIL,
        )];
        if let Some(ip) = ip {
            keys.push((format!("crm:login-failures:ip:{ip}"), MAX_FAILURES_PER_IP));
        }
        keys
    }

    /// `Some(wait)` when the email or the address has used up its
    /// failures; the caller answers 429 with `Retry-After: wait`.
    pub async fn blocked(&self, email: &str, ip: Option<IpAddr>) -> Option<Duration> {
        for (key, limit) in Self::keys(email, ip) {
            let count = match self.shared.get(&key).await {
                Ok(value) => value,
                Err(err) => {
                    tracing::warn!(error = %err, "the shared cache is unavailable; login throttling counts on this instance only");
                    self.local.get(&key).await.unwrap_or_default()
                }
            };
            if count.and_then(|c| c.parse::<u64>().ok()).unwrap_or(0) >= limit {
                let ttl = match self.shared.ttl(&key).await {
                    Ok(ttl) => ttl,
                    Err(_) => self.local.ttl(&key).await.unwrap_or_default(),
                };
                return Some(ttl.unwrap_or(WINDOW).max(Duration::from_secs(1)));
            }
        }
        None
    }

    /// Records a failed attempt.
    pub async fn failed(&self, email: &str, ip: Option<IpAddr>) {
        for (key, _) in Self::keys(email, ip) {
            if self.shared.incr(&key, WINDOW).await.is_err() {
                let _ = self.local.incr(&key, WINDOW).await;
            }
        }
    }

    /// Forgets the email's failures after a successful login.
    pub async fn succeeded(&self, email: &str) {
        let key = format!("crm:login-failures:email:{email}");
        let _ = self.shared.delete(&key).await;
        let _ = self.local.delete(&key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_an_email_after_five_failures_and_forgets_them_after_a_success() {
        let throttle = Throttle::new(Cache::memory());
        for _ in 0..MAX_FAILURES_PER_EMAIL {
            assert!(throttle.blocked("ada@example.com", None).await.is_none());
            throttle.failed("ada@example.com", None).await;
        }
        let wait = throttle.blocked("ada@example.com", None).await.unwrap();
        assert!(wait <= WINDOW && wait > Duration::from_secs(60));
        assert!(throttle.blocked("bob@example.com", None).await.is_none());
        throttle.succeeded("ada@example.com").await;
        assert!(throttle.blocked("ada@example.com", None).await.is_none());
    }

    #[tokio::test]
    async fn blocks_an_address_after_twenty_failures_across_emails() {
        let throttle = Throttle::new(Cache::memory());
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        for i in 0..MAX_FAILURES_PER_IP {
            throttle
                .failed(&format!("user{i}@example.com"), Some(ip))
                .await;
        }
        assert!(
            throttle
                .blocked("new@example.com", Some(ip))
                .await
                .is_some()
        );
        assert!(throttle.blocked("new@example.com", None).await.is_none());
    }

    #[tokio::test]
    async fn counts_on_this_instance_when_the_shared_cache_is_down() {
        let down = Cache::redis("redis://127.0.0.1:1").unwrap();
        let throttle = Throttle::new(down);
        for _ in 0..MAX_FAILURES_PER_EMAIL {
            throttle.failed("ada@example.com", None).await;
        }
        assert!(throttle.blocked("ada@example.com", None).await.is_some());
    }
}
