//! The per-request middleware: request id, span, limits, error envelope and
//! the `[METRICS]` line, in one layer and one future.
//!
//! For every request [`OpsLayer`]:
//!
//! 1. picks the [`RequestId`](crate::RequestId) (the client's safe
//!    `x-request-id`, or a fresh UUID), makes it available to handlers
//!    through the [`RequestId`](crate::RequestId) extractor and opens a
//!    `request` span with `requestId`, `method` and `path`;
//! 2. reads a request's whole body before the router sees the request,
//!    refusing bodies over the limit (413), bodies that do not arrive
//!    within the body read timeout (408), compressed bodies (415) and
//!    malformed ones (400); refuses requests that run past the timeout
//!    (503), and turns a panic in the handler into a 500 while the process
//!    stays up;
//! 3. turns every error response that is not already JSON (404, 405, axum's
//!    rejections, the limits, panics) into the JSON envelope
//!    `{"error":…,"code":…,"requestId":…}`;
//! 4. echoes `x-request-id` on every response;
//! 5. logs one line per request:
//!    `[METRICS] requestId=<id> request_duration_ms=<ms> method=<M> path=<path> status=<code>`
//!    followed by `route=<template>` when a route matched. The path never
//!    includes the query string.
//!
//! # Ordering guarantee
//!
//! No extractor and no handler runs before the request's body is in
//! memory: a [`Tx`](crate::sql::Tx) (a pool connection) is never held while
//! a client is still sending. A request without a body (no
//! `Content-Length`, or 0, and no `Transfer-Encoding`) is passed on as it
//! is, with nothing buffered.
//!
//! It is one hand-written future rather than a stack of generic layers
//! because it sits on every request; see `docs/performance.md`.
//!
//! [`App`](crate::App) installs it for you. To use it on a bare router, add
//! [`OpsLayer`] as the outermost layer and `DefaultBodyLimit` with the
//! same limit:
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get, extract::DefaultBodyLimit};
//! use ops_kit::OpsLayer;
//!
//! let ops = OpsLayer::new()
//!     .body_limit(256 * 1024)
//!     .request_timeout(Duration::from_secs(10));
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hi" }))
//!     .layer(DefaultBodyLimit::max(256 * 1024))
//!     .layer(ops);
//! ```

mod body;
mod future;
mod route;
mod service;

use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

pub use self::future::ResponseFuture;
pub(crate) use self::route::CaptureRouteLayer;
pub use self::service::OpsService;

use crate::context::Services;
use crate::inflight::InFlight;

/// The default request body limit: 1 MiB.
///
/// # Example
///
/// ```
/// use axum::{Router, body::Body, routing::post};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(ops_kit::DEFAULT_BODY_LIMIT, 1024 * 1024);
/// let app = Router::new().route("/", post(|body: String| async move { body })).layer(ops_kit::OpsLayer::new());
/// let too_big = vec![b'x'; ops_kit::DEFAULT_BODY_LIMIT + 1];
/// let request = http::Request::post("/").header("content-length", too_big.len()).body(Body::from(too_big)).unwrap();
/// assert_eq!(app.oneshot(request).await.unwrap().status(), 413);
/// # }
/// ```
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The default request timeout: 30 seconds.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, body::Body, routing::get};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// assert_eq!(ops_kit::DEFAULT_REQUEST_TIMEOUT, Duration::from_secs(30));
/// let slow = || async { tokio::time::sleep(Duration::from_secs(60)).await; "too late" };
/// let app = Router::new().route("/", get(slow)).layer(ops_kit::OpsLayer::new());
/// let response = app.oneshot(http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 503);
/// # }
/// ```
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The default deadline for a request body to arrive in full: 5 seconds
/// from the end of the request head. A body still arriving then is
/// answered with 408 `request_timeout`.
///
/// A JSON API's bodies are a few kilobytes; 5 s is enough for the 1 MiB
/// default limit at 2 Mbit/s, and much less than the 30 s request timeout,
/// which the body's time counts towards as well.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, body::Body, routing::post};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// assert_eq!(ops_kit::DEFAULT_BODY_READ_TIMEOUT, Duration::from_secs(5));
/// let app = Router::new().route("/", post(|body: String| async move { body })).layer(ops_kit::OpsLayer::new());
/// // A body that never ends.
/// let never = futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
/// let request = http::Request::post("/").body(Body::from_stream(never)).unwrap();
/// assert_eq!(app.oneshot(request).await.unwrap().status(), 408);
/// # }
/// ```
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Configuration of [`OpsService`]; see the [module docs](self).
///
/// # Example
///
/// ```
/// use axum::{Router, body::{Body, to_bytes}, routing::get};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let app = Router::new().route("/", get(|| async { "hi" })).layer(ops_kit::OpsLayer::new());
/// let response = app.oneshot(http::Request::get("/nope").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 404);
/// let body: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
/// assert_eq!(body["error"], "no route for GET /nope");
/// assert_eq!(body["code"], "not_found");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct OpsLayer {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) body_read_timeout: Duration,
    /// Paths that take larger bodies than `body_limit` (uploads).
    pub(crate) larger_bodies: Vec<LargerBody>,
    pub(crate) in_flight: InFlight,
    pub(crate) services: Arc<Services>,
    /// Whether requests also carry axum's `ConnectInfo<SocketAddr>`.
    pub(crate) connect_info: bool,
}

/// A path's own body limit and read timeout ([`OpsLayer::body_limit_for`]).
#[derive(Debug, Clone)]
pub(crate) struct LargerBody {
    pub(crate) path: String,
    pub(crate) limit: usize,
    pub(crate) read_timeout: Duration,
}

impl Shared {
    /// The body limit and read timeout of a request to `path`.
    pub(crate) fn body_rules(&self, path: &str) -> (usize, Duration) {
        self.larger_bodies
            .iter()
            .find(|b| b.path == path)
            .map_or((self.body_limit, self.body_read_timeout), |b| {
                (b.limit, b.read_timeout)
            })
    }

    /// The largest body any path accepts.
    pub(crate) fn largest_body(&self) -> usize {
        self.larger_bodies
            .iter()
            .map(|b| b.limit)
            .fold(self.body_limit, usize::max)
    }
}

impl Default for OpsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl OpsLayer {
    /// The defaults: 1 MiB body limit, 30 s request timeout.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, body::Body, routing::get};
    /// use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let app = Router::new().route("/", get(|| async { "hi" })).layer(ops_kit::OpsLayer::new());
    /// let response = app.oneshot(http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(response.status(), 200);
    /// assert!(response.headers().contains_key("x-request-id")); // a fresh id, echoed
    /// # }
    /// ```
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                body_limit: DEFAULT_BODY_LIMIT,
                request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
                body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
                larger_bodies: Vec::new(),
                in_flight: InFlight::default(),
                services: Arc::default(),
                connect_info: false,
            }),
        }
    }

    /// Sets the largest accepted request body, in bytes.
    ///
    /// # Example
    ///
    /// ```
    /// let layer = ops_kit::OpsLayer::new().body_limit(64 * 1024);
    /// ```
    pub fn body_limit(self, bytes: usize) -> Self {
        self.with(|s| s.body_limit = bytes)
    }

    /// Lets requests to exactly `path` send a body of up to `bytes`,
    /// arriving in full within `read_timeout` (a file upload, say), while
    /// every other path keeps [`body_limit`](Self::body_limit) and
    /// [`body_read_timeout`](Self::body_read_timeout). Over it, the
    /// request is answered 413 as usual, with this limit in the message.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, body::Body, routing::post};
    /// use std::time::Duration;
    /// use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = ops_kit::OpsLayer::new()
    ///     .body_limit(1024)
    ///     .body_limit_for("/upload", 8 * 1024, Duration::from_secs(30));
    /// let app = Router::new()
    ///     .route("/upload", post(|body: axum::body::Bytes| async move { body.len().to_string() }))
    ///     .route("/other", post(|body: axum::body::Bytes| async move { body.len().to_string() }))
    ///     .layer(layer);
    /// let send = |path: &str| http::Request::post(path).body(Body::from(vec![b'x'; 4096])).unwrap();
    /// assert_eq!(app.clone().oneshot(send("/upload")).await.unwrap().status(), 200);
    /// assert_eq!(app.oneshot(send("/other")).await.unwrap().status(), 413);
    /// # }
    /// ```
    pub fn body_limit_for(
        self,
        path: impl Into<String>,
        bytes: usize,
        read_timeout: Duration,
    ) -> Self {
        let path = path.into();
        self.with(|s| {
            s.larger_bodies.retain(|b| b.path != path);
            s.larger_bodies.push(LargerBody {
                path,
                limit: bytes,
                read_timeout,
            });
        })
    }

    /// Sets how long a request may take before it is answered with 503.
    ///
    /// # Example
    ///
    /// ```
    /// let layer = ops_kit::OpsLayer::new().request_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.with(|s| s.request_timeout = Some(timeout))
    }

    /// Sets how long a request body may take to arrive in full, counted
    /// from the end of the request head (default
    /// [`DEFAULT_BODY_READ_TIMEOUT`]); a body still arriving then is
    /// answered with 408.
    ///
    /// # Example
    ///
    /// ```
    /// let layer = ops_kit::OpsLayer::new().body_read_timeout(std::time::Duration::from_secs(2));
    /// ```
    pub fn body_read_timeout(self, timeout: Duration) -> Self {
        self.with(|s| s.body_read_timeout = timeout)
    }

    /// Lets requests run as long as they like.
    ///
    /// # Example
    ///
    /// ```
    /// let layer = ops_kit::OpsLayer::new().no_request_timeout();
    /// ```
    pub fn no_request_timeout(self) -> Self {
        self.with(|s| s.request_timeout = None)
    }

    fn with(self, f: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Shared {
            body_limit: self.shared.body_limit,
            request_timeout: self.shared.request_timeout,
            body_read_timeout: self.shared.body_read_timeout,
            larger_bodies: self.shared.larger_bodies.clone(),
            in_flight: self.shared.in_flight.clone(),
            services: self.shared.services.clone(),
            connect_info: self.shared.connect_info,
        };
        f(&mut shared);
        Self {
            shared: Arc::new(shared),
        }
    }

    pub(crate) fn services(self, services: Services) -> Self {
        self.with(|s| s.services = Arc::new(services))
    }

    pub(crate) fn connect_info(self) -> Self {
        self.with(|s| s.connect_info = true)
    }

    pub(crate) fn in_flight(&self) -> &InFlight {
        &self.shared.in_flight
    }
}

impl<S> Layer<S> for OpsLayer {
    type Service = OpsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OpsService::new(inner, self.shared.clone())
    }
}

#[cfg(test)]
mod tests;
