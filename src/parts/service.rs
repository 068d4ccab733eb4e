//! The catalog's use cases: create, change, (de)activate and list parts, change and read their prices, and the
//! public price list. Each opens its one transaction as the caller's key (`Bearer::write`/`read`, the key checked on
//! the same connection), or `Db::read` for the public list; creation and price changes run in the transaction the
//! idempotent create opens.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::http::{
    Part, PartList, PartQuery, PriceChange, PriceChangeList, PriceInForce, PriceList, PriceListItem, PriceListModel,
};
use super::model::{CompatibilityRow, ModelRef, NewPart, PartCategory, PartRow, PartUpdate, PriceRow};
use super::repo::{self, PartFilter};
use super::rules;
use crate::audit;
use crate::auth::{Bearer, Principal};
use crate::catalog::ModelRow;
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::money::Money;

pub use super::repo::price_in_force;

fn get(conn: &mut Conn<'_>, id: Uuid) -> AppResult<PartRow> {
    repo::find_part(conn, Id(id))?.ok_or(AppError::NotFound("part"))
}

/// The API view of parts: each with its compatibility and its price in force now.
fn to_parts(conn: &mut Conn<'_>, rows: Vec<PartRow>) -> AppResult<Vec<Part>> {
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let compat = repo::compatibility_of(conn, &ids)?;
    let prices = repo::prices_in_force(conn, &ids, Ts(crate::now()))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = compat.iter().filter(|c| c.part_id == r.id);
            Part {
                id: r.id.0,
                compatible_model_ids: mine.clone().filter_map(|c| c.model_id.map(|m| m.0)).collect(),
                compatible_series_ids: mine.filter_map(|c| c.series_id.map(|s| s.0)).collect(),
                price: prices.get(&r.id).copied().map(Money::from_minor),
                sku: r.sku,
                name: r.name,
                category: PartCategory::parse(&r.category),
                labour_price: r.labour_minor.map(Money::from_minor),
                warranty_months: u32::try_from(r.warranty_months).unwrap_or_default(),
                active: r.active,
                created_at: r.created_at.0,
                updated_at: r.updated_at.0,
            }
        })
        .collect())
}

fn load_in(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Part> {
    let row = get(conn, id)?;
    to_parts(conn, vec![row])?.pop().ok_or(AppError::NotFound("part"))
}

/// One part, with its compatibility and its price in force now.
pub fn load(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<Part> {
    bearer.read(db, |conn, _| load_in(conn, id))
}

/// Every listed model and series must exist; each missing one is named by its position.
fn check_compatibility(conn: &mut Conn<'_>, models: &[Uuid], series: &[Uuid]) -> AppResult<()> {
    let wanted_models: Vec<Id> = models.iter().copied().map(Id).collect();
    let found_models = repo::existing_models(conn, &wanted_models)?;
    let wanted_series: Vec<Id> = series.iter().copied().map(Id).collect();
    let found_series = repo::existing_series(conn, &wanted_series)?;
    let mut checks = Checks::new();
    for (i, id) in wanted_models.iter().enumerate() {
        if !found_models.contains(id) {
            checks.fail(&format!("compatible_model_ids[{i}]"), "no such model");
        }
    }
    for (i, id) in wanted_series.iter().enumerate() {
        if !found_series.contains(id) {
            checks.fail(&format!("compatible_series_ids[{i}]"), "no such series");
        }
    }
    checks.finish()
}

/// Adds compatibility rows, each model or series once however often it is listed.
fn insert_compatibility(conn: &mut Conn<'_>, part: Id, models: &[Uuid], series: &[Uuid]) -> AppResult<()> {
    let mut rows: Vec<CompatibilityRow> = Vec::new();
    let mut seen: Vec<Uuid> = Vec::new();
    for (model, series) in models
        .iter()
        .map(|m| (Some(*m), None))
        .chain(series.iter().map(|s| (None, Some(*s))))
    {
        let Some(id) = model.or(series) else { continue };
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        rows.push(CompatibilityRow {
            id: Id(Uuid::now_v7()),
            part_id: part,
            model_id: model.map(Id),
            series_id: series.map(Id),
        });
    }
    repo::insert_compatibility(conn, &rows)
}

fn insert_price(
    conn: &mut Conn<'_>,
    part: Id,
    price_minor: i64,
    effective_at: Ts,
    actor: Option<Uuid>,
) -> AppResult<PriceRow> {
    let row = PriceRow {
        id: Id(Uuid::now_v7()),
        part_id: part,
        price_minor,
        currency: "CNY".to_owned(),
        effective_at,
        api_key_id: actor.map(Id),
        created_at: Ts(crate::now()),
    };
    repo::insert_price(conn, &row)?;
    Ok(row)
}

/// Creates a part for an admin, in the transaction the idempotent create opens.
pub fn create(conn: &mut Conn<'_>, principal: &Principal, new: &NewPart) -> AppResult<Part> {
    principal.require_admin()?;
    insert(conn, new, Some(principal.key_id))
}

pub fn insert(conn: &mut Conn<'_>, new: &NewPart, actor: Option<Uuid>) -> AppResult<Part> {
    let row = &new.row;
    if repo::find_part_by_sku(conn, &row.sku)?.is_some() {
        return Err(duplicate_sku(&row.sku));
    }
    check_compatibility(conn, &new.compatible_model_ids, &new.compatible_series_ids)?;
    // A concurrent creation of the same SKU loses the race to the unique index.
    repo::insert_part(conn, row, || duplicate_sku(&row.sku))?;
    insert_compatibility(conn, row.id, &new.compatible_model_ids, &new.compatible_series_ids)?;
    insert_price(conn, row.id, new.price_minor, row.created_at, actor)?;
    let part = load_in(conn, row.id.0)?;
    audit::record(conn, actor, "create", "part", part.id, &part)?;
    Ok(part)
}

fn duplicate_sku(sku: &str) -> AppError {
    AppError::conflict("duplicate_sku", format!("a part with SKU {sku} exists"))
}

/// Changes a part, for admins.
pub fn update(db: &Db, bearer: &Bearer, id: Uuid, update: &PartUpdate) -> AppResult<Part> {
    bearer.write(db, |conn, principal| update_in(conn, principal, id, update))
}

/// [`update`] in the caller's transaction.
pub fn update_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, update: &PartUpdate) -> AppResult<Part> {
    principal.require_admin()?;
    let actor = principal.key_id;
    get(conn, id)?;
    check_compatibility(
        conn,
        update.compatible_model_ids.as_deref().unwrap_or_default(),
        update.compatible_series_ids.as_deref().unwrap_or_default(),
    )?;
    let part = Id(id);
    repo::update_part(conn, part, &update.changes, Ts(crate::now()))?;
    if let Some(models) = &update.compatible_model_ids {
        repo::delete_compatibility(conn, part, true)?;
        insert_compatibility(conn, part, models, &[])?;
    }
    if let Some(series) = &update.compatible_series_ids {
        repo::delete_compatibility(conn, part, false)?;
        insert_compatibility(conn, part, &[], series)?;
    }
    if repo::count_compatibility(conn, part)? == 0 {
        // The transaction rolls back: a part always fits something.
        let field = if update.compatible_model_ids.is_some() {
            "compatible_model_ids"
        } else {
            "compatible_series_ids"
        };
        return Err(AppError::field(
            field,
            "a part needs at least one compatible model or series",
        ));
    }
    audit::record(conn, Some(actor), "update", "part", id, update)?;
    load_in(conn, id)
}

/// Deactivates or activates a part, for admins; idempotent, audited when it changes something.
pub fn set_active(db: &Db, bearer: &Bearer, id: Uuid, active: bool) -> AppResult<Part> {
    bearer.write(db, |conn, principal| set_active_in(conn, principal, id, active))
}

/// [`set_active`] in the caller's transaction.
pub fn set_active_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, active: bool) -> AppResult<Part> {
    principal.require_admin()?;
    let actor = principal.key_id;
    let row = get(conn, id)?;
    if row.active != active {
        repo::set_active(conn, Id(id), active, Ts(crate::now()))?;
        let action = if active { "activate" } else { "deactivate" };
        audit::record(
            conn,
            Some(actor),
            action,
            "part",
            id,
            &serde_json::json!({ "active": active }),
        )?;
    }
    load_in(conn, id)
}

/// One page of parts, each with its price in force now.
pub fn list(db: &Db, bearer: &Bearer, query: &PartQuery, page: PageRequest) -> AppResult<PartList> {
    bearer.read(db, |conn, _| {
        let fits = match query.model_id {
            Some(model_id) => match crate::catalog::repo::models::find(conn, model_id)? {
                Some(model) => Some((model.id, model.series_id)),
                // No such model: nothing fits it.
                None => {
                    return Ok(PartList {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
            None => None,
        };
        let filter = PartFilter {
            sku: query.sku.as_deref().map(|s| s.trim().to_ascii_uppercase()),
            pattern: query
                .q
                .as_deref()
                .map(|q| rules::like_pattern(&q.trim().to_lowercase())),
            category: query.category.map(PartCategory::as_str),
            fits,
            active: query.active,
        };
        let rows = repo::parts_page(conn, &filter, page.after.map(Id), page.fetch())?;
        let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
        Ok(PartList {
            items: to_parts(conn, rows)?,
            next_cursor,
        })
    })
}

/// Changes a part's list price, for admins, in the transaction the idempotent create opens.
pub fn change_price(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    price_minor: i64,
    effective_at: Ts,
) -> AppResult<PriceChange> {
    principal.require_admin()?;
    let actor = principal.key_id;
    get(conn, id)?;
    let change = PriceChange::from(insert_price(conn, Id(id), price_minor, effective_at, Some(actor))?);
    audit::record(conn, Some(actor), "change_price", "part", id, &change)?;
    crate::events::emit_in(
        conn,
        crate::events::NewEvent {
            event_type: crate::events::EventType::PriceChangeScheduled,
            subject: crate::events::Subject {
                kind: crate::events::SubjectType::Part,
                id,
                store_id: None,
                partner_id: None,
            },
            payload: serde_json::json!({
                "part_id": id,
                "price_change_id": change.id,
                "price": change.price,
                "effective_at": change.effective_at,
            }),
            internal: None,
        },
    )?;
    Ok(change)
}

pub fn price_history(db: &Db, bearer: &Bearer, id: Uuid, page: PageRequest) -> AppResult<PriceChangeList> {
    bearer.read(db, |conn, _| {
        get(conn, id)?;
        let rows = repo::price_changes(conn, Id(id), page.after.map(Id), page.fetch())?;
        let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
        Ok(PriceChangeList {
            items: rows.into_iter().map(PriceChange::from).collect(),
            next_cursor,
        })
    })
}

pub fn price_at(db: &Db, bearer: &Bearer, id: Uuid, at: DateTime<Utc>) -> AppResult<PriceInForce> {
    bearer.read(db, |conn, _| {
        get(conn, id)?;
        let change = repo::price_change_in_force(conn, Id(id), Ts(at))?.ok_or(AppError::NotFound("price"))?;
        Ok(PriceInForce {
            part_id: id,
            at,
            price: Money::from_minor(change.price_minor),
            price_change_id: change.id.0,
            effective_at: change.effective_at.0,
        })
    })
}

/// The public price list of one model; no key involved.
pub fn price_list(db: &Db, model: &ModelRef) -> AppResult<PriceList> {
    db.read(|conn| {
        let found: Option<ModelRow> = match model {
            ModelRef::Id(id) => crate::catalog::repo::models::find(conn, *id)?,
            ModelRef::Code(code) => crate::catalog::repo::models::find_by_code(conn, code)?,
        };
        // A deactivated model is not published, and is told apart from an unknown one by nobody.
        let model = found.filter(|m| m.active).ok_or(AppError::NotFound("model"))?;
        let rows = repo::active_parts_fitting(conn, model.id, model.series_id)?;
        let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
        let prices = repo::prices_in_force(conn, &ids, Ts(crate::now()))?;
        let mut items: Vec<(PartCategory, PriceListItem)> = rows
            .into_iter()
            .filter_map(|r| {
                let price = prices.get(&r.id).copied()?;
                let category = PartCategory::parse(&r.category);
                Some((
                    category,
                    PriceListItem {
                        sku: r.sku,
                        name: r.name,
                        category,
                        price: Money::from_minor(price),
                        labour_price: r.labour_minor.map(Money::from_minor),
                        warranty_months: u32::try_from(r.warranty_months).unwrap_or_default(),
                    },
                ))
            })
            .collect();
        items.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.sku.cmp(&y.sku)));
        Ok(PriceList {
            model: PriceListModel {
                id: model.id.0,
                code: model.code,
                name: model.name,
            },
            items: items.into_iter().map(|(_, item)| item).collect(),
        })
    })
}
