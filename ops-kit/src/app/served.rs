//! How serving ended: [`Served`], and [`ServeError`] when it failed.

use std::process::ExitCode;

/// Why serving ended with an error.
///
/// # Example
///
/// ```
/// use ops_kit::{App, ServeError};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // Not a `host:port` address, so nothing can be bound.
/// let served = App::new("svc", "1.0.0").serve("no-port-here").await;
/// let err = served.error().unwrap();
/// assert!(matches!(err, ServeError::Bind(_)));
/// assert!(err.to_string().starts_with("cannot bind the listener: "));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot bind the listener: {0}")]
    Bind(#[source] std::io::Error),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The HTTP server stopped on its own.
    #[error("the HTTP server failed: {0}")]
    Server(#[source] std::io::Error),
    /// A start-up task failed.
    #[error("start-up failed: {0}")]
    Startup(String),
    /// In-flight requests did not finish within the shutdown timeout.
    #[error("{in_flight} request(s) were still in flight when the shutdown timeout expired")]
    DrainTimedOut {
        /// How many requests were abandoned.
        in_flight: usize,
    },
    /// A cleanup handler did not finish within its timeout.
    #[error("a cleanup handler timed out")]
    CleanupTimedOut,
}

/// How serving ended; turn it into the process's exit status with
/// [`exit_code`](Self::exit_code).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let served = ops_kit::App::new("svc", "1.0.0").serve_with_shutdown(listener, async {}).await;
/// assert_eq!(served.exit_code(), std::process::ExitCode::SUCCESS);
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct Served(pub(crate) Result<(), ServeError>);

impl Served {
    /// Whether the shutdown was clean.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let served = ops_kit::App::new("svc", "1.0.0").serve("no-port-here").await;
    /// assert!(!served.is_ok());
    /// # }
    /// ```
    pub fn is_ok(&self) -> bool {
        self.0.is_ok()
    }

    /// The error, if any.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::ServeError;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let served = ops_kit::App::new("svc", "1.0.0").serve("no-port-here").await;
    /// assert!(matches!(served.error(), Some(ServeError::Bind(_))));
    /// # }
    /// ```
    pub fn error(&self) -> Option<&ServeError> {
        self.0.as_ref().err()
    }

    /// 0 after a clean shutdown, 1 otherwise. Flushes queued log lines.
    ///
    /// # Example
    ///
    /// ```
    /// use std::process::ExitCode;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let served = ops_kit::App::new("svc", "1.0.0").serve("no-port-here").await;
    /// assert_eq!(served.exit_code(), ExitCode::FAILURE);
    /// # }
    /// ```
    pub fn exit_code(&self) -> ExitCode {
        crate::telemetry::flush();
        if self.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// The underlying result.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::ServeError;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let served = ops_kit::App::new("svc", "1.0.0").serve("no-port-here").await;
    /// let result: Result<(), ServeError> = served.into_result();
    /// assert!(matches!(result, Err(ServeError::Bind(_))));
    /// # }
    /// ```
    pub fn into_result(self) -> Result<(), ServeError> {
        self.0
    }
}
