//! The courier area's queries: partners, pickups and their tracking events. The only place in the area that knows
//! which engine runs it: the row locks (PostgreSQL) and the event insert's SQL differ here.

use diesel::prelude::*;
use uuid::Uuid;

use super::model::{
    Direction, EventRow, PartnerPickupFilter, PartnerRow, PickupPhase, PickupRow, PickupStatus, TrackingEvent,
};
use crate::db::Conn;
use crate::db::schema::{courier_partners, pickup_events, pickups};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

/// All partners, by code.
pub fn partners(conn: &mut Conn<'_>) -> AppResult<Vec<PartnerRow>> {
    Ok(
        with_conn!(conn, c => courier_partners::table.order(courier_partners::code)
        .select(PartnerRow::as_select()).load(c))?,
    )
}

pub fn insert_partner(conn: &mut Conn<'_>, row: &PartnerRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(courier_partners::table).values(row).execute(c))?;
    Ok(())
}

/// Whether a partner is active; `None` when there is no such partner.
pub fn partner_active(conn: &mut Conn<'_>, partner: Uuid) -> AppResult<Option<bool>> {
    Ok(with_conn!(conn, c => courier_partners::table.find(Id(partner))
        .select(courier_partners::active).first(c).optional())?)
}

/// A pickup's tracking events, in the order they happened.
pub fn events_of(conn: &mut Conn<'_>, pickup: Id) -> AppResult<Vec<TrackingEvent>> {
    let rows: Vec<EventRow> = with_conn!(conn, c => pickup_events::table
        .filter(pickup_events::pickup_id.eq(pickup))
        .order((pickup_events::happened_at, pickup_events::id))
        .select(EventRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().map(TrackingEvent::from).collect())
}

/// The tracking events of several pickups in one query, each with its pickup, in the order they happened.
pub fn events_of_pickups(conn: &mut Conn<'_>, pickups: &[Id]) -> AppResult<Vec<(Id, TrackingEvent)>> {
    if pickups.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<EventRow> = with_conn!(conn, c => pickup_events::table
        .filter(pickup_events::pickup_id.eq_any(pickups))
        .order((pickup_events::happened_at, pickup_events::id))
        .select(EventRow::as_select())
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|r| (r.pickup_id, TrackingEvent::from(r)))
        .collect())
}

pub fn pickup(conn: &mut Conn<'_>, id: Id) -> AppResult<PickupRow> {
    Ok(with_conn!(conn, c => pickups::table.find(id).select(PickupRow::as_select()).first(c))?)
}

pub fn find_pickup(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<PickupRow>> {
    Ok(with_conn!(conn, c => pickups::table.find(Id(id)).select(PickupRow::as_select()).first(c).optional())?)
}

/// A pickup, read for a partner's change. With `lock`, on PostgreSQL the row is locked until the transaction ends:
/// changes to one pickup arriving at once are applied one after the other (SQLite has one writer at a time
/// already). The lock is `FOR NO KEY UPDATE`, the one an update of the status takes anyway: it leaves the key share
/// that an event insert's foreign key check takes free, so that an event stored without a transaction
/// (`service::post_event`) never waits on the lock while holding an event id the locking transaction is about to
/// insert (a deadlock).
pub fn pickup_for_partner(conn: &mut Conn<'_>, id: Uuid, lock: bool) -> AppResult<Option<PickupRow>> {
    Ok(match conn {
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
    })
}

/// A ticket's pickups, oldest first.
pub fn pickups_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<PickupRow>> {
    Ok(
        with_conn!(conn, c => pickups::table.filter(pickups::ticket_id.eq(ticket))
        .order(pickups::id).select(PickupRow::as_select()).load(c))?,
    )
}

/// A ticket's pickups, newest first, locked until the transaction ends (PostgreSQL), after the ticket and its
/// loans (the lock order is in [`crate::tickets::lock_ticket_in_scope`]).
pub fn lock_pickups_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<PickupRow>> {
    let of_ticket = pickups::table
        .filter(pickups::ticket_id.eq(ticket))
        .order(pickups::id.desc());
    Ok(match conn {
        Conn::Pg(c) => of_ticket.select(PickupRow::as_select()).for_no_key_update().load(*c)?,
        Conn::Sqlite(c) => of_ticket.select(PickupRow::as_select()).load(*c)?,
    })
}

/// How many of a ticket's pickups in one direction are open (not delivered, failed or cancelled).
pub fn count_open(conn: &mut Conn<'_>, ticket: Id, direction: Direction) -> AppResult<i64> {
    Ok(with_conn!(conn, c => pickups::table
        .filter(pickups::ticket_id.eq(ticket))
        .filter(pickups::direction.eq(direction.as_str()))
        .filter(pickups::status.ne_all(["delivered", "failed", "cancelled"]))
        .count()
        .get_result(c))?)
}

pub fn insert_pickup(conn: &mut Conn<'_>, row: &PickupRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(pickups::table).values(row).execute(c))?;
    Ok(())
}

/// Moves a pickup from the status `from` (as read) to `to`; the count of rows changed, 0 when it moved meanwhile.
pub fn set_status(conn: &mut Conn<'_>, id: Id, from: &str, to: PickupStatus, now: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(pickups::table.find(id))
        .filter(pickups::status.eq(from))
        .set((pickups::status.eq(to.as_str()), pickups::updated_at.eq(now)))
        .execute(c))?)
}

/// How many of a partner's pickups have this tracking number.
pub fn count_tracking_number(conn: &mut Conn<'_>, partner: Option<Id>, tracking: &str) -> AppResult<i64> {
    Ok(with_conn!(conn, c => pickups::table
        .filter(pickups::partner_id.eq(partner))
        .filter(pickups::tracking_number.eq(tracking))
        .count().get_result(c))?)
}

/// Moves a pickup from `from` to `to` with the partner's tracking number; the count of rows changed.
pub fn set_tracking_number(
    conn: &mut Conn<'_>,
    id: Id,
    (from, to): (PickupStatus, PickupStatus),
    tracking: &str,
    now: Ts,
) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(pickups::table.find(id))
        .filter(pickups::status.eq(from.as_str()))
        .set((pickups::status.eq(to.as_str()), pickups::tracking_number.eq(tracking),
              pickups::updated_at.eq(now)))
        .execute(c))?)
}

/// A leg's where, when and who, as rescheduled.
pub struct LegChange {
    pub address: String,
    pub window_start: Option<Ts>,
    pub window_end: Option<Ts>,
    pub partner_id: Option<Id>,
    pub tracking_number: Option<String>,
    pub status: PickupStatus,
    pub updated_at: Ts,
}

/// Writes a leg's new schedule unless its status moved from `from` meanwhile; the count of rows changed.
pub fn reschedule(conn: &mut Conn<'_>, id: Id, from: &str, change: &LegChange) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(pickups::table.find(id))
        .filter(pickups::status.eq(from))
        .set((
            pickups::address.eq(&change.address),
            pickups::window_start.eq(change.window_start),
            pickups::window_end.eq(change.window_end),
            pickups::partner_id.eq(change.partner_id),
            pickups::tracking_number.eq(&change.tracking_number),
            pickups::status.eq(change.status.as_str()),
            pickups::updated_at.eq(change.updated_at),
        ))
        .execute(c))?)
}

/// The SQL condition for the pickups of a phase, constants only.
fn phase_predicate(phase: PickupPhase) -> &'static str {
    match phase {
        PickupPhase::Open => "pickups.status NOT IN ('delivered', 'failed', 'cancelled')",
        PickupPhase::Final => "pickups.status IN ('delivered', 'failed', 'cancelled')",
    }
}

/// Up to `limit` of a partner's pickups (every partner's for an admin) in one phase, in id order after `after`.
pub fn partner_pickups(
    conn: &mut Conn<'_>,
    filter: &PartnerPickupFilter,
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
        q = match filter.status {
            Some(status) if PickupPhase::of(status) == phase => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                &format!("pickups.status = '{}'", status.as_str()),
            )),
            Some(_) => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
            None => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(phase_predicate(phase))),
        };
        if let Some(after) = after {
            q = q.filter(pickups::id.gt(Id(after)));
        }
        if let Some(partner) = filter.partner {
            q = q.filter(pickups::partner_id.eq(Id(partner)));
        }
        if let Some(since) = filter.updated_since {
            q = q.filter(pickups::updated_at.ge(Ts(since)));
        }
        q.load(c)
    })?)
}

/// Stores an event unless its pickup is cancelled by the time the statement runs, or the partner sent its event id
/// before; true when stored. The check is in the insert itself, for the event stored without a lock
/// (`service::post_event`): a ticket cancel committing between its read and its insert would otherwise leave the
/// event on the cancelled pickup. On PostgreSQL the pickup is read `FOR SHARE`, so an insert meeting a cancel in
/// flight waits for it and reads the pickup again; it holds nothing meanwhile (the event row comes after), and a
/// transaction that has the pickup locked already is not held up by its own lock.
pub fn insert_event_unless_cancelled(conn: &mut Conn<'_>, event: &EventRow) -> AppResult<bool> {
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

/// The body hash a partner's event id was first stored with, if it was.
pub fn first_body_hash(conn: &mut Conn<'_>, partner: Uuid, event_id: &str) -> AppResult<Option<String>> {
    Ok(with_conn!(conn, c => pickup_events::table
        .filter(pickup_events::partner_id.eq(Id(partner)))
        .filter(pickup_events::partner_event_id.eq(event_id))
        .select(pickup_events::body_hash).first(c).optional())?)
}

#[cfg(test)]
mod tests {
    use super::{PickupPhase, PickupStatus, phase_predicate};

    const FINAL_STATUSES: [&str; 3] = ["delivered", "failed", "cancelled"];

    #[test]
    fn the_final_phase_holds_exactly_the_final_statuses() {
        for status in PickupStatus::ALL {
            assert_eq!(
                FINAL_STATUSES.contains(&status.as_str()),
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
            FINAL_STATUSES
                .iter()
                .all(|s| phase_predicate(p).contains(&format!("'{s}'")))
        };
        assert!(listed(PickupPhase::Open) && listed(PickupPhase::Final));
    }
}
