//! Product models, e.g. MATE60PRO in the MATE series.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit;
use crate::auth::Bearer;
use crate::db::Conn;
use crate::db::schema::{product_models, product_series};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, OrDuplicate, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = product_models)]
pub struct ModelRow {
    pub id: Id,
    pub code: String,
    pub name: String,
    pub series_id: Id,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A product model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Model {
    pub id: Uuid,
    /// Unique code, e.g. `MATE60PRO`.
    pub code: String,
    pub name: String,
    pub series_id: Uuid,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ModelRow> for Model {
    fn from(r: ModelRow) -> Self {
        Model {
            id: r.id.0,
            code: r.code,
            name: r.name,
            series_id: r.series_id.0,
            active: r.active,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

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

#[derive(Debug, Serialize, AsChangeset)]
#[diesel(table_name = product_models)]
pub struct ModelChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::db::types::serialize_id"
    )]
    pub series_id: Option<Id>,
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

/// The series must exist and be active for a model to join it.
fn check_series(conn: &mut Conn<'_>, series_id: Uuid) -> AppResult<()> {
    let active: Option<bool> = with_conn!(conn, c => product_series::table.find(Id(series_id))
        .select(product_series::active).first(c).optional())?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(AppError::field("series_id", "the series is deactivated")),
        None => Err(AppError::field("series_id", "no such series")),
    }
}
pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<ModelRow>> {
    Ok(with_conn!(conn, c => product_models::table.find(Id(id)).select(ModelRow::as_select()).first(c).optional())?)
}

pub fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<ModelRow>> {
    Ok(
        with_conn!(conn, c => product_models::table.filter(product_models::code.eq(code)).select(ModelRow::as_select()).first(c)
        .optional())?,
    )
}

fn get(conn: &mut Conn<'_>, id: Uuid) -> AppResult<ModelRow> {
    find(conn, id)?.ok_or(AppError::NotFound("model"))
}

pub fn insert(conn: &mut Conn<'_>, row: &ModelRow, actor: Option<Uuid>) -> AppResult<Model> {
    let taken = || AppError::conflict("duplicate_code", format!("a model with code {} exists", row.code));
    if find_by_code(conn, &row.code)?.is_some() {
        return Err(taken());
    }
    check_series(conn, row.series_id.0)?;
    with_conn!(conn, c => diesel::insert_into(product_models::table).values(row).execute(c)).or_duplicate(taken)?;
    let model = Model::from(row.clone());
    audit::record(conn, actor, "create", "model", model.id, &model)?;
    Ok(model)
}

fn update(conn: &mut Conn<'_>, id: Uuid, changes: &ModelChanges, actor: Uuid) -> AppResult<Model> {
    get(conn, id)?;
    if let Some(series_id) = changes.series_id {
        check_series(conn, series_id.0)?;
    }
    let now = crate::now();
    with_conn!(conn, c => diesel::update(product_models::table.find(Id(id)))
        .set((changes, product_models::updated_at.eq(Ts(now))))
        .execute(c))?;
    audit::record(conn, Some(actor), "update", "model", id, changes)?;
    Ok(get(conn, id)?.into())
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

fn list(conn: &mut Conn<'_>, query: &ModelQuery, page: PageRequest) -> AppResult<ModelList> {
    let rows: Vec<ModelRow> = with_conn!(conn, c => {
        let mut q = product_models::table.select(ModelRow::as_select()).order(product_models::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(product_models::id.gt(Id(after)));
        }
        if let Some(series_id) = query.series_id {
            q = q.filter(product_models::series_id.eq(Id(series_id)));
        }
        if let Some(active) = query.active {
            q = q.filter(product_models::active.eq(active));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(ModelList {
        items: rows.into_iter().map(Model::from).collect(),
        next_cursor,
    })
}

/// Create a product model in an active series.
#[utoipa::path(
    tag = "models", operation_id = "create_model", request_body = CreateModel,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Model), WriteErrors),
    security(("bearer" = []))
)]
#[post("/models")]
pub async fn create_model(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateModel>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /models", &body.raw);
    let row = body.value.parse()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        principal.require_admin()?;
        insert(conn, &row, Some(principal.key_id))
    })
    .await
}

/// List product models in creation order.
#[utoipa::path(
    tag = "models", operation_id = "list_models", params(ModelQuery),
    responses((status = 200, body = ModelList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/models")]
pub async fn list_models(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<ModelQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/models", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || bearer.read(&state.db, |conn, _| list(conn, &query, page))).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Read one product model.
#[utoipa::path(
    tag = "models", operation_id = "get_model", params(("model_id" = Uuid, Path)),
    responses((status = 200, body = Model), ReadErrors),
    security(("bearer" = []))
)]
#[get("/models/{model_id}")]
pub async fn get_model(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let model: Model = web::block(move || bearer.read(&state.db, |conn, _| get(conn, id)))
        .await??
        .into();
    Ok(HttpResponse::Ok().json(model))
}

/// Change a model's name or series. The code never changes.
#[utoipa::path(
    tag = "models", operation_id = "update_model", params(("model_id" = Uuid, Path)), request_body = UpdateModel,
    responses((status = 200, body = Model), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/models/{model_id}")]
pub async fn update_model(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateModel>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let changes = body.value.parse()?;
    let model = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            principal.require_admin()?;
            update(conn, id, &changes, principal.key_id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(model))
}

activation! {
    param: "model_id",
    table: product_models, entity: "model", tag: "models", out: Model,
    deactivate: deactivate_model, "/models/{model_id}/deactivate",
        "Deactivate a model: it stays in history but takes no new tickets or loaners.",
    activate: activate_model, "/models/{model_id}/activate",
        "Activate a deactivated model again.",
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_model)
        .service(list_models)
        .service(get_model)
        .service(update_model)
        .service(deactivate_model)
        .service(activate_model);
}
