//! Parsing of the auth routes' input: what is accepted, and the exact
//! rejection per field.

use ops_kit::FieldError;

/// The shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest accepted password (argon2 would take anything; a bound
/// keeps hashing time predictable).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A lowercased, plausibly deliverable email address.
pub fn email(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let email = value.trim().to_lowercase();
    let valid = email.len() <= 254
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

/// A display name of 1 to 200 characters, trimmed.
pub fn name(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let name = value.trim().to_owned();
    let chars = name.chars().count();
    if chars == 0 || chars > 200 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must be 1 to 200 characters, without control characters",
        ));
    }
    name
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
    fn passwords_need_8_to_256_characters() {
        let mut errors = Vec::new();
        password("password", "short", &mut errors);
        password("password", "long enough", &mut errors);
        password("password", &"x".repeat(257), &mut errors);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].message, "must be at least 8 characters");
    }
}
