//! What the app's extractors need: the app's [`Services`] (database pool,
//! audit settings, metrics) and the request's own [`RequestScope`] (its id,
//! trace id and matched route). [`OpsService`](crate::OpsService) builds one
//! scope per request and puts it, once, in the request's extensions.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::extract::ConnectInfo;
use http::{Extensions, Method};
use smallvec::SmallVec;

use crate::audit::{AuditSink, TracingSink};
use crate::metrics::{Metrics, RouteSeries};
use crate::sql::Pool;
use crate::{RequestId, TraceId};

/// The default cap on a stored request body: 64 KiB of JSON text.
pub(crate) const DEFAULT_MAX_CHANGES_BYTES: usize = 64 * 1024;

/// The default cap on a stored user agent, in characters.
pub(crate) const DEFAULT_MAX_USER_AGENT_CHARS: usize = 512;

pub(crate) struct Services {
    pub(crate) pool: Option<Pool>,
    pub(crate) audit_sink: Arc<dyn AuditSink>,
    /// How many proxies in front of the service append to `X-Forwarded-For`
    /// and are trusted; 0 means the header is ignored.
    pub(crate) proxy_hops: usize,
    pub(crate) max_changes_bytes: usize,
    pub(crate) max_user_agent_chars: usize,
    /// The Prometheus metrics of the service.
    pub(crate) metrics: Arc<Metrics>,
}

impl Default for Services {
    fn default() -> Self {
        Self {
            pool: None,
            audit_sink: Arc::new(TracingSink),
            proxy_hops: 0,
            max_changes_bytes: DEFAULT_MAX_CHANGES_BYTES,
            max_user_agent_chars: DEFAULT_MAX_USER_AGENT_CHARS,
            metrics: Arc::default(),
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("pool", &self.pool.as_ref().map(Pool::backend))
            .field("proxy_hops", &self.proxy_hops)
            .field("max_changes_bytes", &self.max_changes_bytes)
            .finish_non_exhaustive()
    }
}

/// One request as ops-kit sees it.
///
/// Made once per request and shared through one `Arc` by the request's
/// extensions (for the extractors), the in-flight registry (for a shutdown
/// that runs out of time) and the response future (for the `[METRICS]` line):
/// one allocation instead of one per extension and per copy.
pub(crate) struct RequestScope {
    pub(crate) request_id: RequestId,
    pub(crate) method: Method,
    /// The path, copied: most paths fit inline, and the scope then holds
    /// no reference into the connection's read buffer, which the request
    /// frees as soon as the handler is done with it.
    path: SmallVec<[u8; 64]>,
    pub(crate) started: tokio::time::Instant,
    pub(crate) trace_id: Option<TraceId>,
    /// The address of the connection's peer, when the server knows it.
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) services: Arc<Services>,
    /// The matched route (template and metric series), set by the route
    /// layer after routing.
    route: OnceLock<Arc<RouteSeries>>,
}

impl RequestScope {
    pub(crate) fn new(
        request_id: RequestId,
        method: Method,
        path: &str,
        trace_id: Option<TraceId>,
        peer: Option<SocketAddr>,
        services: Arc<Services>,
    ) -> Self {
        Self {
            request_id,
            method,
            path: SmallVec::from_slice(path.as_bytes()),
            started: tokio::time::Instant::now(),
            trace_id,
            peer,
            services,
            route: OnceLock::new(),
        }
    }

    /// The scope of the request these extensions belong to.
    pub(crate) fn of(extensions: &Extensions) -> Option<&Arc<Self>> {
        extensions.get::<Arc<Self>>()
    }

    /// The request's path, without the query string.
    pub(crate) fn path(&self) -> &str {
        // Copied from a `&str`, so always UTF-8.
        std::str::from_utf8(&self.path).unwrap_or_default()
    }

    /// The address of the client that connected: the scope's peer, or
    /// axum's `ConnectInfo` when the router is served by axum's
    /// `into_make_service_with_connect_info` instead of [`App`](crate::App).
    pub(crate) fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
        Self::of(extensions)
            .and_then(|s| s.peer)
            .or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))
            .map(|peer| peer.ip())
    }

    /// The matched route (`/leads/{id}`), once routing has run.
    pub(crate) fn route(&self) -> Option<&RouteSeries> {
        self.route.get().map(|r| &**r)
    }

    /// Records the matched route; the first (outermost) match wins.
    pub(crate) fn set_route(&self, route: Arc<RouteSeries>) {
        let _ = self.route.set(route);
    }
}

impl std::fmt::Debug for RequestScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestScope")
            .field("request_id", &self.request_id)
            .field("method", &self.method)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(path: &str) -> RequestScope {
        RequestScope::new(
            RequestId::generate(),
            Method::GET,
            path,
            None,
            None,
            Arc::default(),
        )
    }

    #[test]
    fn the_scope_keeps_short_and_long_paths_whole() {
        assert_eq!(scope("/api/crm/leads").path(), "/api/crm/leads");
        let long = format!("/api/{}", "segment/".repeat(40));
        assert_eq!(scope(&long).path(), long);
        assert_eq!(scope("/caf%C3%A9/ü").path(), "/caf%C3%A9/ü");
    }
}
