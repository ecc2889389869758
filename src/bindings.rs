//! The napi surface: conversions between JS values and the core, nothing else.
//! Never rejects for delivery problems: they are reported in the result.

use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;

use std::collections::HashMap;

use crate::abort::{self, Abort};
use std::sync::Arc;

use crate::config::{self, RawSettings, Settings};
use crate::delivery::{iso8601, AttemptRecord};
use crate::errors::{ErrorKind, SyncError};
use crate::outbox::history::{self, HistoryItem};
use crate::outbox::{now_ms, BookingMatch, EntryRow, EntryState, OutboxError};
use crate::payload::SyncRequest;
use crate::service::{self, OutboxNote, RedriveRun};
use crate::signing;

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

/// One attempt in an outbox entry's history.
#[napi(object)]
pub struct OutboxAttempt {
    /// ISO 8601.
    pub at: String,
    pub status: Option<u32>,
    pub error_kind: Option<ErrorKind>,
    pub message: Option<String>,
    pub duration_ms: f64,
}

/// An outbox entry with its last attempts.
#[napi(object)]
pub struct OutboxEntry {
    /// The stable delivery id.
    pub id: String,
    pub booking_id: String,
    pub event: String,
    pub state: EntryState,
    /// The newer entry of the same booking that replaced this one, when superseded.
    pub superseded_by: Option<String>,
    /// HTTP attempts so far, in requests and redrives.
    pub attempts: u32,
    /// ISO 8601 times.
    pub created_at: String,
    pub updated_at: String,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_status: Option<u32>,
    pub last_error: Option<SyncErrorInfo>,
    /// The exact bytes stored and (re)sent.
    pub body: String,
    /// The last attempts, oldest first.
    pub history: Vec<OutboxAttempt>,
    /// What operators did to the entry (kept with the attempts, the last 20 items in all).
    pub audit: Vec<OutboxAuditNote>,
}

/// An operator's action on an entry, as the dashboard or `retry(id, { by })` recorded it.
#[napi(object)]
pub struct OutboxAuditNote {
    /// ISO 8601.
    pub at: String,
    /// Who acted, as the dashboard's `authorize` named them.
    pub by: String,
    /// What they did, such as `retry`.
    pub action: String,
}

impl TryFrom<EntryRow> for OutboxEntry {
    type Error = OutboxError;

    fn try_from(row: EntryRow) -> Result<Self, OutboxError> {
        let state = row.entry_state()?;
        let mut history = Vec::new();
        let mut audit = Vec::new();
        for item in history::parse(&row.history) {
            match item {
                HistoryItem::Attempt(a) => history.push(OutboxAttempt {
                    at: iso8601(a.at),
                    status: a.status.map(u32::from),
                    error_kind: a.error_kind.as_deref().and_then(ErrorKind::parse),
                    message: a.message,
                    duration_ms: a.duration_ms,
                }),
                HistoryItem::Audit(note) => audit.push(OutboxAuditNote {
                    at: iso8601(note.at),
                    by: note.by,
                    action: note.action,
                }),
            }
        }
        let last_status = row.last_status.map(|s| s as u32);
        Ok(OutboxEntry {
            last_error: row.last_error.map(|message| SyncErrorInfo {
                kind: row
                    .last_error_kind
                    .as_deref()
                    .and_then(ErrorKind::parse)
                    .unwrap_or(ErrorKind::Http),
                message,
                status: last_status,
            }),
            id: row.id,
            booking_id: row.booking_id,
            event: row.event,
            state,
            superseded_by: row.superseded_by,
            attempts: row.attempts.max(0) as u32,
            created_at: iso8601(row.created_at_ms),
            updated_at: iso8601(row.updated_at_ms),
            next_attempt_at: row.next_attempt_at_ms.map(iso8601),
            delivered_at: row.delivered_at_ms.map(iso8601),
            last_status,
            body: row.body,
            history,
            audit,
        })
    }
}

fn entries(rows: Vec<EntryRow>) -> Result<Vec<OutboxEntry>, SyncError> {
    let entries = rows.into_iter().map(OutboxEntry::try_from);
    Ok(entries.collect::<Result<_, _>>()?)
}

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

/// An entry a purge deleted.
#[napi(object)]
pub struct PurgedEntry {
    pub id: String,
    pub booking_id: String,
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

/// A count for JS, where a u32 is plenty.
fn count(n: i64) -> u32 {
    n.clamp(0, i64::from(u32::MAX)) as u32
}

/// The rejection JS sees: `message` as it is, and the kind as the `cause`'s message, which
/// lib/index.js moves to `error.code` (an async export can only reject with napi's own statuses).
fn rejected(error: SyncError) -> napi::Error {
    let mut rejection = napi::Error::from_reason(error.message);
    rejection.set_cause(napi::Error::from_reason(error.kind.as_str()));
    rejection
}

/// What one page of `outboxPage` holds.
#[napi(object)]
pub struct OutboxPageQuery {
    /// Only entries in this state: `pending`, `delivered`, `dead` or `superseded`.
    pub state: Option<String>,
    /// Only the entries of this booking.
    pub booking_id: Option<String>,
    /// Only entries whose booking id starts with this (ignored when `bookingId` is set).
    pub booking_prefix: Option<String>,
    /// The `nextCursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 1000 (default 50).
    pub limit: Option<u32>,
}

/// Entries newest first (by creation time, then id) and where the next page starts.
#[napi(object)]
pub struct OutboxPage {
    pub entries: Vec<OutboxEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Entries in each state.
#[napi(object)]
pub struct OutboxCounts {
    pub pending: u32,
    pub delivered: u32,
    pub dead: u32,
    pub superseded: u32,
}

/// One hour of `outboxHourly`.
#[napi(object)]
pub struct OutboxHour {
    /// ISO 8601 start of the hour.
    pub start: String,
    /// Entries delivered in this hour.
    pub delivered: u32,
    /// Entries still pending whose last attempt failed in this hour.
    pub failed: u32,
    /// Entries that went dead in this hour.
    pub dead: u32,
}

/// Settings resolved once from one set of raw values (`process.env` and the client options),
/// with every call that uses them: the JS layer keeps one per distinct set of values, so a
/// call does not parse its settings again.
#[napi]
pub struct ResolvedSettings {
    settings: Arc<Settings>,
    warnings: Vec<String>,
    endpoint: String,
}

#[napi]
impl ResolvedSettings {
    #[napi(constructor)]
    pub fn new(raw: RawSettings) -> Self {
        let (settings, warnings) = config::resolve(&raw);
        ResolvedSettings {
            settings: Arc::new(settings),
            warnings,
            endpoint: config::endpoint(&raw).trim().to_string(),
        }
    }

    /// The partner endpoint these settings send to, as configured (for traces and logs).
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.endpoint.clone()
    }

    /// Whether an outbox is configured (opening it may still fail).
    #[napi(getter)]
    pub fn has_outbox(&self) -> bool {
        self.settings.outbox.is_some()
    }

    /// Settings that fell back to their defaults, to be logged once as warnings.
    #[napi(getter)]
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

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
        }
    }

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

    /// Lists outbox entries, newest first, optionally only those in one state.
    #[napi]
    pub async fn outbox_list(
        &self,
        state: Option<String>,
        limit: Option<u32>,
    ) -> napi::Result<Vec<OutboxEntry>> {
        let rows = service::list(&self.settings, state, limit.unwrap_or(100)).await;
        rows.and_then(entries).map_err(rejected)
    }

    /// One outbox entry with its attempt history, or null.
    #[napi]
    pub async fn outbox_show(&self, id: String) -> napi::Result<Option<OutboxEntry>> {
        let row = service::show(&self.settings, id).await.map_err(rejected)?;
        let entry = row.map(OutboxEntry::try_from).transpose();
        entry.map_err(|e| rejected(e.into()))
    }

    /// Makes a dead or pending entry due now with a fresh schedule; false when there is none.
    /// Rejects for an entry older than another entry of its booking (superseded or not).
    /// `by`, when given, is kept in the entry's history as an audit note (who retried it).
    #[napi]
    pub async fn outbox_retry(&self, id: String, by: Option<String>) -> napi::Result<bool> {
        service::retry(&self.settings, id, by.as_deref())
            .await
            .map_err(rejected)
    }

    /// One page of outbox entries, newest first, keyset-paginated (no OFFSET: a deep page costs
    /// what the first does). Rejects for an unknown state or a cursor this outbox did not give.
    #[napi]
    pub async fn outbox_page(&self, query: OutboxPageQuery) -> napi::Result<OutboxPage> {
        let booking = match (query.booking_id, query.booking_prefix) {
            (Some(id), _) => Some(BookingMatch::Exact(id)),
            (None, Some(prefix)) if !prefix.is_empty() => Some(BookingMatch::Prefix(prefix)),
            _ => None,
        };
        let page = service::page(
            &self.settings,
            service::PageQuery {
                state: query.state,
                booking,
                cursor: query.cursor,
                limit: query.limit.unwrap_or(50).clamp(1, 1000),
            },
        )
        .await
        .map_err(rejected)?;
        Ok(OutboxPage {
            entries: entries(page.entries).map_err(rejected)?,
            next_cursor: page.next_cursor,
        })
    }

    /// How many entries are in each state (one GROUP BY).
    #[napi]
    pub async fn outbox_counts(&self) -> napi::Result<OutboxCounts> {
        let counts = service::counts(&self.settings).await.map_err(rejected)?;
        let of = |state: EntryState| {
            counts
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| count(*n))
        };
        Ok(OutboxCounts {
            pending: of(EntryState::Pending),
            delivered: of(EntryState::Delivered),
            dead: of(EntryState::Dead),
            superseded: of(EntryState::Superseded),
        })
    }

    /// The last 24 hours, oldest first, the current hour last; every hour present.
    #[napi]
    pub async fn outbox_hourly(&self) -> napi::Result<Vec<OutboxHour>> {
        let hours = service::hourly(&self.settings, now_ms())
            .await
            .map_err(rejected)?;
        Ok(hours
            .into_iter()
            .map(|hour| OutboxHour {
                start: iso8601(hour.start_ms),
                delivered: count(hour.delivered),
                failed: count(hour.failed),
                dead: count(hour.dead),
            })
            .collect())
    }

    /// Deletes delivered and superseded entries older than a duration such as `30d`, with the
    /// booking rows nothing needs any more; resolves with the entries deleted.
    #[napi]
    pub async fn outbox_purge(&self, older_than: String) -> napi::Result<Vec<PurgedEntry>> {
        let purged = service::purge(&self.settings, &older_than)
            .await
            .map_err(rejected)?;
        Ok(purged
            .into_iter()
            .map(|entry| PurgedEntry {
                id: entry.id,
                booking_id: entry.booking_id,
            })
            .collect())
    }
}

fn bytes_of(payload: &Either<String, Buffer>) -> &[u8] {
    match payload {
        Either::A(text) => text.as_bytes(),
        Either::B(buffer) => buffer.as_ref(),
    }
}

/// Lowercase hex HMAC-SHA256 of `payload` (UTF-8 for strings) keyed with `secret`:
/// the `x-pwa-signature` the partner expects.
#[napi]
pub fn generate_signature(payload: Either<String, Buffer>, secret: String) -> String {
    signing::sign(bytes_of(&payload), secret.as_bytes())
}

/// Checks an `x-pwa-signature` in constant time; false for any malformed signature.
#[napi]
pub fn verify_signature(
    payload: Either<String, Buffer>,
    signature: String,
    secret: String,
) -> bool {
    signing::verify(bytes_of(&payload), &signature, secret.as_bytes())
}

/// Hex SHA-256 of the exact bytes, to compare bodies between two sides without the secret.
#[napi]
pub fn body_sha256(payload: Either<String, Buffer>) -> String {
    signing::sha256_hex(bytes_of(&payload))
}
