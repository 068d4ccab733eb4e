//! Courier mail-in: partners, the pickups that carry a phone (and its loaner) between customer and store, and the
//! partner API. Partners retry: every event carries the partner's own id, so a resent event is stored once and
//! answered the same way; events may come late or out of order, and are kept and ordered by when they happened,
//! while a pickup's status only moves forward and never leaves a final state.

use std::time::Duration;

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::schema::{courier_partners, pickup_events, pickups, tickets};
use crate::db::types::{Id, Ts};
use crate::db::{AnyConnection, Conn};
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::loans::LoanState;
use crate::state::AppState;
use crate::tickets::http::{lock_loan_of, lock_ticket, lock_ticket_in_scope, require_ticket_role, ticket_in_scope};
use crate::tickets::{TicketRow, record_event};
use crate::with_conn;

/// How far ahead of the server's clock an event may claim to have happened (clock skew).
const FUTURE_TOLERANCE_SECS: i64 = 300;
/// Largest batch of events in one request.
const MAX_BATCH: usize = 100;

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

impl PickupStatus {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
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

    fn parse(value: &str) -> EventType {
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

/// The status after an event: forward only, and never out of a final state. Pure, for the ordering rules.
pub fn advance(current: PickupStatus, event: EventType) -> PickupStatus {
    match event.status() {
        Some(next) if !current.is_final() && next.rank() > current.rank() => next,
        _ => current,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePartner {
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
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
pub struct CreatePickup {
    pub direction: Direction,
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
    pub partner_id: Option<Uuid>,
}

impl CreatePickup {
    fn request(&self) -> PickupRequest {
        PickupRequest {
            address: self.address.clone(),
            contact_name: self.contact_name.clone(),
            contact_phone: self.contact_phone.clone(),
            window_start: self.window_start,
            window_end: self.window_end,
            partner_id: self.partner_id,
        }
    }
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptPickup {
    /// The partner's tracking number; unique among its pickups.
    #[schema(min_length = 1, max_length = 64)]
    pub tracking_number: String,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub pickup_id: Uuid,
    /// 1 to 100 events; refused whole if any is malformed.
    #[schema(min_items = 1, max_items = 100)]
    pub events: Vec<PostEvent>,
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventBatchResult {
    pub outcomes: Vec<EventOutcome>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PickupList {
    pub items: Vec<Pickup>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartnerList {
    pub items: Vec<Partner>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CourierPickupQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<PickupStatus>,
    /// Only pickups changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketPickupQuery {
    pub ticket_id: Uuid,
}

fn hash_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn events_of(conn: &mut Conn<'_>, pickup: Id) -> AppResult<Vec<TrackingEvent>> {
    let rows: Vec<EventRow> = with_conn!(conn, c => pickup_events::table
        .filter(pickup_events::pickup_id.eq(pickup))
        .order((pickup_events::happened_at, pickup_events::id))
        .select(EventRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().map(TrackingEvent::from).collect())
}

/// The API view; `show_phone` hides the contact phone from couriers the pickup is not assigned to.
pub fn pickup_view(conn: &mut Conn<'_>, row: PickupRow, show_phone: bool) -> AppResult<Pickup> {
    let events = events_of(conn, row.id)?;
    Ok(Pickup {
        id: row.id.0,
        ticket_id: row.ticket_id.0,
        direction: if row.direction == "outbound" {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
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
    })
}

fn check_partner(conn: &mut Conn<'_>, partner: Uuid, field: &str) -> AppResult<Id> {
    let active: Option<bool> = with_conn!(conn, c => courier_partners::table.find(Id(partner))
        .select(courier_partners::active).first(c).optional())?;
    match active {
        Some(true) => Ok(Id(partner)),
        Some(false) => Err(AppError::field(field, "the partner is deactivated")),
        None => Err(AppError::field(field, "no such courier partner")),
    }
}

/// Creates a pickup for a ticket (used at mail-in opening, when the repair is ready, and by staff).
pub fn create_pickup(
    conn: &mut Conn<'_>,
    ticket: &TicketRow,
    direction: Direction,
    request: &PickupRequest,
    actor: Uuid,
) -> AppResult<PickupRow> {
    let mut checks = Checks::new();
    let address = checks.text("pickup.address", &request.address, 1, 500);
    let contact_name = match &request.contact_name {
        Some(n) => checks.text("pickup.contact_name", n, 1, 100),
        None => ticket.customer_name.clone(),
    };
    let contact_phone = match &request.contact_phone {
        Some(p) => checks.text("pickup.contact_phone", p, 5, 20),
        None => ticket.customer_phone.clone(),
    };
    if let (Some(start), Some(end)) = (request.window_start, request.window_end) {
        if end <= start {
            checks.fail("pickup.window_end", "must be after window_start");
        }
    }
    checks.finish()?;
    let partner = request
        .partner_id
        .map(|p| check_partner(conn, p, "pickup.partner_id"))
        .transpose()?;
    let open: i64 = with_conn!(conn, c => pickups::table
        .filter(pickups::ticket_id.eq(ticket.id))
        .filter(pickups::direction.eq(direction.as_str()))
        .filter(pickups::status.ne_all(["delivered", "failed", "cancelled"]))
        .count()
        .get_result(c))?;
    use crate::error::OrDuplicate as _;
    let taken = || {
        AppError::conflict(
            "pickup_open",
            format!("the ticket already has an open {} pickup", direction.as_str()),
        )
    };
    if open > 0 {
        return Err(taken());
    }
    let now = Ts(crate::now());
    let micros = |t: DateTime<Utc>| Ts(DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t));
    let row = PickupRow {
        id: Id(Uuid::now_v7()),
        ticket_id: ticket.id,
        direction: direction.as_str().to_owned(),
        partner_id: partner,
        address,
        contact_name,
        contact_phone,
        window_start: request.window_start.map(micros),
        window_end: request.window_end.map(micros),
        tracking_number: None,
        status: PickupStatus::Requested.as_str().to_owned(),
        created_at: now,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(pickups::table).values(&row).execute(c)).or_duplicate(taken)?;
    let note = format!("{} courier pickup requested", direction.as_str());
    record_event(
        conn,
        ticket.id,
        Some(actor),
        "pickup_requested",
        None,
        None,
        Some(&note),
    )?;
    Ok(row)
}

/// A ticket's pickups, newest first, locked until the transaction ends (PostgreSQL), after the ticket and its
/// loans (the lock order is in [`lock_ticket_in_scope`]).
pub fn lock_pickups_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<PickupRow>> {
    let of_ticket = pickups::table
        .filter(pickups::ticket_id.eq(ticket))
        .order(pickups::id.desc());
    Ok(match conn {
        Conn::Pg(c) => of_ticket.select(PickupRow::as_select()).for_no_key_update().load(*c)?,
        Conn::Sqlite(c) => of_ticket.select(PickupRow::as_select()).load(*c)?,
    })
}

/// Cancels a leg the courier has not started; the partner's list shows it cancelled, and events sent for it later
/// are refused (`pickup_cancelled`), so they neither move it nor reach the ticket's timeline.
pub fn cancel_leg(conn: &mut Conn<'_>, leg: &PickupRow, actor: Uuid, note: Option<&str>) -> AppResult<()> {
    let updated = with_conn!(conn, c => diesel::update(pickups::table.find(leg.id))
        .filter(pickups::status.eq(&leg.status))
        .set((pickups::status.eq(PickupStatus::Cancelled.as_str()), pickups::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    if updated != 1 {
        return Err(AppError::Unavailable("the pickup changed meanwhile; retry".into()));
    }
    record_event(conn, leg.ticket_id, Some(actor), "pickup_cancelled", None, None, note)?;
    Ok(())
}

fn pickup_in_ticket_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<PickupRow> {
    let row: Option<PickupRow> =
        with_conn!(conn, c => pickups::table.find(Id(id)).select(PickupRow::as_select()).first(c).optional())?;
    let row = row.ok_or(AppError::NotFound("pickup"))?;
    ticket_in_scope(conn, principal, row.ticket_id.0)?;
    Ok(row)
}

/// A pickup of the calling courier's partner, or 404 (other partners' pickups do not exist for it). An admin acts
/// for the partner a pickup is assigned to (to replay a partner's events by hand, say).
///
/// With `lock`, on PostgreSQL the row is locked until the transaction ends: changes to one pickup arriving at once
/// are applied one after the other (SQLite has one writer at a time already). The lock is `FOR NO KEY UPDATE`, the
/// one an update of the status takes anyway: it leaves the key share that an event insert's foreign key check takes
/// free, so that an event stored without a transaction ([`post_event`]) never waits on the lock while holding an
/// event id the locking transaction is about to insert (a deadlock).
fn pickup_of_partner(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, lock: bool) -> AppResult<PickupRow> {
    let row: Option<PickupRow> = match conn {
        Conn::Pg(c) if lock => pickups::table
            .find(Id(id))
            .select(PickupRow::as_select())
            .for_no_key_update()
            .first(*c)
            .optional()?,
        _ => with_conn!(conn, c => pickups::table
            .find(Id(id))
            .select(PickupRow::as_select())
            .first(c)
            .optional())?,
    };
    let allowed = |r: &PickupRow| match principal.role {
        Role::Admin => r.partner_id.is_some(),
        _ => principal.partner_id.is_some() && r.partner_id.map(Uuid::from) == principal.partner_id,
    };
    row.filter(allowed).ok_or(AppError::NotFound("pickup"))
}

/// Couriers act for their partner; admins may act for any (`None`: whichever partner the pickup has).
fn require_courier(principal: &Principal) -> AppResult<Option<Uuid>> {
    match (principal.role, principal.partner_id) {
        (Role::Courier, Some(partner)) => Ok(Some(partner)),
        (Role::Admin, _) => Ok(None),
        _ => Err(AppError::Forbidden),
    }
}

/// Stores one event (once per partner event id) and applies it to the pickup, the ticket and its loan.
fn ingest(
    conn: &mut Conn<'_>,
    partner: Uuid,
    pickup: &PickupRow,
    event: &PostEvent,
    hold: Duration,
) -> AppResult<EventOutcome> {
    let body = serde_json::to_vec(event).map_err(anyhow::Error::from)?;
    let body_hash = hash_hex(&[pickup.id.0.as_bytes().as_slice(), &body].concat());
    let current = PickupStatus::parse(&pickup.status);
    let now = crate::now();
    let row = EventRow {
        id: Id(Uuid::now_v7()),
        pickup_id: pickup.id,
        partner_id: Id(partner),
        partner_event_id: event.event_id.clone(),
        kind: event.event_type.as_str().to_owned(),
        happened_at: Ts(
            DateTime::from_timestamp_micros(event.happened_at.timestamp_micros()).unwrap_or(event.happened_at)
        ),
        received_at: Ts(now),
        location: event.location.clone(),
        note: event.note.clone(),
        body_hash,
    };
    // One statement stores a new event and detects a resent one: the partner's event id is unique per partner.
    // A cancelled pickup takes no new events, but a resend is still answered as the first time.
    let stored = current != PickupStatus::Cancelled && insert_event_unless_cancelled(conn, &row)?;
    if !stored {
        return resent(conn, partner, &row, current);
    }
    let next = advance(current, event.event_type);
    if next != current {
        let updated = with_conn!(conn, c => diesel::update(pickups::table.find(pickup.id))
            .filter(pickups::status.eq(current.as_str()))
            .set((pickups::status.eq(next.as_str()), pickups::updated_at.eq(Ts(now))))
            .execute(c))?;
        if updated != 1 {
            return Err(AppError::Unavailable("the pickup changed meanwhile; retry".into()));
        }
        let ticket: TicketRow = with_conn!(conn, c => tickets::table.find(pickup.ticket_id)
            .select(TicketRow::as_select()).first(c))?;
        apply_effects(conn, &ticket, pickup.direction.as_str(), current, next, hold)?;
    }
    Ok(EventOutcome {
        event_id: event.event_id.clone(),
        stored: true,
        status: next,
    })
}

/// Stores an event unless its pickup is cancelled by the time the statement runs, or the partner sent its event id
/// before; true when stored. The check is in the insert itself, for the event stored without a lock
/// ([`post_event`]): a ticket cancel committing between its read and its insert would otherwise leave the event on
/// the cancelled pickup. On PostgreSQL the pickup is read `FOR SHARE`, so an insert meeting a cancel in flight
/// waits for it and reads the pickup again; it holds nothing meanwhile (the event row comes after), and a
/// transaction that has the pickup locked already is not held up by its own lock.
fn insert_event_unless_cancelled(conn: &mut Conn<'_>, event: &EventRow) -> AppResult<bool> {
    use diesel::sql_types::{Nullable, Text};

    use crate::db::types::{DbTime, DbUuid};
    const INSERT: &str = "INSERT INTO pickup_events (id, pickup_id, partner_id, partner_event_id, kind, happened_at, \
        received_at, location, note, body_hash) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM pickups WHERE pickups.id = $2 \
        AND pickups.status <> 'cancelled'";
    const ON_CONFLICT: &str = " ON CONFLICT (partner_id, partner_event_id) DO NOTHING";
    let sql = match conn {
        Conn::Pg(_) => format!("{INSERT} FOR SHARE{ON_CONFLICT}"),
        // SQLite numbers its parameters `?NNN`; one writer at a time needs no row lock.
        Conn::Sqlite(_) => format!("{INSERT}{ON_CONFLICT}").replace('$', "?"),
    };
    let inserted = with_conn!(conn, c => diesel::sql_query(&sql)
        .bind::<DbUuid, _>(event.id)
        .bind::<DbUuid, _>(event.pickup_id)
        .bind::<DbUuid, _>(event.partner_id)
        .bind::<Text, _>(&event.partner_event_id)
        .bind::<Text, _>(&event.kind)
        .bind::<DbTime, _>(event.happened_at)
        .bind::<DbTime, _>(event.received_at)
        .bind::<Nullable<Text>, _>(&event.location)
        .bind::<Nullable<Text>, _>(&event.note)
        .bind::<Text, _>(&event.body_hash)
        .execute(c))?;
    Ok(inserted == 1)
}

/// The answer to an event that was not stored: the same as the first time for a resend, 409 for an event id
/// reused with other content or for a new event on a cancelled pickup. `status` is the pickup's, as locked: a
/// resend has the same body hash, which covers the pickup id, so it is about this pickup.
fn resent(conn: &mut Conn<'_>, partner: Uuid, event: &EventRow, status: PickupStatus) -> AppResult<EventOutcome> {
    let first_hash: Option<String> = with_conn!(conn, c => pickup_events::table
        .filter(pickup_events::partner_id.eq(Id(partner)))
        .filter(pickup_events::partner_event_id.eq(&event.partner_event_id))
        .select(pickup_events::body_hash).first(c).optional())?;
    let Some(first_hash) = first_hash else {
        return Err(AppError::conflict("pickup_cancelled", "the pickup was cancelled"));
    };
    if first_hash != event.body_hash {
        return Err(AppError::conflict(
            "event_id_reused",
            format!(
                "event {} was received before with different content",
                event.partner_event_id
            ),
        ));
    }
    Ok(EventOutcome {
        event_id: event.partner_event_id.clone(),
        stored: false,
        status,
    })
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
    })
}

/// What a pickup's progress means for the ticket and its loaner. The loaner travels with the inbound courier to
/// the customer (lent when it is picked up) and comes back with the outbound delivery.
fn apply_effects(
    conn: &mut Conn<'_>,
    ticket: &TicketRow,
    direction: &str,
    from: PickupStatus,
    to: PickupStatus,
    hold: Duration,
) -> AppResult<()> {
    let now = Ts(crate::now());
    let loan = lock_loan_of(conn, ticket.id)?;
    if direction == "inbound" && to.rank() >= PickupStatus::PickedUp.rank() {
        end_mail_in_wait(conn, loan.as_ref(), from, to, now, hold)?;
    }
    match (direction, to) {
        ("inbound", PickupStatus::PickedUp | PickupStatus::InTransit | PickupStatus::Delivered)
            if from.rank() < PickupStatus::PickedUp.rank() =>
        {
            if let Some(loan) = loan.filter(|l| l.state() == LoanState::Reserved) {
                crate::loans::http::issue_by_courier(conn, &loan, now)?;
                record_event(
                    conn,
                    ticket.id,
                    None,
                    "loan_issued",
                    None,
                    None,
                    Some("loaner handed to the customer by the courier"),
                )?;
            }
            if to == PickupStatus::Delivered {
                record_event(
                    conn,
                    ticket.id,
                    None,
                    "device_received",
                    None,
                    None,
                    Some("the phone arrived at the store"),
                )?;
            }
        }
        ("inbound", PickupStatus::Delivered) => {
            record_event(
                conn,
                ticket.id,
                None,
                "device_received",
                None,
                None,
                Some("the phone arrived at the store"),
            )?;
        }

        ("outbound", PickupStatus::Delivered) => {
            if let Some(loan) = loan.filter(|l| l.state() == LoanState::Issued) {
                crate::loans::http::return_by_courier(conn, &loan, now)?;
            }
            record_event(
                conn,
                ticket.id,
                None,
                "device_delivered",
                None,
                None,
                Some("the repaired phone reached the customer"),
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// A mail-in loaner travels only with the inbound courier when it collects the phone, so a mail-in loan that the
/// inbound leg did not carry ends with that leg (DESIGN.md, loaner rule 3): a ticket still waiting once the courier
/// has collected the phone (or the leg failed or ended) leaves the queue, since no courier could take it a loaner
/// served later, which would then be held forever; a reservation the leg ended without handing over (a failed
/// pickup, a cancelled one, or one reserved after the collection) expires and its loaner goes to the next waiter.
fn end_mail_in_wait(
    conn: &mut Conn<'_>,
    loan: Option<&crate::loans::LoanRow>,
    from: PickupStatus,
    to: PickupStatus,
    now: Ts,
    hold: Duration,
) -> AppResult<()> {
    let Some(loan) = loan else {
        return Ok(());
    };
    let carried = matches!(
        to,
        PickupStatus::PickedUp | PickupStatus::InTransit | PickupStatus::Delivered
    ) && from.rank() < PickupStatus::PickedUp.rank();
    match loan.state() {
        LoanState::Waiting => crate::loans::http::end_loan(
            conn,
            loan,
            LoanState::Cancelled,
            None,
            Some("the courier collected the phone (or the leg ended) before a loaner was free"),
            now,
            hold,
        ),
        LoanState::Reserved if !carried => crate::loans::http::end_loan(
            conn,
            loan,
            LoanState::Expired,
            None,
            Some("the inbound courier leg ended without carrying the loaner"),
            now,
            hold,
        ),
        _ => Ok(()),
    }
}

fn validate_event(checks: &mut Checks, prefix: &str, event: &PostEvent, now: DateTime<Utc>) {
    if event.event_id.trim().is_empty() || event.event_id.len() > 100 {
        checks.fail(&format!("{prefix}event_id"), "must be 1 to 100 characters");
    }
    if event.happened_at > now + chrono::Duration::seconds(FUTURE_TOLERANCE_SECS) {
        checks.fail(&format!("{prefix}happened_at"), "is in the future");
    }
    if event.location.as_ref().is_some_and(|l| l.len() > 200) {
        checks.fail(&format!("{prefix}location"), "at most 200 characters");
    }
    if event.note.as_ref().is_some_and(|n| n.len() > 500) {
        checks.fail(&format!("{prefix}note"), "at most 500 characters");
    }
}

/// Applies a partner's events to one of its pickups, in order: the transaction behind both event routes (public for
/// the benchmark, which runs it without HTTP).
pub fn post_events(
    conn: &mut Conn<'_>,
    principal: &Principal,
    pickup: Uuid,
    events: &[PostEvent],
    hold: Duration,
) -> AppResult<EventBatchResult> {
    let partner = require_courier(principal)?;
    validate_events(events)?;
    let found = pickup_of_partner(conn, principal, pickup, false)?;
    lock_flow(conn, found.ticket_id)?;
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        // Read again for each event: the one before may have moved the pickup.
        let row = pickup_of_partner(conn, principal, pickup, true)?;
        outcomes.push(ingest(conn, acting_partner(partner, &row)?, &row, event, hold)?);
    }
    Ok(EventBatchResult { outcomes })
}

/// Applies one event of a partner to one of its pickups: the work behind the single-event route (public for the
/// benchmark). An event that does not move the pickup, as most hub scans do not, writes one row: it is stored by
/// one statement, without a transaction or a lock on the pickup. Status only moves forward, so an event that does
/// not move the pickup as read would not move it a moment later either. Any other event is applied as in
/// [`post_events`]: in a transaction, on the pickup read again and locked.
pub fn post_event(
    conn: &mut AnyConnection,
    principal: &Principal,
    pickup: Uuid,
    event: &PostEvent,
    hold: Duration,
) -> AppResult<EventOutcome> {
    let partner = require_courier(principal)?;
    validate_events(std::slice::from_ref(event))?;
    let row = pickup_of_partner(&mut conn.as_conn(), principal, pickup, false)?;
    let current = PickupStatus::parse(&row.status);
    if advance(current, event.event_type) == current {
        return ingest(&mut conn.as_conn(), acting_partner(partner, &row)?, &row, event, hold);
    }
    conn.transaction(|c| {
        lock_flow(c, row.ticket_id)?;
        let row = pickup_of_partner(c, principal, pickup, true)?;
        ingest(c, acting_partner(partner, &row)?, &row, event, hold)
    })
}

/// Locks the pickup's ticket and its loans before the pickup itself, in the order every path takes (see
/// [`lock_ticket_in_scope`]): an event may issue, return or end the ticket's loan.
fn lock_flow(conn: &mut Conn<'_>, ticket: Id) -> AppResult<()> {
    lock_ticket(conn, ticket)?;
    lock_loan_of(conn, ticket)?;
    Ok(())
}

/// The partner an event is recorded for: the calling courier's, or for an admin the pickup's.
fn acting_partner(courier: Option<Uuid>, pickup: &PickupRow) -> AppResult<Uuid> {
    match (courier, pickup.partner_id) {
        (Some(p), _) => Ok(p),
        (None, Some(p)) => Ok(p.0),
        (None, None) => Err(AppError::NotFound("pickup")),
    }
}

/// Refuses a batch whole when it is empty, too long, or has any malformed event.
fn validate_events(events: &[PostEvent]) -> AppResult<()> {
    let mut checks = Checks::new();
    if events.is_empty() || events.len() > MAX_BATCH {
        checks.fail("events", format!("1 to {MAX_BATCH} events"));
    }
    let now = Utc::now();
    for (i, event) in events.iter().enumerate() {
        validate_event(&mut checks, &format!("events[{i}]."), event, now);
    }
    checks.finish()
}

/// Register a courier partner.
#[utoipa::path(
    tag = "courier", operation_id = "create_partner", request_body = CreatePartner,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Partner), WriteErrors),
    security(("bearer" = []))
)]
#[post("/partners")]
pub async fn create_partner(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreatePartner>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /partners", &body.raw);
    let mut checks = Checks::new();
    let code = checks.code("code", &body.value.code);
    let name = checks.text("name", &body.value.name, 1, 200);
    checks.finish()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        principal.require_admin()?;
        let actor = principal.key_id;
        use crate::error::OrDuplicate as _;
        let taken = || AppError::conflict("duplicate_code", format!("a partner with code {code} exists"));
        if crate::seed::find_partner(conn, &code)?.is_some() {
            return Err(taken());
        }
        let now = Ts(crate::now());
        let row = PartnerRow {
            id: Id(Uuid::now_v7()),
            code: code.clone(),
            name: name.clone(),
            active: true,
            created_at: now,
            updated_at: now,
        };
        with_conn!(conn, c => diesel::insert_into(courier_partners::table).values(&row).execute(c))
            .or_duplicate(taken)?;
        let partner = Partner::from(row);
        audit::record(conn, Some(actor), "create", "partner", partner.id, &partner)?;
        Ok(partner)
    })
    .await
}

/// List courier partners.
#[utoipa::path(
    tag = "courier", operation_id = "list_partners",
    responses((status = 200, body = PartnerList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/partners")]
pub async fn list_partners(state: web::Data<AppState>, bearer: Bearer) -> AppResult<HttpResponse> {
    let rows: Vec<PartnerRow> = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            Ok(
                with_conn!(conn, c => courier_partners::table.order(courier_partners::code)
            .select(PartnerRow::as_select()).load(c))?,
            )
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(PartnerList {
        items: rows.into_iter().map(Partner::from).collect(),
    }))
}

/// Request a courier leg for a ticket (staff).
#[utoipa::path(
    tag = "courier", operation_id = "create_pickup", params(("ticket_id" = Uuid, Path)), request_body = CreatePickup,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Pickup), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets/{ticket_id}/pickups")]
pub async fn create_ticket_pickup(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    path: web::Path<Uuid>,
    body: ApiJson<CreatePickup>,
) -> AppResult<HttpResponse> {
    let ticket_id = path.into_inner();
    let fingerprint = idempotency::fingerprint(&format!("POST /tickets/{ticket_id}/pickups"), &body.raw);
    let input = body.value;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        require_ticket_role(principal)?;
        let ticket = ticket_in_scope(conn, principal, ticket_id)?;
        let row = create_pickup(conn, &ticket, input.direction, &input.request(), principal.key_id)?;
        pickup_view(conn, row, true)
    })
    .await
}

/// The pickups of a ticket (staff).
#[utoipa::path(
    tag = "courier", operation_id = "list_ticket_pickups", params(TicketPickupQuery),
    responses((status = 200, body = PickupList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/pickups")]
pub async fn list_ticket_pickups(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<TicketPickupQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let items = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            let ticket = ticket_in_scope(conn, principal, query.ticket_id)?;
            let rows: Vec<PickupRow> = with_conn!(conn, c => pickups::table.filter(pickups::ticket_id.eq(ticket.id))
                .order(pickups::id).select(PickupRow::as_select()).load(c))?;
            rows.into_iter()
                .map(|r| pickup_view(conn, r, true))
                .collect::<AppResult<Vec<_>>>()
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(PickupList {
        items,
        next_cursor: None,
    }))
}

/// Reschedule a pickup: address, time window or partner (staff; not once the courier has it).
#[utoipa::path(
    tag = "courier", operation_id = "reschedule_pickup", params(("pickup_id" = Uuid, Path)), request_body = ReschedulePickup,
    responses((status = 200, body = Pickup), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/pickups/{pickup_id}")]
pub async fn reschedule_pickup(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<ReschedulePickup>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    let pickup = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            // In the one lock order (the ticket, its loans, its pickups), then read again under the lock: the
            // courier's `picked_up` or a ticket cancel may have moved the pickup since it was first read.
            let found = pickup_in_ticket_scope(conn, principal, id)?;
            lock_ticket_in_scope(conn, principal, found.ticket_id.0)?;
            lock_loan_of(conn, found.ticket_id)?;
            let row = lock_pickups_of(conn, found.ticket_id)?
                .into_iter()
                .find(|p| p.id == found.id)
                .ok_or(AppError::NotFound("pickup"))?;
            let status = PickupStatus::parse(&row.status);
            if status.rank() >= PickupStatus::PickedUp.rank() {
                return Err(AppError::conflict(
                    "pickup_under_way",
                    "the courier has it already, or it is finished",
                ));
            }
            let mut checks = Checks::new();
            let address = input.address.as_ref().map(|a| checks.text("address", a, 1, 500));
            let start = input.window_start.or(row.window_start.map(DateTime::from));
            let end = input.window_end.or(row.window_end.map(DateTime::from));
            if let (Some(s), Some(e)) = (start, end) {
                if e <= s {
                    checks.fail("window_end", "must be after window_start");
                }
            }
            checks.finish()?;
            let partner = match input.partner_id {
                Some(p) => Some(check_partner(conn, p, "partner_id")?),
                None => row.partner_id,
            };
            // A new partner starts over: it has to accept the job and give its own tracking number.
            let reassigned = partner != row.partner_id;
            let now = Ts(crate::now());
            let micros = |t: DateTime<Utc>| Ts(DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t));
            let updated = with_conn!(conn, c => diesel::update(pickups::table.find(row.id))
                .filter(pickups::status.eq(&row.status))
                .set((
                    pickups::address.eq(address.unwrap_or(row.address.clone())),
                    pickups::window_start.eq(start.map(micros)),
                    pickups::window_end.eq(end.map(micros)),
                    pickups::partner_id.eq(partner),
                    pickups::tracking_number.eq(if reassigned { None } else { row.tracking_number.clone() }),
                    pickups::status.eq(if reassigned { "requested" } else { row.status.as_str() }),
                    pickups::updated_at.eq(now),
                ))
                .execute(c))?;
            if updated != 1 {
                return Err(AppError::Unavailable("the pickup changed meanwhile; retry".into()));
            }
            record_event(
                conn,
                row.ticket_id,
                Some(principal.key_id),
                "pickup_rescheduled",
                None,
                None,
                None,
            )?;
            let row: PickupRow =
                with_conn!(conn, c => pickups::table.find(row.id).select(PickupRow::as_select()).first(c))?;
            pickup_view(conn, row, true)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(pickup))
}

/// Cancel a pickup that the courier does not have yet (staff). Cancelling a mail-in ticket's inbound pickup ends
/// the loaner hold it would have carried: a reserved loaner goes to the next waiter, a waiting ticket leaves the queue.
#[utoipa::path(
    tag = "courier", operation_id = "cancel_pickup", params(("pickup_id" = Uuid, Path)),
    responses((status = 200, body = Pickup), WriteErrors),
    security(("bearer" = []))
)]
#[post("/pickups/{pickup_id}/cancel")]
pub async fn cancel_pickup(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let hold = state.settings.loan_hold;
    let pickup = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            let found = pickup_in_ticket_scope(conn, principal, id)?;
            lock_ticket_in_scope(conn, principal, found.ticket_id.0)?;
            let loan = lock_loan_of(conn, found.ticket_id)?;
            let row = lock_pickups_of(conn, found.ticket_id)?
                .into_iter()
                .find(|p| p.id == found.id)
                .ok_or(AppError::NotFound("pickup"))?;
            let status = PickupStatus::parse(&row.status);
            if status.rank() >= PickupStatus::PickedUp.rank() {
                return Err(AppError::conflict(
                    "pickup_under_way",
                    "the courier has it already, or it is finished",
                ));
            }
            cancel_leg(conn, &row, principal.key_id, None)?;
            if row.direction == Direction::Inbound.as_str() {
                let now = Ts(crate::now());
                end_mail_in_wait(conn, loan.as_ref(), status, PickupStatus::Cancelled, now, hold)?;
            }
            let row: PickupRow =
                with_conn!(conn, c => pickups::table.find(row.id).select(PickupRow::as_select()).first(c))?;
            pickup_view(conn, row, true)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(pickup))
}

/// The partner's own pickup list; its cursor carries the phase (open or final) of the last pickup listed.
pub const COURIER_PICKUPS: &str = "/courier/pickups";

/// The calling partner's pickups: open ones first, then final ones (delivered, failed, cancelled), each in order of
/// creation, across pages. A pickup that closes while a client pages may be listed again among the final ones.
#[utoipa::path(
    tag = "courier", operation_id = "list_courier_pickups", params(CourierPickupQuery),
    responses((status = 200, body = PickupList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/courier/pickups")]
pub async fn list_courier_pickups(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<CourierPickupQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse(COURIER_PICKUPS, query.limit, None)?;
    // The cursor carries the sort key, the phase (open or final) of the last pickup listed, beside its id.
    let (phase, after) = match query.cursor.as_deref() {
        None => (PickupPhase::Open, None),
        Some(cursor) => {
            let (id, key) = crate::http::pagination::decode_keyed_cursor(COURIER_PICKUPS, cursor)?;
            let phase = PickupPhase::from_key(&key)
                .ok_or_else(|| AppError::field("cursor", "not a cursor returned by this list"))?;
            (phase, Some(id))
        }
    };
    let list = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            let partner = require_courier(principal)?;
            let mut rows: Vec<(PickupPhase, PickupRow)> =
                partner_pickups(conn, partner, &query, phase, after, page.fetch())?
                    .into_iter()
                    .map(|r| (phase, r))
                    .collect();
            let missing = page.fetch() - rows.len() as i64;
            if phase == PickupPhase::Open && missing > 0 {
                let closed = partner_pickups(conn, partner, &query, PickupPhase::Final, None, missing)?;
                rows.extend(closed.into_iter().map(|r| (PickupPhase::Final, r)));
            }
            let (rows, next_cursor) = page.finish_with(rows, |(phase, r)| {
                crate::http::pagination::encode_keyed_cursor(COURIER_PICKUPS, r.id.0, phase.key())
            });
            let items = rows
                .into_iter()
                .map(|(_, r)| pickup_view(conn, r, true))
                .collect::<AppResult<Vec<_>>>()?;
            Ok(PickupList { items, next_cursor })
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// The two parts of the partner's list, in the order listed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PickupPhase {
    Open,
    Final,
}

impl PickupPhase {
    #[cfg(test)]
    const FINAL_STATUSES: [&str; 3] = ["delivered", "failed", "cancelled"];

    /// The phase a pickup of this status is listed in.
    fn of(status: PickupStatus) -> PickupPhase {
        if status.is_final() {
            PickupPhase::Final
        } else {
            PickupPhase::Open
        }
    }

    /// The SQL condition for the pickups of this phase, constants only.
    fn predicate(self) -> &'static str {
        match self {
            PickupPhase::Open => "pickups.status NOT IN ('delivered', 'failed', 'cancelled')",
            PickupPhase::Final => "pickups.status IN ('delivered', 'failed', 'cancelled')",
        }
    }

    fn key(self) -> &'static str {
        match self {
            PickupPhase::Open => "open",
            PickupPhase::Final => "final",
        }
    }

    fn from_key(key: &str) -> Option<PickupPhase> {
        [PickupPhase::Open, PickupPhase::Final]
            .into_iter()
            .find(|p| p.key() == key)
    }
}

#[cfg(test)]
#[test]
fn the_final_phase_holds_exactly_the_final_statuses() {
    use PickupStatus as S;
    for status in [
        S::Requested,
        S::Assigned,
        S::PickedUp,
        S::InTransit,
        S::Delivered,
        S::Failed,
        S::Cancelled,
    ] {
        assert_eq!(
            PickupPhase::FINAL_STATUSES.contains(&status.as_str()),
            status.is_final(),
            "{status:?}"
        );
    }
    assert_eq!(
        PickupPhase::from_key(PickupPhase::Final.key()),
        Some(PickupPhase::Final)
    );
    assert_eq!(PickupPhase::from_key("closed"), None);
    let listed = |p: PickupPhase| {
        PickupPhase::FINAL_STATUSES
            .iter()
            .all(|s| p.predicate().contains(&format!("'{s}'")))
    };
    assert!(listed(PickupPhase::Open) && listed(PickupPhase::Final));
}

/// Up to `limit` of a partner's pickups (every partner's for an admin) in one phase, in id order after `after`.
fn partner_pickups(
    conn: &mut Conn<'_>,
    partner: Option<Uuid>,
    query: &CourierPickupQuery,
    phase: PickupPhase,
    after: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<PickupRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = pickups::table
            .filter(pickups::partner_id.is_not_null())
            .select(PickupRow::as_select())
            .limit(limit)
            .into_boxed();
        q = q.order(pickups::id);
        // The phase's predicate as constants, written as the partial indexes `pickups_partner_open` and
        // `pickups_partner_final` are (migration 2026-12-01-000002): a bound list would hide from PostgreSQL's
        // generic plan that the index covers the query, and it would walk the partner's whole history instead.
        // A status asked for decides the phase by itself: its own index serves it, without the phase's predicate.
        // It too is written as a constant (one of the statuses' fixed names, never the client's text): as a
        // parameter, the generic plan guesses that a large share of the pickups match and walks them all by id.
        q = match query.status {
            Some(status) if PickupPhase::of(status) == phase => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                &format!("pickups.status = '{}'", status.as_str()),
            )),
            Some(_) => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
            None => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(phase.predicate())),
        };
        if let Some(after) = after {
            q = q.filter(pickups::id.gt(Id(after)));
        }
        if let Some(partner) = partner {
            q = q.filter(pickups::partner_id.eq(Id(partner)));
        }
        if let Some(since) = query.updated_since {
            q = q.filter(pickups::updated_at.ge(Ts(since)));
        }
        q.load(c)
    })?)
}

/// Accept a pickup assigned to the calling partner and give its tracking number. Sending the same again is
/// harmless; another tracking number once accepted is a 409.
#[utoipa::path(
    tag = "courier", operation_id = "accept_pickup", params(("pickup_id" = Uuid, Path)), request_body = AcceptPickup,
    responses((status = 200, body = Pickup), WriteErrors),
    security(("bearer" = []))
)]
#[post("/courier/pickups/{pickup_id}/accept")]
pub async fn accept_pickup(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<AcceptPickup>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    let pickup = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_courier(principal)?;
            let row = pickup_of_partner(conn, principal, id, true)?;
            let mut checks = Checks::new();
            let tracking = checks.text("tracking_number", &input.tracking_number, 1, 64);
            checks.finish()?;
            match (PickupStatus::parse(&row.status), &row.tracking_number) {
                (_, Some(existing)) if *existing == tracking => {}
                (PickupStatus::Requested, _) => {
                    let taken: i64 = with_conn!(conn, c => pickups::table
                        .filter(pickups::partner_id.eq(row.partner_id))
                        .filter(pickups::tracking_number.eq(&tracking))
                        .count().get_result(c))?;
                    let taken_error = || {
                        AppError::conflict(
                            "tracking_number_taken",
                            "another of your pickups has this tracking number",
                        )
                    };
                    if taken > 0 {
                        return Err(taken_error());
                    }
                    // Two accepts with one tracking number at once both pass the check above: the unique index
                    // refuses the second, answered as the check would have.
                    use crate::error::OrDuplicate as _;
                    with_conn!(conn, c => diesel::update(pickups::table.find(row.id))
                        .filter(pickups::status.eq("requested"))
                        .set((pickups::status.eq("assigned"), pickups::tracking_number.eq(&tracking),
                              pickups::updated_at.eq(Ts(crate::now()))))
                        .execute(c))
                    .or_duplicate(taken_error)?;
                    record_event(
                        conn,
                        row.ticket_id,
                        Some(principal.key_id),
                        "pickup_accepted",
                        None,
                        None,
                        Some(&tracking),
                    )?;
                }
                (status, _) => {
                    return Err(AppError::conflict(
                        "illegal_transition",
                        format!(
                            "a {} pickup cannot be accepted with another tracking number",
                            status.as_str()
                        ),
                    ));
                }
            }
            let row: PickupRow =
                with_conn!(conn, c => pickups::table.find(row.id).select(PickupRow::as_select()).first(c))?;
            pickup_view(conn, row, true)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(pickup))
}

/// Report one tracking event of a pickup. Safe to retry: the same `event_id` with the same content is stored once
/// and answered the same way; with different content it is a 409. Late and out-of-order events are kept; the
/// status only moves forward.
#[utoipa::path(
    tag = "courier", operation_id = "post_pickup_event", params(("pickup_id" = Uuid, Path)), request_body = PostEvent,
    responses((status = 200, body = EventOutcome), WriteErrors),
    security(("bearer" = []))
)]
#[post("/courier/pickups/{pickup_id}/events")]
pub async fn post_pickup_event(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<PostEvent>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let event = body.value;
    let hold = state.settings.loan_hold;
    let outcome = web::block(move || {
        bearer.writer(&state.db, |conn, principal| {
            post_event(conn, principal, id, &event, hold)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(outcome))
}

/// Report several tracking events of one pickup at once, applied in order in one transaction; a batch with any
/// malformed event is refused whole.
#[utoipa::path(
    tag = "courier", operation_id = "post_pickup_events", request_body = EventBatch,
    responses((status = 200, body = EventBatchResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/courier/events")]
pub async fn post_pickup_events(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: ApiJson<EventBatch>,
) -> AppResult<HttpResponse> {
    let batch = body.value;
    let hold = state.settings.loan_hold;
    let result = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            post_events(conn, principal, batch.pickup_id, &batch.events, hold)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(result))
}

#[derive(OpenApi)]
#[openapi(paths(
    create_partner,
    list_partners,
    create_ticket_pickup,
    list_ticket_pickups,
    reschedule_pickup,
    cancel_pickup,
    list_courier_pickups,
    accept_pickup,
    post_pickup_event,
    post_pickup_events,
))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_partner)
        .service(list_partners)
        .service(create_ticket_pickup)
        .service(list_ticket_pickups)
        .service(reschedule_pickup)
        .service(cancel_pickup)
        .service(list_courier_pickups)
        .service(accept_pickup)
        .service(post_pickup_event)
        .service(post_pickup_events);
}

#[cfg(test)]
mod tests {
    use super::EventType as E;
    use super::PickupStatus as S;
    use super::advance;

    #[test]
    fn status_only_moves_forward_and_stays_final() {
        assert_eq!(advance(S::Assigned, E::PickedUp), S::PickedUp);
        assert_eq!(
            advance(S::InTransit, E::PickedUp),
            S::InTransit,
            "a late picked_up does not go back"
        );
        assert_eq!(advance(S::PickedUp, E::Arrived), S::InTransit);
        assert_eq!(
            advance(S::InTransit, E::FailedAttempt),
            S::InTransit,
            "a failed attempt is kept, moves nothing"
        );
        assert_eq!(
            advance(S::Requested, E::Delivered),
            S::Delivered,
            "a skipped step is fine"
        );
        assert_eq!(
            advance(S::Delivered, E::ReturnedToSender),
            S::Delivered,
            "final stays final"
        );
        assert_eq!(advance(S::Failed, E::Delivered), S::Failed);
        assert_eq!(advance(S::InTransit, E::ReturnedToSender), S::Failed);
    }
}
