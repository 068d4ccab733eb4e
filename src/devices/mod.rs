//! Devices: one record per phone, keyed by its IMEI, with the warranty certificate's fields (model, purchase date,
//! price paid, seller, invoice number), its plans (extended warranty, screen plan), its state
//! (`in_use | returned | exchanged`) and its history (its tickets).
//!
//! Where things are:
//! - [`model`]: the rows (device, plan), the device's state, a plan's kind, a past ticket as the warranty sees it.
//! - [`rules`]: pure rules: what earlier tickets credit to the warranty (days in covered repair, days of overrun,
//!   earlier free repairs of a performance fault), which plans are in force for a ticket.
//! - [`repo`]: the queries: find, lock, create, plans, a device's tickets.
//! - [`service`]: the steps other areas compose: [`service::facts_in`] (everything the warranty decision reads
//!   from the device's record and history).
//!
//! Lock order: a device is locked after the queue's lock (an opening takes the queue's lock first) and after its
//! ticket (a remedy carried out locks the ticket, serves the queue, then locks the device).

pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

pub use model::{DevicePlanRow, DeviceRow, DeviceState, PastTicket, PlanKind};
pub use service::{Arrival, DeviceFacts, Registered, facts_in, register_in};
