//! The loans' queries: reading and moving loans, claiming loaners, the waitlist and its lock, the sweeper's
//! look-ups. PostgreSQL claims with `FOR UPDATE SKIP LOCKED` so concurrent openings take different loaners instead
//! of queueing on one row, and serialises each queue's serving with an advisory lock; SQLite serialises writers, so
//! the portable guarded claim is enough. The unique index on open loans per loaner and the composite foreign key on
//! the loaner's state stand behind both. The hot statements are built with diesel's query builder, so each
//! connection prepares them once and PostgreSQL keeps their plans. The engine differences live here and nowhere
//! else in the area.

use diesel::prelude::*;

use super::model::{LoanRow, LoanState};
use crate::auth::{Principal, Role};
use crate::db::Conn;
use crate::db::schema::{loaners, loans, pickups, product_series, tickets as tickets_table};
use crate::db::types::{DbTime, DbUuid, Id, Ts};
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;
use crate::with_conn;

/// A loan by id, whoever's it is.
pub fn find(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<LoanRow>> {
    Ok(with_conn!(conn, c => loans::table.find(id).select(LoanRow::as_select()).first(c).optional())?)
}

/// A loan that exists (read again after a change).
pub fn get(conn: &mut Conn<'_>, id: Id) -> AppResult<LoanRow> {
    Ok(with_conn!(conn, c => loans::table.find(id).select(LoanRow::as_select()).first(c))?)
}

/// Writes a new loan.
pub fn insert(conn: &mut Conn<'_>, row: &LoanRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(loans::table).values(row).execute(c))?;
    Ok(())
}

/// Closes a loan into `next` if it is still in the state it was read in; how many rows changed (0 or 1).
pub fn close(conn: &mut Conn<'_>, loan: &LoanRow, next: LoanState, now: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .filter(loans::state.eq(&loan.state))
        .set((loans::state.eq(next.as_str()), loans::loaner_hold.eq(None::<String>), loans::updated_at.eq(now)))
        .execute(c))?)
}

/// Expires a loan (its caller holds the loan's lock).
pub fn set_expired(conn: &mut Conn<'_>, id: Id, next: LoanState, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loans::table.find(id))
        .set((loans::state.eq(next.as_str()), loans::loaner_hold.eq(None::<String>), loans::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Moves a loaner from one state to another if it is still in the first; how many rows changed (0 or 1).
pub fn set_loaner_state(conn: &mut Conn<'_>, loaner: Id, from: &str, to: &str, now: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
        .filter(loaners::state.eq(from))
        .set((loaners::state.eq(to), loaners::updated_at.eq(now)))
        .execute(c))?)
}

/// The loaner deposit of a series, if it has one.
pub fn series_deposit(conn: &mut Conn<'_>, series: Id) -> AppResult<Option<i64>> {
    Ok(with_conn!(conn, c => product_series::table.find(series)
        .select(product_series::loaner_deposit_minor).first::<Option<i64>>(c))?)
}

/// What the desk records when it hands a loaner over.
pub struct Issue {
    pub by: Id,
    pub due: Ts,
    pub deposit_minor: Option<i64>,
}

/// Marks a loan issued at the desk.
pub fn set_issued(conn: &mut Conn<'_>, id: Id, next: LoanState, now: Ts, issue: &Issue) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loans::table.find(id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(next.loaner_hold()),
            loans::issued_at.eq(now),
            loans::issued_by.eq(issue.by),
            loans::due_at.eq(issue.due),
            loans::deposit_minor.eq(issue.deposit_minor),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Marks a loan issued by the courier (no desk, no deposit).
pub fn set_issued_by_courier(conn: &mut Conn<'_>, id: Id, next: LoanState, now: Ts, due: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loans::table.find(id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(next.loaner_hold()),
            loans::issued_at.eq(now),
            loans::due_at.eq(due),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// What the desk records when it takes a loaner back.
pub struct Return {
    pub by: Id,
    pub condition: Option<String>,
    pub missing_accessories: Option<String>,
    pub damage_charge_minor: Option<i64>,
}

/// Marks a loan returned at the desk.
pub fn set_returned(conn: &mut Conn<'_>, id: Id, next: LoanState, now: Ts, back: &Return) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loans::table.find(id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(None::<String>),
            loans::returned_at.eq(now),
            loans::returned_by.eq(back.by),
            loans::return_condition.eq(&back.condition),
            loans::missing_accessories.eq(&back.missing_accessories),
            loans::damage_charge_minor.eq(back.damage_charge_minor),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Marks a loan returned by the courier.
pub fn set_returned_by_courier(conn: &mut Conn<'_>, id: Id, next: LoanState, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loans::table.find(id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(None::<String>),
            loans::returned_at.eq(now),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Marks a loan lost, with the charge.
pub fn set_lost(conn: &mut Conn<'_>, id: Id, next: LoanState, charge_minor: Option<i64>, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loans::table.find(id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(None::<String>),
            loans::damage_charge_minor.eq(charge_minor),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Moves an issued loan's due time.
pub fn set_due(conn: &mut Conn<'_>, id: Id, due: Ts, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loans::table.find(id))
        .set((loans::due_at.eq(due), loans::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Which loans a list shows, besides the caller's scope.
pub struct LoanFilter {
    pub store_id: Option<Id>,
    pub state: Option<LoanState>,
    /// Only issued loans past their due time.
    pub overdue: bool,
}

/// One page of the loans of the caller's stores, in id order.
pub fn list(
    conn: &mut Conn<'_>,
    principal: &Principal,
    filter: &LoanFilter,
    page: &PageRequest,
    now: Ts,
) -> AppResult<Vec<LoanRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = loans::table.select(LoanRow::as_select()).order(loans::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(loans::id.gt(Id(after)));
        }
        if let Some(store) = filter.store_id {
            q = q.filter(loans::store_id.eq(store));
        }
        if principal.role != Role::Admin {
            let scope: Vec<Id> = principal.store_ids.iter().copied().map(Id).collect();
            // One store (most keys) as `=`: the generic plan then reads the store's loans in id order.
            q = match scope.as_slice() {
                [one] => q.filter(loans::store_id.eq(*one)),
                _ => q.filter(loans::store_id.eq_any(scope)),
            };
        }
        if let Some(state) = filter.state {
            q = q.filter(loans::state.eq(state.as_str()));
        }
        if filter.overdue {
            q = q.filter(loans::state.eq("issued")).filter(loans::due_at.lt(now));
        }
        q.load(c)
    })?)
}

/// The place of a waiting loan in its queue (1 is served next): one count over the queue's index.
pub fn waitlist_position(conn: &mut Conn<'_>, row: &LoanRow) -> AppResult<i64> {
    let ahead: i64 = with_conn!(conn, c => loans::table
        .filter(loans::store_id.eq(row.store_id))
        .filter(loans::series_id.eq(row.series_id))
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .filter(loans::queued_at.lt(row.queued_at).or(loans::queued_at.eq(row.queued_at).and(loans::id.lt(row.id))))
        .count()
        .get_result(c))?;
    Ok(ahead + 1)
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

/// Puts a claimed loaner back in the pool when nobody is left to take it; it keeps its idle time.
pub fn unclaim(conn: &mut Conn<'_>, loaner: Id) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
        .set(loaners::state.eq("available")).execute(c))?;
    Ok(())
}

/// Makes a loaner available and answers its store and series. `used` restarts its idle time.
pub fn set_available(conn: &mut Conn<'_>, loaner: Id, used: bool, now: Ts) -> AppResult<(Id, Id)> {
    Ok(if used {
        with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
            .set((loaners::state.eq("available"), loaners::idle_since.eq(now), loaners::updated_at.eq(now)))
            .returning((loaners::store_id, loaners::series_id))
            .get_result(c))?
    } else {
        with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
            .set((loaners::state.eq("available"), loaners::updated_at.eq(now)))
            .returning((loaners::store_id, loaners::series_id))
            .get_result(c))?
    })
}

/// A ticket waiting for a loaner.
#[derive(Queryable)]
pub struct Waiter {
    pub id: Id,
    pub ticket_id: Id,
    pub channel: String,
}

/// The first waiter of a store and series. Callers hold the queue's lock (see [`lock_queue`]).
pub fn first_waiter(conn: &mut Conn<'_>, store: Id, series: Id) -> AppResult<Option<Waiter>> {
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

/// Gives a loaner to a waiting loan if it still waits; how many rows changed (0 or 1).
pub fn set_reserved(conn: &mut Conn<'_>, loan: Id, loaner: Id, now: Ts, hold_until: Option<Ts>) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(loans::table.find(loan))
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .set((
            loans::state.eq(LoanState::Reserved.as_str()),
            loans::loaner_id.eq(loaner),
            loans::loaner_hold.eq(LoanState::Reserved.loaner_hold()),
            loans::reserved_at.eq(now),
            loans::hold_until.eq(hold_until),
            loans::updated_at.eq(now),
        ))
        .execute(c))?)
}

/// Takes a waiting loan off the queue (cancelled) if it still waits; how many rows changed (0 or 1).
pub fn leave_queue(conn: &mut Conn<'_>, loan: Id, now: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(loans::table.find(loan))
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .set((loans::state.eq(LoanState::Cancelled.as_str()), loans::updated_at.eq(now)))
        .execute(c))?)
}

/// Who serves a waitlist: a transaction that freed a loaner, or one that just put a ticket in the queue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Server {
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
pub fn lock_queue(conn: &mut Conn<'_>, store: Id, series: Id, server: Server) -> AppResult<()> {
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
pub fn inbound_leg_pending(conn: &mut Conn<'_>, ticket: Id) -> AppResult<bool> {
    use diesel::dsl::{exists, select};
    Ok(with_conn!(conn, c => select(exists(pickups::table
        .filter(pickups::ticket_id.eq(ticket))
        .filter(pickups::direction.eq("inbound"))
        .filter(pickups::status.eq_any(["requested", "assigned"]))))
        .get_result::<bool>(c))?)
}

/// The queues (store, series) that have a waiter and a free loaner of their series at their store.
pub fn stranded_queues(conn: &mut Conn<'_>) -> AppResult<Vec<(Id, Id)>> {
    use diesel::dsl::exists;
    let free = loaners::table
        .filter(loaners::store_id.eq(loans::store_id))
        .filter(loaners::series_id.eq(loans::series_id))
        .filter(loaners::state.eq("available"));
    Ok(with_conn!(conn, c => loans::table
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .filter(exists(free))
        .select((loans::store_id, loans::series_id))
        .distinct()
        .load(c))?)
}

/// A reservation the sweeper is to expire.
#[derive(QueryableByName)]
pub struct Due {
    #[diesel(sql_type = DbUuid)]
    pub id: Id,
    #[diesel(sql_type = DbUuid)]
    pub store_id: Id,
    #[diesel(sql_type = DbUuid)]
    pub series_id: Id,
}

/// Up to 50 reservations whose hold ran out by `now`, locked (see [`lock_due`]).
pub fn lock_due_holds(conn: &mut Conn<'_>, now: Ts) -> AppResult<Vec<Due>> {
    const DUE: &str = "SELECT id, store_id, series_id FROM loans WHERE state = 'reserved' AND hold_until IS NOT NULL \
        AND hold_until < $1 ORDER BY hold_until LIMIT 50";
    lock_due(conn, DUE, now)
}

/// Up to 50 mail-in reservations (held without a clock, reserved by `now`) that no inbound courier leg is left to
/// carry, locked (see [`lock_due`]).
pub fn lock_orphaned_mail_in_holds(conn: &mut Conn<'_>, now: Ts) -> AppResult<Vec<Due>> {
    const ORPHANED: &str = "SELECT id, store_id, series_id FROM loans WHERE state = 'reserved' AND hold_until IS NULL \
        AND reserved_at <= $1 AND NOT EXISTS (SELECT 1 FROM pickups WHERE pickups.ticket_id = loans.ticket_id \
        AND pickups.direction = 'inbound' AND pickups.status IN ('requested', 'assigned')) ORDER BY id LIMIT 50";
    lock_due(conn, ORPHANED, now)
}

/// Runs a sweeper's look-up (its one parameter is `now`): PostgreSQL locks each row it finds, skipping the ones
/// another sweeper holds; SQLite serialises the writers.
fn lock_due(conn: &mut Conn<'_>, select: &str, now: Ts) -> AppResult<Vec<Due>> {
    Ok(match conn {
        Conn::Pg(c) => diesel::sql_query(format!("{select} FOR UPDATE SKIP LOCKED"))
            .bind::<DbTime, _>(now)
            .load(*c)?,
        Conn::Sqlite(c) => diesel::sql_query(select.replace("$1", "?"))
            .bind::<DbTime, _>(now)
            .load(*c)?,
    })
}

/// A loan as the desk's lists and a device's history show it: with its ticket's number and customer, its series'
/// name and its loaner's IMEI, read in one statement.
#[derive(Debug, Clone, Queryable)]
pub struct DeskLoan {
    pub id: Id,
    pub ticket_id: Id,
    pub store_id: Id,
    pub series_id: Id,
    pub state: String,
    pub queued_at: Ts,
    pub due_at: Option<Ts>,
    pub number: String,
    pub customer_name: String,
    pub series_name: String,
    pub loaner_imei: Option<String>,
}

/// Which loans [`desk_loans`] reads.
pub enum DeskLoans<'a> {
    /// Issued loans past their due time at this moment, the longest overdue first.
    Overdue(Ts),
    /// Waiting loans, queue by queue (series name, store, series), each queue in its serving order.
    Waiting,
    /// The loans of these tickets, newest first.
    OfTickets(&'a [Id]),
}

/// Up to `limit` loans of the stores in `scope` (every store when `None`), as [`DeskLoans`] chooses: one
/// statement, joined with their tickets, series and loaners.
pub fn desk_loans(
    conn: &mut Conn<'_>,
    scope: Option<&[Id]>,
    which: DeskLoans<'_>,
    limit: i64,
) -> AppResult<Vec<DeskLoan>> {
    Ok(with_conn!(conn, c => {
        let mut q = loans::table
            .inner_join(tickets_table::table)
            .inner_join(product_series::table)
            .left_join(loaners::table)
            .select((
                loans::id,
                loans::ticket_id,
                loans::store_id,
                loans::series_id,
                loans::state,
                loans::queued_at,
                loans::due_at,
                tickets_table::number,
                tickets_table::customer_name,
                product_series::name,
                loaners::imei.nullable(),
            ))
            .limit(limit)
            .into_boxed();
        if let Some(scope) = scope {
            q = q.filter(loans::store_id.eq_any(scope.to_vec()));
        }
        q = match which {
            DeskLoans::Overdue(now) => q
                .filter(loans::state.eq(LoanState::Issued.as_str()))
                .filter(loans::due_at.lt(now))
                .order((loans::due_at, loans::id)),
            DeskLoans::Waiting => q.filter(loans::state.eq(LoanState::Waiting.as_str())).order((
                product_series::name,
                loans::store_id,
                loans::series_id,
                loans::queued_at,
                loans::id,
            )),
            DeskLoans::OfTickets(tickets) => q
                .filter(loans::ticket_id.eq_any(tickets.to_vec()))
                .order((loans::queued_at.desc(), loans::id.desc())),
        };
        q.load::<DeskLoan>(c)
    })?)
}

/// A model's series and whether it is premium (gets a loaner), for the desk's preview of an opening.
pub fn series_of_model(conn: &mut Conn<'_>, model: Id) -> AppResult<Option<(Id, bool)>> {
    use crate::db::schema::product_models;
    Ok(with_conn!(conn, c => product_models::table
        .inner_join(product_series::table)
        .filter(product_models::id.eq(model))
        .select((product_series::id, product_series::premium))
        .first(c)
        .optional())?)
}

/// The loaner [`claim_loaner`] would take now (best grade, then idle longest), read without claiming it: its IMEI
/// and grade.
pub fn best_available(conn: &mut Conn<'_>, store: Id, series: Id) -> AppResult<Option<(String, String)>> {
    Ok(with_conn!(conn, c => loaners::table
        .filter(loaners::store_id.eq(store))
        .filter(loaners::series_id.eq(series))
        .filter(loaners::state.eq("available"))
        .order((loaners::grade, loaners::idle_since, loaners::id))
        .select((loaners::imei, loaners::grade))
        .first(c)
        .optional())?)
}

/// How many tickets wait for a loaner of a series at a store.
pub fn waiting_count(conn: &mut Conn<'_>, store: Id, series: Id) -> AppResult<i64> {
    Ok(with_conn!(conn, c => loans::table
        .filter(loans::store_id.eq(store))
        .filter(loans::series_id.eq(series))
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .count()
        .get_result(c))?)
}
