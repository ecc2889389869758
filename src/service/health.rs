//! When the partner last accepted a body, per URL, in this process: a catch-up takes a recent
//! acceptance as the partner being back, and sends what failed on its side at once.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Settings;

use super::lane_url;

/// A 2xx from the partner this recent means it is up.
const PARTNER_BACK_WITHIN: Duration = Duration::from_secs(120);

fn accepted_at() -> &'static Mutex<HashMap<String, Instant>> {
    static ACCEPTED: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    ACCEPTED.get_or_init(Default::default)
}

pub fn note_accepted(settings: &Settings) {
    let mut accepted = accepted_at().lock().expect("not poisoned");
    accepted.insert(lane_url(settings).to_string(), Instant::now());
}

pub fn partner_is_back(settings: &Settings) -> bool {
    let accepted = accepted_at().lock().expect("not poisoned");
    accepted
        .get(lane_url(settings))
        .is_some_and(|at| at.elapsed() < PARTNER_BACK_WITHIN)
}
