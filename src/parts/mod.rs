//! Spare parts: the priced catalog (with its price history and the public price list), stock per location as an
//! append-only ledger, and the parts a repair reserves, quotes and consumes.

pub mod catalog;
pub mod repair;
pub mod stock;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    catalog::configure(cfg);
    stock::configure(cfg);
    repair::configure(cfg);
}
