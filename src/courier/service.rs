//! The courier area's use cases. Each public use case that a route runs owns its transaction (through the caller's
//! key: [`Bearer::write`], [`Bearer::read`]); the steps other areas compose into their own transactions
//! ([`create_pickup`], [`cancel_leg`], [`pickup_view`]) take a connection.
//!
//! Lock order: every path that changes a ticket's courier legs locks the ticket first, then its loans, then its
//! pickups (see [`crate::tickets::lock_ticket_in_scope`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    Direction, EventOutcome, EventRow, Partner, PartnerPickupFilter, PartnerRow, Pickup, PickupPhase, PickupRequest,
    PickupRow, PickupStatus, PostEvent, ReschedulePickup,
};
use super::repo::{self, LegChange, lock_pickups_of};
use super::rules::{self, LoanStep};
use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{AnyConnection, Conn, Db};
use crate::error::{AppError, AppResult, OrDuplicate as _};
use crate::events::{self as outbox, NewEvent, Subject, SubjectType};
use crate::http::pagination::PageRequest;
use crate::loans::LoanRow;
use crate::tickets::{
    TicketRow, lock_loan_of, lock_ticket, lock_ticket_in_scope, record_event, require_ticket_role, ticket_in_scope,
};

/// The API view; `show_phone` hides the contact phone from couriers the pickup is not assigned to.
pub fn pickup_view(conn: &mut Conn<'_>, row: PickupRow, show_phone: bool) -> AppResult<Pickup> {
    let events = repo::events_of(conn, row.id)?;
    Ok(Pickup::of(row, events, show_phone))
}

/// The views of several pickups, their tracking events read in one query (a list never reads per row).
pub fn pickup_views(conn: &mut Conn<'_>, rows: Vec<PickupRow>, show_phone: bool) -> AppResult<Vec<Pickup>> {
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let mut events = repo::events_of_pickups(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (mine, rest): (Vec<_>, Vec<_>) = events.drain(..).partition(|(pickup, _)| *pickup == row.id);
            events = rest;
            Pickup::of(row, mine.into_iter().map(|(_, e)| e).collect(), show_phone)
        })
        .collect())
}

fn check_partner(conn: &mut Conn<'_>, partner: Uuid, field: &str) -> AppResult<Id> {
    match repo::partner_active(conn, partner)? {
        Some(true) => Ok(Id(partner)),
        Some(false) => Err(AppError::field(field, "the partner is deactivated")),
        None => Err(AppError::field(field, "no such courier partner")),
    }
}

/// Registers a courier partner (admin), inside the idempotent creation's transaction.
pub fn create_partner(conn: &mut Conn<'_>, principal: &Principal, code: &str, name: &str) -> AppResult<Partner> {
    principal.require_admin()?;
    let actor = principal.key_id;
    let taken = || AppError::conflict("duplicate_code", format!("a partner with code {code} exists"));
    if crate::seed::find_partner(conn, code)?.is_some() {
        return Err(taken());
    }
    let now = Ts(crate::now());
    let row = PartnerRow {
        id: Id(Uuid::now_v7()),
        code: code.to_owned(),
        name: name.to_owned(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    repo::insert_partner(conn, &row).or_duplicate(taken)?;
    let partner = Partner::from(row);
    audit::record(conn, Some(actor), "create", "partner", partner.id, &partner)?;
    Ok(partner)
}

/// The courier partners, by code (staff).
pub fn list_partners(db: &Db, bearer: &Bearer) -> AppResult<Vec<Partner>> {
    let rows = bearer.read(db, |conn, principal| {
        require_ticket_role(principal)?;
        repo::partners(conn)
    })?;
    Ok(rows.into_iter().map(Partner::from).collect())
}

/// Creates a pickup for a ticket (used at mail-in opening, when the repair is ready, and by staff).
pub fn create_pickup(
    conn: &mut Conn<'_>,
    ticket: &TicketRow,
    direction: Direction,
    request: &PickupRequest,
    actor: Uuid,
) -> AppResult<PickupRow> {
    let checked = rules::check_pickup_request(request, &ticket.customer_name, &ticket.customer_phone)?;
    let partner = request
        .partner_id
        .map(|p| check_partner(conn, p, "pickup.partner_id"))
        .transpose()?;
    let open = repo::count_open(conn, ticket.id, direction)?;
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
    let row = PickupRow {
        id: Id(Uuid::now_v7()),
        ticket_id: ticket.id,
        direction: direction.as_str().to_owned(),
        partner_id: partner,
        address: checked.address,
        contact_name: checked.contact_name,
        contact_phone: checked.contact_phone,
        window_start: request.window_start.map(|t| Ts(crate::to_micros(t))),
        window_end: request.window_end.map(|t| Ts(crate::to_micros(t))),
        tracking_number: None,
        status: PickupStatus::Requested.as_str().to_owned(),
        created_at: now,
        updated_at: now,
    };
    repo::insert_pickup(conn, &row).or_duplicate(taken)?;
    emit_pickup(
        conn,
        &row,
        Some(ticket.store_id),
        outbox::EventType::PickupRequested,
        PickupStatus::Requested,
        serde_json::json!({"partner_id": row.partner_id.map(Uuid::from)}),
    )?;
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

/// Requests a courier leg for a ticket (staff), inside the idempotent creation's transaction.
pub fn create_ticket_pickup(
    conn: &mut Conn<'_>,
    principal: &Principal,
    ticket_id: Uuid,
    direction: Direction,
    request: &PickupRequest,
) -> AppResult<Pickup> {
    require_ticket_role(principal)?;
    let ticket = ticket_in_scope(conn, principal, ticket_id)?;
    let row = create_pickup(conn, &ticket, direction, request, principal.key_id)?;
    pickup_view(conn, row, true)
}

/// The pickups of a ticket, oldest first (staff).
pub fn list_ticket_pickups(db: &Db, bearer: &Bearer, ticket_id: Uuid) -> AppResult<Vec<Pickup>> {
    bearer.read(db, |conn, principal| {
        require_ticket_role(principal)?;
        let ticket = ticket_in_scope(conn, principal, ticket_id)?;
        let rows = repo::pickups_of(conn, ticket.id)?;
        pickup_views(conn, rows, true)
    })
}

/// Cancels a leg the courier has not started; the partner's list shows it cancelled, and events sent for it later
/// are refused (`pickup_cancelled`), so they neither move it nor reach the ticket's timeline.
pub fn cancel_leg(conn: &mut Conn<'_>, leg: &PickupRow, actor: Uuid, note: Option<&str>) -> AppResult<()> {
    let updated = repo::set_status(conn, leg.id, &leg.status, PickupStatus::Cancelled, Ts(crate::now()))?;
    if updated != 1 {
        return Err(changed_meanwhile());
    }
    emit_pickup(
        conn,
        leg,
        None,
        outbox::EventType::PickupCancelled,
        PickupStatus::Cancelled,
        serde_json::json!({"from": leg.status}),
    )?;
    record_event(conn, leg.ticket_id, Some(actor), "pickup_cancelled", None, None, note)?;
    Ok(())
}

/// Tells the partners of a leg moved from `before`'s partner to another (the leg as now stored): the new partner
/// gets `pickup.requested` (a job for it to accept, as any new request; `reassigned` in the payload), seen by the
/// ticket's store too; the old partner gets `pickup.cancelled` (`reason`: `reassigned`) in its own scope only,
/// naming neither the new partner nor anything it may not see. The caller holds the leg's lock.
fn announce_reassignment(conn: &mut Conn<'_>, before: &PickupRow) -> AppResult<()> {
    if let Some(old) = before.partner_id {
        crate::events::emit_in(
            conn,
            NewEvent {
                event_type: outbox::EventType::PickupCancelled,
                subject: Subject {
                    kind: SubjectType::Pickup,
                    id: before.id.0,
                    store_id: None,
                    partner_id: Some(old.0),
                },
                payload: serde_json::json!({
                    "pickup_id": before.id.0,
                    "ticket_id": before.ticket_id.0,
                    "direction": before.direction,
                    "status": PickupStatus::Cancelled.as_str(),
                    "from": before.status,
                    "reason": "reassigned",
                }),
                internal: None,
            },
        )?;
    }
    let now = repo::pickup(conn, before.id)?;
    emit_pickup(
        conn,
        &now,
        None,
        outbox::EventType::PickupRequested,
        PickupStatus::parse(&now.status),
        serde_json::json!({"partner_id": now.partner_id.map(Uuid::from), "reassigned": true}),
    )
}

/// Emits an event about a pickup leg (see `crate::events`), seen by its ticket's store and its partner, in the
/// caller's transaction, which holds the leg's lock. `payload` gets the leg's id, ticket, direction and `status`.
fn emit_pickup(
    conn: &mut Conn<'_>,
    leg: &PickupRow,
    store: Option<Id>,
    event_type: outbox::EventType,
    status: PickupStatus,
    extra: serde_json::Value,
) -> AppResult<()> {
    let store = match store {
        Some(store) => store,
        None => crate::tickets::repo::store_of(conn, leg.ticket_id)?,
    };
    let mut payload = serde_json::json!({
        "pickup_id": leg.id.0,
        "ticket_id": leg.ticket_id.0,
        "direction": leg.direction,
        "status": status.as_str(),
    });
    if let (Some(fields), serde_json::Value::Object(more)) = (payload.as_object_mut(), extra) {
        fields.extend(more);
    }
    crate::events::emit_in(
        conn,
        NewEvent {
            event_type,
            subject: Subject {
                kind: SubjectType::Pickup,
                id: leg.id.0,
                store_id: Some(store.0),
                partner_id: leg.partner_id.map(Uuid::from),
            },
            payload,
            internal: None,
        },
    )?;
    Ok(())
}

fn changed_meanwhile() -> AppError {
    AppError::Unavailable("the pickup changed meanwhile; retry".into())
}

fn pickup_in_ticket_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<PickupRow> {
    let row = repo::find_pickup(conn, id)?.ok_or(AppError::NotFound("pickup"))?;
    ticket_in_scope(conn, principal, row.ticket_id.0)?;
    Ok(row)
}

/// A staff member's pickup, in the one lock order (the ticket, its loans, its pickups), read again under the lock:
/// the courier's `picked_up` or a ticket cancel may have moved the pickup since it was first read. Answers the
/// ticket's loan, as locked, beside it.
fn lock_staff_pickup(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<(PickupRow, Option<LoanRow>)> {
    require_ticket_role(principal)?;
    let found = pickup_in_ticket_scope(conn, principal, id)?;
    lock_ticket_in_scope(conn, principal, found.ticket_id.0)?;
    let loan = lock_loan_of(conn, found.ticket_id)?;
    let row = lock_pickups_of(conn, found.ticket_id)?
        .into_iter()
        .find(|p| p.id == found.id)
        .ok_or(AppError::NotFound("pickup"))?;
    Ok((row, loan))
}

/// Reschedules a pickup: address, time window or partner (staff; not once the courier has it).
pub fn reschedule_pickup(db: &Db, bearer: &Bearer, id: Uuid, input: &ReschedulePickup) -> AppResult<Pickup> {
    bearer.write(db, |conn, principal| {
        let (row, _) = lock_staff_pickup(conn, principal, id)?;
        let status = PickupStatus::parse(&row.status);
        status.reschedule(false)?;
        let window = (row.window_start.map(DateTime::from), row.window_end.map(DateTime::from));
        let checked = rules::check_reschedule(input, window)?;
        let partner = match input.partner_id {
            Some(p) => Some(check_partner(conn, p, "partner_id")?),
            None => row.partner_id,
        };
        // A new partner starts over: it has to accept the job and give its own tracking number.
        let reassigned = partner != row.partner_id;
        let change = LegChange {
            address: checked.address.unwrap_or(row.address.clone()),
            window_start: checked.window_start.map(|t| Ts(crate::to_micros(t))),
            window_end: checked.window_end.map(|t| Ts(crate::to_micros(t))),
            partner_id: partner,
            tracking_number: if reassigned { None } else { row.tracking_number.clone() },
            status: status.reschedule(reassigned)?,
            updated_at: Ts(crate::now()),
        };
        if repo::reschedule(conn, row.id, &row.status, &change)? != 1 {
            return Err(changed_meanwhile());
        }
        if reassigned {
            announce_reassignment(conn, &row)?;
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
        let row = repo::pickup(conn, row.id)?;
        pickup_view(conn, row, true)
    })
}

/// Cancels a pickup that the courier does not have yet (staff). Cancelling a mail-in ticket's inbound pickup ends
/// the loaner hold it would have carried: a reserved loaner goes to the next waiter, a waiting ticket leaves the
/// queue.
pub fn cancel_pickup(db: &Db, bearer: &Bearer, id: Uuid, hold: Duration) -> AppResult<Pickup> {
    bearer.write(db, |conn, principal| {
        let (row, loan) = lock_staff_pickup(conn, principal, id)?;
        let status = PickupStatus::parse(&row.status);
        let cancelled = status.cancel()?;
        cancel_leg(conn, &row, principal.key_id, None)?;
        apply_effects(conn, &row, loan.as_ref(), status, cancelled, hold)?;
        let row = repo::pickup(conn, row.id)?;
        pickup_view(conn, row, true)
    })
}

/// The calling partner's pickups (every partner's for an admin): open ones first, then final ones, each in order
/// of creation, from the page's `phase` and after its pickup `after`. Answers the page and the next cursor.
pub fn list_courier_pickups(
    db: &Db,
    bearer: &Bearer,
    page: &PageRequest,
    filter: PartnerPickupFilter,
    (phase, after): (PickupPhase, Option<Uuid>),
) -> AppResult<(Vec<Pickup>, Option<String>)> {
    bearer.read(db, |conn, principal| {
        let filter = PartnerPickupFilter {
            partner: require_courier(principal)?,
            ..filter
        };
        let mut rows: Vec<(PickupPhase, PickupRow)> = repo::partner_pickups(conn, &filter, phase, after, page.fetch())?
            .into_iter()
            .map(|r| (phase, r))
            .collect();
        let missing = page.fetch() - rows.len() as i64;
        if phase == PickupPhase::Open && missing > 0 {
            let closed = repo::partner_pickups(conn, &filter, PickupPhase::Final, None, missing)?;
            rows.extend(closed.into_iter().map(|r| (PickupPhase::Final, r)));
        }
        let list = page.list;
        let (rows, next_cursor) = page.finish_with(rows, |(phase, r)| {
            crate::http::pagination::encode_keyed_cursor(list, r.id.0, phase.key())
        });
        let items = pickup_views(conn, rows.into_iter().map(|(_, r)| r).collect(), true)?;
        Ok((items, next_cursor))
    })
}

/// Accepts a pickup assigned to the calling partner with its tracking number. Sending the same again is harmless;
/// another tracking number once accepted is a 409.
pub fn accept_pickup(db: &Db, bearer: &Bearer, id: Uuid, tracking_number: &str) -> AppResult<Pickup> {
    bearer.write(db, |conn, principal| {
        require_courier(principal)?;
        let row = pickup_of_partner(conn, principal, id, true)?;
        let tracking = rules::tracking_number(tracking_number)?;
        if row.tracking_number.as_deref() != Some(tracking.as_str()) {
            let from = PickupStatus::parse(&row.status);
            let to = from.accept()?;
            let taken_error = || {
                AppError::conflict(
                    "tracking_number_taken",
                    "another of your pickups has this tracking number",
                )
            };
            if repo::count_tracking_number(conn, row.partner_id, &tracking)? > 0 {
                return Err(taken_error());
            }
            // Two accepts with one tracking number at once both pass the check above: the unique index
            // refuses the second, answered as the check would have.
            repo::set_tracking_number(conn, row.id, (from, to), &tracking, Ts(crate::now()))
                .or_duplicate(taken_error)?;
            emit_pickup(
                conn,
                &row,
                None,
                outbox::EventType::PickupAccepted,
                to,
                serde_json::json!({"from": from.as_str(), "tracking_number": tracking}),
            )?;
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
        let row = repo::pickup(conn, row.id)?;
        pickup_view(conn, row, true)
    })
}

/// A pickup of the calling courier's partner, or 404 (other partners' pickups do not exist for it). An admin acts
/// for the partner a pickup is assigned to (to replay a partner's events by hand, say). With `lock`, the row is
/// locked until the transaction ends ([`repo::pickup_for_partner`]).
fn pickup_of_partner(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, lock: bool) -> AppResult<PickupRow> {
    let row = repo::pickup_for_partner(conn, id, lock)?;
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
    let body_hash = rules::body_hash(pickup.id.0, event)?;
    let current = PickupStatus::parse(&pickup.status);
    let now = crate::now();
    let row = EventRow {
        id: Id(Uuid::now_v7()),
        pickup_id: pickup.id,
        partner_id: Id(partner),
        partner_event_id: event.event_id.clone(),
        kind: event.event_type.as_str().to_owned(),
        happened_at: Ts(crate::to_micros(event.happened_at)),
        received_at: Ts(now),
        location: event.location.clone(),
        note: event.note.clone(),
        body_hash,
    };
    // One statement stores a new event and detects a resent one: the partner's event id is unique per partner.
    // A cancelled pickup takes no new events, but a resend is still answered as the first time.
    let stored = current != PickupStatus::Cancelled && repo::insert_event_unless_cancelled(conn, &row)?;
    if !stored {
        return resent(conn, partner, &row, current);
    }
    let next = current.after_event(event.event_type);
    if next != current {
        if repo::set_status(conn, pickup.id, current.as_str(), next, Ts(now))? != 1 {
            return Err(changed_meanwhile());
        }
        emit_pickup(
            conn,
            pickup,
            None,
            outbox::EventType::PickupStatusChanged,
            next,
            serde_json::json!({"from": current.as_str(), "to": next.as_str(), "happened_at": row.happened_at.0}),
        )?;
        let loan = lock_loan_of(conn, pickup.ticket_id)?;
        apply_effects(conn, pickup, loan.as_ref(), current, next, hold)?;
        // The phone reached the store when the courier says it did (never later than now): its days with the
        // network count from then.
        if (Direction::parse(&pickup.direction), next) == (Direction::Inbound, PickupStatus::Delivered) {
            let at = row.happened_at.0.min(now);
            crate::tickets::repo::set_received(conn, pickup.ticket_id, Ts(at))?;
        }
    }
    Ok(EventOutcome {
        event_id: event.event_id.clone(),
        stored: true,
        status: next,
    })
}

/// The answer to an event that was not stored: the same as the first time for a resend, 409 for an event id
/// reused with other content or for a new event on a cancelled pickup. `status` is the pickup's, as locked: a
/// resend has the same body hash, which covers the pickup id, so it is about this pickup.
fn resent(conn: &mut Conn<'_>, partner: Uuid, event: &EventRow, status: PickupStatus) -> AppResult<EventOutcome> {
    let first_hash = repo::first_body_hash(conn, partner, &event.partner_event_id)?;
    rules::unstored_event(&event.partner_event_id, first_hash.as_deref(), &event.body_hash)?;
    Ok(EventOutcome {
        event_id: event.partner_event_id.clone(),
        stored: false,
        status,
    })
}

/// What a leg's move from `from` to `to` does to its ticket and the ticket's loan (locked by the caller, after the
/// ticket): the rules are [`rules::loan_step`] and [`rules::ticket_entry`].
fn apply_effects(
    conn: &mut Conn<'_>,
    leg: &PickupRow,
    loan: Option<&LoanRow>,
    from: PickupStatus,
    to: PickupStatus,
    hold: Duration,
) -> AppResult<()> {
    let now = Ts(crate::now());
    let direction = Direction::parse(&leg.direction);
    if let Some(loan) = loan {
        match rules::loan_step(direction, from, to, loan.state()) {
            LoanStep::Nothing => {}
            LoanStep::Issue => {
                crate::loans::issue_by_courier(conn, loan, now)?;
                record_event(
                    conn,
                    leg.ticket_id,
                    None,
                    "loan_issued",
                    None,
                    None,
                    Some("loaner handed to the customer by the courier"),
                )?;
            }
            LoanStep::Return => crate::loans::return_by_courier(conn, loan, now)?,
            LoanStep::End(state, note) => {
                crate::loans::end_loan(conn, loan, state, None, Some(note), now, hold)?;
            }
        }
    }
    if let Some((kind, note)) = rules::ticket_entry(direction, to) {
        record_event(conn, leg.ticket_id, None, kind, None, None, Some(note))?;
    }
    Ok(())
}

/// Applies a partner's events to one of its pickups, in order: the transaction behind both event routes (public for
/// the benchmark, which runs it without HTTP).
pub fn post_events(
    conn: &mut Conn<'_>,
    principal: &Principal,
    pickup: Uuid,
    events: &[PostEvent],
    hold: Duration,
) -> AppResult<Vec<EventOutcome>> {
    let partner = require_courier(principal)?;
    rules::validate_events(events, Utc::now())?;
    let found = pickup_of_partner(conn, principal, pickup, false)?;
    lock_flow(conn, found.ticket_id)?;
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        // Read again for each event: the one before may have moved the pickup.
        let row = pickup_of_partner(conn, principal, pickup, true)?;
        outcomes.push(ingest(conn, acting_partner(partner, &row)?, &row, event, hold)?);
    }
    Ok(outcomes)
}

/// Reports several tracking events of one pickup at once, applied in order in one transaction.
pub fn post_pickup_events(
    db: &Db,
    bearer: &Bearer,
    pickup: Uuid,
    events: &[PostEvent],
    hold: Duration,
) -> AppResult<Vec<EventOutcome>> {
    bearer.write(db, |conn, principal| post_events(conn, principal, pickup, events, hold))
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
    rules::validate_events(std::slice::from_ref(event), Utc::now())?;
    let row = pickup_of_partner(&mut conn.as_conn(), principal, pickup, false)?;
    let current = PickupStatus::parse(&row.status);
    if current.after_event(event.event_type) == current {
        return ingest(&mut conn.as_conn(), acting_partner(partner, &row)?, &row, event, hold);
    }
    conn.transaction(|c| {
        lock_flow(c, row.ticket_id)?;
        let row = pickup_of_partner(c, principal, pickup, true)?;
        ingest(c, acting_partner(partner, &row)?, &row, event, hold)
    })
}

/// Reports one tracking event of a pickup, through the caller's key ([`post_event`]).
pub fn post_pickup_event(
    db: &Db,
    bearer: &Bearer,
    pickup: Uuid,
    event: &PostEvent,
    hold: Duration,
) -> AppResult<EventOutcome> {
    bearer.writer(db, |conn, principal| post_event(conn, principal, pickup, event, hold))
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
