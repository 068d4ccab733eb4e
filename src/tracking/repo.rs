//! The tracking link's queries: the ticket behind a token hash, its store and model names, its steps and its legs;
//! and the first answers of its writes made with an `Idempotency-Key`.

use diesel::prelude::*;

use crate::courier::PickupRow;
use crate::db::Conn;
use crate::db::schema::{link_idempotency_records, pickups, product_models, stores, ticket_events, tickets};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::tickets::{TicketEventRow, TicketRow};
use crate::with_conn;

pub fn ticket_by_token_hash(conn: &mut Conn<'_>, hash: &str) -> AppResult<Option<TicketRow>> {
    Ok(with_conn!(conn, c => tickets::table
        .filter(tickets::tracking_token_hash.eq(hash))
        .select(TicketRow::as_select()).first(c).optional())?)
}

/// A store's name and city.
pub fn store_name_and_city(conn: &mut Conn<'_>, store: Id) -> AppResult<(String, String)> {
    Ok(with_conn!(conn, c => stores::table.find(store).select((stores::name, stores::city)).first(c))?)
}

pub fn model_name(conn: &mut Conn<'_>, model: Id) -> AppResult<String> {
    Ok(with_conn!(conn, c => product_models::table.find(model).select(product_models::name).first(c))?)
}

/// The ticket's timeline entries that changed its status, in the order they happened.
pub fn status_changes(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<TicketEventRow>> {
    Ok(with_conn!(conn, c => ticket_events::table
        .filter(ticket_events::ticket_id.eq(ticket))
        .filter(ticket_events::to_status.is_not_null())
        .order((ticket_events::at, ticket_events::id))
        .select(TicketEventRow::as_select())
        .load(c))?)
}

/// The ticket's courier legs in creation order.
pub fn legs_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<PickupRow>> {
    Ok(with_conn!(conn, c => pickups::table
        .filter(pickups::ticket_id.eq(ticket))
        .order(pickups::id)
        .select(PickupRow::as_select())
        .load(c))?)
}

/// The first answer given through a link for a key.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = link_idempotency_records)]
pub struct LinkRecord {
    pub ticket_id: Id,
    pub idem_key: String,
    pub request_hash: String,
    pub status_code: i32,
    pub response_body: String,
    pub created_at: Ts,
}

pub fn find_record(conn: &mut Conn<'_>, ticket: Id, key: &str) -> AppResult<Option<LinkRecord>> {
    Ok(with_conn!(conn, c => link_idempotency_records::table
        .filter(link_idempotency_records::ticket_id.eq(ticket))
        .filter(link_idempotency_records::idem_key.eq(key))
        .select(LinkRecord::as_select())
        .first(c)
        .optional())?)
}

pub fn insert_record(conn: &mut Conn<'_>, record: &LinkRecord) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(link_idempotency_records::table).values(record).execute(c))?;
    Ok(())
}
