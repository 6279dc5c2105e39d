//! `/api/auth/*`: register, login, refresh (rotating, with reuse
//! detection), logout, and the current user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use ops_kit::ApiError;
use ops_kit::auth::{Principal, Role, TokenKind};
use ops_kit::sql::Pool;
use ops_kit::sql::Transaction;
use serde::Deserialize;

use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::events::{self, Origin, SessionEvent};
use super::session::{Session, db, issue_session, token_hash, too_many};
use super::{input, password, store};

use crate::state::AppState;
pub use crate::users::model::UserView;

/// The one message for every failed login: it does not say whether the
/// email exists.
const BAD_CREDENTIALS: &str = "invalid email or password";

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
    // Counted before anything else, invalid attempts included.
    if let Some(wait) = state.throttle.register(origin.ip()).await {
        return Err(too_many(
            "too_many_registrations",
            "too many registrations from this address; try again later",
            wait,
        ));
    }
    let mut errors = Vec::new();
    let tenant_name = input::name("tenantName", &body.tenant_name, &mut errors);
    let name = input::name("name", &body.name, &mut errors);
    let email = input::email("email", &body.email, &mut errors);
    input::password("password", &body.password, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let password_hash = password::hash(body.password).await.map_err(|e| {
        ApiError::internal_message("the password could not be hashed").with_source(e)
    })?;
    let tenant_id = Uuid::new_v4();
    let user = store::UserRow {
        tenant_id,
        id: Uuid::new_v4(),
        email,
        name,
        password_hash,
        role: Role::Admin.as_str().into(),
    };
    let mut tx = state.pool.begin_for_tenant(tenant_id).await.map_err(db)?;
    // A new tenant has no users yet, so its admin's email cannot be taken
    // there; other tenants' accounts of the same email do not count.
    if !store::create_tenant_with_admin(&mut tx, tenant_id, &tenant_name, &user)
        .await
        .map_err(db)?
    {
        return Err(ApiError::internal_message(
            "the new tenant's admin could not be stored",
        ));
    }
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
    let mut invalid = Vec::new();
    let email = input::email("email", &body.email, &mut invalid);
    // Failures are counted; one email's password checks take turns, so
    // that parallel guesses cannot slip past the limit. Refusals are not
    // audited: they cost nothing and would let anyone fill the trail.
    let turn = state
        .throttle
        .attempt(&email, origin.ip())
        .await
        .map_err(|wait| {
            too_many(
                "too_many_attempts",
                "too many login attempts; try again later",
                wait,
            )
        })?;
    let session = if invalid.is_empty() {
        let legacy = body.email.trim().to_lowercase();
        login(
            &state,
            &origin,
            &email,
            &legacy,
            body.tenant_id,
            body.password,
        )
        .await
    } else {
        // Not an address anyone can have registered: the same answer, in
        // the same time, as a wrong password.
        password::verify(body.password, state.dummy_hash.to_string()).await;
        events::login_failed(&state.pool, &origin, None).await;
        Err(ApiError::unauthorized(BAD_CREDENTIALS))
    };
    match &session {
        Ok(_) => state.throttle.succeeded(turn).await,
        Err(err) if err.status() == StatusCode::UNAUTHORIZED => state.throttle.failed(turn).await,
        Err(_) => drop(turn),
    }
    session.map(Json)
}

/// Checks the credentials and opens a session. The password is checked
/// against each account of the email (one per tenant, at most
/// `store::MAX_ACCOUNTS_PER_LOGIN`; only `tenant`'s when given) and the
/// one it matches signs in. It is verified outside any transaction: a
/// connection is never held while argon2 runs.
async fn login(
    state: &AppState,
    origin: &Origin,
    email: &str,
    legacy: &str,
    tenant: Option<Uuid>,
    password_text: String,
) -> Result<Session, ApiError> {
    let accounts = accounts(&state.pool, email, legacy, tenant).await?;
    let mut matched = Vec::new();
    if accounts.is_empty() {
        // Unknown emails are checked against a real hash too, so that both
        // answers take as long.
        password::verify(password_text, state.dummy_hash.to_string()).await;
    } else {
        for user in &accounts {
            if password::verify(password_text.clone(), user.password_hash.clone()).await {
                matched.push(user);
            }
        }
    }
    let user = match matched.as_slice() {
        [user] => *user,
        [] => {
            if accounts.is_empty() {
                events::login_failed(&state.pool, origin, None).await;
            }
            for user in &accounts {
                let account = (user.tenant_id, user.id, user.email.as_str());
                events::login_failed(&state.pool, origin, Some(account)).await;
            }
            return Err(ApiError::unauthorized(BAD_CREDENTIALS));
        }
        // Whoever knows the password may learn that it opens several
        // accounts; nobody else gets this far.
        _ => {
            return Err(ApiError::conflict(
                "tenant_required",
                "this email and password sign in to several tenants; name one with tenantId",
            ));
        }
    };
    let mut tx = state
        .pool
        .begin_for_tenant(user.tenant_id)
        .await
        .map_err(db)?;
    let family = Uuid::new_v4();
    let session = issue_session(state, &mut tx, user, family).await?;
    events::session(
        &mut tx,
        origin,
        SessionEvent::Login,
        user.tenant_id,
        user.id,
        family,
    )
    .await?;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok(session)
}

/// The accounts an email signs in to, with their hashes.
async fn accounts(
    pool: &Pool,
    email: &str,
    legacy: &str,
    tenant: Option<Uuid>,
) -> Result<Vec<store::UserRow>, ApiError> {
    let mut lookup = pool.begin().await.map_err(db)?;
    let logins = store::find_logins(&mut lookup, email, legacy, tenant)
        .await
        .map_err(db)?;
    lookup.rollback().await.map_err(db)?;
    let mut users = Vec::with_capacity(logins.len());
    for (tenant, user_id) in logins {
        let mut tx = pool.begin_for_tenant(tenant).await.map_err(db)?;
        let user = store::user(&mut tx, tenant, user_id).await.map_err(db)?;
        tx.rollback().await.map_err(db)?;
        users.extend(user);
    }
    Ok(users)
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
