//! The flows the JS surface exposes: one sync (write-ahead, deliver, settle) and a redrive
//! of what is due, plus the outbox's inspect and repair calls.
//!
//! Per booking, one body is on the wire at a time and the newest wins: in one process the
//! booking's lane (`lanes`) orders requests; across processes sharing an outbox the booking's
//! lease in the database does, and a body older than one the partner accepted is superseded.
//!
//! One file per flow: `sync.rs` (write-ahead, deliver, settle), `redrive.rs` (what is due, and the
//! catch-up after a request), `settle.rs` (an entry's fate after a delivery, shared by both), and
//! `admin.rs` (the operator's inspect and repair calls); `health.rs` remembers when the partner
//! last accepted a body.

mod admin;
mod health;
mod redrive;
mod settle;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{RetryPolicy, Settings};
use crate::delivery::{deliver, Delivery, DeliveryOutcome};
use crate::errors::SyncError;
use crate::lanes::Ticket;
use crate::outbox::{self, EntryState, Outbox, OutboxError};

pub use admin::{counts, hourly, list, page, purge, retry, show, PageQuery};
pub use redrive::{redrive, RedriveRun};
pub use sync::sync;

/// Extra lease time beyond the attempts' own bound, for the database writes around them.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Bound on each outbox write in the request path: a stuck database must not hold the handler.
const OUTBOX_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, OutboxError>>,
) -> Result<T, OutboxError> {
    tokio::time::timeout(OUTBOX_WRITE_TIMEOUT, work)
        .await
        .unwrap_or(Err(OutboxError::Timeout(OUTBOX_WRITE_TIMEOUT)))
}

/// What the outbox did with one sync or one redriven entry.
#[derive(Clone, Debug)]
pub enum OutboxNote {
    /// The entry was written with this state.
    Kept {
        id: String,
        state: EntryState,
        next_attempt_at_ms: Option<i64>,
        superseded_by: Option<String>,
        /// Older pending entries of the booking this delivery superseded: their ids.
        superseded_older: Vec<String>,
    },
    /// The outbox could not keep or update the entry (`id` when it had been written).
    Failed { id: Option<String>, error: String },
}

impl OutboxNote {
    pub fn state(&self) -> Option<EntryState> {
        match self {
            OutboxNote::Kept { state, .. } => Some(*state),
            OutboxNote::Failed { .. } => None,
        }
    }

    pub fn superseded_older(&self) -> &[String] {
        match self {
            OutboxNote::Kept {
                superseded_older, ..
            } => superseded_older,
            OutboxNote::Failed { .. } => &[],
        }
    }
}

/// The partner URL as the key of a booking's lane (an unusable URL sends nothing anyway).
fn lane_url(settings: &Settings) -> &str {
    settings.url.as_ref().map_or("", |url| url.as_str())
}

async fn deliver_with(
    settings: &Settings,
    body: &str,
    booking_id: &str,
    policy: &RetryPolicy,
    ticket: &Ticket,
    deadline: Instant,
    headers: &[(String, String)],
) -> DeliveryOutcome {
    let target = settings
        .require_url()
        .and_then(|url| Ok((url, settings.require_secret()?)));
    match target {
        Ok((url, secret)) => {
            deliver(Delivery {
                url,
                body,
                secret,
                policy,
                ticket,
                quiet_period: settings.quiet_period,
                deadline,
                booking_id,
                headers,
            })
            .await
        }
        Err(e) => DeliveryOutcome::refused(e),
    }
}

fn no_outbox() -> SyncError {
    SyncError::config(crate::settings::NO_OUTBOX_MESSAGE)
}

async fn open_configured(settings: &Settings) -> Result<Arc<Outbox>, SyncError> {
    let outbox_settings = settings.outbox.as_ref().ok_or_else(no_outbox)?;
    let outbox = outbox::open(outbox_settings).await?;
    Ok(outbox)
}
