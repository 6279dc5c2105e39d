//! JSON written directly into the response body, for the one response
//! that is hot enough to need it: a page of leads.
//!
//! serde_json writes each struct field's name through the same
//! character-by-character escaping as a value, on every row of every page
//! (docs/performance.md has what that cost). Here a field's name is written with its quotes,
//! colon and leading comma as one constant, and a string value is scanned
//! sixteen bytes at a time and copied whole when nothing in it needs
//! escaping. Each writer's output is byte for byte what serde_json writes
//! for the same value (its tests compare the two), so a client cannot
//! tell which one made a response.
//!
//! ```
//! use crm_app::api::json::Out;
//!
//! let mut out = Out::with_capacity(64);
//! out.raw("{\"name\":");
//! out.str("Tab\there \"quoted\"");
//! out.raw(",\"count\":");
//! out.int(-42);
//! out.raw("}");
//! assert_eq!(out.as_str(), r#"{"name":"Tab\there \"quoted\"","count":-42}"#);
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// A value that writes itself as JSON, byte for byte as serde_json would
/// write its `Serialize` form.
pub trait WriteJson {
    /// Appends the value's JSON to `out`.
    fn write_json(&self, out: &mut Out);
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut Out) {
        (**self).write_json(out);
    }
}

/// A JSON text being written. It only ever holds complete UTF-8: every
/// writer appends whole characters.
#[derive(Debug, Default)]
pub struct Out {
    buf: String,
}

impl Out {
    /// An empty text with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: String::with_capacity(capacity),
        }
    }

    /// Appends JSON text as is: punctuation and constant field names.
    pub fn raw(&mut self, json: &str) {
        self.buf.push_str(json);
    }

    /// Appends a JSON string: quoted, with `"`, `\` and the control
    /// characters escaped as serde_json escapes them.
    pub fn str(&mut self, text: &str) {
        ops_kit::text::push_json_string(&mut self.buf, text);
    }

    /// Appends a string, or `null`.
    pub fn opt_str(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.str(text),
            None => self.null(),
        }
    }

    /// Appends `null`.
    pub fn null(&mut self) {
        self.raw("null");
    }

    /// Appends `true` or `false`.
    pub fn bool(&mut self, value: bool) {
        self.raw(if value { "true" } else { "false" });
    }

    /// Appends an integer.
    pub fn int(&mut self, value: i64) {
        self.raw(itoa::Buffer::new().format(value));
    }

    /// Appends a UUID as a hyphenated lower-case string.
    pub fn uuid(&mut self, id: &Uuid) {
        self.quoted(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    }

    /// Appends a UUID, or `null`.
    pub fn opt_uuid(&mut self, id: Option<&Uuid>) {
        match id {
            Some(id) => self.uuid(id),
            None => self.null(),
        }
    }

    /// Appends a timestamp as chrono serializes it.
    pub fn time(&mut self, at: &DateTime<Utc>) {
        self.buf.push('"');
        if ops_kit::text::push_rfc3339_as_chrono(&mut self.buf, at) {
            self.buf.push('"');
        } else {
            // Signed years of more digits: chrono's own text.
            self.buf.pop();
            self.serde(at);
        }
    }

    /// Appends a timestamp, or `null`.
    pub fn opt_time(&mut self, at: Option<&DateTime<Utc>>) {
        match at {
            Some(at) => self.time(at),
            None => self.null(),
        }
    }

    /// Appends a date as chrono serializes it (`2027-03-15`), or `null`.
    pub fn opt_date(&mut self, date: Option<&NaiveDate>) {
        let Some(date) = date else {
            return self.null();
        };
        self.buf.push('"');
        if ops_kit::text::push_date(&mut self.buf, date) {
            self.buf.push('"');
        } else {
            // Signed years of more digits: chrono's own text.
            self.buf.pop();
            self.serde(date);
        }
    }

    /// Appends a JSON array of strings.
    pub fn strs(&mut self, texts: &[String]) {
        self.buf.push('[');
        for (i, text) in texts.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            self.str(text);
        }
        self.buf.push(']');
    }

    /// Appends ASCII text that needs no escaping (digits, hex, `-`), in
    /// quotes.
    fn quoted(&mut self, ascii: &str) {
        self.buf.push('"');
        self.buf.push_str(ascii);
        self.buf.push('"');
    }

    /// Appends any `Serialize` value through serde_json: for the rare
    /// values the writers above leave to it.
    pub fn serde<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        // Writing into a Vec fails only for values whose `Serialize`
        // fails, and none of the values passed here have one that can.
        if let Ok(json) = serde_json::to_string(value) {
            self.buf.push_str(&json);
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        &self.buf
    }

    /// The bytes written, for a response body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(write: impl FnOnce(&mut Out)) -> String {
        let mut out = Out::default();
        write(&mut out);
        out.as_str().to_owned()
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let texts = [
            String::new(),
            "plain".into(),
            every_ascii.clone(),
            every_ascii.repeat(3),
            "Eiche \u{e9}b\u{e8}ne \u{1F6AA} \u{7f}\u{80}\u{2028}".into(),
            "sixteen bytes!!\"".into(),
            "\"sixteen bytes!!".into(),
            "a".repeat(15) + "\n" + &"b".repeat(17) + "\\",
        ];
        for text in &texts {
            assert_eq!(
                written(|out| out.str(text)),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn scalars_are_written_as_serde_json_writes_them() {
        for value in [0, -1, 42, i64::MIN, i64::MAX] {
            assert_eq!(written(|out| out.int(value)), value.to_string());
        }
        let id = Uuid::new_v4();
        assert_eq!(
            written(|out| out.uuid(&id)),
            serde_json::to_string(&id).unwrap()
        );
        assert_eq!(written(|out| out.opt_uuid(None)), "null");
        assert_eq!(written(|out| out.bool(true)), "true");
        let tags = vec!["oak".to_string(), "wal\"nut".to_string()];
        assert_eq!(
            written(|out| out.strs(&tags)),
            serde_json::to_string(&tags).unwrap()
        );
        assert_eq!(written(|out| out.strs(&[])), "[]");
    }

    #[test]
    fn dates_and_times_match_chrono_in_and_out_of_four_digit_years() {
        for date in [
            NaiveDate::from_ymd_opt(2027, 3, 15).unwrap(),
            NaiveDate::from_ymd_opt(1, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(0, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(-5, 6, 7).unwrap(),
            NaiveDate::from_ymd_opt(12345, 6, 7).unwrap(),
        ] {
            assert_eq!(
                written(|out| out.opt_date(Some(&date))),
                serde_json::to_string(&date).unwrap()
            );
            let at = date
                .and_hms_micro_opt(23, 59, 58, 123_456)
                .unwrap()
                .and_utc();
            assert_eq!(
                written(|out| out.time(&at)),
                serde_json::to_string(&at).unwrap()
            );
        }
        assert_eq!(written(|out| out.opt_date(None)), "null");
        assert_eq!(written(|out| out.opt_time(None)), "null");
    }
}
