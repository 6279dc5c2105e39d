//! Graceful shutdown: signals, the drain, and cleanup handlers.
//!
//! On SIGTERM or SIGINT, [`App::serve`](crate::App::serve) runs the runbook's
//! sequence:
//!
//! ```text
//! [SHUTDOWN] Received SIGTERM, starting graceful shutdown...
//! [SHUTDOWN] Closing HTTP server...
//! [SHUTDOWN] HTTP server closed
//! [SHUTDOWN] Running cleanup handlers...
//! [SHUTDOWN] Closing database pool...
//! [SHUTDOWN] Database pool closed
//! [SHUTDOWN] Graceful shutdown complete
//! ```
//!
//! 1. Readiness answers 503 (`shutting_down`) at once; liveness stays 200.
//! 2. During the optional pre-stop delay the server keeps serving, so that
//!    load balancers can deregister it.
//! 3. The listener closes; idle keep-alive connections are closed; requests
//!    in flight finish, within the shutdown timeout (default 30 s).
//! 4. Cleanup handlers run after the drain (or its timeout), newest first,
//!    each within its own timeout (default 5 s).
//! 5. The process exits 0, or 1 when the drain timed out (the requests still
//!    in flight are logged) or a cleanup handler timed out.
//!
//! A second signal during shutdown exits at once with status 1.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::inflight::InFlight;
use crate::{ServeError, Served};

/// The default time in-flight requests get to finish.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ops_kit::shutdown::DEFAULT_SHUTDOWN_TIMEOUT;
///
/// assert_eq!(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from_secs(30));
/// // A service with long uploads gives them more time.
/// let app = ops_kit::App::new("svc", "1.0.0").shutdown_timeout(DEFAULT_SHUTDOWN_TIMEOUT * 2);
/// assert!(format!("{app:?}").contains("shutdown_timeout: 60s"));
/// ```
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The default time each cleanup handler gets.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ops_kit::shutdown::DEFAULT_CLEANUP_TIMEOUT;
///
/// assert_eq!(DEFAULT_CLEANUP_TIMEOUT, Duration::from_secs(5));
/// let app = ops_kit::App::new("svc", "1.0.0").cleanup_timeout(DEFAULT_CLEANUP_TIMEOUT / 5);
/// # let _ = app;
/// ```
pub const DEFAULT_CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

type HookFn = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A named cleanup handler.
pub(crate) struct Hook {
    pub(crate) name: String,
    pub(crate) run: HookFn,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook").field("name", &self.name).finish()
    }
}

impl Hook {
    pub(crate) fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name: name.into(),
            run: Box::new(move || Box::pin(f())),
        }
    }
}

/// Runs the cleanup handlers newest first, each under `timeout`. Returns
/// whether every one finished in time.
pub(crate) async fn run_hooks(hooks: Vec<Hook>, timeout: Duration) -> bool {
    tracing::info!(target: "ops_kit::shutdown", "[SHUTDOWN] Running cleanup handlers...");
    let mut all_done = true;
    for hook in hooks.into_iter().rev() {
        tracing::info!(target: "ops_kit::shutdown", "[SHUTDOWN] Closing {}...", hook.name);
        match tokio::time::timeout(timeout, (hook.run)()).await {
            Ok(()) => tracing::info!(
                target: "ops_kit::shutdown",
                "[SHUTDOWN] {} closed",
                capitalized(&hook.name)
            ),
            Err(_) => {
                all_done = false;
                tracing::error!(
                    target: "ops_kit::shutdown",
                    "[SHUTDOWN ERROR] {} did not close within {} ms",
                    capitalized(&hook.name),
                    timeout.as_millis()
                );
            }
        }
    }
    all_done
}

/// What happens once shutdown has begun: the pre-stop delay, closing the
/// listener and draining requests in flight (within `timeout`), then the
/// cleanup hooks (within `cleanup_timeout`), with the `[SHUTDOWN]` lines
/// of the [module docs](self).
pub(crate) struct Drain {
    /// How long to keep serving before closing (zero: close at once).
    pub(crate) delay: Duration,
    /// How long requests in flight may take to finish.
    pub(crate) timeout: Duration,
    /// How long the cleanup hooks may take, together.
    pub(crate) cleanup_timeout: Duration,
    /// The cleanup hooks, in registration order.
    pub(crate) hooks: Vec<Hook>,
    /// The requests in flight, named in the log when the drain times out.
    pub(crate) in_flight: InFlight,
}

impl Drain {
    /// Runs the sequence: `close` tells the server to stop accepting,
    /// `server` is its task. `failure` is an error from before the
    /// shutdown (a failed start-up), which the outcome keeps.
    pub(crate) async fn run<T>(
        self,
        close: oneshot::Sender<()>,
        server: &mut JoinHandle<T>,
        mut failure: Option<ServeError>,
    ) -> Served {
        if !self.delay.is_zero() {
            tracing::info!(
                target: "ops_kit::shutdown",
                "[SHUTDOWN] Waiting {} ms before closing (pre-stop delay)...",
                self.delay.as_millis()
            );
            tokio::time::sleep(self.delay).await;
        }

        tracing::info!(target: "ops_kit::shutdown", "[SHUTDOWN] Closing HTTP server...");
        let _ = close.send(());
        let drained = match tokio::time::timeout(self.timeout, &mut *server).await {
            Ok(_) => {
                tracing::info!(target: "ops_kit::shutdown", "[SHUTDOWN] HTTP server closed");
                true
            }
            Err(_) => {
                let stuck = self.in_flight.snapshot();
                tracing::error!(
                    target: "ops_kit::shutdown",
                    in_flight = stuck.len() as u64,
                    "[SHUTDOWN ERROR] Timed out after {} ms waiting for {} in-flight request(s)",
                    self.timeout.as_millis(),
                    stuck.len()
                );
                for entry in &stuck {
                    tracing::error!(
                        target: "ops_kit::shutdown",
                        requestId = entry.request_id.as_str(),
                        method = entry.method.as_str(),
                        path = entry.path(),
                        elapsed_ms = entry.started.elapsed().as_millis() as u64,
                        "[SHUTDOWN ERROR] Abandoned in-flight request"
                    );
                }
                server.abort();
                failure.get_or_insert(ServeError::DrainTimedOut {
                    in_flight: stuck.len(),
                });
                false
            }
        };

        let cleaned = run_hooks(self.hooks, self.cleanup_timeout).await;
        if !cleaned {
            failure.get_or_insert(ServeError::CleanupTimedOut);
        }
        match failure {
            None if drained => {
                tracing::info!(target: "ops_kit::shutdown", "[SHUTDOWN] Graceful shutdown complete");
                Served(Ok(()))
            }
            None => Served(Err(ServeError::CleanupTimedOut)),
            Some(err) => {
                tracing::error!(target: "ops_kit::shutdown", "[SHUTDOWN ERROR] Shutdown finished with errors: {err}");
                Served(Err(err))
            }
        }
    }
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The signal that started a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Term,
    Int,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
        }
    }
}

/// Listens for SIGTERM and SIGINT.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    pub(crate) async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => Signal::Term,
                _ = self.int.recv() => Signal::Int,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Int
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{LogFormat, testing::capture};
    use std::sync::{Arc, Mutex};

    #[test]
    fn names_hooks_as_the_runbook_does() {
        assert_eq!(capitalized("database pool"), "Database pool");
    }

    #[tokio::test]
    async fn runs_cleanup_handlers_newest_first_and_logs_each() {
        let (out, guard, _d) = capture(LogFormat::Text);
        let order = Arc::new(Mutex::new(Vec::new()));
        let hooks = ["database pool", "cache"]
            .into_iter()
            .map(|name| {
                let order = order.clone();
                Hook::new(
                    name,
                    move || async move { order.lock().unwrap().push(name) },
                )
            })
            .collect();
        assert!(run_hooks(hooks, Duration::from_secs(1)).await);
        assert_eq!(*order.lock().unwrap(), vec!["cache", "database pool"]);
        assert_eq!(
            out.lines(&guard),
            vec![
                "[SHUTDOWN] Running cleanup handlers...",
                "[SHUTDOWN] Closing cache...",
                "[SHUTDOWN] Cache closed",
                "[SHUTDOWN] Closing database pool...",
                "[SHUTDOWN] Database pool closed",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_cleanup_handler_is_abandoned_after_its_timeout() {
        let (out, guard, _d) = capture(LogFormat::Text);
        let ran_next = Arc::new(Mutex::new(false));
        let flag = ran_next.clone();
        let hooks = vec![
            Hook::new("first", move || async move { *flag.lock().unwrap() = true }),
            Hook::new("stuck", std::future::pending::<()>),
        ];
        assert!(!run_hooks(hooks, Duration::from_secs(5)).await);
        assert!(*ran_next.lock().unwrap());
        assert!(
            out.lines(&guard)
                .contains(&"[SHUTDOWN ERROR] Stuck did not close within 5000 ms".to_owned())
        );
    }
}
