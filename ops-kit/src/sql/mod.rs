//! One database handle for PostgreSQL and SQLite, and the request-scoped
//! transaction [`Tx`].
//!
//! A service that runs on PostgreSQL in production and on an embedded SQLite
//! file in development holds a [`Pool`]. Repository code takes a
//! [`Transaction`] and writes each query once, with `$1`-style placeholders
//! that both backends accept; [`on_backend!`](crate::on_backend) expands the
//! same block for whichever backend the transaction is on, so the query is
//! type-checked against both.
//!
//! Handlers get their transaction with the [`Tx`] extractor. On PostgreSQL
//! it sets the caller's tenant for Row-Level Security with
//! `set_config('app.tenant_id', …, true)`: scoped to the transaction, never
//! to the pooled connection. In an audited handler the transaction is the
//! one the audit entry is written into, and it is committed only after that
//! entry (see [`audited`](crate::audited)).
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
//! use ops_kit::sql::Pool;
//!
//! let pool = Pool::connect_lazy("sqlite::memory:").unwrap();
//! let mut tx = pool.begin().await?;
//! let one: i64 = ops_kit::on_backend!(&mut tx, conn => {
//!     sqlx::query_scalar("SELECT $1").bind(1_i64).fetch_one(&mut **conn).await?
//! });
//! assert_eq!(one, 1);
//! tx.commit().await?;
//! # Ok(()) }
//! ```

mod availability;
mod fault;
mod pool;
mod tx;

pub use self::fault::DbFault;
pub use self::pool::{Backend, Pool, PoolError, Transaction};
pub(crate) use self::tx::{Slot, TxSlot};
pub use self::tx::{Tx, TxRejection};

/// Runs the same block on whichever backend a [`Transaction`] (or
/// [`Pool`]) is on, binding the inner handle to `$conn`.
///
/// The block is compiled once per enabled backend, so a query that does not
/// type-check on one of them is a compile error, and there is still only one
/// copy of it in the source.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
/// let mut tx = pool.begin().await?;
/// ops_kit::on_backend!(&mut tx, conn => {
///     sqlx::query("CREATE TABLE notes (body TEXT)").execute(&mut **conn).await?;
///     sqlx::query("INSERT INTO notes (body) VALUES ($1)").bind("hi").execute(&mut **conn).await?;
/// });
/// tx.commit().await?;
/// # Ok(()) }
/// ```
// The arms must be chosen here, by ops-kit's features: a `cfg` inside the
// macro body would be evaluated against the calling crate's features.
#[cfg(all(feature = "postgres", feature = "sqlite"))]
#[macro_export]
macro_rules! on_backend {
    ($tx:expr, $conn:ident => $body:block) => {
        match $tx {
            $crate::sql::Transaction::Postgres($conn) => $body,
            $crate::sql::Transaction::Sqlite($conn) => $body,
        }
    };
}

/// See the documentation with both backends enabled.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ops_kit::sql::{Backend, Pool, Transaction};
///
/// async fn count_notes(tx: &mut Transaction) -> Result<i64, sqlx::Error> {
///     Ok(ops_kit::on_backend!(tx, conn => {
///         sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut **conn).await?
///     }))
/// }
/// // Connects on first use (not in this example).
/// let pool = Pool::connect_lazy("postgres://app@localhost/app").unwrap();
/// assert_eq!(pool.backend(), Backend::Postgres);
/// # let _ = count_notes;
/// # }
/// ```
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
#[macro_export]
macro_rules! on_backend {
    ($tx:expr, $conn:ident => $body:block) => {
        match $tx {
            $crate::sql::Transaction::Postgres($conn) => $body,
        }
    };
}

/// See the documentation with both backends enabled.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), sqlx::Error> {
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
/// let mut tx = pool.begin().await?;
/// let sum: i64 = ops_kit::on_backend!(&mut tx, conn => {
///     sqlx::query_scalar("SELECT $1 + $2").bind(2_i64).bind(3_i64).fetch_one(&mut **conn).await?
/// });
/// assert_eq!(sum, 5);
/// # Ok(()) }
/// ```
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
#[macro_export]
macro_rules! on_backend {
    ($tx:expr, $conn:ident => $body:block) => {
        match $tx {
            $crate::sql::Transaction::Sqlite($conn) => $body,
        }
    };
}
