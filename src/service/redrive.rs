//! A redrive of what is due, several bookings at a time and at most one entry per booking, and
//! the catch-up after a request's answer.

use std::sync::Arc;

use tokio::time::Instant;

use crate::config::{RetryPolicy, Settings};
use crate::delivery::DeliveryOutcome;
use crate::errors::{ErrorKind, SyncError};
use crate::lanes::Ticket;
use crate::outbox::{millis, now_ms, Claim, EntryRow, EntryState};

use super::admin::{audit, delete_finished};
use super::health::partner_is_back;
use super::settle::{settle_or_note, Lease};
use super::{
    deliver_with, lane_url, open_configured, OutboxNote, LEASE_MARGIN, REDRIVE_SETTLE_TIMEOUT,
};

/// Entries delivered at once by one redrive.
const REDRIVE_CONCURRENCY: i64 = 16;
const DEFAULT_REDRIVE_LIMIT: i64 = 100;
/// Batches of retention one redrive deletes at most, so a large backlog never stalls it.
const RETENTION_BATCHES_PER_REDRIVE: u32 = 4;

/// What one redrive did to one entry.
pub struct RedriveEntry {
    pub entry: EntryRow,
    pub note: OutboxNote,
    pub outcome: DeliveryOutcome,
}

impl RedriveEntry {
    /// HTTP attempts of the entry so far, this redrive's included.
    pub fn attempts_so_far(&self) -> u32 {
        let before = u32::try_from(self.entry.attempts).unwrap_or(0);
        before + self.outcome.attempts.len() as u32
    }
}

pub struct RedriveSummary {
    pub delivered: u32,
    pub failed: u32,
    pub dead: u32,
    /// Entries superseded by a body of their booking the partner accepted: never sent again.
    pub superseded: u32,
    /// Each of them: (entry id, booking id).
    pub superseded_entries: Vec<(String, String)>,
    pub remaining: i64,
    /// Delivered and superseded entries past the retention, deleted by this run.
    pub trimmed: i64,
    pub entries: Vec<RedriveEntry>,
}

/// How a redrive runs.
#[derive(Clone, Debug, Default)]
pub struct RedriveRun {
    /// Entries looked at, at most (default `DEFAULT_REDRIVE_LIMIT`, or `CATCH_UP_LIMIT` for a catch-up).
    pub limit: Option<u32>,
    /// A catch-up after a request's answer: a few entries, no retention work, and when the
    /// partner has just accepted a body, entries that failed on its side are due at once.
    pub catch_up: bool,
    /// Who asked (the ops page's operator): an audit note on each entry handled.
    pub by: Option<String>,
}

/// Entries a catch-up looks at by default: a few, so the work after a request stays short.
const CATCH_UP_LIMIT: i64 = 10;

/// Delivers up to `limit` due entries, one attempt each, several bookings at a time and
/// at most one entry per booking: the newest.
pub async fn redrive(
    settings: Arc<Settings>,
    run: RedriveRun,
) -> Result<RedriveSummary, SyncError> {
    let outbox = open_configured(&settings).await?;
    // Claim nothing we could not send: the entries would only wait out a lease.
    settings.require_url()?;
    settings.require_secret()?;
    // Only a cost: a redrive with stale statistics is slower, never wrong.
    let _ = outbox.refresh_statistics().await;
    let policy = RetryPolicy {
        max_attempts: 1,
        deadline: settings.retry.attempt_timeout,
        ..settings.retry.clone()
    };
    let quiet_ms = millis(settings.quiet_period);
    let default_limit = if run.catch_up {
        CATCH_UP_LIMIT
    } else {
        DEFAULT_REDRIVE_LIMIT
    };
    let limit = run.limit.map_or(default_limit, i64::from);
    let mut expedited = false;
    let mut summary = RedriveSummary {
        delivered: 0,
        failed: 0,
        dead: 0,
        superseded: 0,
        superseded_entries: Vec::new(),
        remaining: 0,
        trimmed: 0,
        entries: Vec::new(),
    };
    // Claim only as many as are sent at once: a claimed entry waiting for a free slot
    // could outlive its lease and be sent by another worker at the same time.
    let mut looked_at = 0;
    while looked_at < limit {
        let owner = uuid::Uuid::new_v4().to_string();
        let lease_until = now_ms() + millis(policy.attempt_timeout + LEASE_MARGIN);
        let wave = (limit - looked_at).min(REDRIVE_CONCURRENCY);
        if run.catch_up && !expedited && (summary.delivered > 0 || partner_is_back(&settings)) {
            outbox.expedite(now_ms(), limit - looked_at).await?;
            expedited = true;
        }
        let candidates = outbox.due_candidates(now_ms(), quiet_ms, wave).await?;
        if candidates.is_empty() {
            break;
        }
        looked_at += candidates.len() as i64;
        let mut tasks = tokio::task::JoinSet::new();
        let mut progressed = false;
        let bookings: Vec<String> = candidates.iter().map(|c| c.booking_id.clone()).collect();
        let claims = outbox
            .claim(candidates, owner, lease_until, quiet_ms)
            .await?;
        for (booking_id, claimed) in bookings.into_iter().zip(claims) {
            let (entry, booking) = match claimed {
                Claim::Send(entry, booking) => (*entry, booking),
                Claim::Superseded(ids) => {
                    summary.superseded += ids.len() as u32;
                    let ids = ids.into_iter().map(|id| (id, booking_id.clone()));
                    summary.superseded_entries.extend(ids);
                    progressed = true;
                    continue;
                }
                Claim::Skipped => continue,
            };
            progressed = true;
            let (settings, outbox, policy) = (settings.clone(), outbox.clone(), policy.clone());
            tasks.spawn(async move {
                let ticket = Ticket::follower(lane_url(&settings), &entry.booking_id);
                let started_at_ms = now_ms();
                let deadline = Instant::now() + policy.deadline;
                let outcome = deliver_with(
                    &settings,
                    &entry.body,
                    &entry.booking_id,
                    &policy,
                    &ticket,
                    deadline,
                    &[],
                )
                .await;
                let lease = Lease::of(&entry, booking);
                let note = settle_or_note(
                    &outbox,
                    &lease,
                    started_at_ms,
                    &outcome,
                    &settings,
                    REDRIVE_SETTLE_TIMEOUT,
                )
                .await;
                RedriveEntry {
                    entry,
                    note,
                    outcome,
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            let done = done.map_err(|e| {
                SyncError::new(
                    ErrorKind::Internal,
                    format!("a redrive task failed: {e}; please report it"),
                )
            })?;
            let older = done.note.superseded_older();
            summary.superseded += older.len() as u32;
            let booking = &done.entry.booking_id;
            let older = older.iter().map(|id| (id.clone(), booking.clone()));
            summary.superseded_entries.extend(older);
            if let Some(by) = &run.by {
                audit(&settings, done.entry.id.clone(), by, "redrive").await?;
            }
            match done.note.state() {
                Some(EntryState::Delivered) => summary.delivered += 1,
                Some(EntryState::Dead) => summary.dead += 1,
                _ => summary.failed += 1,
            }
            summary.entries.push(done);
        }
        if !progressed {
            // Every candidate was taken by another worker meanwhile.
            break;
        }
    }
    summary.remaining = outbox.count_due(now_ms(), quiet_ms).await?;
    if run.catch_up {
        // Retention is the cron's or the worker's: a catch-up stays short.
        return Ok(summary);
    }
    // This call's settings: the open outbox is shared by every client of its location.
    if let Some(retention) = settings.outbox.as_ref().and_then(|o| o.retention) {
        let trimmed = delete_finished(
            &outbox,
            now_ms() - millis(retention),
            RETENTION_BATCHES_PER_REDRIVE,
        )
        .await?;
        summary.trimmed = trimmed.len() as i64;
    }
    Ok(summary)
}
