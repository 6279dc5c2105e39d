//! The audit trail: who changed what, recorded in the same transaction as
//! the change.
//!
//! Put [`#[audited]`](crate::audited) on a handler and configure a sink on
//! the [`App`](crate::App):
//!
//! - [`SqlSink`] stores entries in the `audit_logs` table (PostgreSQL or
//!   SQLite; create it with [`migrate`]). The entry is written inside the
//!   handler's [`Tx`](crate::sql::Tx) and the transaction commits only after
//!   it: no committed change without its entry, no entry for a change that
//!   rolled back. If the entry cannot be written the request fails (503 when
//!   the database went away, 500 otherwise) and the change rolls back.
//! - [`TracingSink`] (the default) writes one `[AUDIT]` log line.
//!
//! Code that records an entry itself (a domain function called by more than
//! one front end) takes the request's facts with the [`AuditContext`]
//! extractor, builds the entry with [`AuditContext::entry`] and hands it to
//! [`record`], which goes through the same sink. [`list`] reads entries back
//! as typed [`AuditRecord`]s.
//!
//! Entries are append-only (the tables refuse `UPDATE`, `DELETE` and
//! `TRUNCATE`) and tamper-evident: each tenant's entries form a hash chain
//! that [`verify`] checks. See `docs/audit.md` for the model.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Json, Router, routing::post};
//! use ops_kit::{ApiError, App, audited, audit, sql::{Pool, Tx}};
//! use serde_json::{Value, json};
//!
//! #[audited(action = "note.create")]
//! async fn create_note(mut tx: Tx, Json(input): Json<Value>) -> Result<Json<Value>, ApiError> {
//!     // … write the note with `tx` …
//!     tx.commit().await.map_err(ApiError::internal)?;
//!     Ok(Json(json!({ "id": "n-1", "text": input["text"] })))
//! }
//!
//! let pool = Pool::connect_lazy("sqlite::memory:")?;
//! audit::migrate(&pool).await?;
//! let app = App::new("notes", "1.0.0")
//!     .database(pool.clone())
//!     .audit_sink(audit::SqlSink::new(pool))
//!     .router(Router::new().route("/notes", post(create_note)));
//! # let _ = app;
//! # Ok(()) }
//! ```

mod changes;
mod context;
mod entry;
mod read;
mod redact;
pub(crate) mod request;
mod sink;
mod sql;

pub use self::changes::AuditChanges;
pub use self::context::{AuditContext, record};
pub use self::entry::{AuditEntry, GENESIS_HASH, chain_hash};
pub use self::read::{AuditOrder, AuditQuery, AuditRecord, list};
pub use self::redact::{REDACTED, cap_size, is_secret_field, redact};
pub use self::sink::{AuditError, AuditSink, SinkFuture, TracingSink};
pub use self::sql::{BrokenLink, SqlSink, VerifyReport, insert, migrate, verify};
