//! crm-app in production mode on PostgreSQL and Redis: nothing is seeded,
//! and two instances sharing the database and the cache act as one service.

use std::time::Duration;

use e2e::{Binary, Proc};
use ops_kit::testing::TestDb;
use serde_json::{Value, json};

const SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn start(db: &TestDb) -> (Proc, String) {
    let redis = redis_url();
    Proc::start_listening(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", &db.url),
            ("REDIS_URL", &redis),
        ],
    )
}

async fn wait_ready(base: &str) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/api/health/ready")).await
            && r.status() == 200
        {
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                body["checks"],
                json!({"database": "connected", "cache": "connected"})
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became ready");
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn production_seeds_nothing_and_two_instances_share_tokens_and_login_limits() {
    // Login attempts are counted in the shared Redis across test runs:
    // start this test's windows afresh.
    let throttle =
        crm_app::auth::throttle::Throttle::new(ops_kit::cache::Cache::redis(&redis_url()).unwrap());
    throttle
        .reset("admin@cutlist.pro", Some([127, 0, 0, 1].into()))
        .await
        .expect("Redis must be running for the test suite (scripts/test starts it)");
    let db = TestDb::postgres().await;
    let (a, base_a) = start(&db);
    wait_ready(&base_a).await;
    let (b, base_b) = start(&db);
    wait_ready(&base_b).await;

    // No dev admin in production.
    let (status, _) = post(
        &base_a,
        "/api/auth/login",
        json!({"email": "admin@cutlist.pro", "password": "admin123"}),
    )
    .await;
    assert_eq!(status, 401);
    assert!(!a.lines().iter().any(|l| l.contains("Seeded")));

    // A token issued by one instance works on the other.
    let email = format!("ada-{}@example.com", uuid::Uuid::new_v4().simple());
    let (status, session) = post(
        &base_a,
        "/api/auth/register",
        json!({"tenantName": "Walnut Works", "name": "Ada", "email": email, "password": "dovetail-joint"}),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let me = reqwest::Client::new()
        .get(format!("{base_b}/api/auth/me"))
        .bearer_auth(session["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let (status, _) = post(
        &base_b,
        "/api/auth/refresh",
        json!({"refreshToken": session["refreshToken"]}),
    )
    .await;
    assert_eq!(status, 200);

    // Failed logins count across both instances: 3 on A and 2 on B use up
    // the 5 allowed, so the next attempt is refused on either.
    for (base, times) in [(&base_a, 3), (&base_b, 2)] {
        for _ in 0..times {
            let (status, _) = post(
                base,
                "/api/auth/login",
                json!({"email": email, "password": "wrong-password"}),
            )
            .await;
            assert_eq!(status, 401);
        }
    }
    for base in [&base_a, &base_b] {
        let (status, body) = post(
            base,
            "/api/auth/login",
            json!({"email": email, "password": "dovetail-joint"}),
        )
        .await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["code"], "too_many_attempts");
    }

    drop((a, b));
    db.drop_db().await;
}

/// The grants docs/tenancy.md gives the service's role.
fn grants() -> String {
    crm_app::grants::statements("{role}")
}

/// A release whose migration adds a table the service's role was not
/// granted stops at start-up and says what to grant, instead of failing
/// every request that touches the table.
#[tokio::test]
async fn a_role_without_a_new_tables_grants_stops_the_service_at_start_up_naming_them() {
    let mut db = TestDb::postgres().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    let role_url = db
        .new_role(&grants().replace(" lead_pipeline_totals,", ""))
        .await;
    let mut app = Proc::start(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", &role_url),
            ("MIGRATION_DATABASE_URL", &db.url),
            ("REDIS_URL", &redis_url()),
        ],
    );
    let status = app.wait_exit(Duration::from_secs(30));
    let lines = app.lines();
    assert_eq!(status.code(), Some(1), "{}", lines.join("\n"));
    let expected = "[STARTUP ERROR] FATAL: start-up failed: the database role lacks SELECT on lead_pipeline_totals, \
                    INSERT on lead_pipeline_totals, UPDATE on lead_pipeline_totals, \
                    DELETE on lead_pipeline_totals (see the grants in docs/tenancy.md)";
    assert!(
        lines.iter().any(|l| l == expected),
        "missing {expected:?} in:\n{}",
        lines.join("\n")
    );
    db.drop_db().await;
}

#[tokio::test]
async fn the_service_runs_as_a_role_that_cannot_change_the_schema_while_the_owner_migrates() {
    let mut db = TestDb::postgres().await;
    // The schema exists before the grants, as after a first deployment.
    crm_app::migrate::run(&db.pool).await.unwrap();
    let role_url = db.new_role(&grants()).await;
    let redis = redis_url();
    let (app, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", &role_url),
            ("MIGRATION_DATABASE_URL", &db.url),
            ("REDIS_URL", &redis),
        ],
    );
    wait_ready(&base).await;
    let email = format!("ada-{}@example.com", uuid::Uuid::new_v4().simple());
    let (status, body) = post(
        &base,
        "/api/auth/register",
        json!({"tenantName": "Walnut Works", "name": "Ada", "email": email, "password": "dovetail-joint"}),
    )
    .await;
    assert_eq!(status, 201, "{body}\n{}", app.lines().join("\n"));
    drop(app);
    db.drop_db().await;
}
