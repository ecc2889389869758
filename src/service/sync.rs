//! One sync: kept in the outbox first (when there is one), then delivered within the in-request
//! deadline as the booking's one sender, then settled.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::abort::Abort;
use crate::config::OutboxSettings;
use crate::config::Settings;
use crate::delivery::{blocked_error, superseded_error, DeliveryOutcome};
use crate::errors::{ErrorKind, SyncError};
use crate::lanes::{Blocked, Ticket};
use crate::outbox::{
    self, budget, millis, now_ms, BookingLease, Delivered, NewEntry, Outbox, OutboxError,
    ScheduleState,
};
use crate::payload::SyncRequest;

use super::health::note_accepted;
use super::settle::{settle, settle_or_note, Lease};
use super::{deliver_with, lane_url, step_budget, OutboxNote, LEASE_MARGIN};

/// How often a sync looks again for its booking's lease held by another process.
const BOOKING_POLL_MAX: Duration = Duration::from_millis(200);

pub struct SyncReport {
    pub outcome: DeliveryOutcome,
    pub outbox: Option<OutboxNote>,
    /// Neither accepted by the partner nor kept in the configured outbox: a person must act.
    pub lost: bool,
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
    outbox_settings: &OutboxSettings,
    request: &SyncRequest,
) -> Result<WrittenAhead, OutboxError> {
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
    step: Duration,
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
        let left = deadline.saturating_duration_since(Instant::now());
        match budget::within(
            step.min(left),
            outbox.lease_booking(booking, now_ms(), quiet_ms),
        )
        .await
        {
            Ok(attempt) => *taken = attempt,
            // Outbox trouble never stops the live delivery; this process's lane still orders it.
            Err(_) => return Ok(()),
        }
    }
}

/// What the report says of a sync the outbox could not keep.
fn not_kept(error: OutboxError) -> OutboxNote {
    let may_appear = if matches!(error, OutboxError::Timeout(_)) {
        "; the entry may still appear in the outbox later (it is then redriven, and the partner may see the booking again)"
    } else {
        ""
    };
    OutboxNote::Failed {
        id: None,
        error: format!("{error}{may_appear}"),
    }
}

/// A sync whose write-ahead failed, and whose delivery failed too: written now with what the
/// delivery did, so that a redrive sends it later. The database may be back by now.
async fn keep_late(
    settings: &Settings,
    outbox_settings: &OutboxSettings,
    request: &SyncRequest,
    started_at_ms: i64,
    outcome: &DeliveryOutcome,
) -> Result<OutboxNote, OutboxError> {
    let mut written = write_ahead(settings, outbox_settings, request).await?;
    if written.taken.is_some() {
        written.lease.booking = Some(written.booking.clone());
    }
    settle(
        &written.outbox,
        &written.lease,
        started_at_ms,
        outcome,
        settings,
    )
    .await
}

/// One sync: kept in the outbox first (when there is one), then delivered as the booking's one
/// sender, then settled, all within the deadline. Each outbox step takes at most its share of
/// the deadline (`step_budget`), kept back from delivery, which always gets the rest; outbox
/// trouble never stops the live delivery. An abort stops waiting and retrying, never the
/// outbox writes.
pub async fn sync(request: SyncRequest, settings: &Settings, abort: Option<Abort>) -> SyncReport {
    let ticket = Ticket::newest(lane_url(settings), &request.booking_id, request.version_ms)
        .with_abort(abort);
    let end = Instant::now() + settings.retry.deadline;
    let outbox = settings
        .outbox
        .as_ref()
        .map(|outbox| (outbox, step_budget(outbox, settings.retry.deadline)));
    let mut note = None;
    let mut entry = None;
    if let Some((outbox, step)) = outbox {
        match budget::within(step, write_ahead(settings, outbox, &request)).await {
            Ok(written) => entry = Some(written),
            Err(error) => note = Some(not_kept(error)),
        }
    }
    let deliver_until = end - outbox.map_or(Duration::ZERO, |(_, step)| step);
    let started_at_ms = now_ms();
    let turn = match (&mut entry, outbox) {
        (Some(ahead), Some((_, step))) => {
            take_booking(ahead, &ticket, settings, step, deliver_until).await
        }
        _ => Ok(()),
    };
    let outcome = match turn {
        Ok(()) => {
            deliver_with(
                settings,
                &request.body,
                &request.booking_id,
                &settings.retry,
                &ticket,
                deliver_until,
                &request.headers,
            )
            .await
        }
        Err(not_sent) => DeliveryOutcome::refused(not_sent),
    };
    if outcome.ok() {
        note_accepted(settings);
    }
    let superseded = outcome
        .error
        .as_ref()
        .is_some_and(|e| e.kind == ErrorKind::Superseded);
    if let Some((outbox, step)) = outbox {
        let share = step.min(end.saturating_duration_since(Instant::now()));
        match entry {
            Some(WrittenAhead { outbox, lease, .. }) => {
                let settled =
                    settle_or_note(&outbox, &lease, started_at_ms, &outcome, settings, share);
                note = Some(settled.await);
            }
            None if !outcome.ok() && !superseded => {
                let late = keep_late(settings, outbox, &request, started_at_ms, &outcome);
                if let Ok(kept) = budget::within(share, late).await {
                    note = Some(kept);
                }
            }
            None => {}
        }
    }
    let lost =
        !outcome.ok() && !superseded && matches!(note, Some(OutboxNote::Failed { id: None, .. }));
    SyncReport {
        outcome,
        outbox: note,
        lost,
    }
}
