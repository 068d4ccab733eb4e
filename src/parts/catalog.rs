//! The parts catalog: spare parts with their compatible models or series, their price history (future-dated
//! changes allowed, so the price in force depends on the instant) and the public price list customers see.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::audit;
use crate::auth::Bearer;
use crate::catalog::models::ModelRow;
use crate::db::Conn;
use crate::db::schema::{part_compatibility, part_prices, parts, product_models};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, OrDuplicate, Problem, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::money::Money;
use crate::state::AppState;
use crate::with_conn;

/// The longest warranty a part may carry, in months.
pub const MAX_WARRANTY_MONTHS: u32 = 60;
/// How far in the past a price change may take effect: enough for a late entry of today's change, not enough to
/// rewrite the prices earlier quotes were made at.
const BACKDATE_LIMIT_HOURS: i64 = 24;
/// Most compatible models (or series) one request may list.
const MAX_COMPATIBLE: usize = 200;

diesel::define_sql_function! {
    /// SQL `lower()`, the same function on both engines.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// What a part is; also the order of the public price list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartCategory {
    Screen,
    Battery,
    BackCover,
    Camera,
    Board,
    Charger,
    Earphones,
    Speaker,
    Other,
}

impl PartCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            PartCategory::Screen => "screen",
            PartCategory::Battery => "battery",
            PartCategory::BackCover => "back_cover",
            PartCategory::Camera => "camera",
            PartCategory::Board => "board",
            PartCategory::Charger => "charger",
            PartCategory::Earphones => "earphones",
            PartCategory::Speaker => "speaker",
            PartCategory::Other => "other",
        }
    }

    fn parse(value: &str) -> PartCategory {
        match value {
            "screen" => PartCategory::Screen,
            "battery" => PartCategory::Battery,
            "back_cover" => PartCategory::BackCover,
            "camera" => PartCategory::Camera,
            "board" => PartCategory::Board,
            "charger" => PartCategory::Charger,
            "earphones" => PartCategory::Earphones,
            "speaker" => PartCategory::Speaker,
            _ => PartCategory::Other,
        }
    }

    /// The warranty of a part of this category when none is given: the accessory periods of the "three
    /// guarantees" rules (battery 6 months, charger 12, wired earphones 3), and 3 months for any other part.
    pub fn default_warranty_months(self) -> u32 {
        match self {
            PartCategory::Battery => 6,
            PartCategory::Charger => 12,
            PartCategory::Earphones => 3,
            _ => 3,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = parts)]
pub struct PartRow {
    pub id: Id,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub labour_minor: Option<i64>,
    pub warranty_months: i32,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = part_compatibility)]
struct CompatibilityRow {
    id: Id,
    part_id: Id,
    model_id: Option<Id>,
    series_id: Option<Id>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = part_prices)]
pub struct PriceRow {
    pub id: Id,
    pub part_id: Id,
    pub price_minor: i64,
    pub currency: String,
    pub effective_at: Ts,
    pub api_key_id: Option<Id>,
    pub created_at: Ts,
}

/// A spare part.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Part {
    pub id: Uuid,
    /// Unique stock-keeping unit, upper-case, e.g. `SCR-MATE60PRO`.
    pub sku: String,
    pub name: String,
    pub category: PartCategory,
    /// Models the part fits directly.
    pub compatible_model_ids: Vec<Uuid>,
    /// Series whose every model the part fits.
    pub compatible_series_ids: Vec<Uuid>,
    /// The list price in force now; null when no price has taken effect yet.
    pub price: Option<Money>,
    /// Labour charged for fitting the part in a paid repair; null when none is set.
    pub labour_price: Option<Money>,
    /// The part's own warranty once fitted.
    pub warranty_months: u32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePart {
    /// 1-64 letters, digits, `-` or `_`; stored upper-case; unique.
    #[schema(min_length = 1, max_length = 64)]
    pub sku: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub category: PartCategory,
    /// Existing models the part fits. At least one model or series is needed.
    #[serde(default)]
    pub compatible_model_ids: Vec<Uuid>,
    /// Existing series whose every model the part fits.
    #[serde(default)]
    pub compatible_series_ids: Vec<Uuid>,
    /// The opening list price, in force at once.
    pub price: Money,
    pub labour_price: Option<Money>,
    /// 0 to 60; by category when absent (battery 6, charger 12, earphones 3, others 3).
    #[schema(maximum = 60)]
    pub warranty_months: Option<u32>,
}

/// Changes to a part. The SKU never changes; prices change through `POST /parts/{part_id}/prices`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePart {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub category: Option<PartCategory>,
    /// A new labour price; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Money>)]
    pub labour_price: Option<Option<Money>>,
    #[schema(maximum = 60)]
    pub warranty_months: Option<u32>,
    /// Replaces every compatible model (the series stay unless given too).
    pub compatible_model_ids: Option<Vec<Uuid>>,
    /// Replaces every compatible series (the models stay unless given too).
    pub compatible_series_ids: Option<Vec<Uuid>>,
}

/// A field that is present, even as `null`: absent stays `None`, `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = parts)]
pub struct PartChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labour_minor: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warranty_months: Option<i32>,
}

/// A parsed update: the part's own columns and the compatibility lists to replace.
#[derive(Debug, Serialize)]
pub struct PartUpdate {
    #[serde(flatten)]
    pub changes: PartChanges,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatible_model_ids: Option<Vec<Uuid>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatible_series_ids: Option<Vec<Uuid>>,
}

/// A parsed new part with its compatibility and opening price.
#[derive(Debug, Clone)]
pub struct NewPart {
    pub row: PartRow,
    pub compatible_model_ids: Vec<Uuid>,
    pub compatible_series_ids: Vec<Uuid>,
    pub price_minor: i64,
}

/// A SKU: 1-64 letters, digits, `-` or `_`, upper-cased.
fn sku(checks: &mut Checks, field: &str, value: &str) -> String {
    let sku = value.trim().to_ascii_uppercase();
    if sku.is_empty() || sku.len() > 64 {
        checks.fail(field, "must be 1 to 64 characters");
    } else if !sku.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        checks.fail(field, "may hold only letters, digits, '-' and '_'");
    }
    sku
}

fn money(checks: &mut Checks, field: &str, value: &Money) -> i64 {
    value.to_minor_non_negative().unwrap_or_else(|why| {
        checks.fail(&format!("{field}.amount"), why);
        0
    })
}

fn warranty(checks: &mut Checks, months: u32) -> i32 {
    if months > MAX_WARRANTY_MONTHS {
        checks.fail("warranty_months", format!("must be at most {MAX_WARRANTY_MONTHS}"));
    }
    i32::try_from(months).unwrap_or(i32::MAX)
}

fn compatible_count(checks: &mut Checks, field: &str, ids: &[Uuid]) {
    if ids.len() > MAX_COMPATIBLE {
        checks.fail(field, format!("may list at most {MAX_COMPATIBLE} ids"));
    }
}

impl CreatePart {
    pub fn parse(self) -> AppResult<NewPart> {
        let mut checks = Checks::new();
        let sku = sku(&mut checks, "sku", &self.sku);
        let name = checks.text("name", &self.name, 1, 200);
        let price_minor = money(&mut checks, "price", &self.price);
        let labour_minor = self.labour_price.map(|m| money(&mut checks, "labour_price", &m));
        let warranty_months = warranty(
            &mut checks,
            self.warranty_months.unwrap_or(self.category.default_warranty_months()),
        );
        compatible_count(&mut checks, "compatible_model_ids", &self.compatible_model_ids);
        compatible_count(&mut checks, "compatible_series_ids", &self.compatible_series_ids);
        if self.compatible_model_ids.is_empty() && self.compatible_series_ids.is_empty() {
            checks.fail(
                "compatible_model_ids",
                "give at least one compatible model (or series in compatible_series_ids)",
            );
        }
        checks.finish()?;
        let now = Ts(crate::now());
        Ok(NewPart {
            row: PartRow {
                id: Id(Uuid::now_v7()),
                sku,
                name,
                category: self.category.as_str().to_owned(),
                labour_minor,
                warranty_months,
                active: true,
                created_at: now,
                updated_at: now,
            },
            compatible_model_ids: self.compatible_model_ids,
            compatible_series_ids: self.compatible_series_ids,
            price_minor,
        })
    }
}

impl UpdatePart {
    pub fn parse(self) -> AppResult<PartUpdate> {
        let mut checks = Checks::new();
        let name = self.name.map(|v| checks.text("name", &v, 1, 200));
        let labour_minor = self
            .labour_price
            .map(|m| m.map(|m| money(&mut checks, "labour_price", &m)));
        let warranty_months = self.warranty_months.map(|m| warranty(&mut checks, m));
        if let Some(ids) = &self.compatible_model_ids {
            compatible_count(&mut checks, "compatible_model_ids", ids);
        }
        if let Some(ids) = &self.compatible_series_ids {
            compatible_count(&mut checks, "compatible_series_ids", ids);
        }
        if name.is_none()
            && self.category.is_none()
            && labour_minor.is_none()
            && warranty_months.is_none()
            && self.compatible_model_ids.is_none()
            && self.compatible_series_ids.is_none()
        {
            checks.fail(
                "body",
                "give at least one of: name, category, labour_price, warranty_months, compatible_model_ids, \
                 compatible_series_ids",
            );
        }
        checks.finish()?;
        Ok(PartUpdate {
            changes: PartChanges {
                name,
                category: self.category.map(|c| c.as_str().to_owned()),
                labour_minor,
                warranty_months,
            },
            compatible_model_ids: self.compatible_model_ids,
            compatible_series_ids: self.compatible_series_ids,
        })
    }
}

pub fn find_part(conn: &mut Conn<'_>, part_id: Uuid) -> AppResult<Option<PartRow>> {
    Ok(with_conn!(conn, c => parts::table.find(Id(part_id)).select(PartRow::as_select()).first(c).optional())?)
}

pub fn find_part_by_sku(conn: &mut Conn<'_>, sku: &str) -> AppResult<Option<PartRow>> {
    Ok(
        with_conn!(conn, c => parts::table.filter(parts::sku.eq(sku)).select(PartRow::as_select()).first(c)
        .optional())?,
    )
}

fn get(conn: &mut Conn<'_>, id: Uuid) -> AppResult<PartRow> {
    find_part(conn, id)?.ok_or(AppError::NotFound("part"))
}

/// The price change in force at `at`: the latest to take effect at or before it; of changes taking effect at the
/// same instant, the one made last.
fn price_change_in_force(conn: &mut Conn<'_>, part: Id, at: Ts) -> AppResult<Option<PriceRow>> {
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
fn prices_in_force(conn: &mut Conn<'_>, ids: &[Id], at: Ts) -> AppResult<HashMap<Id, i64>> {
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

/// The API view of parts: each with its compatibility and its price in force now.
fn to_parts(conn: &mut Conn<'_>, rows: Vec<PartRow>) -> AppResult<Vec<Part>> {
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let compat: Vec<CompatibilityRow> = if ids.is_empty() {
        Vec::new()
    } else {
        with_conn!(conn, c => part_compatibility::table
            .filter(part_compatibility::part_id.eq_any(ids.clone()))
            .order(part_compatibility::id)
            .select(CompatibilityRow::as_select())
            .load(c))?
    };
    let prices = prices_in_force(conn, &ids, Ts(crate::now()))?;
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

fn load(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Part> {
    let row = get(conn, id)?;
    to_parts(conn, vec![row])?.pop().ok_or(AppError::NotFound("part"))
}

/// Every listed model and series must exist; each missing one is named by its position.
fn check_compatibility(conn: &mut Conn<'_>, models: &[Uuid], series: &[Uuid]) -> AppResult<()> {
    use crate::db::schema::product_series;
    let wanted_models: Vec<Id> = models.iter().copied().map(Id).collect();
    let found_models: Vec<Id> = if wanted_models.is_empty() {
        Vec::new()
    } else {
        with_conn!(conn, c => product_models::table
            .filter(product_models::id.eq_any(wanted_models.clone()))
            .select(product_models::id)
            .load(c))?
    };
    let wanted_series: Vec<Id> = series.iter().copied().map(Id).collect();
    let found_series: Vec<Id> = if wanted_series.is_empty() {
        Vec::new()
    } else {
        with_conn!(conn, c => product_series::table
            .filter(product_series::id.eq_any(wanted_series.clone()))
            .select(product_series::id)
            .load(c))?
    };
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
    if !rows.is_empty() {
        with_conn!(conn, c => diesel::insert_into(part_compatibility::table).values(&rows).execute(c))?;
    }
    Ok(())
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
    with_conn!(conn, c => diesel::insert_into(part_prices::table).values(&row).execute(c))?;
    Ok(row)
}

pub fn insert(conn: &mut Conn<'_>, new: &NewPart, actor: Option<Uuid>) -> AppResult<Part> {
    let row = &new.row;
    if find_part_by_sku(conn, &row.sku)?.is_some() {
        return Err(duplicate_sku(&row.sku));
    }
    check_compatibility(conn, &new.compatible_model_ids, &new.compatible_series_ids)?;
    // A concurrent creation of the same SKU loses the race to the unique index.
    with_conn!(conn, c => diesel::insert_into(parts::table).values(row).execute(c))
        .or_duplicate(|| duplicate_sku(&row.sku))?;
    insert_compatibility(conn, row.id, &new.compatible_model_ids, &new.compatible_series_ids)?;
    insert_price(conn, row.id, new.price_minor, row.created_at, actor)?;
    let part = load(conn, row.id.0)?;
    audit::record(conn, actor, "create", "part", part.id, &part)?;
    Ok(part)
}

fn duplicate_sku(sku: &str) -> AppError {
    AppError::conflict("duplicate_sku", format!("a part with SKU {sku} exists"))
}

fn update(conn: &mut Conn<'_>, id: Uuid, update: &PartUpdate, actor: Uuid) -> AppResult<Part> {
    get(conn, id)?;
    check_compatibility(
        conn,
        update.compatible_model_ids.as_deref().unwrap_or_default(),
        update.compatible_series_ids.as_deref().unwrap_or_default(),
    )?;
    let part = Id(id);
    let now = Ts(crate::now());
    with_conn!(conn, c => diesel::update(parts::table.find(part))
        .set((&update.changes, parts::updated_at.eq(now)))
        .execute(c))?;
    if let Some(models) = &update.compatible_model_ids {
        with_conn!(conn, c => diesel::delete(part_compatibility::table
            .filter(part_compatibility::part_id.eq(part))
            .filter(part_compatibility::model_id.is_not_null()))
            .execute(c))?;
        insert_compatibility(conn, part, models, &[])?;
    }
    if let Some(series) = &update.compatible_series_ids {
        with_conn!(conn, c => diesel::delete(part_compatibility::table
            .filter(part_compatibility::part_id.eq(part))
            .filter(part_compatibility::series_id.is_not_null()))
            .execute(c))?;
        insert_compatibility(conn, part, &[], series)?;
    }
    let left: i64 = with_conn!(conn, c => part_compatibility::table
        .filter(part_compatibility::part_id.eq(part))
        .count()
        .get_result(c))?;
    if left == 0 {
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
    load(conn, id)
}

fn set_active(conn: &mut Conn<'_>, id: Uuid, active: bool, actor: Uuid) -> AppResult<Part> {
    let row = get(conn, id)?;
    if row.active != active {
        let now = Ts(crate::now());
        with_conn!(conn, c => diesel::update(parts::table.find(Id(id)))
            .set((parts::active.eq(active), parts::updated_at.eq(now)))
            .execute(c))?;
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
    load(conn, id)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PartQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the part with this SKU (any case): 1 to 64 characters without control characters, after surrounding
    /// white space is trimmed.
    #[param(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,62}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub sku: Option<String>,
    /// Parts whose name or SKU contains this text, ignoring the case of ASCII letters: at most 100 characters
    /// without control characters, after surrounding white space is trimmed.
    #[param(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub q: Option<String>,
    pub category: Option<PartCategory>,
    /// Only parts that fit this model, directly or through its series.
    pub model_id: Option<Uuid>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartList {
    pub items: Vec<Part>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `%` and `_` in a search text match themselves, not any text.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
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

fn list(conn: &mut Conn<'_>, query: &PartQuery, page: PageRequest) -> AppResult<PartList> {
    let model = match query.model_id {
        Some(model_id) => match crate::catalog::models::find(conn, model_id)? {
            Some(model) => Some(model),
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
    let sku = query.sku.as_deref().map(|s| s.trim().to_ascii_uppercase());
    // Case-insensitive search the same way on both engines: `lower()` on the column and on the text. PostgreSQL's
    // LIKE is case-sensitive (ILIKE is not portable) and SQLite's folds only ASCII, so both sides are lowered;
    // SQLite's `lower()` folds only ASCII letters, which is what the parameter promises.
    let pattern = query.q.as_deref().map(|q| like_pattern(&q.trim().to_lowercase()));
    let rows: Vec<PartRow> = with_conn!(conn, c => {
        let mut q = parts::table.select(PartRow::as_select()).order(parts::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(parts::id.gt(Id(after)));
        }
        if let Some(sku) = &sku {
            q = q.filter(parts::sku.eq(sku.clone()));
        }
        if let Some(pattern) = &pattern {
            q = q.filter(
                lower(parts::name).like(pattern.clone()).escape('\\')
                    .or(lower(parts::sku).like(pattern.clone()).escape('\\')),
            );
        }
        if let Some(category) = query.category {
            q = q.filter(parts::category.eq(category.as_str()));
        }
        if let Some(model) = &model {
            q = q.filter(parts::id.eq_any(fits_model!(model.id, model.series_id)));
        }
        if let Some(active) = query.active {
            q = q.filter(parts::active.eq(active));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(PartList {
        items: to_parts(conn, rows)?,
        next_cursor,
    })
}

/// A query's search text is short.
fn check_query(query: &PartQuery) -> AppResult<()> {
    let mut checks = Checks::new();
    if let Some(q) = &query.q {
        checks.text("q", q, 0, 100);
    }
    if let Some(sku) = &query.sku {
        checks.text("sku", sku, 1, 64);
    }
    checks.finish()
}

/// One change of a part's list price.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceChange {
    pub id: Uuid,
    pub part_id: Uuid,
    pub price: Money,
    /// When the price takes (or took) effect.
    pub effective_at: DateTime<Utc>,
    /// The key that made the change; null for demo data.
    pub api_key_id: Option<Uuid>,
    /// When the change was made.
    pub created_at: DateTime<Utc>,
}

impl From<PriceRow> for PriceChange {
    fn from(r: PriceRow) -> Self {
        PriceChange {
            id: r.id.0,
            part_id: r.part_id.0,
            price: Money::from_minor(r.price_minor),
            effective_at: r.effective_at.0,
            api_key_id: r.api_key_id.map(|k| k.0),
            created_at: r.created_at.0,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePrice {
    /// The new list price, not negative.
    pub price: Money,
    /// When it takes effect: now when absent; may lie in the future, or up to 24 hours in the past.
    pub effective_at: Option<DateTime<Utc>>,
}

impl ChangePrice {
    /// The price in fen and its effective instant.
    pub fn parse(self) -> AppResult<(i64, Ts)> {
        let mut checks = Checks::new();
        let price_minor = money(&mut checks, "price", &self.price);
        let now = crate::now();
        let at = self.effective_at.unwrap_or(now);
        // Cut to microseconds, as PostgreSQL keeps it, so the answer is what is stored.
        let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at);
        if at < now - Duration::hours(BACKDATE_LIMIT_HOURS) {
            checks.fail(
                "effective_at",
                format!("must not be more than {BACKDATE_LIMIT_HOURS} hours in the past"),
            );
        }
        checks.finish()?;
        Ok((price_minor, Ts(at)))
    }
}

fn change_price(
    conn: &mut Conn<'_>,
    id: Uuid,
    price_minor: i64,
    effective_at: Ts,
    actor: Uuid,
) -> AppResult<PriceChange> {
    get(conn, id)?;
    let change = PriceChange::from(insert_price(conn, Id(id), price_minor, effective_at, Some(actor))?);
    audit::record(conn, Some(actor), "change_price", "part", id, &change)?;
    Ok(change)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PriceHistoryQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceChangeList {
    pub items: Vec<PriceChange>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn price_history(conn: &mut Conn<'_>, id: Uuid, page: PageRequest) -> AppResult<PriceChangeList> {
    get(conn, id)?;
    let rows: Vec<PriceRow> = with_conn!(conn, c => {
        let mut q = part_prices::table
            .filter(part_prices::part_id.eq(Id(id)))
            .select(PriceRow::as_select())
            .order(part_prices::id.desc())
            .limit(page.fetch())
            .into_boxed();
        if let Some(after) = page.after {
            q = q.filter(part_prices::id.lt(Id(after)));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(PriceChangeList {
        items: rows.into_iter().map(PriceChange::from).collect(),
        next_cursor,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PriceAtQuery {
    /// The instant (RFC 3339); now when absent.
    pub at: Option<DateTime<Utc>>,
}

/// The price of a part in force at one instant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceInForce {
    pub part_id: Uuid,
    /// The instant asked about.
    pub at: DateTime<Utc>,
    pub price: Money,
    /// The change that set this price.
    pub price_change_id: Uuid,
    /// Since when this price has been (or will be) in force.
    pub effective_at: DateTime<Utc>,
}

fn price_at(conn: &mut Conn<'_>, id: Uuid, at: DateTime<Utc>) -> AppResult<PriceInForce> {
    get(conn, id)?;
    let change = price_change_in_force(conn, Id(id), Ts(at))?.ok_or(AppError::NotFound("price"))?;
    Ok(PriceInForce {
        part_id: id,
        at,
        price: Money::from_minor(change.price_minor),
        price_change_id: change.id.0,
        effective_at: change.effective_at.0,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PriceListQuery {
    /// The model's id; give this or `model_code`.
    pub model_id: Option<Uuid>,
    /// The model's code, e.g. `MATE60PRO` (any case); give this or `model_id`.
    pub model_code: Option<String>,
}

/// The model a price list is for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceListModel {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}

/// One part on the public price list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceListItem {
    pub sku: String,
    pub name: String,
    pub category: PartCategory,
    /// The part's list price in force now.
    pub price: Money,
    /// Labour for fitting it; null when none is published.
    pub labour_price: Option<Money>,
    /// The part's own warranty once fitted.
    pub warranty_months: u32,
}

/// The published prices of the parts that fit one model.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceList {
    pub model: PriceListModel,
    /// Active parts fitting the model directly or through its series that have a price in force, by category (in
    /// the order of the category enum) then SKU.
    pub items: Vec<PriceListItem>,
}

/// Exactly one of the two ways to name a model.
enum ModelRef {
    Id(Uuid),
    Code(String),
}

impl PriceListQuery {
    fn parse(self) -> AppResult<ModelRef> {
        match (self.model_id, self.model_code) {
            (Some(id), None) => Ok(ModelRef::Id(id)),
            (None, Some(code)) => Ok(ModelRef::Code(code.trim().to_ascii_uppercase())),
            (Some(_), Some(_)) => Err(AppError::field("model_code", "give model_id or model_code, not both")),
            (None, None) => Err(AppError::field("model_id", "give model_id or model_code")),
        }
    }
}

fn price_list(conn: &mut Conn<'_>, model: &ModelRef) -> AppResult<PriceList> {
    let found: Option<ModelRow> = match model {
        ModelRef::Id(id) => crate::catalog::models::find(conn, *id)?,
        ModelRef::Code(code) => crate::catalog::models::find_by_code(conn, code)?,
    };
    // A deactivated model is not published, and is told apart from an unknown one by nobody.
    let model = found.filter(|m| m.active).ok_or(AppError::NotFound("model"))?;
    let rows: Vec<PartRow> = with_conn!(conn, c => parts::table
        .filter(parts::active.eq(true))
        .filter(parts::id.eq_any(fits_model!(model.id, model.series_id)))
        .select(PartRow::as_select())
        .load(c))?;
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let prices = prices_in_force(conn, &ids, Ts(crate::now()))?;
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
}

/// Problems the public price list can answer with.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum PublicErrors {
    /// Neither or both of `model_id` and `model_code`, or a malformed one; `errors` names the parameter.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No such model, or it is not published (deactivated).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// A bug; logged under the request id, with no details here.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// The database is busy or unreachable; retry after the `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// Create a part with its compatible models or series and its opening price.
#[utoipa::path(
    tag = "parts", operation_id = "create_part", request_body = CreatePart,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Part), WriteErrors),
    security(("bearer" = []))
)]
#[post("/parts")]
pub async fn create_part(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreatePart>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /parts", &body.raw);
    let new = body.value.parse()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        principal.require_admin()?;
        insert(conn, &new, Some(principal.key_id))
    })
    .await
}

/// List parts in creation order, each with its price in force now.
#[utoipa::path(
    tag = "parts", operation_id = "list_parts", params(PartQuery),
    responses((status = 200, body = PartList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/parts")]
pub async fn list_parts(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<PartQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    check_query(&query)?;
    let page = PageRequest::parse("/parts", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || bearer.read(&state.db, |conn, _| list(conn, &query, page))).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Read one part.
#[utoipa::path(
    tag = "parts", operation_id = "get_part", params(("part_id" = Uuid, Path)),
    responses((status = 200, body = Part), ReadErrors),
    security(("bearer" = []))
)]
#[get("/parts/{part_id}")]
pub async fn get_part(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let part = web::block(move || bearer.read(&state.db, |conn, _| load(conn, id))).await??;
    Ok(HttpResponse::Ok().json(part))
}

/// Change a part's name, category, labour price, warranty or compatibility. The SKU never changes.
#[utoipa::path(
    tag = "parts", operation_id = "update_part", params(("part_id" = Uuid, Path)), request_body = UpdatePart,
    responses((status = 200, body = Part), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/parts/{part_id}")]
pub async fn update_part(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdatePart>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let changes = body.value.parse()?;
    let part = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            principal.require_admin()?;
            update(conn, id, &changes, principal.key_id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(part))
}

/// Deactivate a part: it stays in history and stock but leaves the public price list.
#[utoipa::path(
    tag = "parts", operation_id = "deactivate_part", params(("part_id" = Uuid, Path)),
    responses((status = 200, body = Part), WriteErrors),
    security(("bearer" = []))
)]
#[post("/parts/{part_id}/deactivate")]
pub async fn deactivate_part(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let out = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            principal.require_admin()?;
            set_active(conn, id, false, principal.key_id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(out))
}

/// Activate a deactivated part again.
#[utoipa::path(
    tag = "parts", operation_id = "activate_part", params(("part_id" = Uuid, Path)),
    responses((status = 200, body = Part), WriteErrors),
    security(("bearer" = []))
)]
#[post("/parts/{part_id}/activate")]
pub async fn activate_part(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let out = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            principal.require_admin()?;
            set_active(conn, id, true, principal.key_id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(out))
}

/// Change a part's list price from an instant on (now, later, or up to 24 hours back). Admins only.
#[utoipa::path(
    tag = "parts", operation_id = "change_part_price", params(
        ("part_id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response."),
    ),
    request_body = ChangePrice,
    responses((status = 201, body = PriceChange), WriteErrors),
    security(("bearer" = []))
)]
#[post("/parts/{part_id}/prices")]
pub async fn change_part_price(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    path: web::Path<Uuid>,
    body: ApiJson<ChangePrice>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let fingerprint = idempotency::fingerprint(&format!("POST /parts/{id}/prices"), &body.raw);
    let (price_minor, effective_at) = body.value.parse()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        principal.require_admin()?;
        change_price(conn, id, price_minor, effective_at, principal.key_id)
    })
    .await
}

/// A part's price changes, the most recently made first, each with its effective time and who made it.
#[utoipa::path(
    tag = "parts", operation_id = "list_part_prices", params(("part_id" = Uuid, Path), PriceHistoryQuery),
    responses((status = 200, body = PriceChangeList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/parts/{part_id}/prices")]
pub async fn list_part_prices(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    query: ApiQuery<PriceHistoryQuery>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/parts/{part_id}/prices", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || bearer.read(&state.db, |conn, _| price_history(conn, id, page))).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// The price of a part in force at an instant (now by default); 404 when no price had taken effect by then.
#[utoipa::path(
    tag = "parts", operation_id = "get_part_price", params(("part_id" = Uuid, Path), PriceAtQuery),
    responses((status = 200, body = PriceInForce), ReadErrors),
    security(("bearer" = []))
)]
#[get("/parts/{part_id}/price")]
pub async fn get_part_price(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    query: ApiQuery<PriceAtQuery>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let at = query.0.at.unwrap_or_else(crate::now);
    let price = web::block(move || bearer.read(&state.db, |conn, _| price_at(conn, id, at))).await??;
    Ok(HttpResponse::Ok().json(price))
}

/// The public price list of one model: current prices of the parts that fit it. No API key needed.
#[utoipa::path(
    tag = "public", operation_id = "get_public_price_list", params(PriceListQuery),
    responses((status = 200, body = PriceList), PublicErrors),
    security(())
)]
#[get("/public/price-list")]
pub async fn get_public_price_list(
    state: web::Data<AppState>,
    query: ApiQuery<PriceListQuery>,
) -> AppResult<HttpResponse> {
    let model = query.0.parse()?;
    let list = web::block(move || state.db.read(|conn| price_list(conn, &model))).await??;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(OpenApi)]
#[openapi(paths(
    create_part,
    list_parts,
    get_part,
    update_part,
    deactivate_part,
    activate_part,
    change_part_price,
    list_part_prices,
    get_part_price,
    get_public_price_list,
))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_part)
        .service(list_parts)
        .service(get_part)
        .service(update_part)
        .service(deactivate_part)
        .service(activate_part)
        .service(change_part_price)
        .service(list_part_prices)
        .service(get_part_price)
        .service(get_public_price_list);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warranty_defaults_follow_the_category() {
        for (category, months) in [
            (PartCategory::Battery, 6),
            (PartCategory::Charger, 12),
            (PartCategory::Earphones, 3),
            (PartCategory::Screen, 3),
            (PartCategory::Other, 3),
        ] {
            assert_eq!(category.default_warranty_months(), months, "{category:?}");
        }
    }

    #[test]
    fn categories_round_trip_through_their_stored_names() {
        for category in [
            PartCategory::Screen,
            PartCategory::Battery,
            PartCategory::BackCover,
            PartCategory::Camera,
            PartCategory::Board,
            PartCategory::Charger,
            PartCategory::Earphones,
            PartCategory::Speaker,
            PartCategory::Other,
        ] {
            assert_eq!(PartCategory::parse(category.as_str()), category);
            let json = serde_json::to_string(&category).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", category.as_str()));
        }
    }

    #[test]
    fn skus_are_upper_cased_and_checked() {
        let mut checks = Checks::new();
        assert_eq!(sku(&mut checks, "a", " scr-m60_1 "), "SCR-M60_1");
        assert!(Checks::finish(checks).is_ok());
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            let mut checks = Checks::new();
            sku(&mut checks, "sku", bad);
            assert!(checks.finish().is_err(), "{bad:?}");
        }
        let mut checks = Checks::new();
        sku(&mut checks, "sku", &"X".repeat(64));
        assert!(checks.finish().is_ok());
    }

    #[test]
    fn search_text_matches_itself() {
        assert_eq!(like_pattern("mate"), "%mate%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
