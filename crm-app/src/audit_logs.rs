//! `GET /api/audit-logs`: the tenant's audit trail, for its admins.
//!
//! Entries are read from the tenant's own hash chain (`tenant_key`), newest
//! first by their place in the chain, so that a page never mixes tenants
//! and the order is the order of the writes.

use axum::extract::State;
use ops_kit::ApiError;
use ops_kit::audit::{self, AuditOrder, AuditQuery, AuditRecord};
use ops_kit::auth::Principal;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::fields::{self, Errors};
use crate::api::list::{self, Cursor, KeyKind, ListQuery, Sort};
use crate::api::sql::Arg;
use crate::api::{db, read_tx};
use crate::openapi::schemas;
use crate::state::AppState;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_logs_list))
}

/// The query string of `GET /api/audit-logs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// An action, such as `lead.upsert`.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    action: Option<String>,
    /// A resource type, such as `lead`.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    resource_type: Option<String>,
    /// A resource id.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    resource_id: Option<String>,
    /// The acting user.
    user_id: Option<Uuid>,
    /// Entries at or after this time (RFC 3339).
    #[param(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    from: Option<String>,
    /// Entries before this time (RFC 3339).
    #[param(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    to: Option<String>,
}

/// The tenant's audit entries, newest first (admins only).
#[utoipa::path(
    get, path = "/api/audit-logs", tag = "audit", params(AuditLogQuery),
    responses(
        (status = 200, description = "A page of audit entries", body = schemas::AuditLogPage),
        (status = 403, description = "Not an admin", body = schemas::Error),
    )
)]
async fn audit_logs_list(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery(query): ListQuery<AuditLogQuery>,
) -> Result<axum::response::Response, ApiError> {
    principal.require_admin()?;
    let limit = list::limit(query.limit)?;
    let sort = Sort::parse(None, &[("seq", "seq", KeyKind::Int)], "-seq")?;
    let mut filter = AuditQuery {
        tenant: Some(principal.tenant_id),
        order: AuditOrder::Newest,
        limit: Some(limit + 1),
        user_id: query.user_id,
        ..AuditQuery::default()
    };
    let mut errors = Errors::default();
    for (target, value, field) in [
        (&mut filter.action, &query.action, "action"),
        (
            &mut filter.resource_type,
            &query.resource_type,
            "resourceType",
        ),
        (&mut filter.resource_id, &query.resource_id, "resourceId"),
    ] {
        if let Some(value) = value {
            *target = Some(fields::query_text(field, value)?);
        }
    }
    if let Some(from) = &query.from {
        filter.from = fields::timestamp("from", from, &mut errors);
    }
    if let Some(to) = &query.to {
        filter.to = fields::timestamp("to", to, &mut errors);
    }
    errors.finish()?;
    if let Some(cursor) = &query.cursor {
        let Cursor { key, .. } = Cursor::decode(cursor, &sort)?;
        if let Arg::Int(seq) = key {
            filter.before_seq = Some(seq);
        }
    }

    let mut tx = read_tx(&state, &principal).await?;
    let records = audit::list(&mut tx, &filter).await.map_err(db)?;
    tx.end_read().await.map_err(db)?;
    Ok(axum::response::IntoResponse::into_response(list::page(
        &records,
        limit,
        &sort,
        |record| Cursor {
            key: Arg::Int(record.seq),
            id: record.entry.id,
        },
        |AuditRecord {
             seq,
             entry,
             prev_hash,
             hash,
             ..
         }| {
            json!({
                "id": entry.id,
                "seq": seq,
                "tenantId": entry.tenant_id,
                "userId": entry.user_id,
                "action": entry.action,
                "resourceType": entry.resource_type,
                "resourceId": entry.resource_id,
                "changes": entry.changes,
                "ipAddress": entry.ip_address,
                "userAgent": entry.user_agent,
                "requestId": entry.request_id,
                "occurredAt": entry.occurred_at,
                "prevHash": hex(prev_hash),
                "hash": hex(hash),
            })
        },
    )))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
