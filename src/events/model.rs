//! The events' types and rows.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::events;
use crate::db::types::{Id, Ts};

/// What happened. The wire name (`ticket.opened`) is what receivers filter on and what the feed and webhooks carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "ticket.opened")]
    TicketOpened,
    /// Every status change of a ticket after its opening (the payload names the old and new status).
    #[serde(rename = "ticket.status_changed")]
    TicketStatusChanged,
    #[serde(rename = "ticket.remedy_chosen")]
    TicketRemedyChosen,
    #[serde(rename = "ticket.past_promise")]
    TicketPastPromise,
    /// The customer's rating of a closed repair, told to staff or given through the tracking link.
    #[serde(rename = "ticket.rated")]
    TicketRated,
    #[serde(rename = "quote.issued")]
    QuoteIssued,
    #[serde(rename = "quote.approved")]
    QuoteApproved,
    #[serde(rename = "quote.declined")]
    QuoteDeclined,
    #[serde(rename = "loan.reserved")]
    LoanReserved,
    #[serde(rename = "loan.issued")]
    LoanIssued,
    #[serde(rename = "loan.returned")]
    LoanReturned,
    /// An issued loan's due time moved later (the payload names the old and new due time).
    #[serde(rename = "loan.extended")]
    LoanExtended,
    /// An issued loan is due within a day (raised once per loan and due time by the sweeper).
    #[serde(rename = "loan.due_soon")]
    LoanDueSoon,
    #[serde(rename = "loan.overdue")]
    LoanOverdue,
    #[serde(rename = "loan.lost")]
    LoanLost,
    /// A waiting or reserved loan ended without a hand-over (its ticket ended, or the desk cancelled it).
    #[serde(rename = "loan.cancelled")]
    LoanCancelled,
    /// A reservation's hold ran out before the hand-over.
    #[serde(rename = "loan.expired")]
    LoanExpired,
    #[serde(rename = "loan.reservation_expiring")]
    LoanReservationExpiring,
    #[serde(rename = "waitlist.served")]
    WaitlistServed,
    #[serde(rename = "waitlist.long")]
    WaitlistLong,
    #[serde(rename = "pickup.requested")]
    PickupRequested,
    #[serde(rename = "pickup.accepted")]
    PickupAccepted,
    #[serde(rename = "pickup.status_changed")]
    PickupStatusChanged,
    #[serde(rename = "pickup.cancelled")]
    PickupCancelled,
    #[serde(rename = "stock.low")]
    StockLow,
    #[serde(rename = "price.change_scheduled")]
    PriceChangeScheduled,
    /// A photo or file was attached to a ticket or a loan.
    #[serde(rename = "file.attached")]
    FileAttached,
    #[serde(rename = "complaint.opened")]
    ComplaintOpened,
    /// The first staff member to act took the complaint (its owner from first contact).
    #[serde(rename = "complaint.acknowledged")]
    ComplaintAcknowledged,
    /// Staff answered the customer (the first reply stops the complaint's clock).
    #[serde(rename = "complaint.replied")]
    ComplaintReplied,
    #[serde(rename = "complaint.resolved")]
    ComplaintResolved,
    #[serde(rename = "complaint.closed")]
    ComplaintClosed,
    /// Reopened by staff or by the customer through the link.
    #[serde(rename = "complaint.reopened")]
    ComplaintReopened,
    /// A goodwill remedy (waived charge, warranty days, compensation) approved and recorded.
    #[serde(rename = "complaint.remedy_recorded")]
    ComplaintRemedyRecorded,
    /// Staff alert: a complaint's first reply is overdue (raised once per complaint).
    #[serde(rename = "complaint.first_reply_breached")]
    ComplaintFirstReplyBreached,
}

impl EventType {
    /// Every type (the webhook endpoints' `event_types` schema states its length as `max_items`).
    pub const ALL: [EventType; 35] = [
        EventType::TicketOpened,
        EventType::TicketStatusChanged,
        EventType::TicketRemedyChosen,
        EventType::TicketPastPromise,
        EventType::TicketRated,
        EventType::QuoteIssued,
        EventType::QuoteApproved,
        EventType::QuoteDeclined,
        EventType::LoanReserved,
        EventType::LoanIssued,
        EventType::LoanReturned,
        EventType::LoanExtended,
        EventType::LoanDueSoon,
        EventType::LoanOverdue,
        EventType::LoanLost,
        EventType::LoanCancelled,
        EventType::LoanExpired,
        EventType::LoanReservationExpiring,
        EventType::WaitlistServed,
        EventType::WaitlistLong,
        EventType::PickupRequested,
        EventType::PickupAccepted,
        EventType::PickupStatusChanged,
        EventType::PickupCancelled,
        EventType::StockLow,
        EventType::PriceChangeScheduled,
        EventType::FileAttached,
        EventType::ComplaintOpened,
        EventType::ComplaintAcknowledged,
        EventType::ComplaintReplied,
        EventType::ComplaintResolved,
        EventType::ComplaintClosed,
        EventType::ComplaintReopened,
        EventType::ComplaintRemedyRecorded,
        EventType::ComplaintFirstReplyBreached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TicketOpened => "ticket.opened",
            EventType::TicketStatusChanged => "ticket.status_changed",
            EventType::TicketRemedyChosen => "ticket.remedy_chosen",
            EventType::TicketPastPromise => "ticket.past_promise",
            EventType::TicketRated => "ticket.rated",
            EventType::QuoteIssued => "quote.issued",
            EventType::QuoteApproved => "quote.approved",
            EventType::QuoteDeclined => "quote.declined",
            EventType::LoanReserved => "loan.reserved",
            EventType::LoanIssued => "loan.issued",
            EventType::LoanReturned => "loan.returned",
            EventType::LoanExtended => "loan.extended",
            EventType::LoanDueSoon => "loan.due_soon",
            EventType::LoanOverdue => "loan.overdue",
            EventType::LoanLost => "loan.lost",
            EventType::LoanCancelled => "loan.cancelled",
            EventType::LoanExpired => "loan.expired",
            EventType::LoanReservationExpiring => "loan.reservation_expiring",
            EventType::WaitlistServed => "waitlist.served",
            EventType::WaitlistLong => "waitlist.long",
            EventType::PickupRequested => "pickup.requested",
            EventType::PickupAccepted => "pickup.accepted",
            EventType::PickupStatusChanged => "pickup.status_changed",
            EventType::PickupCancelled => "pickup.cancelled",
            EventType::StockLow => "stock.low",
            EventType::PriceChangeScheduled => "price.change_scheduled",
            EventType::FileAttached => "file.attached",
            EventType::ComplaintOpened => "complaint.opened",
            EventType::ComplaintAcknowledged => "complaint.acknowledged",
            EventType::ComplaintReplied => "complaint.replied",
            EventType::ComplaintResolved => "complaint.resolved",
            EventType::ComplaintClosed => "complaint.closed",
            EventType::ComplaintReopened => "complaint.reopened",
            EventType::ComplaintRemedyRecorded => "complaint.remedy_recorded",
            EventType::ComplaintFirstReplyBreached => "complaint.first_reply_breached",
        }
    }

    /// The type named `name`, if there is one.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The feed's types as a comma-separated list, as a regular expression (the `types` parameter's documented form).
pub fn types_pattern() -> String {
    let one = EventType::ALL
        .iter()
        .map(|t| t.as_str().replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|");
    format!("^({one})(,({one}))*$")
}

/// What an event is about: the record whose change it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    Ticket,
    Loan,
    Pickup,
    /// One part's stock at one location (`subject_id` is the part's id; the store is the location).
    StockLevel,
    Part,
    Store,
    Complaint,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Ticket => "ticket",
            SubjectType::Loan => "loan",
            SubjectType::Pickup => "pickup",
            SubjectType::StockLevel => "stock_level",
            SubjectType::Part => "part",
            SubjectType::Store => "store",
            SubjectType::Complaint => "complaint",
        }
    }

    pub fn parse(name: &str) -> Option<SubjectType> {
        [
            SubjectType::Ticket,
            SubjectType::Loan,
            SubjectType::Pickup,
            SubjectType::StockLevel,
            SubjectType::Part,
            SubjectType::Store,
            SubjectType::Complaint,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

/// The subject of an event and who may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub kind: SubjectType,
    pub id: uuid::Uuid,
    /// The store whose staff see it (admins see everything); none for network-wide subjects (a price change).
    pub store_id: Option<uuid::Uuid>,
    /// The courier partner that sees it (its own pickups' events only).
    pub partner_id: Option<uuid::Uuid>,
}

impl Subject {
    /// A ticket of `store`.
    pub fn ticket(id: uuid::Uuid, store: uuid::Uuid) -> Subject {
        Subject {
            kind: SubjectType::Ticket,
            id,
            store_id: Some(store),
            partner_id: None,
        }
    }

    /// A complaint about `store` (or one of its tickets or loans).
    pub fn complaint(id: uuid::Uuid, store: uuid::Uuid) -> Subject {
        Subject {
            kind: SubjectType::Complaint,
            id,
            store_id: Some(store),
            partner_id: None,
        }
    }

    /// A loan at `store`.
    pub fn loan(id: uuid::Uuid, store: uuid::Uuid) -> Subject {
        Subject {
            kind: SubjectType::Loan,
            id,
            store_id: Some(store),
            partner_id: None,
        }
    }
}

/// Who reads the feed: an admin everything, store staff their stores' events, a courier partner its own.
#[derive(Debug, Clone)]
pub enum FeedScope {
    All,
    Stores(Vec<Id>),
    Partner(Id),
}

/// An event to write: its type, subject and payload. The payload says what changed, in the API's words, and holds
/// nothing its audience may not see (no full phone number, no IMEI, no customer name: receivers fetch the record
/// with their own key when they need it).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: EventType,
    pub subject: Subject,
    pub payload: serde_json::Value,
    /// What only Depot's own consumers may read (e.g. the tracking link a reminder carries); never served.
    pub internal: Option<serde_json::Value>,
}

/// A stored event. `position` is absent until the sequencer places it (see the migration).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    #[diesel(skip_insertion)]
    pub seq: i64,
    pub id: Id,
    pub event_type: String,
    pub occurred_at: Ts,
    pub subject_type: String,
    pub subject_id: Id,
    pub store_id: Option<Id>,
    pub partner_id: Option<Id>,
    pub payload: String,
    pub internal: Option<String>,
    #[diesel(skip_insertion)]
    pub txid: i64,
    #[diesel(skip_insertion)]
    pub position: Option<i64>,
}
