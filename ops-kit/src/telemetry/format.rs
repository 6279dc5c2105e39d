//! The tracing layer that turns events into text or JSON lines.
//!
//! Written for the request path: each line is formatted once into a
//! thread-local buffer (integers with `itoa`, floats with `ryu`, no
//! intermediate `String` per field) and handed to the [`LineWriter`]. Span
//! fields are formatted once, when the span is created, and appended to every
//! event inside it.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::LogFormat;
use super::writer::LineWriter;
use crate::text::{is_bare_token, push_json_log_string, push_rfc3339};

/// Formats events as lines and queues them on a [`LineWriter`].
pub(crate) struct LineLayer {
    writer: LineWriter,
    format: LogFormat,
}

impl LineLayer {
    pub(crate) fn new(writer: LineWriter, format: LogFormat) -> Self {
        Self { writer, format }
    }
}

impl fmt::Debug for LineLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineLayer")
            .field("format", &self.format)
            .finish()
    }
}

/// The target of the per-request span of [`OpsLayer`](crate::OpsLayer).
pub(crate) const REQUEST_SPAN_TARGET: &str = "ops_kit::request";

fn is_request_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.target() == REQUEST_SPAN_TARGET
}

/// A span's fields, already formatted for the active format.
struct SpanFields(String);

thread_local! {
    static BUF: RefCell<String> = RefCell::new(String::with_capacity(256));
}

impl<S> Layer<S> for LineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // The request span of `OpsLayer` is on every request, and these lines
    // have no use for it: every event of a request prints the request id
    // of the current request scope (see `format_event`). Declining it here is how a
    // `tracing` subscriber says so: under this subscriber `info_span!`
    // returns a disabled span, and entering, recording and closing it cost
    // nothing. Under any other subscriber the span is there, with its fields.
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_request_span(metadata) {
            Interest::never()
        } else {
            Interest::always()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        !is_request_span(metadata)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::new();
        attrs.record(&mut FieldWriter::new(&mut fields, self.format, false));
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut FieldWriter::new(fields, self.format, false));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                self.format_event(&mut buf, event, &ctx);
                self.writer.write_line(buf.as_bytes());
            }
            // A field's Debug impl logged while we were formatting: fall back
            // to a fresh buffer rather than panic.
            Err(_) => {
                let mut buf = String::new();
                self.format_event(&mut buf, event, &ctx);
                self.writer.write_line(buf.as_bytes());
            }
        });
    }
}

impl LineLayer {
    fn format_event<S>(&self, buf: &mut String, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let meta = event.metadata();
        match self.format {
            LogFormat::Text => {
                event.record(&mut MessageOnly(buf));
                // Runbook lines carry their own tag (`[METRICS]`, `[SHUTDOWN]`…)
                // and are printed as they are; other events get one.
                if !buf.starts_with('[') {
                    let prefix = format!("[{}] {}: ", meta.level().as_str(), meta.target());
                    buf.insert_str(0, &prefix);
                }
                if buf.bytes().any(|b| b.is_ascii_control())
                    || buf.contains(['\u{85}', '\u{2028}', '\u{2029}'])
                {
                    let raw = std::mem::take(buf);
                    push_escaped_text(buf, &raw);
                }
                event.record(&mut FieldWriter::new(buf, LogFormat::Text, true));
            }
            LogFormat::Json => {
                buf.push_str("{\"timestamp\":\"");
                push_timestamp(buf);
                buf.push_str("\",\"level\":\"");
                buf.push_str(level_str(meta.level()));
                buf.push_str("\",\"target\":");
                push_json_log_string(buf, meta.target());
                buf.push_str(",\"message\":");
                let start = buf.len();
                event.record(&mut MessageOnly(buf));
                if needs_json_escape(&buf[start..]) {
                    let raw = buf.split_off(start);
                    push_json_log_string(buf, &raw);
                } else {
                    buf.insert(start, '"');
                    buf.push('"');
                }
                event.record(&mut FieldWriter::new(buf, LogFormat::Json, true));
            }
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    buf.push_str(fields);
                }
            }
        }
        // Inside a request the request id is the task's: every line gets
        // it, whatever spans the level filter keeps.
        if meta.fields().field("requestId").is_none() {
            crate::context::RequestScope::with_current(|scope| {
                FieldWriter::new(buf, self.format, false)
                    .pair("requestId", scope.request_id.as_str());
            });
        }
        if self.format == LogFormat::Json {
            buf.push('}');
        }
        buf.push('\n');
    }
}

fn level_str(level: &Level) -> &'static str {
    level.as_str()
}

/// Collects the `message` field alone.
struct MessageOnly<'a>(&'a mut String);

impl Visit for MessageOnly<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// Appends `key=value` (text) or `,"key":value` (JSON) for every field but
/// the message.
struct FieldWriter<'a> {
    buf: &'a mut String,
    format: LogFormat,
    skip_message: bool,
}

impl<'a> FieldWriter<'a> {
    fn new(buf: &'a mut String, format: LogFormat, skip_message: bool) -> Self {
        Self {
            buf,
            format,
            skip_message,
        }
    }

    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if self.skip_message && name == "message" {
            return false;
        }
        // `r#type` style raw identifiers keep their prefix in tracing.
        self.name(name.strip_prefix("r#").unwrap_or(name));
        true
    }

    fn pair(&mut self, name: &str, value: &str) {
        self.name(name);
        self.string(value);
    }

    fn name(&mut self, name: &str) {
        match self.format {
            LogFormat::Text => {
                self.buf.push(' ');
                self.buf.push_str(name);
                self.buf.push('=');
            }
            LogFormat::Json => {
                self.buf.push(',');
                push_json_log_string(self.buf, name);
                self.buf.push(':');
            }
        }
    }

    fn raw(&mut self, value: &str) {
        self.buf.push_str(value);
    }

    fn string(&mut self, value: &str) {
        match self.format {
            LogFormat::Text => push_text_value(self.buf, value),
            LogFormat::Json => push_json_log_string(self.buf, value),
        }
    }
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.string(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            self.raw(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            self.raw(itoa::Buffer::new().format(value));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            if value.is_finite() {
                self.raw(ryu::Buffer::new().format_finite(value));
            } else {
                self.string(&value.to_string());
            }
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.raw(if value { "true" } else { "false" });
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            let mut text = String::new();
            let _ = write!(text, "{value:?}");
            self.string(&text);
        }
    }
}

/// A text value: bare when it is a plain token, quoted and escaped otherwise,
/// so that a value can never split the line or fake another field.
pub(crate) fn push_text_value(buf: &mut String, value: &str) {
    if is_bare_token(value) {
        buf.push_str(value);
    } else {
        push_json_log_string(buf, value);
    }
}

/// A message in the text format: printed as it is, with control characters
/// escaped so that it stays on one line.
fn push_escaped_text(buf: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(buf, "\\u{{{:04x}}}", c as u32);
            }
            c => buf.push(c),
        }
    }
}

/// Whether a message written as is would need escaping as a JSON log
/// string (see [`push_json_log_string`]).
fn needs_json_escape(s: &str) -> bool {
    s.chars()
        .any(|c| c == '"' || c == '\\' || (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}')
}

/// The current UTC time as RFC 3339 with microseconds.
pub(crate) fn push_timestamp(buf: &mut String) {
    push_rfc3339(buf, chrono::Utc::now(), 6);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_text_values_that_could_split_or_fake_a_field() {
        let mut buf = String::new();
        push_text_value(&mut buf, "plain-token");
        buf.push(' ');
        push_text_value(&mut buf, "two words");
        buf.push(' ');
        push_text_value(&mut buf, "x status=500\nforged");
        assert_eq!(buf, r#"plain-token "two words" "x status=500\nforged""#);
    }

    #[test]
    fn escapes_json_control_characters() {
        let mut buf = String::new();
        push_json_log_string(&mut buf, "a\"b\\c\nd\u{1}");
        assert_eq!(buf, r#""a\"b\\c\nd\u0001""#);
        let parsed: String = serde_json::from_str(&buf).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}");
    }

    #[test]
    fn keeps_messages_on_one_line() {
        let mut buf = String::new();
        push_escaped_text(&mut buf, "line one\nline two\u{7}");
        assert_eq!(buf, "line one\\nline two\\u{0007}");
    }
}
