//! The catalog: stores and warehouses, product series and product models. Admins write; every key reads.
//!
//! - [`model`]: the rows, how the API shows them ([`Store`], [`Series`], [`Model`]) and the changes an update makes.
//! - [`service`]: the use cases, written once for the three resources over [`service::Entity`]: create with a free
//!   code, update, deactivate/activate (kept in history, audited, idempotent), lists; the one rule of their own, a
//!   model joins only an active series, is `check_series` there.
//! - [`repo`]: the queries, one module per table.
//! - [`http`]: the request types with their field checks (`Create…::parse`, `Update…::parse`) and the handlers.

pub mod http;
pub mod model;
pub mod repo;
pub mod service;

pub use http::configure;
pub use model::{
    DEFAULT_TIME_ZONE, Model, ModelChanges, ModelRow, Series, SeriesChanges, SeriesRow, Store, StoreChanges, StoreKind,
    StoreRow,
};

// compat: the catalog was one module per resource (`catalog::stores::…`, `catalog::series::…`,
// `catalog::models::…`); these keep those paths. The lead removes them after merging.
pub mod stores {
    pub use super::http::{
        __path_activate_store, __path_create_store, __path_deactivate_store, __path_get_store, __path_list_stores,
        __path_update_store, CreateStore, StoreList, StoreQuery, UpdateStore, activate_store, create_store,
        deactivate_store, get_store, list_stores, update_store,
    };
    pub use super::model::{DEFAULT_TIME_ZONE, Store, StoreChanges, StoreKind, StoreRow};
    pub use super::repo::stores::{find, find_by_code};
    pub use super::service::insert;
}

// compat: see `stores`.
pub mod series {
    pub use super::http::{
        __path_activate_series, __path_create_series, __path_deactivate_series, __path_get_series, __path_list_series,
        __path_update_series, CreateSeries, SeriesList, SeriesQuery, UpdateSeries, activate_series, create_series,
        deactivate_series, get_series, list_series, update_series,
    };
    pub use super::model::{Series, SeriesChanges, SeriesRow};
    pub use super::repo::series::{find, find_by_code};
    pub use super::service::insert;
}

// compat: see `stores`.
pub mod models {
    pub use super::http::{
        __path_activate_model, __path_create_model, __path_deactivate_model, __path_get_model, __path_list_models,
        __path_update_model, CreateModel, ModelList, ModelQuery, UpdateModel, activate_model, create_model,
        deactivate_model, get_model, list_models, update_model,
    };
    pub use super::model::{Model, ModelChanges, ModelRow};
    pub use super::repo::models::{find, find_by_code};
    pub use super::service::insert;
}
