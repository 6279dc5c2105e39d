//! `/api/crm/quotes`: the JSON routes. Each reads its request, calls one
//! function of [`super::domain`] or [`super::lifecycle`] in the request's
//! transaction, and answers with the quote as shown (its version as
//! `ETag`) or the error's envelope. The lifecycle routes honour
//! `Idempotency-Key` (`idempotent`).

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use ops_kit::ApiError;
use ops_kit::audit::AuditChanges;
use ops_kit::audited;
use ops_kit::auth::Principal;
use ops_kit::sql::Tx;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::{QuoteInput, QuoteListQuery, QuotePatch, Rejection};
use super::domain::{self, Listing};
use super::lifecycle::{self, Move};
use super::view::{Quote, QuotePage, QuoteRevisions, QuoteTotals};
use crate::api::caller::Caller;
use crate::api::envelope;
use crate::api::etag::{self, IfMatch, IfMatchHeader};
use crate::api::fields;
use crate::api::idempotency::{self, IdempotencyKey, IdempotencyKeyHeader, Once};
use crate::api::list::{ListQuery, ShowQuery};
use crate::api::{db_commit, read};
use crate::state::AppState;

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

/// The quote with its version as `ETag`.
fn answer(status: StatusCode, quote: &Quote) -> Response {
    (status, etag::headers(quote.version), Json(quote)).into_response()
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

/// Makes the lifecycle move `step` once per `Idempotency-Key`, in the
/// request's transaction: claims the key (a key used before answers with
/// its stored answer; `body` is the request's, for its hash), makes the
/// move, stores its answer and commits (a replay commits too: it is
/// audited like the first answer). A revision answers 201, the other
/// moves 200.
async fn idempotent(
    mut tx: Tx,
    caller: &Caller,
    request: &ActionRequest,
    body: &Value,
    step: Move,
) -> Result<Response, ApiError> {
    let route = format!("POST /api/crm/quotes/{}/{}", request.id, step.name());
    let status = match step {
        Move::Revise => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    let work = tx.transaction().await?;
    let once = idempotency::once(
        work,
        caller.principal.tenant_id,
        &request.key,
        &route,
        body,
        async |work| {
            let quote = lifecycle::apply(work, caller, request.id, &request.if_match, step).await?;
            Ok::<_, ApiError>((status, quote))
        },
    )
    .await?;
    // A replay commits like a fresh answer, with the route's audit entry.
    tx.commit().await.map_err(db_commit)?;
    Ok(match once {
        Once::Replay(stored) => stored.into_response(),
        Once::Done(status, quote) => {
            (status, etag::headers(quote.version), Json(quote)).into_response()
        }
    })
}

/// Creates or replaces a draft quote (header and every line), matched by
/// `id`, then `externalId`.
#[utoipa::path(
    post, path = "/api/crm/quotes", tag = "quotes",
    request_body(content = QuoteInput, description = "Totals sent by a client are ignored: the server computes them."),
    responses(
        (status = 201, description = "Created", body = Quote),
        (status = 200, description = "Updated (drafts only)", body = Quote),
        (status = 409, description = "Not a draft, deleted, or the keys match different quotes", body = envelope::Error),
        (status = 422, body = envelope::Error),
    )
)]
#[audited(action = "quote.upsert", resource = "quote", resource_id = body("id"))]
async fn quote_upsert(
    principal: Principal,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let body = fields::object(body)?;
    let upserted = domain::upsert(tx.transaction().await?, &principal, &body).await?;
    tx.commit().await.map_err(db_commit)?;
    let status = if upserted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut quote = upserted.quote;
    quote.created = Some(upserted.created);
    Ok(answer(status, &quote))
}

/// The totals of a quote body, computed without saving anything.
#[utoipa::path(
    post, path = "/api/crm/quotes/calculate", tag = "quotes",
    request_body(content = QuoteInput, description = "currency, discount and lineItems are used; the rest is ignored"),
    responses((status = 200, description = "The lines and totals", body = QuoteTotals), (status = 422, body = envelope::Error))
)]
async fn quote_calculate(
    principal: Principal,
    Json(body): Json<Value>,
) -> Result<Json<QuoteTotals>, ApiError> {
    let body = fields::object(body)?;
    Ok(Json(domain::calculate(&principal, &body)?))
}

/// Lists the tenant's quotes, with their lines.
#[utoipa::path(
    get, path = "/api/crm/quotes", tag = "quotes", params(QuoteListQuery),
    responses((status = 200, description = "A page of quotes", body = QuotePage), (status = 400, body = envelope::Error), (status = 422, body = envelope::Error))
)]
async fn quotes_list(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery(query): ListQuery<QuoteListQuery>,
) -> Result<Json<QuotePage>, ApiError> {
    let listing = Listing::parse(&query)?;
    let page = read(&state, &principal, async |tx| {
        domain::list(tx, &principal, &listing).await
    })
    .await?;
    Ok(Json(page))
}

/// One quote, with its lines and totals.
#[utoipa::path(
    get, path = "/api/crm/quotes/{id}", tag = "quotes", params(("id" = Uuid, Path, description = "The quote"), ShowQuery),
    responses((status = 200, description = "The quote, with its version as ETag", body = Quote), (status = 404, body = envelope::Error))
)]
async fn quote_get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    ListQuery(show): ListQuery<ShowQuery>,
) -> Result<Response, ApiError> {
    let deleted = show.deleted.unwrap_or_default();
    let quote = read(&state, &principal, async |tx| {
        domain::get(tx, &principal, id, deleted).await
    })
    .await?;
    Ok(answer(StatusCode::OK, &quote))
}

/// Changes a draft's header fields with a JSON Merge Patch (lines are
/// replaced through `POST /quotes`).
#[utoipa::path(
    patch, path = "/api/crm/quotes/{id}", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader),
    request_body(content = QuotePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "The quote after the change", body = Quote), (status = 404, body = envelope::Error), (status = 409, body = envelope::Error), (status = 412, body = envelope::Error), (status = 422, body = envelope::Error))
)]
#[audited(action = "quote.update", resource = "quote", resource_id = path("id"))]
async fn quote_update(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let body = fields::object(body)?;
    let quote = domain::update(tx.transaction().await?, &principal, id, &if_match, &body).await?;
    tx.commit().await.map_err(db_commit)?;
    Ok(answer(StatusCode::OK, &quote))
}

/// Soft-deletes a draft.
#[utoipa::path(
    delete, path = "/api/crm/quotes/{id}", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader),
    responses((status = 200, description = "The deleted quote", body = Quote), (status = 404, body = envelope::Error), (status = 409, description = "Only drafts can be deleted", body = envelope::Error), (status = 412, body = envelope::Error))
)]
#[audited(action = "quote.delete", resource = "quote", resource_id = path("id"))]
async fn quote_delete(
    Path(id): Path<Uuid>,
    principal: Principal,
    if_match: IfMatch,
    mut tx: Tx,
) -> Result<Response, ApiError> {
    let quote = domain::delete(tx.transaction().await?, &principal, id, &if_match).await?;
    tx.commit().await.map_err(db_commit)?;
    Ok(answer(StatusCode::OK, &quote))
}

/// Sends a draft to the customer; its lead moves to `quoted` when it was
/// new, contacted or qualified.
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/send", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The sent quote", body = Quote), (status = 404, body = envelope::Error), (status = 409, body = envelope::Error), (status = 412, body = envelope::Error))
)]
#[audited(action = "quote.send", resource = "quote", resource_id = path("id"))]
async fn quote_send(request: ActionRequest, caller: Caller, tx: Tx) -> Result<Response, ApiError> {
    idempotent(tx, &caller, &request, &Value::Null, Move::Send).await
}

/// The customer accepted a sent quote; its lead moves to `won`. Accepted
/// quotes are locked. A quote whose lead is lost or soft-deleted is
/// refused (see [`accept`]).
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/accept", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 200, description = "The accepted quote", body = Quote), (status = 404, body = envelope::Error), (status = 409, description = "Not sent, expired, or its lead is lost (`lead_lost`) or deleted (`lead_deleted`); `allowedActions` lists what the quote allows instead", body = envelope::Error), (status = 412, body = envelope::Error))
)]
#[audited(action = "quote.accept", resource = "quote", resource_id = path("id"))]
async fn quote_accept(
    request: ActionRequest,
    caller: Caller,
    tx: Tx,
) -> Result<Response, ApiError> {
    idempotent(tx, &caller, &request, &Value::Null, Move::Accept).await
}

/// The customer rejected a sent quote.
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/reject", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    request_body = Rejection,
    responses((status = 200, description = "The rejected quote", body = Quote), (status = 404, body = envelope::Error), (status = 409, body = envelope::Error), (status = 412, body = envelope::Error), (status = 422, body = envelope::Error))
)]
#[audited(action = "quote.reject", resource = "quote", resource_id = path("id"))]
async fn quote_reject(
    request: ActionRequest,
    caller: Caller,
    tx: Tx,
    Json(body): Json<Rejection>,
) -> Result<Response, ApiError> {
    let reason = body.reason()?;
    let raw = json!({ "reason": body.reason });
    idempotent(tx, &caller, &request, &raw, Move::Reject(reason)).await
}

/// Starts a new revision of a sent or rejected quote: a draft with the same
/// number, `revision + 1` and the same lines; the old one is superseded.
/// Its `quote.revise` entry names the new revision, with the superseded
/// one as `changes.supersedesQuoteId`.
#[utoipa::path(
    post, path = "/api/crm/quotes/{id}/revise", tag = "quotes",
    params(("id" = Uuid, Path, description = "The quote"), IfMatchHeader,
           IdempotencyKeyHeader),
    responses((status = 201, description = "The new draft revision", body = Quote), (status = 404, body = envelope::Error), (status = 409, body = envelope::Error), (status = 412, body = envelope::Error))
)]
#[audited(action = "quote.revise", resource = "quote", resource_id = body("id"))]
async fn quote_revise(
    request: ActionRequest,
    caller: Caller,
    tx: Tx,
) -> Result<Response, ApiError> {
    let response = idempotent(tx, &caller, &request, &Value::Null, Move::Revise).await?;
    // The entry names the new revision; the one it replaces is in its
    // changes, so that each revision's audit log tells where it came from.
    let changes = AuditChanges(json!({ "supersedesQuoteId": request.id }));
    Ok((changes, response).into_response())
}

/// Every revision of the quote's number, oldest first.
#[utoipa::path(
    get, path = "/api/crm/quotes/{id}/revisions", tag = "quotes", params(("id" = Uuid, Path, description = "Any revision of the quote")),
    responses((status = 200, description = "The revisions", body = QuoteRevisions), (status = 404, body = envelope::Error))
)]
async fn quote_revisions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<QuoteRevisions>, ApiError> {
    let revisions = read(&state, &principal, async |tx| {
        domain::revisions(tx, &principal, id).await
    })
    .await?;
    Ok(Json(revisions))
}
