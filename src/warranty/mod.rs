//! Warranty decision: the national "three guarantees" (三包) rules for phones, as a pure function.
//!
//! [`decide`] takes what staff found at the counter ([`WarrantyInput`]) and the configurable periods ([`Policy`]) and
//! returns what the customer may choose, whether it is free, the rule that decided, and one plain sentence that staff
//! can read out. No database, no clock, no I/O: the caller supplies `today` as the store's local date.
//!
//! Order of evaluation (the first that applies decides):
//! 1. purchase date after today → [`Rule::PurchaseDateInFuture`];
//! 2. warranty certificate altered, mismatched (IMEI differs) or missing;
//! 3. unauthorized disassembly or repair ([`Rule::Tampering`]);
//! 4. liquid damage;
//! 5. force majeure;
//! 6. accidental damage: a screen plan in force covers accidental screen and back-cover damage of the handset (even
//!    with drop or crush found, that is what the plan is for); any other accidental damage, and drop or crush found
//!    on a performance fault, is [`Rule::PhysicalDamage`];
//! 7. the periods: return, exchange, free repair (handset, possibly extended) or the accessory's own period; after
//!    them [`Rule::PeriodExpired`].
//!
//! Calendar arithmetic: "N months later" is the same calendar date N months on, clamped to the month's last day
//! (bought 2024-02-29, one year ends 2025-02-28). Day windows are inclusive: `d <= 7` is the return window.
//!
//! - [`model`]: the input, the policy and the decision types.
//! - [`rules`]: [`decide`] and the steps it takes, with the table of cases that pins them down.
//! - [`repo`] and [`service`]: the policies stored per series ([`service::policy_for`]) and a decision made under
//!   one ([`service::decide_with`]); the policies' use cases (create, list, read, delete a future one) and the
//!   dry-run check ([`service::check`]: the decision a ticket would get, nothing written).
//! - [`http`]: `/warranty-policies` and `GET /warranty/check`.
//! - [`rules::input_for`]: the decision's input from a claim and a device's facts, shared by tickets and the check.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

pub use http::{Api, configure};
pub use model::{
    AppliedPolicy, Certificate, Claim, CoveredItem, FaultKind, Findings, Policy, PolicyRow, PolicySource, Remedy, Rule,
    WarrantyDecision, WarrantyInput, WarrantyPolicy,
};
pub use rules::{Refund, decide, input_for, refund};
pub use service::{decide_with, policy_for};
