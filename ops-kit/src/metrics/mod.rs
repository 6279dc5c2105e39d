//! Prometheus metrics, served at `GET /metrics` in the text exposition
//! format (via the `prometheus-client` crate).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `http_requests_in_flight` | gauge | |
//! | `db_pool_connections` | gauge | `state` (`open`, `idle`) |
//! | `audit_entries_total` | counter | `result` (`written`, `failed`) |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_threads`, `process_open_fds`, `process_max_fds`, `process_start_time_seconds` | the standard process metrics, read from `/proc` on each scrape (Linux) | |
//!
//! `route` is the matched route template (`/api/crm/leads/{id}`), never the
//! raw path, so ids cannot explode the number of series; requests that
//! match no route share `route="unmatched"`. `status` is the class (`2xx`,
//! `4xx`…). Methods outside the standard set are counted as `OTHER`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::body::Body;
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! let router = ops_kit::App::new("svc", "1.0.0").into_router();
//! let get = |path: &str| http::Request::get(path).body(Body::empty()).unwrap();
//! router.clone().oneshot(get("/api/health/live")).await.unwrap();
//! let response = router.oneshot(get("/metrics")).await.unwrap();
//! let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
//! assert!(text.contains(r#"http_requests_total{method="GET",route="/api/health/live",status="2xx"} 1"#));
//! # }
//! ```

use std::fmt;
use std::sync::OnceLock;

use axum::extract::MatchedPath;
use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use self::process::ProcessCollector;
use crate::sql::Pool;

mod process;

/// The path the metrics are served at.
///
/// ```
/// assert_eq!(ops_kit::metrics::METRICS_PATH, "/metrics");
/// ```
pub const METRICS_PATH: &str = "/metrics";

/// The `route` label of requests that matched no route.
///
/// ```
/// assert_eq!(ops_kit::metrics::UNMATCHED, "unmatched");
/// ```
pub const UNMATCHED: &str = "unmatched";

/// Latency buckets, in seconds: 1 ms to 10 s.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The service's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    unmatched: RouteSeries,
    requests: Family<HttpLabels, Counter>,
    durations: Family<HttpLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    pool: Family<StateLabels, Gauge>,
    audit: Family<ResultLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Counter>::default();
        let durations: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS));
        let in_flight = Gauge::default();
        let pool = Family::<StateLabels, Gauge>::default();
        let audit = Family::<ResultLabels, Counter>::default();
        // Both results exist from the start, so that rate() sees a 0.
        for result in ["written", "failed"] {
            let _ = audit.get_or_create(&ResultLabels { result });
        }
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to its response head",
            durations.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being handled",
            in_flight.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database pool connections (open, idle)",
            pool.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        registry.register(
            "audit_entries",
            "Audit entries recorded (written, failed)",
            audit.clone(),
        );
        Self {
            registry,
            unmatched: RouteSeries::new(None),
            requests,
            durations,
            in_flight,
            pool,
            audit,
        }
    }
}

/// The `method` labels; anything else is `OTHER`.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];

/// The `status` labels.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn class_index(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// The request series of one route template, resolved once.
///
/// Looking a series up in a `Family` hashes its labels and takes a lock;
/// the route layer keeps one `RouteSeries` per route instead, so that
/// recording a request is an array index and a few atomic updates, with no
/// hashing and no allocation on the request path. The handles in it belong
/// to the [`Metrics`] of the first request recorded, which is the app's.
pub(crate) struct RouteSeries {
    path: Option<MatchedPath>,
    /// Whether the template prints as it is in the text `[METRICS]` line
    /// (decided once, not per request).
    plain: bool,
    cells: [OnceLock<(Counter, Histogram)>; METHODS.len() * CLASSES.len()],
}

impl RouteSeries {
    /// The series of a route template (`None`: requests no route matched).
    pub(crate) fn new(path: Option<MatchedPath>) -> Self {
        Self {
            plain: path
                .as_ref()
                .is_some_and(|p| crate::text::is_bare_token(p.as_str())),
            path,
            cells: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The route template.
    pub(crate) fn path(&self) -> Option<&str> {
        self.path.as_ref().map(MatchedPath::as_str)
    }

    /// Whether [`RouteSeries::path`] needs no quoting in the text format.
    pub(crate) fn is_plain(&self) -> bool {
        self.plain
    }

    fn record(&self, metrics: &Metrics, method: &Method, status: u16, seconds: f64) {
        let (method, class) = (method_index(method), class_index(status));
        let (count, durations) = self.cells[method * CLASSES.len() + class].get_or_init(|| {
            let labels = HttpLabels {
                method: METHODS[method],
                route: self.path().unwrap_or(UNMATCHED).to_owned(),
                status: CLASSES[class],
            };
            (
                metrics.requests.get_or_create(&labels).clone(),
                metrics.durations.get_or_create(&labels).clone(),
            )
        });
        durations.observe(seconds);
        count.inc();
    }
}

impl fmt::Debug for RouteSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RouteSeries").field(&self.path()).finish()
    }
}

impl Metrics {
    /// Counts an answered request and its latency.
    pub(crate) fn record_request(
        &self,
        method: &Method,
        route: Option<&RouteSeries>,
        status: u16,
        seconds: f64,
    ) {
        route
            .unwrap_or(&self.unmatched)
            .record(self, method, status, seconds);
    }

    /// Counts an audit entry written or failed.
    pub(crate) fn record_audit(&self, written: bool) {
        let result = if written { "written" } else { "failed" };
        self.audit.get_or_create(&ResultLabels { result }).inc();
    }

    /// The text exposition, with the gauges read now.
    pub(crate) fn render(&self, in_flight: usize, pool: Option<&Pool>) -> String {
        self.in_flight.set(in_flight as i64);
        if let Some(pool) = pool {
            let (open, idle) = pool.size_and_idle();
            self.pool
                .get_or_create(&StateLabels { state: "open" })
                .set(i64::from(open));
            self.pool
                .get_or_create(&StateLabels { state: "idle" })
                .set(idle as i64);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `MatchedPath` as axum makes it: routes `path` through a router
    /// with the route `template` and keeps what the handler extracted.
    fn matched_path(template: &'static str, path: &str) -> MatchedPath {
        use std::sync::{Arc, Mutex};
        use tower::ServiceExt;
        let seen = Arc::new(Mutex::new(None));
        let keep = seen.clone();
        let handler = move |matched: MatchedPath| {
            *keep.lock().unwrap() = Some(matched);
            async {}
        };
        let router: axum::Router = axum::Router::new().route(template, axum::routing::get(handler));
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(router.oneshot(request))
            .unwrap();
        seen.lock().unwrap().take().expect("the route matched")
    }

    #[test]
    fn requests_are_labelled_by_template_and_status_class() {
        let metrics = Metrics::default();
        let route = RouteSeries::new(Some(matched_path("/leads/{id}", "/leads/7")));
        metrics.record_request(&Method::GET, Some(&route), 200, 0.003);
        metrics.record_request(&Method::GET, Some(&route), 204, 0.02);
        metrics.record_request(&Method::POST, Some(&route), 201, 0.02);
        metrics.record_request(&Method::from_bytes(b"BREW").unwrap(), None, 404, 0.0001);
        metrics.record_audit(true);
        let text = metrics.render(3, None);
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="/leads/{id}",status="2xx"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_requests_total{method="OTHER",route="unmatched",status="4xx"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_requests_total{method="POST",route="/leads/{id}",status="2xx"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"http_request_duration_seconds_bucket{le="0.005",method="GET",route="/leads/{id}",status="2xx"} 1"#), "{text}");
        assert!(text.contains("http_requests_in_flight 3"), "{text}");
        assert!(
            text.contains(r#"audit_entries_total{result="written"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"audit_entries_total{result="failed"} 0"#),
            "{text}"
        );
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total ",
                "process_resident_memory_bytes ",
                "process_open_fds ",
                "process_start_time_seconds ",
            ] {
                assert!(text.contains(&format!("\n{name}")), "{name} in {text}");
            }
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
