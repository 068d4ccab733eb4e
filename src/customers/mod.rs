//! Customers: one record per mobile number (normalised), with a name and whether they consent to be contacted.
//! Opening a ticket finds or creates the customer by phone and links the ticket and its device to them.
//!
//! - [`http`]: `GET /customers?phone=` (found by any spelling of the number), `GET /customers/{customer_id}`,
//!   `PATCH /customers/{customer_id}` (name, consent), their types and thin handlers.
//! - [`service`]: the use cases and who sees what: admins every customer, store staff only customers with a ticket
//!   at one of their stores (anyone else is 404), and only those tickets.
//! - [`model`]: the row, a ticket of theirs as listed, the API views.
//! - [`rules`]: how a mobile number is normalised (the key the record is found by).
//! - [`repo`]: the queries (find or create by phone, read, change, their tickets).

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::Api;
pub use model::{CustomerHistory, CustomerRecord, CustomerRow};
pub use rules::normalise_phone;

/// The customer routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::find_customer)
        .service(http::get_customer)
        .service(http::update_customer);
}
