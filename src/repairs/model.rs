//! A ticket's part lines: their row and their states.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::ticket_parts;
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult};

// Where a part line stands: reserved for the repair, then used in it (`consumed`) or given back (`released`). (A
// plain comment: a doc comment would change the published schema.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartLineState {
    Reserved,
    Consumed,
    Released,
}

impl PartLineState {
    pub fn as_str(self) -> &'static str {
        match self {
            PartLineState::Reserved => "reserved",
            PartLineState::Consumed => "consumed",
            PartLineState::Released => "released",
        }
    }

    pub fn parse(value: &str) -> PartLineState {
        match value {
            "reserved" => PartLineState::Reserved,
            "consumed" => PartLineState::Consumed,
            _ => PartLineState::Released,
        }
    }

    /// The line goes back to stock: only a reserved line can.
    pub fn release(self) -> AppResult<PartLineState> {
        self.finish(PartLineState::Released)
    }

    /// The line is used in the repair: only a reserved line can be.
    pub fn consume(self) -> AppResult<PartLineState> {
        self.finish(PartLineState::Consumed)
    }

    fn finish(self, to: PartLineState) -> AppResult<PartLineState> {
        match self {
            PartLineState::Reserved => Ok(to),
            done => Err(AppError::conflict(
                "illegal_transition",
                format!("the part is already {}", done.as_str()),
            )),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ticket_parts)]
pub struct TicketPartRow {
    pub id: Id,
    pub ticket_id: Id,
    pub part_id: Id,
    pub location_id: Id,
    pub quantity: i64,
    pub state: String,
    pub unit_price_minor: Option<i64>,
    pub covered: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_reserved_line_is_released_or_consumed() {
        use PartLineState::*;
        for (from, release, consume) in [
            (Reserved, Some(Released), Some(Consumed)),
            (Consumed, None, None),
            (Released, None, None),
        ] {
            assert_eq!(from.release().ok(), release, "{from:?}");
            assert_eq!(from.consume().ok(), consume, "{from:?}");
            assert_eq!(PartLineState::parse(from.as_str()), from);
        }
    }
}
