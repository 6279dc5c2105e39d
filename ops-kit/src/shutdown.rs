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
