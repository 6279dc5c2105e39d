//! `GET /api/audit-logs`: the tenant's audit trail, for its admins.
//!
//! Entries are read from the tenant's own hash chain (`tenant_key`), newest
//! first by their place in the chain, so that a page never mixes tenants
//! and the order is the order of the writes.

use axum::extract::State;
use chrono::{DateTime, Utc};
use ops_kit::ApiError;
use ops_kit::auth::Principal;
use ops_kit::on_backend;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::types::Json as SqlJson;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::fields::{self, Errors};
use crate::api::list::{self, Cursor, KeyKind, ListQuery, Sort};
use crate::api::sql::{Arg, Sql};
use crate::api::{db, read_tx};
use crate::bind_args;
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

type Row = (
    i64,
    Uuid,
    Option<Uuid>,
    Option<Uuid>,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<SqlJson<Value>>,
    Option<String>,
    Option<String>,
    String,
    Vec<u8>,
    Vec<u8>,
);

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
    let mut sql = Sql::new(
        "SELECT seq, id, tenant_id, user_id, occurred_at, action, resource_type, resource_id, changes, \
         ip_address, user_agent, request_id, prev_hash, hash FROM audit_logs WHERE tenant_key = $1",
    );
    sql.args.push(Arg::Text(principal.tenant_id.to_string()));
    let mut errors = Errors::default();
    for (column, value, field) in [
        ("action", &query.action, "action"),
        ("resource_type", &query.resource_type, "resourceType"),
        ("resource_id", &query.resource_id, "resourceId"),
    ] {
        if let Some(value) = value {
            let value = fields::query_text(field, value)?;
            sql.and(&format!(" AND {column} = ?"), [Arg::Text(value)]);
        }
    }
    if let Some(user) = query.user_id {
        sql.and(" AND user_id = ?", [Arg::Uuid(user)]);
    }
    if let Some(from) = &query.from
        && let Some(t) = fields::timestamp("from", from, &mut errors)
    {
        sql.and(" AND occurred_at >= ?", [Arg::Time(t)]);
    }
    if let Some(to) = &query.to
        && let Some(t) = fields::timestamp("to", to, &mut errors)
    {
        sql.and(" AND occurred_at < ?", [Arg::Time(t)]);
    }
    errors.finish()?;
    if let Some(cursor) = &query.cursor {
        let cursor = Cursor::decode(cursor, &sort)?;
        sql.and(" AND seq < ?", [cursor.key]);
    }
    sql.push(" ORDER BY seq DESC");
    sql.and(" LIMIT ?", [Arg::Int(limit + 1)]);

    let mut tx = read_tx(&state, &principal).await?;
    let rows: Vec<Row> = on_backend!(&mut tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await.map_err(db)?
    });
    tx.end_read().await.map_err(db)?;
    Ok(axum::response::IntoResponse::into_response(list::page(
        &rows,
        limit,
        &sort,
        |row| Cursor {
            key: Arg::Int(row.0),
            id: row.1,
        },
        |row| {
            let (
                seq,
                id,
                tenant_id,
                user_id,
                at,
                action,
                resource_type,
                resource_id,
                changes,
                ip,
                ua,
                request_id,
                prev,
                hash,
            ) = row;
            json!({
                "id": id,
                "seq": seq,
                "tenantId": tenant_id,
                "userId": user_id,
                "action": action,
                "resourceType": resource_type,
                "resourceId": resource_id,
                "changes": changes.as_ref().map(|c| &c.0),
                "ipAddress": ip,
                "userAgent": ua,
                "requestId": request_id,
                "occurredAt": at,
                "prevHash": hex(prev),
                "hash": hex(hash),
            })
        },
    )))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
