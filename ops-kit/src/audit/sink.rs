use std::future::Future;
use std::pin::Pin;

use super::AuditEntry;
use crate::sql::Transaction;

/// A boxed future, as sinks return.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ops_kit::audit::{AuditError, SinkFuture};
///
/// let ok: SinkFuture<'static> = Box::pin(async { Ok(()) });
/// let full: SinkFuture<'static> = Box::pin(async { Err(AuditError::Sink("queue full".into())) });
/// assert!(ok.await.is_ok());
/// assert_eq!(full.await.unwrap_err().to_string(), "the audit sink failed: queue full");
/// # }
/// ```
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send + 'a>>;

/// Why an audit entry could not be recorded. The request that made the
/// change then fails (a 503 when the database went away, a 500 otherwise)
/// and its transaction rolls back.
///
/// # Example
///
/// ```
/// let err = ops_kit::audit::AuditError::Sink("disk full".into());
/// assert_eq!(err.to_string(), "the audit sink failed: disk full");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The database refused the entry.
    #[error("the audit entry could not be written: {0}")]
    Database(#[from] sqlx::Error),
    /// Another kind of sink failed.
    #[error("the audit sink failed: {0}")]
    Sink(String),
}

/// The envelope for an entry that could not be recorded: when the
/// database went away under the request (see
/// [`DbFault`](crate::sql::DbFault)), the 503 of
/// [`ApiError::database`](crate::ApiError::database), which the client may
/// retry; otherwise a 500 whose cause is logged.
///
/// # Example
///
/// ```
/// use ops_kit::{ApiError, audit::AuditError};
///
/// let lost = AuditError::Database(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
/// assert_eq!(ApiError::from(lost).status(), 503);
/// assert_eq!(ApiError::from(AuditError::Sink("queue full".into())).status(), 500);
/// ```
impl From<AuditError> for crate::ApiError {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Database(err) if crate::sql::DbFault::of(&err).is_transient() => {
                crate::ApiError::database(err)
            }
            err => crate::ApiError::internal_message("the audit entry could not be recorded")
                .with_source(err),
        }
    }
}

/// Where audit entries go.
///
/// `record` gets the request's transaction when the handler used one
/// ([`Tx`](crate::sql::Tx)); a sink that stores entries in the same database
/// writes into it, and the entry then commits or rolls back together with
/// the change. The caller commits after `record` returns `Ok`.
///
/// Ready-made sinks: [`SqlSink`](super::SqlSink) (the `audit_logs` table on
/// PostgreSQL or SQLite, hash-chained) and [`TracingSink`] (one `[AUDIT]`
/// log line, for services without a database).
///
/// # Example
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use ops_kit::audit::{AuditEntry, AuditSink, SinkFuture};
/// use ops_kit::sql::Transaction;
///
/// /// Keeps entries in memory (handy in tests).
/// #[derive(Default, Clone)]
/// struct Memory(Arc<Mutex<Vec<AuditEntry>>>);
///
/// impl AuditSink for Memory {
///     fn record<'a>(&'a self, entry: &'a AuditEntry, _tx: Option<&'a mut Transaction>) -> SinkFuture<'a> {
///         Box::pin(async move {
///             self.0.lock().unwrap().push(entry.clone());
///             Ok(())
///         })
///     }
/// }
///
/// let app = ops_kit::App::new("svc", "1.0.0").audit_sink(Memory::default());
/// # let _ = app;
/// ```
pub trait AuditSink: Send + Sync + 'static {
    /// Records one entry, inside `tx` when given.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use ops_kit::audit::{self, AuditEntry, AuditSink, SqlSink};
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # audit::migrate(&pool).await?;
    /// let sink = SqlSink::new(pool.clone());
    /// let mut tx = pool.begin().await?;
    /// sink.record(&AuditEntry::new("lead.upsert", "lead", "req-1"), Some(&mut tx)).await?;
    /// tx.rollback().await?; // the entry goes with the change
    /// sink.record(&AuditEntry::new("lead.upsert", "lead", "req-2"), None).await?;
    /// assert_eq!(audit::verify(&pool, None).await?.entries, 1);
    /// # Ok(()) }
    /// ```
    fn record<'a>(
        &'a self,
        entry: &'a AuditEntry,
        tx: Option<&'a mut Transaction>,
    ) -> SinkFuture<'a>;
}

/// Writes each entry as one `[AUDIT]` log line (target `ops_kit::audit`).
///
/// For services without a database: the line is written after the
/// response is known, so it says what happened, but it is not transactional.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ops_kit::audit::{AuditEntry, AuditSink, TracingSink};
///
/// // One log line per entry; it has no transaction to join and never fails.
/// let entry = AuditEntry::new("lead.upsert", "lead", "req-1");
/// assert!(TracingSink.record(&entry, None).await.is_ok());
/// let app = ops_kit::App::new("svc", "1.0.0").audit_sink(TracingSink);
/// # let _ = app;
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn record<'a>(
        &'a self,
        entry: &'a AuditEntry,
        _tx: Option<&'a mut Transaction>,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            let changes = entry
                .changes
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "null".into());
            tracing::info!(
                target: "ops_kit::audit",
                auditId = %entry.id,
                action = %entry.action,
                resourceType = %entry.resource_type,
                resourceId = entry.resource_id.as_deref().unwrap_or(""),
                tenantId = %OptionDisplay(entry.tenant_id),
                userId = %OptionDisplay(entry.user_id),
                ipAddress = entry.ip_address.as_deref().unwrap_or(""),
                userAgent = entry.user_agent.as_deref().unwrap_or(""),
                requestId = %entry.request_id,
                changes = %changes,
                "[AUDIT]"
            );
            Ok(())
        })
    }
}

struct OptionDisplay(Option<uuid::Uuid>);

impl std::fmt::Display for OptionDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(id) => write!(f, "{id}"),
            None => f.write_str("null"),
        }
    }
}
