//! What a device's earlier tickets credit to its warranty, which plans are in force for a ticket, and when a plan
//! may be sold. Pure: the caller reads the rows.

use chrono::{Days, Months, NaiveDate};

use super::model::{DevicePlanRow, DeviceState, PastTicket, PlanKind};
use crate::db::types::Id;
use crate::error::{AppError, AppResult};
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

/// The most tickets a device's history lists (the newest); its `ticket_count` says how many there are in all. A
/// phone with more tickets than this is a data problem, not a customer: a cap keeps the answer bounded without a
/// cursor inside a record.
pub const HISTORY_TICKETS: usize = 200;

/// A screen plan is sold within this many days of the purchase date, the last day included (Huawei's screen plan
/// terms: within 30 days of purchase).
pub const SCREEN_PLAN_SALE_DAYS: i64 = 30;

/// What a plan sale is checked against.
#[derive(Debug, Clone)]
pub struct PlanSale<'a> {
    pub kind: PlanKind,
    /// The day of the sale, local to the selling store.
    pub sold_on: NaiveDate,
    pub state: DeviceState,
    pub purchase_date: NaiveDate,
    /// The day the device's periods start (its purchase, or the exchange of a replacement phone).
    pub warranty_starts_on: NaiveDate,
    /// The kinds of plan the device has already.
    pub sold: &'a [PlanKind],
    /// The handset's standard free-repair period under the series' policy in force on the day of the sale.
    pub handset_months: u32,
    /// Days credited to the warranty (repairs, overruns, corrections): they extend the free-repair period.
    pub credited_days: u32,
}

/// The last day of a handset's standard free-repair period (no extended warranty): `months` calendar months after
/// `start` (clamped to the month's end), plus the credited days. Saturates at [`NaiveDate::MAX`].
pub fn standard_repair_ends(start: NaiveDate, months: u32, credited_days: u32) -> NaiveDate {
    start
        .checked_add_months(Months::new(months))
        .and_then(|end| end.checked_add_days(Days::new(u64::from(credited_days))))
        .unwrap_or(NaiveDate::MAX)
}

/// Whether a plan may be sold, or why not, in this order:
/// - a returned or exchanged phone takes no plan (409 `device_not_in_use`);
/// - a sale before the purchase date is a typing error (400 `sold_on`);
/// - one plan of each kind per device (409 `plan_already_sold`);
/// - a screen plan only within [`SCREEN_PLAN_SALE_DAYS`] of the purchase date (409 `screen_plan_window_closed`);
/// - an extended warranty only while the handset's standard free-repair period runs, credited days included
///   (409 `warranty_expired`): it extends a running warranty, it does not revive an ended one.
pub fn check_plan_sale(sale: &PlanSale<'_>) -> AppResult<()> {
    if sale.state != DeviceState::InUse {
        return Err(AppError::conflict(
            "device_not_in_use",
            format!("the device was {}: it takes no plan", sale.state.as_str()),
        ));
    }
    if sale.sold_on < sale.purchase_date {
        return Err(AppError::field(
            "sold_on",
            format!("is before the device's purchase date ({})", sale.purchase_date),
        ));
    }
    if sale.sold.contains(&sale.kind) {
        return Err(AppError::conflict(
            "plan_already_sold",
            format!("the device has a {} already", sale.kind.as_str()),
        ));
    }
    match sale.kind {
        PlanKind::ScreenPlan => {
            let days = sale.sold_on.signed_duration_since(sale.purchase_date).num_days();
            if days > SCREEN_PLAN_SALE_DAYS {
                return Err(AppError::conflict(
                    "screen_plan_window_closed",
                    format!(
                        "a screen plan is sold within {SCREEN_PLAN_SALE_DAYS} days of purchase; {} is {days} days \
                         after {}",
                        sale.sold_on, sale.purchase_date
                    ),
                ));
            }
        }
        PlanKind::ExtendedWarranty => {
            let ends = standard_repair_ends(sale.warranty_starts_on, sale.handset_months, sale.credited_days);
            if sale.sold_on > ends {
                return Err(AppError::conflict(
                    "warranty_expired",
                    format!(
                        "an extended warranty is sold while the handset's free-repair period runs; it ended on {ends}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod plan_sale_tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap_or(NaiveDate::MIN)
    }

    fn sale(kind: PlanKind, sold_on: &str) -> PlanSale<'static> {
        PlanSale {
            kind,
            sold_on: date(sold_on),
            state: DeviceState::InUse,
            purchase_date: date("2026-03-01"),
            warranty_starts_on: date("2026-03-01"),
            sold: &[],
            handset_months: 12,
            credited_days: 0,
        }
    }

    fn code(sale: &PlanSale<'_>) -> &'static str {
        match check_plan_sale(sale) {
            Ok(()) => "ok",
            Err(AppError::Validation(_)) => "sold_on",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn a_screen_plan_is_sold_within_30_days_of_purchase() {
        let cases = [
            ("2026-03-01", "ok"),
            ("2026-03-30", "ok"),
            ("2026-03-31", "ok"),                        // day 30
            ("2026-04-01", "screen_plan_window_closed"), // day 31
            ("2027-03-01", "screen_plan_window_closed"),
            ("2026-02-28", "sold_on"),
        ];
        for (sold_on, want) in cases {
            assert_eq!(code(&sale(PlanKind::ScreenPlan, sold_on)), want, "{sold_on}");
        }
    }

    #[test]
    fn an_extended_warranty_is_sold_while_the_standard_period_runs() {
        let cases = [
            ("2026-03-01", 0, "ok"),
            ("2027-03-01", 0, "ok"), // the period's last day
            ("2027-03-02", 0, "warranty_expired"),
            ("2027-03-11", 10, "ok"), // ten credited days move the end
            ("2027-03-12", 10, "warranty_expired"),
        ];
        for (sold_on, credited, want) in cases {
            let mut s = sale(PlanKind::ExtendedWarranty, sold_on);
            s.credited_days = credited;
            assert_eq!(code(&s), want, "{sold_on} with {credited} days credited");
        }
        // A replacement phone's period starts on the exchange day, not on the first phone's purchase.
        let mut replacement = sale(PlanKind::ExtendedWarranty, "2027-06-01");
        replacement.warranty_starts_on = date("2026-09-01");
        assert_eq!(code(&replacement), "ok");
        // Bought on 29 February: the year ends on 28 February.
        let mut leap = sale(PlanKind::ExtendedWarranty, "2025-02-28");
        leap.purchase_date = date("2024-02-29");
        leap.warranty_starts_on = date("2024-02-29");
        assert_eq!(code(&leap), "ok");
        leap.sold_on = date("2025-03-01");
        assert_eq!(code(&leap), "warranty_expired");
        assert_eq!(
            standard_repair_ends(date("2026-01-01"), u32::MAX, u32::MAX),
            NaiveDate::MAX
        );
    }

    #[test]
    fn one_plan_of_each_kind_and_only_for_a_phone_in_use() {
        let sold = [PlanKind::ScreenPlan];
        let mut second = sale(PlanKind::ScreenPlan, "2026-03-02");
        second.sold = &sold;
        assert_eq!(code(&second), "plan_already_sold");
        let mut other = sale(PlanKind::ExtendedWarranty, "2026-03-02");
        other.sold = &sold;
        assert_eq!(code(&other), "ok");
        for state in [DeviceState::Returned, DeviceState::Exchanged] {
            let mut s = sale(PlanKind::ScreenPlan, "2026-03-02");
            s.state = state;
            assert_eq!(code(&s), "device_not_in_use", "{state:?}");
        }
    }
}
