//! Tenancy: another tenant's ids answer 404 on every route; on PostgreSQL,
//! Row-Level Security shows a query only the tenant its transaction is
//! scoped to (and nothing without one) with the service connected as an
//! ordinary role (not a superuser, not BYPASSRLS); and the start-up
//! privilege check agrees with the grants docs/tenancy.md gives that role.

mod common;

use common::{Harness, on_both_databases};
use crm_app::grants::{self, CheckError};
use http::StatusCode;
use ops_kit::sql::Pool;
use ops_kit::testing::TestDb;
use serde_json::json;
use uuid::Uuid;

on_both_databases!(another_tenants_ids_answer_404_on_every_route,);

async fn another_tenants_ids_answer_404_on_every_route(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bea = h.tenant("bea@birch.test").await;
    let lead = h
        .lead(
            &ada,
            json!({"name": "Ana", "externalId": "x-1", "email": "ana@example.com"}),
        )
        .await;
    let id = lead["id"].as_str().unwrap();
    let activity = h
        .post(
            "/api/crm/activities",
            &ada,
            json!({"leadId": id, "type": "note", "subject": "n"}),
        )
        .await
        .body;
    let aid = activity["id"].as_str().unwrap();
    let routes = [
        ("GET", format!("/api/crm/leads/{id}"), None),
        (
            "PATCH",
            format!("/api/crm/leads/{id}"),
            Some(json!({"name": "Stolen"})),
        ),
        ("DELETE", format!("/api/crm/leads/{id}"), None),
        (
            "POST",
            format!("/api/crm/leads/{id}/restore"),
            Some(json!({})),
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{id}/status"),
            Some(json!({"status": "contacted"})),
        ),
        ("GET", format!("/api/crm/leads/{id}/timeline"), None),
        ("GET", format!("/api/crm/activities/{aid}"), None),
        (
            "PATCH",
            format!("/api/crm/activities/{aid}"),
            Some(json!({"subject": "Stolen"})),
        ),
        ("DELETE", format!("/api/crm/activities/{aid}"), None),
        (
            "POST",
            format!("/api/crm/activities/{aid}/restore"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in routes {
        let r = h.send(method, &path, &bea, body, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {r:?}");
        assert_eq!(r.body["code"], "not_found");
    }
    // Lists, summaries and the audit log show only the caller's tenant.
    assert_eq!(
        h.get("/api/crm/leads?deleted=include", &bea).await.body["data"],
        json!([])
    );
    assert_eq!(
        h.get("/api/crm/activities?deleted=include", &bea)
            .await
            .body["data"],
        json!([])
    );
    assert_eq!(
        h.get(&format!("/api/crm/activities?leadId={id}"), &bea)
            .await
            .body["data"],
        json!([])
    );
    let summary = h.get("/api/crm/leads/summary", &bea).await.body;
    assert!(
        summary["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["count"] == 0)
    );
    assert!(h.audit(&bea, "").await.is_empty());
    // Another tenant's lead, user or key cannot be used to write either.
    let r = h
        .post(
            "/api/crm/activities",
            &bea,
            json!({"leadId": id, "type": "note", "subject": "n"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .post(
            "/api/crm/leads",
            &bea,
            json!({"name": "Mine", "ownerUserId": ada.id}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ownerUserId"))
    );
    // The same id, externalId and email in another tenant make a lead of its own.
    let r = h
        .post(
            "/api/crm/leads",
            &bea,
            json!({"id": id, "name": "Bea's", "externalId": "x-1", "email": "ana@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = h.get(&format!("/api/crm/leads/{id}"), &ada).await;
    assert_eq!(
        (r.body["name"].as_str(), r.body["version"].as_i64()),
        (Some("Ana"), Some(1))
    );
}

/// The grants docs/tenancy.md gives the application's role.
const GRANTS: &str = "
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, refresh_tokens, user_logins TO {role};
GRANT SELECT, INSERT ON audit_logs TO {role};
GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO {role};
";

#[tokio::test]
async fn row_level_security_shows_one_tenant_per_transaction_and_nothing_without_one() {
    // The service, connected as an ordinary role.
    let h = Harness::start_as(TestDb::postgres().await, GRANTS, &[]).await;
    let a = h.register("ada@example.com").await;
    let b = h.register("bea@example.com").await;
    let tenant_a: Uuid = a["user"]["tenantId"].as_str().unwrap().parse().unwrap();
    let tenant_b: Uuid = b["user"]["tenantId"].as_str().unwrap().parse().unwrap();

    let Pool::Postgres(app) = &h.pool else {
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

    h.finish().await;
}

async fn count(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_audit_tables_and_user_logins_show_nothing_without_a_tenant_and_keep_working() {
    let mut h = Harness::start_as(TestDb::postgres().await, GRANTS, &[]).await;
    let a = h.register("ada@example.com").await;
    h.register("bea@example.com").await;
    let tenant_a: Uuid = a["user"]["tenantId"].as_str().unwrap().parse().unwrap();
    // Entries in three chains, all written as the service's role: A's and
    // B's sign-ins, and a failed one for an address without an account.
    for (email, password, status) in [
        ("ada@example.com", "dovetail-joint", 200),
        ("bea@example.com", "dovetail-joint", 200),
        ("nobody@example.com", "dovetail-joint", 401),
    ] {
        let (got, body) = h.login(email, password).await;
        assert_eq!(got, status, "{body}");
    }

    let Pool::Postgres(app) = &h.pool else {
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
    let (status, page) = h
        .call("GET", "/api/audit-logs", a["accessToken"].as_str(), None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["auth.login"]);

    // The service's role verifies one tenant's chain…
    let report = ops_kit::audit::verify(&h.pool, Some(tenant_a))
        .await
        .unwrap();
    assert!(report.is_intact());
    assert_eq!((report.chains, report.entries), (1, 1));
    // …but sees no chain to check across tenants: that is the owner's job.
    let report = ops_kit::audit::verify(&h.pool, None).await.unwrap();
    assert_eq!((report.chains, report.entries), (0, 0));
    let owner_pool = h
        .db
        .pool_as_new_role(
            "ALTER TABLE audit_logs OWNER TO {role}; ALTER TABLE audit_chain_heads OWNER TO {role};",
        )
        .await;
    let report = ops_kit::audit::verify(&owner_pool, None).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!((report.chains, report.entries), (3, 3));

    owner_pool.close().await;
    h.finish().await;
}

/// The `GRANT` statements of docs/tenancy.md, for a role named `{role}`.
fn documented_grants() -> String {
    let doc = include_str!("../../docs/tenancy.md");
    let grants: Vec<&str> = doc
        .lines()
        .skip_while(|line| !line.starts_with("GRANT USAGE ON SCHEMA"))
        .take_while(|line| !line.starts_with("```"))
        .map(|line| line.split("--").next().unwrap_or(line))
        .collect();
    assert!(grants.len() > 3, "the grants block of docs/tenancy.md");
    grants.join("\n").replace("crm_app", "{role}")
}

#[test]
fn the_documented_grants_are_exactly_the_ones_the_service_checks_for() {
    let privileges = |sql: &str| -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for statement in sql.split(';') {
            let statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
            let Some(rest) = statement.strip_prefix("GRANT ") else {
                continue;
            };
            let Some((privileges, rest)) = rest.split_once(" ON ") else {
                continue;
            };
            let Some((tables, _)) = rest.split_once(" TO ") else {
                continue;
            };
            for table in tables.split(',') {
                for privilege in privileges.split(',') {
                    pairs.push((table.trim().to_owned(), privilege.trim().to_owned()));
                }
            }
        }
        pairs.sort();
        pairs
    };
    assert_eq!(
        privileges(&documented_grants()),
        privileges(&grants::statements("{role}"))
    );
}

#[tokio::test]
async fn the_documented_grants_give_the_service_every_privilege_it_checks_for() {
    let h = Harness::start_as(TestDb::postgres().await, &documented_grants(), &[]).await;
    grants::check(&h.pool).await.unwrap();
    h.finish().await;
}

#[tokio::test]
async fn a_role_missing_a_table_is_told_each_privilege_it_lacks_there() {
    let without_totals = documented_grants().replace(" lead_pipeline_totals,", "");
    assert_ne!(without_totals, documented_grants());
    let h = Harness::start_as(TestDb::postgres().await, &without_totals, &[]).await;
    let err = grants::check(&h.pool).await.unwrap_err();
    let CheckError::Missing(missing) = &err else {
        panic!("{err}");
    };
    let pairs: Vec<(&str, &str)> = missing
        .0
        .iter()
        .map(|(t, p)| (t.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("lead_pipeline_totals", "SELECT"),
            ("lead_pipeline_totals", "INSERT"),
            ("lead_pipeline_totals", "UPDATE"),
            ("lead_pipeline_totals", "DELETE"),
        ]
    );
    assert!(
        err.to_string().contains("DELETE on lead_pipeline_totals"),
        "{err}"
    );
    h.finish().await;
}

#[tokio::test]
async fn sqlite_has_no_roles_and_passes() {
    let db = TestDb::sqlite().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    grants::check(&db.pool).await.unwrap();
    db.drop_db().await;
}
