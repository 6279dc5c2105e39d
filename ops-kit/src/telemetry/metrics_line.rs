//! The `[METRICS]` line, written straight to the log writer.
//!
//! It is the one line every request produces, so when the ops-kit
//! subscriber is installed globally it skips the generic event machinery:
//! the fields are known, so they are formatted directly into a thread-local
//! buffer. The level filter still applies (target `ops_kit::metrics`, level
//! INFO); its verdict is taken once, when the subscriber is installed. Under
//! any other subscriber the line is an ordinary `tracing` event with the
//! same fields.

use std::cell::RefCell;
use std::time::Duration;

use super::format::{push_text_value, push_timestamp};
use super::{GLOBAL, LogFormat};
use crate::text::{push_json_log_string, push_zero_padded};

/// One request's metrics.
pub(crate) struct MetricsLine<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) duration: Duration,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: u16,
    pub(crate) route: Option<&'a str>,
    /// Whether `route` is known to print without quotes (the route layer
    /// checks each template once); when `false` it is checked here.
    pub(crate) route_is_plain: bool,
    /// The W3C trace id, when the request carried a `traceparent`.
    pub(crate) trace_id: Option<&'a str>,
}

/// The target of the line, for `LOG_LEVEL` directives.
pub(crate) const TARGET: &str = "ops_kit::metrics";

thread_local! {
    static BUF: RefCell<String> = RefCell::new(String::with_capacity(256));
}

impl MetricsLine<'_> {
    pub(crate) fn emit(&self) {
        match GLOBAL.get() {
            Some(global) if global.metrics => BUF.with(|cell| {
                let mut buf = cell.borrow_mut();
                buf.clear();
                self.format(&mut buf, global.format);
                global.writer.write_line(buf.as_bytes());
            }),
            Some(_) => {}
            None => self.event(),
        }
    }

    fn format(&self, buf: &mut String, format: LogFormat) {
        let mut status = itoa::Buffer::new();
        match format {
            LogFormat::Text => {
                // Request ids and methods are plain tokens by construction
                // (see `RequestId` and the HTTP method grammar).
                buf.push_str("[METRICS] requestId=");
                buf.push_str(self.request_id);
                buf.push_str(" request_duration_ms=");
                push_millis(buf, self.duration);
                buf.push_str(" method=");
                buf.push_str(self.method);
                buf.push_str(" path=");
                push_text_value(buf, self.path);
                buf.push_str(" status=");
                buf.push_str(status.format(self.status));
                if let Some(route) = self.route {
                    buf.push_str(" route=");
                    if self.route_is_plain {
                        buf.push_str(route);
                    } else {
                        push_text_value(buf, route);
                    }
                }
                // Trace ids are 32 hex digits by construction.
                if let Some(trace_id) = self.trace_id {
                    buf.push_str(" traceId=");
                    buf.push_str(trace_id);
                }
            }
            LogFormat::Json => {
                buf.push_str("{\"timestamp\":\"");
                push_timestamp(buf);
                buf.push_str(
                    "\",\"level\":\"INFO\",\"target\":\"ops_kit::metrics\",\"message\":\"[METRICS]\",\"requestId\":",
                );
                push_json_log_string(buf, self.request_id);
                buf.push_str(",\"request_duration_ms\":");
                push_millis(buf, self.duration);
                buf.push_str(",\"method\":");
                push_json_log_string(buf, self.method);
                buf.push_str(",\"path\":");
                push_json_log_string(buf, self.path);
                buf.push_str(",\"status\":");
                buf.push_str(status.format(self.status));
                if let Some(route) = self.route {
                    buf.push_str(",\"route\":");
                    push_json_log_string(buf, route);
                }
                if let Some(trace_id) = self.trace_id {
                    buf.push_str(",\"traceId\":");
                    push_json_log_string(buf, trace_id);
                }
                buf.push('}');
            }
        }
        buf.push('\n');
    }

    fn event(&self) {
        match self.route {
            Some(route) => tracing::info!(
                target: TARGET,
                requestId = self.request_id,
                request_duration_ms = millis(self.duration),
                method = self.method,
                path = self.path,
                status = self.status as u64,
                route = route,
                traceId = self.trace_id,
                "[METRICS]"
            ),
            None => tracing::info!(
                target: TARGET,
                requestId = self.request_id,
                request_duration_ms = millis(self.duration),
                method = self.method,
                path = self.path,
                status = self.status as u64,
                traceId = self.trace_id,
                "[METRICS]"
            ),
        }
    }
}

/// Milliseconds with microsecond precision and no trailing zeros
/// (`0.412`, `1.5`, `123`), without going through floating point.
fn push_millis(buf: &mut String, duration: Duration) {
    // 64 bits of microseconds outlast any request; u128 division is slow.
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    let mut digits = itoa::Buffer::new();
    buf.push_str(digits.format(micros / 1000));
    let mut frac = (micros % 1000) as u32;
    if frac != 0 {
        let mut width = 3;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        buf.push('.');
        push_zero_padded(buf, u64::from(frac), width);
    }
}

/// The same value as a float, for the plain `tracing` event.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(route: Option<&'static str>) -> MetricsLine<'static> {
        MetricsLine {
            request_id: "r-1",
            duration: Duration::from_micros(412),
            method: "GET",
            path: "/leads/7",
            status: 200,
            route,
            route_is_plain: false,
            trace_id: None,
        }
    }

    #[test]
    fn formats_the_runbook_text_line_exactly() {
        let mut buf = String::new();
        line(Some("/leads/{id}")).format(&mut buf, LogFormat::Text);
        assert_eq!(
            buf,
            "[METRICS] requestId=r-1 request_duration_ms=0.412 method=GET path=/leads/7 status=200 route=/leads/{id}\n"
        );
    }

    #[test]
    fn formats_the_same_fields_as_json_keys() {
        let mut buf = String::new();
        line(None).format(&mut buf, LogFormat::Json);
        let value: serde_json::Value = serde_json::from_str(&buf).unwrap();
        assert_eq!(value["message"], "[METRICS]");
        assert_eq!(value["requestId"], "r-1");
        assert_eq!(value["request_duration_ms"], 0.412);
        assert_eq!(value["method"], "GET");
        assert_eq!(value["path"], "/leads/7");
        assert_eq!(value["status"], 200);
        assert!(value.get("route").is_none());
        assert!(chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn prints_milliseconds_to_the_microsecond_without_trailing_zeros() {
        let cases = [
            (0, "0"),
            (1, "0.001"),
            (50, "0.05"),
            (412, "0.412"),
            (1_500, "1.5"),
            (123_000, "123"),
            (123_045, "123.045"),
            (60_000_001, "60000.001"),
        ];
        for (micros, text) in cases {
            let mut buf = String::new();
            push_millis(&mut buf, Duration::from_micros(micros));
            assert_eq!(buf, text, "{micros} µs");
            assert_eq!(
                buf.parse::<f64>().unwrap(),
                millis(Duration::from_micros(micros))
            );
        }
    }

    #[test]
    fn quotes_a_route_not_known_to_be_plain() {
        let mut buf = String::new();
        line(Some("/a b")).format(&mut buf, LogFormat::Text);
        assert!(buf.ends_with(" route=\"/a b\"\n"), "{buf}");
        let mut buf = String::new();
        MetricsLine {
            route_is_plain: true,
            ..line(Some("/leads/{id}"))
        }
        .format(&mut buf, LogFormat::Text);
        assert!(buf.ends_with(" route=/leads/{id}\n"), "{buf}");
    }

    #[test]
    fn quotes_a_path_that_could_split_the_line() {
        let mut buf = String::new();
        MetricsLine {
            path: "/a b\n[METRICS] forged",
            ..line(None)
        }
        .format(&mut buf, LogFormat::Text);
        assert_eq!(buf.lines().count(), 1);
        assert!(buf.contains(r#"path="/a b\n[METRICS] forged""#));
    }
}
