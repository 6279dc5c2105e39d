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

use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::sql::Pool;

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
        registry.register(
            "audit_entries",
            "Audit entries recorded (written, failed)",
            audit.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            in_flight,
            pool,
            audit,
        }
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Counts an answered request and its latency.
    pub(crate) fn record_request(
        &self,
        method: &Method,
        route: Option<&str>,
        status: u16,
        seconds: f64,
    ) {
        let labels = HttpLabels {
            method: method_label(method),
            route: route.unwrap_or(UNMATCHED).to_owned(),
            status: status_class(status),
        };
        self.durations.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
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

    #[test]
    fn requests_are_labelled_by_template_and_status_class() {
        let metrics = Metrics::default();
        metrics.record_request(&Method::GET, Some("/leads/{id}"), 200, 0.003);
        metrics.record_request(&Method::GET, Some("/leads/{id}"), 204, 0.02);
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
        assert!(text.ends_with("# EOF\n"));
    }
}
