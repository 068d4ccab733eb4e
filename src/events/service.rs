//! Writing events (the outbox), placing them in the feed, and reading the feed as an internal consumer.

use std::time::Duration;

use actix_web::web;
use uuid::Uuid;

use super::model::{EventRow, NewEvent};
use super::repo;
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::state::AppState;

/// Writes `event` in the caller's transaction, which must hold the subject's row lock (so that one subject's
/// events are written in the order of their commits). Returns the event's id.
pub fn emit_in(conn: &mut Conn<'_>, event: NewEvent) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    let row = EventRow {
        seq: 0,
        id: Id(id),
        event_type: event.event_type.as_str().to_owned(),
        occurred_at: Ts(crate::now()),
        subject_type: event.subject.kind.as_str().to_owned(),
        subject_id: Id(event.subject.id),
        store_id: event.subject.store_id.map(Id),
        partner_id: event.subject.partner_id.map(Id),
        payload: serde_json::to_string(&event.payload).map_err(anyhow::Error::from)?,
        internal: event
            .internal
            .map(|v| serde_json::to_string(&v))
            .transpose()
            .map_err(anyhow::Error::from)?,
        txid: 0,
        position: None,
    };
    repo::insert(conn, &row)?;
    Ok(id)
}

/// Events placed per sequencer transaction.
const PLACE_BATCH: i64 = 1_000;

/// Places every committed event it may (see [`repo::place`]) in feed order; returns how many. Safe to run on every
/// instance at once: one places, the others find the lock taken and place nothing.
pub fn sequence(db: &Db) -> AppResult<i64> {
    let mut total = 0;
    loop {
        let placed = db.write(|conn| repo::place(conn, PLACE_BATCH))?;
        total += placed;
        if placed < PLACE_BATCH {
            return Ok(total);
        }
    }
}

/// Runs one step of the internal consumer `name`: in one transaction, locks its cursor, reads up to `batch` placed
/// events after it, hands them to `handle` (which writes what they cause in the same transaction), and moves the
/// cursor past them. Returns how many events it handled; 0 when there were none, or when another instance holds
/// the consumer (PostgreSQL). An error in `handle` rolls the whole step back: the events are handled again next time.
pub fn consume<F>(db: &Db, name: &str, batch: i64, handle: F) -> AppResult<usize>
where
    F: FnOnce(&mut Conn<'_>, &[EventRow]) -> AppResult<()>,
{
    db.write(|conn| {
        let now = Ts(crate::now());
        let Some(position) = repo::lock_consumer(conn, name, now)? else {
            return Ok(0);
        };
        let events = repo::after(conn, position, batch)?;
        let Some(last) = events.last().and_then(|e| e.position) else {
            return Ok(0);
        };
        handle(conn, &events)?;
        repo::advance_consumer(conn, name, last, now)?;
        Ok(events.len())
    })
}

/// Committed events the sequencer has not placed yet (the outbox backlog's first stage).
pub fn backlog(db: &Db) -> AppResult<i64> {
    db.read(repo::unplaced)
}

/// Places committed events in the feed every `events_interval` until shutdown begins; join the returned thread to
/// wait for a placement in progress. Every instance may run one (see [`sequence`]).
pub fn spawn_sequencer(state: web::Data<AppState>) -> Option<std::thread::JoinHandle<()>> {
    let interval: Duration = state.settings.events_interval;
    if interval.is_zero() {
        return None;
    }
    let spawned = std::thread::Builder::new()
        .name("event-sequencer".into())
        .spawn(move || {
            while !state.shutdown.wait(interval) {
                if let Err(e) = sequence(&state.db) {
                    tracing::warn!(error = %e, "placing events in the feed failed; retrying next round");
                }
            }
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!(error = %e, "could not start the event sequencer");
            None
        }
    }
}
