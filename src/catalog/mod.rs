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

pub use http::{CreateModel, CreateSeries, CreateStore, configure};
pub use model::{
    DEFAULT_TIME_ZONE, Model, ModelChanges, ModelRow, Series, SeriesChanges, SeriesRow, Store, StoreChanges, StoreKind,
    StoreRow,
};
pub use service::insert;
