//! Hostile input: schemathesis generates requests from the service's own
//! OpenAPI document (valid and invalid bodies, parameters and headers) and
//! checks every answer: never a 5xx, and always a response the document
//! describes. The run here is short (a few examples per operation); for a
//! longer one, see docs/api.md ("Fuzzing the API").
//!
//! Needs the `st` command of schemathesis (`pip install schemathesis`);
//! `SCHEMATHESIS_BIN` may name it. `scripts/test` installs it.

use std::process::Command;
use std::time::Duration;

use e2e::{Binary, Proc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_get_a_5xx_or_an_undescribed_response() {
    let st = std::env::var("SCHEMATHESIS_BIN").unwrap_or_else(|_| "st".into());
    let version = Command::new(&st).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "schemathesis is required for this test: pip install schemathesis (or set SCHEMATHESIS_BIN)"
    );

    let url = e2e::temp_sqlite_url();
    let (server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[("HOST", "127.0.0.1"), ("DATABASE_URL", &url)],
    );
    server.wait_for_line(|l| l.contains("Ready in"), Duration::from_secs(30));
    let token = e2e::dev_login(&base).await;

    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .args([
                "run",
                &format!("{base}/api/openapi.json"),
                "--header",
                &format!("Authorization: Bearer {token}"),
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--phases",
                "examples,fuzzing",
                "--max-examples",
                "5",
                "--seed",
                "20261125",
                "--workers",
                "2",
            ])
            .env("NO_COLOR", "1")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    let generated: u64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" generated, ")
                .map(|(n, _)| n.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    assert!(
        generated >= 100,
        "schemathesis sent {generated} requests:\n{text}"
    );
    assert!(!text.contains("Server error"), "{text}");
}
