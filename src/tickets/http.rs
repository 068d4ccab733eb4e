//! Repair tickets over HTTP: the request and response types and the handlers, each of which runs its use case
//! (`super::service`) on a blocking thread and answers its JSON.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{Channel, TicketAction, TicketEvent, TicketStatus};
use super::service;
use crate::auth::{Bearer, Principal};
use crate::db::Conn;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::handler::record_post;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::loans::Loan;
use crate::state::AppState;
use crate::warranty::{Certificate, CoveredItem, FaultKind, WarrantyDecision};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Mobile number: digits with an optional leading `+`, spaces or dashes between; a mainland number may carry
    /// `+86`. Kept as typed on the ticket; the customer's record is found by its normalised form.
    #[schema(
        max_length = 40,
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\+?[ ().-]*(?:[0-9][ ().-]*){5,20}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub phone: String,
    /// Whether the customer agrees to be contacted (reminders, callbacks). In an opening, recorded on the
    /// customer's record when given; absent leaves the record as it is (a new record: no consent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_consent: Option<bool>,
}

/// The warranty certificate's (invoice's) fields beside the purchase date, recorded on the device the first time
/// it is seen (a later opening fills only what the record lacks).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub price_paid: Option<crate::money::Money>,
    #[schema(min_length = 1, max_length = 100)]
    pub seller: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub invoice_number: Option<String>,
}

/// The customer's choice among the decision's remedies.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemedyChoice {
    pub remedy: crate::warranty::Remedy,
    pub chosen_at: DateTime<Utc>,
    /// The key that recorded it; absent when the customer chose through their tracking link.
    pub chosen_by: Option<Uuid>,
    /// An exchange the customer chose through their link, waiting for the store to hand over the new phone:
    /// `POST /tickets/{ticket_id}/remedy` with `exchange` and the new phone's IMEI carries it out.
    pub awaits_store: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Returned,
    Exchanged,
}

/// How a ticket ended when it did not end in a repair.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketOutcome {
    pub kind: OutcomeKind,
    /// A return's refund.
    pub refund: Option<crate::money::Money>,
    /// An exchange's new phone.
    pub replacement_device_id: Option<Uuid>,
}

/// What the engineer found at intake or in diagnosis.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inspection {
    #[serde(default)]
    pub liquid: bool,
    #[serde(default)]
    pub drop: bool,
    #[serde(default)]
    pub crush: bool,
    /// Unauthorized disassembly or repair.
    #[serde(default)]
    pub tampering: bool,
    /// Scratches, dents and the like, in words.
    #[schema(max_length = 500)]
    pub cosmetic: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTicket {
    pub store_id: Uuid,
    pub customer: Customer,
    /// IMEI of the customer's phone: 15 digits with a valid check digit.
    #[schema(min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")]
    pub device_imei: String,
    pub model_id: Uuid,
    /// Purchase date as written on the invoice, local to the store; from 2000-01-01, not in the future.
    pub purchase_date: NaiveDate,
    pub channel: Channel,
    #[schema(min_length = 1, max_length = 1000)]
    pub reported_fault: String,
    /// Accessories handed in with the phone, e.g. `["case", "charger"]`.
    #[serde(default)]
    pub accessories: Vec<String>,
    #[serde(default)]
    pub inspection: Inspection,
    /// What is being repaired (accessories have their own warranty periods); `handset` when absent.
    pub covered_item: Option<CoveredItem>,
    /// Performance fault or accidental damage; `performance` when absent.
    pub fault: Option<FaultKind>,
    /// The warranty certificate or invoice; `valid` when absent.
    pub certificate: Option<Certificate>,
    #[serde(default)]
    pub force_majeure: bool,
    /// Price paid, seller and invoice number, for a phone seen for the first time.
    #[serde(default)]
    pub invoice: Option<Invoice>,
    /// When the repair is promised to be done; in the future.
    pub promised_at: Option<DateTime<Utc>>,
    /// Required for `mail_in`: where the courier collects the phone (and brings a loaner, for a premium series).
    pub pickup: Option<crate::courier::PickupRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFindings {
    pub inspection: Inspection,
    pub fault: Option<FaultKind>,
    pub certificate: Option<Certificate>,
}

/// The customer's choice among the remedies the ticket's warranty decision offers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChooseRemedy {
    pub remedy: crate::warranty::Remedy,
    /// The new phone's IMEI (15 digits with a valid check digit, not on record yet): required for an exchange,
    /// refused otherwise.
    #[schema(min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")]
    pub replacement_imei: Option<String>,
    /// Shown on the ticket's timeline.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionNote {
    /// Shown on the ticket's timeline.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateTicket {
    #[schema(minimum = 1, maximum = 5)]
    pub score: i32,
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
    /// The customer's answer to "does it work now?", when asked.
    pub works_now: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Rating {
    pub score: i32,
    pub comment: Option<String>,
    pub works_now: Option<bool>,
}

/// A repair ticket with its warranty decision, its loan and its timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    /// Human-facing number, e.g. `RT-2026-000123`.
    pub number: String,
    pub store_id: Uuid,
    pub customer: Customer,
    pub device_imei: String,
    pub model_id: Uuid,
    pub series_id: Uuid,
    pub purchase_date: NaiveDate,
    pub channel: Channel,
    pub reported_fault: String,
    pub accessories: Vec<String>,
    pub inspection: Inspection,
    pub covered_item: CoveredItem,
    pub fault: FaultKind,
    pub certificate: Certificate,
    pub force_majeure: bool,
    /// Whether the device's extended warranty was in force when the warranty was last decided.
    pub extended_warranty: bool,
    /// Whether the device's screen plan was in force (sold, not used up by another repair) when last decided.
    pub screen_plan: bool,
    pub warranty: WarrantyDecision,
    /// The device's record (`GET /devices/{imei}`); absent only on an older duplicate ticket.
    pub device_id: Option<Uuid>,
    /// The customer's record, found by the normalised phone.
    pub customer_id: Option<Uuid>,
    /// When the phone reached the network: the opening for a walk-in, the inbound delivery for a mail-in.
    pub received_at: Option<DateTime<Utc>>,
    /// When the ticket was last marked ready for pickup.
    pub ready_at: Option<DateTime<Utc>>,
    /// The customer's choice, once recorded (required before a repair starts when the decision offers one).
    pub remedy: Option<RemedyChoice>,
    /// A return or an exchange carried out.
    pub outcome: Option<TicketOutcome>,
    pub status: TicketStatus,
    pub promised_at: Option<DateTime<Utc>>,
    /// The loaner loan of a premium-series ticket: reserved, or waiting on the waitlist. Absent otherwise.
    pub loan: Option<Loan>,
    pub timeline: Vec<TicketEvent>,
    /// Courier legs of a mail-in ticket.
    pub pickups: Vec<crate::courier::Pickup>,
    /// The customer's tracking token, for the link `/api/v1/public/tracking/{token}`. Shown once, in the answer
    /// to opening the ticket; only its hash is kept.
    pub tracking_token: Option<String>,
    /// Parts reserved or used, labour, and what the customer pays.
    pub parts: crate::repairs::TicketParts,
    pub rating: Option<Rating>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A ticket in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketSummary {
    pub id: Uuid,
    pub number: String,
    pub store_id: Uuid,
    pub model_id: Uuid,
    pub channel: Channel,
    pub status: TicketStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The phone's IMEI, to tell a customer's tickets apart at the desk.
    pub device_imei: String,
    /// The customer's name as given at the opening.
    pub customer_name: String,
    pub promised_at: Option<DateTime<Utc>>,
    /// When the ticket was last marked ready for pickup.
    pub ready_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketList {
    pub items: Vec<TicketSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub store_id: Option<Uuid>,
    pub status: Option<TicketStatus>,
    /// The phone's tickets: its IMEI, 15 digits with a valid check digit.
    #[param(min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")]
    pub imei: Option<String>,
    /// The customer's tickets: a mobile number in any spelling the opening accepts (`+86 138-0013-8000` finds
    /// `13800138000`); no such customer lists nothing.
    #[param(
        max_length = 40,
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\+?[ ().-]*(?:[0-9][ ().-]*){5,20}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub phone: Option<String>,
    /// A ticket number or its beginning, in any case (`rt-2026-0001` finds `RT-2026-000123`). The list is then in
    /// number order.
    #[param(min_length = 1, max_length = 20, pattern = "^[A-Za-z0-9-]{1,20}$")]
    pub number: Option<String>,
    /// `true`: only tickets past their promise: ready later than promised, or not ready (nor closed or
    /// cancelled) with the promise passed. Meant with `store_id`.
    pub past_promise: Option<bool>,
}

/// What a ticket list is narrowed to, parsed from the query.
#[derive(Debug, Default)]
pub struct TicketSearch {
    pub store_id: Option<Uuid>,
    pub status: Option<TicketStatus>,
    pub imei: Option<crate::imei::Imei>,
    /// Normalised.
    pub phone: Option<String>,
    /// Uppercased.
    pub number_prefix: Option<String>,
    pub past_promise: bool,
    /// Only tickets not closed or cancelled (the console's lists; the API has no such parameter).
    pub open_only: bool,
}

impl TicketSearch {
    /// Parses the query's filters; a bad one is a 400 naming its parameter.
    pub fn parse(query: &TicketQuery) -> AppResult<TicketSearch> {
        let imei = query
            .imei
            .as_deref()
            .map(|v| {
                if v.len() != 15 {
                    return Err(AppError::field("imei", "must be 15 digits"));
                }
                crate::imei::Imei::parse(v).map_err(|e| AppError::field("imei", e))
            })
            .transpose()?;
        let phone = query.phone.as_deref().map(parse_phone).transpose()?;
        let number_prefix = query
            .number
            .as_deref()
            .map(|v| {
                let fits = (1..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if fits {
                    Ok(v.to_ascii_uppercase())
                } else {
                    Err(AppError::field("number", "must be 1 to 20 letters, digits or dashes"))
                }
            })
            .transpose()?;
        Ok(TicketSearch {
            store_id: query.store_id,
            status: query.status,
            imei,
            phone,
            number_prefix,
            past_promise: query.past_promise == Some(true),
            open_only: false,
        })
    }
}

fn parse_phone(typed: &str) -> AppResult<String> {
    crate::customers::rules::typed_phone(typed).map_err(|e| AppError::field("phone", e))
}

/// Open a repair ticket. For a premium-series model this reserves the best available loaner of the same series at
/// the store in the same transaction, or puts the ticket on the waitlist; `loan` says which.
#[utoipa::path(
    tag = "tickets", operation_id = "open_ticket", request_body = OpenTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets")]
pub async fn open_ticket(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<OpenTicket>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /tickets", &body.raw);
    let input = body.value;
    let hold = state.settings.loan_hold;
    let create = move |conn: &mut Conn<'_>, principal: &Principal| {
        service::require_ticket_role(principal)?;
        service::open_in(conn, principal, &input, hold)
    };
    // The tracking token is shown once; a replay answers without it.
    idempotency::create_redacted(state.db.clone(), bearer, key, fingerprint, create, |stored| {
        if let Some(token) = stored.get_mut("tracking_token") {
            *token = serde_json::Value::Null;
        }
    })
    .await
}

/// Read a ticket with its warranty decision, loan and timeline.
#[utoipa::path(
    tag = "tickets", operation_id = "get_ticket", params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = Ticket), ReadErrors),
    security(("bearer" = []))
)]
#[get("/tickets/{ticket_id}")]
pub async fn get_ticket(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id)).await
}

/// List tickets of the caller's stores, oldest first (in number order with `number`); find them by IMEI, by the customer's phone, by number or its
/// beginning, by store and status, or those past their promise (filters combine).
#[utoipa::path(
    tag = "tickets", operation_id = "list_tickets", params(TicketQuery),
    responses((status = 200, body = TicketList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/tickets")]
pub async fn list_tickets(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<TicketQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/tickets", query.limit, query.cursor.as_deref())?;
    let search = TicketSearch::parse(&query)?;
    answer(move || service::list(&state.db, &bearer, &search, page)).await
}

/// Record new inspection findings; the warranty decision is made again from them.
#[utoipa::path(
    tag = "tickets", operation_id = "update_ticket_findings", params(("ticket_id" = Uuid, Path)),
    request_body = UpdateFindings, responses((status = 200, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/tickets/{ticket_id}/findings")]
pub async fn update_ticket_findings(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateFindings>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    answer(move || service::update_findings(&state.db, &bearer, id, &input)).await
}

/// Rate a closed ticket, once (the customer's satisfaction, 1 to 5).
#[utoipa::path(
    tag = "tickets", operation_id = "rate_ticket", params(("ticket_id" = Uuid, Path)),
    request_body = RateTicket, responses((status = 200, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets/{ticket_id}/rating")]
pub async fn rate_ticket(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<RateTicket>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    answer(move || service::rate(&state.db, &bearer, id, &input)).await
}

async fn run_transition(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: Uuid,
    body: Option<ApiJson<TransitionNote>>,
    action: TicketAction,
) -> AppResult<HttpResponse> {
    let note = body
        .and_then(|b| b.value.note)
        .map(|n| n.trim().chars().take(1000).collect::<String>());
    let hold = state.settings.loan_hold;
    answer(move || service::transition(&state.db, &bearer, id, action, note.as_deref(), hold)).await
}

macro_rules! transition_endpoint {
    ($name:ident, $path:literal, $action:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
                    tag = "tickets", operation_id = stringify!($name), params(("ticket_id" = Uuid, Path)),
                    request_body(content = Option<TransitionNote>, description = "Optional note for the timeline"),
                    responses((status = 200, body = Ticket), WriteErrors),
                    security(("bearer" = []))
                )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
            body: Option<ApiJson<TransitionNote>>,
        ) -> AppResult<HttpResponse> {
            run_transition(state, bearer, path.into_inner(), body, $action).await
        }
    };
}

transition_endpoint!(
    start_diagnosis,
    "/tickets/{ticket_id}/start-diagnosis",
    TicketAction::StartDiagnosis,
    "Received → diagnosing."
);
transition_endpoint!(
    request_approval,
    "/tickets/{ticket_id}/request-approval",
    TicketAction::RequestApproval,
    "Diagnosing → awaiting the customer's approval of a paid quote."
);
transition_endpoint!(
    start_repair,
    "/tickets/{ticket_id}/start-repair",
    TicketAction::StartRepair,
    "Diagnosing (free repair), awaiting approval (approved) or quality check (failed) → repairing."
);
transition_endpoint!(
    start_quality_check,
    "/tickets/{ticket_id}/start-quality-check",
    TicketAction::StartQualityCheck,
    "Repairing → quality check."
);
transition_endpoint!(
    mark_ready,
    "/tickets/{ticket_id}/mark-ready",
    TicketAction::MarkReady,
    "Quality check passed → ready for pickup."
);
transition_endpoint!(
    close_ticket,
    "/tickets/{ticket_id}/close",
    TicketAction::Close,
    "Ready for pickup → closed: the phone goes back to the customer. Refused with `loaner_outstanding` while the \
     customer still has the loaner (unless it was marked lost); a reservation never handed over is released."
);
transition_endpoint!(
    cancel_ticket,
    "/tickets/{ticket_id}/cancel",
    TicketAction::Cancel,
    "Cancel an open ticket; its waiting or reserved loan is cancelled and the loaner goes to the next waiter. A mail-in ticket's courier legs not yet started are cancelled with it; a leg under way (the courier has the phone) refuses the cancel with 409 `pickup_under_way`."
);

record_post!(
    tag = "tickets",
    id = "ticket_id",
    answer = Ticket,
    choose_remedy,
    "/tickets/{ticket_id}/remedy",
    ChooseRemedy,
    "Record the customer's choice among the remedies the warranty decision offers, before any repair starts (a \
     repair cannot start before it when there is a choice: `remedy_not_chosen`). `free_repair` and `paid_repair` are \
     only recorded. `return` refunds the price paid (less the policy's daily depreciation after the return window, \
     not counting days in covered repair), marks the device returned and closes the ticket; `exchange` records the \
     new phone (`replacement_imei`: same model, customer and certificate, its warranty starting today), marks the \
     old one exchanged, moves its extended warranty and unused screen plan to the new one, and closes the ticket. \
     Both end the ticket's loan as a cancel does (an issued loaner must come back first: `loaner_out`). Refusals \
     (409): `remedy_not_offered`, `remedy_already_chosen`, `ticket_final`, `repair_started`, `device_not_in_use`, \
     `device_not_recorded`, `replacement_imei_taken`, `price_paid_unknown`, `mail_in_outcome_unsupported` (a \
     mail-in ticket's return or exchange), `loaner_out`.",
    |state, bearer, id, input| service::choose_remedy(&state.db, &bearer, id, &input, state.settings.loan_hold)
);
