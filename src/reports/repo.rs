//! The report's reads.

use diesel::prelude::*;

use super::model::ComplaintTimes;
use crate::db::Conn;
use crate::db::schema::{complaints, stores, tickets};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

/// The stores a report covers, in code order: `only` when given (whatever their kind), else every service center.
pub fn stores(conn: &mut Conn<'_>, only: Option<&[Id]>) -> AppResult<Vec<(Id, String, String)>> {
    Ok(with_conn!(conn, c => {
        let query = stores::table
            .select((stores::id, stores::code, stores::name))
            .order(stores::code)
            .into_boxed();
        match only {
            Some(ids) => query.filter(stores::id.eq_any(ids.to_vec())),
            None => query.filter(stores::kind.eq("service_center")),
        }
        .load(c)
    })?)
}

/// The ratings (`None`: not rated) of the tickets of `store` closed in [`from`, `to`).
pub fn closed_ticket_ratings(conn: &mut Conn<'_>, store: Id, from: Ts, to: Ts) -> AppResult<Vec<Option<i32>>> {
    Ok(with_conn!(conn, c => tickets::table
        .filter(tickets::store_id.eq(store))
        .filter(tickets::status.eq("closed"))
        .filter(tickets::closed_at.ge(from))
        .filter(tickets::closed_at.lt(to))
        .select(tickets::rating)
        .load(c))?)
}

/// The times of the complaints of `store` opened in [`from`, `to`).
pub fn complaint_times(conn: &mut Conn<'_>, store: Id, from: Ts, to: Ts) -> AppResult<Vec<ComplaintTimes>> {
    let rows: Vec<(Ts, Ts, Option<Ts>, Option<Ts>)> = with_conn!(conn, c => complaints::table
        .filter(complaints::store_id.eq(store))
        .filter(complaints::opened_at.ge(from))
        .filter(complaints::opened_at.lt(to))
        .select((
            complaints::opened_at,
            complaints::first_reply_due_at,
            complaints::first_reply_at,
            complaints::resolved_at,
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(opened, due, replied, resolved)| ComplaintTimes {
            opened_at: opened.0,
            first_reply_due_at: due.0,
            first_reply_at: replied.map(|t| t.0),
            resolved_at: resolved.map(|t| t.0),
        })
        .collect())
}
