//! The loaner pool: handsets the network lends, by store and series. Register (one or a CSV file), list,
//! availability per store and series, move between stores, inspect after return, finish maintenance, retire.
//!
//! Which file holds what:
//! - [`http`]: the calls over HTTP, their request and response types, and the CSV request body ([`CsvBody`]).
//! - [`service`]: the use cases; who may manage the pool ([`service::require_pool_role`]); a loaner that becomes
//!   available serves the waitlist ([`crate::loans::serve_waitlist`]) in the same transaction.
//! - [`repo`]: the queries: loaners, the stores and models they are registered against, the pool's counts.
//! - [`model`]: the loaner's row and API view, its states ([`LoanerState`]) and condition grades ([`Grade`]).
//! - [`csv`]: the CSV import's rules: what a row must hold, when a file is refused whole, the order rows are applied
//!   in (the sweeper's queue order).

pub mod csv;
pub mod http;
pub mod model;
pub mod repo;
pub mod service;

pub use http::{CsvBody, configure};
pub use model::{Availability, Grade, InspectionResult, Loaner, LoanerRow, LoanerState};
