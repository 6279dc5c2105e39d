//! `/api/crm/activities`: the JSON front end of [`super::domain`]. Each
//! handler reads the request, calls one domain function and writes its
//! answer (the activity with its version as `ETag`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ops_kit::auth::Principal;
use ops_kit::sql::Tx;
use ops_kit::{ApiError, audited};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::domain::{self, Changed};
use super::input::{ActivityInput, ActivityPatch};
use super::model::{Activity, ActivityKind, ActivityPage};
use super::store::Filter;
use crate::api::envelope::Error;
use crate::api::etag::{self, IfMatch, IfMatchHeader};
use crate::api::fields::{self, Errors};
use crate::api::idempotency::{self, IdempotencyKey, IdempotencyKeyHeader, Once};
use crate::api::list::{self, Cursor, Deleted, KeyKind, ListQuery, Sort, SortField};
use crate::api::{db, read};
use crate::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(activities_list, activity_create))
        .routes(routes!(activity_get, activity_update, activity_delete))
        .routes(routes!(activity_restore))
}

/// An activity with its version as `ETag`.
fn answer(status: StatusCode, activity: Activity) -> Response {
    (status, etag::headers(activity.version), Json(activity)).into_response()
}

/// Records an activity on a lead.
#[utoipa::path(
    post, path = "/api/crm/activities", tag = "activities",
    params(IdempotencyKeyHeader),
    request_body = ActivityInput,
    responses(
        (status = 201, description = "Created; a completed call, email, meeting or site visit moves a new lead to contacted", body = Activity),
        (status = 422, body = Error),
    )
)]
#[audited(action = "activity.create", resource = "activity", resource_id = body("id"))]
async fn activity_create(
    principal: Principal,
    key: IdempotencyKey,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let input = fields::object(body.clone()).map(|map| ActivityInput::parse(&map));
    let work = tx.transaction().await?;
    // The key is claimed before a refusal is answered: the same key with
    // another body is refused as such, even when that body is invalid.
    let route = "POST /api/crm/activities";
    let once = idempotency::once(
        work,
        principal.tenant_id,
        &key,
        route,
        &body,
        async |work| {
            let activity = domain::create(work, &principal, input?).await?;
            Ok::<_, ApiError>((StatusCode::CREATED, activity))
        },
    )
    .await?;
    finish(tx, once).await
}

/// Commits a keyed request's work and answers it, or rolls back and
/// replays the first answer.
async fn finish(tx: Tx, once: Once<Activity>) -> Result<Response, ApiError> {
    match once {
        Once::Replay(stored) => {
            tx.rollback().await.map_err(db)?;
            Ok(stored.into_response())
        }
        Once::Done(status, activity) => {
            tx.commit().await.map_err(crate::api::db_commit)?;
            Ok(answer(status, activity))
        }
    }
}

const SORTS: &[SortField] = &[
    ("createdAt", "created_at", KeyKind::Time),
    ("updatedAt", "updated_at", KeyKind::Time),
];

fn types() -> utoipa::openapi::Object {
    crate::api::fields::schema::one_of(ActivityKind::NAMES, false, "A type.")
}

fn sorts() -> utoipa::openapi::Object {
    crate::api::list::sort_parameter(SORTS)
}

/// The query string of `GET /activities`. (The time filters' pattern is
/// a literal, as utoipa asks of a parameter that keeps its description;
/// a test holds it to [`TIMESTAMP_PATTERN`](super::input::TIMESTAMP_PATTERN).)
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ActivityListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// `createdAt` or `updatedAt`, `-` first for descending (default `-createdAt`).
    #[param(schema_with = sorts)]
    sort: Option<String>,
    /// The lead.
    lead_id: Option<Uuid>,
    /// A type.
    #[serde(rename = "type")]
    #[param(schema_with = types)]
    kind: Option<String>,
    /// The assigned user.
    assigned_user_id: Option<Uuid>,
    /// `true`: not completed; `false`: completed.
    open: Option<bool>,
    /// `true`: open and past due.
    overdue: Option<bool>,
    /// Due before this time.
    #[param(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    due_before: Option<String>,
    /// Due after this time.
    #[param(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    due_after: Option<String>,
    /// Only activities changed after this time.
    #[param(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    updated_after: Option<String>,
    /// `include` or `only` to see soft-deleted activities.
    #[param(inline)]
    deleted: Option<Deleted>,
}

impl ActivityListQuery {
    /// The filter it asks for; every problem in one 422.
    fn filter(&self) -> Result<Filter, ApiError> {
        let mut errors = Errors::default();
        let kind = self.kind.as_deref().and_then(|kind| {
            let parsed = kind.parse::<ActivityKind>().ok();
            if parsed.is_none() {
                errors.add(
                    "type",
                    format!("must be one of {}", ActivityKind::NAMES.join(", ")),
                );
            }
            parsed
        });
        let mut time = |field, text: &Option<String>| {
            text.as_deref()
                .and_then(|t| fields::timestamp(field, t, &mut errors))
        };
        let due_before = time("dueBefore", &self.due_before);
        let due_after = time("dueAfter", &self.due_after);
        let updated_after = time("updatedAfter", &self.updated_after);
        errors.finish()?;
        Ok(Filter {
            deleted: self.deleted.unwrap_or_default(),
            lead_id: self.lead_id,
            kind,
            assigned_user_id: self.assigned_user_id,
            open: self.open,
            overdue: self.overdue,
            due_before,
            due_after,
            updated_after,
        })
    }
}

/// Lists the tenant's activities.
#[utoipa::path(
    get, path = "/api/crm/activities", tag = "activities", params(ActivityListQuery),
    responses((status = 200, description = "A page of activities", body = ActivityPage), (status = 400, body = Error), (status = 422, body = Error))
)]
async fn activities_list(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery(query): ListQuery<ActivityListQuery>,
) -> Result<Response, ApiError> {
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(query.sort.as_deref(), SORTS, "-createdAt")?;
    let filter = query.filter()?;
    let cursor = match &query.cursor {
        Some(cursor) => Some(Cursor::decode(cursor, &sort)?),
        None => None,
    };
    let page = read(&state, &principal, async |tx| {
        domain::list(tx, &principal, &filter, &sort, cursor.as_ref(), limit).await
    })
    .await?;
    Ok(page.into_response())
}

/// One activity.
#[utoipa::path(
    get, path = "/api/crm/activities/{id}", tag = "activities", params(("id" = Uuid, Path, description = "The activity"), list::ShowQuery),
    responses((status = 200, description = "The activity, with its version as ETag", body = Activity), (status = 404, body = Error))
)]
async fn activity_get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(show): ListQuery<list::ShowQuery>,
) -> Result<Response, ApiError> {
    let found = read(&state, &principal, async |tx| {
        domain::get(tx, &principal, id, show.deleted.unwrap_or_default()).await
    })
    .await;
    Ok(answer(StatusCode::OK, found?))
}

/// Changes an activity with a JSON Merge Patch; `{"completed": true}`
/// completes it.
#[utoipa::path(
    patch, path = "/api/crm/activities/{id}", tag = "activities",
    params(("id" = Uuid, Path, description = "The activity"), IfMatchHeader),
    request_body(content = ActivityPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "The activity after the change", body = Activity), (status = 404, body = Error), (status = 412, body = Error), (status = 422, body = Error))
)]
#[audited(action = "activity.update", resource = "activity", resource_id = path("id"))]
async fn activity_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let patch = ActivityPatch::parse(&fields::object(body)?)?;
    let work = tx.transaction().await?;
    match domain::update(work, &principal, id, &if_match, patch).await? {
        Changed::Saved(activity) => {
            tx.commit().await.map_err(crate::api::db_commit)?;
            Ok(answer(StatusCode::OK, activity))
        }
        // Nothing written, nothing to audit.
        Changed::Unchanged(activity) => {
            tx.rollback().await.map_err(db)?;
            Ok(answer(StatusCode::OK, activity))
        }
    }
}

/// Soft-deletes an activity.
#[utoipa::path(
    delete, path = "/api/crm/activities/{id}", tag = "activities",
    params(("id" = Uuid, Path, description = "The activity"), IfMatchHeader),
    responses((status = 200, description = "The deleted activity", body = Activity), (status = 404, body = Error), (status = 412, body = Error))
)]
#[audited(action = "activity.delete", resource = "activity", resource_id = path("id"))]
async fn activity_delete(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let activity = domain::delete(tx.transaction().await?, &principal, id, &if_match).await?;
    tx.commit().await.map_err(crate::api::db_commit)?;
    Ok(answer(StatusCode::OK, activity))
}

/// Restores a soft-deleted activity.
#[utoipa::path(
    post, path = "/api/crm/activities/{id}/restore", tag = "activities",
    params(("id" = Uuid, Path, description = "The activity"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The restored activity", body = Activity), (status = 404, body = Error), (status = 412, body = Error), (status = 422, body = Error))
)]
#[audited(action = "activity.restore", resource = "activity", resource_id = path("id"))]
async fn activity_restore(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    key: IdempotencyKey,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let work = tx.transaction().await?;
    let route = format!("POST /api/crm/activities/{id}/restore");
    let tenant = principal.tenant_id;
    let once = idempotency::once(work, tenant, &key, &route, &Value::Null, async |work| {
        let activity = domain::restore(work, &principal, id, &if_match).await?;
        Ok::<_, ApiError>((StatusCode::OK, activity))
    })
    .await?;
    finish(tx, once).await
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;

    use super::*;
    use crate::activities::input::TIMESTAMP_PATTERN;

    #[test]
    fn the_time_filters_state_the_years_validation_accepts() {
        let parameters = ActivityListQuery::into_params(|| None);
        for name in ["dueBefore", "dueAfter", "updatedAfter"] {
            let parameter = parameters.iter().find(|p| p.name == name).unwrap();
            let schema = serde_json::to_value(&parameter.schema).unwrap();
            assert_eq!(schema["pattern"], TIMESTAMP_PATTERN, "{name}");
        }
    }
}
