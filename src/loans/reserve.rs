//! Claiming loaners and serving the waitlist. PostgreSQL claims with `FOR UPDATE SKIP LOCKED` so concurrent
//! openings take different loaners instead of queueing on one row, and serialises each queue's serving with an
//! advisory lock; SQLite serialises writers, so the portable guarded claim is enough. The unique index on open
//! loans per loaner and the composite foreign key on the loaner's state stand behind both. The hot statements are
//! built with diesel's query builder, so each connection prepares them once and PostgreSQL keeps their plans.

use std::time::Duration;

use diesel::prelude::*;

use super::{LoanRow, LoanState};
use crate::db::schema::{loaners, loans, pickups, tickets as tickets_table};
use crate::db::types::{DbTime, DbUuid, Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::tickets;
use crate::with_conn;

#[derive(Queryable)]
struct Waiter {
    id: Id,
    ticket_id: Id,
    channel: String,
}

/// A loaner taken from the pool: its id and the IMEI the loan shows.
pub struct ClaimedLoaner {
    pub id: Id,
    pub imei: String,
}

/// Whether a claim may take a loaner while tickets wait for one: only the queue's own serving may.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Claim only if nobody waits (a new ticket must not overtake the queue).
    MustBeEmpty,
    /// Claim for the queue's first waiter.
    Serving,
}

/// Takes the best available loaner of a series at a store (best grade, then idle longest) and marks it
/// reserved; `None` when none is free (or, with [`Queue::MustBeEmpty`], when someone waits). The look-up is a
/// prepared statement that keeps its plan (the queue check rides along in it); PostgreSQL locks the row it picks
/// and skips rows other claims hold, so concurrent openings take different loaners instead of queueing on one.
pub fn claim_loaner(
    conn: &mut Conn<'_>,
    store: Id,
    series: Id,
    now: Ts,
    queue: Queue,
) -> AppResult<Option<ClaimedLoaner>> {
    use diesel::dsl::{exists, not};
    let free = loaners::table
        .filter(loaners::store_id.eq(store))
        .filter(loaners::series_id.eq(series))
        .filter(loaners::state.eq("available"))
        .order((loaners::grade, loaners::idle_since, loaners::id))
        .select((loaners::id, loaners::imei));
    let queued = exists(
        loans::table
            .filter(loans::store_id.eq(store))
            .filter(loans::series_id.eq(series))
            .filter(loans::state.eq(LoanState::Waiting.as_str())),
    );
    let found: Option<(Id, String)> = match (&mut *conn, queue) {
        (Conn::Pg(c), Queue::MustBeEmpty) => free
            .filter(not(queued))
            .for_update()
            .skip_locked()
            .first(*c)
            .optional()?,
        (Conn::Pg(c), Queue::Serving) => free.for_update().skip_locked().first(*c).optional()?,
        // SQLite has one writer at a time: nothing else can take the row between the look-up and the update.
        (Conn::Sqlite(c), Queue::MustBeEmpty) => free.filter(not(queued)).first(*c).optional()?,
        (Conn::Sqlite(c), Queue::Serving) => free.first(*c).optional()?,
    };
    let Some((id, imei)) = found else {
        return Ok(None);
    };
    let updated = with_conn!(conn, c => diesel::update(loaners::table.find(id))
        .filter(loaners::state.eq("available"))
        .set((loaners::state.eq("reserved"), loaners::updated_at.eq(now)))
        .execute(c))?;
    if updated != 1 {
        return Err(AppError::Unavailable(
            "a loaner changed while it was being reserved; retry".into(),
        ));
    }
    Ok(Some(ClaimedLoaner { id, imei }))
}

/// The first waiter of a store and series. Callers hold the queue's lock (see [`lock_queue`]).
fn first_waiter(conn: &mut Conn<'_>, store: Id, series: Id) -> AppResult<Option<Waiter>> {
    Ok(with_conn!(conn, c => loans::table
        .inner_join(tickets_table::table)
        .filter(loans::store_id.eq(store))
        .filter(loans::series_id.eq(series))
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .order((loans::queued_at, loans::id))
        .select((loans::id, loans::ticket_id, tickets_table::channel))
        .first::<Waiter>(c)
        .optional())?)
}

/// Who serves a waitlist: a transaction that freed a loaner, or one that just put a ticket in the queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    Releaser,
    Joiner,
}

/// Serialises the serving of one waitlist (store and series) against the transactions that free its loaners,
/// until the transaction ends. Without it two transactions could each miss what the other has not committed yet:
/// one frees a loaner and sees no waiter while the other adds a waiter and sees no free loaner, leaving both idle.
/// PostgreSQL takes a transaction-scoped advisory lock keyed by the queue ([`QUEUE_LOCK_KEY`]): exclusive for a
/// transaction that frees a loaner, shared for one that joins the queue, so that tickets joining at once do not
/// wait for each other (they cannot strand a loaner between them, and two serving at once are kept apart by the row
/// locks on the waiters). SQLite has one writer at a time already.
fn lock_queue(conn: &mut Conn<'_>, store: Id, series: Id, server: Server) -> AppResult<()> {
    if let Conn::Pg(c) = conn {
        let function = match server {
            Server::Releaser => "pg_advisory_xact_lock",
            Server::Joiner => "pg_advisory_xact_lock_shared",
        };
        let key = QUEUE_LOCK_KEY.replace("{store}", "$1").replace("{series}", "$2");
        diesel::sql_query(format!("SELECT {function}({key})"))
            .bind::<DbUuid, _>(store)
            .bind::<DbUuid, _>(series)
            .execute(*c)?;
    }
    Ok(())
}

/// The advisory-lock key of a waitlist (PostgreSQL), with `{store}` and `{series}` standing for uuid expressions.
/// PostgreSQL computes it, so that a statement that finds the series itself (the opening looks it up from the
/// model) can take the queue's lock in the same round trip; every lock on a queue must use this expression.
pub const QUEUE_LOCK_KEY: &str = "hashtextextended(CAST({store} AS text) || ':' || CAST({series} AS text), 0)";

/// Whether a mail-in ticket's loaner can still travel: only with an inbound courier leg that has not collected the
/// phone yet (requested or assigned).
fn inbound_leg_pending(conn: &mut Conn<'_>, ticket: Id) -> AppResult<bool> {
    use diesel::dsl::{exists, select};
    Ok(with_conn!(conn, c => select(exists(pickups::table
        .filter(pickups::ticket_id.eq(ticket))
        .filter(pickups::direction.eq("inbound"))
        .filter(pickups::status.eq_any(["requested", "assigned"]))))
        .get_result::<bool>(c))?)
}

/// Gives a claimed loaner to a waiter; false (and the loaner back in the pool) when the waiter left the queue
/// meanwhile, e.g. its ticket was cancelled or another transaction served it first. A mail-in waiter whose inbound
/// leg has collected the phone or ended can never be handed a loaner: it leaves the queue instead of being given a
/// hold that nothing would end (the courier's events end such waits as they happen; this covers any that did not).
fn assign(conn: &mut Conn<'_>, waiter: &Waiter, loaner: Id, now: Ts, hold: Duration) -> AppResult<bool> {
    if waiter.channel == "mail_in" && !inbound_leg_pending(conn, waiter.ticket_id)? {
        unclaim(conn, loaner)?;
        let left = with_conn!(conn, c => diesel::update(loans::table.find(waiter.id))
            .filter(loans::state.eq(LoanState::Waiting.as_str()))
            .set((loans::state.eq(LoanState::Cancelled.as_str()), loans::updated_at.eq(now)))
            .execute(c))?;
        if left == 1 {
            tickets::record_event(
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
    let updated = with_conn!(conn, c => diesel::update(loans::table.find(waiter.id))
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .set((
            loans::state.eq(LoanState::Reserved.as_str()),
            loans::loaner_id.eq(loaner),
            loans::loaner_hold.eq(LoanState::Reserved.loaner_hold()),
            loans::reserved_at.eq(now),
            loans::hold_until.eq(hold_until(&waiter.channel, now, hold)),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    if updated != 1 {
        unclaim(conn, loaner)?;
        return Ok(false);
    }
    tickets::record_event(
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

/// Puts a claimed loaner back in the pool when nobody is left to take it; it keeps its idle time.
fn unclaim(conn: &mut Conn<'_>, loaner: Id) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
        .set(loaners::state.eq("available")).execute(c))?;
    Ok(())
}

/// Hands free loaners of a store and series to its waiters, first come first served, until one side runs out.
/// Called by the transactions that free loaners; returns how many waiters were served.
pub fn serve_waitlist(conn: &mut Conn<'_>, store: Id, series: Id, now: Ts, hold: Duration) -> AppResult<usize> {
    lock_queue(conn, store, series, Server::Releaser)?;
    let mut served = 0;
    // Waiter first: a freed loaner usually finds nobody waiting, and that costs one look.
    while let Some(waiter) = first_waiter(conn, store, series)? {
        let Some(loaner) = claim_loaner(conn, store, series, now, Queue::Serving)? else {
            break;
        };
        if assign(conn, &waiter, loaner.id, now, hold)? {
            served += 1;
        }
    }
    Ok(served)
}

/// Serves the queue a ticket has just joined. Loaner first: a ticket joins the queue because none is free, so
/// this usually ends at the first look.
fn serve_on_joining(conn: &mut Conn<'_>, store: Id, series: Id, now: Ts, hold: Duration) -> AppResult<usize> {
    lock_queue(conn, store, series, Server::Joiner)?;
    let mut served = 0;
    while let Some(loaner) = claim_loaner(conn, store, series, now, Queue::Serving)? {
        let Some(waiter) = first_waiter(conn, store, series)? else {
            unclaim(conn, loaner.id)?;
            break;
        };
        if assign(conn, &waiter, loaner.id, now, hold)? {
            served += 1;
        }
    }
    Ok(served)
}

/// A mail-in customer's loaner travels with the inbound courier: it is held until that pickup ends, not by the clock.
fn hold_until(channel: &str, now: Ts, hold: Duration) -> Option<Ts> {
    (channel != "mail_in").then(|| Ts(now.0 + chrono::Duration::from_std(hold).unwrap_or_default()))
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
    let claimed = claim_loaner(conn, store, series, now, Queue::MustBeEmpty)?;
    let state = if claimed.is_some() {
        LoanState::Reserved
    } else {
        LoanState::Waiting
    };
    let loaner_id = claimed.as_ref().map(|c| c.id);
    let row = LoanRow {
        id: Id(uuid::Uuid::now_v7()),
        ticket_id: ticket,
        loaner_id,
        store_id: store,
        series_id: series,
        state: state.as_str().to_owned(),
        queued_at: now,
        reserved_at: loaner_id.map(|_| now),
        hold_until: loaner_id.and_then(|_| hold_until(channel, now, hold)),
        issued_at: None,
        due_at: None,
        returned_at: None,
        issued_by: None,
        returned_by: None,
        deposit_minor: None,
        return_condition: None,
        missing_accessories: None,
        damage_charge_minor: None,
        loaner_hold: state.loaner_hold().map(str::to_owned),
        created_at: now,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(loans::table).values(&row).execute(c))?;
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
    let position = super::waitlist_position(conn, &row)?;
    Ok(Reservation::Waiting { loan: row, position })
}

/// Frees a loaner and serves the waitlist of its store and series. `used` restarts its idle time (after a loan
/// or maintenance); a reservation that was cancelled or expired left it unused, so it keeps its place.
pub fn make_available(conn: &mut Conn<'_>, loaner: Id, used: bool, now: Ts, hold: Duration) -> AppResult<()> {
    let (store, series): (Id, Id) = if used {
        with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
            .set((loaners::state.eq("available"), loaners::idle_since.eq(now), loaners::updated_at.eq(now)))
            .returning((loaners::store_id, loaners::series_id))
            .get_result(c))?
    } else {
        with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
            .set((loaners::state.eq("available"), loaners::updated_at.eq(now)))
            .returning((loaners::store_id, loaners::series_id))
            .get_result(c))?
    };
    serve_waitlist(conn, store, series, now, hold)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = DbUuid)]
    id: Id,
    #[diesel(sql_type = DbUuid)]
    store_id: Id,
    #[diesel(sql_type = DbUuid)]
    series_id: Id,
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
    use diesel::dsl::exists;
    let free = loaners::table
        .filter(loaners::store_id.eq(loans::store_id))
        .filter(loaners::series_id.eq(loans::series_id))
        .filter(loaners::state.eq("available"));
    let queues: Vec<(Id, Id)> = db.read(|conn| {
        Ok(with_conn!(conn, c => loans::table
            .filter(loans::state.eq(LoanState::Waiting.as_str()))
            .filter(exists(free))
            .select((loans::store_id, loans::series_id))
            .distinct()
            .load(c))?)
    })?;
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
    const DUE: &str = "SELECT id, store_id, series_id FROM loans WHERE state = 'reserved' AND hold_until IS NOT NULL \
        AND hold_until < $1 ORDER BY hold_until LIMIT 50";
    expire_each(db, DUE, "hold time ran out", now, hold)
}

/// Expires mail-in reservations (held without a clock) that no inbound courier leg is left to carry: the courier's
/// events end them as they happen; this ends those that an event did not (rows from before that change, or a leg
/// ended by hand), so that no loaner stays held for the whole repair. Safe on several instances, as [`expire_due`].
pub fn expire_orphaned_mail_in_holds(db: &Db, now: Ts, hold: Duration) -> AppResult<usize> {
    const ORPHANED: &str = "SELECT id, store_id, series_id FROM loans WHERE state = 'reserved' AND hold_until IS NULL \
        AND reserved_at <= $1 AND NOT EXISTS (SELECT 1 FROM pickups WHERE pickups.ticket_id = loans.ticket_id \
        AND pickups.direction = 'inbound' AND pickups.status IN ('requested', 'assigned')) ORDER BY id LIMIT 50";
    expire_each(
        db,
        ORPHANED,
        "no inbound courier leg is left to carry the loaner",
        now,
        hold,
    )
}

/// Expires, 50 at a time, the reservations `select` finds (its one parameter is `now`), each locked and guarded.
fn expire_each(db: &Db, select: &str, note: &str, now: Ts, hold: Duration) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let expired = db.write(|conn| {
            let mut due: Vec<Due> = match conn {
                Conn::Pg(c) => diesel::sql_query(format!("{select} FOR UPDATE SKIP LOCKED"))
                    .bind::<DbTime, _>(now)
                    .load(*c)?,
                Conn::Sqlite(c) => diesel::sql_query(select.replace("$1", "?")).bind::<DbTime, _>(now).load(*c)?,
            };
            // Each expiry frees a loaner and so takes its queue's lock (`lock_queue`): in (store, series) order,
            // the same in every sweeper, so that two sweepers never wait for each other's queues crosswise.
            due.sort_by_key(|d| (d.store_id.0, d.series_id.0, d.id.0));
            for loan in &due {
                let row: LoanRow = with_conn!(conn, c => loans::table.find(loan.id).select(LoanRow::as_select()).first(c))?;
                let next = row.state().expire()?;
                with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
                    .set((loans::state.eq(next.as_str()), loans::loaner_hold.eq(None::<String>), loans::updated_at.eq(now)))
                    .execute(c))?;
                tickets::record_event(conn, row.ticket_id, None, "loan_expired", None, None, Some(note))?;
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
