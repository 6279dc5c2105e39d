//! The conventions every CRM route shares: cursor pagination, versions
//! with `ETag`/`If-Match`, `Idempotency-Key`, JSON Merge Patch, soft
//! delete, and the checks that turn bad input into a 4xx envelope.
//!
//! Each concept has its own module; the route modules (`leads`,
//! `activities`, `audit_logs`) compose them.

pub mod etag;
pub mod fields;
pub mod idempotency;
pub mod json;
pub mod list;
pub mod money;
pub mod sql;
pub mod time;

use ops_kit::ApiError;

/// Maps a database error to the envelope: a busy or unreachable database
/// is a 503 (retry later), a broken uniqueness rule a 409 (another request
/// got there first), anything else a 500 whose cause is logged.
pub fn db(err: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(e) = &err
        && e.is_unique_violation()
    {
        return ApiError::conflict(
            "conflict",
            "another request changed the same record at the same time; try again",
        )
        .with_source(err);
    }
    crate::auth::routes::db(err)
}

/// Opens the read-only snapshot a reading request works in, scoped to
/// the caller's tenant. The request ends it with
/// [`end_read`](ops_kit::sql::Transaction::end_read) once it has its rows,
/// so that it answers without waiting for the `ROLLBACK`.
pub async fn read_tx(
    state: &crate::state::AppState,
    principal: &ops_kit::auth::Principal,
) -> Result<ops_kit::sql::Transaction, ApiError> {
    state
        .pool
        .begin_read_for_tenant(principal.tenant_id)
        .await
        .map_err(db)
}

/// The current time, truncated to microseconds: what both databases store,
/// so that a value read back equals the value written (versions, cursors
/// and `updatedAfter` compare exactly).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}
