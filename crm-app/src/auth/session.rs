//! A signed-in session: the access and refresh tokens issued at sign-in
//! and on every refresh, and the answers the sign-in steps share (a
//! database error, a throttled attempt). Used by the sign-in routes and
//! by `account`, never the other way round.

use axum::http::StatusCode;
use chrono::Utc;
use ops_kit::ApiError;
use ops_kit::auth::{Principal, Role, TokenKind};
use ops_kit::sql::Transaction;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::store;
use crate::api::{self, Unique};
use crate::state::AppState;
pub use crate::users::model::UserView;

/// The body of register, login and refresh.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    user: UserView,
}

impl std::fmt::Debug for Session {
    // The tokens are credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A database error of the sign-in and user routes: [`api::database`]
/// with [`Unique::Fault`], as these routes answer a taken email
/// themselves.
pub fn db(err: sqlx::Error) -> ApiError {
    api::database(err, Unique::Fault)
}

pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues an access and a refresh token for `user` in `family`, at the
/// user's current token epoch (read in `tx`, so after any bump it made),
/// storing the refresh token's hash.
pub(crate) async fn issue_session(
    state: &AppState,
    tx: &mut Transaction,
    user: &store::UserRow,
    family: Uuid,
) -> Result<Session, ApiError> {
    let role: Role = user.role.parse().map_err(ApiError::internal)?;
    let principal = Principal::new(user.id, user.tenant_id, role);
    let epoch = crate::users::store::token_epoch(tx, user.tenant_id, user.id)
        .await
        .map_err(db)?
        .and_then(|e| u64::try_from(e).ok())
        .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    let (access, _) = state
        .tokens
        .issue_with_epoch(TokenKind::Access, &principal, family, epoch)
        .map_err(ApiError::internal)?;
    let (refresh, claims) = state
        .tokens
        .issue_with_epoch(TokenKind::Refresh, &principal, family, epoch)
        .map_err(ApiError::internal)?;
    let expires_at =
        chrono::DateTime::from_timestamp(claims.exp as i64, 0).unwrap_or_else(Utc::now);
    // Each new session tidies the user's expired ones.
    store::purge_expired_refresh(tx, user.tenant_id, user.id)
        .await
        .map_err(db)?;
    store::insert_refresh(
        tx,
        user.tenant_id,
        claims.jti,
        user.id,
        family,
        &token_hash(&refresh),
        expires_at,
    )
    .await
    .map_err(db)?;
    Ok(Session {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: TokenKind::Access.ttl().as_secs(),
        user: UserView::from(user),
    })
}

/// 429 with `Retry-After` (and the same number of seconds in the body).
pub(crate) fn too_many(
    code: &'static str,
    message: &'static str,
    wait: std::time::Duration,
) -> ApiError {
    let secs = wait.as_secs().max(1);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        .with_field("retryAfterSeconds", secs.into())
        .with_header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(secs),
        )
}
