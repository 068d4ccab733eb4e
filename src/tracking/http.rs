//! `GET /public/tracking/{token}`: the customer's link, with the per-client limit on failed look-ups.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, web};
use utoipa::OpenApi;

use super::model::TrackingView;
use super::rules::is_token_shaped;
use super::service;
use crate::edge::{FailureLimiter, client_of};
use crate::error::{AppError, AppResult, Problem};
use crate::state::AppState;

/// Failed look-ups allowed per client per window before its misses answer 429.
const FAILURES_PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

/// The limiter of failed look-ups. Tokens carry 256 bits, so guessing is hopeless anyway: the limit is about load,
/// and it never refuses a valid token (a client over it still has its token looked up; only a miss answers 429).
pub fn failure_limiter() -> FailureLimiter {
    FailureLimiter::new(FAILURES_PER_WINDOW, WINDOW)
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
