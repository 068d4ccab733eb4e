//! The customers' use cases: find by phone, read, change name and consent. Each owns its transaction as the
//! caller's key.
//!
//! Scope: an admin sees every customer; store staff see a customer only through a ticket of theirs at one of their
//! stores, and only those tickets. A customer with none of their tickets in the caller's stores is 404, exactly as
//! one who does not exist, so that a phone number's presence does not leak to another store.

use serde_json::json;
use uuid::Uuid;

use super::model::{CustomerChanges, CustomerHistory, CustomerRecord, CustomerRow, CustomerTicket};
use super::repo;
use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::devices::Device;
use crate::error::{AppError, AppResult};

/// The most tickets (and devices) a customer's history lists; `ticket_count` says how many tickets in all.
pub const HISTORY_ITEMS: i64 = 200;

fn require_customer_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// The stores a caller's view of tickets is limited to: none for an admin.
fn scope_of(principal: &Principal) -> Option<Vec<Id>> {
    (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect())
}

/// A customer's record, devices and the caller's view of their tickets; 404 for store staff with none of the
/// customer's tickets in their stores.
fn history_in(conn: &mut Conn<'_>, principal: &Principal, row: Option<CustomerRow>) -> AppResult<CustomerHistory> {
    let row = row.ok_or(AppError::NotFound("customer"))?;
    let scope = scope_of(principal);
    let count = repo::count_tickets(conn, row.id, scope.as_deref())?;
    if scope.is_some() && count == 0 {
        return Err(AppError::NotFound("customer"));
    }
    let tickets = repo::tickets_of(conn, row.id, scope.as_deref(), HISTORY_ITEMS)?;
    let devices = crate::devices::repo::of_customer(conn, row.id, HISTORY_ITEMS)?;
    Ok(CustomerHistory {
        customer: CustomerRecord::from(&row),
        devices: devices.iter().map(Device::from).collect(),
        tickets: tickets.into_iter().map(CustomerTicket::from).collect(),
        ticket_count: u32::try_from(count).unwrap_or(u32::MAX),
    })
}

/// The customer with this normalised phone number.
pub fn find(db: &Db, bearer: &Bearer, phone: &str) -> AppResult<CustomerHistory> {
    bearer.read(db, |conn, principal| {
        require_customer_role(principal)?;
        let row = repo::by_phone(conn, phone)?;
        history_in(conn, principal, row)
    })
}

/// One customer by id.
pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<CustomerHistory> {
    bearer.read(db, |conn, principal| {
        require_customer_role(principal)?;
        let row = repo::find(conn, Id(id))?;
        history_in(conn, principal, row)
    })
}

/// Changes a customer's name or consent to be contacted (store staff of a store with one of their tickets, or an
/// admin); audit-logged with the values before and after when something changed.
pub fn update(db: &Db, bearer: &Bearer, id: Uuid, changes: &CustomerChanges) -> AppResult<CustomerHistory> {
    bearer.write(db, |conn, principal| {
        require_customer_role(principal)?;
        let row = repo::find(conn, Id(id))?;
        // The scope check first: a customer out of scope is 404 before anything is written.
        let before = history_in(conn, principal, row)?.customer;
        let name = changes.name.as_deref().filter(|n| *n != before.name);
        let consent = changes.contact_consent.filter(|c| *c != before.contact_consent);
        if name.is_some() || consent.is_some() {
            repo::update(conn, Id(id), name, consent, Ts(crate::now()))?;
            let mut old = serde_json::Map::new();
            let mut new = serde_json::Map::new();
            if let Some(name) = name {
                old.insert("name".into(), json!(before.name));
                new.insert("name".into(), json!(name));
            }
            if let Some(consent) = consent {
                old.insert("contact_consent".into(), json!(before.contact_consent));
                new.insert("contact_consent".into(), json!(consent));
            }
            audit::record(
                conn,
                Some(principal.key_id),
                "update",
                "customer",
                id,
                &json!({"before": old, "after": new}),
            )?;
        }
        let row = repo::find(conn, Id(id))?;
        history_in(conn, principal, row)
    })
}
