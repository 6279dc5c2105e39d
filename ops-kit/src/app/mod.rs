//! [`App`]: the one entry point that turns an `axum::Router` into an
//! operable service.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use ops_kit::App;
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     let _logs = ops_kit::telemetry::Telemetry::from_env().unwrap().init().unwrap();
//!     let routes = Router::new().route("/api/hello", get(|| async { "hello" }));
//!
//!     App::new("hello", env!("CARGO_PKG_VERSION"))
//!         .router(routes)
//!         .serve("127.0.0.1:3000")
//!         .await
//!         .exit_code()
//! }
//! ```

mod run;
mod served;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::audit::AuditSink;
use crate::context::Services;
use crate::health::{self, DynCheck, HealthCheck};
use crate::layer::{CaptureRouteLayer, OpsLayer, OpsService};
use crate::lifecycle::Lifecycle;
use crate::server;
use crate::shutdown::{self, Hook};
use crate::sql::Pool;
use tower::Layer;

/// The limit axum's body extractors apply unless told otherwise.
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

type StartupTask = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A service under construction: its routes, checks, hooks and limits.
///
/// See the [module docs](self) for a complete `main`.
///
/// # Example
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let app = ops_kit::App::new("svc", "1.0.0")
///     .router(Router::new().route("/api/hello", get(|| async { "hello" })));
/// let request = http::Request::get("/api/hello").body(Body::empty()).unwrap();
/// let response = app.into_router().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert!(response.headers().contains_key("x-request-id"));
/// # }
/// ```
#[must_use]
pub struct App {
    name: Arc<str>,
    version: Arc<str>,
    router: Router,
    checks: Vec<(String, Arc<dyn DynCheck>)>,
    hooks: Vec<Hook>,
    startup: Vec<StartupTask>,
    ops: OpsLayer,
    shutdown_timeout: Duration,
    shutdown_delay: Duration,
    metrics_addr: Option<String>,
    metrics_router: Option<Router>,
    cleanup_timeout: Duration,
    limits: server::Limits,
    check_timeout: Duration,
    check_cache_ttl: Duration,
    lifecycle: Lifecycle,
    services: Services,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("version", &self.version)
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("hooks", &self.hooks)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("shutdown_delay", &self.shutdown_delay)
            .finish_non_exhaustive()
    }
}

impl App {
    /// A service called `name` at `version` (shown by `GET /api/health`).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("crm-app", "1.4.0");
    /// # let _ = app;
    /// ```
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into().into(),
            version: version.into().into(),
            router: Router::new(),
            checks: Vec::new(),
            hooks: Vec::new(),
            startup: Vec::new(),
            ops: OpsLayer::new(),
            shutdown_timeout: shutdown::DEFAULT_SHUTDOWN_TIMEOUT,
            shutdown_delay: Duration::ZERO,
            metrics_addr: None,
            metrics_router: None,
            cleanup_timeout: shutdown::DEFAULT_CLEANUP_TIMEOUT,
            limits: server::Limits::default(),
            check_timeout: health::DEFAULT_CHECK_TIMEOUT,
            check_cache_ttl: health::DEFAULT_CHECK_CACHE_TTL,
            lifecycle: Lifecycle::new(),
            services: Services::default(),
        }
    }

    /// Adds the service's routes (merged with any added before).
    ///
    /// Layers the service put on `router` (authentication, say) apply to its
    /// own routes only; the probes stay outside them.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, routing::get};
    ///
    /// let app = ops_kit::App::new("svc", "1.0.0")
    ///     .router(Router::new().route("/api/a", get(|| async { "a" })))
    ///     .router(Router::new().route("/api/b", get(|| async { "b" })));
    /// # let _ = app;
    /// ```
    pub fn router(mut self, router: Router) -> Self {
        self.router = self.router.merge(router);
        self
    }

    /// Registers a readiness check under `name` (the key in `checks`).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::health::CheckError;
    ///
    /// let app = ops_kit::App::new("svc", "1.0.0")
    ///     .readiness_check("search", || async { Err::<(), _>(CheckError::new("index rebuilding")) });
    /// # let _ = app;
    /// ```
    pub fn readiness_check(mut self, name: impl Into<String>, check: impl HealthCheck) -> Self {
        self.checks.push((name.into(), Arc::new(check)));
        self
    }

    /// Registers a cleanup handler, run after the drain. Handlers run newest
    /// first, each logged as `[SHUTDOWN] Closing <name>...` and
    /// `[SHUTDOWN] <Name> closed`.
    ///
    /// # Example
    ///
    /// ```
    /// # async fn demo() -> Result<(), sqlx::Error> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let app = ops_kit::App::new("svc", "1.0.0")
    ///     .on_shutdown("database pool", move || async move { pool.close().await });
    /// # let _ = app;
    /// # Ok(()) }
    /// ```
    pub fn on_shutdown<F, Fut>(mut self, name: impl Into<String>, hook: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.push(Hook::new(name, hook));
        self
    }

    /// Registers start-up work (migrations, warm-up) that runs once the port
    /// is bound. Until all of it has finished, readiness answers 503
    /// (`starting`) while liveness answers 200. If any of it fails, the
    /// service logs `[STARTUP ERROR] FATAL: …` and shuts down with status 1.
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").on_startup(async {
    ///     // run migrations, fill caches…
    ///     Ok::<(), std::io::Error>(())
    /// });
    /// # let _ = app;
    /// ```
    pub fn on_startup<Fut, E>(mut self, task: Fut) -> Self
    where
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        self.startup.push(Box::pin(
            async move { task.await.map_err(|e| e.to_string()) },
        ));
        self
    }

    /// Gives the app its database: the [`Tx`](crate::sql::Tx) extractor
    /// begins transactions on it, readiness checks it as `database`
    /// (`connected` / `disconnected`), and shutdown closes it last, as
    /// `database pool`.
    ///
    /// # Example
    ///
    /// ```
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let app = ops_kit::App::new("svc", "1.0.0").database(pool);
    /// # let _ = app;
    /// ```
    pub fn database(mut self, pool: Pool) -> Self {
        self.services.pool = Some(pool.clone());
        let closing = pool.clone();
        // Registered first so that, running newest first, it closes last.
        self.hooks.insert(
            0,
            Hook::new(
                "database pool",
                move || async move { closing.close().await },
            ),
        );
        self.readiness_check("database", pool)
    }

    /// Sets where [`#[audited]`](crate::audited) handlers record their
    /// entries (default: [`TracingSink`](crate::audit::TracingSink), one
    /// log line each).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").audit_sink(ops_kit::audit::TracingSink);
    /// # let _ = app;
    /// ```
    pub fn audit_sink(mut self, sink: impl AuditSink) -> Self {
        self.services.audit_sink = Arc::new(sink);
        self
    }

    /// Trusts `hops` reverse proxies in front of the service: the audit
    /// trail then takes the client address from `X-Forwarded-For`, as the
    /// outermost of them saw it. The default, 0, ignores the header, which
    /// any client can write.
    ///
    /// # Example
    ///
    /// ```
    /// // One ingress controller appends the client's address.
    /// let app = ops_kit::App::new("svc", "1.0.0").trusted_proxy_hops(1);
    /// # let _ = app;
    /// ```
    pub fn trusted_proxy_hops(mut self, hops: usize) -> Self {
        self.services.proxy_hops = hops;
        self
    }

    /// Also hands handlers the connection's peer as axum's
    /// `ConnectInfo<SocketAddr>` extractor, as axum's
    /// `into_make_service_with_connect_info` would.
    ///
    /// Off by default, as in axum: it costs every request an entry in its
    /// extensions, and ops-kit's own [`ClientIp`](crate::ClientIp) and the
    /// audit trail know the peer without it.
    ///
    /// # Example
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::{Router, extract::ConnectInfo, routing::get};
    ///
    /// async fn peer(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    ///     peer.to_string()
    /// }
    /// let app = ops_kit::App::new("svc", "1.0.0")
    ///     .connect_info()
    ///     .router(Router::new().route("/peer", get(peer)));
    /// # let _ = app;
    /// ```
    pub fn connect_info(mut self) -> Self {
        self.ops = self.ops.connect_info();
        self
    }

    /// Caps the request body stored as an audit entry's `changes` (default
    /// 64 KiB of JSON text); a larger body is stored as a marker with its
    /// size and a preview.
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").audit_changes_limit(16 * 1024);
    /// # let _ = app;
    /// ```
    pub fn audit_changes_limit(mut self, bytes: usize) -> Self {
        self.services.max_changes_bytes = bytes;
        self
    }

    /// Sets the largest accepted request body (default 1 MiB).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").body_limit(8 * 1024 * 1024);
    /// # let _ = app;
    /// ```
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.ops = self.ops.body_limit(bytes);
        self
    }

    /// Lets requests to exactly `path` send a body of up to `bytes`,
    /// arriving within `read_timeout`, while every other path keeps
    /// [`body_limit`](Self::body_limit) (see
    /// [`OpsLayer::body_limit_for`](crate::OpsLayer::body_limit_for)).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0")
    ///     .body_limit_for("/leads/import", 16 * 1024 * 1024, std::time::Duration::from_secs(60));
    /// # let _ = app;
    /// ```
    pub fn body_limit_for(
        mut self,
        path: impl Into<String>,
        bytes: usize,
        read_timeout: Duration,
    ) -> Self {
        self.ops = self.ops.body_limit_for(path, bytes, read_timeout);
        self
    }

    /// Sets the request timeout (default 30 s); a request past it is
    /// answered with 503 and its handler is dropped.
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").request_timeout(std::time::Duration::from_secs(10));
    /// # let _ = app;
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.ops = self.ops.request_timeout(timeout);
        self
    }

    /// Sets how long a request body may take to arrive in full, counted from
    /// the end of its head (default 5 s, `BODY_READ_TIMEOUT_SECS`); a body
    /// still arriving then is answered with 408 `request_timeout`.
    ///
    /// Bodies are read in full before the router runs, so this also bounds
    /// how long a slow client can keep a request waiting before any
    /// extractor (a database transaction) is taken.
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").body_read_timeout(std::time::Duration::from_secs(2));
    /// # let _ = app;
    /// ```
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.ops = self.ops.body_read_timeout(timeout);
        self
    }

    /// Sets how long a connection gets to send a complete request head,
    /// from its accept or from the first byte of a later request (default
    /// 10 s, `HEADER_READ_TIMEOUT_SECS`); a connection that sends nothing,
    /// or trickles its head, is closed after it. See [`server`](crate::server).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").header_read_timeout(std::time::Duration::from_secs(5));
    /// # let _ = app;
    /// ```
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// Sets how long an idle keep-alive connection is kept between two
    /// requests (default 75 s, `KEEP_ALIVE_TIMEOUT_SECS`). Keep it above
    /// the idle timeout of the proxy in front.
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").keep_alive_timeout(std::time::Duration::from_secs(120));
    /// # let _ = app;
    /// ```
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.limits.keep_alive_timeout = timeout;
        self
    }

    /// Caps the open connections (default: the open-file limit minus 64,
    /// `MAX_CONNECTIONS`). At the cap a new connection closes the oldest
    /// one without a request in flight, or is closed itself when all are
    /// busy. See [`server`](crate::server).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").max_connections(2048);
    /// # let _ = app;
    /// ```
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max.max(1);
        self
    }

    /// Sets how long in-flight requests get to finish once shutdown starts
    /// (default 30 s, `SHUTDOWN_TIMEOUT_SECS`).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").shutdown_timeout(std::time::Duration::from_secs(20));
    /// # let _ = app;
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the pre-stop delay (default 0, `SHUTDOWN_DELAY_SECS`): after the
    /// signal, the server keeps serving this long with readiness at 503.
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").shutdown_delay(std::time::Duration::from_secs(5));
    /// # let _ = app;
    /// ```
    pub fn shutdown_delay(mut self, delay: Duration) -> Self {
        self.shutdown_delay = delay;
        self
    }

    /// Sets the time each cleanup handler gets (default 5 s).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").cleanup_timeout(std::time::Duration::from_secs(2));
    /// # let _ = app;
    /// ```
    pub fn cleanup_timeout(mut self, timeout: Duration) -> Self {
        self.cleanup_timeout = timeout;
        self
    }

    /// Sets the time each readiness check gets (default 800 ms).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").check_timeout(std::time::Duration::from_millis(300));
    /// # let _ = app;
    /// ```
    pub fn check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// Sets how long a readiness result is shared between probes (default 1 s).
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0").check_cache_ttl(std::time::Duration::from_secs(2));
    /// # let _ = app;
    /// ```
    pub fn check_cache_ttl(mut self, ttl: Duration) -> Self {
        self.check_cache_ttl = ttl;
        self
    }

    /// Reads `SHUTDOWN_TIMEOUT_SECS`, `SHUTDOWN_DELAY_SECS`,
    /// `BODY_READ_TIMEOUT_SECS`, `HEADER_READ_TIMEOUT_SECS`,
    /// `KEEP_ALIVE_TIMEOUT_SECS`, `MAX_CONNECTIONS` and `METRICS_ADDR` from
    /// a validated configuration (see [`Validator::standard`](crate::config::Validator::standard)).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Validator};
    ///
    /// let config = Validator::standard()
    ///     .validate(&Env::from_pairs([("SHUTDOWN_DELAY_SECS", "5")]))
    ///     .unwrap();
    /// let app = ops_kit::App::new("svc", "1.0.0").configure(&config);
    /// # let _ = app;
    /// ```
    pub fn configure(mut self, config: &crate::config::Validated) -> Self {
        if let Some(secs) = config.parsed::<u64>("SHUTDOWN_TIMEOUT_SECS") {
            self.shutdown_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = config.parsed::<u64>("SHUTDOWN_DELAY_SECS") {
            self.shutdown_delay = Duration::from_secs(secs);
        }
        if let Some(secs) = config.parsed::<u64>("BODY_READ_TIMEOUT_SECS") {
            self = self.body_read_timeout(Duration::from_secs(secs));
        }
        if let Some(secs) = config.parsed::<u64>("HEADER_READ_TIMEOUT_SECS") {
            self.limits.header_read_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = config.parsed::<u64>("KEEP_ALIVE_TIMEOUT_SECS") {
            self.limits.keep_alive_timeout = Duration::from_secs(secs);
        }
        if let Some(max) = config.parsed::<usize>("MAX_CONNECTIONS") {
            self = self.max_connections(max);
        }
        if let Some(addr) = config.get("METRICS_ADDR") {
            self.metrics_addr = Some(addr.to_owned());
        }
        self
    }

    /// Serves `/metrics` on a listener of its own at `addr` (under
    /// [`serve`](Self::serve)) instead of on the main port, so that it can
    /// stay off the public ingress. `METRICS_ADDR` sets it through
    /// [`configure`](Self::configure).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tower::ServiceExt;
    /// let router = ops_kit::App::new("svc", "1.0.0").metrics_addr("127.0.0.1:9090").into_router();
    /// let request = http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
    /// // Not on the main port any more.
    /// assert_eq!(router.oneshot(request).await.unwrap().status(), 404);
    /// # }
    /// ```
    pub fn metrics_addr(mut self, addr: impl Into<String>) -> Self {
        self.metrics_addr = Some(addr.into());
        self
    }

    /// The lifecycle handle the probes read; clone it to watch for shutdown.
    ///
    /// # Example
    ///
    /// ```
    /// let app = ops_kit::App::new("svc", "1.0.0");
    /// let lifecycle = app.lifecycle();
    /// assert_eq!(lifecycle.phase(), ops_kit::Phase::Starting);
    /// ```
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.clone()
    }

    /// The routes with the probes, wrapped in [`OpsService`] as a whole
    /// (one layer around the router, not one per route).
    pub(crate) fn assemble(&mut self) -> OpsService<Router> {
        let checks = Arc::new(health::runner::Checks::new(
            std::mem::take(&mut self.checks),
            self.check_timeout,
            self.check_cache_ttl,
        ));
        let probes = health::routes::router(
            self.lifecycle.clone(),
            checks,
            self.name.clone(),
            self.version.clone(),
        );
        self.ops = self
            .ops
            .clone()
            .services(std::mem::take(&mut self.services));
        let services = self.ops.shared.services.clone();
        let in_flight = self.ops.shared.in_flight.clone();
        let metrics = move || {
            let text = services
                .metrics
                .render(in_flight.len(), services.pool.as_ref());
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    text,
                )
            }
        };
        let metrics =
            Router::new().route(crate::metrics::METRICS_PATH, axum::routing::get(metrics));
        let mut router = std::mem::take(&mut self.router).merge(probes);
        if self.metrics_addr.is_some() {
            self.metrics_router = Some(metrics);
        } else {
            router = router.merge(metrics);
        }
        let mut router = router.route_layer(CaptureRouteLayer);
        // The layer caps every body itself; axum's extractors add their own
        // 2 MiB default on top, which only needs lifting for larger limits.
        if self.ops.shared.largest_body() > AXUM_DEFAULT_BODY_LIMIT {
            router = router.layer(DefaultBodyLimit::max(self.ops.shared.largest_body()));
        }
        // Turns every handler into a ready route once, as `axum::serve` does
        // for a bare router; otherwise each request would box its handler
        // and apply the route layers again.
        self.ops.layer(router.with_state(()))
    }

    /// The whole stack as a `Router`, for tests and for embedding, marked
    /// ready. Start-up tasks and shutdown hooks only run under
    /// [`serve`](Self::serve).
    ///
    /// # Example
    ///
    /// ```
    /// use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let router = ops_kit::App::new("svc", "1.0.0").into_router();
    /// let response = router
    ///     .oneshot(http::Request::get("/api/health/ready").body(axum::body::Body::empty()).unwrap())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(response.status(), 200);
    /// assert!(response.headers().contains_key("x-request-id"));
    /// # }
    /// ```
    pub fn into_router(mut self) -> Router {
        let service = self.assemble();
        self.lifecycle.set_ready();
        Router::new().fallback_service(service)
    }
}

pub use self::served::{ServeError, Served};
