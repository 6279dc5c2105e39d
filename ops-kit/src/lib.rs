//! Production hardening for multi-tenant axum services.
//!
//! ops-kit wraps an `axum::Router` in what an operator expects of every
//! service, so that a new service gets it with a few lines:
//!
//! - **health probes**: `GET /api/health/live`, `/api/health/ready` and
//!   `/api/health`, with readiness checks that run concurrently under a
//!   timeout and are shared between probes ([`health`]);
//! - **request ids**: a safe client `x-request-id` is kept, anything else is
//!   replaced, and the id is echoed, logged and put in every error
//!   ([`RequestId`]);
//! - **one `[METRICS]` line per request**, cheap enough for the hot path
//!   ([`OpsLayer`], [`telemetry`]);
//! - **a JSON error envelope** `{"error","code","requestId"}` for every error,
//!   including 404, 405, rejected bodies, limits, timeouts and panics
//!   ([`ApiError`]);
//! - **declarative start-up configuration validation** ([`config`]);
//! - **graceful shutdown** with a pre-stop delay, a bounded drain and
//!   cleanup handlers ([`shutdown`]).
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use ops_kit::{App, config::{Env, Validator}, telemetry::Telemetry};
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     let _logs = Telemetry::from_env().expect("valid LOG_FORMAT").init().expect("one subscriber");
//!     let config = match Validator::standard().validate(&Env::from_process()) {
//!         Ok(config) => { config.log(); config }
//!         Err(rejected) => { rejected.log(); return std::process::ExitCode::FAILURE; }
//!     };
//!     let routes = Router::new().route("/api/hello", get(|| async { "hello" }));
//!     let addr = format!("{}:{}", config.get("HOST").unwrap(), config.get("PORT").unwrap());
//!
//!     App::new("hello", env!("CARGO_PKG_VERSION"))
//!         .configure(&config)
//!         .router(routes)
//!         .serve(addr)
//!         .await
//!         .exit_code()
//! }
//! ```
//!
//! # Features
//!
//! - `sqlx`: [`health::PoolCheck`], a readiness check for any sqlx pool;
//! - `postgres`, `sqlite`: the same with that sqlx driver enabled.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod app;
pub mod config;
mod error;
pub mod health;
mod inflight;
mod layer;
mod lifecycle;
pub mod request_id;
pub mod shutdown;
pub mod telemetry;

pub use self::app::{App, ServeError, Served};
pub use self::error::{ApiError, FieldError};
pub use self::layer::{
    DEFAULT_BODY_LIMIT, DEFAULT_REQUEST_TIMEOUT, OpsLayer, OpsService, ResponseFuture,
};
pub use self::lifecycle::{Lifecycle, Phase};
pub use self::request_id::RequestId;
