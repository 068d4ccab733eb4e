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

/// The phone an opening brings, as the counter recorded it.
pub struct Arrival<'a> {
    pub imei: &'a str,
    pub model_id: Id,
    pub purchase_date: chrono::NaiveDate,
    pub price_paid_minor: Option<i64>,
    pub seller: Option<&'a str>,
    pub invoice_number: Option<&'a str>,
    /// The customer who brings it: normalised phone, name, and a consent given at the counter.
    pub phone: &'a str,
    pub name: &'a str,
    pub consent: Option<bool>,
}

/// A device found or registered for an opening, with what the decision reads from it.
pub struct Registered {
    pub customer: crate::customers::CustomerRow,
    pub device: DeviceRow,
    pub facts: DeviceFacts,
}

/// Finds the device an opening brings, or registers it, and locks it for the rest of the transaction; refuses
/// what the record contradicts. Run after the queue's lock (see the module's lock order).
///
/// Refusals (409): a returned phone (`device_returned`: never taken in again) or an exchanged one
/// (`device_exchanged`: its replacement has its own record); a model or purchase date other than the record's
/// (`device_model_mismatch`, `device_purchase_date_mismatch`, naming the field: an admin corrects the record with a
/// reason if the record is wrong); an open ticket for the device (`device_has_open_ticket`, with its id). A known
/// device gets the invoice's fields it lacked and the customer who brings it now.
pub fn register_in(conn: &mut Conn<'_>, arrival: &Arrival<'_>, now: crate::db::types::Ts) -> AppResult<Registered> {
    use crate::error::AppError;

    // The customer by phone, and a phone seen for the first time registered at once (one statement on PostgreSQL,
    // whose insert holds the new row); a known phone (or one another opening registers meanwhile: the insert waits
    // for it) is then read and locked.
    let customer = crate::customers::CustomerRow {
        id: Id(uuid::Uuid::now_v7()),
        phone: arrival.phone.to_owned(),
        name: arrival.name.to_owned(),
        contact_consent: arrival.consent.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    let row = DeviceRow {
        id: Id(uuid::Uuid::now_v7()),
        imei: arrival.imei.to_owned(),
        model_id: arrival.model_id,
        purchase_date: arrival.purchase_date,
        warranty_starts_on: arrival.purchase_date,
        price_paid_minor: arrival.price_paid_minor,
        seller: arrival.seller.map(str::to_owned),
        invoice_number: arrival.invoice_number.map(str::to_owned),
        state: super::DeviceState::InUse.as_str().to_owned(),
        customer_id: Some(customer.id),
        replaces_device_id: None,
        credit_correction_days: 0,
        created_at: now,
        updated_at: now,
    };
    let (mut customer, inserted) = repo::arrive(conn, &customer, &row)?;
    if let Some(consent) = arrival.consent.filter(|c| *c != customer.contact_consent) {
        crate::customers::repo::set_consent(conn, customer.id, consent, now)?;
        customer.contact_consent = consent;
        customer.updated_at = now;
    }
    if inserted {
        return Ok(Registered {
            device: DeviceRow {
                customer_id: Some(customer.id),
                ..row
            },
            customer,
            facts: DeviceFacts::none(),
        });
    }
    let found = repo::lock_by_imei(conn, arrival.imei)?;
    let mut device = found.ok_or_else(|| anyhow::anyhow!("device {} vanished after its insert", arrival.imei))?;
    match device.state() {
        super::DeviceState::InUse => {}
        super::DeviceState::Returned => {
            return Err(AppError::conflict_on(
                "device_imei",
                "device_returned",
                "this phone was returned for a refund and is not taken in as a customer's phone again",
            ));
        }
        super::DeviceState::Exchanged => {
            return Err(AppError::conflict_on(
                "device_imei",
                "device_exchanged",
                "this phone was exchanged; the customer's phone now is its replacement, with its own IMEI",
            ));
        }
    }
    if device.model_id != arrival.model_id {
        return Err(AppError::conflict_on(
            "model_id",
            "device_model_mismatch",
            "this IMEI is recorded with another model; an admin corrects the device's record (with a reason) if \
             the record is wrong",
        ));
    }
    if device.purchase_date != arrival.purchase_date {
        return Err(AppError::conflict_on(
            "purchase_date",
            "device_purchase_date_mismatch",
            format!(
                "this IMEI is recorded as bought on {}; an admin corrects the device's record (with a reason) if \
                 the record is wrong",
                device.purchase_date
            ),
        ));
    }
    let facts = facts_in(conn, &device, None)?;
    if let Some(open) = facts.open_ticket(None) {
        return Err(AppError::ConflictAt {
            code: "device_has_open_ticket",
            detail: format!("this phone already has an open ticket, {}", open.number),
            field: Some("device_imei"),
            ticket_id: Some(open.id.0),
        });
    }
    let fill = |have: &mut Option<String>, given: Option<&str>| {
        if have.is_none() && given.is_some() {
            *have = given.map(str::to_owned);
            true
        } else {
            false
        }
    };
    let mut changed = fill(&mut device.seller, arrival.seller);
    changed |= fill(&mut device.invoice_number, arrival.invoice_number);
    if device.price_paid_minor.is_none() && arrival.price_paid_minor.is_some() {
        device.price_paid_minor = arrival.price_paid_minor;
        changed = true;
    }
    if device.customer_id != Some(customer.id) {
        device.customer_id = Some(customer.id);
        changed = true;
    }
    if changed {
        device.updated_at = now;
        repo::update_arrival(conn, &device)?;
    }
    Ok(Registered {
        customer,
        device,
        facts,
    })
}
