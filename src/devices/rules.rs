//! What a device's earlier tickets credit to its warranty, and which plans are in force for a ticket. Pure: the
//! caller reads the rows.

use super::model::{DevicePlanRow, PastTicket, PlanKind};
use crate::db::types::Id;
use crate::tickets::rules::local_date;
use crate::warranty::{CoveredItem, FaultKind, Remedy, WarrantyDecision};

/// The days and repairs earlier tickets credit to a device's warranty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Credits {
    /// Days with the network for covered repairs: the store-local days from received to ready for pickup.
    pub repair_days: u32,
    /// Days by which repairs that were not covered were ready after their promise (store-local days).
    pub overrun_days: u32,
    /// Free repairs of a handset performance fault that reached ready for pickup.
    pub prior_repairs: u32,
}

/// A ticket's credit on its own: `(repair_days, overrun_days, counts_as_a_repair)`. A covered repair credits the
/// days it spent with the network (its overrun is among them); a repair that was not covered credits the days it
/// ran past its promise. Only tickets that reached ready for pickup credit anything; a return or an exchange
/// credits nothing (the phone leaves the network's care).
pub fn credit_of(ticket: &PastTicket) -> (u32, u32, bool) {
    let Some(ready) = ticket.ready_at else {
        return (0, 0, false);
    };
    if ticket.outcome.is_some() {
        return (0, 0, false);
    }
    let decision: Option<WarrantyDecision> = ticket
        .warranty_decision
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    let free = decision.as_ref().is_some_and(|d| d.free);
    let days = |from: chrono::DateTime<chrono::Utc>| {
        let end = local_date(&ticket.time_zone, ready.0);
        let start = local_date(&ticket.time_zone, from);
        u32::try_from(end.signed_duration_since(start).num_days().max(0)).unwrap_or(u32::MAX)
    };
    if free {
        let repair_days = ticket.received_at.map_or(0, |r| days(r.0));
        let performance = decision
            .as_ref()
            .is_some_and(|d| d.inputs.fault == FaultKind::Performance && d.inputs.item == CoveredItem::Handset);
        let repaired = ticket.remedy.as_deref().is_none_or(|r| r == "free_repair");
        (
            repair_days,
            0,
            performance && repaired && decision.is_some_and(|d| d.remedies.contains(&Remedy::FreeRepair)),
        )
    } else {
        let overrun = ticket.promised_at.filter(|p| p.0 < ready.0).map_or(0, |p| days(p.0));
        (0, overrun, false)
    }
}

/// What all of `tickets` credit, leaving out `current` (the ticket being decided).
pub fn credits(tickets: &[PastTicket], current: Option<Id>) -> Credits {
    tickets
        .iter()
        .filter(|t| Some(t.id) != current)
        .fold(Credits::default(), |sum, t| {
            let (repair, overrun, repaired) = credit_of(t);
            Credits {
                repair_days: sum.repair_days.saturating_add(repair),
                overrun_days: sum.overrun_days.saturating_add(overrun),
                prior_repairs: sum.prior_repairs + u32::from(repaired),
            }
        })
}

/// Whether a plan of `kind` is in force for `ticket`: sold to the device and not used up by another ticket (the
/// ticket that used it keeps it in force, so that a decision made again on that ticket does not change).
pub fn plan_in_force(plans: &[DevicePlanRow], kind: PlanKind, ticket: Option<Id>) -> bool {
    plans
        .iter()
        .any(|p| p.kind() == kind && (p.used_by_ticket_id.is_none() || p.used_by_ticket_id == ticket))
}
