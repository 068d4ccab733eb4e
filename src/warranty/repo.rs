//! The warranty policies' queries.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::PolicyRow;
use crate::db::Conn;
use crate::db::schema::warranty_policies;
use crate::db::types::Id;
use crate::error::AppResult;
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
