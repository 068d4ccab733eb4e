//! Loans: one loaner's assignment to one ticket, from the waitlist to its return.
//!
//! Which file holds what:
//! - [`http`]: the loan calls over HTTP (list, read, issue, return, loss, cancellation, due-date extension), their
//!   request and response types.
//! - [`service`]: the use cases. The desk's calls, each in its own transaction; the steps other areas compose in
//!   theirs: reserving a loaner for a new ticket ([`reserve_for_ticket`]: claim at once or join the waitlist),
//!   serving a waitlist first come first served ([`serve_waitlist`]), freeing a loaner ([`make_available`]), ending
//!   a loan ([`end_loan`]), the courier's hand-over and take-back; and the sweeper ([`sweep`]) that expires holds
//!   and serves stranded queues.
//! - [`repo`]: the queries, with the engine differences: the `SKIP LOCKED` claim ([`repo::claim_loaner`]), the
//!   waitlist's lock and its key ([`repo::lock_queue`], [`QUEUE_LOCK_KEY`]), waitlist order and position, the
//!   sweeper's locked look-ups.
//! - [`model`]: the loan's row, its API view and its state machine ([`LoanState`], one function per transition).
//! - [`rules`]: hold times (a mail-in hold runs until the courier leg ends) and the default due time.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

pub use http::configure;
pub use model::{Loan, LoanRow, LoanState, loaner_outstanding};
pub use repo::{QUEUE_LOCK_KEY, Queue, claim_loaner, waitlist_position};
pub use rules::hold_until;
pub use service::{Outlook, emit_loan, loan_payload, outlook_in};
pub use service::{
    Reservation, Sweep, end_loan, expire_due, issue_by_courier, make_available, reserve_for_ticket, return_by_courier,
    serve_waitlist, sweep,
};
