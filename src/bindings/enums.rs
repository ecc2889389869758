//! The enums JS sees as string unions (`constEnum: false`); the core gives them their methods
//! (`errors.rs`, `outbox/entry.rs`) and uses them everywhere.

use napi_derive::napi;

/// What went wrong, as the JS `SyncResult.error.kind` and a rejection's `code` name it.
#[napi(string_enum = "snake_case")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The data was refused before anything was stored or sent.
    Validation,
    /// A setting is missing or unusable (the secret, the URL, the outbox location).
    Config,
    Unauthorized,
    BadRequest,
    NotFound,
    Http,
    Network,
    Timeout,
    Deadline,
    /// A newer sync of the same booking took over: this older body is not sent (again).
    Superseded,
    /// The caller's `AbortSignal` fired: no further attempts.
    Aborted,
    /// The outbox's database failed or did not answer.
    Outbox,
    /// A bug or a crashed task inside the library.
    Internal,
}

/// Where an outbox entry stands; `delivered`, `dead` and `superseded` are final until a manual retry.
#[napi(string_enum = "lowercase")]
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

/// Every entry state, in the order operators read them: the one list JS uses too.
#[napi]
pub fn entry_states() -> Vec<EntryState> {
    EntryState::ALL.to_vec()
}
