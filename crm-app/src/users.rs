//! `/api/users`: the tenant's team. Listing is for everyone; adding a
//! user, changing a role and removing a user are for admins, audited, and
//! never leave the tenant without an admin.
//!
//! A role change or a removal moves the user's token epoch on in the same
//! transaction and publishes it after the commit, so that the user's
//! access tokens stop carrying the old rights at once (docs/tenancy.md,
//! "Revoking tokens").

pub mod store;
pub mod team;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ops_kit::auth::Role;
use ops_kit::{ApiError, FieldError};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use self::team::Caller;
use crate::auth::routes::{UserView, db};
use crate::auth::{input, password, store as auth_store};
use crate::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users_list, users_create))
        .routes(routes!(users_update, users_remove))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
    )]
    name: String,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    password: String,
    /// `admin` or `member`.
    #[schema(pattern = "^(?:admin|member)$")]
    role: String,
}

/// The body of `PATCH /api/users/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    /// `admin` or `member`.
    #[schema(pattern = "^(?:admin|member)$")]
    role: String,
}

fn parse_role(field: &str, value: &str) -> Result<Role, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::validation(vec![FieldError::new(field, "must be admin or member")]))
}

/// Publishes a committed epoch change. A cache that cannot take it keeps
/// the old epoch until its entry expires (docs/tenancy.md says how long).
pub(crate) async fn publish(state: &AppState, tenant: Uuid, user: Uuid, epoch: Option<u64>) {
    if let Err(err) = state.epochs.publish(tenant, user, epoch).await {
        tracing::warn!(
            tenantId = %tenant,
            userId = %user,
            "the new token epoch could not be cached; the old one expires within {} s: {err}",
            state.epochs.ttl().as_secs()
        );
    }
}

/// Adds a user to the tenant (admins only).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "The user", body = UserView), (status = 403, description = "Not an admin", body = crate::openapi::schemas::Error),
              (status = 409, description = "A user of this tenant has the email", body = crate::openapi::schemas::Error), (status = 422, description = "Invalid fields", body = crate::openapi::schemas::Error)))]
async fn users_create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let principal = &caller.principal;
    principal.require_admin()?;
    let mut errors = Vec::new();
    let email = input::email("email", &body.email, &mut errors);
    let name = input::name("name", &body.name, &mut errors);
    input::password("password", &body.password, &mut errors);
    let role = body.role.parse::<Role>();
    if role.is_err() {
        errors.push(FieldError::new("role", "must be admin or member"));
    }
    let (Ok(role), true) = (role, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    // Hashed before any connection is taken: argon2 is slow on purpose.
    let password_hash = password::hash(body.password).await.map_err(|e| {
        ApiError::internal_message("the password could not be hashed").with_source(e)
    })?;
    let user = auth_store::UserRow {
        tenant_id: principal.tenant_id,
        id: Uuid::new_v4(),
        email,
        name,
        password_hash,
        role: role.as_str().to_owned(),
    };
    let mut tx = state
        .pool
        .begin_for_tenant(principal.tenant_id)
        .await
        .map_err(db)?;
    // Only this tenant's users count: an address other tenants hold gets
    // an account of its own here, so this answer says nothing about them.
    if !auth_store::create_user(&mut tx, &user).await.map_err(db)? {
        return Err(ApiError::conflict(
            "email_taken",
            "a user of this tenant already has this email",
        ));
    }
    // What was asked for, as an audited handler records its body; the
    // password is not part of it.
    let changes = json!({ "email": user.email, "name": user.name, "role": role });
    team::record(&mut tx, &caller, "user.create", user.id, Some(changes)).await?;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// The tenant's users.
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, description = "The users, by email")))]
async fn users_list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let tenant = caller.principal.tenant_id;
    let mut tx = state.pool.begin_for_tenant(tenant).await.map_err(db)?;
    let users = auth_store::users(&mut tx, tenant).await.map_err(db)?;
    let data: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(json!({ "data": data })))
}

/// Changes a user's role (admins only). The user's access tokens are
/// refused from this moment; a refresh gives tokens with the new role.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = RoleChange,
    params(("id" = Uuid, Path, description = "The user")),
    responses((status = 200, description = "The user with its new role", body = UserView),
              (status = 403, description = "Not an admin", body = crate::openapi::schemas::Error),
              (status = 404, description = "No such user in this tenant", body = crate::openapi::schemas::Error),
              (status = 409, description = "The tenant's last admin cannot be demoted", body = crate::openapi::schemas::Error),
              (status = 422, description = "Not a role", body = crate::openapi::schemas::Error)))]
async fn users_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<RoleChange>,
) -> Result<Json<UserView>, ApiError> {
    caller.principal.require_admin()?;
    let role = parse_role("role", &body.role)?;
    let tenant = caller.principal.tenant_id;
    let mut tx = state.pool.begin_for_tenant(tenant).await.map_err(db)?;
    let (user, epoch) = team::change_role(&mut tx, &caller, id, role).await?;
    tx.commit().await.map_err(db)?;
    if let Some(epoch) = epoch {
        publish(&state, tenant, id, Some(epoch)).await;
    }
    Ok(Json(UserView::from(&user)))
}

/// Removes a user from the tenant (admins only): its tokens stop working
/// at once, its leads and activities are left unassigned, and its email
/// may be registered again.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "The user")),
    responses((status = 204, description = "Removed"),
              (status = 403, description = "Not an admin", body = crate::openapi::schemas::Error),
              (status = 404, description = "No such user in this tenant", body = crate::openapi::schemas::Error),
              (status = 409, description = "The tenant's last admin cannot be removed", body = crate::openapi::schemas::Error)))]
async fn users_remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.principal.require_admin()?;
    let tenant = caller.principal.tenant_id;
    let mut tx = state.pool.begin_for_tenant(tenant).await.map_err(db)?;
    team::remove(&mut tx, &caller, id).await?;
    tx.commit().await.map_err(db)?;
    publish(&state, tenant, id, None).await;
    Ok(StatusCode::NO_CONTENT)
}
