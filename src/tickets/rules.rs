//! Pure rules of a ticket: its number, the store-local date, what an opening must carry, and how a ticket's
//! row feeds the warranty decision. No database in sight.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::http::OpenTicket;
use super::model::{Channel, TicketRow};
use crate::customers::normalise_phone;
use crate::devices::DeviceFacts;
use crate::error::{AppError, AppResult};
use crate::http::validate::Checks;
use crate::imei::Imei;
use crate::warranty::{Certificate, Claim, CoveredItem, FaultKind, Findings, WarrantyInput, input_for};

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
    if row.channel == "mail_in" {
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
    let phone_key = match normalise_phone(&phone) {
        Ok(key) if phone.len() <= 30 => key,
        Ok(_) => {
            checks.fail("customer.phone", "must be at most 30 characters");
            String::new()
        }
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
}
