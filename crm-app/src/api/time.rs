//! Timestamps in responses, written directly.
//!
//! The text is exactly what chrono's `Serialize` writes for a
//! `DateTime<Utc>` (RFC 3339, `Z`, as many fraction digits as the value
//! needs: none, 3, 6 or 9), made by ops-kit's text writer without going
//! through `Display` and serde_json's escaping of each character.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//!
//! #[derive(serde::Serialize)]
//! struct Seen {
//!     #[serde(serialize_with = "crm_app::api::time::rfc3339")]
//!     at: chrono::DateTime<Utc>,
//! }
//!
//! let at = Utc.with_ymd_and_hms(2026, 11, 26, 9, 5, 0).unwrap();
//! assert_eq!(serde_json::to_string(&Seen { at }).unwrap(), r#"{"at":"2026-11-26T09:05:00Z"}"#);
//! ```

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

/// Serializes a timestamp as chrono does, faster (through
/// [`ops_kit::text::push_rfc3339_as_chrono`]).
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = String::with_capacity(30);
    if ops_kit::text::push_rfc3339_as_chrono(&mut text, at) {
        serializer.serialize_str(&text)
    } else {
        // Years outside 0000–9999 get a sign and more digits: chrono's way.
        at.serialize(serializer)
    }
}

/// [`rfc3339`] for an optional timestamp (`null` when absent).
pub fn rfc3339_opt<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    #[derive(Serialize)]
    struct Ours(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);

    #[derive(Serialize)]
    struct OursOpt(#[serde(serialize_with = "rfc3339_opt")] Option<DateTime<Utc>>);

    fn at(y: i32, nanos: u32, leap: bool) -> DateTime<Utc> {
        let second = if leap { 59 } else { 7 };
        let nanos = if leap { 1_000_000_000 + nanos } else { nanos };
        let naive = NaiveDate::from_ymd_opt(y, 2, 3)
            .unwrap()
            .and_hms_nano_opt(23, 59, second, nanos)
            .unwrap();
        Utc.from_utc_datetime(&naive)
    }

    #[test]
    fn writes_exactly_what_chrono_writes() {
        let nanos = [
            0,
            1,
            120,
            5_000,
            123_456,
            7_000_000,
            999_999_999,
            100_000_000,
        ];
        for year in [0, 1, 999, 1970, 2026, 9999, 10_000, -1, 262_000] {
            for n in nanos {
                for leap in [false, true] {
                    let t = at(year, n, leap);
                    assert_eq!(
                        serde_json::to_string(&Ours(t)).unwrap(),
                        serde_json::to_string(&t).unwrap(),
                        "{t:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn writes_null_for_an_absent_timestamp() {
        assert_eq!(serde_json::to_string(&OursOpt(None)).unwrap(), "null");
        let t = at(2026, 0, false);
        assert_eq!(
            serde_json::to_string(&OursOpt(Some(t))).unwrap(),
            serde_json::to_string(&t).unwrap()
        );
    }
}
