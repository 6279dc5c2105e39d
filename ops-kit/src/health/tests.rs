use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::CheckError;
use crate::App;

async fn probe(router: &Router, path: &str) -> (StatusCode, Value) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn healthy_app() -> App {
    App::new("crm-app", "1.2.3").readiness_check("database", DbUp)
}

struct DbUp;

impl super::HealthCheck for DbUp {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
    fn healthy_label(&self) -> &'static str {
        "connected"
    }
    fn unhealthy_label(&self) -> &'static str {
        "disconnected"
    }
}

struct DbDown;

impl super::HealthCheck for DbDown {
    async fn check(&self) -> Result<(), CheckError> {
        Err(CheckError::new("connection refused"))
    }
    fn healthy_label(&self) -> &'static str {
        "connected"
    }
    fn unhealthy_label(&self) -> &'static str {
        "disconnected"
    }
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn liveness_answers_alive_with_a_timestamp_and_uptime() {
    let router = healthy_app().into_router();
    let (status, body) = probe(&router, "/api/health/live").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "alive");
    let at = chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    assert!(
        (chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 5,
        "{at}"
    );
    assert!(
        body["uptime"]
            .as_f64()
            .is_some_and(|u| (0.0..60.0).contains(&u))
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
}

#[tokio::test]
async fn readiness_answers_ready_with_each_check() {
    let router = healthy_app().into_router();
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    assert!(is_rfc3339(&body["timestamp"]));
    assert_eq!(body["checks"], serde_json::json!({"database": "connected"}));
}

#[tokio::test]
async fn readiness_is_503_naming_the_failing_check() {
    let router = App::new("svc", "1")
        .readiness_check("database", DbDown)
        .readiness_check("queue", || async { Ok::<(), CheckError>(()) })
        .into_router();
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(
        body["checks"],
        serde_json::json!({"database": "disconnected", "queue": "ok"})
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_check_makes_readiness_503_instead_of_hanging() {
    let router = App::new("svc", "1")
        .readiness_check("database", || async {
            std::future::pending::<()>().await;
            Ok::<(), CheckError>(())
        })
        .check_timeout(Duration::from_millis(300))
        .into_router();
    let (status, body) = probe(&router, "/api/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["database"]["status"], "failed");
    assert_eq!(
        body["checks"]["database"]["error"],
        "timed out after 300 ms"
    );
}

#[tokio::test]
async fn readiness_is_503_until_start_up_has_finished_while_liveness_is_200() {
    let mut app = healthy_app();
    let lifecycle = app.lifecycle();
    let router = Router::new().fallback_service(app.assemble());
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "starting");
    assert_eq!(probe(&router, "/api/health/live").await.0, StatusCode::OK);

    lifecycle.set_ready();
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readiness_is_503_shutting_down_once_shutdown_begins_while_liveness_stays_200() {
    let app = healthy_app();
    let lifecycle = app.lifecycle();
    let router = app.into_router();
    lifecycle.begin_shutdown();
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "shutting_down");
    let (status, body) = probe(&router, "/api/health/live").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "alive");
}

#[tokio::test]
async fn combined_health_reports_service_version_uptime_and_check_latency() {
    let router = healthy_app().into_router();
    let (status, body) = probe(&router, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["service"], "crm-app");
    assert_eq!(body["version"], "1.2.3");
    assert!(body["uptime"].is_number());
    assert_eq!(body["checks"]["database"]["status"], "connected");
    assert!(body["checks"]["database"]["latencyMs"].is_number());
    assert!(body["checks"]["database"].get("error").is_none());
}

#[tokio::test]
async fn combined_health_shows_why_a_check_failed() {
    let router = App::new("svc", "1")
        .readiness_check("database", DbDown)
        .into_router();
    let (status, body) = probe(&router, "/api/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["error"], "connection refused");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sqlite_pool_check_reports_connected_then_disconnected_once_closed() {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    let router = App::new("svc", "1")
        .readiness_check("database", super::PoolCheck::new(pool.clone()))
        .check_cache_ttl(Duration::ZERO)
        .into_router();
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["checks"]["database"], "connected");
    pool.close().await;
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["database"], "disconnected");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_pool_check_reports_connected_against_a_real_server() {
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = sqlx::PgPool::connect(&url)
        .await
        .expect("PostgreSQL must be running for the test suite (scripts/test starts it)");
    let router = App::new("svc", "1")
        .readiness_check("database", super::PoolCheck::new(pool.clone()))
        .into_router();
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["checks"]["database"], "connected");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_pool_check_fails_within_the_timeout_when_the_server_is_unreachable() {
    // A port nothing listens on: connecting fails fast or hangs; either way the
    // probe answers 503 within the check timeout, not the pool's 30 s.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy("postgres://postgres@127.0.0.1:1/postgres")
        .unwrap();
    let router = App::new("svc", "1")
        .readiness_check("database", super::PoolCheck::new(pool))
        .check_timeout(Duration::from_millis(500))
        .into_router();
    let started = std::time::Instant::now();
    let (status, body) = probe(&router, "/api/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["database"], "disconnected");
    assert!(started.elapsed() < Duration::from_secs(5));
}
