//! The tracking link's reads: the ticket behind a token hash, its store and model names, its steps and its legs.

use diesel::prelude::*;

use crate::courier::PickupRow;
use crate::db::Conn;
use crate::db::schema::{pickups, product_models, stores, ticket_events, tickets};
use crate::db::types::Id;
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
