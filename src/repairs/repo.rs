//! The queries behind a ticket's part lines and quote, and the reservation's two statements: the ticket locked in
//! scope with its location and part checked (one statement on both engines), then on PostgreSQL one writable CTE
//! that takes the units and writes the line, its timeline entry and its movement (SQLite, with one writer, runs
//! the same steps one statement at a time).

use std::sync::LazyLock;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use uuid::Uuid;

use super::model::TicketPartRow;
use crate::db::Conn;
use crate::db::prepared::{no_parameter, prepared_statement, walk_numbered};
use crate::db::schema::{parts, ticket_parts, tickets};
use crate::db::types::{DbTime, DbUuid, Id, Ts};
use crate::error::AppResult;
use crate::stock::MovementRow;
use crate::tickets::TicketEventRow;
use crate::with_conn;

/// A ticket's lines but released ones, with each part's SKU and name, in line order.
pub fn lines_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<(TicketPartRow, String, String)>> {
    Ok(with_conn!(conn, c => ticket_parts::table
        .inner_join(parts::table)
        .filter(ticket_parts::ticket_id.eq(ticket))
        .filter(ticket_parts::state.ne("released"))
        .order(ticket_parts::id)
        .select((TicketPartRow::as_select(), parts::sku, parts::name))
        .load(c))?)
}

/// One line of a ticket.
pub fn line_of(conn: &mut Conn<'_>, ticket: Id, line: Id) -> AppResult<Option<TicketPartRow>> {
    Ok(with_conn!(conn, c => ticket_parts::table.find(line)
        .filter(ticket_parts::ticket_id.eq(ticket))
        .select(TicketPartRow::as_select()).first(c).optional())?)
}

/// A ticket's reserved lines.
pub fn reserved_lines(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<TicketPartRow>> {
    Ok(with_conn!(conn, c => ticket_parts::table
        .filter(ticket_parts::ticket_id.eq(ticket))
        .filter(ticket_parts::state.eq("reserved"))
        .select(TicketPartRow::as_select())
        .load(c))?)
}

/// A ticket's reserved lines in (location, part) order, the order every path locks stock levels in.
pub fn reserved_lines_by_level(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<TicketPartRow>> {
    Ok(with_conn!(conn, c => ticket_parts::table
        .filter(ticket_parts::ticket_id.eq(ticket))
        .filter(ticket_parts::state.eq("reserved"))
        .order((ticket_parts::location_id, ticket_parts::part_id, ticket_parts::id))
        .select(TicketPartRow::as_select())
        .load(c))?)
}

/// Moves a reserved line to `to`, guarded by its state so it happens once; false when it was not reserved.
pub fn finish_line(conn: &mut Conn<'_>, line: Id, to: &str) -> AppResult<bool> {
    let updated = with_conn!(conn, c => diesel::update(ticket_parts::table.find(line))
        .filter(ticket_parts::state.eq("reserved"))
        .set((ticket_parts::state.eq(to), ticket_parts::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    Ok(updated == 1)
}

/// Snapshots a line's price and whether the warranty covers it.
pub fn price_line(conn: &mut Conn<'_>, line: Id, price: i64, covered: bool, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(ticket_parts::table.find(line))
        .set((ticket_parts::unit_price_minor.eq(Some(price)), ticket_parts::covered.eq(covered), ticket_parts::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

pub fn set_labour(conn: &mut Conn<'_>, ticket: Id, labour_minor: i64) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .set(tickets::labour_minor.eq(labour_minor)).execute(c))?;
    Ok(())
}

/// Issues the next version of a ticket's quote, waiting for the customer; answers the new version.
pub fn issue_quote(conn: &mut Conn<'_>, ticket: Id) -> AppResult<i32> {
    Ok(with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .set((tickets::quote_version.eq(tickets::quote_version + 1), tickets::quote_state.eq(Some("waiting"))))
        .returning(tickets::quote_version)
        .get_result(c))?)
}

/// Records the customer's decision on a ticket's latest quote (a ticket that never had one keeps no state).
pub fn decide_quote(conn: &mut Conn<'_>, ticket: Id, state: &str) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .filter(tickets::quote_version.ge(1))
        .set(tickets::quote_state.eq(Some(state)))
        .execute(c))?;
    Ok(())
}

/// What a reservation needs to know before it writes: the ticket (locked), the location's `active` flag and the
/// part's SKU, name and `active` flag (all `None` when there is no such location or part).
#[derive(Debug, QueryableByName)]
pub struct ReserveScope {
    #[diesel(sql_type = DbUuid)]
    pub ticket_id: Id,
    #[diesel(sql_type = Text)]
    pub number: String,
    #[diesel(sql_type = DbUuid)]
    pub store_id: Id,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub labour_minor: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub warranty_decision: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub location_active: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    pub part_sku: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub part_name: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub part_active: Option<bool>,
}

/// The ticket's row (without the ticket's scope check), the location (`location`, or the ticket's store when
/// absent) and the part, in one statement. On PostgreSQL the ticket is locked `FOR NO KEY UPDATE` as
/// `crate::tickets::lock_ticket` locks it: the ticket before any stock level, as every path takes them.
pub fn reserve_scope(
    conn: &mut Conn<'_>,
    ticket: Id,
    location: Option<Uuid>,
    part: Id,
) -> AppResult<Option<ReserveScope>> {
    let location = location.map(Id);
    Ok(match conn {
        Conn::Pg(c) => ScopeStatement { ticket, location, part }.get_result(*c).optional()?,
        Conn::Sqlite(c) => diesel::sql_query(RESERVE_SCOPE.replace('$', "?"))
            .bind::<DbUuid, _>(ticket)
            .bind::<Nullable<DbUuid>, _>(location)
            .bind::<DbUuid, _>(part)
            .get_result(*c)
            .optional()?,
    })
}

const RESERVE_SCOPE: &str = "SELECT t.id AS ticket_id, t.number, t.store_id, t.status, t.labour_minor, \
     t.warranty_decision, \
     (SELECT s.active FROM stores s WHERE s.id = COALESCE($2, t.store_id)) AS location_active, \
     p.sku AS part_sku, p.name AS part_name, p.active AS part_active \
     FROM tickets t LEFT JOIN parts p ON p.id = $3 WHERE t.id = $1";

static RESERVE_SCOPE_PG: LazyLock<String> = LazyLock::new(|| format!("{RESERVE_SCOPE} FOR NO KEY UPDATE OF t"));

/// [`RESERVE_SCOPE`] locking the ticket, prepared once per connection (PostgreSQL).
struct ScopeStatement {
    ticket: Id,
    location: Option<Id>,
    part: Id,
}

impl QueryFragment<Pg> for ScopeStatement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk_numbered(&RESERVE_SCOPE_PG, &mut out, |n, out| match n {
            1 => out.push_bind_param::<DbUuid, _>(&self.ticket),
            2 => out.push_bind_param::<Nullable<DbUuid>, _>(&self.location),
            3 => out.push_bind_param::<DbUuid, _>(&self.part),
            _ => Err(no_parameter("the reservation's scope", n)),
        })
    }
}

prepared_statement!(ScopeStatement, ScopeStatement);

/// What a ticket's unreleased lines cost, and what they charge the customer (see
/// [`super::rules::line_prices`]), in fen.
#[derive(Debug, QueryableByName)]
pub struct LineSums {
    #[diesel(sql_type = BigInt)]
    pub parts_cost: i64,
    #[diesel(sql_type = BigInt)]
    pub parts_customer: i64,
}

/// The sums of [`LineSums`], as [`super::rules::line_prices`] prices each line. SUM of a BIGINT is NUMERIC on
/// PostgreSQL; the casts keep them integers on both engines.
const LINE_SUMS: &str = "CAST(COALESCE(SUM(COALESCE(unit_price_minor, 0) * quantity), 0) AS BIGINT) AS parts_cost, \
     CAST(COALESCE(SUM(CASE WHEN covered THEN 0 ELSE COALESCE(unit_price_minor, 0) * quantity END), 0) AS BIGINT) \
     AS parts_customer FROM ticket_parts WHERE ticket_id = $1 AND state <> 'released'";

/// The reservation's sums when the level had the units.
#[derive(Debug, QueryableByName)]
struct Reserved {
    #[diesel(sql_type = BigInt)]
    reserved: i64,
    #[diesel(sql_type = BigInt)]
    parts_cost: i64,
    #[diesel(sql_type = BigInt)]
    parts_customer: i64,
}

/// Takes the line's units from what is available at its location (`reserved += q` while `on_hand - reserved >= q`)
/// and, only when they were there, writes the line, its timeline entry, its ledger movement and, when it took the
/// level to its reorder point, the `stock.low` event; answers the
/// ticket's line sums afterwards, or `None` when the units were not there (nothing written).
///
/// On PostgreSQL this is one statement: the guarded update locks the level's row until the commit (after the
/// ticket, locked by [`reserve_scope`]), and the inserts read from it, so they happen only when it updated. The
/// sums are read in the same statement, under the ticket's lock (every change of a ticket's lines holds it); the
/// new line has no price yet, so it adds nothing to them.
pub fn reserve_line(
    conn: &mut Conn<'_>,
    line: &TicketPartRow,
    event: &TicketEventRow,
    movement: &MovementRow,
) -> AppResult<Option<LineSums>> {
    match conn {
        Conn::Pg(c) => {
            let row: Reserved = ReserveStatement {
                low_event: Id(uuid::Uuid::now_v7()),
                line,
                event,
                movement,
            }
            .get_result(*c)?;
            Ok((row.reserved == 1).then_some(LineSums {
                parts_cost: row.parts_cost,
                parts_customer: row.parts_customer,
            }))
        }
        Conn::Sqlite(_) => {
            // One writer at a time: the steps in turn, the level first so that a refusal writes nothing.
            if !crate::stock::repo::reserve_available(conn, line.location_id, line.part_id, line.quantity)? {
                return Ok(None);
            }
            with_conn!(conn, c => diesel::insert_into(ticket_parts::table).values(line).execute(c))?;
            crate::tickets::record_events(conn, std::slice::from_ref(event))?;
            crate::stock::repo::insert_movement(conn, movement)?;
            crate::stock::emit_if_low(conn, line.location_id, line.part_id, line.quantity)?;
            line_sums(conn, line.ticket_id).map(Some)
        }
    }
}

/// The reservation's writes on PostgreSQL (see [`reserve_line`]), prepared once per connection.
static RESERVE_LINE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH level AS ( \
             UPDATE stock_levels SET reserved = reserved + $5, updated_at = $10 \
             WHERE location_id = $4 AND part_id = $3 AND on_hand - reserved >= $5 \
             RETURNING location_id, on_hand, reserved, reorder_point, reorder_qty), \
         low AS ( \
             INSERT INTO events (id, event_type, occurred_at, subject_type, subject_id, store_id, payload) \
             SELECT $25, 'stock.low', $10, 'stock_level', $3, $4, json_build_object('location_id', $4, \
                 'part_id', $3, 'on_hand', l.on_hand, 'reserved', l.reserved, 'available', l.on_hand - l.reserved, \
                 'reorder_point', l.reorder_point, 'reorder_qty', l.reorder_qty)::text \
             FROM level l WHERE (l.reorder_point > 0 OR l.reorder_qty > 0) \
                 AND l.on_hand - l.reserved <= l.reorder_point AND l.on_hand - l.reserved + $5 > l.reorder_point), \
         line AS ( \
             INSERT INTO ticket_parts (id, ticket_id, part_id, location_id, quantity, state, unit_price_minor, \
                 covered, created_at, updated_at) \
             SELECT $2, $1, $3, $4, $5, $6, $7, $8, $9, $10 FROM level), \
         event AS ( \
             INSERT INTO ticket_events (id, ticket_id, at, api_key_id, kind, from_status, to_status, note) \
             SELECT $11, $1, $12, $13, $14, $15, $16, $17 FROM level), \
         movement AS ( \
             INSERT INTO stock_movements (id, location_id, part_id, kind, quantity, reference, reason, \
                 api_key_id, at) \
             SELECT $18, $4, $3, $19, $20, $21, $22, $23, $24 FROM level) \
         SELECT (SELECT count(*) FROM level) AS reserved, {LINE_SUMS}"
    )
});

/// [`RESERVE_LINE`] with its binds.
struct ReserveStatement<'a> {
    /// The id of the `stock.low` event the reservation writes if it takes the level to its reorder point.
    low_event: Id,
    line: &'a TicketPartRow,
    event: &'a TicketEventRow,
    movement: &'a MovementRow,
}

impl QueryFragment<Pg> for ReserveStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (line, event, movement) = (self.line, self.event, self.movement);
        walk_numbered(&RESERVE_LINE, &mut out, |n, out| match n {
            1 => out.push_bind_param::<DbUuid, _>(&line.ticket_id),
            2 => out.push_bind_param::<DbUuid, _>(&line.id),
            3 => out.push_bind_param::<DbUuid, _>(&line.part_id),
            4 => out.push_bind_param::<DbUuid, _>(&line.location_id),
            5 => out.push_bind_param::<BigInt, _>(&line.quantity),
            6 => out.push_bind_param::<Text, _>(&line.state),
            7 => out.push_bind_param::<Nullable<BigInt>, _>(&line.unit_price_minor),
            8 => out.push_bind_param::<Bool, _>(&line.covered),
            9 => out.push_bind_param::<DbTime, _>(&line.created_at),
            10 => out.push_bind_param::<DbTime, _>(&line.updated_at),
            11 => out.push_bind_param::<DbUuid, _>(&event.id),
            12 => out.push_bind_param::<DbTime, _>(&event.at),
            13 => out.push_bind_param::<Nullable<DbUuid>, _>(&event.api_key_id),
            14 => out.push_bind_param::<Text, _>(&event.kind),
            15 => out.push_bind_param::<Nullable<Text>, _>(&event.from_status),
            16 => out.push_bind_param::<Nullable<Text>, _>(&event.to_status),
            17 => out.push_bind_param::<Nullable<Text>, _>(&event.note),
            18 => out.push_bind_param::<DbUuid, _>(&movement.id),
            19 => out.push_bind_param::<Text, _>(&movement.kind),
            20 => out.push_bind_param::<BigInt, _>(&movement.quantity),
            21 => out.push_bind_param::<Nullable<Text>, _>(&movement.reference),
            22 => out.push_bind_param::<Nullable<Text>, _>(&movement.reason),
            23 => out.push_bind_param::<Nullable<DbUuid>, _>(&movement.api_key_id),
            24 => out.push_bind_param::<DbTime, _>(&movement.at),
            25 => out.push_bind_param::<DbUuid, _>(&self.low_event),
            _ => Err(no_parameter("the reservation", n)),
        })
    }
}

prepared_statement!(ReserveStatement<'_>, ReserveStatement<'static>);

/// The sums of a ticket's unreleased lines.
pub fn line_sums(conn: &mut Conn<'_>, ticket: Id) -> AppResult<LineSums> {
    let sql = format!("SELECT {LINE_SUMS}");
    Ok(match conn {
        Conn::Pg(c) => diesel::sql_query(sql).bind::<DbUuid, _>(ticket).get_result(*c)?,
        Conn::Sqlite(c) => diesel::sql_query(sql.replace('$', "?"))
            .bind::<DbUuid, _>(ticket)
            .get_result(*c)?,
    })
}
