//! Row-Level Security on PostgreSQL: with the service connected as an
//! ordinary role (not a superuser, not BYPASSRLS), a query sees only the
//! tenant its transaction is scoped to, and nothing without one.

use axum::body::Body;
use crm_app::config::Config;
use http::Request;
use http_body_util::BodyExt;
use ops_kit::config::Env;
use ops_kit::sql::Pool;
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

/// The grants docs/tenancy.md gives the application's role.
const GRANTS: &str = "
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, refresh_tokens, user_logins TO {role};
GRANT SELECT, INSERT ON audit_logs TO {role};
GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO {role};
";

async fn register(router: &axum::Router, email: &str) -> Value {
    let body = json!({"tenantName": "Shop", "name": "Owner", "email": email, "password": "dovetail-joint"});
    let response = router
        .clone()
        .oneshot(
            Request::post("/api/auth/register")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn row_level_security_shows_one_tenant_per_transaction_and_nothing_without_one() {
    let mut db = TestDb::postgres().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    // The service, connected as an ordinary role.
    let app_pool = db.pool_as_new_role(GRANTS).await;
    let config = Config::load(&Env::from_pairs([(
        "JWT_SECRET",
        "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)",
    )]))
    .unwrap();
    let router = crm_app::build(&config, app_pool.clone()).into_router();
    let a = register(&router, "ada@example.com").await;
    let b = register(&router, "bea@example.com").await;
    let tenant_a: Uuid = a["user"]["tenantId"].as_str().unwrap().parse().unwrap();
    let tenant_b: Uuid = b["user"]["tenantId"].as_str().unwrap().parse().unwrap();

    let Pool::Postgres(app) = &app_pool else {
        unreachable!()
    };
    // Fail closed: no tenant setting, no rows.
    for table in ["tenants", "users", "refresh_tokens"] {
        let visible: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(app)
            .await
            .unwrap();
        assert_eq!(visible, 0, "{table} is invisible without a tenant");
    }

    // Scoped to A: A's rows only, and B's rows cannot be written.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant_a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(emails, ["ada@example.com"]);
    let forged = sqlx::query(
        "INSERT INTO users (tenant_id, id, email, name, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, 'eve@example.com', 'Eve', 'x', 'admin', now(), now())",
    )
    .bind(tenant_b)
    .bind(Uuid::new_v4())
    .execute(&mut *tx)
    .await;
    assert!(
        forged
            .unwrap_err()
            .to_string()
            .contains("row-level security")
    );
    drop(tx);

    // The setting does not outlive its transaction on the pooled connection.
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(app)
        .await
        .unwrap();
    assert_eq!(after, 0);

    app_pool.close().await;
    db.drop_db().await;
}

async fn post(router: &axum::Router, path: &str, body: Value) -> (u16, Value) {
    let response = router
        .clone()
        .oneshot(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn count(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_audit_tables_and_user_logins_show_nothing_without_a_tenant_and_keep_working() {
    let mut db = TestDb::postgres().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    let app_pool = db.pool_as_new_role(GRANTS).await;
    let config = Config::load(&Env::from_pairs([(
        "JWT_SECRET",
        "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)",
    )]))
    .unwrap();
    let router = crm_app::build(&config, app_pool.clone()).into_router();
    let a = register(&router, "ada@example.com").await;
    register(&router, "bea@example.com").await;
    let tenant_a: Uuid = a["user"]["tenantId"].as_str().unwrap().parse().unwrap();
    // Entries in three chains, all written as the service's role: A's and
    // B's sign-ins, and a failed one for an address without an account.
    for (email, password, status) in [
        ("ada@example.com", "dovetail-joint", 200),
        ("bea@example.com", "dovetail-joint", 200),
        ("nobody@example.com", "dovetail-joint", 401),
    ] {
        let (got, body) = post(
            &router,
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
        assert_eq!(got, status, "{body}");
    }

    let Pool::Postgres(app) = &app_pool else {
        unreachable!()
    };
    // Fail closed: no tenant, no rows.
    for table in ["audit_logs", "audit_chain_heads", "user_logins"] {
        assert_eq!(
            count(app, table).await,
            0,
            "{table} is invisible without a tenant"
        );
    }
    // Scoped to A: A's rows only.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant_a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let keys: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_key FROM audit_logs")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(keys, [tenant_a.to_string()]);
    let logins: Vec<String> = sqlx::query_scalar("SELECT email FROM user_logins")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(logins, ["ada@example.com"]);
    // Another tenant's chain cannot be written.
    let forged = sqlx::query(
        "INSERT INTO audit_chain_heads (tenant_key, seq, prev_hash, last_hash) VALUES ($1, 1, '\\x00', '\\x00')",
    )
    .bind(Uuid::new_v4().to_string())
    .execute(&mut *tx)
    .await;
    assert!(
        forged
            .unwrap_err()
            .to_string()
            .contains("row-level security")
    );
    drop(tx);
    // A login lookup sees the address it names, and nothing else.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.login_email', 'bea@example.com', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let logins: Vec<String> = sqlx::query_scalar("SELECT email FROM user_logins")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(logins, ["bea@example.com"]);
    drop(tx);

    // The audit read path runs in the tenant's transaction.
    let request = Request::get("/api/audit-logs")
        .header(
            "authorization",
            format!("Bearer {}", a["accessToken"].as_str().unwrap()),
        )
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let page: Value = serde_json::from_slice(&bytes).unwrap();
    let actions: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["auth.login"]);

    // The service's role verifies one tenant's chain…
    let report = ops_kit::audit::verify(&app_pool, Some(tenant_a))
        .await
        .unwrap();
    assert!(report.is_intact());
    assert_eq!((report.chains, report.entries), (1, 1));
    // …but sees no chain to check across tenants: that is the owner's job.
    let report = ops_kit::audit::verify(&app_pool, None).await.unwrap();
    assert_eq!((report.chains, report.entries), (0, 0));
    let owner_pool = db
        .pool_as_new_role(
            "ALTER TABLE audit_logs OWNER TO {role}; ALTER TABLE audit_chain_heads OWNER TO {role};",
        )
        .await;
    let report = ops_kit::audit::verify(&owner_pool, None).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!((report.chains, report.entries), (3, 3));

    owner_pool.close().await;
    app_pool.close().await;
    db.drop_db().await;
}
