//! The operator's calls: list and page through entries, count them, chart the last day, show
//! one, retry one (with an audit note), and purge finished ones.

use crate::config::{parse_duration, Settings};
use crate::errors::{ErrorKind, SyncError};
use crate::outbox::history::{self, AuditItem, HistoryItem};
use crate::outbox::{
    millis, now_ms, BookingMatch, EntryRow, EntryState, HistoryChange, Outbox, OutboxError,
    PageFilter, Purged,
};

use super::open_configured;

/// Entries one delete statement removes: small enough never to hold the database for long.
const PURGE_BATCH: i64 = 500;

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
pub(super) async fn audit(
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
pub(super) async fn delete_finished(
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
