//! The conventions every CRM route shares: cursor pagination, versions
//! with `ETag`/`If-Match`, `Idempotency-Key`, JSON Merge Patch, soft
//! delete, and the checks that turn bad input into a 4xx envelope.
//!
//! Each concept has its own module; the route modules (`leads`,
//! `activities`, `audit_logs`) compose them.

pub mod caller;
pub mod envelope;
pub mod etag;
pub mod fields;
pub mod idempotency;
pub mod json;
pub mod list;
pub mod money;
pub mod sql;
pub mod time;

use ops_kit::ApiError;

/// What a broken uniqueness rule means to the route that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// Another request wrote the same record at the same time: a 409
    /// `conflict` the client may retry. The CRM's records (leads,
    /// activities, quotes, team changes) are answered so.
    Race,
    /// A fault like any other database error: the route finds its own
    /// duplicates before writing (a taken email is `ON CONFLICT DO
    /// NOTHING` and its own answer), so one reaching here is a bug. The
    /// sign-in and user routes are answered so.
    Fault,
}

/// The one mapping of a database error to the envelope: a broken
/// uniqueness rule as `unique` says; the rest as ops-kit classifies them:
/// a database out of reach, a lost connection or a busy database is a 503
/// with `Retry-After` (see [`ApiError::database`]), anything else a 500
/// whose cause is logged.
pub fn database(err: sqlx::Error, unique: Unique) -> ApiError {
    if unique == Unique::Race
        && let sqlx::Error::Database(e) = &err
        && e.is_unique_violation()
    {
        return ApiError::conflict(
            "conflict",
            "another request changed the same record at the same time; try again",
        )
        .with_source(err);
    }
    ApiError::database(err)
}

/// [`database`] for the CRM's records: a broken uniqueness rule is a 409
/// (another request got there first).
pub fn db(err: sqlx::Error) -> ApiError {
    database(err, Unique::Race)
}

/// [`db`] for the error of a `COMMIT`: when the connection broke with the
/// `COMMIT` under way, the 503 says the change may have been saved (see
/// [`ApiError::database_commit`]).
pub fn db_commit(err: sqlx::Error) -> ApiError {
    if ops_kit::sql::DbFault::commit_outcome_unknown(&err) {
        return ApiError::database_commit(err);
    }
    db(err)
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

/// Runs `work` in the read-only snapshot of [`read_tx`] and ends the
/// snapshot, whatever `work` answered: the one shape of every reading
/// request.
pub async fn read<T, E>(
    state: &crate::state::AppState,
    principal: &ops_kit::auth::Principal,
    work: impl AsyncFnOnce(&mut ops_kit::sql::Transaction) -> Result<T, E>,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
{
    let mut tx = read_tx(state, principal).await?;
    let result = work(&mut tx).await;
    tx.end_read().await.map_err(db)?;
    Ok(result?)
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
