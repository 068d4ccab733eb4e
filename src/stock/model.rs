//! Rows of the stock tables and the kinds of movement in the ledger.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{stock_levels, stock_movements};
use crate::db::types::{Id, Ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Receipt,
    TransferOut,
    TransferIn,
    Adjustment,
    Reservation,
    Release,
    Consumption,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Receipt => "receipt",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
            MovementKind::Adjustment => "adjustment",
            MovementKind::Reservation => "reservation",
            MovementKind::Release => "release",
            MovementKind::Consumption => "consumption",
        }
    }

    pub fn parse(value: &str) -> MovementKind {
        match value {
            "receipt" => MovementKind::Receipt,
            "transfer_out" => MovementKind::TransferOut,
            "transfer_in" => MovementKind::TransferIn,
            "adjustment" => MovementKind::Adjustment,
            "reservation" => MovementKind::Reservation,
            "release" => MovementKind::Release,
            _ => MovementKind::Consumption,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stock_levels)]
pub struct LevelRow {
    pub location_id: Id,
    pub part_id: Id,
    pub on_hand: i64,
    pub reserved: i64,
    pub reorder_point: i64,
    pub reorder_qty: i64,
    pub updated_at: Ts,
}

impl LevelRow {
    /// A level that holds nothing yet, as the first receipt (or setting) of a part at a location creates it.
    pub fn empty(location: Id, part: Id, now: Ts) -> LevelRow {
        LevelRow {
            location_id: location,
            part_id: part,
            on_hand: 0,
            reserved: 0,
            reorder_point: 0,
            reorder_qty: 0,
            updated_at: now,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stock_movements)]
pub struct MovementRow {
    pub id: Id,
    pub location_id: Id,
    pub part_id: Id,
    pub kind: String,
    pub quantity: i64,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub api_key_id: Option<Id>,
    pub at: Ts,
}

impl MovementRow {
    /// A ledger entry stamped now, not yet written.
    pub fn new(
        (location, part): (Id, Id),
        kind: MovementKind,
        quantity: i64,
        reference: Option<&str>,
        reason: Option<&str>,
        actor: Option<Uuid>,
    ) -> MovementRow {
        MovementRow {
            id: Id(Uuid::now_v7()),
            location_id: location,
            part_id: part,
            kind: kind.as_str().to_owned(),
            quantity,
            reference: reference.map(str::to_owned),
            reason: reason.map(str::to_owned),
            api_key_id: actor.map(Id),
            at: Ts(crate::now()),
        }
    }
}
