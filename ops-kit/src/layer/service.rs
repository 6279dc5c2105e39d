use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_ENCODING;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use tower::Service;

use super::Shared;
use super::body::{ReadBody, linger};
use super::future::{Meta, Refusal, ResponseFuture};
use crate::RequestId;
use crate::context::RequestScope;
use crate::request_id::REQUEST_ID_HEADER;
use crate::trace_context::{TRACEPARENT, TraceId};

/// The service made by [`OpsLayer`](super::OpsLayer).
///
/// # Example
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use ops_kit::{OpsLayer, OpsService};
/// use tower::{Layer, ServiceExt};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = Router::new().route("/", get(|| async { "hi" }));
/// let service: OpsService<Router> = OpsLayer::new().layer(router);
/// let request = http::Request::get("/").header("x-request-id", "edge-42").body(Body::empty()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.headers()["x-request-id"], "edge-42");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OpsService<S> {
    inner: S,
    shared: Arc<Shared>,
    /// The connection's peer, when the server made one service per
    /// connection ([`App`](crate::App) does): kept in the request's scope
    /// (for [`ClientIp`](crate::ClientIp) and the audit trail) and, when
    /// the app asked for it, handed to handlers as axum's
    /// `ConnectInfo<SocketAddr>`, without a layer of its own.
    peer: Option<SocketAddr>,
}

impl<S> OpsService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            shared,
            peer: None,
        }
    }

    /// The app's services (for the server's own `[METRICS]` lines).
    pub(crate) fn services(&self) -> &Arc<crate::context::Services> {
        &self.shared.services
    }

    /// This service for one connection from `peer`.
    pub(crate) fn for_peer(&self, peer: SocketAddr) -> Self
    where
        S: Clone,
    {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            peer: Some(peer),
        }
    }
}

impl<S, B> Service<Request<B>> for OpsService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let sent = SentHeaders::of(&parts.headers);
        let request_id = RequestId::for_request(sent.request_id);
        // A client's unsafe id (or a second one) must not reach code that
        // reads the header; a single safe one is already there. Handlers
        // use the `RequestId` extractor either way.
        let replaced = sent
            .request_id
            .is_some_and(|v| v != request_id.header_value())
            || sent.more_request_ids;
        // Read now: the headers may change below.
        let encoded = sent
            .content_encoding
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        let trace_id = sent
            .traceparent
            .and_then(|v| TraceId::from_traceparent(v.as_bytes()));
        if replaced {
            parts
                .headers
                .insert(REQUEST_ID_HEADER, request_id.header_value().clone());
        }
        let span = tracing::info_span!(
            target: crate::telemetry::REQUEST_SPAN_TARGET,
            "request",
            requestId = request_id.as_str(),
            method = parts.method.as_str(),
            path = parts.uri.path(),
            traceId = tracing::field::Empty,
        );
        if let Some(trace_id) = trace_id {
            span.record("traceId", trace_id.as_str());
            parts.extensions.insert(trace_id);
        }
        let scope = Arc::new(RequestScope::new(
            request_id,
            parts.method.clone(),
            parts.uri.path(),
            trace_id,
            self.peer,
            self.shared.services.clone(),
        ));
        parts.extensions.insert(scope.clone());
        if self.shared.connect_info
            && let Some(peer) = self.peer
        {
            parts.extensions.insert(ConnectInfo(peer));
        }
        let registration = self.shared.in_flight.register(scope.clone());
        let (body_limit, body_read_timeout) = self.shared.body_rules(parts.uri.path());
        let meta = Meta {
            scope,
            span,
            body_limit,
            timeout: self.shared.request_timeout,
            body_read_timeout,
            _registration: registration,
        };

        if http_body::Body::is_end_stream(&body) {
            // No body: nothing to wait for, nothing to buffer.
            let req = Request::from_parts(parts, Body::new(body));
            let future = {
                let _entered = meta.span.enter();
                let _current = meta.scope.enter();
                self.inner.call(req)
            };
            return ResponseFuture::new(meta, future);
        }
        // A body known to be over the limit (hyper knows it from
        // Content-Length) is refused before a byte of it is read.
        if http_body::Body::size_hint(&body).lower() > body_limit as u64 {
            linger_unless_expecting(&parts, body);
            return ResponseFuture::refused(meta, Refusal::Status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        if encoded {
            linger_unless_expecting(&parts, body);
            return ResponseFuture::refused(meta, Refusal::Encoded);
        }
        // The whole body is read before the router runs, so that no
        // extractor (a database transaction, say) is taken while the
        // client is still sending. The service that was made ready is the
        // one that will be called.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let read = ReadBody::new(
            Body::new(body),
            body_limit,
            meta.scope.started + body_read_timeout,
        );
        ResponseFuture::reading(
            meta,
            Box::pin(async move {
                let bytes = read.await?;
                Ok(ready.call(Request::from_parts(parts, Body::from(bytes))))
            }),
        )
    }
}

/// Drains a refused body, unless the client sent `Expect: 100-continue`:
/// such a client waits for the answer before sending, and reading its
/// body would ask it to send after all.
fn linger_unless_expecting<B>(parts: &http::request::Parts, body: B)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    if !parts.headers.contains_key(http::header::EXPECT) {
        linger(Some(Body::new(body)));
    }
}

/// The request headers the layer reads, found in one pass.
///
/// A request carries a handful of headers, and both names are custom ones
/// (hashed byte by byte by `HeaderMap::get`): comparing each name once is
/// cheaper than two hash lookups.
struct SentHeaders<'a> {
    /// The first `x-request-id`.
    request_id: Option<&'a HeaderValue>,
    /// Whether the client sent more than one `x-request-id`.
    more_request_ids: bool,
    /// The first `traceparent`.
    traceparent: Option<&'a HeaderValue>,
    /// The first `content-encoding`.
    content_encoding: Option<&'a HeaderValue>,
}

impl<'a> SentHeaders<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut sent = Self {
            request_id: None,
            more_request_ids: false,
            traceparent: None,
            content_encoding: None,
        };
        for (name, value) in headers {
            if *name == REQUEST_ID_HEADER {
                if sent.request_id.is_none() {
                    sent.request_id = Some(value);
                } else {
                    sent.more_request_ids = true;
                }
            } else if *name == TRACEPARENT && sent.traceparent.is_none() {
                sent.traceparent = Some(value);
            } else if *name == CONTENT_ENCODING && sent.content_encoding.is_none() {
                sent.content_encoding = Some(value);
            }
        }
        sent
    }
}
