//! `depot seed-demo`: a realistic demo data set (stores in two cities, MATE/P premium and NOVA/ENJOY standard
//! series with models, loaners, parts with prices and stock, one courier partner). Each record is looked up by its
//! natural key first, so running it again adds only what is missing.

use std::fmt;

use diesel::prelude::*;
use uuid::Uuid;

use crate::catalog::models::CreateModel;
use crate::catalog::series::CreateSeries;
use crate::catalog::stores::{self, CreateStore, StoreKind};
use crate::db::schema::{
    courier_partners, loaners, part_compatibility, part_prices, parts, product_models, product_series, stock_levels,
    stock_movements,
};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::imei::Imei;
use crate::money::Money;
use crate::with_conn;

#[derive(Default)]
pub struct SeedReport {
    pub created: Vec<String>,
    pub present: usize,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "demo data: {} record(s) created, {} already present",
            self.created.len(),
            self.present
        )?;
        for line in &self.created {
            writeln!(f, "  + {line}")?;
        }
        Ok(())
    }
}

const STORES: &[(&str, &str, &str, StoreKind)] = &[
    (
        "SZ-FUTIAN",
        "Shenzhen Futian Service Center",
        "Shenzhen",
        StoreKind::ServiceCenter,
    ),
    (
        "SZ-NANSHAN",
        "Shenzhen Nanshan Service Center",
        "Shenzhen",
        StoreKind::ServiceCenter,
    ),
    (
        "SH-XUHUI",
        "Shanghai Xuhui Service Center",
        "Shanghai",
        StoreKind::ServiceCenter,
    ),
    (
        "SZ-WH1",
        "Shenzhen Regional Parts Warehouse",
        "Shenzhen",
        StoreKind::Warehouse,
    ),
];

/// Code, name, premium, loaner deposit in fen.
const SERIES: &[(&str, &str, bool, Option<i64>)] = &[
    ("MATE", "Mate", true, Some(100_000)),
    ("P", "P", true, Some(80_000)),
    ("NOVA", "nova", false, None),
    ("ENJOY", "Enjoy", false, None),
];

const MODELS: &[(&str, &str, &str)] = &[
    ("MATE60PRO", "Mate 60 Pro", "MATE"),
    ("MATE70", "Mate 70", "MATE"),
    ("P70", "P70", "P"),
    ("P70PRO", "P70 Pro", "P"),
    ("NOVA12", "nova 12", "NOVA"),
    ("NOVA13", "nova 13", "NOVA"),
    ("ENJOY70", "Enjoy 70", "ENJOY"),
];

/// Loaners per service center: model, grade.
const LOANERS: &[(&str, &str)] = &[
    ("MATE60PRO", "A"),
    ("MATE60PRO", "B"),
    ("MATE70", "A"),
    ("P70", "A"),
    ("P70PRO", "C"),
];

/// SKU, name, category, compatible model (or series when it starts with `@`), price in yuan, labour in yuan,
/// warranty months, stock at the warehouse, stock at each service center.
type PartSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    Option<i64>,
    i32,
    i64,
    i64,
);
const PARTS: &[PartSeed] = &[
    (
        "SCR-MATE60PRO",
        "Mate 60 Pro display assembly",
        "screen",
        "MATE60PRO",
        1949,
        Some(150),
        3,
        40,
        4,
    ),
    (
        "BAT-MATE60PRO",
        "Mate 60 Pro battery",
        "battery",
        "MATE60PRO",
        299,
        Some(50),
        6,
        60,
        6,
    ),
    (
        "BCV-MATE60PRO",
        "Mate 60 Pro back cover",
        "back_cover",
        "MATE60PRO",
        499,
        Some(80),
        3,
        30,
        3,
    ),
    (
        "SCR-P70",
        "P70 display assembly",
        "screen",
        "P70",
        1399,
        Some(150),
        3,
        35,
        3,
    ),
    ("BAT-P70", "P70 battery", "battery", "P70", 249, Some(50), 6, 50, 5),
    (
        "SCR-NOVA12",
        "nova 12 display assembly",
        "screen",
        "NOVA12",
        799,
        Some(100),
        3,
        25,
        2,
    ),
    (
        "CHG-66W",
        "66 W SuperCharge charger",
        "charger",
        "@MATE",
        149,
        None,
        12,
        80,
        10,
    ),
    (
        "EAR-TYPEC",
        "Type-C wired earphones",
        "earphones",
        "@NOVA",
        99,
        None,
        3,
        100,
        12,
    ),
];

const PARTNER: (&str, &str) = ("SWIFTFOX", "SwiftFox Express");

pub fn find_partner(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<Uuid>> {
    let id: Option<Id> = with_conn!(conn, c => courier_partners::table
        .filter(courier_partners::code.eq(code.to_ascii_uppercase()))
        .select(courier_partners::id)
        .first(c)
        .optional())?;
    Ok(id.map(Uuid::from))
}

pub fn seed_demo(db: &Db) -> AppResult<SeedReport> {
    db.write(|conn| {
        let mut report = SeedReport::default();
        let mut store_ids = Vec::new();
        for (code, name, city, kind) in STORES {
            let id = match stores::find_by_code(conn, code)? {
                Some(row) => {
                    report.present += 1;
                    row.id.0
                }
                None => {
                    let request = CreateStore {
                        code: (*code).into(),
                        name: (*name).into(),
                        city: (*city).into(),
                        kind: *kind,
                        time_zone: None,
                    };
                    report.created.push(format!("store {code}"));
                    stores::insert(conn, &request.parse()?, None)?.id
                }
            };
            store_ids.push((id, *kind));
        }
        for (code, name, premium, deposit) in SERIES {
            if series_id(conn, code)?.is_some() {
                report.present += 1;
                continue;
            }
            let request = CreateSeries {
                code: (*code).into(),
                name: (*name).into(),
                premium: *premium,
                loaner_deposit: deposit.map(Money::from_minor),
            };
            crate::catalog::series::insert(conn, &request.parse()?, None)?;
            report.created.push(format!("series {code}"));
        }
        for (code, name, series) in MODELS {
            if model_of(conn, code)?.is_some() {
                report.present += 1;
                continue;
            }
            let series_id = series_id(conn, series)?.ok_or(crate::error::AppError::NotFound("series"))?;
            let request = CreateModel {
                code: (*code).into(),
                name: (*name).into(),
                series_id,
            };
            crate::catalog::models::insert(conn, &request.parse()?, None)?;
            report.created.push(format!("model {code}"));
        }
        seed_loaners(conn, &store_ids, &mut report)?;
        seed_parts(conn, &store_ids, &mut report)?;
        if find_partner(conn, PARTNER.0)?.is_none() {
            let now = Ts(crate::now());
            with_conn!(conn, c => diesel::insert_into(courier_partners::table).values((
                courier_partners::id.eq(Id(Uuid::now_v7())),
                courier_partners::code.eq(PARTNER.0),
                courier_partners::name.eq(PARTNER.1),
                courier_partners::active.eq(true),
                courier_partners::created_at.eq(now),
                courier_partners::updated_at.eq(now),
            )).execute(c))?;
            report.created.push(format!("courier partner {}", PARTNER.0));
        } else {
            report.present += 1;
        }
        Ok(report)
    })
}

fn series_id(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<Uuid>> {
    let id: Option<Id> = with_conn!(conn, c => product_series::table
        .filter(product_series::code.eq(code)).select(product_series::id).first(c).optional())?;
    Ok(id.map(Uuid::from))
}

/// A model's id and its series' id.
fn model_of(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<(Id, Id)>> {
    Ok(with_conn!(conn, c => product_models::table
        .filter(product_models::code.eq(code))
        .select((product_models::id, product_models::series_id))
        .first(c)
        .optional())?)
}

fn seed_loaners(conn: &mut Conn<'_>, stores: &[(Uuid, StoreKind)], report: &mut SeedReport) -> AppResult<()> {
    let centers = stores.iter().filter(|(_, kind)| *kind == StoreKind::ServiceCenter);
    for (store_index, (store_id, _)) in centers.enumerate() {
        for (i, (model, grade)) in LOANERS.iter().enumerate() {
            // A fixed 14-digit body per (store, slot) keeps the IMEI the same on every run.
            let imei = Imei::from_body(&format!("8699{:02}{:08}", store_index + 1, i + 1))
                .map_err(|e| anyhow::anyhow!("demo IMEI: {e}"))?;
            let exists: i64 = with_conn!(conn, c => loaners::table
                .filter(loaners::imei.eq(imei.as_str())).count().get_result(c))?;
            if exists > 0 {
                report.present += 1;
                continue;
            }
            let (model_id, series_id) = model_of(conn, model)?.ok_or(crate::error::AppError::NotFound("model"))?;
            let now = Ts(crate::now());
            with_conn!(conn, c => diesel::insert_into(loaners::table).values((
                loaners::id.eq(Id(Uuid::now_v7())),
                loaners::imei.eq(imei.as_str()),
                loaners::series_id.eq(series_id),
                loaners::model_id.eq(model_id),
                loaners::store_id.eq(Id(*store_id)),
                loaners::grade.eq(*grade),
                loaners::state.eq("available"),
                loaners::idle_since.eq(now),
                loaners::created_at.eq(now),
                loaners::updated_at.eq(now),
            )).execute(c))?;
            report.created.push(format!("loaner {imei} ({model}, grade {grade})"));
        }
    }
    Ok(())
}

fn seed_parts(conn: &mut Conn<'_>, stores: &[(Uuid, StoreKind)], report: &mut SeedReport) -> AppResult<()> {
    for (sku, name, category, compat, price, labour, warranty, warehouse_qty, center_qty) in PARTS {
        let existing: Option<Id> = with_conn!(conn, c => parts::table
            .filter(parts::sku.eq(sku)).select(parts::id).first(c).optional())?;
        if existing.is_some() {
            report.present += 1;
            continue;
        }
        let part_id = Id(Uuid::now_v7());
        let now = Ts(crate::now());
        with_conn!(conn, c => diesel::insert_into(parts::table).values((
            parts::id.eq(part_id),
            parts::sku.eq(sku),
            parts::name.eq(name),
            parts::category.eq(category),
            parts::labour_minor.eq(labour.map(|yuan| yuan * 100)),
            parts::warranty_months.eq(warranty),
            parts::active.eq(true),
            parts::created_at.eq(now),
            parts::updated_at.eq(now),
        )).execute(c))?;
        let (model_id, series_id) = match compat.strip_prefix('@') {
            Some(series) => (None, series_id(conn, series)?.map(Id)),
            None => (model_of(conn, compat)?.map(|(m, _)| m), None),
        };
        with_conn!(conn, c => diesel::insert_into(part_compatibility::table).values((
            part_compatibility::id.eq(Id(Uuid::now_v7())),
            part_compatibility::part_id.eq(part_id),
            part_compatibility::model_id.eq(model_id),
            part_compatibility::series_id.eq(series_id),
        )).execute(c))?;
        with_conn!(conn, c => diesel::insert_into(part_prices::table).values((
            part_prices::id.eq(Id(Uuid::now_v7())),
            part_prices::part_id.eq(part_id),
            part_prices::price_minor.eq(price * 100),
            part_prices::currency.eq("CNY"),
            part_prices::effective_at.eq(now),
            part_prices::created_at.eq(now),
        )).execute(c))?;
        for (store_id, kind) in stores {
            let qty = if *kind == StoreKind::Warehouse {
                *warehouse_qty
            } else {
                *center_qty
            };
            // Stock arrives by a receipt in the ledger, so on_hand equals the ledger's sum from the start.
            with_conn!(conn, c => diesel::insert_into(stock_levels::table).values((
                stock_levels::location_id.eq(Id(*store_id)),
                stock_levels::part_id.eq(part_id),
                stock_levels::on_hand.eq(qty),
                stock_levels::reserved.eq(0i64),
                stock_levels::reorder_point.eq(qty / 4),
                stock_levels::reorder_qty.eq(qty / 2),
                stock_levels::updated_at.eq(now),
            )).execute(c))?;
            with_conn!(conn, c => diesel::insert_into(stock_movements::table).values((
                stock_movements::id.eq(Id(Uuid::now_v7())),
                stock_movements::location_id.eq(Id(*store_id)),
                stock_movements::part_id.eq(part_id),
                stock_movements::kind.eq("receipt"),
                stock_movements::quantity.eq(qty),
                stock_movements::reference.eq("DEMO-OPENING-STOCK"),
                stock_movements::reason.eq("demo opening stock"),
                stock_movements::at.eq(now),
            )).execute(c))?;
        }
        report.created.push(format!("part {sku} with price and stock"));
    }
    Ok(())
}
