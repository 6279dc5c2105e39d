//! Request ids: the correlation key of every log line, error body and audit entry.
//!
//! [`OpsLayer`](crate::OpsLayer) gives every request a [`RequestId`]. A client's
//! `x-request-id` header is kept when it is safe to print (1–128 characters of
//! `[A-Za-z0-9._:-]`); anything else is replaced by a fresh UUID, so that nothing
//! a client sends can forge or split a log line. Handlers read the id with the
//! [`RequestId`] extractor.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use ops_kit::RequestId;
//!
//! async fn whoami(id: RequestId) -> String {
//!     format!("your request id is {id}")
//! }
//!
//! let app: Router = Router::new().route("/whoami", get(whoami));
//! ```

use std::fmt;

use axum::extract::FromRequestParts;
use http::{HeaderName, HeaderValue, request::Parts};

use crate::error::ApiError;

/// The header that carries the request id in both directions: `x-request-id`.
///
/// # Example
///
/// ```
/// use axum::body::Body;
/// use ops_kit::request_id::REQUEST_ID_HEADER;
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(REQUEST_ID_HEADER, "x-request-id");
/// let router = ops_kit::App::new("svc", "1.0.0").into_router();
/// let request = http::Request::get("/api/health/live").header(REQUEST_ID_HEADER, "edge-42").body(Body::empty()).unwrap();
/// let response = router.oneshot(request).await.unwrap();
/// assert_eq!(response.headers()[REQUEST_ID_HEADER], "edge-42"); // echoed
/// # }
/// ```
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-supplied request id that is kept.
///
/// # Example
///
/// ```
/// use ops_kit::{RequestId, request_id::MAX_REQUEST_ID_LEN};
///
/// let longest = "a".repeat(MAX_REQUEST_ID_LEN);
/// assert!(RequestId::from_client(Some(longest.as_bytes())).is_some());
/// let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
/// assert!(RequestId::from_client(Some(too_long.as_bytes())).is_none());
/// ```
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The id of one request.
///
/// Cloning is cheap (the bytes are shared). Use it as an axum extractor in
/// handlers; it is always present behind [`OpsLayer`](crate::OpsLayer).
///
/// # Example
///
/// ```
/// use ops_kit::RequestId;
///
/// let kept = RequestId::from_client(Some(b"edge-7f3a.1")).unwrap();
/// assert_eq!(kept.as_str(), "edge-7f3a.1");
///
/// // Unsafe ids are refused; the layer then generates a fresh one.
/// assert!(RequestId::from_client(Some(b"id\nINJECTED")).is_none());
/// assert_eq!(RequestId::generate().as_str().len(), 36);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A fresh random id (a hyphenated UUID v4).
    ///
    /// # Example
    ///
    /// ```
    /// let a = ops_kit::RequestId::generate();
    /// let b = ops_kit::RequestId::generate();
    /// assert_ne!(a, b);
    /// ```
    pub fn generate() -> Self {
        let buf = hyphenated_v4(fast_random_bytes());
        // Owned by a reference-counted buffer from the start: the id is
        // cloned for the response header (and by the `RequestId`
        // extractor), and a clone of a `Vec`-backed value would allocate
        // again to share it.
        Self(
            HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(buf))
                .expect("a UUID is a valid header value"),
        )
    }

    /// Keeps a client-supplied id when it is safe, `None` otherwise.
    ///
    /// Safe means 1 to [`MAX_REQUEST_ID_LEN`] characters, each an ASCII
    /// letter, digit, `.`, `_`, `:` or `-`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::RequestId;
    ///
    /// assert!(RequestId::from_client(Some(b"abc-123")).is_some());
    /// assert!(RequestId::from_client(Some(b"")).is_none());
    /// assert!(RequestId::from_client(Some(b"has space")).is_none());
    /// assert!(RequestId::from_client(None).is_none());
    /// ```
    pub fn from_client(value: Option<&[u8]>) -> Option<Self> {
        let bytes = value?;
        if is_safe(bytes) {
            HeaderValue::from_bytes(bytes).ok().map(Self)
        } else {
            None
        }
    }

    /// The id of a request: the client's header if it is safe, else a fresh one.
    pub(crate) fn for_request(header: Option<&HeaderValue>) -> Self {
        match header {
            Some(value) if is_safe(value.as_bytes()) => Self(value.clone()),
            _ => Self::generate(),
        }
    }

    /// The id as text.
    ///
    /// # Example
    ///
    /// ```
    /// let id = ops_kit::RequestId::from_client(Some(b"req-1")).unwrap();
    /// assert_eq!(id.as_str(), "req-1");
    /// ```
    pub fn as_str(&self) -> &str {
        // Only ASCII ever gets in, so this cannot fail.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value, ready to be echoed.
    ///
    /// # Example
    ///
    /// ```
    /// let id = ops_kit::RequestId::generate();
    /// assert_eq!(id.header_value().to_str().unwrap(), id.as_str());
    /// ```
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// 128 random bits without a syscall: a per-thread generator seeded once
/// from the OS. Request ids must be unique, not unguessable (they are
/// correlation keys, never credentials), and a `getrandom` call per request
/// costs more than the rest of the id handling.
fn fast_random_bytes() -> [u8; 16] {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let seed = uuid::Uuid::new_v4().as_u128();
            (seed as u64) ^ ((seed >> 64) as u64)
        });
    }
    STATE.with(|state| {
        let next = || {
            // splitmix64
            let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&next().to_le_bytes());
        bytes[8..].copy_from_slice(&next().to_le_bytes());
        bytes
    })
}

/// 128 random bits as the text of a version 4 UUID: lowercase hex, hyphens
/// after the 4th, 6th, 8th and 10th byte (what `uuid`'s `hyphenated()`
/// writes), from a table of each byte's two digits: it runs on every
/// request.
fn hyphenated_v4(mut bytes: [u8; 16]) -> [u8; 36] {
    /// Where each byte's two digits go.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    /// The two digits of every byte value.
    const PAIRS: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0; 2]; 256];
        let mut i = 0;
        while i < 256 {
            pairs[i] = [HEX[i >> 4], HEX[i & 0x0f]];
            i += 1;
        }
        pairs
    };
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let mut text = [b'-'; 36];
    for (byte, at) in bytes.into_iter().zip(AT) {
        text[at..at + 2].copy_from_slice(&PAIRS[usize::from(byte)]);
    }
    text
}

fn is_safe(bytes: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let scope = crate::context::RequestScope::of(&parts.extensions);
        scope.map(|s| s.request_id.clone()).ok_or_else(|| {
            ApiError::internal_message("RequestId extractor used without ops_kit::OpsLayer")
        })
    }
}

/// Runs `fut` with `id` as the current request id of the task.
#[cfg(test)]
pub(crate) async fn scope<F: Future>(id: RequestId, fut: F) -> F::Output {
    let scope = crate::context::RequestScope::new(
        id,
        http::Method::GET,
        "/",
        None,
        None,
        Default::default(),
    );
    crate::context::RequestScope::scoped(std::sync::Arc::new(scope), fut).await
}

/// The id of the request the current task is serving, if any.
///
/// [`ApiError`] uses it to fill the envelope's `requestId`; code that has no
/// extractor at hand (a repository function logging a warning) can use it too.
///
/// # Example
///
/// ```
/// // Outside a request there is none.
/// assert!(ops_kit::request_id::current().is_none());
/// ```
pub fn current() -> Option<RequestId> {
    crate::context::RequestScope::with_current(|scope| scope.request_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_client_id_made_of_safe_characters() {
        let id = RequestId::for_request(Some(&HeaderValue::from_static("A-z_0.9:x")));
        assert_eq!(id.as_str(), "A-z_0.9:x");
    }

    #[test]
    fn keeps_a_client_id_of_exactly_128_characters() {
        let long = "a".repeat(128);
        let id = RequestId::for_request(Some(&HeaderValue::from_str(&long).unwrap()));
        assert_eq!(id.as_str(), long);
    }

    #[test]
    fn replaces_ids_that_are_empty_too_long_or_unsafe() {
        let bad: [&[u8]; 7] = [
            b"",
            &[b'a'; 129],
            b"has space",
            b"tab\there",
            b"quote\"",
            b"semi;colon",
            "caf\u{e9}".as_bytes(),
        ];
        for value in bad {
            let header = HeaderValue::from_bytes(value).unwrap();
            let id = RequestId::for_request(Some(&header));
            assert_ne!(id.as_str().as_bytes(), value);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        }
    }

    #[test]
    fn refuses_newlines_and_control_characters() {
        assert!(RequestId::from_client(Some(b"abc\r\nX-Evil: 1")).is_none());
        assert!(RequestId::from_client(Some(b"abc\x00")).is_none());
        assert!(RequestId::from_client(Some(b"abc\x7f")).is_none());
    }

    #[test]
    fn generated_ids_are_version_4_uuids_and_do_not_repeat() {
        let ids: std::collections::HashSet<String> = (0..10_000)
            .map(|_| RequestId::generate().to_string())
            .collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(10) {
            assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        }
    }

    #[test]
    fn writes_a_uuid_exactly_as_the_uuid_crate_does() {
        for seed in [[0u8; 16], [0xff; 16], *b"0123456789abcdef"] {
            let ours = hyphenated_v4(seed);
            let theirs = uuid::Builder::from_random_bytes(seed).into_uuid();
            assert_eq!(
                std::str::from_utf8(&ours).unwrap(),
                theirs.hyphenated().to_string()
            );
        }
    }

    #[test]
    fn generates_a_fresh_uuid_when_the_client_sends_none() {
        let id = RequestId::for_request(None);
        assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
    }
}
