//! The embedded backend: one SQLite file in WAL mode, safe for several processes on one host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::sql::{Dialect, PageFilter, Param, SchemaState, Statements};
use super::{
    delivered_of, entry_from_row, BookingLease, Claim, Delivered, EntryRow, HistoryChange,
    HourCount, NewEntry, OutboxError, Purged, Settle, Settled, Version,
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

fn open_blocking(path: &str, prefix: &str) -> Result<SqliteStore, OutboxError> {
    let explain = |source| OutboxError::SqliteOpen {
        path: path.to_string(),
        source,
    };
    let mut conn = Connection::open(path).map_err(explain)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(explain)?;
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

fn lease_booking(
    c: &Connection,
    sql: &Statements,
    lease: &BookingLease,
    now_ms: i64,
    quiet_ms: i64,
) -> rusqlite::Result<Option<Option<Delivered>>> {
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
}

fn supersede_older(
    c: &Connection,
    sql: &Statements,
    booking_id: &str,
    newer: &Delivered,
    now_ms: i64,
) -> rusqlite::Result<Vec<String>> {
    c.prepare_cached(&sql.supersede_older)?
        .query_map(
            params![
                newer.entry_id,
                now_ms,
                booking_id,
                newer.version.ms,
                newer.version.seq
            ],
            |row| row.get(0),
        )?
        .collect()
}

/// One candidate of a redrive's claim, inside the claim's transaction.
fn claim(
    c: &Connection,
    sql: &Statements,
    candidate: &EntryRow,
    booking: BookingLease,
    now_ms: i64,
    quiet_ms: i64,
) -> rusqlite::Result<Claim> {
    let Some(delivered) = lease_booking(c, sql, &booking, now_ms, quiet_ms)? else {
        return Ok(Claim::Skipped);
    };
    let release = |c: &Connection| {
        c.prepare_cached(&sql.release_booking)?.execute(params![
            None::<i64>,
            booking.booking_id,
            booking.owner
        ])
    };
    if let Some(newer) = delivered.filter(|d| d.version > candidate.version()) {
        let superseded = supersede_older(c, sql, &candidate.booking_id, &newer, now_ms)?;
        release(c)?;
        return Ok(Claim::Superseded(superseded));
    }
    let leased = c
        .prepare_cached(&sql.lease_entry)?
        .query_row(
            params![booking.owner, booking.until_ms, candidate.id, now_ms],
            |row| Ok(entry_from_row!(row, get)),
        )
        .optional()?;
    match leased {
        Some(entry) => Ok(Claim::Send(Box::new(entry), booking)),
        None => {
            release(c)?;
            Ok(Claim::Skipped)
        }
    }
}

impl SqliteStore {
    pub async fn open(path: &str, prefix: &str) -> Result<Self, OutboxError> {
        let (path, prefix) = (path.to_string(), prefix.to_string());
        tokio::task::spawn_blocking(move || open_blocking(&path, &prefix))
            .await
            .map_err(|source| OutboxError::Task {
                what: "opening the SQLite outbox",
                source,
            })?
    }

    /// Runs blocking SQLite work off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &Statements) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let (conn, sql) = (self.conn.clone(), self.sql.clone());
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&conn, &sql).map_err(OutboxError::from)
        })
        .await
        .map_err(|source| OutboxError::Task {
            what: "SQLite outbox task",
            source,
        })?
    }

    pub async fn write_ahead(
        &self,
        e: NewEntry,
        quiet_ms: i64,
    ) -> Result<(Version, Option<Option<Delivered>>), OutboxError> {
        self.run(move |c, sql| {
            // One transaction: one sync of the file for the booking row and the entry.
            let tx = c.unchecked_transaction()?;
            let (seq, leased, delivered) = tx.prepare_cached(&sql.book)?.query_row(
                params![
                    e.booking_id,
                    e.lease_owner,
                    e.lease_until_ms,
                    e.now_ms - quiet_ms,
                    e.now_ms
                ],
                |r| {
                    let delivered = delivered_of(r.get(2)?, r.get(3)?, r.get(4)?);
                    Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, delivered))
                },
            )?;
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
            let version = Version {
                ms: e.version_ms,
                seq,
            };
            Ok((version, leased.then_some(delivered)))
        })
        .await
    }

    pub async fn lease_booking(
        &self,
        lease: BookingLease,
        now_ms: i64,
        quiet_ms: i64,
    ) -> Result<Option<Option<Delivered>>, OutboxError> {
        self.run(move |c, sql| lease_booking(c, sql, &lease, now_ms, quiet_ms))
            .await
    }

    pub async fn settle(&self, settle: Settle) -> Result<Settled, OutboxError> {
        self.run(move |c, sql| {
            let tx = c.unchecked_transaction()?;
            let f = &settle.finish;
            let finished = tx.prepare_cached(&sql.finish)?.execute(params![
                f.state.as_str(),
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
            let superseded_older = match &settle.delivered {
                Some(newer) => supersede_older(&tx, sql, &settle.booking_id, newer, f.now_ms)?,
                None => Vec::new(),
            };
            if let Some(owner) = &settle.booking_owner {
                let delivered = settle.delivered.as_ref();
                tx.prepare_cached(&sql.settle_booking)?.execute(params![
                    delivered.map(|d| d.version.ms),
                    delivered.map(|d| d.version.seq),
                    delivered.map(|d| &d.entry_id),
                    settle.quiet_until_ms,
                    settle.booking_id,
                    owner
                ])?;
            }
            tx.commit()?;
            Ok(Settled {
                kept: finished == 1,
                superseded_older,
            })
        })
        .await
    }

    pub async fn newest_other(&self, id: String) -> Result<Option<(String, String)>, OutboxError> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.newest_other)?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .await
    }

    pub async fn claim(
        &self,
        candidates: Vec<EntryRow>,
        owner: String,
        lease_until_ms: i64,
        now_ms: i64,
        quiet_ms: i64,
    ) -> Result<Vec<Claim>, OutboxError> {
        self.run(move |c, sql| {
            // The whole wave in one transaction: one sync of the file, not three per entry.
            let tx = c.unchecked_transaction()?;
            let claims = candidates
                .iter()
                .map(|candidate| {
                    let booking = BookingLease {
                        booking_id: candidate.booking_id.clone(),
                        owner: owner.clone(),
                        until_ms: lease_until_ms,
                    };
                    claim(&tx, sql, candidate, booking, now_ms, quiet_ms)
                })
                .collect::<rusqlite::Result<_>>()?;
            tx.commit()?;
            Ok(claims)
        })
        .await
    }

    pub async fn due_candidates(
        &self,
        now_ms: i64,
        lease_expired_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<EntryRow>, OutboxError> {
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
    ) -> Result<i64, OutboxError> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.count_due)?
                .query_row([now_ms, lease_expired_before_ms], |r| r.get(0))
        })
        .await
    }

    pub async fn page(&self, filter: PageFilter) -> Result<Vec<EntryRow>, OutboxError> {
        self.run(move |c, sql| {
            let (statement, params) = sql.page(&filter);
            let values = params.into_iter().map(|param| match param {
                Param::Int(n) => Value::Integer(n),
                Param::Text(text) => Value::Text(text),
            });
            c.prepare_cached(&statement)?
                .query_map(params_from_iter(values), |row| {
                    Ok(entry_from_row!(row, get))
                })?
                .collect()
        })
        .await
    }

    pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, OutboxError> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.count_by_state)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .await
    }

    pub async fn hourly(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<HourCount>, OutboxError> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.hourly)?
                .query_map([since_ms, until_ms], |r| {
                    Ok(HourCount {
                        series: r.get(0)?,
                        hour: r.get(1)?,
                        count: r.get(2)?,
                    })
                })?
                .collect()
        })
        .await
    }

    pub async fn set_history(&self, change: HistoryChange) -> Result<bool, OutboxError> {
        let HistoryChange { id, old, new } = change;
        self.run(move |c, sql| {
            Ok(c.prepare_cached(&sql.set_history)?
                .execute(params![new, id, old])?
                == 1)
        })
        .await
    }

    pub async fn get(&self, id: String) -> Result<Option<EntryRow>, OutboxError> {
        self.run(move |c, sql| {
            c.prepare_cached(&sql.get)?
                .query_row([id], |row| Ok(entry_from_row!(row, get)))
                .optional()
        })
        .await
    }

    pub async fn retry(&self, id: String, now_ms: i64) -> Result<bool, OutboxError> {
        self.run(move |c, sql| Ok(c.prepare_cached(&sql.retry)?.execute(params![now_ms, id])? == 1))
            .await
    }

    pub async fn purge(&self, before_ms: i64, limit: i64) -> Result<Vec<Purged>, OutboxError> {
        self.run(move |c, sql| {
            // One transaction: the entries and the booking rows nothing needs any more.
            let tx = c.unchecked_transaction()?;
            let purged = tx
                .prepare_cached(&sql.purge)?
                .query_map(params![before_ms, limit], |r| {
                    Ok(Purged {
                        id: r.get(0)?,
                        booking_id: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut forget = tx.prepare_cached(&sql.forget_booking)?;
            for entry in &purged {
                forget.execute(params![entry.booking_id, before_ms])?;
            }
            drop(forget);
            tx.commit()?;
            Ok(purged)
        })
        .await
    }

    pub async fn expedite(&self, now_ms: i64, limit: i64) -> Result<u64, OutboxError> {
        self.run(move |c, sql| {
            Ok(c.prepare_cached(&sql.expedite)?
                .execute(params![now_ms, limit])? as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{EntryState, Finish, ScheduleState};

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
        let delivered = store.lease_booking(lease, 300, 0).await.unwrap().unwrap();
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
