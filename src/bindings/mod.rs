//! The napi surface: conversions between JS values and the core, nothing else. Every `#[napi]`
//! item lives here, one file per flow as in `service/`: `sync.rs`, `redrive.rs`, `admin.rs`
//! (the outbox's inspect and repair calls), `signing.rs`, `settings.rs`, `enums.rs` (the string
//! unions), `delivery.rs` (what the HTTP client noticed), and the runtime below.
//! Never rejects for delivery problems: they are reported in the result.

mod admin;
mod delivery;
mod enums;
mod redrive;
mod settings;
mod signing;
mod sync;

use napi_derive::napi;

use std::sync::Arc;

use crate::config::{self, Settings};
use crate::errors::SyncError;
use settings::RawSettings;

/// A count for JS, where a u32 is plenty.
fn count(n: i64) -> u32 {
    n.clamp(0, i64::from(u32::MAX)) as u32
}

/// The rejection JS sees: `message` as it is, and the kind as the `cause`'s message, which
/// lib/index.js moves to `error.code` (an async export can only reject with napi's own statuses).
fn rejected(error: SyncError) -> napi::Error {
    let mut rejection = napi::Error::from_reason(error.message);
    rejection.set_cause(napi::Error::from_reason(error.kind.as_str()));
    rejection
}

/// Settings resolved once from one set of raw values (`process.env` and the client options),
/// with every call that uses them: the JS layer keeps one per distinct set of values, so a
/// call does not parse its settings again.
#[napi]
pub struct ResolvedSettings {
    settings: Arc<Settings>,
    warnings: Vec<String>,
    endpoint: String,
}

#[napi]
impl ResolvedSettings {
    #[napi(constructor)]
    pub fn new(raw: RawSettings) -> Self {
        let raw = config::RawSettings::from(raw);
        let (settings, warnings) = config::resolve(&raw);
        ResolvedSettings {
            settings: Arc::new(settings),
            warnings,
            endpoint: config::endpoint(&raw).trim().to_string(),
        }
    }

    /// The partner endpoint these settings send to, as configured (for traces and logs).
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.endpoint.clone()
    }

    /// Whether an outbox is configured (opening it may still fail).
    #[napi(getter)]
    pub fn has_outbox(&self) -> bool {
        self.settings.outbox.is_some()
    }

    /// Settings that fell back to their defaults, to be logged once as warnings.
    #[napi(getter)]
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// One tokio worker: every sync is I/O-bound, and with one thread the request future, hyper's
/// connection task and the wakeups stay on it. Measured against napi's default (one worker per
/// core): about 0.6x the CPU per sync at 64 in flight and 1.2-1.7x the rate (docs/benchmarks.md).
/// SQLite work runs on the blocking pool, as before. The HTTP client starts there at once, so a
/// cold start's first sync finds it ready. Should this runtime not start (a thread limit), napi's
/// own is tried at the first call instead.
#[napi_derive::module_init]
fn init() {
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("partner-sync")
        .enable_all()
        .build();
    if let Ok(runtime) = built {
        runtime.spawn_blocking(crate::delivery::start_early);
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}
