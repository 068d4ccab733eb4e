//! Pure rules of a ticket: its number, the store-local date, what an opening must carry, and how a ticket's
//! row feeds the warranty decision. No database in sight.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::http::OpenTicket;
use super::model::{Channel, TicketAction, TicketRow, TicketStatus};
use crate::customers::rules::typed_phone;
use crate::devices::{DeviceFacts, DeviceState};
use crate::error::{AppError, AppResult};
use crate::http::validate::Checks;
use crate::imei::Imei;
use crate::warranty::{Certificate, Claim, CoveredItem, FaultKind, Findings, Refund, Remedy, WarrantyInput, input_for};

/// The human-facing ticket number, e.g. `RT-2026-000123`, from the year (at the store) and the counter's value.
pub fn ticket_number(year: i32, value: i64) -> String {
    format!("RT-{year}-{value:06}")
}

/// The store-local date of an instant.
pub fn local_date(time_zone: &str, at: DateTime<Utc>) -> NaiveDate {
    match time_zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).date_naive(),
        Err(_) => at.date_naive(),
    }
}

pub fn parse_enum<T: for<'de> Deserialize<'de>>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

pub fn enum_str<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn channel_of(row: &TicketRow) -> Channel {
    channel_named(&row.channel)
}

/// The channel stored as `name`.
pub fn channel_named(name: &str) -> Channel {
    if name == "mail_in" {
        Channel::MailIn
    } else {
        Channel::WalkIn
    }
}

/// What the ticket claims: its item, fault, findings, certificate.
pub fn claim_of(row: &TicketRow) -> Claim {
    Claim {
        item: parse_enum(&row.covered_item).unwrap_or(CoveredItem::Handset),
        fault: parse_enum(&row.fault_kind).unwrap_or(FaultKind::Performance),
        findings: Findings {
            liquid: row.finding_liquid,
            drop: row.finding_drop,
            crush: row.finding_crush,
            tampering: row.finding_tampering,
        },
        certificate: parse_enum(&row.certificate).unwrap_or(Certificate::Valid),
        force_majeure: row.force_majeure,
    }
}

/// What the warranty decision is made from: the ticket's claim, judged on `today` at the store, with the device's
/// record and history (`start`, the day its periods start; `facts`, its plans and credited days), built by
/// [`crate::warranty::input_for`] as the dry-run check builds it. A ticket without a device record (an older
/// duplicate) is judged from its own row alone.
pub fn warranty_input(row: &TicketRow, today: NaiveDate, device: Option<(NaiveDate, &DeviceFacts)>) -> WarrantyInput {
    let claim = claim_of(row);
    match device {
        Some((start, facts)) => input_for(&claim, start, today, facts),
        None => WarrantyInput {
            extended_warranty: row.extended_warranty,
            screen_plan: row.screen_plan,
            overrun_days: u32::try_from(row.prior_overrun_days).unwrap_or(0),
            ..input_for(&claim, row.purchase_date, today, &DeviceFacts::none())
        },
    }
}

/// The fields of an opening that are checked and cleaned before anything is written.
pub struct CheckedOpening {
    pub customer_name: String,
    /// As typed (trimmed), kept on the ticket.
    pub phone: String,
    /// Normalised: the customer's record is found by it.
    pub phone_key: String,
    pub price_paid_minor: Option<i64>,
    pub seller: Option<String>,
    pub invoice_number: Option<String>,
    pub imei: Imei,
    pub reported_fault: String,
    pub cosmetic: Option<String>,
}

/// Checks an opening against the store's `today` and the instant `now`, each bad field listed.
pub fn check_opening(input: &OpenTicket, today: NaiveDate, now: DateTime<Utc>) -> AppResult<CheckedOpening> {
    let mut checks = Checks::new();
    let customer_name = checks.text("customer.name", &input.customer.name, 1, 100);
    let phone = input.customer.phone.trim().to_owned();
    let phone_key = match typed_phone(&input.customer.phone) {
        Ok(key) => key,
        Err(why) => {
            checks.fail("customer.phone", why);
            String::new()
        }
    };
    let invoice = input.invoice.clone().unwrap_or_default();
    let price_paid_minor = invoice.price_paid.as_ref().and_then(|p| {
        p.to_minor_non_negative()
            .map_err(|why| checks.fail("invoice.price_paid", why))
            .ok()
    });
    let seller = invoice
        .seller
        .as_ref()
        .map(|v| checks.text("invoice.seller", v, 1, 100));
    let invoice_number = invoice
        .invoice_number
        .as_ref()
        .map(|v| checks.text("invoice.invoice_number", v, 1, 64));
    let imei = Imei::parse(&input.device_imei)
        .map_err(|why| checks.fail("device_imei", why))
        .ok();
    if input.purchase_date > today {
        checks.fail("purchase_date", format!("is after today ({today}) at the store"));
    } else if input.purchase_date < crate::warranty::rules::earliest_purchase_date() {
        checks.fail("purchase_date", "must be 2000-01-01 or later");
    }
    let reported_fault = checks.text("reported_fault", &input.reported_fault, 1, 1000);
    if input.accessories.len() > 20 || input.accessories.iter().any(|a| a.trim().is_empty() || a.len() > 100) {
        checks.fail("accessories", "at most 20 names of 1 to 100 characters");
    }
    let cosmetic = input
        .inspection
        .cosmetic
        .as_ref()
        .map(|c| checks.text("inspection.cosmetic", c, 0, 500));
    match (input.channel, &input.pickup) {
        (Channel::MailIn, None) => {
            checks.fail("pickup", "a mail-in ticket needs the address the courier collects from")
        }
        (Channel::WalkIn, Some(_)) => checks.fail("pickup", "only mail-in tickets have a courier pickup"),
        _ => {}
    }
    if input.promised_at.is_some_and(|t| t <= now) {
        checks.fail("promised_at", "must be in the future");
    }
    checks.finish()?;
    let imei = imei.ok_or_else(|| AppError::field("device_imei", "is not valid"))?;
    Ok(CheckedOpening {
        customer_name,
        phone,
        phone_key,
        price_paid_minor,
        seller,
        invoice_number,
        imei,
        reported_fault,
        cosmetic,
    })
}

/// What a choice of remedy is checked against: the ticket as locked, the remedies its decision offers, and its
/// device's state and price paid (`None` when the ticket has no device record).
#[derive(Debug, Clone, Copy)]
pub struct RemedyContext<'a> {
    pub status: TicketStatus,
    pub chosen: Option<&'a str>,
    pub offered: &'a [Remedy],
    pub channel: Channel,
    pub device: Option<(DeviceState, Option<i64>)>,
}

/// Whether the customer may choose `remedy` now, or the refusal (409, its stable code) when not. The first that
/// applies: the ticket ended; a choice made already; the repair started; not offered; a return or exchange of a
/// mail-in ticket (its courier legs are not carried through); the device has no record, was returned or exchanged
/// already; a return without the price paid.
pub fn check_remedy(ctx: &RemedyContext<'_>, remedy: Remedy) -> AppResult<()> {
    use TicketStatus as S;
    if ctx.status.is_final() {
        return Err(AppError::conflict("ticket_final", "the ticket is closed or cancelled"));
    }
    if let Some(chosen) = ctx.chosen {
        return Err(AppError::conflict(
            "remedy_already_chosen",
            format!("the customer chose {chosen} already"),
        ));
    }
    if matches!(ctx.status, S::Repairing | S::QualityCheck | S::ReadyForPickup) {
        return Err(AppError::conflict(
            "repair_started",
            "the repair has started: the remedy is chosen before it",
        ));
    }
    if !ctx.offered.contains(&remedy) {
        let offered: Vec<String> = ctx.offered.iter().map(enum_str).collect();
        return Err(AppError::conflict(
            "remedy_not_offered",
            format!(
                "the warranty decision offers {}, not {}",
                offered.join(", "),
                enum_str(&remedy)
            ),
        ));
    }
    let ends_ticket = matches!(remedy, Remedy::Return | Remedy::Exchange);
    if ends_ticket && ctx.channel == Channel::MailIn {
        return Err(AppError::conflict(
            "mail_in_outcome_unsupported",
            "a mail-in ticket's return or exchange is not carried out through the courier: bring the phone to the store",
        ));
    }
    match ctx.device {
        None if ends_ticket => Err(AppError::conflict(
            "device_not_recorded",
            "the ticket has no device record to return or exchange",
        )),
        Some((state, _)) if state != DeviceState::InUse => Err(AppError::conflict(
            "device_not_in_use",
            format!("the device was {} already", state.as_str()),
        )),
        Some((_, None)) if remedy == Remedy::Return => Err(AppError::conflict(
            "price_paid_unknown",
            "the device has no price paid to refund: an admin records it with PATCH /api/v1/devices/{imei}",
        )),
        _ => Ok(()),
    }
}

/// The gate of a repair's start: where the decision offers a choice, the customer's must be recorded first; an
/// exchange the customer chose (through the link) is carried out by the store instead of a repair.
pub fn check_repair_may_start(offered: &[Remedy], chosen: Option<&str>) -> AppResult<()> {
    match chosen {
        None if offered.len() > 1 => Err(AppError::conflict(
            "remedy_not_chosen",
            "the warranty decision offers the customer a choice: record it (POST .../remedy) before the repair starts",
        )),
        Some("exchange") => Err(AppError::conflict(
            "exchange_awaiting_store",
            "the customer chose an exchange: carry it out (POST .../remedy with the new phone's IMEI) instead of a repair",
        )),
        _ => Ok(()),
    }
}

/// The quote's gate of a repair's start from `from`: a paid repair starts from diagnosis only once quoted, and a
/// ticket awaiting the customer's approval starts only once the quote is approved. (Approving, through the link or
/// recorded by staff, starts the repair itself; this gate keeps `start-repair` from going round the customer.)
pub fn check_quote_allows_repair(from: TicketStatus, free: bool, quote_state: Option<&str>) -> AppResult<()> {
    match from {
        TicketStatus::Diagnosing if !free => Err(AppError::conflict(
            "quote_required",
            "a paid repair starts once the customer approves a quote: send one first",
        )),
        TicketStatus::AwaitingApproval if quote_state != Some("approved") => Err(AppError::conflict(
            "quote_not_approved",
            "the ticket awaits the customer's approval of its quote: the repair starts once they approve it \
             (through their link, or recorded with POST .../quote/approve)",
        )),
        _ => Ok(()),
    }
}

/// An amount in fen as yuan, e.g. `1234.50 CNY`.
pub fn yuan(minor: i64) -> String {
    format!("{}.{:02} CNY", minor / 100, (minor % 100).abs())
}

/// The `returned` timeline entry's words: the refund and how it was reached.
pub fn refund_note(refund: &Refund) -> String {
    if refund.depreciation_days == 0 {
        format!(
            "returned: refund {} (the price paid, no depreciation)",
            yuan(refund.refund_minor)
        )
    } else {
        format!(
            "returned: refund {} = price paid {} less depreciation {} for {} days",
            yuan(refund.refund_minor),
            yuan(refund.price_minor),
            yuan(refund.depreciation_minor),
            refund.depreciation_days
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_numbers_have_the_year_and_six_digits_at_least() {
        for (year, value, number) in [
            (2026, 1, "RT-2026-000001"),
            (2026, 123, "RT-2026-000123"),
            (2027, 1_234_567, "RT-2027-1234567"),
        ] {
            assert_eq!(ticket_number(year, value), number);
        }
    }

    #[test]
    fn local_dates_follow_the_store_time_zone() {
        let at = DateTime::parse_from_rfc3339("2026-12-31T17:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        for (zone, date) in [
            ("Asia/Shanghai", "2027-01-01"),
            ("Europe/London", "2026-12-31"),
            ("not a zone", "2026-12-31"),
        ] {
            assert_eq!(local_date(zone, at).to_string(), date, "{zone}");
        }
    }

    fn context(status: TicketStatus, offered: &[Remedy]) -> RemedyContext<'_> {
        RemedyContext {
            status,
            chosen: None,
            offered,
            channel: Channel::WalkIn,
            device: Some((DeviceState::InUse, Some(399_900))),
        }
    }

    #[test]
    fn a_remedy_is_chosen_once_before_the_repair_among_those_offered() {
        use Remedy::*;
        use TicketStatus as S;
        const ALL: &[Remedy] = &[Return, Exchange, FreeRepair];
        let ok = context(S::Diagnosing, ALL);
        let cases: Vec<(&str, RemedyContext<'_>, Remedy, Option<&str>)> = vec![
            ("return offered", ok, Return, None),
            ("exchange offered", ok, Exchange, None),
            ("free repair at intake", context(S::Received, ALL), FreeRepair, None),
            ("closed", context(S::Closed, ALL), FreeRepair, Some("ticket_final")),
            ("cancelled", context(S::Cancelled, ALL), Return, Some("ticket_final")),
            (
                "twice",
                RemedyContext {
                    chosen: Some("free_repair"),
                    ..ok
                },
                Return,
                Some("remedy_already_chosen"),
            ),
            ("repairing", context(S::Repairing, ALL), Return, Some("repair_started")),
            (
                "quality check",
                context(S::QualityCheck, ALL),
                FreeRepair,
                Some("repair_started"),
            ),
            (
                "ready",
                context(S::ReadyForPickup, ALL),
                Exchange,
                Some("repair_started"),
            ),
            (
                "not offered",
                context(S::Diagnosing, &[Exchange, FreeRepair]),
                Return,
                Some("remedy_not_offered"),
            ),
            ("paid not offered", ok, PaidRepair, Some("remedy_not_offered")),
            (
                "mail-in return",
                RemedyContext {
                    channel: Channel::MailIn,
                    ..ok
                },
                Return,
                Some("mail_in_outcome_unsupported"),
            ),
            (
                "mail-in repair",
                RemedyContext {
                    channel: Channel::MailIn,
                    ..ok
                },
                FreeRepair,
                None,
            ),
            (
                "no device",
                RemedyContext { device: None, ..ok },
                Exchange,
                Some("device_not_recorded"),
            ),
            (
                "no device, repair",
                RemedyContext { device: None, ..ok },
                FreeRepair,
                None,
            ),
            (
                "returned",
                RemedyContext {
                    device: Some((DeviceState::Returned, Some(1))),
                    ..ok
                },
                Exchange,
                Some("device_not_in_use"),
            ),
            (
                "exchanged",
                RemedyContext {
                    device: Some((DeviceState::Exchanged, Some(1))),
                    ..ok
                },
                Return,
                Some("device_not_in_use"),
            ),
            (
                "no price",
                RemedyContext {
                    device: Some((DeviceState::InUse, None)),
                    ..ok
                },
                Return,
                Some("price_paid_unknown"),
            ),
            (
                "no price, exchange",
                RemedyContext {
                    device: Some((DeviceState::InUse, None)),
                    ..ok
                },
                Exchange,
                None,
            ),
        ];
        for (name, ctx, remedy, refusal) in cases {
            assert_eq!(check_remedy(&ctx, remedy).err().map(|e| e.code()), refusal, "{name}");
        }
    }

    #[test]
    fn a_repair_awaiting_approval_starts_only_on_an_approved_quote() {
        use TicketStatus as S;
        for (from, free, quote, refusal) in [
            (S::Diagnosing, false, None, Some("quote_required")),
            (S::Diagnosing, true, None, None),
            (S::AwaitingApproval, false, Some("waiting"), Some("quote_not_approved")),
            (S::AwaitingApproval, true, Some("waiting"), Some("quote_not_approved")),
            (S::AwaitingApproval, false, Some("declined"), Some("quote_not_approved")),
            (S::AwaitingApproval, false, None, Some("quote_not_approved")),
            (S::AwaitingApproval, false, Some("approved"), None),
            (S::QualityCheck, false, Some("approved"), None),
        ] {
            assert_eq!(
                check_quote_allows_repair(from, free, quote).err().map(|e| e.code()),
                refusal,
                "{from:?} free={free} {quote:?}"
            );
        }
    }

    #[test]
    fn a_repair_waits_for_the_customers_choice_only_when_there_is_one() {
        use Remedy::*;
        for (offered, chosen, refusal) in [
            (&[Return, Exchange, FreeRepair][..], None, Some("remedy_not_chosen")),
            (&[Exchange, FreeRepair][..], None, Some("remedy_not_chosen")),
            (&[Exchange, FreeRepair][..], Some("free_repair"), None),
            (&[FreeRepair][..], None, None),
            (&[PaidRepair][..], None, None),
            (
                &[Return, Exchange, FreeRepair][..],
                Some("exchange"),
                Some("exchange_awaiting_store"),
            ),
        ] {
            assert_eq!(
                check_repair_may_start(offered, chosen).err().map(|e| e.code()),
                refusal,
                "{offered:?} {chosen:?}"
            );
        }
    }

    #[test]
    fn refund_notes_name_the_refund_and_the_depreciation() {
        let within = Refund {
            price_minor: 399_900,
            depreciation_days: 0,
            depreciation_minor: 0,
            refund_minor: 399_900,
        };
        assert_eq!(
            refund_note(&within),
            "returned: refund 3999.00 CNY (the price paid, no depreciation)"
        );
        let after = Refund {
            price_minor: 100_000,
            depreciation_days: 10,
            depreciation_minor: 5_000,
            refund_minor: 95_000,
        };
        assert_eq!(
            refund_note(&after),
            "returned: refund 950.00 CNY = price paid 1000.00 CNY less depreciation 50.00 CNY for 10 days"
        );
    }
}

/// The status changes a ticket's routes would take now, in the machine's order: the moves [`TicketStatus::apply`]
/// allows, less a repair's start that its gates refuse ([`check_repair_may_start`]: the customer's choice first;
/// [`check_quote_allows_repair`]: a paid repair needs an approved quote). A declined quote has its own route and is
/// not listed. The console shows these, and only these, as buttons.
pub fn next_actions(
    status: TicketStatus,
    offered: &[Remedy],
    chosen: Option<&str>,
    free: bool,
    quote_state: Option<&str>,
) -> Vec<TicketAction> {
    use TicketAction as A;
    let repair_may_start =
        check_repair_may_start(offered, chosen).is_ok() && check_quote_allows_repair(status, free, quote_state).is_ok();
    [
        A::StartDiagnosis,
        A::RequestApproval,
        A::StartRepair,
        A::StartQualityCheck,
        A::MarkReady,
        A::Close,
        A::Cancel,
    ]
    .into_iter()
    .filter(|a| status.apply(*a).is_ok())
    .filter(|a| *a != A::StartRepair || repair_may_start)
    .collect()
}

#[cfg(test)]
mod next_action_tests {
    use super::next_actions;
    use crate::tickets::{TicketAction as A, TicketStatus as S};
    use crate::warranty::Remedy;

    /// Status, remedies offered, remedy chosen, free, quote state; the steps expected.
    type Case<'a> = (S, &'a [Remedy], Option<&'a str>, bool, Option<&'a str>, &'a [A]);

    #[test]
    fn only_the_moves_the_routes_would_take_are_offered() {
        let free = [Remedy::FreeRepair];
        let choice = [Remedy::Exchange, Remedy::FreeRepair];
        let cases: [Case<'_>; 9] = [
            (S::Received, &free, None, true, None, &[A::StartDiagnosis, A::Cancel]),
            (
                S::Diagnosing,
                &free,
                None,
                true,
                None,
                &[A::RequestApproval, A::StartRepair, A::Cancel],
            ),
            // A paid repair waits for a quote; a choice waits for the customer.
            (S::Diagnosing, &[], None, false, None, &[A::RequestApproval, A::Cancel]),
            (
                S::Diagnosing,
                &choice,
                None,
                true,
                None,
                &[A::RequestApproval, A::Cancel],
            ),
            (S::AwaitingApproval, &[], None, false, Some("waiting"), &[A::Cancel]),
            (
                S::Repairing,
                &free,
                None,
                true,
                None,
                &[A::StartQualityCheck, A::Cancel],
            ),
            (
                S::QualityCheck,
                &free,
                None,
                true,
                None,
                &[A::StartRepair, A::MarkReady, A::Cancel],
            ),
            (S::ReadyForPickup, &free, None, true, None, &[A::Close, A::Cancel]),
            (S::Closed, &free, None, true, None, &[]),
        ];
        for (status, offered, chosen, free, quote, expected) in cases {
            assert_eq!(
                next_actions(status, offered, chosen, free, quote),
                expected,
                "{}",
                status.as_str()
            );
        }
    }
}
