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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::activities::input::{MAX_BODY, MAX_DURATION_MINUTES, MAX_OUTCOME, MAX_SUBJECT};
    use crate::activities::model::{ActivityKind, Direction};

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
            json!(ActivityKind::NAMES)
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
        assert_eq!(fields["type"]["enum"], json!(ActivityKind::NAMES));
        let mut directions = json!(Direction::NAMES);
        directions.as_array_mut().unwrap().push(Value::Null);
        assert_eq!(fields["direction"]["enum"], directions);
        assert_eq!(fields["subject"]["minLength"], 1);
        assert_eq!(fields["subject"]["maxLength"], 200);
        assert_eq!(fields["body"]["maxLength"], 10_000);
        assert_eq!(fields["outcome"]["maxLength"], 1000);
        assert_eq!(fields["durationMinutes"]["minimum"], 0);
        assert_eq!(fields["durationMinutes"]["maximum"], 1440);
        assert_eq!(fields["subject"]["maxLength"], MAX_SUBJECT);
        assert_eq!(fields["body"]["maxLength"], MAX_BODY);
        assert_eq!(fields["outcome"]["maxLength"], MAX_OUTCOME);
        assert_eq!(fields["durationMinutes"]["maximum"], MAX_DURATION_MINUTES);
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
