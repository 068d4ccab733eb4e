//! The loan lifecycle over HTTP: issue, return, loss, cancellation, due-date extension, lists and the overdue
//! list. The request and response types and thin handlers; each call runs its use case in [`super::service`].

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{Loan, LoanState};
use super::repo::LoanFilter;
use super::service;
use crate::auth::Bearer;
use crate::db::types::Id;
use crate::error::{AppResult, ReadErrors, WriteErrors};
use crate::http::handler::record_post;
use crate::http::pagination::PageRequest;
use crate::http::{ApiQuery, answer};
use crate::money::Money;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueLoan {
    /// When the loaner is due back; 14 days from now when absent. Must be in the future.
    pub due_at: Option<DateTime<Utc>>,
    /// Deposit taken; the series' loaner deposit when absent.
    pub deposit: Option<Money>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCondition {
    /// As lent.
    Good,
    /// Worn beyond normal use: scratches, scuffs.
    Worn,
    /// Broken or damaged.
    Damaged,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLoan {
    pub condition: ReturnCondition,
    /// Accessories lent with it and not brought back, e.g. `["charger"]`.
    #[serde(default)]
    pub missing_accessories: Vec<String>,
    /// Charge for damage or missing accessories, if any.
    pub damage_charge: Option<Money>,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoseLoan {
    /// What the customer is charged for the lost loaner.
    pub charge: Money,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelLoan {
    /// Why, e.g. `customer declined a loaner`.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendLoan {
    /// The new due time, later than the current one.
    pub due_at: DateTime<Utc>,
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoanList {
    pub items: Vec<Loan>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoanQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub store_id: Option<Uuid>,
    pub state: Option<LoanState>,
    /// Only issued loans past their due time.
    pub overdue: Option<bool>,
}

/// List loans of the caller's stores; `overdue=true` lists issued loans past their due time.
#[utoipa::path(
    tag = "loans", operation_id = "list_loans", params(LoanQuery),
    responses((status = 200, body = LoanList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loans")]
pub async fn list_loans(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<LoanQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/loans", query.limit, query.cursor.as_deref())?;
    let filter = LoanFilter {
        store_id: query.store_id.map(Id),
        state: query.state,
        overdue: query.overdue == Some(true),
    };
    let (items, next_cursor) = web::block(move || service::list(&state.db, &bearer, &filter, page)).await??;
    Ok(HttpResponse::Ok().json(LoanList { items, next_cursor }))
}

/// Read one loan.
#[utoipa::path(
    tag = "loans", operation_id = "get_loan", params(("loan_id" = Uuid, Path)),
    responses((status = 200, body = Loan), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loans/{loan_id}")]
pub async fn get_loan(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id)).await
}

/// A `POST /loans/{loan_id}/…` call, answered with the loan.
macro_rules! loan_endpoint {
    ($($call:tt)*) => {
        record_post!(tag = "loans", id = "loan_id", answer = Loan, $($call)*);
    };
}

loan_endpoint!(
    issue_loan,
    "/loans/{loan_id}/issue",
    IssueLoan,
    "Hand the reserved loaner to the customer: sets the due time and the deposit.",
    |state, bearer, id, input| service::issue(&state.db, &bearer, id, input.due_at, input.deposit)
);
loan_endpoint!(
    return_loan,
    "/loans/{loan_id}/return",
    ReturnLoan,
    "Take the loaner back: records its condition and missing accessories; the loaner goes to inspection.",
    |state, bearer, id, input| {
        let condition = serde_json::to_value(input.condition)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        service::give_back(
            &state.db,
            &bearer,
            id,
            condition,
            &input.missing_accessories,
            input.damage_charge,
            input.note.as_deref(),
        )
    }
);
loan_endpoint!(
    mark_loan_lost,
    "/loans/{loan_id}/lost",
    LoseLoan,
    "The customer lost the loaner: it is retired and the charge recorded. The ticket may then close.",
    |state, bearer, id, input| service::lose(&state.db, &bearer, id, &input.charge, input.note.as_deref())
);
loan_endpoint!(
    cancel_loan,
    "/loans/{loan_id}/cancel",
    CancelLoan,
    "Cancel a waiting or reserved loan (the customer declines a loaner); a held loaner goes to the next waiter. An \
     issued loan is refused with `loaner_outstanding`: take the loaner back (or mark it lost) first.",
    |state, bearer, id, input| service::cancel(&state.db, &bearer, id, &input.reason, state.settings.loan_hold)
);
loan_endpoint!(
    extend_loan,
    "/loans/{loan_id}/extend",
    ExtendLoan,
    "Move an issued loan's due time later, with the reason on the ticket's timeline.",
    |state, bearer, id, input| service::extend(&state.db, &bearer, id, input.due_at, &input.reason)
);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_loans)
        .service(get_loan)
        .service(issue_loan)
        .service(return_loan)
        .service(mark_loan_lost)
        .service(cancel_loan)
        .service(extend_loan);
}
