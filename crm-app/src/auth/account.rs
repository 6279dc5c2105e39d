//! `POST /api/auth/password`: a signed-in user changes their own password.
//!
//! The current password is required. The change ends every login of the
//! user, this one included: all refresh tokens are revoked and the token
//! epoch moves on, so every access token issued before is refused at once.
//! The answer is a fresh session (a new login) for the caller, so that the
//! device that made the change stays signed in.

use axum::Json;
use axum::extract::State;
use ops_kit::ApiError;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::events::Origin;
use super::session::{Session, db, issue_session, too_many};
use super::{input, password, store};
use crate::state::AppState;
use crate::users::team::{self, Caller};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(auth_password_change))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    /// 8 to 256 characters, not the current one.
    #[schema(min_length = 8, max_length = 256)]
    new_password: String,
}

/// Changes the caller's password and ends every other login of theirs.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, description = "Changed: a new session for this device; every earlier token of the user is refused", body = Session),
              (status = 401, description = "No valid access token", body = crate::api::envelope::Error),
              (status = 403, description = "The current password is wrong", body = crate::api::envelope::Error),
              (status = 409, description = "The password was changed meanwhile by another request", body = crate::api::envelope::Error),
              (status = 422, description = "The new password is not acceptable", body = crate::api::envelope::Error),
              (status = 429, description = "Too many wrong current passwords: counted with the user's failed logins", body = crate::api::envelope::Error)))]
async fn auth_password_change(
    State(state): State<AppState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<PasswordChange>,
) -> Result<Json<Session>, ApiError> {
    let (tenant, id) = (caller.principal.tenant_id, caller.principal.user_id);
    let mut errors = Vec::new();
    input::password("newPassword", &body.new_password, &mut errors);
    if body.new_password == body.current_password {
        errors.push(ops_kit::FieldError::new(
            "newPassword",
            "must differ from the current password",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut lookup = state.pool.begin_read_for_tenant(tenant).await.map_err(db)?;
    let user = store::user(&mut lookup, tenant, id).await.map_err(db)?;
    lookup.end_read().await.map_err(db)?;
    let user = user.ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    // A wrong current password counts as a failed login of the user's
    // email (and address): a stolen access token must not become a way to
    // guess the password faster than the login throttle allows.
    let turn = state
        .throttle
        .attempt(&user.email, origin.ip())
        .await
        .map_err(|wait| {
            too_many(
                "too_many_attempts",
                "too many wrong passwords; try again later",
                wait,
            )
        })?;
    // argon2 runs with no connection held, as at login.
    if !password::verify(body.current_password, user.password_hash.clone()).await {
        state.throttle.failed(turn).await;
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    state.throttle.succeeded(turn).await;
    let new_hash = password::hash(body.new_password).await.map_err(|e| {
        ApiError::internal_message("the password could not be hashed").with_source(e)
    })?;
    let mut tx = state.pool.begin_for_tenant(tenant).await.map_err(db)?;
    let at = crate::api::now();
    // Only if nobody changed it since it was checked above.
    if !crate::users::store::set_password_hash(
        &mut tx,
        tenant,
        id,
        &user.password_hash,
        &new_hash,
        at,
    )
    .await
    .map_err(db)?
    {
        return Err(ApiError::conflict(
            "password_changed",
            "the password was changed by another request; sign in again",
        ));
    }
    crate::users::store::revoke_all_refresh(&mut tx, tenant, id, at)
        .await
        .map_err(db)?;
    let epoch = team::bump(&mut tx, tenant, id, at).await?;
    team::record(&mut tx, &caller, "user.password_change", id, None).await?;
    let session = issue_session(&state, &mut tx, &user, Uuid::new_v4()).await?;
    tx.commit().await.map_err(db)?;
    crate::users::publish(&state, tenant, id, Some(epoch)).await;
    Ok(Json(session))
}
