//! Database faults as the client hears them: a session killed under a
//! request, a database locked by another writer, a file that is no
//! database. Each is a 503 `service_unavailable` with `Retry-After`, never
//! a 500, and nothing of the request is kept.

use std::str::FromStr;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use http::StatusCode;
use http_body_util::BodyExt;
use ops_kit::audit::{self, SqlSink};
use ops_kit::sql::{DbFault, Pool, Tx};
use ops_kit::testing::TestDb;
use ops_kit::{ApiError, App, audited, on_backend};
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;

/// Ends the PostgreSQL session `pid` from another connection, and waits
/// until it is gone.
async fn terminate(url: &str, pid: i32) {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended, "session {pid} ended");
    admin.close().await.unwrap();
}

async fn envelope(err: ApiError) -> (StatusCode, Option<String>, Value) {
    let response = err.into_response();
    let status = response.status();
    let retry = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_session_terminated_under_a_transaction_is_a_503_with_retry_after() {
    let db = TestDb::postgres().await;
    let mut tx = db.pool.begin().await.unwrap();
    let pid: i32 = on_backend!(&mut tx, conn => {
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **conn).await.unwrap()
    });
    terminate(&db.url, pid).await;
    let err = on_backend!(&mut tx, conn => {
        sqlx::query("SELECT 1").execute(&mut **conn).await.unwrap_err()
    });
    assert_eq!(DbFault::of(&err), DbFault::Unavailable, "{err:?}");
    let (status, retry, body) = envelope(ApiError::database(err)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["code"], "service_unavailable");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing was saved"),
        "{body}"
    );
    drop(tx);
    db.drop_db().await;
}

#[tokio::test]
async fn a_sqlite_database_locked_by_another_writer_is_busy() {
    let db = TestDb::sqlite().await;
    let mut holder = db.pool.begin().await.unwrap();
    on_backend!(&mut holder, conn => {
        sqlx::query("CREATE TABLE t (n INTEGER)").execute(&mut **conn).await.unwrap();
    });
    // A second writer that does not wait for the lock.
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
        .unwrap()
        .busy_timeout(Duration::ZERO);
    let other = Pool::Sqlite(sqlx::SqlitePool::connect_with(options).await.unwrap());
    let err = other.begin().await.unwrap_err();
    assert_eq!(DbFault::of(&err), DbFault::Busy, "{err:?}");
    let (status, retry, body) = envelope(ApiError::database(err)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["code"], "service_unavailable");
    holder.rollback().await.unwrap();
    other.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_sqlite_file_that_is_no_database_is_unavailable() {
    let path = std::env::temp_dir().join(format!("not-a-db-{}.sqlite", uuid::Uuid::new_v4()));
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let pool = Pool::connect_lazy(&format!("sqlite://{}", path.display())).unwrap();
    let err = pool.begin().await.unwrap_err();
    assert_eq!(DbFault::of(&err), DbFault::Unavailable, "{err:?}");
    assert_eq!(ApiError::database(err).status(), 503);
    pool.close().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_constraint_violation_stays_the_requests_own_fault() {
    for db in [TestDb::postgres().await, TestDb::sqlite().await] {
        let mut tx = db.pool.begin().await.unwrap();
        let err = on_backend!(&mut tx, conn => {
            sqlx::query("CREATE TABLE u (n INTEGER PRIMARY KEY)").execute(&mut **conn).await.unwrap();
            sqlx::query("INSERT INTO u VALUES (1), (1)").execute(&mut **conn).await.unwrap_err()
        });
        assert_eq!(DbFault::of(&err), DbFault::Other, "{err:?}");
        assert_eq!(ApiError::database(err).status(), 500);
        drop(tx);
        db.drop_db().await;
    }
}

/// Writes a note, then has its own session killed before the audit step
/// writes the entry: the moment a failover or restart can pick.
#[audited(action = "note.create")]
async fn create_note_then_lose_the_connection(
    mut tx: Tx,
    Json(input): Json<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let url = input["url"].as_str().unwrap().to_owned();
    let pid: i32 = on_backend!(tx.transaction().await?, conn => {
        sqlx::query("INSERT INTO notes (body) VALUES ('kept?')").execute(&mut **conn).await.map_err(ApiError::database)?;
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **conn).await.map_err(ApiError::database)?
    });
    terminate(&url, pid).await;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": "1" }))))
}

#[tokio::test]
async fn an_audited_write_whose_connection_is_lost_before_its_entry_answers_503_and_keeps_nothing()
{
    let db = TestDb::postgres().await;
    audit::migrate(&db.pool).await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    on_backend!(&mut tx, conn => {
        sqlx::query("CREATE TABLE notes (body TEXT NOT NULL)").execute(&mut **conn).await.unwrap();
    });
    tx.commit().await.unwrap();
    let router = App::new("faults", "0")
        .database(db.pool.clone())
        .audit_sink(SqlSink::new(db.pool.clone()))
        .router(Router::new().route("/notes", post(create_note_then_lose_the_connection)))
        .into_router();

    let request = http::Request::post("/notes")
        .header("content-type", "application/json")
        .body(Body::from(json!({ "url": db.url }).to_string()))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let retry = response.headers().get(http::header::RETRY_AFTER).cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "service_unavailable");
    assert!(body["requestId"].is_string(), "{body}");
    assert!(retry.is_some(), "Retry-After is set");

    let notes: i64 = on_backend!(&mut db.pool.begin().await.unwrap(), conn => {
        sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut **conn).await.unwrap()
    });
    assert_eq!(notes, 0, "nothing partial is written");
    assert_eq!(audit::verify(&db.pool, None).await.unwrap().entries, 0);
    db.drop_db().await;
}

#[tokio::test]
async fn a_pooled_connection_ended_while_idle_is_replaced_without_failing_the_next_begin() {
    let db = TestDb::postgres().await;
    let pool = Pool::connect_lazy_sized(&db.url, Some(1)).unwrap();
    let mut tx = pool.begin().await.unwrap();
    let pid: i32 = on_backend!(&mut tx, conn => {
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **conn).await.unwrap()
    });
    tx.rollback().await.unwrap();
    // The pool's only connection, idle, is ended by the server.
    terminate(&db.url, pid).await;
    let mut tx = pool.begin().await.expect("a fresh connection");
    let now: i32 = on_backend!(&mut tx, conn => {
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **conn).await.unwrap()
    });
    assert_ne!(now, pid);
    tx.rollback().await.unwrap();
    pool.close().await;
    db.drop_db().await;
}
