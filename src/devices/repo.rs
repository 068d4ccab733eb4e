//! The devices' queries.

use diesel::prelude::*;

use super::model::{DevicePlanRow, DeviceRow, DeviceState, PastTicket, PlanKind};
use crate::db::Conn;
use crate::db::schema::{device_plans, devices, stores, tickets};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

pub fn by_imei(conn: &mut Conn<'_>, imei: &str) -> AppResult<Option<DeviceRow>> {
    Ok(with_conn!(conn, c => devices::table
        .filter(devices::imei.eq(imei))
        .select(DeviceRow::as_select())
        .first(c)
        .optional())?)
}

pub fn find(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<DeviceRow>> {
    Ok(with_conn!(conn, c => devices::table.find(id).select(DeviceRow::as_select()).first(c).optional())?)
}

/// The device with this IMEI, locked for the rest of the transaction (PostgreSQL: `FOR UPDATE`; SQLite's write
/// transaction holds the whole database already).
pub fn lock_by_imei(conn: &mut Conn<'_>, imei: &str) -> AppResult<Option<DeviceRow>> {
    Ok(match conn {
        Conn::Pg(c) => devices::table
            .filter(devices::imei.eq(imei))
            .select(DeviceRow::as_select())
            .for_update()
            .first(*c)
            .optional()?,
        Conn::Sqlite(c) => devices::table
            .filter(devices::imei.eq(imei))
            .select(DeviceRow::as_select())
            .first(*c)
            .optional()?,
    })
}

/// Writes `row` unless a device with its IMEI exists already (a concurrent opening created it): true when written.
pub fn insert_if_absent(conn: &mut Conn<'_>, row: &DeviceRow) -> AppResult<bool> {
    let written = with_conn!(conn, c => diesel::insert_into(devices::table)
        .values(row)
        .on_conflict(devices::imei)
        .do_nothing()
        .execute(c))?;
    Ok(written == 1)
}

pub fn plans_of(conn: &mut Conn<'_>, device: Id) -> AppResult<Vec<DevicePlanRow>> {
    Ok(with_conn!(conn, c => device_plans::table
        .filter(device_plans::device_id.eq(device))
        .order(device_plans::id)
        .select(DevicePlanRow::as_select())
        .load(c))?)
}

/// Every ticket of a device, oldest first, with its store's time zone.
pub fn tickets_of(conn: &mut Conn<'_>, device: Id) -> AppResult<Vec<PastTicket>> {
    Ok(with_conn!(conn, c => tickets::table
        .inner_join(stores::table)
        .filter(tickets::device_id.eq(device))
        .order(tickets::id)
        .select((
            tickets::id,
            tickets::number,
            tickets::store_id,
            tickets::status,
            tickets::received_at,
            tickets::ready_at,
            tickets::promised_at,
            tickets::warranty_decision,
            tickets::remedy,
            tickets::outcome,
            tickets::created_at,
            stores::time_zone,
        ))
        .load::<PastTicket>(c))?)
}

/// Moves a device from state `from` to `to`; false when it is no longer in `from`.
pub fn set_state(conn: &mut Conn<'_>, device: Id, from: DeviceState, to: DeviceState, now: Ts) -> AppResult<bool> {
    let changed = with_conn!(conn, c => diesel::update(devices::table.find(device))
        .filter(devices::state.eq(from.as_str()))
        .set((devices::state.eq(to.as_str()), devices::updated_at.eq(now)))
        .execute(c))?;
    Ok(changed == 1)
}

/// Moves an exchanged phone's plans to its replacement: the extended warranty, and the screen plan unless a repair
/// used it up. The customer bought cover for their phone, and the replacement is that phone now.
pub fn move_plans(conn: &mut Conn<'_>, from: Id, to: Id) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(device_plans::table)
        .filter(device_plans::device_id.eq(from))
        .filter(
            device_plans::kind
                .eq(PlanKind::ExtendedWarranty.as_str())
                .or(device_plans::used_by_ticket_id.is_null()),
        )
        .set(device_plans::device_id.eq(to))
        .execute(c))?)
}

/// Uses up the device's screen plan for `ticket`: false when there is no such plan or another ticket used it
/// (true again, unchanged, for the ticket that used it: a repair restarted after a failed check).
pub fn mark_plan_used(conn: &mut Conn<'_>, device: Id, ticket: Id, now: Ts) -> AppResult<bool> {
    let plan = device_plans::table
        .filter(device_plans::device_id.eq(device))
        .filter(device_plans::kind.eq(PlanKind::ScreenPlan.as_str()));
    let changed = with_conn!(conn, c => diesel::update(plan)
        .filter(device_plans::used_by_ticket_id.is_null())
        .set((device_plans::used_by_ticket_id.eq(Some(ticket)), device_plans::used_at.eq(Some(now))))
        .execute(c))?;
    if changed == 1 {
        return Ok(true);
    }
    let mine: i64 = with_conn!(conn, c => plan
        .filter(device_plans::used_by_ticket_id.eq(ticket))
        .count()
        .get_result(c))?;
    Ok(mine == 1)
}
