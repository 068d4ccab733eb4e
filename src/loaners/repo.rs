//! The loaner pool's queries: loaners, the stores and models they are registered against, the pool's counts.

use diesel::prelude::*;

use super::model::{Grade, LoanerRow, LoanerState};
use crate::auth::{Principal, Role};
use crate::db::Conn;
use crate::db::schema::{loaners, loans, product_models, stores};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::http::pagination::PageRequest;
use crate::with_conn;

/// A loaner by id, wherever it is.
pub fn find(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<LoanerRow>> {
    Ok(with_conn!(conn, c => loaners::table.find(id).select(LoanerRow::as_select()).first(c).optional())?)
}

/// A loaner that exists (read again after a change).
pub fn get(conn: &mut Conn<'_>, id: Id) -> AppResult<LoanerRow> {
    Ok(with_conn!(conn, c => loaners::table.find(id).select(LoanerRow::as_select()).first(c))?)
}

/// A store's kind and whether it is active.
pub fn store_kind(conn: &mut Conn<'_>, store: Id) -> AppResult<Option<(String, bool)>> {
    Ok(with_conn!(conn, c => stores::table.find(store).select((stores::kind, stores::active)).first(c).optional())?)
}

/// A store by its code: id, kind, active.
pub fn store_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<(Id, String, bool)>> {
    Ok(with_conn!(conn, c => stores::table
        .filter(stores::code.eq(code))
        .select((stores::id, stores::kind, stores::active))
        .first(c).optional())?)
}

/// A model's series and whether it is active.
pub fn model_series(conn: &mut Conn<'_>, model: Id) -> AppResult<Option<(Id, bool)>> {
    Ok(with_conn!(conn, c => product_models::table.find(model)
        .select((product_models::series_id, product_models::active)).first(c).optional())?)
}

/// A model by its code: id, series, active.
pub fn model_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<(Id, Id, bool)>> {
    Ok(with_conn!(conn, c => product_models::table
        .filter(product_models::code.eq(code))
        .select((product_models::id, product_models::series_id, product_models::active))
        .first(c).optional())?)
}

/// How many loaners carry this IMEI (0 or 1).
pub fn count_imei(conn: &mut Conn<'_>, imei: &str) -> AppResult<i64> {
    Ok(with_conn!(conn, c => loaners::table.filter(loaners::imei.eq(imei)).count().get_result(c))?)
}

/// Writes a new loaner.
pub fn insert(conn: &mut Conn<'_>, row: &LoanerRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(loaners::table).values(row).execute(c))?;
    Ok(())
}

/// Moves a loaner to another store if it is still in the state it was read in.
pub fn set_store(conn: &mut Conn<'_>, row: &LoanerRow, store: Id, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loaners::table.find(row.id))
        .filter(loaners::state.eq(&row.state))
        .set((loaners::store_id.eq(store), loaners::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Retires a loaner if it is still in the state it was read in.
pub fn set_retired(conn: &mut Conn<'_>, row: &LoanerRow, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loaners::table.find(row.id))
        .filter(loaners::state.eq(&row.state))
        .set((loaners::state.eq("retired"), loaners::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Records a loaner's new condition grade.
pub fn set_grade(conn: &mut Conn<'_>, id: Id, grade: Grade) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loaners::table.find(id)).set(loaners::grade.eq(grade.as_str())).execute(c))?;
    Ok(())
}

/// Sends a loaner to maintenance.
pub fn set_maintenance(conn: &mut Conn<'_>, id: Id, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(loaners::table.find(id))
        .set((loaners::state.eq("maintenance"), loaners::updated_at.eq(now))).execute(c))?;
    Ok(())
}

/// Which loaners a list shows, besides the caller's scope.
pub struct LoanerFilter {
    pub store_id: Option<Id>,
    pub series_id: Option<Id>,
    pub state: Option<LoanerState>,
}

/// One page of the loaners of the caller's stores, in id order.
pub fn list(
    conn: &mut Conn<'_>,
    principal: &Principal,
    filter: &LoanerFilter,
    page: &PageRequest,
) -> AppResult<Vec<LoanerRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = loaners::table.select(LoanerRow::as_select()).order(loaners::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(loaners::id.gt(Id(after)));
        }
        if let Some(store) = filter.store_id {
            q = q.filter(loaners::store_id.eq(store));
        }
        if principal.role != Role::Admin {
            let scope: Vec<Id> = principal.store_ids.iter().copied().map(Id).collect();
            q = q.filter(loaners::store_id.eq_any(scope));
        }
        if let Some(series) = filter.series_id {
            q = q.filter(loaners::series_id.eq(series));
        }
        if let Some(state) = filter.state {
            q = q.filter(loaners::state.eq(state.as_str()));
        }
        q.load(c)
    })?)
}

/// Which stores and series the pool's counts cover: the ones asked for, within `scope` (every store when `None`).
pub struct CountFilter {
    pub store_id: Option<Id>,
    pub series_id: Option<Id>,
    pub scope: Option<Vec<Id>>,
}

/// Loaners per store, series and state.
pub fn count_by_state(conn: &mut Conn<'_>, filter: &CountFilter) -> AppResult<Vec<(Id, Id, String, i64)>> {
    Ok(with_conn!(conn, c => {
        let mut q = loaners::table
            .group_by((loaners::store_id, loaners::series_id, loaners::state))
            .select((loaners::store_id, loaners::series_id, loaners::state, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(store) = filter.store_id {
            q = q.filter(loaners::store_id.eq(store));
        }
        if let Some(series) = filter.series_id {
            q = q.filter(loaners::series_id.eq(series));
        }
        if let Some(scope) = &filter.scope {
            q = q.filter(loaners::store_id.eq_any(scope.clone()));
        }
        q.load(c)
    })?)
}

/// Waiting tickets per store and series.
pub fn count_waiting(conn: &mut Conn<'_>, filter: &CountFilter) -> AppResult<Vec<(Id, Id, i64)>> {
    Ok(with_conn!(conn, c => {
        let mut q = loans::table
            .filter(crate::db::loan_is_waiting())
            .group_by((loans::store_id, loans::series_id))
            .select((loans::store_id, loans::series_id, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(store) = filter.store_id {
            q = q.filter(loans::store_id.eq(store));
        }
        if let Some(series) = filter.series_id {
            q = q.filter(loans::series_id.eq(series));
        }
        if let Some(scope) = &filter.scope {
            q = q.filter(loans::store_id.eq_any(scope.clone()));
        }
        q.load(c)
    })?)
}
