//! Spare parts: the priced catalog (with its price history and the public price list), stock per location as an
//! append-only ledger, and the parts a repair reserves, quotes and consumes.

pub mod catalog;
pub mod repair;
/// compat: stock moved to `crate::stock`; the old paths (`crate::parts::stock::LEVELS`, …) still resolve.
pub mod stock {
    pub use crate::stock::*;
}

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    catalog::configure(cfg);
    crate::stock::configure(cfg);
    repair::configure(cfg);
}
