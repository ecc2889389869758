//! When the partner last accepted a body, per URL, in this process: a catch-up takes a recent
//! acceptance as the partner being back, and sends what failed on its side at once.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::time::Instant;

use crate::config::Settings;

use super::lane_url;

/// A 2xx from the partner this recent means it is up.
const PARTNER_BACK_WITHIN: Duration = Duration::from_secs(120);

fn accepted_at() -> MutexGuard<'static, HashMap<String, Instant>> {
    static ACCEPTED: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    ACCEPTED.get_or_init(Default::default).lock()
}

pub fn note_accepted(settings: &Settings) {
    accepted_at().insert(lane_url(settings).to_string(), Instant::now());
}

pub fn partner_is_back(settings: &Settings) -> bool {
    accepted_at()
        .get(lane_url(settings))
        .is_some_and(|at| at.elapsed() < PARTNER_BACK_WITHIN)
}
