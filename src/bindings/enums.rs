//! The enums JS sees as string unions (`constEnum: false`) are the core's own (`ErrorKind` in
//! `errors.rs`, `EntryState` in `outbox/entry.rs`), made napi types there by the `napi` feature;
//! here, what JS asks of them.

use napi_derive::napi;

use crate::outbox::EntryState;

/// Every entry state, in the order operators read them: the one list JS uses too.
#[napi]
pub fn entry_states() -> Vec<EntryState> {
    EntryState::ALL.to_vec()
}
