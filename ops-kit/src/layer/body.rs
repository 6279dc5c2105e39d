//! Reads a request's whole body before the router sees the request.
//!
//! Extractors that take no body (a database transaction, the principal)
//! run before the body extractor in axum. Were the body still on the
//! network then, a client trickling its bytes would hold whatever those
//! extractors took (a pool connection) for as long as it likes. Reading
//! the body here, under a deadline of its own, means nothing is taken for
//! a request until its body is in memory.
//!
//! A body refused part-way (too large, too slow) is drained in the
//! background for a bounded time and size before the connection closes
//! ("lingering close"): a client still sending gets the error response
//! instead of a connection reset.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::Body as _;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

/// How long a refused body is still read (and discarded) so that the
/// client, still sending, reads the error instead of a reset.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);

/// How much of a refused body is read (and discarded) at most.
pub(crate) const LINGER_BYTES: u64 = 8 * 1024 * 1024;

/// Why a body was not read in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyRejection {
    /// More bytes than the limit.
    TooLarge,
    /// Not all of it arrived before the deadline.
    TimedOut,
    /// The client sent a malformed body (bad chunk framing) or went away.
    Unreadable,
}

impl BodyRejection {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut => StatusCode::REQUEST_TIMEOUT,
            Self::Unreadable => StatusCode::BAD_REQUEST,
        }
    }
}

pin_project! {
    /// Collects a body of at most `limit` bytes before `deadline`.
    pub(crate) struct ReadBody {
        body: Option<Body>,
        limit: usize,
        // The first chunk is kept as is: most bodies come in one, and
        // then need no copy.
        first: Option<Bytes>,
        rest: Option<BytesMut>,
        #[pin]
        deadline: Sleep,
    }
}

impl ReadBody {
    pub(crate) fn new(body: Body, limit: usize, deadline: tokio::time::Instant) -> Self {
        Self {
            body: Some(body),
            limit,
            first: None,
            rest: None,
            deadline: tokio::time::sleep_until(deadline),
        }
    }
}

impl Future for ReadBody {
    type Output = Result<Bytes, BodyRejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let body = this
                .body
                .as_mut()
                .expect("ReadBody polled after completion");
            let frame = match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    ready!(this.deadline.as_mut().poll(cx));
                    linger(this.body.take());
                    return Poll::Ready(Err(BodyRejection::TimedOut));
                }
            };
            let data = match frame {
                None => break,
                Some(Err(_)) => {
                    this.body.take();
                    return Poll::Ready(Err(BodyRejection::Unreadable));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    // Trailers: nothing a JSON API reads.
                    Err(_) => continue,
                },
            };
            let held = this.first.as_ref().map_or(0, Bytes::len)
                + this.rest.as_ref().map_or(0, BytesMut::len);
            if held + data.len() > *this.limit {
                linger(this.body.take());
                return Poll::Ready(Err(BodyRejection::TooLarge));
            }
            match (this.first.as_ref(), this.rest.as_mut()) {
                (None, _) => *this.first = Some(data),
                (Some(first), None) => {
                    let hint = body.size_hint().lower() as usize;
                    let mut rest =
                        BytesMut::with_capacity((first.len() + data.len() + hint).min(*this.limit));
                    rest.extend_from_slice(first);
                    rest.extend_from_slice(&data);
                    *this.rest = Some(rest);
                }
                (Some(_), Some(rest)) => rest.extend_from_slice(&data),
            }
        }
        this.body.take();
        let bytes = match (this.rest.take(), this.first.take()) {
            (Some(rest), _) => rest.freeze(),
            (None, Some(first)) => first,
            (None, None) => Bytes::new(),
        };
        Poll::Ready(Ok(bytes))
    }
}

/// Reads and discards what is left of a refused body, in the background,
/// for at most [`LINGER_TIME`] and [`LINGER_BYTES`]. Holding the body
/// keeps the server reading the connection, so the client's writes do not
/// hit a closed socket before it has read the response.
pub(crate) fn linger(body: Option<Body>) {
    let Some(mut body) = body else { return };
    if body.is_end_stream() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let drain = async {
            let mut read = 0u64;
            while let Some(Ok(frame)) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
                if read > LINGER_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::FromRequestParts;
    use axum::routing::post;
    use http::Request;
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tokio::sync::mpsc;
    use tower::ServiceExt;

    use super::*;
    use crate::OpsLayer;

    /// Counts how often it was extracted, as a database transaction would
    /// take a pool connection.
    struct Taken;

    type Count = Arc<AtomicUsize>;

    impl FromRequestParts<Count> for Taken {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            _: &mut http::request::Parts,
            taken: &Count,
        ) -> Result<Self, Self::Rejection> {
            taken.fetch_add(1, Ordering::SeqCst);
            Ok(Taken)
        }
    }

    fn counting(layer: OpsLayer, taken: Count) -> Router {
        Router::new()
            .route("/echo", post(|_: Taken, body: String| async move { body }))
            .with_state(taken)
            .layer(layer)
    }

    fn app(layer: OpsLayer) -> Router {
        counting(layer, Count::default())
    }

    /// A body fed chunk by chunk through the returned sender.
    fn streamed() -> (mpsc::Sender<Bytes>, Body) {
        let (tx, rx) = mpsc::channel::<Bytes>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|c| (Ok::<_, std::io::Error>(c), rx))
        });
        (tx, Body::from_stream(stream))
    }

    async fn json_of(response: axum::response::Response) -> Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).expect("a JSON body")
    }

    #[tokio::test]
    async fn no_extractor_runs_before_the_whole_body_has_arrived() {
        let (tx, body) = streamed();
        let request = Request::post("/echo").body(body).unwrap();
        let taken = Count::default();
        let response = tokio::spawn(counting(OpsLayer::new(), taken.clone()).oneshot(request));
        tx.send(Bytes::from_static(b"first half, ")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(taken.load(Ordering::SeqCst), 0, "extracted mid-body");

        tx.send(Bytes::from_static(b"second half")).await.unwrap();
        drop(tx);
        let response = response.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(taken.load(Ordering::SeqCst), 1);
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&text[..], b"first half, second half");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_arrive_in_time_is_answered_408_in_the_envelope() {
        let layer = OpsLayer::new().body_read_timeout(Duration::from_secs(2));
        let (tx, body) = streamed();
        tx.send(Bytes::from_static(b"{\"name\":")).await.unwrap();
        let request = Request::post("/echo")
            .header("x-request-id", "slow-body-1")
            .body(body)
            .unwrap();
        let response = app(layer).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let body = json_of(response).await;
        assert_eq!(body["code"], "request_timeout");
        assert_eq!(body["error"], "request body did not arrive within 2000 ms");
        assert_eq!(body["requestId"], "slow-body-1");
        drop(tx);
    }

    #[tokio::test]
    async fn a_compressed_body_is_refused_with_415_naming_the_accepted_coding() {
        let request = Request::post("/echo")
            .header("content-encoding", "gzip")
            .body(Body::from("not really gzip"))
            .unwrap();
        let response = app(OpsLayer::new()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.headers()["accept-encoding"], "identity");
        let body = json_of(response).await;
        assert_eq!(body["code"], "unsupported_media_type");
    }

    #[tokio::test]
    async fn an_identity_coding_is_accepted() {
        let request = Request::post("/echo")
            .header("content-encoding", "Identity")
            .body(Body::from("plain"))
            .unwrap();
        let response = app(OpsLayer::new()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_is_answered_400() {
        let chunks = futures_util::stream::iter([
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let request = Request::post("/echo")
            .body(Body::from_stream(chunks))
            .unwrap();
        let response = app(OpsLayer::new()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = json_of(response).await;
        assert_eq!(body["error"], "request body could not be read");
    }

    #[tokio::test]
    async fn a_body_in_many_chunks_is_passed_on_whole() {
        let chunks = futures_util::stream::iter(
            (0..5).map(|i| Ok::<_, std::io::Error>(Bytes::from(format!("{i},")))),
        );
        let request = Request::post("/echo")
            .body(Body::from_stream(chunks))
            .unwrap();
        let response = app(OpsLayer::new()).oneshot(request).await.unwrap();
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&text[..], b"0,1,2,3,4,");
    }
}
