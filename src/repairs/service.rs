//! The repair's part use cases: reserve a part for a ticket, release or use (consume) it, list a ticket's parts
//! with their totals, quote a paid repair at the prices in force when quoted (a snapshot) plus labour, and the
//! customer's approval or decline. Each opens its one transaction as the caller's key (`Bearer::write`, the key
//! checked on the same connection) and takes the ticket's lock first: the ticket before any stock level, as every
//! path takes them. `reserve_in` is the reservation's step for a caller with its own transaction (the bench).

use uuid::Uuid;

use super::http::{QuoteRepair, ReservePart, TicketPart, TicketPartReserved, TicketParts, TicketPartsTotals};
use super::model::{PartLineState, TicketPartRow};
use super::repo::{self, LineSums};
use super::rules::{self, QuoteDecision};
use crate::auth::{Bearer, Principal};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::events::EventType;
use crate::http::validate::Checks;
use crate::money::Money;
use crate::stock::{self, MovementKind, MovementRow};
use crate::tickets::{
    Actor, Ticket, TicketAction, TicketEventRow, TicketRow, TicketStatus, detail, record_event, record_event_by,
    require_ticket_role, ticket_in_scope,
};

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

impl From<rules::Totals> for TicketPartsTotals {
    fn from(t: rules::Totals) -> Self {
        TicketPartsTotals {
            labour: Money::from_minor(t.labour),
            total_cost: Money::from_minor(t.total_cost),
            customer_total: Money::from_minor(t.customer_total),
        }
    }
}

/// The parts of a ticket with the totals.
pub fn summary(conn: &mut Conn<'_>, ticket: &TicketRow) -> AppResult<TicketParts> {
    let rows = repo::lines_of(conn, ticket.id)?;
    let mut parts_cost = 0i64;
    let mut parts_customer = 0i64;
    let mut lines = Vec::with_capacity(rows.len());
    for (row, sku, name) in rows {
        let (cost, pays) = rules::line_prices(row.unit_price_minor, row.quantity, row.covered);
        parts_cost += cost;
        parts_customer += pays;
        lines.push(TicketPart {
            id: row.id.0,
            part_id: row.part_id.0,
            sku,
            name,
            location_id: row.location_id.0,
            quantity: row.quantity,
            state: PartLineState::parse(&row.state),
            unit_price: row.unit_price_minor.map(Money::from_minor),
            covered: row.covered,
            customer_price: Money::from_minor(pays),
            created_at: row.created_at.0,
        });
    }
    let totals = rules::totals(parts_cost, parts_customer, ticket.labour_minor, warranty_free(ticket));
    Ok(TicketParts {
        lines,
        labour: Money::from_minor(totals.labour),
        total_cost: Money::from_minor(totals.total_cost),
        customer_total: Money::from_minor(totals.customer_total),
    })
}

/// Whether the ticket's warranty decision makes the repair free for the customer.
pub fn warranty_free(ticket: &TicketRow) -> bool {
    rules::decision_is_free(ticket.warranty_decision.as_deref())
}

/// The parts of a ticket the caller may see, with what the repair costs and what the customer pays.
pub fn list(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<TicketParts> {
    bearer.read(db, |conn, principal| {
        require_ticket_role(principal)?;
        let ticket = ticket_in_scope(conn, principal, id)?;
        summary(conn, &ticket)
    })
}

/// The refusal of a change to a closed or cancelled ticket.
fn ticket_final() -> AppError {
    AppError::conflict("ticket_final", "the ticket is closed or cancelled")
}

/// The ticket, locked (the ticket before any stock level, as every path takes them), while it is still open: a
/// ticket cancel committing meanwhile would release the lines it read and miss the one being added.
fn open_ticket(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<TicketRow> {
    require_ticket_role(principal)?;
    let ticket = crate::tickets::lock_ticket_in_scope(conn, principal, id)?;
    if TicketStatus::parse(&ticket.status).is_final() {
        return Err(ticket_final());
    }
    Ok(ticket)
}

/// Runs a change of a ticket's parts or quote in one write transaction, as the key's holder, on the ticket locked
/// while still open ([`open_ticket`]), and answers the ticket after it.
fn change(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    f: impl FnOnce(&mut Conn<'_>, &Principal, TicketRow) -> AppResult<Ticket>,
) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| change_in(conn, principal, id, f))
}

/// As [`change`], in the caller's transaction (the console's forms run their work in one).
fn change_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    f: impl FnOnce(&mut Conn<'_>, &Principal, TicketRow) -> AppResult<Ticket>,
) -> AppResult<Ticket> {
    let ticket = open_ticket(conn, principal, id)?;
    f(conn, principal, ticket)
}

fn line_of(conn: &mut Conn<'_>, ticket: &TicketRow, line: Uuid) -> AppResult<TicketPartRow> {
    repo::line_of(conn, ticket.id, Id(line))?.ok_or(AppError::NotFound("ticket part"))
}

/// Reserves units of a part for a ticket, in one write transaction as the key's holder ([`reserve_in`]).
pub fn reserve(db: &Db, bearer: &Bearer, id: Uuid, input: &ReservePart) -> AppResult<TicketPartReserved> {
    bearer.write(db, |conn, principal| reserve_in(conn, principal, id, input))
}

/// Reserves units of a part for a ticket, in the caller's transaction: the step behind `POST /tickets/{id}/parts`
/// (public for the benchmark, which runs it without HTTP).
///
/// Two statements on PostgreSQL: one locks the ticket and reads the location and the part
/// ([`repo::reserve_scope`]); one takes the units and writes the line, its timeline entry and its movement
/// ([`repo::reserve_line`]). The stock level is taken last: its row stays locked until the commit, and every
/// reservation of this part at this location queues on it, so nothing else runs in between. If the units are not
/// there, nothing is written and the refusal says what is available.
pub fn reserve_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    input: &ReservePart,
) -> AppResult<TicketPartReserved> {
    require_ticket_role(principal)?;
    let scope = repo::reserve_scope(conn, Id(id), input.location_id, Id(input.part_id))?
        .filter(|s| principal.covers_store(s.store_id.0))
        .ok_or(AppError::NotFound("ticket"))?;
    if TicketStatus::parse(&scope.status).is_final() {
        return Err(ticket_final());
    }
    let mut checks = Checks::new();
    if !(1..=1000).contains(&input.quantity) {
        checks.fail("quantity", "must be a whole number from 1 to 1000");
    }
    checks.finish()?;
    let location = input.location_id.unwrap_or(scope.store_id.0);
    if !principal.covers_store(location) {
        return Err(AppError::field("location_id", "no such location"));
    }
    stock::service::location_verdict(scope.location_active, "location_id")?;
    let part = scope.part_sku.zip(scope.part_name).zip(scope.part_active);
    let (sku, name) = stock::service::part_verdict(part, "part_id")?;
    let (location, part) = (Id(location), Id(input.part_id));
    let now = Ts(crate::now());
    let line = TicketPartRow {
        id: Id(Uuid::now_v7()),
        ticket_id: scope.ticket_id,
        part_id: part,
        location_id: location,
        quantity: input.quantity,
        state: PartLineState::Reserved.as_str().to_owned(),
        unit_price_minor: None,
        covered: false,
        created_at: now,
        updated_at: now,
    };
    let note = format!("{} unit(s)", input.quantity);
    let event = TicketEventRow::new(
        scope.ticket_id,
        Some(principal.key_id),
        "part_reserved",
        None,
        None,
        Some(&note),
    );
    let movement = MovementRow::new(
        (location, part),
        MovementKind::Reservation,
        input.quantity,
        Some(&scope.number),
        None,
        Some(principal.key_id),
    );
    let Some(LineSums {
        parts_cost,
        parts_customer,
    }) = repo::reserve_line(conn, &line, &event, &movement)?
    else {
        return Err(stock::insufficient(conn, location, part, input.quantity)?);
    };
    let free = rules::decision_is_free(scope.warranty_decision.as_deref());
    let totals = rules::totals(parts_cost, parts_customer, scope.labour_minor, free);
    let (_, pays) = rules::line_prices(line.unit_price_minor, line.quantity, line.covered);
    Ok(TicketPartReserved {
        line: TicketPart {
            id: line.id.0,
            part_id: part.0,
            sku,
            name,
            location_id: location.0,
            quantity: line.quantity,
            state: PartLineState::Reserved,
            unit_price: None,
            covered: line.covered,
            customer_price: Money::from_minor(pays),
            created_at: now.0,
        },
        totals: totals.into(),
    })
}

/// Moves a reserved line to `released` or `consumed`, guarded by its state so it happens once.
fn finish_line(conn: &mut Conn<'_>, line: &TicketPartRow, to: PartLineState) -> AppResult<()> {
    let from = PartLineState::parse(&line.state);
    match to {
        PartLineState::Consumed => from.consume()?,
        _ => from.release()?,
    };
    if repo::finish_line(conn, line.id, to.as_str())? {
        Ok(())
    } else {
        Err(AppError::conflict(
            "illegal_transition",
            format!("the part is already {}", line.state),
        ))
    }
}

/// Gives a reserved part back to stock.
pub fn release(db: &Db, bearer: &Bearer, id: Uuid, line: Uuid) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| release_in(conn, principal, id, line))
}

/// As [`release`], in the caller's transaction.
pub fn release_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, line: Uuid) -> AppResult<Ticket> {
    change_in(conn, principal, id, |conn, principal, ticket| {
        let row = line_of(conn, &ticket, line)?;
        finish_and_answer(conn, principal, ticket, &row, PartLineState::Released)
    })
}

/// Ends a line (released or consumed), moves its units in stock, writes the timeline entry and answers the ticket.
fn finish_and_answer(
    conn: &mut Conn<'_>,
    principal: &Principal,
    ticket: TicketRow,
    row: &TicketPartRow,
    to: PartLineState,
) -> AppResult<Ticket> {
    finish_line(conn, row, to)?;
    let (location, part, q, actor) = (row.location_id, row.part_id, row.quantity, principal.key_id);
    let event = match to {
        PartLineState::Consumed => {
            stock::consume_units(conn, location, part, q, &ticket.number, actor)?;
            "part_consumed"
        }
        _ => {
            stock::release_units(conn, location, part, q, &ticket.number, actor)?;
            "part_released"
        }
    };
    record_event(conn, ticket.id, Some(actor), event, None, None, None)?;
    detail(conn, ticket)
}

/// Releases every reserved part of a ticket (cancelled, or quote declined).
pub fn release_all(conn: &mut Conn<'_>, ticket: &TicketRow, actor: Option<Uuid>) -> AppResult<()> {
    // In (location, part) order, the order every path locks stock levels in.
    for row in repo::reserved_lines_by_level(conn, ticket.id)? {
        finish_line(conn, &row, PartLineState::Released)?;
        stock::release_units(conn, row.location_id, row.part_id, row.quantity, &ticket.number, actor)?;
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
    let price = crate::parts::price_in_force(conn, row.part_id, now)?
        .ok_or_else(|| AppError::conflict("part_unpriced", "the part has no price in force"))?;
    repo::price_line(conn, row.id, price, true, now)
}

/// Uses a reserved part in the repair: it leaves stock (on hand and reserved).
pub fn consume(db: &Db, bearer: &Bearer, id: Uuid, line: Uuid) -> AppResult<Ticket> {
    change(db, bearer, id, |conn, principal, ticket| {
        if TicketStatus::parse(&ticket.status) != TicketStatus::Repairing {
            return Err(AppError::conflict(
                "illegal_transition",
                "parts are used while the ticket is repairing",
            ));
        }
        let row = line_of(conn, &ticket, line)?;
        if row.unit_price_minor.is_none() && row.state == PartLineState::Reserved.as_str() {
            price_unquoted(conn, &ticket, &row)?;
        }
        finish_and_answer(conn, principal, ticket, &row, PartLineState::Consumed)
    })
}

fn move_ticket(
    conn: &mut Conn<'_>,
    ticket: &TicketRow,
    action: TicketAction,
    actor: Actor,
    note: &str,
) -> AppResult<()> {
    let from = TicketStatus::parse(&ticket.status);
    let to = from.apply(action)?;
    // The tickets' own status write: a declined quote sends the phone back, which stamps it ready for pickup.
    if !crate::tickets::repo::set_status(conn, ticket.id, from, to, Ts(crate::now()), None)? {
        return Err(AppError::conflict(
            "ticket_changed",
            "the ticket changed meanwhile; read it again",
        ));
    }
    crate::tickets::emit_status(conn, ticket, from, to)?;
    record_event_by(
        conn,
        ticket.id,
        actor,
        "status_changed",
        Some(from),
        Some(to),
        Some(note),
    )?;
    Ok(())
}

/// Quotes the repair: each reserved part is priced at the price in force now (a snapshot), plus labour; what the
/// warranty covers costs the customer nothing. The ticket moves to awaiting approval; a ticket awaiting approval
/// already gets its quote re-issued (a new version: a decision on the one before is refused).
pub fn quote(db: &Db, bearer: &Bearer, id: Uuid, input: &QuoteRepair) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| quote_in(conn, principal, id, input))
}

/// As [`quote`], in the caller's transaction.
pub fn quote_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &QuoteRepair) -> AppResult<Ticket> {
    change_in(conn, principal, id, |conn, principal, ticket| {
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
        let reissue = from == TicketStatus::AwaitingApproval;
        if !reissue {
            from.apply(TicketAction::RequestApproval)?;
        }
        let covered = warranty_free(&ticket);
        let now = Ts(crate::now());
        for line in &repo::reserved_lines(conn, ticket.id)? {
            let price = crate::parts::price_in_force(conn, line.part_id, now)?
                .ok_or_else(|| AppError::conflict("part_unpriced", "a reserved part has no price in force"))?;
            repo::price_line(conn, line.id, price, covered, now)?;
        }
        repo::set_labour(conn, ticket.id, labour)?;
        let version = repo::issue_quote(conn, ticket.id)?;
        let actor = Actor::Key(principal.key_id);
        if reissue {
            let note = format!("{} (version {version})", rules::quote_note(covered));
            record_event_by(conn, ticket.id, actor, "quote_reissued", None, None, Some(&note))?;
        } else {
            move_ticket(
                conn,
                &ticket,
                TicketAction::RequestApproval,
                actor,
                rules::quote_note(covered),
            )?;
        }
        let sums = repo::line_sums(conn, ticket.id)?;
        let totals = rules::totals(sums.parts_cost, sums.parts_customer, labour, covered);
        crate::tickets::emit_ticket(
            conn,
            &ticket,
            EventType::QuoteIssued,
            serde_json::json!({"labour": Money::from_minor(labour), "covered": covered, "version": version,
                               "totals": TicketPartsTotals::from(totals)}),
        )?;
        let ticket = ticket_in_scope(conn, principal, id)?;
        detail(conn, ticket)
    })
}

/// The customer approves the quote, as told to staff: the repair starts.
pub fn approve(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| approve_in(conn, principal, id))
}

/// As [`approve`], in the caller's transaction.
pub fn approve_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<Ticket> {
    change_in(conn, principal, id, |conn, principal, ticket| {
        if TicketStatus::parse(&ticket.status) != TicketStatus::AwaitingApproval {
            return Err(AppError::conflict(
                "illegal_transition",
                "the ticket has no quote awaiting approval",
            ));
        }
        decide_in(conn, &ticket, Actor::Key(principal.key_id), QuoteDecision::Approve)?;
        let ticket = ticket_in_scope(conn, principal, id)?;
        detail(conn, ticket)
    })
}

/// The customer declines the quote, as told to staff: the parts go back to stock and nothing is billed
/// ([`rules::decline_note`]).
pub fn decline(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| decline_in(conn, principal, id))
}

/// As [`decline`], in the caller's transaction.
pub fn decline_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<Ticket> {
    change_in(conn, principal, id, |conn, principal, ticket| {
        decide_in(conn, &ticket, Actor::Key(principal.key_id), QuoteDecision::Decline)?;
        let ticket = ticket_in_scope(conn, principal, id)?;
        detail(conn, ticket)
    })
}

/// The customer's decision on the quote of a ticket the caller holds locked, whoever records it (staff, or the
/// customer through the link): an approval starts the repair; a decline sends the phone back unrepaired, releases
/// the parts and bills nothing. The status move, the quote's state, the timeline entry (by `actor`) and the
/// `quote.approved` / `quote.declined` event, all in the caller's transaction.
pub fn decide_in(conn: &mut Conn<'_>, ticket: &TicketRow, actor: Actor, decision: QuoteDecision) -> AppResult<()> {
    let payload = serde_json::json!({"version": ticket.quote_version, "by_customer": actor == Actor::Customer});
    match decision {
        QuoteDecision::Approve => {
            move_ticket(
                conn,
                ticket,
                TicketAction::StartRepair,
                actor,
                "quote approved by the customer",
            )?;
            crate::tickets::emit_ticket(conn, ticket, EventType::QuoteApproved, payload)?;
        }
        QuoteDecision::Decline => {
            let note = rules::decline_note(ticket.labour_minor);
            move_ticket(conn, ticket, TicketAction::DeclineQuote, actor, &note)?;
            crate::tickets::emit_ticket(conn, ticket, EventType::QuoteDeclined, payload)?;
            repo::set_labour(conn, ticket.id, 0)?;
            release_all(conn, ticket, actor.key())?;
        }
    }
    repo::decide_quote(conn, ticket.id, decision.state())
}
