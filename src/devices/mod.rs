//! Devices: one record per phone, keyed by its IMEI, with the warranty certificate's fields (model, purchase date,
//! price paid, seller, invoice number), its plans (extended warranty, screen plan), its state
//! (`in_use | returned | exchanged`) and its history (its tickets).
//!
//! Where things are:
//! - [`http`]: `GET /devices/{imei}` (the history), `PATCH /devices/{imei}` (an admin's correction, with a reason),
//!   `POST /devices/{imei}/plans` (a plan sold), their request types and thin handlers.
//! - [`model`]: the rows (device, plan), the device's state, a plan's kind, a past ticket as the warranty sees it,
//!   the API views (record, plan, credits, history) and a parsed correction.
//! - [`rules`]: pure rules: what earlier tickets credit to the warranty (days in covered repair, days of overrun,
//!   earlier free repairs of a performance fault), which plans are in force for a ticket, when a plan may be sold
//!   ([`rules::check_plan_sale`]), how many tickets a history lists.
//! - [`repo`]: the queries: find, lock, create, correct, plans (sell, use up), a device's and a customer's.
//! - [`service`]: the use cases (history, correct, sell a plan) and the steps other areas compose:
//!   [`service::facts_in`] (everything the warranty decision reads from the device's record and history) and
//!   [`service::use_plan_in`] (a plan used up by a ticket's repair).
//!
//! Who sees what: admins and store staff read any device's record, plans and credited days (the front desk must
//! see a phone's warranty whatever store repaired it); the tickets in its history are the caller's stores' only.
//!
//! Lock order: a device is locked after the queue's lock (an opening takes the queue's lock first) and after its
//! ticket (a remedy carried out locks the ticket, serves the queue, then locks the device).

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::Api;
pub use model::{Device, DeviceHistory, DevicePlan, DevicePlanRow, DeviceRow, DeviceState, PastTicket, PlanKind};
pub use service::{Arrival, DeviceFacts, Registered, facts_in, register_in, use_plan_in};

/// The device routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::get_device)
        .service(http::correct_device)
        .service(http::sell_plan);
}
