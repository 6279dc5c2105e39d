//! Graceful shutdown of real processes under real signals.

use std::time::Duration;

use e2e::{Binary, Proc, temp_sqlite_url};

const RUNBOOK_SEQUENCE: [&str; 7] = [
    "[SHUTDOWN] Received SIGTERM, starting graceful shutdown...",
    "[SHUTDOWN] Closing HTTP server...",
    "[SHUTDOWN] HTTP server closed",
    "[SHUTDOWN] Running cleanup handlers...",
    "[SHUTDOWN] Closing database pool...",
    "[SHUTDOWN] Database pool closed",
    "[SHUTDOWN] Graceful shutdown complete",
];

fn shutdown_lines(proc: &Proc) -> Vec<String> {
    proc.lines()
        .into_iter()
        .filter(|l| l.starts_with("[SHUTDOWN"))
        .collect()
}

#[tokio::test]
async fn crm_app_on_sigterm_prints_the_runbook_sequence_closes_its_pool_and_exits_0() {
    let db = temp_sqlite_url();
    let (mut app, _base) = Proc::start_listening(Binary::CrmApp, &[("DATABASE_URL", &db)]);
    app.wait_for_line(
        |l| l.starts_with("[STARTUP] Ready"),
        Duration::from_secs(10),
    );
    app.signal("TERM");
    let status = app.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert_eq!(shutdown_lines(&app), RUNBOOK_SEQUENCE);
}

// Multi-threaded: the test blocks on the process's output while the
// request runs on another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_an_in_flight_request_which_gets_its_200() {
    let (mut app, base) = Proc::start_listening(Binary::Hello, &[]);
    let slow = tokio::spawn(async move {
        let response = reqwest::get(format!("{base}/api/slow?ms=1500"))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    });
    // The request is in flight once its handler has started.
    app.wait_for_line(
        |l| l.contains("slow request started"),
        Duration::from_secs(10),
    );
    app.signal("TERM");
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"sleptMs":1500}"#);
    assert_eq!(app.wait_exit(Duration::from_secs(30)).code(), Some(0));
    let lines = shutdown_lines(&app);
    assert_eq!(lines.first().unwrap(), RUNBOOK_SEQUENCE[0]);
    assert_eq!(
        lines.last().unwrap(),
        "[SHUTDOWN] Graceful shutdown complete"
    );
    // The request finished before the server reported itself closed.
    let all = app.lines();
    let metrics = all
        .iter()
        .position(|l| l.contains("path=/api/slow status=200"))
        .unwrap();
    let closed = all
        .iter()
        .position(|l| l == "[SHUTDOWN] HTTP server closed")
        .unwrap();
    assert!(metrics < closed);
}

#[tokio::test]
async fn readiness_is_503_during_the_pre_stop_delay_while_the_server_keeps_serving() {
    let (mut app, base) = Proc::start_listening(Binary::Hello, &[("SHUTDOWN_DELAY_SECS", "3")]);
    let ready = reqwest::get(format!("{base}/api/health/ready"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    app.signal("TERM");
    app.wait_for_line(|l| l.contains("pre-stop delay"), Duration::from_secs(5));

    let ready = reqwest::get(format!("{base}/api/health/ready"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "shutting_down");
    let live = reqwest::get(format!("{base}/api/health/live"))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let hello = reqwest::get(format!("{base}/api/hello")).await.unwrap();
    assert_eq!(hello.status(), 200);

    assert_eq!(app.wait_exit(Duration::from_secs(30)).code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_past_the_shutdown_timeout_logs_the_stuck_request_and_exits_1() {
    let (mut app, base) = Proc::start_listening(Binary::Hello, &[("SHUTDOWN_TIMEOUT_SECS", "1")]);
    let client = reqwest::Client::new();
    let stuck = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .get(format!("{base}/api/slow?ms=20000"))
                .header("x-request-id", "stuck-1")
                .send()
                .await
        }
    });
    app.wait_for_line(
        |l| l.contains("slow request started"),
        Duration::from_secs(10),
    );
    app.signal("TERM");
    assert_eq!(app.wait_exit(Duration::from_secs(15)).code(), Some(1));
    let lines = app.lines();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "[SHUTDOWN ERROR] Timed out after 1000 ms waiting for 1 in-flight request(s)"
        )),
        "{}",
        lines.join("\n")
    );
    assert!(lines.iter().any(
        |l| l.starts_with("[SHUTDOWN ERROR] Abandoned in-flight request")
            && l.contains("requestId=stuck-1")
            && l.contains("path=/api/slow")
    ));
    assert!(
        !lines
            .iter()
            .any(|l| l == "[SHUTDOWN] Graceful shutdown complete")
    );
    // The client sees its connection end rather than a reply.
    assert!(stuck.await.unwrap().is_err());
}

#[tokio::test]
async fn a_second_signal_during_shutdown_exits_at_once_with_status_1() {
    let (mut app, _base) = Proc::start_listening(Binary::Hello, &[("SHUTDOWN_DELAY_SECS", "30")]);
    app.signal("TERM");
    app.wait_for_line(|l| l.contains("pre-stop delay"), Duration::from_secs(5));
    app.signal("INT");
    assert_eq!(app.wait_exit(Duration::from_secs(10)).code(), Some(1));
    assert!(
        app.lines()
            .iter()
            .any(|l| l == "[SHUTDOWN] Received SIGINT during shutdown, exiting immediately")
    );
}
