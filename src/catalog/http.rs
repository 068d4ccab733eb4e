//! The catalog's endpoints and request types. The three resources answer alike, so [`endpoints!`] writes each one's
//! six handlers (create, list, read, update, deactivate, activate) from the same text; each resource names its
//! types, routes and documentation below.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{
    DEFAULT_TIME_ZONE, Model, ModelChanges, ModelRow, Series, SeriesChanges, SeriesRow, Store, StoreChanges, StoreKind,
    StoreRow,
};
use super::service;
use crate::auth::Bearer;
use crate::db::types::{Id, Ts};
use crate::error::{AppResult, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::money::Money;
use crate::state::AppState;

/// Writes a catalog resource's six handlers. Every write is for admins; creation honours `Idempotency-Key`;
/// deactivation keeps the record in history, is audited and idempotent.
macro_rules! endpoints {
    (
        row: $row:ty, out: $out:ty, tag: $tag:literal, param: $param:literal,
        create: $create:ident, $collection:literal, $create_body:ty, $create_doc:literal,
        list: $list:ident, $query:ty, $list_out:ident, $list_doc:literal,
            |$state:ident, $bearer:ident, $q:ident, $page:ident| $list_rows:expr,
        get: $get:ident, $item:literal, $get_doc:literal,
        update: $update:ident, $update_body:ty, $update_doc:literal,
        deactivate: $deactivate:ident, $deactivate_path:literal, $deactivate_doc:literal,
        activate: $activate:ident, $activate_path:literal, $activate_doc:literal $(,)?
    ) => {
        #[doc = $create_doc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($create), request_body = $create_body,
            params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
            responses((status = 201, body = $out), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($collection)]
        pub async fn $create(
            state: web::Data<AppState>,
            bearer: Bearer,
            key: IdempotencyKey,
            body: ApiJson<$create_body>,
        ) -> AppResult<HttpResponse> {
            let fingerprint = idempotency::fingerprint(concat!("POST ", $collection), &body.raw);
            let row = body.value.parse()?;
            idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
                service::create::<$row>(conn, principal, &row)
            })
            .await
        }

        #[doc = $list_doc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($list), params($query),
            responses((status = 200, body = $list_out), ReadErrors),
            security(("bearer" = []))
        )]
        #[get($collection)]
        pub async fn $list(
            $state: web::Data<AppState>,
            $bearer: Bearer,
            query: ApiQuery<$query>,
        ) -> AppResult<HttpResponse> {
            let ApiQuery($q) = query;
            let $page = PageRequest::parse($collection, $q.limit, $q.cursor.as_deref())?;
            let (items, next_cursor) = web::block(move || $list_rows).await??;
            Ok(HttpResponse::Ok().json($list_out { items, next_cursor }))
        }

        #[doc = $get_doc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($get), params(($param = Uuid, Path)),
            responses((status = 200, body = $out), ReadErrors),
            security(("bearer" = []))
        )]
        #[get($item)]
        pub async fn $get(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
            let id = path.into_inner();
            answer(move || service::get::<$row>(&state.db, &bearer, id)).await
        }

        #[doc = $update_doc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($update), params(($param = Uuid, Path)), request_body = $update_body,
            responses((status = 200, body = $out), WriteErrors),
            security(("bearer" = []))
        )]
        #[patch($item)]
        pub async fn $update(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
            body: ApiJson<$update_body>,
        ) -> AppResult<HttpResponse> {
            let id = path.into_inner();
            let changes = body.value.parse()?;
            answer(move || service::update::<$row>(&state.db, &bearer, id, &changes)).await
        }

        #[doc = $deactivate_doc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($deactivate), params(($param = Uuid, Path)),
            responses((status = 200, body = $out), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($deactivate_path)]
        pub async fn $deactivate(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
        ) -> AppResult<HttpResponse> {
            set_active::<$row>(state, bearer, path.into_inner(), false).await
        }

        #[doc = $activate_doc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($activate), params(($param = Uuid, Path)),
            responses((status = 200, body = $out), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($activate_path)]
        pub async fn $activate(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
        ) -> AppResult<HttpResponse> {
            set_active::<$row>(state, bearer, path.into_inner(), true).await
        }
    };
}

async fn set_active<E>(state: web::Data<AppState>, bearer: Bearer, id: Uuid, active: bool) -> AppResult<HttpResponse>
where
    E: service::Entity + Send + 'static,
    E::Out: Send,
{
    answer(move || service::set_active::<E>(&state.db, &bearer, id, active)).await
}

// Stores: service centers (which lend loaners and repair phones) and warehouses (which hold parts).

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
    /// Street address, as work orders print it.
    #[schema(min_length = 1, max_length = 300)]
    pub address: Option<String>,
    /// The service center's phone number, as work orders print it.
    #[schema(min_length = 1, max_length = 40)]
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStore {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: Option<String>,
    pub time_zone: Option<String>,
    #[schema(min_length = 1, max_length = 300)]
    pub address: Option<String>,
    #[schema(min_length = 1, max_length = 40)]
    pub phone: Option<String>,
}

impl CreateStore {
    pub fn parse(self) -> AppResult<StoreRow> {
        let mut checks = Checks::new();
        let code = checks.code("code", &self.code);
        let name = checks.text("name", &self.name, 1, 200);
        let city = checks.text("city", &self.city, 1, 100);
        let time_zone = checks.time_zone("time_zone", self.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE));
        let address = self.address.map(|v| checks.text("address", &v, 1, 300));
        let phone = self.phone.map(|v| checks.text("phone", &v, 1, 40));
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
            address,
            phone,
        })
    }
}

impl UpdateStore {
    pub fn parse(self) -> AppResult<StoreChanges> {
        let mut checks = Checks::new();
        let name = self.name.map(|v| checks.text("name", &v, 1, 200));
        let city = self.city.map(|v| checks.text("city", &v, 1, 100));
        let time_zone = self.time_zone.map(|v| checks.time_zone("time_zone", &v));
        let address = self.address.map(|v| checks.text("address", &v, 1, 300));
        let phone = self.phone.map(|v| checks.text("phone", &v, 1, 40));
        if name.is_none() && city.is_none() && time_zone.is_none() && address.is_none() && phone.is_none() {
            checks.fail("body", "give at least one of: name, city, time_zone, address, phone");
        }
        checks.finish()?;
        Ok(StoreChanges {
            name,
            city,
            time_zone,
            address,
            phone,
        })
    }
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

endpoints! {
    row: StoreRow, out: Store, tag: "stores", param: "store_id",
    create: create_store, "/stores", CreateStore, "Create a store or warehouse.",
    list: list_stores, StoreQuery, StoreList, "List stores in creation order.",
        |state, bearer, query, page| service::list_stores(&state.db, &bearer, page, query.city.as_deref(), query.kind, query.active),
    get: get_store, "/stores/{store_id}", "Read one store.",
    update: update_store, UpdateStore, "Change a store's name, city or time zone. The code never changes.",
    deactivate: deactivate_store, "/stores/{store_id}/deactivate",
        "Deactivate a store: it stays in history but takes no new tickets, loaners or stock.",
    activate: activate_store, "/stores/{store_id}/activate",
        "Activate a deactivated store again.",
}

// Product series, e.g. MATE, P, NOVA.

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

endpoints! {
    row: SeriesRow, out: Series, tag: "series", param: "series_id",
    create: create_series, "/series", CreateSeries, "Create a product series.",
    list: list_series, SeriesQuery, SeriesList, "List product series in creation order.",
        |state, bearer, query, page| service::list_series(&state.db, &bearer, page, query.premium, query.active),
    get: get_series, "/series/{series_id}", "Read one product series.",
    update: update_series, UpdateSeries, "Change a series' name, premium flag or loaner deposit. The code never changes.",
    deactivate: deactivate_series, "/series/{series_id}/deactivate",
        "Deactivate a series: it stays in history but takes no new models, loaners or tickets.",
    activate: activate_series, "/series/{series_id}/activate",
        "Activate a deactivated series again.",
}

// Product models, e.g. MATE60PRO in the MATE series.

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    /// 1-32 letters, digits, `-` or `_`; stored upper-case; unique.
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// An active series.
    pub series_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateModel {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Move the model to another active series.
    pub series_id: Option<Uuid>,
}

impl CreateModel {
    pub fn parse(self) -> AppResult<ModelRow> {
        let mut checks = Checks::new();
        let code = checks.code("code", &self.code);
        let name = checks.text("name", &self.name, 1, 200);
        checks.finish()?;
        let now = crate::now();
        Ok(ModelRow {
            id: Id(Uuid::now_v7()),
            code,
            name,
            series_id: Id(self.series_id),
            active: true,
            created_at: Ts(now),
            updated_at: Ts(now),
        })
    }
}

impl UpdateModel {
    pub fn parse(self) -> AppResult<ModelChanges> {
        let mut checks = Checks::new();
        let name = self.name.map(|v| checks.text("name", &v, 1, 200));
        if name.is_none() && self.series_id.is_none() {
            checks.fail("body", "give at least one of: name, series_id");
        }
        checks.finish()?;
        Ok(ModelChanges {
            name,
            series_id: self.series_id.map(Id),
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only models of this series.
    pub series_id: Option<Uuid>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    pub items: Vec<Model>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

endpoints! {
    row: ModelRow, out: Model, tag: "models", param: "model_id",
    create: create_model, "/models", CreateModel, "Create a product model in an active series.",
    list: list_models, ModelQuery, ModelList, "List product models in creation order.",
        |state, bearer, query, page| service::list_models(&state.db, &bearer, page, query.series_id, query.active),
    get: get_model, "/models/{model_id}", "Read one product model.",
    update: update_model, UpdateModel, "Change a model's name or series. The code never changes.",
    deactivate: deactivate_model, "/models/{model_id}/deactivate",
        "Deactivate a model: it stays in history but takes no new tickets or loaners.",
    activate: activate_model, "/models/{model_id}/activate",
        "Activate a deactivated model again.",
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_store)
        .service(list_stores)
        .service(get_store)
        .service(update_store)
        .service(deactivate_store)
        .service(activate_store)
        .service(create_series)
        .service(list_series)
        .service(get_series)
        .service(update_series)
        .service(deactivate_series)
        .service(activate_series)
        .service(create_model)
        .service(list_models)
        .service(get_model)
        .service(update_model)
        .service(deactivate_model)
        .service(activate_model);
}
