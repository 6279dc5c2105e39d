//! Which pools' databases are known to be down, so that requests fail fast
//! instead of each waiting the pool's whole acquire timeout.
//!
//! A pool is marked down when its readiness check fails (or times out) or
//! when beginning a transaction loses the connection, and marked up by the
//! next check or begin that succeeds. While it is down, a begin waits at
//! most [`FAIL_FAST`] for its answer and then reports
//! `sqlx::Error::PoolTimedOut` (a 503); the begin itself goes on in its own
//! task, and when the database answers again it marks the pool up: recovery
//! needs nobody.
//!
//! The marks are kept by the address of the sqlx pool's shared state, which
//! every clone of a pool shares and which stays put for its lifetime; the
//! enum [`Pool`](super::Pool) has nowhere else to keep them. The common
//! case, nothing down, costs one atomic load.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long a begin waits while its database is marked down: enough for a
/// database that is back to answer a connect and a `BEGIN`, far below the
/// pool's 3 s wait.
pub(crate) const FAIL_FAST: Duration = Duration::from_millis(300);

/// How many pools are marked down; zero on the fast path.
static DOWN_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The pools marked down, by [`key`].
static DOWN: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// The identity of a sqlx pool, the same for all its clones.
pub(crate) fn key<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> usize {
    std::ptr::from_ref(pool.options()) as usize
}

/// Whether the pool `key` is marked down.
pub(crate) fn is_down(key: usize) -> bool {
    DOWN_COUNT.load(Ordering::Acquire) != 0 && lock().contains(&key)
}

/// Marks the pool `key` down.
pub(crate) fn mark_down(key: usize) {
    let mut down = lock();
    if !down.contains(&key) {
        down.push(key);
        DOWN_COUNT.store(down.len(), Ordering::Release);
    }
}

/// Marks the pool `key` up.
pub(crate) fn mark_up(key: usize) {
    if DOWN_COUNT.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut down = lock();
    down.retain(|k| *k != key);
    DOWN_COUNT.store(down.len(), Ordering::Release);
}

/// Records what a begin learnt: an answer means up; a lost connection or
/// an unreachable server means down. A pool timeout alone does not: a
/// saturated pool times out with its database in good health.
pub(crate) fn record<T>(key: usize, result: &Result<T, sqlx::Error>) {
    match result {
        Ok(_) => mark_up(key),
        Err(sqlx::Error::PoolTimedOut) => {}
        Err(err) if super::DbFault::of(err) == super::DbFault::Unavailable => mark_down(key),
        Err(_) => mark_up(key),
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<usize>> {
    // The list stays consistent whatever a panicking holder did.
    DOWN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Marks the pool down when dropped before [`disarm`](Self::disarm): a
/// readiness check abandoned at its timeout means a database that did not
/// answer in time.
pub(crate) struct DownUnlessDisarmed(pub(crate) Option<usize>);

impl DownUnlessDisarmed {
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for DownUnlessDisarmed {
    fn drop(&mut self) {
        if let Some(key) = self.0 {
            mark_down(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_marked_down_is_down_until_marked_up_and_others_are_not() {
        let (a, b) = (usize::MAX - 7, usize::MAX - 8);
        mark_down(a);
        mark_down(a);
        assert!(is_down(a));
        assert!(!is_down(b));
        record::<()>(a, &Err(sqlx::Error::PoolTimedOut));
        assert!(is_down(a), "a pool timeout alone says nothing");
        record(a, &Ok(()));
        assert!(!is_down(a));
        record::<()>(
            b,
            &Err(sqlx::Error::Io(
                std::io::ErrorKind::ConnectionRefused.into(),
            )),
        );
        assert!(is_down(b));
        drop(DownUnlessDisarmed(Some(a)));
        assert!(is_down(a), "an abandoned check marks down");
        mark_up(b);
        DownUnlessDisarmed(Some(b)).disarm();
        assert!(!is_down(b), "a check that finished marks nothing itself");
        mark_up(a);
        assert!(!is_down(a));
    }
}
