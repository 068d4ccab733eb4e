//! The customer's view of a repair: reachable only through the unguessable token of the link they received with
//! the ticket, never by ticket number, and showing no personal data beyond a name initial and a masked phone.
//! Tokens carry 256 random bits and are stored hashed; failed look-ups are rate-limited per client address.
//!
//!
//! The customer acts through the link too: approves or declines the quote (naming the version shown), chooses the
//! remedy, rates the closed repair. Each is the ticket areas' own use case with the customer as the actor (no key:
//! the timeline entry says `by_customer`), writes its outbox event as staff's path does, and is limited per token
//! and per client address. A link is archived [`rules::ARCHIVED_AFTER_DAYS`] days after its ticket ended: 404.
//!
//! - [`model`]: the view ([`TrackingView`]) and the token ([`new_token`], [`hash_token`]).
//! - [`rules`]: what may be a token, how name and phone are masked, when a link is archived, the warranty
//!   decision explained in Chinese and English.
//! - [`service`]: the look-up, in one read; the customer's acts, each in one write on the ticket locked.
//! - [`repo`]: the queries.
//! - [`http`]: the public endpoints, the limiter of failed look-ups and the write limits.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::{Api, failure_limiter};
pub use model::{ShipmentView, StepView, TrackingView, hash_token, new_token};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::track_repair)
        .service(http::approve_quote_by_link)
        .service(http::decline_quote_by_link)
        .service(http::choose_remedy_by_link)
        .service(http::rate_repair_by_link);
}
