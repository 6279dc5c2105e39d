use serde_json::{Map, Value};

/// What replaces a redacted value.
///
/// # Example
///
/// ```
/// use ops_kit::audit::{REDACTED, redact};
/// use serde_json::json;
///
/// let mut body = json!({"email": "a@b.c", "password": "hunter2"});
/// redact(&mut body, &[]);
/// assert_eq!(body["password"], REDACTED);
/// assert_eq!(REDACTED, "[REDACTED]");
/// ```
pub const REDACTED: &str = "[REDACTED]";

/// Key fragments that mark a secret wherever they appear in a field name,
/// compared case-insensitively with `_` and `-` removed (`apiKey`,
/// `api_key`, `X-Api-Key` all match `apikey`).
const SECRET_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "authorization",
    "credential",
    "cookie",
    "session",
];

/// Whole field names that are secrets (same normalisation).
const SECRET_NAMES: &[&str] = &["pin", "cvv", "cvc", "ssn", "otp", "cardnumber", "iban"];

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a field called `key` is a secret, by default or because it is
/// listed in `extra`.
///
/// # Example
///
/// ```
/// use ops_kit::audit::is_secret_field;
/// assert!(is_secret_field("newPassword", &[]));
/// assert!(is_secret_field("API_KEY", &[]));
/// assert!(is_secret_field("taxId", &["tax_id"]));
/// assert!(!is_secret_field("email", &[]));
/// ```
pub fn is_secret_field(key: &str, extra: &[&str]) -> bool {
    let key = normalise(key);
    SECRET_FRAGMENTS.iter().any(|f| key.contains(f))
        || SECRET_NAMES.contains(&key.as_str())
        || extra.iter().any(|e| normalise(e) == key)
}

/// Replaces the value of every secret field, at any depth, with
/// `"[REDACTED]"` (objects and arrays under such a key included), and
/// removes NUL characters from strings (PostgreSQL's `jsonb` cannot hold
/// them).
///
/// # Example
///
/// ```
/// use serde_json::json;
/// let mut body = json!({"email": "a@b.c", "auth": {"password": "hunter2"}, "items": [{"apiKey": "k"}]});
/// ops_kit::audit::redact(&mut body, &[]);
/// assert_eq!(body, json!({"email": "a@b.c", "auth": {"password": "[REDACTED]"}, "items": [{"apiKey": "[REDACTED]"}]}));
/// ```
pub fn redact(value: &mut Value, extra: &[&str]) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if is_secret_field(key, extra) {
                    *child = Value::from(REDACTED);
                } else {
                    redact(child, extra);
                }
            }
            // Keys may carry NULs too.
            if map.keys().any(|k| k.contains('\0')) {
                let cleaned: Map<String, Value> = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', "\u{fffd}"), v))
                    .collect();
                *map = cleaned;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, extra)),
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{fffd}"),
        _ => {}
    }
}

/// The stored form of `changes` whose JSON text exceeds `max_bytes`: a
/// marker object with the original size and the beginning of the (already
/// redacted) text.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// let big = json!({"notes": "x".repeat(1000)});
/// let stored = ops_kit::audit::cap_size(big, 100);
/// assert_eq!(stored["_truncated"], true);
/// assert!(stored["_preview"].as_str().unwrap().len() <= 100);
/// ```
pub fn cap_size(value: Value, max_bytes: usize) -> Value {
    let text = value.to_string();
    if text.len() <= max_bytes {
        return value;
    }
    let mut end = max_bytes.min(1024).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({
        "_truncated": true,
        "_originalBytes": text.len(),
        "_preview": &text[..end],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_default_secrets_at_any_depth_including_whole_objects() {
        let mut body = json!({
            "name": "Kitchen",
            "credentials": {"user": "u", "pass": "p"},
            "nested": [[{"refresh_token": "t"}]],
            "X-Api-Key": 5,
        });
        redact(&mut body, &[]);
        assert_eq!(body["credentials"], REDACTED);
        assert_eq!(body["nested"][0][0]["refresh_token"], REDACTED);
        assert_eq!(body["X-Api-Key"], REDACTED);
        assert_eq!(body["name"], "Kitchen");
    }

    #[test]
    fn redacts_the_extra_names_given_by_the_attribute() {
        let mut body = json!({"bankAccount": "DE00", "note": "ok"});
        redact(&mut body, &["bank_account"]);
        assert_eq!(body, json!({"bankAccount": REDACTED, "note": "ok"}));
    }

    #[test]
    fn removes_nul_characters() {
        let mut body = json!({"a\u{0}b": "x\u{0}y"});
        redact(&mut body, &[]);
        assert_eq!(body, json!({"a\u{fffd}b": "x\u{fffd}y"}));
    }

    #[test]
    fn keeps_small_bodies_whole_and_marks_big_ones() {
        let small = json!({"a": 1});
        assert_eq!(cap_size(small.clone(), 64), small);
        let big = json!({"a": "é".repeat(100)});
        let stored = cap_size(big, 51);
        assert_eq!(stored["_truncated"], true);
        assert_eq!(stored["_originalBytes"], 208);
        assert!(stored["_preview"].as_str().unwrap().len() <= 51);
    }
}
