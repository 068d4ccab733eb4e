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

/// A device's record as the API shows it: the warranty certificate's fields, its state and what links it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: uuid::Uuid,
    /// 15 digits, Luhn-checked; the key the device is found by.
    pub imei: String,
    pub model_id: uuid::Uuid,
    /// As written on the invoice, local to the store that sold it.
    pub purchase_date: NaiveDate,
    /// The day its three-guarantees periods start: the purchase date, or the exchange date of a replacement phone.
    pub warranty_starts_on: NaiveDate,
    pub price_paid: Option<crate::money::Money>,
    pub seller: Option<String>,
    pub invoice_number: Option<String>,
    pub state: DeviceState,
    pub customer_id: Option<uuid::Uuid>,
    /// The phone this one replaced in an exchange.
    pub replaces_device_id: Option<uuid::Uuid>,
    /// Days an admin credited to the warranty by hand (with a reason on the audit log), 0 to 3650.
    pub credit_correction_days: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&DeviceRow> for Device {
    fn from(r: &DeviceRow) -> Self {
        Device {
            id: r.id.0,
            imei: r.imei.clone(),
            model_id: r.model_id.0,
            purchase_date: r.purchase_date,
            warranty_starts_on: r.warranty_starts_on,
            price_paid: r.price_paid_minor.map(crate::money::Money::from_minor),
            seller: r.seller.clone(),
            invoice_number: r.invoice_number.clone(),
            state: r.state(),
            customer_id: r.customer_id.map(|c| c.0),
            replaces_device_id: r.replaces_device_id.map(|d| d.0),
            credit_correction_days: r.credit_correction_days,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

/// A plan sold to a device.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DevicePlan {
    pub id: uuid::Uuid,
    pub device_id: uuid::Uuid,
    pub kind: PlanKind,
    /// The day it was sold, local to the selling store.
    pub sold_on: NaiveDate,
    pub price: crate::money::Money,
    /// The store that sold it.
    pub store_id: uuid::Uuid,
    /// The ticket whose repair used it up (a screen plan covers one replacement); absent while unused.
    pub used_by_ticket_id: Option<uuid::Uuid>,
    pub used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&DevicePlanRow> for DevicePlan {
    fn from(r: &DevicePlanRow) -> Self {
        DevicePlan {
            id: r.id.0,
            device_id: r.device_id.0,
            kind: r.kind(),
            sold_on: r.sold_on,
            price: crate::money::Money::from_minor(r.price_minor),
            store_id: r.store_id.0,
            used_by_ticket_id: r.used_by_ticket_id.map(|t| t.0),
            used_at: r.used_at.map(|t| t.0),
            created_at: r.created_at.0,
        }
    }
}

/// What a device's tickets credit to its warranty (all its tickets, whichever store they were at), and the
/// admin's correction beside them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct DeviceCredits {
    /// Store-local days with the network for covered repairs (received to ready for pickup).
    pub repair_days: u32,
    /// Store-local days by which repairs that were not covered were ready after their promise.
    pub overrun_days: u32,
    /// Free repairs of a handset performance fault that reached ready for pickup (after two, a third failure may
    /// be exchanged or returned).
    pub prior_repairs: u32,
    /// The record's `credit_correction_days`, plus warranty days granted as goodwill on complaints about the
    /// device's tickets (`extended_warranty` remedies).
    pub correction_days: u32,
    /// What extends the free-repair period: repair, overrun and correction days together.
    pub credited_days: u32,
}

/// One of a device's tickets in its history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceTicket {
    pub id: uuid::Uuid,
    pub number: String,
    pub store_id: uuid::Uuid,
    pub status: crate::tickets::TicketStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ready_at: Option<chrono::DateTime<chrono::Utc>>,
    pub promised_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The days this ticket credits to the warranty as a covered repair (0 unless covered and ready).
    pub repair_days: u32,
    /// The days this ticket credits as an overrun of a repair that was not covered.
    pub overrun_days: u32,
    /// Whether it counts among the free repairs of a performance fault.
    pub counts_as_repair: bool,
    /// The rule of its warranty decision.
    pub rule: Option<crate::warranty::Rule>,
    /// Whether its warranty decision made it free.
    pub free: Option<bool>,
    /// The customer's choice, once recorded.
    pub remedy: Option<crate::warranty::Remedy>,
    /// `returned` or `exchanged` when it ended that way.
    pub outcome: Option<crate::tickets::http::OutcomeKind>,
}

impl From<&PastTicket> for DeviceTicket {
    fn from(t: &PastTicket) -> Self {
        let (repair_days, overrun_days, counts_as_repair) = super::rules::credit_of(t);
        let decision: Option<crate::warranty::WarrantyDecision> = t
            .warranty_decision
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok());
        DeviceTicket {
            id: t.id.0,
            number: t.number.clone(),
            store_id: t.store_id.0,
            status: crate::tickets::TicketStatus::parse(&t.status),
            created_at: t.created_at.0,
            received_at: t.received_at.map(|x| x.0),
            ready_at: t.ready_at.map(|x| x.0),
            promised_at: t.promised_at.map(|x| x.0),
            repair_days,
            overrun_days,
            counts_as_repair,
            rule: decision.as_ref().map(|d| d.rule),
            free: decision.as_ref().map(|d| d.free),
            remedy: t.remedy.as_deref().and_then(crate::tickets::rules::parse_enum),
            outcome: t.outcome.as_deref().and_then(crate::tickets::rules::parse_enum),
        }
    }
}

/// A device's record with its plans, what its history credits to its warranty, and its tickets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceHistory {
    pub device: Device,
    pub plans: Vec<DevicePlan>,
    /// Counted from all the device's tickets, whichever store they were at.
    pub credits: DeviceCredits,
    /// The caller's view of the device's tickets, newest first: every ticket for an admin, the tickets of their
    /// stores for store staff; at most 200 (see `ticket_count`).
    pub tickets: Vec<DeviceTicket>,
    /// How many tickets the caller may see in all (more than `tickets` holds when over 200).
    pub ticket_count: u32,
}

/// A parsed admin correction of a device's record: each field given replaces the record's (`Some(None)` clears an
/// optional one), for the reason given.
#[derive(Debug, Clone, Default)]
pub struct DeviceCorrection {
    pub model_id: Option<Id>,
    pub purchase_date: Option<NaiveDate>,
    pub price_paid_minor: Option<Option<i64>>,
    pub seller: Option<Option<String>>,
    pub invoice_number: Option<Option<String>>,
    pub credit_correction_days: Option<i32>,
    pub reason: String,
}

/// The columns a correction writes: only those whose value changes.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = devices)]
pub struct DeviceChanges {
    pub model_id: Option<Id>,
    pub purchase_date: Option<NaiveDate>,
    pub warranty_starts_on: Option<NaiveDate>,
    pub price_paid_minor: Option<Option<i64>>,
    pub seller: Option<Option<String>>,
    pub invoice_number: Option<Option<String>>,
    pub credit_correction_days: Option<i32>,
}
