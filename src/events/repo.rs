//! The events' queries: the outbox insert, the sequencer's placement, reading the feed, the consumers' cursors.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::model::{EventRow, EventType, FeedScope};
use crate::db::Conn;
use crate::db::schema::{event_alerts, event_consumers, events, loans, tickets};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

pub fn insert(conn: &mut Conn<'_>, row: &EventRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(events::table).values(row).execute(c))?;
    Ok(())
}

/// The advisory lock the sequencer holds for its transaction, so that one instance at a time places events.
const SEQUENCER_LOCK: i64 = 0x0de9_07e7_0001;

#[derive(QueryableByName)]
struct Placed {
    #[diesel(sql_type = BigInt)]
    placed: i64,
}

/// Gives up to `batch` committed events their feed positions, after the highest position given so far, in `seq`
/// order; returns how many it placed. Run in a transaction of its own.
///
/// PostgreSQL: an event is placed only when its transaction is older than every transaction still running on this
/// database (its `txid` below the oldest of the snapshot's running transactions that `pg_stat_activity` shows on
/// this database; the snapshot's `xmax` when none: a transaction of another database on the same cluster, such as
/// a long report elsewhere, must not hold the feed back), and only before the first committed event that is not (so one subject's
/// events, written under its row lock in `seq` order, are placed in that order even when a younger transaction
/// commits first). Another instance holding the lock means it is placing them now: this one places nothing.
/// SQLite: one writer at a time, so every committed event is placed in `seq` order.
pub fn place(conn: &mut Conn<'_>, batch: i64) -> AppResult<i64> {
    let placed = match conn {
        Conn::Pg(c) => {
            let locked: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_try_advisory_xact_lock({SEQUENCER_LOCK})"
            )))
            .get_result(*c)?;
            if !locked {
                return Ok(0);
            }
            diesel::sql_query(
                "WITH snap AS (SELECT pg_current_snapshot() AS s), \
                 mine AS (SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity \
                          WHERE datname = current_database() AND backend_xid IS NOT NULL), \
                 horizon AS (SELECT coalesce((SELECT min(x::text::bigint) FROM snap, pg_snapshot_xip(snap.s) x \
                                              WHERE x::text::bigint % 4294967296 IN (SELECT xid FROM mine)), \
                                             (SELECT pg_snapshot_xmax(s)::text::bigint FROM snap)) AS xmin), \
                 blocked AS (SELECT min(e.seq) AS seq FROM events e, horizon h \
                             WHERE e.position IS NULL AND e.txid >= h.xmin), \
                 next AS (SELECT e.seq, row_number() OVER (ORDER BY e.seq) AS n \
                          FROM events e, horizon h, blocked b \
                          WHERE e.position IS NULL AND e.txid < h.xmin AND (b.seq IS NULL OR e.seq < b.seq) \
                          ORDER BY e.seq LIMIT $1), \
                 base AS (SELECT coalesce(max(position), 0) AS p FROM events), \
                 done AS (UPDATE events SET position = base.p + next.n FROM next, base \
                          WHERE events.seq = next.seq RETURNING 1) \
                 SELECT count(*) AS placed FROM done",
            )
            .bind::<BigInt, _>(batch)
            .get_result::<Placed>(*c)?
            .placed
        }
        Conn::Sqlite(c) => diesel::sql_query(
            "WITH next AS (SELECT seq FROM events WHERE position IS NULL ORDER BY seq LIMIT ?), \
                 base AS (SELECT coalesce(max(position), 0) AS p FROM events) \
                 UPDATE events SET position = (SELECT p FROM base) + \
                   (SELECT count(*) FROM next n WHERE n.seq <= events.seq) \
                 WHERE seq IN (SELECT seq FROM next)",
        )
        .bind::<BigInt, _>(batch)
        .execute(*c)? as i64,
    };
    Ok(placed)
}

/// Committed events not placed yet: the sequencer's backlog.
pub fn unplaced(conn: &mut Conn<'_>) -> AppResult<i64> {
    Ok(with_conn!(conn, c => events::table.filter(events::position.is_null()).count().get_result(c))?)
}

/// Up to `limit` placed events after `position`, in position order.
pub fn after(conn: &mut Conn<'_>, position: i64, limit: i64) -> AppResult<Vec<EventRow>> {
    Ok(with_conn!(conn, c => events::table
        .filter(events::position.gt(position))
        .order(events::position)
        .limit(limit)
        .select(EventRow::as_select())
        .load(c))?)
}

/// Locks a consumer's cursor row for this transaction (creating it at 0 the first time) and returns its position.
/// On PostgreSQL a consumer held by another instance is skipped: `None`.
pub fn lock_consumer(conn: &mut Conn<'_>, name: &str, now: Ts) -> AppResult<Option<i64>> {
    with_conn!(conn, c => diesel::insert_into(event_consumers::table)
        .values((event_consumers::name.eq(name), event_consumers::position.eq(0), event_consumers::updated_at.eq(now)))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(match conn {
        Conn::Pg(c) => event_consumers::table
            .find(name)
            .select(event_consumers::position)
            .for_update()
            .skip_locked()
            .first(*c)
            .optional()?,
        Conn::Sqlite(c) => Some(
            event_consumers::table
                .find(name)
                .select(event_consumers::position)
                .first(*c)?,
        ),
    })
}

pub fn advance_consumer(conn: &mut Conn<'_>, name: &str, position: i64, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(event_consumers::table.find(name))
        .set((event_consumers::position.eq(position), event_consumers::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Up to `limit` placed events after `position` that `scope` may see, of `types` when given, in position order.
pub fn feed(
    conn: &mut Conn<'_>,
    scope: &FeedScope,
    position: i64,
    types: Option<&[String]>,
    limit: i64,
) -> AppResult<Vec<EventRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = events::table
            .filter(events::position.gt(position))
            .order(events::position)
            .limit(limit)
            .select(EventRow::as_select())
            .into_boxed();
        match scope {
            FeedScope::All => {}
            FeedScope::Stores(stores) => q = q.filter(events::store_id.eq_any(stores.clone())),
            FeedScope::Partner(partner) => q = q.filter(events::partner_id.eq(*partner)),
        }
        if let Some(types) = types {
            q = q.filter(events::event_type.eq_any(types.to_vec()));
        }
        q.load(c)
    })?)
}

/// When the oldest committed event not yet placed was written, if any is waiting.
pub fn oldest_unplaced(conn: &mut Conn<'_>) -> AppResult<Option<Ts>> {
    Ok(with_conn!(conn, c => events::table
        .filter(events::position.is_null())
        .order(events::seq)
        .select(events::occurred_at)
        .first(c)
        .optional())?)
}

/// Records that `alert` was raised for `subject` on the occasion `marker`; false when it was already (by this
/// instance or another), so that the caller raises it once.
pub fn mark_alert(conn: &mut Conn<'_>, alert: EventType, subject: Id, marker: &str, now: Ts) -> AppResult<bool> {
    let inserted = with_conn!(conn, c => diesel::insert_into(event_alerts::table)
        .values((
            event_alerts::alert.eq(alert.as_str()),
            event_alerts::subject_id.eq(subject),
            event_alerts::marker.eq(marker),
            event_alerts::raised_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// Forgets the raised `alert`s of `subject` whose marker is not in `keep` (a long waitlist that fell back).
pub fn clear_alerts(conn: &mut Conn<'_>, alert: EventType, subject: Id, keep: &[String]) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::delete(event_alerts::table
        .filter(event_alerts::alert.eq(alert.as_str()))
        .filter(event_alerts::subject_id.eq(subject))
        .filter(event_alerts::marker.ne_all(keep.to_vec())))
        .execute(c))?)
}

/// The raised alerts of one kind, as (subject, marker).
pub fn raised(conn: &mut Conn<'_>, alert: EventType) -> AppResult<Vec<(Id, String)>> {
    Ok(with_conn!(conn, c => event_alerts::table
        .filter(event_alerts::alert.eq(alert.as_str()))
        .select((event_alerts::subject_id, event_alerts::marker))
        .load(c))?)
}

/// A loan an alert is about: (loan, ticket, store, the time it is about).
pub type DueLoan = (Id, Id, Id, Option<Ts>);

/// A ticket past its promise: (ticket, number, store, promise, status).
pub type LateTicket = (Id, String, Id, Option<Ts>, String);

/// Issued loans past their due time at `now` whose overdue alert was not raised: (loan, ticket, store, due).
pub fn overdue_loans(conn: &mut Conn<'_>, now: Ts, limit: i64) -> AppResult<Vec<DueLoan>> {
    Ok(with_conn!(conn, c => loans::table
        .filter(loans::state.eq("issued"))
        .filter(loans::due_at.lt(now))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            event_alerts::table
                .filter(event_alerts::alert.eq(EventType::LoanOverdue.as_str()))
                .filter(event_alerts::subject_id.eq(loans::id)),
        )))
        .order(loans::due_at)
        .limit(limit)
        .select((loans::id, loans::ticket_id, loans::store_id, loans::due_at))
        .load(c))?)
}

/// Issued loans due from `now` to `by` whose due-soon alert for their current due time was not raised: (loan,
/// ticket, store, due), at most `limit`. An alert raised less than `by - now` before the current due time is this
/// due time's (or an earlier one's, when the loan was extended by less than that within it: its `loan.extended`
/// tells receivers then). Every loan due in the span is looked at (they are as many as the loaners lent out), so
/// the alerted ones never crowd out the others.
pub fn due_soon_loans(conn: &mut Conn<'_>, now: Ts, by: Ts, limit: i64) -> AppResult<Vec<DueLoan>> {
    let soon = by.0 - now.0;
    let rows: Vec<DueLoan> = with_conn!(conn, c => loans::table
        .filter(loans::state.eq("issued"))
        .filter(loans::due_at.ge(now))
        .filter(loans::due_at.le(by))
        .order(loans::due_at)
        .select((loans::id, loans::ticket_id, loans::store_id, loans::due_at))
        .load(c))?;
    let ids: Vec<Id> = rows.iter().map(|r| r.0).collect();
    let mut last: std::collections::HashMap<Id, Ts> = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let raised: Vec<(Id, Ts)> = with_conn!(conn, c => event_alerts::table
            .filter(event_alerts::alert.eq(EventType::LoanDueSoon.as_str()))
            .filter(event_alerts::subject_id.eq_any(chunk))
            .select((event_alerts::subject_id, event_alerts::raised_at))
            .load(c))?;
        for (loan, at) in raised {
            let seen = last.entry(loan).or_insert(at);
            if at.0 > seen.0 {
                *seen = at;
            }
        }
    }
    Ok(rows
        .into_iter()
        .filter(|(loan, _, _, due)| match (due, last.get(loan)) {
            (Some(due), Some(last)) => last.0 < due.0 - soon,
            _ => true,
        })
        .take(limit.max(0) as usize)
        .collect())
}

/// Reservations whose hold ends after `now` and by `by`, not warned about within the warning (`by - now`) before
/// `now`: (loan, ticket, store, hold end). The alert for the current hold was raised in that span, so it is left
/// out (else, past `limit` warned holds, newer ones would never be looked at); a hold changed since an alert is
/// warned about once that alert is older than the warning, if it has not ended by then.
pub fn expiring_reservations(conn: &mut Conn<'_>, now: Ts, by: Ts, limit: i64) -> AppResult<Vec<DueLoan>> {
    let warned_since = Ts(now.0 - (by.0 - now.0));
    Ok(with_conn!(conn, c => loans::table
        .filter(loans::state.eq("reserved"))
        .filter(loans::hold_until.gt(now))
        .filter(loans::hold_until.le(by))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            event_alerts::table
                .filter(event_alerts::alert.eq(EventType::LoanReservationExpiring.as_str()))
                .filter(event_alerts::subject_id.eq(loans::id))
                .filter(event_alerts::raised_at.gt(warned_since)),
        )))
        .order(loans::hold_until)
        .limit(limit)
        .select((loans::id, loans::ticket_id, loans::store_id, loans::hold_until))
        .load(c))?)
}

/// Open tickets not ready yet whose promise passed by `now`, not alerted since it passed: (ticket, number, store,
/// promise, status). The alert for the current promise was raised after it passed, so it is left out (else, past
/// `limit` late tickets, newer ones would never be looked at); an earlier promise's alert raised after the current
/// promise (a ticket re-promised to a time already past) counts as this one's.
pub fn tickets_past_promise(conn: &mut Conn<'_>, now: Ts, limit: i64) -> AppResult<Vec<LateTicket>> {
    Ok(with_conn!(conn, c => tickets::table
        .filter(tickets::promised_at.lt(now))
        .filter(tickets::ready_at.is_null())
        .filter(tickets::status.ne_all(["closed", "cancelled", "ready_for_pickup"]))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            event_alerts::table
                .filter(event_alerts::alert.eq(EventType::TicketPastPromise.as_str()))
                .filter(event_alerts::subject_id.eq(tickets::id))
                .filter(event_alerts::raised_at.gt(tickets::promised_at.assume_not_null())),
        )))
        .order(tickets::promised_at)
        .limit(limit)
        .select((tickets::id, tickets::number, tickets::store_id, tickets::promised_at, tickets::status))
        .load(c))?)
}

/// Waiting loans by (store, series).
pub fn waitlists(conn: &mut Conn<'_>) -> AppResult<Vec<(Id, Id, i64)>> {
    Ok(with_conn!(conn, c => loans::table
        .filter(loans::state.eq("waiting"))
        .group_by((loans::store_id, loans::series_id))
        .select((loans::store_id, loans::series_id, diesel::dsl::count_star()))
        .load(c))?)
}

/// Waiting loans of one queue (store, series).
pub fn waiting_in(conn: &mut Conn<'_>, store: Id, series: Id) -> AppResult<i64> {
    Ok(with_conn!(conn, c => loans::table
        .filter(loans::state.eq("waiting"))
        .filter(loans::store_id.eq(store))
        .filter(loans::series_id.eq(series))
        .count()
        .get_result(c))?)
}

/// Forgets what only Depot's consumers read of the events `ids` (a tracking token), once the consumer that needed
/// it has used it: no secret stays in the outbox longer than it is needed.
pub fn clear_internal(conn: &mut Conn<'_>, ids: &[Id]) -> AppResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(with_conn!(conn, c => diesel::update(events::table
        .filter(events::id.eq_any(ids))
        .filter(events::internal.is_not_null()))
        .set(events::internal.eq(None::<String>))
        .execute(c))?)
}
