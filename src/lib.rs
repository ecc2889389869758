//! Rust core of `@smashcourts/partner-sync`: signs booking syncs, delivers them to
//! smashpartner.online with bounded retries, and keeps them in a durable outbox.

#![deny(clippy::all)]

mod bindings;
pub mod config;
pub mod delivery;
pub mod errors;
pub mod payload;
pub mod policy;
pub mod signing;
