//! The loan lifecycle over HTTP: issue, return, loss, cancellation, due-date extension, lists and the overdue
//! list. Each call checks the loan's state and moves its loaner with it in one transaction.

use std::time::Duration;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::reserve::make_available;
use super::{Loan, LoanRow, LoanState};
use crate::auth::{Bearer, Principal};
use crate::db::Conn;
use crate::db::schema::{loaners, loans, product_series};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::money::Money;
use crate::state::AppState;
use crate::tickets::http::{loan_view, lock_loan_of, lock_ticket, require_ticket_role};
use crate::tickets::record_event;
use crate::with_conn;

/// Default loan length when the desk gives no due time.
const DEFAULT_LOAN_DAYS: i64 = 14;

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

fn loan_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<LoanRow> {
    let row: Option<LoanRow> =
        with_conn!(conn, c => loans::table.find(Id(id)).select(LoanRow::as_select()).first(c).optional())?;
    row.filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("loan"))
}

/// A loan the caller may see, locked with its ticket in the order every path takes (the ticket, then its loans:
/// see `tickets::http::lock_ticket_in_scope`), and read after the locks.
fn lock_loan_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<LoanRow> {
    let found = loan_in_scope(conn, principal, id)?;
    lock_ticket(conn, found.ticket_id)?;
    lock_loan_of(conn, found.ticket_id)?;
    loan_in_scope(conn, principal, id)
}

fn money_field(checks: &mut Checks, field: &str, money: Option<&Money>) -> Option<i64> {
    match money.map(Money::to_minor_non_negative) {
        Some(Ok(minor)) => Some(minor),
        Some(Err(why)) => {
            checks.fail(field, why);
            None
        }
        None => None,
    }
}

/// Closes a waiting or reserved loan (cancelled or expired): the loaner, if one was held, goes to the next waiter.
/// The caller holds the loan's lock (see `tickets::http::lock_ticket_in_scope`), so the loan is as read.
pub fn end_loan(
    conn: &mut Conn<'_>,
    loan: &LoanRow,
    next: LoanState,
    actor: Option<Uuid>,
    note: Option<&str>,
    now: Ts,
    hold: Duration,
) -> AppResult<()> {
    let updated = with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .filter(loans::state.eq(&loan.state))
        .set((loans::state.eq(next.as_str()), loans::loaner_hold.eq(None::<String>), loans::updated_at.eq(now)))
        .execute(c))?;
    if updated != 1 {
        return Err(AppError::Unavailable("the loan changed meanwhile; retry".into()));
    }
    record_event(
        conn,
        loan.ticket_id,
        actor,
        &format!("loan_{}", next.as_str()),
        None,
        None,
        note,
    )?;
    if let (Some(loaner), LoanState::Reserved) = (loan.loaner_id, loan.state()) {
        make_available(conn, loaner, false, now, hold)?;
    }
    Ok(())
}

fn set_loaner_state(conn: &mut Conn<'_>, loaner: Id, from: &str, to: &str, now: Ts) -> AppResult<()> {
    let updated = with_conn!(conn, c => diesel::update(loaners::table.find(loaner))
        .filter(loaners::state.eq(from))
        .set((loaners::state.eq(to), loaners::updated_at.eq(now)))
        .execute(c))?;
    if updated == 1 {
        Ok(())
    } else {
        Err(AppError::conflict(
            "loaner_state_changed",
            format!("the loaner is no longer {from}"),
        ))
    }
}

fn issue(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &IssueLoan) -> AppResult<Loan> {
    let loan = lock_loan_in_scope(conn, principal, id)?;
    let next = loan.state().issue()?;
    let now = crate::now();
    if loan.hold_until.is_some_and(|h| h.0 < now) {
        return Err(AppError::conflict(
            "reservation_expired",
            "the hold on this loaner has run out",
        ));
    }
    let mut checks = Checks::new();
    let due = input.due_at.unwrap_or(now + chrono::Duration::days(DEFAULT_LOAN_DAYS));
    if due <= now {
        checks.fail("due_at", "must be in the future");
    }
    let deposit = money_field(&mut checks, "deposit.amount", input.deposit.as_ref());
    checks.finish()?;
    let deposit = match deposit {
        Some(d) => Some(d),
        None => with_conn!(conn, c => product_series::table.find(loan.series_id)
            .select(product_series::loaner_deposit_minor).first::<Option<i64>>(c))?,
    };
    let loaner = loan
        .loaner_id
        .ok_or_else(|| anyhow::anyhow!("reserved loan without a loaner"))?;
    let now = Ts(now);
    set_loaner_state(conn, loaner, "reserved", "on_loan", now)?;
    with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(next.loaner_hold()),
            loans::issued_at.eq(now),
            loans::issued_by.eq(Id(principal.key_id)),
            loans::due_at.eq(Ts(DateTime::from_timestamp_micros(due.timestamp_micros()).unwrap_or(due))),
            loans::deposit_minor.eq(deposit),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    record_event(
        conn,
        loan.ticket_id,
        Some(principal.key_id),
        "loan_issued",
        None,
        None,
        Some("loaner handed over"),
    )?;
    reload(conn, loan.id)
}

/// The courier collected the customer's phone and handed over the loaner (mail-in): the loan is issued, due back
/// with the repaired phone's outbound delivery, and by the same default due time as a loan issued at the desk, so
/// that the overdue list shows it when the repair overruns (the desk may extend it).
pub fn issue_by_courier(conn: &mut Conn<'_>, loan: &LoanRow, now: Ts) -> AppResult<()> {
    let next = loan.state().issue()?;
    let loaner = loan
        .loaner_id
        .ok_or_else(|| anyhow::anyhow!("reserved loan without a loaner"))?;
    set_loaner_state(conn, loaner, "reserved", "on_loan", now)?;
    with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(next.loaner_hold()),
            loans::issued_at.eq(now),
            loans::due_at.eq(Ts(now.0 + chrono::Duration::days(DEFAULT_LOAN_DAYS))),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// The outbound courier delivered the repaired phone and took the loaner back: it goes to inspection.
pub fn return_by_courier(conn: &mut Conn<'_>, loan: &LoanRow, now: Ts) -> AppResult<()> {
    let next = loan.state().give_back()?;
    let loaner = loan
        .loaner_id
        .ok_or_else(|| anyhow::anyhow!("issued loan without a loaner"))?;
    set_loaner_state(conn, loaner, "on_loan", "inspection", now)?;
    with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(None::<String>),
            loans::returned_at.eq(now),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    record_event(
        conn,
        loan.ticket_id,
        None,
        "loan_returned",
        None,
        None,
        Some("loaner back with the courier; to inspection"),
    )?;
    Ok(())
}

fn reload(conn: &mut Conn<'_>, id: Id) -> AppResult<Loan> {
    let row: LoanRow = with_conn!(conn, c => loans::table.find(id).select(LoanRow::as_select()).first(c))?;
    loan_view(conn, &row)
}

fn give_back(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &ReturnLoan) -> AppResult<Loan> {
    let loan = lock_loan_in_scope(conn, principal, id)?;
    let next = loan.state().give_back()?;
    let mut checks = Checks::new();
    let charge = money_field(&mut checks, "damage_charge.amount", input.damage_charge.as_ref());
    if input.missing_accessories.len() > 20 || input.missing_accessories.iter().any(|a| a.trim().is_empty()) {
        checks.fail("missing_accessories", "at most 20 non-empty names");
    }
    let note = input.note.as_ref().map(|n| checks.text("note", n, 0, 1000));
    checks.finish()?;
    let now = Ts(crate::now());
    let loaner = loan
        .loaner_id
        .ok_or_else(|| anyhow::anyhow!("issued loan without a loaner"))?;
    // Every returned loaner is inspected before it is lent again.
    set_loaner_state(conn, loaner, "on_loan", "inspection", now)?;
    let condition = serde_json::to_value(input.condition)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(None::<String>),
            loans::returned_at.eq(now),
            loans::returned_by.eq(Id(principal.key_id)),
            loans::return_condition.eq(condition),
            loans::missing_accessories.eq(serde_json::to_string(&input.missing_accessories).ok()),
            loans::damage_charge_minor.eq(charge),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    let note = note.unwrap_or_else(|| "loaner taken back for inspection".into());
    record_event(
        conn,
        loan.ticket_id,
        Some(principal.key_id),
        "loan_returned",
        None,
        None,
        Some(&note),
    )?;
    reload(conn, loan.id)
}

fn lose(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &LoseLoan) -> AppResult<Loan> {
    let loan = lock_loan_in_scope(conn, principal, id)?;
    let next = loan.state().lose()?;
    let mut checks = Checks::new();
    let charge = money_field(&mut checks, "charge.amount", Some(&input.charge));
    let note = input.note.as_ref().map(|n| checks.text("note", n, 0, 1000));
    checks.finish()?;
    let now = Ts(crate::now());
    let loaner = loan
        .loaner_id
        .ok_or_else(|| anyhow::anyhow!("issued loan without a loaner"))?;
    set_loaner_state(conn, loaner, "on_loan", "retired", now)?;
    with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .set((
            loans::state.eq(next.as_str()),
            loans::loaner_hold.eq(None::<String>),
            loans::damage_charge_minor.eq(charge),
            loans::updated_at.eq(now),
        ))
        .execute(c))?;
    let note = note.unwrap_or_else(|| "loaner lost; retired and charged".into());
    record_event(
        conn,
        loan.ticket_id,
        Some(principal.key_id),
        "loan_lost",
        None,
        None,
        Some(&note),
    )?;
    reload(conn, loan.id)
}

fn cancel(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &CancelLoan, hold: Duration) -> AppResult<Loan> {
    let loan = lock_loan_in_scope(conn, principal, id)?;
    let next = loan.state().cancel()?;
    let mut checks = Checks::new();
    checks.text("reason", &input.reason, 1, 1000);
    checks.finish()?;
    end_loan(conn, &loan, next, Some(principal.key_id), None, Ts(crate::now()), hold)?;
    reload(conn, loan.id)
}

fn extend(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &ExtendLoan) -> AppResult<Loan> {
    let loan = lock_loan_in_scope(conn, principal, id)?;
    if loan.state() != LoanState::Issued {
        return Err(AppError::conflict(
            "illegal_transition",
            "only an issued loan's due time can be extended",
        ));
    }
    let mut checks = Checks::new();
    let reason = checks.text("reason", &input.reason, 1, 1000);
    if loan.due_at.is_some_and(|d| input.due_at <= d.0) {
        checks.fail("due_at", "must be later than the current due time");
    }
    checks.finish()?;
    let due = DateTime::from_timestamp_micros(input.due_at.timestamp_micros()).unwrap_or(input.due_at);
    with_conn!(conn, c => diesel::update(loans::table.find(loan.id))
        .set((loans::due_at.eq(Ts(due)), loans::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    let note = format!(
        "due {} (was {}): {reason}",
        due.to_rfc3339(),
        loan.due_at.map(|d| d.0.to_rfc3339()).unwrap_or_default()
    );
    record_event(
        conn,
        loan.ticket_id,
        Some(principal.key_id),
        "loan_extended",
        None,
        None,
        Some(&note),
    )?;
    reload(conn, loan.id)
}

fn list(conn: &mut Conn<'_>, principal: &Principal, query: &LoanQuery, page: PageRequest) -> AppResult<LoanList> {
    let now = Ts(crate::now());
    let rows: Vec<LoanRow> = with_conn!(conn, c => {
        let mut q = loans::table.select(LoanRow::as_select()).order(loans::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(loans::id.gt(Id(after)));
        }
        if let Some(store) = query.store_id {
            q = q.filter(loans::store_id.eq(Id(store)));
        }
        if principal.role != crate::auth::Role::Admin {
            let scope: Vec<Id> = principal.store_ids.iter().copied().map(Id).collect();
            // One store (most keys) as `=`: the generic plan then reads the store's loans in id order.
            q = match scope.as_slice() {
                [one] => q.filter(loans::store_id.eq(*one)),
                _ => q.filter(loans::store_id.eq_any(scope)),
            };
        }
        if let Some(state) = query.state {
            q = q.filter(loans::state.eq(state.as_str()));
        }
        if query.overdue == Some(true) {
            q = q.filter(loans::state.eq("issued")).filter(loans::due_at.lt(now));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(loan_view(conn, row)?);
    }
    Ok(LoanList { items, next_cursor })
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
    let list = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            list(conn, principal, &query, page)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
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
    let loan = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            let row = loan_in_scope(conn, principal, id)?;
            loan_view(conn, &row)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(loan))
}

macro_rules! loan_endpoint {
    ($name:ident, $path:literal, $body:ty, $doc:literal, |$conn:ident, $principal:ident, $id:ident, $input:ident, $hold:ident| $call:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "loans", operation_id = stringify!($name), params(("loan_id" = Uuid, Path)), request_body = $body,
            responses((status = 200, body = Loan), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
            body: ApiJson<$body>,
        ) -> AppResult<HttpResponse> {
            let $id = path.into_inner();
            let $input = body.value;
            let $hold = state.settings.loan_hold;
            let loan = web::block(move || {
                bearer.write(&state.db, |$conn, $principal| {
                    require_ticket_role($principal)?;
                    $call
                })
            })
            .await??;
            Ok(HttpResponse::Ok().json(loan))
        }
    };
}

loan_endpoint!(
    issue_loan,
    "/loans/{loan_id}/issue",
    IssueLoan,
    "Hand the reserved loaner to the customer: sets the due time and the deposit.",
    |conn, principal, id, input, _hold| issue(conn, principal, id, &input)
);
loan_endpoint!(
    return_loan,
    "/loans/{loan_id}/return",
    ReturnLoan,
    "Take the loaner back: records its condition and missing accessories; the loaner goes to inspection.",
    |conn, principal, id, input, _hold| give_back(conn, principal, id, &input)
);
loan_endpoint!(
    mark_loan_lost,
    "/loans/{loan_id}/lost",
    LoseLoan,
    "The customer lost the loaner: it is retired and the charge recorded. The ticket may then close.",
    |conn, principal, id, input, _hold| lose(conn, principal, id, &input)
);
loan_endpoint!(
    cancel_loan,
    "/loans/{loan_id}/cancel",
    CancelLoan,
    "Cancel a waiting or reserved loan (the customer declines a loaner); a held loaner goes to the next waiter. An \
     issued loan is refused with `loaner_outstanding`: take the loaner back (or mark it lost) first.",
    |conn, principal, id, input, hold| cancel(conn, principal, id, &input, hold)
);
loan_endpoint!(
    extend_loan,
    "/loans/{loan_id}/extend",
    ExtendLoan,
    "Move an issued loan's due time later, with the reason on the ticket's timeline.",
    |conn, principal, id, input, _hold| extend(conn, principal, id, &input)
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
