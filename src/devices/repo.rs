//! The devices' queries.

use diesel::prelude::*;

use super::model::{DeviceChanges, DevicePlanRow, DeviceRow, PastTicket, PlanKind};
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

/// Writes an admin's correction of a device's record.
pub fn update_record(conn: &mut Conn<'_>, device: Id, changes: &DeviceChanges, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(devices::table.find(device))
        .set((changes, devices::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Writes a plan sold to a device; the unique key (device, kind) refuses a second of a kind.
pub fn insert_plan(conn: &mut Conn<'_>, row: &DevicePlanRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(device_plans::table).values(row).execute(c))?;
    Ok(())
}

pub fn plan_of_kind(conn: &mut Conn<'_>, device: Id, kind: PlanKind) -> AppResult<Option<DevicePlanRow>> {
    Ok(with_conn!(conn, c => device_plans::table
        .filter(device_plans::device_id.eq(device))
        .filter(device_plans::kind.eq(kind.as_str()))
        .select(DevicePlanRow::as_select())
        .first(c)
        .optional())?)
}

/// Marks the device's plan of `kind` used by `ticket`, if no ticket has used it yet: true when this call marked
/// it. The guard is in the statement (`used_by_ticket_id IS NULL`), so of two tickets racing for one plan exactly
/// one marks it, on either engine.
pub fn claim_plan(conn: &mut Conn<'_>, device: Id, kind: PlanKind, ticket: Id, now: Ts) -> AppResult<bool> {
    let marked = with_conn!(conn, c => diesel::update(device_plans::table)
        .filter(device_plans::device_id.eq(device))
        .filter(device_plans::kind.eq(kind.as_str()))
        .filter(device_plans::used_by_ticket_id.is_null())
        .set((device_plans::used_by_ticket_id.eq(Some(ticket)), device_plans::used_at.eq(Some(now))))
        .execute(c))?;
    Ok(marked == 1)
}

/// A customer's devices, oldest first, at most `limit`.
pub fn of_customer(conn: &mut Conn<'_>, customer: Id, limit: i64) -> AppResult<Vec<DeviceRow>> {
    Ok(with_conn!(conn, c => devices::table
        .filter(devices::customer_id.eq(customer))
        .order(devices::id)
        .limit(limit)
        .select(DeviceRow::as_select())
        .load(c))?)
}
