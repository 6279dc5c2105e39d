//! Field checks for JSON bodies, collecting every problem of a request
//! into one 422 with a `details` entry per field.
//!
//! Bodies are read as JSON objects and applied field by field, which is
//! what JSON Merge Patch (RFC 7396) asks for: an absent field is left
//! alone, `null` clears it, anything else replaces it. Creation and upsert
//! use the same steps on a fresh record.

use chrono::{DateTime, NaiveDate, Utc};
use ops_kit::{ApiError, FieldError};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The most characters of a name, title, company or external id.
pub const MAX_NAME: usize = 200;
/// The most characters of a text filter in a query string.
pub const MAX_QUERY: usize = 200;
/// The most characters of an address.
pub const MAX_ADDRESS: usize = 500;
/// The most characters of free notes.
pub const MAX_NOTES: usize = 10_000;
/// The most characters of an email address.
pub const MAX_EMAIL: usize = 254;
/// The most characters of a phone number.
pub const MAX_PHONE: usize = 40;
/// The most tags of a record.
pub const MAX_TAGS: usize = 20;
/// The most characters of a tag.
pub const MAX_TAG: usize = 50;

/// Text [`clean`] accepts, as a JSON Schema pattern: no control characters
/// but line breaks and tabs, no bidirectional overrides.
pub const TEXT_PATTERN: &str =
    r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$";
/// [`TEXT_PATTERN`] as the older fields state it, without the overrides.
pub const CONTROL_FREE_PATTERN: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";
/// The years [`opt_date`] and [`timestamp`] accept, as the start of a
/// pattern.
pub const YEAR_PATTERN: &str = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-";
/// A date [`opt_date`] accepts.
pub const DATE_PATTERN: &str = r"^(?:19[0-9]{2}|2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$";
/// An amount [`crate::api::money::parse`] reads.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(?:\.[0-9]+)?$";
/// A phone number [`is_phone`] accepts.
pub const PHONE_PATTERN: &str = r"^[ +().-]*(?:[0-9][ +().-]*){3,}$";

/// The problems found so far.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// Records a problem with `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok` when nothing was recorded, the problems otherwise.
    pub fn check(self) -> Result<(), Errors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// `Ok` when nothing was recorded, the 422 otherwise.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// The body as an object; anything else is a 422.
pub fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])),
    }
}

/// Refuses keys that are read-only or unknown.
pub fn known_keys(
    map: &Map<String, Value>,
    writable: &[&str],
    read_only: &[&str],
    errors: &mut Errors,
) {
    for key in map.keys() {
        if read_only.contains(&key.as_str()) {
            errors.add(key, "is read-only");
        } else if !writable.contains(&key.as_str()) {
            errors.add(key, "is not a known field");
        }
    }
}

/// Whether `c` overrides or isolates the direction of the text around it
/// (U+202A to U+202E, U+2066 to U+2069). Shown in a console, such a
/// character can make `gpj.exe` read as `exe.jpg` or reorder an amount, so
/// text that people read refuses them. The marks U+200E and U+200F, which
/// right-to-left writing needs and which reorder nothing beyond
/// themselves, are accepted.
pub fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` is invisible or changes how the text around it is shown
/// without being seen itself: every format character (general category
/// Cf: U+200B to U+200F, U+202A to U+202E, U+2060 to U+2064, U+2066 to
/// U+2069, U+FEFF, the soft hyphen…), the variation selectors, the
/// combining grapheme joiner and the Hangul fillers. An email holding one
/// looks like another address, so emails refuse them.
pub fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.general_category() == GeneralCategory::Format
        || matches!(
            c,
            '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180B}'..='\u{180F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

/// The message for text holding a [bidirectional override](is_bidi_override).
pub const BIDI_OVERRIDE: &str = "must not contain bidirectional override or isolate characters (U+202A to U+202E, U+2066 to U+2069)";

/// Checks text: trimmed, free of control characters other than line
/// breaks and tabs and of bidirectional overrides, `min..=max` characters.
pub fn clean(
    field: &str,
    text: &str,
    min: usize,
    max: usize,
    errors: &mut Errors,
) -> Option<String> {
    let text = text.trim();
    let len = text.chars().count();
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.add(field, "must not contain control characters");
        None
    } else if text.chars().any(is_bidi_override) {
        errors.add(field, BIDI_OVERRIDE);
        None
    } else if len < min {
        errors.add(
            field,
            if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        );
        None
    } else if len > max {
        errors.add(field, format!("must be at most {max} characters"));
        None
    } else {
        Some(text.to_owned())
    }
}

/// A required text field's new value.
pub fn text(field: &str, value: &Value, max: usize, errors: &mut Errors) -> Option<String> {
    match value {
        Value::String(s) => clean(field, s, 1, max, errors),
        Value::Null => {
            errors.add(field, "is required and cannot be cleared");
            None
        }
        _ => {
            errors.add(field, "must be a string");
            None
        }
    }
}

/// An optional text field's new value: `Some(None)` clears it (`null` or
/// an empty string), `None` means the value was refused.
pub fn opt_text(
    field: &str,
    value: &Value,
    max: usize,
    errors: &mut Errors,
) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) if s.trim().is_empty() => Some(None),
        Value::String(s) => clean(field, s, 1, max, errors).map(Some),
        _ => {
            errors.add(field, "must be a string or null");
            None
        }
    }
}

/// One of a fixed set of values.
pub fn one_of(field: &str, value: &Value, allowed: &[&str], errors: &mut Errors) -> Option<String> {
    match value {
        Value::String(s) if allowed.contains(&s.as_str()) => Some(s.clone()),
        _ => {
            errors.add(field, format!("must be one of {}", allowed.join(", ")));
            None
        }
    }
}

/// An optional value of a fixed set (`null` clears it).
pub fn opt_one_of(
    field: &str,
    value: &Value,
    allowed: &[&str],
    errors: &mut Errors,
) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        other => one_of(field, other, allowed, errors).map(Some),
    }
}

/// An optional id (`null` clears it).
pub fn opt_uuid(field: &str, value: &Value, errors: &mut Errors) -> Option<Option<Uuid>> {
    match value {
        Value::Null => Some(None),
        other => uuid(field, other, errors).map(Some),
    }
}

/// An id.
pub fn uuid(field: &str, value: &Value, errors: &mut Errors) -> Option<Uuid> {
    match value.as_str().map(Uuid::parse_str) {
        Some(Ok(id)) => Some(id),
        _ => {
            errors.add(field, "must be a UUID");
            None
        }
    }
}

/// An optional calendar date, `YYYY-MM-DD` between the years 1900 and 2200.
pub fn opt_date(field: &str, value: &Value, errors: &mut Errors) -> Option<Option<NaiveDate>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if (1900..=2200).contains(&chrono::Datelike::year(&d)) && s.len() == 10 => {
                Some(Some(d))
            }
            _ => {
                errors.add(
                    field,
                    "must be a date such as 2027-03-15 (years 1900 to 2200)",
                );
                None
            }
        },
        _ => {
            errors.add(field, "must be a date string or null");
            None
        }
    }
}

/// An RFC 3339 timestamp between the years 1900 and 2200.
pub fn timestamp(field: &str, text: &str, errors: &mut Errors) -> Option<DateTime<Utc>> {
    use chrono::{DurationRound, TimeDelta};
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) if (1900..=2200).contains(&chrono::Datelike::year(&t)) => {
            let t = t.with_timezone(&Utc);
            Some(t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t))
        }
        _ => {
            errors.add(
                field,
                "must be an RFC 3339 timestamp such as 2027-03-15T09:30:00Z",
            );
            None
        }
    }
}

/// An optional timestamp (`null` clears it).
pub fn opt_timestamp(
    field: &str,
    value: &Value,
    errors: &mut Errors,
) -> Option<Option<DateTime<Utc>>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) => timestamp(field, s, errors).map(Some),
        _ => {
            errors.add(field, "must be a timestamp string or null");
            None
        }
    }
}

/// An optional whole number in `min..=max` (`null` clears it).
pub fn opt_int(
    field: &str,
    value: &Value,
    min: i64,
    max: i64,
    errors: &mut Errors,
) -> Option<Option<i64>> {
    match value {
        Value::Null => Some(None),
        Value::Number(n) => match n.as_i64() {
            Some(v) if (min..=max).contains(&v) => Some(Some(v)),
            _ => {
                errors.add(field, format!("must be a whole number from {min} to {max}"));
                None
            }
        },
        _ => {
            errors.add(field, "must be a number or null");
            None
        }
    }
}

/// A boolean.
pub fn boolean(field: &str, value: &Value, errors: &mut Errors) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        _ => {
            errors.add(field, "must be true or false");
            None
        }
    }
}

/// An optional email address, kept as written (trimmed); `None` when
/// refused.
pub fn opt_email(field: &str, value: &Value, errors: &mut Errors) -> Option<Option<String>> {
    let text = opt_text(field, value, MAX_EMAIL, errors)?;
    match text {
        None => Some(None),
        Some(email) if is_email(&email) => Some(Some(email)),
        Some(_) => {
            errors.add(field, "must be an email address such as ana@example.com");
            None
        }
    }
}

/// A plausible email address: one `@`, a local part, and a domain with a
/// dot, no spaces.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
}

/// Tags: at most [`MAX_TAGS`] distinct strings of 1 to [`MAX_TAG`]
/// characters (`null` clears).
pub fn tags(field: &str, value: &Value, errors: &mut Errors) -> Option<Vec<String>> {
    let items = match value {
        Value::Null => return Some(Vec::new()),
        Value::Array(items) => items,
        _ => {
            errors.add(field, "must be a list of strings");
            return None;
        }
    };
    if items.len() > MAX_TAGS {
        errors.add(field, format!("must have at most {MAX_TAGS} tags"));
        return None;
    }
    let mut tags: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = format!("{field}[{i}]");
        let Value::String(s) = item else {
            errors.add(&name, "must be a string");
            return None;
        };
        let tag = clean(&name, s, 1, MAX_TAG, errors)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Some(tags)
}

/// Whether `text` is a phone number: digits, spaces and `+ ( ) - .`, with
/// at least three digits ([`PHONE_PATTERN`]).
pub fn is_phone(text: &str) -> bool {
    text.chars().filter(char::is_ascii_digit).count() >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-.".contains(c))
}

/// Checks a query-string text filter (at most [`MAX_QUERY`] characters, no
/// control characters).
pub fn query_text(field: &str, text: &str) -> Result<String, ApiError> {
    let mut errors = Errors::default();
    let text = clean(field, text, 1, MAX_QUERY, &mut errors);
    errors.finish()?;
    Ok(text.unwrap_or_default())
}

/// The JSON Schemas of these checks, for the OpenAPI document, built from
/// the same constants so that the document cannot state other limits than
/// the ones enforced. Used with utoipa's `schema_with`, whose attributes
/// take only literals.
pub mod schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};

    use super::{MAX_TAG, MAX_TAGS, TEXT_PATTERN};

    fn string_type(nullable: bool) -> SchemaType {
        if nullable {
            SchemaType::from_iter([Type::String, Type::Null])
        } else {
            SchemaType::new(Type::String)
        }
    }

    /// A string (or null when `nullable`).
    pub fn string(nullable: bool) -> ObjectBuilder {
        ObjectBuilder::new().schema_type(string_type(nullable))
    }

    /// Text [`super::clean`] accepts, of at most `max` characters.
    pub fn text(nullable: bool, max: usize) -> ObjectBuilder {
        string(nullable)
            .max_length(Some(max))
            .pattern(Some(TEXT_PATTERN))
    }

    /// One of `values`, or null when `nullable`.
    pub fn one_of(values: &[&str], nullable: bool, description: &str) -> utoipa::openapi::Object {
        let null = nullable.then_some(serde_json::Value::Null);
        string(nullable)
            .description(Some(description))
            .enum_values(Some(
                values
                    .iter()
                    .map(|v| serde_json::Value::from(*v))
                    .chain(null),
            ))
            .build()
    }

    /// Tags as [`super::tags`] accepts them; null clears them.
    pub fn tags() -> utoipa::openapi::Array {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .description(Some(format!(
                "At most {MAX_TAGS} labels of 1 to {MAX_TAG} characters; null clears them."
            )))
            .max_items(Some(MAX_TAGS))
            .items(text(false, MAX_TAG).min_length(Some(1)))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_clears_an_optional_field_and_refuses_a_required_one() {
        let mut errors = Errors::default();
        assert_eq!(
            opt_text("company", &Value::Null, 10, &mut errors),
            Some(None)
        );
        assert_eq!(text("name", &Value::Null, 10, &mut errors), None);
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "name");
    }

    #[test]
    fn nul_bytes_and_overlong_text_are_refused() {
        let mut errors = Errors::default();
        assert_eq!(text("name", &json!("a\u{0}b"), 10, &mut errors), None);
        assert_eq!(text("name", &json!("x".repeat(11)), 10, &mut errors), None);
        assert_eq!(
            text("name", &json!("  ok  "), 10, &mut errors),
            Some("ok".into())
        );
        assert_eq!(errors.0.len(), 2);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for good in ["ana@example.com", "A.B+c@shop.co.uk"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "ana",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a na@example.com",
            "ana@.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn emails_with_invisible_characters_are_refused() {
        for bad in [
            "ana\u{200B}@example.com",
            "ana@exam\u{00AD}ple.com",
            "\u{FEFF}ana@example.com",
            "ana\u{2060}@example.com",
            "moc.elpmaxe@\u{202E}ana",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn text_shown_to_people_refuses_bidirectional_overrides_but_not_marks() {
        for bad in [
            "Invoice \u{202E}fdp.exe",
            "\u{2066}Acme\u{2069}",
            "a\u{202A}b",
        ] {
            let mut errors = Errors::default();
            assert_eq!(text("name", &json!(bad), 100, &mut errors), None, "{bad:?}");
            assert_eq!(errors.0[0].message, BIDI_OVERRIDE);
        }
        let mut errors = Errors::default();
        let hebrew = "\u{05E9}\u{05DC}\u{05D5}\u{05DD}\u{200F} Ltd";
        assert_eq!(
            text("name", &json!(hebrew), 100, &mut errors),
            Some(hebrew.to_owned())
        );
        assert!(errors.0.is_empty());
    }

    #[test]
    fn dates_must_be_real_and_in_range() {
        let mut errors = Errors::default();
        assert!(opt_date("d", &json!("2027-02-28"), &mut errors).is_some());
        assert!(opt_date("d", &json!("2027-02-30"), &mut errors).is_none());
        assert!(opt_date("d", &json!("12027-02-01"), &mut errors).is_none());
        assert_eq!(errors.0.len(), 2);
    }

    #[test]
    fn unknown_and_read_only_keys_are_named() {
        let map = object(json!({"name": "x", "status": "won", "colour": 1})).unwrap();
        let mut errors = Errors::default();
        known_keys(&map, &["name"], &["status"], &mut errors);
        let fields: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert!(fields.contains(&("status", "is read-only")));
        assert!(fields.contains(&("colour", "is not a known field")));
    }
}
