//! Stores: service centers (which lend loaners and repair phones) and warehouses (which hold parts).

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit;
use crate::auth::Bearer;
use crate::db::Conn;
use crate::db::schema::stores;
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, OrDuplicate, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::with_conn;

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    ServiceCenter,
    Warehouse,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::ServiceCenter => "service_center",
            StoreKind::Warehouse => "warehouse",
        }
    }

    fn parse(value: &str) -> StoreKind {
        if value == "warehouse" {
            StoreKind::Warehouse
        } else {
            StoreKind::ServiceCenter
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stores)]
pub struct StoreRow {
    pub id: Id,
    pub code: String,
    pub name: String,
    pub city: String,
    pub kind: String,
    pub time_zone: String,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A service center or a warehouse.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Store {
    pub id: Uuid,
    /// Unique human-facing code, e.g. `SZ-FUTIAN`.
    pub code: String,
    pub name: String,
    pub city: String,
    pub kind: StoreKind,
    /// IANA time zone; dates written at this store (purchase dates) are local to it.
    pub time_zone: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoreRow> for Store {
    fn from(r: StoreRow) -> Self {
        Store {
            id: r.id.0,
            code: r.code,
            name: r.name,
            city: r.city,
            kind: StoreKind::parse(&r.kind),
            time_zone: r.time_zone,
            active: r.active,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStore {
    /// 1-32 letters, digits, `-` or `_`; stored upper-case; unique.
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    pub kind: StoreKind,
    /// IANA time zone; `Asia/Shanghai` when absent.
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStore {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = stores)]
pub struct StoreChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl CreateStore {
    pub fn parse(self) -> AppResult<StoreRow> {
        let mut checks = Checks::new();
        let code = checks.code("code", &self.code);
        let name = checks.text("name", &self.name, 1, 200);
        let city = checks.text("city", &self.city, 1, 100);
        let time_zone = checks.time_zone("time_zone", self.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE));
        checks.finish()?;
        let now = crate::now();
        Ok(StoreRow {
            id: Id(Uuid::now_v7()),
            code,
            name,
            city,
            kind: self.kind.as_str().to_owned(),
            time_zone,
            active: true,
            created_at: Ts(now),
            updated_at: Ts(now),
        })
    }
}

impl UpdateStore {
    pub fn parse(self) -> AppResult<StoreChanges> {
        let mut checks = Checks::new();
        let name = self.name.map(|v| checks.text("name", &v, 1, 200));
        let city = self.city.map(|v| checks.text("city", &v, 1, 100));
        let time_zone = self.time_zone.map(|v| checks.time_zone("time_zone", &v));
        if name.is_none() && city.is_none() && time_zone.is_none() {
            checks.fail("body", "give at least one of: name, city, time_zone");
        }
        checks.finish()?;
        Ok(StoreChanges { name, city, time_zone })
    }
}

pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<StoreRow>> {
    Ok(with_conn!(conn, c => stores::table.find(Id(id)).select(StoreRow::as_select()).first(c).optional())?)
}

pub fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<StoreRow>> {
    Ok(
        with_conn!(conn, c => stores::table.filter(stores::code.eq(code)).select(StoreRow::as_select()).first(c)
        .optional())?,
    )
}

fn get(conn: &mut Conn<'_>, id: Uuid) -> AppResult<StoreRow> {
    find(conn, id)?.ok_or(AppError::NotFound("store"))
}

pub fn insert(conn: &mut Conn<'_>, row: &StoreRow, actor: Option<Uuid>) -> AppResult<Store> {
    let taken = || AppError::conflict("duplicate_code", format!("a store with code {} exists", row.code));
    if find_by_code(conn, &row.code)?.is_some() {
        return Err(taken());
    }
    with_conn!(conn, c => diesel::insert_into(stores::table).values(row).execute(c)).or_duplicate(taken)?;
    let store = Store::from(row.clone());
    audit::record(conn, actor, "create", "store", store.id, &store)?;
    Ok(store)
}

fn update(conn: &mut Conn<'_>, id: Uuid, changes: &StoreChanges, actor: Uuid) -> AppResult<Store> {
    get(conn, id)?;
    let now = crate::now();
    with_conn!(conn, c => diesel::update(stores::table.find(Id(id)))
        .set((changes, stores::updated_at.eq(Ts(now))))
        .execute(c))?;
    audit::record(conn, Some(actor), "update", "store", id, changes)?;
    Ok(get(conn, id)?.into())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StoreQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only stores in this city (exact match).
    pub city: Option<String>,
    pub kind: Option<StoreKind>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoreList {
    pub items: Vec<Store>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn list(conn: &mut Conn<'_>, query: &StoreQuery, page: PageRequest) -> AppResult<StoreList> {
    let rows: Vec<StoreRow> = with_conn!(conn, c => {
        let mut q = stores::table.select(StoreRow::as_select()).order(stores::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(stores::id.gt(Id(after)));
        }
        if let Some(city) = &query.city {
            q = q.filter(stores::city.eq(city.clone()));
        }
        if let Some(kind) = query.kind {
            q = q.filter(stores::kind.eq(kind.as_str()));
        }
        if let Some(active) = query.active {
            q = q.filter(stores::active.eq(active));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(StoreList {
        items: rows.into_iter().map(Store::from).collect(),
        next_cursor,
    })
}

/// Create a store or warehouse.
#[utoipa::path(
    tag = "stores", operation_id = "create_store", request_body = CreateStore,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Store), WriteErrors),
    security(("bearer" = []))
)]
#[post("/stores")]
pub async fn create_store(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateStore>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /stores", &body.raw);
    let row = body.value.parse()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        principal.require_admin()?;
        insert(conn, &row, Some(principal.key_id))
    })
    .await
}

/// List stores in creation order.
#[utoipa::path(
    tag = "stores", operation_id = "list_stores", params(StoreQuery),
    responses((status = 200, body = StoreList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stores")]
pub async fn list_stores(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<StoreQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/stores", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || bearer.read(&state.db, |conn, _| list(conn, &query, page))).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Read one store.
#[utoipa::path(
    tag = "stores", operation_id = "get_store", params(("store_id" = Uuid, Path)),
    responses((status = 200, body = Store), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stores/{store_id}")]
pub async fn get_store(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let store: Store = web::block(move || bearer.read(&state.db, |conn, _| get(conn, id)))
        .await??
        .into();
    Ok(HttpResponse::Ok().json(store))
}

/// Change a store's name, city or time zone. The code never changes.
#[utoipa::path(
    tag = "stores", operation_id = "update_store", params(("store_id" = Uuid, Path)), request_body = UpdateStore,
    responses((status = 200, body = Store), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/stores/{store_id}")]
pub async fn update_store(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateStore>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let changes = body.value.parse()?;
    let store = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            principal.require_admin()?;
            update(conn, id, &changes, principal.key_id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(store))
}

activation! {
    param: "store_id",
    table: stores, entity: "store", tag: "stores", out: Store,
    deactivate: deactivate_store, "/stores/{store_id}/deactivate",
        "Deactivate a store: it stays in history but takes no new tickets, loaners or stock.",
    activate: activate_store, "/stores/{store_id}/activate",
        "Activate a deactivated store again.",
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_store)
        .service(list_stores)
        .service(get_store)
        .service(update_store)
        .service(deactivate_store)
        .service(activate_store);
}
