//! The end of a leased delivery, shared by a sync and a redrive: the entry's fate (delivered,
//! pending on the long schedule, dead, or superseded), written in one step with the booking's.

use std::time::Duration;

use crate::config::Settings;
use crate::delivery::DeliveryOutcome;
use crate::errors::{ErrorKind, SyncError};
use crate::outbox::history::{self, AttemptItem, HistoryItem};
use crate::outbox::{
    budget, decide, millis, now_ms, BookingLease, Decision, Delivered, EntryRow, EntryState,
    Finish, Outbox, OutboxError, ScheduleState, Settle, Settled, Version,
};

use super::OutboxNote;

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
pub(super) struct Lease {
    pub(super) id: String,
    pub(super) owner: String,
    pub(super) booking_id: String,
    pub(super) version: Version,
    pub(super) schedule: ScheduleState,
    pub(super) history: String,
    pub(super) booking: Option<BookingLease>,
}

impl Lease {
    pub(super) fn of(entry: &EntryRow, booking: BookingLease) -> Self {
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
pub(super) async fn settle(
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

/// Settles within `budget`; a failure to write is reported, never raised: the entry keeps its
/// lease until it runs out, then a redrive takes it again.
pub(super) async fn settle_or_note(
    outbox: &Outbox,
    lease: &Lease,
    started_at_ms: i64,
    outcome: &DeliveryOutcome,
    settings: &Settings,
    budget: Duration,
) -> OutboxNote {
    budget::within(
        budget,
        settle(outbox, lease, started_at_ms, outcome, settings),
    )
    .await
    .unwrap_or_else(|error| OutboxNote::Failed {
        id: Some(lease.id.clone()),
        error: format!("{error}; the entry stays pending and will be redriven once its lease ends"),
    })
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
