//! The counts behind the operators' gauges (`GET /metrics`): read across areas, so they live with the database.

use std::collections::HashMap;

use diesel::prelude::*;

use super::Conn;
use super::schema::{loaners, loans, product_series, stores};
use super::types::Id;
use crate::error::AppResult;
use crate::with_conn;

/// Store code, series code, loaner state, count.
pub type LoanerCount = (String, String, String, i64);
/// Store code, series code, waiting loans.
pub type WaitCount = (String, String, i64);

/// Loaners by (store, series, state) and waiting loans by (store, series), labelled by code: the gauges of
/// `GET /metrics`.
pub fn loaner_counts(conn: &mut Conn<'_>) -> AppResult<(Vec<LoanerCount>, Vec<WaitCount>)> {
    let loaner_rows: Vec<(Id, Id, String, i64)> = with_conn!(conn, c => loaners::table
        .group_by((loaners::store_id, loaners::series_id, loaners::state))
        .select((loaners::store_id, loaners::series_id, loaners::state, diesel::dsl::count_star()))
        .load(c))?;
    let waiting: Vec<(Id, Id, i64)> = with_conn!(conn, c => loans::table
        .filter(crate::db::loan_is_waiting())
        .group_by((loans::store_id, loans::series_id))
        .select((loans::store_id, loans::series_id, diesel::dsl::count_star()))
        .load(c))?;
    // Label by code, not id: stores and series are few, so one read of each beats a join per group.
    let store_codes: HashMap<Id, String> =
        with_conn!(conn, c => stores::table.select((stores::id, stores::code)).load(c))?
            .into_iter()
            .collect();
    let series_codes: HashMap<Id, String> = with_conn!(conn, c => product_series::table
        .select((product_series::id, product_series::code)).load(c))?
    .into_iter()
    .collect();
    let code = |map: &HashMap<Id, String>, id: &Id| map.get(id).cloned().unwrap_or_else(|| id.0.to_string());
    let loaners = loaner_rows
        .into_iter()
        .map(|(store, series, state, n)| (code(&store_codes, &store), code(&series_codes, &series), state, n))
        .collect();
    let waiting = waiting
        .into_iter()
        .map(|(store, series, n)| (code(&store_codes, &store), code(&series_codes, &series), n))
        .collect();
    Ok((loaners, waiting))
}
