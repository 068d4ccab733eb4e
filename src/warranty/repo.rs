//! The warranty policies' queries, and what a warranty check reads of a store and a model.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::PolicyRow;
use crate::db::Conn;
use crate::db::schema::{product_models, product_series, stores, warranty_policies};
use crate::db::types::Id;
use crate::error::AppResult;
use crate::http::pagination::PageRequest;
use crate::with_conn;

/// The series' policy in force on `day`: the one with the latest `effective_from` not after it.
pub fn in_force(conn: &mut Conn<'_>, series: Id, day: NaiveDate) -> AppResult<Option<PolicyRow>> {
    Ok(with_conn!(conn, c => warranty_policies::table
        .filter(warranty_policies::series_id.eq(series))
        .filter(warranty_policies::effective_from.le(day))
        .order(warranty_policies::effective_from.desc())
        .select(PolicyRow::as_select())
        .first(c)
        .optional())?)
}

pub fn find(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<PolicyRow>> {
    Ok(with_conn!(conn, c => warranty_policies::table.find(id).select(PolicyRow::as_select()).first(c).optional())?)
}

/// The series' policy taking effect on exactly `day`, if any.
pub fn find_dated(conn: &mut Conn<'_>, series: Id, day: NaiveDate) -> AppResult<Option<PolicyRow>> {
    Ok(with_conn!(conn, c => warranty_policies::table
        .filter(warranty_policies::series_id.eq(series))
        .filter(warranty_policies::effective_from.eq(day))
        .select(PolicyRow::as_select())
        .first(c)
        .optional())?)
}

pub fn insert(conn: &mut Conn<'_>, row: &PolicyRow) -> diesel::QueryResult<usize> {
    with_conn!(conn, c => diesel::insert_into(warranty_policies::table).values(row).execute(c))
}

pub fn delete(conn: &mut Conn<'_>, id: Id) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::delete(warranty_policies::table.find(id)).execute(c))?)
}

/// One page in creation (id) order, optionally of one series.
pub fn list(conn: &mut Conn<'_>, page: PageRequest, series: Option<Id>) -> AppResult<Vec<PolicyRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = warranty_policies::table
            .select(PolicyRow::as_select())
            .order(warranty_policies::id)
            .limit(page.fetch())
            .into_boxed();
        if let Some(after) = page.after {
            q = q.filter(warranty_policies::id.gt(Id(after)));
        }
        if let Some(series) = series {
            q = q.filter(warranty_policies::series_id.eq(series));
        }
        q.load(c)
    })?)
}

/// Whether the series exists.
pub fn series_exists(conn: &mut Conn<'_>, series: Id) -> AppResult<bool> {
    Ok(with_conn!(conn, c => diesel::select(diesel::dsl::exists(product_series::table.find(series))).get_result(c))?)
}

/// A store as a warranty check sees it: its kind, whether it is active, its time zone.
pub struct CheckStore {
    pub kind: String,
    pub active: bool,
    pub time_zone: String,
}

pub fn store(conn: &mut Conn<'_>, store: Id) -> AppResult<Option<CheckStore>> {
    let found: Option<(String, bool, String)> = with_conn!(conn, c => stores::table
        .find(store)
        .select((stores::kind, stores::active, stores::time_zone))
        .first(c)
        .optional())?;
    Ok(found.map(|(kind, active, time_zone)| CheckStore {
        kind,
        active,
        time_zone,
    }))
}

/// A model's series, and whether the model and its series are active; `None` when there is no such model.
pub fn model_series(conn: &mut Conn<'_>, model: Id) -> AppResult<Option<(Id, bool, bool)>> {
    Ok(with_conn!(conn, c => product_models::table
        .inner_join(product_series::table)
        .filter(product_models::id.eq(model))
        .select((product_series::id, product_models::active, product_series::active))
        .first(c)
        .optional())?)
}
