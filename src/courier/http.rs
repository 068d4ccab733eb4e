//! The courier routes: partners (admin), a ticket's pickups (staff), and the partner API (couriers). Each handler
//! extracts, parses what it can before the key is checked, and runs its use case ([`super::service`]) on a blocking
//! thread.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{
    Direction, EventOutcome, Partner, PartnerPickupFilter, Pickup, PickupPhase, PickupRequest, PickupStatus, PostEvent,
    ReschedulePickup,
};
use super::service;
use crate::auth::Bearer;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::handler::record_action;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePartner {
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePickup {
    pub direction: Direction,
    #[schema(min_length = 1, max_length = 500)]
    pub address: String,
    /// The customer's name when absent.
    #[schema(max_length = 100)]
    pub contact_name: Option<String>,
    /// The customer's phone when absent.
    #[schema(max_length = 20)]
    pub contact_phone: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    pub partner_id: Option<Uuid>,
}

impl CreatePickup {
    fn request(&self) -> PickupRequest {
        PickupRequest {
            address: self.address.clone(),
            contact_name: self.contact_name.clone(),
            contact_phone: self.contact_phone.clone(),
            window_start: self.window_start,
            window_end: self.window_end,
            partner_id: self.partner_id,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptPickup {
    /// The partner's tracking number; unique among its pickups.
    #[schema(min_length = 1, max_length = 64)]
    pub tracking_number: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub pickup_id: Uuid,
    /// 1 to 100 events; refused whole if any is malformed.
    #[schema(min_items = 1, max_items = 100)]
    pub events: Vec<PostEvent>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventBatchResult {
    pub outcomes: Vec<EventOutcome>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PickupList {
    pub items: Vec<Pickup>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartnerList {
    pub items: Vec<Partner>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CourierPickupQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<PickupStatus>,
    /// Only pickups changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketPickupQuery {
    pub ticket_id: Uuid,
}

/// Register a courier partner.
#[utoipa::path(
    tag = "courier", operation_id = "create_partner", request_body = CreatePartner,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Partner), WriteErrors),
    security(("bearer" = []))
)]
#[post("/partners")]
pub async fn create_partner(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreatePartner>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /partners", &body.raw);
    let mut checks = Checks::new();
    let code = checks.code("code", &body.value.code);
    let name = checks.text("name", &body.value.name, 1, 200);
    checks.finish()?;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        service::create_partner(conn, principal, &code, &name)
    })
    .await
}

/// List courier partners.
#[utoipa::path(
    tag = "courier", operation_id = "list_partners",
    responses((status = 200, body = PartnerList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/partners")]
pub async fn list_partners(state: web::Data<AppState>, bearer: Bearer) -> AppResult<HttpResponse> {
    let items = web::block(move || service::list_partners(&state.db, &bearer)).await??;
    Ok(HttpResponse::Ok().json(PartnerList { items }))
}

/// Request a courier leg for a ticket (staff).
#[utoipa::path(
    tag = "courier", operation_id = "create_pickup", params(("ticket_id" = Uuid, Path)), request_body = CreatePickup,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Pickup), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets/{ticket_id}/pickups")]
pub async fn create_ticket_pickup(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    path: web::Path<Uuid>,
    body: ApiJson<CreatePickup>,
) -> AppResult<HttpResponse> {
    let ticket_id = path.into_inner();
    let fingerprint = idempotency::fingerprint(&format!("POST /tickets/{ticket_id}/pickups"), &body.raw);
    let input = body.value;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        service::create_ticket_pickup(conn, principal, ticket_id, input.direction, &input.request())
    })
    .await
}

/// The pickups of a ticket (staff).
#[utoipa::path(
    tag = "courier", operation_id = "list_ticket_pickups", params(TicketPickupQuery),
    responses((status = 200, body = PickupList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/pickups")]
pub async fn list_ticket_pickups(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<TicketPickupQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let items = web::block(move || service::list_ticket_pickups(&state.db, &bearer, query.ticket_id)).await??;
    Ok(HttpResponse::Ok().json(PickupList {
        items,
        next_cursor: None,
    }))
}

/// Reschedule a pickup: address, time window or partner (staff; not once the courier has it).
#[utoipa::path(
    tag = "courier", operation_id = "reschedule_pickup", params(("pickup_id" = Uuid, Path)), request_body = ReschedulePickup,
    responses((status = 200, body = Pickup), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/pickups/{pickup_id}")]
pub async fn reschedule_pickup(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<ReschedulePickup>,
) -> AppResult<HttpResponse> {
    answer(move || service::reschedule_pickup(&state.db, &bearer, path.into_inner(), &body.value)).await
}

record_action!(
    tag = "courier",
    id = "pickup_id",
    answer = Pickup,
    cancel_pickup,
    "/pickups/{pickup_id}/cancel",
    "Cancel a pickup that the courier does not have yet (staff). Cancelling a mail-in ticket's inbound pickup ends\nthe loaner hold it would have carried: a reserved loaner goes to the next waiter, a waiting ticket leaves the queue.",
    |state, bearer, id| service::cancel_pickup(&state.db, &bearer, id, state.settings.loan_hold)
);

/// The partner's own pickup list; its cursor carries the phase (open or final) of the last pickup listed.
pub const COURIER_PICKUPS: &str = "/courier/pickups";

/// The calling partner's pickups: open ones first, then final ones (delivered, failed, cancelled), each in order of
/// creation, across pages. A pickup that closes while a client pages may be listed again among the final ones.
#[utoipa::path(
    tag = "courier", operation_id = "list_courier_pickups", params(CourierPickupQuery),
    responses((status = 200, body = PickupList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/courier/pickups")]
pub async fn list_courier_pickups(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<CourierPickupQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse(COURIER_PICKUPS, query.limit, None)?;
    // The cursor carries the sort key, the phase (open or final) of the last pickup listed, beside its id.
    let from = match query.cursor.as_deref() {
        None => (PickupPhase::Open, None),
        Some(cursor) => {
            let (id, key) = crate::http::pagination::decode_keyed_cursor(COURIER_PICKUPS, cursor)?;
            let phase = PickupPhase::from_key(&key)
                .ok_or_else(|| AppError::field("cursor", "not a cursor returned by this list"))?;
            (phase, Some(id))
        }
    };
    let filter = PartnerPickupFilter {
        partner: None,
        status: query.status,
        updated_since: query.updated_since,
    };
    let (items, next_cursor) =
        web::block(move || service::list_courier_pickups(&state.db, &bearer, &page, filter, from)).await??;
    Ok(HttpResponse::Ok().json(PickupList { items, next_cursor }))
}

/// Accept a pickup assigned to the calling partner and give its tracking number. Sending the same again is
/// harmless; another tracking number once accepted is a 409.
#[utoipa::path(
    tag = "courier", operation_id = "accept_pickup", params(("pickup_id" = Uuid, Path)), request_body = AcceptPickup,
    responses((status = 200, body = Pickup), WriteErrors),
    security(("bearer" = []))
)]
#[post("/courier/pickups/{pickup_id}/accept")]
pub async fn accept_pickup(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<AcceptPickup>,
) -> AppResult<HttpResponse> {
    let tracking_number = body.value.tracking_number;
    answer(move || service::accept_pickup(&state.db, &bearer, path.into_inner(), &tracking_number)).await
}

/// Report one tracking event of a pickup. Safe to retry: the same `event_id` with the same content is stored once
/// and answered the same way; with different content it is a 409. Late and out-of-order events are kept; the
/// status only moves forward.
#[utoipa::path(
    tag = "courier", operation_id = "post_pickup_event", params(("pickup_id" = Uuid, Path)), request_body = PostEvent,
    responses((status = 200, body = EventOutcome), WriteErrors),
    security(("bearer" = []))
)]
#[post("/courier/pickups/{pickup_id}/events")]
pub async fn post_pickup_event(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<PostEvent>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let event = body.value;
    let hold = state.settings.loan_hold;
    answer(move || service::post_pickup_event(&state.db, &bearer, id, &event, hold)).await
}

/// Report several tracking events of one pickup at once, applied in order in one transaction; a batch with any
/// malformed event is refused whole.
#[utoipa::path(
    tag = "courier", operation_id = "post_pickup_events", request_body = EventBatch,
    responses((status = 200, body = EventBatchResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/courier/events")]
pub async fn post_pickup_events(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: ApiJson<EventBatch>,
) -> AppResult<HttpResponse> {
    let batch = body.value;
    let hold = state.settings.loan_hold;
    let outcomes =
        web::block(move || service::post_pickup_events(&state.db, &bearer, batch.pickup_id, &batch.events, hold))
            .await??;
    Ok(HttpResponse::Ok().json(EventBatchResult { outcomes }))
}
