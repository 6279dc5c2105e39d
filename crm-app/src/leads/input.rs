//! Applying a JSON object to a lead's profile fields: the one set of rules
//! behind create, upsert and merge-patch.

use serde_json::{Map, Value};

use super::model::{LeadRow, PROJECT_TYPES, SOURCES};
use crate::api::fields::{self, Errors};
use crate::api::money;

/// The fields a client may write.
pub const WRITABLE: &[&str] = &[
    "externalId",
    "name",
    "company",
    "email",
    "phone",
    "source",
    "projectType",
    "estimatedValue",
    "currency",
    "siteAddress",
    "desiredInstallDate",
    "ownerUserId",
    "tags",
    "notes",
];

/// The fields only the service writes (`status` moves through
/// `PATCH /leads/{id}/status`).
pub const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "lostReason",
    "statusChangedAt",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "version",
    "created",
];

/// Applies `map` to `lead`: absent fields stay, `null` clears, values
/// replace. Every problem is added to `errors`; `lead` may be half-changed
/// when there are any, and must then be dropped.
pub fn apply(map: &Map<String, Value>, lead: &mut LeadRow, errors: &mut Errors) {
    for (key, value) in map {
        match key.as_str() {
            "externalId" => {
                if let Some(v) = fields::opt_text(key, value, 200, errors) {
                    lead.external_id = v;
                }
            }
            "name" => {
                if let Some(v) = fields::text(key, value, 200, errors) {
                    lead.name = v;
                }
            }
            "company" => set(&mut lead.company, fields::opt_text(key, value, 200, errors)),
            "email" => set(&mut lead.email, fields::opt_email(key, value, errors)),
            "phone" => {
                if let Some(v) = fields::opt_text(key, value, 40, errors) {
                    if v.as_deref().is_some_and(|p| !is_phone(p)) {
                        errors.add(
                            key,
                            "must be a phone number: digits, spaces and + ( ) - . only",
                        );
                    } else {
                        lead.phone = v;
                    }
                }
            }
            "source" => {
                if let Some(v) = non_null(key, value, errors)
                    .and_then(|v| fields::one_of(key, v, SOURCES, errors))
                {
                    lead.source = v;
                }
            }
            "projectType" => {
                if let Some(v) = non_null(key, value, errors)
                    .and_then(|v| fields::one_of(key, v, PROJECT_TYPES, errors))
                {
                    lead.project_type = v;
                }
            }
            "siteAddress" => set(
                &mut lead.site_address,
                fields::opt_text(key, value, 500, errors),
            ),
            "desiredInstallDate" => set(
                &mut lead.desired_install_date,
                fields::opt_date(key, value, errors),
            ),
            "ownerUserId" => set(
                &mut lead.owner_user_id,
                fields::opt_uuid(key, value, errors),
            ),
            "tags" => {
                if let Some(v) = fields::tags(key, value, errors) {
                    lead.tags.0 = v;
                }
            }
            "notes" => set(
                &mut lead.notes,
                fields::opt_text(key, value, 10_000, errors),
            ),
            // Money is checked as a pair below.
            "estimatedValue" | "currency" => {}
            _ => {}
        }
    }
    apply_money(map, lead, errors);
}

fn set<T>(field: &mut Option<T>, value: Option<Option<T>>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn non_null<'a>(key: &str, value: &'a Value, errors: &mut Errors) -> Option<&'a Value> {
    if value.is_null() {
        errors.add(key, "is required and cannot be cleared");
        None
    } else {
        Some(value)
    }
}

fn is_phone(text: &str) -> bool {
    text.chars().filter(char::is_ascii_digit).count() >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-.".contains(c))
}

/// `estimatedValue` and `currency` go together: clearing the value clears
/// the currency, a value needs a currency (sent now or stored), and the
/// value may not have more decimals than the currency allows.
fn apply_money(map: &Map<String, Value>, lead: &mut LeadRow, errors: &mut Errors) {
    let value = map.get("estimatedValue");
    let currency = map.get("currency");
    if value.is_none() && currency.is_none() {
        return;
    }
    let mut new_currency = lead.currency.clone();
    match currency {
        None => {}
        Some(Value::Null) => new_currency = None,
        Some(Value::String(code)) if money::decimals(code).is_some() => {
            new_currency = Some(code.clone())
        }
        Some(_) => {
            errors.add(
                "currency",
                "must be an ISO 4217 code in capitals, such as USD",
            );
            return;
        }
    }
    let text = match value {
        // The stored amount, re-checked against a changed currency.
        None => lead
            .estimated_value_e4
            .zip(lead.currency.as_deref())
            .map(|(e4, cur)| money::format(e4, money::decimals(cur).unwrap_or(4))),
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.add(
                "estimatedValue",
                "must be a decimal string such as \"18450.00\" (not a number)",
            );
            return;
        }
    };
    match (text, new_currency) {
        (None, None) => {
            lead.estimated_value_e4 = None;
            lead.currency = None;
        }
        (None, Some(_)) if value.is_some() => {
            // The value was cleared: the currency goes with it.
            if matches!(currency, Some(Value::String(_))) {
                errors.add("currency", "needs an estimatedValue");
            } else {
                lead.estimated_value_e4 = None;
                lead.currency = None;
            }
        }
        (None, Some(_)) => errors.add("currency", "needs an estimatedValue"),
        (Some(_), None) => errors.add("currency", "is required with estimatedValue"),
        (Some(text), Some(code)) => {
            let decimals = money::decimals(&code).unwrap_or(2);
            match money::parse(&text, decimals) {
                Ok(e4) => {
                    lead.estimated_value_e4 = Some(e4);
                    lead.currency = Some(code);
                }
                Err(message) => errors.add("estimatedValue", message),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn lead() -> LeadRow {
        let mut lead = LeadRow::new(Uuid::nil(), Uuid::nil(), chrono::Utc::now());
        lead.name = "Ana".into();
        lead.company = Some("Oak & Co".into());
        lead.estimated_value_e4 = Some(10_000);
        lead.currency = Some("USD".into());
        lead
    }

    fn patch(lead: &mut LeadRow, body: Value) -> Vec<String> {
        let mut errors = Errors::default();
        apply(body.as_object().unwrap(), lead, &mut errors);
        errors.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn absent_fields_stay_and_null_clears() {
        let mut l = lead();
        assert!(patch(&mut l, json!({"company": null, "phone": "+1 555 0100"})).is_empty());
        assert_eq!(l.company, None);
        assert_eq!(l.name, "Ana");
        assert_eq!(l.phone.as_deref(), Some("+1 555 0100"));
    }

    #[test]
    fn clearing_the_value_clears_its_currency() {
        let mut l = lead();
        assert!(patch(&mut l, json!({"estimatedValue": null})).is_empty());
        assert_eq!((l.estimated_value_e4, l.currency), (None, None));
    }

    #[test]
    fn a_value_needs_a_currency_and_fits_its_decimals() {
        let mut l = LeadRow::new(Uuid::nil(), Uuid::nil(), chrono::Utc::now());
        assert_eq!(
            patch(&mut l, json!({"estimatedValue": "100.00"})),
            ["currency"]
        );
        assert_eq!(
            patch(
                &mut l,
                json!({"estimatedValue": "100.5", "currency": "JPY"})
            ),
            ["estimatedValue"]
        );
        assert_eq!(
            patch(&mut l, json!({"estimatedValue": 100})),
            ["estimatedValue"]
        );
        assert!(
            patch(
                &mut l,
                json!({"estimatedValue": "18450.5", "currency": "EUR"})
            )
            .is_empty()
        );
        assert_eq!(l.view()["estimatedValue"], "18450.50");
        // Switching to a currency without decimals re-checks the amount.
        assert_eq!(
            patch(&mut l, json!({"currency": "JPY"})),
            ["estimatedValue"]
        );
    }

    #[test]
    fn required_enums_cannot_be_cleared_or_misspelt() {
        let mut l = lead();
        assert_eq!(
            patch(&mut l, json!({"source": null, "projectType": "garage"})),
            ["source", "projectType"]
        );
    }
}
