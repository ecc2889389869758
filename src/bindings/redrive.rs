//! A redrive, or the catch-up after a request's answer.

use napi_derive::napi;

use crate::outbox::EntryState;
use crate::service::{self, RedriveRun};

use super::sync::{AttemptInfo, OutboxNoteInfo, SyncErrorInfo};
use super::{count, rejected, ResolvedSettings};

/// What a redrive did to one entry.
#[napi(object)]
pub struct RedriveEntryInfo {
    pub id: String,
    pub booking_id: String,
    /// Absent when the outbox failed.
    pub state: Option<EntryState>,
    /// HTTP attempts so far, this one included.
    pub attempts: u32,
    pub status: Option<u32>,
    pub error: Option<SyncErrorInfo>,
    pub next_attempt_at: Option<String>,
    /// Why the outbox could not record the result.
    pub outbox_error: Option<String>,
    /// This redrive's attempt of the entry (none when it was not sent).
    pub attempt_log: Vec<AttemptInfo>,
    /// When this redrive's delivery of the entry began (ms since the epoch).
    pub delivery_started_at_ms: f64,
}

/// How a redrive runs.
#[napi(object)]
#[derive(Default)]
pub struct RedriveOptions {
    /// Entries looked at, at most: 100 by default, 10 for a catch-up.
    pub limit: Option<u32>,
    /// A catch-up after a request's answer: a few entries, no retention work; when the partner
    /// has just accepted a body, entries that failed on its side are due at once.
    pub catch_up: Option<bool>,
    /// The operator who asked: an audit note on each entry handled.
    pub by: Option<String>,
}

/// An entry a redrive superseded without sending it.
#[napi(object)]
pub struct SupersededEntryInfo {
    pub id: String,
    pub booking_id: String,
}

/// Counts of one redrive, plus each entry's outcome for logging.
#[napi(object)]
pub struct RedriveReport {
    pub delivered: u32,
    pub failed: u32,
    pub dead: u32,
    /// Entries older than a body of their booking the partner accepted (before or during this
    /// run), now superseded: never sent again.
    pub superseded: u32,
    /// Entries still due after this run.
    pub remaining: u32,
    /// Delivered and superseded entries past `PARTNER_SYNC_OUTBOX_RETENTION` deleted by this run.
    pub trimmed: u32,
    pub entries: Vec<RedriveEntryInfo>,
    /// Every entry counted in `superseded`.
    pub superseded_entries: Vec<SupersededEntryInfo>,
}

#[napi]
impl ResolvedSettings {
    /// Delivers up to `limit` (default 100, 10 for a catch-up) due outbox entries, one attempt
    /// each. Rejects only when the outbox or the settings are unusable.
    #[napi]
    pub async fn redrive(&self, options: Option<RedriveOptions>) -> napi::Result<RedriveReport> {
        let options = options.unwrap_or_default();
        let run = RedriveRun {
            limit: options.limit,
            catch_up: options.catch_up.unwrap_or(false),
            by: options.by,
        };
        let summary = service::redrive(self.settings.clone(), run)
            .await
            .map_err(rejected)?;
        Ok(RedriveReport {
            delivered: summary.delivered,
            failed: summary.failed,
            dead: summary.dead,
            superseded: summary.superseded,
            remaining: count(summary.remaining),
            trimmed: count(summary.trimmed),
            entries: summary
                .entries
                .iter()
                .map(|done| {
                    let note = OutboxNoteInfo::from(&done.note);
                    RedriveEntryInfo {
                        id: done.entry.id.clone(),
                        booking_id: done.entry.booking_id.clone(),
                        state: note.state,
                        attempts: done.attempts_so_far(),
                        status: done.outcome.status.map(u32::from),
                        error: done.outcome.error.as_ref().map(SyncErrorInfo::from),
                        next_attempt_at: note.next_attempt_at,
                        outbox_error: note.error,
                        attempt_log: done
                            .outcome
                            .attempts
                            .iter()
                            .map(AttemptInfo::from)
                            .collect(),
                        delivery_started_at_ms: done.outcome.started_at_ms,
                    }
                })
                .collect(),
            superseded_entries: summary
                .superseded_entries
                .into_iter()
                .map(|(id, booking_id)| SupersededEntryInfo { id, booking_id })
                .collect(),
        })
    }
}
