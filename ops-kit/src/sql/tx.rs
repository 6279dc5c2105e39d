use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

use super::{Pool, Transaction};
use crate::ApiError;
use crate::auth::Principal;
use crate::context::RequestScope;

/// The slot an audited handler's transaction lives in, shared between the
/// [`Tx`] the handler holds and the audit step that runs after it.
#[derive(Debug, Clone, Default)]
pub(crate) struct TxSlot(pub(crate) Arc<Mutex<Slot>>);

/// What the handler did with its transaction.
#[derive(Debug, Default)]
pub(crate) enum Slot {
    /// The handler took no `Tx`.
    #[default]
    Unused,
    /// Open; the handler has not called `commit` (dropping it means "do
    /// not keep this work").
    Open(Transaction),
    /// The handler called `commit`: the audit step commits after the entry.
    Committed(Transaction),
    /// The handler rolled back.
    RolledBack,
}

/// The request's database transaction, as an axum extractor.
///
/// Taking a `Tx` costs nothing: it keeps the pool given to
/// [`App::database`](crate::App::database), the tenant of the request's
/// [`Principal`] and, in an audited request, the claim on the audit step's
/// transaction slot. The transaction begins on the first call to
/// [`transaction`](Tx::transaction), which returns it; on PostgreSQL it is
/// then scoped to the principal's tenant for Row-Level Security, for this
/// transaction only. Finish with [`commit`](Tx::commit); dropping it
/// uncommitted rolls back. A `Tx` that never began commits and rolls back
/// as a no-op.
///
/// Ordering guarantee: no connection is taken and no transaction begins
/// before the body is read and parsed, as long as the handler calls
/// `transaction()` after its body extractor ran, which is always the case
/// since axum runs every extractor before the handler's body. A malformed
/// JSON body is refused without touching the database. (The
/// [`OpsLayer`](crate::OpsLayer) also reads a request's whole body before
/// any extractor runs, so a slow client holds no pool connection either.)
///
/// In an [`audited`](crate::audited) handler, `commit` only marks the work
/// as done: the transaction commits after the audit entry has been written
/// into it, and only for a 2xx response. An audited handler that succeeds
/// without beginning its transaction has its entry recorded on its own.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::post};
/// use ops_kit::{ApiError, sql::Tx};
///
/// async fn touch(mut tx: Tx) -> Result<&'static str, ApiError> {
///     ops_kit::on_backend!(tx.transaction().await?, conn => {
///         sqlx::query("SELECT 1").execute(&mut **conn).await.map_err(ApiError::internal)?;
///     });
///     tx.commit().await.map_err(ApiError::internal)?;
///     Ok("done")
/// }
/// let routes: Router = Router::new().route("/touch", post(touch));
/// ```
#[derive(Debug)]
pub struct Tx {
    pool: Pool,
    tenant: Option<Uuid>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Not audited: `None` until begun.
    Own(Option<Transaction>),
    /// Audited: the claimed slot, [`Slot::Unused`] until begun.
    Audited(OwnedMutexGuard<Slot>),
}

impl Tx {
    /// The request's transaction, begun on the first call, to pass to
    /// functions that take a [`Transaction`].
    ///
    /// A front end calls it once it has parsed the request, and from then
    /// on works with the `&mut Transaction` it returns; later calls return
    /// the same transaction.
    ///
    /// # Errors
    ///
    /// A [`TxRejection`] when no transaction can be had (a 503 for a
    /// database out of reach).
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use ops_kit::{ApiError, sql::{Transaction, Tx}};
    ///
    /// async fn count(tx: &mut Transaction) -> Result<i64, sqlx::Error> {
    ///     Ok(ops_kit::on_backend!(tx, conn => {
    ///         sqlx::query_scalar("SELECT 1").fetch_one(&mut **conn).await?
    ///     }))
    /// }
    ///
    /// async fn touch(mut tx: Tx) -> Result<String, ApiError> {
    ///     let n = count(tx.transaction().await?).await.map_err(ApiError::database)?;
    ///     tx.commit().await.map_err(ApiError::database)?;
    ///     Ok(n.to_string())
    /// }
    /// let routes: Router = Router::new().route("/touch", post(touch));
    /// ```
    pub async fn transaction(&mut self) -> Result<&mut Transaction, TxRejection> {
        match &mut self.state {
            State::Own(slot) => {
                let tx = match slot.take() {
                    Some(tx) => tx,
                    None => begin(&self.pool, self.tenant).await?,
                };
                Ok(slot.insert(tx))
            }
            State::Audited(guard) => {
                if matches!(**guard, Slot::Unused) {
                    **guard = Slot::Open(begin(&self.pool, self.tenant).await?);
                }
                match &mut **guard {
                    Slot::Open(tx) => Ok(tx),
                    // `commit` and `rollback` consume the `Tx`: unreachable
                    // through it.
                    _ => Err(TxRejection::AlreadyTaken),
                }
            }
        }
    }

    /// Commits (or, in an audited handler, leaves the commit to the audit
    /// step). A no-op when the transaction never began.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use axum::{Router, body::Body, routing::post}; use tower::ServiceExt;
    /// use ops_kit::{ApiError, App, audit::{self, AuditEntry}, sql::Tx};
    ///
    /// async fn create(mut tx: Tx) -> Result<&'static str, ApiError> {
    ///     let entry = AuditEntry::new("note.create", "note", "req-1");
    ///     audit::insert(tx.transaction().await?, &entry).await.map_err(ApiError::internal)?;
    ///     tx.commit().await.map_err(ApiError::internal)?;
    ///     Ok("created")
    /// }
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # audit::migrate(&pool).await?;
    /// # let app = App::new("notes", "1.0.0").database(pool.clone())
    /// #     .router(Router::new().route("/notes", post(create))).into_router();
    /// let response = app.oneshot(http::Request::post("/notes").body(Body::empty())?).await?;
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(audit::verify(&pool, None).await?.entries, 1);
    /// # Ok(()) }
    /// ```
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.state {
            State::Own(Some(tx)) => tx.commit().await,
            State::Own(None) => Ok(()),
            State::Audited(mut guard) => {
                if let Slot::Open(tx) = std::mem::take(&mut *guard) {
                    *guard = Slot::Committed(tx);
                }
                Ok(())
            }
        }
    }

    /// Rolls back now. A no-op when the transaction never began (in an
    /// audited handler, nothing is recorded either way).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use axum::{Router, body::Body, routing::post}; use tower::ServiceExt;
    /// use ops_kit::{ApiError, App, audit::{self, AuditEntry}, sql::Tx};
    ///
    /// async fn create(mut tx: Tx) -> Result<&'static str, ApiError> {
    ///     let entry = AuditEntry::new("note.create", "note", "req-1");
    ///     audit::insert(tx.transaction().await?, &entry).await.map_err(ApiError::internal)?;
    ///     tx.rollback().await.map_err(ApiError::internal)?;
    ///     Err(ApiError::bad_request("the note is empty"))
    /// }
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # audit::migrate(&pool).await?;
    /// # let app = App::new("notes", "1.0.0").database(pool.clone())
    /// #     .router(Router::new().route("/notes", post(create))).into_router();
    /// let response = app.oneshot(http::Request::post("/notes").body(Body::empty())?).await?;
    /// assert_eq!(response.status(), 400);
    /// assert_eq!(audit::verify(&pool, None).await?.entries, 0);
    /// # Ok(()) }
    /// ```
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.state {
            State::Own(Some(tx)) => tx.rollback().await,
            State::Own(None) => Ok(()),
            State::Audited(mut guard) => match std::mem::replace(&mut *guard, Slot::RolledBack) {
                Slot::Open(tx) | Slot::Committed(tx) => tx.rollback().await,
                Slot::Unused | Slot::RolledBack => Ok(()),
            },
        }
    }
}

/// Begins a transaction, scoped to `tenant` when there is one.
async fn begin(pool: &Pool, tenant: Option<Uuid>) -> Result<Transaction, TxRejection> {
    match tenant {
        Some(tenant) => pool.begin_for_tenant(tenant).await,
        None => pool.begin().await,
    }
    .map_err(TxRejection::Unavailable)
}

/// Why a [`Tx`] could not be had.
///
/// # Example
///
/// ```
/// use axum::response::IntoResponse;
/// let response = ops_kit::sql::TxRejection::NoDatabase.into_response();
/// assert_eq!(response.status(), 500);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxRejection {
    /// The app was built without [`App::database`](crate::App::database).
    #[error("the Tx extractor needs App::database")]
    NoDatabase,
    /// No transaction could be begun: no connection in time, or the
    /// connection was lost (a 503; see [`ApiError::database`]).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A handler asked for two transactions in one audited request.
    #[error("only one Tx per audited request")]
    AlreadyTaken,
}

impl IntoResponse for TxRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl From<TxRejection> for ApiError {
    fn from(rejection: TxRejection) -> Self {
        match rejection {
            TxRejection::Unavailable(err) => ApiError::database(err),
            other => ApiError::internal(other),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tx {
    type Rejection = TxRejection;

    /// Cheap: nothing is begun here (see [`Tx::transaction`]).
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pool = RequestScope::of(&parts.extensions)
            .and_then(|s| s.services.pool.clone())
            .ok_or(TxRejection::NoDatabase)?;
        let tenant = parts.extensions.get::<Principal>().map(|p| p.tenant_id);
        // In an audited request, claim the slot now, so that a second `Tx`
        // is refused at extraction.
        let state = match parts.extensions.get::<TxSlot>() {
            Some(slot) => {
                let guard = slot
                    .0
                    .clone()
                    .try_lock_owned()
                    .map_err(|_| TxRejection::AlreadyTaken)?;
                if !matches!(*guard, Slot::Unused) {
                    return Err(TxRejection::AlreadyTaken);
                }
                State::Audited(guard)
            }
            None => State::Own(None),
        };
        Ok(Tx {
            pool,
            tenant,
            state,
        })
    }
}
