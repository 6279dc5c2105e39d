use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Why a readiness check failed. Its message appears in `GET /api/health`;
/// keep secrets out of it.
///
/// # Example
///
/// ```
/// let err = ops_kit::health::CheckError::new("connection refused");
/// assert_eq!(err.to_string(), "connection refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError(String);

impl CheckError {
    /// A failure described by `message`.
    pub fn new(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckError {}

/// A dependency the service needs in order to serve: a database, a cache, a
/// downstream API.
///
/// Readiness runs every registered check concurrently, each under a timeout,
/// and shares the result between concurrent probes for a short while, so a
/// check may do real I/O. The labels are the words the readiness body prints
/// (`"database":"connected"`).
///
/// Any `Fn() -> impl Future<Output = Result<(), CheckError>>` is a check
/// (labelled `ok` / `failed`).
///
/// # Example
///
/// ```
/// use ops_kit::health::{CheckError, HealthCheck};
///
/// struct Upstream { url: String }
///
/// impl HealthCheck for Upstream {
///     async fn check(&self) -> Result<(), CheckError> {
///         if self.url.is_empty() { Err(CheckError::new("no upstream configured")) } else { Ok(()) }
///     }
///     fn healthy_label(&self) -> &'static str { "reachable" }
///     fn unhealthy_label(&self) -> &'static str { "unreachable" }
/// }
///
/// let app = ops_kit::App::new("svc", "1.0.0")
///     .readiness_check("upstream", Upstream { url: "http://pricing".into() })
///     .readiness_check("always", || async { Ok::<(), CheckError>(()) });
/// # let _ = app;
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send;

    /// The word printed when the check passes (default `ok`).
    fn healthy_label(&self) -> &'static str {
        "ok"
    }

    /// The word printed when the check fails or times out (default `failed`).
    fn unhealthy_label(&self) -> &'static str {
        "failed"
    }
}

impl<F, Fut> HealthCheck for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CheckError>> + Send,
{
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send {
        self()
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe form of [`HealthCheck`].
pub(crate) trait DynCheck: Send + Sync + 'static {
    fn check_boxed(&self) -> BoxFuture<'_, Result<(), CheckError>>;
    fn healthy_label(&self) -> &'static str;
    fn unhealthy_label(&self) -> &'static str;
}

impl<C: HealthCheck> DynCheck for C {
    fn check_boxed(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        Box::pin(HealthCheck::check(self))
    }
    fn healthy_label(&self) -> &'static str {
        HealthCheck::healthy_label(self)
    }
    fn unhealthy_label(&self) -> &'static str {
        HealthCheck::unhealthy_label(self)
    }
}
