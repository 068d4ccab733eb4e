//! Claiming loaners and serving the waitlist. The only engine-specific statements of the service live here:
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED` so concurrent openings take different loaners instead of
//! queueing on one row; SQLite serialises writers, so the portable guarded claim is enough. The unique index on
//! open loans per loaner and the composite foreign key on the loaner's state stand behind both.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{LoanRow, LoanState};
use crate::db::schema::{loaners, loans};
use crate::db::types::{DbTime, DbUuid, Id, Ts};
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::tickets;
use crate::with_conn;

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = DbUuid)]
    id: Id,
}

#[derive(QueryableByName)]
struct Waiter {
    #[diesel(sql_type = DbUuid)]
    id: Id,
    #[diesel(sql_type = DbUuid)]
    ticket_id: Id,
    #[diesel(sql_type = Text)]
    channel: String,
}

/// Takes the best available loaner of a series at a store (best grade, then idle longest) and marks it
/// reserved; `None` when none is free.
pub fn claim_loaner(conn: &mut Conn<'_>, store: Id, series: Id, now: Ts) -> AppResult<Option<Id>> {
    let claimed = match conn {
        Conn::Pg(c) => diesel::sql_query(
            "UPDATE loaners SET state = 'reserved', updated_at = $3 WHERE id = (\
               SELECT id FROM loaners WHERE store_id = $1 AND series_id = $2 AND state = 'available' \
               ORDER BY grade, idle_since, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
        )
        .bind::<DbUuid, _>(store)
        .bind::<DbUuid, _>(series)
        .bind::<DbTime, _>(now)
        .get_result::<Claimed>(*c)
        .optional()?,
        Conn::Sqlite(c) => diesel::sql_query(
            "UPDATE loaners SET state = 'reserved', updated_at = ? WHERE id = (\
               SELECT id FROM loaners WHERE store_id = ? AND series_id = ? AND state = 'available' \
               ORDER BY grade, idle_since, id LIMIT 1) AND state = 'available' \
             RETURNING id",
        )
        .bind::<DbTime, _>(now)
        .bind::<DbUuid, _>(store)
        .bind::<DbUuid, _>(series)
        .get_result::<Claimed>(*c)
        .optional()?,
    };
    Ok(claimed.map(|c| c.id))
}

/// The first waiter of a store and series. Callers hold the queue's lock (see [`lock_queue`]).
fn first_waiter(conn: &mut Conn<'_>, store: Id, series: Id) -> AppResult<Option<Waiter>> {
    const SELECT: &str = "SELECT l.id AS id, l.ticket_id AS ticket_id, t.channel AS channel \
        FROM loans l JOIN tickets t ON t.id = l.ticket_id \
        WHERE l.store_id = $1 AND l.series_id = $2 AND l.state = 'waiting' ORDER BY l.queued_at, l.id LIMIT 1";
    Ok(match conn {
        Conn::Pg(c) => diesel::sql_query(SELECT)
            .bind::<DbUuid, _>(store)
            .bind::<DbUuid, _>(series)
            .get_result::<Waiter>(*c)
            .optional()?,
        Conn::Sqlite(c) => diesel::sql_query(SELECT.replace("$1", "?").replace("$2", "?"))
            .bind::<DbUuid, _>(store)
            .bind::<DbUuid, _>(series)
            .get_result::<Waiter>(*c)
            .optional()?,
    })
}

/// Serialises the serving of one waitlist (store and series) until the transaction ends. Without it two
/// transactions could each miss what the other has not committed yet: one frees a loaner and sees no waiter
/// while the other adds a waiter and sees no free loaner, leaving both idle. SQLite has one writer at a time
/// already; PostgreSQL takes a transaction-scoped advisory lock keyed by the queue.
fn lock_queue(conn: &mut Conn<'_>, store: Id, series: Id) -> AppResult<()> {
    if let Conn::Pg(c) = conn {
        let mut key: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in store.0.as_bytes().iter().chain(series.0.as_bytes()) {
            key = (key ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(key as i64)
            .execute(*c)?;
    }
    Ok(())
}

/// Hands free loaners of a store and series to its waiters, first come first served, until one side runs out.
/// Returns how many waiters were served.
pub fn serve_waitlist(conn: &mut Conn<'_>, store: Id, series: Id, now: Ts, hold: Duration) -> AppResult<usize> {
    lock_queue(conn, store, series)?;
    let mut served = 0;
    while let Some(waiter) = first_waiter(conn, store, series)? {
        let Some(loaner) = claim_loaner(conn, store, series, now)? else {
            break;
        };
        // A mail-in customer's loaner travels with the inbound courier: it is held until that pickup ends.
        let hold_until =
            (waiter.channel != "mail_in").then(|| Ts(now.0 + chrono::Duration::from_std(hold).unwrap_or_default()));
        let updated = with_conn!(conn, c => diesel::update(loans::table.find(waiter.id))
            .filter(loans::state.eq(LoanState::Waiting.as_str()))
            .set((
                loans::state.eq(LoanState::Reserved.as_str()),
                loans::loaner_id.eq(loaner),
                loans::loaner_hold.eq(LoanState::Reserved.loaner_hold()),
                loans::reserved_at.eq(now),
                loans::hold_until.eq(hold_until),
                loans::updated_at.eq(now),
            ))
            .execute(c))?;
        if updated != 1 {
            // The waiter left the queue meanwhile (its ticket was cancelled): put the loaner back and look again.
            with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
                .set(loaners::state.eq("available")).execute(c))?;
            continue;
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
        served += 1;
    }
    Ok(served)
}

/// A mail-in customer's loaner travels with the inbound courier: it is held until that pickup ends, not by the clock.
fn hold_until(channel: &str, now: Ts, hold: Duration) -> Option<Ts> {
    (channel != "mail_in").then(|| Ts(now.0 + chrono::Duration::from_std(hold).unwrap_or_default()))
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
) -> AppResult<LoanRow> {
    // Whether anyone waits, not how many: one index probe however long the queue.
    let someone_waits: Option<Id> = with_conn!(conn, c => loans::table
        .filter(loans::store_id.eq(store))
        .filter(loans::series_id.eq(series))
        .filter(loans::state.eq(LoanState::Waiting.as_str()))
        .select(loans::id)
        .first(c)
        .optional())?;
    let claimed = if someone_waits.is_none() {
        claim_loaner(conn, store, series, now)?
    } else {
        None
    };
    let state = if claimed.is_some() {
        LoanState::Reserved
    } else {
        LoanState::Waiting
    };
    let row = LoanRow {
        id: Id(uuid::Uuid::now_v7()),
        ticket_id: ticket,
        loaner_id: claimed,
        store_id: store,
        series_id: series,
        state: state.as_str().to_owned(),
        queued_at: now,
        reserved_at: claimed.map(|_| now),
        hold_until: claimed.and_then(|_| hold_until(channel, now, hold)),
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
    if claimed.is_some() {
        tickets::record_event(conn, ticket, None, "loan_reserved", None, None, Some("loaner reserved"))?;
        return Ok(row);
    }
    serve_waitlist(conn, store, series, now, hold)?;
    Ok(with_conn!(conn, c => loans::table.find(row.id).select(LoanRow::as_select()).first(c))?)
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
}

/// Expires reservations whose hold ran out by `now` and gives their loaners to the next waiters. Safe to run on
/// several instances at once: each due loan is locked (PostgreSQL, skipping the ones another sweeper holds) or
/// the writers are serialised (SQLite), and each update is guarded by the loan's state.
pub fn expire_due(db: &Db, now: Ts, hold: Duration) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let expired = db.write(|conn| {
            const SELECT: &str = "SELECT id FROM loans WHERE state = 'reserved' AND hold_until IS NOT NULL \
                AND hold_until < $1 ORDER BY hold_until LIMIT 50";
            let due: Vec<Due> = match conn {
                Conn::Pg(c) => diesel::sql_query(format!("{SELECT} FOR UPDATE SKIP LOCKED"))
                    .bind::<DbTime, _>(now)
                    .load(*c)?,
                Conn::Sqlite(c) => diesel::sql_query(SELECT.replace("$1", "?")).bind::<DbTime, _>(now).load(*c)?,
            };
            for loan in &due {
                let row: LoanRow = with_conn!(conn, c => loans::table.find(loan.id).select(LoanRow::as_select()).first(c))?;
                let next = row.state().expire()?;
                with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
                    .set((loans::state.eq(next.as_str()), loans::loaner_hold.eq(None::<String>), loans::updated_at.eq(now)))
                    .execute(c))?;
                tickets::record_event(conn, row.ticket_id, None, "loan_expired", None, None, Some("hold time ran out"))?;
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
