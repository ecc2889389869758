//! Rust core of `@smashcourts/partner-sync`: signs booking syncs, delivers them to
//! smashpartner.online with bounded retries, and keeps them in a durable outbox.

#![deny(clippy::all)]
// napi registers the exported functions only outside test builds, where they look unused.
#![cfg_attr(test, allow(dead_code))]

mod abort;
mod bindings;
mod config;
mod delivery;
mod errors;
mod lanes;
mod outbox;
mod payload;
mod policy;
mod service;
mod settings;
mod signing;

/// One tokio worker: every sync is I/O-bound, and with one thread the request future, hyper's
/// connection task and the wakeups stay on it. Measured against napi's default (one worker per
/// core): about 0.6x the CPU per sync at 64 in flight and 1.2-1.7x the rate (README, Benchmarks).
/// SQLite work runs on the blocking pool, as before.
#[napi_derive::module_init]
fn init() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("partner-sync")
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
}
