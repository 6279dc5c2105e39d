//! `/api/crm/leads` and `/api/crm/lead-statuses`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ops_kit::auth::Principal;
use ops_kit::sql::Tx;
use ops_kit::{ApiError, audited};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::input::{self, READ_ONLY, WRITABLE};
use super::model::{COLUMNS, LeadRef, LeadRow, PROJECT_TYPES, SOURCES};
use super::pipeline::{self, LOST_REASONS, STATUSES};
use super::store::{self, StatusEvent};
use crate::api::etag::{self, IfMatch, IfMatchHeader};
use crate::api::fields::{self, Errors};
use crate::api::idempotency::{self, Claim, IdempotencyKey, IdempotencyKeyHeader};
use crate::api::list::{self, Cursor, Deleted, KeyKind, ListQuery, Sort, SortField};
use crate::api::sql::{Arg, Sql};
use crate::api::{db, db_commit, money, now, read_tx};
use crate::openapi::schemas;
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

type Written = (StatusCode, HeaderMap, Json<Value>);

fn written(status: StatusCode, lead: &LeadRow) -> Written {
    (status, etag::headers(lead.version), Json(lead.view()))
}

fn not_found() -> ApiError {
    ApiError::not_found("lead not found")
}

/// A live lead of the tenant, locked for the transaction; 404 otherwise.
async fn live_lead(tx: &mut Tx, principal: &Principal, id: Uuid) -> Result<LeadRow, ApiError> {
    match store::get(tx, principal.tenant_id, id, true)
        .await
        .map_err(db)?
    {
        Some(lead) if lead.deleted_at.is_none() => Ok(lead),
        _ => Err(not_found()),
    }
}

async fn check_owner(
    tx: &mut Tx,
    principal: &Principal,
    lead: &LeadRow,
    before: Option<&LeadRow>,
) -> Result<(), ApiError> {
    if let Some(owner) = lead.owner_user_id
        && before.is_none_or(|b| b.owner_user_id != Some(owner))
        && !store::user_exists(tx, principal.tenant_id, owner)
            .await
            .map_err(db)?
    {
        return Err(ApiError::validation(vec![ops_kit::FieldError::new(
            "ownerUserId",
            "is not a user of this tenant",
        )]));
    }
    Ok(())
}

/// Refuses a changed externalId or email that another lead of the tenant
/// holds.
async fn check_unique(
    tx: &mut Tx,
    principal: &Principal,
    lead: &LeadRow,
    before: &LeadRow,
) -> Result<(), ApiError> {
    let keys = [
        (
            "external_id",
            lead.external_id.clone(),
            before.external_id.clone(),
            "externalId",
            "external_id_taken",
        ),
        (
            "email_key",
            lead.email_key(),
            before.email_key(),
            "email",
            "email_taken",
        ),
    ];
    for (column, value, old, field, code) in keys {
        let Some(value) = value.filter(|v| old.as_ref() != Some(v)) else {
            continue;
        };
        if let Some(other) = store::find_by(tx, principal.tenant_id, column, &value)
            .await
            .map_err(db)?
            && other.id != lead.id
        {
            return Err(
                ApiError::conflict(code, format!("another lead already has this {field}"))
                    .with_field("field", json!(field))
                    .with_field("conflictingId", json!(other.id)),
            );
        }
    }
    Ok(())
}

/// Creates or updates a lead, matched by `id`, then `externalId`, then
/// `email`.
#[utoipa::path(
    post, path = "/api/crm/leads", tag = "leads",
    request_body(content = schemas::LeadInput, description = "The lead's fields; `id`, `externalId` and `email` also select the lead to update."),
    responses(
        (status = 201, description = "Created", body = schemas::LeadUpserted),
        (status = 200, description = "Updated (the status is never changed by an upsert)", body = schemas::LeadUpserted),
        (status = 409, description = "The keys match different leads, or a deleted one", body = schemas::Error),
        (status = 422, description = "Invalid fields", body = schemas::Error),
    )
)]
#[audited(action = "lead.upsert", resource = "lead", resource_id = body("id"))]
async fn leads_upsert(
    principal: Principal,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Written, ApiError> {
    let map = fields::object(body)?;
    let mut errors = Errors::default();
    let mut writable = WRITABLE.to_vec();
    writable.push("id");
    let read_only: Vec<&str> = READ_ONLY.iter().copied().filter(|k| *k != "id").collect();
    fields::known_keys(&map, &writable, &read_only, &mut errors);
    let id = map
        .get("id")
        .and_then(|v| fields::uuid("id", v, &mut errors));
    let mut profile = map.clone();
    profile.remove("id");
    let now = now();
    // Every field is checked before any lookup.
    let mut scratch = LeadRow::new(principal.tenant_id, id.unwrap_or_else(Uuid::new_v4), now);
    input::apply(&profile, &mut scratch, &mut errors);
    errors.finish()?;

    let tenant = principal.tenant_id;
    let mut found: Vec<(&str, LeadRow)> = Vec::new();
    if let Some(id) = id
        && let Some(lead) = store::get(&mut tx, tenant, id, true).await.map_err(db)?
    {
        found.push(("id", lead));
    }
    if let Some(ext) = scratch
        .external_id
        .clone()
        .filter(|_| profile.contains_key("externalId"))
        && let Some(lead) = store::find_by(&mut tx, tenant, "external_id", &ext)
            .await
            .map_err(db)?
    {
        found.push(("externalId", lead));
    }
    if let Some(key) = scratch
        .email_key()
        .filter(|_| profile.contains_key("email"))
        && let Some(lead) = store::find_by(&mut tx, tenant, "email_key", &key)
            .await
            .map_err(db)?
    {
        found.push(("email", lead));
    }
    let mut ids: Vec<Uuid> = found.iter().map(|(_, l)| l.id).collect();
    // A client-chosen id that names no lead is a new lead's id: another
    // key matching an existing lead contradicts it.
    if let Some(id) = id {
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    if ids.len() > 1 {
        let matches: Map<String, Value> = found
            .iter()
            .map(|(k, l)| (k.to_string(), json!(l.id)))
            .collect();
        return Err(
            ApiError::conflict("lead_conflict", "the lead's keys match different leads")
                .with_field("matches", Value::Object(matches)),
        );
    }

    let (status, lead) = match found.into_iter().next() {
        Some((_, existing)) => {
            if existing.deleted_at.is_some() {
                return Err(ApiError::conflict(
                    "lead_deleted",
                    "the matching lead is deleted; restore it first",
                )
                .with_field("leadId", json!(existing.id)));
            }
            let mut lead = existing.clone();
            let mut errors = Errors::default();
            input::apply(&profile, &mut lead, &mut errors);
            errors.finish()?;
            check_owner(&mut tx, &principal, &lead, Some(&existing)).await?;
            if lead != existing {
                lead.version += 1;
                lead.updated_at = now;
                store::update(&mut tx, &lead).await.map_err(db)?;
            }
            (StatusCode::OK, lead)
        }
        None => {
            if !profile.contains_key("name") {
                return Err(ApiError::validation(vec![ops_kit::FieldError::new(
                    "name",
                    "is required",
                )]));
            }
            let lead = scratch;
            check_owner(&mut tx, &principal, &lead, None).await?;
            store::insert(&mut tx, &lead).await.map_err(db)?;
            store::insert_event(
                &mut tx,
                &StatusEvent {
                    tenant_id: tenant,
                    id: Uuid::new_v4(),
                    lead_id: lead.id,
                    from_status: None,
                    to_status: lead.status.clone(),
                    lost_reason: None,
                    note: None,
                    user_id: Some(principal.user_id),
                    occurred_at: now,
                },
            )
            .await
            .map_err(db)?;
            (StatusCode::CREATED, lead)
        }
    };
    tx.commit().await.map_err(db_commit)?;
    let mut view = lead.view();
    view["created"] = json!(status == StatusCode::CREATED);
    Ok((status, etag::headers(lead.version), Json(view)))
}

const SORTS: &[SortField] = &[
    ("createdAt", "created_at", KeyKind::Time),
    ("updatedAt", "updated_at", KeyKind::Time),
    ("name", "name", KeyKind::Text),
];

fn sorts() -> utoipa::openapi::Object {
    crate::openapi::sort_parameter(SORTS)
}

fn sort_key(lead: &LeadRef<'_>, sort: &Sort) -> Cursor {
    let key = match sort.column {
        "updated_at" => Arg::Time(lead.updated_at),
        "name" => Arg::Text(lead.name.to_owned()),
        _ => Arg::Time(lead.created_at),
    };
    Cursor { key, id: lead.id }
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
    /// The owning user.
    owner_user_id: Option<Uuid>,
    /// Text searched in name, company, email and phone.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
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
    responses((status = 200, description = "A page of leads", body = schemas::LeadPage), (status = 400, body = schemas::Error), (status = 422, body = schemas::Error))
)]
async fn leads_list(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery(query): ListQuery<LeadListQuery>,
) -> Result<axum::response::Response, ApiError> {
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(query.sort.as_deref(), SORTS, "-createdAt")?;
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM leads WHERE tenant_id = $1"));
    sql.args.push(Arg::Uuid(principal.tenant_id));
    sql.push(query.deleted.unwrap_or_default().condition());
    let mut errors = Errors::default();
    // Several statuses are read as one branch each (see `merge_branches`).
    const STATUS_MARKER: &str = "\u{1}status\u{1}";
    let statuses: Vec<String> = match &query.status {
        Some(raw) => list::one_of("status", raw, STATUSES, &mut errors)
            .into_iter()
            .map(|status| sql.arg(Arg::Text(status.into())))
            .collect(),
        None => Vec::new(),
    };
    match statuses.as_slice() {
        [] => {}
        [one] => {
            sql.push(&format!(" AND status = {one}"));
        }
        _ => {
            sql.push(&format!(" AND status = {STATUS_MARKER}"));
        }
    }
    if let Some(source) = &query.source {
        if SOURCES.contains(&source.as_str()) {
            sql.and(" AND source = ?", [Arg::Text(source.clone())]);
        } else {
            errors.add("source", format!("must be one of {}", SOURCES.join(", ")));
        }
    }
    if let Some(owner) = query.owner_user_id {
        sql.and(" AND owner_user_id = ?", [Arg::Uuid(owner)]);
    }
    if let Some(q) = &query.q {
        let pattern = crate::api::sql::contains_pattern(&fields::query_text("q", q)?);
        sql.and(
            " AND (lower(name) LIKE ? ESCAPE '\\' OR lower(coalesce(company, '')) LIKE ? ESCAPE '\\' \
             OR coalesce(email_key, '') LIKE ? ESCAPE '\\' OR coalesce(phone, '') LIKE ? ESCAPE '\\')",
            std::iter::repeat_n(Arg::Text(pattern), 4),
        );
    }
    if let Some(after) = &query.updated_after
        && let Some(t) = fields::timestamp("updatedAfter", after, &mut errors)
    {
        sql.and(" AND updated_at > ?", [Arg::Time(t)]);
    }
    errors.finish()?;
    if let Some(cursor) = &query.cursor {
        sort.after(&mut sql, &Cursor::decode(cursor, &sort)?, "id");
    }
    let order_by = sort.order_by("id");
    sql.push(&order_by);
    let page = sql.arg(Arg::Int(limit + 1));
    sql.push(&format!(" LIMIT {page}"));
    if statuses.len() > 1 {
        sql.text = list::merge_branches(&sql.text, STATUS_MARKER, &statuses, &order_by, &page);
    }

    let mut tx = read_tx(&state, &principal).await?;
    let rows = store::list(&mut tx, &sql).await.map_err(db)?;
    tx.end_read().await.map_err(db)?;
    let leads = rows.leads().map_err(db)?;
    Ok(list::page(&leads, limit, &sort, |l| sort_key(l, &sort), |l| l).into_written_response())
}

/// One lead.
#[utoipa::path(
    get, path = "/api/crm/leads/{id}", tag = "leads", params(("id" = Uuid, Path, description = "The lead"), list::ShowQuery),
    responses((status = 200, description = "The lead, with its version as ETag", body = schemas::Lead), (status = 404, body = schemas::Error))
)]
async fn lead_get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(show): ListQuery<list::ShowQuery>,
) -> Result<Written, ApiError> {
    let mut tx = read_tx(&state, &principal).await?;
    let lead = store::get(&mut tx, principal.tenant_id, id, false)
        .await
        .map_err(db)?;
    tx.end_read().await.map_err(db)?;
    let lead = lead
        .filter(|l| {
            show.deleted
                .unwrap_or_default()
                .shows(l.deleted_at.as_ref())
        })
        .ok_or_else(not_found)?;
    Ok(written(StatusCode::OK, &lead))
}

/// Changes a lead's profile with a JSON Merge Patch.
#[utoipa::path(
    patch, path = "/api/crm/leads/{id}", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader),
    request_body(content = schemas::LeadInput, content_type = "application/merge-patch+json", description = "Absent fields stay, null clears"),
    responses(
        (status = 200, description = "The lead after the change", body = schemas::Lead),
        (status = 404, body = schemas::Error), (status = 409, body = schemas::Error),
        (status = 412, description = "If-Match does not match the current version", body = schemas::Error),
        (status = 422, body = schemas::Error),
    )
)]
#[audited(action = "lead.update", resource = "lead", resource_id = path("id"))]
async fn lead_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Written, ApiError> {
    let map = fields::object(body)?;
    let mut errors = Errors::default();
    fields::known_keys(&map, WRITABLE, READ_ONLY, &mut errors);
    errors.finish()?;
    let before = live_lead(&mut tx, &principal, id).await?;
    if_match.check(before.version)?;
    let mut lead = before.clone();
    let mut errors = Errors::default();
    input::apply(&map, &mut lead, &mut errors);
    errors.finish()?;
    if lead == before {
        tx.rollback().await.map_err(db)?;
        return Ok(written(StatusCode::OK, &lead));
    }
    check_unique(&mut tx, &principal, &lead, &before).await?;
    check_owner(&mut tx, &principal, &lead, Some(&before)).await?;
    lead.version += 1;
    lead.updated_at = now();
    store::update(&mut tx, &lead).await.map_err(db)?;
    tx.commit().await.map_err(db_commit)?;
    Ok(written(StatusCode::OK, &lead))
}

/// Soft-deletes a lead.
#[utoipa::path(
    delete, path = "/api/crm/leads/{id}", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader),
    responses((status = 200, description = "The deleted lead", body = schemas::Lead), (status = 404, body = schemas::Error), (status = 412, body = schemas::Error))
)]
#[audited(action = "lead.delete", resource = "lead", resource_id = path("id"))]
async fn lead_delete(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
) -> Result<Written, ApiError> {
    let mut lead = live_lead(&mut tx, &principal, id).await?;
    if_match.check(lead.version)?;
    let now = now();
    lead.deleted_at = Some(now);
    lead.updated_at = now;
    lead.version += 1;
    store::update(&mut tx, &lead).await.map_err(db)?;
    tx.commit().await.map_err(db_commit)?;
    Ok(written(StatusCode::OK, &lead))
}

/// Restores a soft-deleted lead.
#[utoipa::path(
    post, path = "/api/crm/leads/{id}/restore", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The restored lead (a live lead is returned unchanged)", body = schemas::Lead), (status = 404, body = schemas::Error), (status = 412, body = schemas::Error))
)]
#[audited(action = "lead.restore", resource = "lead", resource_id = path("id"))]
async fn lead_restore(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    key: IdempotencyKey,
    mut tx: Tx,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let route = format!("POST /api/crm/leads/{id}/restore");
    let claim =
        idempotency::claim(&mut tx, principal.tenant_id, &key, &route, &Value::Null).await?;
    let claimed = match claim {
        Claim::Replay(stored) => {
            tx.rollback().await.map_err(db)?;
            return Ok(stored.into_response());
        }
        Claim::Fresh(claimed) => Some(claimed),
        Claim::None => None,
    };
    let mut lead = store::get(&mut tx, principal.tenant_id, id, true)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    if_match.check(lead.version)?;
    if lead.deleted_at.is_some() {
        lead.deleted_at = None;
        lead.updated_at = now();
        lead.version += 1;
        store::update(&mut tx, &lead).await.map_err(db)?;
    }
    let view = lead.view();
    if let Some(claimed) = claimed {
        claimed.store(&mut tx, StatusCode::OK, &view).await?;
    }
    tx.commit().await.map_err(db_commit)?;
    Ok((StatusCode::OK, etag::headers(lead.version), Json(view)).into_response())
}

/// The body of a status change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatusChange {
    /// The new status.
    #[schema(schema_with = statuses)]
    pub status: String,
    /// Why the lead was lost (required for `lost`, refused otherwise).
    #[schema(schema_with = lost_reasons, required = false)]
    pub lost_reason: Option<String>,
    /// A note kept with the status event.
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub note: Option<String>,
}

fn statuses() -> utoipa::openapi::Object {
    schemas::one_of(STATUSES, false, "The new status.")
}

fn lost_reasons() -> utoipa::openapi::Object {
    schemas::one_of(
        LOST_REASONS,
        true,
        "Why the lead was lost: required for `lost`, refused otherwise.",
    )
}

/// Moves a lead through the pipeline.
#[utoipa::path(
    patch, path = "/api/crm/leads/{id}/status", tag = "leads",
    params(("id" = Uuid, Path, description = "The lead"), IfMatchHeader),
    request_body = StatusChange,
    responses(
        (status = 200, description = "The lead after the move (unchanged when the status is the same)", body = schemas::Lead),
        (status = 403, description = "Reopening a won lead is for admins", body = schemas::Error),
        (status = 404, body = schemas::Error),
        (status = 409, description = "Not an allowed move; `allowedTransitions` lists those that are", body = schemas::Error),
        (status = 412, body = schemas::Error), (status = 422, body = schemas::Error),
    )
)]
#[audited(action = "lead.status_update", resource = "lead", resource_id = path("id"))]
async fn lead_status_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(change): Json<StatusChange>,
) -> Result<Written, ApiError> {
    let mut errors = Errors::default();
    fields::one_of("status", &json!(change.status), STATUSES, &mut errors);
    let lost_reason = match (&change.lost_reason, change.status.as_str()) {
        (Some(reason), "lost") => {
            fields::one_of("lostReason", &json!(reason), LOST_REASONS, &mut errors)
        }
        (None, "lost") => {
            errors.add(
                "lostReason",
                format!(
                    "is required when the status is lost ({})",
                    LOST_REASONS.join(", ")
                ),
            );
            None
        }
        (Some(_), _) => {
            errors.add("lostReason", "is only for the status lost");
            None
        }
        (None, _) => None,
    };
    let note = match &change.note {
        Some(note) => fields::opt_text("note", &json!(note), 2000, &mut errors).flatten(),
        None => None,
    };
    errors.finish()?;

    let mut lead = live_lead(&mut tx, &principal, id).await?;
    if_match.check(lead.version)?;
    if lead.status == change.status {
        tx.rollback().await.map_err(db)?;
        return Ok(written(StatusCode::OK, &lead));
    }
    let allowed = pipeline::allowed(&lead.status);
    if !allowed.contains(&change.status.as_str()) {
        return Err(ApiError::conflict(
            "illegal_transition",
            format!("a {} lead cannot move to {}", lead.status, change.status),
        )
        .with_field("currentStatus", json!(lead.status))
        .with_field("allowedTransitions", json!(allowed)));
    }
    if pipeline::admin_only(&lead.status, &change.status) && !principal.is_admin() {
        return Err(ApiError::forbidden("only an admin can reopen a won lead"));
    }
    let now = now();
    let event = StatusEvent {
        tenant_id: principal.tenant_id,
        id: Uuid::new_v4(),
        lead_id: lead.id,
        from_status: Some(lead.status.clone()),
        to_status: change.status.clone(),
        lost_reason: lost_reason.clone(),
        note,
        user_id: Some(principal.user_id),
        occurred_at: now,
    };
    lead.status = change.status;
    lead.lost_reason = lost_reason;
    lead.status_changed_at = now;
    lead.updated_at = now;
    lead.version += 1;
    store::update(&mut tx, &lead).await.map_err(db)?;
    store::insert_event(&mut tx, &event).await.map_err(db)?;
    tx.commit().await.map_err(db_commit)?;
    Ok(written(StatusCode::OK, &lead))
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
    responses((status = 200, description = "A page of timeline entries", body = schemas::TimelinePage), (status = 404, body = schemas::Error))
)]
async fn lead_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(query): ListQuery<PageQuery>,
) -> Result<axum::response::Response, ApiError> {
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(None, &[("at", "at", KeyKind::Time)], "-at")?;
    let tenant = principal.tenant_id;
    let mut sql = Sql::new(
        "SELECT kind, id, at FROM (\
         SELECT 'activity' AS kind, id, COALESCE(occurred_at, completed_at, created_at) AS at FROM activities \
         WHERE tenant_id = $1 AND lead_id = $2 AND deleted_at IS NULL \
         UNION ALL SELECT 'status_change' AS kind, id, occurred_at AS at FROM lead_status_events \
         WHERE tenant_id = $1 AND lead_id = $2 \
         UNION ALL SELECT 'quote_event' AS kind, id, occurred_at AS at FROM quote_events \
         WHERE tenant_id = $1 AND lead_id = $2) AS timeline WHERE 1 = 1",
    );
    sql.args.extend([Arg::Uuid(tenant), Arg::Uuid(id)]);
    if let Some(cursor) = &query.cursor {
        sort.after(&mut sql, &Cursor::decode(cursor, &sort)?, "id");
    }
    sql.push(&sort.order_by("id"));
    sql.and(" LIMIT ?", [Arg::Int(limit + 1)]);

    let mut tx = read_tx(&state, &principal).await?;
    match store::get(&mut tx, tenant, id, false).await.map_err(db)? {
        Some(lead) if lead.deleted_at.is_none() => {}
        _ => return Err(not_found()),
    }
    let keys = store::timeline(&mut tx, &sql).await.map_err(db)?;
    let shown = &keys[..keys.len().min(limit as usize)];
    let ids =
        |kind: &str| -> Vec<Uuid> { shown.iter().filter(|k| k.0 == kind).map(|k| k.1).collect() };
    let events = store::events(&mut tx, tenant, &ids("status_change"))
        .await
        .map_err(db)?;
    let activities = crate::activities::store::by_ids(&mut tx, tenant, &ids("activity"))
        .await
        .map_err(db)?;
    let quote_events = crate::quotes::store::events(&mut tx, tenant, &ids("quote_event"))
        .await
        .map_err(db)?;
    tx.end_read().await.map_err(db)?;
    let now = now();
    Ok(axum::response::IntoResponse::into_response(list::page(
        &keys,
        limit,
        &sort,
        |(_, id, at)| Cursor {
            key: Arg::Time(*at),
            id: *id,
        },
        |(kind, id, at)| {
            let item = match kind.as_str() {
                "activity" => activities.iter().find(|a| a.id == *id).map(|a| a.view(now)),
                "quote_event" => quote_events.iter().find(|e| e.0 == *id).map(
                    |(id, quote, action, user, at)| {
                        json!({ "id": id, "quoteId": quote, "action": action, "userId": user, "occurredAt": at })
                    },
                ),
                _ => events.iter().find(|e| e.id == *id).map(StatusEvent::view),
            };
            json!({ "type": kind, "id": id, "at": at, "item": item })
        },
    )))
}

/// Per status: how many live leads, and their estimated value per currency.
#[utoipa::path(
    get, path = "/api/crm/leads/summary", tag = "leads",
    responses((status = 200, description = "Counts and totals per status", body = schemas::LeadSummary))
)]
async fn leads_summary(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let mut tx = read_tx(&state, &principal).await?;
    let rows = store::summary(&mut tx, principal.tenant_id)
        .await
        .map_err(db)?;
    tx.end_read().await.map_err(db)?;
    let data: Vec<Value> = STATUSES
        .iter()
        .map(|status| {
            let mine = rows.iter().filter(|r| r.0 == *status);
            let count: i64 = mine.clone().map(|r| r.2).sum();
            let totals: Vec<Value> = mine
                .filter_map(|(_, currency, count, sum)| {
                    let currency = currency.as_deref()?;
                    let decimals = money::decimals(currency).unwrap_or(2);
                    Some(json!({
                        "currency": currency,
                        "count": count,
                        "estimatedValue": money::format_digits(sum, decimals)?,
                    }))
                })
                .collect();
            json!({ "status": status, "count": count, "totals": totals })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// The statuses and their allowed moves, for user interfaces.
#[utoipa::path(
    get, path = "/api/crm/lead-statuses", tag = "leads",
    responses((status = 200, description = "Statuses, moves and lost reasons", body = schemas::LeadStatuses))
)]
async fn lead_statuses() -> Json<Value> {
    let data: Vec<Value> = STATUSES
        .iter()
        .map(|status| {
            let allowed = pipeline::allowed(status);
            let admin: Vec<&str> = allowed.iter().copied().filter(|to| pipeline::admin_only(status, to)).collect();
            json!({ "status": status, "allowedTransitions": allowed, "adminOnlyTransitions": admin })
        })
        .collect();
    Json(json!({
        "data": data,
        "lostReasons": LOST_REASONS,
        "sources": SOURCES,
        "projectTypes": PROJECT_TYPES,
    }))
}
