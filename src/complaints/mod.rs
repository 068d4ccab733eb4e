//! Complaints (issue 15): against a ticket, a loan or a store; opened by staff (phone, walk-in) or by the customer
//! through the tracking link; owned by the first staff member who acts on it (first-contact responsibility); a first
//! reply due a set time after opening (48 hours by default, the Guizhou Mobile commitment), with due-soon and
//! breached lists and a staff alert; every step on the complaint's timeline and in the outbox; goodwill remedies
//! recorded with who approved them.
//!
//! - [`model`]: the rows, the state machine ([`ComplaintState::apply`]), categories, channels, the API types.
//! - [`rules`]: the reply clock, acceptable text, the customer's reopening window.
//! - [`service`]: the use cases, each in one transaction; the breach alerts ([`raise_breach_alerts`]).
//! - [`repo`]: the queries.
//! - [`http`]: the staff endpoints under `/complaints` and the link's under `/public/tracking/{token}/complaints`.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

pub use http::{Api, configure};
pub use model::{Complaint, ComplaintFilter, ComplaintState, DueFilter, NewComplaint, ReplyClock, Target};
pub use service::raise_breach_alerts;
