//! Carries the matched route template out to [`OpsService`](super::OpsService).
//!
//! The router learns the template (`/leads/{id}`) while routing, after the
//! outer layer has seen the request; this route layer copies it into the
//! response so that the `[METRICS]` line can name it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use axum::response::Response;
use http::Request;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CaptureRouteLayer;

impl<S> Layer<S> for CaptureRouteLayer {
    type Service = CaptureRoute<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CaptureRoute { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CaptureRoute<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for CaptureRoute<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CaptureFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = req.extensions().get::<MatchedPath>().cloned();
        CaptureFuture {
            inner: self.inner.call(req),
            route,
        }
    }
}

pin_project! {
    pub(crate) struct CaptureFuture<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for CaptureFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(Ok(response))
    }
}
