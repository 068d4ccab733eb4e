//! Depot: the back office of a phone maker's after-sales network.
//!
//! The binary in `main.rs` parses the command line and calls into this library; tests spawn the same
//! application through [`startup`].

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod complaints;
pub mod config;
pub mod console;
pub mod courier;
pub mod customers;
pub mod db;
pub mod devices;
pub mod edge;
pub mod error;
pub mod events;
pub mod files;
pub mod health;
pub mod http;
pub mod imei;
pub mod loaners;
pub mod loans;
pub mod money;
pub mod openapi;
pub mod parts;
pub mod reminders;
pub mod repairs;
pub mod reports;
pub mod seed;
pub mod startup;
pub mod state;
pub mod stock;
pub mod telemetry;
pub mod tickets;
pub mod tracking;
pub mod users;
pub mod warranty;
pub mod webhooks;

use chrono::{DateTime, Utc};

/// The current instant, cut to microseconds: what PostgreSQL keeps, so both engines read back the same value.
pub fn now() -> DateTime<Utc> {
    to_micros(Utc::now())
}

/// An instant cut to microseconds, as it is stored: every instant a request gives is cut so before it is written,
/// so that the answer and a later read agree on both engines.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}
