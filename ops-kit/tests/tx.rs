//! The request's transaction begins on first use: a request whose body is
//! refused never takes a connection, even when the pool has none to give.

use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::{Json, Router};
use http::StatusCode;
use ops_kit::sql::{Pool, Tx};
use ops_kit::testing::TestDb;
use ops_kit::{ApiError, App, audited, on_backend};
use serde::Deserialize;
use tower::ServiceExt;

#[derive(Deserialize)]
struct NoteInput {
    body: String,
}

async fn touch(mut tx: Tx, Json(input): Json<NoteInput>) -> Result<String, ApiError> {
    on_backend!(tx.transaction().await?, conn => {
        sqlx::query("SELECT 1").execute(&mut **conn).await.map_err(ApiError::database)?;
    });
    tx.commit().await.map_err(ApiError::database)?;
    Ok(input.body)
}

#[audited(action = "note.touch", resource_id = none)]
async fn touch_audited(mut tx: Tx, Json(input): Json<NoteInput>) -> Result<String, ApiError> {
    on_backend!(tx.transaction().await?, conn => {
        sqlx::query("SELECT 1").execute(&mut **conn).await.map_err(ApiError::database)?;
    });
    tx.commit().await.map_err(ApiError::database)?;
    Ok(input.body)
}

fn post_json(path: &str, body: &'static str) -> http::Request<Body> {
    http::Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// With the pool's only connection held by the test, a malformed body is
/// refused at once (no connection asked for), while a well-formed one
/// waits for the connection: the transaction begins in the handler.
async fn a_malformed_body_takes_no_connection(url: &str) {
    let pool = Pool::connect_lazy_sized(url, Some(1)).unwrap();
    ops_kit::audit::migrate(&pool).await.unwrap();
    let router = App::new("tx-test", "0")
        .database(pool.clone())
        .audit_sink(ops_kit::audit::SqlSink::new(pool.clone()))
        .router(
            Router::new()
                .route("/touch", post(touch))
                .route("/touch-audited", post(touch_audited)),
        )
        .into_router();
    let held = pool.begin().await.unwrap();
    for path in ["/touch", "/touch-audited"] {
        let response = tokio::time::timeout(
            Duration::from_millis(500),
            router.clone().oneshot(post_json(path, r#"{"body": "#)),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: the malformed body waited for a connection"))
        .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let waiting = tokio::time::timeout(
            Duration::from_millis(300),
            router.clone().oneshot(post_json(path, r#"{"body": "hi"}"#)),
        )
        .await;
        assert!(
            waiting.is_err(),
            "{path}: a well-formed body needs the connection"
        );
    }
    held.rollback().await.unwrap();
    for path in ["/touch", "/touch-audited"] {
        let response = router
            .clone()
            .oneshot(post_json(path, r#"{"body": "hi"}"#))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        ops_kit::audit::verify(&pool, None).await.unwrap().entries,
        1
    );
    pool.close().await;
}

#[tokio::test]
async fn a_malformed_body_takes_no_connection_on_sqlite() {
    let db = TestDb::sqlite().await;
    a_malformed_body_takes_no_connection(&db.url).await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_malformed_body_takes_no_connection_on_postgres() {
    let db = TestDb::postgres().await;
    a_malformed_body_takes_no_connection(&db.url).await;
    db.drop_db().await;
}
