//! `depot seed-demo`: a realistic demo data set (stores in two cities, MATE/P premium and NOVA/ENJOY standard
//! series with models, loaners, parts with prices and stock, one courier partner). Each record is looked up by its
//! natural key first, so running it again adds only what is missing.
//!
//! - [`model`]: the records the data set holds, and [`SeedReport`].
//! - [`service`]: [`seed_demo`], in one transaction; stores, series and models go through the catalog's own insert
//!   (validated and audited as over the API).
//! - [`repo`]: the bare rows written for loaners, parts, stock and the courier partner.

pub mod model;
pub mod repo;
pub mod service;

pub use model::SeedReport;
pub use repo::find_partner;
pub use service::seed_demo;
