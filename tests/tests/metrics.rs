//! `/metrics` on the main port by default, or on `METRICS_ADDR` alone.

use std::time::Duration;

use e2e::{Binary, Proc};

#[tokio::test]
async fn metrics_move_to_their_own_listener_when_metrics_addr_is_set() {
    let url = e2e::temp_sqlite_url();
    let (server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("HOST", "127.0.0.1"),
            ("DATABASE_URL", &url),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    );
    let line = server.wait_for_line(
        |l| l.contains("[STARTUP] Metrics on http://"),
        Duration::from_secs(30),
    );
    let start = line.find("http://").unwrap();
    let metrics_url: String = line[start..].split_whitespace().next().unwrap().to_owned();
    assert!(metrics_url.ends_with("/metrics"), "{line}");
    server.wait_for_line(|l| l.contains("Ready in"), Duration::from_secs(30));

    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/api/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "not on the main port"
    );
    let text = client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/health/live",status="2xx"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"db_pool_connections{state="open"}"#),
        "{text}"
    );
    // The process metrics describe the crm-app process itself.
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .parse()
            .unwrap()
    };
    let resident = gauge("process_resident_memory_bytes");
    assert!(
        resident > 1_000_000.0 && resident < 1_000_000_000.0,
        "{resident}"
    );
    assert!(gauge("process_open_fds") >= 3.0);
    assert!(gauge("process_threads") >= 2.0);
    assert!(
        gauge("process_cpu_seconds_total") >= 0.0,
        "present and a number"
    );
}

#[tokio::test]
async fn an_invalid_metrics_addr_stops_the_start() {
    let out = e2e::run_to_end(
        Binary::CrmApp,
        &["check-config"],
        &[("METRICS_ADDR", "everywhere")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.text);
    assert!(out.text.contains("METRICS_ADDR"), "{}", out.text);
}
