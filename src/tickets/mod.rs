//! Repair tickets: opened at a store's front desk (reserving a loaner for a premium series, or joining its
//! waitlist), moved through the status machine, re-decided when the findings change, rated once closed.
//!
//! Where things are:
//! - [`http`]: the request and response types (`OpenTicket`, `Ticket`, …) and the handlers, thin.
//! - [`service`]: the use cases (open, read, list, transition, findings, rating), each in its transaction, and the
//!   steps other areas compose: the ticket's view (`detail`), the lock order (`lock_ticket_in_scope`'s doc), a
//!   timeline entry (`record_event`), who may act (`require_ticket_role`), the mail-in gates of a transition.
//! - [`repo`]: the queries, and the engine differences: the opening in two statements on PostgreSQL (the place
//!   with the queue's lock, then one writable CTE: `repo::insert_opening`), ticket and loan locks.
//! - [`model`]: the rows, the status machine (`TicketStatus::apply`, one `TicketAction` per call), timeline
//!   entries, the channel.
//! - [`rules`]: pure rules: ticket numbers, the store-local date, what an opening must carry, the warranty input
//!   of a ticket, the hold of a loaner claimed at the opening.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web::ServiceConfig;

pub use http::{OpenTicket, Ticket};
pub use model::{Actor, Channel, TicketAction, TicketEvent, TicketEventRow, TicketRow, TicketStatus};
pub use repo::{lock_loan_of, lock_ticket, record_events};
pub use rules::local_date;
pub use service::{
    TimelineNames, detail, detail_with_names, loan_view, lock_ticket_in_scope, open_in, record_event,
    require_ticket_role, ticket_in_scope, transition_in,
};
pub use service::{
    choose_remedy_on, choose_remedy_through_link, emit_status, emit_ticket, exchange_awaits_store, opened_event,
    rate_in, record_event_by,
};

/// The ticket routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(http::open_ticket)
        .service(http::list_tickets)
        .service(http::get_ticket)
        .service(http::update_ticket_findings)
        .service(http::rate_ticket)
        .service(http::choose_remedy)
        .service(http::start_diagnosis)
        .service(http::request_approval)
        .service(http::start_repair)
        .service(http::start_quality_check)
        .service(http::mark_ready)
        .service(http::close_ticket)
        .service(http::cancel_ticket);
}
