//! The smallest ops-kit service: two routes, the probes, request ids,
//! `[METRICS]` lines, the error envelope, config validation and graceful
//! shutdown.
//!
//! ```sh
//! cargo run -p ops-kit-examples --example hello
//! curl -i localhost:3000/api/hello?name=Ada
//! curl -i localhost:3000/api/slow?ms=3000   # then Ctrl+C: it still finishes
//! ```

use std::process::ExitCode;
use std::time::Duration;

use axum::extract::Query;
use axum::{Json, Router, routing::get};
use ops_kit::config::{Env, Validator};
use ops_kit::telemetry::Telemetry;
use ops_kit::{ApiError, App, FieldError, RequestId};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Hello {
    name: Option<String>,
}

async fn hello(id: RequestId, Query(q): Query<Hello>) -> Result<Json<Value>, ApiError> {
    let name = q.name.unwrap_or_else(|| "world".into());
    if name.len() > 64 {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            "must be at most 64 characters",
        )]));
    }
    Ok(Json(
        json!({ "message": format!("hello, {name}"), "requestId": id.as_str() }),
    ))
}

#[derive(Deserialize)]
struct Slow {
    ms: Option<u64>,
}

/// Answers after `ms` milliseconds: handy to watch a graceful shutdown drain.
async fn slow(Query(q): Query<Slow>) -> Json<Value> {
    let ms = q.ms.unwrap_or(1000).min(60_000);
    tracing::info!(ms, "slow request started");
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "sleptMs": ms }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let _logs = Telemetry::from_env()
        .expect("LOG_FORMAT and LOG_LEVEL are valid")
        .init()
        .expect("no other global subscriber");
    let config = match Validator::standard().check(&Env::from_process()) {
        Ok(config) => config,
        Err(exit) => return exit,
    };

    let routes = Router::new()
        .route("/api/hello", get(hello))
        .route("/api/slow", get(slow));

    App::new("hello", env!("CARGO_PKG_VERSION"))
        .configure(&config)
        .router(routes)
        .serve(config.listen_addr())
        .await
        .exit_code()
}
