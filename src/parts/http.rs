//! The catalog routes (`/parts/...` and the public price list) and their request and response types; requests are
//! parsed into the catalog's domain types (`NewPart`, `PartUpdate`, a price and its effective time) here.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::model::{ModelRef, NewPart, PartCategory, PartChanges, PartRow, PartUpdate, PriceRow};
use super::rules::{compatible_count, money, sku, warranty};
use super::{rules, service};
use crate::auth::Bearer;
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, Problem, ReadErrors, WriteErrors};
use crate::http::handler::record_action;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::money::Money;
use crate::state::AppState;

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
        let at = rules::effective_at(&mut checks, self.effective_at, crate::now());
        checks.finish()?;
        Ok((price_minor, Ts(at)))
    }
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
        service::create(conn, principal, &new)
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
    answer(move || service::list(&state.db, &bearer, &query, page)).await
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
    answer(move || service::load(&state.db, &bearer, id)).await
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
    answer(move || service::update(&state.db, &bearer, id, &changes)).await
}

record_action!(
    tag = "parts",
    id = "part_id",
    answer = Part,
    deactivate_part,
    "/parts/{part_id}/deactivate",
    "Deactivate a part: it stays in history and stock but leaves the public price list.",
    |state, bearer, id| service::set_active(&state.db, &bearer, id, false)
);

record_action!(
    tag = "parts",
    id = "part_id",
    answer = Part,
    activate_part,
    "/parts/{part_id}/activate",
    "Activate a deactivated part again.",
    |state, bearer, id| service::set_active(&state.db, &bearer, id, true)
);

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
        service::change_price(conn, principal, id, price_minor, effective_at)
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
    answer(move || service::price_history(&state.db, &bearer, id, page)).await
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
    answer(move || service::price_at(&state.db, &bearer, id, at)).await
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
    answer(move || service::price_list(&state.db, &model)).await
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
