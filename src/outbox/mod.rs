//! The durable outbox: every sync is written ahead of its first attempt, so a partner outage
//! or a crash never loses it; `redrive` delivers what is due on the long schedule.

mod entry;
mod error;
pub mod history;
mod postgres;
pub mod schedule;
mod sql;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::OutboxSettings;

use entry::delivered_of;
pub use entry::{
    BookingLease, Claim, Delivered, EntryRow, EntryState, Finish, HistoryChange, HourCount,
    NewEntry, Purged, Settle, Settled, Version,
};
pub use error::OutboxError;
pub use schedule::{decide, millis, Decision, ScheduleState};
pub use sql::{BookingMatch, PageFilter};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Reads an `EntryRow` from a row of either backend, with its fallible getter
/// (`get` for rusqlite, `try_get` for tokio-postgres), inside a function returning `Result`.
macro_rules! entry_from_row {
    ($row:expr, $get:ident) => {
        crate::outbox::EntryRow {
            id: $row.$get(0)?,
            booking_id: $row.$get(1)?,
            event: $row.$get(2)?,
            body: $row.$get(3)?,
            state: $row.$get(4)?,
            attempts: $row.$get(5)?,
            schedule_step: $row.$get(6)?,
            not_found_count: $row.$get(7)?,
            created_at_ms: $row.$get(8)?,
            updated_at_ms: $row.$get(9)?,
            schedule_started_at_ms: $row.$get(10)?,
            next_attempt_at_ms: $row.$get(11)?,
            delivered_at_ms: $row.$get(12)?,
            last_status: $row.$get(13)?,
            last_error_kind: $row.$get(14)?,
            last_error: $row.$get(15)?,
            history: $row.$get(16)?,
            version_ms: $row.$get(17)?,
            seq: $row.$get(18)?,
            superseded_by: $row.$get(19)?,
        }
    };
}
pub(crate) use entry_from_row;

enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(Box<postgres::PgStore>),
}

/// An open outbox. Cheap to share; one per location and prefix per process, whatever the
/// schedule or retention of the client using it (those come with each call's settings).
pub struct Outbox {
    store: Store,
}

/// Calls the same method on whichever backend this outbox uses.
macro_rules! on_store {
    ($self:expr, $method:ident ( $($arg:expr),* )) => {
        match &$self.store {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Outbox {
    /// Stores a new entry and, in the same write, makes its request the booking's sender when
    /// the booking is free (see `lease_booking`): its place among its booking's entries, and
    /// `Some(newest body delivered so far)` when the lease was taken.
    pub async fn write_ahead(
        &self,
        entry: NewEntry,
        quiet_ms: i64,
    ) -> Result<(Version, Option<Option<Delivered>>), OutboxError> {
        on_store!(self, write_ahead(entry, quiet_ms))
    }
    /// Becomes the booking's one sender, unless another holds it or the booking is quiet;
    /// then returns the newest body of the booking delivered so far.
    pub async fn lease_booking(
        &self,
        lease: &BookingLease,
        now_ms: i64,
        quiet_ms: i64,
    ) -> Result<Option<Option<Delivered>>, OutboxError> {
        on_store!(self, lease_booking(lease.clone(), now_ms, quiet_ms))
    }
    /// Writes the end of a leased delivery at once: the entry's state, older pending entries
    /// superseded by a delivered body, the booking's watermark, the booking's lease released.
    pub async fn settle(&self, settle: Settle) -> Result<Settled, OutboxError> {
        on_store!(self, settle(settle))
    }
    /// The newest entry of the same booking newer than `id` that is not superseded: (id, state).
    pub async fn newest_other(&self, id: String) -> Result<Option<(String, String)>, OutboxError> {
        on_store!(self, newest_other(id))
    }
    /// For each candidate: becomes its booking's sender, then leases it if it is still the one
    /// to send, or supersedes it when the booking holds a newer delivered body. Owned by `owner`
    /// until `lease_until_ms`; a booking not sent to is released at once.
    pub async fn claim(
        &self,
        candidates: Vec<EntryRow>,
        owner: String,
        lease_until_ms: i64,
        quiet_ms: i64,
    ) -> Result<Vec<Claim>, OutboxError> {
        on_store!(
            self,
            claim(candidates, owner, lease_until_ms, now_ms(), quiet_ms)
        )
    }
    /// Entries a redrive may send now: per booking its newest unfinished one, if due and
    /// nobody is sending to that booking. Not claimed: see `claim`.
    pub async fn due_candidates(
        &self,
        now_ms: i64,
        quiet_ms: i64,
        limit: i64,
    ) -> Result<Vec<EntryRow>, OutboxError> {
        on_store!(self, due_candidates(now_ms, now_ms - quiet_ms, limit))
    }
    /// Keeps PostgreSQL's plan of the due query fast after a sudden backlog; SQLite needs nothing.
    pub async fn refresh_statistics(&self) -> Result<(), OutboxError> {
        match &self.store {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.refresh_statistics().await,
        }
    }
    pub async fn count_due(&self, now_ms: i64, quiet_ms: i64) -> Result<i64, OutboxError> {
        on_store!(self, count_due(now_ms, now_ms - quiet_ms))
    }
    /// One page of entries, newest first by (created_at_ms, id).
    pub async fn page(&self, filter: PageFilter) -> Result<Vec<EntryRow>, OutboxError> {
        on_store!(self, page(filter))
    }
    /// (state, number of entries) for each state present.
    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, OutboxError> {
        on_store!(self, count_by_state())
    }
    /// Deliveries, failures and dead entries per hour from `since_ms` until `until_ms`.
    pub async fn hourly(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<HourCount>, OutboxError> {
        on_store!(self, hourly(since_ms, until_ms))
    }
    /// Replaces the history JSON if it is still the one read; false when it changed meanwhile.
    pub async fn set_history(&self, change: HistoryChange) -> Result<bool, OutboxError> {
        on_store!(self, set_history(change))
    }
    pub async fn get(&self, id: String) -> Result<Option<EntryRow>, OutboxError> {
        on_store!(self, get(id))
    }
    pub async fn retry(&self, id: String, now_ms: i64) -> Result<bool, OutboxError> {
        on_store!(self, retry(id, now_ms))
    }
    /// Deletes up to `limit` delivered and superseded entries finished before `before_ms`, and
    /// the booking rows nothing needs any more; returns the entries deleted.
    pub async fn purge(&self, before_ms: i64, limit: i64) -> Result<Vec<Purged>, OutboxError> {
        on_store!(self, purge(before_ms, limit))
    }
    /// Makes up to `limit` entries that failed on the partner's side due at `now_ms`; how many.
    pub async fn expedite(&self, now_ms: i64, limit: i64) -> Result<u64, OutboxError> {
        on_store!(self, expedite(now_ms, limit))
    }
}

/// The location with any password hidden, for messages.
pub fn safe_location(location: &str) -> String {
    match reqwest::Url::parse(location) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => location.to_string(),
    }
}

/// The file a `sqlite:` outbox lives in. SQLite takes an empty path or `:memory:` for a private
/// database that vanishes with its connection: an outbox there would lose every entry silently.
fn usable_sqlite_path(path: &str) -> Result<String, OutboxError> {
    let refuse = |why: &str| {
        Err(OutboxError::Location(format!(
            "PARTNER_SYNC_OUTBOX = \"sqlite:{path}\" {why}: set it to sqlite:<path of a file>, such as sqlite:/var/lib/app/partner-sync.db"
        )))
    };
    if path.trim().is_empty() {
        return refuse(
            "names no file (SQLite would keep the entries in a temporary database that disappears)",
        );
    }
    if path.trim() != path {
        return refuse("has spaces around the path");
    }
    if path == ":memory:" || path.starts_with("file:") {
        return refuse(
            "is not a file path (an in-memory or URI database would not survive the process)",
        );
    }
    let file = std::path::Path::new(path);
    if file.is_dir() {
        return refuse("is a directory");
    }
    // A relative path moves with the working directory: pin it, and say where it is.
    Ok(std::path::absolute(file)
        .map(|absolute| absolute.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string()))
}

/// Open outboxes by location and prefix. An async lock, held while opening, so that syncs
/// starting together open (and create) an outbox once instead of racing for its file.
fn cache() -> &'static tokio::sync::Mutex<HashMap<String, Arc<Outbox>>> {
    static OPEN: std::sync::OnceLock<tokio::sync::Mutex<HashMap<String, Arc<Outbox>>>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// Opens (once per process) the outbox the settings name, creating or migrating its schema.
pub async fn open(settings: &OutboxSettings) -> Result<Arc<Outbox>, OutboxError> {
    let key = format!("{}\u{0}{}", settings.location, settings.table_prefix);
    let mut open = cache().lock().await;
    // A PostgreSQL outbox replaces a lost connection itself: an open outbox stays usable.
    if let Some(outbox) = open.get(&key) {
        return Ok(outbox.clone());
    }
    let location = settings.location.as_str();
    let store = if let Some(path) = location.strip_prefix("sqlite:") {
        let path = usable_sqlite_path(path.strip_prefix("//").unwrap_or(path))?;
        Store::Sqlite(sqlite::SqliteStore::open(&path, &settings.table_prefix).await?)
    } else if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        Store::Postgres(Box::new(
            postgres::PgStore::connect(location, &settings.table_prefix).await?,
        ))
    } else {
        return Err(OutboxError::Location(format!(
            "PARTNER_SYNC_OUTBOX = {:?} is not an outbox location: use sqlite:<path> or postgres://user:password@host/db",
            safe_location(location)
        )));
    };
    let outbox = Arc::new(Outbox { store });
    open.insert(key, outbox.clone());
    Ok(outbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_that_would_lose_entries_are_refused() {
        for bad in ["", "  ", ":memory:", "file::memory:", " x.db", "/tmp"] {
            let error = usable_sqlite_path(bad).unwrap_err().to_string();
            assert!(
                error.starts_with("PARTNER_SYNC_OUTBOX = \"sqlite:"),
                "{error}"
            );
        }
        let relative = usable_sqlite_path("outbox.db").unwrap();
        assert!(std::path::Path::new(&relative).is_absolute());
        assert!(relative.ends_with("outbox.db"));
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            safe_location("postgres://app:hunter2@db.example.com:5432/app"),
            "postgres://app:***@db.example.com:5432/app"
        );
        assert_eq!(safe_location("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }
}
