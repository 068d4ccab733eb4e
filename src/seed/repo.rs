//! The demo data's writes that no area's use case makes as the demo wants them: loaners, parts with their price and
//! opening stock, and the courier partner, written as bare rows (no audit entries, as before).

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::Conn;
use crate::db::schema::{
    courier_partners, loaners, part_compatibility, part_prices, parts, stock_levels, stock_movements,
};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::imei::Imei;
use crate::with_conn;

pub fn find_partner(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<Uuid>> {
    let id: Option<Id> = with_conn!(conn, c => courier_partners::table
        .filter(courier_partners::code.eq(code.to_ascii_uppercase()))
        .select(courier_partners::id)
        .first(c)
        .optional())?;
    Ok(id.map(Uuid::from))
}

pub fn insert_partner(conn: &mut Conn<'_>, code: &str, name: &str, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(courier_partners::table).values((
        courier_partners::id.eq(Id(Uuid::now_v7())),
        courier_partners::code.eq(code),
        courier_partners::name.eq(name),
        courier_partners::active.eq(true),
        courier_partners::created_at.eq(now),
        courier_partners::updated_at.eq(now),
    )).execute(c))?;
    Ok(())
}

pub fn loaner_exists(conn: &mut Conn<'_>, imei: &Imei) -> AppResult<bool> {
    let exists: i64 = with_conn!(conn, c => loaners::table
        .filter(loaners::imei.eq(imei.as_str())).count().get_result(c))?;
    Ok(exists > 0)
}

/// An available loaner at `store`, idle since `now`.
pub struct NewLoaner<'a> {
    pub imei: &'a Imei,
    pub series_id: Id,
    pub model_id: Id,
    pub store_id: Id,
    pub grade: &'a str,
}

pub fn insert_loaner(conn: &mut Conn<'_>, loaner: &NewLoaner<'_>, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(loaners::table).values((
        loaners::id.eq(Id(Uuid::now_v7())),
        loaners::imei.eq(loaner.imei.as_str()),
        loaners::series_id.eq(loaner.series_id),
        loaners::model_id.eq(loaner.model_id),
        loaners::store_id.eq(loaner.store_id),
        loaners::grade.eq(loaner.grade),
        loaners::state.eq("available"),
        loaners::idle_since.eq(now),
        loaners::created_at.eq(now),
        loaners::updated_at.eq(now),
    )).execute(c))?;
    Ok(())
}

pub fn part_exists(conn: &mut Conn<'_>, sku: &str) -> AppResult<bool> {
    let existing: Option<Id> = with_conn!(conn, c => parts::table
        .filter(parts::sku.eq(sku)).select(parts::id).first(c).optional())?;
    Ok(existing.is_some())
}

/// A part with its compatibility (a model or a series) and its price in force from `now`.
pub struct NewPart<'a> {
    pub id: Id,
    pub sku: &'a str,
    pub name: &'a str,
    pub category: &'a str,
    pub labour_minor: Option<i64>,
    pub warranty_months: i32,
    pub model_id: Option<Id>,
    pub series_id: Option<Id>,
    pub price_minor: i64,
}

pub fn insert_part(conn: &mut Conn<'_>, part: &NewPart<'_>, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(parts::table).values((
        parts::id.eq(part.id),
        parts::sku.eq(part.sku),
        parts::name.eq(part.name),
        parts::category.eq(part.category),
        parts::labour_minor.eq(part.labour_minor),
        parts::warranty_months.eq(part.warranty_months),
        parts::active.eq(true),
        parts::created_at.eq(now),
        parts::updated_at.eq(now),
    )).execute(c))?;
    with_conn!(conn, c => diesel::insert_into(part_compatibility::table).values((
        part_compatibility::id.eq(Id(Uuid::now_v7())),
        part_compatibility::part_id.eq(part.id),
        part_compatibility::model_id.eq(part.model_id),
        part_compatibility::series_id.eq(part.series_id),
    )).execute(c))?;
    with_conn!(conn, c => diesel::insert_into(part_prices::table).values((
        part_prices::id.eq(Id(Uuid::now_v7())),
        part_prices::part_id.eq(part.id),
        part_prices::price_minor.eq(part.price_minor),
        part_prices::currency.eq("CNY"),
        part_prices::effective_at.eq(now),
        part_prices::created_at.eq(now),
    )).execute(c))?;
    Ok(())
}

/// Opening stock: a stock level and the receipt in the ledger that explains it, so on_hand equals the ledger's sum
/// from the start.
pub fn insert_opening_stock(conn: &mut Conn<'_>, location: Id, part: Id, qty: i64, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(stock_levels::table).values((
        stock_levels::location_id.eq(location),
        stock_levels::part_id.eq(part),
        stock_levels::on_hand.eq(qty),
        stock_levels::reserved.eq(0i64),
        stock_levels::reorder_point.eq(qty / 4),
        stock_levels::reorder_qty.eq(qty / 2),
        stock_levels::updated_at.eq(now),
    )).execute(c))?;
    with_conn!(conn, c => diesel::insert_into(stock_movements::table).values((
        stock_movements::id.eq(Id(Uuid::now_v7())),
        stock_movements::location_id.eq(location),
        stock_movements::part_id.eq(part),
        stock_movements::kind.eq("receipt"),
        stock_movements::quantity.eq(qty),
        stock_movements::reference.eq("DEMO-OPENING-STOCK"),
        stock_movements::reason.eq("demo opening stock"),
        stock_movements::at.eq(now),
    )).execute(c))?;
    Ok(())
}
