//! Where the process is in its life: starting, ready, or shutting down.
//!
//! The readiness probe reads it; [`App`](crate::App) moves it forward. It is
//! a cheap shared handle, so a service can hold one too (for example to stop
//! background work once shutdown begins).
//!
//! # Example
//!
//! ```
//! use ops_kit::{Lifecycle, Phase};
//!
//! let lifecycle = Lifecycle::new();
//! assert_eq!(lifecycle.phase(), Phase::Starting);
//! lifecycle.set_ready();
//! assert_eq!(lifecycle.phase(), Phase::Ready);
//! lifecycle.begin_shutdown();
//! assert_eq!(lifecycle.phase(), Phase::ShuttingDown);
//! // Shutdown is final.
//! lifecycle.set_ready();
//! assert_eq!(lifecycle.phase(), Phase::ShuttingDown);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A phase of the process's life.
///
/// # Example
///
/// ```
/// use ops_kit::{Lifecycle, Phase};
///
/// let lifecycle = Lifecycle::new();
/// assert_eq!(lifecycle.phase(), Phase::Starting);
/// lifecycle.set_ready();
/// assert_eq!(lifecycle.phase(), Phase::Ready);
/// assert_eq!(Phase::Ready.as_str(), "ready");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Start-up work (migrations, warm-up) is running; readiness is 503.
    Starting,
    /// Serving; readiness follows the checks.
    Ready,
    /// Shutdown has begun; readiness is 503 for good.
    ShuttingDown,
}

impl Phase {
    /// The word the probes print for this phase.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ops_kit::Phase::ShuttingDown.as_str(), "shutting_down");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::ShuttingDown => "shutting_down",
        }
    }
}

/// A shared handle on the process's [`Phase`] and start time.
///
/// # Example
///
/// ```
/// use ops_kit::{Lifecycle, Phase};
///
/// let lifecycle = Lifecycle::new();
/// let seen_by_a_worker = lifecycle.clone();
/// lifecycle.begin_shutdown();
/// assert_eq!(seen_by_a_worker.phase(), Phase::ShuttingDown); // clones share one state
/// ```
#[derive(Debug, Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: AtomicU8,
    started: Instant,
    changes: watch::Sender<Phase>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A lifecycle in [`Phase::Starting`], its clock starting now.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::{Lifecycle, Phase};
    ///
    /// let lifecycle = Lifecycle::new();
    /// assert_eq!(lifecycle.phase(), Phase::Starting);
    /// assert!(lifecycle.uptime() < std::time::Duration::from_secs(5));
    /// ```
    pub fn new() -> Self {
        let (changes, _) = watch::channel(Phase::Starting);
        Self {
            inner: Arc::new(Inner {
                phase: AtomicU8::new(0),
                started: Instant::now(),
                changes,
            }),
        }
    }

    /// The current phase.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::Phase;
    ///
    /// let app = ops_kit::App::new("svc", "1.0.0");
    /// let lifecycle = app.lifecycle();
    /// assert_eq!(lifecycle.phase(), Phase::Starting);
    /// let _router = app.into_router(); // marks the service ready
    /// assert_eq!(lifecycle.phase(), Phase::Ready);
    /// ```
    pub fn phase(&self) -> Phase {
        match self.inner.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::ShuttingDown,
        }
    }

    /// Start-up has finished. Has no effect once shutdown has begun.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::{Lifecycle, Phase};
    ///
    /// let lifecycle = Lifecycle::new();
    /// lifecycle.set_ready();
    /// assert_eq!(lifecycle.phase(), Phase::Ready);
    /// lifecycle.begin_shutdown();
    /// lifecycle.set_ready();
    /// assert_eq!(lifecycle.phase(), Phase::ShuttingDown);
    /// ```
    pub fn set_ready(&self) {
        if self
            .inner
            .phase
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.inner.changes.send_replace(Phase::Ready);
        }
    }

    /// Shutdown has begun: readiness answers 503 from now on.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::body::Body;
    /// use ops_kit::health::{LIVE_PATH, READY_PATH};
    /// use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let app = ops_kit::App::new("svc", "1.0.0");
    /// let lifecycle = app.lifecycle();
    /// let router = app.into_router();
    /// lifecycle.begin_shutdown();
    /// let ready = router.clone().oneshot(http::Request::get(READY_PATH).body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(ready.status(), 503);
    /// let live = router.oneshot(http::Request::get(LIVE_PATH).body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(live.status(), 200); // liveness is unaffected
    /// # }
    /// ```
    pub fn begin_shutdown(&self) {
        if self.inner.phase.swap(2, Ordering::AcqRel) != 2 {
            self.inner.changes.send_replace(Phase::ShuttingDown);
        }
    }

    /// Time since the lifecycle was created.
    ///
    /// # Example
    ///
    /// ```
    /// let lifecycle = ops_kit::Lifecycle::new();
    /// assert!(lifecycle.uptime().as_secs() < 5);
    /// ```
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Resolves once shutdown has begun, for background tasks that should stop.
    ///
    /// # Example
    ///
    /// ```
    /// # tokio_test_block_on(async {
    /// let lifecycle = ops_kit::Lifecycle::new();
    /// let waiter = tokio::spawn({
    ///     let lifecycle = lifecycle.clone();
    ///     async move { lifecycle.shutting_down().await }
    /// });
    /// lifecycle.begin_shutdown();
    /// waiter.await.unwrap();
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub async fn shutting_down(&self) {
        let mut rx = self.inner.changes.subscribe();
        let _ = rx.wait_for(|phase| *phase == Phase::ShuttingDown).await;
    }
}
