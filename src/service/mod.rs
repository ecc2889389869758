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

use crate::config::{OutboxSettings, RetryPolicy, Settings};
use crate::delivery::{deliver, Delivery, DeliveryOutcome};
use crate::errors::SyncError;
use crate::lanes::Ticket;
use crate::outbox::{self, EntryState, Outbox};

pub use admin::{counts, hourly, list, page, purge, retry, show, PageQuery};
pub use redrive::{redrive, RedriveRun};
pub use sync::sync;

/// Extra lease time beyond the attempts' own bound, for the database writes around them.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Bound on settling an entry after a redrive's delivery.
const REDRIVE_SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of the deadline each outbox step of a sync may take, in percent: with two steps,
/// delivery keeps at least the rest (40%).
const OUTBOX_STEP_SHARE_PERCENT: u32 = 30;

/// How long each outbox step of a sync may take (`PARTNER_SYNC_OUTBOX_TIMEOUT_MS`, and at most
/// its share of the deadline).
fn step_budget(outbox: &OutboxSettings, deadline: Duration) -> Duration {
    outbox
        .timeout
        .min(deadline * OUTBOX_STEP_SHARE_PERCENT / 100)
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
