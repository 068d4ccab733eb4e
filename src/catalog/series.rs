//! Product series, e.g. MATE, P, NOVA. A premium series gets a loaner of the same series while in repair.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit;
use crate::auth::Bearer;
use crate::db::Conn;
use crate::db::schema::product_series;
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, OrDuplicate, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::money::Money;
use crate::state::AppState;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = product_series)]
pub struct SeriesRow {
    pub id: Id,
    pub code: String,
    pub name: String,
    pub premium: bool,
    pub loaner_deposit_minor: Option<i64>,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A product series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Series {
    pub id: Uuid,
    /// Unique code, e.g. `MATE`.
    pub code: String,
    pub name: String,
    /// Premium series get a same-series loaner while their phone is in repair.
    pub premium: bool,
    /// Deposit asked when a loaner of this series is handed over; absent when none.
    pub loaner_deposit: Option<Money>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SeriesRow> for Series {
    fn from(r: SeriesRow) -> Self {
        Series {
            id: r.id.0,
            code: r.code,
            name: r.name,
            premium: r.premium,
            loaner_deposit: r.loaner_deposit_minor.map(Money::from_minor),
            active: r.active,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeries {
    /// 1-32 letters, digits, `-` or `_`; stored upper-case; unique.
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub premium: bool,
    pub loaner_deposit: Option<Money>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSeries {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub premium: Option<bool>,
    pub loaner_deposit: Option<Money>,
}

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = product_series)]
pub struct SeriesChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub premium: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaner_deposit_minor: Option<i64>,
}

fn deposit(checks: &mut Checks, money: Option<Money>) -> Option<i64> {
    let minor = money.map(|m| m.to_minor_non_negative());
    match minor {
        Some(Err(why)) => {
            checks.fail("loaner_deposit.amount", why);
            None
        }
        Some(Ok(m)) => Some(m),
        None => None,
    }
}

impl CreateSeries {
    pub fn parse(self) -> AppResult<SeriesRow> {
        let mut checks = Checks::new();
        let code = checks.code("code", &self.code);
        let name = checks.text("name", &self.name, 1, 200);
        let loaner_deposit_minor = deposit(&mut checks, self.loaner_deposit);
        checks.finish()?;
        let now = crate::now();
        Ok(SeriesRow {
            id: Id(Uuid::now_v7()),
            code,
            name,
            premium: self.premium,
            loaner_deposit_minor,
            active: true,
            created_at: Ts(now),
            updated_at: Ts(now),
        })
    }
}

impl UpdateSeries {
    pub fn parse(self) -> AppResult<SeriesChanges> {
        let mut checks = Checks::new();
        let name = self.name.map(|v| checks.text("name", &v, 1, 200));
        let loaner_deposit_minor = deposit(&mut checks, self.loaner_deposit);
        if name.is_none() && self.premium.is_none() && self.loaner_deposit.is_none() {
            checks.fail("body", "give at least one of: name, premium, loaner_deposit");
        }
        checks.finish()?;
        Ok(SeriesChanges {
            name,
            premium: self.premium,
            loaner_deposit_minor,
        })
    }
}
pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<SeriesRow>> {
    Ok(with_conn!(conn, c => product_series::table.find(Id(id)).select(SeriesRow::as_select()).first(c).optional())?)
}

pub fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<SeriesRow>> {
    Ok(
        with_conn!(conn, c => product_series::table.filter(product_series::code.eq(code)).select(SeriesRow::as_select()).first(c)
        .optional())?,
    )
}

fn get(conn: &mut Conn<'_>, id: Uuid) -> AppResult<SeriesRow> {
    find(conn, id)?.ok_or(AppError::NotFound("series"))
}

pub fn insert(conn: &mut Conn<'_>, row: &SeriesRow, actor: Option<Uuid>) -> AppResult<Series> {
    let taken = || AppError::conflict("duplicate_code", format!("a series with code {} exists", row.code));
    if find_by_code(conn, &row.code)?.is_some() {
        return Err(taken());
    }
    with_conn!(conn, c => diesel::insert_into(product_series::table).values(row).execute(c)).or_duplicate(taken)?;
    let series = Series::from(row.clone());
    audit::record(conn, actor, "create", "series", series.id, &series)?;
    Ok(series)
}

fn update(conn: &mut Conn<'_>, id: Uuid, changes: &SeriesChanges, actor: Uuid) -> AppResult<Series> {
    get(conn, id)?;
    let now = crate::now();
    with_conn!(conn, c => diesel::update(product_series::table.find(Id(id)))
        .set((changes, product_series::updated_at.eq(Ts(now))))
        .execute(c))?;
    audit::record(conn, Some(actor), "update", "series", id, changes)?;
    Ok(get(conn, id)?.into())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only premium (true) or standard (false) series.
    pub premium: Option<bool>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SeriesList {
    pub items: Vec<Series>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn list(conn: &mut Conn<'_>, query: &SeriesQuery, page: PageRequest) -> AppResult<SeriesList> {
    let rows: Vec<SeriesRow> = with_conn!(conn, c => {
        let mut q = product_series::table.select(SeriesRow::as_select()).order(product_series::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(product_series::id.gt(Id(after)));
        }
        if let Some(premium) = query.premium {
            q = q.filter(product_series::premium.eq(premium));
        }
        if let Some(active) = query.active {
            q = q.filter(product_series::active.eq(active));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(SeriesList {
        items: rows.into_iter().map(Series::from).collect(),
        next_cursor,
    })
}

/// Create a product series.
#[utoipa::path(
    tag = "series", operation_id = "create_series", request_body = CreateSeries,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Series), WriteErrors),
    security(("bearer" = []))
)]
#[post("/series")]
pub async fn create_series(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateSeries>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /series", &body.raw);
    let row = body.value.parse()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        principal.require_admin()?;
        insert(conn, &row, Some(principal.key_id))
    })
    .await
}

/// List product series in creation order.
#[utoipa::path(
    tag = "series", operation_id = "list_series", params(SeriesQuery),
    responses((status = 200, body = SeriesList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/series")]
pub async fn list_series(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<SeriesQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/series", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || bearer.read(&state.db, |conn, _| list(conn, &query, page))).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Read one product series.
#[utoipa::path(
    tag = "series", operation_id = "get_series", params(("series_id" = Uuid, Path)),
    responses((status = 200, body = Series), ReadErrors),
    security(("bearer" = []))
)]
#[get("/series/{series_id}")]
pub async fn get_series(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let series: Series = web::block(move || bearer.read(&state.db, |conn, _| get(conn, id)))
        .await??
        .into();
    Ok(HttpResponse::Ok().json(series))
}

/// Change a series' name, premium flag or loaner deposit. The code never changes.
#[utoipa::path(
    tag = "series", operation_id = "update_series", params(("series_id" = Uuid, Path)), request_body = UpdateSeries,
    responses((status = 200, body = Series), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/series/{series_id}")]
pub async fn update_series(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateSeries>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let changes = body.value.parse()?;
    let series = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            principal.require_admin()?;
            update(conn, id, &changes, principal.key_id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(series))
}

activation! {
    param: "series_id",
    table: product_series, entity: "series", tag: "series", out: Series,
    deactivate: deactivate_series, "/series/{series_id}/deactivate",
        "Deactivate a series: it stays in history but takes no new models, loaners or tickets.",
    activate: activate_series, "/series/{series_id}/activate",
        "Activate a deactivated series again.",
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_series)
        .service(list_series)
        .service(get_series)
        .service(update_series)
        .service(deactivate_series)
        .service(activate_series);
}
