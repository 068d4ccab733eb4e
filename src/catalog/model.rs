//! The catalog's records: stores and their kind, product series, product models; their rows, how the API shows
//! them, and the changes an update makes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{product_models, product_series, stores};
use crate::db::types::{Id, Ts};
use crate::money::Money;

// Stores: service centers (which lend loaners and repair phones) and warehouses (which hold parts).

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    ServiceCenter,
    Warehouse,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::ServiceCenter => "service_center",
            StoreKind::Warehouse => "warehouse",
        }
    }

    pub fn parse(value: &str) -> StoreKind {
        if value == "warehouse" {
            StoreKind::Warehouse
        } else {
            StoreKind::ServiceCenter
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stores)]
pub struct StoreRow {
    pub id: Id,
    pub code: String,
    pub name: String,
    pub city: String,
    pub kind: String,
    pub time_zone: String,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub address: Option<String>,
    pub phone: Option<String>,
}

/// A service center or a warehouse.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Store {
    pub id: Uuid,
    /// Unique human-facing code, e.g. `SZ-FUTIAN`.
    pub code: String,
    pub name: String,
    pub city: String,
    pub kind: StoreKind,
    /// IANA time zone; dates written at this store (purchase dates) are local to it.
    pub time_zone: String,
    /// Street address, as work orders print it.
    pub address: Option<String>,
    /// The service center's phone number, as work orders print it.
    pub phone: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoreRow> for Store {
    fn from(r: StoreRow) -> Self {
        Store {
            id: r.id.0,
            code: r.code,
            name: r.name,
            city: r.city,
            kind: StoreKind::parse(&r.kind),
            time_zone: r.time_zone,
            address: r.address,
            phone: r.phone,
            active: r.active,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = stores)]
pub struct StoreChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

// Product series, e.g. MATE, P, NOVA. A premium series gets a loaner of the same series while in repair.

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = product_series)]
pub struct SeriesRow {
    pub id: Id,
    pub code: String,
    pub name: String,
    pub premium: bool,
    pub loaner_deposit_minor: Option<i64>,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A product series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Series {
    pub id: Uuid,
    /// Unique code, e.g. `MATE`.
    pub code: String,
    pub name: String,
    /// Premium series get a same-series loaner while their phone is in repair.
    pub premium: bool,
    /// Deposit asked when a loaner of this series is handed over; absent when none.
    pub loaner_deposit: Option<Money>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SeriesRow> for Series {
    fn from(r: SeriesRow) -> Self {
        Series {
            id: r.id.0,
            code: r.code,
            name: r.name,
            premium: r.premium,
            loaner_deposit: r.loaner_deposit_minor.map(Money::from_minor),
            active: r.active,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = product_series)]
pub struct SeriesChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub premium: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaner_deposit_minor: Option<i64>,
}

// Product models, e.g. MATE60PRO in the MATE series.

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = product_models)]
pub struct ModelRow {
    pub id: Id,
    pub code: String,
    pub name: String,
    pub series_id: Id,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A product model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Model {
    pub id: Uuid,
    /// Unique code, e.g. `MATE60PRO`.
    pub code: String,
    pub name: String,
    pub series_id: Uuid,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ModelRow> for Model {
    fn from(r: ModelRow) -> Self {
        Model {
            id: r.id.0,
            code: r.code,
            name: r.name,
            series_id: r.series_id.0,
            active: r.active,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = product_models)]
pub struct ModelChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::db::types::serialize_id"
    )]
    pub series_id: Option<Id>,
}
