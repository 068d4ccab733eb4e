//! The loaner pool over HTTP: the request and response types, the CSV body, and thin handlers; each call runs its
//! use case in [`super::service`].

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{Availability, Grade, InspectionResult, Loaner, LoanerState};
use super::repo::LoanerFilter;
use super::service;
use crate::auth::Bearer;
use crate::db::types::Id;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::handler::{record_action, record_post};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterLoaner {
    /// 15 digits with a valid check digit; unique.
    #[schema(min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")]
    pub imei: String,
    pub model_id: Uuid,
    pub store_id: Uuid,
    pub grade: Grade,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveLoaner {
    pub store_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireLoaner {
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectLoaner {
    pub result: InspectionResult,
    /// A new condition grade, when it changed.
    pub grade: Option<Grade>,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoanerList {
    pub items: Vec<Loaner>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    /// Loaners registered, in file order.
    pub created: Vec<Loaner>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityList {
    pub items: Vec<Availability>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoanerQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub store_id: Option<Uuid>,
    pub series_id: Option<Uuid>,
    pub state: Option<LoanerState>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    pub store_id: Option<Uuid>,
    pub series_id: Option<Uuid>,
}

/// Register a loaner handset at a service center. It serves the waitlist of its series there at once.
#[utoipa::path(
    tag = "loaners", operation_id = "register_loaner", request_body = RegisterLoaner,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Loaner), WriteErrors),
    security(("bearer" = []))
)]
#[post("/loaners")]
pub async fn register_loaner(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<RegisterLoaner>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /loaners", &body.raw);
    let input = body.value;
    let hold = state.settings.loan_hold;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        service::register(
            conn,
            principal,
            &input.imei,
            input.model_id,
            input.store_id,
            input.grade,
            hold,
        )
    })
    .await
}

/// A CSV request body (`text/csv`, or `application/octet-stream` for generated clients), up to 2 MiB.
pub struct CsvBody(pub web::Bytes);

const CSV_LIMIT: usize = 2 * 1024 * 1024;

impl FromRequest for CsvBody {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_csv = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v.starts_with("text/csv") || v.starts_with("application/octet-stream"));
        let payload = payload.take();
        Box::pin(async move {
            if !is_csv {
                return Err(AppError::UnsupportedMediaType);
            }
            Ok(CsvBody(crate::http::json::read_body(payload, CSV_LIMIT).await?))
        })
    }
}

/// Register many loaners from CSV (`imei,model_code,store_code,grade`, header first). All rows or none: every bad
/// row is reported with its line number.
#[utoipa::path(
    tag = "loaners", operation_id = "import_loaners",
    request_body(
        content = Vec<u8>, content_type = "application/octet-stream",
        description = "CSV text, sent as `text/csv` or `application/octet-stream`: a header \
                       `imei,model_code,store_code,grade`, then one loaner per line."
    ),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe import: the same key and file replay the first response.")),
    responses((status = 201, body = ImportResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/loaners/import")]
pub async fn import_loaners(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: CsvBody,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /loaners/import", &body.0);
    let hold = state.settings.loan_hold;
    let bytes = body.0;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        let created = service::import(conn, principal, &bytes, hold)?;
        Ok(ImportResult { created })
    })
    .await
}

/// List loaners of the caller's stores.
#[utoipa::path(
    tag = "loaners", operation_id = "list_loaners", params(LoanerQuery),
    responses((status = 200, body = LoanerList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loaners")]
pub async fn list_loaners(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<LoanerQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/loaners", query.limit, query.cursor.as_deref())?;
    let filter = LoanerFilter {
        store_id: query.store_id.map(Id),
        series_id: query.series_id.map(Id),
        state: query.state,
    };
    let (items, next_cursor) = web::block(move || service::list(&state.db, &bearer, &filter, page)).await??;
    Ok(HttpResponse::Ok().json(LoanerList { items, next_cursor }))
}

/// Loaner counts by state and waitlist length, per store and series.
#[utoipa::path(
    tag = "loaners", operation_id = "get_loaner_availability", params(AvailabilityQuery),
    responses((status = 200, body = AvailabilityList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loaner-availability")]
pub async fn get_loaner_availability(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<AvailabilityQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let items =
        web::block(move || service::availability(&state.db, &bearer, query.store_id, query.series_id)).await??;
    Ok(HttpResponse::Ok().json(AvailabilityList { items }))
}

/// Read one loaner.
#[utoipa::path(
    tag = "loaners", operation_id = "get_loaner", params(("loaner_id" = Uuid, Path)),
    responses((status = 200, body = Loaner), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loaners/{loaner_id}")]
pub async fn get_loaner(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id)).await
}

/// A `POST /loaners/{loaner_id}/…` call, answered with the loaner.
macro_rules! loaner_endpoint {
    ($($call:tt)*) => {
        record_post!(tag = "loaners", id = "loaner_id", answer = Loaner, $($call)*);
    };
}

loaner_endpoint!(
    move_loaner,
    "/loaners/{loaner_id}/move",
    MoveLoaner,
    "Move a loaner to another service center (not while reserved or on loan).",
    |state, bearer, id, input| service::move_to(&state.db, &bearer, id, input.store_id, state.settings.loan_hold)
);
loaner_endpoint!(
    retire_loaner,
    "/loaners/{loaner_id}/retire",
    RetireLoaner,
    "Retire a loaner for good (not while reserved or on loan).",
    |state, bearer, id, input| service::retire(&state.db, &bearer, id, &input.reason)
);
loaner_endpoint!(
    inspect_loaner,
    "/loaners/{loaner_id}/inspection",
    InspectLoaner,
    "Record the inspection of a returned loaner: pass makes it available (serving the waitlist), fail sends it to \
     maintenance.",
    |state, bearer, id, input| {
        let hold = state.settings.loan_hold;
        service::inspect(
            &state.db,
            &bearer,
            id,
            input.result,
            input.grade,
            input.note.as_deref(),
            hold,
        )
    }
);

record_action!(
    tag = "loaners",
    id = "loaner_id",
    answer = Loaner,
    finish_loaner_maintenance,
    "/loaners/{loaner_id}/maintenance-done",
    "A loaner's maintenance is done: it becomes available and serves the waitlist.",
    |state, bearer, id| service::finish_maintenance(&state.db, &bearer, id, state.settings.loan_hold)
);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(import_loaners)
        .service(register_loaner)
        .service(list_loaners)
        .service(get_loaner_availability)
        .service(get_loaner)
        .service(move_loaner)
        .service(retire_loaner)
        .service(inspect_loaner)
        .service(finish_loaner_maintenance);
}
