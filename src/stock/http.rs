//! The stock routes (`/stock/...`) and their request and response types.

use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::model::{MovementKind, MovementRow};
use super::service;
use crate::auth::{Bearer, Principal};
use crate::db::Conn;
use crate::error::{AppResult, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::loaners::CsvBody;
use crate::state::AppState;

/// Stock of one part at one location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    pub location_id: Uuid,
    pub part_id: Uuid,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand - reserved`: what can still be reserved or moved.
    pub available: i64,
    pub reorder_point: i64,
    pub reorder_qty: i64,
    pub updated_at: DateTime<Utc>,
}

/// One entry of the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockMovement {
    pub id: Uuid,
    pub location_id: Uuid,
    pub part_id: Uuid,
    pub kind: MovementKind,
    /// Signed: what the movement added to `on_hand` (or to `reserved`, for reservation and release).
    pub quantity: i64,
    /// Receipt number, ticket number or transfer reference.
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl From<MovementRow> for StockMovement {
    fn from(r: MovementRow) -> Self {
        StockMovement {
            id: r.id.0,
            location_id: r.location_id.0,
            part_id: r.part_id.0,
            kind: MovementKind::parse(&r.kind),
            quantity: r.quantity,
            reference: r.reference,
            reason: r.reason,
            api_key_id: r.api_key_id.map(Uuid::from),
            at: r.at.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    pub part_id: Uuid,
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReceipt {
    pub location_id: Uuid,
    /// The supplier's delivery or receipt number; a receipt number is counted once per location and part.
    #[schema(min_length = 1, max_length = 64)]
    pub receipt_number: String,
    #[schema(min_items = 1, max_items = 1000)]
    pub lines: Vec<ReceiptLine>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptResult {
    pub receipt_number: String,
    pub movements: Vec<StockMovement>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    pub from_location_id: Uuid,
    pub to_location_id: Uuid,
    pub part_id: Uuid,
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: i64,
    #[schema(max_length = 64)]
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferResult {
    pub transfer_out: StockMovement,
    pub transfer_in: StockMovement,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdjustment {
    pub location_id: Uuid,
    pub part_id: Uuid,
    /// What the count found on the shelf; not below what is reserved.
    #[schema(minimum = 0)]
    pub counted: i64,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentResult {
    pub level: StockLevel,
    /// Absent when the count matched.
    pub movement: Option<StockMovement>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderSettings {
    #[schema(minimum = 0, maximum = 1000000)]
    pub reorder_point: i64,
    #[schema(minimum = 0, maximum = 1000000)]
    pub reorder_qty: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockLevelList {
    /// By location, then SKU.
    pub items: Vec<StockLevel>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockMovementList {
    pub items: Vec<StockMovement>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A level at or below its reorder point.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReorderLine {
    pub location_id: Uuid,
    pub location_code: String,
    pub part_id: Uuid,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub reorder_point: i64,
    pub reorder_qty: i64,
    /// The shortfall below the reorder point plus the reorder quantity.
    pub suggested_qty: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReorderReport {
    pub items: Vec<ReorderLine>,
}

/// A level whose `on_hand` or `reserved` disagrees with the ledger (none, normally).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerMismatch {
    pub location_id: Uuid,
    pub part_id: Uuid,
    pub on_hand: i64,
    pub ledger_on_hand: i64,
    pub reserved: i64,
    pub ledger_reserved: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerCheck {
    /// Levels checked.
    pub levels: i64,
    /// True when every level equals its ledger.
    pub consistent: bool,
    pub mismatches: Vec<LedgerMismatch>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LevelQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub location_id: Option<Uuid>,
    pub part_id: Option<Uuid>,
}

/// The ledger is filtered and paged as the levels are.
pub type MovementQuery = LevelQuery;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReorderQuery {
    pub location_id: Option<Uuid>,
}

/// A route that records a stock write once per `Idempotency-Key` ([`record_once`]).
macro_rules! record_endpoint {
    ($name:ident, $path:literal, $doc:literal, $body:ty, $answer:ty, $call:path) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "stock", operation_id = stringify!($name), request_body = $body,
            params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
            responses((status = 201, body = $answer), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            key: IdempotencyKey,
            body: ApiJson<$body>,
        ) -> AppResult<HttpResponse> {
            record_once(state, bearer, key, concat!("POST ", $path), body, $call).await
        }
    };
}

record_endpoint!(
    create_receipt,
    "/stock/receipts",
    "Record a goods receipt at a location. A receipt number is counted once: sending it again is a 409 that changes\nnothing.",
    CreateReceipt,
    ReceiptResult,
    service::receive
);

/// Record receipts from CSV (`location_code,receipt_number,sku,quantity`, header first). All rows or none: every
/// bad row is reported with its line number; receipt numbers already recorded are refused (409).
#[utoipa::path(
    tag = "stock", operation_id = "import_receipts",
    request_body(
        content = Vec<u8>, content_type = "application/octet-stream",
        description = "CSV text, sent as `text/csv` or `application/octet-stream`: a header \
                       `location_code,receipt_number,sku,quantity`, then one line per part received."
    ),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe import: the same key and file replay the first response.")),
    responses((status = 201, body = Vec<ReceiptResult>), WriteErrors),
    security(("bearer" = []))
)]
#[post("/stock/receipts/import")]
pub async fn import_receipts_csv(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: CsvBody,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /stock/receipts/import", &body.0);
    let bytes = body.0;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        service::import_receipts(conn, principal, &bytes)
    })
    .await
}

record_endpoint!(
    create_transfer,
    "/stock/transfers",
    "Move stock between two locations; both sides are written in one transaction.",
    CreateTransfer,
    TransferResult,
    service::transfer
);

record_endpoint!(
    create_adjustment,
    "/stock/adjustments",
    "Record a stock count: `on_hand` becomes what was counted, and the difference goes into the ledger with its\nreason.",
    CreateAdjustment,
    AdjustmentResult,
    service::adjust
);

/// Set a level's reorder point and reorder quantity.
#[utoipa::path(
    tag = "stock", operation_id = "set_reorder_settings",
    params(("location_id" = Uuid, Path), ("part_id" = Uuid, Path)), request_body = ReorderSettings,
    responses((status = 200, body = StockLevel), WriteErrors),
    security(("bearer" = []))
)]
#[put("/stock/levels/{location_id}/{part_id}/reorder")]
pub async fn set_reorder_settings(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<ReorderSettings>,
) -> AppResult<HttpResponse> {
    let (location, part) = path.into_inner();
    let input = body.value;
    answer(move || service::set_reorder(&state.db, &bearer, location, part, &input)).await
}

/// Stock levels of the caller's locations.
#[utoipa::path(
    tag = "stock", operation_id = "list_stock_levels", params(LevelQuery),
    responses((status = 200, body = StockLevelList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/levels")]
pub async fn list_stock_levels(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<LevelQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    answer(move || service::levels(&state.db, &bearer, &query)).await
}

/// The movement ledger of the caller's locations, oldest first.
#[utoipa::path(
    tag = "stock", operation_id = "list_stock_movements", params(MovementQuery),
    responses((status = 200, body = StockMovementList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/movements")]
pub async fn list_stock_movements(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<MovementQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/stock/movements", query.limit, query.cursor.as_deref())?;
    answer(move || service::movements(&state.db, &bearer, &query, page)).await
}

/// A stock write recorded once per `Idempotency-Key` (the route names the body's fingerprint); the use case checks
/// the caller may handle stock.
async fn record_once<T, R>(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    route: &str,
    body: ApiJson<T>,
    write: fn(&mut Conn<'_>, &Principal, &T) -> AppResult<R>,
) -> AppResult<HttpResponse>
where
    T: Send + Sync + 'static,
    R: Serialize + 'static,
{
    let fingerprint = idempotency::fingerprint(route, &body.raw);
    let input = body.value;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        write(conn, principal, &input)
    })
    .await
}

/// The reorder report, for both of its formats.
async fn reorder_report(
    state: web::Data<AppState>,
    bearer: Bearer,
    ApiQuery(query): ApiQuery<ReorderQuery>,
) -> AppResult<ReorderReport> {
    web::block(move || service::reorder_report(&state.db, &bearer, query.location_id)).await?
}

/// Every level at or below its reorder point, with a suggested quantity.
#[utoipa::path(
    tag = "stock", operation_id = "get_reorder_report", params(ReorderQuery),
    responses((status = 200, body = ReorderReport), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/reorder-report")]
pub async fn get_reorder_report(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<ReorderQuery>,
) -> AppResult<HttpResponse> {
    let report = reorder_report(state, bearer, query).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The reorder report as CSV, for purchasing.
#[utoipa::path(
    tag = "stock", operation_id = "get_reorder_report_csv", params(ReorderQuery),
    responses((status = 200, content_type = "text/csv", body = String), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/reorder-report.csv")]
pub async fn get_reorder_report_csv(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<ReorderQuery>,
) -> AppResult<HttpResponse> {
    let report = reorder_report(state, bearer, query).await?;
    let body = reorder_csv(&report)?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body))
}

/// The reorder report as purchasing's CSV: a header, then one line per level to reorder.
pub fn reorder_csv(report: &ReorderReport) -> AppResult<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "location_code",
            "sku",
            "on_hand",
            "reserved",
            "available",
            "reorder_point",
            "reorder_qty",
            "suggested_qty",
        ])
        .map_err(anyhow::Error::from)?;
    for l in &report.items {
        writer
            .write_record([
                l.location_code.clone(),
                l.sku.clone(),
                l.on_hand.to_string(),
                l.reserved.to_string(),
                l.available.to_string(),
                l.reorder_point.to_string(),
                l.reorder_qty.to_string(),
                l.suggested_qty.to_string(),
            ])
            .map_err(anyhow::Error::from)?;
    }
    Ok(writer.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))?)
}

/// Proves `on_hand` (and `reserved`) equal the ledger's sums for every level. Admins only.
#[utoipa::path(
    tag = "stock", operation_id = "check_stock_ledger",
    responses((status = 200, body = LedgerCheck), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/ledger-check")]
pub async fn check_stock_ledger(state: web::Data<AppState>, bearer: Bearer) -> AppResult<HttpResponse> {
    answer(move || service::ledger_check(&state.db, &bearer)).await
}

#[derive(OpenApi)]
#[openapi(paths(
    create_receipt,
    import_receipts_csv,
    create_transfer,
    create_adjustment,
    set_reorder_settings,
    list_stock_levels,
    list_stock_movements,
    get_reorder_report,
    get_reorder_report_csv,
    check_stock_ledger,
))]
pub struct Api;
