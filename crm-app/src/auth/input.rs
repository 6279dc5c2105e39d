//! Parsing of the auth routes' input: what is accepted, and the exact
//! rejection per field.

use ops_kit::FieldError;
use unicode_normalization::UnicodeNormalization;
use utoipa::openapi::ObjectBuilder;
use utoipa::openapi::schema::{KnownFormat, SchemaFormat, Type};

use crate::api::fields::{BIDI_OVERRIDE, is_bidi_override, is_invisible};

/// The shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest accepted password (argon2 would take anything; a bound
/// keeps hashing time predictable).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest display name (a user's, a tenant's).
pub const MAX_NAME_CHARS: usize = 200;
/// What [`name`] accepts: no control characters, no bidirectional
/// overrides.
pub const NAME_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$";
/// The roles a client may give, as a pattern.
pub const ROLE_PATTERN: &str = "^(?:admin|member)$";

/// An email address in its one stored form: NFKC-normalized and
/// lowercased (then normalized again, as lowercasing can undo it), so that
/// `Ａｄａ@example.com`, `ADA@example.com` and `ada@example.com` are one
/// account. Invisible and format characters (U+200B, U+202E, U+FEFF…) are
/// refused rather than removed: an address holding one was made to look
/// like another.
pub fn normalize_email(value: &str) -> String {
    let folded: String = value.trim().nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

/// A normalized ([`normalize_email`]), plausibly deliverable email address.
pub fn email(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let email = normalize_email(value);
    if email.chars().any(is_invisible) {
        errors.push(FieldError::new(
            field,
            "must not contain invisible or formatting characters",
        ));
        return email;
    }
    let valid = email.len() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !domain.contains("..")
            }
            None => false,
        };
    if !valid {
        errors.push(FieldError::new(field, "must be a valid email address"));
    }
    email
}

/// A password of 8 to 256 characters.
pub fn password(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let chars = value.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    } else if chars > MAX_PASSWORD_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
}

/// A display name of 1 to [`MAX_NAME_CHARS`] characters, trimmed, without control
/// characters or bidirectional overrides (a console shows it).
pub fn name(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let name = value.trim().to_owned();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must be 1 to 200 characters, without control characters",
        ));
    } else if name.chars().any(is_bidi_override) {
        errors.push(FieldError::new(field, BIDI_OVERRIDE));
    }
    name
}

/// The document's description of an email field that [`email`] checks.
pub(crate) fn email_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(MAX_EMAIL_CHARS))
        .build()
}

/// The document's description of a name field that [`name`] checks.
pub(crate) fn name_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(NAME_PATTERN))
        .build()
}

/// The document's description of a new password that [`password`]
/// checks.
pub(crate) fn password_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "{MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters."
        )))
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .build()
}

/// The document's description of a role a client gives.
pub(crate) fn role_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("`admin` or `member`."))
        .pattern(Some(ROLE_PATTERN))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email_errors(value: &str) -> usize {
        let mut errors = Vec::new();
        email("email", value, &mut errors);
        errors.len()
    }

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_them() {
        let mut errors = Vec::new();
        assert_eq!(
            email("email", "  Ada@Example.COM ", &mut errors),
            "ada@example.com"
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn rejects_what_cannot_be_an_address() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example..com",
        ] {
            assert_eq!(email_errors(bad), 1, "{bad:?}");
        }
    }

    #[test]
    fn lookalike_forms_of_one_address_normalize_to_it() {
        for form in [
            "ADA@EXAMPLE.COM",
            "\u{FF21}da@example.com", // fullwidth A
            "ada@\u{FF45}xample.com", // fullwidth e
            "Ada@Example.com",
        ] {
            let mut errors = Vec::new();
            assert_eq!(
                email("email", form, &mut errors),
                "ada@example.com",
                "{form:?}"
            );
            assert!(errors.is_empty());
        }
        // A ligature folds to its letters.
        assert_eq!(normalize_email("\u{FB01}n@example.com"), "fin@example.com");
    }

    #[test]
    fn invisible_and_bidirectional_characters_in_an_email_are_refused() {
        for bad in [
            "ada\u{200B}@example.com",
            "ada\u{200D}@example.com",
            "\u{202E}moc.elpmaxe@ada",
            "ada@example.com\u{2066}",
            "ada\u{2060}@example.com",
            "\u{FEFF}ada@example.com",
            "ad\u{00AD}a@example.com",
        ] {
            let mut errors = Vec::new();
            email("email", bad, &mut errors);
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert_eq!(
                errors[0].message,
                "must not contain invisible or formatting characters"
            );
        }
    }

    #[test]
    fn names_refuse_bidirectional_overrides_and_keep_right_to_left_text() {
        let mut errors = Vec::new();
        name("name", "Ada \u{202E}nimda", &mut errors);
        name("name", "\u{2067}Ada", &mut errors);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].message, BIDI_OVERRIDE);
        let mut errors = Vec::new();
        let persian = "\u{0645}\u{06CC}\u{200C}\u{0634}\u{0648}\u{062F}";
        assert_eq!(name("name", persian, &mut errors), persian);
        assert!(errors.is_empty());
    }

    #[test]
    fn passwords_need_8_to_256_characters() {
        let mut errors = Vec::new();
        password("password", "short", &mut errors);
        password("password", "long enough", &mut errors);
        password("password", &"x".repeat(257), &mut errors);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].message, "must be at least 8 characters");
    }
}
