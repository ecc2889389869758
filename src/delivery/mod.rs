//! Sends signed bodies to the partner: one pooled client per process, bounded attempts,
//! backoff between them, and a record of each attempt.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use tokio::time::Instant;

use crate::config::RetryPolicy;
use crate::errors::{redact, ErrorKind, SyncError};
use crate::lanes::{Blocked, Ticket};
use crate::payload::{partner_message, MAX_RESPONSE_BYTES};
use crate::policy::{
    classify_status, explain_status, kind_for_status, next_step, parse_retry_after, Failed, Next,
    Verdict,
};
use crate::signing::sign;

use self::client::client;
use self::network::describe_network_error;

mod client;
mod network;

pub use self::client::{start_early, startup_warnings};

/// The header that carries the lowercase hex HMAC-SHA256 of the raw body.
pub const SIGNATURE_HEADER: &str = "x-pwa-signature";

/// What one attempt did.
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<SyncError>,
    /// Milliseconds from the start of the delivery to the start of this attempt.
    pub started_ms: f64,
    pub duration_ms: f64,
    /// The wait that followed this attempt, if another attempt came.
    pub wait_ms: Option<f64>,
}

/// What the whole delivery did.
#[derive(Clone, Debug)]
pub struct DeliveryOutcome {
    pub status: Option<u16>,
    pub response_text: Option<String>,
    pub response_is_json: bool,
    pub error: Option<SyncError>,
    pub attempts: Vec<AttemptRecord>,
    pub elapsed_ms: f64,
    /// An attempt sent the body and got no answer: the partner may still be processing it.
    pub unanswered: bool,
    /// When the delivery began, in ms since the epoch: `attempts[].started_ms` count from it.
    pub started_at_ms: f64,
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

impl DeliveryOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// A delivery that never reached the wire (bad config, say).
    pub fn refused(error: SyncError) -> Self {
        DeliveryOutcome {
            status: None,
            response_text: None,
            response_is_json: false,
            error: Some(error),
            attempts: Vec::new(),
            elapsed_ms: 0.0,
            unanswered: false,
            started_at_ms: epoch_ms(),
        }
    }
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() == MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// A failed attempt: what it was, and whether the body may have reached the partner.
struct NoAnswer {
    kind: ErrorKind,
    message: String,
    /// False only when the request provably never ran (no connection was made).
    maybe_received: bool,
}

/// Sends the body once. `Err` carries a network-level failure; an HTTP answer is `Ok`.
async fn attempt_once(
    url: &reqwest::Url,
    body: &str,
    signature: &str,
    extra_headers: &HeaderMap,
    timeout: Duration,
    timeout_setting: &str,
) -> Result<Answer, NoAnswer> {
    let client = client().map_err(|why| NoAnswer {
        kind: ErrorKind::Network,
        message: why.to_owned(),
        maybe_received: false,
    })?;
    let request = client
        .post(url.clone())
        .headers(extra_headers.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body.to_owned());
    // The timeout covers connecting, sending and reading the (bounded) answer.
    let sent = tokio::time::timeout(timeout, async {
        let response = request.send().await?;
        read_bounded(response).await
    })
    .await;
    match sent {
        Err(_) => Err(NoAnswer {
            kind: ErrorKind::Timeout,
            message: format!(
                "no answer within {} ms ({timeout_setting})",
                timeout.as_millis()
            ),
            maybe_received: true,
        }),
        Ok(Err(e)) => {
            let (kind, message) = describe_network_error(&e);
            // A connect error (refused, DNS, TLS handshake) means nothing was sent.
            Err(NoAnswer {
                kind,
                message,
                maybe_received: !e.is_connect(),
            })
        }
        Ok(Ok(answer)) => Ok(answer),
    }
}

fn http_error(answer: &Answer) -> SyncError {
    let mut message = format!("HTTP {}: {}", answer.status, explain_status(answer.status));
    if let Some(said) = partner_message(&answer.text) {
        message = format!(
            "HTTP {} {said:?}: {}",
            answer.status,
            explain_status(answer.status)
        );
    }
    if (300..400).contains(&answer.status) {
        if let Some(location) = answer.headers.get("location").and_then(|v| v.to_str().ok()) {
            message.push_str(&format!(" (Location: {location})"));
        }
    }
    SyncError {
        status: Some(answer.status),
        ..SyncError::new(kind_for_status(answer.status), message)
    }
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Where one delivery goes and how long it may take.
pub struct Delivery<'a> {
    pub url: &'a reqwest::Url,
    pub body: &'a str,
    pub secret: &'a str,
    pub policy: &'a RetryPolicy,
    /// The booking's lane: one request on the wire at a time, the newest sync wins.
    pub ticket: &'a Ticket,
    pub quiet_period: Duration,
    /// The end of all attempts and waits (which may have begun before this delivery).
    pub deadline: Instant,
    pub booking_id: &'a str,
    /// Extra headers (trace context) sent with every attempt, outside the signed body.
    pub headers: &'a [(String, String)],
}

/// The caller's extra headers that are valid and do not touch what we set ourselves;
/// the others are dropped.
pub fn extra_header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) else {
            continue;
        };
        let reserved = [
            CONTENT_TYPE.as_str(),
            SIGNATURE_HEADER,
            "content-length",
            "host",
            "transfer-encoding",
            "connection",
        ];
        if !reserved.contains(&name.as_str()) {
            map.insert(name, value);
        }
    }
    map
}

/// An attempt is not started with less time than this left: it could not get an answer.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(100);

/// The deadline left too little for attempt `attempt`.
fn out_of_time(attempt: u32, booking_id: &str) -> SyncError {
    SyncError::new(
        ErrorKind::Deadline,
        format!(
            "attempt {attempt} of booking {booking_id} not made: less than {} ms of the deadline \
             (PARTNER_SYNC_DEADLINE_MS) was left for it",
            MIN_ATTEMPT_TIME.as_millis()
        ),
    )
}

/// Why a sync did not (or no longer) send, as the error the caller sees.
pub fn blocked_error(blocked: Blocked, booking_id: &str, quiet_period: Duration) -> SyncError {
    match blocked {
        Blocked::Superseded(newer) => superseded_error(booking_id, &format!("the sync with timestamp {}", iso8601(newer.version_ms))),
        Blocked::Busy { quiet_until: Some(until) } => SyncError::new(
            ErrorKind::Deadline,
            format!(
                "not sent: an earlier request of booking {booking_id} got no answer, so the partner may still be processing it; \
                 nothing more of this booking is sent for {} after that (PARTNER_SYNC_QUIET_PERIOD), {} ms from now",
                humantime::format_duration(quiet_period),
                until.saturating_duration_since(Instant::now()).as_millis()
            ),
        ),
        Blocked::Aborted => SyncError::new(
            ErrorKind::Aborted,
            format!("aborted by the caller's AbortSignal: no further attempt of booking {booking_id} is made in this call"),
        ),
        Blocked::Busy { quiet_until: None } => SyncError::new(
            ErrorKind::Deadline,
            format!(
                "not sent: another request of booking {booking_id} was on the wire until the deadline \
                 (PARTNER_SYNC_DEADLINE_MS); one request per booking at a time keeps the partner's state right"
            ),
        ),
    }
}

/// An older sync that a newer one of the same booking replaced.
pub fn superseded_error(booking_id: &str, newer: &str) -> SyncError {
    SyncError::new(
        ErrorKind::Superseded,
        format!("superseded by {newer} of booking {booking_id}: the newer body carries the booking's current state, so this older one is not sent again"),
    )
}

pub fn iso8601(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Delivers the body with retries, within `policy`'s attempts and the deadline, one request
/// of the booking on the wire at a time. Every attempt sends the same bytes and signature.
pub async fn deliver(job: Delivery<'_>) -> DeliveryOutcome {
    let Delivery {
        url,
        body,
        secret,
        policy,
        ticket,
        quiet_period,
        deadline,
        booking_id,
        headers,
    } = job;
    let signature = sign(body.as_bytes(), secret.as_bytes());
    let extra_headers = extra_header_map(headers);
    let start = Instant::now();
    let started_at_ms = epoch_ms();
    let mut attempts: Vec<AttemptRecord> = Vec::new();
    let mut last_answer: Option<Answer> = None;
    let mut final_error: Option<SyncError>;
    let mut unanswered = false;

    loop {
        let attempt = attempts.len() as u32 + 1;
        let wire = match ticket
            .acquire(deadline.checked_sub(MIN_ATTEMPT_TIME).unwrap_or(deadline))
            .await
        {
            Ok(wire) => wire,
            Err(blocked) => {
                final_error = Some(blocked_error(blocked, booking_id, quiet_period));
                break;
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining < MIN_ATTEMPT_TIME {
            final_error = Some(out_of_time(attempt, booking_id));
            break;
        }
        // Name the setting that actually cut the attempt short.
        let (timeout, timeout_setting) = if policy.attempt_timeout <= remaining {
            (policy.attempt_timeout, "PARTNER_SYNC_ATTEMPT_TIMEOUT_MS")
        } else {
            (remaining, "what was left of PARTNER_SYNC_DEADLINE_MS")
        };
        let started_ms = elapsed_ms(start);
        let attempt_start = Instant::now();
        // An abort abandons the attempt; the body may have reached the partner all the same.
        let sending = attempt_once(
            url,
            body,
            &signature,
            &extra_headers,
            timeout,
            timeout_setting,
        );
        let result = tokio::select! {
            result = sending => result,
            _ = ticket.aborted() => Err(NoAnswer {
                kind: ErrorKind::Aborted,
                message: "aborted by the caller's AbortSignal while the request was on the wire: the partner may have received it".into(),
                maybe_received: true,
            }),
        };
        let duration_ms = elapsed_ms(attempt_start);
        let mut maybe_processing = false;
        if let Err(failed) = &result {
            if failed.maybe_received {
                ticket.keep_quiet(quiet_period);
                maybe_processing = true;
                unanswered = true;
            }
        }
        drop(wire);

        let (error, retry_after, wants_retry) = match result {
            Ok(answer) => {
                let verdict = classify_status(answer.status);
                let retry_after = match answer.status {
                    429 | 503 => answer
                        .headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now())),
                    _ => None,
                };
                let error = (verdict != Verdict::Delivered).then(|| http_error(&answer));
                last_answer = Some(answer);
                (error, retry_after, verdict == Verdict::Retry)
            }
            Err(failed) => {
                last_answer = None;
                let retry = failed.kind != ErrorKind::Aborted;
                (
                    Some(SyncError::new(failed.kind, failed.message)),
                    None,
                    retry,
                )
            }
        };
        attempts.push(AttemptRecord {
            attempt,
            status: last_answer.as_ref().map(|a| a.status),
            error: error.clone(),
            started_ms,
            duration_ms,
            wait_ms: None,
        });
        final_error = error;
        let Some(error) = &final_error else { break };
        let failed = Failed {
            error,
            retryable: wants_retry,
            retry_after,
            maybe_processing,
            attempt,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = match next_step(
            &failed,
            policy,
            quiet_period,
            left,
            booking_id,
            &mut rand::rng(),
        ) {
            Next::Retry(wait) => wait,
            Next::Stop(replacement) => {
                final_error = replacement.or(final_error);
                break;
            }
        };
        if let Some(last) = attempts.last_mut() {
            last.wait_ms = Some(wait.as_secs_f64() * 1000.0);
        }
        if let Err(blocked) = ticket.wait(wait).await {
            final_error = Some(blocked_error(blocked, booking_id, quiet_period));
            break;
        }
    }

    let response_is_json = last_answer
        .as_ref()
        .and_then(|a| a.headers.get(CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let redact_error = |mut e: SyncError| {
        e.message = redact(std::mem::take(&mut e.message), secret);
        e
    };
    DeliveryOutcome {
        status: last_answer.as_ref().map(|a| a.status),
        response_text: last_answer.map(|a| redact(a.text, secret)),
        response_is_json,
        error: final_error.map(redact_error),
        attempts: attempts
            .into_iter()
            .map(|mut a| {
                a.error = a.error.map(redact_error);
                a
            })
            .collect(),
        elapsed_ms: elapsed_ms(start),
        unanswered,
        started_at_ms,
    }
}
