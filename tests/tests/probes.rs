//! The probes, request ids and the `[METRICS]` line of the real crm-app binary.

use std::time::Duration;

use e2e::{Binary, Proc, temp_sqlite_url};
use serde_json::Value;

async fn get_json(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::get(url).await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.expect("a JSON body");
    (status, headers, body)
}

#[tokio::test]
async fn crm_app_serves_the_three_probes_on_its_embedded_database() {
    let db = temp_sqlite_url();
    let (_app, base) = Proc::start_listening(Binary::CrmApp, &[("DATABASE_URL", &db)]);

    let (status, _, live) = get_json(&format!("{base}/api/health/live")).await;
    assert_eq!(status, 200);
    assert_eq!(live["status"], "alive");
    assert!(live["uptime"].is_number());
    assert!(live["timestamp"].is_string());

    // Start-up (the first database connection) is quick but asynchronous.
    let mut ready = (0, Value::Null);
    for _ in 0..100 {
        let (status, _, body) = get_json(&format!("{base}/api/health/ready")).await;
        ready = (status, body);
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert_eq!(ready.1["status"], "ready");
    assert_eq!(ready.1["checks"]["database"], "connected");

    let (status, _, health) = get_json(&format!("{base}/api/health")).await;
    assert_eq!(status, 200);
    assert_eq!(health["service"], "crm-app");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["checks"]["database"]["status"], "connected");
}

#[tokio::test]
async fn crm_app_echoes_request_ids_and_logs_one_metrics_line_per_request() {
    let db = temp_sqlite_url();
    let (app, base) = Proc::start_listening(Binary::CrmApp, &[("DATABASE_URL", &db)]);
    let client = reqwest::Client::new();

    let kept = client
        .get(format!("{base}/api/health/live"))
        .header("x-request-id", "e2e-kept-1")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "e2e-kept-1");

    let replaced = client
        .get(format!("{base}/api/health/live?password=hunter2"))
        .header("x-request-id", "two words")
        .send()
        .await
        .unwrap();
    let fresh = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, "two words");
    assert_eq!(fresh.len(), 36);

    let missing = client.get(format!("{base}/api/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let missing_id = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["requestId"], missing_id.as_str());
    assert!(body["error"].is_string());

    let line = app.wait_for_line(
        |l| l.contains("requestId=e2e-kept-1"),
        Duration::from_secs(5),
    );
    assert!(
        line.starts_with("[METRICS] requestId=e2e-kept-1 request_duration_ms="),
        "{line}"
    );
    assert!(
        line.contains(" method=GET path=/api/health/live status=200"),
        "{line}"
    );

    let line = app.wait_for_line(
        |l| l.contains(&format!("requestId={fresh}")),
        Duration::from_secs(5),
    );
    assert!(line.contains("path=/api/health/live status=200"), "{line}");
    assert!(!app.lines().iter().any(|l| l.contains("hunter2")));

    let line = app.wait_for_line(
        |l| l.contains(&format!("requestId={missing_id}")),
        Duration::from_secs(5),
    );
    assert!(line.contains("path=/api/nope status=404"), "{line}");
}

#[tokio::test]
async fn crm_app_logs_json_lines_with_the_same_fields_when_asked() {
    let db = temp_sqlite_url();
    let (app, base) = Proc::start_listening(
        Binary::CrmApp,
        &[("DATABASE_URL", &db), ("LOG_FORMAT", "json")],
    );
    reqwest::Client::new()
        .get(format!("{base}/api/health/live"))
        .header("x-request-id", "json-1")
        .send()
        .await
        .unwrap();
    let line = app.wait_for_line(|l| l.contains("\"json-1\""), Duration::from_secs(5));
    let value: Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(value["message"], "[METRICS]");
    assert_eq!(value["requestId"], "json-1");
    assert_eq!(value["method"], "GET");
    assert_eq!(value["path"], "/api/health/live");
    assert_eq!(value["status"], 200);
    assert!(value["request_duration_ms"].is_number());
    for line in app.lines() {
        serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|_| panic!("every line is JSON: {line}"));
    }
}
