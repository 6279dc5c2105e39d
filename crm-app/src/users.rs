//! `/api/users`: the tenant's users. Adding one is for admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ops_kit::auth::Principal;
use ops_kit::{ApiError, FieldError};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::routes::{UserView, db};
use crate::auth::{input, password, store};
use crate::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(users_list, users_create))
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

/// Adds a user to the tenant (admins only).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "The user", body = UserView), (status = 403, description = "Not an admin", body = crate::openapi::schemas::Error),
              (status = 409, description = "A user of this tenant has the email", body = crate::openapi::schemas::Error), (status = 422, description = "Invalid fields", body = crate::openapi::schemas::Error)))]
async fn users_create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    principal.require_admin()?;
    let mut errors = Vec::new();
    let email = input::email("email", &body.email, &mut errors);
    let name = input::name("name", &body.name, &mut errors);
    input::password("password", &body.password, &mut errors);
    if !matches!(body.role.as_str(), "admin" | "member") {
        errors.push(FieldError::new("role", "must be admin or member"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let password_hash = password::hash(body.password).await.map_err(|e| {
        ApiError::internal_message("the password could not be hashed").with_source(e)
    })?;
    let user = store::UserRow {
        tenant_id: principal.tenant_id,
        id: Uuid::new_v4(),
        email,
        name,
        password_hash,
        role: body.role,
    };
    let mut tx = state
        .pool
        .begin_for_tenant(principal.tenant_id)
        .await
        .map_err(db)?;
    // Only this tenant's users count: an address other tenants hold gets
    // an account of its own here, so this answer says nothing about them.
    if !store::create_user(&mut tx, &user).await.map_err(db)? {
        return Err(ApiError::conflict(
            "email_taken",
            "a user of this tenant already has this email",
        ));
    }
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// The tenant's users.
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, description = "The users, by email")))]
async fn users_list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let mut tx = state
        .pool
        .begin_for_tenant(principal.tenant_id)
        .await
        .map_err(db)?;
    let users = store::users(&mut tx, principal.tenant_id)
        .await
        .map_err(db)?;
    let data: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(json!({ "data": data })))
}
