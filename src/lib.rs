//! Rust core of `@smashcourts/partner-sync`: signs booking syncs, delivers them to
//! smashpartner.online with bounded retries, and keeps them in a durable outbox.

#![deny(clippy::all)]

pub mod abort;
pub mod bindings;
pub mod config;
pub mod delivery;
pub mod errors;
pub mod lanes;
pub mod outbox;
pub mod payload;
pub mod policy;
pub mod service;
pub mod signing;
