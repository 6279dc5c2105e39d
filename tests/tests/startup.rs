//! Start-up configuration validation of the real crm-app binary.

use std::time::Duration;

use e2e::{Binary, Proc, port_is_open};

const STRONG: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts crm-app in production with `env` and asserts it refuses to start:
/// exit status 1, the given FATAL lines, the abort line, and no listener.
fn assert_refuses(env: &[(&str, &str)], fatal: &[&str]) -> Vec<String> {
    let port = free_port().to_string();
    let mut all = vec![
        ("APP_ENV", "production"),
        ("HOST", "127.0.0.1"),
        ("PORT", port.as_str()),
    ];
    all.extend_from_slice(env);
    let mut app = Proc::start(Binary::CrmApp, &all);
    let status = app.wait_exit(Duration::from_secs(30));
    let lines = app.lines();
    assert_eq!(
        status.code(),
        Some(1),
        "exit status; output:\n{}",
        lines.join("\n")
    );
    for message in fatal {
        let expected = format!("[STARTUP ERROR] FATAL: {message}");
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in:\n{}",
            lines.join("\n")
        );
    }
    assert_eq!(
        lines.last().map(String::as_str),
        Some("[STARTUP] Aborting due to critical configuration errors")
    );
    assert!(!lines.iter().any(|l| l.contains("Listening")));
    assert!(!port_is_open(&format!("127.0.0.1:{port}")));
    lines
}

#[test]
fn production_without_a_jwt_secret_exits_1_before_binding() {
    assert_refuses(
        &[("DATABASE_URL", "postgres://app@127.0.0.1/crm")],
        &["JWT_SECRET is required in production"],
    );
}

#[test]
fn production_with_a_short_jwt_secret_exits_1_without_printing_it() {
    let lines = assert_refuses(
        &[
            ("DATABASE_URL", "postgres://app@127.0.0.1/crm"),
            ("JWT_SECRET", "Zq8#kL2!"),
        ],
        &["JWT_SECRET must be at least 32 characters in production"],
    );
    assert!(!lines.iter().any(|l| l.contains("Zq8#kL2!")));
}

#[test]
fn production_with_a_placeholder_jwt_secret_exits_1() {
    let weak = "your-super-secret-jwt-key-change-in-production";
    let lines = assert_refuses(
        &[
            ("DATABASE_URL", "postgres://app@127.0.0.1/crm"),
            ("JWT_SECRET", weak),
        ],
        &["JWT_SECRET is too weak: it contains a well-known placeholder in production"],
    );
    assert!(!lines.iter().any(|l| l.contains(weak)));
}

#[test]
fn production_with_a_low_variety_jwt_secret_exits_1() {
    assert_refuses(
        &[
            ("DATABASE_URL", "postgres://app@127.0.0.1/crm"),
            ("JWT_SECRET", "abcabcabcabcabcabcabcabcabcabcabcabc"),
        ],
        &["JWT_SECRET is too weak: it has fewer than 8 distinct characters in production"],
    );
}

#[test]
fn production_with_auth_bypass_flags_exits_1_listing_every_error() {
    assert_refuses(
        &[
            ("JWT_SECRET", STRONG),
            ("BYPASS_AUTH", "true"),
            ("VITE_BYPASS_AUTH", "true"),
        ],
        &[
            "DATABASE_URL is required in production",
            "BYPASS_AUTH must not be true in production",
            "VITE_BYPASS_AUTH must not be true in production",
        ],
    );
}

#[test]
fn development_starts_with_warnings_and_reports_validation_passed() {
    let db = e2e::temp_sqlite_url();
    let (app, _) = Proc::start_listening(Binary::CrmApp, &[("DATABASE_URL", &db)]);
    let lines = app.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[STARTUP] WARNING: JWT_SECRET is not set"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[STARTUP] WARNING: REDIS_URL is not set"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[STARTUP] Configuration validation passed"))
    );
}
