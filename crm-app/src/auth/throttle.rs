//! Login throttling: too many attempts for one email, or too many failed
//! logins from one address, within 15 minutes are refused (429 with
//! `Retry-After`).
//!
//! Every attempt for an email is counted *before* the password is checked
//! (so parallel attempts cannot slip past the limit while hashes are being
//! verified), and a successful login clears the email's count. An address
//! is charged for failures only, so that many people signing in from one
//! office network are not locked out by each other's successes. Counts live in the
//! shared cache (Redis when `REDIS_URL` is set), so every instance enforces
//! one limit. Keys hold a SHA-256 of the email, never the email itself.
//!
//! When the shared cache fails, counting falls back to this instance's
//! memory, and the decision takes the larger of the two counts: the limit
//! then holds per instance instead of across them. It fails that way, not
//! open (no limit, which would let an outage be used for password guessing)
//! and not closed (nobody could log in while Redis is down).

use std::net::IpAddr;
use std::time::Duration;

use ops_kit::cache::Cache;
use sha2::{Digest, Sha256};

/// Attempts allowed per email within the window.
pub const MAX_ATTEMPTS_PER_EMAIL: u64 = 5;
/// Failed logins allowed per client address within the window.
pub const MAX_FAILURES_PER_IP: u64 = 20;
/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts login attempts.
#[derive(Debug, Clone)]
pub struct Throttle {
    shared: Cache,
    local: Cache,
}

fn email_key(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("crm:login-attempts:email:{hex}")
}

/// IPv6 clients are counted per /64: one host usually holds a whole /64.
fn ip_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("crm:login-attempts:ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!(
                "crm:login-attempts:ip6:{:x}:{:x}:{:x}:{:x}::/64",
                s[0], s[1], s[2], s[3]
            )
        }
    }
}

impl Throttle {
    /// A throttle counting in `shared`.
    pub fn new(shared: Cache) -> Self {
        Self {
            shared,
            local: Cache::memory(),
        }
    }

    /// Counts one attempt for `email` and checks the failures of `ip`.
    /// `Some(wait)` when a limit is reached: the caller answers 429 with
    /// `Retry-After: wait` without checking the password.
    pub async fn attempt(&self, email: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let key = email_key(email);
        let (count, ttl) = self.count(&key).await;
        let mut wait = (count > MAX_ATTEMPTS_PER_EMAIL)
            .then(|| ttl.unwrap_or(WINDOW).max(Duration::from_secs(1)));
        if let Some(ip) = ip {
            let key = ip_key(ip);
            let (failures, ttl) = self.read(&key).await;
            if failures >= MAX_FAILURES_PER_IP {
                let ttl = ttl.unwrap_or(WINDOW).max(Duration::from_secs(1));
                wait = Some(wait.map_or(ttl, |w| w.max(ttl)));
            }
        }
        wait
    }

    /// Charges a failed login to `ip`.
    pub async fn failed(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.count(&ip_key(ip)).await;
        }
    }

    /// The larger of the two caches' counts for `key`, with its time left.
    async fn read(&self, key: &str) -> (u64, Option<Duration>) {
        let parse = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let local = parse(self.local.get(key).await.ok().flatten());
        match self.shared.get(key).await {
            Ok(shared) if parse(shared.clone()) >= local => {
                (parse(shared), self.shared.ttl(key).await.ok().flatten())
            }
            _ => (local, self.local.ttl(key).await.ok().flatten()),
        }
    }

    /// Increments `key` in both caches as far as they answer and returns
    /// the larger count, with the time left in its window.
    async fn count(&self, key: &str) -> (u64, Option<Duration>) {
        let local = self.local.incr(key, WINDOW).await.unwrap_or(0);
        match self.shared.incr(key, WINDOW).await {
            Ok(shared) if shared >= local => (shared, self.shared.ttl(key).await.ok().flatten()),
            Ok(_) => (local, self.local.ttl(key).await.ok().flatten()),
            Err(err) => {
                tracing::warn!(error = %err, "the shared cache is unavailable; login attempts are counted on this instance only");
                (local, self.local.ttl(key).await.ok().flatten())
            }
        }
    }

    /// Clears the counts of an email and, when given, of an address (to
    /// unblock someone before their window ends).
    pub async fn reset(
        &self,
        email: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), ops_kit::cache::CacheError> {
        let mut keys = vec![email_key(email)];
        keys.extend(ip.map(ip_key));
        for key in keys {
            self.local.delete(&key).await?;
            self.shared.delete(&key).await?;
        }
        Ok(())
    }

    /// Forgets the email's attempts after a successful login.
    pub async fn succeeded(&self, email: &str) {
        let key = email_key(email);
        if let Err(err) = self.shared.delete(&key).await {
            tracing::warn!(error = %err, "the shared cache is unavailable; a login counter was not cleared");
        }
        let _ = self.local.delete(&key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_the_sixth_attempt_for_an_email_and_forgets_after_a_success() {
        let throttle = Throttle::new(Cache::memory());
        for _ in 0..MAX_ATTEMPTS_PER_EMAIL {
            assert!(throttle.attempt("ada@example.com", None).await.is_none());
        }
        let wait = throttle.attempt("ada@example.com", None).await.unwrap();
        assert!(wait <= WINDOW && wait > Duration::from_secs(60));
        assert!(throttle.attempt("bob@example.com", None).await.is_none());
        throttle.succeeded("ada@example.com").await;
        assert!(throttle.attempt("ada@example.com", None).await.is_none());
    }

    #[tokio::test]
    async fn refuses_an_address_after_twenty_failures_across_emails() {
        let throttle = Throttle::new(Cache::memory());
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        for i in 0..MAX_FAILURES_PER_IP {
            let email = format!("user{i}@example.com");
            assert!(throttle.attempt(&email, Some(ip)).await.is_none());
            throttle.failed(Some(ip)).await;
        }
        assert!(
            throttle
                .attempt("new@example.com", Some(ip))
                .await
                .is_some()
        );
        assert!(throttle.attempt("other@example.com", None).await.is_none());
    }

    #[tokio::test]
    async fn successes_from_one_address_do_not_lock_it() {
        let throttle = Throttle::new(Cache::memory());
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for i in 0..(MAX_FAILURES_PER_IP * 2) {
            let email = format!("colleague{i}@example.com");
            assert!(throttle.attempt(&email, Some(ip)).await.is_none());
            throttle.succeeded(&email).await;
        }
    }

    #[tokio::test]
    async fn counts_ipv6_clients_per_64() {
        let throttle = Throttle::new(Cache::memory());
        for i in 0..MAX_FAILURES_PER_IP {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            throttle.failed(Some(ip)).await;
        }
        let neighbour: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(
            throttle
                .attempt("x@example.com", Some(neighbour))
                .await
                .is_some()
        );
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(
            throttle
                .attempt("y@example.com", Some(elsewhere))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn counts_on_this_instance_when_the_shared_cache_is_down() {
        let throttle = Throttle::new(Cache::redis("redis://127.0.0.1:1").unwrap());
        for _ in 0..MAX_ATTEMPTS_PER_EMAIL {
            assert!(throttle.attempt("ada@example.com", None).await.is_none());
        }
        assert!(throttle.attempt("ada@example.com", None).await.is_some());
    }

    #[test]
    fn keys_never_hold_the_email() {
        assert!(!email_key("ada@example.com").contains("ada"));
    }
}
