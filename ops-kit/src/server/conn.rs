//! One connection: hyper's HTTP/1 state machine, plus the header and
//! keep-alive deadlines, which hyper does not tell apart.
//!
//! The connection is in one of three phases, kept in an atomic shared by
//! the socket wrapper and the service: waiting for (or reading) a request
//! head, busy with a request, idle between requests. The task serving the
//! connection computes the deadline whenever it sees the phase change
//! after polling hyper, and keeps one timer no later than it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::Limits;
use super::rescue::{self, RequestLine};
use crate::context::Services;
use crate::layer::OpsService;

const HEAD: u32 = 0;
const BUSY: u32 = 1;
const IDLE: u32 = 2;

/// What the server knows about one open connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// The phase in the low two bits, above them a count of changes: a
    /// request served within one poll goes from idle to idle, and its
    /// keep-alive deadline must still start again.
    phase: AtomicU32,
    evicted: Notify,
}

impl ConnState {
    pub(crate) fn new() -> Self {
        Self {
            phase: AtomicU32::new(HEAD),
            evicted: Notify::new(),
        }
    }

    pub(crate) fn is_busy(&self) -> bool {
        self.phase.load(Ordering::Relaxed) & 3 == BUSY
    }

    /// Closes the connection (from another task).
    pub(crate) fn evict(&self) {
        self.evicted.notify_one();
    }

    #[cfg(test)]
    pub(crate) fn enter_busy_for_test(&self) {
        self.enter(BUSY);
    }

    /// The phase and its change count.
    fn phase(&self) -> u32 {
        self.phase.load(Ordering::Relaxed)
    }

    /// Only the connection's own task changes the phase (hyper polls the
    /// socket and the service there), so a load and a store suffice.
    fn enter(&self, phase: u32) {
        let seen = self.phase.load(Ordering::Relaxed);
        self.phase
            .store((seen & !3).wrapping_add(4) | phase, Ordering::Relaxed);
    }
}

/// Serves one connection until it closes, times out, is evicted, or has
/// finished gracefully after `graceful` fired.
pub(crate) async fn serve(
    stream: TcpStream,
    service: OpsService<Router>,
    state: Arc<ConnState>,
    limits: Limits,
    mut graceful: watch::Receiver<()>,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
        line: RequestLine::new(),
        services: service.services().clone(),
        replacement: None,
    });
    let service = Tracked {
        inner: service,
        state: state.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's own header timeout also runs while a connection is idle, so
    // the two deadlines are kept here instead.
    builder.header_read_timeout(None);
    // Upgrades as under `axum::serve`, for services that switch protocols.
    let mut conn = std::pin::pin!(builder.serve_connection(io, service).with_upgrades());
    let mut seen = HEAD;
    // The true deadline (none while a request is in flight), and the one
    // the timer is set to, never later: the timer is moved only when the
    // deadline comes sooner, or when it fires early, so a keep-alive
    // connection serving many requests rarely touches the timer wheel.
    let mut due = Some(Instant::now() + limits.header_read_timeout);
    let mut armed_at = due.expect("set above");
    let deadline = tokio::time::sleep_until(armed_at);
    let mut deadline = std::pin::pin!(deadline);
    let mut draining = false;
    let evicted = state.evicted.notified();
    let mut evicted = std::pin::pin!(evicted);
    let shutting_down = graceful.changed();
    let mut shutting_down = std::pin::pin!(shutting_down);
    std::future::poll_fn(|cx| {
        if !draining && shutting_down.as_mut().poll(cx).is_ready() {
            draining = true;
            conn.as_mut().graceful_shutdown();
        }
        if evicted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        let phase = state.phase();
        if phase != seen {
            seen = phase;
            due = match phase & 3 {
                HEAD => Some(Instant::now() + limits.header_read_timeout),
                IDLE => Some(Instant::now() + limits.keep_alive_timeout),
                _ => None,
            };
            if let Some(sooner) = due.filter(|d| *d < armed_at) {
                armed_at = sooner;
                deadline.as_mut().reset(sooner);
            }
        }
        while deadline.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            // Busy: look again later; the request has its own timeouts.
            let next = match due {
                Some(due) if due <= now => return Poll::Ready(()),
                Some(due) => due,
                None => now + limits.header_read_timeout,
            };
            armed_at = next;
            deadline.as_mut().reset(next);
        }
        Poll::Pending
    })
    .await;
}

/// The socket, noting the first byte of a request that arrives on an idle
/// connection (the header deadline then replaces the keep-alive one), and
/// putting the envelope in place of hyper's bare errors (see
/// [`rescue`](super::rescue)).
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
    line: RequestLine,
    services: Arc<Services>,
    /// The envelope still to be written, and how much of it was.
    replacement: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// Whether `first` is hyper's bare error response; if so, queues the
    /// envelope in its place.
    fn rescued(&mut self, first: &[u8]) -> bool {
        if self.state.phase() & 3 != HEAD {
            return false;
        }
        let Some(status) = rescue::bare_error(first) else {
            return false;
        };
        let envelope = rescue::envelope_for(status, first, &self.line, &self.services);
        self.replacement = Some((envelope, 0));
        true
    }

    /// Writes what is left of the envelope.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            let n =
                std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
            if *written == bytes.len() {
                self.replacement = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let this = &mut *self;
            if this.state.phase() & 3 == IDLE {
                this.state.enter(HEAD);
                this.line.restart();
            }
            this.line.record(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_replacement(cx))?;
        if this.rescued(buf) {
            // Taken in full; the envelope goes out in its place.
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_replacement(cx))?;
        if bufs.len() == 1 && this.rescued(&bufs[0]) {
            let _ = this.poll_replacement(cx)?;
            return Poll::Ready(Ok(bufs[0].len()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The connection's service: marks the connection busy from the request
/// head until the response head.
struct Tracked {
    inner: OpsService<Router>,
    state: Arc<ConnState>,
}

impl hyper::service::Service<http::Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        TrackedFuture<<OpsService<Router> as tower::Service<http::Request<Incoming>>>::Future>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        self.state.enter(BUSY);
        // A router is always ready.
        let future = tower::Service::call(&mut self.inner.clone(), req);
        TrackedFuture {
            inner: future,
            state: self.state.clone(),
        }
    }
}

pin_project! {
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        state: Arc<ConnState>,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        this.state.enter(IDLE);
        Poll::Ready(output)
    }
}
