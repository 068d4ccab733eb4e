//! The webhooks' rows and their API views.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{webhook_attempts, webhook_endpoints, webhook_messages};
use crate::db::types::{Id, Ts};
use crate::events::EventType;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointRow {
    pub id: Id,
    pub url: String,
    pub description: Option<String>,
    pub event_types: String,
    pub store_id: Option<Id>,
    pub partner_id: Option<Id>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<Ts>,
    pub failing_since: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl EndpointRow {
    pub fn types(&self) -> Vec<EventType> {
        self.event_types.split(',').filter_map(EventType::parse).collect()
    }

    pub fn subscribes(&self, event_type: &str) -> bool {
        self.event_types.split(',').any(|t| t == event_type)
    }

    /// The secrets that sign a delivery at `now`: the current one, and the previous one during its overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at) {
            if until.0 > now {
                secrets.push(previous);
            }
        }
        secrets
    }
}

/// Joins event types as stored.
pub fn join_types(types: &[EventType]) -> String {
    let mut names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

/// A webhook endpoint (its secret is shown only when created or rotated).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<EventType>,
    /// Only events of this store are sent, when set.
    pub store_id: Option<Uuid>,
    /// The courier partner owning the endpoint: it receives only its own pickups' events.
    pub partner_id: Option<Uuid>,
    pub enabled: bool,
    /// Why Depot disabled it (deliveries failing for too long); re-enable with an update.
    pub disabled_reason: Option<String>,
    /// Until when the previous secret still signs deliveries (after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Deliveries have failed since this instant, with none delivered since.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&EndpointRow> for WebhookEndpoint {
    fn from(row: &EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id.0,
            url: row.url.clone(),
            description: row.description.clone(),
            event_types: row.types(),
            store_id: row.store_id.map(|i| i.0),
            partner_id: row.partner_id.map(|i| i.0),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason.clone(),
            previous_secret_expires_at: row.previous_secret_expires_at.map(|t| t.0),
            failing_since: row.failing_since.map(|t| t.0),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        }
    }
}

/// An endpoint with its signing secret: the answer to creating an endpoint and to rotating its secret, the only
/// times the secret is shown. (A replayed creation, by `Idempotency-Key`, answers `secret: null`.)
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpointSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64 of 32 random bytes: verify deliveries with its decoded bytes.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Not delivered yet: waiting for its next attempt (or in one).
    Pending,
    Delivered,
    /// Every attempt failed; redeliver it by hand.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<MessageStatus> {
        [MessageStatus::Pending, MessageStatus::Delivered, MessageStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_messages)]
pub struct MessageRow {
    pub id: Id,
    pub endpoint_id: Id,
    pub event_id: Option<Id>,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Ts,
    pub claimed_until: Option<Ts>,
    pub claim_token: Option<Id>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: Ts,
    pub delivered_at: Option<Ts>,
}

impl MessageRow {
    pub fn new(endpoint: Id, event_id: Option<Id>, event_type: &str, body: String, now: Ts) -> MessageRow {
        MessageRow {
            id: Id(Uuid::now_v7()),
            endpoint_id: endpoint,
            event_id,
            event_type: event_type.to_owned(),
            body,
            status: MessageStatus::Pending.as_str().to_owned(),
            attempts: 0,
            next_attempt_at: now,
            claimed_until: None,
            claim_token: None,
            last_status_code: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        }
    }
}

/// One message to one endpoint: an event (or a ping), and where its delivery stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookMessage {
    /// Also the `webhook-id` header of every attempt: receivers deduplicate on it.
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The event delivered; none for a ping.
    pub event_id: Option<Uuid>,
    /// The event type, or `webhook.ping`.
    pub event_type: String,
    pub status: MessageStatus,
    pub attempts: i32,
    /// When the next attempt is due (pending messages).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The JSON body sent.
    pub body: serde_json::Value,
}

impl From<MessageRow> for WebhookMessage {
    fn from(row: MessageRow) -> Self {
        let status = MessageStatus::parse(&row.status).unwrap_or(MessageStatus::Pending);
        WebhookMessage {
            id: row.id.0,
            endpoint_id: row.endpoint_id.0,
            event_id: row.event_id.map(|i| i.0),
            event_type: row.event_type,
            status,
            attempts: row.attempts,
            next_attempt_at: (status == MessageStatus::Pending).then_some(row.next_attempt_at.0),
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            created_at: row.created_at.0,
            delivered_at: row.delivered_at.map(|t| t.0),
            body: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub id: Id,
    pub message_id: Id,
    pub attempted_at: Ts,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookAttempt {
    pub id: Uuid,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; none when no answer came (connection refused, timeout, address refused).
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The first KiB of the receiver's answer.
    pub response_excerpt: Option<String>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
}

impl From<AttemptRow> for WebhookAttempt {
    fn from(row: AttemptRow) -> Self {
        WebhookAttempt {
            id: row.id.0,
            attempted_at: row.attempted_at.0,
            status_code: row.status_code,
            latency_ms: row.latency_ms,
            response_excerpt: row.response_excerpt,
            error: row.error,
        }
    }
}
