//! The customer's view of a repair: reachable only through the unguessable token of the link they received with
//! the ticket, never by ticket number, and showing no personal data beyond a name initial and a masked phone.
//! Tokens carry 256 random bits and are stored hashed; failed look-ups are rate-limited per client address.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::{OpenApi, ToSchema};

use crate::courier::{Direction, PickupRow, PickupStatus, TrackingEvent, events_of};
use crate::db::schema::{pickups, product_models, stores, ticket_events, tickets};
use crate::edge::{FailureLimiter, client_of};
use crate::error::{AppError, AppResult, Problem};
use crate::state::AppState;
use crate::tickets::{TicketEventRow, TicketRow, TicketStatus};
use crate::with_conn;

/// Failed look-ups allowed per client per window before its misses answer 429.
const FAILURES_PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The limiter of failed look-ups. Tokens carry 256 bits, so guessing is hopeless anyway: the limit is about load,
/// and it never refuses a valid token (a client over it still has its token looked up; only a miss answers 429).
pub fn failure_limiter() -> FailureLimiter {
    FailureLimiter::new(FAILURES_PER_WINDOW, WINDOW)
}

/// One leg of the shipment, as the customer sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShipmentView {
    pub direction: Direction,
    pub status: PickupStatus,
    pub tracking_number: Option<String>,
    pub events: Vec<TrackingEvent>,
}

/// One step of the repair, as the customer sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub at: DateTime<Utc>,
    pub status: TicketStatus,
}

/// What a customer's tracking link shows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackingView {
    pub number: String,
    pub status: TicketStatus,
    pub store_name: String,
    pub store_city: String,
    pub model_name: String,
    /// The first character of the customer's name and a mask, e.g. `W**`.
    pub customer: String,
    /// The phone with all but its last four digits masked.
    pub phone: String,
    pub purchase_date: NaiveDate,
    pub promised_at: Option<DateTime<Utc>>,
    pub steps: Vec<StepView>,
    pub shipments: Vec<ShipmentView>,
    pub updated_at: DateTime<Utc>,
}

fn mask_name(name: &str) -> String {
    let first: String = name.chars().take(1).collect();
    format!("{first}**")
}

fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().saturating_sub(4);
    digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i < keep { '*' } else { *d })
        .collect()
}

fn view(conn: &mut crate::db::Conn<'_>, token: &str) -> AppResult<Option<TrackingView>> {
    let hash = hash_token(token);
    let row: Option<TicketRow> = with_conn!(conn, c => tickets::table
        .filter(tickets::tracking_token_hash.eq(&hash))
        .select(TicketRow::as_select()).first(c).optional())?;
    // The index finds the row; the comparison in constant time keeps timing from telling anything on top.
    let Some(row) = row.filter(|r| {
        r.tracking_token_hash
            .as_deref()
            .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(hash.as_bytes())))
    }) else {
        return Ok(None);
    };
    let (store_name, store_city): (String, String) =
        with_conn!(conn, c => stores::table.find(row.store_id).select((stores::name, stores::city)).first(c))?;
    let model_name: String =
        with_conn!(conn, c => product_models::table.find(row.model_id).select(product_models::name).first(c))?;
    let events: Vec<TicketEventRow> = with_conn!(conn, c => ticket_events::table
        .filter(ticket_events::ticket_id.eq(row.id))
        .filter(ticket_events::to_status.is_not_null())
        .order((ticket_events::at, ticket_events::id))
        .select(TicketEventRow::as_select())
        .load(c))?;
    let legs: Vec<PickupRow> = with_conn!(conn, c => pickups::table
        .filter(pickups::ticket_id.eq(row.id))
        .order(pickups::id)
        .select(PickupRow::as_select())
        .load(c))?;
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

/// A customer follows their repair through the link they were given. No key; the token is the only way in.
#[utoipa::path(
    tag = "public", operation_id = "track_repair", params(("token" = String, Path, description = "From the customer's link")),
    responses(
        (status = 200, body = TrackingView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed token"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No repair has this token"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Too many failed look-ups from this client; retry later (a valid token is always answered)"),
        (status = 500, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[get("/public/tracking/{token}")]
pub async fn track_repair(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let token = path.into_inner();
    let client = client_of(&state, &req);
    let now = Instant::now();
    let blocked = state.failed_lookups.blocked(client, now);
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        // Cannot be anyone's token: no look-up.
        state.failed_lookups.record(client, now);
        return Err(match blocked {
            Some(secs) => AppError::TooManyRequests(secs),
            None => AppError::field("token", "not a tracking token"),
        });
    }
    let db = state.db.clone();
    let found = web::block(move || db.read(|conn| view(conn, &token))).await??;
    match found {
        Some(view) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(view)),
        None => {
            state.failed_lookups.record(client, now);
            Err(match blocked {
                Some(secs) => AppError::TooManyRequests(secs),
                None => AppError::NotFound("repair"),
            })
        }
    }
}

#[derive(OpenApi)]
#[openapi(paths(track_repair))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(track_repair);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_personal_data_is_masked() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits");
        assert_eq!(mask_name("Wang Fang"), "W**");
        assert_eq!(mask_phone("+86 138-0013-8000"), "*********8000");
    }
}
