//! `/api/users`: the tenant's users. Adding one is for admins.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use ops_kit::auth::Principal;
use ops_kit::{ApiError, FieldError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::routes::{UserView, db};
use crate::auth::{input, password, store};
use crate::state::AppState;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/users", get(users_list).post(users_create))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    name: String,
    password: String,
    role: String,
}

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
    if !store::create_user(&mut tx, &user).await.map_err(db)? {
        return Err(ApiError::conflict(
            "email_taken",
            "this email is already registered",
        ));
    }
    tx.commit().await.map_err(db)?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

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
