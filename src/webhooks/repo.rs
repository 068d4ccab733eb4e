//! The webhooks' queries. The claim is the one that differs by engine: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! that instances claiming at once take different messages; SQLite has one writer at a time already.

use diesel::prelude::*;
use uuid::Uuid;

use super::model::{AttemptRow, EndpointRow, MessageRow, MessageStatus};
use crate::db::Conn;
use crate::db::schema::{events, webhook_attempts, webhook_endpoints, webhook_messages};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::events::EventRow;
use crate::http::pagination::PageRequest;
use crate::with_conn;

pub fn insert_endpoint(conn: &mut Conn<'_>, row: &EndpointRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(webhook_endpoints::table).values(row).execute(c))?;
    Ok(())
}

pub fn find_endpoint(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<EndpointRow>> {
    Ok(with_conn!(conn, c => webhook_endpoints::table
        .find(Id(id))
        .select(EndpointRow::as_select())
        .first(c)
        .optional())?)
}

/// The endpoint, locked for the rest of the transaction (PostgreSQL; SQLite's writer holds the database), so that
/// an update, a rotation and the dispatcher's disabling, which each write the whole row, take turns.
pub fn lock_endpoint(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<EndpointRow>> {
    Ok(match conn {
        Conn::Pg(c) => webhook_endpoints::table
            .find(Id(id))
            .select(EndpointRow::as_select())
            .for_update()
            .first(*c)
            .optional()?,
        Conn::Sqlite(_) => find_endpoint(conn, id)?,
    })
}

/// Writes every field an update, a rotation or the dispatcher may change.
pub fn save_endpoint(conn: &mut Conn<'_>, row: &EndpointRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(webhook_endpoints::table.find(row.id))
        .set((
            webhook_endpoints::url.eq(&row.url),
            webhook_endpoints::description.eq(&row.description),
            webhook_endpoints::event_types.eq(&row.event_types),
            webhook_endpoints::store_id.eq(row.store_id),
            webhook_endpoints::enabled.eq(row.enabled),
            webhook_endpoints::disabled_reason.eq(&row.disabled_reason),
            webhook_endpoints::secret.eq(&row.secret),
            webhook_endpoints::previous_secret.eq(&row.previous_secret),
            webhook_endpoints::previous_secret_expires_at.eq(row.previous_secret_expires_at),
            webhook_endpoints::failing_since.eq(row.failing_since),
            webhook_endpoints::updated_at.eq(row.updated_at),
        ))
        .execute(c))?;
    Ok(())
}

pub fn delete_endpoint(conn: &mut Conn<'_>, id: Id) -> AppResult<()> {
    // Attempts and messages go with it (ON DELETE CASCADE); deleted here too, so that SQLite connections without
    // foreign keys enforced leave nothing behind.
    with_conn!(conn, c => {
        let messages = webhook_messages::table.filter(webhook_messages::endpoint_id.eq(id)).select(webhook_messages::id);
        diesel::delete(webhook_attempts::table.filter(webhook_attempts::message_id.eq_any(messages))).execute(c)?;
        diesel::delete(webhook_messages::table.filter(webhook_messages::endpoint_id.eq(id))).execute(c)?;
        diesel::delete(webhook_endpoints::table.find(id)).execute(c)
    })?;
    Ok(())
}

/// A page of endpoints in creation order; only a partner's own when `partner` is given.
pub fn list_endpoints(conn: &mut Conn<'_>, partner: Option<Uuid>, page: PageRequest) -> AppResult<Vec<EndpointRow>> {
    Ok(with_conn!(conn, c => {
        let mut query = webhook_endpoints::table.select(EndpointRow::as_select()).into_boxed();
        if let Some(p) = partner {
            query = query.filter(webhook_endpoints::partner_id.eq(Id(p)));
        }
        if let Some(after) = page.after {
            query = query.filter(webhook_endpoints::id.gt(Id(after)));
        }
        query.order(webhook_endpoints::id).limit(page.fetch()).load(c)
    })?)
}

/// Every enabled endpoint (the fan-out matches each event against them).
pub fn enabled_endpoints(conn: &mut Conn<'_>) -> AppResult<Vec<EndpointRow>> {
    Ok(with_conn!(conn, c => webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .select(EndpointRow::as_select())
        .load(c))?)
}

pub fn insert_messages(conn: &mut Conn<'_>, rows: &[MessageRow]) -> AppResult<()> {
    // Chunks keep each statement under SQLite's bound-parameter limit.
    for chunk in rows.chunks(500) {
        with_conn!(conn, c => diesel::insert_into(webhook_messages::table).values(chunk).execute(c))?;
    }
    Ok(())
}

pub fn list_messages(
    conn: &mut Conn<'_>,
    endpoint: Id,
    status: Option<MessageStatus>,
    page: PageRequest,
) -> AppResult<Vec<MessageRow>> {
    Ok(with_conn!(conn, c => {
        let mut query = webhook_messages::table
            .filter(webhook_messages::endpoint_id.eq(endpoint))
            .select(MessageRow::as_select())
            .into_boxed();
        if let Some(s) = status {
            query = query.filter(webhook_messages::status.eq(s.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(webhook_messages::id.gt(Id(after)));
        }
        query.order(webhook_messages::id).limit(page.fetch()).load(c)
    })?)
}

pub fn find_message(conn: &mut Conn<'_>, endpoint: Id, id: Uuid) -> AppResult<Option<MessageRow>> {
    Ok(with_conn!(conn, c => webhook_messages::table
        .filter(webhook_messages::id.eq(Id(id)))
        .filter(webhook_messages::endpoint_id.eq(endpoint))
        .select(MessageRow::as_select())
        .first(c)
        .optional())?)
}

/// Makes a message due now with a fresh retry schedule (a manual redelivery).
/// Puts a message back to pending with a fresh schedule, unless a dispatcher holds a live claim on it; returns
/// whether it did (the guard is in the statement, so a claim taken since the caller read the row wins).
pub fn reset_message(conn: &mut Conn<'_>, id: Id, now: Ts) -> AppResult<bool> {
    let changed = with_conn!(conn, c => diesel::update(webhook_messages::table
            .find(id)
            .filter(webhook_messages::claimed_until.is_null().or(webhook_messages::claimed_until.le(now))))
        .set((
            webhook_messages::status.eq(MessageStatus::Pending.as_str()),
            webhook_messages::attempts.eq(0),
            webhook_messages::next_attempt_at.eq(now),
            webhook_messages::claimed_until.eq(None::<Ts>),
            webhook_messages::claim_token.eq(None::<Id>),
        ))
        .execute(c))?;
    Ok(changed == 1)
}

pub fn list_attempts(conn: &mut Conn<'_>, message: Id, page: PageRequest) -> AppResult<Vec<AttemptRow>> {
    Ok(with_conn!(conn, c => {
        let mut query = webhook_attempts::table
            .filter(webhook_attempts::message_id.eq(message))
            .select(AttemptRow::as_select())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(webhook_attempts::id.gt(Id(after)));
        }
        query.order(webhook_attempts::id).limit(page.fetch()).load(c)
    })?)
}

/// Lets this transaction's commit return before its WAL reaches the disk (PostgreSQL; SQLite's own setting holds).
/// For the dispatcher's rounds only: what a crash could lose of them is the record of attempts and claims of the
/// last moment, whose messages are then sent again (deliveries are at least once, and receivers deduplicate by
/// `webhook-id`). Each round then costs no wait on the disk, which a busy disk made the dispatcher's bottleneck.
pub fn relax_commit(conn: &mut Conn<'_>) -> AppResult<()> {
    if let Conn::Pg(c) = conn {
        diesel::sql_query("SET LOCAL synchronous_commit = off").execute(*c)?;
    }
    Ok(())
}

/// What one claim took, and which endpoints it asked for more than they had due (nothing more to look for there
/// until new messages are handed out or come due).
#[derive(Debug, Default)]
pub struct Claimed {
    pub messages: Vec<MessageRow>,
    pub endpoints: Vec<EndpointRow>,
    pub dry: Vec<Id>,
}

/// Claims for this dispatcher up to `room` due messages of each endpoint of `wanted` that is still enabled, oldest
/// due first, asking the endpoints in the order given: their lease runs to `until`, and `token` marks them as this
/// claim's, so that only its holder records their outcome. A message whose lease ran out (its dispatcher died) is
/// due again.
///
/// Each endpoint is read apart through `webhook_messages_endpoint_due` and the read stops at its `room`, so a claim
/// reads about as many rows as it takes, however long the backlog (one query over every due row, sorted and then
/// filtered by endpoint, cost a sort of the whole backlog per claim). PostgreSQL skips rows another instance's claim
/// has locked.
pub fn claim(conn: &mut Conn<'_>, now: Ts, until: Ts, token: Id, wanted: &[(Id, usize)]) -> AppResult<Claimed> {
    let ids: Vec<Id> = wanted.iter().map(|(id, _)| *id).collect();
    let endpoints: Vec<EndpointRow> = with_conn!(conn, c => webhook_endpoints::table
        .filter(webhook_endpoints::id.eq_any(&ids))
        .filter(webhook_endpoints::enabled.eq(true))
        .select(EndpointRow::as_select())
        .load(c))?;
    let mut taken: Vec<Id> = Vec::new();
    let mut dry = Vec::new();
    for (endpoint, room) in wanted {
        if *room == 0 || !endpoints.iter().any(|e| e.id == *endpoint) {
            continue;
        }
        let due = webhook_messages::table
            .filter(webhook_messages::endpoint_id.eq(*endpoint))
            .filter(webhook_messages::status.eq(MessageStatus::Pending.as_str()))
            .filter(webhook_messages::next_attempt_at.le(now))
            .filter(
                webhook_messages::claimed_until
                    .is_null()
                    .or(webhook_messages::claimed_until.lt(now)),
            )
            .order(webhook_messages::next_attempt_at)
            .limit(*room as i64)
            .select(webhook_messages::id);
        let found: Vec<Id> = match conn {
            Conn::Pg(c) => due.for_update().skip_locked().load(*c)?,
            Conn::Sqlite(c) => due.load(*c)?,
        };
        if found.len() < *room {
            dry.push(*endpoint);
        }
        taken.extend(found);
    }
    if taken.is_empty() {
        return Ok(Claimed {
            dry,
            ..Claimed::default()
        });
    }
    let messages = with_conn!(conn, c => diesel::update(webhook_messages::table.filter(webhook_messages::id.eq_any(&taken)))
        .set((webhook_messages::claimed_until.eq(until), webhook_messages::claim_token.eq(token)))
        .returning(webhook_messages::all_columns)
        .get_results::<MessageRow>(c))?;
    Ok(Claimed {
        messages,
        endpoints,
        dry,
    })
}

/// The enabled endpoints' ids (those the dispatcher may claim for).
pub fn enabled_endpoint_ids(conn: &mut Conn<'_>) -> AppResult<Vec<Id>> {
    Ok(with_conn!(conn, c => webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .order(webhook_endpoints::id)
        .select(webhook_endpoints::id)
        .load(c))?)
}

pub fn insert_attempts(conn: &mut Conn<'_>, rows: &[AttemptRow]) -> AppResult<()> {
    // Chunks keep each statement under SQLite's bound-parameter limit.
    for chunk in rows.chunks(500) {
        with_conn!(conn, c => diesel::insert_into(webhook_attempts::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// Records messages of one claim as delivered with one answer's status, in one statement; returns those still
/// held by `token` (the others' claims ran out and are another's now, and are left alone).
pub fn finish_delivered(
    conn: &mut Conn<'_>,
    ids: &[Id],
    token: Id,
    now: Ts,
    status_code: Option<i32>,
) -> AppResult<Vec<Id>> {
    Ok(with_conn!(conn, c => diesel::update(
            webhook_messages::table
                .filter(webhook_messages::id.eq_any(ids))
                .filter(webhook_messages::claim_token.eq(token)),
        )
        .set((
            webhook_messages::status.eq(MessageStatus::Delivered.as_str()),
            webhook_messages::attempts.eq(webhook_messages::attempts + 1),
            webhook_messages::next_attempt_at.eq(now),
            webhook_messages::claimed_until.eq(None::<Ts>),
            webhook_messages::claim_token.eq(None::<Id>),
            webhook_messages::last_status_code.eq(status_code),
            webhook_messages::last_error.eq(None::<String>),
            webhook_messages::delivered_at.eq(Some(now)),
        ))
        .returning(webhook_messages::id)
        .get_results(c))?)
}

/// What one attempt did to its message.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    pub delivered: bool,
    /// The next attempt's time; `None` after the last one (given up) or when delivered.
    pub next: Option<Ts>,
    pub status_code: Option<i32>,
    pub error: Option<&'a str>,
}

/// A claimed message's outcome: delivered, or failed with its next attempt (`None`: given up). Applied only while
/// the claim is still `token`'s; returns whether it was.
pub fn finish_message(conn: &mut Conn<'_>, id: Id, token: Id, now: Ts, outcome: &Outcome<'_>) -> AppResult<bool> {
    let Outcome {
        delivered,
        next,
        status_code,
        error,
    } = *outcome;
    let status = match (delivered, next) {
        (true, _) => MessageStatus::Delivered,
        (false, Some(_)) => MessageStatus::Pending,
        (false, None) => MessageStatus::Failed,
    };
    let changed = with_conn!(conn, c => diesel::update(
            webhook_messages::table
                .filter(webhook_messages::id.eq(id))
                .filter(webhook_messages::claim_token.eq(token)),
        )
        .set((
            webhook_messages::status.eq(status.as_str()),
            webhook_messages::attempts.eq(webhook_messages::attempts + 1),
            webhook_messages::next_attempt_at.eq(next.unwrap_or(now)),
            webhook_messages::claimed_until.eq(None::<Ts>),
            webhook_messages::claim_token.eq(None::<Id>),
            webhook_messages::last_status_code.eq(status_code),
            webhook_messages::last_error.eq(error),
            webhook_messages::delivered_at.eq(delivered.then_some(now)),
        ))
        .execute(c))?;
    Ok(changed == 1)
}

/// Gives back the messages of a claim that were not finished (shutdown): due again at once, for any instance.
pub fn release(conn: &mut Conn<'_>, token: Id, ids: &[Id]) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(
            webhook_messages::table
                .filter(webhook_messages::claim_token.eq(token))
                .filter(webhook_messages::id.eq_any(ids)),
        )
        .set((webhook_messages::claimed_until.eq(None::<Ts>), webhook_messages::claim_token.eq(None::<Id>)))
        .execute(c))?)
}

/// Records a delivered message on its endpoint: no longer failing.
pub fn endpoint_succeeded(conn: &mut Conn<'_>, id: Id) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(
            webhook_endpoints::table.find(id).filter(webhook_endpoints::failing_since.is_not_null()),
        )
        .set(webhook_endpoints::failing_since.eq(None::<Ts>))
        .execute(c))?;
    Ok(())
}

/// Records a failed attempt on its endpoint (failing since now, unless it already was); returns since when.
pub fn endpoint_failed(conn: &mut Conn<'_>, id: Id, now: Ts) -> AppResult<Option<Ts>> {
    with_conn!(conn, c => diesel::update(
            webhook_endpoints::table.find(id).filter(webhook_endpoints::failing_since.is_null()),
        )
        .set(webhook_endpoints::failing_since.eq(now))
        .execute(c))?;
    Ok(with_conn!(conn, c => webhook_endpoints::table
        .find(id)
        .select(webhook_endpoints::failing_since)
        .first::<Option<Ts>>(c)
        .optional())?
    .flatten())
}

/// Disables an endpoint that is still failing, with the reason its owner sees.
pub fn disable_endpoint(conn: &mut Conn<'_>, id: Id, reason: &str, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(
            webhook_endpoints::table.find(id).filter(webhook_endpoints::enabled.eq(true)),
        )
        .set((
            webhook_endpoints::enabled.eq(false),
            webhook_endpoints::disabled_reason.eq(reason),
            webhook_endpoints::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Messages not delivered yet (the pending gauge).
pub fn pending_count(conn: &mut Conn<'_>) -> AppResult<i64> {
    Ok(with_conn!(conn, c => webhook_messages::table
        .filter(webhook_messages::status.eq(MessageStatus::Pending.as_str()))
        .count()
        .get_result(c))?)
}

/// Placed events that happened in `[since, until)`, in the order they happened (`occurred_at`, then `seq`), at
/// most `limit` (a replay: its filter and its order agree, so a page ends at an instant the next one starts from).
pub fn events_between(conn: &mut Conn<'_>, since: Ts, until: Ts, limit: i64) -> AppResult<Vec<EventRow>> {
    Ok(with_conn!(conn, c => events::table
        .filter(events::position.is_not_null())
        .filter(events::occurred_at.ge(since))
        .filter(events::occurred_at.lt(until))
        .order((events::occurred_at, events::seq))
        .limit(limit)
        .select(EventRow::as_select())
        .load(c))?)
}
