//! Records the matched route template for [`OpsService`](super::OpsService).
//!
//! The router learns the template (`/leads/{id}`) while routing, after the
//! outer layer has seen the request; this route layer copies it into the
//! request's [`RequestScope`] so that the `[METRICS]` line and the
//! Prometheus labels can name it. It adds no future of its own.

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use http::Request;
use tower::{Layer, Service};

use crate::context::RequestScope;
use crate::metrics::RouteSeries;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CaptureRouteLayer;

impl<S> Layer<S> for CaptureRouteLayer {
    type Service = CaptureRoute<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CaptureRoute {
            inner,
            series: Arc::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CaptureRoute<S> {
    inner: S,
    /// This route's template and metric series, made on its first request
    /// and shared by every clone of the service.
    series: Arc<OnceLock<Arc<RouteSeries>>>,
}

impl<S, B> Service<Request<B>> for CaptureRoute<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let extensions = req.extensions();
        if let (Some(scope), Some(path)) = (
            RequestScope::of(extensions),
            extensions.get::<MatchedPath>(),
        ) {
            let series = self
                .series
                .get_or_init(|| Arc::new(RouteSeries::new(Some(path.clone()))));
            if series.path() == Some(path.as_str()) {
                scope.set_route(series.clone());
            } else {
                // One service serving several templates (not something
                // axum's routers do): correct, just not cached.
                scope.set_route(Arc::new(RouteSeries::new(Some(path.clone()))));
            }
        }
        self.inner.call(req)
    }
}
