//! The complaints' queries.

use diesel::prelude::*;

use super::model::{ComplaintEventRow, ComplaintFilter, ComplaintRow, DueFilter, RemedyRow};
use crate::db::Conn;
use crate::db::schema::{complaint_events, complaint_remedies, complaints, event_alerts, stores};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

pub fn insert(conn: &mut Conn<'_>, row: &ComplaintRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(complaints::table).values(row).execute(c))?;
    Ok(())
}

pub fn insert_event(conn: &mut Conn<'_>, row: &ComplaintEventRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(complaint_events::table).values(row).execute(c))?;
    Ok(())
}

pub fn insert_remedy(conn: &mut Conn<'_>, row: &RemedyRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(complaint_remedies::table).values(row).execute(c))?;
    Ok(())
}

pub fn find(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<ComplaintRow>> {
    Ok(with_conn!(conn, c => complaints::table.find(id).select(ComplaintRow::as_select()).first(c).optional())?)
}

/// Locks a complaint's row and reads it: PostgreSQL takes `FOR NO KEY UPDATE` (timeline inserts only need the key
/// share it leaves free); SQLite has one writer at a time. Two acknowledgements of one complaint thus run one
/// after the other, and the second finds it taken.
pub fn lock(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<ComplaintRow>> {
    Ok(match conn {
        Conn::Pg(c) => complaints::table
            .find(id)
            .select(ComplaintRow::as_select())
            .for_no_key_update()
            .first(*c)
            .optional()?,
        Conn::Sqlite(c) => complaints::table
            .find(id)
            .select(ComplaintRow::as_select())
            .first(*c)
            .optional()?,
    })
}

/// Writes a locked complaint's changed fields, provided it is still in state `from` (the lock guarantees it; the
/// guard makes a lost lock an error instead of a silent overwrite). Returns whether it was written.
pub fn save(conn: &mut Conn<'_>, row: &ComplaintRow, from: &str) -> AppResult<bool> {
    let n = with_conn!(conn, c => diesel::update(complaints::table.find(row.id).filter(complaints::state.eq(from)))
        .set((
            complaints::state.eq(&row.state),
            complaints::owner_id.eq(row.owner_id),
            complaints::first_reply_at.eq(row.first_reply_at),
            complaints::acknowledged_at.eq(row.acknowledged_at),
            complaints::resolved_at.eq(row.resolved_at),
            complaints::closed_at.eq(row.closed_at),
            complaints::resolution.eq(&row.resolution),
            complaints::updated_at.eq(row.updated_at),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// The complaint filed through the link of `ticket` with the idempotency key `key`, if any.
pub fn by_link_request(conn: &mut Conn<'_>, ticket: Id, key: &str) -> AppResult<Option<ComplaintRow>> {
    Ok(with_conn!(conn, c => complaints::table
        .filter(complaints::ticket_id.eq(ticket))
        .filter(complaints::link_request_key.eq(key))
        .select(ComplaintRow::as_select())
        .first(c)
        .optional())?)
}

pub fn events_of(conn: &mut Conn<'_>, id: Id) -> AppResult<Vec<ComplaintEventRow>> {
    Ok(with_conn!(conn, c => complaint_events::table
        .filter(complaint_events::complaint_id.eq(id))
        .order((complaint_events::at, complaint_events::id))
        .select(ComplaintEventRow::as_select())
        .load(c))?)
}

pub fn remedies_of(conn: &mut Conn<'_>, id: Id) -> AppResult<Vec<RemedyRow>> {
    Ok(with_conn!(conn, c => complaint_remedies::table
        .filter(complaint_remedies::complaint_id.eq(id))
        .order(complaint_remedies::id)
        .select(RemedyRow::as_select())
        .load(c))?)
}

pub fn store_exists(conn: &mut Conn<'_>, id: Id) -> AppResult<bool> {
    let found: Option<Id> = with_conn!(conn, c => stores::table.find(id).select(stores::id).first(c).optional())?;
    Ok(found.is_some())
}

/// One page of complaints in id (opening) order after `after`: of `stores` when given (a store's staff), narrowed
/// by `filter`; "due soon" and "breached" are judged at `now`, due soon meaning due by `soon_until`.
pub fn list(
    conn: &mut Conn<'_>,
    stores: Option<&[Id]>,
    filter: &ComplaintFilter,
    now: Ts,
    soon_until: Ts,
    after: Option<Id>,
    limit: i64,
) -> AppResult<Vec<ComplaintRow>> {
    Ok(with_conn!(conn, c => {
        let mut query = complaints::table.select(ComplaintRow::as_select()).into_boxed();
        if let Some(stores) = stores {
            query = query.filter(complaints::store_id.eq_any(stores.to_vec()));
        }
        if let Some(store) = filter.store_id {
            query = query.filter(complaints::store_id.eq(Id(store)));
        }
        if let Some(state) = filter.state {
            query = query.filter(complaints::state.eq(state.as_str()));
        }
        match filter.due {
            Some(DueFilter::Soon) => {
                query = query
                    .filter(complaints::first_reply_at.is_null())
                    .filter(complaints::first_reply_due_at.gt(now))
                    .filter(complaints::first_reply_due_at.le(soon_until));
            }
            Some(DueFilter::Breached) => {
                query = query
                    .filter(complaints::first_reply_at.is_null())
                    .filter(complaints::first_reply_due_at.le(now));
            }
            None => {}
        }
        if let Some(after) = after {
            query = query.filter(complaints::id.gt(after));
        }
        query.order(complaints::id).limit(limit).load(c)
    })?)
}

/// Up to `limit` complaints of the stores in `stores` (every store when `None`) that are not resolved or closed,
/// the earliest first-reply due time first.
pub fn open_by_due(conn: &mut Conn<'_>, stores: Option<&[Id]>, limit: i64) -> AppResult<Vec<ComplaintRow>> {
    Ok(with_conn!(conn, c => {
        let mut query = complaints::table
            .select(ComplaintRow::as_select())
            .filter(complaints::state.eq_any(["open", "acknowledged", "reopened"]))
            .into_boxed();
        if let Some(stores) = stores {
            query = query.filter(complaints::store_id.eq_any(stores.to_vec()));
        }
        query.order((complaints::first_reply_due_at, complaints::id)).limit(limit).load(c)
    })?)
}

/// Up to `limit` complaints still without a first reply whose due time has passed at `now` and that no
/// `alert` has been raised for yet, oldest due first.
pub fn breached_unalerted(conn: &mut Conn<'_>, alert: &str, now: Ts, limit: i64) -> AppResult<Vec<ComplaintRow>> {
    let alerted = event_alerts::table
        .filter(event_alerts::alert.eq(alert.to_owned()))
        .filter(event_alerts::subject_id.eq(complaints::id))
        .select(event_alerts::subject_id);
    Ok(with_conn!(conn, c => complaints::table
        .filter(complaints::first_reply_at.is_null())
        .filter(complaints::first_reply_due_at.le(now))
        .filter(diesel::dsl::not(diesel::dsl::exists(alerted)))
        .order((complaints::first_reply_due_at, complaints::id))
        .limit(limit)
        .select(ComplaintRow::as_select())
        .load(c))?)
}
