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

// compat: `openapi.rs` names the handlers (and utoipa their `__path_` items) at `loaners::<handler>`, where they were
// defined before the area had an `http.rs`; the lead removes this after merging every area.
pub use http::{
    __path_finish_loaner_maintenance, __path_get_loaner, __path_get_loaner_availability, __path_import_loaners,
    __path_inspect_loaner, __path_list_loaners, __path_move_loaner, __path_register_loaner, __path_retire_loaner,
    finish_loaner_maintenance, get_loaner, get_loaner_availability, import_loaners, inspect_loaner, list_loaners,
    move_loaner, register_loaner, retire_loaner,
};
