//! Spare parts: the priced catalog (parts, the models and series they fit, their price history with future-dated
//! changes, so the price in force depends on the instant) and the public price list customers see.
//!
//! Where to look:
//! - `http.rs`: the `/parts/...` routes and `GET /public/price-list`, their request and response types, and the
//!   parsing of a request into a new part, a part's changes or a price change.
//! - `service.rs`: the use cases (create, change, (de)activate, list, change a price, price history, price at an
//!   instant, the public price list).
//! - `repo.rs`: the queries, among them which price is in force at an instant (`price_in_force`).
//! - `model.rs`: the part, compatibility and price rows, part categories.
//! - `rules.rs`: SKUs, warranty defaults by category, how far back a price change may take effect, search text.
//!
//! Stock of parts lives in [`crate::stock`]; the parts a repair reserves, quotes and uses in [`crate::repairs`].

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::{
    Api, ChangePrice, CreatePart, Part, PartList, PartQuery, PriceChange, PriceChangeList, PriceInForce, PriceList,
    PriceListItem, PriceListModel, UpdatePart,
};
pub use model::{NewPart, PartCategory, PartRow, PartUpdate, PriceRow};
pub use rules::MAX_WARRANTY_MONTHS;
pub use service::price_in_force;

/// The catalog's routes and the public price list.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::create_part)
        .service(http::list_parts)
        .service(http::get_part)
        .service(http::update_part)
        .service(http::deactivate_part)
        .service(http::activate_part)
        .service(http::change_part_price)
        .service(http::list_part_prices)
        .service(http::get_part_price)
        .service(http::get_public_price_list);
}
