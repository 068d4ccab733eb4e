//! The customers' queries.

use diesel::prelude::*;

use super::model::{CustomerRow, CustomerTicketRow};
use crate::db::Conn;
use crate::db::schema::{customers, tickets};
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

/// A customer's tickets, newest first, at most `limit`; within `scope` (stores) when given.
pub fn tickets_of(
    conn: &mut Conn<'_>,
    customer: Id,
    scope: Option<&[Id]>,
    limit: i64,
) -> AppResult<Vec<CustomerTicketRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = tickets::table
            .filter(tickets::customer_id.eq(customer))
            .order(tickets::id.desc())
            .limit(limit)
            .select((
                tickets::id,
                tickets::number,
                tickets::store_id,
                tickets::device_id,
                tickets::device_imei,
                tickets::model_id,
                tickets::status,
                tickets::created_at,
                tickets::received_at,
                tickets::ready_at,
                tickets::promised_at,
                tickets::closed_at,
            ))
            .into_boxed();
        if let Some(stores) = scope {
            q = q.filter(tickets::store_id.eq_any(stores.to_vec()));
        }
        q.load::<CustomerTicketRow>(c)
    })?)
}

/// How many tickets a customer has, within `scope` (stores) when given.
pub fn count_tickets(conn: &mut Conn<'_>, customer: Id, scope: Option<&[Id]>) -> AppResult<i64> {
    Ok(with_conn!(conn, c => {
        let mut q = tickets::table
            .filter(tickets::customer_id.eq(customer))
            .count()
            .into_boxed();
        if let Some(stores) = scope {
            q = q.filter(tickets::store_id.eq_any(stores.to_vec()));
        }
        q.get_result::<i64>(c)
    })?)
}

/// Changes a customer's name and consent (each when given).
pub fn update(conn: &mut Conn<'_>, id: Id, name: Option<&str>, consent: Option<bool>, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(customers::table.find(id))
        .set((
            name.map(|n| customers::name.eq(n.to_owned())),
            consent.map(|v| customers::contact_consent.eq(v)),
            customers::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// The customer with this normalised phone, created with `name` (and `consent`, or none) when there is none; a
/// consent given is recorded on an existing record too.
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
    let mut customer = insert_if_absent(conn, &row)?;
    if let Some(consent) = consent.filter(|c| *c != customer.contact_consent) {
        set_consent(conn, customer.id, consent, now)?;
        customer.contact_consent = consent;
        customer.updated_at = now;
    }
    Ok(customer)
}
