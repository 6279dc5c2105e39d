//! `/api/auth/*`: register, login, refresh (rotating, with reuse
//! detection), logout, and the current user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use ops_kit::ApiError;
use ops_kit::auth::{Principal, TokenKind};
use ops_kit::sql::Transaction;
use serde::Deserialize;

use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::credentials::{self, NewShop};
use super::events::{self, Origin, SessionEvent};
use super::session::{Session, db, issue_session, token_hash};
use super::{input, store};

use crate::state::AppState;
pub use crate::users::model::UserView;

/// The routes that work without an access token (a stale one sent along
/// must not stand in the way of logging in or refreshing).
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth_register))
        .routes(routes!(auth_login))
        .routes(routes!(auth_refresh))
        .routes(routes!(auth_logout))
}

/// The routes that need the caller.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth_me))
        .merge(super::account::router())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterInput {
    #[schema(schema_with = input::name_schema)]
    tenant_name: String,
    #[schema(schema_with = input::name_schema)]
    name: String,
    #[schema(schema_with = input::email_schema)]
    email: String,
    #[schema(schema_with = input::password_schema)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    email: String,
    password: String,
    /// The tenant to sign in to. Needed only when the email has accounts
    /// in several tenants with the same password.
    #[serde(rename = "tenantId", default)]
    tenant_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshInput {
    refresh_token: String,
}

/// Creates a tenant and its first user, an admin, and logs in.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", security(()), request_body = RegisterInput,
    responses((status = 201, description = "The tenant's first session", body = Session), (status = 422, description = "Invalid fields", body = crate::api::envelope::Error), (status = 429, description = "Too many registrations from this address", body = crate::api::envelope::Error)))]
async fn auth_register(
    State(state): State<AppState>,
    origin: Origin,
    Json(body): Json<RegisterInput>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let shop = NewShop {
        tenant_name: body.tenant_name,
        name: body.name,
        email: body.email,
        password: body.password,
    };
    let (mut tx, user) = credentials::register(&state, &origin, shop).await?;
    let session = issue_session(&state, &mut tx, &user, Uuid::new_v4()).await?;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Exchanges an email and password for a session.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", security(()), request_body = LoginInput,
    responses((status = 200, description = "A session", body = Session), (status = 401, description = "Wrong email or password", body = crate::api::envelope::Error), (status = 409, description = "The email and password open accounts in several tenants: name one with tenantId", body = crate::api::envelope::Error), (status = 429, description = "Too many failed attempts", body = crate::api::envelope::Error)))]
async fn auth_login(
    State(state): State<AppState>,
    origin: Origin,
    Json(body): Json<LoginInput>,
) -> Result<Json<Session>, ApiError> {
    let user =
        credentials::sign_in(&state, &origin, &body.email, body.tenant_id, body.password).await?;
    let mut tx = state
        .pool
        .begin_for_tenant(user.tenant_id)
        .await
        .map_err(db)?;
    let family = Uuid::new_v4();
    let session = issue_session(&state, &mut tx, &user, family).await?;
    events::session(
        &mut tx,
        &origin,
        SessionEvent::Login,
        user.tenant_id,
        user.id,
        family,
    )
    .await?;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok(Json(session))
}

/// Exchanges a refresh token (once) for a new session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(()), request_body = RefreshInput,
    responses((status = 200, description = "A new session", body = Session), (status = 401, description = "Invalid, expired, used or revoked", body = crate::api::envelope::Error)))]
async fn auth_refresh(
    State(state): State<AppState>,
    origin: Origin,
    Json(body): Json<RefreshInput>,
) -> Result<Json<Session>, ApiError> {
    let claims = state
        .tokens
        .verify(TokenKind::Refresh, &body.refresh_token)
        .map_err(|_| ApiError::unauthorized("invalid or expired refresh token"))?;
    let refused = || ApiError::unauthorized("invalid or expired refresh token");
    let mut tx = state.pool.begin_for_tenant(claims.tid).await.map_err(db)?;
    let Some(stored) = store::refresh_for_update(&mut tx, claims.tid, claims.jti)
        .await
        .map_err(db)?
    else {
        return Err(refused());
    };
    if stored.token_hash != token_hash(&body.refresh_token) || stored.revoked_at.is_some() {
        return Err(refused());
    }
    if stored.used_at.is_some() {
        // A token that was already exchanged is back: someone holds a copy.
        // End the whole login.
        end_login(
            &mut tx,
            &origin,
            SessionEvent::RefreshReuse,
            claims.tid,
            &stored,
        )
        .await?;
        tx.commit().await.map_err(ApiError::database_commit)?;
        tracing::warn!(
            tenantId = %claims.tid,
            userId = %claims.sub,
            "refresh token reused; every token of the login is revoked"
        );
        return Err(refused());
    }
    // The user must still exist and still belong to the tenant.
    let Some(user) = store::user(&mut tx, claims.tid, stored.user_id)
        .await
        .map_err(db)?
    else {
        return Err(refused());
    };
    store::mark_used(&mut tx, claims.tid, claims.jti)
        .await
        .map_err(db)?;
    let session = issue_session(&state, &mut tx, &user, stored.family_id).await?;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok(Json(session))
}

/// Revokes every token of the login `stored` belongs to, and writes the
/// entry saying why (`event`).
async fn end_login(
    tx: &mut Transaction,
    origin: &Origin,
    event: SessionEvent,
    tenant: Uuid,
    stored: &store::RefreshRow,
) -> Result<(), ApiError> {
    store::revoke_family(tx, tenant, stored.family_id)
        .await
        .map_err(db)?;
    events::session(tx, origin, event, tenant, stored.user_id, stored.family_id).await
}

/// Ends the login the refresh token belongs to.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(()), request_body = RefreshInput,
    responses((status = 204, description = "Logged out"), (status = 401, description = "Invalid refresh token", body = crate::api::envelope::Error)))]
async fn auth_logout(
    State(state): State<AppState>,
    origin: Origin,
    Json(body): Json<RefreshInput>,
) -> Result<StatusCode, ApiError> {
    let claims = state
        .tokens
        .verify(TokenKind::Refresh, &body.refresh_token)
        .map_err(|_| ApiError::unauthorized("invalid or expired refresh token"))?;
    let mut tx = state.pool.begin_for_tenant(claims.tid).await.map_err(db)?;
    // Logging out ends the whole login: every token of its family, even one
    // presented after it was already exchanged.
    if let Some(stored) = store::refresh_for_update(&mut tx, claims.tid, claims.jti)
        .await
        .map_err(db)?
    {
        end_login(&mut tx, &origin, SessionEvent::Logout, claims.tid, &stored).await?;
    }
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The calling user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, description = "The user", body = UserView), (status = 401, description = "No valid access token", body = crate::api::envelope::Error)))]
async fn auth_me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<UserView>, ApiError> {
    let mut tx = state
        .pool
        .begin_for_tenant(principal.tenant_id)
        .await
        .map_err(db)?;
    let user = store::user(&mut tx, principal.tenant_id, principal.user_id)
        .await
        .map_err(db)?
        .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    Ok(Json(UserView::from(&user)))
}
