//! The outbox's operations, declared once for both backends. Each backend provides how one
//! statement runs (`rows`, `execute`) and its transactional steps (`write_ahead`, `settle`,
//! `claim_wave`, `purge`); every operation of one statement is written here, over those two.

use async_trait::async_trait;

use super::entry::{
    BookingLease, Claim, ClaimWave, Delivered, EntryRow, HistoryChange, HourCount, NewEntry,
    Purged, Settle, Settled, WrittenAhead,
};
use super::sql::{params, PageFilter, Statements};
use super::values::{Param, Row};
use super::{now_ms, OutboxError};

/// An outbox backend. `async_trait` makes it usable as `dyn Store`, so one `Outbox` type
/// serves both backends.
#[async_trait]
pub trait Store: Send + Sync {
    /// The statements for this outbox's table prefix, in the backend's dialect.
    fn sql(&self) -> &Statements;

    /// Runs one statement and returns its rows.
    async fn rows(&self, statement: &str, params: Vec<Param>) -> Result<Vec<Row>, OutboxError>;

    /// Runs one statement and returns how many rows it changed.
    async fn execute(&self, statement: &str, params: Vec<Param>) -> Result<u64, OutboxError>;

    /// Stores a new entry and, in the same write, makes its request the booking's sender when
    /// the booking is free (see `lease_booking`): its place among its booking's entries, and
    /// `Some(newest body delivered so far)` when the lease was taken.
    async fn write_ahead(
        &self,
        entry: NewEntry,
        quiet_ms: i64,
    ) -> Result<WrittenAhead, OutboxError>;

    /// Writes the end of a leased delivery at once: the entry's state, older pending entries
    /// superseded by a delivered body, the booking's watermark, the booking's lease released.
    async fn settle(&self, settle: Settle) -> Result<Settled, OutboxError>;

    /// `claim`'s work, each candidate with the booking lease it takes.
    async fn claim_wave(&self, wave: ClaimWave) -> Result<Vec<Claim>, OutboxError>;

    /// Deletes up to `limit` delivered and superseded entries finished before `before_ms`, and
    /// the booking rows nothing needs any more; returns the entries deleted.
    async fn purge(&self, before_ms: i64, limit: i64) -> Result<Vec<Purged>, OutboxError>;

    /// Keeps the plan of the due query fast after a sudden backlog, where the backend plans from
    /// statistics (PostgreSQL); nothing to do otherwise.
    async fn refresh_statistics(&self) -> Result<(), OutboxError> {
        Ok(())
    }

    /// For each candidate: becomes its booking's sender, then leases it if it is still the one
    /// to send, or supersedes it when the booking holds a newer delivered body. Owned by `owner`
    /// until `lease_until_ms`; a booking not sent to is released at once.
    async fn claim(
        &self,
        candidates: Vec<EntryRow>,
        owner: String,
        lease_until_ms: i64,
        quiet_ms: i64,
    ) -> Result<Vec<Claim>, OutboxError> {
        let candidates = candidates.into_iter().map(|candidate| {
            let lease = BookingLease {
                booking_id: candidate.booking_id.clone(),
                owner: owner.clone(),
                until_ms: lease_until_ms,
            };
            (candidate, lease)
        });
        let wave = ClaimWave {
            candidates: candidates.collect(),
            now_ms: now_ms(),
            quiet_ms,
        };
        self.claim_wave(wave).await
    }

    /// Becomes the booking's one sender, unless another holds it or the booking is quiet;
    /// then returns the newest body of the booking delivered so far.
    async fn lease_booking(
        &self,
        lease: &BookingLease,
        now_ms: i64,
        quiet_ms: i64,
    ) -> Result<Option<Option<Delivered>>, OutboxError> {
        let params = params::lease_booking(lease, now_ms, quiet_ms);
        let rows = self.rows(&self.sql().lease_booking, params).await?;
        first(rows).map(|row| row.delivered(0)).transpose()
    }

    /// The newest entry of the same booking newer than `id` that is not superseded: (id, state).
    async fn newest_other(&self, id: String) -> Result<Option<(String, String)>, OutboxError> {
        let rows = self.rows(&self.sql().newest_other, vec![id.into()]).await?;
        first(rows)
            .map(|row| Ok((row.get(0)?, row.get(1)?)))
            .transpose()
    }

    /// Entries a redrive may send now: per booking its newest unfinished one, if due and
    /// nobody is sending to that booking. Not claimed: see `claim`.
    async fn due_candidates(
        &self,
        now_ms: i64,
        quiet_ms: i64,
        limit: i64,
    ) -> Result<Vec<EntryRow>, OutboxError> {
        let params = vec![now_ms.into(), (now_ms - quiet_ms).into(), limit.into()];
        entries(self.rows(&self.sql().due_candidates, params).await?)
    }

    /// How many entries `due_candidates` would return without a limit.
    async fn count_due(&self, now_ms: i64, quiet_ms: i64) -> Result<i64, OutboxError> {
        let params = vec![now_ms.into(), (now_ms - quiet_ms).into()];
        let rows = self.rows(&self.sql().count_due, params).await?;
        first(rows).ok_or(OutboxError::NoRow)?.get(0)
    }

    /// One page of entries, newest first by (created_at_ms, id).
    async fn page(&self, filter: PageFilter) -> Result<Vec<EntryRow>, OutboxError> {
        let (statement, params) = self.sql().page(&filter);
        entries(self.rows(&statement, params).await?)
    }

    /// (state, number of entries) for each state present.
    async fn count_by_state(&self) -> Result<Vec<(String, i64)>, OutboxError> {
        let rows = self.rows(&self.sql().count_by_state, Vec::new()).await?;
        rows.iter()
            .map(|row| Ok((row.get(0)?, row.get(1)?)))
            .collect()
    }

    /// Deliveries, failures and dead entries per hour from `since_ms` until `until_ms`.
    async fn hourly(&self, since_ms: i64, until_ms: i64) -> Result<Vec<HourCount>, OutboxError> {
        let params = vec![since_ms.into(), until_ms.into()];
        let rows = self.rows(&self.sql().hourly, params).await?;
        rows.iter()
            .map(|row| {
                Ok(HourCount {
                    series: row.get(0)?,
                    hour: row.get(1)?,
                    count: row.get(2)?,
                })
            })
            .collect()
    }

    /// Replaces the history JSON if it is still the one read; false when it changed meanwhile.
    async fn set_history(&self, change: HistoryChange) -> Result<bool, OutboxError> {
        let HistoryChange { id, old, new } = change;
        let params = vec![new.into(), id.into(), old.into()];
        Ok(self.execute(&self.sql().set_history, params).await? == 1)
    }

    /// The entry with this id, if there is one.
    async fn get(&self, id: String) -> Result<Option<EntryRow>, OutboxError> {
        let rows = self.rows(&self.sql().get, vec![id.into()]).await?;
        first(rows).map(|row| row.entry()).transpose()
    }

    /// Makes a pending or dead entry due at `now_ms` on a fresh schedule; false when there is
    /// no such entry.
    async fn retry(&self, id: String, now_ms: i64) -> Result<bool, OutboxError> {
        let params = vec![now_ms.into(), id.into()];
        Ok(self.execute(&self.sql().retry, params).await? == 1)
    }

    /// Makes up to `limit` entries that failed on the partner's side due at `now_ms`; how many.
    async fn expedite(&self, now_ms: i64, limit: i64) -> Result<u64, OutboxError> {
        let params = vec![now_ms.into(), limit.into()];
        self.execute(&self.sql().expedite, params).await
    }
}

fn first(rows: Vec<Row>) -> Option<Row> {
    rows.into_iter().next()
}

fn entries(rows: Vec<Row>) -> Result<Vec<EntryRow>, OutboxError> {
    rows.iter().map(Row::entry).collect()
}
