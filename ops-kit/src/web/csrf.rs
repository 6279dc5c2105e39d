//! Protection against cross-site request forgery for HTML forms: every
//! state-changing request must come from a page of the service's own
//! origin (the `Origin` check) and carry the token the service put in the
//! form (the token check). Either alone has gaps (an old browser without
//! `Origin`, a token leaked through a log); together they hold.
//!
//! A signed-in user's token is their session's
//! ([`Session::csrf_token`](super::Session::csrf_token)). Forms shown
//! before sign-in (the sign-in form itself) use a token in a cookie of its
//! own, compared with the form's copy ([`pre_session_cookie`],
//! [`pre_session_token`]).
//!
//! # Example
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use ops_kit::web::csrf::{self, CsrfError};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("host", HeaderValue::from_static("crm.example.com"));
//! headers.insert("origin", HeaderValue::from_static("https://crm.example.com"));
//! let expected = "k3v0-token";
//! assert_eq!(csrf::verify(&headers, expected, Some("k3v0-token")), Ok(()));
//! assert_eq!(csrf::verify(&headers, expected, None), Err(CsrfError::MissingToken));
//! assert_eq!(csrf::verify(&headers, expected, Some("forged")), Err(CsrfError::WrongToken));
//!
//! headers.insert("origin", HeaderValue::from_static("https://evil.example"));
//! assert_eq!(csrf::verify(&headers, expected, Some("k3v0-token")), Err(CsrfError::CrossOrigin));
//! ```

use http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;

/// The name of the hidden form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// Why a request was refused.
///
/// # Example
///
/// ```
/// use ops_kit::web::csrf::CsrfError;
/// assert_eq!(
///     CsrfError::CrossOrigin.to_string(),
///     "the request came from another site"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// `Origin` (or, without it, `Sec-Fetch-Site`) names another site.
    #[error("the request came from another site")]
    CrossOrigin,
    /// The form had no token.
    #[error("the form has no security token")]
    MissingToken,
    /// The form's token is not the session's.
    #[error("the form's security token is not valid (it may have expired)")]
    WrongToken,
}

/// Whether the request came from a page of this origin: its `Origin`
/// header names the host of its `Host` header. Without `Origin`, a
/// `Sec-Fetch-Site` other than `same-origin` or `none` is refused too; a
/// request with neither (an old browser, a script) relies on the token.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use ops_kit::web::csrf::{self, CsrfError};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("host", HeaderValue::from_static("127.0.0.1:3000"));
/// headers.insert("origin", HeaderValue::from_static("http://127.0.0.1:3000"));
/// assert_eq!(csrf::check_origin(&headers), Ok(()));
///
/// headers.insert("origin", HeaderValue::from_static("null")); // a sandboxed frame or a data: URL
/// assert_eq!(csrf::check_origin(&headers), Err(CsrfError::CrossOrigin));
///
/// headers.remove("origin");
/// headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
/// assert_eq!(csrf::check_origin(&headers), Err(CsrfError::CrossOrigin));
/// ```
pub fn check_origin(headers: &HeaderMap) -> Result<(), CsrfError> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match headers.get(header::ORIGIN) {
        Some(origin) => {
            let origin_host = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .map(|(_, rest)| rest);
            match (origin_host, host) {
                (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
                _ => Err(CsrfError::CrossOrigin),
            }
        }
        None => match headers.get("sec-fetch-site").map(HeaderValue::as_bytes) {
            None | Some(b"same-origin") | Some(b"none") => Ok(()),
            Some(_) => Err(CsrfError::CrossOrigin),
        },
    }
}

/// Compares two tokens in time that does not depend on where they differ.
///
/// # Example
///
/// ```
/// use ops_kit::web::csrf::tokens_match;
/// assert!(tokens_match("abc", "abc"));
/// assert!(!tokens_match("abc", "abd"));
/// assert!(!tokens_match("abc", ""));
/// ```
pub fn tokens_match(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The whole check for a state-changing request: [`check_origin`], then
/// the form's token (`given`) against the `expected` one.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use ops_kit::web::csrf::{self, CsrfError};
/// let headers = HeaderMap::new(); // no Origin: only the token decides
/// assert_eq!(csrf::verify(&headers, "t", Some("t")), Ok(()));
/// assert_eq!(csrf::verify(&headers, "t", Some("")), Err(CsrfError::MissingToken));
/// ```
pub fn verify(headers: &HeaderMap, expected: &str, given: Option<&str>) -> Result<(), CsrfError> {
    check_origin(headers)?;
    match given {
        None | Some("") => Err(CsrfError::MissingToken),
        Some(given) if tokens_match(expected, given) => Ok(()),
        Some(_) => Err(CsrfError::WrongToken),
    }
}

/// The name of the pre-session token cookie: `__Host-csrf` when `secure`
/// (the prefix makes the browser refuse it from a subdomain or over plain
/// HTTP), `csrf` otherwise.
///
/// # Example
///
/// ```
/// assert_eq!(ops_kit::web::csrf::pre_session_cookie_name(true), "__Host-csrf");
/// assert_eq!(ops_kit::web::csrf::pre_session_cookie_name(false), "csrf");
/// ```
pub fn pre_session_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-csrf" } else { "csrf" }
}

/// The `Set-Cookie` value that gives a visitor without a session the
/// pre-session `token` (for two hours).
///
/// # Example
///
/// ```
/// let cookie = ops_kit::web::csrf::pre_session_cookie("tok", true);
/// assert_eq!(
///     cookie.to_str().unwrap(),
///     "__Host-csrf=tok; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=7200"
/// );
/// ```
pub fn pre_session_cookie(token: &str, secure: bool) -> HeaderValue {
    super::session::cookie_header(
        pre_session_cookie_name(secure),
        token,
        secure,
        cookie::SameSite::Strict,
        Some(7200),
    )
}

/// The pre-session token of the request's cookies, if any.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// let mut headers = HeaderMap::new();
/// headers.insert("cookie", HeaderValue::from_static("theme=dark; csrf=tok"));
/// assert_eq!(ops_kit::web::csrf::pre_session_token(&headers, false), Some("tok"));
/// assert_eq!(ops_kit::web::csrf::pre_session_token(&headers, true), None);
/// ```
pub fn pre_session_token(headers: &HeaderMap, secure: bool) -> Option<&str> {
    super::session::cookie_value(headers, pre_session_cookie_name(secure))
}
