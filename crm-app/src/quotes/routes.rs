//! `/api/crm/quotes`.

use crate::leads::model::LeadStatus;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use ops_kit::audit::{self, AuditChanges};
use ops_kit::auth::Principal;
use ops_kit::sql::Tx;
use ops_kit::{ApiError, FieldError, audited};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accept;
use super::input::{self, COMPUTED, HEADER_FIELDS, READ_ONLY};
use super::model::{COLUMNS, LineRow, QuoteRow, STATUSES};
use super::store;
use crate::api::caller::Caller;
use crate::api::etag::{self, IfMatch, IfMatchHeader};
use crate::api::fields::{self, Errors};
use crate::api::idempotency::{self, Claim, Claimed, IdempotencyKey, IdempotencyKeyHeader};
use crate::api::list::{self, Cursor, Deleted, KeyKind, ListQuery, Sort, SortField};
use crate::api::sql::{Arg, Sql};
use crate::api::{db, db_commit, now, read_tx};
use crate::leads;
use crate::openapi::schemas;
use crate::state::AppState;

/// How long a new quote is valid by default.
pub const VALIDITY_DAYS: i64 = 30;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(quotes_list, quote_upsert))
        .routes(routes!(quote_calculate))
        .routes(routes!(quote_get, quote_update, quote_delete))
        .routes(routes!(quote_send))
        .routes(routes!(quote_accept))
        .routes(routes!(quote_reject))
        .routes(routes!(quote_revise))
        .routes(routes!(quote_revisions))
}

/// What every lifecycle action takes from the request: the quote's id,
/// `If-Match` and `Idempotency-Key`.
#[derive(Debug)]
pub struct ActionRequest {
    id: Uuid,
    if_match: IfMatch,
    key: IdempotencyKey,
}

impl<S: Send + Sync> FromRequestParts<S> for ActionRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let if_match = IfMatch::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let key = IdempotencyKey::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self { id, if_match, key })
    }
}

fn today() -> NaiveDate {
    now().date_naive()
}

fn not_found() -> ApiError {
    ApiError::not_found("quote not found")
}

async fn load_lines(
    tx: &mut ops_kit::sql::Transaction,
    q: &QuoteRow,
) -> Result<Vec<LineRow>, ApiError> {
    store::lines(tx, q.tenant_id, &[q.id]).await.map_err(db)
}

fn answer(status: StatusCode, q: &QuoteRow, lines: &[LineRow], created: Option<bool>) -> Response {
    let mut view = q.view(lines, today());
    if let Some(created) = created {
        view["created"] = json!(created);
    }
    (status, etag::headers(q.version), Json(view)).into_response()
}

/// A live quote, locked; 404 otherwise.
async fn live(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<QuoteRow, ApiError> {
    match store::get(tx, tenant, id, true).await.map_err(db)? {
        Some(q) if q.deleted_at.is_none() => Ok(q),
        _ => Err(not_found()),
    }
}

fn not_editable(q: &QuoteRow) -> ApiError {
    ApiError::conflict(
        "quote_not_editable",
        format!("a {} quote cannot be changed; revise it instead", q.status),
    )
    .with_field("currentStatus", json!(q.status))
}

/// Moves the quote's lead to `to` when its status is one of `from`, with
/// the status event and its own `lead.status_update` audit entry, in the
/// caller's transaction.
async fn lead_follows(
    tx: &mut Tx,
    caller: &Caller,
    q: &QuoteRow,
    to: LeadStatus,
    from: &[LeadStatus],
    cause: &str,
) -> Result<(), ApiError> {
    let Some(lead) = leads::domain::follow(
        tx,
        &caller.principal,
        q.lead_id,
        to,
        from,
        format!("{cause} {}", q.number()),
    )
    .await
    .map_err(db)?
    else {
        return Ok(());
    };
    let mut entry = caller.entry("lead.status_update", "lead", lead.id.to_string());
    entry.changes = Some(json!({ "status": to, "cause": cause, "quoteId": q.id }));
    audit::insert(tx, &entry).await.map_err(ApiError::from)?;
    Ok(())
}

/// Claims an `Idempotency-Key`; `Err` carries the replay to answer with.
async fn claim(
    tx: &mut Tx,
    tenant: Uuid,
    key: &IdempotencyKey,
    route: &str,
    body: &Value,
) -> Result<Result<Option<Claimed>, Response>, ApiError> {
    Ok(
        match idempotency::claim(tx, tenant, key, route, body).await? {
            Claim::Replay(stored) => Err(stored.into_response()),
            Claim::Fresh(claimed) => Ok(Some(claimed)),
            Claim::None => Ok(None),
        },
    )
}

/// Creates or replaces a draft quote (header and every line), matched by
/// `id`, then `externalId`.
#[utoipa::path(
    post, path = "/api/crm/quotes", tag = "quotes",
    request_body(content = schemas::QuoteInput, description = "Totals sent by a client are ignored: the server computes them."),
    responses(
        (status = 201, description = "Created", body = schemas::Quote),
        (status = 200, description = "Updated (drafts only)", body = schemas::Quote),
        (status = 409, description = "Not a draft, deleted, or the keys match different quotes", body = schemas::Error),
        (status = 422, body = schemas::Error),
    )
)]
#[audited(action = "quote.upsert", resource = "quote", resource_id = body("id"))]
async fn quote_upsert(
    principal: Principal,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let map = fields::object(body)?;
    let tenant = principal.tenant_id;
    let mut errors = Errors::default();
    let mut writable = HEADER_FIELDS.to_vec();
    writable.extend(["id", "leadId", "lineItems"]);
    writable.extend(COMPUTED);
    fields::known_keys(&map, &writable, READ_ONLY, &mut errors);
    let id = map
        .get("id")
        .and_then(|v| fields::uuid("id", v, &mut errors));
    let lead_id = map
        .get("leadId")
        .and_then(|v| fields::uuid("leadId", v, &mut errors));
    let external_id = map
        .get("externalId")
        .and_then(|v| fields::opt_text("externalId", v, 200, &mut errors))
        .flatten();
    errors.finish()?;

    let by_id = match id {
        Some(id) => store::get(&mut tx, tenant, id, true).await.map_err(db)?,
        None => None,
    };
    let by_external = match &external_id {
        Some(ext) => store::by_external_id(&mut tx, tenant, ext)
            .await
            .map_err(db)?,
        None => None,
    };
    let existing = match (id, by_id, by_external) {
        (_, Some(a), Some(b)) if a.id != b.id => {
            return Err(ApiError::conflict(
                "quote_conflict",
                "id and externalId match different quotes",
            )
            .with_field("matches", json!({ "id": a.id, "externalId": b.id })));
        }
        (Some(_), None, Some(b)) => {
            return Err(ApiError::conflict(
                "quote_conflict",
                "a new id with the externalId of another quote",
            )
            .with_field("matches", json!({ "externalId": b.id })));
        }
        (_, Some(q), _) | (_, None, Some(q)) => Some(q),
        _ => None,
    };
    let now = now();
    let (status, mut quote, mut lines, new) = match existing {
        Some(q) => {
            if q.deleted_at.is_some() {
                return Err(
                    ApiError::conflict("quote_deleted", "the matching quote is deleted")
                        .with_field("quoteId", json!(q.id)),
                );
            }
            if q.status != "draft" {
                return Err(not_editable(&q));
            }
            if lead_id.is_some_and(|l| l != q.lead_id) {
                return Err(ApiError::validation(vec![FieldError::new(
                    "leadId",
                    "cannot change; create a new quote",
                )]));
            }
            let lines = load_lines(&mut tx, &q).await?;
            (StatusCode::OK, q, lines, false)
        }
        None => {
            let mut errors = Errors::default();
            match lead_id {
                None => errors.add("leadId", "is required"),
                Some(lead) => match leads::store::get(&mut tx, tenant, lead).await.map_err(db)? {
                    Some(l) if l.deleted_at.is_none() => {}
                    _ => errors.add("leadId", "is not a lead of this tenant"),
                },
            }
            for required in ["title", "currency"] {
                if !map.contains_key(required) {
                    errors.add(required, "is required");
                }
            }
            errors.finish()?;
            let quote = QuoteRow::draft(
                tenant,
                id.unwrap_or_else(Uuid::new_v4),
                lead_id.unwrap_or_default(),
                Some(principal.user_id),
                now,
            );
            (StatusCode::CREATED, quote, Vec::new(), true)
        }
    };
    let before = (quote.clone(), lines.clone());
    let mut errors = Errors::default();
    input::apply_header(&map, &mut quote, &mut errors);
    if let Some(items) = map.get("lineItems")
        && let Some(new_lines) = input::lines(items, &quote, &mut errors)
    {
        lines = new_lines;
    }
    errors.finish()?;
    input::recompute(&mut quote, &mut lines);
    if new {
        quote.quote_number = store::next_number(&mut tx, tenant).await.map_err(db)?;
        store::save(&mut tx, &quote, true).await.map_err(db)?;
        store::replace_lines(&mut tx, &quote, &lines)
            .await
            .map_err(db)?;
        store::insert_event(&mut tx, &quote, "created", principal.user_id, now)
            .await
            .map_err(db)?;
    } else if (quote.clone(), lines.clone()) != before {
        quote.version += 1;
        quote.updated_at = now;
        store::save(&mut tx, &quote, false).await.map_err(db)?;
        store::replace_lines(&mut tx, &quote, &lines)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db_commit)?;
    Ok(answer(status, &quote, &lines, Some(new)))
}

/// The totals of a quote body, computed without saving anything.
#[utoipa::path(
    post, path = "/api/crm/quotes/calculate", tag = "quotes",
    request_body(content = schemas::QuoteInput, description = "currency, discount and lineItems are used; the rest is ignored"),
    responses((status = 200, description = "The lines and totals", body = schemas::QuoteTotals), (status = 422, body = schemas::Error))
)]
async fn quote_calculate(
    principal: Principal,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let map = fields::object(body)?;
    // A scratch draft: only its currency, discount and lines are used.
    let mut quote = QuoteRow::draft(principal.tenant_id, Uuid::nil(), Uuid::nil(), None, now());
    quote.currency = String::new();
    let mut errors = Errors::default();
    if !map.contains_key("currency") {
        errors.add("currency", "is required");
    }
    let mut only: Map<String, Value> = Map::new();
    for key in ["currency", "discount"] {
        if let Some(v) = map.get(key) {
            only.insert(key.into(), v.clone());
        }
    }
    input::apply_header(&only, &mut quote, &mut errors);
    let mut lines = match map.get("lineItems") {
        Some(items) => input::lines(items, &quote, &mut errors).unwrap_or_default(),
        None => Vec::new(),
    };
    errors.finish()?;
    input::recompute(&mut quote, &mut lines);
    let view = quote.view(&lines, today());
    Ok(Json(json!({
        "currency": view["currency"],
        "discount": view["discount"],
        "lineItems": view["lineItems"],
        "subtotal": view["subtotal"],
        "discountTotal": view["discountTotal"],
        "taxTotal": view["taxTotal"],
        "total": view["total"],
    })))
}

const SORTS: &[SortField] = &[
    ("createdAt", "created_at", KeyKind::Time),
    ("updatedAt", "updated_at", KeyKind::Time),
];

fn sorts() -> utoipa::openapi::Object {
    crate::openapi::sort_parameter(SORTS)
}

/// The query string of `GET /quotes`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct QuoteListQuery {
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
    /// Statuses, comma-separated.
    status: Option<String>,
    /// Only quotes valid until before this date (YYYY-MM-DD).
    #[param(format = Date, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$")]
    valid_before: Option<String>,
    /// `include` or `only` to see deleted drafts.
    #[param(inline)]
    deleted: Option<Deleted>,
}

/// Lists the tenant's quotes, with their lines.
#[utoipa::path(
    get, path = "/api/crm/quotes", tag = "quotes", params(QuoteListQuery),
    responses((status = 200, description = "A page of quotes", body = schemas::QuotePage), (status = 400, body = schemas::Error), (status = 422, body = schemas::Error))
)]
async fn quotes_list(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery(query): ListQuery<QuoteListQuery>,
) -> Result<Response, ApiError> {
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(query.sort.as_deref(), SORTS, "-createdAt")?;
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM quotes WHERE tenant_id = $1"
    ));
    sql.args.push(Arg::Uuid(principal.tenant_id));
    sql.push(query.deleted.unwrap_or_default().condition());
    let mut errors = Errors::default();
    if let Some(lead) = query.lead_id {
        sql.and(" AND lead_id = ?", [Arg::Uuid(lead)]);
    }
    if let Some(statuses) = &query.status {
        list::any_of(
            &mut sql,
            "status",
            "status",
            statuses,
            STATUSES,
            &mut errors,
        );
    }
    if let Some(before) = &query.valid_before
        && let Some(Some(date)) = fields::opt_date("validBefore", &json!(before), &mut errors)
    {
        sql.and(" AND valid_until < ?", [Arg::Date(date)]);
    }
    errors.finish()?;
    if let Some(cursor) = &query.cursor {
        sort.after(&mut sql, &Cursor::decode(cursor, &sort)?, "id");
    }
    sql.push(&sort.order_by("id"));
    sql.and(" LIMIT ?", [Arg::Int(limit + 1)]);
    let mut tx = read_tx(&state, &principal).await?;
    let rows = store::list(&mut tx, &sql).await.map_err(db)?;
    let ids: Vec<Uuid> = rows.iter().take(limit as usize).map(|q| q.id).collect();
    let lines = store::lines(&mut tx, principal.tenant_id, &ids)
        .await
        .map_err(db)?;
    tx.end_read().await.map_err(db)?;
    let today = today();
    Ok(list::page(
        &rows,
        limit,
        &sort,
        |q| Cursor {
            key: Arg::Time(if sort.column == "updated_at" {
                q.updated_at
            } else {
                q.created_at
            }),
            id: q.id,
        },
        |q| {
            let mine: Vec<LineRow> = lines
                .iter()
                .filter(|l| l.quote_id == q.id)
                .cloned()
                .collect();
            q.view(&mine, today)
        },
    )
    .into_response())
}

/// One quote, with its lines and totals.
#[utoipa::path(
    get, path = "/api/crm/quotes/{id}", tag = "quotes", params(("id" = Uuid, Path, description = "The quote"), list::ShowQuery),
    responses((status = 200, description = "The quote, with its version as ETag", body = schemas::Quote), (status = 404, body = schemas::Error))
)]
async fn quote_get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(show): ListQuery<list::ShowQuery>,
) -> Result<Response, ApiError> {
    let mut tx = read_tx(&state, &principal).await?;
    let quote = store::get(&mut tx, principal.tenant_id, id, false)
        .await
        .map_err(db)?
        .filter(|q| {
            show.deleted
                .unwrap_or_default()
                .shows(q.deleted_at.as_ref())
        })
        .ok_or_else(not_found)?;
    let lines = load_lines(&mut tx, &quote).await?;
    tx.end_read().await.map_err(db)?;
    Ok(answer(StatusCode::OK, &quote, &lines, None))
}

/// Changes a draft's header fields with a JSON Merge Patch (lines are
/// replaced through `POST /quotes`).
#[utoipa::path(
    patch, path = "/api/crm/quotes/{id}", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader),
    request_body(content = schemas::QuotePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "The quote after the change", body = schemas::Quote), (status = 404, body = schemas::Error), (status = 409, body = schemas::Error), (status = 412, body = schemas::Error), (status = 422, body = schemas::Error))
)]
#[audited(action = "quote.update", resource = "quote", resource_id = path("id"))]
async fn quote_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let map = fields::object(body)?;
    let mut errors = Errors::default();
    let mut read_only = READ_ONLY.to_vec();
    read_only.extend(["id", "leadId", "lineItems"]);
    fields::known_keys(&map, HEADER_FIELDS, &read_only, &mut errors);
    errors.finish()?;
    let before = live(&mut tx, principal.tenant_id, id).await?;
    if_match.check(before.version)?;
    if before.status != "draft" {
        return Err(not_editable(&before));
    }
    let mut quote = before.clone();
    let mut errors = Errors::default();
    input::apply_header(&map, &mut quote, &mut errors);
    errors.finish()?;
    let mut lines = load_lines(&mut tx, &quote).await?;
    input::recompute(&mut quote, &mut lines);
    if quote != before {
        if let Some(ext) = &quote.external_id
            && before.external_id.as_ref() != Some(ext)
            && store::by_external_id(&mut tx, principal.tenant_id, ext)
                .await
                .map_err(db)?
                .is_some()
        {
            return Err(ApiError::conflict(
                "external_id_taken",
                "another quote already has this externalId",
            ));
        }
        quote.version += 1;
        quote.updated_at = now();
        store::save(&mut tx, &quote, false).await.map_err(db)?;
        store::replace_lines(&mut tx, &quote, &lines)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db_commit)?;
    Ok(answer(StatusCode::OK, &quote, &lines, None))
}

/// Soft-deletes a draft.
#[utoipa::path(
    delete, path = "/api/crm/quotes/{id}", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader),
    responses((status = 200, description = "The deleted quote", body = schemas::Quote), (status = 404, body = schemas::Error), (status = 409, description = "Only drafts can be deleted", body = schemas::Error), (status = 412, body = schemas::Error))
)]
#[audited(action = "quote.delete", resource = "quote", resource_id = path("id"))]
async fn quote_delete(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let mut quote = live(&mut tx, principal.tenant_id, id).await?;
    if_match.check(quote.version)?;
    if quote.status != "draft" {
        return Err(not_editable(&quote));
    }
    let now = now();
    quote.deleted_at = Some(now);
    quote.updated_at = now;
    quote.version += 1;
    store::save(&mut tx, &quote, false).await.map_err(db)?;
    let lines = load_lines(&mut tx, &quote).await?;
    tx.commit().await.map_err(db_commit)?;
    Ok(answer(StatusCode::OK, &quote, &lines, None))
}

fn illegal(q: &QuoteRow, action: &str) -> ApiError {
    ApiError::conflict(
        "illegal_transition",
        format!("a {} quote cannot be {action}", q.status),
    )
    .with_field("currentStatus", json!(q.status))
}

/// Runs one lifecycle action: claims the key, loads the quote, checks
/// If-Match, applies `step`, records the quote event, stores the answer.
async fn action(
    tx: &mut Tx,
    caller: &Caller,
    request: &ActionRequest,
    name: &str,
    body: &Value,
    step: impl AsyncFnOnce(&mut Tx, &mut QuoteRow) -> Result<Option<QuoteRow>, ApiError>,
) -> Result<Response, ApiError> {
    let tenant = caller.principal.tenant_id;
    let route = format!("POST /api/crm/quotes/{}/{name}", request.id);
    let claimed = match claim(tx, tenant, &request.key, &route, body).await? {
        Err(replay) => return Ok(replay),
        Ok(claimed) => claimed,
    };
    let mut quote = live(tx, tenant, request.id).await?;
    request.if_match.check(quote.version)?;
    let created = step(tx, &mut quote).await?;
    let now = now();
    quote.updated_at = now;
    quote.version += 1;
    store::save(tx, &quote, false).await.map_err(db)?;
    store::insert_event(tx, &quote, name, caller.principal.user_id, now)
        .await
        .map_err(db)?;
    let (status, shown) = match created {
        Some(new) => {
            // The old revision has given up its externalId (unique per
            // tenant) before the new one takes it.
            store::save(tx, &new, true).await.map_err(db)?;
            let mut lines = load_lines(tx, &quote).await?;
            for line in &mut lines {
                line.id = Uuid::new_v4();
                line.quote_id = new.id;
            }
            store::replace_lines(tx, &new, &lines).await.map_err(db)?;
            store::insert_event(tx, &new, "created", caller.principal.user_id, now)
                .await
                .map_err(db)?;
            (StatusCode::CREATED, new)
        }
        None => (StatusCode::OK, quote),
    };
    let lines = load_lines(tx, &shown).await?;
    let view = shown.view(&lines, today());
    if let Some(claimed) = claimed {
        claimed.store(tx, status, &view).await?;
    }
    Ok((status, etag::headers(shown.version), Json(view)).into_response())
}

/// Sends a draft to the customer; its lead moves to `quoted` when it was
/// new, contacted or qualified.
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/send", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The sent quote", body = schemas::Quote), (status = 404, body = schemas::Error), (status = 409, body = schemas::Error), (status = 412, body = schemas::Error))
)]
#[audited(action = "quote.send", resource = "quote", resource_id = path("id"))]
async fn quote_send(
    request: ActionRequest,
    caller: Caller,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let response = action(
        &mut tx,
        &caller,
        &request,
        "send",
        &Value::Null,
        async |tx: &mut Tx, q: &mut QuoteRow| {
            if q.status != "draft" {
                return Err(illegal(q, "sent"));
            }
            if q.total_minor == 0
                && store::lines(tx, q.tenant_id, &[q.id])
                    .await
                    .map_err(db)?
                    .is_empty()
            {
                return Err(ApiError::conflict(
                    "quote_empty",
                    "a quote without lines cannot be sent",
                ));
            }
            q.status = "sent".into();
            q.sent_at = Some(now());
            lead_follows(
                tx,
                &caller,
                q,
                LeadStatus::Quoted,
                &[
                    LeadStatus::New,
                    LeadStatus::Contacted,
                    LeadStatus::Qualified,
                ],
                "quote.send",
            )
            .await?;
            Ok(None)
        },
    )
    .await?;
    tx.commit().await.map_err(db_commit)?;
    Ok(response)
}

/// The customer accepted a sent quote; its lead moves to `won`. Accepted
/// quotes are locked. A quote whose lead is lost or soft-deleted is
/// refused (see [`accept`]).
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/accept", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The accepted quote", body = schemas::Quote), (status = 404, body = schemas::Error), (status = 409, description = "Not sent, expired, or its lead is lost (`lead_lost`) or deleted (`lead_deleted`); `allowedActions` lists what the quote allows instead", body = schemas::Error), (status = 412, body = schemas::Error))
)]
#[audited(action = "quote.accept", resource = "quote", resource_id = path("id"))]
async fn quote_accept(
    request: ActionRequest,
    caller: Caller,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let response = action(
        &mut tx,
        &caller,
        &request,
        "accept",
        &Value::Null,
        async |tx: &mut Tx, q: &mut QuoteRow| {
            if q.status != "sent" {
                return Err(illegal(q, "accepted"));
            }
            if q.is_expired(today()) {
                return Err(ApiError::conflict(
                    "quote_expired",
                    "the quote expired; revise it to send a new one",
                )
                .with_field("validUntil", json!(q.valid_until)));
            }
            let tenant = caller.principal.tenant_id;
            if let Some(lead) = leads::store::get_for_update(tx, tenant, q.lead_id)
                .await
                .map_err(db)?
            {
                accept::check_lead(lead.id, lead.status.as_str(), lead.deleted_at)?;
            }
            q.status = "accepted".into();
            q.accepted_at = Some(now());
            lead_follows(
                tx,
                &caller,
                q,
                LeadStatus::Won,
                &[
                    LeadStatus::New,
                    LeadStatus::Contacted,
                    LeadStatus::Qualified,
                    LeadStatus::Quoted,
                ],
                "quote.accept",
            )
            .await?;
            Ok(None)
        },
    )
    .await?;
    tx.commit().await.map_err(db_commit)?;
    Ok(response)
}

/// The body of a rejection.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why the customer said no.
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub reason: String,
}

/// The customer rejected a sent quote.
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/reject", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    request_body = Rejection,
    responses((status = 200, description = "The rejected quote", body = schemas::Quote), (status = 404, body = schemas::Error), (status = 409, body = schemas::Error), (status = 412, body = schemas::Error), (status = 422, body = schemas::Error))
)]
#[audited(action = "quote.reject", resource = "quote", resource_id = path("id"))]
async fn quote_reject(
    request: ActionRequest,
    caller: Caller,
    mut tx: Tx,
    Json(body): Json<Rejection>,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let reason = fields::text("reason", &json!(body.reason), 1000, &mut errors);
    errors.finish()?;
    let raw = json!({ "reason": body.reason });
    let response = action(
        &mut tx,
        &caller,
        &request,
        "reject",
        &raw,
        async |_tx: &mut Tx, q: &mut QuoteRow| {
            if q.status != "sent" {
                return Err(illegal(q, "rejected"));
            }
            q.status = "rejected".into();
            q.rejected_at = Some(now());
            q.rejection_reason = reason;
            Ok(None)
        },
    )
    .await?;
    tx.commit().await.map_err(db_commit)?;
    Ok(response)
}

/// Starts a new revision of a sent or rejected quote: a draft with the same
/// number, `revision + 1` and the same lines; the old one is superseded.
/// Its `quote.revise` entry names the new revision, with the superseded
/// one as `changes.supersedesQuoteId`.
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/revise", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 201, description = "The new draft revision", body = schemas::Quote), (status = 404, body = schemas::Error), (status = 409, body = schemas::Error), (status = 412, body = schemas::Error))
)]
#[audited(action = "quote.revise", resource = "quote", resource_id = body("id"))]
async fn quote_revise(
    request: ActionRequest,
    caller: Caller,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let response = action(
        &mut tx,
        &caller,
        &request,
        "revise",
        &Value::Null,
        async |_tx: &mut Tx, q: &mut QuoteRow| {
            if !matches!(q.status.as_str(), "sent" | "rejected") {
                return Err(illegal(q, "revised"));
            }
            let now = now();
            let new = QuoteRow {
                id: Uuid::new_v4(),
                revision: q.revision + 1,
                supersedes_quote_id: Some(q.id),
                status: "draft".into(),
                external_id: q.external_id.take(),
                valid_until: now.date_naive() + Duration::days(VALIDITY_DAYS),
                sent_at: None,
                accepted_at: None,
                rejected_at: None,
                rejection_reason: None,
                created_by: Some(caller.principal.user_id),
                created_at: now,
                updated_at: now,
                deleted_at: None,
                version: 1,
                ..q.clone()
            };
            q.status = "superseded".into();
            Ok(Some(new))
        },
    )
    .await?;
    tx.commit().await.map_err(db_commit)?;
    // The entry names the new revision; the one it replaces is in its
    // changes, so that each revision's audit log tells where it came from.
    let changes = AuditChanges(json!({ "supersedesQuoteId": request.id }));
    Ok((changes, response).into_response())
}

/// Every revision of the quote's number, oldest first.
#[utoipa::path(
    get, path = "/api/crm/quotes/{id}/revisions", tag = "quotes", params(("id" = Uuid, Path, description = "Any revision of the quote")),
    responses((status = 200, description = "The revisions", body = schemas::QuoteRevisions), (status = 404, body = schemas::Error))
)]
async fn quote_revisions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>, ApiError> {
    let mut tx = read_tx(&state, &principal).await?;
    let quote = store::get(&mut tx, principal.tenant_id, id, false)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM quotes WHERE tenant_id = $1 AND quote_number = $2 ORDER BY revision"
    ));
    sql.args
        .extend([Arg::Uuid(principal.tenant_id), Arg::Int(quote.quote_number)]);
    let rows = store::list(&mut tx, &sql).await.map_err(db)?;
    let ids: Vec<Uuid> = rows.iter().map(|q| q.id).collect();
    let lines = store::lines(&mut tx, principal.tenant_id, &ids)
        .await
        .map_err(db)?;
    tx.end_read().await.map_err(db)?;
    let today = today();
    let data: Vec<Value> = rows
        .iter()
        .map(|q| {
            let mine: Vec<LineRow> = lines
                .iter()
                .filter(|l| l.quote_id == q.id)
                .cloned()
                .collect();
            q.view(&mine, today)
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}
