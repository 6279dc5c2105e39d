//! Sign-in and registration throttling (429 with `Retry-After`).
//!
//! **Login.** Failed logins are counted, per email (5 within 15 minutes)
//! and per client address (20 within 15 minutes, IPv6 per /64); past
//! either limit, login is refused without checking the password. A
//! successful login clears the email's count. Successes are not counted,
//! so a burst of correct logins for one email passes.
//!
//! Counting failures alone would let guesses sent in parallel slip past
//! the limit while their hashes are being verified (each sees the count
//! from before the others fail). So, on each instance, the password checks
//! for one email take turns: the count is read after the previous check of
//! that email has recorded its outcome, and at most one check per email
//! and instance is in flight. Across N instances at most N − 1 extra
//! guesses can race past the limit, once per window.
//!
//! **Registration** is counted per client address, every attempt (10
//! within an hour), before any work is done.
//!
//! Counts live in the shared cache (Redis when `REDIS_URL` is set), so
//! every instance enforces one limit. Keys hold a SHA-256 of the email,
//! never the email itself. When the shared cache fails, counting falls
//! back to this instance's memory, and the decision takes the larger of
//! the two counts: the limit then holds per instance instead of across
//! them. It fails that way, not open (no limit, which would let an outage
//! be used for password guessing) and not closed (nobody could log in
//! while Redis is down).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ops_kit::cache::Cache;
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;

/// Failed logins allowed per email within the window.
pub const MAX_FAILURES_PER_EMAIL: u64 = 5;
/// Failed logins allowed per client address within the window.
pub const MAX_FAILURES_PER_IP: u64 = 20;
/// The login counting window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Registrations allowed per client address within [`REGISTER_WINDOW`].
pub const MAX_REGISTRATIONS_PER_IP: u64 = 10;
/// The registration counting window.
pub const REGISTER_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Counts failed logins and registrations.
#[derive(Debug, Clone)]
pub struct Throttle {
    shared: Cache,
    local: Cache,
    turns: Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>,
}

/// The right to check one password for an email: held while the password
/// is verified, and handed back with the outcome
/// ([`Throttle::failed`], [`Throttle::succeeded`]). Dropping it without an
/// outcome (the check could not be made) charges nothing.
#[derive(Debug)]
pub struct Turn {
    email_key: String,
    ip: Option<IpAddr>,
    _turn: OwnedMutexGuard<()>,
}

fn digest_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn email_key(email: &str) -> String {
    format!("crm:login-failures:email:{}", digest_hex(email))
}

/// IPv6 clients are counted per /64: one host usually holds a whole /64.
fn ip_key(prefix: &str, ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("crm:{prefix}:ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!(
                "crm:{prefix}:ip6:{:x}:{:x}:{:x}:{:x}::/64",
                s[0], s[1], s[2], s[3]
            )
        }
    }
}

fn login_ip_key(ip: IpAddr) -> String {
    ip_key("login-failures", ip)
}

fn register_ip_key(ip: IpAddr) -> String {
    ip_key("registrations", ip)
}

/// What `Retry-After` says for a count's remaining window.
fn wait(ttl: Option<Duration>, window: Duration) -> Duration {
    ttl.unwrap_or(window).max(Duration::from_secs(1))
}

impl Throttle {
    /// A throttle counting in `shared`.
    pub fn new(shared: Cache) -> Self {
        Self {
            shared,
            local: Cache::memory(),
            turns: Arc::default(),
        }
    }

    /// Waits for the email's turn and checks its failures and those of
    /// `ip`. `Err(wait)` when a limit is reached: the caller answers 429
    /// with `Retry-After: wait` without checking the password.
    pub async fn attempt(&self, email: &str, ip: Option<IpAddr>) -> Result<Turn, Duration> {
        let email_key = email_key(email);
        // Refused without queueing: a throttled email's requests do not
        // wait behind each other.
        self.check(&email_key, ip).await?;
        let lock = self.turn_lock(&email_key);
        let turn = lock.lock_owned().await;
        // Read again now that the previous check has recorded its outcome.
        self.check(&email_key, ip).await?;
        Ok(Turn {
            email_key,
            ip,
            _turn: turn,
        })
    }

    async fn check(&self, email_key: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let (failures, ttl) = self.read(email_key).await;
        let mut refused = (failures >= MAX_FAILURES_PER_EMAIL).then(|| wait(ttl, WINDOW));
        if let Some(ip) = ip {
            let (failures, ttl) = self.read(&login_ip_key(ip)).await;
            if failures >= MAX_FAILURES_PER_IP {
                let ttl = wait(ttl, WINDOW);
                refused = Some(refused.map_or(ttl, |w| w.max(ttl)));
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// The lock that makes one email's password checks take turns on this
    /// instance. Locks of emails nobody is checking are dropped.
    fn turn_lock(&self, email_key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = turns.get(email_key).and_then(Weak::upgrade) {
            return lock;
        }
        turns.retain(|_, lock| lock.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        turns.insert(email_key.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// Charges a failed login to its email and address, then hands the
    /// email's turn on.
    pub async fn failed(&self, turn: Turn) {
        self.count(&turn.email_key, WINDOW).await;
        if let Some(ip) = turn.ip {
            self.count(&login_ip_key(ip), WINDOW).await;
        }
    }

    /// Forgets the email's failures after a successful login.
    pub async fn succeeded(&self, turn: Turn) {
        if let Err(err) = self.shared.delete(&turn.email_key).await {
            tracing::warn!(error = %err, "the shared cache is unavailable; a login counter was not cleared");
        }
        let _ = self.local.delete(&turn.email_key).await;
    }

    /// Counts one registration attempt from `ip`. `Some(wait)` past the
    /// limit: the caller answers 429 with `Retry-After: wait`. Without an
    /// address (no peer known) nothing is counted.
    pub async fn register(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let key = register_ip_key(ip?);
        let (count, ttl) = self.count(&key, REGISTER_WINDOW).await;
        (count > MAX_REGISTRATIONS_PER_IP).then(|| wait(ttl, REGISTER_WINDOW))
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
    async fn count(&self, key: &str, window: Duration) -> (u64, Option<Duration>) {
        let local = self.local.incr(key, window).await.unwrap_or(0);
        match self.shared.incr(key, window).await {
            Ok(shared) if shared >= local => (shared, self.shared.ttl(key).await.ok().flatten()),
            Ok(_) => (local, self.local.ttl(key).await.ok().flatten()),
            Err(err) => {
                tracing::warn!(error = %err, "the shared cache is unavailable; attempts are counted on this instance only");
                (local, self.local.ttl(key).await.ok().flatten())
            }
        }
    }

    /// Clears the failures of an email and, when given, the failures and
    /// registrations of an address (to unblock someone before their window
    /// ends).
    pub async fn reset(
        &self,
        email: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), ops_kit::cache::CacheError> {
        let mut keys = vec![email_key(email)];
        keys.extend(ip.map(login_ip_key));
        keys.extend(ip.map(register_ip_key));
        for key in keys {
            self.local.delete(&key).await?;
            self.shared.delete(&key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fail(throttle: &Throttle, email: &str, ip: Option<IpAddr>) {
        let turn = throttle.attempt(email, ip).await.unwrap();
        throttle.failed(turn).await;
    }

    #[tokio::test]
    async fn refuses_an_email_after_five_failures_and_forgets_them_after_a_success() {
        let throttle = Throttle::new(Cache::memory());
        for _ in 0..MAX_FAILURES_PER_EMAIL - 1 {
            fail(&throttle, "ada@example.com", None).await;
        }
        let turn = throttle.attempt("ada@example.com", None).await.unwrap();
        throttle.succeeded(turn).await;
        for _ in 0..MAX_FAILURES_PER_EMAIL {
            fail(&throttle, "ada@example.com", None).await;
        }
        let wait = throttle.attempt("ada@example.com", None).await.unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::from_secs(60));
        assert!(throttle.attempt("bob@example.com", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_burst_of_correct_logins_for_one_email_is_not_refused() {
        let throttle = Throttle::new(Cache::memory());
        let logins = (0..40).map(|_| {
            let throttle = throttle.clone();
            tokio::spawn(async move {
                let turn = throttle.attempt("ada@example.com", None).await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
                throttle.succeeded(turn).await;
                Ok::<(), Duration>(())
            })
        });
        for login in futures_util::future::join_all(logins).await {
            assert!(login.unwrap().is_ok());
        }
    }

    #[tokio::test]
    async fn wrong_guesses_sent_in_parallel_check_at_most_five_passwords() {
        let throttle = Throttle::new(Cache::memory());
        let guesses = (0..30).map(|_| {
            let throttle = throttle.clone();
            tokio::spawn(async move {
                let turn = throttle.attempt("ada@example.com", None).await.ok()?;
                // The time a hash takes, during which the others arrive.
                tokio::time::sleep(Duration::from_millis(5)).await;
                throttle.failed(turn).await;
                Some(())
            })
        });
        let checked = futures_util::future::join_all(guesses)
            .await
            .into_iter()
            .filter(|g| matches!(g, Ok(Some(()))))
            .count();
        assert_eq!(checked as u64, MAX_FAILURES_PER_EMAIL);
    }

    #[tokio::test]
    async fn refuses_an_address_after_twenty_failures_across_emails() {
        let throttle = Throttle::new(Cache::memory());
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        for i in 0..MAX_FAILURES_PER_IP {
            fail(&throttle, &format!("user{i}@example.com"), Some(ip)).await;
        }
        assert!(throttle.attempt("new@example.com", Some(ip)).await.is_err());
        assert!(throttle.attempt("other@example.com", None).await.is_ok());
    }

    #[tokio::test]
    async fn successes_from_one_address_do_not_lock_it() {
        let throttle = Throttle::new(Cache::memory());
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for i in 0..(MAX_FAILURES_PER_IP * 2) {
            let email = format!("colleague{i}@example.com");
            let turn = throttle.attempt(&email, Some(ip)).await.unwrap();
            throttle.succeeded(turn).await;
        }
    }

    #[tokio::test]
    async fn counts_ipv6_clients_per_64() {
        let throttle = Throttle::new(Cache::memory());
        for i in 0..MAX_FAILURES_PER_IP {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            fail(&throttle, &format!("u{i}@example.com"), Some(ip)).await;
        }
        let neighbour: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(
            throttle
                .attempt("x@example.com", Some(neighbour))
                .await
                .is_err()
        );
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(
            throttle
                .attempt("y@example.com", Some(elsewhere))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn counts_on_this_instance_when_the_shared_cache_is_down() {
        let throttle = Throttle::new(Cache::redis("redis://127.0.0.1:1").unwrap());
        for _ in 0..MAX_FAILURES_PER_EMAIL {
            fail(&throttle, "ada@example.com", None).await;
        }
        assert!(throttle.attempt("ada@example.com", None).await.is_err());
    }

    #[tokio::test]
    async fn registrations_are_limited_per_address() {
        let throttle = Throttle::new(Cache::memory());
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..MAX_REGISTRATIONS_PER_IP {
            assert!(throttle.register(Some(ip)).await.is_none());
        }
        let wait = throttle.register(Some(ip)).await.unwrap();
        assert!(wait > WINDOW && wait <= REGISTER_WINDOW);
        let other: IpAddr = "198.51.100.8".parse().unwrap();
        assert!(throttle.register(Some(other)).await.is_none());
    }

    #[tokio::test]
    async fn the_locks_of_emails_nobody_is_checking_are_dropped() {
        let throttle = Throttle::new(Cache::memory());
        for i in 0..100 {
            let turn = throttle
                .attempt(&format!("u{i}@example.com"), None)
                .await
                .unwrap();
            throttle.succeeded(turn).await;
        }
        assert!(throttle.turns.lock().unwrap().len() <= 1);
    }

    #[tokio::test]
    async fn a_reset_clears_an_addresss_registrations_too() {
        let throttle = Throttle::new(Cache::memory());
        let ip: IpAddr = "198.51.100.9".parse().unwrap();
        for _ in 0..=MAX_REGISTRATIONS_PER_IP {
            throttle.register(Some(ip)).await;
        }
        assert!(throttle.register(Some(ip)).await.is_some());
        throttle.reset("ada@example.com", Some(ip)).await.unwrap();
        assert!(throttle.register(Some(ip)).await.is_none());
    }

    #[test]
    fn keys_never_hold_the_email() {
        assert!(!email_key("ada@example.com").contains("ada"));
    }
}
