//! The audit trail end to end: a real router, real handlers, and real
//! PostgreSQL and SQLite databases. Every scenario runs on both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{Path, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{patch, post};
use axum::{Json, Router};
use chrono::Utc;
use http::StatusCode;
use http_body_util::BodyExt;
use ops_kit::audit::{
    self, AuditContext, AuditEntry, AuditError, AuditQuery, AuditRecord, AuditSink, SinkFuture,
    SqlSink,
};
use ops_kit::auth::{Principal, Role};
use ops_kit::sql::{Pool, Transaction, Tx};
use ops_kit::{ApiError, App, audited, on_backend};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use ops_kit::testing::TestDb;

const TENANT: Uuid = Uuid::from_u128(0x1111);
const USER: Uuid = Uuid::from_u128(0x2222);
const OTHER_TENANT: Uuid = Uuid::from_u128(0x3333);

#[derive(Deserialize)]
struct NoteInput {
    body: String,
}

async fn insert_note(tx: &mut Transaction, id: Uuid, body: &str) -> Result<(), ApiError> {
    on_backend!(tx, conn => {
        sqlx::query("INSERT INTO notes (id, body) VALUES ($1, $2)")
            .bind(id.to_string())
            .bind(body)
            .execute(&mut **conn)
            .await
            .map_err(ApiError::internal)?;
    });
    Ok(())
}

#[audited(action = "note.create", redact = ["pinCode"])]
async fn create_note(
    mut tx: Tx,
    Json(input): Json<NoteInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = Uuid::new_v4();
    insert_note(tx.transaction().await?, id, &input.body).await?;
    if input.body == "reject after writing" {
        return Err(ApiError::bad_request("rejected after the insert"));
    }
    tx.commit().await.map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "body": input.body })),
    ))
}

// Extractors in another order, the path id, and no body.
#[audited(action = "note.pin", resource_id = path("id"))]
async fn pin_note(Path(id): Path<String>, tx: Tx) -> Result<Json<Value>, ApiError> {
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "pinned": id })))
}

// Returns 200 without committing: a dry run. Nothing may be kept or recorded.
#[audited(action = "note.preview")]
async fn preview_note(mut tx: Tx, Json(input): Json<NoteInput>) -> Result<Json<Value>, ApiError> {
    insert_note(tx.transaction().await?, Uuid::new_v4(), &input.body).await?;
    Ok(Json(json!({ "id": "preview", "body": input.body })))
}

// Rolls back explicitly, then answers 200.
#[audited(action = "note.discard")]
async fn discard_note(mut tx: Tx, Json(input): Json<NoteInput>) -> Result<Json<Value>, ApiError> {
    insert_note(tx.transaction().await?, Uuid::new_v4(), &input.body).await?;
    tx.rollback().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "id": "discarded" })))
}

// Writes its entry itself, from the request's audit facts, through the
// app's sink: what a domain function shared by two front ends does.
async fn archive_note(
    Path(id): Path<String>,
    facts: AuditContext,
    mut tx: Tx,
) -> Result<Json<Value>, ApiError> {
    let mut entry = facts.entry("note.archive", "note", id.clone());
    entry.changes = Some(json!({ "archived": true }));
    audit::record(tx.transaction().await?, &entry).await?;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok(Json(json!({ "archived": id })))
}

// Takes a `Tx` it never touches.
#[audited(action = "note.touch", resource_id = none)]
async fn touch_note(_tx: Tx) -> Json<Value> {
    Json(json!({ "ok": true }))
}

async fn with_test_principal(mut req: Request, next: Next) -> Response {
    if let Some(user) = req
        .headers()
        .get("x-test-tenant")
        .and_then(|v| v.to_str().ok())
    {
        let tenant = Uuid::parse_str(user).unwrap();
        req.extensions_mut()
            .insert(Principal::new(USER, tenant, Role::Admin));
    }
    next.run(req).await
}

/// A sink that writes through the SQL sink and can be told to fail
/// afterwards, as a broken audit store would.
#[derive(Clone)]
struct Flaky {
    inner: SqlSink,
    fail: Arc<AtomicBool>,
}

impl AuditSink for Flaky {
    fn record<'a>(
        &'a self,
        entry: &'a AuditEntry,
        tx: Option<&'a mut Transaction>,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            self.inner.record(entry, tx).await?;
            if self.fail.load(Ordering::SeqCst) {
                return Err(AuditError::Sink("injected failure".into()));
            }
            Ok(())
        })
    }
}

struct Harness {
    db: TestDb,
    router: Router,
    fail: Arc<AtomicBool>,
}

async fn harness(db: TestDb) -> Harness {
    audit::migrate(&db.pool).await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    on_backend!(&mut tx, conn => {
        sqlx::query("CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
            .execute(&mut **conn)
            .await
            .unwrap();
    });
    tx.commit().await.unwrap();

    let fail = Arc::new(AtomicBool::new(false));
    let routes = Router::new()
        .route("/notes", post(create_note))
        .route("/notes/{id}/pin", patch(pin_note))
        .route("/notes/preview", post(preview_note))
        .route("/notes/discard", post(discard_note))
        .route("/notes/touch", post(touch_note))
        .route("/notes/{id}/archive", post(archive_note))
        .layer(middleware::from_fn(with_test_principal))
        .layer(MockConnectInfo(SocketAddr::from((
            [198, 51, 100, 7],
            40_000,
        ))));
    let router = App::new("audit-test", "0")
        .database(db.pool.clone())
        .audit_sink(Flaky {
            inner: SqlSink::new(db.pool.clone()),
            fail: fail.clone(),
        })
        .trusted_proxy_hops(1)
        .router(routes)
        .into_router();
    Harness { db, router, fail }
}

impl Harness {
    async fn send(&self, req: http::Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post_note(&self, tenant: Option<Uuid>, body: Value) -> (StatusCode, Value) {
        let mut req = http::Request::post("/notes")
            .header("content-type", "application/json")
            .header("user-agent", "cabinet-shop-tablet/2.1")
            .header("x-request-id", "req-audit-1")
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.9");
        if let Some(tenant) = tenant {
            req = req.header("x-test-tenant", tenant.to_string());
        }
        self.send(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn notes(&self) -> i64 {
        on_backend!(&mut self.db.pool.begin().await.unwrap(), conn => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM notes")
                .fetch_one(&mut **conn)
                .await
                .unwrap()
        })
    }

    /// Every stored entry, chain by chain, oldest first.
    async fn entries(&self) -> Vec<AuditRecord> {
        let mut tx = self.db.pool.begin().await.unwrap();
        audit::list(&mut tx, &AuditQuery::default()).await.unwrap()
    }
}

/// Runs one scenario on PostgreSQL and on SQLite.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::postgres().await;
                    super::$name(super::harness(db).await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(super::harness(db).await).await;
                }
            )*
        }
    };
}

on_both_databases!(
    records_every_field_of_a_successful_change,
    takes_the_resource_id_from_a_path_parameter_and_records_null_changes_without_a_body,
    records_nulls_for_an_anonymous_request_never_a_guess,
    redacts_secrets_at_any_depth_and_the_attributes_extra_names,
    stores_an_oversized_body_as_a_marker,
    records_nothing_and_keeps_nothing_when_the_handler_fails,
    records_nothing_for_a_rejected_body,
    a_failure_to_record_the_entry_rolls_the_change_back_and_answers_500,
    concurrent_writers_of_one_tenant_extend_one_unbroken_chain,
    verification_finds_an_edited_entry_in_the_middle,
    verification_finds_a_deleted_entry_in_the_middle,
    verification_finds_removed_newest_entries,
    the_table_refuses_updates_and_deletes,
    a_handler_that_does_not_commit_keeps_and_records_nothing,
    a_handler_that_rolls_back_records_nothing,
    an_unused_tx_argument_does_not_hold_up_the_audit,
    numbers_that_jsonb_rewrites_still_verify,
    an_entry_recorded_from_the_request_context_carries_the_same_facts_through_the_sink,
    verification_while_writers_append_reports_no_false_break,
);

async fn an_entry_recorded_from_the_request_context_carries_the_same_facts_through_the_sink(
    h: Harness,
) {
    let req = http::Request::post("/notes/N-7/archive")
        .header("user-agent", "cabinet-shop-tablet/2.1")
        .header("x-request-id", "req-archive-1")
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
        .header("x-test-tenant", TENANT.to_string())
        .body(Body::empty())
        .unwrap();
    let (status, body) = h.send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = h.entries().await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0].entry;
    assert_eq!(
        (e.action.as_str(), e.resource_type.as_str()),
        ("note.archive", "note")
    );
    assert_eq!(e.resource_id.as_deref(), Some("N-7"));
    assert_eq!((e.tenant_id, e.user_id), (Some(TENANT), Some(USER)));
    assert_eq!(e.ip_address.as_deref(), Some("203.0.113.9"));
    assert_eq!(e.user_agent.as_deref(), Some("cabinet-shop-tablet/2.1"));
    assert_eq!(e.request_id, "req-archive-1");
    assert_eq!(e.changes, Some(json!({ "archived": true })));

    // Through the sink: when it fails, the handler's change rolls back.
    h.fail.store(true, Ordering::SeqCst);
    let req = http::Request::post("/notes/N-8/archive")
        .header("x-test-tenant", TENANT.to_string())
        .body(Body::empty())
        .unwrap();
    let (status, _) = h.send(req).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h.entries().await.len(), 1);
    h.db.drop_db().await;
}

async fn records_every_field_of_a_successful_change(h: Harness) {
    let before = Utc::now();
    let (status, body) = h
        .post_note(Some(TENANT), json!({"body": "Shaker doors, maple"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h.notes().await, 1);

    let entries = h.entries().await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0].entry;
    assert_eq!(e.tenant_id, Some(TENANT));
    assert_eq!(e.user_id, Some(USER));
    assert_eq!(e.action, "note.create");
    assert_eq!(e.resource_type, "note");
    assert_eq!(e.resource_id.as_deref(), body["id"].as_str());
    assert_eq!(e.changes, Some(json!({"body": "Shaker doors, maple"})));
    // One trusted proxy: the address it saw, not the forged first entry.
    assert_eq!(e.ip_address.as_deref(), Some("203.0.113.9"));
    assert_eq!(e.user_agent.as_deref(), Some("cabinet-shop-tablet/2.1"));
    assert_eq!(e.request_id, "req-audit-1");
    assert_eq!(entries[0].seq, 1);
    assert!(e.occurred_at >= before - chrono::Duration::seconds(1) && e.occurred_at <= Utc::now());
    assert_ne!(e.id, Uuid::nil());
    assert!(audit::verify(&h.db.pool, None).await.unwrap().is_intact());
    h.db.drop_db().await;
}

async fn takes_the_resource_id_from_a_path_parameter_and_records_null_changes_without_a_body(
    h: Harness,
) {
    let req = http::Request::patch("/notes/N-42/pin")
        .header("x-test-tenant", TENANT.to_string())
        .body(Body::empty())
        .unwrap();
    let (status, _) = h.send(req).await;
    assert_eq!(status, StatusCode::OK);
    let entries = h.entries().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entry.resource_id.as_deref(), Some("N-42"));
    assert_eq!(entries[0].entry.action, "note.pin");
    assert_eq!(entries[0].entry.changes, None);
    h.db.drop_db().await;
}

async fn records_nulls_for_an_anonymous_request_never_a_guess(h: Harness) {
    let (status, _) = h.post_note(None, json!({"body": "walk-in enquiry"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let entries = h.entries().await;
    assert_eq!(entries[0].entry.tenant_id, None);
    assert_eq!(entries[0].entry.user_id, None);
    h.db.drop_db().await;
}

async fn redacts_secrets_at_any_depth_and_the_attributes_extra_names(h: Harness) {
    let (status, _) = h
        .post_note(
            Some(TENANT),
            json!({
                "body": "gate code inside",
                "password": "hunter2",
                "customer": {"portal": {"apiKey": "k-123", "name": "Ada"}},
                "pinCode": "4711",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let changes = h.entries().await.remove(0).entry.changes.unwrap();
    assert_eq!(changes["password"], "[REDACTED]");
    assert_eq!(changes["customer"]["portal"]["apiKey"], "[REDACTED]");
    assert_eq!(changes["customer"]["portal"]["name"], "Ada");
    assert_eq!(changes["pinCode"], "[REDACTED]");
    let text = changes.to_string();
    for secret in ["hunter2", "k-123", "4711"] {
        assert!(!text.contains(secret));
    }
    h.db.drop_db().await;
}

async fn stores_an_oversized_body_as_a_marker(h: Harness) {
    let big = "x".repeat(100 * 1024);
    let (status, _) = h.post_note(Some(TENANT), json!({"body": big})).await;
    assert_eq!(status, StatusCode::CREATED);
    let changes = h.entries().await.remove(0).entry.changes.unwrap();
    assert_eq!(changes["_truncated"], true);
    assert!(changes["_originalBytes"].as_u64().unwrap() > 100 * 1024);
    assert!(changes["_preview"].as_str().unwrap().len() <= 1024);
    h.db.drop_db().await;
}

async fn records_nothing_and_keeps_nothing_when_the_handler_fails(h: Harness) {
    let (status, body) = h
        .post_note(Some(TENANT), json!({"body": "reject after writing"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["requestId"], "req-audit-1");
    assert_eq!(h.notes().await, 0, "the insert was rolled back");
    assert!(h.entries().await.is_empty());
    h.db.drop_db().await;
}

async fn records_nothing_for_a_rejected_body(h: Harness) {
    let (status, body) = h
        .post_note(Some(TENANT), json!({"text": "wrong field"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].is_string());
    let req = http::Request::post("/notes")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _) = h.send(req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(h.entries().await.is_empty());
    h.db.drop_db().await;
}

async fn a_failure_to_record_the_entry_rolls_the_change_back_and_answers_500(h: Harness) {
    h.fail.store(true, Ordering::SeqCst);
    let (status, body) = h.post_note(Some(TENANT), json!({"body": "lost?"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["requestId"], "req-audit-1");
    assert_eq!(body["error"], "internal server error");
    assert_eq!(h.notes().await, 0, "no committed change without its entry");
    assert!(
        h.entries().await.is_empty(),
        "no entry for a change that rolled back"
    );

    // The chain is unaffected: the next entry is #1.
    h.fail.store(false, Ordering::SeqCst);
    let (status, _) = h.post_note(Some(TENANT), json!({"body": "kept"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(h.entries().await[0].seq, 1);
    assert!(audit::verify(&h.db.pool, None).await.unwrap().is_intact());
    h.db.drop_db().await;
}

async fn concurrent_writers_of_one_tenant_extend_one_unbroken_chain(h: Harness) {
    let h = Arc::new(h);
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                h.post_note(Some(TENANT), json!({"body": format!("note {i}")}))
                    .await
                    .0
            })
        })
        .collect();
    for writer in writers {
        assert_eq!(writer.await.unwrap(), StatusCode::CREATED);
    }
    h.post_note(Some(OTHER_TENANT), json!({"body": "other shop"}))
        .await;
    let entries = h.entries().await;
    let seqs: Vec<i64> = entries
        .iter()
        .filter(|e| e.entry.tenant_id == Some(TENANT))
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    let report = audit::verify(&h.db.pool, None).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.chains, 2);
    assert_eq!(report.entries, 21);
    assert_eq!(
        audit::verify(&h.db.pool, Some(OTHER_TENANT))
            .await
            .unwrap()
            .entries,
        1
    );
    Arc::into_inner(h).unwrap().db.drop_db().await;
}

/// Runs `sql` as the database owner with the append-only guard lifted, as
/// an attacker with direct access would.
async fn tamper(pool: &Pool, sql: &str) {
    match pool {
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut *tx).await.unwrap();
            sqlx::query("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        Pool::Sqlite(pool) => {
            sqlx::query("DROP TRIGGER audit_logs_no_update")
                .execute(pool)
                .await
                .unwrap();
            sqlx::query("DROP TRIGGER audit_logs_no_delete")
                .execute(pool)
                .await
                .unwrap();
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    }
}

async fn five_notes(h: &Harness) {
    for i in 1..=5 {
        let (status, _) = h
            .post_note(Some(TENANT), json!({"body": format!("note {i}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert!(audit::verify(&h.db.pool, None).await.unwrap().is_intact());
}

async fn verification_finds_an_edited_entry_in_the_middle(h: Harness) {
    five_notes(&h).await;
    tamper(
        &h.db.pool,
        "UPDATE audit_logs SET action = 'note.delete' WHERE seq = 3",
    )
    .await;
    let report = audit::verify(&h.db.pool, Some(TENANT)).await.unwrap();
    let broken = report.broken.expect("the edit is detected");
    assert_eq!(broken.seq, 3);
    assert_eq!(broken.tenant_id, Some(TENANT));
    assert!(broken.reason.contains("content does not match"), "{broken}");
    h.db.drop_db().await;
}

async fn verification_finds_a_deleted_entry_in_the_middle(h: Harness) {
    five_notes(&h).await;
    tamper(&h.db.pool, "DELETE FROM audit_logs WHERE seq = 2").await;
    let broken = audit::verify(&h.db.pool, None)
        .await
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.seq, 2);
    assert!(broken.reason.contains("missing"), "{broken}");
    h.db.drop_db().await;
}

async fn verification_finds_removed_newest_entries(h: Harness) {
    five_notes(&h).await;
    tamper(&h.db.pool, "DELETE FROM audit_logs WHERE seq >= 4").await;
    let broken = audit::verify(&h.db.pool, None)
        .await
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.seq, 4);
    assert!(broken.reason.contains("entries were removed"), "{broken}");
    h.db.drop_db().await;
}

async fn the_table_refuses_updates_and_deletes(h: Harness) {
    five_notes(&h).await;
    let mut tx = h.db.pool.begin().await.unwrap();
    let update = on_backend!(&mut tx, conn => {
        sqlx::query("UPDATE audit_logs SET action = 'x'").execute(&mut **conn).await.map(drop)
    });
    assert!(update.unwrap_err().to_string().contains("append-only"));
    drop(tx);
    let mut tx = h.db.pool.begin().await.unwrap();
    let delete = on_backend!(&mut tx, conn => {
        sqlx::query("DELETE FROM audit_logs").execute(&mut **conn).await.map(drop)
    });
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    drop(tx);
    h.db.drop_db().await;
}

/// The grants the deployment guide gives the application's role: it may
/// insert entries, never change or remove them.
#[tokio::test]
async fn the_application_role_may_insert_entries_but_not_update_or_delete_them() {
    let mut db = TestDb::postgres().await;
    audit::migrate(&db.pool).await.unwrap();
    let app_pool = db
        .pool_as_new_role(
            "GRANT SELECT, INSERT ON audit_logs TO {role};
             GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO {role};",
        )
        .await;

    let mut tx = app_pool.begin().await.unwrap();
    audit::insert(&mut tx, &AuditEntry::new("lead.upsert", "lead", "r-1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let Pool::Postgres(app) = &app_pool else {
        unreachable!()
    };
    let update = sqlx::query("UPDATE audit_logs SET action = 'x'")
        .execute(app)
        .await;
    assert!(
        update
            .unwrap_err()
            .to_string()
            .contains("permission denied")
    );
    let delete = sqlx::query("DELETE FROM audit_logs").execute(app).await;
    assert!(
        delete
            .unwrap_err()
            .to_string()
            .contains("permission denied")
    );
    assert!(audit::verify(&db.pool, None).await.unwrap().is_intact());

    app_pool.close().await;
    db.drop_db().await;
}

/// The tenant setting of a request transaction is visible inside it and
/// gone after it: it never leaks to the next user of the pooled connection.
#[tokio::test]
async fn the_tenant_setting_lives_exactly_as_long_as_the_transaction() {
    let db = TestDb::postgres().await;
    let tenant = Uuid::new_v4();
    // One connection, so that "after" runs on the very connection "inside" used.
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let single = Pool::Postgres(pg.clone());
    let mut tx = single.begin_for_tenant(tenant).await.unwrap();
    let inside: String = on_backend!(&mut tx, conn => {
        sqlx::query_scalar("SELECT current_setting('app.tenant_id')").fetch_one(&mut **conn).await.unwrap()
    });
    assert_eq!(inside, tenant.to_string());
    tx.commit().await.unwrap();
    let after: Option<String> = sqlx::query_scalar("SELECT current_setting('app.tenant_id', true)")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert!(after.unwrap_or_default().is_empty());
    single.close().await;
    db.drop_db().await;
}

async fn post_json(h: &Harness, path: &str, body: Value) -> StatusCode {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .header("x-test-tenant", TENANT.to_string())
        .body(Body::from(body.to_string()))
        .unwrap();
    h.send(req).await.0
}

async fn a_handler_that_does_not_commit_keeps_and_records_nothing(h: Harness) {
    assert_eq!(
        post_json(&h, "/notes/preview", json!({"body": "dry run"})).await,
        StatusCode::OK
    );
    assert_eq!(h.notes().await, 0);
    assert!(h.entries().await.is_empty());
    h.db.drop_db().await;
}

async fn a_handler_that_rolls_back_records_nothing(h: Harness) {
    assert_eq!(
        post_json(&h, "/notes/discard", json!({"body": "never mind"})).await,
        StatusCode::OK
    );
    assert_eq!(h.notes().await, 0);
    assert!(h.entries().await.is_empty());
    h.db.drop_db().await;
}

async fn an_unused_tx_argument_does_not_hold_up_the_audit(h: Harness) {
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        post_json(&h, "/notes/touch", json!({})),
    )
    .await
    .expect("the request finishes");
    assert_eq!(status, StatusCode::OK);
    h.db.drop_db().await;
}

async fn numbers_that_jsonb_rewrites_still_verify(h: Harness) {
    let (status, _) = h
        .post_note(
            Some(TENANT),
            json!({"body": "x", "amount": 1e16, "delta": -0.0, "ratio": 0.1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let report = audit::verify(&h.db.pool, None).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    h.db.drop_db().await;
}

async fn verification_while_writers_append_reports_no_false_break(h: Harness) {
    let h = Arc::new(h);
    let writers: Vec<_> = (0..30)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                h.post_note(Some(TENANT), json!({"body": format!("n{i}")}))
                    .await
                    .0
            })
        })
        .collect();
    for _ in 0..15 {
        let report = audit::verify(&h.db.pool, None).await.unwrap();
        assert!(report.is_intact(), "{:?}", report.broken);
    }
    for writer in writers {
        assert_eq!(writer.await.unwrap(), StatusCode::CREATED);
    }
    assert_eq!(audit::verify(&h.db.pool, None).await.unwrap().entries, 30);
    Arc::into_inner(h).unwrap().db.drop_db().await;
}

/// Policies like those a service puts on the audit tables: a chain is
/// visible to its tenant's transaction, the chain without a tenant while
/// `audit::insert` marks the transaction.
const TENANT_POLICIES: &str = "
CREATE FUNCTION chain_visible(key text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT key = NULLIF(current_setting('app.tenant_id', true), '')
        OR (key = '' AND current_setting('app.audit_anonymous', true) = 'on')
$$;
ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY chains ON audit_logs USING (chain_visible(tenant_key)) WITH CHECK (chain_visible(tenant_key));
ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY chains ON audit_chain_heads USING (chain_visible(tenant_key)) WITH CHECK (chain_visible(tenant_key));
";

#[tokio::test]
async fn entries_are_written_and_verified_under_row_level_security_keyed_on_the_tenant() {
    let mut db = TestDb::postgres().await;
    audit::migrate(&db.pool).await.unwrap();
    let Pool::Postgres(owner) = &db.pool else {
        unreachable!()
    };
    sqlx::raw_sql(TENANT_POLICIES).execute(owner).await.unwrap();
    let app_pool = db
        .pool_as_new_role(
            "GRANT SELECT, INSERT ON audit_logs TO {role};
             GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO {role};",
        )
        .await;
    let tenant = Uuid::new_v4();
    let sink = SqlSink::new(app_pool.clone());
    // Without the request's transaction the sink scopes its own to the
    // entry's tenant…
    let mut entry = AuditEntry::new("lead.upsert", "lead", "r-1");
    entry.tenant_id = Some(tenant);
    sink.record(&entry, None).await.unwrap();
    // …and an entry without a tenant gets through in any transaction,
    // twice (the second links to the first).
    for request in ["r-2", "r-3"] {
        let mut tx = app_pool.begin().await.unwrap();
        audit::insert(
            &mut tx,
            &AuditEntry::new("auth.login_failed", "user", request),
        )
        .await
        .unwrap();
        // Only for the write: the chain is hidden again right after it.
        let seen: i64 = on_backend!(&mut tx, conn => {
            sqlx::query_scalar("SELECT count(*) FROM audit_logs").fetch_one(&mut **conn).await.unwrap()
        });
        assert_eq!(seen, 0);
        tx.commit().await.unwrap();
    }
    let report = audit::verify(&app_pool, Some(tenant)).await.unwrap();
    assert!(report.is_intact());
    assert_eq!((report.chains, report.entries), (1, 1));
    // The superuser sees both chains, intact.
    let report = audit::verify(&db.pool, None).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!((report.chains, report.entries), (2, 3));
    app_pool.close().await;
    db.drop_db().await;
}
