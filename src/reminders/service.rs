//! Planning reminders from the event feed, and sending the ones that are due.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::channel::{Channel, HttpSmsGateway, LogChannel, Sms, mask_tracking_token};
use super::model::{ReminderKind, ReminderRow, ReminderSettings, ReminderState};
use super::repo::{self, Ending, TicketFacts};
use super::rules::{self, MAX_ATTEMPTS, MessageContext};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::events::{self, EventRow, EventType};
use crate::state::AppState;
use crate::tickets::TicketEventRow;

/// The consumer's name in `event_consumers`.
pub const CONSUMER: &str = "reminders";
/// Events read per consumer step.
const PLAN_BATCH: i64 = 200;
/// Reminders claimed per round.
const SEND_BATCH: i64 = 50;
/// How long a sender holds what it claimed: far longer than a gateway's timeout, so a claim only lapses when its
/// sender died, and another instance then sends what it left.
const CLAIM_LEASE: Duration = Duration::minutes(5);
/// Events older than this plan no news for the customer (a ready phone and a loaner's due time still are).
const STALE_AFTER: Duration = Duration::hours(24);

/// The tracking link of a token, as the customer opens it.
pub fn tracking_link(public_base_url: &str, token: &str) -> String {
    format!(
        "{}/api/v1/public/tracking/{token}",
        public_base_url.trim_end_matches('/')
    )
}

/// Reads the feed past the `reminders` consumer's cursor and plans the messages its events call for, in the same
/// transaction as the cursor's advance (a redelivered event finds its reminders planned: `dedupe_key`). Returns how
/// many events it read.
pub fn plan(db: &Db, public_base_url: &str) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let read = events::consume(db, CONSUMER, PLAN_BATCH, |conn, events| {
            for event in events {
                plan_event(conn, event, public_base_url)?;
            }
            // The reminders are the only reader of `internal` (the opening's tracking token, now in the planned
            // message's link): it is not kept in the outbox past this step.
            let used: Vec<Id> = events.iter().filter(|e| e.internal.is_some()).map(|e| e.id).collect();
            events::repo::clear_internal(conn, &used)?;
            Ok(())
        })?;
        total += read;
        if read < PLAN_BATCH as usize {
            return Ok(total);
        }
    }
}

const TICKET_KINDS: [&str; 3] = ["ticket_opened", "quote_waiting", "ready_for_pickup"];
const LOAN_KINDS: [&str; 2] = ["loaner_due", "loaner_overdue"];

struct Planned<'a> {
    ticket: &'a TicketFacts,
    subject: Id,
    kind: ReminderKind,
    key: String,
    sequence_no: i32,
    event_id: Id,
    link: Option<String>,
    due_at: Ts,
}

fn insert(conn: &mut Conn<'_>, p: Planned<'_>) -> AppResult<bool> {
    let now = Ts(crate::now());
    repo::insert_planned(
        conn,
        &ReminderRow {
            id: Id(Uuid::now_v7()),
            dedupe_key: p.key,
            ticket_id: p.ticket.id,
            subject_id: p.subject,
            customer_id: p.ticket.customer_id,
            store_id: p.ticket.store_id,
            kind: p.kind.as_str().to_owned(),
            sequence_no: p.sequence_no,
            event_id: p.event_id,
            link: p.link,
            due_at: p.due_at,
            state: ReminderState::Pending.as_str().to_owned(),
            attempts: 0,
            claimed_until: None,
            claim_token: None,
            body: None,
            channel: None,
            sent_at: None,
            reason: None,
            created_at: now,
            updated_at: now,
        },
    )
}

fn micros(t: Ts) -> i64 {
    t.0.timestamp_micros()
}

/// What one event calls for: new reminders, or the end of pending ones whose matter is over.
fn plan_event(conn: &mut Conn<'_>, event: &EventRow, base: &str) -> AppResult<()> {
    let Some(event_type) = EventType::parse(&event.event_type) else {
        return Ok(());
    };
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
    let now = Ts(crate::now());
    let at = event.occurred_at;
    // A feed read long after the fact (reminders switched on late, a consumer down for days) tells customers
    // nothing stale: news older than a day is not announced; what is over is still cancelled.
    let fresh = now.0 - at.0 <= STALE_AFTER;
    let subject = event.subject_id;
    let on_ticket = event.subject_type == "ticket";
    match event_type {
        EventType::TicketOpened if on_ticket && fresh => {
            let Some(ticket) = repo::ticket_facts(conn, subject)? else {
                return Ok(());
            };
            let internal: Value = event
                .internal
                .as_deref()
                .and_then(|i| serde_json::from_str(i).ok())
                .unwrap_or(Value::Null);
            let link = internal
                .get("tracking_token")
                .and_then(Value::as_str)
                .map(|token| tracking_link(base, token));
            insert(
                conn,
                Planned {
                    ticket: &ticket,
                    subject,
                    kind: ReminderKind::TicketOpened,
                    key: format!("ticket_opened:{}", subject.0),
                    sequence_no: 1,
                    event_id: Id(event.id.0),
                    link,
                    due_at: at,
                },
            )?;
        }
        EventType::TicketStatusChanged if on_ticket => {
            let (from, to) = (text("from"), text("to"));
            match to.as_deref() {
                Some(end @ ("closed" | "cancelled")) => {
                    repo::cancel_pending(conn, subject, &TICKET_KINDS, &format!("ticket_{end}"), now)?;
                }
                _ => {
                    if from.as_deref() == Some("ready_for_pickup") {
                        repo::cancel_pending(conn, subject, &["ready_for_pickup"], "ticket_left_ready", now)?;
                    }
                    if from.as_deref() == Some("awaiting_approval") {
                        repo::cancel_pending(conn, subject, &["quote_waiting"], "quote_answered", now)?;
                    }
                }
            }
            // A ready phone is worth announcing however late: the sender checks it is still waiting.
            if to.as_deref() == Some("ready_for_pickup") {
                let Some(ticket) = repo::ticket_facts(conn, subject)? else {
                    return Ok(());
                };
                insert(
                    conn,
                    Planned {
                        ticket: &ticket,
                        subject,
                        kind: ReminderKind::ReadyForPickup,
                        key: format!("ready_for_pickup:{}:1", event.id.0),
                        sequence_no: 1,
                        event_id: Id(event.id.0),
                        link: None,
                        due_at: at,
                    },
                )?;
            }
        }
        EventType::QuoteIssued if on_ticket && fresh => {
            let Some(ticket) = repo::ticket_facts(conn, subject)? else {
                return Ok(());
            };
            insert(
                conn,
                Planned {
                    ticket: &ticket,
                    subject,
                    kind: ReminderKind::QuoteWaiting,
                    key: format!("quote_waiting:{}", event.id.0),
                    sequence_no: 1,
                    event_id: Id(event.id.0),
                    link: None,
                    due_at: at,
                },
            )?;
        }
        EventType::QuoteApproved | EventType::QuoteDeclined if on_ticket => {
            repo::cancel_pending(conn, subject, &["quote_waiting"], "quote_answered", now)?;
        }
        EventType::LoanIssued | EventType::LoanExtended | EventType::LoanDueSoon | EventType::LoanOverdue => {
            let Some((ticket_id, _, Some(due))) = repo::loan_facts(conn, subject)? else {
                return Ok(());
            };
            let Some(ticket) = repo::ticket_facts(conn, ticket_id)? else {
                return Ok(());
            };
            let (kind, send_at) = match event_type {
                EventType::LoanOverdue => (ReminderKind::LoanerOverdue, at),
                EventType::LoanDueSoon => (ReminderKind::LoanerDue, at),
                // Issued: the day before it is due, unless the loan is shorter than a day (`loan.due_soon` plans it).
                // Extended: the day before the new due time, or at once when that is within a day.
                _ => match Ts(due.0 - Duration::days(1)) {
                    before if before > at => (ReminderKind::LoanerDue, before),
                    _ if event_type == EventType::LoanExtended && due > at => (ReminderKind::LoanerDue, at),
                    _ => return Ok(()),
                },
            };
            insert(
                conn,
                Planned {
                    ticket: &ticket,
                    subject,
                    kind,
                    key: format!("{}:{}:{}", kind.as_str(), subject.0, micros(due)),
                    sequence_no: 1,
                    event_id: Id(event.id.0),
                    link: None,
                    due_at: send_at,
                },
            )?;
        }
        EventType::LoanReturned | EventType::LoanLost => {
            repo::cancel_pending(conn, subject, &LOAN_KINDS, "loan_ended", now)?;
        }
        EventType::PickupStatusChanged if fresh && text("to").as_deref() == Some("in_transit") => {
            let Some((ticket_id, direction, _)) = repo::pickup_facts(conn, subject)? else {
                return Ok(());
            };
            if direction != "outbound" {
                return Ok(());
            }
            let Some(ticket) = repo::ticket_facts(conn, ticket_id)? else {
                return Ok(());
            };
            insert(
                conn,
                Planned {
                    ticket: &ticket,
                    subject,
                    kind: ReminderKind::CourierOnTheWay,
                    key: format!("courier_on_the_way:{}", subject.0),
                    sequence_no: 1,
                    event_id: Id(event.id.0),
                    link: None,
                    due_at: at,
                },
            )?;
        }
        // A leg moved to another partner is not cancelled for the customer (see `courier::announce_reassignment`).
        EventType::PickupCancelled if text("reason").as_deref() != Some("reassigned") => {
            repo::cancel_pending(conn, subject, &["courier_on_the_way"], "pickup_cancelled", now)?;
        }
        _ => {}
    }
    Ok(())
}

/// What one round of sending did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages the channel accepted.
    pub sent: usize,
    /// Attempts the channel refused (each retried later, until the last).
    pub failed_attempts: usize,
    /// Messages given up after their last failed attempt.
    pub failed: usize,
    /// Messages not sent to customers without consent (or without a customer record).
    pub skipped: usize,
    /// Messages whose matter was over (ticket closed, loaner returned).
    pub cancelled: usize,
    /// Messages due in quiet hours, moved to their end.
    pub deferred: usize,
    /// Claims another sender took over meanwhile (its lease ran out): nothing recorded by this one.
    pub lost: usize,
    /// Reminders claimed and given back unsent because shutdown began.
    pub released: usize,
}

enum Decision {
    Cancel(String),
    Skip(&'static str),
    Defer(DateTime<Utc>),
    Send { phone: String, text: String },
}

fn decide(
    conn: &mut Conn<'_>,
    r: &ReminderRow,
    settings: &ReminderSettings,
    now: DateTime<Utc>,
) -> AppResult<Decision> {
    let Some(kind) = ReminderKind::parse(&r.kind) else {
        return Ok(Decision::Cancel("unknown_kind".into()));
    };
    let Some(ticket) = repo::ticket_facts(conn, r.ticket_id)? else {
        return Ok(Decision::Cancel("ticket_gone".into()));
    };
    let mut due_text = None;
    match kind {
        ReminderKind::LoanerDue | ReminderKind::LoanerOverdue => match repo::loan_facts(conn, r.subject_id)? {
            // A loan extended since the message was planned is no longer due tomorrow (its `loan.due_soon` plans
            // the message for the new time).
            Some((_, state, Some(due)))
                if kind == ReminderKind::LoanerDue && state == "issued" && due.0 - now > Duration::hours(36) =>
            {
                return Ok(Decision::Cancel("loan_due_later".into()));
            }
            Some((_, state, due)) if state == "issued" => {
                due_text = due.map(|d| {
                    let tz: chrono_tz::Tz = ticket.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
                    d.0.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
                });
            }
            Some((_, state, _)) => return Ok(Decision::Cancel(format!("loan_{state}"))),
            None => return Ok(Decision::Cancel("loan_gone".into())),
        },
        ReminderKind::CourierOnTheWay => match repo::pickup_facts(conn, r.subject_id)? {
            Some((_, _, status)) if status == "picked_up" || status == "in_transit" => {}
            Some((_, _, status)) => return Ok(Decision::Cancel(format!("pickup_{status}"))),
            None => return Ok(Decision::Cancel("pickup_gone".into())),
        },
        ReminderKind::QuoteWaiting if repo::quote_answered_since(conn, r.ticket_id, r.event_id)? => {
            return Ok(Decision::Cancel("quote_answered".into()));
        }
        ReminderKind::ReadyForPickup if ticket.status != "ready_for_pickup" => {
            return Ok(Decision::Cancel(format!("ticket_{}", ticket.status)));
        }
        _ if ticket.status == "closed" || ticket.status == "cancelled" => {
            return Ok(Decision::Cancel(format!("ticket_{}", ticket.status)));
        }
        _ => {}
    }
    let Some(customer) = ticket.customer_id else {
        return Ok(Decision::Skip("no_customer_record"));
    };
    let Some((phone, consent)) = repo::customer_contact(conn, customer)? else {
        return Ok(Decision::Skip("no_customer_record"));
    };
    if !consent {
        return Ok(Decision::Skip("no_consent"));
    }
    if let Some(end) = rules::quiet_until(now, &ticket.time_zone, settings.quiet_start, settings.quiet_end) {
        return Ok(Decision::Defer(end));
    }
    let language = rules::language_for(&phone, settings.language);
    let text = rules::render(
        kind,
        language,
        &MessageContext {
            ticket_number: ticket.number,
            store_name: ticket.store_name,
            link: r.link.clone(),
            due: due_text,
        },
    );
    Ok(Decision::Send { phone, text })
}

/// Sends the reminders due at `now` through `channel`: claims them (so another instance sending at the same time
/// takes others), decides each (cancelled when its matter is over, skipped without consent, deferred to the end of
/// quiet hours in the store's time zone), sends the rest outside any transaction, and records each outcome while
/// it still holds the claim: a message sent goes on the ticket's timeline and, for ready-for-pickup, plans the next
/// of the sequence; a failed attempt is retried with backoff, and given up after [`MAX_ATTEMPTS`].
pub fn send_due(db: &Db, channel: &dyn Channel, settings: &ReminderSettings, now: DateTime<Utc>) -> AppResult<Round> {
    send_due_until(db, channel, settings, now, &|| false)
}

/// [`send_due`], asking `stop` before each message: once it says so, the reminders claimed and not yet sent are
/// given back at once (not left locked until their lease runs out) and the round ends.
///
/// The clock is `now` plus the time the round has run, so a long round's later claims are not expired already;
/// each claim is extended just before its message goes out, so slow sends never outlast their lease.
pub fn send_due_until(
    db: &Db,
    channel: &dyn Channel,
    settings: &ReminderSettings,
    now: DateTime<Utc>,
    stop: &dyn Fn() -> bool,
) -> AppResult<Round> {
    let started = std::time::Instant::now();
    let mut round = Round::default();
    loop {
        if stop() {
            return Ok(round);
        }
        let batch = Batch {
            token: Id(Uuid::now_v7()),
            base: now,
            started,
        };
        // Due times and what is recorded follow the round's `now`; only the lease runs on the round's clock, so that
        // a long round's later claims are live.
        let lease_until = batch.now() + CLAIM_LEASE;
        let claimed = db.write(|conn| repo::claim(conn, Ts(now), Ts(lease_until), batch.token, SEND_BATCH))?;
        for (n, reminder) in claimed.iter().enumerate() {
            if stop() {
                let rest: Vec<Id> = claimed[n..].iter().map(|r| r.id).collect();
                round.released += db.write(|conn| repo::unclaim(conn, &rest, batch.token))?;
                return Ok(round);
            }
            send_one(db, channel, settings, reminder, &batch, now, &mut round)?;
        }
        if (claimed.len() as i64) < SEND_BATCH {
            return Ok(round);
        }
    }
}

/// One claim of a round, and the round's clock.
struct Batch {
    token: Id,
    base: DateTime<Utc>,
    started: std::time::Instant,
}

impl Batch {
    /// The round's `now` plus the time it has run.
    fn now(&self) -> DateTime<Utc> {
        crate::to_micros(self.base + Duration::from_std(self.started.elapsed()).unwrap_or_default())
    }
}

fn send_one(
    db: &Db,
    channel: &dyn Channel,
    settings: &ReminderSettings,
    r: &ReminderRow,
    batch: &Batch,
    now: DateTime<Utc>,
    round: &mut Round,
) -> AppResult<()> {
    let token = batch.token;
    let masked = r.link.as_deref().map(mask_tracking_token);
    fn ending<'a>(state: ReminderState, link: Option<&'a str>, reason: &'a str, attempts: i32) -> Ending<'a> {
        Ending {
            state: state.as_str(),
            link,
            reason: Some(reason),
            body: None,
            channel: None,
            sent_at: None,
            attempts,
        }
    }
    // Decided under the claim, just before sending, in the transaction that renews the claim for the message: what
    // happened since the claim (a quote answered, a ticket closed) is seen, and a claim that ran short while earlier
    // messages were sent is renewed, or left to the sender that took it over.
    let until = Ts(batch.now() + CLAIM_LEASE);
    let decided = db.write(|conn| {
        if repo::lock_claimed(conn, r.id, token)?.is_none() {
            return Ok(None);
        }
        let decision = decide(conn, r, settings, now)?;
        match &decision {
            Decision::Send { .. } => {
                if !repo::extend_claim(conn, r.id, token, until)? {
                    return Ok(None);
                }
            }
            Decision::Cancel(reason) => repo::end(
                conn,
                r.id,
                &ending(ReminderState::Cancelled, masked.as_deref(), reason, r.attempts),
                Ts(now),
            )?,
            Decision::Skip(reason) => repo::end(
                conn,
                r.id,
                &ending(ReminderState::Skipped, masked.as_deref(), reason, r.attempts),
                Ts(now),
            )?,
            Decision::Defer(until) => repo::release(conn, r.id, Ts(*until), r.attempts, Some("quiet_hours"), Ts(now))?,
        }
        Ok(Some(decision))
    })?;
    let (phone, text) = match decided {
        None => {
            tracing::warn!(reminder = %r.id.0, "a reminder's claim lapsed before it was sent; another sender has it");
            round.lost += 1;
            return Ok(());
        }
        Some(Decision::Send { phone, text }) => (phone, text),
        Some(Decision::Cancel(_)) => {
            round.cancelled += 1;
            return Ok(());
        }
        Some(Decision::Skip(_)) => {
            round.skipped += 1;
            return Ok(());
        }
        Some(Decision::Defer(_)) => {
            round.deferred += 1;
            return Ok(());
        }
    };
    let outcome = channel.send(&Sms {
        id: r.id.0,
        phone: &phone,
        text: &text,
    });
    let attempts = r.attempts + 1;
    // What is kept of a message once it ended holds no whole tracking token (the customer got the link).
    let kept_text = mask_tracking_token(&text);
    let kept = db.write(|conn| {
        if repo::lock_claimed(conn, r.id, token)?.is_none() {
            return Ok(false);
        }
        match &outcome {
            Ok(()) => record_sent(conn, r, channel.name(), &phone, &kept_text, attempts, now)?,
            Err(reason) if attempts >= MAX_ATTEMPTS => repo::end(
                conn,
                r.id,
                &Ending {
                    state: ReminderState::Failed.as_str(),
                    link: masked.as_deref(),
                    reason: Some(reason),
                    body: Some(&kept_text),
                    channel: Some(channel.name()),
                    sent_at: None,
                    attempts,
                },
                Ts(now),
            )?,
            Err(reason) => repo::release(
                conn,
                r.id,
                Ts(now + rules::retry_after(attempts)),
                attempts,
                Some(reason),
                Ts(now),
            )?,
        }
        Ok(true)
    })?;
    match outcome {
        _ if !kept => {
            tracing::warn!(reminder = %r.id.0, "a reminder's claim lapsed while it was being sent; another sender has it");
            round.lost += 1;
        }
        Ok(()) => round.sent += 1,
        Err(reason) => {
            tracing::warn!(reminder = %r.id.0, attempts, %reason, "sending a reminder failed");
            round.failed_attempts += 1;
            if attempts >= MAX_ATTEMPTS {
                round.failed += 1;
            }
        }
    }
    Ok(())
}

fn record_sent(
    conn: &mut Conn<'_>,
    r: &ReminderRow,
    channel: &str,
    phone: &str,
    text: &str,
    attempts: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    repo::end(
        conn,
        r.id,
        &Ending {
            state: ReminderState::Sent.as_str(),
            link: r.link.as_deref().map(mask_tracking_token).as_deref(),
            reason: None,
            body: Some(text),
            channel: Some(channel),
            sent_at: Some(Ts(now)),
            attempts,
        },
        Ts(now),
    )?;
    let note = format!(
        "{} #{} by {channel} to {}",
        r.kind,
        r.sequence_no,
        crate::tracking::rules::mask_phone(phone)
    );
    let mut entry = TicketEventRow::new(r.ticket_id, None, "reminder_sent", None, None, Some(&note));
    entry.at = Ts(now);
    crate::tickets::record_events(conn, &[entry])?;
    if r.kind == ReminderKind::ReadyForPickup.as_str() {
        if let Some((next_no, next_at)) = rules::next_ready(r.sequence_no, now) {
            let Some(ticket) = repo::ticket_facts(conn, r.ticket_id)? else {
                return Ok(());
            };
            insert(
                conn,
                Planned {
                    ticket: &ticket,
                    subject: r.subject_id,
                    kind: ReminderKind::ReadyForPickup,
                    key: format!("ready_for_pickup:{}:{next_no}", r.event_id.0),
                    sequence_no: next_no,
                    event_id: r.event_id,
                    link: None,
                    due_at: Ts(next_at),
                },
            )?;
        }
    }
    Ok(())
}

/// The channel the settings name: the HTTP gateway when configured, the log otherwise.
pub fn channel_of(settings: &ReminderSettings) -> Box<dyn Channel> {
    match &settings.gateway {
        Some(gateway) => Box::new(HttpSmsGateway::new(gateway.clone())),
        None => Box::new(LogChannel),
    }
}

/// Plans and sends reminders every `reminders.interval` until shutdown begins; join the returned thread to wait
/// for a round in progress. Every instance may run one: planning holds the consumer's cursor, sending claims.
pub fn spawn_sender(state: actix_web::web::Data<AppState>) -> Option<std::thread::JoinHandle<()>> {
    let interval = state.settings.reminders.interval;
    if interval.is_zero() {
        return None;
    }
    let spawned = std::thread::Builder::new().name("reminders".into()).spawn(move || {
        let settings = state.settings.reminders.clone();
        let channel = channel_of(&settings);
        while !state.shutdown.wait(interval) {
            if let Err(e) = plan(&state.db, &settings.public_base_url) {
                tracing::warn!(error = %e, "planning reminders failed; retrying next round");
            }
            let stop = || state.shutdown.is_draining();
            match send_due_until(&state.db, channel.as_ref(), &settings, crate::now(), &stop) {
                Ok(round) => {
                    state.metrics.reminders_sent.inc_by(round.sent as u64);
                    state.metrics.reminders_failed.inc_by(round.failed_attempts as u64);
                }
                Err(e) => tracing::warn!(error = %e, "sending reminders failed; retrying next round"),
            }
        }
    });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!(error = %e, "could not start the reminder sender");
            None
        }
    }
}
