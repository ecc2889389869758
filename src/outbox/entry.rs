//! The entry types: what the outbox stores, and what its operations take and return.

use super::{OutboxError, ScheduleState};

/// Where an outbox entry stands; `delivered`, `dead` and `superseded` are final until a manual retry.
#[cfg_attr(feature = "napi", napi_derive::napi(string_enum = "lowercase"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    /// Waiting for its next attempt (or on the wire now).
    Pending,
    /// The partner accepted it.
    Delivered,
    /// Given up: a person must fix the cause, then retry it.
    Dead,
    /// A newer body of its booking replaced it: never sent again.
    Superseded,
}

impl EntryState {
    /// Every state, in the order operators read them.
    pub const ALL: [EntryState; 4] = [
        EntryState::Pending,
        EntryState::Delivered,
        EntryState::Dead,
        EntryState::Superseded,
    ];

    /// The name stored in the `state` column (napi's `lowercase` of the variant).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Pending => "pending",
            EntryState::Delivered => "delivered",
            EntryState::Dead => "dead",
            EntryState::Superseded => "superseded",
        }
    }

    pub fn parse(name: &str) -> Option<EntryState> {
        EntryState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
    }
}

/// An entry's history rewritten, unless another writer changed it since it was read.
pub struct HistoryChange {
    pub id: String,
    pub old: String,
    pub new: String,
}

/// A new entry, leased to the request that writes it until its in-request attempts end.
pub struct NewEntry {
    pub id: String,
    pub booking_id: String,
    pub event: String,
    pub body: String,
    pub now_ms: i64,
    pub lease_until_ms: i64,
    pub lease_owner: String,
    /// The body's `timestamp`, in ms: what "newer" means between syncs of one booking.
    pub version_ms: i64,
}

/// Where a body stands among its booking's: its timestamp, then its creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub ms: i64,
    pub seq: i64,
}

/// The newest body of a booking the partner accepted through this outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub version: Version,
    pub entry_id: String,
}

/// What `Store::write_ahead` answers: the entry's place among its booking's entries, and
/// `Some(newest body delivered so far)` when its request took the booking's lease.
pub type WrittenAhead = (Version, Option<Option<Delivered>>);

/// A booking's sender, held while one of its bodies may be on the wire.
#[derive(Clone, Debug)]
pub struct BookingLease {
    pub booking_id: String,
    pub owner: String,
    pub until_ms: i64,
}

/// One row of the entries table.
#[derive(Clone, Debug)]
pub struct EntryRow {
    pub id: String,
    pub booking_id: String,
    pub event: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub schedule_step: i64,
    pub not_found_count: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub schedule_started_at_ms: i64,
    pub next_attempt_at_ms: Option<i64>,
    pub delivered_at_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    /// JSON array of the last `HISTORY_LIMIT` attempts and audit notes (`history.rs`).
    pub history: String,
    pub version_ms: i64,
    pub seq: i64,
    /// The newer entry that made this one obsolete.
    pub superseded_by: Option<String>,
}

impl EntryRow {
    pub fn version(&self) -> Version {
        Version {
            ms: self.version_ms,
            seq: self.seq,
        }
    }

    /// The stored state, refused when this version does not know it.
    pub fn entry_state(&self) -> Result<EntryState, OutboxError> {
        EntryState::parse(&self.state).ok_or_else(|| OutboxError::BadRecord {
            id: self.id.clone(),
            state: self.state.clone(),
        })
    }

    pub fn schedule_state(&self) -> ScheduleState {
        ScheduleState {
            step: self.schedule_step.max(0) as u32,
            not_found_count: self.not_found_count.max(0) as u32,
            started_at_ms: self.schedule_started_at_ms,
        }
    }
}

/// The delivered watermark as a row holds it (all three set, or none).
pub fn delivered_of(
    version_ms: Option<i64>,
    seq: Option<i64>,
    entry_id: Option<String>,
) -> Option<Delivered> {
    Some(Delivered {
        version: Version {
            ms: version_ms?,
            seq: seq?,
        },
        entry_id: entry_id?,
    })
}

/// Entries of one series counted in one hour: `hour` 0 is the first of the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourCount {
    /// `delivered`, `failed` or `dead`.
    pub series: String,
    pub hour: i64,
    pub count: i64,
}

/// The end of a leased delivery, written in one statement.
pub struct Finish {
    pub id: String,
    pub lease_owner: String,
    pub state: EntryState,
    pub attempts_added: i64,
    pub schedule: ScheduleState,
    pub next_attempt_at_ms: Option<i64>,
    pub delivered_at_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    pub history: String,
    pub now_ms: i64,
    pub superseded_by: Option<String>,
}

/// The end of a sender's turn (see `Outbox::settle`).
pub struct Settle {
    pub finish: Finish,
    pub booking_id: String,
    /// The body the partner accepted, when it did.
    pub delivered: Option<Delivered>,
    /// The booking's lease, when this sender holds it; given back, quiet until `quiet_until_ms`.
    pub booking_owner: Option<String>,
    pub quiet_until_ms: Option<i64>,
}

pub struct Settled {
    /// False when the lease on the entry was lost (another worker took it over).
    pub kept: bool,
    /// Older pending entries of the booking the delivered body superseded: their ids.
    pub superseded_older: Vec<String>,
}

/// An entry deleted by a purge.
#[derive(Clone, Debug)]
pub struct Purged {
    pub id: String,
    pub booking_id: String,
}

/// A redrive's claim of its candidates, each with the booking lease it takes (see `Store::claim`).
pub struct ClaimWave {
    pub candidates: Vec<(EntryRow, BookingLease)>,
    pub now_ms: i64,
    pub quiet_ms: i64,
}

/// What a redrive may do with a candidate entry.
pub enum Claim {
    /// Leased, with its booking: send it.
    Send(Box<EntryRow>, BookingLease),
    /// Older than a body the partner accepted: these entries (ids) were superseded.
    Superseded(Vec<String>),
    /// Another worker or a newer entry got there first.
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_stored_name() {
        for state in EntryState::ALL {
            assert_eq!(EntryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(EntryState::parse("lost"), None);
    }
}
