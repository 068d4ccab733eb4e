//! A device's row, its plans' rows, its state and a past ticket as the warranty reads it.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{device_plans, devices};
use crate::db::types::{Id, Ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    InUse,
    /// Returned for a refund: never taken in as a customer's phone again.
    Returned,
    /// Exchanged for a new phone (which has its own record).
    Exchanged,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::InUse => "in_use",
            DeviceState::Returned => "returned",
            DeviceState::Exchanged => "exchanged",
        }
    }

    pub fn parse(value: &str) -> DeviceState {
        match value {
            "returned" => DeviceState::Returned,
            "exchanged" => DeviceState::Exchanged,
            _ => DeviceState::InUse,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// Adds the policy's `extended_months` to the handset's free-repair period.
    ExtendedWarranty,
    /// Covers one accidental screen or back-cover replacement within the policy's `screen_plan_months` of purchase.
    ScreenPlan,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::ExtendedWarranty => "extended_warranty",
            PlanKind::ScreenPlan => "screen_plan",
        }
    }

    pub fn parse(value: &str) -> PlanKind {
        match value {
            "screen_plan" => PlanKind::ScreenPlan,
            _ => PlanKind::ExtendedWarranty,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = devices)]
pub struct DeviceRow {
    pub id: Id,
    pub imei: String,
    pub model_id: Id,
    pub purchase_date: NaiveDate,
    /// The purchase date, or the exchange date of a replacement phone: the day the periods start.
    pub warranty_starts_on: NaiveDate,
    pub price_paid_minor: Option<i64>,
    pub seller: Option<String>,
    pub invoice_number: Option<String>,
    pub state: String,
    pub customer_id: Option<Id>,
    pub replaces_device_id: Option<Id>,
    pub credit_correction_days: i32,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl DeviceRow {
    pub fn state(&self) -> DeviceState {
        DeviceState::parse(&self.state)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = device_plans)]
pub struct DevicePlanRow {
    pub id: Id,
    pub device_id: Id,
    pub kind: String,
    pub sold_on: NaiveDate,
    pub price_minor: i64,
    pub store_id: Id,
    pub api_key_id: Option<Id>,
    pub used_by_ticket_id: Option<Id>,
    pub used_at: Option<Ts>,
    pub created_at: Ts,
}

impl DevicePlanRow {
    pub fn kind(&self) -> PlanKind {
        PlanKind::parse(&self.kind)
    }
}

/// One of a device's tickets, as the warranty and the history read it.
#[derive(Debug, Clone, Queryable)]
pub struct PastTicket {
    pub id: Id,
    pub number: String,
    pub store_id: Id,
    pub status: String,
    pub received_at: Option<Ts>,
    pub ready_at: Option<Ts>,
    pub promised_at: Option<Ts>,
    pub warranty_decision: Option<String>,
    pub remedy: Option<String>,
    pub outcome: Option<String>,
    pub created_at: Ts,
    /// The ticket's store's time zone: days are counted in it.
    pub time_zone: String,
}
