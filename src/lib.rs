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
