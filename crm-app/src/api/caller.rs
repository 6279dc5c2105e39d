//! [`Caller`]: who acts on a request, and the request facts an audit entry
//! written by hand records (ops-kit's [`AuditContext`], the same facts the
//! entries of `#[audited]` handlers carry).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ops_kit::audit::{AuditContext, AuditEntry};
use ops_kit::auth::Principal;

/// The signed-in user, with the request's audit facts (request id, client
/// address, user agent).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The signed-in user.
    pub principal: Principal,
    facts: AuditContext,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(facts) = AuditContext::from_request_parts(parts, state).await;
        Ok(Self { principal, facts })
    }
}

impl Caller {
    /// An entry for `action` on `resource_type` `resource_id`, done by this
    /// caller in its tenant, from this request; `changes` is left to the
    /// caller.
    pub fn entry(&self, action: &str, resource_type: &str, resource_id: String) -> AuditEntry {
        self.facts.entry(action, resource_type, resource_id)
    }
}
