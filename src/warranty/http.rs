//! The warranty over HTTP: series' policies (`/warranty-policies`) and the dry-run check (`/warranty/check`), their
//! request types, and thin handlers that run the use cases in [`super::service`].

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::model::{
    Certificate, CheckRequest, Claim, CoveredItem, FaultKind, Findings, Policy, PolicyRow, WarrantyDecision,
    WarrantyPolicy,
};
use super::rules::{self, EARLIEST_POLICY_DATE, LATEST_POLICY_DATE};
use super::service;
use crate::auth::Bearer;
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, Problem, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::imei::Imei;
use crate::state::AppState;

/// The policies' list, as its cursors are tagged.
pub const POLICIES: &str = "/warranty-policies";

/// A series' policy from a date. Every period at least the national rule's (shown as each field's minimum), the
/// exchange window no shorter than the return window, the depreciation at most the national 0.50 % a day.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWarrantyPolicy {
    pub series_id: Uuid,
    /// The first day the policy applies, local to each store; past or future, from 2000-01-01 to 9999-12-31. One
    /// policy per series and date.
    pub effective_from: NaiveDate,
    /// Handset: return, exchange or free repair while the days since purchase are at most this.
    #[schema(minimum = 7, maximum = 365)]
    pub return_days: u32,
    /// Handset: exchange or free repair while the days since purchase are at most this; at least `return_days`.
    #[schema(minimum = 15, maximum = 365)]
    pub exchange_days: u32,
    #[schema(minimum = 12, maximum = 120)]
    pub handset_months: u32,
    #[schema(minimum = 6, maximum = 120)]
    pub battery_months: u32,
    #[schema(minimum = 12, maximum = 120)]
    pub charger_months: u32,
    #[schema(minimum = 3, maximum = 120)]
    pub wired_earphones_months: u32,
    /// Added to the handset's free-repair period by an extended warranty plan.
    #[schema(minimum = 12, maximum = 120)]
    pub extended_months: u32,
    /// How long a screen plan covers accidental screen and back-cover damage, from purchase.
    #[schema(minimum = 12, maximum = 120)]
    pub screen_plan_months: u32,
    /// Percent of the price a refund loses per day after the return window: `0` to `0.50`, at most two decimals.
    #[schema(pattern = "^0(\\.([0-4][0-9]?|50?))?$", example = "0.50")]
    pub daily_depreciation: String,
    #[schema(min_length = 1, max_length = 1000)]
    pub note: Option<String>,
}

impl CreateWarrantyPolicy {
    /// The row to store, each bad field listed.
    pub fn parse(self) -> AppResult<PolicyRow> {
        let mut checks = Checks::new();
        let terms = Policy {
            return_days: self.return_days,
            exchange_days: self.exchange_days,
            handset_months: self.handset_months,
            battery_months: self.battery_months,
            charger_months: self.charger_months,
            wired_earphones_months: self.wired_earphones_months,
            extended_months: self.extended_months,
            screen_plan_months: self.screen_plan_months,
            daily_depreciation_bp: 0,
        };
        let earliest = NaiveDate::from_ymd_opt(EARLIEST_POLICY_DATE.0, EARLIEST_POLICY_DATE.1, EARLIEST_POLICY_DATE.2);
        let latest = NaiveDate::from_ymd_opt(LATEST_POLICY_DATE.0, LATEST_POLICY_DATE.1, LATEST_POLICY_DATE.2);
        if earliest.is_some_and(|d| self.effective_from < d) || latest.is_some_and(|d| self.effective_from > d) {
            checks.fail("effective_from", "must be from 2000-01-01 to 9999-12-31");
        }
        for (field, why) in rules::policy_terms_problems(&terms) {
            checks.fail(field, why);
        }
        let depreciation = rules::parse_depreciation(&self.daily_depreciation)
            .map_err(|why| checks.fail("daily_depreciation", why))
            .unwrap_or(0);
        let note = self.note.as_deref().map(|n| checks.text("note", n, 1, 1000));
        checks.finish()?;
        // Within the bounds checked above, every term fits an i32.
        let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(PolicyRow {
            id: Id(Uuid::now_v7()),
            series_id: Id(self.series_id),
            effective_from: self.effective_from,
            return_days: n(terms.return_days),
            exchange_days: n(terms.exchange_days),
            handset_months: n(terms.handset_months),
            battery_months: n(terms.battery_months),
            charger_months: n(terms.charger_months),
            wired_earphones_months: n(terms.wired_earphones_months),
            extended_months: n(terms.extended_months),
            screen_plan_months: n(terms.screen_plan_months),
            daily_depreciation_bp: n(depreciation),
            note,
            api_key_id: None,
            created_at: Ts(crate::now()),
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WarrantyPolicyList {
    pub items: Vec<WarrantyPolicy>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PolicyQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this series' policies.
    pub series_id: Option<Uuid>,
}

/// A warranty check without a ticket: the phone, the store whose date it is judged on, and the claim as an
/// opening would carry it.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// The phone's IMEI: 15 digits with a valid check digit.
    #[param(min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")]
    pub imei: String,
    /// The service center asking (in the caller's scope); its time zone gives today.
    pub store_id: Uuid,
    /// `performance` when absent.
    pub fault: Option<FaultKind>,
    /// `handset` when absent.
    pub covered_item: Option<CoveredItem>,
    /// Liquid damage found; false when absent.
    pub liquid: Option<bool>,
    pub drop: Option<bool>,
    pub crush: Option<bool>,
    /// Unauthorized disassembly or repair found.
    pub tampering: Option<bool>,
    pub force_majeure: Option<bool>,
    /// `valid` when absent.
    pub certificate: Option<Certificate>,
    /// Required for a phone Depot has no record of; for a known phone, when given, it must equal the record's
    /// (else 409 `device_purchase_date_mismatch`).
    pub purchase_date: Option<NaiveDate>,
    /// As `purchase_date` (409 `device_model_mismatch`).
    pub model_id: Option<Uuid>,
}

impl CheckQuery {
    fn parse(self) -> AppResult<CheckRequest> {
        // Exactly the 15 digits the document's pattern promises (no surrounding spaces), with a valid check digit.
        if self.imei.len() != 15 {
            return Err(AppError::field("imei", "must be 15 digits"));
        }
        let imei = Imei::parse(&self.imei).map_err(|why| AppError::field("imei", why))?;
        Ok(CheckRequest {
            imei,
            store_id: self.store_id,
            claim: Claim {
                item: self.covered_item.unwrap_or(CoveredItem::Handset),
                fault: self.fault.unwrap_or(FaultKind::Performance),
                findings: Findings {
                    liquid: self.liquid.unwrap_or(false),
                    drop: self.drop.unwrap_or(false),
                    crush: self.crush.unwrap_or(false),
                    tampering: self.tampering.unwrap_or(false),
                },
                certificate: self.certificate.unwrap_or(Certificate::Valid),
                force_majeure: self.force_majeure.unwrap_or(false),
            },
            purchase_date: self.purchase_date,
            model_id: self.model_id,
        })
    }
}

/// Set a series' warranty policy from a date (admins). It may only be more generous than the national rule; it is
/// never edited, and once in force never deleted (decisions record it).
#[utoipa::path(
    tag = "warranty", operation_id = "create_warranty_policy", request_body = CreateWarrantyPolicy,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = WarrantyPolicy), WriteErrors),
    security(("bearer" = []))
)]
#[post("/warranty-policies")]
pub async fn create_warranty_policy(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateWarrantyPolicy>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /warranty-policies", &body.raw);
    let row = body.value.parse()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        service::create(conn, principal, &row)
    })
    .await
}

/// List series' warranty policies in creation order (admins and store staff).
#[utoipa::path(
    tag = "warranty", operation_id = "list_warranty_policies", params(PolicyQuery),
    responses((status = 200, body = WarrantyPolicyList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/warranty-policies")]
pub async fn list_warranty_policies(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<PolicyQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse(POLICIES, query.limit, query.cursor.as_deref())?;
    let series = query.series_id;
    let (items, next_cursor) = web::block(move || service::list(&state.db, &bearer, series, page)).await??;
    Ok(HttpResponse::Ok().json(WarrantyPolicyList { items, next_cursor }))
}

/// Read one series' warranty policy (admins and store staff).
#[utoipa::path(
    tag = "warranty", operation_id = "get_warranty_policy", params(("policy_id" = Uuid, Path)),
    responses((status = 200, body = WarrantyPolicy), ReadErrors),
    security(("bearer" = []))
)]
#[get("/warranty-policies/{policy_id}")]
pub async fn get_warranty_policy(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id)).await
}

/// Delete a policy that is in force nowhere yet: its date is after today in every time zone (admins). A policy
/// that has taken effect is kept (409 `policy_in_force`).
#[utoipa::path(
    tag = "warranty", operation_id = "delete_warranty_policy", params(("policy_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted."), WriteErrors),
    security(("bearer" = []))
)]
#[delete("/warranty-policies/{policy_id}")]
pub async fn delete_warranty_policy(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    web::block(move || service::delete(&state.db, &bearer, id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// The warranty decision a ticket opened now would get, with nothing written (admins and store staff): for a
/// phone Depot knows, from its record, plans and history; for another, from the purchase date and model given.
/// Decided under the series' policy in force today at the store.
#[utoipa::path(
    tag = "warranty", operation_id = "check_warranty", params(CheckQuery),
    responses(
        (status = 200, body = WarrantyDecision),
        (status = 409, body = Problem, content_type = "application/problem+json",
         description = "The phone was returned or exchanged (`device_not_in_use`), or `model_id` or `purchase_date` \
                        contradicts its record (`device_model_mismatch`, `device_purchase_date_mismatch`)."),
        ReadErrors
    ),
    security(("bearer" = []))
)]
#[get("/warranty/check")]
pub async fn check_warranty(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<CheckQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let request = query.parse()?;
    answer(move || service::check(&state.db, &bearer, &request)).await
}

#[derive(OpenApi)]
#[openapi(paths(
    create_warranty_policy,
    list_warranty_policies,
    get_warranty_policy,
    delete_warranty_policy,
    check_warranty,
))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_warranty_policy)
        .service(list_warranty_policies)
        .service(get_warranty_policy)
        .service(delete_warranty_policy)
        .service(check_warranty);
}
