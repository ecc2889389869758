//! The embedded backend: one SQLite file in WAL mode, safe for several processes on one host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::sql::{Dialect, SchemaState, Statements};
use super::{
    delivered_of, entry_from_row, BookingLease, Delivered, EntryRow, Finish, NewEntry, Version,
};

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    sql: Arc<Statements>,
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Creates the schema on first use; refuses tables it did not create or cannot read.
fn prepare_schema(conn: &mut Connection, sql: &Statements) -> Result<(), String> {
    let db = |e: rusqlite::Error| e.to_string();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let has_version = table_exists(&tx, &sql.version_table).map_err(db)?;
    let has_entries = table_exists(&tx, &sql.entries).map_err(db)?;
    match sql.schema_state(has_version, has_entries)? {
        SchemaState::Missing => {
            for statement in &sql.create {
                tx.execute(statement, []).map_err(db)?;
            }
        }
        SchemaState::Ours => {
            let version = tx
                .query_row(&sql.read_version(), [], |r| r.get(0))
                .map_err(db);
            for statement in sql.check_version(version)? {
                tx.execute(&statement, []).map_err(db)?;
            }
        }
    }
    tx.prepare(&sql.probe)
        .map_err(|e| sql.missing_columns(&e.to_string()))?;
    tx.commit().map_err(db)
}

/// Switches the file to WAL once. Processes opening a new file together may find it locked
/// for the switch, which the busy timeout does not cover: wait and look again.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mut tries = 0;
    loop {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 100 =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn open_blocking(path: &str, prefix: &str) -> Result<SqliteStore, String> {
    let explain = |e: &dyn std::fmt::Display| {
        format!("cannot open the SQLite outbox at {path:?}: {e}; check that its directory exists and is writable and that the file is a SQLite database")
    };
    let mut conn = Connection::open(path).map_err(|e| explain(&e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| explain(&e))?;
    let sql = Statements::new(prefix, Dialect::Sqlite);
    prepare_schema(&mut conn, &sql).map_err(|e| format!("SQLite outbox at {path:?}: {e}"))?;
    // Only now that the file is known to be ours, as WAL rewrites the file's header.
    // WAL lets readers and one writer work at once across processes; FULL syncs each commit
    // to disk, so an entry that was written survives a power cut, not only a crash.
    use_wal(&conn).map_err(|e| explain(&e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| explain(&e))?;
    Ok(SqliteStore {
        conn: Arc::new(Mutex::new(conn)),
        sql: Arc::new(sql),
    })
}

impl SqliteStore {
    pub async fn open(path: &str, prefix: &str) -> Result<Self, String> {
        let (path, prefix) = (path.to_string(), prefix.to_string());
        tokio::task::spawn_blocking(move || open_blocking(&path, &prefix))
            .await
            .map_err(|e| format!("opening the SQLite outbox failed: {e}"))?
    }

    /// Runs blocking SQLite work off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &Statements) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let (conn, sql) = (self.conn.clone(), self.sql.clone());
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&conn, &sql).map_err(|e| format!("SQLite outbox: {e}"))
        })
        .await
        .map_err(|e| format!("SQLite outbox task failed: {e}"))?
    }

    pub async fn insert(&self, e: NewEntry) -> Result<Version, String> {
        self.run(move |c, sql| {
            // One transaction: one sync of the file instead of two.
            let tx = c.unchecked_transaction()?;
            let seq: i64 = tx
                .prepare_cached(&sql.next_seq)?
                .query_row([&e.booking_id], |r| r.get(0))?;
            tx.prepare_cached(&sql.insert)?.execute(params![
                e.id,
                e.booking_id,
                e.event,
                e.body,
                e.now_ms,
                e.lease_until_ms,
                e.lease_owner,
                e.version_ms,
                seq
            ])?;
            tx.commit()?;
            Ok(Version {
                ms: e.version_ms,
                seq,
            })
        })
        .await
    }

    pub async fn lease_booking(
        &self,
        lease: BookingLease,
        now_ms: i64,
        quiet_ms: i64,
    ) -> Result<Option<Option<Delivered>>, String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.lease_booking)?
                .query_row(
                    params![
                        lease.owner,
                        lease.until_ms,
                        lease.booking_id,
                        now_ms - quiet_ms,
                        now_ms
                    ],
                    |r| Ok(delivered_of(r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
        })
        .await
    }

    pub async fn release_booking(
        &self,
        lease: BookingLease,
        quiet_until_ms: Option<i64>,
    ) -> Result<(), String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.release_booking)?
                .execute(params![quiet_until_ms, lease.booking_id, lease.owner])
                .map(drop)
        })
        .await
    }

    pub async fn record_delivered(
        &self,
        lease: BookingLease,
        delivered: Delivered,
    ) -> Result<(), String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.record_delivered)?
                .execute(params![
                    delivered.version.ms,
                    delivered.version.seq,
                    delivered.entry_id,
                    lease.booking_id,
                    lease.owner
                ])
                .map(drop)
        })
        .await
    }

    pub async fn supersede_older(
        &self,
        booking_id: String,
        newer: Delivered,
        now_ms: i64,
    ) -> Result<u64, String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.supersede_older)?
                .execute(params![
                    newer.entry_id,
                    now_ms,
                    booking_id,
                    newer.version.ms,
                    newer.version.seq
                ])
                .map(|n| n as u64)
        })
        .await
    }

    pub async fn newest_other(&self, id: String) -> Result<Option<(String, String)>, String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.newest_other)?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .await
    }

    pub async fn lease_entry(
        &self,
        id: String,
        owner: String,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> Result<Option<EntryRow>, String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.lease_entry)?
                .query_row(params![owner, lease_until_ms, id, now_ms], |row| {
                    Ok(entry_from_row!(row, get))
                })
                .optional()
        })
        .await
    }

    pub async fn finish(&self, f: Finish) -> Result<bool, String> {
        self.run(move |c, sql| {
            let changed = c.prepare_cached(&sql.finish)?.execute(params![
                f.state,
                f.attempts_added,
                i64::from(f.schedule.step),
                i64::from(f.schedule.not_found_count),
                f.next_attempt_at_ms,
                f.delivered_at_ms,
                f.last_status,
                f.last_error_kind,
                f.last_error,
                f.history,
                f.now_ms,
                f.superseded_by,
                f.id,
                f.lease_owner
            ])?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn due_candidates(
        &self,
        now_ms: i64,
        lease_expired_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<EntryRow>, String> {
        self.run(move |c, sql| {
            let mut statement = c.prepare_cached(&sql.due_candidates)?;
            let rows = statement
                .query_map(params![now_ms, lease_expired_before_ms, limit], |row| {
                    Ok(entry_from_row!(row, get))
                })?;
            rows.collect()
        })
        .await
    }

    pub async fn count_due(
        &self,
        now_ms: i64,
        lease_expired_before_ms: i64,
    ) -> Result<i64, String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.count_due)?
                .query_row([now_ms, lease_expired_before_ms], |r| r.get(0))
        })
        .await
    }

    pub async fn list(&self, state: Option<String>, limit: i64) -> Result<Vec<EntryRow>, String> {
        self.run(move |c, sql| {
            let read = |row: &rusqlite::Row<'_>| Ok(entry_from_row!(row, get));
            match state {
                Some(state) => c
                    .prepare_cached(&sql.list_by_state)?
                    .query_map(params![state, limit], read)?
                    .collect(),
                None => c
                    .prepare_cached(&sql.list_all)?
                    .query_map([limit], read)?
                    .collect(),
            }
        })
        .await
    }

    pub async fn get(&self, id: String) -> Result<Option<EntryRow>, String> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.get)?
                .query_row([id], |row| Ok(entry_from_row!(row, get)))
                .optional()
        })
        .await
    }

    pub async fn retry(&self, id: String, now_ms: i64) -> Result<bool, String> {
        self.run(move |c, sql| Ok(c.prepare_cached(&sql.retry)?.execute(params![now_ms, id])? == 1))
            .await
    }

    pub async fn purge(&self, before_ms: i64) -> Result<i64, String> {
        self.run(move |c, sql| Ok(c.prepare_cached(&sql.purge)?.execute([before_ms])? as i64))
            .await
    }
}
