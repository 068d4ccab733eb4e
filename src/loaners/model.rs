//! A loaner's row, its API view, its states and condition grades, and the counts of the pool.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::loaners;
use crate::db::types::{Id, Ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoanerState {
    Available,
    Reserved,
    OnLoan,
    Inspection,
    Maintenance,
    Retired,
}

impl LoanerState {
    pub fn as_str(self) -> &'static str {
        match self {
            LoanerState::Available => "available",
            LoanerState::Reserved => "reserved",
            LoanerState::OnLoan => "on_loan",
            LoanerState::Inspection => "inspection",
            LoanerState::Maintenance => "maintenance",
            LoanerState::Retired => "retired",
        }
    }

    pub fn parse(value: &str) -> LoanerState {
        match value {
            "available" => LoanerState::Available,
            "reserved" => LoanerState::Reserved,
            "on_loan" => LoanerState::OnLoan,
            "inspection" => LoanerState::Inspection,
            "maintenance" => LoanerState::Maintenance,
            _ => LoanerState::Retired,
        }
    }

    /// A loaner promised or lent to a customer stays where it is.
    pub fn is_committed(self) -> bool {
        matches!(self, LoanerState::Reserved | LoanerState::OnLoan)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Grade {
    A,
    B,
    C,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
        }
    }

    pub fn parse(value: &str) -> Option<Grade> {
        match value.trim().to_ascii_uppercase().as_str() {
            "A" => Some(Grade::A),
            "B" => Some(Grade::B),
            "C" => Some(Grade::C),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = loaners)]
pub struct LoanerRow {
    pub id: Id,
    pub imei: String,
    pub series_id: Id,
    pub model_id: Id,
    pub store_id: Id,
    pub grade: String,
    pub state: String,
    pub idle_since: Ts,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A loaner handset.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Loaner {
    pub id: Uuid,
    pub imei: String,
    pub series_id: Uuid,
    pub model_id: Uuid,
    /// The store that holds it.
    pub store_id: Uuid,
    pub grade: Grade,
    pub state: LoanerState,
    /// Since when it has not been lent; the longest idle of the best grade is lent first.
    pub idle_since: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<LoanerRow> for Loaner {
    fn from(r: LoanerRow) -> Self {
        Loaner {
            id: r.id.0,
            imei: r.imei,
            series_id: r.series_id.0,
            model_id: r.model_id.0,
            store_id: r.store_id.0,
            grade: Grade::parse(&r.grade).unwrap_or(Grade::C),
            state: LoanerState::parse(&r.state),
            idle_since: r.idle_since.0,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InspectionResult {
    /// Fit to lend again.
    Pass,
    /// Needs repair first.
    Fail,
}

/// Loaner counts of one store and series.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Availability {
    pub store_id: Uuid,
    pub series_id: Uuid,
    pub available: i64,
    pub reserved: i64,
    pub on_loan: i64,
    pub inspection: i64,
    pub maintenance: i64,
    pub retired: i64,
    /// Tickets waiting for a loaner of this series here.
    pub waitlist: i64,
}

impl Availability {
    /// No loaners and nobody waiting, yet.
    pub fn empty(store: Id, series: Id) -> Availability {
        Availability {
            store_id: store.0,
            series_id: series.0,
            available: 0,
            reserved: 0,
            on_loan: 0,
            inspection: 0,
            maintenance: 0,
            retired: 0,
            waitlist: 0,
        }
    }
}
