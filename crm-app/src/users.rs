//! `/api/users`: the tenant's team. Listing is for everyone; adding a
//! user, changing a role and removing a user are for admins, audited, and
//! never leave the tenant without an admin.
//!
//! A role change or a removal moves the user's token epoch on in the same
//! transaction and publishes it after the commit, so that the user's
//! access tokens stop carrying the old rights at once (docs/tenancy.md,
//! "Revoking tokens").

pub mod model;
pub mod store;
pub mod team;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ops_kit::auth::Role;
use ops_kit::{ApiError, FieldError};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use self::model::{NewUser, RoleChange, UserView};
use self::team::{Caller, NewMember};
use crate::auth::session::db;
use crate::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users_list, users_create))
        .routes(routes!(users_update, users_remove))
}

fn parse_role(field: &str, value: &str) -> Result<Role, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::validation(vec![FieldError::new(field, "must be admin or member")]))
}

/// Opens the caller's tenant's transaction for a team change, once the
/// caller is known to be an admin.
async fn admin_tx(
    state: &AppState,
    caller: &Caller,
) -> Result<ops_kit::sql::Transaction, ApiError> {
    caller.principal.require_admin()?;
    state
        .pool
        .begin_for_tenant(caller.principal.tenant_id)
        .await
        .map_err(db)
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
    responses((status = 201, description = "The user", body = UserView), (status = 403, description = "Not an admin", body = crate::api::envelope::Error),
              (status = 409, description = "A user of this tenant has the email", body = crate::api::envelope::Error), (status = 422, description = "Invalid fields", body = crate::api::envelope::Error)))]
async fn users_create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    caller.principal.require_admin()?;
    // Hashed before any connection is taken.
    let member = NewMember::prepare(body).await?;
    let mut tx = admin_tx(&state, &caller).await?;
    let user = team::add(&mut tx, &caller, member).await?;
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
    let users = team::members(&mut tx, &caller).await?;
    let data: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(json!({ "data": data })))
}

/// Changes a user's role (admins only). The user's access tokens are
/// refused from this moment; a refresh gives tokens with the new role.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = RoleChange,
    params(("id" = Uuid, Path, description = "The user")),
    responses((status = 200, description = "The user with its new role", body = UserView),
              (status = 403, description = "Not an admin", body = crate::api::envelope::Error),
              (status = 404, description = "No such user in this tenant", body = crate::api::envelope::Error),
              (status = 409, description = "The tenant's last admin cannot be demoted", body = crate::api::envelope::Error),
              (status = 422, description = "Not a role", body = crate::api::envelope::Error)))]
async fn users_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<RoleChange>,
) -> Result<Json<UserView>, ApiError> {
    caller.principal.require_admin()?;
    let role = parse_role("role", &body.role)?;
    let tenant = caller.principal.tenant_id;
    let mut tx = admin_tx(&state, &caller).await?;
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
              (status = 403, description = "Not an admin", body = crate::api::envelope::Error),
              (status = 404, description = "No such user in this tenant", body = crate::api::envelope::Error),
              (status = 409, description = "The tenant's last admin cannot be removed", body = crate::api::envelope::Error)))]
async fn users_remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.principal.tenant_id;
    let mut tx = admin_tx(&state, &caller).await?;
    team::remove(&mut tx, &caller, id).await?;
    tx.commit().await.map_err(db)?;
    publish(&state, tenant, id, None).await;
    Ok(StatusCode::NO_CONTENT)
}
