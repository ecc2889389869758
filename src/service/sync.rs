//! One sync: kept in the outbox first (when there is one), then delivered within the in-request
//! deadline as the booking's one sender, then settled.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::abort::Abort;
use crate::config::Settings;
use crate::delivery::{blocked_error, superseded_error, DeliveryOutcome};
use crate::errors::SyncError;
use crate::lanes::{Blocked, Ticket};
use crate::outbox::{
    self, millis, now_ms, BookingLease, Delivered, NewEntry, Outbox, OutboxError, ScheduleState,
};
use crate::payload::SyncRequest;

use super::health::note_accepted;
use super::settle::{settle_or_note, Lease};
use super::{bounded, deliver_with, lane_url, OutboxNote, LEASE_MARGIN};

/// How often a sync looks again for its booking's lease held by another process.
const BOOKING_POLL_MAX: Duration = Duration::from_millis(200);

pub struct SyncReport {
    pub outcome: DeliveryOutcome,
    pub outbox: Option<OutboxNote>,
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
