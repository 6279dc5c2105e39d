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
    "passcode",
    "pwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "authorization",
    "credential",
    "cookie",
    "session",
    "cardnumber",
    "iban",
    "cvv",
    "cvc",
    "ssn",
    "pincode",
];

/// Whole field names that are secrets (same normalisation): too short to
/// look for inside other names.
const SECRET_NAMES: &[&str] = &["pin", "otp"];

/// Lowercase letters and digits only: `api_key`, `API-Key` and `api key`
/// all become `apikey`.
fn normalise(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
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
/// `"[REDACTED]"` (objects and arrays under such a key included), replaces
/// NUL characters in strings with U+FFFD (PostgreSQL's `jsonb` cannot hold
/// them), and writes whole-number floats as integers (as `jsonb` would give
/// them back).
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
        Value::Number(n) => {
            if let Some(whole) = whole_number(n) {
                *value = whole;
            }
        }
        _ => {}
    }
}

/// A float that is a whole number within the integer range, as an
/// integer (and `-0.0` as `0`). PostgreSQL's `jsonb` keeps numbers as
/// exact decimals and prints `1e16` back as `10000000000000000`; storing
/// the integer form from the start keeps the stored value and its hash in
/// agreement.
fn whole_number(n: &serde_json::Number) -> Option<Value> {
    if !n.is_f64() {
        return None;
    }
    let f = n.as_f64()?;
    if f.fract() != 0.0 {
        return None;
    }
    if f == 0.0 {
        Some(Value::from(0))
    } else if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
        Some(Value::from(f as u64))
    } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
        Some(Value::from(f as i64))
    } else {
        None
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
    fn redacts_common_variants_of_secret_names() {
        for key in [
            "creditCardNumber",
            "cardCvv",
            "customerSsn",
            "payoutIban",
            "userPwd",
            "api key",
            "pinCode",
            "PIN",
        ] {
            assert!(is_secret_field(key, &[]), "{key}");
        }
        for key in ["email", "pinned", "opinion", "notes"] {
            assert!(!is_secret_field(key, &[]), "{key}");
        }
    }

    #[test]
    fn writes_whole_number_floats_as_integers() {
        let mut body = json!({"a": 1e16, "b": -0.0, "c": 0.5, "d": -3.0, "e": 1e300});
        redact(&mut body, &[]);
        assert_eq!(
            body.to_string(),
            r#"{"a":10000000000000000,"b":0,"c":0.5,"d":-3,"e":1e+300}"#
        );
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
