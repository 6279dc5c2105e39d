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
