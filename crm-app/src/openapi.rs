//! The OpenAPI 3.1 description of the service, built from the handlers'
//! own annotations (`#[utoipa::path]`) as the routes are mounted, so that a
//! route cannot be served without being described. Served at
//! `GET /api/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Server};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts: title, security, the probes ops-kit serves,
/// and this route.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "crm-app", description = "The CRM for custom-cabinet and woodworking shops: leads, activities, quotes and the audit trail, per tenant."),
    paths(health, health_live, health_ready, openapi_json),
    modifiers(&Security),
    security(("bearerAuth" = [])),
    tags(
        (name = "auth", description = "Registration, login and tokens"),
        (name = "users", description = "The tenant's users"),
        (name = "leads", description = "Prospective jobs and their pipeline"),
        (name = "activities", description = "Calls, emails, meetings, site visits, notes and tasks"),
        (name = "quotes", description = "Quotes with line items, exact totals, a lifecycle and revisions"),
        (name = "audit", description = "The audit trail"),
        (name = "operations", description = "Probes and this document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        doc.servers = Some(vec![Server::new("/")]);
    }
}

/// The liveness and readiness of the service, with each check.
#[utoipa::path(get, path = "/api/health", tag = "operations", security(()),
    responses((status = 200, description = "Live and ready"), (status = 503, description = "A readiness check fails")))]
#[allow(dead_code)]
fn health() {}

/// Whether the process is alive.
#[utoipa::path(get, path = "/api/health/live", tag = "operations", security(()),
    responses((status = 200, description = "Alive")))]
#[allow(dead_code)]
fn health_live() {}

/// Whether the service can take traffic.
#[utoipa::path(get, path = "/api/health/ready", tag = "operations", security(()),
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready (starting, draining, or a dependency is down)")))]
#[allow(dead_code)]
fn health_ready() {}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document")))]
#[allow(dead_code)]
fn openapi_json() {}

/// Shapes for the document only: the handlers build their JSON directly,
/// and these describe it.
#[allow(dead_code, missing_docs)]
pub mod schemas {
    use serde::Serialize;
    use utoipa::ToSchema;
    use uuid::Uuid;

    /// The error envelope.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Error {
        /// What went wrong, for people.
        pub error: String,
        /// What went wrong, for programs (`not_found`, `validation_failed`, `version_mismatch`, …).
        pub code: String,
        /// The request's id, also in `x-request-id`.
        pub request_id: String,
        /// One entry per rejected field (validation only).
        pub details: Option<Vec<FieldError>>,
    }

    /// A rejected field.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct FieldError {
        pub field: String,
        pub message: String,
    }

    /// Where the next page starts.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct PageInfo {
        /// Pass as `cursor` for the next page; null on the last page.
        pub next_cursor: Option<String>,
        pub has_next_page: bool,
    }

    /// A lead.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Lead {
        pub id: Uuid,
        pub external_id: Option<String>,
        pub name: String,
        pub company: Option<String>,
        pub email: Option<String>,
        pub phone: Option<String>,
        /// web_form, referral, showroom, phone, email, repeat_customer, other
        pub source: String,
        /// kitchen, bath, closet, built_in, furniture, commercial, other
        pub project_type: String,
        /// A decimal string, with the currency's decimals.
        #[schema(example = "18450.00")]
        pub estimated_value: Option<String>,
        /// ISO 4217.
        pub currency: Option<String>,
        pub site_address: Option<String>,
        #[schema(format = Date)]
        pub desired_install_date: Option<String>,
        pub owner_user_id: Option<Uuid>,
        pub tags: Vec<String>,
        pub notes: Option<String>,
        /// new, contacted, qualified, quoted, won, lost
        pub status: String,
        /// price, timing, competitor, no_response, scope, other
        pub lost_reason: Option<String>,
        #[schema(format = DateTime)]
        pub status_changed_at: String,
        #[schema(format = DateTime)]
        pub created_at: String,
        #[schema(format = DateTime)]
        pub updated_at: String,
        #[schema(format = DateTime)]
        pub deleted_at: Option<String>,
        /// Bumped by every change; the ETag.
        pub version: i64,
    }

    /// A lead as an upsert answers it.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct LeadUpserted {
        #[serde(flatten)]
        pub lead: Lead,
        /// Whether the lead was created (201) or updated (200).
        pub created: bool,
    }

    /// The writable fields of a lead. On PATCH, an absent field is left
    /// alone and null clears it.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct LeadInput {
        /// Upsert only: the lead to update.
        pub id: Option<Uuid>,
        #[schema(
            max_length = 200,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub external_id: Option<String>,
        /// Required when creating.
        #[schema(
            nullable = false,
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub name: Option<String>,
        #[schema(
            max_length = 200,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub company: Option<String>,
        #[schema(format = Email, max_length = 254)]
        pub email: Option<String>,
        /// Digits, spaces and + ( ) - . only, with at least three digits.
        #[schema(max_length = 40, pattern = r"^[ +().-]*(?:[0-9][ +().-]*){3,}$")]
        pub phone: Option<String>,
        #[schema(schema_with = lead_source, required = false)]
        pub source: Option<String>,
        #[schema(schema_with = lead_project_type, required = false)]
        pub project_type: Option<String>,
        /// A non-negative decimal string, with at most the currency's
        /// decimals; needs a currency.
        #[schema(example = "18450.00", pattern = r"^[0-9]+(?:\.[0-9]+)?$")]
        pub estimated_value: Option<String>,
        #[schema(schema_with = currency, required = false)]
        pub currency: Option<String>,
        #[schema(
            max_length = 500,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub site_address: Option<String>,
        /// Years 1900 to 2200.
        #[schema(format = Date, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$")]
        pub desired_install_date: Option<String>,
        pub owner_user_id: Option<Uuid>,
        #[schema(schema_with = tags, required = false)]
        pub tags: Option<Vec<String>>,
        #[schema(
            max_length = 10_000,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub notes: Option<String>,
    }

    /// One of `values`, or null when `nullable`.
    pub(crate) fn one_of(
        values: &[&str],
        nullable: bool,
        description: &str,
    ) -> utoipa::openapi::Object {
        use utoipa::openapi::schema::{SchemaType, Type};
        let (ty, null) = if nullable {
            (
                SchemaType::from_iter([Type::String, Type::Null]),
                Some(serde_json::Value::Null),
            )
        } else {
            (SchemaType::new(Type::String), None)
        };
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(ty)
            .description(Some(description))
            .enum_values(Some(
                values
                    .iter()
                    .map(|v| serde_json::Value::from(*v))
                    .chain(null),
            ))
            .build()
    }

    fn lead_source() -> utoipa::openapi::Object {
        one_of(
            crate::leads::model::SOURCES,
            false,
            "Where the lead came from.",
        )
    }

    fn lead_project_type() -> utoipa::openapi::Object {
        one_of(
            crate::leads::model::PROJECT_TYPES,
            false,
            "What kind of job it is.",
        )
    }

    fn currency() -> utoipa::openapi::Object {
        one_of(
            crate::api::money::codes(),
            true,
            "An active ISO 4217 code; needed with an estimated value.",
        )
    }

    fn tags() -> utoipa::openapi::Array {
        use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .description(Some(
                "At most 20 labels of 1 to 50 characters; null clears them.",
            ))
            .max_items(Some(20))
            .items(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(50))
                    .pattern(Some(
                        r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$",
                    )),
            )
            .build()
    }

    /// A page of leads.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct LeadPage {
        pub data: Vec<Lead>,
        pub page_info: PageInfo,
    }

    /// An entry of a lead's timeline.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct TimelineEntry {
        /// `activity` or `status_change`.
        #[serde(rename = "type")]
        pub kind: String,
        pub id: Uuid,
        #[schema(format = DateTime)]
        pub at: String,
        /// The activity or the status event.
        pub item: serde_json::Value,
    }

    /// A page of a lead's timeline.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct TimelinePage {
        pub data: Vec<TimelineEntry>,
        pub page_info: PageInfo,
    }

    /// Totals of one currency.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CurrencyTotal {
        pub currency: String,
        pub count: i64,
        pub estimated_value: String,
    }

    /// One status of the summary.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct StatusSummary {
        pub status: String,
        pub count: i64,
        pub totals: Vec<CurrencyTotal>,
    }

    /// Counts and totals per status.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct LeadSummary {
        pub data: Vec<StatusSummary>,
    }

    /// One status and its moves.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct LeadStatus {
        pub status: String,
        pub allowed_transitions: Vec<String>,
        pub admin_only_transitions: Vec<String>,
    }

    /// The pipeline.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct LeadStatuses {
        pub data: Vec<LeadStatus>,
        pub lost_reasons: Vec<String>,
        pub sources: Vec<String>,
        pub project_types: Vec<String>,
    }

    /// An activity.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Activity {
        pub id: Uuid,
        pub lead_id: Uuid,
        /// call, email, meeting, note, task, site_visit
        #[serde(rename = "type")]
        pub kind: String,
        pub subject: String,
        pub body: Option<String>,
        /// inbound or outbound (calls and emails)
        pub direction: Option<String>,
        #[schema(format = DateTime)]
        pub due_at: Option<String>,
        #[schema(format = DateTime)]
        pub occurred_at: Option<String>,
        pub duration_minutes: Option<i32>,
        #[schema(format = DateTime)]
        pub completed_at: Option<String>,
        pub outcome: Option<String>,
        pub assigned_user_id: Option<Uuid>,
        pub created_by: Option<Uuid>,
        #[schema(format = DateTime)]
        pub created_at: String,
        #[schema(format = DateTime)]
        pub updated_at: String,
        #[schema(format = DateTime)]
        pub deleted_at: Option<String>,
        pub version: i64,
        /// Open and past due, at the time of the answer.
        pub is_overdue: bool,
    }

    /// A new activity.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ActivityInput {
        pub lead_id: Uuid,
        #[serde(rename = "type")]
        #[schema(schema_with = activity_type)]
        pub kind: String,
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub subject: String,
        #[schema(
            max_length = 10_000,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub body: Option<String>,
        /// Calls and emails only.
        #[schema(schema_with = direction, required = false)]
        pub direction: Option<String>,
        /// Years 1900 to 2200.
        #[schema(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
        pub due_at: Option<String>,
        /// Years 1900 to 2200.
        #[schema(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
        pub occurred_at: Option<String>,
        #[schema(minimum = 0, maximum = 1440)]
        pub duration_minutes: Option<i32>,
        /// `true` completes it now; not with `completedAt`.
        #[schema(nullable = false)]
        pub completed: Option<bool>,
        /// Not in the future; years 1900 to 2200.
        #[schema(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
        pub completed_at: Option<String>,
        #[schema(
            max_length = 1000,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub outcome: Option<String>,
        pub assigned_user_id: Option<Uuid>,
    }

    /// A change to an activity (absent stays, null clears).
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ActivityPatch {
        #[schema(
            nullable = false,
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub subject: Option<String>,
        #[schema(
            max_length = 10_000,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub body: Option<String>,
        /// Calls and emails only.
        #[schema(schema_with = direction, required = false)]
        pub direction: Option<String>,
        /// Years 1900 to 2200.
        #[schema(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
        pub due_at: Option<String>,
        /// Years 1900 to 2200.
        #[schema(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
        pub occurred_at: Option<String>,
        #[schema(minimum = 0, maximum = 1440)]
        pub duration_minutes: Option<i32>,
        /// `true` completes it now, `false` reopens it; not with
        /// `completedAt`.
        #[schema(nullable = false)]
        pub completed: Option<bool>,
        /// Not in the future; years 1900 to 2200.
        #[schema(format = DateTime, pattern = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-")]
        pub completed_at: Option<String>,
        #[schema(
            max_length = 1000,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$"
        )]
        pub outcome: Option<String>,
        pub assigned_user_id: Option<Uuid>,
    }

    fn activity_type() -> utoipa::openapi::Object {
        one_of(
            crate::activities::model::TYPES,
            false,
            "What kind of activity.",
        )
    }

    fn direction() -> utoipa::openapi::Object {
        one_of(
            crate::activities::model::DIRECTIONS,
            true,
            "inbound or outbound; calls and emails only.",
        )
    }

    /// A page of activities.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ActivityPage {
        pub data: Vec<Activity>,
        pub page_info: PageInfo,
    }

    /// An audit entry.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct AuditLog {
        pub id: Uuid,
        /// Its place in the tenant's hash chain.
        pub seq: i64,
        pub tenant_id: Option<Uuid>,
        pub user_id: Option<Uuid>,
        pub action: String,
        pub resource_type: String,
        pub resource_id: Option<String>,
        /// The request body, secrets redacted.
        pub changes: Option<serde_json::Value>,
        pub ip_address: Option<String>,
        pub user_agent: Option<String>,
        pub request_id: String,
        #[schema(format = DateTime)]
        pub occurred_at: String,
        /// Hex SHA-256 of the previous entry's link.
        pub prev_hash: String,
        /// Hex SHA-256 of this entry's link.
        pub hash: String,
    }

    /// A page of audit entries.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct AuditLogPage {
        pub data: Vec<AuditLog>,
        pub page_info: PageInfo,
    }
}

/// A list's `sort` query parameter: one of `fields`, or `-` and one of
/// them for descending order (what `Sort::parse` accepts).
pub(crate) fn sort_parameter(fields: &[crate::api::list::SortField]) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::Type;
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            fields
                .iter()
                .flat_map(|(name, ..)| [name.to_string(), format!("-{name}")]),
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::activities::model::{DIRECTIONS, TYPES};

    fn schema(name: &str) -> Value {
        let doc = serde_json::to_value(crate::openapi_document()).unwrap();
        doc["components"]["schemas"][name].clone()
    }

    /// The parameter `name` of `method path` in the document.
    fn parameter<'d>(doc: &'d Value, path: &str, method: &str, name: &str) -> &'d Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} takes {name}"))
    }

    /// Every `$ref` in `value`, depth first.
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| references(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_in_the_document_names_a_component_it_holds() {
        let doc = serde_json::to_value(crate::openapi_document()).unwrap();
        let mut found = Vec::new();
        references(&doc, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{target} points into the components"));
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{target} is not in the document"
            );
        }
    }

    #[test]
    fn the_deleted_filter_and_if_match_are_described_as_the_routes_read_them() {
        let doc = serde_json::to_value(crate::openapi_document()).unwrap();
        let parameter = |path, method, name| parameter(&doc, path, method, name);
        for path in ["/api/crm/leads", "/api/crm/activities", "/api/crm/quotes"] {
            assert_eq!(
                parameter(path, "get", "deleted")["schema"]["enum"],
                json!(["exclude", "include", "only"]),
                "{path}"
            );
        }
        let if_match = parameter("/api/crm/leads/{id}", "patch", "If-Match");
        assert_eq!(if_match["in"], "header");
        assert!(if_match["schema"]["pattern"].as_str().is_some());
    }

    #[test]
    fn list_parameters_state_the_limit_range_and_the_sort_orders() {
        let doc = serde_json::to_value(crate::openapi_document()).unwrap();
        let parameter = |path, name| &parameter(&doc, path, "get", name)["schema"];
        for path in [
            "/api/crm/leads",
            "/api/crm/activities",
            "/api/crm/quotes",
            "/api/audit-logs",
            "/api/crm/leads/{id}/timeline",
        ] {
            assert_eq!(parameter(path, "limit")["minimum"], 1, "{path}");
            assert_eq!(parameter(path, "limit")["maximum"], 200, "{path}");
        }
        assert_eq!(
            parameter("/api/crm/leads", "sort")["enum"],
            json!([
                "createdAt",
                "-createdAt",
                "updatedAt",
                "-updatedAt",
                "name",
                "-name"
            ])
        );
        assert_eq!(
            parameter("/api/crm/activities", "type")["enum"],
            json!(TYPES)
        );
    }

    #[test]
    fn status_changes_and_quotes_state_what_validation_enforces() {
        let change = schema("StatusChange");
        assert_eq!(
            change["properties"]["status"]["enum"],
            json!(crate::leads::pipeline::STATUSES)
        );
        let mut reasons = json!(crate::leads::pipeline::LOST_REASONS);
        reasons.as_array_mut().unwrap().push(Value::Null);
        assert_eq!(change["properties"]["lostReason"]["enum"], reasons);
        for name in ["QuoteInput", "QuotePatch"] {
            let quote = schema(name);
            assert_eq!(quote["additionalProperties"], false, "{name}");
            assert_eq!(quote["properties"]["title"]["maxLength"], 200, "{name}");
            assert_eq!(
                quote["properties"]["currency"]["enum"],
                json!(crate::api::money::codes()),
                "{name}"
            );
        }
        assert_eq!(
            schema("QuoteInput")["properties"]["lineItems"]["maxItems"],
            crate::quotes::model::MAX_LINES
        );
        assert_eq!(schema("Rejection")["properties"]["reason"]["minLength"], 1);
    }

    #[test]
    fn the_activity_input_states_the_types_directions_and_limits_that_validation_enforces() {
        let input = schema("ActivityInput");
        let fields = &input["properties"];
        assert_eq!(input["additionalProperties"], false);
        assert_eq!(fields["type"]["enum"], json!(TYPES));
        let mut directions = json!(DIRECTIONS);
        directions.as_array_mut().unwrap().push(Value::Null);
        assert_eq!(fields["direction"]["enum"], directions);
        assert_eq!(fields["subject"]["minLength"], 1);
        assert_eq!(fields["subject"]["maxLength"], 200);
        assert_eq!(fields["body"]["maxLength"], 10_000);
        assert_eq!(fields["outcome"]["maxLength"], 1000);
        assert_eq!(fields["durationMinutes"]["minimum"], 0);
        assert_eq!(fields["durationMinutes"]["maximum"], 1440);
        let required = input["required"].as_array().unwrap();
        for field in ["leadId", "type", "subject"] {
            assert!(required.contains(&json!(field)), "{field} is required");
        }
    }

    #[test]
    fn the_activity_patch_cannot_clear_the_subject_or_send_unknown_fields() {
        let patch = schema("ActivityPatch");
        assert_eq!(patch["additionalProperties"], false);
        assert_eq!(patch["properties"]["subject"]["type"], "string");
        assert_eq!(patch["properties"]["completed"]["type"], "boolean");
        assert!(patch["properties"].get("type").is_none());
        assert!(patch["properties"].get("leadId").is_none());
    }

    #[test]
    fn user_inputs_state_the_password_and_name_limits() {
        for name in ["RegisterInput", "NewUser"] {
            let fields = &schema(name)["properties"];
            assert_eq!(
                fields["password"]["minLength"],
                crate::auth::input::MIN_PASSWORD_CHARS,
                "{name}"
            );
            assert_eq!(
                fields["password"]["maxLength"],
                crate::auth::input::MAX_PASSWORD_CHARS,
                "{name}"
            );
            assert_eq!(fields["name"]["maxLength"], 200, "{name}");
            assert_eq!(fields["email"]["format"], "email", "{name}");
        }
    }
}
