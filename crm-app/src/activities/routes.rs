//! `/api/crm/activities`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ops_kit::auth::Principal;
use ops_kit::sql::Tx;
use ops_kit::{ApiError, FieldError, audited};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{
    ActivityRow, COLUMNS, CONTACT_TYPES, CREATE_FIELDS, PATCH_FIELDS, READ_ONLY, TYPES,
};
use super::store;
use crate::api::etag::{self, IfMatch, IfMatchHeader};
use crate::api::fields::{self, Errors};
use crate::api::idempotency::{self, Claim, IdempotencyKey, IdempotencyKeyHeader};
use crate::api::list::{self, Cursor, Deleted, KeyKind, ListQuery, Sort, SortField};
use crate::api::sql::{Arg, Sql};
use crate::api::{db, db_commit, now, read_tx};
use crate::leads;
use crate::openapi::schemas;
use crate::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(activities_list, activity_create))
        .routes(routes!(activity_get, activity_update, activity_delete))
        .routes(routes!(activity_restore))
}

type Written = (StatusCode, HeaderMap, Json<Value>);

fn not_found() -> ApiError {
    ApiError::not_found("activity not found")
}

async fn check_user(
    tx: &mut Tx,
    principal: &Principal,
    user: Option<Uuid>,
    errors: &mut Errors,
) -> Result<(), ApiError> {
    if let Some(user) = user
        && !leads::store::user_exists(tx, principal.tenant_id, user)
            .await
            .map_err(db)?
    {
        errors.add("assignedUserId", "is not a user of this tenant");
    }
    Ok(())
}

/// Records an activity on a lead.
#[utoipa::path(
    post, path = "/api/crm/activities", tag = "activities",
    params(IdempotencyKeyHeader),
    request_body = schemas::ActivityInput,
    responses(
        (status = 201, description = "Created; a completed call, email, meeting or site visit moves a new lead to contacted", body = schemas::Activity),
        (status = 422, body = schemas::Error),
    )
)]
#[audited(action = "activity.create", resource = "activity", resource_id = body("id"))]
async fn activity_create(
    principal: Principal,
    key: IdempotencyKey,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let claim = idempotency::claim(
        &mut tx,
        principal.tenant_id,
        &key,
        "POST /api/crm/activities",
        &body,
    )
    .await?;
    let claimed = match claim {
        Claim::Replay(stored) => {
            tx.rollback().await.map_err(db)?;
            return Ok(stored.into_response());
        }
        Claim::Fresh(claimed) => Some(claimed),
        Claim::None => None,
    };
    let map = fields::object(body)?;
    let mut errors = Errors::default();
    fields::known_keys(&map, CREATE_FIELDS, &READ_ONLY[..1], &mut errors);
    let lead_id = match map.get("leadId") {
        Some(v) => fields::uuid("leadId", v, &mut errors),
        None => {
            errors.add("leadId", "is required");
            None
        }
    };
    let kind = match map.get("type") {
        Some(v) => fields::one_of("type", v, TYPES, &mut errors),
        None => {
            errors.add("type", format!("is required ({})", TYPES.join(", ")));
            None
        }
    };
    if !map.contains_key("subject") {
        errors.add("subject", "is required");
    }
    let now = now();
    let mut activity = ActivityRow {
        tenant_id: principal.tenant_id,
        id: Uuid::new_v4(),
        lead_id: lead_id.unwrap_or_default(),
        kind: kind.unwrap_or_else(|| "note".into()),
        subject: String::new(),
        body: None,
        direction: None,
        due_at: None,
        occurred_at: None,
        duration_minutes: None,
        completed_at: None,
        outcome: None,
        assigned_user_id: None,
        created_by: Some(principal.user_id),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        version: 1,
    };
    activity.apply(&map, now, &mut errors);
    if let Some(lead_id) = lead_id {
        match leads::store::get_for_update(&mut tx, principal.tenant_id, lead_id)
            .await
            .map_err(db)?
        {
            Some(lead) if lead.deleted_at.is_none() => {}
            Some(_) => errors.add("leadId", "is a deleted lead"),
            None => errors.add("leadId", "is not a lead of this tenant"),
        }
    }
    check_user(&mut tx, &principal, activity.assigned_user_id, &mut errors).await?;
    errors.finish()?;
    store::save(&mut tx, &activity, true).await.map_err(db)?;
    if activity.completed_at.is_some() && CONTACT_TYPES.contains(&activity.kind.as_str()) {
        leads::domain::follow(
            &mut tx,
            &principal,
            activity.lead_id,
            leads::model::LeadStatus::Contacted,
            &[leads::model::LeadStatus::New],
            format!("activity {} completed", activity.id),
        )
        .await
        .map_err(db)?;
    }
    let view = activity.view(now);
    if let Some(claimed) = claimed {
        claimed.store(&mut tx, StatusCode::CREATED, &view).await?;
    }
    tx.commit().await.map_err(db_commit)?;
    Ok((
        StatusCode::CREATED,
        etag::headers(activity.version),
        Json(view),
    )
        .into_response())
}

const SORTS: &[SortField] = &[
    ("createdAt", "created_at", KeyKind::Time),
    ("updatedAt", "updated_at", KeyKind::Time),
];

fn types() -> utoipa::openapi::Object {
    crate::openapi::schemas::one_of(TYPES, false, "A type.")
}

fn sorts() -> utoipa::openapi::Object {
    crate::openapi::sort_parameter(SORTS)
}

/// The query string of `GET /activities`.
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

/// Lists the tenant's activities.
#[utoipa::path(
    get, path = "/api/crm/activities", tag = "activities", params(ActivityListQuery),
    responses((status = 200, description = "A page of activities", body = schemas::ActivityPage), (status = 400, body = schemas::Error), (status = 422, body = schemas::Error))
)]
async fn activities_list(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery(query): ListQuery<ActivityListQuery>,
) -> Result<axum::response::Response, ApiError> {
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(query.sort.as_deref(), SORTS, "-createdAt")?;
    let now = now();
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM activities WHERE tenant_id = $1"
    ));
    sql.args.push(Arg::Uuid(principal.tenant_id));
    sql.push(query.deleted.unwrap_or_default().condition());
    let mut errors = Errors::default();
    if let Some(lead) = query.lead_id {
        sql.and(" AND lead_id = ?", [Arg::Uuid(lead)]);
    }
    if let Some(kind) = &query.kind {
        if TYPES.contains(&kind.as_str()) {
            sql.and(" AND type = ?", [Arg::Text(kind.clone())]);
        } else {
            errors.add("type", format!("must be one of {}", TYPES.join(", ")));
        }
    }
    if let Some(user) = query.assigned_user_id {
        sql.and(" AND assigned_user_id = ?", [Arg::Uuid(user)]);
    }
    match query.open {
        Some(true) => sql.push(" AND completed_at IS NULL"),
        Some(false) => sql.push(" AND completed_at IS NOT NULL"),
        None => &mut sql,
    };
    match query.overdue {
        Some(true) => sql.and(" AND completed_at IS NULL AND due_at < ?", [Arg::Time(now)]),
        Some(false) => sql.and(
            " AND NOT (completed_at IS NULL AND due_at IS NOT NULL AND due_at < ?)",
            [Arg::Time(now)],
        ),
        None => &mut sql,
    };
    for (field, value, op) in [
        ("dueBefore", &query.due_before, "<"),
        ("dueAfter", &query.due_after, ">"),
        ("updatedAfter", &query.updated_after, ">"),
    ] {
        if let Some(text) = value
            && let Some(t) = fields::timestamp(field, text, &mut errors)
        {
            let column = if field == "updatedAfter" {
                "updated_at"
            } else {
                "due_at"
            };
            sql.and(&format!(" AND {column} {op} ?"), [Arg::Time(t)]);
        }
    }
    errors.finish()?;
    if let Some(cursor) = &query.cursor {
        sort.after(&mut sql, &Cursor::decode(cursor, &sort)?, "id");
    }
    sql.push(&sort.order_by("id"));
    sql.and(" LIMIT ?", [Arg::Int(limit + 1)]);

    let mut tx = read_tx(&state, &principal).await?;
    let rows = store::list(&mut tx, &sql).await.map_err(db)?;
    tx.end_read().await.map_err(db)?;
    Ok(axum::response::IntoResponse::into_response(list::page(
        &rows,
        limit,
        &sort,
        |a| Cursor {
            key: Arg::Time(if sort.column == "updated_at" {
                a.updated_at
            } else {
                a.created_at
            }),
            id: a.id,
        },
        |a| a.view(now),
    )))
}

/// One activity.
#[utoipa::path(
    get, path = "/api/crm/activities/{id}", tag = "activities", params(("id" = Uuid, Path, description = "The activity"), list::ShowQuery),
    responses((status = 200, description = "The activity, with its version as ETag", body = schemas::Activity), (status = 404, body = schemas::Error))
)]
async fn activity_get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(show): ListQuery<list::ShowQuery>,
) -> Result<Written, ApiError> {
    let mut tx = read_tx(&state, &principal).await?;
    let activity = store::get(&mut tx, principal.tenant_id, id, false)
        .await
        .map_err(db)?;
    tx.end_read().await.map_err(db)?;
    let activity = activity
        .filter(|a| {
            show.deleted
                .unwrap_or_default()
                .shows(a.deleted_at.as_ref())
        })
        .ok_or_else(not_found)?;
    Ok((
        StatusCode::OK,
        etag::headers(activity.version),
        Json(activity.view(now())),
    ))
}

async fn live(tx: &mut Tx, principal: &Principal, id: Uuid) -> Result<ActivityRow, ApiError> {
    match store::get(tx, principal.tenant_id, id, true)
        .await
        .map_err(db)?
    {
        Some(a) if a.deleted_at.is_none() => Ok(a),
        _ => Err(not_found()),
    }
}

/// Changes an activity with a JSON Merge Patch; `{"completed": true}`
/// completes it.
#[utoipa::path(
    patch, path = "/api/crm/activities/{id}", tag = "activities",
    params(("id" = Uuid, Path, description = "The activity"), IfMatchHeader),
    request_body(content = schemas::ActivityPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "The activity after the change", body = schemas::Activity), (status = 404, body = schemas::Error), (status = 412, body = schemas::Error), (status = 422, body = schemas::Error))
)]
#[audited(action = "activity.update", resource = "activity", resource_id = path("id"))]
async fn activity_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Written, ApiError> {
    let map = fields::object(body)?;
    let mut errors = Errors::default();
    fields::known_keys(&map, PATCH_FIELDS, READ_ONLY, &mut errors);
    errors.finish()?;
    let before = live(&mut tx, &principal, id).await?;
    if_match.check(before.version)?;
    let now = now();
    let mut activity = before.clone();
    let mut errors = Errors::default();
    activity.apply(&map, now, &mut errors);
    if activity.assigned_user_id != before.assigned_user_id {
        check_user(&mut tx, &principal, activity.assigned_user_id, &mut errors).await?;
    }
    errors.finish()?;
    if activity == before {
        tx.rollback().await.map_err(db)?;
        return Ok((
            StatusCode::OK,
            etag::headers(activity.version),
            Json(activity.view(now)),
        ));
    }
    activity.version += 1;
    activity.updated_at = now;
    store::save(&mut tx, &activity, false).await.map_err(db)?;
    if before.completed_at.is_none()
        && activity.completed_at.is_some()
        && CONTACT_TYPES.contains(&activity.kind.as_str())
    {
        leads::domain::follow(
            &mut tx,
            &principal,
            activity.lead_id,
            leads::model::LeadStatus::Contacted,
            &[leads::model::LeadStatus::New],
            format!("activity {} completed", activity.id),
        )
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db_commit)?;
    Ok((
        StatusCode::OK,
        etag::headers(activity.version),
        Json(activity.view(now)),
    ))
}

/// Soft-deletes an activity.
#[utoipa::path(
    delete, path = "/api/crm/activities/{id}", tag = "activities",
    params(("id" = Uuid, Path, description = "The activity"), IfMatchHeader),
    responses((status = 200, description = "The deleted activity", body = schemas::Activity), (status = 404, body = schemas::Error), (status = 412, body = schemas::Error))
)]
#[audited(action = "activity.delete", resource = "activity", resource_id = path("id"))]
async fn activity_delete(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
) -> Result<Written, ApiError> {
    let mut activity = live(&mut tx, &principal, id).await?;
    if_match.check(activity.version)?;
    let now = now();
    activity.deleted_at = Some(now);
    activity.updated_at = now;
    activity.version += 1;
    store::save(&mut tx, &activity, false).await.map_err(db)?;
    tx.commit().await.map_err(db_commit)?;
    Ok((
        StatusCode::OK,
        etag::headers(activity.version),
        Json(activity.view(now)),
    ))
}

/// Restores a soft-deleted activity.
#[utoipa::path(
    post, path = "/api/crm/activities/{id}/restore", tag = "activities",
    params(("id" = Uuid, Path, description = "The activity"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The restored activity", body = schemas::Activity), (status = 404, body = schemas::Error), (status = 412, body = schemas::Error), (status = 422, body = schemas::Error))
)]
#[audited(action = "activity.restore", resource = "activity", resource_id = path("id"))]
async fn activity_restore(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    key: IdempotencyKey,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let route = format!("POST /api/crm/activities/{id}/restore");
    let claimed =
        match idempotency::claim(&mut tx, principal.tenant_id, &key, &route, &Value::Null).await? {
            Claim::Replay(stored) => {
                tx.rollback().await.map_err(db)?;
                return Ok(stored.into_response());
            }
            Claim::Fresh(claimed) => Some(claimed),
            Claim::None => None,
        };
    let mut activity = store::get(&mut tx, principal.tenant_id, id, true)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    if_match.check(activity.version)?;
    let now = now();
    if activity.deleted_at.is_some() {
        match leads::store::get(&mut tx, principal.tenant_id, activity.lead_id)
            .await
            .map_err(db)?
        {
            Some(lead) if lead.deleted_at.is_none() => {}
            _ => {
                return Err(ApiError::validation(vec![FieldError::new(
                    "leadId",
                    "the activity's lead is deleted; restore the lead first",
                )]));
            }
        }
        activity.deleted_at = None;
        activity.updated_at = now;
        activity.version += 1;
        store::save(&mut tx, &activity, false).await.map_err(db)?;
    }
    let view = activity.view(now);
    if let Some(claimed) = claimed {
        claimed.store(&mut tx, StatusCode::OK, &view).await?;
    }
    tx.commit().await.map_err(db_commit)?;
    Ok((StatusCode::OK, etag::headers(activity.version), Json(view)).into_response())
}
