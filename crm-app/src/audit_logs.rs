//! `GET /api/audit-logs`: the tenant's audit trail, for its admins.
//!
//! Entries are read from the tenant's own hash chain (`tenant_key`), newest
//! first by their place in the chain, so that a page never mixes tenants
//! and the order is the order of the writes.

use axum::extract::State;
use chrono::{DateTime, Utc};
use ops_kit::ApiError;
use ops_kit::audit::{self, AuditOrder, AuditQuery, AuditRecord};
use ops_kit::auth::Principal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::envelope;
use crate::api::fields::{self, Errors};
use crate::api::list::{self, Cursor, KeyKind, ListQuery, Sort};
use crate::api::sql::Arg;
use crate::api::{db, read};
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
        (status = 200, description = "A page of audit entries", body = AuditLogPage),
        (status = 403, description = "Not an admin", body = envelope::Error),
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

    let records = read(&state, &principal, async |tx| {
        audit::list(tx, &filter).await.map_err(db)
    })
    .await?;
    Ok(axum::response::IntoResponse::into_response(list::page(
        &records,
        limit,
        &sort,
        |record| Cursor {
            key: Arg::Int(record.seq),
            id: record.entry.id,
        },
        AuditLog::of,
    )))
}

/// An audit entry, as the API shows it.
#[allow(missing_docs)]
#[derive(Debug, Serialize, ToSchema)]
#[schema(description = "An audit entry.")]
#[serde(rename_all = "camelCase")]
pub struct AuditLog<'r> {
    pub id: Uuid,
    /// Its place in the tenant's hash chain.
    pub seq: i64,
    pub tenant_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub action: &'r str,
    pub resource_type: &'r str,
    pub resource_id: Option<&'r str>,
    /// The request body, secrets redacted.
    pub changes: Option<&'r Value>,
    pub ip_address: Option<&'r str>,
    pub user_agent: Option<&'r str>,
    pub request_id: &'r str,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    /// Hex SHA-256 of the previous entry's link.
    pub prev_hash: String,
    /// Hex SHA-256 of this entry's link.
    pub hash: String,
}

impl<'r> AuditLog<'r> {
    /// The entry of `record`, as shown.
    pub fn of(record: &'r AuditRecord) -> Self {
        let entry = &record.entry;
        Self {
            id: entry.id,
            seq: record.seq,
            tenant_id: entry.tenant_id,
            user_id: entry.user_id,
            action: &entry.action,
            resource_type: &entry.resource_type,
            resource_id: entry.resource_id.as_deref(),
            changes: entry.changes.as_ref(),
            ip_address: entry.ip_address.as_deref(),
            user_agent: entry.user_agent.as_deref(),
            request_id: &entry.request_id,
            occurred_at: entry.occurred_at,
            prev_hash: hex(&record.prev_hash),
            hash: hex(&record.hash),
        }
    }
}

/// A page of audit entries (the document's name for a
/// [`list::Page`] of [`AuditLog`]s).
#[allow(missing_docs, dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(description = "A page of audit entries.")]
pub struct AuditLogPage<'r> {
    pub data: Vec<AuditLog<'r>>,
    pub page_info: list::PageInfo,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
