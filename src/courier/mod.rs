//! Courier mail-in: partners, the pickups that carry a phone (and its loaner) between customer and store, and the
//! partner API. Partners retry: every event carries the partner's own id, so a resent event is stored once and
//! answered the same way; events may come late or out of order, and are kept and ordered by when they happened,
//! while a pickup's status only moves forward and never leaves a final state.
//!
//! Where things are:
//! - [`http`]: the routes, their request and response bodies, and the partner list's cursor.
//! - [`service`]: the use cases (create, reschedule, cancel, accept a pickup; report events) and the steps the
//!   tickets area composes into its own transactions ([`create_pickup`], [`cancel_leg`], [`pickup_view`]). The
//!   lock order (ticket → its loans → its pickups) and the lock-free insert of an event that moves nothing
//!   ([`post_event`]) are documented there.
//! - [`repo`]: the queries, the row locks (PostgreSQL) and the event insert that refuses cancelled pickups.
//! - [`model`]: the rows, the views (pickup, tracking event), the inputs, and the pickup's status machine
//!   ([`PickupStatus`]: accept, reschedule, cancel, and the forward-only move on an event).
//! - [`rules`]: what a partner's event must look like and how a resend is told from a reused event id, the
//!   tracking-number format, a pickup request's checks, and what a leg's progress means for the ticket's loaner
//!   and timeline.

mod http;
mod model;
mod repo;
mod rules;
mod service;

use actix_web::web::ServiceConfig;
use utoipa::OpenApi;

pub use http::COURIER_PICKUPS;
pub use model::{
    Direction, EventOutcome, EventRow, EventType, Partner, PartnerRow, Pickup, PickupRequest, PickupRow, PickupStatus,
    PostEvent, TrackingEvent, timeline_entries,
};
pub use repo::{events_of, lock_pickups_of, pickups_of};
pub use service::{
    cancel_leg, create_partner, create_pickup, list_partners, pickup_view, pickup_views, post_event, post_events,
};

#[derive(OpenApi)]
#[openapi(paths(
    http::create_partner,
    http::list_partners,
    http::create_ticket_pickup,
    http::list_ticket_pickups,
    http::reschedule_pickup,
    http::cancel_pickup,
    http::list_courier_pickups,
    http::accept_pickup,
    http::post_pickup_event,
    http::post_pickup_events,
))]
pub struct Api;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(http::create_partner)
        .service(http::list_partners)
        .service(http::create_ticket_pickup)
        .service(http::list_ticket_pickups)
        .service(http::reschedule_pickup)
        .service(http::cancel_pickup)
        .service(http::list_courier_pickups)
        .service(http::accept_pickup)
        .service(http::post_pickup_event)
        .service(http::post_pickup_events);
}
