//! The audited example service, as a newcomer runs it: make changes, then
//! read the audit rows and check the chain.

use std::time::Duration;

use e2e::{Binary, Proc, temp_sqlite_url};
use serde_json::{Value, json};

async fn wait_ready(base: &str) {
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{base}/api/health/ready")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the example never became ready");
}

#[tokio::test]
async fn the_audited_example_records_changes_with_secrets_redacted_and_a_verified_chain() {
    let db = temp_sqlite_url();
    let (_app, base) = Proc::start_listening(Binary::Audited, &[("DATABASE_URL", &db)]);
    wait_ready(&base).await;
    let client = reqwest::Client::new();

    let created: Value = client
        .post(format!("{base}/api/notes"))
        .header("x-request-id", "example-1")
        .json(&json!({"text": "Measure the pantry", "password": "hunter2"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let updated = client
        .patch(format!("{base}/api/notes/{id}"))
        .json(&json!({"text": "Measured: 612 mm deep"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);

    // A failed change records nothing.
    let missing = client
        .patch(format!("{base}/api/notes/no-such-note"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let logs: Value = reqwest::get(format!("{base}/api/audit-logs"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = logs["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{logs}");
    assert_eq!(entries[0]["action"], "note.update");
    assert_eq!(entries[0]["resourceId"], id.as_str());
    assert_eq!(entries[1]["action"], "note.create");
    assert_eq!(entries[1]["requestId"], "example-1");
    assert_eq!(entries[1]["changes"]["password"], "[REDACTED]");
    assert_eq!(entries[1]["ipAddress"], "127.0.0.1");
    assert!(!logs.to_string().contains("hunter2"));

    let verify: Value = reqwest::get(format!("{base}/api/audit-logs/verify"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        verify,
        json!({"intact": true, "chains": 1, "entries": 2, "brokenLink": null})
    );
}
