//! What a client writes to a lead: the fields of an upsert or a merge
//! patch ([`LeadInput`], read from a [`LeadPatch`] once the lead is found)
//! and a status move ([`StatusChange`]), with the one set of rules behind
//! create, upsert and merge-patch.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::domain::Transition;
use super::model::{LeadRow, LeadSource, LeadStatus, LostReason, ProjectType};
use crate::api::fields::schema::{self, text};
use crate::api::fields::{
    self, DATE_PATTERN, DECIMAL_PATTERN, Errors, MAX_ADDRESS, MAX_EMAIL, MAX_NAME, MAX_NOTES,
    MAX_PHONE, PHONE_PATTERN,
};
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

/// The most characters of a status move's note.
pub const MAX_STATUS_NOTE: usize = 2000;

/// The body of a merge patch, its names checked. Its values are judged
/// once the lead is found ([`LeadInput::parse`] in
/// [`super::domain::update`]): a patch of a missing lead is a 404, of a
/// changed one a 412, whatever it holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadPatch {
    fields: Map<String, Value>,
}

impl LeadPatch {
    /// The body of a merge patch, its names checked.
    pub fn new(body: Value) -> Result<Self, Errors> {
        let fields = object(body)?;
        let mut errors = Errors::default();
        fields::known_keys(&fields, WRITABLE, READ_ONLY, &mut errors);
        errors.check()?;
        Ok(Self { fields })
    }

    /// The fields as sent.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

impl LeadInput {
    /// The body of an upsert, every field checked (the amount on a fresh
    /// lead), so that every problem is in one refusal before any lookup.
    pub fn upsert(body: Value) -> Result<Self, Errors> {
        let mut fields = object(body)?;
        let mut errors = Errors::default();
        let mut writable = WRITABLE.to_vec();
        writable.push("id");
        let read_only: Vec<&str> = READ_ONLY.iter().copied().filter(|k| *k != "id").collect();
        fields::known_keys(&fields, &writable, &read_only, &mut errors);
        let id = fields
            .get("id")
            .and_then(|v| fields::uuid("id", v, &mut errors));
        fields.remove("id");
        let input = Self {
            id,
            ..Self::parse(&fields, &mut errors)
        };
        let mut scratch = LeadRow::new(Uuid::nil(), Uuid::nil(), crate::api::now());
        input.apply(&mut scratch, &mut errors);
        errors.check()?;
        Ok(input)
    }
}

fn object(body: Value) -> Result<Map<String, Value>, Errors> {
    match body {
        Value::Object(map) => Ok(map),
        _ => {
            let mut errors = Errors::default();
            errors.add("body", "must be a JSON object");
            Err(errors)
        }
    }
}

/// Applies `map` to `lead`: absent fields stay, `null` clears, values
/// replace. Every problem is added to `errors`; `lead` may be half-changed
/// when there are any, and must then be dropped.
pub fn apply(map: &Map<String, Value>, lead: &mut LeadRow, errors: &mut Errors) {
    LeadInput::parse(map, errors).apply(lead, errors);
}

impl LeadInput {
    /// Reads the writable fields of `map` (other keys are left to
    /// [`fields::known_keys`]): each absent field is `None`, each cleared
    /// one `Some(None)`; a refused value is left out and its problem added
    /// to `errors`, in the order of the keys. The amount and its currency
    /// are checked together, against the lead, by [`LeadInput::apply`].
    pub fn parse(map: &Map<String, Value>, errors: &mut Errors) -> Self {
        let mut input = Self::default();
        for (key, value) in map {
            match key.as_str() {
                "externalId" => input.external_id = fields::opt_text(key, value, MAX_NAME, errors),
                "name" => input.name = fields::text(key, value, MAX_NAME, errors),
                "company" => input.company = fields::opt_text(key, value, MAX_NAME, errors),
                "email" => input.email = fields::opt_email(key, value, errors),
                "phone" => {
                    input.phone = fields::opt_text(key, value, MAX_PHONE, errors).filter(|v| {
                        let ok = v.as_deref().is_none_or(fields::is_phone);
                        if !ok {
                            errors.add(
                                key,
                                "must be a phone number: digits, spaces and + ( ) - . only",
                            );
                        }
                        ok
                    })
                }
                "source" => {
                    input.source = non_null(key, value, errors)
                        .and_then(|v| fields::one_of(key, v, LeadSource::NAMES, errors))
                        .and_then(|v| LeadSource::parse(&v))
                }
                "projectType" => {
                    input.project_type = non_null(key, value, errors)
                        .and_then(|v| fields::one_of(key, v, ProjectType::NAMES, errors))
                        .and_then(|v| ProjectType::parse(&v))
                }
                "siteAddress" => {
                    input.site_address = fields::opt_text(key, value, MAX_ADDRESS, errors)
                }
                "desiredInstallDate" => {
                    input.desired_install_date = fields::opt_date(key, value, errors)
                }
                "ownerUserId" => input.owner_user_id = fields::opt_uuid(key, value, errors),
                "tags" => input.tags = fields::tags(key, value, errors),
                "notes" => input.notes = fields::opt_text(key, value, MAX_NOTES, errors),
                "estimatedValue" => input.estimated_value = Some(value.clone()),
                "currency" => input.currency = Some(value.clone()),
                _ => {}
            }
        }
        input
    }

    /// Applies the input to `lead`: absent fields stay, cleared ones are
    /// cleared, values replace. The amount's problems are added to
    /// `errors`; `lead` may be half-changed when there are any, and must
    /// then be dropped.
    pub fn apply(&self, lead: &mut LeadRow, errors: &mut Errors) {
        set(&mut lead.external_id, self.external_id.clone());
        if let Some(name) = &self.name {
            lead.name.clone_from(name);
        }
        set(&mut lead.company, self.company.clone());
        set(&mut lead.email, self.email.clone());
        set(&mut lead.phone, self.phone.clone());
        if let Some(source) = self.source {
            lead.source = source;
        }
        if let Some(project_type) = self.project_type {
            lead.project_type = project_type;
        }
        set(&mut lead.site_address, self.site_address.clone());
        set(&mut lead.desired_install_date, self.desired_install_date);
        set(&mut lead.owner_user_id, self.owner_user_id);
        if let Some(tags) = &self.tags {
            lead.tags.0.clone_from(tags);
        }
        set(&mut lead.notes, self.notes.clone());
        apply_money(
            self.estimated_value.as_ref(),
            self.currency.as_ref(),
            lead,
            errors,
        );
    }
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

/// `estimatedValue` and `currency` go together: clearing the value clears
/// the currency, a value needs a currency (sent now or stored), and the
/// value may not have more decimals than the currency allows.
fn apply_money(
    value: Option<&Value>,
    currency: Option<&Value>,
    lead: &mut LeadRow,
    errors: &mut Errors,
) {
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
    #[schema(schema_with = status_note, required = false)]
    pub note: Option<String>,
}

fn statuses() -> utoipa::openapi::Object {
    schema::one_of(LeadStatus::NAMES, false, "The new status.")
}

fn lost_reasons() -> utoipa::openapi::Object {
    schema::one_of(
        LostReason::NAMES,
        true,
        "Why the lead was lost: required for `lost`, refused otherwise.",
    )
}

fn status_note() -> utoipa::openapi::Object {
    schema::string(true)
        .description(Some("A note kept with the status event."))
        .max_length(Some(MAX_STATUS_NOTE))
        .pattern(Some(fields::CONTROL_FREE_PATTERN))
        .build()
}

impl StatusChange {
    /// The move, checked: every problem in one refusal.
    pub fn check(self) -> Result<Transition, Errors> {
        let mut errors = Errors::default();
        let to = fields::one_of(
            "status",
            &json!(self.status),
            LeadStatus::NAMES,
            &mut errors,
        )
        .and_then(|s| LeadStatus::parse(&s));
        let lost = self.status == LeadStatus::Lost.as_str();
        let lost_reason = match (&self.lost_reason, lost) {
            (Some(reason), true) => {
                fields::one_of("lostReason", &json!(reason), LostReason::NAMES, &mut errors)
                    .and_then(|r| LostReason::parse(&r))
            }
            (None, true) => {
                errors.add(
                    "lostReason",
                    format!(
                        "is required when the status is lost ({})",
                        LostReason::NAMES.join(", ")
                    ),
                );
                None
            }
            (Some(_), false) => {
                errors.add("lostReason", "is only for the status lost");
                None
            }
            (None, false) => None,
        };
        let note = match &self.note {
            Some(note) => {
                fields::opt_text("note", &json!(note), MAX_STATUS_NOTE, &mut errors).flatten()
            }
            None => None,
        };
        errors.check()?;
        Ok(Transition {
            to: to.unwrap_or(LeadStatus::New),
            lost_reason,
            note,
        })
    }
}

/// The writable fields of a lead, checked (see [`LeadInput::parse`]): an
/// absent field is `None`, a cleared one `Some(None)`. Its schema is the
/// document's description of the upsert and merge-patch bodies, built
/// from the constants the checks use.
#[derive(Debug, Clone, Default, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(
    description = "The writable fields of a lead. On PATCH, an absent field is left\nalone and null clears it."
)]
pub struct LeadInput {
    /// Upsert only: the lead to update.
    #[schema(value_type = Option<Uuid>)]
    pub id: Option<Uuid>,
    /// The id in the system it came from.
    #[schema(schema_with = name_text, required = false)]
    pub external_id: Option<Option<String>>,
    /// Required when creating.
    #[schema(schema_with = required_name, required = false)]
    pub name: Option<String>,
    /// Their company.
    #[schema(schema_with = name_text, required = false)]
    pub company: Option<Option<String>>,
    /// Their email.
    #[schema(schema_with = email, required = false)]
    pub email: Option<Option<String>>,
    /// Digits, spaces and + ( ) - . only, with at least three digits.
    #[schema(schema_with = phone, required = false)]
    pub phone: Option<Option<String>>,
    /// Where the lead came from.
    #[schema(schema_with = source, required = false)]
    pub source: Option<LeadSource>,
    /// What kind of job it is.
    #[schema(schema_with = project_type, required = false)]
    pub project_type: Option<ProjectType>,
    /// The amount as sent, checked with the currency against the lead.
    #[schema(schema_with = estimated_value, required = false)]
    pub estimated_value: Option<Value>,
    /// The currency as sent, checked with the amount.
    #[schema(schema_with = currency, required = false)]
    pub currency: Option<Value>,
    /// Where the work is installed.
    #[schema(schema_with = site_address, required = false)]
    pub site_address: Option<Option<String>>,
    /// When the customer wants it installed.
    #[schema(schema_with = install_date, required = false)]
    pub desired_install_date: Option<Option<chrono::NaiveDate>>,
    #[allow(missing_docs)] // Undescribed in the document.
    #[schema(value_type = Option<Uuid>)]
    pub owner_user_id: Option<Option<Uuid>>,
    /// Free labels (`Some(empty)` clears them).
    #[schema(schema_with = schema::tags, required = false)]
    pub tags: Option<Vec<String>>,
    /// Free notes.
    #[schema(schema_with = notes, required = false)]
    pub notes: Option<Option<String>>,
}

fn name_text() -> utoipa::openapi::Object {
    text(true, MAX_NAME).build()
}

fn required_name() -> utoipa::openapi::Object {
    text(false, MAX_NAME)
        .min_length(Some(1))
        .description(Some("Required when creating."))
        .build()
}

fn email() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
    schema::string(true)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(MAX_EMAIL))
        .build()
}

fn phone() -> utoipa::openapi::Object {
    schema::string(true)
        .description(Some(
            "Digits, spaces and + ( ) - . only, with at least three digits.",
        ))
        .max_length(Some(MAX_PHONE))
        .pattern(Some(PHONE_PATTERN))
        .build()
}

fn source() -> utoipa::openapi::Object {
    schema::one_of(LeadSource::NAMES, false, "Where the lead came from.")
}

fn project_type() -> utoipa::openapi::Object {
    schema::one_of(ProjectType::NAMES, false, "What kind of job it is.")
}

#[allow(deprecated)] // OpenAPI 3.1 prefers `examples`; the document has always said `example`.
fn estimated_value() -> utoipa::openapi::Object {
    schema::string(true)
        .description(Some(
            "A non-negative decimal string, with at most the currency's\ndecimals; needs a currency.",
        ))
        .example(Some(json!("18450.00")))
        .pattern(Some(DECIMAL_PATTERN))
        .build()
}

fn currency() -> utoipa::openapi::Object {
    schema::one_of(
        money::codes(),
        true,
        "An active ISO 4217 code; needed with an estimated value.",
    )
}

fn site_address() -> utoipa::openapi::Object {
    text(true, MAX_ADDRESS).build()
}

fn install_date() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
    schema::string(true)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some("Years 1900 to 2200."))
        .pattern(Some(DATE_PATTERN))
        .build()
}

fn notes() -> utoipa::openapi::Object {
    text(true, MAX_NOTES).build()
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
        assert_eq!(
            serde_json::to_value(l.view()).unwrap()["estimatedValue"],
            "18450.50"
        );
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
