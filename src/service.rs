//! The flows the JS surface exposes: one sync (write-ahead, deliver, settle) and a redrive
//! of what is due, plus the outbox's inspect and repair calls.
//!
//! Per booking, one body is on the wire at a time and the newest wins: in one process the
//! booking's lane (`lanes`) orders requests; across processes sharing an outbox the booking's
//! lease in the database does, and a body older than one the partner accepted is superseded.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::abort::Abort;
use crate::config::{parse_duration, RetryPolicy, Settings};
use crate::delivery::{blocked_error, deliver, superseded_error, Delivery, DeliveryOutcome};
use crate::errors::{ErrorKind, SyncError};
use crate::lanes::{Blocked, Ticket};
use crate::outbox::history::{self, AttemptItem, AuditItem, HistoryItem};
use crate::outbox::{
    self, decide, millis, now_ms, BookingLease, BookingMatch, Claim, Decision, Delivered, EntryRow,
    EntryState, Finish, HistoryChange, NewEntry, Outbox, OutboxError, PageFilter, Purged,
    ScheduleState, Settle, Settled, Version,
};
use crate::payload::SyncRequest;

/// Extra lease time beyond the attempts' own bound, for the database writes around them.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Entries delivered at once by one redrive.
const REDRIVE_CONCURRENCY: i64 = 16;
const DEFAULT_REDRIVE_LIMIT: i64 = 100;
/// Bound on each outbox write in the request path: a stuck database must not hold the handler.
const OUTBOX_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Entries one delete statement removes: small enough never to hold the database for long.
const PURGE_BATCH: i64 = 500;
/// Batches of retention one redrive deletes at most, so a large backlog never stalls it.
const RETENTION_BATCHES_PER_REDRIVE: u32 = 4;
/// How often a sync looks again for its booking's lease held by another process.
const BOOKING_POLL_MAX: Duration = Duration::from_millis(200);

async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, OutboxError>>,
) -> Result<T, OutboxError> {
    tokio::time::timeout(OUTBOX_WRITE_TIMEOUT, work)
        .await
        .unwrap_or(Err(OutboxError::Timeout(OUTBOX_WRITE_TIMEOUT)))
}

/// What the outbox did with one sync or one redriven entry.
#[derive(Clone, Debug)]
pub enum OutboxNote {
    /// The entry was written with this state.
    Kept {
        id: String,
        state: EntryState,
        next_attempt_at_ms: Option<i64>,
        superseded_by: Option<String>,
        /// Older pending entries of the booking this delivery superseded: their ids.
        superseded_older: Vec<String>,
    },
    /// The outbox could not keep or update the entry (`id` when it had been written).
    Failed { id: Option<String>, error: String },
}

impl OutboxNote {
    pub fn state(&self) -> Option<EntryState> {
        match self {
            OutboxNote::Kept { state, .. } => Some(*state),
            OutboxNote::Failed { .. } => None,
        }
    }

    pub fn superseded_older(&self) -> &[String] {
        match self {
            OutboxNote::Kept {
                superseded_older, ..
            } => superseded_older,
            OutboxNote::Failed { .. } => &[],
        }
    }
}

pub struct SyncReport {
    pub outcome: DeliveryOutcome,
    pub outbox: Option<OutboxNote>,
}

/// The partner URL as the key of a booking's lane (an unusable URL sends nothing anyway).
fn lane_url(settings: &Settings) -> &str {
    settings.url.as_ref().map_or("", |url| url.as_str())
}

async fn deliver_with(
    settings: &Settings,
    body: &str,
    booking_id: &str,
    policy: &RetryPolicy,
    ticket: &Ticket,
    deadline: Instant,
    headers: &[(String, String)],
) -> DeliveryOutcome {
    let target = settings
        .require_url()
        .and_then(|url| Ok((url, settings.require_secret()?)));
    match target {
        Ok((url, secret)) => {
            deliver(Delivery {
                url,
                body,
                secret,
                policy,
                ticket,
                quiet_period: settings.quiet_period,
                deadline,
                booking_id,
                headers,
            })
            .await
        }
        Err(e) => DeliveryOutcome::refused(e),
    }
}

/// The attempts of one delivery (or its refusal, when it made none), appended to a history.
fn extend_history(history: &str, started_at_ms: i64, outcome: &DeliveryOutcome) -> String {
    let item = |at: i64, status: Option<u16>, error: Option<&SyncError>, duration_ms: f64| {
        HistoryItem::Attempt(AttemptItem {
            at,
            status,
            error_kind: error.map(|e| e.kind.as_str().to_string()),
            message: error.map(|e| e.message.clone()),
            duration_ms,
        })
    };
    let refusal = outcome
        .attempts
        .is_empty()
        .then(|| item(started_at_ms, None, outcome.error.as_ref(), 0.0));
    let attempts = outcome.attempts.iter().map(|attempt| {
        item(
            started_at_ms + attempt.started_ms as i64,
            attempt.status,
            attempt.error.as_ref(),
            attempt.duration_ms,
        )
    });
    history::append(history, refusal.into_iter().chain(attempts))
}

/// An entry leased to this worker or request, and its booking once this one sends for it.
struct Lease {
    id: String,
    owner: String,
    booking_id: String,
    version: Version,
    schedule: ScheduleState,
    history: String,
    booking: Option<BookingLease>,
}

impl Lease {
    fn of(entry: &EntryRow, booking: BookingLease) -> Self {
        Lease {
            id: entry.id.clone(),
            owner: booking.owner.clone(),
            booking_id: entry.booking_id.clone(),
            version: entry.version(),
            schedule: entry.schedule_state(),
            history: entry.history.clone(),
            booking: Some(booking),
        }
    }
}

/// Writes the result of a leased delivery: delivered (older pending entries of the booking
/// superseded), superseded, pending on the long schedule, or dead; then frees the booking.
async fn settle(
    outbox: &Outbox,
    lease: &Lease,
    started_at_ms: i64,
    outcome: &DeliveryOutcome,
    settings: &Settings,
) -> Result<OutboxNote, OutboxError> {
    let now = now_ms();
    let quiet_until = outcome
        .unanswered
        .then(|| now + millis(settings.quiet_period));
    let superseded = outcome
        .error
        .as_ref()
        .is_some_and(|e| e.kind == ErrorKind::Superseded);
    let decision = if superseded {
        None
    } else {
        // This call's schedule: the open outbox is shared by every client of its location.
        let schedule = settings
            .outbox
            .as_ref()
            .expect("settled only with an outbox");
        Some(decide(
            outcome.error.as_ref(),
            lease.schedule,
            schedule,
            now,
        ))
    };
    let superseded_by = if superseded {
        outbox
            .newest_other(lease.id.clone())
            .await?
            .map(|(id, _)| id)
    } else {
        None
    };
    let last_error = |reason: Option<&str>| {
        outcome.error.as_ref().map(|e| match reason {
            Some(reason) => format!("{}; dead: {reason}", e.message),
            None => e.message.clone(),
        })
    };
    let (state, schedule, next_attempt_at_ms, last_error) = match &decision {
        None => (
            EntryState::Superseded,
            lease.schedule,
            None,
            last_error(None),
        ),
        Some(Decision::Delivered) => (EntryState::Delivered, lease.schedule, None, None),
        Some(Decision::Pending {
            next_attempt_at_ms,
            state,
        }) => (
            EntryState::Pending,
            *state,
            // Not before the partner is done with a body that got no answer.
            Some((*next_attempt_at_ms).max(quiet_until.unwrap_or(0))),
            last_error(None),
        ),
        Some(Decision::Dead { reason, state }) => {
            (EntryState::Dead, *state, None, last_error(Some(reason)))
        }
    };
    let finish = Finish {
        id: lease.id.clone(),
        lease_owner: lease.owner.clone(),
        state,
        attempts_added: outcome.attempts.len() as i64,
        schedule,
        next_attempt_at_ms,
        delivered_at_ms: (state == EntryState::Delivered).then_some(now),
        last_status: outcome.status.map(i64::from),
        last_error_kind: outcome.error.as_ref().map(|e| e.kind.as_str().to_string()),
        last_error,
        history: extend_history(&lease.history, started_at_ms, outcome),
        now_ms: now,
        superseded_by: superseded_by.clone(),
    };
    // One write: a crash never leaves the booking's watermark, this entry's state and the
    // older entries it supersedes out of step.
    let Settled {
        kept,
        superseded_older,
    } = outbox
        .settle(Settle {
            finish,
            booking_id: lease.booking_id.clone(),
            delivered: (state == EntryState::Delivered).then(|| Delivered {
                version: lease.version,
                entry_id: lease.id.clone(),
            }),
            booking_owner: lease.booking.as_ref().map(|b| b.owner.clone()),
            quiet_until_ms: quiet_until,
        })
        .await?;
    if !kept {
        return Err(OutboxError::LeaseLost(lease.id.clone()));
    }
    Ok(OutboxNote::Kept {
        id: lease.id.clone(),
        state,
        next_attempt_at_ms,
        superseded_by,
        superseded_older,
    })
}

/// Settles within the outbox write bound; a failure to write is reported, never raised: the
/// entry keeps its lease until it runs out, then a redrive takes it again.
async fn settle_or_note(
    outbox: &Outbox,
    lease: &Lease,
    started_at_ms: i64,
    outcome: &DeliveryOutcome,
    settings: &Settings,
) -> OutboxNote {
    bounded(settle(outbox, lease, started_at_ms, outcome, settings))
        .await
        .unwrap_or_else(|error| OutboxNote::Failed {
            id: Some(lease.id.clone()),
            error: format!("{error}; the entry stays pending and will be redriven"),
        })
}

/// A sync written ahead: the entry, and the booking's lease when the write took it.
struct WrittenAhead {
    outbox: Arc<Outbox>,
    lease: Lease,
    booking: BookingLease,
    /// `Some(newest body delivered so far)` when this request became the booking's sender.
    taken: Option<Option<Delivered>>,
}

/// Stores the sync before its first attempt, leased to this request for its whole deadline,
/// and in the same write makes it the booking's sender when the booking is free.
async fn write_ahead(
    settings: &Settings,
    request: &SyncRequest,
) -> Result<WrittenAhead, OutboxError> {
    let outbox_settings = settings
        .outbox
        .as_ref()
        .expect("called only with an outbox");
    let outbox = outbox::open(outbox_settings).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let owner = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let booking = BookingLease {
        booking_id: request.booking_id.clone(),
        owner: owner.clone(),
        until_ms: now + millis(settings.retry.deadline + LEASE_MARGIN),
    };
    let entry = NewEntry {
        id: id.clone(),
        booking_id: request.booking_id.clone(),
        event: request.event.clone(),
        body: request.body.clone(),
        now_ms: now,
        lease_until_ms: booking.until_ms,
        lease_owner: owner.clone(),
        version_ms: request.version_ms,
    };
    let (version, taken) = outbox
        .write_ahead(entry, millis(settings.quiet_period))
        .await?;
    let lease = Lease {
        id,
        owner,
        booking_id: request.booking_id.clone(),
        version,
        schedule: ScheduleState {
            step: 0,
            not_found_count: 0,
            started_at_ms: now,
        },
        history: "[]".into(),
        booking: None,
    };
    Ok(WrittenAhead {
        outbox,
        lease,
        booking,
        taken,
    })
}

/// Waits, until the deadline, to become the booking's one sender across processes (unless the
/// write-ahead already did). `Err` says why this sync may not send: superseded, or the booking
/// stayed busy.
async fn take_booking(
    ahead: &mut WrittenAhead,
    ticket: &Ticket,
    settings: &Settings,
    deadline: Instant,
) -> Result<(), SyncError> {
    let WrittenAhead {
        outbox,
        lease,
        booking,
        taken,
    } = ahead;
    let quiet_ms = millis(settings.quiet_period);
    let mut poll = Duration::from_millis(5);
    loop {
        let blocked = |b| blocked_error(b, &lease.booking_id, settings.quiet_period);
        if let Some(delivered) = taken.take() {
            // Held from here on, whatever follows: the settle gives it back.
            lease.booking = Some(booking.clone());
            ticket.check().map_err(blocked)?;
            return match delivered.filter(|newer| newer.version > lease.version) {
                Some(newer) => Err(superseded_error(
                    &lease.booking_id,
                    &format!("outbox entry {}, already delivered,", newer.entry_id),
                )),
                None => Ok(()),
            };
        }
        ticket.check().map_err(blocked)?;
        if Instant::now() + poll >= deadline {
            return Err(blocked(Blocked::Busy { quiet_until: None }));
        }
        ticket.wait(poll).await.map_err(blocked)?;
        poll = (poll * 2).min(BOOKING_POLL_MAX);
        match bounded(outbox.lease_booking(booking, now_ms(), quiet_ms)).await {
            Ok(attempt) => *taken = attempt,
            // Outbox trouble never stops the live delivery; this process's lane still orders it.
            Err(_) => return Ok(()),
        }
    }
}

/// One sync: kept in the outbox first (when there is one), then delivered within the
/// in-request deadline as the booking's one sender, then settled. Outbox trouble never
/// stops the live delivery; an abort stops waiting and retrying, never the outbox writes.
pub async fn sync(request: SyncRequest, settings: &Settings, abort: Option<Abort>) -> SyncReport {
    let ticket = Ticket::newest(lane_url(settings), &request.booking_id, request.version_ms)
        .with_abort(abort);
    let deadline = Instant::now() + settings.retry.deadline;
    let mut note = None;
    let mut entry = None;
    if settings.outbox.is_some() {
        match bounded(write_ahead(settings, &request)).await {
            Ok(written) => entry = Some(written),
            Err(error) => {
                note = Some(OutboxNote::Failed {
                    id: None,
                    error: error.to_string(),
                })
            }
        }
    }
    let started_at_ms = now_ms();
    let turn = match &mut entry {
        Some(ahead) => take_booking(ahead, &ticket, settings, deadline).await,
        None => Ok(()),
    };
    let outcome = match turn {
        Ok(()) => {
            deliver_with(
                settings,
                &request.body,
                &request.booking_id,
                &settings.retry,
                &ticket,
                deadline,
                &request.headers,
            )
            .await
        }
        Err(not_sent) => DeliveryOutcome::refused(not_sent),
    };
    if outcome.ok() {
        note_accepted(settings);
    }
    if let Some(WrittenAhead { outbox, lease, .. }) = entry {
        note = Some(settle_or_note(&outbox, &lease, started_at_ms, &outcome, settings).await);
    }
    SyncReport {
        outcome,
        outbox: note,
    }
}

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

fn no_outbox() -> SyncError {
    SyncError::config(crate::settings::NO_OUTBOX_MESSAGE)
}

async fn open_configured(settings: &Settings) -> Result<Arc<Outbox>, SyncError> {
    let outbox_settings = settings.outbox.as_ref().ok_or_else(no_outbox)?;
    let outbox = outbox::open(outbox_settings).await?;
    Ok(outbox)
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
/// A 2xx from the partner this recent means it is up: a catch-up brings failed entries forward.
const PARTNER_BACK_WITHIN: Duration = Duration::from_secs(120);

/// When the partner last accepted a body, per URL, in this process.
fn accepted_at() -> &'static std::sync::Mutex<std::collections::HashMap<String, Instant>> {
    static ACCEPTED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, Instant>>,
    > = std::sync::OnceLock::new();
    ACCEPTED.get_or_init(Default::default)
}

fn note_accepted(settings: &Settings) {
    let mut accepted = accepted_at().lock().expect("not poisoned");
    accepted.insert(lane_url(settings).to_string(), Instant::now());
}

fn partner_is_back(settings: &Settings) -> bool {
    let accepted = accepted_at().lock().expect("not poisoned");
    accepted
        .get(lane_url(settings))
        .is_some_and(|at| at.elapsed() < PARTNER_BACK_WITHIN)
}

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
                let note =
                    settle_or_note(&outbox, &lease, started_at_ms, &outcome, &settings).await;
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

fn check_state(state: Option<&str>) -> Result<(), SyncError> {
    match state {
        Some(state) if EntryState::parse(state).is_none() => Err(SyncError::new(
            ErrorKind::Validation,
            format!(
                "unknown outbox state {state:?}: use one of {}",
                EntryState::ALL.map(EntryState::as_str).join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

pub async fn list(
    settings: &Settings,
    state: Option<String>,
    limit: u32,
) -> Result<Vec<EntryRow>, SyncError> {
    let query = PageQuery {
        state,
        limit,
        ..PageQuery::default()
    };
    Ok(page(settings, query).await?.entries)
}

/// What one page of the entry list asks for.
#[derive(Clone, Debug, Default)]
pub struct PageQuery {
    pub state: Option<String>,
    pub booking: Option<BookingMatch>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

pub struct Page {
    pub entries: Vec<EntryRow>,
    /// Set when more entries follow: pass it as the next query's `cursor`.
    pub next_cursor: Option<String>,
}

/// Where a page ends: the last entry's creation time and id.
fn cursor_of(entry: &EntryRow) -> String {
    format!("{}:{}", entry.created_at_ms, entry.id)
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), SyncError> {
    cursor
        .split_once(':')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_string())))
        .ok_or_else(|| {
            SyncError::new(
                ErrorKind::Validation,
                format!("cursor {cursor:?} is not one this outbox gave: start again from the first page"),
            )
        })
}

/// Entries newest first, by state and booking, one page at a time (keyset: no OFFSET).
pub async fn page(settings: &Settings, query: PageQuery) -> Result<Page, SyncError> {
    check_state(query.state.as_deref())?;
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let limit = i64::from(query.limit.max(1));
    let outbox = open_configured(settings).await?;
    let mut entries = outbox
        .page(PageFilter {
            state: query.state,
            booking: query.booking,
            after,
            // One more tells whether a next page exists.
            limit: limit + 1,
        })
        .await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_cursor = more.then(|| entries.last().map(cursor_of)).flatten();
    Ok(Page {
        entries,
        next_cursor,
    })
}

/// Number of entries in each state, every state present (0 when none).
pub async fn counts(settings: &Settings) -> Result<Vec<(EntryState, i64)>, SyncError> {
    let outbox = open_configured(settings).await?;
    let found = outbox.count_by_state().await?;
    Ok(EntryState::ALL
        .into_iter()
        .map(|state| {
            let n = found
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            (state, n)
        })
        .collect())
}

pub const HOUR_MS: i64 = 3_600_000;

/// One hour of the last 24: deliveries, failed attempts of pending entries, and dead entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hour {
    pub start_ms: i64,
    pub delivered: i64,
    pub failed: i64,
    pub dead: i64,
}

/// The 24 hours up to the one holding `now_ms`, oldest first, each complete (0 when empty).
pub async fn hourly(settings: &Settings, now_ms: i64) -> Result<Vec<Hour>, SyncError> {
    let since = (now_ms.div_euclid(HOUR_MS) - 23) * HOUR_MS;
    let mut hours: Vec<Hour> = (0..24)
        .map(|i| Hour {
            start_ms: since + i * HOUR_MS,
            ..Hour::default()
        })
        .collect();
    let outbox = open_configured(settings).await?;
    let found = outbox.hourly(since, since + 24 * HOUR_MS).await?;
    for count in found {
        let Some(hour) = usize::try_from(count.hour)
            .ok()
            .and_then(|i| hours.get_mut(i))
        else {
            continue;
        };
        match count.series.as_str() {
            "delivered" => hour.delivered += count.count,
            "failed" => hour.failed += count.count,
            _ => hour.dead += count.count,
        }
    }
    Ok(hours)
}

/// How often an audit note is tried again when a delivery rewrote the history meanwhile.
const AUDIT_TRIES: usize = 5;

/// Appends `{at, action, by}` to the entry's history (kept within its bound); false when the
/// entry does not exist.
pub async fn audit(
    settings: &Settings,
    id: String,
    by: &str,
    action: &str,
) -> Result<bool, SyncError> {
    let outbox = open_configured(settings).await?;
    for _ in 0..AUDIT_TRIES {
        let Some(entry) = outbox.get(id.clone()).await? else {
            return Ok(false);
        };
        let note = HistoryItem::Audit(AuditItem {
            at: now_ms(),
            action: action.to_string(),
            by: by.to_string(),
        });
        let history = history::append(&entry.history, [note]);
        if outbox
            .set_history(HistoryChange {
                id: id.clone(),
                old: entry.history,
                new: history,
            })
            .await?
        {
            return Ok(true);
        }
    }
    Err(SyncError::new(
        ErrorKind::Outbox,
        format!("the audit note on outbox entry {id} could not be written: the entry kept changing; try again"),
    ))
}

pub async fn show(settings: &Settings, id: String) -> Result<Option<EntryRow>, SyncError> {
    let outbox = open_configured(settings).await?;
    Ok(outbox.get(id).await?)
}

/// Makes a dead or pending entry due now, with a fresh schedule. Refused for an entry that a
/// newer one of its booking replaces: sending it would put an older state back.
/// `by`, when given, is written to the entry's history as an audit note of the retry.
pub async fn retry(settings: &Settings, id: String, by: Option<&str>) -> Result<bool, SyncError> {
    let outbox = open_configured(settings).await?;
    let Some(entry) = outbox.get(id.clone()).await? else {
        return Ok(false);
    };
    let refuse = |newer: &str| {
        Err(SyncError::new(
            ErrorKind::Validation,
            format!(
                "outbox entry {id} of booking {} is older than {newer}: retrying it would put an older state \
                 back on the partner; retry the newer entry instead, or send a new sync of the booking",
                entry.booking_id
            ),
        ))
    };
    if entry.state == EntryState::Superseded.as_str() {
        let by = entry.superseded_by.as_deref().unwrap_or("a newer sync");
        return refuse(&format!("entry {by}, which superseded it"));
    }
    if let Some((newer, state)) = outbox.newest_other(id.clone()).await? {
        return refuse(&format!("entry {newer} ({state})"));
    }
    let retried = outbox.retry(id.clone(), now_ms()).await?;
    if let (true, Some(by)) = (retried, by) {
        audit(settings, id, by, "retry").await?;
    }
    Ok(retried)
}

/// Deletes delivered and superseded entries older than `older_than` (such as `30d`); returns them.
pub async fn purge(settings: &Settings, older_than: &str) -> Result<Vec<Purged>, SyncError> {
    let age = parse_duration(older_than).map_err(|e| SyncError::new(ErrorKind::Validation, e))?;
    let outbox = open_configured(settings).await?;
    Ok(delete_finished(&outbox, now_ms() - millis(age), u32::MAX).await?)
}

/// Deletes finished entries before `before_ms`, one bounded batch at a time, at most `batches`.
async fn delete_finished(
    outbox: &Outbox,
    before_ms: i64,
    batches: u32,
) -> Result<Vec<Purged>, OutboxError> {
    let mut deleted = Vec::new();
    for _ in 0..batches {
        let batch = outbox.purge(before_ms, PURGE_BATCH).await?;
        let full = batch.len() as i64 == PURGE_BATCH;
        deleted.extend(batch);
        if !full {
            break;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::AttemptRecord;

    #[test]
    fn history_keeps_the_latest_attempts_only() {
        let failure = SyncError::new(ErrorKind::Http, "HTTP 503");
        let outcome = DeliveryOutcome {
            attempts: (1..=15)
                .map(|attempt| AttemptRecord {
                    attempt,
                    status: Some(503),
                    error: Some(failure.clone()),
                    started_ms: f64::from(attempt) * 10.0,
                    duration_ms: 1.0,
                    wait_ms: None,
                })
                .collect(),
            ..DeliveryOutcome::refused(failure.clone())
        };
        let once = extend_history("[]", 1_000, &outcome);
        let twice = extend_history(&once, 2_000, &outcome);
        let items = history::parse(&twice);
        assert_eq!(items.len(), history::HISTORY_LIMIT);
        assert!(matches!(items.last(), Some(HistoryItem::Attempt(a)) if a.at == 2_150));
        assert!(matches!(&items[0], HistoryItem::Attempt(a) if a.status == Some(503)));
        let refused = extend_history(
            "[]",
            5,
            &DeliveryOutcome::refused(SyncError::config("no secret")),
        );
        assert!(refused.contains("\"errorKind\":\"config\""));
    }
}
