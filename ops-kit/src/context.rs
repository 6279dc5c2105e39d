//! What the app's extractors need from the app: the database pool and the
//! audit settings. [`OpsService`](crate::OpsService) puts one shared copy in
//! every request's extensions.

use std::sync::Arc;

use crate::audit::{AuditSink, TracingSink};
use crate::metrics::Metrics;
use crate::sql::Pool;

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
