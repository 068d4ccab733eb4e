//! Customers over HTTP: found by phone, read by id, their name and consent changed. The request types and thin
//! handlers; each runs its use case in [`super::service`].

use actix_web::{HttpResponse, get, patch, web};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::model::{CustomerChanges, CustomerHistory};
use super::rules::normalise_phone;
use super::service;
use crate::auth::Bearer;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindCustomerQuery {
    /// The mobile number in any spelling the counter types: digits with spaces, dashes, dots or parentheses
    /// between, optionally after `+`; a mainland number with or without `+86`, `0086` or `86`. 5 to 20 digits.
    /// (Send `+` percent-encoded, `%2B`: a bare `+` in a query string is a space.)
    #[param(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\+?[ ().-]*(?:[0-9][ ().-]*){5,20}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub phone: String,
}

/// A change of a customer's record: each field given replaces the record's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// Whether the customer agrees to be contacted (reminders, callbacks).
    pub contact_consent: Option<bool>,
}

impl UpdateCustomer {
    pub fn parse(self) -> AppResult<CustomerChanges> {
        let mut checks = Checks::new();
        let name = self.name.map(|n| checks.text("name", &n, 1, 100));
        checks.finish()?;
        Ok(CustomerChanges {
            name,
            contact_consent: self.contact_consent,
        })
    }
}

/// Find a customer by mobile number (normalised, so any spelling finds the one record): their record, devices and
/// tickets (newest first, at most 200). Store staff find only customers with a ticket at one of their stores, and
/// see only those tickets; anyone else is 404. A number that cannot be one is 400 `phone`.
#[utoipa::path(
    tag = "customers", operation_id = "find_customer", params(FindCustomerQuery),
    responses((status = 200, body = CustomerHistory), ReadErrors),
    security(("bearer" = []))
)]
#[get("/customers")]
pub async fn find_customer(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<FindCustomerQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let phone = normalise_phone(&query.phone).map_err(|why| AppError::field("phone", why))?;
    answer(move || service::find(&state.db, &bearer, &phone)).await
}

/// Read a customer: their record, devices and tickets, scoped as `find_customer`.
#[utoipa::path(
    tag = "customers", operation_id = "get_customer", params(("customer_id" = Uuid, Path)),
    responses((status = 200, body = CustomerHistory), ReadErrors),
    security(("bearer" = []))
)]
#[get("/customers/{customer_id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id)).await
}

/// Change a customer's name or consent to be contacted (store staff of a store with one of their tickets, or an
/// admin); recorded on the audit log.
#[utoipa::path(
    tag = "customers", operation_id = "update_customer", params(("customer_id" = Uuid, Path)),
    request_body = UpdateCustomer,
    responses((status = 200, body = CustomerHistory), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/customers/{customer_id}")]
pub async fn update_customer(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateCustomer>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let changes = body.value.parse()?;
    answer(move || service::update(&state.db, &bearer, id, &changes)).await
}

#[derive(OpenApi)]
#[openapi(paths(find_customer, get_customer, update_customer))]
pub struct Api;

#[cfg(test)]
mod tests {
    use super::*;

    /// The document's pattern for `phone` accepts exactly what [`normalise_phone`] does.
    #[test]
    fn the_phone_pattern_is_the_normaliser() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap_or_default();
        let params = doc["paths"]["/api/v1/customers"]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pattern = params
            .iter()
            .find(|p| p["name"] == "phone")
            .and_then(|p| p["schema"]["pattern"].as_str())
            .unwrap_or_default()
            .to_owned();
        let re = regex::Regex::new(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let samples = [
            "13800138000",
            "+8613800138000",
            "+86 138 0013 8000",
            "008613800138000",
            "8613800138000",
            " 138-0013-8000 ",
            "(010) 6552.9988",
            "\t+44 20 7946 0958\u{3000}",
            "\u{85}12345",
            "\u{feff}12345",
            "12345",
            "1234",
            "12345678901234567890",
            "123456789012345678901",
            "+",
            "",
            " ",
            "++8613800138000",
            "+ 86 138",
            "(+86) 13800138000",
            "1380013\t8000",
            "13800138000\t)",
            "138 0013 800a",
            "１３８００１３８０００",
            "138_0013_8000",
            "-.() 12345 )(.-",
        ];
        for sample in samples {
            assert_eq!(
                re.is_match(sample),
                normalise_phone(sample).is_ok(),
                "{sample:?}: the document and the normaliser disagree"
            );
        }
    }
}
