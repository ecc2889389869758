//! The outbox's inspect and repair calls: entries, pages, counts, the last day, retry, purge.

use napi_derive::napi;

use crate::delivery::iso8601;
use crate::errors::{ErrorKind, SyncError};
use crate::outbox::history::{self, HistoryItem};
use crate::outbox::{now_ms, BookingMatch, EntryRow, EntryState, OutboxError};
use crate::service::{self};

use super::sync::SyncErrorInfo;
use super::{count, rejected, ResolvedSettings};

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

/// An entry a purge deleted.
#[napi(object)]
pub struct PurgedEntry {
    pub id: String,
    pub booking_id: String,
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

#[napi]
impl ResolvedSettings {
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
