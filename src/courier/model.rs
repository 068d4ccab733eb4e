//! The courier area's values: the rows as stored, the pickup's direction and status machine, the partner's event
//! types, the views other areas embed (a ticket's pickups, the tracking page's events), and the inputs the use
//! cases take as the client sent them (checked in the use case, in the order its errors are answered).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{courier_partners, pickup_events, pickups};
use crate::db::types::{Id, Ts};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Customer → store.
    Inbound,
    /// Store → customer.
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// The direction as stored; anything but `outbound` reads as inbound.
    pub fn parse(value: &str) -> Direction {
        if value == "outbound" {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PickupStatus {
    Requested,
    Assigned,
    PickedUp,
    InTransit,
    Delivered,
    Failed,
    Cancelled,
}

/// A pickup status change that may not happen, answered as a 409 with the code given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    /// Staff may change or cancel a leg only before the courier has it (`pickup_under_way`).
    UnderWay,
    /// Only a requested pickup may be accepted, or accepted again with the same tracking number
    /// (`illegal_transition`).
    NotAcceptable(PickupStatus),
}

impl From<TransitionError> for AppError {
    fn from(error: TransitionError) -> AppError {
        match error {
            TransitionError::UnderWay => {
                AppError::conflict("pickup_under_way", "the courier has it already, or it is finished")
            }
            TransitionError::NotAcceptable(status) => AppError::conflict(
                "illegal_transition",
                format!(
                    "a {} pickup cannot be accepted with another tracking number",
                    status.as_str()
                ),
            ),
        }
    }
}

impl PickupStatus {
    /// Every status, in the order of the machine.
    pub const ALL: [PickupStatus; 7] = [
        PickupStatus::Requested,
        PickupStatus::Assigned,
        PickupStatus::PickedUp,
        PickupStatus::InTransit,
        PickupStatus::Delivered,
        PickupStatus::Failed,
        PickupStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PickupStatus::Requested => "requested",
            PickupStatus::Assigned => "assigned",
            PickupStatus::PickedUp => "picked_up",
            PickupStatus::InTransit => "in_transit",
            PickupStatus::Delivered => "delivered",
            PickupStatus::Failed => "failed",
            PickupStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> PickupStatus {
        match value {
            "requested" => PickupStatus::Requested,
            "assigned" => PickupStatus::Assigned,
            "picked_up" => PickupStatus::PickedUp,
            "in_transit" => PickupStatus::InTransit,
            "delivered" => PickupStatus::Delivered,
            "failed" => PickupStatus::Failed,
            _ => PickupStatus::Cancelled,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            PickupStatus::Delivered | PickupStatus::Failed | PickupStatus::Cancelled
        )
    }

    pub fn rank(self) -> u8 {
        match self {
            PickupStatus::Requested => 0,
            PickupStatus::Assigned => 1,
            PickupStatus::PickedUp => 2,
            PickupStatus::InTransit => 3,
            PickupStatus::Delivered | PickupStatus::Failed | PickupStatus::Cancelled => 4,
        }
    }

    /// Whether the courier has the leg already, or it is finished: staff may no longer change or cancel it.
    pub fn under_way(self) -> bool {
        self.rank() >= PickupStatus::PickedUp.rank()
    }

    /// The partner accepts the job: requested → assigned (a resend with the same tracking number is answered
    /// before this is asked).
    pub fn accept(self) -> Result<PickupStatus, TransitionError> {
        match self {
            PickupStatus::Requested => Ok(PickupStatus::Assigned),
            status => Err(TransitionError::NotAcceptable(status)),
        }
    }

    /// Staff change the address, window or partner, before the courier has the leg. A new partner starts over:
    /// it has to accept the job and give its own tracking number.
    pub fn reschedule(self, reassigned: bool) -> Result<PickupStatus, TransitionError> {
        match self {
            status if status.under_way() => Err(TransitionError::UnderWay),
            _ if reassigned => Ok(PickupStatus::Requested),
            status => Ok(status),
        }
    }

    /// Staff cancel a leg the courier does not have yet.
    pub fn cancel(self) -> Result<PickupStatus, TransitionError> {
        if self.under_way() {
            Err(TransitionError::UnderWay)
        } else {
            Ok(PickupStatus::Cancelled)
        }
    }

    /// The status after a partner's event: forward only, and never out of a final state.
    pub fn after_event(self, event: EventType) -> PickupStatus {
        match event.status() {
            Some(next) if !self.is_final() && next.rank() > self.rank() => next,
            _ => self,
        }
    }
}

/// What a courier partner reports of a pickup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
// Its own name in the document: the outbox's event type (`crate::events`) is `EventType` there.
#[schema(as = CourierEventType)]
pub enum EventType {
    PickedUp,
    InTransit,
    Arrived,
    Delivered,
    FailedAttempt,
    ReturnedToSender,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PickedUp => "picked_up",
            EventType::InTransit => "in_transit",
            EventType::Arrived => "arrived",
            EventType::Delivered => "delivered",
            EventType::FailedAttempt => "failed_attempt",
            EventType::ReturnedToSender => "returned_to_sender",
        }
    }

    pub(super) fn parse(value: &str) -> EventType {
        match value {
            "picked_up" => EventType::PickedUp,
            "in_transit" => EventType::InTransit,
            "arrived" => EventType::Arrived,
            "delivered" => EventType::Delivered,
            "failed_attempt" => EventType::FailedAttempt,
            _ => EventType::ReturnedToSender,
        }
    }

    /// The status this event moves a pickup to; a failed attempt is kept but moves nothing.
    fn status(self) -> Option<PickupStatus> {
        match self {
            EventType::PickedUp => Some(PickupStatus::PickedUp),
            EventType::InTransit | EventType::Arrived => Some(PickupStatus::InTransit),
            EventType::Delivered => Some(PickupStatus::Delivered),
            EventType::ReturnedToSender => Some(PickupStatus::Failed),
            EventType::FailedAttempt => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = courier_partners)]
pub struct PartnerRow {
    pub id: Id,
    pub code: String,
    pub name: String,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A courier partner.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Partner {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<PartnerRow> for Partner {
    fn from(r: PartnerRow) -> Self {
        Partner {
            id: r.id.0,
            code: r.code,
            name: r.name,
            active: r.active,
            created_at: r.created_at.0,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pickups)]
pub struct PickupRow {
    pub id: Id,
    pub ticket_id: Id,
    pub direction: String,
    pub partner_id: Option<Id>,
    pub address: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub window_start: Option<Ts>,
    pub window_end: Option<Ts>,
    pub tracking_number: Option<String>,
    pub status: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pickup_events)]
pub struct EventRow {
    pub id: Id,
    pub pickup_id: Id,
    pub partner_id: Id,
    pub partner_event_id: String,
    pub kind: String,
    pub happened_at: Ts,
    pub received_at: Ts,
    pub location: Option<String>,
    pub note: Option<String>,
    pub body_hash: String,
}

/// A tracking event as kept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrackingEvent {
    /// The partner's own id of the event.
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub happened_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub location: Option<String>,
    pub note: Option<String>,
}

impl From<EventRow> for TrackingEvent {
    fn from(r: EventRow) -> Self {
        TrackingEvent {
            event_id: r.partner_event_id,
            event_type: EventType::parse(&r.kind),
            happened_at: r.happened_at.0,
            received_at: r.received_at.0,
            location: r.location,
            note: r.note,
        }
    }
}

/// One courier leg of a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Pickup {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub direction: Direction,
    pub partner_id: Option<Uuid>,
    pub address: String,
    pub contact_name: String,
    /// Shown to a courier only once the pickup is assigned to its partner.
    pub contact_phone: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub tracking_number: Option<String>,
    pub status: PickupStatus,
    /// Ordered by when they happened.
    pub events: Vec<TrackingEvent>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Pickup {
    /// The API view of a row and its events; `show_phone` hides the contact phone from couriers the pickup is not
    /// assigned to.
    pub fn of(row: PickupRow, events: Vec<TrackingEvent>, show_phone: bool) -> Pickup {
        Pickup {
            id: row.id.0,
            ticket_id: row.ticket_id.0,
            direction: Direction::parse(&row.direction),
            partner_id: row.partner_id.map(Uuid::from),
            address: row.address,
            contact_name: row.contact_name,
            contact_phone: show_phone.then_some(row.contact_phone),
            window_start: row.window_start.map(DateTime::from),
            window_end: row.window_end.map(DateTime::from),
            tracking_number: row.tracking_number,
            status: PickupStatus::parse(&row.status),
            events,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        }
    }
}

/// The ticket's timeline entries for its pickups' tracking events, as received. They are kept once, as the
/// pickup's events, and shown on the timeline from there.
pub fn timeline_entries(pickup: &Pickup) -> impl Iterator<Item = crate::tickets::TicketEvent> + '_ {
    let direction = pickup.direction.as_str();
    pickup.events.iter().map(move |e| crate::tickets::TicketEvent {
        at: e.received_at,
        kind: "courier_event".into(),
        from_status: None,
        to_status: None,
        note: Some(format!("{direction} courier: {}", e.event_type.as_str())),
        api_key_id: None,
        username: None,
        by_customer: false,
    })
}

/// Where and when the courier collects (inbound) or delivers (outbound).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PickupRequest {
    #[schema(min_length = 1, max_length = 500)]
    pub address: String,
    /// The customer's name when absent.
    #[schema(max_length = 100)]
    pub contact_name: Option<String>,
    /// The customer's phone when absent.
    #[schema(max_length = 20)]
    pub contact_phone: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    /// The partner to carry it; unassigned when absent.
    pub partner_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReschedulePickup {
    #[schema(max_length = 500)]
    pub address: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub partner_id: Option<Uuid>,
}

/// A tracking event from a partner.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEvent {
    /// The partner's own id of this event; resending it is safe.
    #[schema(min_length = 1, max_length = 100)]
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it happened (not when it is sent); not in the future.
    pub happened_at: DateTime<Utc>,
    #[schema(max_length = 200)]
    pub location: Option<String>,
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// What an event did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventOutcome {
    pub event_id: String,
    /// False when this event id had been received before (a retry).
    pub stored: bool,
    /// The pickup's status after it.
    pub status: PickupStatus,
}

/// The two parts of the partner's pickup list, in the order listed: open pickups, then final ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PickupPhase {
    Open,
    Final,
}

impl PickupPhase {
    /// The phase a pickup of this status is listed in.
    pub fn of(status: PickupStatus) -> PickupPhase {
        if status.is_final() {
            PickupPhase::Final
        } else {
            PickupPhase::Open
        }
    }

    /// The phase as its cursor carries it.
    pub fn key(self) -> &'static str {
        match self {
            PickupPhase::Open => "open",
            PickupPhase::Final => "final",
        }
    }

    pub fn from_key(key: &str) -> Option<PickupPhase> {
        [PickupPhase::Open, PickupPhase::Final]
            .into_iter()
            .find(|p| p.key() == key)
    }
}

/// Which of a partner's pickups its list shows (every partner's for an admin: `partner` is `None`).
pub struct PartnerPickupFilter {
    pub partner: Option<Uuid>,
    pub status: Option<PickupStatus>,
    /// Only pickups changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::EventType as E;
    use super::PickupStatus as S;
    use super::TransitionError;

    #[test]
    fn status_only_moves_forward_and_stays_final() {
        assert_eq!(S::Assigned.after_event(E::PickedUp), S::PickedUp);
        assert_eq!(
            S::InTransit.after_event(E::PickedUp),
            S::InTransit,
            "a late picked_up does not go back"
        );
        assert_eq!(S::PickedUp.after_event(E::Arrived), S::InTransit);
        assert_eq!(
            S::InTransit.after_event(E::FailedAttempt),
            S::InTransit,
            "a failed attempt is kept, moves nothing"
        );
        assert_eq!(
            S::Requested.after_event(E::Delivered),
            S::Delivered,
            "a skipped step is fine"
        );
        assert_eq!(
            S::Delivered.after_event(E::ReturnedToSender),
            S::Delivered,
            "final stays final"
        );
        assert_eq!(S::Failed.after_event(E::Delivered), S::Failed);
        assert_eq!(S::InTransit.after_event(E::ReturnedToSender), S::Failed);
    }

    #[test]
    fn staff_transitions_stop_once_the_courier_has_the_leg() {
        // (status, cancel, reschedule keeping the partner, reschedule to another partner)
        let under_way = Err(TransitionError::UnderWay);
        let table = [
            (S::Requested, Ok(S::Cancelled), Ok(S::Requested), Ok(S::Requested)),
            (S::Assigned, Ok(S::Cancelled), Ok(S::Assigned), Ok(S::Requested)),
            (S::PickedUp, under_way, under_way, under_way),
            (S::InTransit, under_way, under_way, under_way),
            (S::Delivered, under_way, under_way, under_way),
            (S::Failed, under_way, under_way, under_way),
            (S::Cancelled, under_way, under_way, under_way),
        ];
        for (status, cancel, keep, reassign) in table {
            assert_eq!(status.cancel(), cancel, "cancel {status:?}");
            assert_eq!(status.reschedule(false), keep, "reschedule {status:?}");
            assert_eq!(status.reschedule(true), reassign, "reassign {status:?}");
        }
    }

    #[test]
    fn only_a_requested_pickup_is_accepted() {
        for status in S::ALL {
            let expected = match status {
                S::Requested => Ok(S::Assigned),
                other => Err(TransitionError::NotAcceptable(other)),
            };
            assert_eq!(status.accept(), expected, "{status:?}");
        }
    }
}
