//! The customers' queries.

use diesel::prelude::*;

use super::model::CustomerRow;
use crate::db::Conn;
use crate::db::schema::customers;
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

/// The customer with this normalised phone, created with `name` and `consent` when there is none. An existing
/// record keeps its name; a consent given now is recorded (a customer who consents at the counter is asked then).
pub fn find_or_create(
    conn: &mut Conn<'_>,
    phone: &str,
    name: &str,
    consent: Option<bool>,
    now: Ts,
) -> AppResult<CustomerRow> {
    let row = CustomerRow {
        id: Id(uuid::Uuid::now_v7()),
        phone: phone.to_owned(),
        name: name.to_owned(),
        contact_consent: consent.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(customers::table)
        .values(&row)
        .on_conflict(customers::phone)
        .do_nothing()
        .execute(c))?;
    if let Some(consent) = consent {
        with_conn!(conn, c => diesel::update(customers::table.filter(customers::phone.eq(phone)))
            .filter(customers::contact_consent.ne(consent))
            .set((customers::contact_consent.eq(consent), customers::updated_at.eq(now)))
            .execute(c))?;
    }
    by_phone(conn, phone)?.ok_or_else(|| anyhow::anyhow!("customer {phone} vanished after its upsert").into())
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
