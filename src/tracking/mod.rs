//! The customer's view of a repair: reachable only through the unguessable token of the link they received with
//! the ticket, never by ticket number, and showing no personal data beyond a name initial and a masked phone.
//! Tokens carry 256 random bits and are stored hashed; failed look-ups are rate-limited per client address.
//!
//! - [`model`]: the view ([`TrackingView`]) and the token ([`new_token`], [`hash_token`]).
//! - [`rules`]: what may be a token, and how name and phone are masked.
//! - [`service`]: the look-up, in one read; the ticket and courier data come through their areas' rows.
//! - [`repo`]: the queries.
//! - [`http`]: the public endpoint and its limiter of failed look-ups.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::{Api, failure_limiter};
pub use model::{ShipmentView, StepView, TrackingView, hash_token, new_token};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::track_repair);
}
