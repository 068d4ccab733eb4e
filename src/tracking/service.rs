//! The tracking use case: the customer's view of the repair behind a token.

use chrono::DateTime;
use subtle::ConstantTimeEq;

use super::model::{ShipmentView, StepView, TrackingView, hash_token};
use super::repo;
use super::rules::{mask_name, mask_phone};
use crate::courier::{Direction, PickupStatus, TrackingEvent, events_of};
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::tickets::TicketStatus;

/// The view behind `token`, or `None` when no repair has it; in one read.
pub fn track(db: &Db, token: &str) -> AppResult<Option<TrackingView>> {
    db.read(|conn| view(conn, token))
}

fn view(conn: &mut Conn<'_>, token: &str) -> AppResult<Option<TrackingView>> {
    let hash = hash_token(token);
    let row = repo::ticket_by_token_hash(conn, &hash)?;
    // The index finds the row; the comparison in constant time keeps timing from telling anything on top.
    let Some(row) = row.filter(|r| {
        r.tracking_token_hash
            .as_deref()
            .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(hash.as_bytes())))
    }) else {
        return Ok(None);
    };
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
    Ok(Some(TrackingView {
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
                })
            })
            .collect(),
        shipments,
        updated_at: row.updated_at.0,
    }))
}
