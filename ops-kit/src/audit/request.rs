//! The runtime half of `#[audited]`: what the generated handler extracts,
//! and the step that records the entry after the handler's body.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::changes::AuditChanges;
use super::context::AuditContext;
use super::redact::{cap_size, redact};
use crate::ApiError;
use crate::sql::{DbFault, Slot, TxSlot};

/// Where the resource id of an entry comes from.
#[derive(Debug, Clone, Copy)]
pub enum ResourceIdSpec {
    /// A top-level field of the JSON response body.
    Body(&'static str),
    /// A path parameter.
    Path(&'static str),
    /// None.
    None,
}

/// The attribute's arguments, as the generated code passes them.
#[derive(Debug)]
pub struct AuditSpec {
    /// `<entity>.<verb>`.
    pub action: &'static str,
    /// The resource type.
    pub resource_type: &'static str,
    /// Where the resource id comes from.
    pub resource_id: ResourceIdSpec,
    /// Extra field names to redact.
    pub redact: &'static [&'static str],
}

/// Everything about the request an audit entry needs, captured before the
/// handler runs (cheap handles only: no header is copied here), and the
/// slot of the handler's transaction.
#[derive(Debug)]
pub struct AuditRequest {
    slot: TxSlot,
    facts: AuditContext,
}

impl<S: Send + Sync> FromRequestParts<S> for AuditRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let slot = TxSlot::default();
        parts.extensions.insert(slot.clone());
        Ok(Self {
            slot,
            facts: AuditContext::capture(parts),
        })
    }
}

/// A `Json<T>` that also keeps the raw body for the audit entry. The body is
/// read once into `Bytes`; keeping it costs no copy.
pub struct AuditJson<T> {
    /// The parsed body, as the handler asked for it.
    pub json: Json<T>,
    /// The body as received.
    pub raw: Bytes,
}

impl<T> std::fmt::Debug for AuditJson<T> {
    // The raw body is unredacted: only its size is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditJson")
            .field("raw_bytes", &self.raw.len())
            .finish_non_exhaustive()
    }
}

impl<T, S> FromRequest<S> for AuditJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected request with `Content-Type: application/json`",
            )
            .into_response());
        }
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let json = Json::<T>::from_bytes(&raw).map_err(IntoResponse::into_response)?;
        Ok(Self { json, raw })
    }
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
        })
}

/// The route's path parameters, for `resource_id = path("…")`.
#[derive(Debug)]
pub struct AuditPathParams(RawPathParams);

impl<S: Send + Sync> FromRequestParts<S> for AuditPathParams {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        RawPathParams::from_request_parts(parts, state)
            .await
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

impl AuditPathParams {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    }
}

impl AuditRequest {
    /// Records the entry for a 2xx response inside the handler's
    /// transaction and commits it; rolls back and records nothing
    /// otherwise. A failure to record turns the response into a 500, or a
    /// 503 when the database is unavailable or busy (see
    /// [`ApiError::database`]).
    pub async fn finish<R: IntoResponse>(
        self,
        result: R,
        body: Option<Bytes>,
        path: Option<AuditPathParams>,
        spec: &'static AuditSpec,
    ) -> Response {
        let mut response = result.into_response();
        let handler_changes = response.extensions_mut().remove::<AuditChanges>();
        // The handler's body has ended, and with it its `Tx` (the macro
        // moves every argument into the body). A guard still held means the
        // transaction escaped the handler (a spawned task, a streaming
        // body): refuse rather than wait for it.
        let slot = match self.slot.0.try_lock() {
            Ok(mut slot) => std::mem::take(&mut *slot),
            Err(_) => {
                return ApiError::internal_message(
                    "the request's Tx outlived the audited handler; nothing was recorded",
                )
                .into_response();
            }
        };
        let tx = match slot {
            Slot::Committed(tx) if response.status().is_success() => Some(tx),
            // Not committed by the handler, or not a success: the work is
            // undone and nothing is recorded.
            Slot::Committed(tx) | Slot::Open(tx) => {
                let _ = tx.rollback().await;
                return response;
            }
            Slot::RolledBack => return response,
            Slot::Unused if response.status().is_success() => None,
            Slot::Unused => return response,
        };
        let services = self.facts.services();

        let (parts, response_body) = response.into_parts();
        let (resource_id, response_body) = match spec.resource_id {
            ResourceIdSpec::Path(name) => (
                path.and_then(|p| p.get(name))
                    .map(|id| clean_text(&id, MAX_RESOURCE_ID)),
                response_body,
            ),
            ResourceIdSpec::None => (None, response_body),
            ResourceIdSpec::Body(field) => {
                match axum::body::to_bytes(response_body, usize::MAX).await {
                    Ok(bytes) => (
                        id_field(&bytes, field).map(|id| clean_text(&id, MAX_RESOURCE_ID)),
                        Body::from(bytes),
                    ),
                    Err(err) => {
                        if let Some(tx) = tx {
                            let _ = tx.rollback().await;
                        }
                        return ApiError::internal_message("the response body could not be read")
                            .with_source(err)
                            .into_response();
                    }
                }
            }
        };

        let mut entry = self
            .facts
            .base_entry(spec.action.to_owned(), spec.resource_type.to_owned());
        entry.resource_id = resource_id;
        entry.changes = match handler_changes {
            Some(AuditChanges(mut value)) => {
                redact(&mut value, spec.redact);
                Some(cap_size(value, services.max_changes_bytes))
            }
            None => body.and_then(|raw| changes_of(&raw, spec.redact, services.max_changes_bytes)),
        };

        let mut tx = tx;
        if let Err(err) = services.audit_sink.record(&entry, tx.as_mut()).await {
            services.metrics.record_audit(false);
            if let Some(tx) = tx {
                let _ = tx.rollback().await;
            }
            tracing::error!(target: "ops_kit::audit", action = spec.action, error = %err, "[AUDIT ERROR] the entry could not be recorded; the change was rolled back");
            return ApiError::from(err).into_response();
        }
        if let Some(tx) = tx
            && let Err(err) = tx.commit().await
        {
            services.metrics.record_audit(false);
            return match DbFault::of(&err) {
                DbFault::Other => {
                    ApiError::internal_message("the change could not be committed").with_source(err)
                }
                _ => ApiError::database_commit(err),
            }
            .into_response();
        }
        services.metrics.record_audit(true);
        Response::from_parts(parts, response_body)
    }
}

/// The longest resource id stored, in characters.
const MAX_RESOURCE_ID: usize = 200;

/// The `changes` to store: the JSON body, redacted and capped; `None` for
/// an empty body. A body the handler accepted but that does not parse as a
/// plain JSON value (a number out of range, a lone surrogate) is recorded
/// as a marker, never silently as nothing.
fn changes_of(raw: &[u8], extra: &[&str], max_bytes: usize) -> Option<Value> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(mut value) => {
            redact(&mut value, extra);
            Some(cap_size(value, max_bytes))
        }
        Err(_) => Some(serde_json::json!({ "_unparseable": true, "_originalBytes": raw.len() })),
    }
}

/// Text as stored: NULs (which PostgreSQL refuses) replaced, length capped.
pub(crate) fn clean_text(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if c == '\0' { '\u{fffd}' } else { c })
        .collect()
}

/// An address as proxies write it: `203.0.113.7`, `203.0.113.7:5123`,
/// `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

fn id_field(bytes: &[u8], field: &str) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    match value.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every `X-Forwarded-For` line, joined in order: some proxies append a
/// line of their own instead of extending the first.
pub(crate) fn forwarded_for(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let mut lines = headers.get_all("x-forwarded-for").iter();
    let first = lines.next()?;
    let mut joined = first.as_bytes().to_vec();
    for line in lines {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(line.as_bytes());
    }
    HeaderValue::from_bytes(&joined).ok()
}

/// The client's address: the peer's, or, behind `hops` trusted proxies
/// that each append to `X-Forwarded-For`, the address the outermost
/// trusted proxy saw. With `hops = 0` the header is ignored: any client can
/// write it.
pub(crate) fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&HeaderValue>,
    hops: usize,
) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let header = forwarded_for.and_then(|v| v.to_str().ok());
    let Some(header) = header else { return peer };
    let hops_seen: Vec<&str> = header.split(',').map(str::trim).collect();
    // The last `hops` entries were appended by our proxies; the first of
    // them is the address of whoever connected to the outermost proxy.
    hops_seen
        .len()
        .checked_sub(hops)
        .and_then(|i| hops_seen.get(i))
        .and_then(|s| parse_address(s))
        .or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ignores_x_forwarded_for_unless_proxies_are_trusted() {
        let header = HeaderValue::from_static("6.6.6.6");
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some(&header), 0),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn takes_the_address_seen_by_the_outermost_trusted_proxy() {
        // A client forged the first entry; our one proxy appended the real one.
        let header = HeaderValue::from_static("6.6.6.6, 203.0.113.7");
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some(&header), 1),
            Some(ip("203.0.113.7"))
        );
        let header = HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.0.0.9");
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some(&header), 2),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn reads_every_forwarded_for_line_and_addresses_with_ports() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::7]:443"),
        );
        let joined = forwarded_for(&headers).unwrap();
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some(&joined), 1),
            Some(ip("2001:db8::7"))
        );
        let with_port = HeaderValue::from_static("203.0.113.7:5123");
        assert_eq!(
            client_ip(None, Some(&with_port), 1),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn falls_back_to_the_peer_when_the_header_is_short_or_garbage() {
        let header = HeaderValue::from_static("not-an-ip");
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some(&header), 1),
            Some(ip("10.0.0.2"))
        );
        let header = HeaderValue::from_static("203.0.113.7");
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some(&header), 2),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn takes_a_numeric_or_string_id_from_the_response() {
        assert_eq!(
            id_field(br#"{"id":"abc","x":1}"#, "id").as_deref(),
            Some("abc")
        );
        assert_eq!(id_field(br#"{"id":42}"#, "id").as_deref(), Some("42"));
        assert_eq!(id_field(br#"{"id":null}"#, "id"), None);
        assert_eq!(id_field(b"not json", "id"), None);
    }

    #[test]
    fn caps_text_by_characters_and_replaces_nuls() {
        assert_eq!(clean_text("ééé", 2), "éé");
        assert_eq!(clean_text("a\0b", 10), "a\u{fffd}b");
    }

    #[test]
    fn records_a_marker_for_a_body_that_is_not_a_plain_json_value() {
        let changes = changes_of(br#"{"x": 1e999}"#, &[], 1024).unwrap();
        assert_eq!(changes["_unparseable"], true);
        assert_eq!(changes_of(b"  ", &[], 1024), None);
    }
}
