//! The webhook routes: endpoints (admins all, a courier partner its own; store staff 403), their delivery log and
//! operations. The URL check (resolution, address rules, a TCP connection within 3 s) runs on a blocking thread
//! before the write.

use std::time::Duration;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookEndpointSecret, WebhookMessage};
use super::service::{self, EndpointInput, ReplayResult};
use crate::auth::Bearer;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::events::EventType;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::state::AppState;

pub const ENDPOINTS: &str = "/webhook-endpoints";
pub const MESSAGES: &str = "/webhook-endpoints/{endpoint_id}/messages";
pub const ATTEMPTS: &str = "/webhook-endpoints/{endpoint_id}/messages/{message_id}/attempts";
/// Longest overlap a rotation may keep the previous secret signing (30 days).
pub const MAX_OVERLAP_SECS: i64 = 30 * 24 * 3600;
/// The overlap when a rotation does not say (24 hours).
pub const DEFAULT_OVERLAP_SECS: i64 = 24 * 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// `http` or `https` URL; its host must resolve to addresses webhooks may reach (no loopback, private,
    /// link-local, CGNAT, multicast or unique-local address unless the operator allowed it) and accept a
    /// connection within 3 seconds.
    #[cfg_attr(
        feature = "webhooks-tls",
        schema(min_length = 1, max_length = 2000, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")
    )]
    #[cfg_attr(
        not(feature = "webhooks-tls"),
        schema(min_length = 1, max_length = 2000, pattern = "^[Hh][Tt][Tt][Pp]://")
    )]
    pub url: String,
    /// The event types to receive (at least one).
    #[schema(min_items = 1, max_items = 35)]
    pub event_types: Vec<EventType>,
    /// Only events of this store.
    pub store_id: Option<Uuid>,
    /// Only this courier partner's pickups' events; the partner's keys then manage the endpoint. A courier key's
    /// endpoints are always its own partner's.
    pub partner_id: Option<Uuid>,
    /// At most 500 characters without control characters, after surrounding white space is trimmed (kept
    /// trimmed).
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,498}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    #[cfg_attr(
        feature = "webhooks-tls",
        schema(min_length = 1, max_length = 2000, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://")
    )]
    #[cfg_attr(
        not(feature = "webhooks-tls"),
        schema(min_length = 1, max_length = 2000, pattern = "^[Hh][Tt][Tt][Pp]://")
    )]
    pub url: Option<String>,
    #[schema(min_items = 1, max_items = 35)]
    pub event_types: Option<Vec<EventType>>,
    pub store_id: Option<Uuid>,
    /// Must be the endpoint's own partner when given (it cannot change).
    pub partner_id: Option<Uuid>,
    /// At most 500 characters without control characters, after surrounding white space is trimmed (kept
    /// trimmed).
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,498}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    /// `true` enables an endpoint again (Depot disables one whose deliveries failed for days).
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecret {
    /// Seconds the previous secret goes on signing deliveries beside the new one (default 86400; 0 ends it now).
    #[schema(minimum = 0, maximum = 2592000)]
    pub overlap_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayWebhookEvents {
    /// Events that happened at or after this instant...
    pub since: DateTime<Utc>,
    /// ...and before this one (default now).
    pub until: Option<DateTime<Utc>>,
    /// Events looked at in this call, at most (default and most 10,000); the rest are left to `resume_from`.
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpoint>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookMessageList {
    pub items: Vec<WebhookMessage>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookAttemptList {
    pub items: Vec<WebhookAttempt>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<MessageStatus>,
}

fn description(checks: &mut Checks, value: &Option<String>) -> Option<String> {
    value.as_ref().map(|d| checks.text("description", d, 0, 500))
}

/// Checks a URL (form, addresses, reachability) on a blocking thread.
async fn checked_url(state: &web::Data<AppState>, url: Option<String>) -> AppResult<Option<super::rules::EndpointUrl>> {
    let Some(url) = url else { return Ok(None) };
    let allow = state.settings.webhook_allow.clone();
    Ok(Some(web::block(move || service::check_url(&url, &allow)).await??))
}

fn non_empty(types: &Option<Vec<EventType>>) -> AppResult<()> {
    if types.as_ref().is_some_and(Vec::is_empty) {
        let valid: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(AppError::field(
            "event_types",
            format!("name at least one of: {}", valid.join(", ")),
        ));
    }
    if types.as_ref().is_some_and(|t| t.len() > EventType::ALL.len()) {
        return Err(AppError::field(
            "event_types",
            format!("name at most {} types (each once)", EventType::ALL.len()),
        ));
    }
    Ok(())
}

/// Register a webhook endpoint; the answer carries its signing secret, shown this once.
#[utoipa::path(
    tag = "webhooks", operation_id = "create_webhook_endpoint", request_body = CreateWebhookEndpoint,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response (without the secret).")),
    responses((status = 201, body = WebhookEndpointSecret), WriteErrors),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints")]
pub async fn create_webhook_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateWebhookEndpoint>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /webhook-endpoints", &body.raw);
    let input = body.value;
    non_empty(&Some(input.event_types.clone()))?;
    let mut checks = Checks::new();
    let description = description(&mut checks, &input.description);
    checks.finish()?;
    let db = state.db.clone();
    let bearer = web::block(move || service::authorize(&db, &bearer, None).map(|()| bearer)).await??;
    let url = checked_url(&state, Some(input.url)).await?;
    let input = EndpointInput {
        url,
        event_types: Some(input.event_types),
        store_id: input.store_id,
        partner_id: input.partner_id,
        description,
        enabled: input.enabled,
    };
    idempotency::create_redacted(
        state.db.clone(),
        bearer,
        key,
        fingerprint,
        move |conn, principal| service::create(conn, principal, &input),
        |stored| {
            if let Some(secret) = stored.get_mut("secret") {
                *secret = serde_json::Value::Null;
            }
        },
    )
    .await
}

/// List webhook endpoints (a courier partner sees its own).
#[utoipa::path(
    tag = "webhooks", operation_id = "list_webhook_endpoints", params(PageQuery),
    responses((status = 200, body = WebhookEndpointList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints")]
pub async fn list_webhook_endpoints(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<PageQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse(ENDPOINTS, query.limit, query.cursor.as_deref())?;
    let (items, next_cursor) = web::block(move || service::list(&state.db, &bearer, page)).await??;
    Ok(HttpResponse::Ok().json(WebhookEndpointList { items, next_cursor }))
}

/// A webhook endpoint (never its secret).
#[utoipa::path(
    tag = "webhooks", operation_id = "get_webhook_endpoint", params(("endpoint_id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpoint), ReadErrors),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints/{endpoint_id}")]
pub async fn get_webhook_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let endpoint = web::block(move || service::get(&state.db, &bearer, id)).await??;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// Change a webhook endpoint: URL (checked as at registration), event types, store filter, description, enabled.
#[utoipa::path(
    tag = "webhooks", operation_id = "update_webhook_endpoint", params(("endpoint_id" = Uuid, Path)),
    request_body = UpdateWebhookEndpoint,
    responses((status = 200, body = WebhookEndpoint), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/webhook-endpoints/{endpoint_id}")]
pub async fn update_webhook_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateWebhookEndpoint>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    non_empty(&input.event_types)?;
    let mut checks = Checks::new();
    let description = description(&mut checks, &input.description);
    checks.finish()?;
    let bearer = if input.url.is_some() {
        let db = state.db.clone();
        web::block(move || service::authorize(&db, &bearer, Some(id)).map(|()| bearer)).await??
    } else {
        bearer
    };
    let url = checked_url(&state, input.url).await?;
    let input = EndpointInput {
        url,
        event_types: input.event_types,
        store_id: input.store_id,
        partner_id: input.partner_id,
        description,
        enabled: input.enabled,
    };
    let endpoint = web::block(move || service::update(&state.db, &bearer, id, input)).await??;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// Delete a webhook endpoint with its messages and their attempts.
#[utoipa::path(
    tag = "webhooks", operation_id = "delete_webhook_endpoint", params(("endpoint_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted."), WriteErrors),
    security(("bearer" = []))
)]
#[delete("/webhook-endpoints/{endpoint_id}")]
pub async fn delete_webhook_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    web::block(move || service::delete(&state.db, &bearer, id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate an endpoint's signing secret: the answer carries the new one, shown this once; the previous one goes on
/// signing beside it for the overlap (both signatures in `webhook-signature`).
#[utoipa::path(
    tag = "webhooks", operation_id = "rotate_webhook_secret", params(("endpoint_id" = Uuid, Path)),
    request_body = RotateWebhookSecret,
    responses((status = 200, body = WebhookEndpointSecret), WriteErrors),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{endpoint_id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<RotateWebhookSecret>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let overlap = body.value.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECS);
    if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
        return Err(AppError::field(
            "overlap_seconds",
            format!("must be 0 to {MAX_OVERLAP_SECS}"),
        ));
    }
    let overlap = Duration::from_secs(overlap as u64);
    let rotated = web::block(move || service::rotate(&state.db, &bearer, id, overlap)).await??;
    Ok(HttpResponse::Ok().json(rotated))
}

/// An endpoint's messages (its delivery log), oldest first.
#[utoipa::path(
    tag = "webhooks", operation_id = "list_webhook_messages", params(("endpoint_id" = Uuid, Path), MessageQuery),
    responses((status = 200, body = WebhookMessageList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints/{endpoint_id}/messages")]
pub async fn list_webhook_messages(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    query: ApiQuery<MessageQuery>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let ApiQuery(query) = query;
    let page = PageRequest::parse(MESSAGES, query.limit, query.cursor.as_deref())?;
    let status = query.status;
    let (items, next_cursor) =
        web::block(move || service::list_messages(&state.db, &bearer, id, status, page)).await??;
    Ok(HttpResponse::Ok().json(WebhookMessageList { items, next_cursor }))
}

/// A message's delivery attempts: time, status code, latency, the answer's first KiB, the error.
#[utoipa::path(
    tag = "webhooks", operation_id = "list_webhook_attempts",
    params(("endpoint_id" = Uuid, Path), ("message_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = WebhookAttemptList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/webhook-endpoints/{endpoint_id}/messages/{message_id}/attempts")]
pub async fn list_webhook_attempts(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    query: ApiQuery<PageQuery>,
) -> AppResult<HttpResponse> {
    let (id, message) = path.into_inner();
    let ApiQuery(query) = query;
    let page = PageRequest::parse(ATTEMPTS, query.limit, query.cursor.as_deref())?;
    let (items, next_cursor) =
        web::block(move || service::list_attempts(&state.db, &bearer, id, message, page)).await??;
    Ok(HttpResponse::Ok().json(WebhookAttemptList { items, next_cursor }))
}

/// Send a message again now, with a fresh retry schedule (409 `message_in_flight` while an attempt runs).
#[utoipa::path(
    tag = "webhooks", operation_id = "redeliver_webhook_message",
    params(("endpoint_id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 200, body = WebhookMessage), WriteErrors),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{endpoint_id}/messages/{message_id}/redeliver")]
pub async fn redeliver_webhook_message(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (id, message) = path.into_inner();
    let message = web::block(move || service::redeliver(&state.db, &bearer, id, message)).await??;
    Ok(HttpResponse::Ok().json(message))
}

/// Send again, as new messages, the events of a time range the endpoint receives, in the order they happened (at
/// most `limit`, 10,000 by default, per call): `resume_from`, when present, is the `since` of the next call, which
/// goes on with neither a skip nor a repeat.
#[utoipa::path(
    tag = "webhooks", operation_id = "replay_webhook_events", params(("endpoint_id" = Uuid, Path)),
    request_body = ReplayWebhookEvents,
    responses((status = 200, body = ReplayResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{endpoint_id}/replay")]
pub async fn replay_webhook_events(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<ReplayWebhookEvents>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let since = body.value.since;
    let until = body.value.until.unwrap_or_else(Utc::now);
    let limit = body.value.limit;
    let result = web::block(move || service::replay(&state.db, &bearer, id, (since, until), limit)).await??;
    Ok(HttpResponse::Ok().json(result))
}

/// Queue a `webhook.ping` test message to the endpoint.
#[utoipa::path(
    tag = "webhooks", operation_id = "ping_webhook_endpoint", params(("endpoint_id" = Uuid, Path)),
    responses((status = 200, body = WebhookMessage), WriteErrors),
    security(("bearer" = []))
)]
#[post("/webhook-endpoints/{endpoint_id}/ping")]
pub async fn ping_webhook_endpoint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let message = web::block(move || service::ping(&state.db, &bearer, id)).await??;
    Ok(HttpResponse::Ok().json(message))
}

#[cfg(test)]
mod tests {
    use crate::events::EventType;

    /// The schemas promise what the server enforces: at most one of each type.
    #[test]
    fn the_documented_event_types_bound_is_the_number_of_types() {
        let doc: serde_json::Value =
            serde_json::from_str(&crate::openapi::document_json()).unwrap_or_else(|e| panic!("{e}"));
        for schema in ["CreateWebhookEndpoint", "UpdateWebhookEndpoint"] {
            let types = &doc["components"]["schemas"][schema]["properties"]["event_types"];
            assert_eq!(types["maxItems"], EventType::ALL.len(), "{schema}: {types}");
        }
    }
}
