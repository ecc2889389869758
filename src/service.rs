//! The flows the JS surface exposes: one sync (write-ahead, deliver, settle) and a redrive
//! of what is due, plus the outbox's inspect and repair calls.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::config::{parse_duration, resolve, RawSettings, RetryPolicy, Settings};
use crate::delivery::{deliver, DeliveryOutcome};
use crate::errors::{ErrorKind, SyncError};
use crate::outbox::{
    self, decide, millis, now_ms, Decision, EntryRow, Finish, NewEntry, Outbox, ScheduleState,
    HISTORY_LIMIT,
};
use crate::payload::SyncRequest;

/// Extra lease time beyond the attempts' own bound, for the database writes around them.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Entries delivered at once by one redrive.
const REDRIVE_CONCURRENCY: i64 = 16;
const DEFAULT_REDRIVE_LIMIT: i64 = 100;
/// Bound on each outbox write in the request path: a stuck database must not hold the handler.
const OUTBOX_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(OUTBOX_WRITE_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the outbox did not answer within {} s",
                OUTBOX_WRITE_TIMEOUT.as_secs()
            ))
        })
}

/// What the outbox did with one sync.
#[derive(Clone, Debug, Default)]
pub struct OutboxNote {
    pub id: Option<String>,
    pub state: Option<&'static str>,
    pub next_attempt_at_ms: Option<i64>,
    pub error: Option<String>,
}

pub struct SyncReport {
    pub outcome: DeliveryOutcome,
    pub warnings: Vec<String>,
    pub outbox: Option<OutboxNote>,
}

async fn deliver_with(settings: &Settings, body: &str, policy: &RetryPolicy) -> DeliveryOutcome {
    let target = settings
        .require_url()
        .and_then(|url| Ok((url, settings.require_secret()?)));
    match target {
        Ok((url, secret)) => deliver(url, body, secret, policy).await,
        Err(e) => DeliveryOutcome::refused(e),
    }
}

/// The attempts of one delivery, appended to an entry's JSON history (the last few kept).
fn extend_history(history: &str, started_at_ms: i64, outcome: &DeliveryOutcome) -> String {
    let mut items: Vec<serde_json::Value> = serde_json::from_str(history).unwrap_or_default();
    let record = |at: i64, status: Option<u16>, error: Option<&SyncError>, duration_ms: f64| {
        json!({
            "at": at,
            "status": status,
            "errorKind": error.map(|e| e.kind.as_str()),
            "message": error.map(|e| e.message.as_str()),
            "durationMs": duration_ms,
        })
    };
    if outcome.attempts.is_empty() {
        items.push(record(started_at_ms, None, outcome.error.as_ref(), 0.0));
    }
    for attempt in &outcome.attempts {
        let at = started_at_ms + attempt.started_ms as i64;
        items.push(record(
            at,
            attempt.status,
            attempt.error.as_ref(),
            attempt.duration_ms,
        ));
    }
    let excess = items.len().saturating_sub(HISTORY_LIMIT);
    serde_json::Value::Array(items.split_off(excess)).to_string()
}

/// What settling a leased entry needs to know of it.
struct Lease {
    id: String,
    owner: String,
    schedule: ScheduleState,
    history: String,
}

impl Lease {
    fn of(entry: &EntryRow, owner: &str) -> Self {
        Lease {
            id: entry.id.clone(),
            owner: owner.to_string(),
            schedule: entry.schedule_state(),
            history: entry.history.clone(),
        }
    }
}

/// Writes the result of a leased delivery: delivered, pending on the long schedule, or dead.
async fn settle(
    outbox: &Outbox,
    lease: &Lease,
    started_at_ms: i64,
    outcome: &DeliveryOutcome,
) -> Result<OutboxNote, String> {
    let now = now_ms();
    let decision = decide(
        outcome.error.as_ref(),
        lease.schedule,
        &outbox.settings,
        now,
    );
    let last_error = |reason: Option<&str>| {
        outcome.error.as_ref().map(|e| match reason {
            Some(reason) => format!("{}; dead: {reason}", e.message),
            None => e.message.clone(),
        })
    };
    let (state, schedule, next_attempt_at_ms, last_error) = match &decision {
        Decision::Delivered => ("delivered", lease.schedule, None, None),
        Decision::Pending {
            next_attempt_at_ms,
            state,
        } => (
            "pending",
            *state,
            Some(*next_attempt_at_ms),
            last_error(None),
        ),
        Decision::Dead { reason, state } => ("dead", *state, None, last_error(Some(reason))),
    };
    let kept = outbox
        .finish(Finish {
            id: lease.id.clone(),
            lease_owner: lease.owner.clone(),
            state,
            attempts_added: outcome.attempts.len() as i64,
            schedule,
            next_attempt_at_ms,
            delivered_at_ms: (state == "delivered").then_some(now),
            last_status: outcome.status.map(i64::from),
            last_error_kind: outcome.error.as_ref().map(|e| e.kind.as_str().to_string()),
            last_error,
            history: extend_history(&lease.history, started_at_ms, outcome),
            now_ms: now,
        })
        .await?;
    if !kept {
        return Err(format!(
            "outbox entry {} was taken over by another worker after its lease expired; its result there stands",
            lease.id
        ));
    }
    Ok(OutboxNote {
        id: Some(lease.id.clone()),
        state: Some(state),
        next_attempt_at_ms,
        error: None,
    })
}

/// Stores the sync before its first attempt, leased to this request for its whole deadline.
async fn write_ahead(
    settings: &Settings,
    request: &SyncRequest,
) -> Result<(Arc<Outbox>, Lease), String> {
    let outbox_settings = settings
        .outbox
        .as_ref()
        .expect("called only with an outbox");
    let outbox = outbox::open(outbox_settings).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let owner = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    outbox
        .insert(NewEntry {
            id: id.clone(),
            booking_id: request.booking_id.clone(),
            event: request.event.clone(),
            body: request.body.clone(),
            now_ms: now,
            lease_until_ms: now + millis(settings.retry.deadline + LEASE_MARGIN),
            lease_owner: owner.clone(),
        })
        .await?;
    let lease = Lease {
        id,
        owner,
        schedule: ScheduleState {
            step: 0,
            not_found_count: 0,
            started_at_ms: now,
        },
        history: "[]".into(),
    };
    Ok((outbox, lease))
}

/// One sync: kept in the outbox first (when there is one), then delivered within the
/// in-request deadline, then settled. Outbox trouble never stops the live delivery.
pub async fn sync(request: SyncRequest, raw: &RawSettings) -> SyncReport {
    let (settings, warnings) = resolve(raw);
    let mut note = None;
    let mut entry = None;
    if settings.outbox.is_some() {
        match bounded(write_ahead(&settings, &request)).await {
            Ok(written) => entry = Some(written),
            Err(error) => {
                note = Some(OutboxNote {
                    error: Some(error),
                    ..Default::default()
                })
            }
        }
    }
    let started_at_ms = now_ms();
    let outcome = deliver_with(&settings, &request.body, &settings.retry).await;
    if let Some((outbox, lease)) = entry {
        note = Some(
            bounded(settle(&outbox, &lease, started_at_ms, &outcome))
                .await
                .unwrap_or_else(|error| OutboxNote {
                    id: Some(lease.id.clone()),
                    error: Some(format!(
                        "{error}; the entry stays pending and will be redriven"
                    )),
                    ..Default::default()
                }),
        );
    }
    SyncReport {
        outcome,
        warnings,
        outbox: note,
    }
}

/// What one redrive did to one entry.
pub struct RedriveEntry {
    pub entry: EntryRow,
    pub note: OutboxNote,
    pub outcome: DeliveryOutcome,
}

pub struct RedriveSummary {
    pub delivered: u32,
    pub failed: u32,
    pub dead: u32,
    pub remaining: i64,
    pub entries: Vec<RedriveEntry>,
    pub warnings: Vec<String>,
}

fn no_outbox() -> SyncError {
    SyncError::config(
        "no outbox is configured: set PARTNER_SYNC_OUTBOX to sqlite:<path> or postgres://... (or the outbox option)",
    )
}

async fn open_configured(
    raw: &RawSettings,
) -> Result<(Settings, Vec<String>, Arc<Outbox>), SyncError> {
    let (settings, warnings) = resolve(raw);
    let outbox_settings = settings.outbox.as_ref().ok_or_else(no_outbox)?;
    let outbox = outbox::open(outbox_settings)
        .await
        .map_err(SyncError::config)?;
    Ok((settings, warnings, outbox))
}

/// Delivers up to `limit` due entries, one attempt each, several at a time.
pub async fn redrive(raw: &RawSettings, limit: Option<u32>) -> Result<RedriveSummary, SyncError> {
    let (settings, warnings, outbox) = open_configured(raw).await?;
    // Claim nothing we could not send: the entries would only wait out a lease.
    settings.require_url()?;
    settings.require_secret()?;
    let policy = RetryPolicy {
        max_attempts: 1,
        deadline: settings.retry.attempt_timeout,
        ..settings.retry.clone()
    };
    let settings = Arc::new(settings);
    let limit = limit.map_or(DEFAULT_REDRIVE_LIMIT, i64::from);
    let mut summary = RedriveSummary {
        delivered: 0,
        failed: 0,
        dead: 0,
        remaining: 0,
        entries: Vec::new(),
        warnings,
    };
    // Claim only as many as are sent at once: a claimed entry waiting for a free slot
    // could outlive its lease and be sent by another worker at the same time.
    let mut claimed_so_far = 0;
    while claimed_so_far < limit {
        let owner = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let lease_until = now + millis(policy.attempt_timeout + LEASE_MARGIN);
        let wave = (limit - claimed_so_far).min(REDRIVE_CONCURRENCY);
        let claimed = outbox
            .claim_due(now, wave, lease_until, &owner)
            .await
            .map_err(SyncError::config)?;
        if claimed.is_empty() {
            break;
        }
        claimed_so_far += claimed.len() as i64;
        let mut tasks = tokio::task::JoinSet::new();
        for entry in claimed {
            let (settings, outbox, owner, policy) = (
                settings.clone(),
                outbox.clone(),
                owner.clone(),
                policy.clone(),
            );
            tasks.spawn(async move {
                let started_at_ms = now_ms();
                let outcome = deliver_with(&settings, &entry.body, &policy).await;
                let note = settle(&outbox, &Lease::of(&entry, &owner), started_at_ms, &outcome)
                    .await
                    .unwrap_or_else(|error| OutboxNote {
                        id: Some(entry.id.clone()),
                        error: Some(error),
                        ..Default::default()
                    });
                RedriveEntry {
                    entry,
                    note,
                    outcome,
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            let done = done.map_err(|e| {
                SyncError::new(ErrorKind::Config, format!("a redrive task failed: {e}"))
            })?;
            match done.note.state {
                Some("delivered") => summary.delivered += 1,
                Some("dead") => summary.dead += 1,
                _ => summary.failed += 1,
            }
            summary.entries.push(done);
        }
    }
    summary.remaining = outbox
        .count_due(now_ms())
        .await
        .map_err(SyncError::config)?;
    Ok(summary)
}

pub async fn list(
    raw: &RawSettings,
    state: Option<String>,
    limit: u32,
) -> Result<Vec<EntryRow>, SyncError> {
    if let Some(state) = state.as_deref() {
        if !["pending", "delivered", "dead"].contains(&state) {
            return Err(SyncError::new(
                ErrorKind::Validation,
                format!("unknown outbox state {state:?}: use pending, delivered or dead"),
            ));
        }
    }
    let (_, _, outbox) = open_configured(raw).await?;
    outbox
        .list(state, i64::from(limit))
        .await
        .map_err(SyncError::config)
}

pub async fn show(raw: &RawSettings, id: String) -> Result<Option<EntryRow>, SyncError> {
    let (_, _, outbox) = open_configured(raw).await?;
    outbox.get(id).await.map_err(SyncError::config)
}

/// Makes a dead or pending entry due now, with a fresh schedule.
pub async fn retry(raw: &RawSettings, id: String) -> Result<bool, SyncError> {
    let (_, _, outbox) = open_configured(raw).await?;
    outbox.retry(id, now_ms()).await.map_err(SyncError::config)
}

/// Deletes delivered entries older than `older_than` (such as `30d`); returns how many.
pub async fn purge(raw: &RawSettings, older_than: &str) -> Result<i64, SyncError> {
    let age = parse_duration(older_than).map_err(|e| SyncError::new(ErrorKind::Validation, e))?;
    let (_, _, outbox) = open_configured(raw).await?;
    outbox
        .purge(now_ms() - millis(age))
        .await
        .map_err(SyncError::config)
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
        let items: Vec<serde_json::Value> = serde_json::from_str(&twice).unwrap();
        assert_eq!(items.len(), HISTORY_LIMIT);
        assert_eq!(items.last().unwrap()["at"], 2_150);
        assert_eq!(items[0]["status"], 503);
        let refused = extend_history(
            "[]",
            5,
            &DeliveryOutcome::refused(SyncError::config("no secret")),
        );
        assert!(refused.contains("\"errorKind\":\"config\""));
    }
}
