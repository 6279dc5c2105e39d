use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{StatusCode, header};
use http_body::Body as _;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::body::BodyRejection;
use crate::context::RequestScope;
use crate::error::envelope;
use crate::inflight::Registration;
use crate::metrics::RouteSeries;
use crate::request_id::REQUEST_ID_HEADER;

/// What the future needs once the response is known.
pub(crate) struct Meta {
    // First, so that it is dropped first: the registry's copy of the scope
    // is then not the last one, and the scope is freed outside the
    // registry's lock.
    pub(crate) _registration: Registration,
    pub(crate) scope: Arc<RequestScope>,
    pub(crate) span: tracing::Span,
    pub(crate) body_limit: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) body_read_timeout: Duration,
}

/// Reads the body, then calls the router: only for requests with a body.
pub(crate) type Reading<F> = Pin<Box<dyn Future<Output = Result<F, BodyRejection>> + Send>>;

/// Why the layer answered without calling the router.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    Status(StatusCode),
    /// A body with a `content-encoding` other than `identity`.
    Encoded,
}

pin_project! {
    /// The response future of [`OpsService`](super::OpsService).
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, body::Body};
    /// use http::Request;
    /// use ops_kit::{OpsLayer, ResponseFuture};
    /// use tower::{Layer, Service, ServiceExt};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// type RouterFuture = <Router as Service<Request<Body>>>::Future;
    ///
    /// let mut service = OpsLayer::new().layer(Router::new());
    /// let ready = ServiceExt::<Request<Body>>::ready(&mut service).await.unwrap();
    /// let future: ResponseFuture<RouterFuture> = ready.call(Request::get("/").body(Body::empty()).unwrap());
    /// assert_eq!(future.await.unwrap().status(), 404);
    /// # }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        reading: Option<Reading<F>>,
        // Boxed, and only once a handler returns `Pending`: most finish on
        // their first poll, and a smaller future is cheaper to move.
        deadline: Option<Pin<Box<Sleep>>>,
        meta: Option<Meta>,
        refused: Option<Refusal>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(meta: Meta, inner: F) -> Self {
        Self {
            deadline: None,
            inner: Some(inner),
            reading: None,
            meta: Some(meta),
            refused: None,
        }
    }

    pub(crate) fn reading(meta: Meta, reading: Reading<F>) -> Self {
        Self {
            deadline: None,
            inner: None,
            reading: Some(reading),
            meta: Some(meta),
            refused: None,
        }
    }

    pub(crate) fn refused(meta: Meta, refusal: Refusal) -> Self {
        Self {
            inner: None,
            reading: None,
            deadline: None,
            meta: Some(meta),
            refused: Some(refusal),
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let meta = this
            .meta
            .as_ref()
            .expect("ResponseFuture polled after completion");

        let response = 'response: {
            match this.refused.take() {
                Some(Refusal::Status(status)) => break 'response bare(status),
                Some(Refusal::Encoded) => {
                    let mut response = bare(StatusCode::UNSUPPORTED_MEDIA_TYPE);
                    // RFC 7694: say which codings would be accepted.
                    response.headers_mut().insert(
                        header::ACCEPT_ENCODING,
                        http::HeaderValue::from_static("identity"),
                    );
                    break 'response response.with_marker(Marker::Encoded);
                }
                None => {}
            }
            let entered = meta.span.enter();
            // The request's scope is the current one while the handler runs
            // (for `ApiError` and for log lines inside the request).
            let current = meta.scope.enter();
            if let Some(reading) = this.reading.as_mut() {
                match reading.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(inner)) => {
                        *this.reading = None;
                        this.inner.set(Some(inner));
                    }
                    Poll::Ready(Err(rejection)) => {
                        *this.reading = None;
                        let response = bare(rejection.status());
                        break 'response match rejection {
                            BodyRejection::TimedOut => response.with_marker(Marker::BodyTimedOut),
                            BodyRejection::Unreadable => {
                                response.with_marker(Marker::BodyUnreadable)
                            }
                            BodyRejection::TooLarge => response,
                        };
                    }
                }
            }
            let mut inner = this.inner.as_mut();
            let polled = catch_unwind(AssertUnwindSafe(|| {
                inner
                    .as_mut()
                    .as_pin_mut()
                    .expect("inner future present until completion")
                    .poll(cx)
            }));
            let response = match polled {
                Ok(Poll::Ready(Ok(response))) => response,
                Ok(Poll::Ready(Err(err))) => return Poll::Ready(Err(err)),
                Ok(Poll::Pending) => {
                    // Armed on the first `Pending`: most handlers finish on
                    // their first poll and never pay for a timer.
                    if this.deadline.is_none()
                        && let Some(timeout) = meta.timeout
                    {
                        *this.deadline = Some(Box::pin(tokio::time::sleep_until(
                            meta.scope.started + timeout,
                        )));
                    }
                    match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                        Some(Poll::Ready(())) => {
                            // Drop the handler now: its work is abandoned.
                            this.inner.set(None);
                            tracing::warn!(target: "ops_kit::request", "request timed out");
                            bare(StatusCode::SERVICE_UNAVAILABLE).with_marker(Marker::TimedOut)
                        }
                        _ => return Poll::Pending,
                    }
                }
                Err(_panic) => {
                    // The panic hook has logged it, inside this request's span.
                    this.inner.set(None);
                    bare(StatusCode::INTERNAL_SERVER_ERROR)
                }
            };
            drop(current);
            drop(entered);
            response
        };

        let meta = this.meta.take().expect("checked above");
        Poll::Ready(Ok(finish(meta, response, cx)))
    }
}

/// Why ops-kit itself produced a response, to word the envelope.
#[derive(Clone, Copy)]
enum Marker {
    TimedOut,
    BodyTimedOut,
    BodyUnreadable,
    Encoded,
}

trait WithMarker {
    fn with_marker(self, marker: Marker) -> Self;
}

impl WithMarker for Response {
    fn with_marker(mut self, marker: Marker) -> Self {
        self.extensions_mut().insert(marker);
        self
    }
}

fn bare(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn finish(meta: Meta, mut response: Response, cx: &mut Context<'_>) -> Response {
    let status = response.status();
    // A page a server-rendered front end wrote (`text/html`) is its own
    // answer, meant for a person; everything else gets the envelope.
    if (status.is_client_error() || status.is_server_error())
        && !is_json(&response)
        && !is_html(&response)
    {
        response = wrap_in_envelope(&meta, response, cx);
    }
    let scope = &*meta.scope;
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER, scope.request_id.header_value().clone());

    let elapsed = scope.started.elapsed();
    let series = scope.route();
    let route = series.and_then(RouteSeries::path);
    scope.services.metrics.record_request(
        &scope.method,
        series,
        status.as_u16(),
        elapsed.as_secs_f64(),
    );
    crate::telemetry::MetricsLine {
        request_id: scope.request_id.as_str(),
        duration: elapsed,
        method: scope.method.as_str(),
        path: scope.path(),
        status: status.as_u16(),
        route,
        route_is_plain: series.is_some_and(RouteSeries::is_plain),
        trace_id: scope.trace_id.as_ref().map(crate::TraceId::as_str),
    }
    .emit();
    response
}

/// The media type of the response, lowercase, without parameters.
fn media_type(response: &Response) -> Option<String> {
    let ct = response
        .headers()
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    Some(
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

fn is_json(response: &Response) -> bool {
    media_type(response).is_some_and(|ct| ct == "application/json" || ct.ends_with("+json"))
}

fn is_html(response: &Response) -> bool {
    media_type(response).is_some_and(|ct| ct == "text/html")
}

/// The longest text of a 4xx rejection that is passed on to the client.
const MAX_MESSAGE: usize = 512;

fn wrap_in_envelope(meta: &Meta, mut response: Response, cx: &mut Context<'_>) -> Response {
    let status = response.status();
    let marker = response.extensions().get::<Marker>().copied();
    let message: String = if let Some(marker) = marker {
        match (marker, meta.timeout) {
            (Marker::TimedOut, Some(t)) => format!("request timed out after {} ms", t.as_millis()),
            (Marker::TimedOut, None) => "request timed out".to_owned(),
            (Marker::BodyTimedOut, _) => format!(
                "request body did not arrive within {} ms",
                meta.body_read_timeout.as_millis()
            ),
            (Marker::BodyUnreadable, _) => "request body could not be read".to_owned(),
            (Marker::Encoded, _) => {
                "request bodies must not be compressed: content-encoding must be identity"
                    .to_owned()
            }
        }
    } else if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "request body is larger than the limit of {} bytes",
            meta.body_limit
        )
    } else if status == StatusCode::NOT_FOUND && body_is_empty(&response) {
        format!("no route for {} {}", meta.scope.method, meta.scope.path())
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        format!(
            "method {} is not allowed on {}",
            meta.scope.method,
            meta.scope.path()
        )
    } else if status.is_server_error() {
        // Never pass a server-side text on: it may describe internals.
        match status {
            StatusCode::SERVICE_UNAVAILABLE => "service unavailable".to_owned(),
            _ => "internal server error".to_owned(),
        }
    } else {
        text_of(response.body_mut(), cx)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase())
    };
    let mut wrapped = envelope(status, &message, meta.scope.request_id.as_str());
    // Keep headers such as `Allow` on 405 or `Retry-After`.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            wrapped.headers_mut().append(name.clone(), value.clone());
        }
    }
    *wrapped.extensions_mut() = std::mem::take(response.extensions_mut());
    wrapped
}

fn body_is_empty(response: &Response) -> bool {
    response.body().size_hint().exact() == Some(0)
}

/// The text of a small, already-buffered body (axum's rejections are).
fn text_of(body: &mut Body, cx: &mut Context<'_>) -> Option<String> {
    if body.size_hint().exact() == Some(0) {
        return None;
    }
    match Pin::new(body).poll_frame(cx) {
        Poll::Ready(Some(Ok(frame))) => {
            let data = frame.into_data().ok()?;
            let text = String::from_utf8_lossy(&data);
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            let mut end = text.len().min(MAX_MESSAGE);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Some(text[..end].to_owned())
        }
        _ => None,
    }
}
