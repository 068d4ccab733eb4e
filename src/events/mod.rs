//! Events out: the transactional outbox and what reads it.
//!
//! Every meaningful change writes its event with [`emit_in`], inside the change's own transaction, while it holds
//! the subject's row lock: no change commits without its event, and a change that rolls back leaves none.
//!
//! - [`model`]: the event types ([`EventType`]), subjects ([`Subject`]) and the stored rows.
//! - [`service`]: [`emit_in`]; the sequencer ([`sequence`]) that gives committed events their feed position; and
//!   [`consume`], the step an internal consumer (webhook fan-out, reminders) runs to read the feed past its cursor.
//! - [`repo`]: the queries.
//! - [`http`]: `GET /events`, the feed for pull consumers, scoped by the caller's role.
//!
//! Staff alerts ([`raise_alerts`]) are events too: a step of the sweeper raises each once.

pub mod http;
pub mod model;
pub mod repo;
pub mod service;

use actix_web::web;

pub use http::{EventList, FeedEvent, FeedQuery, FeedSubject};
pub use model::{EventRow, EventType, FeedScope, NewEvent, Subject, SubjectType};
pub use service::{
    AlertSettings, backlog, consume, emit_in, oldest_unplaced_age, raise_alerts, sequence, spawn_sequencer,
};

/// The feed's route (`GET /events`), also the tag of its cursors.
pub const FEED: &str = "/events";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::list_events);
}
