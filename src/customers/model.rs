//! A customer's row, a ticket of theirs as listed, and the API views.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::customers;
use crate::db::types::{Id, Ts};
use crate::devices::Device;
use crate::tickets::TicketStatus;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = customers)]
pub struct CustomerRow {
    pub id: Id,
    /// Normalised by [`super::rules::normalise_phone`].
    pub phone: String,
    pub name: String,
    pub contact_consent: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A customer's record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerRecord {
    pub id: Uuid,
    /// The mobile number, normalised: a mainland number as its 11 digits, any other as `+` and its digits (or its
    /// digits, when typed without a country code).
    pub phone: String,
    pub name: String,
    /// Whether the customer agrees to be contacted (reminders, callbacks).
    pub contact_consent: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&CustomerRow> for CustomerRecord {
    fn from(r: &CustomerRow) -> Self {
        CustomerRecord {
            id: r.id.0,
            phone: r.phone.clone(),
            name: r.name.clone(),
            contact_consent: r.contact_consent,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

/// One of a customer's tickets as read for their history.
#[derive(Debug, Clone, Queryable)]
pub struct CustomerTicketRow {
    pub id: Id,
    pub number: String,
    pub store_id: Id,
    pub device_id: Option<Id>,
    pub device_imei: String,
    pub model_id: Id,
    pub status: String,
    pub created_at: Ts,
    pub received_at: Option<Ts>,
    pub ready_at: Option<Ts>,
    pub promised_at: Option<Ts>,
    pub closed_at: Option<Ts>,
}

/// One of a customer's tickets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerTicket {
    pub id: Uuid,
    pub number: String,
    pub store_id: Uuid,
    pub device_id: Option<Uuid>,
    pub device_imei: String,
    pub model_id: Uuid,
    pub status: TicketStatus,
    pub created_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub ready_at: Option<DateTime<Utc>>,
    pub promised_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<CustomerTicketRow> for CustomerTicket {
    fn from(r: CustomerTicketRow) -> Self {
        CustomerTicket {
            id: r.id.0,
            number: r.number,
            store_id: r.store_id.0,
            device_id: r.device_id.map(|d| d.0),
            device_imei: r.device_imei,
            model_id: r.model_id.0,
            status: TicketStatus::parse(&r.status),
            created_at: r.created_at.0,
            received_at: r.received_at.map(|t| t.0),
            ready_at: r.ready_at.map(|t| t.0),
            promised_at: r.promised_at.map(|t| t.0),
            closed_at: r.closed_at.map(|t| t.0),
        }
    }
}

/// A customer's record, their devices and the caller's view of their tickets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerHistory {
    pub customer: CustomerRecord,
    /// The devices linked to the customer, oldest first (at most 200).
    pub devices: Vec<Device>,
    /// Their tickets the caller may see, newest first: all for an admin, their stores' for store staff; at most 200
    /// (see `ticket_count`).
    pub tickets: Vec<CustomerTicket>,
    /// How many of their tickets the caller may see in all.
    pub ticket_count: u32,
}

/// A parsed change of a customer's record.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub name: Option<String>,
    pub contact_consent: Option<bool>,
}
