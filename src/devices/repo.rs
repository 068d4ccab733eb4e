//! The devices' queries.

use diesel::prelude::*;

use super::model::{DeviceChanges, DevicePlanRow, DeviceRow, DeviceState, PastTicket, PlanKind};
use crate::customers::CustomerRow;
use crate::db::Conn;
use crate::db::schema::{complaint_remedies, complaints, device_plans, devices, stores, tickets};
use crate::db::types::{DbTime, DbUuid, Id, Ts};
use crate::error::AppResult;
use crate::with_conn;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text};

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
/// The warranty days granted as goodwill (`extended_warranty` remedies) on complaints about the device's tickets
/// or their loans, one entry per remedy.
pub fn goodwill_days_of(conn: &mut Conn<'_>, device: Id) -> AppResult<Vec<Option<i32>>> {
    Ok(with_conn!(conn, c => complaint_remedies::table
        .inner_join(complaints::table.inner_join(tickets::table))
        .filter(tickets::device_id.eq(device))
        .filter(complaint_remedies::kind.eq("extended_warranty"))
        .select(complaint_remedies::warranty_days)
        .load(c))?)
}

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

/// Writes what an arrival adds to a known device: the invoice's fields it lacked, the customer who brings it.
pub fn update_arrival(conn: &mut Conn<'_>, device: &DeviceRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(devices::table.find(device.id))
        .set((
            devices::price_paid_minor.eq(device.price_paid_minor),
            devices::seller.eq(&device.seller),
            devices::invoice_number.eq(&device.invoice_number),
            devices::customer_id.eq(device.customer_id),
            devices::updated_at.eq(device.updated_at),
        ))
        .execute(c))?;
    Ok(())
}

/// Writes an admin's correction of a device's record.
pub fn update_record(conn: &mut Conn<'_>, device: Id, changes: &DeviceChanges, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(devices::table.find(device))
        .set((changes, devices::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// The customer and the device an opening brings, found or registered. PostgreSQL does it in one statement (below);
/// SQLite step by step.
pub fn arrive(conn: &mut Conn<'_>, customer: &CustomerRow, device: &DeviceRow) -> AppResult<(CustomerRow, bool)> {
    if let Conn::Pg(c) = conn {
        let found = diesel::sql_query(ARRIVAL_SQL)
            .bind::<DbUuid, _>(customer.id)
            .bind::<Text, _>(&customer.phone)
            .bind::<Text, _>(&customer.name)
            .bind::<Bool, _>(customer.contact_consent)
            .bind::<DbTime, _>(customer.created_at)
            .bind::<DbUuid, _>(device.id)
            .bind::<Text, _>(&device.imei)
            .bind::<DbUuid, _>(device.model_id)
            .bind::<Date, _>(device.purchase_date)
            .bind::<Nullable<BigInt>, _>(device.price_paid_minor)
            .bind::<Nullable<Text>, _>(&device.seller)
            .bind::<Nullable<Text>, _>(&device.invoice_number)
            .get_result::<Arrived>(*c)
            .optional()?;
        if let Some(Arrived {
            customer,
            device_inserted,
        }) = found
        {
            return Ok((customer, device_inserted));
        }
        // Another opening is registering the same new customer: their insert and ours met; read it now.
    }
    let customer = crate::customers::repo::insert_if_absent(conn, customer)?;
    let device = DeviceRow {
        customer_id: Some(customer.id),
        ..device.clone()
    };
    let inserted = insert_if_absent(conn, &device)?;
    Ok((customer, inserted))
}

/// The customer found or inserted by phone, then the device inserted unless its IMEI is known (an insert that
/// meets another transaction's insert of the same key waits for it, then does nothing). When the customer's insert
/// met another in flight, neither its row nor the old one is in the statement's snapshot: no row comes back, and
/// the caller reads again step by step.
const ARRIVAL_SQL: &str = "WITH ins_c AS (
    INSERT INTO customers (id, phone, name, contact_consent, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (phone) DO NOTHING
    RETURNING id, phone, name, contact_consent, created_at, updated_at
), c AS (
    SELECT id, phone, name, contact_consent, created_at, updated_at FROM ins_c
    UNION ALL
    SELECT id, phone, name, contact_consent, created_at, updated_at FROM customers
    WHERE phone = $2 AND NOT EXISTS (SELECT 1 FROM ins_c)
), d AS (
    INSERT INTO devices (id, imei, model_id, purchase_date, warranty_starts_on, price_paid_minor, seller,
        invoice_number, state, customer_id, credit_correction_days, created_at, updated_at)
    SELECT $6, $7, $8, $9, $9, $10, $11, $12, 'in_use', c.id, 0, $5, $5 FROM c
    ON CONFLICT (imei) DO NOTHING
    RETURNING id
)
SELECT c.id, c.phone, c.name, c.contact_consent, c.created_at, c.updated_at,
    EXISTS (SELECT 1 FROM d) AS device_inserted
FROM c";

#[derive(QueryableByName)]
struct Arrived {
    #[diesel(embed)]
    customer: CustomerRow,
    #[diesel(sql_type = Bool)]
    device_inserted: bool,
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

/// Moves a device from state `from` to `to`; false when it is no longer in `from`.
pub fn set_state(conn: &mut Conn<'_>, device: Id, from: DeviceState, to: DeviceState, now: Ts) -> AppResult<bool> {
    let changed = with_conn!(conn, c => diesel::update(devices::table.find(device))
        .filter(devices::state.eq(from.as_str()))
        .set((devices::state.eq(to.as_str()), devices::updated_at.eq(now)))
        .execute(c))?;
    Ok(changed == 1)
}

/// Moves an exchanged phone's extended warranty to its replacement: the customer bought a longer free repair for
/// their phone, and the replacement is that phone now (its year counts from the exchange, as the replacement's own
/// periods do). A screen plan stays with the old phone: its year runs from the original purchase, which the
/// replacement's periods no longer count from, so moving it would restart the plan's year.
pub fn move_plans(conn: &mut Conn<'_>, from: Id, to: Id) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(device_plans::table)
        .filter(device_plans::device_id.eq(from))
        .filter(device_plans::kind.eq(PlanKind::ExtendedWarranty.as_str()))
        .set(device_plans::device_id.eq(to))
        .execute(c))?)
}
