//! The loans' use cases. The desk's calls (issue, return, loss, cancellation, due-date extension, reading) each
//! check the loan's state and move its loaner with it in one transaction of their own. The steps that other use
//! cases compose inside their transaction take `&mut Conn`: reserving a loaner for a new ticket, serving a
//! waitlist, freeing a loaner, ending a loan, and the courier's hand-over and take-back. The sweeper's rounds
//! (expiring holds, serving stranded queues) open one transaction per batch or queue.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Loan, LoanRow, LoanState};
use super::repo::{self, Due, LoanFilter, Queue, Server, Waiter};
use super::rules;
use crate::auth::{Bearer, Principal};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::events::{EventType, NewEvent, Subject};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::money::Money;
use crate::tickets;
use crate::tickets::{loan_view, lock_loan_of, lock_ticket, record_event, require_ticket_role};

fn loan_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<LoanRow> {
    repo::find(conn, Id(id))?
        .filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("loan"))
}

/// A loan the caller may see, locked with its ticket in the order every path takes (the ticket, then its loans:
/// see `tickets::lock_ticket_in_scope`), and read after the locks.
fn lock_loan_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<LoanRow> {
    let found = loan_in_scope(conn, principal, id)?;
    lock_ticket(conn, found.ticket_id)?;
    lock_loan_of(conn, found.ticket_id)?;
    loan_in_scope(conn, principal, id)
}

/// Runs a desk's change of one loan in the caller's write transaction, as `principal`, and answers the loan after
/// it.
fn change(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    f: impl FnOnce(&mut Conn<'_>, &Principal, LoanRow) -> AppResult<()>,
) -> AppResult<Loan> {
    require_ticket_role(principal)?;
    let loan = lock_loan_in_scope(conn, principal, id)?;
    let loan_id = loan.id;
    f(conn, principal, loan)?;
    reload(conn, loan_id)
}

fn reload(conn: &mut Conn<'_>, id: Id) -> AppResult<Loan> {
    let row = repo::get(conn, id)?;
    loan_view(conn, &row)
}

fn money_field(checks: &mut Checks, field: &str, money: Option<&Money>) -> Option<i64> {
    match money.map(Money::to_minor_non_negative) {
        Some(Ok(minor)) => Some(minor),
        Some(Err(why)) => {
            checks.fail(field, why);
            None
        }
        None => None,
    }
}

/// The loaner a reserved or issued loan holds (`state` names which, for the error that should never happen).
fn loaner_of(loan: &LoanRow, state: &str) -> AppResult<Id> {
    Ok(loan
        .loaner_id
        .ok_or_else(|| anyhow::anyhow!("{state} loan without a loaner"))?)
}

/// What a loan's events say besides `extra`: the loan and its ticket.
pub fn loan_payload(loan: Id, ticket: Id, extra: serde_json::Value) -> serde_json::Value {
    let mut payload = serde_json::json!({"loan_id": loan.0, "ticket_id": ticket.0});
    if let (Some(fields), serde_json::Value::Object(more)) = (payload.as_object_mut(), extra) {
        fields.extend(more);
    }
    payload
}

/// Emits an event about a loan at `store` (see `crate::events`), in the caller's transaction, which holds the
/// loan's lock (or has just written it).
pub fn emit_loan(
    conn: &mut Conn<'_>,
    (loan, ticket, store): (Id, Id, Id),
    event_type: EventType,
    extra: serde_json::Value,
) -> AppResult<()> {
    crate::events::emit_in(
        conn,
        NewEvent {
            event_type,
            subject: Subject::loan(loan.0, store.0),
            payload: loan_payload(loan, ticket, extra),
            internal: None,
        },
    )?;
    Ok(())
}

/// The ids [`emit_loan`] takes, of a loan row.
fn ids(loan: &LoanRow) -> (Id, Id, Id) {
    (loan.id, loan.ticket_id, loan.store_id)
}

/// Writes the desk's act on a loan to its ticket's timeline.
fn desk_event(conn: &mut Conn<'_>, loan: &LoanRow, principal: &Principal, kind: &str, note: &str) -> AppResult<()> {
    record_event(
        conn,
        loan.ticket_id,
        Some(principal.key_id),
        kind,
        None,
        None,
        Some(note),
    )?;
    Ok(())
}

fn set_loaner_state(conn: &mut Conn<'_>, loaner: Id, from: &str, to: &str, now: Ts) -> AppResult<()> {
    if repo::set_loaner_state(conn, loaner, from, to, now)? == 1 {
        Ok(())
    } else {
        Err(AppError::conflict(
            "loaner_state_changed",
            format!("the loaner is no longer {from}"),
        ))
    }
}

/// Read one loan of the caller's stores.
pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<Loan> {
    bearer.read(db, |conn, principal| get_in(conn, principal, id))
}

/// [`get`] on the caller's connection, as `principal`.
pub fn get_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<Loan> {
    require_ticket_role(principal)?;
    let row = loan_in_scope(conn, principal, id)?;
    loan_view(conn, &row)
}

/// One page of the loans of the caller's stores, and the cursor of the next.
pub fn list(
    db: &Db,
    bearer: &Bearer,
    filter: &LoanFilter,
    page: PageRequest,
) -> AppResult<(Vec<Loan>, Option<String>)> {
    bearer.read(db, |conn, principal| {
        require_ticket_role(principal)?;
        let rows = repo::list(conn, principal, filter, &page, Ts(crate::now()))?;
        let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(loan_view(conn, row)?);
        }
        Ok((items, next_cursor))
    })
}

/// The caller's stores, or `None` for an admin (every store).
fn scope_of(principal: &Principal) -> Option<Vec<Id>> {
    (principal.role != crate::auth::Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect())
}

/// Up to `limit` loans of the caller's stores for the desk's lists (overdue, waiting) or a device's history (of its
/// tickets), each with its ticket's number and customer, its series and its loaner, in one statement.
pub fn desk_loans_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    which: repo::DeskLoans<'_>,
    limit: i64,
) -> AppResult<Vec<repo::DeskLoan>> {
    require_ticket_role(principal)?;
    repo::desk_loans(conn, scope_of(principal).as_deref(), which, limit)
}

/// Hands the reserved loaner to the customer: due back at `due_at` (14 days from now when absent), with the
/// `deposit` taken (the series' loaner deposit when absent).
pub fn issue(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    due_at: Option<DateTime<Utc>>,
    deposit: Option<Money>,
) -> AppResult<Loan> {
    bearer.write(db, |conn, principal| {
        issue_in(conn, principal, id, due_at, deposit, None)
    })
}

/// [`issue`] in the caller's transaction, as `principal`; `note` (e.g. the console's condition checklist) goes on
/// the ticket's timeline with the hand-over.
pub fn issue_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    due_at: Option<DateTime<Utc>>,
    deposit: Option<Money>,
    note: Option<&str>,
) -> AppResult<Loan> {
    change(conn, principal, id, |conn, principal, loan| {
        let next = loan.state().issue()?;
        let now = crate::now();
        if rules::hold_ran_out(loan.hold_until, now) {
            return Err(AppError::conflict(
                "reservation_expired",
                "the hold on this loaner has run out",
            ));
        }
        let mut checks = Checks::new();
        let due = due_at.unwrap_or(rules::default_due(now));
        if due <= now {
            checks.fail("due_at", "must be in the future");
        }
        let deposit = money_field(&mut checks, "deposit.amount", deposit.as_ref());
        let note = note.map(|n| checks.text("note", n, 0, 1000));
        checks.finish()?;
        let deposit = match deposit {
            Some(d) => Some(d),
            None => repo::series_deposit(conn, loan.series_id)?,
        };
        let loaner = loaner_of(&loan, "reserved")?;
        let now = Ts(now);
        set_loaner_state(conn, loaner, "reserved", "on_loan", now)?;
        let issue = repo::Issue {
            by: Id(principal.key_id),
            due: Ts(crate::to_micros(due)),
            deposit_minor: deposit,
        };
        repo::set_issued(conn, loan.id, next, now, &issue)?;
        emit_loan(
            conn,
            ids(&loan),
            EventType::LoanIssued,
            serde_json::json!({"issued_at": now.0, "due_at": issue.due.0}),
        )?;
        let note = match note.filter(|n| !n.is_empty()) {
            Some(n) => format!("loaner handed over; {n}"),
            None => "loaner handed over".to_owned(),
        };
        desk_event(conn, &loan, principal, "loan_issued", &note)?;
        Ok(())
    })
}

/// Takes the loaner back: records its `condition` (as its API name), the accessories not brought back and any
/// damage charge; the loaner goes to inspection.
pub fn give_back(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    condition: Option<String>,
    missing_accessories: &[String],
    damage_charge: Option<Money>,
    note: Option<&str>,
) -> AppResult<Loan> {
    bearer.write(db, |conn, principal| {
        give_back_in(conn, principal, id, condition, missing_accessories, damage_charge, note)
    })
}

/// [`give_back`] in the caller's transaction, as `principal`.
pub fn give_back_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    condition: Option<String>,
    missing_accessories: &[String],
    damage_charge: Option<Money>,
    note: Option<&str>,
) -> AppResult<Loan> {
    change(conn, principal, id, |conn, principal, loan| {
        let next = loan.state().give_back()?;
        let mut checks = Checks::new();
        let charge = money_field(&mut checks, "damage_charge.amount", damage_charge.as_ref());
        if missing_accessories.len() > 20 || missing_accessories.iter().any(|a| a.trim().is_empty()) {
            checks.fail("missing_accessories", "at most 20 non-empty names");
        }
        let note = note.map(|n| checks.text("note", n, 0, 1000));
        checks.finish()?;
        let now = Ts(crate::now());
        let loaner = loaner_of(&loan, "issued")?;
        // Every returned loaner is inspected before it is lent again.
        set_loaner_state(conn, loaner, "on_loan", "inspection", now)?;
        let back = repo::Return {
            by: Id(principal.key_id),
            condition,
            missing_accessories: serde_json::to_string(missing_accessories).ok(),
            damage_charge_minor: charge,
        };
        repo::set_returned(conn, loan.id, next, now, &back)?;
        emit_loan(
            conn,
            ids(&loan),
            EventType::LoanReturned,
            serde_json::json!({"returned_at": now.0, "damage_charge": charge.map(Money::from_minor)}),
        )?;
        let note = note.unwrap_or_else(|| "loaner taken back for inspection".into());
        desk_event(conn, &loan, principal, "loan_returned", &note)?;
        Ok(())
    })
}

/// The customer lost the loaner: it is retired and the `charge` recorded.
pub fn lose(db: &Db, bearer: &Bearer, id: Uuid, charge: &Money, note: Option<&str>) -> AppResult<Loan> {
    bearer.write(db, |conn, principal| lose_in(conn, principal, id, charge, note))
}

/// [`lose`] in the caller's transaction, as `principal`.
pub fn lose_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    charge: &Money,
    note: Option<&str>,
) -> AppResult<Loan> {
    change(conn, principal, id, |conn, principal, loan| {
        let next = loan.state().lose()?;
        let mut checks = Checks::new();
        let charge = money_field(&mut checks, "charge.amount", Some(charge));
        let note = note.map(|n| checks.text("note", n, 0, 1000));
        checks.finish()?;
        let now = Ts(crate::now());
        let loaner = loaner_of(&loan, "issued")?;
        set_loaner_state(conn, loaner, "on_loan", "retired", now)?;
        repo::set_lost(conn, loan.id, next, charge, now)?;
        emit_loan(
            conn,
            ids(&loan),
            EventType::LoanLost,
            serde_json::json!({"charge": charge.map(Money::from_minor)}),
        )?;
        let note = note.unwrap_or_else(|| "loaner lost; retired and charged".into());
        desk_event(conn, &loan, principal, "loan_lost", &note)?;
        Ok(())
    })
}

/// Cancels a waiting or reserved loan for the `reason` given; a held loaner goes to the next waiter.
pub fn cancel(db: &Db, bearer: &Bearer, id: Uuid, reason: &str, hold: Duration) -> AppResult<Loan> {
    bearer.write(db, |conn, principal| cancel_in(conn, principal, id, reason, hold))
}

/// [`cancel`] in the caller's transaction, as `principal`.
pub fn cancel_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    reason: &str,
    hold: Duration,
) -> AppResult<Loan> {
    change(conn, principal, id, |conn, principal, loan| {
        let next = loan.state().cancel()?;
        let mut checks = Checks::new();
        checks.text("reason", reason, 1, 1000);
        checks.finish()?;
        end_loan(conn, &loan, next, Some(principal.key_id), None, Ts(crate::now()), hold)
    })
}

/// Moves an issued loan's due time later, to `due_at`, with the `reason` on the ticket's timeline.
pub fn extend(db: &Db, bearer: &Bearer, id: Uuid, due_at: DateTime<Utc>, reason: &str) -> AppResult<Loan> {
    bearer.write(db, |conn, principal| extend_in(conn, principal, id, due_at, reason))
}

/// [`extend`] in the caller's transaction, as `principal`.
pub fn extend_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    due_at: DateTime<Utc>,
    reason: &str,
) -> AppResult<Loan> {
    change(conn, principal, id, |conn, principal, loan| {
        if loan.state() != LoanState::Issued {
            return Err(AppError::conflict(
                "illegal_transition",
                "only an issued loan's due time can be extended",
            ));
        }
        let mut checks = Checks::new();
        let reason = checks.text("reason", reason, 1, 1000);
        if loan.due_at.is_some_and(|d| due_at <= d.0) {
            checks.fail("due_at", "must be later than the current due time");
        }
        checks.finish()?;
        let due = crate::to_micros(due_at);
        repo::set_due(conn, loan.id, Ts(due), Ts(crate::now()))?;
        emit_loan(
            conn,
            ids(&loan),
            EventType::LoanExtended,
            serde_json::json!({"due_at": due, "previous_due_at": loan.due_at.map(|d| d.0)}),
        )?;
        let note = format!(
            "due {} (was {}): {reason}",
            due.to_rfc3339(),
            loan.due_at.map(|d| d.0.to_rfc3339()).unwrap_or_default()
        );
        desk_event(conn, &loan, principal, "loan_extended", &note)?;
        Ok(())
    })
}

/// Closes a waiting or reserved loan (cancelled or expired): the loaner, if one was held, goes to the next waiter.
/// The caller holds the loan's lock (see `tickets::lock_ticket_in_scope`), so the loan is as read.
pub fn end_loan(
    conn: &mut Conn<'_>,
    loan: &LoanRow,
    next: LoanState,
    actor: Option<Uuid>,
    note: Option<&str>,
    now: Ts,
    hold: Duration,
) -> AppResult<()> {
    if repo::close(conn, loan, next, now)? != 1 {
        return Err(AppError::Unavailable("the loan changed meanwhile; retry".into()));
    }
    let event_type = match next {
        LoanState::Expired => EventType::LoanExpired,
        _ => EventType::LoanCancelled,
    };
    emit_loan(
        conn,
        ids(loan),
        event_type,
        serde_json::json!({"from": loan.state().as_str(), "to": next.as_str()}),
    )?;
    record_event(
        conn,
        loan.ticket_id,
        actor,
        &format!("loan_{}", next.as_str()),
        None,
        None,
        note,
    )?;
    if let (Some(loaner), LoanState::Reserved) = (loan.loaner_id, loan.state()) {
        make_available(conn, loaner, false, now, hold)?;
    }
    Ok(())
}

/// The courier collected the customer's phone and handed over the loaner (mail-in): the loan is issued, due back
/// with the repaired phone's outbound delivery, and by the same default due time as a loan issued at the desk, so
/// that the overdue list shows it when the repair overruns (the desk may extend it).
pub fn issue_by_courier(conn: &mut Conn<'_>, loan: &LoanRow, now: Ts) -> AppResult<()> {
    let next = loan.state().issue()?;
    let loaner = loaner_of(loan, "reserved")?;
    set_loaner_state(conn, loaner, "reserved", "on_loan", now)?;
    let due = Ts(rules::default_due(now.0));
    repo::set_issued_by_courier(conn, loan.id, next, now, due)?;
    emit_loan(
        conn,
        ids(loan),
        EventType::LoanIssued,
        serde_json::json!({"issued_at": now.0, "due_at": due.0, "by_courier": true}),
    )
}

/// The outbound courier delivered the repaired phone and took the loaner back: it goes to inspection.
pub fn return_by_courier(conn: &mut Conn<'_>, loan: &LoanRow, now: Ts) -> AppResult<()> {
    let next = loan.state().give_back()?;
    let loaner = loaner_of(loan, "issued")?;
    set_loaner_state(conn, loaner, "on_loan", "inspection", now)?;
    repo::set_returned_by_courier(conn, loan.id, next, now)?;
    emit_loan(
        conn,
        ids(loan),
        EventType::LoanReturned,
        serde_json::json!({"returned_at": now.0, "by_courier": true}),
    )?;
    record_event(
        conn,
        loan.ticket_id,
        None,
        "loan_returned",
        None,
        None,
        Some("loaner back with the courier; to inspection"),
    )?;
    Ok(())
}

/// Gives a claimed loaner to a waiter; false (and the loaner back in the pool) when the waiter left the queue
/// meanwhile, e.g. its ticket was cancelled or another transaction served it first. A mail-in waiter whose inbound
/// leg has collected the phone or ended can never be handed a loaner: it leaves the queue instead of being given a
/// hold that nothing would end (the courier's events end such waits as they happen; this covers any that did not).
fn assign(conn: &mut Conn<'_>, store: Id, waiter: &Waiter, loaner: Id, now: Ts, hold: Duration) -> AppResult<bool> {
    if waiter.channel == "mail_in" && !repo::inbound_leg_pending(conn, waiter.ticket_id)? {
        repo::unclaim(conn, loaner)?;
        if repo::leave_queue(conn, waiter.id, now)? == 1 {
            emit_loan(
                conn,
                (waiter.id, waiter.ticket_id, store),
                EventType::LoanCancelled,
                serde_json::json!({"from": "waiting", "to": "cancelled"}),
            )?;
            record_event(
                conn,
                waiter.ticket_id,
                None,
                "loan_cancelled",
                None,
                None,
                Some("no inbound courier leg is left to carry a loaner"),
            )?;
        }
        return Ok(false);
    }
    let hold_until = rules::hold_until(&waiter.channel, now, hold);
    if repo::set_reserved(conn, waiter.id, loaner, now, hold_until)? != 1 {
        repo::unclaim(conn, loaner)?;
        return Ok(false);
    }
    let held = serde_json::json!({"reserved_at": now.0, "hold_until": hold_until.map(|t| t.0)});
    emit_loan(
        conn,
        (waiter.id, waiter.ticket_id, store),
        EventType::WaitlistServed,
        held.clone(),
    )?;
    emit_loan(
        conn,
        (waiter.id, waiter.ticket_id, store),
        EventType::LoanReserved,
        held,
    )?;
    record_event(
        conn,
        waiter.ticket_id,
        None,
        "loan_reserved",
        None,
        None,
        Some("loaner reserved"),
    )?;
    Ok(true)
}

/// Hands free loaners of a store and series to its waiters, first come first served, until one side runs out.
/// Called by the transactions that free loaners; returns how many waiters were served.
pub fn serve_waitlist(conn: &mut Conn<'_>, store: Id, series: Id, now: Ts, hold: Duration) -> AppResult<usize> {
    repo::lock_queue(conn, store, series, Server::Releaser)?;
    let mut served = 0;
    // Waiter first: a freed loaner usually finds nobody waiting, and that costs one look.
    while let Some(waiter) = repo::first_waiter(conn, store, series)? {
        let Some(loaner) = repo::claim_loaner(conn, store, series, now, Queue::Serving)? else {
            break;
        };
        if assign(conn, store, &waiter, loaner.id, now, hold)? {
            served += 1;
        }
    }
    Ok(served)
}

/// Serves the queue a ticket has just joined. Loaner first: a ticket joins the queue because none is free, so
/// this usually ends at the first look.
fn serve_on_joining(conn: &mut Conn<'_>, store: Id, series: Id, now: Ts, hold: Duration) -> AppResult<usize> {
    repo::lock_queue(conn, store, series, Server::Joiner)?;
    let mut served = 0;
    while let Some(loaner) = repo::claim_loaner(conn, store, series, now, Queue::Serving)? {
        let Some(waiter) = repo::first_waiter(conn, store, series)? else {
            repo::unclaim(conn, loaner.id)?;
            break;
        };
        if assign(conn, store, &waiter, loaner.id, now, hold)? {
            served += 1;
        }
    }
    Ok(served)
}

/// What opening a ticket did about its loaner.
pub enum Reservation {
    /// A loaner was claimed at once; `event` is the timeline entry that says so, not yet written.
    Claimed {
        loan: LoanRow,
        imei: String,
        event: tickets::TicketEventRow,
    },
    /// The ticket waits at `position` in its queue (1 is next).
    Waiting { loan: LoanRow, position: i64 },
    /// The ticket joined the queue and the queue was served meanwhile: read the loan again to see the outcome.
    QueueServed,
}

/// Gives a newly opened ticket the best free loaner of its series at its store, or a place on the waitlist.
/// With nobody waiting, the loaner is claimed at once (`SKIP LOCKED` lets concurrent openings take different
/// loaners); otherwise the ticket joins the queue and the queue is served in order.
pub fn reserve_for_ticket(
    conn: &mut Conn<'_>,
    ticket: Id,
    store: Id,
    series: Id,
    channel: &str,
    now: Ts,
    hold: Duration,
) -> AppResult<Reservation> {
    let claimed = repo::claim_loaner(conn, store, series, now, Queue::MustBeEmpty)?;
    let loaner = claimed.as_ref().map(|c| c.id);
    let held = rules::hold_until(channel, now, hold);
    let row = LoanRow::for_ticket(Id(uuid::Uuid::now_v7()), ticket, store, series, loaner, held, now);
    repo::insert(conn, &row)?;
    if claimed.is_some() {
        emit_loan(
            conn,
            ids(&row),
            EventType::LoanReserved,
            serde_json::json!({"reserved_at": now.0, "hold_until": held.map(|t| t.0)}),
        )?;
    }
    if let Some(claimed) = claimed {
        // Written by the caller with its own entries, in one statement.
        let event = tickets::TicketEventRow::new(ticket, None, "loan_reserved", None, None, Some("loaner reserved"));
        return Ok(Reservation::Claimed {
            loan: row,
            imei: claimed.imei,
            event,
        });
    }
    if serve_on_joining(conn, store, series, now, hold)? > 0 {
        return Ok(Reservation::QueueServed);
    }
    let position = repo::waitlist_position(conn, &row)?;
    Ok(Reservation::Waiting { loan: row, position })
}

/// Frees a loaner and serves the waitlist of its store and series. `used` restarts its idle time (after a loan
/// or maintenance); a reservation that was cancelled or expired left it unused, so it keeps its place.
pub fn make_available(conn: &mut Conn<'_>, loaner: Id, used: bool, now: Ts, hold: Duration) -> AppResult<()> {
    let (store, series) = repo::set_available(conn, loaner, used, now)?;
    serve_waitlist(conn, store, series, now, hold)?;
    Ok(())
}

/// What one round of the sweeper did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Reservations whose hold ran out, or that no inbound courier leg is left to carry.
    pub expired: usize,
    /// Waiters served from a free loaner that nobody had handed them.
    pub served: usize,
}

/// One round of the sweeper: expires the holds that ran out (and mail-in holds no courier is left to carry), then
/// serves every queue that has a waiter beside a free loaner of its series. The last part is a safety net: a
/// transaction that claims a loaner and then rolls back leaves the loaner free while a concurrent opening that
/// skipped it (PostgreSQL, `SKIP LOCKED`) has joined the queue; nothing else would serve that queue until another
/// loaner is freed there.
pub fn sweep(db: &Db, now: Ts, hold: Duration) -> AppResult<Sweep> {
    let expired = expire_due(db, now, hold)? + expire_orphaned_mail_in_holds(db, now, hold)?;
    let served = serve_stranded(db, now, hold)?;
    Ok(Sweep { expired, served })
}

/// Serves the queues that have a waiter and a free loaner of their series at their store. Safe with several
/// instances: each queue is served under its lock ([`serve_waitlist`]), which finds nothing left to do when another
/// instance served it first.
pub fn serve_stranded(db: &Db, now: Ts, hold: Duration) -> AppResult<usize> {
    let queues = db.read(repo::stranded_queues)?;
    let mut served = 0;
    for (store, series) in queues {
        served += db.write(|conn| serve_waitlist(conn, store, series, now, hold))?;
    }
    Ok(served)
}

/// Expires reservations whose hold ran out by `now` and gives their loaners to the next waiters. Safe to run on
/// several instances at once: each due loan is locked (PostgreSQL, skipping the ones another sweeper holds) or
/// the writers are serialised (SQLite), and each update is guarded by the loan's state.
pub fn expire_due(db: &Db, now: Ts, hold: Duration) -> AppResult<usize> {
    expire_each(db, repo::lock_due_holds, "hold time ran out", now, hold)
}

/// Expires mail-in reservations (held without a clock) that no inbound courier leg is left to carry: the courier's
/// events end them as they happen; this ends those that an event did not (rows from before that change, or a leg
/// ended by hand), so that no loaner stays held for the whole repair. Safe on several instances, as [`expire_due`].
pub fn expire_orphaned_mail_in_holds(db: &Db, now: Ts, hold: Duration) -> AppResult<usize> {
    expire_each(
        db,
        repo::lock_orphaned_mail_in_holds,
        "no inbound courier leg is left to carry the loaner",
        now,
        hold,
    )
}

/// Expires, 50 at a time, the reservations `find` locks (given `now`), each guarded by its state.
fn expire_each(
    db: &Db,
    find: fn(&mut Conn<'_>, Ts) -> AppResult<Vec<Due>>,
    note: &str,
    now: Ts,
    hold: Duration,
) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let expired = db.write(|conn| {
            let mut due = find(conn, now)?;
            // Each expiry frees a loaner and so takes its queue's lock (`lock_queue`): in (store, series) order,
            // the same in every sweeper, so that two sweepers never wait for each other's queues crosswise.
            due.sort_by_key(|d| (d.store_id.0, d.series_id.0, d.id.0));
            for loan in &due {
                let row = repo::get(conn, loan.id)?;
                let next = row.state().expire()?;
                repo::set_expired(conn, loan.id, next, now)?;
                record_event(conn, row.ticket_id, None, "loan_expired", None, None, Some(note))?;
                if let Some(loaner) = row.loaner_id {
                    make_available(conn, loaner, false, now, hold)?;
                }
            }
            Ok(due.len())
        })?;
        total += expired;
        if expired < 50 {
            return Ok(total);
        }
    }
}

/// What opening a ticket now would do about a loaner, as [`reserve_for_ticket`] decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outlook {
    /// Not a premium series: no loaner.
    NoLoaner,
    /// This loaner would be reserved.
    Loaner { imei: String, grade: String },
    /// The ticket would wait at this place (1 is served next): nobody is free, or others wait already (a new
    /// ticket never overtakes the queue).
    Waitlist { position: i64 },
}

/// The loaner outlook of an opening of `model` at `store`, read without taking anything: the desk shows it before
/// the ticket is opened. Another opening may take the loaner meanwhile; the opening's answer says what it got.
pub fn outlook_in(conn: &mut Conn<'_>, store: Id, model: Id) -> AppResult<Outlook> {
    let Some((series, true)) = repo::series_of_model(conn, model)? else {
        return Ok(Outlook::NoLoaner);
    };
    let waiting = repo::waiting_count(conn, store, series)?;
    if waiting == 0
        && let Some((imei, grade)) = repo::best_available(conn, store, series)?
    {
        return Ok(Outlook::Loaner { imei, grade });
    }
    Ok(Outlook::Waitlist { position: waiting + 1 })
}
