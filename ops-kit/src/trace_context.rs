//! W3C Trace Context: the trace id of a request that carries a
//! `traceparent` header.
//!
//! When a request arrives with a valid `traceparent`, its trace id is
//! recorded on the request span (`traceId`), added to the `[METRICS]` line,
//! and put into the request's extensions as a [`TraceId`]. When it arrives
//! without one, nothing is invented: the request id stays the correlation
//! key of the runbook, and the trace id only links ops-kit's lines to a
//! tracing system that started the trace upstream.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use ops_kit::TraceId;
//!
//! async fn handler(trace: Option<axum::Extension<TraceId>>) -> String {
//!     trace.map_or("no trace".into(), |t| t.as_str().to_owned())
//! }
//! let app: Router = Router::new().route("/", get(handler));
//! ```

use std::fmt;

/// The `traceparent` request header.
///
/// A [`HeaderName`](http::HeaderName) rather than a string, so that looking
/// it up does not parse the name on every request.
///
/// # Example
///
/// ```
/// use ops_kit::trace_context::TRACEPARENT;
///
/// assert_eq!(TRACEPARENT, "traceparent");
/// let request = http::Request::get("/")
///     .header(TRACEPARENT, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .body(())
///     .unwrap();
/// assert!(request.headers().contains_key(TRACEPARENT));
/// ```
pub const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// A trace id: 32 lowercase hex digits, not all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 32]);

impl TraceId {
    /// The trace id of a `traceparent` value
    /// (`version-traceid-parentid-flags`), or `None` when the value is not
    /// valid: wrong lengths, upper-case or non-hex digits, an all-zero
    /// trace or parent id, or the forbidden version `ff`. Version `00` must
    /// be exactly 55 characters; later versions may append fields.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::TraceId;
    ///
    /// let id = TraceId::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// assert_eq!(id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(TraceId::from_traceparent(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
    /// assert!(TraceId::from_traceparent(b"not a trace").is_none());
    /// ```
    pub fn from_traceparent(value: &[u8]) -> Option<Self> {
        let hex = |s: &[u8]| {
            s.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        };
        let zero = |s: &[u8]| s.iter().all(|b| *b == b'0');
        if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let (version, trace, parent, flags) =
            (&value[..2], &value[3..35], &value[36..52], &value[53..55]);
        let valid = hex(version)
            && version != b"ff"
            && hex(trace)
            && !zero(trace)
            && hex(parent)
            && !zero(parent)
            && hex(flags)
            && (value.len() == 55 || (version != b"00" && value[55] == b'-'));
        valid.then(|| {
            let mut id = [0; 32];
            id.copy_from_slice(trace);
            Self(id)
        })
    }

    /// The trace id as text.
    ///
    /// # Example
    ///
    /// ```
    /// let id = ops_kit::TraceId::from_traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    /// assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
    /// ```
    pub fn as_str(&self) -> &str {
        // Only lowercase hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_trace_id() {
        assert_eq!(
            TraceId::from_traceparent(VALID.as_bytes())
                .unwrap()
                .as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // A later version may carry more fields.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(TraceId::from_traceparent(future.as_bytes()).is_some());
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert!(TraceId::from_traceparent(bad.as_bytes()).is_none(), "{bad}");
        }
    }
}
