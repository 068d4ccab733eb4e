//! The tracking use cases: the customer's view of the repair behind a token, and what the customer does through
//! it (decide the quote, choose the remedy, rate the repair), each by the ticket areas' own use cases with the
//! customer as the actor.

use std::time::Duration;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::model::{
    QuoteLineView, QuoteState, QuoteView, RatingView, ShipmentView, StepView, TrackingView, WarrantyView, hash_token,
};
use super::repo;
use super::rules::{explain, is_archived, mask_name, mask_phone};
use crate::courier::{Direction, PickupStatus, TrackingEvent, events_of};
use crate::db::types::Ts;
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::http::validate::Checks;
use crate::money::Money;
use crate::repairs::{QuoteDecision, check_quote_decision};
use crate::tickets::http::{ChooseRemedy, RateTicket};
use crate::tickets::{Actor, TicketRow, TicketStatus};
use crate::warranty::{Remedy, WarrantyDecision};

/// What the customer does through the link.
#[derive(Debug)]
pub enum LinkAct {
    /// Approve or decline the quote, whose version the customer saw.
    Quote {
        decision: QuoteDecision,
        seen: i32,
    },
    Remedy {
        remedy: Remedy,
        note: Option<String>,
    },
    Rate {
        score: i32,
        works_now: bool,
        comment: Option<String>,
    },
}

/// The view behind `token`, or `None` when no repair has it or its link is archived; in one read.
pub fn track(db: &Db, token: &str) -> AppResult<Option<TrackingView>> {
    db.read(|conn| match find(conn, token, crate::now())? {
        Some(row) => view(conn, row).map(Some),
        None => Ok(None),
    })
}

/// A write through the link made retry-safe by its `Idempotency-Key`: the key and the request's fingerprint
/// (route and body). Keys are the link's own: the same key through another link is another request.
pub struct LinkRequest {
    pub key: String,
    pub fingerprint: String,
}

/// What an act through the link came to.
pub enum Acted {
    /// No repair has this token, or its link is archived.
    UnknownToken,
    /// Done: the view after it.
    Done(Box<TrackingView>),
    /// A retry with the first request's `Idempotency-Key` and body: the first answer, as it was given.
    Replayed(String),
}

/// Does what the customer asked through the link whose token hashes to `token_hash`, in one write transaction on
/// the ticket locked, and answers the view after it. Each act is done once: the same act again is refused as
/// the state it finds says (a quote approved already: 409 `quote_already_approved`), unless it carries the first's
/// `request` key, which replays the first answer (the same key with another body: 409 `idempotency_key_reused`).
pub fn act(
    db: &Db,
    token_hash: &str,
    act: &LinkAct,
    hold: Duration,
    request: Option<&LinkRequest>,
) -> AppResult<Acted> {
    if let LinkAct::Quote { seen, .. } = act {
        let mut checks = Checks::new();
        if *seen < 1 {
            checks.fail("quote_version", "must be 1 or more: the version of the quote shown");
        }
        checks.finish()?;
    }
    db.write(|conn| {
        let Some(found) = ticket_of_link(conn, token_hash, crate::now())? else {
            return Ok(Acted::UnknownToken);
        };
        // Locked, and read again under the lock: two acts at once take turns, the second seeing the first (and a
        // retry with the same key the first's record).
        let row = crate::tickets::lock_ticket(conn, found.id)?.ok_or(AppError::NotFound("repair"))?;
        if let Some(request) = request
            && let Some(first) = repo::find_record(conn, row.id, &request.key)?
        {
            if first.request_hash != request.fingerprint {
                return Err(AppError::conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used with a different request",
                ));
            }
            return Ok(Acted::Replayed(first.response_body));
        }
        match act {
            LinkAct::Quote { decision, seen } => {
                if TicketStatus::parse(&row.status).is_final() {
                    return Err(AppError::conflict("ticket_final", "the ticket is closed or cancelled"));
                }
                check_quote_decision(row.quote_state.as_deref(), row.quote_version, *seen, *decision)?;
                crate::repairs::decide_in(conn, &row, Actor::Customer, *decision)?;
            }
            LinkAct::Remedy { remedy, note } => {
                let input = ChooseRemedy {
                    remedy: *remedy,
                    replacement_imei: None,
                    note: note.clone(),
                };
                crate::tickets::choose_remedy_through_link(conn, row, &input, hold)?;
            }
            LinkAct::Rate {
                score,
                works_now,
                comment,
            } => {
                let input = RateTicket {
                    score: *score,
                    comment: comment.clone(),
                    works_now: Some(*works_now),
                };
                crate::tickets::rate_in(conn, &row, Actor::Customer, &input)?;
            }
        }
        let row = crate::tickets::repo::find_ticket(conn, found.id)?.ok_or(AppError::NotFound("repair"))?;
        let view = view(conn, row)?;
        if let Some(request) = request {
            repo::insert_record(
                conn,
                &repo::LinkRecord {
                    ticket_id: found.id,
                    idem_key: request.key.clone(),
                    request_hash: request.fingerprint.clone(),
                    status_code: 200,
                    response_body: serde_json::to_string(&view).map_err(anyhow::Error::from)?,
                    created_at: Ts(crate::now()),
                },
            )?;
        }
        Ok(Acted::Done(Box::new(view)))
    })
}

/// The ticket behind `token`, unless its link is archived at `now`.
fn find(conn: &mut Conn<'_>, token: &str, now: DateTime<Utc>) -> AppResult<Option<TicketRow>> {
    ticket_of_link(conn, &hash_token(token), now)
}

/// The ticket whose tracking token hashes to `hash`, unless its link is archived at `now`: what every act through
/// the link (this area's and the complaints') may reach.
pub fn ticket_of_link(conn: &mut Conn<'_>, hash: &str, now: DateTime<Utc>) -> AppResult<Option<TicketRow>> {
    let row = repo::ticket_by_token_hash(conn, hash)?;
    // The index finds the row; the comparison in constant time keeps timing from telling anything on top.
    Ok(row.filter(|r| {
        r.tracking_token_hash
            .as_deref()
            .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(hash.as_bytes())))
            && !is_archived(r.closed_at.map(DateTime::from), now)
    }))
}

fn view(conn: &mut Conn<'_>, row: TicketRow) -> AppResult<TrackingView> {
    let (store_name, store_city) = repo::store_name_and_city(conn, row.store_id)?;
    let model_name = repo::model_name(conn, row.model_id)?;
    let events = repo::status_changes(conn, row.id)?;
    let legs = repo::legs_of(conn, row.id)?;
    let mut shipments = Vec::with_capacity(legs.len());
    for leg in legs {
        let events = events_of(conn, leg.id)?
            .into_iter()
            .map(|e| TrackingEvent { note: None, ..e })
            .collect();
        shipments.push(ShipmentView {
            direction: if leg.direction == "outbound" {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            status: PickupStatus::parse(&leg.status),
            tracking_number: leg.tracking_number,
            events,
        });
    }
    let quote = match row.quote_state.as_deref() {
        Some(state) => Some(quote_view(conn, &row, QuoteState::parse(state))?),
        None => None,
    };
    Ok(TrackingView {
        number: row.number.clone(),
        status: TicketStatus::parse(&row.status),
        store_name,
        store_city,
        model_name,
        customer: mask_name(&row.customer_name),
        phone: mask_phone(&row.customer_phone),
        purchase_date: row.purchase_date,
        promised_at: row.promised_at.map(DateTime::from),
        steps: events
            .into_iter()
            .filter_map(|e| {
                e.to_status.as_deref().map(|s| StepView {
                    at: e.at.0,
                    status: TicketStatus::parse(s),
                    by_customer: e.by_customer,
                })
            })
            .collect(),
        warranty: warranty_view(&row)?,
        quote,
        shipments,
        photos: crate::files::service::customer_visible_of_ticket(conn, row.id.0)?,
        rating: row.rating.map(|score| RatingView {
            score,
            works_now: row.rating_works_now,
            comment: row.rating_comment.clone(),
        }),
        closed_at: row.closed_at.map(DateTime::from),
        updated_at: row.updated_at.0,
    })
}

fn warranty_view(row: &TicketRow) -> AppResult<WarrantyView> {
    let decision: WarrantyDecision = row
        .warranty_decision
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| anyhow::anyhow!("ticket {} has no readable warranty decision", row.number))?;
    let (explanation_zh, explanation_en) = explain(decision.rule, decision.coverage_ends);
    Ok(WarrantyView {
        rule: decision.rule,
        free: decision.free,
        remedies: decision.remedies,
        remedy_chosen: row
            .remedy
            .as_deref()
            .and_then(|r| serde_json::from_value(serde_json::Value::String(r.to_owned())).ok()),
        remedy_awaits_store: crate::tickets::exchange_awaits_store(row),
        coverage_ends: decision.coverage_ends,
        explanation_zh,
        explanation_en,
    })
}

/// The quote as the ticket's parts summary has it: names, quantities, prices, labour and who pays what.
fn quote_view(conn: &mut Conn<'_>, row: &TicketRow, state: QuoteState) -> AppResult<QuoteView> {
    let parts = crate::repairs::summary(conn, row)?;
    let covers = parts.total_cost.to_minor_non_negative().unwrap_or(0)
        - parts.customer_total.to_minor_non_negative().unwrap_or(0);
    Ok(QuoteView {
        version: row.quote_version,
        state,
        lines: parts
            .lines
            .into_iter()
            .map(|l| QuoteLineView {
                name: l.name,
                quantity: l.quantity,
                unit_price: l.unit_price,
                covered: l.covered,
                customer_price: l.customer_price,
            })
            .collect(),
        labour: parts.labour,
        total_cost: parts.total_cost,
        warranty_covers: Money::from_minor(covers.max(0)),
        customer_total: parts.customer_total,
    })
}
