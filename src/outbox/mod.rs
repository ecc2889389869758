//! The durable outbox: every sync is written ahead of its first attempt, so a partner outage
//! or a crash never loses it; `redrive` delivers what is due on the long schedule.
//!
//! `store.rs` declares every operation once (the `Store` trait); `sqlite.rs` and `postgres/`
//! are its backends, running the SQL of `sql/`; `entry.rs` holds the entry types, `values.rs`
//! the parameters and rows that pass between the shared code and a backend.

pub mod budget;
mod entry;
mod error;
pub mod history;
mod postgres;
pub mod schedule;
mod sql;
mod sqlite;
mod store;
mod values;

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::OutboxSettings;

pub use entry::{
    BookingLease, Claim, ClaimWave, Delivered, EntryRow, EntryState, Finish, HistoryChange,
    NewEntry, Purged, Settle, Settled, Version, WrittenAhead,
};
pub use error::OutboxError;
pub use schedule::{decide, millis, Decision, ScheduleState};
pub use sql::{BookingMatch, PageFilter};
pub use store::Store;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An open outbox: its backend, whose operations (`Store`) callers use directly. Cheap to
/// share; one per location and prefix per process, whatever the schedule or retention of the
/// client using it (those come with each call's settings).
pub struct Outbox {
    store: Box<dyn Store>,
}

impl Deref for Outbox {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
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
    let prefix = settings
        .table_prefix
        .as_deref()
        .map_err(|why| OutboxError::Location(why.clone()))?;
    let key = format!("{}\u{0}{prefix}", settings.location);
    let mut open = cache().lock().await;
    // A PostgreSQL outbox replaces a lost connection itself: an open outbox stays usable.
    if let Some(outbox) = open.get(&key) {
        return Ok(outbox.clone());
    }
    let location = settings.location.as_str();
    let store: Box<dyn Store> = if let Some(path) = location.strip_prefix("sqlite:") {
        let path = usable_sqlite_path(path.strip_prefix("//").unwrap_or(path))?;
        Box::new(sqlite::SqliteStore::open(&path, prefix).await?)
    } else if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        Box::new(postgres::PgStore::connect(location, prefix).await?)
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
