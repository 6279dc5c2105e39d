//! Text written by hand on hot paths: JSON strings, RFC 3339 timestamps and
//! zero-padded numbers, appended to a `String`.
//!
//! The log lines (the `[METRICS]` line on every request) and a service's
//! hand-written JSON responses use these instead of `format!` or
//! serde_json, and produce exactly what those would: a string is escaped as
//! serde_json escapes it, a timestamp is written as chrono serializes it.
//! This module depends on nothing else in ops-kit.
//!
//! # Example
//!
//! ```
//! use ops_kit::text;
//!
//! let mut line = String::from("{\"note\":");
//! text::push_json_string(&mut line, "Tab\there \"quoted\"");
//! line.push('}');
//! assert_eq!(line, r#"{"note":"Tab\there \"quoted\""}"#);
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// Appends `text` as a JSON string literal: quoted, with `"`, `\` and the
/// control characters escaped exactly as serde_json escapes them.
///
/// # Example
///
/// ```
/// let mut out = String::new();
/// ops_kit::text::push_json_string(&mut out, "a\"b\\c\nd\u{1}\u{8}é");
/// assert_eq!(out, serde_json::to_string("a\"b\\c\nd\u{1}\u{8}é").unwrap());
/// ```
#[inline]
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    push_escaped(out, text, &ESCAPE);
    out.push('"');
}

/// [`push_json_string`], with U+2028 and U+2029 escaped too (`\u2028`,
/// `\u2029`): for log lines, so that no reader that takes them for line
/// ends can split an entry.
///
/// # Example
///
/// ```
/// let mut out = String::new();
/// ops_kit::text::push_json_log_string(&mut out, "one\u{2028}two\t");
/// assert_eq!(out, r#""one\u2028two\t""#);
/// ```
pub fn push_json_log_string(out: &mut String, text: &str) {
    out.push('"');
    push_escaped(out, text, &LOG_ESCAPE);
    out.push('"');
}

/// The escaping loop: bytes whose table entry is 0 are copied in runs.
/// Every byte with an entry is ASCII, or the lead byte of U+2028/U+2029, so
/// the runs split `text` on character boundaries.
#[inline]
fn push_escaped(out: &mut String, text: &str, table: &[u8; 256]) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Whole chunks of 16 are checked without branching on each byte:
        // most text has nothing to escape and is copied in one go.
        let end = (i + 16).min(bytes.len());
        let chunk = &bytes[i..end];
        if !chunk
            .iter()
            .fold(false, |any, &b| any | (table[b as usize] != 0))
        {
            i = end;
            continue;
        }
        let mut at = i;
        while at < end {
            let b = bytes[at];
            let escape = table[b as usize];
            if escape == 0 {
                at += 1;
                continue;
            }
            if escape == LINE_SEPARATOR {
                // U+2028 is E2 80 A8 and U+2029 is E2 80 A9.
                let last = match bytes.get(at + 1..at + 3) {
                    Some([0x80, last @ (0xA8 | 0xA9)]) => *last,
                    _ => {
                        at += 1;
                        continue;
                    }
                };
                out.push_str(&text[start..at]);
                out.push_str(if last == 0xA8 { "\\u2028" } else { "\\u2029" });
                at += 3;
                start = at;
                continue;
            }
            out.push_str(&text[start..at]);
            match escape {
                b'u' => {
                    out.push_str("\\u00");
                    out.push(char::from(HEX[(b >> 4) as usize]));
                    out.push(char::from(HEX[(b & 0xF) as usize]));
                }
                short => {
                    out.push('\\');
                    out.push(char::from(short));
                }
            }
            at += 1;
            start = at;
        }
        // A separator may have run past the chunk.
        i = at;
    }
    out.push_str(&text[start..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The table entry of a byte that may begin U+2028 or U+2029.
const LINE_SEPARATOR: u8 = 1;

/// For each byte, 0 when it is written as is, the letter of its short
/// escape (`\n`), or `u` for `\u00XX`: serde_json's table.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// [`ESCAPE`], and the lead byte of U+2028 and U+2029.
const LOG_ESCAPE: [u8; 256] = {
    let mut table = ESCAPE;
    table[0xE2] = LINE_SEPARATOR;
    table
};

/// Appends `at` as RFC 3339 in UTC with `decimals` (1 to 9) fractional
/// digits, truncated: `2026-11-26T03:04:05.123Z`.
///
/// The date and time of day are formatted once per second per thread, the
/// fraction with integer arithmetic: log lines and probes write the current
/// time many times a second.
///
/// # Example
///
/// ```
/// let at = chrono::DateTime::from_timestamp(1_795_662_245, 123_456_789).unwrap();
/// let mut out = String::new();
/// ops_kit::text::push_rfc3339(&mut out, at, 3);
/// assert_eq!(out, "2026-11-26T03:04:05.123Z");
/// ```
pub fn push_rfc3339(out: &mut String, at: DateTime<Utc>, decimals: u32) {
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let secs = at.timestamp();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            cached.1.clear();
            let _ = write!(cached.1, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
            cached.0 = secs;
        }
        out.push_str(&cached.1);
    });
    let decimals = decimals.clamp(1, 9);
    // Leap seconds carry nanos past 10^9; keep them in range.
    let fraction = at.timestamp_subsec_nanos().min(999_999_999) / 10_u32.pow(9 - decimals);
    out.push('.');
    push_zero_padded(out, u64::from(fraction), decimals as usize);
    out.push('Z');
}

/// Appends `at` exactly as chrono serializes a `DateTime<Utc>` (without
/// the quotes): RFC 3339 with 0, 3, 6 or 9 fractional digits, whichever is
/// the fewest that keep every non-zero digit, and `Z`. Returns `false`,
/// having appended nothing, for a year outside 0000 to 9999 (chrono writes
/// those with a sign and more digits).
///
/// # Example
///
/// ```
/// let at = chrono::DateTime::from_timestamp(1_795_662_245, 120_000_000).unwrap();
/// let mut out = String::new();
/// assert!(ops_kit::text::push_rfc3339_as_chrono(&mut out, &at));
/// assert_eq!(out, "2026-11-26T03:04:05.120Z");
/// assert_eq!(format!("\"{out}\""), serde_json::to_string(&at).unwrap());
/// ```
#[must_use = "nothing is written for a year chrono writes with a sign"]
pub fn push_rfc3339_as_chrono(out: &mut String, at: &DateTime<Utc>) -> bool {
    // The UTC parts directly: each accessor of a `DateTime` would first
    // add its (zero) offset to a copy. The text is made in a buffer on
    // the stack and appended once.
    let (date, time) = (at.naive_utc().date(), at.naive_utc().time());
    let mut buf = [0u8; 30];
    let Some(head) = buf.first_chunk_mut::<10>() else {
        return false;
    };
    if !write_date(head, &date) {
        return false;
    }
    let (mut second, mut nanos) = (time.second(), time.nanosecond());
    if nanos >= 1_000_000_000 {
        // A leap second: chrono keeps it in the nanoseconds and prints :60.
        second += 1;
        nanos -= 1_000_000_000;
    }
    buf[10] = b'T';
    fill_digits(&mut buf[11..13], time.hour());
    buf[13] = b':';
    fill_digits(&mut buf[14..16], time.minute());
    buf[16] = b':';
    fill_digits(&mut buf[17..19], second);
    let (fraction, width) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 {
        (nanos / 1_000_000, 3)
    } else if nanos % 1_000 == 0 {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let mut len = 19;
    if width > 0 {
        buf[19] = b'.';
        fill_digits(&mut buf[20..20 + width], fraction);
        len = 20 + width;
    }
    buf[len] = b'Z';
    out.push_str(ascii(&buf[..=len]));
    true
}

/// Appends `date` as chrono serializes a `NaiveDate` (without the quotes):
/// `2027-03-15`. Returns `false`, having appended nothing, for a year
/// outside 0000 to 9999.
///
/// # Example
///
/// ```
/// let date = chrono::NaiveDate::from_ymd_opt(2027, 3, 5).unwrap();
/// let mut out = String::new();
/// assert!(ops_kit::text::push_date(&mut out, &date));
/// assert_eq!(out, "2027-03-05");
/// ```
#[must_use = "nothing is written for a year chrono writes with a sign"]
pub fn push_date(out: &mut String, date: &NaiveDate) -> bool {
    let mut buf = [0u8; 10];
    if !write_date(&mut buf, date) {
        return false;
    }
    out.push_str(ascii(&buf));
    true
}

/// `date` as `YYYY-MM-DD` into `buf`; `false` for a year outside 0000 to
/// 9999.
fn write_date(buf: &mut [u8; 10], date: &NaiveDate) -> bool {
    let Some(year) = u32::try_from(date.year()).ok().filter(|y| *y <= 9999) else {
        return false;
    };
    fill_digits(&mut buf[0..4], year);
    buf[4] = b'-';
    fill_digits(&mut buf[5..7], date.month());
    buf[7] = b'-';
    fill_digits(&mut buf[8..10], date.day());
    true
}

/// `value` as decimal digits filling `out`, zero-padded.
fn fill_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Digits and punctuation written above, as text.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Appends `value` in decimal, with leading zeros up to `width` digits.
///
/// # Example
///
/// ```
/// let mut out = String::new();
/// ops_kit::text::push_zero_padded(&mut out, 7, 3);
/// ops_kit::text::push_zero_padded(&mut out, 12345, 3);
/// assert_eq!(out, "00712345");
/// ```
pub fn push_zero_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Whether `value` is a bare token: non-empty printable ASCII without
/// spaces, quotes, `=` or backslashes, so that it can be written unquoted
/// in a `key=value` line without splitting it or faking another field.
///
/// # Example
///
/// ```
/// use ops_kit::text::is_bare_token;
///
/// assert!(is_bare_token("/api/leads/{id}"));
/// assert!(!is_bare_token("two words"));
/// assert!(!is_bare_token("x=1"));
/// assert!(!is_bare_token(""));
/// ```
pub fn is_bare_token(value: &str) -> bool {
    !value.is_empty()
        && !value
            .bytes()
            .any(|b| !(0x21..=0x7e).contains(&b) || matches!(b, b'"' | b'=' | b'\\'))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn json(text: &str) -> String {
        let mut out = String::new();
        push_json_string(&mut out, text);
        out
    }

    fn log(text: &str) -> String {
        let mut out = String::new();
        push_json_log_string(&mut out, text);
        out
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut every_byte: String = (0u8..0x80).map(char::from).collect();
        every_byte.push_str("é\u{2028}\u{2029}\u{e2}\u{1F600}");
        for text in [
            "",
            "plain",
            "a long run of text with nothing to escape in it at all",
            "\"quoted\" and \\ backslashed",
            "sixteen bytes!!\n",
            "\u{7f}\u{80}\u{9f}",
            &every_byte,
        ] {
            assert_eq!(json(text), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn log_strings_also_escape_the_unicode_line_separators() {
        assert_eq!(log("a\u{2028}b\u{2029}c"), r#""a\u2028b\u2029c""#);
        // Other characters starting with E2 pass through.
        assert_eq!(log("→ ‰ \u{2027}"), "\"→ ‰ \u{2027}\"");
        // A separator that straddles a chunk boundary.
        let text = format!("{}\u{2028}{}", "x".repeat(15), "y".repeat(20));
        assert_eq!(
            log(&text),
            format!("\"{}\\u2028{}\"", "x".repeat(15), "y".repeat(20))
        );
        for text in ["plain", "a\"b\\c\nd\u{1}", "é\u{1F600}"] {
            assert_eq!(log(text), json(text));
        }
    }

    #[test]
    fn rfc3339_timestamps_carry_the_asked_decimals_truncated() {
        let at = |nanos| DateTime::from_timestamp(1_795_662_245, nanos).expect("a valid time");
        let text = |nanos, decimals| {
            let mut buf = String::new();
            push_rfc3339(&mut buf, at(nanos), decimals);
            buf
        };
        assert_eq!(text(123_456_789, 3), "2026-11-26T03:04:05.123Z");
        assert_eq!(text(123_456_789, 6), "2026-11-26T03:04:05.123456Z");
        assert_eq!(text(5_000_000, 3), "2026-11-26T03:04:05.005Z");
        assert_eq!(text(0, 3), "2026-11-26T03:04:05.000Z");
        // A second second on the same thread reformats the cached part.
        let mut buf = String::new();
        push_rfc3339(&mut buf, at(0) + chrono::Duration::seconds(61), 3);
        assert_eq!(buf, "2026-11-26T03:05:06.000Z");
    }

    #[test]
    fn timestamps_and_dates_are_written_as_chrono_serializes_them() {
        for year in [0, 1, 999, 1970, 2026, 9999, 10_000, -1] {
            for nanos in [
                0,
                1,
                120,
                5_000,
                123_456,
                7_000_000,
                999_999_999,
                100_000_000,
            ] {
                for leap in [false, true] {
                    let second = if leap { 59 } else { 7 };
                    let nanos = if leap { 1_000_000_000 + nanos } else { nanos };
                    let naive = NaiveDate::from_ymd_opt(year, 2, 3)
                        .unwrap()
                        .and_hms_nano_opt(23, 59, second, nanos)
                        .unwrap();
                    let at = Utc.from_utc_datetime(&naive);
                    let mut out = String::new();
                    if push_rfc3339_as_chrono(&mut out, &at) {
                        assert_eq!(format!("\"{out}\""), serde_json::to_string(&at).unwrap());
                    } else {
                        assert!(out.is_empty() && !(0..=9999).contains(&year));
                    }
                    let mut out = String::new();
                    if push_date(&mut out, &naive.date()) {
                        assert_eq!(
                            format!("\"{out}\""),
                            serde_json::to_string(&naive.date()).unwrap()
                        );
                    } else {
                        assert!(out.is_empty() && !(0..=9999).contains(&year));
                    }
                }
            }
        }
    }
}
