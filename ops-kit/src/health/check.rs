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
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::health::CheckError;
    ///
    /// let err = CheckError::new(std::io::Error::other("connection refused"));
    /// assert_eq!(err.to_string(), "connection refused");
    /// assert_eq!(err, CheckError::new("connection refused"));
    /// ```
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
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::health::{CheckError, HealthCheck};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let up = || async { Ok::<(), CheckError>(()) };
    /// assert_eq!(up.check().await, Ok(()));
    ///
    /// let down = || async { Err::<(), _>(CheckError::new("queue unreachable")) };
    /// assert_eq!(down.check().await.unwrap_err().to_string(), "queue unreachable");
    /// # }
    /// ```
    fn check(&self) -> impl Future<Output = Result<(), CheckError>> + Send;

    /// The word printed when the check passes (default `ok`).
    ///
    /// # Example
    ///
    /// ```
    /// use axum::body::{Body, to_bytes};
    /// use ops_kit::health::{CheckError, HealthCheck, READY_PATH};
    /// use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let check = || async { Ok::<(), CheckError>(()) };
    /// assert_eq!(check.healthy_label(), "ok");
    ///
    /// let router = ops_kit::App::new("svc", "1.0.0").readiness_check("queue", check).into_router();
    /// let response = router.oneshot(http::Request::get(READY_PATH).body(Body::empty()).unwrap()).await.unwrap();
    /// let body: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
    /// assert_eq!(body["checks"]["queue"], "ok");
    /// # }
    /// ```
    fn healthy_label(&self) -> &'static str {
        "ok"
    }

    /// The word printed when the check fails or times out (default `failed`).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::health::{CheckError, HealthCheck};
    ///
    /// struct Upstream;
    ///
    /// impl HealthCheck for Upstream {
    ///     async fn check(&self) -> Result<(), CheckError> {
    ///         Err(CheckError::new("connect timeout"))
    ///     }
    ///     fn unhealthy_label(&self) -> &'static str {
    ///         "unreachable"
    ///     }
    /// }
    ///
    /// assert_eq!(Upstream.unhealthy_label(), "unreachable");
    /// assert_eq!(Upstream.healthy_label(), "ok"); // the default
    /// ```
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
