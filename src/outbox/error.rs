//! What can go wrong in the outbox, with the driver's error kept as the source.

use std::time::Duration;

use crate::errors::{error_chain, ErrorKind, SyncError};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// `PARTNER_SYNC_OUTBOX` (or a part of it) or the table prefix cannot be used; the message
    /// says how to fix it.
    #[error("{0}")]
    Location(String),
    /// The SQLite file cannot be opened or switched to WAL.
    #[error("cannot open the SQLite outbox at {path:?}: {source}; check that its directory exists and is writable and that the file is a SQLite database")]
    SqliteOpen {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL server cannot be reached; the message says what to check.
    #[error("cannot connect to the PostgreSQL outbox at {location}: {why}; {what_to_do}")]
    PostgresConnect {
        location: String,
        why: String,
        what_to_do: &'static str,
    },
    /// The tables are not ours, or not a version this one can use.
    #[error("{backend} outbox at {location}: {why}")]
    Schema {
        backend: &'static str,
        location: String,
        why: String,
    },
    #[error("SQLite outbox: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL outbox: {}", describe_postgres(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The step ran out of its time: what it sent may still take effect.
    #[error("the outbox did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The last try failed, and an earlier one sent its statement but got no answer.
    #[error("{0}; an earlier try got no answer, so its write may still take effect")]
    Unconfirmed(Box<OutboxError>),
    /// A statement that always returns a row returned none: a bug.
    #[error("an outbox statement returned no row; please report it")]
    NoRow,
    /// A statement returned another type than its column should hold: a bug.
    #[error("an outbox statement returned {found} in column {index}, where {expected} was expected; please report it")]
    Column {
        index: usize,
        expected: &'static str,
        found: &'static str,
    },
    /// Another worker leased the entry meanwhile, or a newer entry superseded it.
    #[error("outbox entry {0} was taken over by another worker, or superseded, while this one worked on it; its state there stands")]
    LeaseLost(String),
    /// A stored value this version cannot read.
    #[error("outbox entry {id} has state {state:?}, which this version of partner-sync does not know: was the outbox written by a newer one?")]
    BadRecord { id: String, state: String },
    /// The blocking task that ran the statement panicked or was cancelled.
    #[error("{what} failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// A PostgreSQL error as people read it: the server's severity and message, or the whole chain.
pub fn describe_postgres(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => error_chain(e),
    }
}

impl OutboxError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            OutboxError::Location(_) => ErrorKind::Config,
            OutboxError::Task { .. } | OutboxError::NoRow | OutboxError::Column { .. } => {
                ErrorKind::Internal
            }
            _ => ErrorKind::Outbox,
        }
    }
}

impl From<OutboxError> for SyncError {
    fn from(e: OutboxError) -> Self {
        SyncError::new(e.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_database_failure_is_an_outbox_error_with_its_driver_error_kept() {
        let failed: OutboxError = rusqlite::Error::QueryReturnedNoRows.into();
        assert!(failed.source().is_some_and(|e| e.is::<rusqlite::Error>()));
        let reported = SyncError::from(failed);
        assert_eq!(reported.kind, ErrorKind::Outbox);
        assert!(reported.message.starts_with("SQLite outbox: "));
        let unusable = SyncError::from(OutboxError::Location("PARTNER_SYNC_OUTBOX = ...".into()));
        assert_eq!(unusable.kind, ErrorKind::Config);
    }
}
