//! [`AuditContext`]: the request's audit facts, for entries written by code
//! other than an [`audited`](crate::audited) handler, and [`record`], which
//! sends such an entry through the app's sink.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderValue, header};

use super::entry::AuditEntry;
use super::request::{clean_text, client_ip, forwarded_for};
use super::sink::AuditError;
use crate::RequestId;
use crate::auth::Principal;
use crate::context::{RequestScope, Services};
use crate::sql::Transaction;

/// Everything about a request an audit entry records: the request id, the
/// [`Principal`], the client's address (behind
/// [`App::trusted_proxy_hops`](crate::App::trusted_proxy_hops) trusted proxies, the address the
/// outermost one saw) and the user agent, as an axum extractor.
///
/// `#[audited]` handlers get their entries from the same facts. Capturing
/// is cheap (handles only: nothing is formatted until
/// [`entry`](Self::entry)) and never rejects.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use axum::{Router, body::Body, routing::post}; use tower::ServiceExt;
/// use ops_kit::{ApiError, App, audit::{self, AuditContext}, sql::Tx};
///
/// async fn archive(audit_facts: AuditContext, mut tx: Tx) -> Result<&'static str, ApiError> {
///     let entry = audit_facts.entry("note.archive", "note", "n-1".to_owned());
///     audit::record(tx.transaction().await?, &entry).await?;
///     tx.commit().await.map_err(ApiError::database_commit)?;
///     Ok("archived")
/// }
/// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// # audit::migrate(&pool).await?;
/// let app = App::new("notes", "1.0.0")
///     .database(pool.clone())
///     .audit_sink(audit::SqlSink::new(pool.clone()))
///     .router(Router::new().route("/archive", post(archive)))
///     .into_router();
/// let request = http::Request::post("/archive").header("user-agent", "tablet/2").body(Body::empty())?;
/// assert_eq!(app.oneshot(request).await?.status(), 200);
/// let mut tx = pool.begin().await?;
/// let records = audit::list(&mut tx, &audit::AuditQuery::default()).await?;
/// assert_eq!(records[0].entry.action, "note.archive");
/// assert_eq!(records[0].entry.user_agent.as_deref(), Some("tablet/2"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AuditContext {
    services: Option<Arc<Services>>,
    principal: Option<Principal>,
    peer: Option<IpAddr>,
    forwarded_for: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    request_id: Option<RequestId>,
}

impl<S: Send + Sync> FromRequestParts<S> for AuditContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::capture(parts))
    }
}

impl AuditContext {
    pub(crate) fn capture(parts: &Parts) -> Self {
        let scope = RequestScope::of(&parts.extensions);
        Self {
            services: scope.map(|s| s.services.clone()),
            principal: parts.extensions.get::<Principal>().cloned(),
            peer: RequestScope::peer_ip(&parts.extensions),
            forwarded_for: forwarded_for(&parts.headers),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
            request_id: scope.map(|s| s.request_id.clone()),
        }
    }

    /// The request's signed-in user, if any.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use axum::extract::FromRequestParts;
    /// use ops_kit::audit::AuditContext;
    ///
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// let facts = AuditContext::from_request_parts(&mut parts, &()).await.unwrap();
    /// assert!(facts.principal().is_none());
    /// # }
    /// ```
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// An entry for `action` on `resource_type` `resource_id`, by this
    /// request's principal (in its tenant), from this request's client;
    /// `changes` is left to the caller.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use axum::extract::FromRequestParts;
    /// use ops_kit::audit::AuditContext;
    ///
    /// let request = http::Request::builder().header("user-agent", "tablet/2").body(()).unwrap();
    /// let (mut parts, ()) = request.into_parts();
    /// let facts = AuditContext::from_request_parts(&mut parts, &()).await.unwrap();
    /// let entry = facts.entry("lead.delete", "lead", "L-1".to_owned());
    /// assert_eq!(entry.resource_id.as_deref(), Some("L-1"));
    /// assert_eq!(entry.user_agent.as_deref(), Some("tablet/2"));
    /// assert!(entry.tenant_id.is_none()); // no principal on this request
    /// # }
    /// ```
    pub fn entry(
        &self,
        action: impl Into<String>,
        resource_type: impl Into<String>,
        resource_id: impl Into<Option<String>>,
    ) -> AuditEntry {
        let mut entry = self.base_entry(action.into(), resource_type.into());
        entry.resource_id = resource_id.into();
        entry
    }

    /// The entry without a resource id, for [`entry`](Self::entry) and
    /// the `#[audited]` step.
    pub(crate) fn base_entry(&self, action: String, resource_type: String) -> AuditEntry {
        let services = self.services();
        let mut entry = AuditEntry::new(
            action,
            resource_type,
            self.request_id
                .as_ref()
                .map(RequestId::as_str)
                .unwrap_or_default(),
        );
        entry.tenant_id = self.principal.as_ref().map(|p| p.tenant_id);
        entry.user_id = self.principal.as_ref().map(|p| p.user_id);
        entry.ip_address = client_ip(self.peer, self.forwarded_for.as_ref(), services.proxy_hops)
            .map(|ip| ip.to_string());
        entry.user_agent = self.user_agent.as_ref().map(|ua| {
            clean_text(
                &String::from_utf8_lossy(ua.as_bytes()),
                services.max_user_agent_chars,
            )
        });
        entry
    }

    /// Records `entry` inside `tx` through the sink of the app this
    /// context was captured in, as [`record`] does during the request,
    /// and after it too: a background job the request started (an import
    /// working through its rows, say) keeps its facts and its sink. Outside
    /// an ops-kit app the entry is written with [`insert`](super::insert).
    ///
    /// # Errors
    ///
    /// The sink's [`AuditError`]; the caller should roll back.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axum::extract::FromRequestParts;
    /// use ops_kit::audit::{self, AuditContext};
    ///
    /// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// audit::migrate(&pool).await?;
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// let facts = AuditContext::from_request_parts(&mut parts, &()).await.unwrap();
    /// let job = tokio::spawn(async move {
    ///     let mut tx = pool.begin().await?;
    ///     facts.record(&mut tx, &facts.entry("lead.upsert", "lead", "L-1".to_owned())).await?;
    ///     tx.commit().await?;
    ///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(audit::verify(&pool, None).await?.entries)
    /// });
    /// assert_eq!(job.await?.unwrap(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn record(&self, tx: &mut Transaction, entry: &AuditEntry) -> Result<(), AuditError> {
        let Some(services) = self.services.clone() else {
            return super::insert(tx, entry).await;
        };
        let result = services.audit_sink.record(entry, Some(tx)).await;
        services.metrics.record_audit(result.is_ok());
        result
    }

    /// The app's services, or the defaults outside an ops-kit app.
    pub(crate) fn services(&self) -> Arc<Services> {
        self.services.clone().unwrap_or_default()
    }
}

/// Records `entry` inside `tx` through the app's
/// [`AuditSink`](super::AuditSink), as an `#[audited]` handler's entry is,
/// and counts it in the audit metrics. Commit `tx` after it returns `Ok`.
///
/// The sink is the one of the request being served. Outside any request
/// (a command-line job, a test calling domain code directly) the entry is
/// written into `tx` with [`insert`](super::insert), as the
/// [`SqlSink`](super::SqlSink) would.
///
/// # Errors
///
/// The sink's [`AuditError`]; the caller should roll back (dropping `tx`
/// does).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ops_kit::audit::{self, AuditEntry};
///
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// audit::migrate(&pool).await?;
/// let mut tx = pool.begin().await?;
/// audit::record(&mut tx, &AuditEntry::new("lead.delete", "lead", "req-1")).await?;
/// tx.commit().await?;
/// assert_eq!(audit::verify(&pool, None).await?.entries, 1);
/// # Ok(()) }
/// ```
pub async fn record(tx: &mut Transaction, entry: &AuditEntry) -> Result<(), AuditError> {
    let Some(services) = RequestScope::with_current(|scope| scope.services.clone()) else {
        return super::insert(tx, entry).await;
    };
    let result = services.audit_sink.record(entry, Some(tx)).await;
    services.metrics.record_audit(result.is_ok());
    result
}
