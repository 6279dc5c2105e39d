//! The JSON envelope for the errors hyper answers itself.
//!
//! hyper refuses a request it cannot parse (a bad request line, a header
//! with a NUL, a malformed or conflicting `Content-Length`, a URI over
//! 64 KiB, more than 100 headers) before any service sees it, with an
//! empty-bodied 400, 414 or 431 and no request id. The connection's socket
//! wrapper recognises that response as it is written (no request is in
//! flight, and it is hyper's exact bare form) and writes the envelope in
//! its place, with a fresh request id and a `[METRICS]` line, as for every
//! other error.

use std::sync::Arc;
use std::time::Instant;

use http::{Method, StatusCode};

use crate::RequestId;
use crate::context::Services;
use crate::error::code_for;

/// How much of a request's first line is kept, to name the method and
/// path of a refused request in its `[METRICS]` line.
pub(crate) const LINE_CAPTURE: usize = 128;

/// The start of the request line of the request being read.
#[derive(Debug)]
pub(crate) struct RequestLine {
    bytes: [u8; LINE_CAPTURE],
    len: usize,
    capturing: bool,
    pub(crate) started: Instant,
}

impl RequestLine {
    pub(crate) fn new() -> Self {
        Self {
            bytes: [0; LINE_CAPTURE],
            len: 0,
            capturing: true,
            started: Instant::now(),
        }
    }

    /// A new request begins with the next bytes read.
    pub(crate) fn restart(&mut self) {
        self.len = 0;
        self.capturing = true;
        self.started = Instant::now();
    }

    /// Keeps the first bytes read, up to the end of the first line.
    pub(crate) fn record(&mut self, read: &[u8]) {
        if !self.capturing {
            return;
        }
        let take = read.len().min(LINE_CAPTURE - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&read[..take]);
        self.len += take;
        if self.len == LINE_CAPTURE || read[..take].contains(&b'\n') {
            self.capturing = false;
        }
    }

    /// The method and path, when they were read whole and are plain
    /// tokens; `-` otherwise.
    fn method_and_path(&self) -> (&str, &str) {
        let line = &self.bytes[..self.len];
        // A client may send empty lines before a request.
        let start = line
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(line.len());
        let mut parts = line[start..].splitn(3, |b| *b == b' ');
        let method = parts
            .next()
            .filter(|m| !m.is_empty() && m.len() <= 16 && m.iter().all(u8::is_ascii_uppercase));
        // A target is only whole if a space followed it.
        let target = parts.next().filter(|_| parts.next().is_some());
        let path = target
            .map(|t| t.split(|b| *b == b'?').next().unwrap_or_default())
            .filter(|p| p.starts_with(b"/") && p.iter().all(|b| b.is_ascii_graphic()));
        (text(method), text(path))
    }
}

fn text(bytes: Option<&[u8]>) -> &str {
    bytes
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("-")
}

/// The status of `written` if it is hyper's bare error response
/// (`HTTP/1.1 4xx …`, `content-length: 0`, no request id, one short head).
pub(crate) fn bare_error(written: &[u8]) -> Option<StatusCode> {
    if written.len() > 256
        || !(written.starts_with(b"HTTP/1.1 4") || written.starts_with(b"HTTP/1.0 4"))
        || !written.ends_with(b"\r\n\r\n")
    {
        return None;
    }
    let head = std::str::from_utf8(written).ok()?;
    let lower = head.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") || lower.contains("x-request-id") {
        return None;
    }
    let status = StatusCode::from_bytes(written.get(9..12)?).ok()?;
    matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::URI_TOO_LONG
            | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    )
    .then_some(status)
}

/// The envelope response to write instead of hyper's bare one, after
/// logging its `[METRICS]` line.
pub(crate) fn envelope_for(
    status: StatusCode,
    bare: &[u8],
    line: &RequestLine,
    services: &Arc<Services>,
) -> Vec<u8> {
    let request_id = RequestId::for_request(None);
    let message = match status {
        StatusCode::URI_TOO_LONG => "request URI is longer than 65534 bytes",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "request head is too large: more than 100 headers, or more than 408 KiB"
        }
        _ => "malformed request: the request line or a header could not be parsed",
    };
    let body = serde_json::json!({
        "error": message,
        "code": code_for(status),
        "requestId": request_id.as_str(),
    })
    .to_string();
    let date = std::str::from_utf8(bare)
        .ok()
        .and_then(|head| {
            head.split("\r\n")
                .find(|l| l.len() > 5 && l[..5].eq_ignore_ascii_case("date:"))
        })
        .map(|l| format!("{l}\r\n"))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {}\r\nconnection: close\r\n{date}\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len(),
        request_id.as_str(),
    );

    let (method, path) = line.method_and_path();
    let elapsed = line.started.elapsed();
    if let Ok(method) = Method::from_bytes(method.as_bytes()) {
        services
            .metrics
            .record_request(&method, None, status.as_u16(), elapsed.as_secs_f64());
    }
    crate::telemetry::MetricsLine {
        request_id: request_id.as_str(),
        duration: elapsed,
        method,
        path,
        status: status.as_u16(),
        route: None,
        route_is_plain: false,
        trace_id: None,
    }
    .emit();
    response.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_errors_are_recognised_and_responses_with_an_id_are_not() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 14:00:00 GMT\r\n\r\n";
        assert_eq!(
            bare_error(bare),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: a\r\n\r\n";
        assert_eq!(bare_error(ours), None);
        let body = b"HTTP/1.1 400 is how a body may start";
        assert_eq!(bare_error(body), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(bare_error(ok), None);
    }

    #[test]
    fn the_request_line_names_method_and_path_only_when_read_whole() {
        let mut line = RequestLine::new();
        line.record(b"\r\nPOST /api/leads?x=1 HTTP/1.1\r\nhost: x\r\n");
        assert_eq!(line.method_and_path(), ("POST", "/api/leads"));

        line.restart();
        line.record(&[b'a'; 200]);
        assert_eq!(line.method_and_path(), ("-", "-"));

        line.restart();
        line.record(b"GET /");
        line.record(&[b'x'; 300]);
        assert_eq!(line.method_and_path(), ("GET", "-"));
    }
}
