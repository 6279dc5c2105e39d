//! What the app's extractors need: the app's [`Services`] (database pool,
//! audit settings, metrics) and the request's own [`RequestScope`] (its id,
//! trace id and matched route). [`OpsService`](crate::OpsService) builds one
//! scope per request and puts it, once, in the request's extensions.

use std::cell::RefCell;
use std::marker::PhantomData;
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

    /// Makes this scope the thread's current one until the guard is
    /// dropped (see [`RequestScope::with_current`]).
    ///
    /// [`OpsService`](crate::OpsService) enters the scope around each call
    /// and each poll of the inner service, as tokio's task-locals do, but
    /// through a guard instead of a closure: a closure's result (here the
    /// router's future, some 300 bytes) would be copied on its way out.
    pub(crate) fn enter(self: &Arc<Self>) -> Entered {
        Entered {
            previous: CURRENT.with(|current| current.replace(Some(self.clone()))),
            _not_send: PhantomData,
        }
    }

    /// Runs `fut` with `scope` entered on every poll.
    #[cfg(test)]
    pub(crate) async fn scoped<F: Future>(scope: Arc<Self>, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            let _entered = scope.enter();
            fut.as_mut().poll(cx)
        })
        .await
    }

    /// Calls `f` with the scope of the request being served, if any.
    ///
    /// [`OpsService`](crate::OpsService) enters a request's scope while it
    /// calls and polls the inner service, so code that runs there (the
    /// route layer, [`ApiError`](crate::ApiError), log lines) finds it
    /// without a lookup in the request's extensions. `f` must not enter a
    /// scope itself.
    pub(crate) fn with_current<R>(f: impl FnOnce(&Self) -> R) -> Option<R> {
        CURRENT.with(|current| {
            let current = current.try_borrow().ok()?;
            current.as_deref().map(f)
        })
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<RequestScope>>> = const { RefCell::new(None) };
}

/// The guard of [`RequestScope::enter`]: puts the previous scope back.
#[must_use = "the scope is current only while the guard lives"]
pub(crate) struct Entered {
    previous: Option<Arc<RequestScope>>,
    // Bound to the thread whose current scope it changed.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // Dropped outside the `RefCell`'s borrow: freeing a scope may run
        // arbitrary drops (a pool, a metrics handle).
        let _ours = CURRENT.with(|current| current.replace(previous));
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
    fn entering_a_scope_makes_it_current_until_the_guard_drops() {
        let outer = Arc::new(scope("/outer"));
        let inner = Arc::new(scope("/inner"));
        assert!(RequestScope::with_current(|_| ()).is_none());
        let entered = outer.enter();
        {
            let _nested = inner.enter();
            assert_eq!(
                RequestScope::with_current(|s| s.path().to_owned()).unwrap(),
                "/inner"
            );
        }
        assert_eq!(
            RequestScope::with_current(|s| s.path().to_owned()).unwrap(),
            "/outer"
        );
        drop(entered);
        assert!(RequestScope::with_current(|_| ()).is_none());
        // The guard holds its own reference, and gives it back.
        assert_eq!(Arc::strong_count(&outer), 1);
    }

    #[test]
    fn the_scope_keeps_short_and_long_paths_whole() {
        assert_eq!(scope("/api/crm/leads").path(), "/api/crm/leads");
        let long = format!("/api/{}", "segment/".repeat(40));
        assert_eq!(scope(&long).path(), long);
        assert_eq!(scope("/caf%C3%A9/ü").path(), "/caf%C3%A9/ü");
    }
}
