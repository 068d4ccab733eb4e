//! The complaint use cases, each in one transaction: open (staff, or the customer through the link), read, list
//! with the first reply's clock, acknowledge (the first staff member to act becomes the owner), reply, resolve,
//! close, reopen (staff, or the customer through the link within a window), record a goodwill remedy; and the staff
//! alert for a first reply overdue, raised once per complaint. Every change writes its timeline entry and its
//! outbox event in the same transaction.
//!
//! Functions that judge the clock take `now`, so tests can run them at a made-up time; the handlers pass the
//! current instant.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::model::{
    Complaint, ComplaintAbout, ComplaintAction, ComplaintChannel, ComplaintEvent, ComplaintEventKind,
    ComplaintEventRow, ComplaintFilter, ComplaintList, ComplaintRow, ComplaintState, ComplaintSummary, NewComplaint,
    NewRemedy, PublicComplaint, Remedy, RemedyKind, RemedyRow, Target,
};
use super::repo;
use super::rules::{self, DUE_SOON};
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::events::{EventType, NewEvent, Subject, emit_in};
use crate::http::pagination::PageRequest;
use crate::money::Money;
use crate::tracking::service::LinkRequest;

/// Who may work on complaints: admins, and store staff within their stores.
pub fn require_complaint_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Who acts on a complaint: a staff key, or the customer through the link.
#[derive(Debug, Clone, Copy)]
enum Actor {
    Staff(Uuid),
    Customer,
}

impl Actor {
    fn key(self) -> Option<Id> {
        match self {
            Actor::Staff(id) => Some(Id(id)),
            Actor::Customer => None,
        }
    }
}

/// Opens a complaint as staff, in the caller's transaction, at `now`; its first reply is due `first_reply` later.
/// A ticket, loan or store outside the caller's stores is 404 (no existence leaks).
pub fn open_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    new: &NewComplaint,
    now: DateTime<Utc>,
    first_reply: Duration,
) -> AppResult<Complaint> {
    require_complaint_role(principal)?;
    if new.channel == ComplaintChannel::Link {
        return Err(AppError::field(
            "channel",
            "`link` is the customer's own channel (their tracking link); staff record `phone` or `walk_in`",
        ));
    }
    let (about, store, ticket, loan) = match new.target {
        Target::Ticket(id) => {
            let row = crate::tickets::repo::find_ticket(conn, Id(id))?
                .filter(|t| principal.covers_store(t.store_id.0))
                .ok_or(AppError::NotFound("ticket"))?;
            (ComplaintAbout::Ticket, row.store_id, Some(row.id), None)
        }
        Target::Loan(id) => {
            let row = crate::loans::repo::find(conn, Id(id))?
                .filter(|l| principal.covers_store(l.store_id.0))
                .ok_or(AppError::NotFound("loan"))?;
            (ComplaintAbout::Loan, row.store_id, Some(row.ticket_id), Some(row.id))
        }
        Target::Store(id) => {
            if !principal.covers_store(id) || !repo::store_exists(conn, Id(id))? {
                return Err(AppError::NotFound("store"));
            }
            (ComplaintAbout::Store, Id(id), None, None)
        }
    };
    let row = insert_opened(
        conn,
        new,
        about,
        store,
        ticket,
        loan,
        Actor::Staff(principal.key_id),
        now,
        first_reply,
    )?;
    detail(conn, row, now)
}

/// What filing through the link came to.
pub enum Filed {
    /// No repair has this token.
    UnknownToken,
    Created(PublicComplaint),
    /// A retry with the same `Idempotency-Key` and body: the complaint the first request filed, as it is now.
    Replayed(PublicComplaint),
}

/// Opens a complaint through the customer's tracking link (`token_hash`), about its ticket, at `now`. With a
/// `request` key, a retry answers with the complaint the first request filed (the same key with another body: 409
/// `idempotency_key_reused`).
pub fn open_through_link(
    db: &Db,
    token_hash: &str,
    new: &NewComplaint,
    request: Option<&LinkRequest>,
    now: DateTime<Utc>,
    first_reply: Duration,
) -> AppResult<Filed> {
    let attempt = || {
        db.write(|conn| {
            let Some(ticket) = crate::tracking::service::ticket_of_link(conn, token_hash, now)? else {
                return Ok(Filed::UnknownToken);
            };
            if let Some(request) = request
                && let Some(first) = repo::by_link_request(conn, ticket.id, &request.key)?
            {
                if first.link_request_hash.as_deref() != Some(request.fingerprint.as_str()) {
                    return Err(AppError::conflict(
                        "idempotency_key_reused",
                        "this Idempotency-Key was already used with a different request",
                    ));
                }
                return Ok(Filed::Replayed(public(&first)));
            }
            let row = insert_opened_with(
                conn,
                new,
                ComplaintAbout::Ticket,
                ticket.store_id,
                Some(ticket.id),
                None,
                Actor::Customer,
                now,
                first_reply,
                request,
            )?;
            Ok(Filed::Created(public(&row)))
        })
    };
    match attempt() {
        // A concurrent retry with the same key committed first: answer as it did.
        Err(e) if request.is_some() && e.is_duplicate() => attempt(),
        other => other,
    }
}

#[expect(clippy::too_many_arguments, reason = "one step of a complaint names all it records")]
fn insert_opened(
    conn: &mut Conn<'_>,
    new: &NewComplaint,
    about: ComplaintAbout,
    store: Id,
    ticket: Option<Id>,
    loan: Option<Id>,
    actor: Actor,
    now: DateTime<Utc>,
    first_reply: Duration,
) -> AppResult<ComplaintRow> {
    insert_opened_with(conn, new, about, store, ticket, loan, actor, now, first_reply, None)
}

#[expect(clippy::too_many_arguments, reason = "one step of a complaint names all it records")]
fn insert_opened_with(
    conn: &mut Conn<'_>,
    new: &NewComplaint,
    about: ComplaintAbout,
    store: Id,
    ticket: Option<Id>,
    loan: Option<Id>,
    actor: Actor,
    now: DateTime<Utc>,
    first_reply: Duration,
    request: Option<&LinkRequest>,
) -> AppResult<ComplaintRow> {
    let now = crate::to_micros(now);
    let row = ComplaintRow {
        id: Id(Uuid::now_v7()),
        store_id: store,
        about: about.as_str().to_owned(),
        ticket_id: ticket,
        loan_id: loan,
        category: new.category.as_str().to_owned(),
        text: new.text.clone(),
        contact_preference: new.contact_preference.as_str().to_owned(),
        channel: new.channel.as_str().to_owned(),
        state: ComplaintState::Open.as_str().to_owned(),
        opened_by: actor.key(),
        owner_id: None,
        opened_at: Ts(now),
        first_reply_due_at: Ts(now + first_reply),
        first_reply_at: None,
        acknowledged_at: None,
        resolved_at: None,
        closed_at: None,
        resolution: None,
        link_request_key: request.map(|r| r.key.clone()),
        link_request_hash: request.map(|r| r.fingerprint.clone()),
        updated_at: Ts(now),
    };
    repo::insert(conn, &row)?;
    record(
        conn,
        &row,
        ComplaintEventKind::Opened,
        None,
        actor,
        None,
        now,
        EventType::ComplaintOpened,
    )?;
    Ok(row)
}

/// A complaint of the caller's stores, at `now`.
pub fn get(db: &Db, bearer: &Bearer, id: Uuid, now: DateTime<Utc>) -> AppResult<Complaint> {
    bearer.read(db, |conn, principal| {
        require_complaint_role(principal)?;
        let row = repo::find(conn, Id(id))?
            .filter(|r| principal.covers_store(r.store_id.0))
            .ok_or(AppError::NotFound("complaint"))?;
        detail(conn, row, now)
    })
}

/// A page of the caller's stores' complaints in opening order, narrowed by `filter`, the clock judged at `now`.
pub fn list(
    db: &Db,
    bearer: &Bearer,
    filter: &ComplaintFilter,
    page: PageRequest,
    now: DateTime<Utc>,
) -> AppResult<ComplaintList> {
    bearer.read(db, |conn, principal| list_in(conn, principal, filter, page, now))
}

/// [`list`] on the caller's connection, as `principal` (tests run it at a made-up `now`).
pub fn list_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    filter: &ComplaintFilter,
    page: PageRequest,
    now: DateTime<Utc>,
) -> AppResult<ComplaintList> {
    require_complaint_role(principal)?;
    let scope: Option<Vec<Id>> =
        (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect());
    let rows = repo::list(
        conn,
        scope.as_deref(),
        filter,
        Ts(now),
        Ts(now + DUE_SOON),
        page.after.map(Id),
        page.fetch(),
    )?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(ComplaintList {
        items: rows.iter().map(|r| summary(r, now)).collect(),
        next_cursor,
    })
}

/// Up to `limit` complaints of the caller's stores that are not resolved or closed, the earliest first-reply due
/// time first: the desk's list of complaints to answer.
pub fn open_by_due_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    now: DateTime<Utc>,
    limit: i64,
) -> AppResult<Vec<ComplaintSummary>> {
    require_complaint_role(principal)?;
    let scope: Option<Vec<Id>> =
        (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect());
    let rows = repo::open_by_due(conn, scope.as_deref(), limit)?;
    Ok(rows.iter().map(|r| summary(r, now)).collect())
}

/// Locks a complaint of the caller's stores (404 outside them) for a change.
fn lock_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<ComplaintRow> {
    require_complaint_role(principal)?;
    repo::lock(conn, Id(id))?
        .filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("complaint"))
}

/// One staff step on a complaint of the caller's stores, in one write: the complaint locked, `step` run on it by
/// the caller at `now`, the complaint answered as it stands after. The step's time is after the complaint's last
/// change: a step that waited for the lock (its `now` taken before) comes after the one it waited for, on the
/// timeline too.
fn staff_step(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    now: DateTime<Utc>,
    step: impl FnOnce(&mut Conn<'_>, &Principal, &mut ComplaintRow, DateTime<Utc>) -> AppResult<()>,
) -> AppResult<Complaint> {
    bearer.write(db, |conn, principal| {
        let mut row = lock_in_scope(conn, principal, id)?;
        let now = crate::to_micros(now.max(row.updated_at.0 + Duration::microseconds(1)));
        step(conn, principal, &mut row, now)?;
        detail(conn, row, now)
    })
}

/// Moves a complaint by `action`, with `change` setting what the step records on the row, and writes the step's
/// timeline entry (`kind`, with `message`) and outbox event.
#[expect(clippy::too_many_arguments, reason = "one step of a complaint names all it records")]
fn transition(
    conn: &mut Conn<'_>,
    row: &mut ComplaintRow,
    action: ComplaintAction,
    kind: ComplaintEventKind,
    event_type: EventType,
    actor: Actor,
    message: Option<&str>,
    now: DateTime<Utc>,
    change: impl FnOnce(&mut ComplaintRow, Ts),
) -> AppResult<()> {
    let from = row.state();
    let to = from.apply(action)?;
    let now = crate::to_micros(now);
    row.state = to.as_str().to_owned();
    row.updated_at = Ts(now);
    change(row, Ts(now));
    save(conn, row, from)?;
    record(conn, row, kind, Some(from), actor, message, now, event_type)
}

/// Takes an open (or reopened) complaint: the first staff member to act on an open one becomes its owner. Of two
/// at once, one takes it and the other is told it is acknowledged already (409).
pub fn acknowledge(db: &Db, bearer: &Bearer, id: Uuid, now: DateTime<Utc>) -> AppResult<Complaint> {
    staff_step(db, bearer, id, now, |conn, principal, row, now| {
        take(conn, row, Actor::Staff(principal.key_id), now)
    })
}

fn take(conn: &mut Conn<'_>, row: &mut ComplaintRow, actor: Actor, now: DateTime<Utc>) -> AppResult<()> {
    transition(
        conn,
        row,
        ComplaintAction::Acknowledge,
        ComplaintEventKind::Acknowledged,
        EventType::ComplaintAcknowledged,
        actor,
        None,
        now,
        |row, now| {
            if row.owner_id.is_none() {
                row.owner_id = actor.key();
            }
            row.acknowledged_at.get_or_insert(now);
        },
    )
}

/// A message from staff to the customer. The first one stops the clock; on an open complaint it also makes the
/// caller its owner (replying is acting on it).
pub fn reply(db: &Db, bearer: &Bearer, id: Uuid, message: &str, now: DateTime<Utc>) -> AppResult<Complaint> {
    staff_step(db, bearer, id, now, |conn, principal, row, now| {
        let actor = Actor::Staff(principal.key_id);
        if !row.state().takes_replies() {
            return Err(AppError::conflict(
                "complaint_state",
                format!("the complaint is {}: reopen it to reply", row.state().as_str()),
            ));
        }
        if row.state() == ComplaintState::Open {
            take(conn, row, actor, now)?;
        }
        let from = row.state();
        row.first_reply_at.get_or_insert(Ts(now));
        row.updated_at = Ts(now);
        save(conn, row, from)?;
        record(
            conn,
            row,
            ComplaintEventKind::Replied,
            None,
            actor,
            Some(message),
            now,
            EventType::ComplaintReplied,
        )
    })
}

/// Resolves an acknowledged (or reopened) complaint with what was done; the resolution is an answer to the
/// customer, so it counts as the first reply when none was sent.
pub fn resolve(db: &Db, bearer: &Bearer, id: Uuid, resolution: &str, now: DateTime<Utc>) -> AppResult<Complaint> {
    staff_step(db, bearer, id, now, |conn, principal, row, now| {
        transition(
            conn,
            row,
            ComplaintAction::Resolve,
            ComplaintEventKind::Resolved,
            EventType::ComplaintResolved,
            Actor::Staff(principal.key_id),
            Some(resolution),
            now,
            |row, now| {
                row.resolved_at = Some(now);
                row.resolution = Some(resolution.to_owned());
                row.first_reply_at.get_or_insert(now);
            },
        )
    })
}

/// Closes a resolved complaint.
pub fn close(db: &Db, bearer: &Bearer, id: Uuid, note: Option<&str>, now: DateTime<Utc>) -> AppResult<Complaint> {
    staff_step(db, bearer, id, now, |conn, principal, row, now| {
        transition(
            conn,
            row,
            ComplaintAction::Close,
            ComplaintEventKind::Closed,
            EventType::ComplaintClosed,
            Actor::Staff(principal.key_id),
            note,
            now,
            |row, now| row.closed_at = Some(now),
        )
    })
}

/// Reopens a resolved or closed complaint (staff, at any time). Its owner stays.
pub fn reopen(db: &Db, bearer: &Bearer, id: Uuid, note: Option<&str>, now: DateTime<Utc>) -> AppResult<Complaint> {
    staff_step(db, bearer, id, now, |conn, principal, row, now| {
        reopen_row(conn, row, Actor::Staff(principal.key_id), note, now)
    })
}

/// The customer reopens a complaint of their repair through the link (`token_hash`), within
/// [`rules::CUSTOMER_REOPEN_WINDOW`] of its resolution. `None` when no repair has this token or the complaint is
/// not one of its own.
pub fn reopen_through_link(
    db: &Db,
    token_hash: &str,
    id: Uuid,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<Option<PublicComplaint>> {
    db.write(|conn| {
        let Some(ticket) = crate::tracking::service::ticket_of_link(conn, token_hash, now)? else {
            return Ok(None);
        };
        let Some(mut row) = repo::lock(conn, Id(id))?.filter(|r| r.ticket_id == Some(ticket.id)) else {
            return Ok(None);
        };
        if matches!(row.state(), ComplaintState::Resolved | ComplaintState::Closed)
            && !rules::customer_may_reopen(row.resolved_at.map(|t| t.0), now)
        {
            return Err(AppError::conflict(
                "reopen_window_passed",
                format!(
                    "the complaint was resolved more than {} days ago: call the service center to reopen it",
                    rules::CUSTOMER_REOPEN_WINDOW.num_days()
                ),
            ));
        }
        reopen_row(conn, &mut row, Actor::Customer, note, now)?;
        Ok(Some(public(&row)))
    })
}

fn reopen_row(
    conn: &mut Conn<'_>,
    row: &mut ComplaintRow,
    actor: Actor,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    transition(
        conn,
        row,
        ComplaintAction::Reopen,
        ComplaintEventKind::Reopened,
        EventType::ComplaintReopened,
        actor,
        note,
        now,
        |row, _| row.closed_at = None,
    )
}

/// Records a goodwill remedy, approved by the caller: a manager's act, so admins only (store staff: 403). While
/// the complaint is worked on or after it was resolved; a closed one is settled (409 `complaint_closed`: reopen it
/// first), so a remedy and a close at once land in one order, the remedy on the timeline before the close or
/// refused.
pub fn record_remedy(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    remedy: &NewRemedy,
    now: DateTime<Utc>,
) -> AppResult<Complaint> {
    staff_step(db, bearer, id, now, |conn, principal, row, now| {
        if principal.role != Role::Admin {
            return Err(AppError::Forbidden);
        }
        if row.state() == ComplaintState::Closed {
            return Err(AppError::conflict(
                "complaint_closed",
                "the complaint is closed: reopen it to record a remedy",
            ));
        }
        let stored = RemedyRow {
            id: Id(Uuid::now_v7()),
            complaint_id: row.id,
            kind: remedy.kind.as_str().to_owned(),
            amount_minor: remedy.amount_minor,
            warranty_days: remedy.warranty_days,
            note: remedy.note.clone(),
            approved_by: Id(principal.key_id),
            approved_at: Ts(now),
        };
        repo::insert_remedy(conn, &stored)?;
        row.updated_at = Ts(now);
        let state = row.state();
        save(conn, row, state)?;
        let what = match remedy.kind {
            RemedyKind::ExtendedWarranty => format!("extended warranty: {} days", remedy.warranty_days.unwrap_or(0)),
            kind => format!(
                "{}: {} CNY",
                kind.as_str(),
                Money::from_minor(remedy.amount_minor.unwrap_or(0)).amount
            ),
        };
        let message = match &remedy.note {
            Some(note) => format!("{what} ({note})"),
            None => what,
        };
        record(
            conn,
            row,
            ComplaintEventKind::RemedyRecorded,
            None,
            Actor::Staff(principal.key_id),
            Some(&message),
            now,
            EventType::ComplaintRemedyRecorded,
        )
    })
}

/// Complaints looked at per alert round; the rest wait for the next round.
const ALERT_BATCH: i64 = 200;

/// Raises `complaint.first_reply_breached` for every complaint whose first reply is overdue at `now`, once per
/// complaint (recorded in `event_alerts` in the same transaction, so several instances raise it once). A step of
/// the sweeper; tests pass a made-up `now`. Returns how many it raised.
pub fn raise_breach_alerts(db: &Db, now: DateTime<Utc>) -> AppResult<usize> {
    let alert = EventType::ComplaintFirstReplyBreached;
    db.write(|conn| {
        let mut raised = 0;
        for row in repo::breached_unalerted(conn, alert.as_str(), Ts(now), ALERT_BATCH)? {
            if crate::events::repo::mark_alert(conn, alert, row.id, "", Ts(now))? {
                let mut payload = payload(&row);
                payload["first_reply_due_at"] = json!(row.first_reply_due_at.0);
                emit_in(
                    conn,
                    NewEvent {
                        event_type: alert,
                        subject: Subject::complaint(row.id.0, row.store_id.0),
                        payload,
                        internal: None,
                    },
                )?;
                raised += 1;
            }
        }
        Ok(raised)
    })
}

fn save(conn: &mut Conn<'_>, row: &ComplaintRow, from: ComplaintState) -> AppResult<()> {
    if repo::save(conn, row, from.as_str())? {
        Ok(())
    } else {
        Err(AppError::conflict(
            "complaint_state",
            "the complaint changed meanwhile; read it again",
        ))
    }
}

/// Writes the timeline entry and the outbox event of one step.
#[expect(clippy::too_many_arguments, reason = "one step of a complaint names all it records")]
fn record(
    conn: &mut Conn<'_>,
    row: &ComplaintRow,
    kind: ComplaintEventKind,
    from: Option<ComplaintState>,
    actor: Actor,
    message: Option<&str>,
    now: DateTime<Utc>,
    event_type: EventType,
) -> AppResult<()> {
    let to = match kind {
        ComplaintEventKind::Replied | ComplaintEventKind::RemedyRecorded => None,
        _ => Some(row.state.clone()),
    };
    repo::insert_event(
        conn,
        &ComplaintEventRow {
            id: Id(Uuid::now_v7()),
            complaint_id: row.id,
            at: Ts(now),
            kind: kind.as_str().to_owned(),
            from_state: from.map(|s| s.as_str().to_owned()),
            to_state: to,
            actor_id: actor.key(),
            by_customer: matches!(actor, Actor::Customer),
            message: message.map(str::to_owned),
        },
    )?;
    let mut payload = payload(row);
    payload["from_state"] = json!(from.map(ComplaintState::as_str));
    payload["by_customer"] = json!(matches!(actor, Actor::Customer));
    payload["actor_id"] = json!(actor.key().map(|k| k.0));
    emit_in(
        conn,
        NewEvent {
            event_type,
            subject: Subject::complaint(row.id.0, row.store_id.0),
            payload,
            internal: None,
        },
    )?;
    Ok(())
}

/// What an event says of a complaint: never its text (the customer's words may hold personal data).
fn payload(row: &ComplaintRow) -> serde_json::Value {
    json!({
        "complaint_id": row.id.0,
        "store_id": row.store_id.0,
        "about": row.about,
        "ticket_id": row.ticket_id.map(|t| t.0),
        "loan_id": row.loan_id.map(|l| l.0),
        "category": row.category,
        "channel": row.channel,
        "state": row.state,
        "owner_id": row.owner_id.map(|o| o.0),
        "first_reply_due_at": row.first_reply_due_at.0,
        "first_reply_at": row.first_reply_at.map(|t| t.0),
    })
}

fn summary(row: &ComplaintRow, now: DateTime<Utc>) -> ComplaintSummary {
    ComplaintSummary {
        id: row.id.0,
        store_id: row.store_id.0,
        about: ComplaintAbout::parse(&row.about).unwrap_or(ComplaintAbout::Store),
        ticket_id: row.ticket_id.map(Uuid::from),
        category: super::model::ComplaintCategory::parse(&row.category)
            .unwrap_or(super::model::ComplaintCategory::Other),
        channel: ComplaintChannel::parse(&row.channel).unwrap_or(ComplaintChannel::Phone),
        state: row.state(),
        owner_id: row.owner_id.map(Uuid::from),
        opened_at: row.opened_at.0,
        first_reply_due_at: row.first_reply_due_at.0,
        first_reply_at: row.first_reply_at.map(DateTime::from),
        reply_clock: rules::reply_clock(row.first_reply_due_at.0, row.first_reply_at.map(DateTime::from), now),
    }
}

fn public(row: &ComplaintRow) -> PublicComplaint {
    PublicComplaint {
        id: row.id.0,
        category: super::model::ComplaintCategory::parse(&row.category)
            .unwrap_or(super::model::ComplaintCategory::Other),
        state: row.state(),
        opened_at: row.opened_at.0,
        first_reply_due_at: row.first_reply_due_at.0,
        first_reply_at: row.first_reply_at.map(DateTime::from),
    }
}

fn detail(conn: &mut Conn<'_>, row: ComplaintRow, now: DateTime<Utc>) -> AppResult<Complaint> {
    let timeline = repo::events_of(conn, row.id)?
        .into_iter()
        .map(|e| ComplaintEvent {
            at: e.at.0,
            kind: ComplaintEventKind::parse(&e.kind).unwrap_or(ComplaintEventKind::Replied),
            from_state: e.from_state.as_deref().and_then(ComplaintState::parse),
            to_state: e.to_state.as_deref().and_then(ComplaintState::parse),
            actor_id: e.actor_id.map(Uuid::from),
            by_customer: e.by_customer,
            message: e.message,
        })
        .collect();
    let remedies = repo::remedies_of(conn, row.id)?
        .into_iter()
        .map(|r| Remedy {
            id: r.id.0,
            kind: RemedyKind::parse(&r.kind).unwrap_or(RemedyKind::Compensation),
            amount: r.amount_minor.map(Money::from_minor),
            warranty_days: r.warranty_days,
            note: r.note,
            approved_by: r.approved_by.0,
            approved_at: r.approved_at.0,
        })
        .collect();
    let s = summary(&row, now);
    Ok(Complaint {
        id: s.id,
        store_id: s.store_id,
        about: s.about,
        ticket_id: s.ticket_id,
        loan_id: row.loan_id.map(Uuid::from),
        category: s.category,
        text: row.text,
        contact_preference: super::model::ContactPreference::parse(&row.contact_preference)
            .unwrap_or(super::model::ContactPreference::None),
        channel: s.channel,
        state: s.state,
        opened_by: row.opened_by.map(Uuid::from),
        owner_id: s.owner_id,
        opened_at: s.opened_at,
        first_reply_due_at: s.first_reply_due_at,
        first_reply_at: s.first_reply_at,
        reply_clock: s.reply_clock,
        acknowledged_at: row.acknowledged_at.map(DateTime::from),
        resolved_at: row.resolved_at.map(DateTime::from),
        closed_at: row.closed_at.map(DateTime::from),
        resolution: row.resolution,
        timeline,
        remedies,
        updated_at: row.updated_at.0,
    })
}
