//! Customers: one record per mobile number (normalised), with a name and whether they consent to be contacted.
//! Opening a ticket finds or creates the customer by phone and links the ticket and its device to them.
//!
//! - [`model`]: the row.
//! - [`rules`]: how a mobile number is normalised (the key the record is found by).
//! - [`repo`]: the queries (find or create by phone, read, change).

pub mod model;
pub mod repo;
pub mod rules;

pub use model::CustomerRow;
pub use rules::normalise_phone;
