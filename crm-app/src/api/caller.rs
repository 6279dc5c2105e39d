//! [`Caller`]: who acts on a request, and the request facts an audit entry
//! written by hand records (the entries `#[audited]` handlers get from
//! ops-kit carry the same ones).

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use axum::response::{IntoResponse, Response};
use ops_kit::audit::AuditEntry;
use ops_kit::auth::Principal;
use ops_kit::{ClientIp, RequestId};

/// The signed-in user, with the request id, client address and user agent.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The signed-in user.
    pub principal: Principal,
    request_id: String,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let request_id = RequestId::from_request_parts(parts, state)
            .await
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default();
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // The same cap as the audited handlers' entries.
        let user_agent = parts.headers.get(header::USER_AGENT).map(|ua| {
            String::from_utf8_lossy(ua.as_bytes())
                .chars()
                .take(512)
                .collect()
        });
        Ok(Self {
            principal,
            request_id,
            ip: ip.map(|ip| ip.to_string()),
            user_agent,
        })
    }
}

impl Caller {
    /// An entry for `action` on `resource_type` `resource_id`, done by this
    /// caller in its tenant, from this request; `changes` is left to the
    /// caller.
    pub fn entry(&self, action: &str, resource_type: &str, resource_id: String) -> AuditEntry {
        let mut entry = AuditEntry::new(action, resource_type, self.request_id.as_str());
        entry.tenant_id = Some(self.principal.tenant_id);
        entry.user_id = Some(self.principal.user_id);
        entry.resource_id = Some(resource_id);
        entry.ip_address = self.ip.clone();
        entry.user_agent = self.user_agent.clone();
        entry
    }
}
