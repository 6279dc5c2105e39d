//! What a database error means for the request that met it: the database
//! is out of reach (or the connection to it was lost), it is busy for a
//! moment, or the request itself is at fault.
//!
//! Every place where a database error becomes a response asks
//! [`DbFault::of`]: the [`Tx`](super::Tx) extractor, the audit step, and the
//! services' own mapping through [`ApiError::database`](crate::ApiError::database)
//! and [`ApiError::database_commit`](crate::ApiError::database_commit). One
//! list, so that a connection killed under a request is a 503 wherever it
//! surfaces, never a 500.

/// The kind of a database error, as the client should hear it.
///
/// # Example
///
/// ```
/// use ops_kit::sql::DbFault;
///
/// assert_eq!(DbFault::of(&sqlx::Error::PoolTimedOut), DbFault::Unavailable);
/// assert_eq!(DbFault::of(&sqlx::Error::RowNotFound), DbFault::Other);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbFault {
    /// The database cannot be reached or the connection to it was lost: no
    /// connection in time, the pool closed, an I/O or protocol failure, or
    /// the server ending the session (PostgreSQL classes 08, 53, 58,
    /// `57P01`–`57P03`, a read-only standby after a failover; SQLite I/O,
    /// open, full-disk and read-only errors).
    Unavailable,
    /// The database is there but refused for a moment: a lock it could not
    /// take, a serialization failure or deadlock, a statement cancelled by
    /// its timeout (PostgreSQL `40001`, `40P01`, `55P03`, `57014`; SQLite
    /// `SQLITE_BUSY`, `SQLITE_LOCKED`).
    Busy,
    /// Anything else: a broken constraint, a bad query, a decoding failure.
    Other,
}

impl DbFault {
    /// Classifies `err`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use ops_kit::sql::{DbFault, Pool};
    ///
    /// let lost = sqlx::Error::Io(std::io::ErrorKind::BrokenPipe.into());
    /// assert_eq!(DbFault::of(&lost), DbFault::Unavailable);
    ///
    /// let pool = Pool::connect_lazy("sqlite::memory:").unwrap();
    /// pool.close().await;
    /// assert_eq!(DbFault::of(&pool.begin().await.unwrap_err()), DbFault::Unavailable);
    /// # }
    /// ```
    pub fn of(err: &sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => DbFault::Unavailable,
            sqlx::Error::Database(db) => of_database(db.as_ref()),
            _ => DbFault::Other,
        }
    }

    /// Whether the client may simply try again later (the request was not
    /// at fault).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::sql::DbFault;
    ///
    /// assert!(DbFault::Busy.is_transient());
    /// assert!(!DbFault::Other.is_transient());
    /// ```
    pub fn is_transient(self) -> bool {
        matches!(self, DbFault::Unavailable | DbFault::Busy)
    }

    /// Whether `err` leaves it unknown if a `COMMIT` took effect: the
    /// connection broke while the `COMMIT` was on its way or its answer
    /// was. An error the server answered with (a serialization failure at
    /// commit, the session terminated) means it did not commit.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::sql::DbFault;
    ///
    /// let lost = sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
    /// assert!(DbFault::commit_outcome_unknown(&lost));
    /// assert!(!DbFault::commit_outcome_unknown(&sqlx::Error::PoolClosed));
    /// ```
    pub fn commit_outcome_unknown(err: &sqlx::Error) -> bool {
        matches!(
            err,
            sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
        )
    }
}

fn of_database(err: &dyn sqlx::error::DatabaseError) -> DbFault {
    #[cfg(feature = "sqlite")]
    if err
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return err
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map_or(DbFault::Other, of_sqlite);
    }
    match err.code() {
        Some(code) => of_sqlstate(&code),
        None => DbFault::Other,
    }
}

/// PostgreSQL's SQLSTATE codes (Appendix A of its manual).
fn of_sqlstate(code: &str) -> DbFault {
    match code {
        // Serialization failure, deadlock, lock not available, statement
        // cancelled (statement_timeout or an operator's cancel).
        "40001" | "40P01" | "55P03" | "57014" => DbFault::Busy,
        // Admin shutdown (pg_terminate_backend), crash shutdown, cannot
        // connect now (starting up or shutting down), idle session timeout,
        // a write on a standby that is now read-only after a failover.
        "57P01" | "57P02" | "57P03" | "57P05" | "25006" => DbFault::Unavailable,
        // Connection exceptions, insufficient resources (too many
        // connections, disk full, out of memory), system errors.
        _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("58") => {
            DbFault::Unavailable
        }
        _ => DbFault::Other,
    }
}

/// SQLite's result codes; the low byte of an extended code is its primary
/// code (<https://sqlite.org/rescode.html>).
#[cfg(feature = "sqlite")]
fn of_sqlite(code: i32) -> DbFault {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const NOMEM: i32 = 7;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const CORRUPT: i32 = 11;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    const PROTOCOL: i32 = 15;
    const NOTADB: i32 = 26;
    match code & 0xff {
        BUSY | LOCKED | PROTOCOL => DbFault::Busy,
        NOMEM | READONLY | IOERR | CORRUPT | FULL | CANTOPEN | NOTADB => DbFault::Unavailable,
        _ => DbFault::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_connection_and_shutdown_codes_mean_unavailable() {
        for code in [
            "08006", "08003", "57P01", "57P02", "57P03", "53300", "25006",
        ] {
            assert_eq!(of_sqlstate(code), DbFault::Unavailable, "{code}");
        }
    }

    #[test]
    fn postgres_lock_and_serialization_codes_mean_busy() {
        for code in ["40001", "40P01", "55P03", "57014"] {
            assert_eq!(of_sqlstate(code), DbFault::Busy, "{code}");
        }
    }

    #[test]
    fn postgres_constraint_and_syntax_codes_are_the_requests_own() {
        for code in ["23505", "23503", "23514", "42601", "22P02"] {
            assert_eq!(of_sqlstate(code), DbFault::Other, "{code}");
        }
    }

    #[test]
    fn sqlite_extended_codes_are_read_by_their_primary_code() {
        // SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_SHORT_READ, SQLITE_CANTOPEN_ISDIR,
        // SQLITE_CONSTRAINT_UNIQUE.
        assert_eq!(of_sqlite(517), DbFault::Busy);
        assert_eq!(of_sqlite(522), DbFault::Unavailable);
        assert_eq!(of_sqlite(526), DbFault::Unavailable);
        assert_eq!(of_sqlite(2067), DbFault::Other);
    }
}
