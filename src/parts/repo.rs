//! The catalog's queries: parts, their compatibility with models and series, and their price history.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::{CompatibilityRow, PartChanges, PartRow, PriceRow};
use crate::db::Conn;
use crate::db::schema::{part_compatibility, part_prices, parts, product_models, product_series};
use crate::db::types::{Id, Ts};
use crate::error::AppError;
use crate::error::{AppResult, OrDuplicate};
use crate::with_conn;

diesel::define_sql_function! {
    /// SQL `lower()`, the same function on both engines.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The parts compatible with a model: listed for it, or for its series.
macro_rules! fits_model {
    ($model:expr, $series:expr) => {
        part_compatibility::table
            .filter(
                part_compatibility::model_id
                    .eq($model)
                    .or(part_compatibility::series_id.eq($series)),
            )
            .select(part_compatibility::part_id)
    };
}

pub fn find_part(conn: &mut Conn<'_>, part: Id) -> AppResult<Option<PartRow>> {
    Ok(with_conn!(conn, c => parts::table.find(part).select(PartRow::as_select()).first(c).optional())?)
}

pub fn find_part_by_sku(conn: &mut Conn<'_>, sku: &str) -> AppResult<Option<PartRow>> {
    Ok(
        with_conn!(conn, c => parts::table.filter(parts::sku.eq(sku)).select(PartRow::as_select()).first(c)
        .optional())?,
    )
}

/// Inserts a part; a concurrent creation of the same SKU loses the race to the unique index (`taken`).
pub fn insert_part(conn: &mut Conn<'_>, row: &PartRow, taken: impl FnOnce() -> AppError) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(parts::table).values(row).execute(c)).or_duplicate(taken)?;
    Ok(())
}

/// Changes a part's own columns.
pub fn update_part(conn: &mut Conn<'_>, part: Id, changes: &PartChanges, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(parts::table.find(part))
        .set((changes, parts::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

pub fn set_active(conn: &mut Conn<'_>, part: Id, active: bool, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(parts::table.find(part))
        .set((parts::active.eq(active), parts::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// The compatibility rows of several parts, in id order.
pub fn compatibility_of(conn: &mut Conn<'_>, ids: &[Id]) -> AppResult<Vec<CompatibilityRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(with_conn!(conn, c => part_compatibility::table
        .filter(part_compatibility::part_id.eq_any(ids.to_vec()))
        .order(part_compatibility::id)
        .select(CompatibilityRow::as_select())
        .load(c))?)
}

/// Which of `ids` are models.
pub fn existing_models(conn: &mut Conn<'_>, ids: &[Id]) -> AppResult<Vec<Id>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(with_conn!(conn, c => product_models::table
        .filter(product_models::id.eq_any(ids.to_vec()))
        .select(product_models::id)
        .load(c))?)
}

/// Which of `ids` are series.
pub fn existing_series(conn: &mut Conn<'_>, ids: &[Id]) -> AppResult<Vec<Id>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(with_conn!(conn, c => product_series::table
        .filter(product_series::id.eq_any(ids.to_vec()))
        .select(product_series::id)
        .load(c))?)
}

pub fn insert_compatibility(conn: &mut Conn<'_>, rows: &[CompatibilityRow]) -> AppResult<()> {
    if !rows.is_empty() {
        with_conn!(conn, c => diesel::insert_into(part_compatibility::table).values(rows).execute(c))?;
    }
    Ok(())
}

/// Removes a part's compatible models (`models`) or its compatible series.
pub fn delete_compatibility(conn: &mut Conn<'_>, part: Id, models: bool) -> AppResult<()> {
    let of_part = part_compatibility::table.filter(part_compatibility::part_id.eq(part));
    if models {
        with_conn!(conn, c => diesel::delete(of_part.filter(part_compatibility::model_id.is_not_null())).execute(c))?;
    } else {
        with_conn!(conn, c => diesel::delete(of_part.filter(part_compatibility::series_id.is_not_null())).execute(c))?;
    }
    Ok(())
}

pub fn count_compatibility(conn: &mut Conn<'_>, part: Id) -> AppResult<i64> {
    Ok(with_conn!(conn, c => part_compatibility::table
        .filter(part_compatibility::part_id.eq(part))
        .count()
        .get_result(c))?)
}

pub fn insert_price(conn: &mut Conn<'_>, row: &PriceRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(part_prices::table).values(row).execute(c))?;
    Ok(())
}

/// The price change in force at `at`: the latest to take effect at or before it; of changes taking effect at the
/// same instant, the one made last.
pub fn price_change_in_force(conn: &mut Conn<'_>, part: Id, at: Ts) -> AppResult<Option<PriceRow>> {
    Ok(with_conn!(conn, c => part_prices::table
        .filter(part_prices::part_id.eq(part))
        .filter(part_prices::effective_at.le(at))
        .order((part_prices::effective_at.desc(), part_prices::created_at.desc(), part_prices::id.desc()))
        .select(PriceRow::as_select())
        .first(c)
        .optional())?)
}

/// The list price (in fen) of a part in force at `at`, or `None` when no price had taken effect by then.
pub fn price_in_force(conn: &mut Conn<'_>, part: Id, at: Ts) -> AppResult<Option<i64>> {
    Ok(price_change_in_force(conn, part, at)?.map(|p| p.price_minor))
}

/// The prices in force at `at` of several parts; parts without one are absent.
pub fn prices_in_force(conn: &mut Conn<'_>, ids: &[Id], at: Ts) -> AppResult<HashMap<Id, i64>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Id, i64)> = with_conn!(conn, c => part_prices::table
        .filter(part_prices::part_id.eq_any(ids.to_vec()))
        .filter(part_prices::effective_at.le(at))
        .order((part_prices::effective_at.desc(), part_prices::created_at.desc(), part_prices::id.desc()))
        .select((part_prices::part_id, part_prices::price_minor))
        .load(c))?;
    let mut prices = HashMap::new();
    for (part, price) in rows {
        // Rows come in force-order, so the first one seen for a part is its price in force.
        prices.entry(part).or_insert(price);
    }
    Ok(prices)
}

/// A page of a part's price changes, the most recently made first, before the change `before`.
pub fn price_changes(conn: &mut Conn<'_>, part: Id, before: Option<Id>, fetch: i64) -> AppResult<Vec<PriceRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = part_prices::table
            .filter(part_prices::part_id.eq(part))
            .select(PriceRow::as_select())
            .order(part_prices::id.desc())
            .limit(fetch)
            .into_boxed();
        if let Some(before) = before {
            q = q.filter(part_prices::id.lt(before));
        }
        q.load(c)
    })?)
}

/// What a part list is filtered by, already parsed.
pub struct PartFilter {
    /// Upper-case.
    pub sku: Option<String>,
    /// A LIKE pattern of the lowered search text ([`super::rules::like_pattern`]).
    pub pattern: Option<String>,
    pub category: Option<&'static str>,
    /// Only parts that fit this model (its id and its series' id).
    pub fits: Option<(Id, Id)>,
    pub active: Option<bool>,
}

/// A page of parts in creation (id) order after the part `after`.
pub fn parts_page(conn: &mut Conn<'_>, filter: &PartFilter, after: Option<Id>, fetch: i64) -> AppResult<Vec<PartRow>> {
    // Case-insensitive search the same way on both engines: `lower()` on the column and on the text. PostgreSQL's
    // LIKE is case-sensitive (ILIKE is not portable) and SQLite's folds only ASCII, so both sides are lowered;
    // SQLite's `lower()` folds only ASCII letters, which is what the parameter promises.
    Ok(with_conn!(conn, c => {
        let mut q = parts::table.select(PartRow::as_select()).order(parts::id).limit(fetch).into_boxed();
        if let Some(after) = after {
            q = q.filter(parts::id.gt(after));
        }
        if let Some(sku) = &filter.sku {
            q = q.filter(parts::sku.eq(sku.clone()));
        }
        if let Some(pattern) = &filter.pattern {
            q = q.filter(
                lower(parts::name).like(pattern.clone()).escape('\\')
                    .or(lower(parts::sku).like(pattern.clone()).escape('\\')),
            );
        }
        if let Some(category) = filter.category {
            q = q.filter(parts::category.eq(category));
        }
        if let Some((model, series)) = filter.fits {
            q = q.filter(parts::id.eq_any(fits_model!(model, series)));
        }
        if let Some(active) = filter.active {
            q = q.filter(parts::active.eq(active));
        }
        q.load(c)
    })?)
}

/// The active parts that fit a model, directly or through its series.
pub fn active_parts_fitting(conn: &mut Conn<'_>, model: Id, series: Id) -> AppResult<Vec<PartRow>> {
    Ok(with_conn!(conn, c => parts::table
        .filter(parts::active.eq(true))
        .filter(parts::id.eq_any(fits_model!(model, series)))
        .select(PartRow::as_select())
        .load(c))?)
}
