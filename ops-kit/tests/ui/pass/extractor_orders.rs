// Any extractor order axum accepts, with or without a body, with generic
// return types; every handler still goes into `.route(…)`, which also
// proves the generated futures are `Send`.
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, patch, post};
use axum::{Json, Router};
use ops_kit::auth::Principal;
use ops_kit::sql::Tx;
use ops_kit::{ApiError, RequestId, audited};
use serde_json::{Value, json};

#[audited(action = "lead.upsert", resource = "lead")]
async fn upsert(principal: Principal, mut tx: Tx, Json(input): Json<Value>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let _ = (principal, &mut tx, input);
    Ok((StatusCode::CREATED, Json(json!({"id": "L-1"}))))
}

#[audited(action = "lead.status_update", resource_id = path("id"), redact = ["note"])]
async fn status(headers: HeaderMap, Path(id): Path<String>, Query(q): Query<Value>, id2: RequestId, Json(body): Json<Value>) -> Json<Value> {
    let _ = (headers, q, id2, body);
    Json(json!({"id": id}))
}

#[audited(action = "lead.delete", resource_id = path("id"))]
async fn remove(Path(id): Path<String>) -> impl IntoResponse {
    let _ = id;
    StatusCode::NO_CONTENT
}

#[audited(action = "lead.purge_all", resource_id = none)]
async fn purge() {}

fn main() {
    let _app: Router = Router::new()
        .route("/leads", post(upsert).delete(purge))
        .route("/leads/{id}/status", patch(status))
        .route("/leads/{id}", delete(remove));
}
