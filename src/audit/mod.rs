//! The audit log: who changed what, when, with which key. Written in the same transaction as the change.
//!
//! - [`model`]: the stored row ([`AuditRow`]).
//! - [`service`]: [`record`], the step every area runs inside its own transaction, and the list use case.
//! - [`repo`]: the queries.
//! - [`http`]: `GET /audit-log` for admins and its response types.

pub mod http;
pub mod model;
pub mod repo;
pub mod service;

use actix_web::web;

pub use http::{AuditEntry, AuditEntryList, AuditQuery};
pub use model::AuditRow;
pub use service::record;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::list_audit_entries);
}
