//! Which answers are worth another attempt, and how long to wait before it.

use std::time::{Duration, SystemTime};

use rand::Rng;

use crate::config::RetryPolicy;
use crate::errors::{ErrorKind, SyncError};

/// What to do after the partner answered with an HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// A transient failure: try again within the in-request deadline.
    Retry,
    /// Another attempt would get the same answer: stop now.
    GiveUp,
}

pub fn classify_status(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 425 | 429 | 500 | 502 | 503 | 504 => Verdict::Retry,
        _ => Verdict::GiveUp,
    }
}

/// The error kind a non-2xx status is reported as.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Unauthorized,
        400 => ErrorKind::BadRequest,
        404 => ErrorKind::NotFound,
        _ => ErrorKind::Http,
    }
}

/// What the guide's table says each status means, and what to do about it.
pub fn explain_status(status: u16) -> &'static str {
    match status {
        401 => "the partner refused the request: either the signature (PWA_WEBHOOK_SECRET must match smashpartner.online's secret exactly) or, when its message says so, its own secret is not configured (a partner-side problem: the outbox retries it a few times)",
        400 => "the partner found the payload incomplete (booking_id missing?)",
        404 => "the partner has no such booking (or its database lookup failed)",
        403 => "the partner refused the request",
        422 => "the partner could not process the payload",
        300..=399 => "redirects are not followed: set SMASHPARTNER_SYNC_URL to the final endpoint",
        408 | 425 | 429 => "the partner asked us to slow down or try later",
        500..=599 => "the partner had a server error",
        _ => "unexpected answer from the partner",
    }
}

/// Full-jitter exponential backoff: a random wait in `[0, min(max, base * 2^retry))`.
/// `retry` counts from 0 for the wait after the first failed attempt.
pub fn backoff_delay(base: Duration, max: Duration, retry: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let ceiling_ms = ceiling.as_millis() as u64;
    if ceiling_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rng.random_range(0..=ceiling_ms))
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
/// A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A failed attempt, as the decision about the next one sees it.
pub struct Failed<'a> {
    pub error: &'a SyncError,
    /// Another attempt could get a different answer (see `classify_status`).
    pub retryable: bool,
    pub retry_after: Option<Duration>,
    /// The body may have reached the partner without an answer: it may still be processing it.
    pub maybe_processing: bool,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// What comes after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Stop; the error to report instead of the attempt's own, if any.
    Stop(Option<SyncError>),
}

/// Decides, from the failed attempt, the policy and the time left, whether and when to retry.
pub fn next_step(
    failed: &Failed,
    policy: &RetryPolicy,
    quiet_period: Duration,
    left: Duration,
    booking_id: &str,
    rng: &mut impl Rng,
) -> Next {
    if !failed.retryable || failed.attempt >= policy.max_attempts {
        return Next::Stop(None);
    }
    let mut wait = failed.retry_after.unwrap_or_else(|| {
        backoff_delay(
            policy.backoff_base,
            policy.backoff_max,
            failed.attempt - 1,
            rng,
        )
    });
    if failed.maybe_processing {
        wait = wait.max(quiet_period);
    }
    // Another attempt needs the wait plus some time to get an answer.
    if wait + Duration::from_millis(10) < left {
        return Next::Retry(wait);
    }
    let error = failed.error;
    Next::Stop(Some(if failed.maybe_processing {
        error.clone().with_message(format!(
            "{}; the partner may have received it and may still be processing it, so booking {booking_id} \
             is not sent again for {} (PARTNER_SYNC_QUIET_PERIOD)",
            error.message,
            humantime::format_duration(quiet_period)
        ))
    } else {
        let why = match failed.retry_after {
            Some(after) => format!("the partner asked to retry after {} ms", after.as_millis()),
            None => "no time is left for another attempt".to_string(),
        };
        SyncError::new(
            ErrorKind::Deadline,
            format!(
                "gave up within the {} ms deadline (PARTNER_SYNC_DEADLINE_MS): {why}; last error: {}",
                policy.deadline.as_millis(),
                error.message
            ),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn statuses_are_classified_as_documented() {
        for s in [200, 201, 204] {
            assert_eq!(classify_status(s), Verdict::Delivered);
        }
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), Verdict::Retry, "{s}");
        }
        for s in [301, 302, 400, 401, 403, 404, 409, 422, 501, 505] {
            assert_eq!(classify_status(s), Verdict::GiveUp, "{s}");
        }
        assert_eq!(kind_for_status(401), ErrorKind::Unauthorized);
        assert_eq!(kind_for_status(400), ErrorKind::BadRequest);
        assert_eq!(kind_for_status(404), ErrorKind::NotFound);
        assert_eq!(kind_for_status(503), ErrorKind::Http);
        assert!(explain_status(401).contains("PWA_WEBHOOK_SECRET"));
    }

    #[test]
    fn backoff_stays_within_its_exponential_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for retry in 0..40 {
            let ceiling = (100u64 << retry.min(20)).min(1000);
            for _ in 0..50 {
                let d = backoff_delay(base, max, retry, &mut rng);
                assert!(d.as_millis() as u64 <= ceiling, "retry {retry}: {d:?}");
            }
        }
        // Full jitter really spreads the waits out.
        let waits: Vec<_> = (0..200)
            .map(|_| backoff_delay(base, max, 3, &mut rng).as_millis())
            .collect();
        assert!(waits.iter().any(|&w| w < 200) && waits.iter().any(|&w| w > 600));
        assert_eq!(
            backoff_delay(Duration::ZERO, max, 2, &mut rng),
            Duration::ZERO
        );
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(10),
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(4),
        }
    }

    fn decide(failed: Failed, left_ms: u64) -> Next {
        let quiet = Duration::from_secs(300);
        let mut rng = StdRng::seed_from_u64(3);
        next_step(
            &failed,
            &policy(),
            quiet,
            Duration::from_millis(left_ms),
            "b1",
            &mut rng,
        )
    }

    fn failed(error: &SyncError) -> Failed<'_> {
        Failed {
            error,
            retryable: true,
            retry_after: None,
            maybe_processing: false,
            attempt: 1,
        }
    }

    #[test]
    fn an_answer_that_will_not_change_or_the_last_attempt_stops_as_it_is() {
        let error = SyncError::new(ErrorKind::BadRequest, "HTTP 400");
        let not_retryable = Failed {
            retryable: false,
            ..failed(&error)
        };
        assert_eq!(decide(not_retryable, 9_000), Next::Stop(None));
        let last = Failed {
            attempt: 5,
            ..failed(&error)
        };
        assert_eq!(decide(last, 9_000), Next::Stop(None));
    }

    #[test]
    fn backoff_when_it_fits_else_a_deadline_error() {
        let error = SyncError::new(ErrorKind::Http, "HTTP 503");
        match decide(failed(&error), 9_000) {
            Next::Retry(wait) => assert!(wait <= Duration::from_millis(250)),
            other => panic!("{other:?}"),
        }
        match decide(failed(&error), 5) {
            Next::Stop(Some(e)) => {
                assert_eq!(e.kind, ErrorKind::Deadline);
                assert!(e.message.contains("no time is left") && e.message.contains("HTTP 503"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_is_kept_exactly_or_ends_the_call_at_once() {
        let error = SyncError::new(ErrorKind::Http, "HTTP 429");
        let asked = |ms| Failed {
            retry_after: Some(Duration::from_millis(ms)),
            ..failed(&error)
        };
        assert_eq!(
            decide(asked(1_000), 9_000),
            Next::Retry(Duration::from_millis(1_000))
        );
        match decide(asked(120_000), 9_000) {
            Next::Stop(Some(e)) => assert!(e.message.contains("asked to retry after 120000 ms")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_that_may_still_be_processed_waits_out_the_quiet_period() {
        let error = SyncError::new(ErrorKind::Timeout, "no answer within 5000 ms");
        let silent = || Failed {
            maybe_processing: true,
            ..failed(&error)
        };
        match decide(silent(), 9_000) {
            Next::Stop(Some(e)) => {
                assert_eq!(e.kind, ErrorKind::Timeout, "the kind stays the attempt's");
                assert!(
                    e.message.contains("may still be processing it") && e.message.contains("5m")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide(silent(), 400_000),
            Next::Retry(Duration::from_secs(300))
        );
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
