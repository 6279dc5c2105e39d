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
        if let Some(path) = extensions.get::<MatchedPath>() {
            let record = |scope: &RequestScope| {
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
            };
            // The task's current scope is this request's when the router
            // runs inside `OpsService` (a thread-local read); the request's
            // extensions hold it wherever the router runs.
            if RequestScope::with_current(|scope| record(scope)).is_none()
                && let Some(scope) = RequestScope::of(extensions)
            {
                record(scope);
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::Method;
    use tower::ServiceExt;

    use super::*;
    use crate::RequestId;

    fn scope() -> Arc<RequestScope> {
        Arc::new(RequestScope::new(
            RequestId::generate(),
            Method::GET,
            "/leads/7",
            None,
            None,
            Arc::default(),
        ))
    }

    fn router() -> Router {
        Router::new()
            .route("/leads/{id}", get(|| async { "lead" }))
            .route_layer(CaptureRouteLayer)
    }

    fn request(scope: Option<&Arc<RequestScope>>) -> Request<Body> {
        let mut request = Request::get("/leads/7").body(Body::empty()).unwrap();
        if let Some(scope) = scope {
            request.extensions_mut().insert(scope.clone());
        }
        request
    }

    #[tokio::test]
    async fn records_the_template_in_the_scope_found_in_the_extensions() {
        let scope = scope();
        router().oneshot(request(Some(&scope))).await.unwrap();
        assert_eq!(
            scope.route().and_then(RouteSeries::path),
            Some("/leads/{id}")
        );
    }

    #[tokio::test]
    async fn records_the_template_in_the_current_scope_without_a_lookup() {
        let scope = scope();
        RequestScope::scoped(scope.clone(), router().oneshot(request(None)))
            .await
            .unwrap();
        assert_eq!(
            scope.route().and_then(RouteSeries::path),
            Some("/leads/{id}")
        );
    }

    #[tokio::test]
    async fn records_nothing_outside_a_request_scope() {
        let response = router().oneshot(request(None)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(RequestScope::with_current(|_| ()).is_none());
    }
}
