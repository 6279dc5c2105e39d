//! An audited service: every change to a note is recorded, in the same
//! transaction, with who made it, from where, and what they sent.
//!
//! ```sh
//! cargo run -p ops-kit-examples --example audited     # SQLite file under ./data/
//! curl -s localhost:3000/api/notes -H 'content-type: application/json' \
//!      -d '{"text":"Measure the pantry","password":"not stored"}'
//! curl -s -X PATCH localhost:3000/api/notes/<id> -H 'content-type: application/json' -d '{"text":"Measured"}'
//! curl -s localhost:3000/api/audit-logs          # the entries, newest first
//! curl -s localhost:3000/api/audit-logs/verify   # the hash chain checks out
//! ```
//!
//! Set `DATABASE_URL=postgres://…` to run it on PostgreSQL instead.

use std::process::ExitCode;

use axum::extract::{Path, State};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use ops_kit::audit::{self, SqlSink};
use ops_kit::config::{Env, Setting, Validator};
use ops_kit::sql::{Pool, Tx};
use ops_kit::telemetry::Telemetry;
use ops_kit::{ApiError, App, FieldError, audited, on_backend};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Deserialize)]
struct NoteInput {
    text: String,
}

fn validate(input: &NoteInput) -> Result<(), ApiError> {
    if input.text.trim().is_empty() || input.text.len() > 500 {
        return Err(ApiError::validation(vec![FieldError::new(
            "text",
            "must be 1 to 500 characters",
        )]));
    }
    Ok(())
}

#[audited(action = "note.create")]
async fn notes_create(mut tx: Tx, Json(input): Json<NoteInput>) -> Result<Json<Value>, ApiError> {
    validate(&input)?;
    let id = Uuid::new_v4().to_string();
    on_backend!(tx.transaction().await?, conn => {
        sqlx::query("INSERT INTO notes (id, text) VALUES ($1, $2)")
            .bind(&id)
            .bind(&input.text)
            .execute(&mut **conn)
            .await
            .map_err(ApiError::internal)?;
    });
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "id": id, "text": input.text })))
}

#[audited(action = "note.update", resource_id = path("id"))]
async fn notes_update(
    Path(id): Path<String>,
    mut tx: Tx,
    Json(input): Json<NoteInput>,
) -> Result<Json<Value>, ApiError> {
    validate(&input)?;
    let updated = on_backend!(tx.transaction().await?, conn => {
        sqlx::query("UPDATE notes SET text = $1 WHERE id = $2")
            .bind(&input.text)
            .bind(&id)
            .execute(&mut **conn)
            .await
            .map_err(ApiError::internal)?
            .rows_affected()
    });
    if updated == 0 {
        return Err(ApiError::not_found("note not found"));
    }
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "id": id, "text": input.text })))
}

async fn audit_logs(State(pool): State<Pool>) -> Result<Json<Value>, ApiError> {
    type Row = (
        Uuid,
        String,
        Option<String>,
        Option<sqlx::types::Json<Value>>,
        Option<String>,
        String,
        chrono::DateTime<chrono::Utc>,
    );
    let sql = "SELECT id, action, resource_id, changes, ip_address, request_id, occurred_at \
               FROM audit_logs ORDER BY occurred_at DESC LIMIT 50";
    let mut tx = pool.begin().await.map_err(ApiError::internal)?;
    let rows: Vec<Row> = on_backend!(&mut tx, conn => {
        sqlx::query_as(sql).fetch_all(&mut **conn).await.map_err(ApiError::internal)?
    });
    let data: Vec<Value> = rows
        .into_iter()
        .map(|(id, action, resource_id, changes, ip, request_id, at)| {
            json!({
                "id": id, "action": action, "resourceId": resource_id,
                "changes": changes.map(|c| c.0), "ipAddress": ip,
                "requestId": request_id, "occurredAt": at,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

async fn audit_verify(State(pool): State<Pool>) -> Result<Json<Value>, ApiError> {
    let report = audit::verify(&pool, None)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "intact": report.is_intact(),
        "chains": report.chains,
        "entries": report.entries,
        "brokenLink": report.broken.map(|b| b.to_string()),
    })))
}

async fn prepare(pool: Pool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    audit::migrate(&pool).await?;
    let mut tx = pool.begin().await?;
    on_backend!(&mut tx, conn => {
        sqlx::query("CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, text TEXT NOT NULL)")
            .execute(&mut **conn)
            .await?;
    });
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let _logs = Telemetry::from_env()
        .expect("LOG_FORMAT and LOG_LEVEL are valid")
        .init()
        .expect("no other global subscriber");
    let validator = Validator::standard()
        .setting(Setting::secret("DATABASE_URL").default("sqlite://data/audited-example.db"));
    let config = match validator.check(&Env::from_process()) {
        Ok(config) => config,
        Err(exit) => return exit,
    };
    let url = config.secret("DATABASE_URL").expect("defaulted");
    let pool = match Pool::connect_lazy(url.expose_secret()) {
        Ok(pool) => pool,
        Err(err) => {
            tracing::error!("[STARTUP ERROR] FATAL: {err}");
            ops_kit::telemetry::flush();
            return ExitCode::FAILURE;
        }
    };

    let routes = Router::new()
        .route("/api/notes", post(notes_create))
        .route("/api/notes/{id}", patch(notes_update))
        .route("/api/audit-logs", get(audit_logs))
        .route("/api/audit-logs/verify", get(audit_verify))
        .with_state(pool.clone());
    App::new("audited-example", env!("CARGO_PKG_VERSION"))
        .configure(&config)
        .database(pool.clone())
        .audit_sink(SqlSink::new(pool.clone()))
        .on_startup(prepare(pool))
        .router(routes)
        .serve(config.listen_addr())
        .await
        .exit_code()
}
