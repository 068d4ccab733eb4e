//! The customers' queries.

use diesel::prelude::*;

use super::model::CustomerRow;
use crate::db::Conn;
use crate::db::schema::customers;
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

/// The customer with `row`'s phone, inserted as `row` when there is none (step by step: the opening's own
/// statement on PostgreSQL is `crate::devices::repo::arrive`).
pub fn insert_if_absent(conn: &mut Conn<'_>, row: &CustomerRow) -> AppResult<CustomerRow> {
    with_conn!(conn, c => diesel::insert_into(customers::table)
        .values(row)
        .on_conflict(customers::phone)
        .do_nothing()
        .execute(c))?;
    by_phone(conn, &row.phone)?
        .ok_or_else(|| anyhow::anyhow!("customer {} vanished after its insert", row.phone).into())
}

/// Records a customer's consent to be contacted, given (or withdrawn) at the counter.
pub fn set_consent(conn: &mut Conn<'_>, id: Id, consent: bool, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(customers::table.find(id))
        .set((customers::contact_consent.eq(consent), customers::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

pub fn by_phone(conn: &mut Conn<'_>, phone: &str) -> AppResult<Option<CustomerRow>> {
    Ok(with_conn!(conn, c => customers::table
        .filter(customers::phone.eq(phone))
        .select(CustomerRow::as_select())
        .first(c)
        .optional())?)
}

pub fn find(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<CustomerRow>> {
    Ok(with_conn!(conn, c => customers::table.find(id).select(CustomerRow::as_select()).first(c).optional())?)
}
