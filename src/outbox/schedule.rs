//! The long schedule: what becomes of an outbox entry after an attempt failed.

use std::time::Duration;

use crate::config::OutboxSettings;
use crate::errors::{ErrorKind, SyncError};

/// A 404 may be the partner's database lookup failing, and a 401 its own secret missing (a
/// deploy, say): both get a few more tries on the schedule before a person must act.
pub const NOT_FOUND_RETRIES: u32 = 3;

/// Where an entry is on its schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleState {
    /// Failed attempts on the long schedule since the entry was created or retried by hand.
    pub step: u32,
    /// 404 and 401 answers so far (stored as `not_found_count`).
    pub not_found_count: u32,
    /// When the schedule (re)started: creation, or the last manual retry.
    pub started_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    Pending {
        next_attempt_at_ms: i64,
        state: ScheduleState,
    },
    Dead {
        reason: String,
        state: ScheduleState,
    },
}

/// A duration as the outbox stores times: whole milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Decides the entry's fate after a delivery that ended with `error` (`None`: delivered).
pub fn decide(
    error: Option<&SyncError>,
    state: ScheduleState,
    settings: &OutboxSettings,
    now_ms: i64,
) -> Decision {
    let Some(error) = error else {
        return Decision::Delivered;
    };
    let mut next = ScheduleState {
        step: state.step.saturating_add(1),
        ..state
    };
    match error.kind {
        ErrorKind::BadRequest | ErrorKind::Validation => {
            return Decision::Dead {
                reason: "the partner rejected it; a person must fix the secret or the data, then retry the entry".into(),
                state: next,
            };
        }
        ErrorKind::Http if error.status == Some(422) => {
            return Decision::Dead {
                reason:
                    "the partner could not process it (422); fix the data, then retry the entry"
                        .into(),
                state: next,
            };
        }
        ErrorKind::NotFound | ErrorKind::Unauthorized => {
            next.not_found_count += 1;
            if next.not_found_count > NOT_FOUND_RETRIES {
                return Decision::Dead {
                    reason: format!(
                        "the partner answered 404 or 401 {} times; fix the cause (the booking, or the secret on either side), then retry the entry",
                        next.not_found_count
                    ),
                    state: next,
                };
            }
        }
        _ => {}
    }
    let expires_at = state.started_at_ms.saturating_add(millis(settings.max_age));
    if now_ms >= expires_at {
        return Decision::Dead {
            reason: format!(
                "still undelivered after {} ms (PARTNER_SYNC_OUTBOX_MAX_AGE)",
                millis(settings.max_age)
            ),
            state: next,
        };
    }
    let index = (state.step as usize).min(settings.schedule.len().saturating_sub(1));
    let delay = settings
        .schedule
        .get(index)
        .copied()
        .unwrap_or(Duration::from_secs(60));
    // One last attempt right at the end of the allowed age, rather than none.
    let next_attempt_at_ms = now_ms.saturating_add(millis(delay)).min(expires_at);
    Decision::Pending {
        next_attempt_at_ms,
        state: next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_schedule;

    fn settings() -> OutboxSettings {
        OutboxSettings {
            location: "sqlite::memory:".into(),
            timeout: Duration::from_secs(3),
            schedule: parse_schedule("1m,5m,30m,2h,6h,12h").unwrap(),
            max_age: Duration::from_secs(3 * 86_400),
            table_prefix: Ok("t_".into()),
            retention: None,
        }
    }

    fn start() -> ScheduleState {
        ScheduleState {
            step: 0,
            not_found_count: 0,
            started_at_ms: 0,
        }
    }

    fn failure(kind: ErrorKind, message: &str) -> SyncError {
        SyncError::new(kind, message)
    }

    #[test]
    fn follows_the_schedule_then_repeats_its_last_step_until_max_age() {
        let settings = settings();
        let outage = failure(ErrorKind::Network, "connection refused");
        let mut state = start();
        let mut now = 0;
        let mut delays = Vec::new();
        loop {
            match decide(Some(&outage), state, &settings, now) {
                Decision::Pending {
                    next_attempt_at_ms,
                    state: next,
                } => {
                    delays.push((next_attempt_at_ms - now) / 60_000);
                    now = next_attempt_at_ms;
                    state = next;
                }
                Decision::Dead { reason, .. } => {
                    assert!(reason.contains("MAX_AGE"));
                    break;
                }
                Decision::Delivered => unreachable!(),
            }
        }
        assert_eq!(&delays[..7], &[1, 5, 30, 120, 360, 720, 720]);
        assert_eq!(now, 3 * 86_400_000, "the last attempt is at the max age");
    }

    #[test]
    fn rejected_payloads_go_dead_at_once() {
        let unprocessable = SyncError {
            status: Some(422),
            ..failure(ErrorKind::Http, "HTTP 422 \"Unprocessable\"")
        };
        for error in [failure(ErrorKind::BadRequest, "HTTP 400"), unprocessable] {
            assert!(matches!(
                decide(Some(&error), start(), &settings(), 10),
                Decision::Dead { .. }
            ));
        }
        let server_error = failure(ErrorKind::Http, "HTTP 500");
        assert!(matches!(
            decide(Some(&server_error), start(), &settings(), 10),
            Decision::Pending { .. }
        ));
    }

    #[test]
    fn not_found_and_unauthorized_are_retried_a_few_times_then_dead() {
        let not_found = failure(ErrorKind::NotFound, "HTTP 404");
        let unauthorized = failure(ErrorKind::Unauthorized, "HTTP 401");
        for error in [&not_found, &unauthorized] {
            let mut state = start();
            for _ in 0..NOT_FOUND_RETRIES {
                match decide(Some(error), state, &settings(), 0) {
                    Decision::Pending { state: next, .. } => state = next,
                    other => panic!("expected pending, got {other:?}"),
                }
            }
            assert!(matches!(
                decide(Some(error), state, &settings(), 0),
                Decision::Dead { .. }
            ));
        }
    }

    #[test]
    fn success_is_delivered() {
        assert_eq!(decide(None, start(), &settings(), 0), Decision::Delivered);
    }
}
