//! The catalog: stores and warehouses, product series and product models. Admins write; every key reads.

pub mod models;
pub mod series;
pub mod stores;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    stores::configure(cfg);
    series::configure(cfg);
    models::configure(cfg);
}
