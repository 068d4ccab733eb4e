//! The steps other areas compose inside their transactions: what the warranty decision reads from a device.

use super::model::{DevicePlanRow, DeviceRow, PastTicket, PlanKind};
use super::repo;
use super::rules::{self, Credits};
use crate::db::Conn;
use crate::db::types::Id;
use crate::error::AppResult;

/// Everything a warranty decision reads from a device's record and history, for one ticket.
#[derive(Debug, Clone)]
pub struct DeviceFacts {
    pub plans: Vec<DevicePlanRow>,
    pub tickets: Vec<PastTicket>,
    /// What the device's other tickets credit.
    pub credits: Credits,
    pub extended_warranty: bool,
    pub screen_plan: bool,
    pub correction_days: u32,
}

impl DeviceFacts {
    /// A device with no plans and no history (one just registered).
    pub fn none() -> DeviceFacts {
        DeviceFacts {
            plans: Vec::new(),
            tickets: Vec::new(),
            credits: Credits::default(),
            extended_warranty: false,
            screen_plan: false,
            correction_days: 0,
        }
    }

    /// The device's open ticket other than `current`, if any.
    pub fn open_ticket(&self, current: Option<Id>) -> Option<&PastTicket> {
        self.tickets
            .iter()
            .find(|t| Some(t.id) != current && !matches!(t.status.as_str(), "closed" | "cancelled"))
    }
}

/// Reads a device's plans and tickets and what they mean for `ticket` (the ticket being decided; `None` for a
/// dry run or a new ticket).
pub fn facts_in(conn: &mut Conn<'_>, device: &DeviceRow, ticket: Option<Id>) -> AppResult<DeviceFacts> {
    let plans = repo::plans_of(conn, device.id)?;
    let tickets = repo::tickets_of(conn, device.id)?;
    Ok(DeviceFacts {
        credits: rules::credits(&tickets, ticket),
        extended_warranty: rules::plan_in_force(&plans, PlanKind::ExtendedWarranty, ticket),
        screen_plan: rules::plan_in_force(&plans, PlanKind::ScreenPlan, ticket),
        correction_days: u32::try_from(device.credit_correction_days).unwrap_or(0),
        plans,
        tickets,
    })
}
