//! Parts in a repair: reserve them for a ticket, release or consume them, and quote a paid repair with the prices
//! in force when quoted (a snapshot) plus labour. Lines covered by the warranty cost the customer nothing but keep
//! their cost; the customer approves or declines the quote, and a decline releases the parts.
//!
//! Where to look:
//! - `http.rs`: the `/tickets/{ticket_id}/parts…` and `/tickets/{ticket_id}/quote…` routes and their types.
//! - `service.rs`: the use cases (reserve, release, consume, list, quote, approve, decline), each opening its one
//!   transaction as the caller's key, and the steps that compose in another's: `reserve_in` (the bench's) and the
//!   ticket use cases' (`summary`, `release_all`, `warranty_free`).
//! - `repo.rs`: the queries; the reservation's two statements (`reserve_scope`, `reserve_line`).
//! - `model.rs`: the line row and its states (reserved, then consumed or released).
//! - `rules.rs`: what a line and a repair cost and what the customer pays.
//!
//! Lock order: the ticket first, then stock levels in (location, part) order ([`crate::stock::repo::lock_levels`]).

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::{Api, QuoteRepair, ReservePart, TicketPart, TicketPartReserved, TicketParts, TicketPartsTotals};
pub use model::{PartLineState, TicketPartRow};
pub use rules::{QuoteDecision, check_quote_decision};
pub use service::{decide_in, release_all, reserve, reserve_in, summary, warranty_free};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::reserve_ticket_part)
        .service(http::list_ticket_parts)
        .service(http::release_ticket_part)
        .service(http::consume_ticket_part)
        .service(http::quote_ticket)
        .service(http::approve_quote)
        .service(http::decline_quote);
}
