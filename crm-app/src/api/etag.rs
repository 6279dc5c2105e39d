//! Versions as entity tags: every read carries `ETag: "<version>"`, and a
//! write that sends `If-Match` only goes ahead when the version still
//! matches (`412 Precondition Failed` with the current version otherwise).

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use ops_kit::ApiError;
use serde_json::json;

/// The `ETag` header value of a version.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("a quoted number is a valid header")
}

/// A response header map holding the `ETag` of a version.
pub fn headers(version: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(version));
    headers
}

/// The request's `If-Match` precondition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IfMatch {
    /// No `If-Match` header: the write is unconditional.
    #[default]
    Absent,
    /// `If-Match: *`: any current version.
    Any,
    /// The versions the client accepts.
    Versions(Vec<i64>),
}

impl IfMatch {
    /// Parses the header value (`"3"`, `"3", "4"`, `*`; a weak tag `W/"3"`
    /// never matches, as RFC 9110 asks of `If-Match`).
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        let value = value.trim();
        if value == "*" {
            return Ok(Self::Any);
        }
        let mut versions = Vec::new();
        for tag in value.split(',').map(str::trim) {
            if tag.starts_with("W/") {
                continue;
            }
            let version = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "If-Match must be an entity tag such as \"3\" (the resource's version) or *",
                    )
                    .with_field("field", json!("If-Match"))
                })?;
            versions.push(version);
        }
        Ok(Self::Versions(versions))
    }

    /// `Ok` when the precondition holds for `current`, a 412 carrying the
    /// current version and its `ETag` otherwise.
    pub fn check(&self, current: i64) -> Result<(), ApiError> {
        match self {
            Self::Absent | Self::Any => Ok(()),
            Self::Versions(versions) if versions.contains(&current) => Ok(()),
            Self::Versions(_) => Err(mismatch(current)),
        }
    }

    /// Whether the precondition holds for `current`.
    pub fn holds(&self, current: i64) -> bool {
        match self {
            Self::Absent | Self::Any => true,
            Self::Versions(versions) => versions.contains(&current),
        }
    }
}

/// The 412 for a write whose `If-Match` does not name `current`, carrying
/// the current version and its `ETag`.
pub fn mismatch(current: i64) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
        "the resource has changed since it was read; fetch it again and retry",
    )
    .with_field("currentVersion", json!(current))
    .with_header(header::ETAG, etag(current))
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(header::IF_MATCH) {
            None => Ok(Self::Absent),
            Some(value) => Self::parse(
                value
                    .to_str()
                    .map_err(|_| ApiError::bad_request("If-Match is not valid text"))?,
            ),
        }
    }
}

/// The `If-Match` request header of the conditional routes, as the OpenAPI
/// document describes it (what [`IfMatch::parse`] accepts).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// The version read, as the `ETag` of the read gave it (`"3"`), or `*`;
    /// several tags are separated by commas, weak ones (`W/"3"`) never match.
    #[param(
        rename = "If-Match",
        nullable = false,
        pattern = r#"^[ \t]*(?:\*|(?:W/[^,]*|"[+-]?[0-9]{1,18}")(?:[ \t]*,[ \t]*(?:W/[^,]*|"[+-]?[0-9]{1,18}"))*)[ \t]*$"#
    )]
    #[allow(dead_code)]
    if_match: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_version_list_and_a_star_parse() {
        assert_eq!(IfMatch::parse("\"3\"").unwrap(), IfMatch::Versions(vec![3]));
        assert_eq!(
            IfMatch::parse("\"3\", \"4\"").unwrap(),
            IfMatch::Versions(vec![3, 4])
        );
        assert_eq!(IfMatch::parse("*").unwrap(), IfMatch::Any);
    }

    #[test]
    fn an_unquoted_or_non_numeric_tag_is_a_bad_request() {
        assert_eq!(
            IfMatch::parse("3").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            IfMatch::parse("\"v3\"").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn a_weak_tag_never_matches() {
        let cond = IfMatch::parse("W/\"3\"").unwrap();
        assert_eq!(
            cond.check(3).unwrap_err().status(),
            StatusCode::PRECONDITION_FAILED
        );
    }

    #[test]
    fn a_stale_version_is_refused_with_the_current_one() {
        let err = IfMatch::Versions(vec![2]).check(3).unwrap_err();
        assert_eq!(err.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(err.code(), "version_mismatch");
        assert!(IfMatch::Versions(vec![3]).check(3).is_ok());
        assert!(IfMatch::Absent.check(9).is_ok());
    }
}
