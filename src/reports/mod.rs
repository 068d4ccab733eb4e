//! Reports (issue 15): satisfaction and complaints per store and period, in JSON or CSV.
//!
//! - [`model`]: the report's rows.
//! - [`rules`]: the arithmetic (averages, shares, the median time to resolve), pure and tested.
//! - [`service`]: the report for the caller's stores, in one read.
//! - [`repo`]: the queries.
//! - [`http`]: `GET /reports/satisfaction`.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

pub use http::{Api, configure};
pub use model::{SatisfactionReport, StoreSatisfaction};
