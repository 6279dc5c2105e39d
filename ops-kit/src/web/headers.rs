//! [`SecurityHeadersLayer`]: the response headers that keep a browser from
//! running injected script, framing the page, sniffing types or leaking
//! URLs to other sites.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The Content-Security-Policy of [`SecurityHeadersLayer::new`]: scripts,
/// styles, images, fonts and form targets from the page's own origin only,
/// no inline script or style, no plugins, no `<base>` and no framing.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// HSTS for a year, subdomains included, as [`SecurityHeadersLayer::hsts`]
/// sends it.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the security headers to every response that does not set them
/// itself:
///
/// | header | value |
/// |---|---|
/// | `content-security-policy` | [`DEFAULT_CSP`] (or [`content_security_policy`](Self::content_security_policy)) |
/// | `x-content-type-options` | `nosniff` |
/// | `x-frame-options` | `DENY` (for browsers without `frame-ancestors`) |
/// | `referrer-policy` | `same-origin` |
/// | `cross-origin-opener-policy` | `same-origin` |
/// | `strict-transport-security` | [`HSTS`], only with [`hsts(true)`](Self::hsts) |
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, body::Body, routing::get};
/// use ops_kit::web::SecurityHeadersLayer;
/// use tower::ServiceExt;
///
/// let app = Router::new()
///     .route("/", get(|| async { "<h1>Board</h1>" }))
///     .layer(SecurityHeadersLayer::new().hsts(true));
/// let response = app.oneshot(http::Request::get("/").body(Body::empty())?).await?;
/// let headers = response.headers();
/// assert!(headers["content-security-policy"].to_str()?.contains("frame-ancestors 'none'"));
/// assert!(!headers["content-security-policy"].to_str()?.contains("unsafe-inline"));
/// assert_eq!(headers["x-content-type-options"], "nosniff");
/// assert_eq!(headers["referrer-policy"], "same-origin");
/// assert_eq!(headers["strict-transport-security"], "max-age=31536000; includeSubDomains");
/// # Ok(()) }
/// ```
///
/// # Doesn't override headers the handler set
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, body::Body, routing::get};
/// use ops_kit::web::SecurityHeadersLayer;
/// use tower::ServiceExt;
///
/// let app = Router::new()
///     .route("/embed", get(|| async { ([("referrer-policy", "no-referrer")], "embed") }))
///     .layer(SecurityHeadersLayer::new());
/// let response = app.oneshot(http::Request::get("/embed").body(Body::empty())?).await?;
/// assert_eq!(response.headers()["referrer-policy"], "no-referrer");
/// assert!(response.headers().get("strict-transport-security").is_none()); // hsts is off by default
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SecurityHeadersLayer {
    headers: SecurityHeaders,
}

/// The headers a [`SecurityHeadersLayer`] adds, shared by its services.
///
/// # Example
///
/// ```
/// let headers = ops_kit::web::SecurityHeaders::default();
/// assert_eq!(headers.iter().count(), 5); // no HSTS by default
/// ```
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    list: Vec<(HeaderName, HeaderValue)>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        let fixed = |v: &'static str| HeaderValue::from_static(v);
        Self {
            list: vec![
                (header::CONTENT_SECURITY_POLICY, fixed(DEFAULT_CSP)),
                (header::X_CONTENT_TYPE_OPTIONS, fixed("nosniff")),
                (header::X_FRAME_OPTIONS, fixed("DENY")),
                (header::REFERRER_POLICY, fixed("same-origin")),
                (
                    HeaderName::from_static("cross-origin-opener-policy"),
                    fixed("same-origin"),
                ),
            ],
        }
    }
}

impl SecurityHeaders {
    /// The headers, in the order they are added.
    ///
    /// # Example
    ///
    /// ```
    /// let headers = ops_kit::web::SecurityHeaders::default();
    /// let (name, value) = headers.iter().next().unwrap();
    /// assert_eq!(name, "content-security-policy");
    /// assert!(value.to_str().unwrap().starts_with("default-src 'self'"));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.list.iter().map(|(n, v)| (n, v))
    }

    fn set(&mut self, name: HeaderName, value: HeaderValue) {
        match self.list.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.list.push((name, value)),
        }
    }

    fn remove(&mut self, name: &HeaderName) {
        self.list.retain(|(n, _)| n != name);
    }

    fn apply(&self, headers: &mut http::HeaderMap) {
        for (name, value) in &self.list {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

impl Default for SecurityHeadersLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl SecurityHeadersLayer {
    /// The headers of the table above, without HSTS.
    ///
    /// # Example
    ///
    /// ```
    /// let layer = ops_kit::web::SecurityHeadersLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self {
            headers: SecurityHeaders::default(),
        }
    }

    /// Sends `strict-transport-security` ([`HSTS`]) when `on`: in production,
    /// where the service is only reached over HTTPS.
    ///
    /// # Example
    ///
    /// ```
    /// let production = true;
    /// let layer = ops_kit::web::SecurityHeadersLayer::new().hsts(production);
    /// # let _ = layer;
    /// ```
    pub fn hsts(mut self, on: bool) -> Self {
        if on {
            self.headers.set(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        } else {
            self.headers.remove(&header::STRICT_TRANSPORT_SECURITY);
        }
        self
    }

    /// Replaces [`DEFAULT_CSP`].
    ///
    /// # Example
    ///
    /// ```
    /// use http::HeaderValue;
    /// let csp = HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'");
    /// let layer = ops_kit::web::SecurityHeadersLayer::new().content_security_policy(csp);
    /// # let _ = layer;
    /// ```
    pub fn content_security_policy(mut self, policy: HeaderValue) -> Self {
        self.headers.set(header::CONTENT_SECURITY_POLICY, policy);
        self
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeadersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeadersService {
            inner,
            headers: std::sync::Arc::new(self.headers.clone()),
        }
    }
}

/// The service of [`SecurityHeadersLayer`].
#[derive(Debug, Clone)]
pub struct SecurityHeadersService<S> {
    inner: S,
    headers: std::sync::Arc<SecurityHeaders>,
}

impl<S, B, ResBody> Service<Request<B>> for SecurityHeadersService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = HeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        HeadersFuture {
            inner: self.inner.call(request),
            headers: self.headers.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`SecurityHeadersService`].
    #[derive(Debug)]
    pub struct HeadersFuture<F> {
        #[pin]
        inner: F,
        headers: std::sync::Arc<SecurityHeaders>,
    }
}

impl<F, ResBody, E> Future for HeadersFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        this.headers.apply(response.headers_mut());
        Poll::Ready(Ok(response))
    }
}
