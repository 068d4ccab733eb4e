//! The seeding use case: one write transaction; each record is looked up by its natural key first.

use uuid::Uuid;

use super::model::{LOANERS, MODELS, PARTNER, PARTS, SERIES, STORES, SeedReport};
use super::repo::{self, NewLoaner, NewPart, find_partner};
use crate::catalog::repo::{models, series, stores};
use crate::catalog::{self, CreateModel, CreateSeries, CreateStore, StoreKind};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::imei::Imei;
use crate::money::Money;

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
                        address: None,
                        phone: None,
                    };
                    report.created.push(format!("store {code}"));
                    catalog::insert(conn, &request.parse()?, None)?.id
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
            catalog::insert(conn, &request.parse()?, None)?;
            report.created.push(format!("series {code}"));
        }
        for (code, name, series) in MODELS {
            if model_of(conn, code)?.is_some() {
                report.present += 1;
                continue;
            }
            let series_id = series_id(conn, series)?.ok_or(AppError::NotFound("series"))?;
            let request = CreateModel {
                code: (*code).into(),
                name: (*name).into(),
                series_id,
            };
            catalog::insert(conn, &request.parse()?, None)?;
            report.created.push(format!("model {code}"));
        }
        seed_loaners(conn, &store_ids, &mut report)?;
        seed_parts(conn, &store_ids, &mut report)?;
        if find_partner(conn, PARTNER.0)?.is_none() {
            repo::insert_partner(conn, PARTNER.0, PARTNER.1, Ts(crate::now()))?;
            report.created.push(format!("courier partner {}", PARTNER.0));
        } else {
            report.present += 1;
        }
        Ok(report)
    })
}

fn series_id(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<Uuid>> {
    Ok(series::find_by_code(conn, code)?.map(|row| row.id.0))
}

/// A model's id and its series' id.
fn model_of(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<(Id, Id)>> {
    Ok(models::find_by_code(conn, code)?.map(|row| (row.id, row.series_id)))
}

fn seed_loaners(conn: &mut Conn<'_>, stores: &[(Uuid, StoreKind)], report: &mut SeedReport) -> AppResult<()> {
    let centers = stores.iter().filter(|(_, kind)| *kind == StoreKind::ServiceCenter);
    for (store_index, (store_id, _)) in centers.enumerate() {
        for (i, (model, grade)) in LOANERS.iter().enumerate() {
            // A fixed 14-digit body per (store, slot) keeps the IMEI the same on every run.
            let imei = Imei::from_body(&format!("8699{:02}{:08}", store_index + 1, i + 1))
                .map_err(|e| anyhow::anyhow!("demo IMEI: {e}"))?;
            if repo::loaner_exists(conn, &imei)? {
                report.present += 1;
                continue;
            }
            let (model_id, series_id) = model_of(conn, model)?.ok_or(AppError::NotFound("model"))?;
            let loaner = NewLoaner {
                imei: &imei,
                series_id,
                model_id,
                store_id: Id(*store_id),
                grade,
            };
            repo::insert_loaner(conn, &loaner, Ts(crate::now()))?;
            report.created.push(format!("loaner {imei} ({model}, grade {grade})"));
        }
    }
    Ok(())
}

fn seed_parts(conn: &mut Conn<'_>, stores: &[(Uuid, StoreKind)], report: &mut SeedReport) -> AppResult<()> {
    for (sku, name, category, compat, price, labour, warranty, warehouse_qty, center_qty) in PARTS {
        if repo::part_exists(conn, sku)? {
            report.present += 1;
            continue;
        }
        let part_id = Id(Uuid::now_v7());
        let now = Ts(crate::now());
        let (model_id, series_id) = match compat.strip_prefix('@') {
            Some(series) => (None, series_id(conn, series)?.map(Id)),
            None => (model_of(conn, compat)?.map(|(m, _)| m), None),
        };
        let part = NewPart {
            id: part_id,
            sku,
            name,
            category,
            labour_minor: labour.map(|yuan| yuan * 100),
            warranty_months: *warranty,
            model_id,
            series_id,
            price_minor: price * 100,
        };
        repo::insert_part(conn, &part, now)?;
        for (store_id, kind) in stores {
            let qty = if *kind == StoreKind::Warehouse {
                *warehouse_qty
            } else {
                *center_qty
            };
            repo::insert_opening_stock(conn, Id(*store_id), part_id, qty, now)?;
        }
        report.created.push(format!("part {sku} with price and stock"));
    }
    Ok(())
}
