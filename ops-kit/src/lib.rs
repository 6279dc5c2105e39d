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
//! - **request bodies read before routing**: no extractor or handler runs,
//!   and so no database connection is taken, until the whole body is in
//!   memory; a body that does not arrive within the body read timeout gets
//!   408 ([`OpsLayer`]);
//! - **a server that bounds its clients**: a header read timeout, an idle
//!   keep-alive timeout and a connection cap, and the error envelope even
//!   for requests the HTTP parser refuses ([`server`]);
//! - **declarative start-up configuration validation** ([`config`]);
//! - **graceful shutdown** with a pre-stop delay, a bounded drain and
//!   cleanup handlers ([`shutdown`]);
//! - **an audit trail**: [`#[audited]`](audited) records who changed what in
//!   the same transaction as the change, hash-chained per tenant ([`audit`]);
//! - **one database handle for PostgreSQL and SQLite** and a request-scoped
//!   transaction that carries the tenant ([`sql`]);
//! - **JWT access and refresh tokens** and the layer that checks them
//!   ([`auth`]);
//! - **a cache** on Redis or in memory, for limits shared by instances
//!   ([`cache`]);
//! - **for server-rendered front ends**: browser sessions in the database,
//!   CSRF protection and the security headers ([`web`]).
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
//!     let config = match Validator::standard().check(&Env::from_process()) {
//!         Ok(config) => config,
//!         Err(exit) => return exit,
//!     };
//!     let routes = Router::new().route("/api/hello", get(|| async { "hello" }));
//!
//!     App::new("hello", env!("CARGO_PKG_VERSION"))
//!         .configure(&config)
//!         .router(routes)
//!         .serve(config.listen_addr())
//!         .await
//!         .exit_code()
//! }
//! ```
//!
//! # Features
//!
//! - `sqlite` (default), `postgres`: the database backends of
//!   [`sql::Pool`] and of the SQL audit sink ([`audit::SqlSink`]). At least
//!   one is needed.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "postgres", feature = "sqlite")))]
compile_error!(
    "ops-kit needs a database backend: enable the `sqlite` (default) or `postgres` feature, or both"
);

mod app;
pub mod audit;
pub mod auth;
pub mod cache;
mod client_ip;
pub mod config;
mod context;
mod error;
pub mod health;
mod inflight;
mod layer;
mod lifecycle;
pub mod metrics;
pub mod request_id;
pub mod server;
pub mod shutdown;
pub mod sql;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;
pub mod trace_context;
pub mod web;

pub use self::app::{App, ServeError, Served};
pub use self::client_ip::ClientIp;
pub use self::error::{ApiError, FieldError};
pub use self::layer::{
    DEFAULT_BODY_LIMIT, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, OpsLayer, OpsService,
    ResponseFuture,
};
pub use self::lifecycle::{Lifecycle, Phase};
pub use self::request_id::RequestId;
pub use self::trace_context::TraceId;

/// Records who changed what for every successful (2xx) response of an axum
/// handler, in the same database transaction as the change.
///
/// ```
/// # use axum::Json; use ops_kit::{ApiError, audited, sql::Tx}; use serde_json::Value;
/// #[audited(action = "lead.upsert", resource = "lead")]
/// async fn upsert_lead(mut tx: Tx, Json(input): Json<Value>) -> Result<Json<Value>, ApiError> {
///     # let _ = input;
///     tx.commit().await.map_err(ApiError::internal)?;
///     Ok(Json(serde_json::json!({"id": "L-1"})))
/// }
/// ```
///
/// The handler stays an ordinary axum handler (`post(upsert_lead)`), with
/// its extractors in any order axum accepts. When the handler committed its
/// [`Tx`](sql::Tx) and answers 2xx, one [`AuditEntry`](audit::AuditEntry)
/// is recorded through the app's [`AuditSink`](audit::AuditSink) inside that
/// transaction, which then commits. Any other response, a `Tx` never
/// committed, or one rolled back, records nothing and keeps nothing.
///
/// # Options
///
/// | option | meaning | default |
/// |---|---|---|
/// | `action = "lead.upsert"` | `<entity>.<verb>`, lowercase; required | |
/// | `resource = "lead"` | the resource type | the action's entity |
/// | `resource_id = body("id")` | a top-level field of the JSON response | `body("id")` |
/// | `resource_id = path("id")` | a path parameter (for `PATCH /leads/{id}/status`) | |
/// | `resource_id = none` | no id (collection-wide actions) | |
/// | `redact = ["taxId"]` | more field names to redact, besides the defaults | `[]` |
///
/// ```
/// # use axum::{Json, extract::Path}; use ops_kit::{ApiError, audited, sql::Tx}; use serde_json::Value;
/// #[audited(action = "lead.status_update", resource_id = path("id"), redact = ["internalNote"])]
/// async fn update_status(Path(id): Path<String>, tx: Tx, Json(body): Json<Value>) -> Result<Json<Value>, ApiError> {
///     # let _ = (id, body);
///     tx.commit().await.map_err(ApiError::internal)?;
///     Ok(Json(serde_json::json!({"status": "won"})))
/// }
/// ```
///
/// # What is recorded
///
/// - `tenantId`, `userId`: from the request's [`Principal`](auth::Principal);
///   nulls when there is none (never a guess).
/// - `changes`: the JSON request body, with secret fields (`password`,
///   `token`, `secret`, `apiKey`, … and the `redact` list) replaced by
///   `"[REDACTED]"` at any depth; a body over 64 KiB is stored as a marker
///   with its size and a preview. `null` when the handler takes no `Json`.
/// - `ipAddress`: the peer address; `X-Forwarded-For` only counts when the
///   app trusts its proxies ([`App::trusted_proxy_hops`]).
/// - `userAgent` (capped at 512 characters), `requestId`, a timestamp and
///   an entry id.
///
/// # Compile errors
///
/// A missing `action`, an unknown or repeated option, a malformed value
/// and a non-`async` function are compile errors pointing at the mistake.
pub use ops_kit_macros::audited;

#[doc(hidden)]
pub mod __private {
    //! Used by the code `#[audited]` generates; not a public API.
    pub use crate::audit::request::{
        AuditJson, AuditPathParams, AuditRequest, AuditSpec, ResourceIdSpec,
    };
    pub use axum::response::Response;
}
