//! The parameters of the statements both backends run in their transactional steps, in the
//! order each statement numbers them: SQLite binds each list to its statement inside one
//! transaction, PostgreSQL joins them, one after the other, into one statement with CTEs.

use crate::outbox::entry::{BookingLease, Delivered, Finish, NewEntry, Settle};
use crate::outbox::values::Param;

/// `book`: the entry's booking, its writer's lease, and the quiet period before taking one over.
pub fn book(entry: &NewEntry, quiet_ms: i64) -> Vec<Param> {
    vec![
        entry.booking_id.as_str().into(),
        entry.lease_owner.as_str().into(),
        entry.lease_until_ms.into(),
        (entry.now_ms - quiet_ms).into(),
        entry.now_ms.into(),
    ]
}

/// `insert`, but for the creation order (`seq`) that `book` returns.
pub fn insert(entry: &NewEntry) -> Vec<Param> {
    vec![
        entry.id.as_str().into(),
        entry.booking_id.as_str().into(),
        entry.event.as_str().into(),
        entry.body.as_str().into(),
        entry.now_ms.into(),
        entry.lease_until_ms.into(),
        entry.lease_owner.as_str().into(),
        entry.version_ms.into(),
    ]
}

/// `lease_booking`.
pub fn lease_booking(lease: &BookingLease, now_ms: i64, quiet_ms: i64) -> Vec<Param> {
    vec![
        lease.owner.as_str().into(),
        lease.until_ms.into(),
        lease.booking_id.as_str().into(),
        (now_ms - quiet_ms).into(),
        now_ms.into(),
    ]
}

/// `release_booking`, with no quiet period.
pub fn release_booking(lease: &BookingLease) -> Vec<Param> {
    vec![
        None::<i64>.into(),
        lease.booking_id.as_str().into(),
        lease.owner.as_str().into(),
    ]
}

/// `finish`.
pub fn finish(f: &Finish) -> Vec<Param> {
    vec![
        f.state.as_str().into(),
        f.attempts_added.into(),
        i64::from(f.schedule.step).into(),
        i64::from(f.schedule.not_found_count).into(),
        f.next_attempt_at_ms.into(),
        f.delivered_at_ms.into(),
        f.last_status.into(),
        f.last_error_kind.as_deref().into(),
        f.last_error.as_deref().into(),
        f.history.as_str().into(),
        f.now_ms.into(),
        f.superseded_by.as_deref().into(),
        f.id.as_str().into(),
        f.lease_owner.as_str().into(),
    ]
}

/// `supersede_older`: nothing is older than no delivered body (all NULL).
pub fn supersede_older(booking_id: &str, newer: Option<&Delivered>, now_ms: i64) -> Vec<Param> {
    vec![
        newer.map(|d| d.entry_id.as_str()).into(),
        now_ms.into(),
        booking_id.into(),
        newer.map(|d| d.version.ms).into(),
        newer.map(|d| d.version.seq).into(),
    ]
}

/// `settle_booking`: the body delivered (NULL when none), then the lease given back.
pub fn settle_booking(settle: &Settle) -> Vec<Param> {
    let delivered = settle.delivered.as_ref();
    vec![
        delivered.map(|d| d.version.ms).into(),
        delivered.map(|d| d.version.seq).into(),
        delivered.map(|d| d.entry_id.as_str()).into(),
        settle.quiet_until_ms.into(),
        settle.booking_id.as_str().into(),
        settle.booking_owner.as_deref().into(),
    ]
}
