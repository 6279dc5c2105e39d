use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::runner::{Checks, Report};
use crate::error::{json_response, json_text_response};
use crate::lifecycle::{Lifecycle, Phase};

/// The path of the liveness probe.
///
/// # Example
///
/// ```
/// use axum::body::{Body, to_bytes};
/// use ops_kit::health::LIVE_PATH;
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(LIVE_PATH, "/api/health/live");
/// let router = ops_kit::App::new("svc", "1.0.0").into_router();
/// let response = router.oneshot(http::Request::get(LIVE_PATH).body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 200);
/// let body: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
/// assert_eq!(body["status"], "alive");
/// # }
/// ```
pub const LIVE_PATH: &str = "/api/health/live";

/// The path of the readiness probe.
///
/// # Example
///
/// ```
/// use axum::body::{Body, to_bytes};
/// use ops_kit::health::{CheckError, READY_PATH};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = ops_kit::App::new("svc", "1.0.0")
///     .readiness_check("search", || async { Err::<(), _>(CheckError::new("index rebuilding")) })
///     .into_router();
/// let response = router.oneshot(http::Request::get(READY_PATH).body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 503);
/// let body: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
/// assert_eq!(body["status"], "not_ready");
/// assert_eq!(body["checks"]["search"], "failed");
/// # }
/// ```
pub const READY_PATH: &str = "/api/health/ready";

/// The path of the combined health report.
///
/// # Example
///
/// ```
/// use axum::body::{Body, to_bytes};
/// use ops_kit::health::HEALTH_PATH;
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = ops_kit::App::new("crm-app", "1.4.0").into_router();
/// let response = router.oneshot(http::Request::get(HEALTH_PATH).body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 200);
/// let body: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
/// assert_eq!(body["service"], "crm-app");
/// assert_eq!(body["version"], "1.4.0");
/// # }
/// ```
pub const HEALTH_PATH: &str = "/api/health";

/// Shared by the probe routes; one reference count per request.
struct HealthState {
    lifecycle: Lifecycle,
    checks: Arc<Checks>,
    service: Arc<str>,
    version: Arc<str>,
}

/// The three probe routes.
pub(crate) fn router(
    lifecycle: Lifecycle,
    checks: Arc<Checks>,
    service: Arc<str>,
    version: Arc<str>,
) -> Router {
    Router::new()
        .route(LIVE_PATH, get(live))
        .route(READY_PATH, get(ready))
        .route(HEALTH_PATH, get(combined))
        .with_state(Arc::new(HealthState {
            lifecycle,
            checks,
            service,
            version,
        }))
}

fn timestamp() -> Value {
    let mut text = String::with_capacity(24);
    crate::text::push_rfc3339(&mut text, chrono::Utc::now(), 3);
    Value::from(text)
}

fn uptime(lifecycle: &Lifecycle) -> Value {
    // Milliseconds precision is plenty and keeps the number short.
    let secs = (lifecycle.uptime().as_secs_f64() * 1000.0).round() / 1000.0;
    Value::from(secs)
}

async fn live(State(state): State<Arc<HealthState>>) -> Response {
    // Written straight into the body: the probe answers often and never
    // varies in shape.
    let mut body = String::with_capacity(80);
    body.push_str(r#"{"status":"alive","timestamp":""#);
    crate::text::push_rfc3339(&mut body, chrono::Utc::now(), 3);
    body.push_str(r#"","uptime":"#);
    let millis = state.lifecycle.uptime().as_millis() as u64;
    crate::text::push_zero_padded(&mut body, millis / 1000, 1);
    body.push('.');
    crate::text::push_zero_padded(&mut body, millis % 1000, 3);
    body.push('}');
    json_text_response(StatusCode::OK, body)
}

/// The readiness status word and HTTP status for a phase and, when ready, a report.
async fn evaluate(state: &HealthState) -> (&'static str, StatusCode, Option<Arc<Report>>) {
    match state.lifecycle.phase() {
        Phase::Starting => ("starting", StatusCode::SERVICE_UNAVAILABLE, None),
        Phase::ShuttingDown => ("shutting_down", StatusCode::SERVICE_UNAVAILABLE, None),
        Phase::Ready => {
            let report = state.checks.report().await;
            // Shutdown may have begun while the checks ran.
            if state.lifecycle.phase() == Phase::ShuttingDown {
                ("shutting_down", StatusCode::SERVICE_UNAVAILABLE, None)
            } else if report.healthy() {
                ("ready", StatusCode::OK, Some(report))
            } else {
                ("not_ready", StatusCode::SERVICE_UNAVAILABLE, Some(report))
            }
        }
    }
}

async fn ready(State(state): State<Arc<HealthState>>) -> Response {
    let (status, code, report) = evaluate(&state).await;
    let mut checks = Map::new();
    if let Some(report) = report {
        for result in &report.results {
            checks.insert(result.name.clone(), Value::from(result.label));
        }
    }
    let body = json!({
        "status": status,
        "timestamp": timestamp(),
        "checks": checks,
    });
    json_response(code, &body).into_response()
}

async fn combined(State(state): State<Arc<HealthState>>) -> Response {
    let (status, code, report) = evaluate(&state).await;
    let mut checks = Map::new();
    if let Some(report) = report {
        for result in &report.results {
            let mut entry = Map::new();
            entry.insert("status".into(), Value::from(result.label));
            let ms = (result.latency.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
            entry.insert("latencyMs".into(), Value::from(ms));
            if let Some(error) = &result.error {
                entry.insert("error".into(), Value::from(error.as_str()));
            }
            checks.insert(result.name.clone(), Value::Object(entry));
        }
    }
    let body = json!({
        "status": status,
        "service": &*state.service,
        "version": &*state.version,
        "timestamp": timestamp(),
        "uptime": uptime(&state.lifecycle),
        "checks": checks,
    });
    json_response(code, &body)
}
