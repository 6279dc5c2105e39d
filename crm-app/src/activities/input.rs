//! What a client sends to record ([`ActivityInput`]) or change
//! ([`ActivityPatch`]) an activity: the typed inputs the domain functions
//! take, how they are read from a JSON object, and their limits, which
//! both the checks and the OpenAPI document state.
//!
//! A body is read field by field, as JSON Merge Patch asks (an absent
//! field stays, `null` clears), collecting every problem into
//! [`Parsed::invalid`]; the domain adds the problems only the database
//! can tell (an unknown lead or user) and answers them all in one 422.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
use uuid::Uuid;

use super::model::{ActivityKind, ActivityRow, Direction};
use crate::api::fields::{self, Errors};

/// The longest subject.
pub const MAX_SUBJECT: usize = 200;
/// The longest body.
pub const MAX_BODY: usize = 10_000;
/// The longest outcome.
pub const MAX_OUTCOME: usize = 1000;
/// The longest duration, a day.
pub const MAX_DURATION_MINUTES: i64 = 1440;
/// How far in the future `completedAt` may be (clocks differ).
pub const COMPLETED_AT_SLACK_MINUTES: i64 = 5;
/// What [`fields::clean`] accepts in a text that may hold line breaks: no
/// control characters but tab and line breaks, no bidirectional overrides.
pub const TEXT_PATTERN: &str = fields::TEXT_PATTERN;
/// The years [`fields::timestamp`] accepts, 1900 to 2200.
pub const TIMESTAMP_PATTERN: &str = fields::YEAR_PATTERN;

/// The fields fixed at creation.
pub const FIXED_FIELDS: &[&str] = &["leadId", "type"];

/// The fields a client may change afterwards (and set when creating).
pub const PATCH_FIELDS: &[&str] = &[
    "subject",
    "body",
    "direction",
    "dueAt",
    "occurredAt",
    "durationMinutes",
    "completed",
    "completedAt",
    "outcome",
    "assignedUserId",
];

/// The fields only the service writes (and `leadId`/`type`, fixed at
/// creation).
pub const READ_ONLY: &[&str] = &[
    "id",
    "leadId",
    "type",
    "createdBy",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "version",
    "isOverdue",
];

/// An input read from a body, with the problems found in it. The input is
/// only acted on when `invalid` is empty; a field that was refused holds
/// its default meanwhile.
#[derive(Debug)]
pub struct Parsed<T> {
    /// What was read.
    pub input: T,
    /// The problems, in the order of the body's fields.
    pub invalid: Errors,
}

impl<T> Parsed<T> {
    /// Whether `field` was refused.
    pub fn refused(&self, field: &str) -> bool {
        self.invalid.0.iter().any(|e| e.field == field)
    }
}

/// Defines [`ActivityInput`] and [`ActivityPatch`] around the fields they
/// share, listed once (a field's type, limits and description written
/// once), and the two conversions between them. Each shared field is a
/// merge patch: `None` absent, `Some(None)` cleared.
macro_rules! activity_inputs {
    ($($(#[$meta:meta])* $field:ident: $ty:ty,)+) => {
        /// A new activity.
        #[allow(missing_docs)]
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct ActivityInput {
            pub lead_id: Uuid,
            #[serde(rename = "type")]
            #[schema(schema_with = kind_schema)]
            pub kind: ActivityKind,
            #[schema(schema_with = subject_schema)]
            pub subject: String,
            /// `true` completes it now; not with `completedAt`.
            #[schema(nullable = false)]
            pub completed: Option<bool>,
            $($(#[$meta])* #[serde(default, deserialize_with = "present")] pub $field: $ty,)+
        }

        /// A change to an activity (absent stays, null clears).
        #[allow(missing_docs)]
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct ActivityPatch {
            #[schema(schema_with = subject_schema, required = false)]
            pub subject: Option<String>,
            /// `true` completes it now, `false` reopens it; not with
            /// `completedAt`.
            #[schema(nullable = false)]
            pub completed: Option<bool>,
            $($(#[$meta])* #[serde(default, deserialize_with = "present")] pub $field: $ty,)+
        }

        impl ActivityInput {
            /// A new activity of `kind` on `lead_id`, with what `changes`
            /// sets (no subject: empty).
            fn with(lead_id: Uuid, kind: ActivityKind, changes: ActivityPatch) -> Self {
                Self {
                    lead_id,
                    kind,
                    subject: changes.subject.unwrap_or_default(),
                    completed: changes.completed,
                    $($field: changes.$field,)+
                }
            }

            /// The changes it makes to an empty activity.
            pub fn changes(&self) -> ActivityPatch {
                ActivityPatch {
                    subject: Some(self.subject.clone()),
                    completed: self.completed,
                    $($field: self.$field.clone(),)+
                }
            }
        }
    };
}

activity_inputs! {
    #[schema(schema_with = body_schema, required = false)]
    body: Option<Option<String>>,
    #[schema(schema_with = direction_schema, required = false)]
    direction: Option<Option<Direction>>,
    #[schema(schema_with = planned_at_schema, required = false)]
    due_at: Option<Option<DateTime<Utc>>>,
    #[schema(schema_with = planned_at_schema, required = false)]
    occurred_at: Option<Option<DateTime<Utc>>>,
    #[schema(schema_with = duration_schema, required = false)]
    duration_minutes: Option<Option<i32>>,
    #[schema(schema_with = completed_at_schema, required = false)]
    completed_at: Option<Option<DateTime<Utc>>>,
    #[schema(schema_with = outcome_schema, required = false)]
    outcome: Option<Option<String>>,
    #[schema(value_type = Option<Uuid>)]
    assigned_user_id: Option<Option<Uuid>>,
}

impl Default for ActivityKind {
    /// What a refused `type` stands for while the rest is checked.
    fn default() -> Self {
        Self::Note
    }
}

impl ActivityInput {
    /// Reads a new activity from `map`.
    pub fn parse(map: &Map<String, Value>) -> Parsed<Self> {
        let mut invalid = Errors::default();
        let writable = [FIXED_FIELDS, PATCH_FIELDS].concat();
        fields::known_keys(map, &writable, &READ_ONLY[..1], &mut invalid);
        let lead_id = match map.get("leadId") {
            Some(v) => fields::uuid("leadId", v, &mut invalid),
            None => {
                invalid.add("leadId", "is required");
                None
            }
        };
        let kind = match map.get("type") {
            Some(v) => fields::one_of("type", v, ActivityKind::NAMES, &mut invalid),
            None => {
                invalid.add(
                    "type",
                    format!("is required ({})", ActivityKind::NAMES.join(", ")),
                );
                None
            }
        };
        if !map.contains_key("subject") {
            invalid.add("subject", "is required");
        }
        let changes = ActivityPatch::read(map, &mut invalid);
        let input = Self::with(
            lead_id.unwrap_or_default(),
            kind.and_then(|k| k.parse().ok()).unwrap_or_default(),
            changes,
        );
        Parsed { input, invalid }
    }
}

impl ActivityPatch {
    /// Reads a change from `map`. A key that is read-only or unknown is a
    /// 422 at once, before the activity is looked up.
    pub fn parse(map: &Map<String, Value>) -> Result<Parsed<Self>, ops_kit::ApiError> {
        let mut unknown = Errors::default();
        fields::known_keys(map, PATCH_FIELDS, READ_ONLY, &mut unknown);
        unknown.finish()?;
        let mut invalid = Errors::default();
        let input = Self::read(map, &mut invalid);
        Ok(Parsed { input, invalid })
    }

    /// Reads the fields of [`PATCH_FIELDS`] in `map`, in its order; other
    /// keys are left to the caller.
    fn read(map: &Map<String, Value>, errors: &mut Errors) -> Self {
        let mut patch = Self::default();
        for (key, value) in map {
            match key.as_str() {
                "subject" => patch.subject = fields::text(key, value, MAX_SUBJECT, errors),
                "body" => patch.body = fields::opt_text(key, value, MAX_BODY, errors),
                "direction" => {
                    patch.direction = fields::opt_one_of(key, value, Direction::NAMES, errors)
                        .map(|d| d.and_then(|d| d.parse().ok()));
                }
                "dueAt" => patch.due_at = fields::opt_timestamp(key, value, errors),
                "occurredAt" => patch.occurred_at = fields::opt_timestamp(key, value, errors),
                "durationMinutes" => {
                    patch.duration_minutes =
                        fields::opt_int(key, value, 0, MAX_DURATION_MINUTES, errors)
                            .map(|v| v.map(|m| m as i32));
                }
                "completedAt" => patch.completed_at = fields::opt_timestamp(key, value, errors),
                "completed" => {
                    if let Some(done) = fields::boolean(key, value, errors) {
                        if map.contains_key("completedAt") {
                            errors.add(key, "send either completed or completedAt");
                        } else {
                            patch.completed = Some(done);
                        }
                    }
                }
                "outcome" => patch.outcome = fields::opt_text(key, value, MAX_OUTCOME, errors),
                "assignedUserId" => patch.assigned_user_id = fields::opt_uuid(key, value, errors),
                _ => {}
            }
        }
        patch
    }

    /// Applies the change to `activity` at `now`, and adds the problems of
    /// the result to `errors`: a direction on what is not a call or an
    /// email, a completion in the future. `completed: true` stamps `now`
    /// unless it is completed already; `false` reopens it.
    pub fn apply(&self, activity: &mut ActivityRow, now: DateTime<Utc>, errors: &mut Errors) {
        if let Some(subject) = &self.subject {
            activity.subject.clone_from(subject);
        }
        set(&mut activity.body, &self.body);
        set(&mut activity.direction, &self.direction);
        set(&mut activity.due_at, &self.due_at);
        set(&mut activity.occurred_at, &self.occurred_at);
        set(&mut activity.duration_minutes, &self.duration_minutes);
        set(&mut activity.completed_at, &self.completed_at);
        match self.completed {
            Some(false) => activity.completed_at = None,
            Some(true) if activity.completed_at.is_none() => activity.completed_at = Some(now),
            _ => {}
        }
        set(&mut activity.outcome, &self.outcome);
        set(&mut activity.assigned_user_id, &self.assigned_user_id);
        if activity.direction.is_some() && !activity.kind.has_direction() {
            errors.add("direction", "is only for calls and emails");
        }
        if activity
            .completed_at
            .is_some_and(|t| t > now + chrono::Duration::minutes(COMPLETED_AT_SLACK_MINUTES))
        {
            errors.add("completedAt", "cannot be in the future");
        }
    }
}

/// A merge-patch field present in a body: `null` is `Some(None)` (clear),
/// a value `Some(Some(v))`; an absent field stays `None` (`default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn set<T: Clone>(field: &mut Option<T>, value: &Option<Option<T>>) {
    if let Some(v) = value {
        field.clone_from(v);
    }
}

fn text_schema(nullable: bool, min: Option<usize>, max: usize) -> utoipa::openapi::Object {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(ty)
        .min_length(min)
        .max_length(Some(max))
        .pattern(Some(TEXT_PATTERN))
        .build()
}

fn subject_schema() -> utoipa::openapi::Object {
    text_schema(false, Some(1), MAX_SUBJECT)
}

fn body_schema() -> utoipa::openapi::Object {
    text_schema(true, None, MAX_BODY)
}

fn outcome_schema() -> utoipa::openapi::Object {
    text_schema(true, None, MAX_OUTCOME)
}

fn timestamp_schema(description: &str) -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(description))
        .pattern(Some(TIMESTAMP_PATTERN))
        .build()
}

fn planned_at_schema() -> utoipa::openapi::Object {
    timestamp_schema("Years 1900 to 2200.")
}

fn completed_at_schema() -> utoipa::openapi::Object {
    timestamp_schema("Not in the future; years 1900 to 2200.")
}

fn duration_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(0))
        .maximum(Some(MAX_DURATION_MINUTES))
        .build()
}

/// The `type` of an activity, as the input and the list filter describe it.
pub(crate) fn kind_schema() -> utoipa::openapi::Object {
    crate::api::fields::schema::one_of(ActivityKind::NAMES, false, "What kind of activity.")
}

fn direction_schema() -> utoipa::openapi::Object {
    crate::api::fields::schema::one_of(
        Direction::NAMES,
        true,
        "inbound or outbound; calls and emails only.",
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(body: Value) -> ActivityPatch {
        let parsed = ActivityPatch::parse(body.as_object().unwrap()).unwrap();
        assert!(parsed.invalid.0.is_empty());
        parsed.input
    }

    #[test]
    fn a_patch_deserializes_null_as_clear_and_absent_as_unchanged() {
        let patch: ActivityPatch = serde_json::from_value(json!({"body": null})).unwrap();
        assert_eq!(patch.body, Some(None));
        assert_eq!(patch.outcome, None);
        assert!(serde_json::from_value::<ActivityPatch>(json!({"leadId": null})).is_err());
    }

    #[test]
    fn completed_true_stamps_the_time_once_and_false_reopens() {
        let now = Utc::now();
        let mut a = ActivityRow::new(
            Uuid::nil(),
            Uuid::nil(),
            ActivityKind::Call,
            Uuid::nil(),
            now,
        );
        let mut errors = Errors::default();
        patch(json!({"completed": true})).apply(&mut a, now, &mut errors);
        assert_eq!(a.completed_at, Some(now));
        let later = now + chrono::Duration::hours(1);
        patch(json!({"completed": true})).apply(&mut a, later, &mut errors);
        assert_eq!(a.completed_at, Some(now));
        patch(json!({"completed": false})).apply(&mut a, now, &mut errors);
        assert_eq!(a.completed_at, None);
        assert!(errors.0.is_empty());
    }

    #[test]
    fn a_direction_is_for_calls_and_emails_only() {
        let now = Utc::now();
        let mut a = ActivityRow::new(
            Uuid::nil(),
            Uuid::nil(),
            ActivityKind::Note,
            Uuid::nil(),
            now,
        );
        let mut errors = Errors::default();
        patch(json!({"direction": "inbound"})).apply(&mut a, now, &mut errors);
        assert_eq!(errors.0[0].field, "direction");
    }

    #[test]
    fn completed_and_completed_at_together_are_refused_and_absent_fields_stay() {
        let body = json!({"completed": true, "completedAt": null});
        let parsed = ActivityPatch::parse(body.as_object().unwrap()).unwrap();
        assert_eq!(parsed.invalid.0[0].field, "completed");
        assert_eq!(parsed.input.completed, None);
        assert_eq!(parsed.input.completed_at, Some(None));
        assert_eq!(parsed.input.subject, None);
        assert_eq!(parsed.input.body, None);
    }

    #[test]
    fn a_patch_with_a_read_only_field_is_refused_before_anything_else() {
        let body = json!({"leadId": Uuid::nil(), "subject": ""});
        let refused = ActivityPatch::parse(body.as_object().unwrap()).unwrap_err();
        assert_eq!(refused.code(), "validation_failed");
    }

    #[test]
    fn a_new_activity_names_its_missing_lead_type_and_subject() {
        let parsed = ActivityInput::parse(json!({}).as_object().unwrap());
        let fields: Vec<_> = parsed.invalid.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["leadId", "type", "subject"]);
        assert!(parsed.refused("leadId"));
        assert_eq!(parsed.input.kind, ActivityKind::Note);
    }
}
