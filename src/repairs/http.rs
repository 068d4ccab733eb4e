//! The routes of a ticket's parts and quote (`/tickets/{ticket_id}/parts…`, `/tickets/{ticket_id}/quote…`) and
//! their request and response types.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::model::PartLineState;
use super::service;
use crate::auth::Bearer;
use crate::error::{AppResult, ReadErrors, WriteErrors};
use crate::http::answer;
use crate::http::handler::{record_action, record_post};
use crate::money::Money;
use crate::state::AppState;
use crate::tickets::Ticket;

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

/// What a ticket's repair costs, as the ticket's `parts` says it, without the lines.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketPartsTotals {
    pub labour: Money,
    /// Parts and labour at quoted prices, whoever pays.
    pub total_cost: Money,
    /// What the customer pays: nothing for what the warranty covers.
    pub customer_total: Money,
}

/// A part reserved for a ticket: the new line, and the ticket's totals with it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketPartReserved {
    pub line: TicketPart,
    pub totals: TicketPartsTotals,
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

/// A route that changes a ticket with a JSON body: the use case `$call` opens its one write transaction.
macro_rules! body_endpoint {
    ($name:ident, $path:literal, $doc:literal, $body:ty, $answer:ty, $call:path) => {
        record_post!(
            tag = "tickets",
            id = "ticket_id",
            answer = $answer,
            $name,
            $path,
            $body,
            $doc,
            |state, bearer, id, input| $call(&state.db, &bearer, id, &input)
        );
    };
}

body_endpoint!(
    reserve_ticket_part,
    "/tickets/{ticket_id}/parts",
    "Reserve a part for a ticket from the ticket's store (or another location in the caller's scope). Refused with\n`insufficient_stock` when not enough is available; concurrent reservations never oversell. Answers the new\nline and the ticket's totals; `GET /tickets/{ticket_id}` has the whole ticket.",
    ReservePart,
    TicketPartReserved,
    service::reserve
);

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
    answer(move || service::list(&state.db, &bearer, id)).await
}

macro_rules! line_endpoint {
    ($name:ident, $path:literal, $doc:literal, $call:path) => {
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
            answer(move || $call(&state.db, &bearer, id, line)).await
        }
    };
}

line_endpoint!(
    release_ticket_part,
    "/tickets/{ticket_id}/parts/{line_id}/release",
    "Give a reserved part back to stock.",
    service::release
);
line_endpoint!(
    consume_ticket_part,
    "/tickets/{ticket_id}/parts/{line_id}/consume",
    "Use a reserved part in the repair: it leaves stock (on hand and reserved).",
    service::consume
);

body_endpoint!(
    quote_ticket,
    "/tickets/{ticket_id}/quote",
    "Quote the repair: each reserved part is priced at the price in force now (a snapshot), plus labour; what the\nwarranty covers costs the customer nothing. The ticket moves to awaiting approval.",
    QuoteRepair,
    Ticket,
    service::quote
);

/// A decision on a ticket's quote: the use case `$call` opens its one write transaction and answers the ticket.
macro_rules! decision_endpoint {
    ($name:ident, $path:literal, $doc:literal, $call:path) => {
        record_action!(
            tag = "tickets",
            id = "ticket_id",
            answer = Ticket,
            $name,
            $path,
            $doc,
            |state, bearer, id| $call(&state.db, &bearer, id)
        );
    };
}

decision_endpoint!(
    approve_quote,
    "/tickets/{ticket_id}/quote/approve",
    "The customer approves the quote: the repair starts.",
    service::approve
);
decision_endpoint!(
    decline_quote,
    "/tickets/{ticket_id}/quote/decline",
    "The customer declines the quote: reserved parts go back to stock, the phone is returned unrepaired and nothing\nis billed (the quoted labour is dropped; the timeline keeps it).",
    service::decline
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
