//! `/api/crm/leads` and `/api/crm/lead-statuses`: each handler reads the
//! request, calls one function of [`super::domain`] and answers its result
//! (a lead with its version as `ETag`, or the envelope of a
//! [`LeadError`](super::domain::LeadError)).

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

use super::domain::{self, ListFilters, Written};
use super::input::{LeadInput, LeadPatch, StatusChange};
use super::model::{LeadPage, LeadRow, LeadStatuses, LeadSummary, LeadUpserted, TimelinePage};
use super::store::{self, SORTS, TIMELINE_SORT};
use crate::api::envelope;
use crate::api::etag::{self, IfMatch, IfMatchHeader};
use crate::api::idempotency::{self, IdempotencyKey, IdempotencyKeyHeader, Once};
use crate::api::list::{self, Cursor, Deleted, ListQuery, Sort};
use crate::api::{db, db_commit, read};
use crate::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(leads_list, leads_upsert))
        .routes(routes!(leads_summary))
        .routes(routes!(lead_get, lead_update, lead_delete))
        .routes(routes!(lead_restore))
        .routes(routes!(lead_status_update))
        .routes(routes!(lead_timeline))
        .routes(routes!(lead_statuses))
}

/// A lead with its version as `ETag`.
fn shown(lead: &LeadRow) -> Response {
    (etag::headers(lead.version), Json(lead.view())).into_response()
}

/// Commits a write that changed the lead, rolls back one that did not.
async fn settle(tx: Tx, written: &Written) -> Result<(), ApiError> {
    if written.changed {
        tx.commit().await.map_err(db_commit)
    } else {
        tx.rollback().await.map_err(db)
    }
}

/// Creates or updates a lead, matched by `id`, then `externalId`, then
/// `email`.
#[utoipa::path(
    post, path = "/api/crm/leads", tag = "leads",
    request_body(content = LeadInput, description = "The lead's fields; `id`, `externalId` and `email` also select the lead to update."),
    responses(
        (status = 201, description = "Created", body = LeadUpserted),
        (status = 200, description = "Updated (the status is never changed by an upsert)", body = LeadUpserted),
        (status = 409, description = "The keys match different leads, or a deleted one", body = envelope::Error),
        (status = 422, description = "Invalid fields", body = envelope::Error),
    )
)]
#[audited(action = "lead.upsert", resource = "lead", resource_id = body("id"))]
async fn leads_upsert(
    principal: Principal,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let input = LeadInput::upsert(body).map_err(domain::LeadError::from)?;
    let upserted = domain::upsert(tx.transaction().await?, &principal, input).await?;
    tx.commit().await.map_err(db_commit)?;
    let status = if upserted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = LeadUpserted {
        lead: upserted.lead.view(),
        created: upserted.created,
    };
    Ok((status, etag::headers(upserted.lead.version), Json(body)).into_response())
}

fn sorts() -> utoipa::openapi::Object {
    crate::api::list::sort_parameter(SORTS)
}

fn query_text() -> utoipa::openapi::Object {
    crate::api::fields::schema::string(false)
        .min_length(Some(1))
        .max_length(Some(crate::api::fields::MAX_QUERY))
        .pattern(Some(crate::api::fields::CONTROL_FREE_PATTERN))
        // A parameter with `schema_with` drops its doc comment: the
        // description goes with the schema.
        .description(Some("Text searched in name, company, email and phone."))
        .build()
}

/// The query string of `GET /leads`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct LeadListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// `createdAt`, `updatedAt` or `name`; `-` first for descending (default `-createdAt`).
    #[param(schema_with = sorts)]
    sort: Option<String>,
    /// Statuses, comma-separated.
    status: Option<String>,
    /// A source.
    source: Option<String>,
    /// A project type (`kitchen`, `bath`, ...).
    project_type: Option<String>,
    /// The owning user.
    owner_user_id: Option<Uuid>,
    /// Text searched in name, company, email and phone.
    #[param(schema_with = query_text)]
    q: Option<String>,
    /// Only leads changed after this time (RFC 3339).
    #[param(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    updated_after: Option<String>,
    /// `include` or `only` to see soft-deleted leads.
    #[param(inline)]
    deleted: Option<Deleted>,
}

/// Lists the tenant's leads.
#[utoipa::path(
    get, path = "/api/crm/leads", tag = "leads", params(LeadListQuery),
    responses((status = 200, description = "A page of leads", body = LeadPage), (status = 400, body = envelope::Error), (status = 422, body = envelope::Error))
)]
async fn leads_list(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery(query): ListQuery<LeadListQuery>,
) -> Result<Response, ApiError> {
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(query.sort.as_deref(), SORTS, "-createdAt")?;
    let filter = ListFilters {
        status: query.status.as_deref(),
        source: query.source.as_deref(),
        project_type: query.project_type.as_deref(),
        owner_user_id: query.owner_user_id,
        q: query.q.as_deref(),
        updated_after: query.updated_after.as_deref(),
        deleted: query.deleted.unwrap_or_default(),
    }
    .check()?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &sort))
        .transpose()?;
    let rows = read(&state, &principal, async |tx| {
        domain::list(tx, &principal, &filter, &sort, cursor.as_ref(), limit).await
    })
    .await?;
    let leads = rows.leads().map_err(db)?;
    // The page borrows the leads: nothing is copied per row.
    let page = list::page(&leads, limit, &sort, |l| store::sort_key(l, &sort), |l| l);
    Ok(page.into_written_response())
}

/// One lead.
#[utoipa::path(
    get, path = "/api/crm/leads/{id}", tag = "leads", params(("id" = Uuid, Path, description = "The lead"), list::ShowQuery),
    responses((status = 200, description = "The lead, with its version as ETag", body = super::model::Lead), (status = 404, body = envelope::Error))
)]
async fn lead_get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(show): ListQuery<list::ShowQuery>,
) -> Result<Response, ApiError> {
    let lead = read(&state, &principal, async |tx| {
        domain::get(tx, &principal, id, show.deleted.unwrap_or_default()).await
    })
    .await;
    Ok(shown(&lead?))
}

/// Changes a lead's profile with a JSON Merge Patch.
#[utoipa::path(
    patch, path = "/api/crm/leads/{id}", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader),
    request_body(content = LeadInput, content_type = "application/merge-patch+json", description = "Absent fields stay, null clears"),
    responses(
        (status = 200, description = "The lead after the change", body = super::model::Lead),
        (status = 404, body = envelope::Error), (status = 409, body = envelope::Error),
        (status = 412, description = "If-Match does not match the current version", body = envelope::Error),
        (status = 422, body = envelope::Error),
    )
)]
#[audited(action = "lead.update", resource = "lead", resource_id = path("id"))]
async fn lead_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let patch = LeadPatch::new(body).map_err(domain::LeadError::from)?;
    let written = domain::update(tx.transaction().await?, &principal, id, &if_match, patch).await?;
    settle(tx, &written).await?;
    Ok(shown(&written.lead))
}

/// Soft-deletes a lead.
#[utoipa::path(
    delete, path = "/api/crm/leads/{id}", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader),
    responses((status = 200, description = "The deleted lead", body = super::model::Lead), (status = 404, body = envelope::Error), (status = 412, body = envelope::Error))
)]
#[audited(action = "lead.delete", resource = "lead", resource_id = path("id"))]
async fn lead_delete(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let lead = domain::delete(tx.transaction().await?, &principal, id, &if_match).await?;
    tx.commit().await.map_err(db_commit)?;
    Ok(shown(&lead))
}

/// Restores a soft-deleted lead.
#[utoipa::path(
    post, path = "/api/crm/leads/{id}/restore", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The restored lead (a live lead is returned unchanged)", body = super::model::Lead), (status = 404, body = envelope::Error), (status = 412, body = envelope::Error))
)]
#[audited(action = "lead.restore", resource = "lead", resource_id = path("id"))]
async fn lead_restore(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    key: IdempotencyKey,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let route = format!("POST /api/crm/leads/{id}/restore");
    let work = tx.transaction().await?;
    let once = idempotency::once(
        work,
        principal.tenant_id,
        &key,
        &route,
        &Value::Null,
        async |work| {
            let lead = domain::restore(work, &principal, id, &if_match).await?;
            let view = serde_json::to_value(lead.view()).map_err(ApiError::internal)?;
            Ok::<_, ApiError>((StatusCode::OK, view))
        },
    )
    .await?;
    match once {
        Once::Replay(stored) => {
            tx.rollback().await.map_err(db)?;
            Ok(stored.into_response())
        }
        Once::Done(status, view) => {
            tx.commit().await.map_err(db_commit)?;
            // The ETag is the version shown (a restored lead's, or a live
            // lead's unchanged).
            let version = view["version"].as_i64().unwrap_or_default();
            Ok((status, etag::headers(version), Json(view)).into_response())
        }
    }
}

/// Moves a lead through the pipeline.
#[utoipa::path(
    patch, path = "/api/crm/leads/{id}/status", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader),
    request_body = StatusChange,
    responses(
        (status = 200, description = "The lead after the move (unchanged when the status is the same)", body = super::model::Lead),
        (status = 403, description = "Reopening a won lead is for admins", body = envelope::Error),
        (status = 404, body = envelope::Error),
        (status = 409, description = "Not an allowed move; `allowedTransitions` lists those that are", body = envelope::Error),
        (status = 412, body = envelope::Error), (status = 422, body = envelope::Error),
    )
)]
#[audited(action = "lead.status_update", resource = "lead", resource_id = path("id"))]
async fn lead_status_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(change): Json<StatusChange>,
) -> Result<Response, ApiError> {
    let change = change.check().map_err(domain::LeadError::from)?;
    let written =
        domain::transition(tx.transaction().await?, &principal, id, &if_match, change).await?;
    settle(tx, &written).await?;
    Ok(shown(&written.lead))
}

/// The query string of the timeline.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A lead's activities, status changes and quote events, newest first.
#[utoipa::path(
    get, path = "/api/crm/leads/{id}/timeline", tag = "leads", params(("id" = Uuid, Path, description = "The lead"), PageQuery),
    responses((status = 200, description = "A page of timeline entries", body = TimelinePage), (status = 404, body = envelope::Error))
)]
async fn lead_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(query): ListQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(None, TIMELINE_SORT, "-at")?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &sort))
        .transpose()?;
    let page = read(&state, &principal, async |tx| {
        domain::timeline(tx, &principal, id, &sort, cursor.as_ref(), limit).await
    })
    .await?;
    Ok(page.into_response())
}

/// Per status: how many live leads, and their estimated value per currency.
#[utoipa::path(
    get, path = "/api/crm/leads/summary", tag = "leads",
    responses((status = 200, description = "Counts and totals per status", body = LeadSummary))
)]
async fn leads_summary(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<LeadSummary>, ApiError> {
    let summary = read(&state, &principal, async |tx| {
        domain::summary(tx, &principal).await
    })
    .await?;
    Ok(Json(summary))
}

/// The statuses and their allowed moves, for user interfaces.
#[utoipa::path(
    get, path = "/api/crm/lead-statuses", tag = "leads",
    responses((status = 200, description = "Statuses, moves and lost reasons", body = LeadStatuses))
)]
async fn lead_statuses() -> Json<LeadStatuses> {
    Json(domain::statuses())
}
