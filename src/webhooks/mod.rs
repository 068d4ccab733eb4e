//! Signed webhooks (Standard Webhooks): endpoints registered by admins and courier partners, the fan-out that
//! turns each placed event into one message per endpoint that receives it, and the dispatcher that delivers them
//! at least once, signed, retried with backoff, from every instance safely.
//!
//! - [`http`]: the routes (endpoints, delivery log, redeliver, replay, ping).
//! - [`service`]: the use cases, who may manage what, the URL check, the fan-out ([`service::fan_out`]).
//! - [`dispatcher`]: claims with a lease, delivers with bounded workers, records attempts, gives back at shutdown.
//! - [`repo`]: the queries (the claim differs by engine).
//! - [`model`]: rows and views.
//! - [`rules`]: the signature, secrets, URL and address rules, the retry schedule, the envelope.
//!
//! The message body: `{"type": "ticket.opened", "timestamp": "<when the event happened>", "data": {"id": "<event
//! id>", "subject": {"type": "ticket", "id": "…"}, "store_id": "…", …the event's payload}}`. Headers:
//! `webhook-id` (the message id, the same on every retry; a replay makes new messages, with the same `data.id`),
//! `webhook-timestamp` (seconds, at the attempt), `webhook-signature` (`v1,<base64>` per secret in force, space
//! separated), `content-type: application/json`.

pub mod dispatcher;
mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web::ServiceConfig;
use utoipa::OpenApi;

pub use dispatcher::{DispatchConfig, Dispatcher, spawn_dispatcher};
pub use service::{fan_out, fan_out_all};

#[derive(OpenApi)]
#[openapi(paths(
    http::create_webhook_endpoint,
    http::list_webhook_endpoints,
    http::get_webhook_endpoint,
    http::update_webhook_endpoint,
    http::delete_webhook_endpoint,
    http::rotate_webhook_secret,
    http::list_webhook_messages,
    http::list_webhook_attempts,
    http::redeliver_webhook_message,
    http::replay_webhook_events,
    http::ping_webhook_endpoint,
))]
pub struct Api;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(http::create_webhook_endpoint)
        .service(http::list_webhook_endpoints)
        .service(http::get_webhook_endpoint)
        .service(http::update_webhook_endpoint)
        .service(http::delete_webhook_endpoint)
        .service(http::rotate_webhook_secret)
        .service(http::list_webhook_messages)
        .service(http::list_webhook_attempts)
        .service(http::redeliver_webhook_message)
        .service(http::replay_webhook_events)
        .service(http::ping_webhook_endpoint);
}
