//! One sync: `send`, its report, and the abort registry.

use napi_derive::napi;

use std::collections::HashMap;

use crate::abort::{self, Abort};

use crate::delivery::{iso8601, AttemptRecord};
use crate::errors::{ErrorKind, SyncError};
use crate::outbox::EntryState;
use crate::payload::SyncRequest;
use crate::service::{self, OutboxNote};

use super::ResolvedSettings;

/// Why a sync failed.
#[napi(object)]
pub struct SyncErrorInfo {
    pub kind: ErrorKind,
    /// What went wrong and what to do about it. Never contains the secret.
    pub message: String,
    /// The partner's HTTP status, when the failure is its answer.
    pub status: Option<u32>,
}

impl From<&SyncError> for SyncErrorInfo {
    fn from(e: &SyncError) -> Self {
        SyncErrorInfo {
            kind: e.kind,
            message: e.message.clone(),
            status: e.status.map(u32::from),
        }
    }
}

/// One HTTP attempt of a delivery.
#[napi(object)]
pub struct AttemptInfo {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status, when the partner answered.
    pub status: Option<u32>,
    pub error: Option<SyncErrorInfo>,
    /// Milliseconds from the start of the delivery to the start of this attempt.
    pub started_ms: f64,
    pub duration_ms: f64,
    /// The backoff that followed this attempt, when another one came.
    pub wait_ms: Option<f64>,
}

impl From<&AttemptRecord> for AttemptInfo {
    fn from(a: &AttemptRecord) -> Self {
        AttemptInfo {
            attempt: a.attempt,
            status: a.status.map(u32::from),
            error: a.error.as_ref().map(SyncErrorInfo::from),
            started_ms: a.started_ms,
            duration_ms: a.duration_ms,
            wait_ms: a.wait_ms,
        }
    }
}

/// What the outbox did with one sync (`sendSync`) or one entry (`redriveOutbox`).
#[napi(object)]
pub struct OutboxNoteInfo {
    /// The entry's stable delivery id.
    pub id: Option<String>,
    pub state: Option<EntryState>,
    /// ISO 8601, when the entry is pending.
    pub next_attempt_at: Option<String>,
    /// The newer entry of the same booking that replaced this one, when superseded.
    pub superseded_by: Option<String>,
    /// Why the outbox could not keep or update the entry.
    pub error: Option<String>,
    /// Older pending entries of the booking that this delivery superseded (their ids), if any.
    pub superseded_older: Option<Vec<String>>,
}

impl From<&OutboxNote> for OutboxNoteInfo {
    fn from(note: &OutboxNote) -> Self {
        match note {
            OutboxNote::Kept {
                id,
                state,
                next_attempt_at_ms,
                superseded_by,
                superseded_older,
            } => OutboxNoteInfo {
                id: Some(id.clone()),
                state: Some(*state),
                next_attempt_at: next_attempt_at_ms.map(iso8601),
                superseded_by: superseded_by.clone(),
                error: None,
                superseded_older: (!superseded_older.is_empty()).then(|| superseded_older.clone()),
            },
            OutboxNote::Failed { id, error } => OutboxNoteInfo {
                id: id.clone(),
                state: None,
                next_attempt_at: None,
                superseded_by: None,
                error: Some(error.clone()),
                superseded_older: None,
            },
        }
    }
}

/// What `sendSync` did, for the JS layer to log and shape into a `SyncResult`.
#[napi(object)]
pub struct NativeSyncReport {
    pub ok: bool,
    pub status: Option<u32>,
    pub attempts: Vec<AttemptInfo>,
    pub elapsed_ms: f64,
    /// The partner's last answer, at most 64 KiB of it.
    pub response_text: Option<String>,
    pub response_is_json: bool,
    pub error: Option<SyncErrorInfo>,
    /// Set when an outbox is configured.
    pub outbox: Option<OutboxNoteInfo>,
    /// When the delivery began (ms since the epoch): `attempts[].startedMs` count from it.
    pub delivery_started_at_ms: f64,
    /// Neither accepted by the partner nor kept in the configured outbox: a person must act.
    pub lost: bool,
}

/// Makes `id` abortable by `abortSync(id)`: call it before `sendSync(..., id)`, so that an
/// abort that comes before the core starts is not missed. `sendSync` unregisters it.
#[napi]
pub fn register_abort(id: u32) {
    abort::register(id);
}

/// Aborts the `sendSync` registered as `id`: it stops waiting and retrying at once (an attempt
/// on the wire is abandoned; the outbox entry, if any, stays pending). Nothing once it ended.
#[napi]
pub fn abort_sync(id: u32) {
    abort::fire(id);
}

#[napi]
impl ResolvedSettings {
    /// Signs `body` (exactly as given: the caller's `JSON.stringify` output), keeps it in the
    /// outbox when one is configured, and delivers it with retries, one request of the booking
    /// on the wire at a time; a newer sync of the booking (a later `timestampMs`) supersedes it.
    /// `headers` (trace context) go with every attempt, outside the signed body.
    /// Resolves with a report whatever happens on the wire.
    #[napi]
    pub async fn send(
        &self,
        body: String,
        booking_id: String,
        event: String,
        timestamp_ms: f64,
        headers: Option<HashMap<String, String>>,
        abort_id: Option<u32>,
    ) -> NativeSyncReport {
        let request = SyncRequest {
            body,
            booking_id,
            event,
            version_ms: timestamp_ms as i64,
            headers: headers.unwrap_or_default().into_iter().collect(),
        };
        let done = service::sync(request, &self.settings, Abort::take(abort_id)).await;
        let outcome = done.outcome;
        NativeSyncReport {
            ok: outcome.ok(),
            status: outcome.status.map(u32::from),
            attempts: outcome.attempts.iter().map(AttemptInfo::from).collect(),
            elapsed_ms: outcome.elapsed_ms,
            response_text: outcome.response_text,
            response_is_json: outcome.response_is_json,
            error: outcome.error.as_ref().map(SyncErrorInfo::from),
            outbox: done.outbox.as_ref().map(OutboxNoteInfo::from),
            delivery_started_at_ms: outcome.started_at_ms,
            lost: done.lost,
        }
    }
}
