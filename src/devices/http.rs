//! Devices over HTTP: a device's history by IMEI, an admin's correction of its record, a plan sold to it. The
//! request types and thin handlers; each runs its use case in [`super::service`].

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::model::{DeviceCorrection, DeviceHistory, DevicePlan, PlanKind};
use super::service::{self, NewPlan};
use crate::auth::Bearer;
use crate::db::types::Id;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::validate::Checks;
use crate::http::{ApiJson, answer};
use crate::money::Money;
use crate::state::AppState;

/// Most days an admin may credit to a device's warranty by hand.
pub const MAX_CORRECTION_DAYS: i32 = 3650;

/// An admin's correction of a device's record. Each field given replaces the record's; `null` clears
/// `price_paid`, `seller` or `invoice_number`; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectDevice {
    pub model_id: Option<Uuid>,
    /// As written on the invoice; from 2000-01-01, not after today at the device's store. The warranty start moves with it, except
    /// on an exchange's replacement phone.
    pub purchase_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Money>)]
    pub price_paid: Option<Option<Money>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub seller: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64)]
    pub invoice_number: Option<Option<String>>,
    /// Days credited to the warranty by hand, beside those Depot counts from the tickets.
    #[schema(minimum = 0, maximum = 3650)]
    pub credit_correction_days: Option<i32>,
    /// Why the record is corrected; kept on the audit log.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// A field that is present, even as `null`: absent stays `None`, `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

impl CorrectDevice {
    pub fn parse(self) -> AppResult<DeviceCorrection> {
        let mut checks = Checks::new();
        let reason = checks.text("reason", &self.reason, 1, 500);
        let price_paid_minor = self.price_paid.map(|price| {
            price.map(|p| {
                p.to_minor_non_negative().unwrap_or_else(|why| {
                    checks.fail("price_paid.amount", why);
                    0
                })
            })
        });
        let seller = self.seller.map(|s| s.map(|s| checks.text("seller", &s, 1, 100)));
        let invoice_number = self
            .invoice_number
            .map(|n| n.map(|n| checks.text("invoice_number", &n, 1, 64)));
        if self
            .purchase_date
            .is_some_and(|d| d < crate::warranty::rules::earliest_purchase_date())
        {
            checks.fail("purchase_date", "must be 2000-01-01 or later");
        }
        if let Some(days) = self.credit_correction_days
            && !(0..=MAX_CORRECTION_DAYS).contains(&days)
        {
            checks.fail("credit_correction_days", format!("must be 0 to {MAX_CORRECTION_DAYS}"));
        }
        checks.finish()?;
        Ok(DeviceCorrection {
            model_id: self.model_id.map(Id),
            purchase_date: self.purchase_date,
            price_paid_minor,
            seller,
            invoice_number,
            credit_correction_days: self.credit_correction_days,
            reason,
        })
    }
}

/// A plan sold to a device at a store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellPlan {
    pub kind: PlanKind,
    pub price: Money,
    /// The selling store: an active service center of the caller's.
    pub store_id: Uuid,
    /// The day of the sale, local to the store; today there when absent; not in the future.
    pub sold_on: Option<NaiveDate>,
}

/// The IMEI of a path: 15 digits, or 400 naming `imei`. (A wrong check digit is answered 404 by the use case,
/// after the caller's key is checked: no device has that IMEI.)
fn path_imei(path: web::Path<String>) -> AppResult<String> {
    let imei = path.into_inner();
    if imei.len() == 15 && imei.bytes().all(|b| b.is_ascii_digit()) {
        Ok(imei)
    } else {
        Err(AppError::field("imei", "must be 15 digits"))
    }
}

/// A phone's record by IMEI: the warranty certificate's fields, its state, its plans, the days its tickets credit
/// to its warranty, and its tickets, newest first (at most 200; `ticket_count` says how many in all). Any store
/// staff sees the record, plans and credits, whatever store the phone was repaired at (the front desk must see a
/// phone's warranty); the ticket list holds only the caller's stores' tickets. A malformed IMEI (not 15 digits) is
/// 400 `imei`; one with a wrong check digit, or unknown, is 404.
#[utoipa::path(
    tag = "devices", operation_id = "get_device",
    params(("imei" = String, Path, min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")),
    responses((status = 200, body = DeviceHistory), ReadErrors),
    security(("bearer" = []))
)]
#[get("/devices/{imei}")]
pub async fn get_device(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let imei = path_imei(path)?;
    answer(move || service::history(&state.db, &bearer, &imei)).await
}

/// Correct a device's record (admins only), with a reason kept on the audit log beside the values before and
/// after. Answers the device's history as `get_device` does.
#[utoipa::path(
    tag = "devices", operation_id = "correct_device",
    params(("imei" = String, Path, min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")),
    request_body = CorrectDevice,
    responses((status = 200, body = DeviceHistory), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/devices/{imei}")]
pub async fn correct_device(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<String>,
    body: ApiJson<CorrectDevice>,
) -> AppResult<HttpResponse> {
    let imei = path_imei(path)?;
    let correction = body.value.parse()?;
    answer(move || service::correct(&state.db, &bearer, &imei, &correction)).await
}

/// Sell an extended warranty or a screen plan to a device, at a store of the caller's. Refused with 409
/// `device_not_in_use` for a returned or exchanged phone, `plan_already_sold` for a second plan of a kind,
/// `screen_plan_window_closed` for a screen plan more than 30 days after the purchase date, `warranty_expired` for
/// an extended warranty once the handset's standard free-repair period (with its credited days) has ended.
#[utoipa::path(
    tag = "devices", operation_id = "sell_plan",
    params(
        ("imei" = String, Path, min_length = 15, max_length = 15, pattern = "^[0-9]{15}$"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response."),
    ),
    request_body = SellPlan,
    responses((status = 201, body = DevicePlan), WriteErrors),
    security(("bearer" = []))
)]
#[post("/devices/{imei}/plans")]
pub async fn sell_plan(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    path: web::Path<String>,
    body: ApiJson<SellPlan>,
) -> AppResult<HttpResponse> {
    let imei = path_imei(path)?;
    let fingerprint = idempotency::fingerprint(&format!("POST /devices/{imei}/plans"), &body.raw);
    let input = body.value;
    let price_minor = input
        .price
        .to_minor_non_negative()
        .map_err(|why| AppError::field("price.amount", why))?;
    let plan = NewPlan {
        kind: input.kind,
        price_minor,
        store_id: input.store_id,
        sold_on: input.sold_on,
    };
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        service::sell_plan_in(conn, principal, &imei, &plan)
    })
    .await
}

#[derive(OpenApi)]
#[openapi(paths(get_device, correct_device, sell_plan))]
pub struct Api;
