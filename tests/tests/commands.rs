//! The operator commands of crm-app, run as the real binary:
//! `check-config`, `migrate`, `verify-audit`, and `--help`.

use std::time::Duration;

use e2e::{Binary, Proc, run_to_end};
use ops_kit::on_backend;
use ops_kit::sql::Pool;
use serde_json::json;

#[test]
fn help_lists_every_command_and_its_options() {
    let out = run_to_end(Binary::CrmApp, &["--help"], &[]);
    assert!(out.status.success(), "{}", out.text);
    for command in ["serve", "migrate", "check-config", "verify-audit"] {
        assert!(out.text.contains(command), "{command} in {}", out.text);
    }
    let out = run_to_end(Binary::CrmApp, &["verify-audit", "--help"], &[]);
    assert!(
        out.status.success() && out.text.contains("--tenant"),
        "{}",
        out.text
    );
    let out = run_to_end(Binary::CrmApp, &["launch"], &[]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", out.text);
}

#[test]
fn check_config_prints_the_verdict_without_starting() {
    let out = run_to_end(Binary::CrmApp, &["check-config"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", out.text);
    assert!(
        out.text
            .contains("configuration is valid (development mode)"),
        "{}",
        out.text
    );
    assert!(!out.text.contains("Listening on"), "{}", out.text);
    let out = run_to_end(
        Binary::CrmApp,
        &["check-config"],
        &[("APP_ENV", "production")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.text);
    assert!(
        out.text.contains("JWT_SECRET") && out.text.contains("configuration is invalid"),
        "{}",
        out.text
    );
}

#[tokio::test]
async fn migrate_prepares_the_schema_and_verify_audit_finds_a_tampered_entry() {
    let url = e2e::temp_sqlite_url();
    let env = [("DATABASE_URL", url.as_str())];
    // No command creates a database; an empty file is an empty one.
    std::fs::File::create(url.trim_start_matches("sqlite://")).unwrap();
    for _ in 0..2 {
        let out = run_to_end(Binary::CrmApp, &["migrate"], &env);
        assert_eq!(out.status.code(), Some(0), "{}", out.text);
        assert!(out.text.contains("migrations applied"), "{}", out.text);
    }

    // The service writes an audited change.
    let (mut server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[("HOST", "127.0.0.1"), ("DATABASE_URL", &url)],
    );
    let client = reqwest::Client::new();
    let token = &e2e::dev_login(&base).await;
    let r = client
        .post(format!("{base}/api/crm/leads"))
        .bearer_auth(token)
        .json(&json!({"name": "Ana Ruiz", "projectType": "kitchen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(10)).success());

    // The demo tenant's chain holds the sign-in and the change; the
    // sign-ins tried before the seed was in place are in the chain
    // without a tenant (how many depends on timing).
    let out = run_to_end(Binary::CrmApp, &["verify-audit"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", out.text);
    assert!(out.text.contains("audit trail intact"), "{}", out.text);
    let demo = crm_app::seed::DEMO_TENANT_ID.to_string();
    let out = run_to_end(Binary::CrmApp, &["verify-audit", "--tenant", &demo], &env);
    assert_eq!(out.status.code(), Some(0), "{}", out.text);
    assert!(
        out.text
            .contains("audit trail intact: 1 chain(s), 2 entries"),
        "{}",
        out.text
    );
    let other = uuid::Uuid::new_v4().to_string();
    let out = run_to_end(Binary::CrmApp, &["verify-audit", "--tenant", &other], &env);
    assert!(out.text.contains("0 chain(s), 0 entries"), "{}", out.text);

    // Someone with the file rewrites history.
    let pool = Pool::connect_lazy(&url).unwrap();
    let mut tx = pool.begin().await.unwrap();
    on_backend!(&mut tx, conn => {
        sqlx::query("DROP TRIGGER audit_logs_no_update").execute(&mut **conn).await.unwrap();
        sqlx::query("UPDATE audit_logs SET action = 'lead.delete'").execute(&mut **conn).await.unwrap();
    });
    tx.commit().await.unwrap();
    pool.close().await;
    let out = run_to_end(Binary::CrmApp, &["verify-audit"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", out.text);
    assert!(out.text.contains("audit trail BROKEN"), "{}", out.text);
}

#[test]
fn migrate_reports_an_unreachable_database_with_status_1() {
    let out = run_to_end(
        Binary::CrmApp,
        &["migrate"],
        &[(
            "DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none?connect_timeout=1",
        )],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.text);
    assert!(out.text.contains("migration failed"), "{}", out.text);
    assert!(!out.text.contains("nobody@"), "the URL is not shown");
}

#[test]
fn operator_commands_refuse_a_missing_sqlite_file_and_create_nothing() {
    let url = e2e::temp_sqlite_url();
    let dir = std::path::PathBuf::from(url.trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_path_buf();
    // A mistyped directory and file name.
    let missing = dir.join("typo").join("crm.dbb");
    let missing_url = format!("sqlite://{}", missing.display());
    for args in [
        &["verify-audit"][..],
        &[
            "verify-audit",
            "--tenant",
            &uuid::Uuid::new_v4().to_string(),
        ],
        &["migrate"],
    ] {
        let out = run_to_end(
            Binary::CrmApp,
            args,
            &[("DATABASE_URL", missing_url.as_str())],
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.text);
        assert!(
            out.text.contains(&format!(
                "the SQLite database {} does not exist",
                missing.display()
            )),
            "{args:?} names the path: {}",
            out.text
        );
        assert!(!missing.exists(), "{args:?} left no file behind");
        assert!(
            !dir.join("typo").exists(),
            "{args:?} left no directory behind"
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing at all was created"
    );
}
