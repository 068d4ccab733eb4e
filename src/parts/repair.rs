//! Parts in a repair: reserve them for a ticket, release or consume them, and quote a paid repair with the prices
//! in force when quoted (a snapshot) plus labour. Lines covered by the warranty cost the customer nothing but keep
//! their cost.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::stock::{check_location, check_part, consume_units, release_units, reserve_units};
use crate::auth::{Bearer, Principal};
use crate::db::Conn;
use crate::db::schema::{parts, ticket_parts, tickets};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::ApiJson;
use crate::http::validate::Checks;
use crate::money::Money;
use crate::state::AppState;
use crate::tickets::http::{Ticket, detail, require_ticket_role, ticket_in_scope};
use crate::tickets::{TicketAction, TicketRow, TicketStatus, record_event};
use crate::warranty::WarrantyDecision;
use crate::with_conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartLineState {
    Reserved,
    Consumed,
    Released,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ticket_parts)]
pub struct TicketPartRow {
    pub id: Id,
    pub ticket_id: Id,
    pub part_id: Id,
    pub location_id: Id,
    pub quantity: i64,
    pub state: String,
    pub unit_price_minor: Option<i64>,
    pub covered: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A part reserved for, or used in, a repair.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketPart {
    pub id: Uuid,
    pub part_id: Uuid,
    pub sku: String,
    pub name: String,
    pub location_id: Uuid,
    pub quantity: i64,
    pub state: PartLineState,
    /// The price snapshot taken when the repair was quoted; absent before.
    pub unit_price: Option<Money>,
    /// Covered by the warranty: the customer pays nothing for it.
    pub covered: bool,
    /// What the customer pays for this line.
    pub customer_price: Money,
    pub created_at: DateTime<Utc>,
}

/// The parts of a ticket and what the repair costs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketParts {
    /// Every line but released ones.
    pub lines: Vec<TicketPart>,
    pub labour: Money,
    /// Parts and labour at quoted prices, whoever pays.
    pub total_cost: Money,
    /// What the customer pays: nothing for what the warranty covers.
    pub customer_total: Money,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservePart {
    pub part_id: Uuid,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
    /// Where the part is taken from; the ticket's store when absent.
    pub location_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRepair {
    /// Labour for the repair; zero when absent.
    pub labour: Option<Money>,
}

fn state_of(value: &str) -> PartLineState {
    match value {
        "reserved" => PartLineState::Reserved,
        "consumed" => PartLineState::Consumed,
        _ => PartLineState::Released,
    }
}

impl TicketParts {
    /// A ticket that has neither parts nor labour yet, as a new one.
    pub fn none() -> TicketParts {
        TicketParts {
            lines: Vec::new(),
            labour: Money::from_minor(0),
            total_cost: Money::from_minor(0),
            customer_total: Money::from_minor(0),
        }
    }
}

/// The parts of a ticket with the totals.
pub fn summary(conn: &mut Conn<'_>, ticket: &TicketRow) -> AppResult<TicketParts> {
    let rows: Vec<(TicketPartRow, String, String)> = with_conn!(conn, c => ticket_parts::table
        .inner_join(parts::table)
        .filter(ticket_parts::ticket_id.eq(ticket.id))
        .filter(ticket_parts::state.ne("released"))
        .order(ticket_parts::id)
        .select((TicketPartRow::as_select(), parts::sku, parts::name))
        .load(c))?;
    let mut total = 0i64;
    let mut customer = 0i64;
    let mut lines = Vec::with_capacity(rows.len());
    for (row, sku, name) in rows {
        let cost = row.unit_price_minor.unwrap_or(0) * row.quantity;
        let pays = if row.covered { 0 } else { cost };
        total += cost;
        customer += pays;
        lines.push(TicketPart {
            id: row.id.0,
            part_id: row.part_id.0,
            sku,
            name,
            location_id: row.location_id.0,
            quantity: row.quantity,
            state: state_of(&row.state),
            unit_price: row.unit_price_minor.map(Money::from_minor),
            covered: row.covered,
            customer_price: Money::from_minor(pays),
            created_at: row.created_at.0,
        });
    }
    let covered = warranty_free(ticket);
    total += ticket.labour_minor;
    if !covered {
        customer += ticket.labour_minor;
    }
    Ok(TicketParts {
        lines,
        labour: Money::from_minor(ticket.labour_minor),
        total_cost: Money::from_minor(total),
        customer_total: Money::from_minor(customer),
    })
}

/// Whether the ticket's warranty decision makes the repair free for the customer.
pub fn warranty_free(ticket: &TicketRow) -> bool {
    ticket
        .warranty_decision
        .as_deref()
        .and_then(|d| serde_json::from_str::<WarrantyDecision>(d).ok())
        .is_some_and(|d| d.free)
}

/// The ticket, locked (the ticket before any stock level, as every path takes them), while it is still open: a
/// ticket cancel committing meanwhile would release the lines it read and miss the one being added.
fn open_ticket(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<TicketRow> {
    let ticket = crate::tickets::http::lock_ticket_in_scope(conn, principal, id)?;
    if TicketStatus::parse(&ticket.status).is_final() {
        return Err(AppError::conflict("ticket_final", "the ticket is closed or cancelled"));
    }
    Ok(ticket)
}

fn line_of(conn: &mut Conn<'_>, ticket: &TicketRow, line: Uuid) -> AppResult<TicketPartRow> {
    let row: Option<TicketPartRow> = with_conn!(conn, c => ticket_parts::table.find(Id(line))
        .filter(ticket_parts::ticket_id.eq(ticket.id))
        .select(TicketPartRow::as_select()).first(c).optional())?;
    row.ok_or(AppError::NotFound("ticket part"))
}

/// Reserves units of a part for a ticket: the transaction behind `POST /tickets/{id}/parts` (public for the
/// benchmark, which runs it without HTTP).
pub fn reserve(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &ReservePart) -> AppResult<Ticket> {
    let ticket = open_ticket(conn, principal, id)?;
    let mut checks = Checks::new();
    if !(1..=1000).contains(&input.quantity) {
        checks.fail("quantity", "must be a whole number from 1 to 1000");
    }
    checks.finish()?;
    let location = input.location_id.unwrap_or(ticket.store_id.0);
    if !principal.covers_store(location) {
        return Err(AppError::field("location_id", "no such location"));
    }
    let location = check_location(conn, location, "location_id")?;
    check_part(conn, input.part_id, "part_id")?;
    let now = Ts(crate::now());
    let row = TicketPartRow {
        id: Id(Uuid::now_v7()),
        ticket_id: ticket.id,
        part_id: Id(input.part_id),
        location_id: location,
        quantity: input.quantity,
        state: "reserved".into(),
        unit_price_minor: None,
        covered: false,
        created_at: now,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(ticket_parts::table).values(&row).execute(c))?;
    record_event(
        conn,
        ticket.id,
        Some(principal.key_id),
        "part_reserved",
        None,
        None,
        Some(&format!("{} unit(s)", input.quantity)),
    )?;
    let reference = ticket.number.clone();
    let view = detail(conn, ticket)?;
    // The stock level is taken last: its row stays locked until the commit, and every reservation of this part at
    // this location queues on it, so nothing else runs in between. If the units are not there, the whole
    // transaction (line and timeline entry included) rolls back.
    reserve_units(
        conn,
        location,
        Id(input.part_id),
        input.quantity,
        &reference,
        principal.key_id,
    )?;
    Ok(view)
}

/// Moves a reserved line to `released` or `consumed`, guarded by its state so it happens once.
fn finish_line(conn: &mut Conn<'_>, line: &TicketPartRow, to: &str) -> AppResult<()> {
    let updated = with_conn!(conn, c => diesel::update(ticket_parts::table.find(line.id))
        .filter(ticket_parts::state.eq("reserved"))
        .set((ticket_parts::state.eq(to), ticket_parts::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    if updated == 1 {
        Ok(())
    } else {
        Err(AppError::conflict(
            "illegal_transition",
            format!("the part is already {}", line.state),
        ))
    }
}

fn release(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, line: Uuid) -> AppResult<Ticket> {
    let ticket = open_ticket(conn, principal, id)?;
    let row = line_of(conn, &ticket, line)?;
    finish_line(conn, &row, "released")?;
    release_units(
        conn,
        row.location_id,
        row.part_id,
        row.quantity,
        &ticket.number,
        principal.key_id,
    )?;
    record_event(
        conn,
        ticket.id,
        Some(principal.key_id),
        "part_released",
        None,
        None,
        None,
    )?;
    detail(conn, ticket)
}

/// Releases every reserved part of a ticket (cancelled, or quote declined).
pub fn release_all(conn: &mut Conn<'_>, ticket: &TicketRow, actor: Uuid) -> AppResult<()> {
    let rows: Vec<TicketPartRow> = with_conn!(conn, c => ticket_parts::table
        .filter(ticket_parts::ticket_id.eq(ticket.id))
        .filter(ticket_parts::state.eq("reserved"))
        .order((ticket_parts::location_id, ticket_parts::part_id, ticket_parts::id))
        .select(TicketPartRow::as_select())
        .load(c))?;
    // In (location, part) order, the order every path locks stock levels in.
    for row in rows {
        finish_line(conn, &row, "released")?;
        release_units(conn, row.location_id, row.part_id, row.quantity, &ticket.number, actor)?;
    }
    Ok(())
}

/// A part used without a quote keeps its cost: a free repair (which needs no quote) prices it at the price in force
/// now and the warranty covers it. On a paid repair the customer approved a quote without this part, so it is not
/// used until they approve its price: release it, or open another ticket for the extra work.
fn price_unquoted(conn: &mut Conn<'_>, ticket: &TicketRow, row: &TicketPartRow) -> AppResult<()> {
    if !warranty_free(ticket) {
        return Err(AppError::conflict(
            "part_not_quoted",
            "the part was reserved after the quote the customer approved; release it",
        ));
    }
    let now = Ts(crate::now());
    let price = super::catalog::price_in_force(conn, row.part_id, now)?
        .ok_or_else(|| AppError::conflict("part_unpriced", "the part has no price in force"))?;
    with_conn!(conn, c => diesel::update(ticket_parts::table.find(row.id))
        .set((ticket_parts::unit_price_minor.eq(Some(price)), ticket_parts::covered.eq(true), ticket_parts::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

fn consume(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, line: Uuid) -> AppResult<Ticket> {
    let ticket = open_ticket(conn, principal, id)?;
    if TicketStatus::parse(&ticket.status) != TicketStatus::Repairing {
        return Err(AppError::conflict(
            "illegal_transition",
            "parts are used while the ticket is repairing",
        ));
    }
    let row = line_of(conn, &ticket, line)?;
    if row.unit_price_minor.is_none() && row.state == "reserved" {
        price_unquoted(conn, &ticket, &row)?;
    }
    finish_line(conn, &row, "consumed")?;
    consume_units(
        conn,
        row.location_id,
        row.part_id,
        row.quantity,
        &ticket.number,
        principal.key_id,
    )?;
    record_event(
        conn,
        ticket.id,
        Some(principal.key_id),
        "part_consumed",
        None,
        None,
        None,
    )?;
    detail(conn, ticket)
}

fn move_ticket(
    conn: &mut Conn<'_>,
    ticket: &TicketRow,
    action: TicketAction,
    actor: Uuid,
    note: &str,
) -> AppResult<()> {
    let from = TicketStatus::parse(&ticket.status);
    let to = from.apply(action)?;
    let updated = with_conn!(conn, c => diesel::update(tickets::table.find(ticket.id))
        .filter(tickets::status.eq(from.as_str()))
        .set((tickets::status.eq(to.as_str()), tickets::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    if updated != 1 {
        return Err(AppError::conflict(
            "ticket_changed",
            "the ticket changed meanwhile; read it again",
        ));
    }
    record_event(
        conn,
        ticket.id,
        Some(actor),
        "status_changed",
        Some(from),
        Some(to),
        Some(note),
    )?;
    Ok(())
}

fn quote(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &QuoteRepair) -> AppResult<Ticket> {
    let ticket = open_ticket(conn, principal, id)?;
    let mut checks = Checks::new();
    let labour = match input.labour.as_ref().map(Money::to_minor_non_negative) {
        Some(Ok(minor)) => minor,
        Some(Err(why)) => {
            checks.fail("labour.amount", why);
            0
        }
        None => 0,
    };
    checks.finish()?;
    // The quote moves the ticket first, so a ticket in the wrong status is refused before anything is priced.
    let from = TicketStatus::parse(&ticket.status);
    from.apply(TicketAction::RequestApproval)?;
    let covered = warranty_free(&ticket);
    let now = Ts(crate::now());
    let lines: Vec<TicketPartRow> = with_conn!(conn, c => ticket_parts::table
        .filter(ticket_parts::ticket_id.eq(ticket.id))
        .filter(ticket_parts::state.eq("reserved"))
        .select(TicketPartRow::as_select())
        .load(c))?;
    for line in &lines {
        let price = super::catalog::price_in_force(conn, line.part_id, now)?
            .ok_or_else(|| AppError::conflict("part_unpriced", "a reserved part has no price in force"))?;
        with_conn!(conn, c => diesel::update(ticket_parts::table.find(line.id))
            .set((ticket_parts::unit_price_minor.eq(Some(price)), ticket_parts::covered.eq(covered), ticket_parts::updated_at.eq(now)))
            .execute(c))?;
    }
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket.id))
        .set(tickets::labour_minor.eq(labour)).execute(c))?;
    let note = if covered {
        "quote: covered by the warranty"
    } else {
        "quote sent for approval"
    };
    move_ticket(conn, &ticket, TicketAction::RequestApproval, principal.key_id, note)?;
    let ticket = ticket_in_scope(conn, principal, id)?;
    detail(conn, ticket)
}

fn approve(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<Ticket> {
    let ticket = open_ticket(conn, principal, id)?;
    if TicketStatus::parse(&ticket.status) != TicketStatus::AwaitingApproval {
        return Err(AppError::conflict(
            "illegal_transition",
            "the ticket has no quote awaiting approval",
        ));
    }
    move_ticket(
        conn,
        &ticket,
        TicketAction::StartRepair,
        principal.key_id,
        "quote approved by the customer",
    )?;
    let ticket = ticket_in_scope(conn, principal, id)?;
    detail(conn, ticket)
}

fn decline(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<Ticket> {
    let ticket = open_ticket(conn, principal, id)?;
    // A declined quote bills nothing: no diagnosis fee is published, so its labour is dropped (the timeline keeps
    // what was quoted) and the released parts cost nothing either.
    let note = if ticket.labour_minor > 0 {
        format!(
            "quote declined (labour {} not billed): returned unrepaired",
            Money::from_minor(ticket.labour_minor).amount
        )
    } else {
        "quote declined: returned unrepaired".to_owned()
    };
    move_ticket(conn, &ticket, TicketAction::DeclineQuote, principal.key_id, &note)?;
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket.id))
        .set(tickets::labour_minor.eq(0_i64)).execute(c))?;
    release_all(conn, &ticket, principal.key_id)?;
    let ticket = ticket_in_scope(conn, principal, id)?;
    detail(conn, ticket)
}

/// Reserve a part for a ticket from the ticket's store (or another location in the caller's scope). Refused with
/// `insufficient_stock` when not enough is available; concurrent reservations never oversell.
#[utoipa::path(
    tag = "tickets", operation_id = "reserve_ticket_part", params(("ticket_id" = Uuid, Path)),
    request_body = ReservePart, responses((status = 200, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets/{ticket_id}/parts")]
pub async fn reserve_ticket_part(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<ReservePart>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    let ticket = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            reserve(conn, principal, id, &input)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(ticket))
}

/// The parts of a ticket with what the repair costs and what the customer pays.
#[utoipa::path(
    tag = "tickets", operation_id = "list_ticket_parts", params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = TicketParts), ReadErrors),
    security(("bearer" = []))
)]
#[get("/tickets/{ticket_id}/parts")]
pub async fn list_ticket_parts(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let parts = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            let ticket = ticket_in_scope(conn, principal, id)?;
            summary(conn, &ticket)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(parts))
}

macro_rules! line_endpoint {
    ($name:ident, $path:literal, $doc:literal, $call:ident) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "tickets", operation_id = stringify!($name), params(("ticket_id" = Uuid, Path), ("line_id" = Uuid, Path)),
            responses((status = 200, body = Ticket), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<(Uuid, Uuid)>,
        ) -> AppResult<HttpResponse> {
            let (id, line) = path.into_inner();
            let ticket = web::block(move || {
                bearer.write(&state.db, |conn, principal| {
                    require_ticket_role(principal)?;
                    $call(conn, principal, id, line)
                })
            })
            .await??;
            Ok(HttpResponse::Ok().json(ticket))
        }
    };
}

line_endpoint!(
    release_ticket_part,
    "/tickets/{ticket_id}/parts/{line_id}/release",
    "Give a reserved part back to stock.",
    release
);
line_endpoint!(
    consume_ticket_part,
    "/tickets/{ticket_id}/parts/{line_id}/consume",
    "Use a reserved part in the repair: it leaves stock (on hand and reserved).",
    consume
);

/// Quote the repair: each reserved part is priced at the price in force now (a snapshot), plus labour; what the
/// warranty covers costs the customer nothing. The ticket moves to awaiting approval.
#[utoipa::path(
    tag = "tickets", operation_id = "quote_ticket", params(("ticket_id" = Uuid, Path)),
    request_body = QuoteRepair, responses((status = 200, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets/{ticket_id}/quote")]
pub async fn quote_ticket(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<QuoteRepair>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    let ticket = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            quote(conn, principal, id, &input)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(ticket))
}

macro_rules! decision_endpoint {
    ($name:ident, $path:literal, $doc:literal, $call:ident) => {
        #[doc = $doc]
        #[utoipa::path(
                            tag = "tickets", operation_id = stringify!($name), params(("ticket_id" = Uuid, Path)),
                            responses((status = 200, body = Ticket), WriteErrors),
                            security(("bearer" = []))
                        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
        ) -> AppResult<HttpResponse> {
            let id = path.into_inner();
            let ticket = web::block(move || {
                bearer.write(&state.db, |conn, principal| {
                    require_ticket_role(principal)?;
                    $call(conn, principal, id)
                })
            })
            .await??;
            Ok(HttpResponse::Ok().json(ticket))
        }
    };
}

decision_endpoint!(
    approve_quote,
    "/tickets/{ticket_id}/quote/approve",
    "The customer approves the quote: the repair starts.",
    approve
);
decision_endpoint!(
    decline_quote,
    "/tickets/{ticket_id}/quote/decline",
    "The customer declines the quote: reserved parts go back to stock, the phone is returned unrepaired and nothing\nis billed (the quoted labour is dropped; the timeline keeps it).",
    decline
);

#[derive(OpenApi)]
#[openapi(paths(
    reserve_ticket_part,
    list_ticket_parts,
    release_ticket_part,
    consume_ticket_part,
    quote_ticket,
    approve_quote,
    decline_quote,
))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(reserve_ticket_part)
        .service(list_ticket_parts)
        .service(release_ticket_part)
        .service(consume_ticket_part)
        .service(quote_ticket)
        .service(approve_quote)
        .service(decline_quote);
}
