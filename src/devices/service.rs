//! The devices' use cases (a device's history, an admin's correction of its record, a plan sold to it), each in
//! its own transaction as the caller's key, and the steps other areas compose inside theirs: what the warranty
//! decision reads from a device ([`facts_in`]) and a plan used up by a repair ([`use_plan_in`]).

use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::model::{
    Device, DeviceChanges, DeviceCorrection, DeviceCredits, DeviceHistory, DevicePlan, DevicePlanRow, DeviceRow,
    DeviceTicket, PastTicket, PlanKind,
};
use super::repo;
use super::rules::{self, Credits, PlanSale};
use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult, OrDuplicate};
use crate::imei::Imei;
use crate::money::Money;

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
    // Warranty days a manager granted as goodwill on a complaint count as credited by hand: they push the
    // free-repair end out for the device's next decision.
    let goodwill_days = repo::goodwill_days_of(conn, device.id)?
        .into_iter()
        .map(|d| u32::try_from(d.unwrap_or(0)).unwrap_or(0))
        .fold(0u32, u32::saturating_add);
    Ok(DeviceFacts {
        credits: rules::credits(&tickets, ticket),
        extended_warranty: rules::plan_in_force(&plans, PlanKind::ExtendedWarranty, ticket),
        screen_plan: rules::plan_in_force(&plans, PlanKind::ScreenPlan, ticket),
        correction_days: u32::try_from(device.credit_correction_days)
            .unwrap_or(0)
            .saturating_add(goodwill_days),
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
/// Who may read devices: admins and store staff. The record, its plans and its credited days are shown to any
/// store staff whatever store the phone was repaired at (the front desk must see a phone's warranty before it has
/// a ticket there); its tickets only within the caller's stores.
fn require_device_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// The device with this IMEI (15 digits, checked by the handler), or 404: a wrong check digit is no device's.
fn device_by_imei(conn: &mut Conn<'_>, imei: &str, lock: bool) -> AppResult<DeviceRow> {
    let imei = Imei::parse(imei).map_err(|_| AppError::NotFound("device"))?;
    let found = if lock {
        repo::lock_by_imei(conn, imei.as_str())?
    } else {
        repo::by_imei(conn, imei.as_str())?
    };
    found.ok_or(AppError::NotFound("device"))
}

/// A device's record, plans, credited days and the caller's view of its tickets (newest first, capped).
pub fn history_in(conn: &mut Conn<'_>, principal: &Principal, device: &DeviceRow) -> AppResult<DeviceHistory> {
    let facts = facts_in(conn, device, None)?;
    let Credits {
        repair_days,
        overrun_days,
        prior_repairs,
    } = facts.credits;
    let visible: Vec<&PastTicket> = facts
        .tickets
        .iter()
        .rev()
        .filter(|t| principal.covers_store(t.store_id.0))
        .collect();
    Ok(DeviceHistory {
        device: Device::from(device),
        plans: facts.plans.iter().map(DevicePlan::from).collect(),
        credits: DeviceCredits {
            repair_days,
            overrun_days,
            prior_repairs,
            correction_days: facts.correction_days,
            credited_days: repair_days
                .saturating_add(overrun_days)
                .saturating_add(facts.correction_days),
        },
        ticket_count: u32::try_from(visible.len()).unwrap_or(u32::MAX),
        tickets: visible
            .into_iter()
            .take(rules::HISTORY_TICKETS)
            .map(DeviceTicket::from)
            .collect(),
    })
}

/// Reads a device's history by IMEI.
pub fn history(db: &Db, bearer: &Bearer, imei: &str) -> AppResult<DeviceHistory> {
    bearer.read(db, |conn, principal| history_by_imei_in(conn, principal, imei))
}

/// [`history`] on the caller's connection, as `principal`.
pub fn history_by_imei_in(conn: &mut Conn<'_>, principal: &Principal, imei: &str) -> AppResult<DeviceHistory> {
    require_device_role(principal)?;
    let device = device_by_imei(conn, imei, false)?;
    history_in(conn, principal, &device)
}

/// The store-local today of the device's newest ticket's store (the default time zone for a device without
/// tickets): a purchase date after it is refused.
fn device_today(conn: &mut Conn<'_>, device: &DeviceRow) -> AppResult<NaiveDate> {
    let tickets = repo::tickets_of(conn, device.id)?;
    let zone = tickets
        .last()
        .map_or(crate::catalog::model::DEFAULT_TIME_ZONE, |t| t.time_zone.as_str());
    Ok(crate::tickets::local_date(zone, crate::now()))
}

/// An admin corrects a device's record, for a reason kept on the audit log with the values before and after. When
/// the purchase date changes, the warranty start moves with it, except on an exchange's replacement phone (whose
/// periods start on the exchange date). Fields given with the value the record has already change nothing; a
/// correction that changes nothing writes nothing.
pub fn correct(db: &Db, bearer: &Bearer, imei: &str, correction: &DeviceCorrection) -> AppResult<DeviceHistory> {
    bearer.write(db, |conn, principal| {
        principal.require_admin()?;
        let device = device_by_imei(conn, imei, true)?;
        if let Some(model) = correction.model_id
            && crate::catalog::repo::models::find(conn, model.0)?.is_none()
        {
            return Err(AppError::field("model_id", "no such model"));
        }
        if let Some(date) = correction.purchase_date {
            let today = device_today(conn, &device)?;
            if date > today {
                return Err(AppError::field(
                    "purchase_date",
                    format!("is after today ({today}) at the device's store"),
                ));
            }
        }
        let (changes, before, after) = changes_of(&device, correction);
        if !after.is_empty() {
            repo::update_record(conn, device.id, &changes, Ts(crate::now()))?;
            audit::record(
                conn,
                Some(principal.key_id),
                "correct",
                "device",
                device.id.0,
                &json!({"imei": device.imei, "reason": correction.reason, "before": before, "after": after}),
            )?;
        }
        let device = device_by_imei(conn, imei, false)?;
        history_in(conn, principal, &device)
    })
}

/// The columns a correction changes, and the changed fields' values before and after, as the API names them.
fn changes_of(device: &DeviceRow, c: &DeviceCorrection) -> (DeviceChanges, Map<String, Value>, Map<String, Value>) {
    let mut changes = DeviceChanges::default();
    let mut before = Map::new();
    let mut after = Map::new();
    let mut note = |field: &str, old: Value, new: Value| {
        before.insert(field.to_owned(), old);
        after.insert(field.to_owned(), new);
    };
    let money = |minor: Option<i64>| json!(minor.map(Money::from_minor));
    if let Some(model) = c.model_id.filter(|m| *m != device.model_id) {
        changes.model_id = Some(model);
        note("model_id", json!(device.model_id.0), json!(model.0));
    }
    if let Some(date) = c.purchase_date.filter(|d| *d != device.purchase_date) {
        changes.purchase_date = Some(date);
        note("purchase_date", json!(device.purchase_date), json!(date));
        // An exchange's replacement keeps the exchange date as its start.
        if device.replaces_device_id.is_none() && device.warranty_starts_on != date {
            changes.warranty_starts_on = Some(date);
            note("warranty_starts_on", json!(device.warranty_starts_on), json!(date));
        }
    }
    if let Some(price) = c.price_paid_minor.filter(|p| *p != device.price_paid_minor) {
        changes.price_paid_minor = Some(price);
        note("price_paid", money(device.price_paid_minor), money(price));
    }
    if let Some(seller) = c.seller.as_ref().filter(|s| **s != device.seller) {
        changes.seller = Some(seller.clone());
        note("seller", json!(device.seller), json!(seller));
    }
    if let Some(number) = c.invoice_number.as_ref().filter(|n| **n != device.invoice_number) {
        changes.invoice_number = Some(number.clone());
        note("invoice_number", json!(device.invoice_number), json!(number));
    }
    if let Some(days) = c.credit_correction_days.filter(|d| *d != device.credit_correction_days) {
        changes.credit_correction_days = Some(days);
        note(
            "credit_correction_days",
            json!(device.credit_correction_days),
            json!(days),
        );
    }
    (changes, before, after)
}

/// A plan to sell, parsed.
#[derive(Debug, Clone)]
pub struct NewPlan {
    pub kind: PlanKind,
    pub price_minor: i64,
    pub store_id: Uuid,
    /// The store's today when absent.
    pub sold_on: Option<NaiveDate>,
}

/// Sells a plan to a device (in the caller's transaction: the idempotent creation's), at a store of the caller's,
/// under the rules of [`rules::check_plan_sale`]; audit-logged.
pub fn sell_plan_in(conn: &mut Conn<'_>, principal: &Principal, imei: &str, plan: &NewPlan) -> AppResult<DevicePlan> {
    require_device_role(principal)?;
    let store = crate::catalog::repo::stores::find(conn, plan.store_id)?
        .filter(|s| principal.covers_store(s.id.0))
        .ok_or_else(|| AppError::field("store_id", "no such store"))?;
    if !store.active || store.kind != "service_center" {
        return Err(AppError::field(
            "store_id",
            "plans are sold at an active service center",
        ));
    }
    let today = crate::tickets::local_date(&store.time_zone, crate::now());
    let sold_on = plan.sold_on.unwrap_or(today);
    if sold_on > today {
        return Err(AppError::field(
            "sold_on",
            format!("is after today ({today}) at the store"),
        ));
    }
    let device = device_by_imei(conn, imei, true)?;
    let facts = facts_in(conn, &device, None)?;
    let series = crate::tickets::repo::series_of_model(conn, device.model_id)?;
    let policy = crate::warranty::policy_for(conn, series, sold_on)?;
    let sold: Vec<PlanKind> = facts.plans.iter().map(DevicePlanRow::kind).collect();
    rules::check_plan_sale(&PlanSale {
        kind: plan.kind,
        sold_on,
        state: device.state(),
        purchase_date: device.purchase_date,
        warranty_starts_on: device.warranty_starts_on,
        sold: &sold,
        handset_months: policy.terms.handset_months,
        credited_days: facts
            .credits
            .repair_days
            .saturating_add(facts.credits.overrun_days)
            .saturating_add(facts.correction_days),
    })?;
    let row = DevicePlanRow {
        id: Id(Uuid::now_v7()),
        device_id: device.id,
        kind: plan.kind.as_str().to_owned(),
        sold_on,
        price_minor: plan.price_minor,
        store_id: store.id,
        api_key_id: Some(Id(principal.key_id)),
        used_by_ticket_id: None,
        used_at: None,
        created_at: Ts(crate::now()),
    };
    let kind = plan.kind;
    repo::insert_plan(conn, &row).or_duplicate(|| {
        AppError::conflict(
            "plan_already_sold",
            format!("the device has a {} already", kind.as_str()),
        )
    })?;
    audit::record(
        conn,
        Some(principal.key_id),
        "sell_plan",
        "device",
        device.id.0,
        &json!({
            "imei": device.imei, "plan_id": row.id.0, "kind": plan.kind, "sold_on": sold_on,
            "price": Money::from_minor(plan.price_minor), "store_id": store.id.0,
        }),
    )?;
    Ok(DevicePlan::from(&row))
}

/// Marks the device's plan of `kind` used up by `ticket` (a screen plan covers one replacement), in the caller's
/// transaction, and answers the plan. Again for the same ticket is a no-op (its first `used_at` stays). Refused with
/// 409 `plan_used_up` when another ticket used it, and 409 `plan_not_sold` when the device has no such plan. The
/// mark is a guarded update (`used_by_ticket_id IS NULL`), so two tickets racing for one plan cannot both use it.
pub fn use_plan_in(conn: &mut Conn<'_>, device: Id, kind: PlanKind, ticket: Id, now: Ts) -> AppResult<DevicePlanRow> {
    let claimed = repo::claim_plan(conn, device, kind, ticket, now)?;
    let plan = repo::plan_of_kind(conn, device, kind)?;
    match plan {
        Some(plan) if claimed || plan.used_by_ticket_id == Some(ticket) => Ok(plan),
        Some(_) => Err(AppError::conflict(
            "plan_used_up",
            format!("the device's {} was used up by another repair", kind.as_str()),
        )),
        None => Err(AppError::conflict(
            "plan_not_sold",
            format!("the device has no {}", kind.as_str()),
        )),
    }
}
