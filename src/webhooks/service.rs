//! The webhooks' use cases: endpoints (admins manage all, a courier partner its own), the fan-out that turns
//! placed events into messages, and the delivery log's operations (redeliver, replay, ping).

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    AttemptRow, EndpointRow, MessageRow, MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookEndpointSecret,
    WebhookMessage, join_types,
};
use super::repo;
use super::rules::{self, EndpointUrl};
use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::edge::Cidr;
use crate::error::{AppError, AppResult};
use crate::events::{EventRow, EventType};
use crate::http::pagination::PageRequest;

/// The internal consumer of the event feed that makes messages.
pub const CONSUMER: &str = "webhooks";
/// The type of a test message.
pub const PING: &str = "webhook.ping";
/// How long registration waits for the endpoint to accept a TCP connection.
pub const CONNECT_CHECK: Duration = Duration::from_secs(3);
/// Events a replay queues at most per call.
pub const MAX_REPLAY: i64 = 10_000;

/// What may be set on an endpoint, checked.
#[derive(Debug, Clone)]
pub struct EndpointInput {
    pub url: Option<EndpointUrl>,
    pub event_types: Option<Vec<EventType>>,
    pub store_id: Option<Uuid>,
    pub partner_id: Option<Uuid>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Name lookups running at once in this process (each on a thread of its own, see [`lookup`]); more wait for none
/// and fail at once, so that a resolver that hangs cannot pile up threads.
const MAX_LOOKUPS: usize = 64;
static LOOKUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Resolves `host:port` within `deadline`: the system resolver runs on a helper thread, and the caller waits for it
/// no longer than the deadline (a lookup that hangs is left to end on its own, and counts against [`MAX_LOOKUPS`]
/// until it does).
pub fn lookup(host: &str, port: u16, deadline: Duration) -> Result<Vec<SocketAddr>, String> {
    use std::sync::atomic::Ordering;
    if LOOKUPS.fetch_add(1, Ordering::SeqCst) >= MAX_LOOKUPS {
        LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Err(format!(
            "the host {host} was not looked up: too many lookups in progress"
        ));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("webhook-lookup".into())
        .spawn(move || {
            let found = (name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>());
            LOOKUPS.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(found);
        });
    if let Err(e) = spawned {
        LOOKUPS.fetch_sub(1, Ordering::SeqCst);
        return Err(format!("the host {host} was not looked up: {e}"));
    }
    match rx.recv_timeout(deadline) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("the host {host} does not resolve: {e}")),
        Err(_) => Err(format!(
            "the host {host} did not resolve within {} ms",
            deadline.as_millis()
        )),
    }
}

/// Addresses `host` resolves to (within `deadline`), each checked against the forbidden ranges and the operator's
/// allow list: all of them must pass (a name that resolves to one public and one private address is refused).
pub fn resolve_checked(url: &EndpointUrl, allow: &[Cidr], deadline: Duration) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = match url.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, url.port)],
        Err(_) => lookup(&url.host, url.port, deadline)?,
    };
    if addrs.is_empty() {
        return Err(format!("the host {} has no address", url.host));
    }
    for addr in &addrs {
        if let Some(why) = rules::refused_address(addr.ip(), allow) {
            return Err(why);
        }
    }
    Ok(addrs)
}

/// Checks a URL as registration does: its form, its addresses, and that one of them accepts a TCP connection
/// within [`CONNECT_CHECK`]. The error is the reason, for a 400 on `url`.
pub fn check_url(text: &str, allow: &[Cidr]) -> AppResult<EndpointUrl> {
    let url = rules::parse_url(text).map_err(|e| AppError::field("url", e))?;
    if url.https && !cfg!(feature = "webhooks-tls") {
        return Err(AppError::field(
            "url",
            "this server delivers over http only (it was built without the webhooks-tls feature)",
        ));
    }
    let addrs = resolve_checked(&url, allow, CONNECT_CHECK).map_err(|e| AppError::field("url", e))?;
    let mut last = String::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_CHECK) {
            Ok(_) => return Ok(url),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(AppError::field("url", format!("the endpoint is unreachable ({last})")))
}

/// Whose endpoints the caller manages: `None` all (admin), or a partner's own (courier); store staff and
/// warehouse keys may not.
fn manager(principal: &Principal) -> AppResult<Option<Uuid>> {
    match principal.role {
        Role::Admin => Ok(None),
        Role::Courier => principal.partner_id.map(Some).ok_or(AppError::Forbidden),
        _ => Err(AppError::Forbidden),
    }
}

fn endpoint_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<EndpointRow> {
    let scope = manager(principal)?;
    let row = repo::find_endpoint(conn, id)?.ok_or(AppError::NotFound("webhook endpoint"))?;
    match scope {
        Some(partner) if row.partner_id != Some(Id(partner)) => Err(AppError::NotFound("webhook endpoint")),
        _ => Ok(row),
    }
}

/// The endpoint in the caller's scope, locked for the caller's write (see [`repo::lock_endpoint`]).
fn lock_endpoint_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<EndpointRow> {
    let scope = manager(principal)?;
    let row = repo::lock_endpoint(conn, id)?.ok_or(AppError::NotFound("webhook endpoint"))?;
    match scope {
        Some(partner) if row.partner_id != Some(Id(partner)) => Err(AppError::NotFound("webhook endpoint")),
        _ => Ok(row),
    }
}

/// Whether the key may manage webhook endpoints (and endpoint `id`, when given). Checked before a URL is resolved
/// and connected to, so that a caller without a valid key cannot use the check to probe the network.
pub fn authorize(db: &Db, bearer: &Bearer, id: Option<Uuid>) -> AppResult<()> {
    bearer.read(db, |conn, principal| match id {
        Some(id) => endpoint_in_scope(conn, principal, id).map(|_| ()),
        None => manager(principal).map(|_| ()),
    })
}

fn check_store(conn: &mut Conn<'_>, store: Uuid) -> AppResult<()> {
    if crate::auth::repo::store_exists(conn, store)? {
        Ok(())
    } else {
        Err(AppError::field("store_id", "no such store"))
    }
}

/// Registers an endpoint, inside the idempotent creation's transaction; the answer carries its secret.
pub fn create(conn: &mut Conn<'_>, principal: &Principal, input: &EndpointInput) -> AppResult<WebhookEndpointSecret> {
    let scope = manager(principal)?;
    let partner = match (scope, input.partner_id) {
        (Some(own), Some(other)) if own != other => {
            return Err(AppError::field(
                "partner_id",
                "a partner registers endpoints for itself only",
            ));
        }
        (Some(own), _) => Some(own),
        (None, Some(p)) => {
            if !crate::auth::repo::partner_exists(conn, p)? {
                return Err(AppError::field("partner_id", "no such courier partner"));
            }
            Some(p)
        }
        (None, None) => None,
    };
    if let Some(store) = input.store_id {
        check_store(conn, store)?;
    }
    let (Some(url), Some(types)) = (&input.url, &input.event_types) else {
        return Err(AppError::field("url", "url and event_types are required"));
    };
    let now = Ts(crate::now());
    let secret = rules::generate_secret();
    let row = EndpointRow {
        id: Id(Uuid::now_v7()),
        url: url.text.clone(),
        description: input.description.clone(),
        event_types: join_types(types),
        store_id: input.store_id.map(Id),
        partner_id: partner.map(Id),
        enabled: input.enabled.unwrap_or(true),
        disabled_reason: None,
        secret: secret.clone(),
        previous_secret: None,
        previous_secret_expires_at: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    repo::insert_endpoint(conn, &row)?;
    let endpoint = WebhookEndpoint::from(&row);
    audit::record(
        conn,
        Some(principal.key_id),
        "create",
        "webhook_endpoint",
        endpoint.id,
        &endpoint,
    )?;
    Ok(WebhookEndpointSecret {
        endpoint,
        secret: Some(secret),
    })
}

pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<WebhookEndpoint> {
    bearer.read(db, |conn, principal| {
        Ok(WebhookEndpoint::from(&endpoint_in_scope(conn, principal, id)?))
    })
}

pub fn list(db: &Db, bearer: &Bearer, page: PageRequest) -> AppResult<(Vec<WebhookEndpoint>, Option<String>)> {
    let rows = bearer.read(db, |conn, principal| {
        let scope = manager(principal)?;
        repo::list_endpoints(conn, scope, page)
    })?;
    let (rows, next) = page.finish(rows, |r| r.id.0);
    Ok((rows.iter().map(WebhookEndpoint::from).collect(), next))
}

/// Changes an endpoint. Enabling it again clears why it was disabled and its failure streak.
pub fn update(db: &Db, bearer: &Bearer, id: Uuid, input: EndpointInput) -> AppResult<WebhookEndpoint> {
    bearer.write(db, |conn, principal| {
        let mut row = lock_endpoint_in_scope(conn, principal, id)?;
        if input.partner_id.is_some_and(|p| Some(Id(p)) != row.partner_id) {
            return Err(AppError::field("partner_id", "an endpoint's partner cannot change"));
        }
        if let Some(store) = input.store_id {
            check_store(conn, store)?;
            row.store_id = Some(Id(store));
        }
        if let Some(url) = &input.url {
            row.url = url.text.clone();
        }
        if let Some(types) = &input.event_types {
            row.event_types = join_types(types);
        }
        if let Some(description) = &input.description {
            row.description = Some(description.clone());
        }
        if let Some(enabled) = input.enabled {
            if enabled && !row.enabled {
                row.disabled_reason = None;
                row.failing_since = None;
            }
            row.enabled = enabled;
        }
        row.updated_at = Ts(crate::now());
        repo::save_endpoint(conn, &row)?;
        let endpoint = WebhookEndpoint::from(&row);
        audit::record(
            conn,
            Some(principal.key_id),
            "update",
            "webhook_endpoint",
            endpoint.id,
            &endpoint,
        )?;
        Ok(endpoint)
    })
}

pub fn delete(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<()> {
    bearer.write(db, |conn, principal| {
        let row = endpoint_in_scope(conn, principal, id)?;
        repo::delete_endpoint(conn, row.id)?;
        audit::record(
            conn,
            Some(principal.key_id),
            "delete",
            "webhook_endpoint",
            id,
            &WebhookEndpoint::from(&row),
        )
    })
}

/// A new secret; the one it replaces goes on signing (beside it) for `overlap`.
pub fn rotate(db: &Db, bearer: &Bearer, id: Uuid, overlap: Duration) -> AppResult<WebhookEndpointSecret> {
    bearer.write(db, |conn, principal| {
        let mut row = lock_endpoint_in_scope(conn, principal, id)?;
        let now = crate::now();
        let secret = rules::generate_secret();
        let previous = std::mem::replace(&mut row.secret, secret.clone());
        if overlap.is_zero() {
            row.previous_secret = None;
            row.previous_secret_expires_at = None;
        } else {
            row.previous_secret = Some(previous);
            let until = chrono::Duration::from_std(overlap).map_err(anyhow::Error::from)?;
            row.previous_secret_expires_at = Some(Ts(now + until));
        }
        row.updated_at = Ts(now);
        repo::save_endpoint(conn, &row)?;
        let endpoint = WebhookEndpoint::from(&row);
        audit::record(
            conn,
            Some(principal.key_id),
            "rotate_secret",
            "webhook_endpoint",
            endpoint.id,
            &endpoint,
        )?;
        Ok(WebhookEndpointSecret {
            endpoint,
            secret: Some(secret),
        })
    })
}

pub fn list_messages(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    status: Option<MessageStatus>,
    page: PageRequest,
) -> AppResult<(Vec<WebhookMessage>, Option<String>)> {
    let rows = bearer.read(db, |conn, principal| {
        let endpoint = endpoint_in_scope(conn, principal, id)?;
        repo::list_messages(conn, endpoint.id, status, page)
    })?;
    let (rows, next) = page.finish(rows, |r| r.id.0);
    Ok((rows.into_iter().map(WebhookMessage::from).collect(), next))
}

pub fn list_attempts(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    message: Uuid,
    page: PageRequest,
) -> AppResult<(Vec<WebhookAttempt>, Option<String>)> {
    let rows = bearer.read(db, |conn, principal| {
        let endpoint = endpoint_in_scope(conn, principal, id)?;
        let message = repo::find_message(conn, endpoint.id, message)?.ok_or(AppError::NotFound("webhook message"))?;
        repo::list_attempts(conn, message.id, page)
    })?;
    let (rows, next) = page.finish(rows, |r: &AttemptRow| r.id.0);
    Ok((rows.into_iter().map(WebhookAttempt::from).collect(), next))
}

/// Sends a message again, now, with a fresh retry schedule; 409 while an attempt is in flight.
pub fn redeliver(db: &Db, bearer: &Bearer, id: Uuid, message: Uuid) -> AppResult<WebhookMessage> {
    bearer.write(db, |conn, principal| {
        let endpoint = endpoint_in_scope(conn, principal, id)?;
        let row = repo::find_message(conn, endpoint.id, message)?.ok_or(AppError::NotFound("webhook message"))?;
        let now = Ts(crate::now());
        if row.claimed_until.is_some_and(|until| until > now) {
            return Err(AppError::conflict(
                "message_in_flight",
                "an attempt to deliver this message is in progress; retry when it ended",
            ));
        }
        if !repo::reset_message(conn, row.id, now)? {
            return Err(AppError::conflict(
                "message_in_flight",
                "an attempt to deliver this message is in progress; retry when it ended",
            ));
        }
        let row = repo::find_message(conn, endpoint.id, message)?.ok_or(AppError::NotFound("webhook message"))?;
        Ok(WebhookMessage::from(row))
    })
}

/// What a replay queued.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReplayResult {
    /// New messages queued: one per event of the range the endpoint subscribes to and may see.
    pub queued: usize,
    /// Events of the range looked at (at most the call's `limit`).
    pub scanned: usize,
    /// When the range held more events than this call looked at: replay again with this as `since` (and the same
    /// `until`). The call looked at every event of the range before this instant and none at or after it.
    pub resume_from: Option<DateTime<Utc>>,
}

/// Queues again, as new messages, the events of `[since, until)` this endpoint subscribes to and may see, in the
/// order they happened (`occurred_at`, then the order they were written), looking at `limit` events at most
/// (default and most [`MAX_REPLAY`]). A call that stops short stops between two instants, never inside one, so
/// that its `resume_from` (the first instant it did not look at) resumes with neither a skip nor a repeat.
pub fn replay(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    limit: Option<i64>,
) -> AppResult<ReplayResult> {
    let limit = limit.unwrap_or(MAX_REPLAY);
    if !(1..=MAX_REPLAY).contains(&limit) {
        return Err(AppError::field("limit", format!("must be from 1 to {MAX_REPLAY}")));
    }
    bearer.write(db, |conn, principal| {
        let endpoint = endpoint_in_scope(conn, principal, id)?;
        let until = Ts(crate::to_micros(until));
        let mut events = repo::events_between(conn, Ts(crate::to_micros(since)), until, limit + 1)?;
        let resume_from = match events.get(limit as usize).map(|e| e.occurred_at) {
            None => None,
            Some(next) => {
                // Stop before the instant of the first event left out: the page ends between two instants.
                events.retain(|e| e.occurred_at < next);
                if events.is_empty() {
                    // Every event looked at happened at that one instant: take the whole instant.
                    events =
                        repo::events_between(conn, next, Ts(next.0 + chrono::Duration::microseconds(1)), i64::MAX)?;
                    Some(next.0 + chrono::Duration::microseconds(1)).filter(|t| *t < until.0)
                } else {
                    Some(next.0)
                }
            }
        };
        let now = Ts(crate::now());
        let messages: Vec<MessageRow> = events
            .iter()
            .filter(|e| matches(&endpoint, e))
            .map(|e| message_for(&endpoint, e, now))
            .collect();
        repo::insert_messages(conn, &messages)?;
        Ok(ReplayResult {
            queued: messages.len(),
            scanned: events.len(),
            resume_from,
        })
    })
}

/// Queues a `webhook.ping` test message.
pub fn ping(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<WebhookMessage> {
    bearer.write(db, |conn, principal| {
        let endpoint = endpoint_in_scope(conn, principal, id)?;
        let now = crate::now();
        let body = serde_json::json!({
            "type": PING,
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "data": {"endpoint_id": endpoint.id.0.to_string()},
        });
        let row = MessageRow::new(endpoint.id, None, PING, body.to_string(), Ts(now));
        repo::insert_messages(conn, std::slice::from_ref(&row))?;
        Ok(WebhookMessage::from(row))
    })
}

/// Whether `endpoint` receives `event`: it subscribes to its type, and the event passes its store filter and its
/// partner's scope (a partner's endpoint gets its own pickups' events only).
pub fn matches(endpoint: &EndpointRow, event: &EventRow) -> bool {
    endpoint.subscribes(&event.event_type)
        && endpoint.store_id.is_none_or(|s| event.store_id == Some(s))
        && endpoint.partner_id.is_none_or(|p| event.partner_id == Some(p))
}

fn message_for(endpoint: &EndpointRow, event: &EventRow, now: Ts) -> MessageRow {
    let payload = serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
    let body = rules::envelope(
        &event.event_type,
        event.occurred_at.0,
        event.id.0,
        (&event.subject_type, event.subject_id.0),
        event.store_id.map(|i| i.0),
        payload,
    );
    MessageRow::new(endpoint.id, Some(event.id), &event.event_type, body.to_string(), now)
}

/// The fan-out step, run by [`crate::events::consume`] in its transaction: one message per enabled endpoint that
/// receives each event (never the event's `internal` part).
pub fn fan_out(conn: &mut Conn<'_>, events: &[EventRow]) -> AppResult<()> {
    let endpoints = repo::enabled_endpoints(conn)?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let now = Ts(crate::now());
    let messages: Vec<MessageRow> = events
        .iter()
        .flat_map(|e| endpoints.iter().filter(|ep| matches(ep, e)).map(move |ep| (ep, e)))
        .map(|(ep, e)| message_for(ep, e, now))
        .collect();
    repo::insert_messages(conn, &messages)
}

/// Runs the fan-out over every placed event not handed out yet; returns how many events it read.
pub fn fan_out_all(db: &Db) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let n = crate::events::consume(db, CONSUMER, 500, fan_out)?;
        total += n;
        if n < 500 {
            return Ok(total);
        }
    }
}
