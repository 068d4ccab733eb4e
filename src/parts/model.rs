//! The catalog's rows, the part categories and the parsed forms of a new part and of a part's changes.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{part_compatibility, part_prices, parts};
use crate::db::types::{Id, Ts};

/// What a part is; also the order of the public price list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartCategory {
    Screen,
    Battery,
    BackCover,
    Camera,
    Board,
    Charger,
    Earphones,
    Speaker,
    Other,
}

impl PartCategory {
    /// Every category, in the price list's order.
    pub const ALL: [PartCategory; 9] = [
        PartCategory::Screen,
        PartCategory::Battery,
        PartCategory::BackCover,
        PartCategory::Camera,
        PartCategory::Board,
        PartCategory::Charger,
        PartCategory::Earphones,
        PartCategory::Speaker,
        PartCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PartCategory::Screen => "screen",
            PartCategory::Battery => "battery",
            PartCategory::BackCover => "back_cover",
            PartCategory::Camera => "camera",
            PartCategory::Board => "board",
            PartCategory::Charger => "charger",
            PartCategory::Earphones => "earphones",
            PartCategory::Speaker => "speaker",
            PartCategory::Other => "other",
        }
    }

    pub fn parse(value: &str) -> PartCategory {
        match value {
            "screen" => PartCategory::Screen,
            "battery" => PartCategory::Battery,
            "back_cover" => PartCategory::BackCover,
            "camera" => PartCategory::Camera,
            "board" => PartCategory::Board,
            "charger" => PartCategory::Charger,
            "earphones" => PartCategory::Earphones,
            "speaker" => PartCategory::Speaker,
            _ => PartCategory::Other,
        }
    }

    /// The warranty of a part of this category when none is given ([`super::rules::default_warranty_months`]).
    pub fn default_warranty_months(self) -> u32 {
        super::rules::default_warranty_months(self)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = parts)]
pub struct PartRow {
    pub id: Id,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub labour_minor: Option<i64>,
    pub warranty_months: i32,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = part_compatibility)]
pub struct CompatibilityRow {
    pub id: Id,
    pub part_id: Id,
    pub model_id: Option<Id>,
    pub series_id: Option<Id>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = part_prices)]
pub struct PriceRow {
    pub id: Id,
    pub part_id: Id,
    pub price_minor: i64,
    pub currency: String,
    pub effective_at: Ts,
    pub api_key_id: Option<Id>,
    pub created_at: Ts,
}

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = parts)]
pub struct PartChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labour_minor: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warranty_months: Option<i32>,
}

/// A parsed update: the part's own columns and the compatibility lists to replace.
#[derive(Debug, Serialize)]
pub struct PartUpdate {
    #[serde(flatten)]
    pub changes: PartChanges,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatible_model_ids: Option<Vec<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatible_series_ids: Option<Vec<Uuid>>,
}

/// A parsed new part with its compatibility and opening price.
#[derive(Debug, Clone)]
pub struct NewPart {
    pub row: PartRow,
    pub compatible_model_ids: Vec<Uuid>,
    pub compatible_series_ids: Vec<Uuid>,
    pub price_minor: i64,
}

/// Exactly one of the two ways to name a model.
pub enum ModelRef {
    Id(Uuid),
    Code(String),
}
