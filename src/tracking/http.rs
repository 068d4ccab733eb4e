//! `GET /public/tracking/{token}`: the customer's link, with the per-client limit on failed look-ups; and what the
//! customer does through it (`…/quote/approve`, `…/quote/decline`, `…/remedy`, `…/rating`), each write limited per
//! token and per client address, with no key.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::model::{TrackingView, hash_token};
use super::rules::is_token_shaped;
use super::service::{self, Acted, LinkAct, LinkRequest};
use crate::edge::{FailureLimiter, client_of};
use crate::error::{AppError, AppResult, Problem};
use crate::http::ApiJson;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::repairs::QuoteDecision;
use crate::state::AppState;
use crate::warranty::Remedy;

/// Failed look-ups allowed per client per window before its misses answer 429.
const FAILURES_PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

/// The limiter of failed look-ups. Tokens carry 256 bits, so guessing is hopeless anyway: the limit is about load,
/// and it never refuses a valid token (a client over it still has its token looked up; only a miss answers 429).
pub fn failure_limiter() -> FailureLimiter {
    FailureLimiter::new(FAILURES_PER_WINDOW, WINDOW)
}

/// A customer follows their repair through the link they were given. No key; the token is the only way in. The
/// link of a ticket that ended more than 90 days ago is archived: 404, as an unknown token.
#[utoipa::path(
    tag = "public", operation_id = "track_repair", params(("token" = String, Path, description = "From the customer's link")),
    responses(
        (status = 200, body = TrackingView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed token"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No repair has this token, or its link is archived"),
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
    let blocked = state.failed_lookups.blocked(&client, now);
    if !is_token_shaped(&token) {
        // Cannot be anyone's token: no look-up.
        state.failed_lookups.record(client, now);
        return Err(match blocked {
            Some(secs) => AppError::TooManyRequests(secs),
            None => AppError::field("token", "not a tracking token"),
        });
    }
    let db = state.db.clone();
    let found = web::block(move || service::track(&db, &token)).await??;
    answer_view(&state, client, now, blocked, found)
}

/// The view, or the miss counted as a failed look-up (429 once the client is over the limit).
fn answer_view(
    state: &AppState,
    client: std::net::IpAddr,
    now: Instant,
    blocked: Option<u64>,
    found: Option<TrackingView>,
) -> AppResult<HttpResponse> {
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

/// The gate of every write through a link (this area's and the complaints'): the write limits per token and per
/// client address are counted first, then the token's shape (one that cannot be anyone's counts as a failed
/// look-up: 400, or 429 for a client over the failure limit). Answers the token's hash and the client.
pub fn admit_link_write(state: &AppState, req: &HttpRequest, token: &str) -> AppResult<(String, IpAddr)> {
    let hash = hash_token(token);
    let client = client_of(state, req);
    let now = Instant::now();
    state.link_writes.admit(&hash, client, now)?;
    if !is_token_shaped(token) {
        let blocked = state.failed_lookups.blocked(&client, now);
        state.failed_lookups.record(client, now);
        return Err(match blocked {
            Some(secs) => AppError::TooManyRequests(secs),
            None => AppError::field("token", "not a tracking token"),
        });
    }
    Ok((hash, client))
}

/// A token no repair has (or an archived link's), met by a write: a failed look-up, 404 (429 for a client over
/// the failure limit).
pub fn unknown_token(state: &AppState, client: IpAddr) -> AppError {
    let now = Instant::now();
    let blocked = state.failed_lookups.blocked(&client, now);
    state.failed_lookups.record(client, now);
    match blocked {
        Some(secs) => AppError::TooManyRequests(secs),
        None => AppError::NotFound("repair"),
    }
}

/// A write through the link: the gate ([`admit_link_write`]), then the act in one transaction, retry-safe with an
/// `Idempotency-Key`.
async fn link_write(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: String,
    key: IdempotencyKey,
    fingerprint: String,
    act: LinkAct,
) -> AppResult<HttpResponse> {
    let (hash, client) = admit_link_write(&state, &req, &token)?;
    let request = key.0.map(|key| LinkRequest { key, fingerprint });
    let db = state.db.clone();
    let hold = state.settings.loan_hold;
    let acted = web::block(move || service::act(&db, &hash, &act, hold, request.as_ref())).await??;
    match acted {
        Acted::Done(view) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(view)),
        Acted::Replayed(first) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Idempotent-Replayed", "true"))
            .content_type("application/json")
            .body(first)),
        Acted::UnknownToken => Err(unknown_token(&state, client)),
    }
}

/// The quote the customer decides on: the version they were shown.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteSeen {
    /// The `quote.version` of the view the customer decided on: a quote re-issued since is refused (409
    /// `quote_changed`).
    #[schema(minimum = 1, maximum = 2147483647)]
    pub quote_version: i32,
}

/// The customer's choice among the remedies the warranty decision offers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRemedy {
    /// One of the decision's `remedies`. An `exchange` is recorded as chosen and waits for the store, which hands
    /// over the new phone.
    pub remedy: Remedy,
    /// Shown on the ticket's timeline.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

/// The customer's rating of the closed repair.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRating {
    #[schema(minimum = 1, maximum = 5)]
    pub score: i32,
    /// Does the phone work now?
    pub works_now: bool,
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// The answers of a write through the link.
macro_rules! link_write_path {
    ($name:ident, $path:literal, $body:ty, $doc:literal, $conflicts:literal, |$input:ident| $act:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "public", operation_id = stringify!($name),
            params(
                ("token" = String, Path, description = "From the customer's link"),
                ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe act: the same key and body through the same link replay the first answer (header `Idempotent-Replayed: true`); the same key with another body is refused (409 `idempotency_key_reused`). Without a key, the act done already is refused as its state says (409)."),
            ),
            request_body = $body,
            responses(
                (status = 200, body = TrackingView, description = "The view after the act, or the replay of the first answer for this `Idempotency-Key`"),
                (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed token, body or `Idempotency-Key`; `errors` names each bad field"),
                (status = 404, body = Problem, content_type = "application/problem+json", description = "No repair has this token, or its link is archived"),
                (status = 409, body = Problem, content_type = "application/problem+json", description = $conflicts),
                (status = 413, body = Problem, content_type = "application/problem+json"),
                (status = 415, body = Problem, content_type = "application/problem+json"),
                (status = 429, body = Problem, content_type = "application/problem+json", description = "Too many writes through this link or from this client, or too many failed look-ups; retry later"),
                (status = 500, body = Problem, content_type = "application/problem+json"),
                (status = 503, body = Problem, content_type = "application/problem+json"),
            ),
            security(())
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            req: HttpRequest,
            path: web::Path<String>,
            key: IdempotencyKey,
            body: ApiJson<$body>,
        ) -> AppResult<HttpResponse> {
            let fingerprint = idempotency::fingerprint(concat!("POST ", $path), &body.raw);
            let $input = body.value;
            link_write(state, req, path.into_inner(), key, fingerprint, $act).await
        }
    };
}

link_write_path!(
    approve_quote_by_link,
    "/public/tracking/{token}/quote/approve",
    QuoteSeen,
    "The customer approves the quote they were shown: the repair starts. A quote is decided once: one approved\nalready (409 `quote_already_approved`), declined (409 `quote_declined`) or re-issued since (409 `quote_changed`)\nis refused and nothing changes; a retry of the approval carries its `Idempotency-Key` to be answered as the first\nwas. Recorded on the ticket's timeline as the customer's act.",
    "A quote decided already or re-issued since: `no_quote`, `quote_already_approved`, `quote_declined`, `quote_changed`, `ticket_final`; or `idempotency_key_reused`. Nothing changed",
    |input| LinkAct::Quote {
        decision: QuoteDecision::Approve,
        seen: input.quote_version
    }
);

link_write_path!(
    decline_quote_by_link,
    "/public/tracking/{token}/quote/decline",
    QuoteSeen,
    "The customer declines the quote they were shown: the phone comes back unrepaired, its reserved parts go back to\nstock and nothing is billed. A quote is decided once: one declined already (409 `quote_declined`), approved (409\n`quote_approved`) or re-issued since (409 `quote_changed`) is refused and nothing changes; a retry of the decline\ncarries its `Idempotency-Key` to be answered as the first was.",
    "A quote decided already or re-issued since: `no_quote`, `quote_approved`, `quote_declined`, `quote_changed`, `ticket_final`; or `idempotency_key_reused`. Nothing changed",
    |input| LinkAct::Quote {
        decision: QuoteDecision::Decline,
        seen: input.quote_version
    }
);

link_write_path!(
    choose_remedy_by_link,
    "/public/tracking/{token}/remedy",
    LinkRemedy,
    "The customer chooses among the remedies the warranty decision offers, by the rules staff's\n`POST /tickets/{ticket_id}/remedy` applies (once, before the repair starts, among those offered); a return is\ncarried out at once and ends the ticket. An exchange is recorded as chosen (`warranty.remedy_awaits_store`): the\nstore hands over the new phone and carries it out, and no repair starts meanwhile.",
    "The choice refused: `remedy_already_chosen`, `remedy_not_offered`, `repair_started`, `ticket_final`, `mail_in_outcome_unsupported`, `device_not_in_use`, `device_not_recorded`, `price_paid_unknown`, `loaner_out`; or `idempotency_key_reused`. Nothing changed",
    |input| LinkAct::Remedy {
        remedy: input.remedy,
        note: input.note
    }
);

link_write_path!(
    rate_repair_by_link,
    "/public/tracking/{token}/rating",
    LinkRating,
    "The customer rates the repair once it is closed: 1 to 5, whether the phone works now, and a comment. Once: a\nticket already rated (through the link or by staff after a callback) answers 409 `already_rated`.",
    "The rating refused: `ticket_not_closed`, `already_rated`; or `idempotency_key_reused`. Nothing changed",
    |input| LinkAct::Rate {
        score: input.score,
        works_now: input.works_now,
        comment: input.comment
    }
);

#[derive(OpenApi)]
#[openapi(paths(
    track_repair,
    approve_quote_by_link,
    decline_quote_by_link,
    choose_remedy_by_link,
    rate_repair_by_link
))]
pub struct Api;
