//! `GET /events`: the event feed for pull consumers, and its response types.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{EventRow, EventType, SubjectType};
use super::{FEED, service};
use crate::auth::Bearer;
use crate::error::{AppError, AppResult, ReadErrors};
use crate::http::ApiQuery;
use crate::http::pagination::{DEFAULT_LIMIT, MAX_LIMIT, decode_position_cursor, encode_position_cursor};
use crate::state::AppState;

/// What an event is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedSubject {
    #[serde(rename = "type")]
    pub kind: SubjectType,
    pub id: Uuid,
}

/// One event of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedEvent {
    /// The event's stable id: a consumer that sees it twice (at-least-once) knows it by this.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    pub subject: FeedSubject,
    /// The store whose staff see it; absent for network-wide events (a price change).
    pub store_id: Option<Uuid>,
    /// What changed: ids, statuses, times, amounts. Never an IMEI, a customer's name or full phone number, or a
    /// tracking token: fetch the record with your own key for more.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<FeedEvent>,
    /// Pass as `after` to read on: the position of the last event returned, or the `after` given when there was
    /// none. Always present: a consumer keeps it and resumes from it, missing nothing and seeing nothing twice.
    pub next_cursor: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// `next_cursor` of the previous page; absent: from the first event.
    pub after: Option<String>,
    /// Only these event types, comma-separated (e.g. `ticket.opened,ticket.status_changed`).
    pub types: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// The types named in `types`, or a 400 naming the valid ones.
fn parse_types(types: &str) -> AppResult<Vec<EventType>> {
    let parsed: Option<Vec<EventType>> = types.split(',').map(EventType::parse).collect();
    parsed.filter(|ts| !ts.is_empty()).ok_or_else(|| {
        let valid: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        AppError::field(
            "types",
            format!("unknown event type; the types are: {}", valid.join(", ")),
        )
    })
}

fn item(row: EventRow) -> FeedEvent {
    FeedEvent {
        id: row.id.0,
        event_type: EventType::parse(&row.event_type).unwrap_or(EventType::TicketStatusChanged),
        occurred_at: row.occurred_at.0,
        subject: FeedSubject {
            kind: SubjectType::parse(&row.subject_type).unwrap_or(SubjectType::Ticket),
            id: row.subject_id.0,
        },
        store_id: row.store_id.map(Uuid::from),
        payload: serde_json::from_str(&row.payload).unwrap_or_else(|_| serde_json::json!({})),
    }
}

/// Read the event feed: the events after `after`, in the order they were placed (each subject's in the order of its
/// changes), scoped by the caller: admins see every event, store staff their stores', a courier partner its own
/// pickups'. Other roles 403.
#[utoipa::path(
    tag = "events", operation_id = "list_events", params(FeedQuery),
    responses(
(status = 200, body = EventList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<FeedQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let after = match query.after.as_deref() {
        Some(cursor) => decode_position_cursor(FEED, cursor, "after")?,
        None => 0,
    };
    let types = query.types.as_deref().map(parse_types).transpose()?;
    let rows = web::block(move || service::feed(&state.db, &bearer, after, types, limit)).await??;
    let last = rows.last().and_then(|r| r.position).unwrap_or(after);
    let items = rows.into_iter().map(item).collect();
    Ok(HttpResponse::Ok().json(EventList {
        items,
        next_cursor: encode_position_cursor(FEED, last),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_and_unknown_ones_name_the_valid_ones() {
        assert_eq!(
            parse_types("ticket.opened,loan.issued").ok(),
            Some(vec![EventType::TicketOpened, EventType::LoanIssued])
        );
        for bad in ["", "ticket.opened,", "nope", "ticket.opened, loan.issued"] {
            let Err(AppError::Validation(errors)) = parse_types(bad) else {
                panic!("{bad:?} was accepted");
            };
            assert!(format!("{errors:?}").contains("ticket.status_changed"), "{bad:?}");
        }
    }

    #[test]
    fn the_documented_pattern_admits_exactly_the_lists_of_known_types() {
        let re = regex::Regex::new(&super::super::model::types_pattern()).unwrap_or_else(|e| panic!("{e}"));
        for sample in [
            "ticket.opened",
            "ticket.opened,loan.issued",
            "",
            "x",
            "ticket.opened,",
            "a,b",
        ] {
            assert_eq!(re.is_match(sample), parse_types(sample).is_ok(), "{sample:?}");
        }
    }
}
