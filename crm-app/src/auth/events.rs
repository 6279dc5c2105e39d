//! The audit entries of signing in and out: `auth.login`,
//! `auth.login_failed`, `auth.refresh_reuse` and `auth.logout`.
//!
//! They carry the same fields as the CRM's entries (tenant, user, client
//! address, user agent, request id) and never a password or a token. A
//! successful sign-in, a detected reuse and a sign-out are written in the
//! transaction that makes their change; a failed sign-in changes nothing
//! and answers 401, so its entry is written in a transaction of its own,
//! one per tenant whose account was tried (or one without a tenant when
//! the email has no account).

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use ops_kit::audit::{self, AuditEntry};
use ops_kit::sql::{Pool, Transaction};
use ops_kit::{ApiError, ClientIp, RequestId};
use serde_json::json;
use uuid::Uuid;

/// Where a request comes from: what an entry needs when there is no
/// caller yet.
#[derive(Debug, Clone)]
pub struct Origin {
    request_id: String,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = RequestId::from_request_parts(parts, state)
            .await
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default();
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        // Capped as the `#[audited]` entries cap it.
        let user_agent = parts.headers.get(header::USER_AGENT).map(|ua| {
            String::from_utf8_lossy(ua.as_bytes())
                .chars()
                .take(512)
                .collect()
        });
        Ok(Self {
            request_id,
            ip,
            user_agent,
        })
    }
}

impl Origin {
    /// The client's address.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    fn entry(&self, action: &str, resource_type: &str, tenant: Option<Uuid>) -> AuditEntry {
        let mut entry = AuditEntry::new(action, resource_type, self.request_id.as_str());
        entry.tenant_id = tenant;
        entry.ip_address = self.ip.map(|ip| ip.to_string());
        entry.user_agent = self.user_agent.clone();
        entry
    }
}

/// What happened to a login (a session: the tokens of one sign-in, its
/// `family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// `auth.login`: the user signed in, opening the family.
    Login,
    /// `auth.refresh_reuse`: a refresh token of the family came back after
    /// it was exchanged, and every token of the login was revoked.
    RefreshReuse,
    /// `auth.logout`: the user ended the family.
    Logout,
}

impl SessionEvent {
    /// The entry's action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Login => "auth.login",
            Self::RefreshReuse => "auth.refresh_reuse",
            Self::Logout => "auth.logout",
        }
    }
}

/// Writes the entry of `event` on the login `family` of `user` of
/// `tenant` into `tx`, the transaction that makes its change.
pub async fn session(
    tx: &mut Transaction,
    origin: &Origin,
    event: SessionEvent,
    tenant: Uuid,
    user: Uuid,
    family: Uuid,
) -> Result<(), ApiError> {
    let mut entry = origin.entry(event.action(), "session", Some(tenant));
    entry.user_id = Some(user);
    entry.resource_id = Some(family.to_string());
    audit::record(tx, &entry).await.map_err(ApiError::from)
}

/// `auth.login_failed`, in a transaction of its own: for the account `user`
/// of `tenant` that was tried (the email is recorded, as the tenant knows
/// it), or without a tenant when there is no such account (then nothing
/// the client typed is recorded: a password typed into the email field
/// must not end up in the trail). An entry that cannot be written is
/// logged; the client still gets its 401.
pub async fn login_failed(pool: &Pool, origin: &Origin, account: Option<(Uuid, Uuid, &str)>) {
    let tenant = account.map(|(tenant, _, _)| tenant);
    let mut entry = origin.entry("auth.login_failed", "user", tenant);
    entry.changes = Some(match account {
        Some((_, user, email)) => {
            entry.resource_id = Some(user.to_string());
            json!({ "email": email, "reason": "wrong_password" })
        }
        None => json!({ "reason": "unknown_account" }),
    });
    let written = async {
        let mut tx = match tenant {
            Some(tenant) => pool.begin_for_tenant(tenant).await?,
            None => pool.begin().await?,
        };
        audit::record(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok::<(), audit::AuditError>(())
    };
    if let Err(err) = written.await {
        tracing::error!(error = %err, requestId = %origin.request_id, "a failed sign-in could not be audited");
    }
}
