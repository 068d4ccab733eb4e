//! Writing events (the outbox), placing them in the feed, and reading the feed as an internal consumer.

use std::time::Duration;

use actix_web::web;
use uuid::Uuid;

use serde_json::json;

use super::model::{EventRow, EventType, FeedScope, NewEvent, Subject, SubjectType};
use super::repo;
use crate::auth::{Bearer, Principal, Role};
use crate::config::Settings;
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
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

/// The age in seconds of the oldest committed event not placed yet (0 when none waits), at `now`.
pub fn oldest_unplaced_age(db: &Db, now: chrono::DateTime<chrono::Utc>) -> AppResult<f64> {
    let oldest = db.read(repo::oldest_unplaced)?;
    Ok(oldest.map_or(0.0, |t| (now - t.0).num_milliseconds().max(0) as f64 / 1000.0))
}

/// Who may read the feed, and what: admins everything, store staff their stores' events, a courier partner its
/// own pickups' events; other roles none.
pub fn feed_scope(principal: &Principal) -> AppResult<FeedScope> {
    match (principal.role, principal.partner_id) {
        (Role::Admin, _) => Ok(FeedScope::All),
        (Role::StoreStaff, _) => Ok(FeedScope::Stores(principal.store_ids.iter().copied().map(Id).collect())),
        (Role::Courier, Some(partner)) => Ok(FeedScope::Partner(Id(partner))),
        _ => Err(AppError::Forbidden),
    }
}

/// One page of the feed for the caller: placed events after position `after` that its scope sees, of `types` when
/// given, in feed order.
pub fn feed(
    db: &Db,
    bearer: &Bearer,
    after: i64,
    types: Option<Vec<EventType>>,
    limit: i64,
) -> AppResult<Vec<EventRow>> {
    let types: Option<Vec<String>> = types.map(|ts| ts.iter().map(|t| t.as_str().to_owned()).collect());
    bearer.read(db, |conn, principal| {
        let scope = feed_scope(principal)?;
        repo::feed(conn, &scope, after, types.as_deref(), limit)
    })
}

/// When staff alerts are raised (see [`raise_alerts`]).
#[derive(Debug, Clone, Copy)]
pub struct AlertSettings {
    /// A reservation whose hold ends within this is about to expire.
    pub reservation_warning: chrono::Duration,
    /// A waitlist longer than this is long.
    pub waitlist_length: i64,
}

impl From<&Settings> for AlertSettings {
    fn from(settings: &Settings) -> AlertSettings {
        AlertSettings {
            reservation_warning: chrono::Duration::hours(2),
            waitlist_length: settings.alert_waitlist_length,
        }
    }
}

/// Alerts looked at per kind and round; the rest wait for the next round.
const ALERT_BATCH: i64 = 200;

/// How long before its due time an issued loan is `loan.due_soon`.
pub const DUE_SOON: chrono::Duration = chrono::Duration::hours(24);

/// One round of the staff alerts, as of `now` (a step of the sweeper; tests pass a made-up `now`): a loan overdue
/// (`loan.overdue`, once per loan), a loan due within [`DUE_SOON`] (`loan.due_soon`, once per loan and due time),
/// a reservation whose hold ends within the warning (`loan.reservation_expiring`, once per hold), a ticket past its
/// promise and not ready (`ticket.past_promise`, once per ticket and promise), a store's waitlist for a series
/// longer than the setting (`waitlist.long`, once until it falls back). Each alert is recorded in `event_alerts`
/// in the transaction that emits it, so that several instances raise it once.
///
/// The scans only propose: each alert is raised in a transaction of its own that takes its subject's locks as the
/// changes of that subject do (a loan: its ticket, then the ticket's loans; a ticket: its row; a waitlist: its
/// queue's lock) and checks the condition again under them, so that an alert never races the change that makes it
/// untrue (a loan returned while its overdue alert is raised is either returned first, and not alerted, or alerted
/// first, and its return follows the alert in the feed). Returns how many it raised.
pub fn raise_alerts(db: &Db, now: Ts, settings: &AlertSettings) -> AppResult<usize> {
    let warn_by = Ts(now.0 + settings.reservation_warning);
    let soon_by = Ts(now.0 + DUE_SOON);
    let mut raised = 0;
    for (loan, ticket, _, _) in db.read(|conn| repo::overdue_loans(conn, now, ALERT_BATCH))? {
        raised += db.write(|conn| {
            let Some(row) = lock_loan(conn, ticket, loan)? else {
                return Ok(0);
            };
            if row.state != "issued" || row.due_at.is_none_or(|d| d >= now) {
                return Ok(0);
            }
            if !repo::mark_alert(conn, EventType::LoanOverdue, loan, "", now)? {
                return Ok(0);
            }
            let payload = json!({"loan_id": loan.0, "ticket_id": ticket.0, "due_at": row.due_at.map(|d| d.0)});
            emit_alert(
                conn,
                EventType::LoanOverdue,
                Subject::loan(loan.0, row.store_id.0),
                payload,
            )?;
            Ok(1)
        })?;
    }
    for (loan, ticket, _, _) in db.read(|conn| repo::due_soon_loans(conn, now, soon_by, ALERT_BATCH))? {
        raised += db.write(|conn| {
            let Some(row) = lock_loan(conn, ticket, loan)? else {
                return Ok(0);
            };
            let Some(due) = row
                .due_at
                .filter(|d| row.state == "issued" && *d >= now && *d <= soon_by)
            else {
                return Ok(0);
            };
            if !repo::mark_alert(conn, EventType::LoanDueSoon, loan, &due_marker(due), now)? {
                return Ok(0);
            }
            let payload = json!({"loan_id": loan.0, "ticket_id": ticket.0, "due_at": due.0});
            emit_alert(
                conn,
                EventType::LoanDueSoon,
                Subject::loan(loan.0, row.store_id.0),
                payload,
            )?;
            Ok(1)
        })?;
    }
    for (loan, ticket, _, _) in db.read(|conn| repo::expiring_reservations(conn, now, warn_by, ALERT_BATCH))? {
        raised += db.write(|conn| {
            let Some(row) = lock_loan(conn, ticket, loan)? else {
                return Ok(0);
            };
            let Some(hold) = row
                .hold_until
                .filter(|h| row.state == "reserved" && *h > now && *h <= warn_by)
            else {
                return Ok(0);
            };
            if !repo::mark_alert(
                conn,
                EventType::LoanReservationExpiring,
                loan,
                &hold.0.to_rfc3339(),
                now,
            )? {
                return Ok(0);
            }
            let payload = json!({"loan_id": loan.0, "ticket_id": ticket.0, "hold_until": hold.0});
            emit_alert(
                conn,
                EventType::LoanReservationExpiring,
                Subject::loan(loan.0, row.store_id.0),
                payload,
            )?;
            Ok(1)
        })?;
    }
    for (ticket, _, _, _, _) in db.read(|conn| repo::tickets_past_promise(conn, now, ALERT_BATCH))? {
        raised += db.write(|conn| {
            let Some(row) = crate::tickets::lock_ticket(conn, ticket)? else {
                return Ok(0);
            };
            let still_late =
                row.ready_at.is_none() && !["closed", "cancelled", "ready_for_pickup"].contains(&row.status.as_str());
            let Some(promise) = row.promised_at.filter(|p| still_late && *p < now) else {
                return Ok(0);
            };
            if !repo::mark_alert(conn, EventType::TicketPastPromise, ticket, &promise.0.to_rfc3339(), now)? {
                return Ok(0);
            }
            let payload = json!({"ticket_id": ticket.0, "number": row.number, "status": row.status,
                                 "promised_at": promise.0});
            emit_alert(
                conn,
                EventType::TicketPastPromise,
                Subject::ticket(ticket.0, row.store_id.0),
                payload,
            )?;
            Ok(1)
        })?;
    }
    raised += long_waitlists(db, now, settings.waitlist_length)?;
    Ok(raised)
}

/// The marker of a `loan.due_soon` alert: the due time it is about (a loan extended since is due soon again).
fn due_marker(due: Ts) -> String {
    due.0.timestamp_micros().to_string()
}

/// Locks loan `loan` of ticket `ticket` in the order every change of a loan takes (the ticket, then its loans) and
/// reads it after the locks; none when it is gone or belongs to another ticket.
fn lock_loan(conn: &mut Conn<'_>, ticket: Id, loan: Id) -> AppResult<Option<crate::loans::LoanRow>> {
    crate::tickets::lock_ticket(conn, ticket)?;
    crate::tickets::lock_loan_of(conn, ticket)?;
    Ok(crate::loans::repo::find(conn, loan)?.filter(|row| row.ticket_id == ticket))
}

/// The `waitlist.long` step of [`raise_alerts`]: raised for each (store, series) queue longer than `threshold` not
/// raised yet, counted again under the queue's lock (the lock a transaction freeing one of its loaners takes); a
/// queue that fell back is forgotten, to be raised again when it grows.
fn long_waitlists(db: &Db, now: Ts, threshold: i64) -> AppResult<usize> {
    let mut long: std::collections::HashMap<Id, Vec<String>> = std::collections::HashMap::new();
    let mut raised = 0;
    for (store, series, waiting) in db.read(repo::waitlists)? {
        if waiting <= threshold {
            continue;
        }
        let marker = series.0.to_string();
        raised += db.write(|conn| {
            crate::loans::repo::lock_queue(conn, store, series, crate::loans::repo::Server::Releaser)?;
            let waiting = repo::waiting_in(conn, store, series)?;
            if waiting <= threshold || !repo::mark_alert(conn, EventType::WaitlistLong, store, &marker, now)? {
                return Ok(0);
            }
            let subject = Subject {
                kind: SubjectType::Store,
                id: store.0,
                store_id: Some(store.0),
                partner_id: None,
            };
            let payload = json!({"store_id": store.0, "series_id": series.0, "waiting": waiting,
                                 "threshold": threshold});
            emit_alert(conn, EventType::WaitlistLong, subject, payload)?;
            Ok(1)
        })?;
        long.entry(store).or_default().push(marker);
    }
    db.write(|conn| {
        let stores: std::collections::HashSet<Id> = repo::raised(conn, EventType::WaitlistLong)?
            .into_iter()
            .map(|(store, _)| store)
            .collect();
        for store in stores {
            let keep = long.get(&store).cloned().unwrap_or_default();
            repo::clear_alerts(conn, EventType::WaitlistLong, store, &keep)?;
        }
        Ok(())
    })?;
    Ok(raised)
}

fn emit_alert(
    conn: &mut Conn<'_>,
    event_type: EventType,
    subject: Subject,
    payload: serde_json::Value,
) -> AppResult<()> {
    emit_in(
        conn,
        NewEvent {
            event_type,
            subject,
            payload,
            internal: None,
        },
    )?;
    Ok(())
}
