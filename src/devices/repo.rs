//! The devices' queries.

use diesel::prelude::*;

use super::model::{DevicePlanRow, DeviceRow, PastTicket};
use crate::db::Conn;
use crate::db::schema::{device_plans, devices, stores, tickets};
use crate::db::types::Id;
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
