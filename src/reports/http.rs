//! `GET /reports/satisfaction`: JSON, or CSV with `format=csv` or `Accept: text/csv`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::model::SatisfactionReport;
use super::service;
use crate::auth::Bearer;
use crate::error::{AppError, AppResult, ReadErrors};
use crate::http::ApiQuery;
use crate::state::AppState;

/// The period when `from` is not given: the 30 days before `to`.
const DEFAULT_DAYS: i64 = 30;
/// The longest period one report covers.
const MAX_DAYS: i64 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SatisfactionQuery {
    /// One store of the caller's; absent: all of them (an admin: every service center).
    pub store_id: Option<Uuid>,
    /// The period's start (included); 30 days before `to` when absent.
    pub from: Option<DateTime<Utc>>,
    /// The period's end (excluded), after `from` and at most 400 days after it; now when absent.
    pub to: Option<DateTime<Utc>>,
    /// `csv` answers `text/csv` (as does `Accept: text/csv`); `json` by default.
    pub format: Option<ReportFormat>,
}

/// Satisfaction and complaints per store for a period: tickets closed and rated (callback coverage), the ratings'
/// average, complaints opened, first replies on time, and the median time to resolve.
#[utoipa::path(
    tag = "reports", operation_id = "get_satisfaction_report", params(SatisfactionQuery),
    responses(
        (status = 200, description = "The report: JSON, or CSV (`format=csv` or `Accept: text/csv`) with a header row and one row per store",
         content((SatisfactionReport = "application/json"), (String = "text/csv"))),
        ReadErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/satisfaction")]
pub async fn get_satisfaction_report(
    state: web::Data<AppState>,
    bearer: Bearer,
    req: HttpRequest,
    query: ApiQuery<SatisfactionQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let now = crate::now();
    let to = query.to.map(crate::to_micros).unwrap_or(now);
    let from = query
        .from
        .map(crate::to_micros)
        .unwrap_or(to - Duration::days(DEFAULT_DAYS));
    if from >= to {
        return Err(AppError::field("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(AppError::field(
            "to",
            format!("must be at most {MAX_DAYS} days after `from`"),
        ));
    }
    let csv = match query.format {
        Some(ReportFormat::Csv) => true,
        Some(ReportFormat::Json) => false,
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with("text/csv"))),
    };
    let store = query.store_id;
    let report = web::block(move || service::satisfaction(&state.db, &bearer, store, from, to, now)).await??;
    if csv {
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(to_csv(&report)?))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}

/// The CSV header, in the order of the JSON fields.
pub const CSV_HEADER: [&str; 15] = [
    "store_id",
    "store_code",
    "store_name",
    "from",
    "to",
    "closed_tickets",
    "ratings_count",
    "ratings_average",
    "callback_coverage",
    "complaints_opened",
    "first_replies_due",
    "first_replies_on_time",
    "first_replies_on_time_share",
    "complaints_resolved",
    "median_hours_to_resolve",
];

fn to_csv(report: &SatisfactionReport) -> AppResult<Vec<u8>> {
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER).map_err(anyhow::Error::from)?;
    let (from, to) = (report.from.to_rfc3339(), report.to.to_rfc3339());
    for s in &report.stores {
        writer
            .write_record([
                s.store_id.to_string(),
                s.store_code.clone(),
                s.store_name.clone(),
                from.clone(),
                to.clone(),
                s.closed_tickets.to_string(),
                s.ratings_count.to_string(),
                opt(s.ratings_average),
                opt(s.callback_coverage),
                s.complaints_opened.to_string(),
                s.first_replies_due.to_string(),
                s.first_replies_on_time.to_string(),
                opt(s.first_replies_on_time_share),
                s.complaints_resolved.to_string(),
                opt(s.median_hours_to_resolve),
            ])
            .map_err(anyhow::Error::from)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing CSV: {e}")))
}

#[derive(OpenApi)]
#[openapi(paths(get_satisfaction_report), components(schemas(ReportFormat)))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_satisfaction_report);
}
