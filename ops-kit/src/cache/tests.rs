use std::time::Duration;

use super::*;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn key(name: &str) -> String {
    format!("ops-kit-test:{}:{name}", uuid::Uuid::new_v4())
}

/// Runs one scenario on Redis and on memory.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let cache = super::Cache::redis(&super::redis_url()).unwrap();
                    cache.ping().await.expect("Redis must be running for the test suite (scripts/test starts it)");
                    super::$name(cache).await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Cache::memory()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    counters_count_up_within_their_window,
    a_counter_starts_over_when_its_window_ends,
    values_can_be_set_read_and_deleted,
    missing_keys_have_no_value_and_no_ttl,
    set_if_absent_keeps_a_value_that_is_already_there,
);

async fn set_if_absent_keeps_a_value_that_is_already_there(cache: Cache) {
    let k = key("nx");
    let ttl = Duration::from_secs(30);
    assert!(cache.set_if_absent(&k, "2", ttl).await.unwrap());
    assert!(!cache.set_if_absent(&k, "1", ttl).await.unwrap());
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some("2"));
    assert!(cache.ttl(&k).await.unwrap().unwrap() <= ttl);
    cache.set(&k, "3", ttl).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some("3"));
    cache.delete(&k).await.unwrap();
    assert!(cache.set_if_absent(&k, "4", ttl).await.unwrap());
}

async fn counters_count_up_within_their_window(cache: Cache) {
    let k = key("count");
    for expected in 1..=5 {
        assert_eq!(
            cache.incr(&k, Duration::from_secs(60)).await.unwrap(),
            expected
        );
    }
    let ttl = cache.ttl(&k).await.unwrap().unwrap();
    assert!(ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(50));
    // Later increments do not push the window out.
    assert_eq!(cache.incr(&k, Duration::from_secs(600)).await.unwrap(), 6);
    assert!(cache.ttl(&k).await.unwrap().unwrap() <= Duration::from_secs(60));
}

async fn a_counter_starts_over_when_its_window_ends(cache: Cache) {
    let k = key("window");
    assert_eq!(cache.incr(&k, Duration::from_secs(1)).await.unwrap(), 1);
    assert_eq!(cache.incr(&k, Duration::from_secs(1)).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(cache.incr(&k, Duration::from_secs(1)).await.unwrap(), 1);
}

async fn values_can_be_set_read_and_deleted(cache: Cache) {
    let k = key("value");
    cache
        .set(&k, "walnut", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some("walnut"));
    cache.delete(&k).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), None);
}

async fn missing_keys_have_no_value_and_no_ttl(cache: Cache) {
    let k = key("missing");
    assert_eq!(cache.get(&k).await.unwrap(), None);
    assert_eq!(cache.ttl(&k).await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_and_reads_as_disconnected() {
    // Nothing listens on port 1.
    let cache = Cache::redis("redis://127.0.0.1:1").unwrap();
    let started = std::time::Instant::now();
    assert!(cache.incr("k", Duration::from_secs(1)).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
    let (status, body) = readiness_with(cache).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["cache"], "disconnected");
}

#[tokio::test]
async fn a_live_redis_reads_as_connected() {
    let (status, body) = readiness_with(Cache::redis(&redis_url()).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["cache"], "connected");
}

/// Readiness of an app whose only check is `cache`.
async fn readiness_with(cache: Cache) -> (u16, serde_json::Value) {
    let router = crate::App::new("svc", "1")
        .readiness_check("cache", cache)
        .into_router();
    let response = tower::ServiceExt::oneshot(
        router,
        http::Request::get("/api/health/ready")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    let status = response.status().as_u16();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[test]
fn the_redis_url_is_never_shown() {
    let cache = Cache::redis("redis://:hunter2@127.0.0.1:6379").unwrap();
    assert!(!format!("{cache:?}").contains("hunter2"));
    let err = Cache::redis("not a url with :hunter2").unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
}
