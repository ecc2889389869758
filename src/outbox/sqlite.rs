//! The embedded backend: one SQLite file in WAL mode, safe for several processes on one host.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ToSql, TransactionBehavior};

use super::budget;
use super::sql::{params, Dialect, SchemaState, Statements};
use super::values::{Cell, Param, Row};
use super::{
    BookingLease, Claim, ClaimWave, Delivered, EntryRow, NewEntry, OutboxError, Purged, Settle,
    Settled, Store, Version, WrittenAhead,
};

/// How long a statement waits for another process's write lock, unless its budget says less.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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
    for statement in &sql.ensure_indexes {
        tx.execute(statement, []).map_err(db)?;
    }
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

fn open_blocking(path: &str, prefix: &str, busy: Duration) -> Result<SqliteStore, OutboxError> {
    let explain = |source| OutboxError::SqliteOpen {
        path: path.to_string(),
        source,
    };
    let mut conn = Connection::open(path).map_err(explain)?;
    conn.busy_timeout(busy).map_err(explain)?;
    let sql = Statements::new(prefix, Dialect::Sqlite);
    prepare_schema(&mut conn, &sql).map_err(|why| OutboxError::Schema {
        backend: "SQLite",
        location: format!("{path:?}"),
        why,
    })?;
    // Only now that the file is known to be ours, as WAL rewrites the file's header.
    // WAL lets readers and one writer work at once across processes; FULL syncs each commit
    // to disk, so an entry that was written survives a power cut, not only a crash.
    use_wal(&conn).map_err(explain)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(explain)?;
    Ok(SqliteStore {
        conn: Arc::new(Mutex::new(conn)),
        sql: Arc::new(sql),
    })
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Int(n) => n.to_sql(),
            Param::Text(text) => text.to_sql(),
        }
    }
}

/// A row as the shared code reads it: SQLite stores only integers and text here.
fn row_of(row: &rusqlite::Row) -> rusqlite::Result<Row> {
    (0..row.as_ref().column_count())
        .map(|i| {
            Ok(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(n) => Cell::Int(n),
                ValueRef::Text(_) => Cell::Text(row.get(i)?),
                other => {
                    let name = row.as_ref().column_name(i)?.to_string();
                    return Err(rusqlite::Error::InvalidColumnType(
                        i,
                        name,
                        other.data_type(),
                    ));
                }
            })
        })
        .collect::<Result<_, _>>()
        .map(Row)
}

/// Runs one statement, prepared once per connection, and returns its rows.
fn query(c: &Connection, statement: &str, params: &[Param]) -> Result<Vec<Row>, OutboxError> {
    let mut statement = c.prepare_cached(statement)?;
    let rows = statement.query_map(params_from_iter(params), row_of)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Runs one statement, prepared once per connection; how many rows it changed.
fn execute(c: &Connection, statement: &str, params: &[Param]) -> Result<usize, OutboxError> {
    Ok(c.prepare_cached(statement)?
        .execute(params_from_iter(params))?)
}

fn supersede_older(
    c: &Connection,
    sql: &Statements,
    booking_id: &str,
    newer: &Delivered,
    now_ms: i64,
) -> Result<Vec<String>, OutboxError> {
    let params = params::supersede_older(booking_id, Some(newer), now_ms);
    let rows = query(c, &sql.supersede_older, &params)?;
    rows.iter().map(|row| row.get(0)).collect()
}

/// One candidate of a redrive's claim, inside the claim's transaction.
fn claim(
    c: &Connection,
    sql: &Statements,
    candidate: &EntryRow,
    booking: BookingLease,
    now_ms: i64,
    quiet_ms: i64,
) -> Result<Claim, OutboxError> {
    let leased = query(
        c,
        &sql.lease_booking,
        &params::lease_booking(&booking, now_ms, quiet_ms),
    )?;
    let Some(delivered) = leased.first().map(|row| row.delivered(0)).transpose()? else {
        return Ok(Claim::Skipped);
    };
    let release =
        |c: &Connection| execute(c, &sql.release_booking, &params::release_booking(&booking));
    if let Some(newer) = delivered.filter(|d| d.version > candidate.version()) {
        let superseded = supersede_older(c, sql, &candidate.booking_id, &newer, now_ms)?;
        release(c)?;
        return Ok(Claim::Superseded(superseded));
    }
    let params: Vec<Param> = vec![
        booking.owner.as_str().into(),
        booking.until_ms.into(),
        candidate.id.as_str().into(),
        now_ms.into(),
    ];
    match query(c, &sql.lease_entry, &params)?.first() {
        Some(row) => Ok(Claim::Send(Box::new(row.entry()?), booking)),
        None => {
            release(c)?;
            Ok(Claim::Skipped)
        }
    }
}

impl SqliteStore {
    pub async fn open(path: &str, prefix: &str) -> Result<Self, OutboxError> {
        let (path, prefix) = (path.to_string(), prefix.to_string());
        let busy = budget::capped(BUSY_TIMEOUT);
        tokio::task::spawn_blocking(move || open_blocking(&path, &prefix, busy))
            .await
            .map_err(|source| OutboxError::Task {
                what: "opening the SQLite outbox",
                source,
            })?
    }

    /// Runs blocking SQLite work off the async threads. Another process's write lock is
    /// waited for no longer than the step's budget allows, so that the thread ends with it.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &Statements) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let (conn, sql) = (self.conn.clone(), self.sql.clone());
        let busy = budget::capped(BUSY_TIMEOUT);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock();
            conn.busy_timeout(busy)?;
            work(&conn, &sql)
        })
        .await
        .map_err(|source| OutboxError::Task {
            what: "SQLite outbox task",
            source,
        })?
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn sql(&self) -> &Statements {
        &self.sql
    }

    async fn rows(&self, statement: &str, params: Vec<Param>) -> Result<Vec<Row>, OutboxError> {
        let statement = statement.to_string();
        self.run(move |c, _| query(c, &statement, &params)).await
    }

    async fn execute(&self, statement: &str, params: Vec<Param>) -> Result<u64, OutboxError> {
        let statement = statement.to_string();
        self.run(move |c, _| Ok(execute(c, &statement, &params)? as u64))
            .await
    }

    async fn write_ahead(&self, e: NewEntry, quiet_ms: i64) -> Result<WrittenAhead, OutboxError> {
        self.run(move |c, sql| {
            // One transaction: one sync of the file for the booking row and the entry.
            let tx = c.unchecked_transaction()?;
            let booked = query(&tx, &sql.book, &params::book(&e, quiet_ms))?;
            let row = booked.first().ok_or(OutboxError::NoRow)?;
            let (seq, leased, delivered) = (
                row.get::<i64>(0)?,
                row.get::<i64>(1)? != 0,
                row.delivered(2)?,
            );
            let mut params = params::insert(&e);
            params.push(seq.into());
            execute(&tx, &sql.insert, &params)?;
            tx.commit()?;
            let version = Version {
                ms: e.version_ms,
                seq,
            };
            Ok((version, leased.then_some(delivered)))
        })
        .await
    }

    async fn settle(&self, settle: Settle) -> Result<Settled, OutboxError> {
        self.run(move |c, sql| {
            let tx = c.unchecked_transaction()?;
            let f = &settle.finish;
            let finished = execute(&tx, &sql.finish, &params::finish(f))?;
            let superseded_older = match &settle.delivered {
                Some(newer) => supersede_older(&tx, sql, &settle.booking_id, newer, f.now_ms)?,
                None => Vec::new(),
            };
            if settle.booking_owner.is_some() {
                execute(&tx, &sql.settle_booking, &params::settle_booking(&settle))?;
            }
            tx.commit()?;
            Ok(Settled {
                kept: finished == 1,
                superseded_older,
            })
        })
        .await
    }

    async fn claim_wave(&self, wave: ClaimWave) -> Result<Vec<Claim>, OutboxError> {
        self.run(move |c, sql| {
            // The whole wave in one transaction: one sync of the file, not three per entry.
            let tx = c.unchecked_transaction()?;
            let claims = wave
                .candidates
                .into_iter()
                .map(|(candidate, lease)| {
                    claim(&tx, sql, &candidate, lease, wave.now_ms, wave.quiet_ms)
                })
                .collect::<Result<_, _>>()?;
            tx.commit()?;
            Ok(claims)
        })
        .await
    }

    async fn purge(&self, before_ms: i64, limit: i64) -> Result<Vec<Purged>, OutboxError> {
        self.run(move |c, sql| {
            // One transaction: the entries and the booking rows nothing needs any more.
            let tx = c.unchecked_transaction()?;
            let purged = query(&tx, &sql.purge, &[before_ms.into(), limit.into()])?
                .iter()
                .map(Row::purged)
                .collect::<Result<Vec<_>, _>>()?;
            for entry in &purged {
                let params = [entry.booking_id.as_str().into(), before_ms.into()];
                execute(&tx, &sql.forget_booking, &params)?;
            }
            tx.commit()?;
            Ok(purged)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{EntryState, Finish, HistoryChange, ScheduleState};
    use rusqlite::params;

    /// The version 1 schema, as partner-sync 0.1 created it.
    const V1_SCHEMA: &str = "
        CREATE TABLE t_entries (
            id TEXT PRIMARY KEY, booking_id TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
            attempts BIGINT NOT NULL DEFAULT 0, schedule_step BIGINT NOT NULL DEFAULT 0,
            not_found_count BIGINT NOT NULL DEFAULT 0, created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL, schedule_started_at_ms BIGINT NOT NULL,
            next_attempt_at_ms BIGINT, delivered_at_ms BIGINT, lease_until_ms BIGINT, lease_owner TEXT,
            last_status BIGINT, last_error_kind TEXT, last_error TEXT, history TEXT NOT NULL DEFAULT '[]');
        CREATE INDEX t_entries_due ON t_entries (state, next_attempt_at_ms);
        CREATE INDEX t_entries_booking ON t_entries (booking_id);
        CREATE TABLE t_schema_version (version BIGINT NOT NULL);
        INSERT INTO t_schema_version (version) VALUES (1);";

    fn v1_entry(conn: &Connection, id: &str, booking: &str, state: &str, created: i64) {
        conn.execute(
            "INSERT INTO t_entries (id, booking_id, event, body, state, created_at_ms, updated_at_ms,
                schedule_started_at_ms, next_attempt_at_ms, delivered_at_ms)
             VALUES (?1, ?2, 'booking.paid', '{}', ?3, ?4, ?4, ?4, ?4, ?5)",
            params![id, booking, state, created, (state == "delivered").then_some(created)],
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_version_1_outbox_is_migrated_and_its_stale_entries_superseded() {
        let path =
            std::env::temp_dir().join(format!("partner-sync-v1-{}.db", uuid::Uuid::new_v4()));
        let path = path.to_str().unwrap().to_string();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1_SCHEMA).unwrap();
            v1_entry(&conn, "dp", "a", "pending", 50);
            v1_entry(&conn, "lunas", "a", "delivered", 100);
            v1_entry(&conn, "refund", "a", "pending", 200);
            v1_entry(&conn, "other", "b", "dead", 10);
        }
        let store = SqliteStore::open(&path, "t_").await.unwrap();
        let get = |id: &str| store.get(id.to_string());
        let dp = get("dp").await.unwrap().unwrap();
        assert_eq!(
            (dp.state.as_str(), dp.superseded_by.as_deref()),
            ("superseded", Some("lunas"))
        );
        let refund = get("refund").await.unwrap().unwrap();
        assert_eq!(
            (refund.state.as_str(), refund.version_ms, refund.seq),
            ("pending", 200, 3)
        );
        assert_eq!(get("other").await.unwrap().unwrap().state, "dead");
        let (next, _) = store
            .write_ahead(
                NewEntry {
                    id: "new".into(),
                    booking_id: "a".into(),
                    event: "booking.updated".into(),
                    body: "{}".into(),
                    now_ms: 300,
                    lease_until_ms: 400,
                    lease_owner: "me".into(),
                    version_ms: 300,
                },
                0,
            )
            .await
            .unwrap();
        assert_eq!(next, Version { ms: 300, seq: 4 });
        let lease = BookingLease {
            booking_id: "a".into(),
            owner: "me".into(),
            until_ms: 1_000,
        };
        let delivered = store.lease_booking(&lease, 300, 0).await.unwrap().unwrap();
        assert_eq!(delivered.map(|d| d.entry_id), Some("lunas".to_string()));
        drop(store);
        // Opening again finds version 2 and migrates nothing.
        assert!(SqliteStore::open(&path, "t_").await.is_ok());
        let _ = std::fs::remove_file(&path);
    }

    fn entry(id: &str, booking: &str, now_ms: i64) -> NewEntry {
        NewEntry {
            id: id.into(),
            booking_id: booking.into(),
            event: "booking.paid".into(),
            body: "{}".into(),
            now_ms,
            lease_until_ms: 0,
            lease_owner: "me".into(),
            version_ms: now_ms,
        }
    }

    #[tokio::test]
    async fn operator_queries_page_count_chart_and_note() {
        use crate::outbox::{BookingMatch, PageFilter};
        let path =
            std::env::temp_dir().join(format!("partner-sync-ops-{}.db", uuid::Uuid::new_v4()));
        let store = SqliteStore::open(path.to_str().unwrap(), "t_")
            .await
            .unwrap();
        // 25 entries of bookings b-00..b-24, one per minute; two share a creation time.
        for i in 0..25 {
            let created = if i == 24 { 23 * 60_000 } else { i * 60_000 };
            let id = format!("e{i:02}");
            store
                .write_ahead(entry(&id, &format!("b-{i:02}"), created), 0)
                .await
                .unwrap();
        }
        store.write_ahead(entry("x1", "other", 5), 0).await.unwrap();
        let page = |filter: PageFilter| store.page(filter);
        // Pages of 10, newest first, following the cursor, cover every entry once.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let rows = page(PageFilter {
                after: after.clone(),
                limit: 10,
                ..PageFilter::default()
            })
            .await
            .unwrap();
            let Some(last) = rows.last() else { break };
            after = Some((last.created_at_ms, last.id.clone()));
            seen.extend(rows.iter().map(|r| r.id.clone()));
        }
        assert_eq!(seen.len(), 26);
        assert_eq!(&seen[..3], ["e24", "e23", "e22"]);
        assert_eq!(&seen[24..], ["x1", "e00"]);
        let prefix = page(PageFilter {
            booking: Some(BookingMatch::Prefix("b-1".into())),
            limit: 100,
            ..PageFilter::default()
        })
        .await
        .unwrap();
        assert_eq!(prefix.len(), 10);
        assert!(prefix.iter().all(|r| r.booking_id.starts_with("b-1")));
        // A prefix is not a pattern: % and _ are plain characters, and case counts.
        for literal in ["b-%", "b_", "B-1"] {
            let none = page(PageFilter {
                booking: Some(BookingMatch::Prefix(literal.into())),
                limit: 100,
                ..PageFilter::default()
            })
            .await
            .unwrap();
            assert!(none.is_empty(), "{literal}");
        }
        let exact = page(PageFilter {
            booking: Some(BookingMatch::Exact("other".into())),
            state: Some("pending".into()),
            limit: 100,
            ..PageFilter::default()
        })
        .await
        .unwrap();
        assert_eq!(
            exact.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["x1"]
        );

        // e00 delivered in hour 0, e01 failed and still pending in hour 1, e02 dead in hour 2.
        let hour = 3_600_000;
        let finish = |id: &str, state: EntryState, at: i64| Settle {
            booking_id: String::new(),
            delivered: None,
            booking_owner: None,
            quiet_until_ms: None,
            finish: Finish {
                id: id.into(),
                lease_owner: "me".into(),
                state,
                attempts_added: 1,
                schedule: ScheduleState {
                    step: 0,
                    not_found_count: 0,
                    started_at_ms: 0,
                },
                next_attempt_at_ms: None,
                delivered_at_ms: (state == EntryState::Delivered).then_some(at),
                last_status: Some(500),
                last_error_kind: (state != EntryState::Delivered).then(|| "http".to_string()),
                last_error: None,
                history: "[]".into(),
                now_ms: at,
                superseded_by: None,
            },
        };
        for (id, state, at) in [
            ("e00", EntryState::Delivered, 10),
            ("e01", EntryState::Pending, hour + 10),
            ("e02", EntryState::Dead, 2 * hour + 10),
        ] {
            assert!(store.settle(finish(id, state, at)).await.unwrap().kept);
        }
        let mut counts = store.count_by_state().await.unwrap();
        counts.sort();
        let counts: Vec<(&str, i64)> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        assert_eq!(counts, [("dead", 1), ("delivered", 1), ("pending", 24)]);
        let mut hours = store.hourly(0, 24 * hour).await.unwrap();
        hours.sort_by_key(|h| h.hour);
        let hours: Vec<(&str, i64, i64)> = hours
            .iter()
            .map(|h| (h.series.as_str(), h.hour, h.count))
            .collect();
        assert_eq!(
            hours,
            [("delivered", 0, 1), ("failed", 1, 1), ("dead", 2, 1)]
        );
        // Outside the window, nothing.
        assert!(store.hourly(3 * hour, 27 * hour).await.unwrap().is_empty());

        // The history is replaced only while it is what the caller read.
        assert!(store
            .set_history(HistoryChange {
                id: "e02".into(),
                old: "[]".into(),
                new: "[1]".into(),
            })
            .await
            .unwrap());
        assert!(!store
            .set_history(HistoryChange {
                id: "e02".into(),
                old: "[]".into(),
                new: "[2]".into(),
            })
            .await
            .unwrap());
        assert_eq!(
            store.get("e02".into()).await.unwrap().unwrap().history,
            "[1]"
        );
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
