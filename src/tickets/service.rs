//! The tickets' use cases: open (reserving a loaner for a premium series, or joining its waitlist), read, list,
//! move through the status machine, change findings (which re-decides the warranty), rate. Each public use case
//! owns its transaction; the steps other areas compose inside theirs take `&mut Conn` (the ticket's view
//! [`detail`], the locks in their order [`lock_ticket_in_scope`], a timeline entry [`record_event`]).

use std::time::Duration;

use uuid::Uuid;

use super::http::{
    ChooseRemedy, Customer, Inspection, OpenTicket, OutcomeKind, RateTicket, Rating, RemedyChoice, Ticket, TicketList,
    TicketOutcome, TicketSearch, TicketSummary, UpdateFindings,
};
use super::model::{Actor, Channel, TicketAction, TicketEvent, TicketEventRow, TicketRow, TicketStatus};
use super::repo::{self, LoanRequest, Opening, Outcome, TicketFilter};
use super::rules::{self, channel_of, enum_str, local_date, parse_enum, warranty_input};
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::devices::{Arrival, DeviceRow, DeviceState, Registered};
use crate::error::{AppError, AppResult};
use crate::events::{EventType, NewEvent, Subject};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::imei::Imei;
use crate::loans::{Loan, LoanRow, LoanState};
use crate::loans::{Reservation, reserve_for_ticket};
use crate::repairs::TicketParts;
use crate::warranty::{self, Certificate, CoveredItem, FaultKind, Remedy, Rule, WarrantyDecision};

/// Store staff act on their stores' tickets; admins on all; other roles not at all.
pub fn require_ticket_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Where a ticket is being opened and for what: its store's time zone, its model's series, its number's value.
struct Place {
    store_id: Id,
    time_zone: String,
    series_id: Id,
    premium: bool,
    number: i64,
    /// The series' policies read with the place (PostgreSQL), as JSON.
    policies: Option<String>,
}

/// The store and model of a ticket being opened, read in one query: the store must exist within the caller's
/// scope and be an active service center; the model and its series must exist and be active.
fn place_of_opening(conn: &mut Conn<'_>, principal: &Principal, store_id: Uuid, model_id: Uuid) -> AppResult<Place> {
    let until = crate::now().date_naive() + chrono::Days::new(1);
    let found = repo::place_of_opening(conn, Id(store_id), Id(model_id), until)?;
    let Some(found) = found.filter(|_| principal.covers_store(store_id)) else {
        return Err(AppError::field("store_id", "no such store"));
    };
    if !found.store_active || found.kind != "service_center" {
        return Err(AppError::field(
            "store_id",
            "tickets open only at an active service center",
        ));
    }
    let (Some(series_id), Some(premium)) = (found.series_id, found.premium) else {
        return Err(AppError::field("model_id", "no such model"));
    };
    if found.model_active != Some(true) || found.series_active != Some(true) {
        return Err(AppError::field("model_id", "the model or its series is deactivated"));
    }
    Ok(Place {
        store_id: Id(store_id),
        time_zone: found.time_zone,
        series_id,
        premium,
        number: found.number,
        policies: found.policies,
    })
}

/// Opens a ticket in its own transaction (the benchmark's raw-database baseline; the route runs [`open_in`] inside
/// the idempotent creation's transaction).
pub fn open(db: &Db, principal: &Principal, input: &OpenTicket, hold: Duration) -> AppResult<Ticket> {
    db.write(|conn| open_in(conn, principal, input, hold))
}

/// Opens a repair ticket. For a premium-series model this reserves the best available loaner of the same series at
/// the store in the same transaction, or puts the ticket on the waitlist. On PostgreSQL a walk-in opening is two
/// statements (the place with the queue's lock, then everything written at once, see [`repo::insert_opening`]);
/// a mail-in opening and SQLite go step by step.
pub fn open_in(conn: &mut Conn<'_>, principal: &Principal, input: &OpenTicket, hold: Duration) -> AppResult<Ticket> {
    let Place {
        store_id,
        time_zone,
        series_id,
        premium,
        number,
        policies,
    } = place_of_opening(conn, principal, input.store_id, input.model_id)?;
    let now = crate::now();
    let today = local_date(&time_zone, now);
    let checked = rules::check_opening(input, today, now)?;
    // The customer by their phone, then the phone itself, locked: after the queue's lock (the place's), so that
    // the device's lock is always taken second.
    let Registered {
        customer,
        device,
        facts,
    } = crate::devices::register_in(
        conn,
        &Arrival {
            imei: checked.imei.as_str(),
            model_id: Id(input.model_id),
            purchase_date: input.purchase_date,
            price_paid_minor: checked.price_paid_minor,
            seller: checked.seller.as_deref(),
            invoice_number: checked.invoice_number.as_deref(),
            phone: &checked.phone_key,
            name: &checked.customer_name,
            consent: input.customer.contact_consent,
        },
        Ts(now),
    )?;
    let policy = match policies {
        Some(json) => warranty::service::policy_in(&json, today)?,
        None => warranty::policy_for(conn, series_id, today)?,
    };
    let mut row = TicketRow {
        id: Id(Uuid::now_v7()),
        number: rules::ticket_number(chrono::Datelike::year(&today), number),
        store_id,
        customer_name: checked.customer_name,
        customer_phone: checked.phone,
        device_imei: checked.imei.to_string(),
        model_id: Id(input.model_id),
        purchase_date: input.purchase_date,
        channel: input.channel.as_str().to_owned(),
        reported_fault: checked.reported_fault,
        accessories: serde_json::to_string(&input.accessories).map_err(anyhow::Error::from)?,
        finding_liquid: input.inspection.liquid,
        finding_drop: input.inspection.drop,
        finding_crush: input.inspection.crush,
        finding_tampering: input.inspection.tampering,
        finding_cosmetic: checked.cosmetic,
        extended_warranty: facts.extended_warranty,
        screen_plan: facts.screen_plan,
        covered_item: enum_str(&input.covered_item.unwrap_or(CoveredItem::Handset)),
        fault_kind: enum_str(&input.fault.unwrap_or(FaultKind::Performance)),
        certificate: enum_str(&input.certificate.unwrap_or(Certificate::Valid)),
        force_majeure: input.force_majeure,
        // What earlier tickets credited when this one was decided (the decision lists each part).
        prior_overrun_days: i32::try_from(facts.credits.repair_days.saturating_add(facts.credits.overrun_days))
            .unwrap_or(i32::MAX),
        warranty_decision: None,
        status: TicketStatus::Received.as_str().to_owned(),
        promised_at: input.promised_at.map(|t| Ts(crate::to_micros(t))),
        tracking_token_hash: None,
        labour_minor: 0,
        rating: None,
        rating_comment: None,
        created_at: Ts(now),
        updated_at: Ts(now),
        closed_at: None,
        device_id: Some(device.id),
        customer_id: Some(customer.id),
        received_at: (input.channel == Channel::WalkIn).then_some(Ts(now)),
        ready_at: None,
        remedy: None,
        remedy_chosen_at: None,
        remedy_chosen_by: None,
        outcome: None,
        refund_minor: None,
        replacement_device_id: None,
        quote_version: 0,
        quote_state: None,
        rating_works_now: None,
    };
    let decision = warranty::decide_with(
        &warranty_input(&row, today, Some((device.warranty_starts_on, &facts))),
        policy,
    );
    row.warranty_decision = Some(serde_json::to_string(&decision).map_err(anyhow::Error::from)?);
    let token = crate::tracking::new_token();
    row.tracking_token_hash = Some(crate::tracking::hash_token(&token));
    let opened = TicketEventRow::new(
        row.id,
        Some(principal.key_id),
        "opened",
        None,
        Some(TicketStatus::Received),
        Some(decision.explanation.as_str()),
    );
    let opened_event = opened_event(&row, &token);
    let opening = match &input.pickup {
        // The inbound leg exists before the loan, so that serving the queue sees the leg that carries its loaner.
        Some(pickup) => {
            repo::insert_ticket(conn, &row)?;
            crate::events::emit_in(conn, opened_event)?;
            crate::courier::create_pickup(conn, &row, crate::courier::Direction::Inbound, pickup, principal.key_id)?;
            Opening::TicketOnly
        }
        None => {
            let loan = premium.then(|| LoanRequest {
                now: Ts(now),
                hold_until: crate::loans::hold_until(input.channel.as_str(), Ts(now), hold),
            });
            let opening = repo::insert_opening(conn, &row, &opened, &opened_event, series_id, loan.as_ref())?;
            if matches!(opening, Opening::TicketOnly) {
                crate::events::emit_in(conn, opened_event)?;
            }
            opening
        }
    };
    let (events, reservation) = match opening {
        Opening::Complete { events, reservation } => (events, reservation.map(|r| *r)),
        Opening::TicketOnly | Opening::LoanLeft => {
            let reservation = if premium {
                Some(reserve_for_ticket(
                    conn,
                    row.id,
                    row.store_id,
                    series_id,
                    &row.channel,
                    Ts(now),
                    hold,
                )?)
            } else {
                None
            };
            // The opening's timeline entries go in one statement: the opening itself (unless written already), and
            // the reservation when a loaner was claimed at once. They are stamped in order, and the timeline is
            // read in that order.
            let events = match &reservation {
                Some(Reservation::Claimed { event, .. }) => vec![opened, event.clone()],
                _ => vec![opened],
            };
            let written = usize::from(matches!(opening, Opening::LoanLeft));
            repo::record_events(conn, &events[written..])?;
            (events, reservation)
        }
    };
    // The answer is built from the rows just written; only the rarer openings (a courier pickup, a queue that was
    // served meanwhile) read the ticket back.
    let in_hand = match reservation {
        _ if input.pickup.is_some() => None,
        Some(Reservation::QueueServed) => None,
        Some(Reservation::Claimed { loan, imei, .. }) => Some((Some(loan.to_loan(Some(imei), None)), events)),
        Some(Reservation::Waiting { loan, position }) => Some((Some(loan.to_loan(None, Some(position))), events)),
        None => Some((None, events)),
    };
    let mut ticket = match in_hand {
        Some((loan, events)) => view(
            row,
            Related {
                series_id,
                loan,
                events,
                // The opener is named from the session itself: no statement more on the opening's path.
                names: principal
                    .username
                    .iter()
                    .map(|u| (principal.key_id, u.clone(), String::new()))
                    .collect(),
                parts: TicketParts::none(),
                pickups: Vec::new(),
            },
        )?,
        None => detail(conn, row)?,
    };
    ticket.tracking_token = Some(token);
    Ok(ticket)
}

/// A ticket's warranty decision, made again from its row and its device's record and history (its plans, the
/// days its other tickets credit), under its series' policy in force on `day`.
pub fn decide_in(conn: &mut Conn<'_>, row: &TicketRow, day: chrono::NaiveDate) -> AppResult<WarrantyDecision> {
    let device = match row.device_id {
        Some(id) => crate::devices::repo::find(conn, id)?,
        None => None,
    };
    let facts = match &device {
        Some(device) => Some(crate::devices::facts_in(conn, device, Some(row.id))?),
        None => None,
    };
    let series = repo::series_of_model(conn, row.model_id)?;
    let policy = warranty::policy_for(conn, series, day)?;
    let start = device.as_ref().map(|d| d.warranty_starts_on);
    let input = warranty_input(row, day, start.zip(facts.as_ref()));
    Ok(warranty::decide_with(&input, policy))
}

/// Emits an event about a ticket (see `crate::events`), in the caller's transaction, which holds the ticket's lock.
/// `payload` gets the ticket's id and number.
pub fn emit_ticket(
    conn: &mut Conn<'_>,
    row: &TicketRow,
    event_type: EventType,
    mut payload: serde_json::Value,
) -> AppResult<()> {
    if let Some(fields) = payload.as_object_mut() {
        fields.insert("ticket_id".into(), serde_json::json!(row.id.0));
        fields.insert("number".into(), serde_json::json!(row.number));
    }
    crate::events::emit_in(
        conn,
        NewEvent {
            event_type,
            subject: Subject::ticket(row.id.0, row.store_id.0),
            payload,
            internal: None,
        },
    )?;
    Ok(())
}

/// A ticket's status change as a `ticket.status_changed` event, written beside its timeline entry.
pub fn emit_status(conn: &mut Conn<'_>, row: &TicketRow, from: TicketStatus, to: TicketStatus) -> AppResult<()> {
    emit_ticket(
        conn,
        row,
        EventType::TicketStatusChanged,
        serde_json::json!({"from": from.as_str(), "to": to.as_str()}),
    )
}

/// The `ticket.opened` event of a ticket being opened: what the feed shows, and the customer's tracking token for
/// Depot's own reminders only (`internal`).
pub fn opened_event(row: &TicketRow, token: &str) -> NewEvent {
    NewEvent {
        event_type: EventType::TicketOpened,
        subject: Subject::ticket(row.id.0, row.store_id.0),
        payload: serde_json::json!({
            "ticket_id": row.id.0,
            "number": row.number,
            "status": row.status,
            "channel": row.channel,
            "model_id": row.model_id.0,
            "promised_at": row.promised_at.map(|t| t.0),
            "opened_at": row.created_at.0,
        }),
        internal: Some(serde_json::json!({ "tracking_token": token })),
    }
}

/// Appends an entry to a ticket's timeline.
pub fn record_event(
    conn: &mut Conn<'_>,
    ticket: Id,
    actor: Option<Uuid>,
    kind: &str,
    from: Option<TicketStatus>,
    to: Option<TicketStatus>,
    note: Option<&str>,
) -> AppResult<TicketEventRow> {
    let row = TicketEventRow::new(ticket, actor, kind, from, to, note);
    repo::record_events(conn, std::slice::from_ref(&row))?;
    Ok(row)
}

/// As [`record_event`], by `actor`: a key's holder, or the customer through the link.
pub fn record_event_by(
    conn: &mut Conn<'_>,
    ticket: Id,
    actor: Actor,
    kind: &str,
    from: Option<TicketStatus>,
    to: Option<TicketStatus>,
    note: Option<&str>,
) -> AppResult<TicketEventRow> {
    let row = TicketEventRow::by(ticket, actor, kind, from, to, note);
    repo::record_events(conn, std::slice::from_ref(&row))?;
    Ok(row)
}

/// The API view of a loan: with its loaner's IMEI and, while waiting, its place in the queue.
pub fn loan_view(conn: &mut Conn<'_>, row: &LoanRow) -> AppResult<Loan> {
    let imei = match row.loaner_id {
        Some(id) => Some(repo::loaner_imei(conn, id)?),
        None => None,
    };
    let position = if row.state() == LoanState::Waiting {
        Some(crate::loans::waitlist_position(conn, row)?)
    } else {
        None
    };
    Ok(row.to_loan(imei, position))
}

/// What a ticket's view shows besides its own row.
struct Related {
    series_id: Id,
    loan: Option<Loan>,
    events: Vec<TicketEventRow>,
    /// The console users behind the events' keys: key, username, display name.
    names: TimelineNames,
    parts: TicketParts,
    pickups: Vec<crate::courier::Pickup>,
}

/// The whole view of a ticket, read from the database.
pub fn detail(conn: &mut Conn<'_>, row: TicketRow) -> AppResult<Ticket> {
    detail_with_names(conn, row).map(|(ticket, _)| ticket)
}

/// Key, username and display name of each console user on a ticket's timeline.
pub type TimelineNames = Vec<(Uuid, String, String)>;

/// [`detail`], and the console users its timeline names (read for the timeline anyway): the console's ticket page
/// shows their display names without reading them again.
pub fn detail_with_names(conn: &mut Conn<'_>, row: TicketRow) -> AppResult<(Ticket, TimelineNames)> {
    let series_id = repo::series_of_model(conn, row.model_id)?;
    let loan = match repo::loan_of(conn, row.id)? {
        Some(l) => Some(loan_view(conn, &l)?),
        None => None,
    };
    let events = repo::events_of(conn, row.id)?;
    let mut keys: Vec<Uuid> = events.iter().filter_map(|e| e.api_key_id.map(Uuid::from)).collect();
    keys.sort();
    keys.dedup();
    let names = crate::users::service::names_of_keys(conn, &keys)?;
    let parts = crate::repairs::summary(conn, &row)?;
    let pickups = crate::courier::pickups_of(conn, row.id)?;
    let pickups = crate::courier::pickup_views(conn, pickups, true)?;
    let ticket = view(
        row,
        Related {
            series_id,
            loan,
            events,
            names: names.clone(),
            parts,
            pickups,
        },
    )?;
    Ok((ticket, names))
}

fn view(row: TicketRow, related: Related) -> AppResult<Ticket> {
    let Related {
        series_id,
        loan,
        events,
        names,
        parts,
        pickups,
    } = related;
    // The pickups' tracking events join the timeline in the order received (the sort is stable).
    let mut timeline: Vec<TicketEvent> = events
        .into_iter()
        .map(|row| {
            let mut event = TicketEvent::from(row);
            event.username = event
                .api_key_id
                .and_then(|key| names.iter().find(|(k, ..)| *k == key))
                .map(|(_, username, _)| username.clone());
            event
        })
        .collect();
    timeline.extend(pickups.iter().flat_map(crate::courier::timeline_entries));
    timeline.sort_by_key(|e| e.at);
    let decision: WarrantyDecision = row
        .warranty_decision
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| anyhow::anyhow!("ticket {} has no readable warranty decision", row.number))?;
    Ok(Ticket {
        id: row.id.0,
        number: row.number.clone(),
        store_id: row.store_id.0,
        customer: Customer {
            name: row.customer_name.clone(),
            phone: row.customer_phone.clone(),
            contact_consent: None,
        },
        device_imei: row.device_imei.clone(),
        model_id: row.model_id.0,
        series_id: series_id.0,
        purchase_date: row.purchase_date,
        channel: channel_of(&row),
        reported_fault: row.reported_fault.clone(),
        accessories: serde_json::from_str(&row.accessories).unwrap_or_default(),
        inspection: Inspection {
            liquid: row.finding_liquid,
            drop: row.finding_drop,
            crush: row.finding_crush,
            tampering: row.finding_tampering,
            cosmetic: row.finding_cosmetic.clone(),
        },
        covered_item: parse_enum(&row.covered_item).unwrap_or(CoveredItem::Handset),
        fault: parse_enum(&row.fault_kind).unwrap_or(FaultKind::Performance),
        certificate: parse_enum(&row.certificate).unwrap_or(Certificate::Valid),
        force_majeure: row.force_majeure,
        extended_warranty: row.extended_warranty,
        screen_plan: row.screen_plan,
        device_id: row.device_id.map(|d| d.0),
        customer_id: row.customer_id.map(|c| c.0),
        received_at: row.received_at.map(|t| t.0),
        ready_at: row.ready_at.map(|t| t.0),
        remedy: match (row.remedy.as_deref().and_then(parse_enum), row.remedy_chosen_at) {
            (Some(remedy), Some(at)) => Some(RemedyChoice {
                remedy,
                chosen_at: at.0,
                chosen_by: row.remedy_chosen_by.map(|k| k.0),
                awaits_store: exchange_awaits_store(&row),
            }),
            _ => None,
        },
        outcome: match row.outcome.as_deref() {
            Some("returned") => Some(TicketOutcome {
                kind: OutcomeKind::Returned,
                refund: row.refund_minor.map(crate::money::Money::from_minor),
                replacement_device_id: None,
            }),
            Some("exchanged") => Some(TicketOutcome {
                kind: OutcomeKind::Exchanged,
                refund: None,
                replacement_device_id: row.replacement_device_id.map(|d| d.0),
            }),
            _ => None,
        },
        warranty: decision,
        status: TicketStatus::parse(&row.status),
        promised_at: row.promised_at.map(chrono::DateTime::from),
        loan,
        timeline,
        parts,
        pickups,
        tracking_token: None,
        rating: row.rating.map(|score| Rating {
            score,
            comment: row.rating_comment.clone(),
            works_now: row.rating_works_now,
        }),
        created_at: row.created_at.0,
        updated_at: row.updated_at.0,
        closed_at: row.closed_at.map(chrono::DateTime::from),
    })
}

/// A ticket the caller may see, or 404.
pub fn ticket_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<TicketRow> {
    repo::find_ticket(conn, Id(id))?
        .filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("ticket"))
}

/// A ticket the caller may see, locked until the transaction ends, or 404.
///
/// The lock order: every transaction that changes a ticket's loan or its courier legs locks the ticket first, then
/// its loans ([`repo::lock_loan_of`]), then its pickups; a loaner is changed only under its loan's lock (or claimed
/// free). Taken the same way by the status changes, the loan calls and the courier's events, so that a cancellation
/// and the courier's `picked_up` arriving at once take turns instead of deadlocking. PostgreSQL takes `FOR NO KEY
/// UPDATE`, the lock an update of the row takes anyway, which leaves the key share that timeline inserts take free;
/// SQLite has one writer at a time.
pub fn lock_ticket_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<TicketRow> {
    repo::lock_ticket(conn, Id(id))?
        .filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("ticket"))
}

/// Reads a ticket with its warranty decision, loan and timeline.
pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<Ticket> {
    bearer.read(db, |conn, principal| {
        require_ticket_role(principal)?;
        let row = ticket_in_scope(conn, principal, id)?;
        detail(conn, row)
    })
}

/// Lists the caller's stores' tickets, oldest first, narrowed by the search's filters. A phone that no customer
/// has lists nothing.
pub fn list(db: &Db, bearer: &Bearer, search: &TicketSearch, page: PageRequest) -> AppResult<TicketList> {
    bearer.read(db, |conn, principal| list_in(conn, principal, search, page))
}

/// [`list`] on the caller's connection, as `principal` (the console reads several lists in one transaction).
pub fn list_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    search: &TicketSearch,
    page: PageRequest,
) -> AppResult<TicketList> {
    {
        require_ticket_role(principal)?;
        let customer = match &search.phone {
            Some(phone) => match crate::customers::repo::by_phone(conn, phone)? {
                Some(c) => Some(c.id),
                None => {
                    return Ok(TicketList {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
            None => None,
        };
        let scope = (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect());
        let filter = TicketFilter {
            after: page.after.map(Id),
            fetch: page.fetch(),
            store: search.store_id.map(Id),
            scope,
            status: search.status,
            imei: search.imei.as_ref().map(|i| i.as_str().to_owned()),
            customer,
            number_prefix: search.number_prefix.clone(),
            past_promise_at: search.past_promise.then(|| Ts(crate::now())),
            open_only: search.open_only,
        };
        let rows = repo::list(conn, filter)?;
        let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
        let items = rows
            .into_iter()
            .map(|r| TicketSummary {
                id: r.id.0,
                number: r.number.clone(),
                store_id: r.store_id.0,
                model_id: r.model_id.0,
                channel: rules::channel_named(&r.channel),
                status: TicketStatus::parse(&r.status),
                created_at: r.created_at.0,
                updated_at: r.updated_at.0,
                device_imei: r.device_imei.clone(),
                customer_name: r.customer_name.clone(),
                promised_at: r.promised_at.map(|t| t.0),
                ready_at: r.ready_at.map(|t| t.0),
            })
            .collect();
        Ok(TicketList { items, next_cursor })
    }
}

/// Records new inspection findings; the warranty decision is made again from them.
pub fn update_findings(db: &Db, bearer: &Bearer, id: Uuid, input: &UpdateFindings) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| update_findings_in(conn, principal, id, input))
}

/// As [`update_findings`], in the caller's transaction (the console's form runs it in its own).
pub fn update_findings_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    input: &UpdateFindings,
) -> AppResult<Ticket> {
    require_ticket_role(principal)?;
    let mut row = lock_ticket_in_scope(conn, principal, id)?;
    if TicketStatus::parse(&row.status).is_final() {
        return Err(AppError::conflict("ticket_final", "the ticket is closed or cancelled"));
    }
    let mut checks = Checks::new();
    let cosmetic = input
        .inspection
        .cosmetic
        .as_ref()
        .map(|c| checks.text("inspection.cosmetic", c, 0, 500));
    checks.finish()?;
    row.finding_liquid = input.inspection.liquid;
    row.finding_drop = input.inspection.drop;
    row.finding_crush = input.inspection.crush;
    row.finding_tampering = input.inspection.tampering;
    row.finding_cosmetic = cosmetic;
    if let Some(fault) = input.fault {
        row.fault_kind = enum_str(&fault);
    }
    if let Some(certificate) = input.certificate {
        row.certificate = enum_str(&certificate);
    }
    let time_zone = repo::store_time_zone(conn, row.store_id)?;
    let now = crate::now();
    // The periods run to the day the customer brought the phone in, the ticket's opening, not to the day of
    // the inspection: findings written on day 8 must not take away a return claimed on day 7.
    let claimed_on = local_date(&time_zone, row.created_at.0);
    let decision = decide_in(conn, &row, claimed_on)?;
    let json = serde_json::to_string(&decision).map_err(anyhow::Error::from)?;
    repo::update_findings(conn, &row, json, Ts(now))?;
    record_event(
        conn,
        row.id,
        Some(principal.key_id),
        "findings_changed",
        None,
        None,
        Some(&decision.explanation),
    )?;
    // A choice the new decision no longer offers does not stand: the customer chooses again.
    let withdrawn = row
        .remedy
        .as_deref()
        .and_then(parse_enum::<Remedy>)
        .filter(|r| !decision.remedies.contains(r));
    if let Some(remedy) = withdrawn {
        repo::set_remedy(conn, row.id, None, None, None, Ts(now))?;
        record_event(
            conn,
            row.id,
            Some(principal.key_id),
            "remedy_cleared",
            None,
            None,
            Some(&format!(
                "the new decision no longer offers {}: the customer's choice is cleared",
                enum_str(&remedy)
            )),
        )?;
    }
    let row = ticket_in_scope(conn, principal, id)?;
    detail(conn, row)
}

/// Rates a closed ticket, once (the customer's satisfaction, 1 to 5), as told to staff ([`rate_in`]).
pub fn rate(db: &Db, bearer: &Bearer, id: Uuid, input: &RateTicket) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| {
        require_ticket_role(principal)?;
        let row = ticket_in_scope(conn, principal, id)?;
        rate_in(conn, &row, Actor::Key(principal.key_id), input)?;
        let row = ticket_in_scope(conn, principal, id)?;
        detail(conn, row)
    })
}

/// Records the customer's rating of a closed ticket, whoever records it (staff after a callback, or the customer
/// through the link): once, the first one standing (a second, by either path, is 409 `already_rated`, guarded in
/// the update itself so two at once cannot both land). A `rated` timeline entry and a `ticket.rated` event.
pub fn rate_in(conn: &mut Conn<'_>, row: &TicketRow, actor: Actor, input: &RateTicket) -> AppResult<()> {
    let mut checks = Checks::new();
    if !(1..=5).contains(&input.score) {
        checks.fail("score", "must be 1 to 5");
    }
    let comment = input.comment.as_ref().map(|c| checks.text("comment", c, 0, 1000));
    checks.finish()?;
    if TicketStatus::parse(&row.status) != TicketStatus::Closed {
        return Err(AppError::conflict(
            "ticket_not_closed",
            "a ticket is rated after it is closed",
        ));
    }
    let already = || AppError::conflict("already_rated", "this ticket has been rated");
    if row.rating.is_some() {
        return Err(already());
    }
    if !repo::set_rating(conn, row.id, input.score, comment, input.works_now, Ts(crate::now()))? {
        return Err(already());
    }
    let works = match input.works_now {
        Some(true) => ", works now",
        Some(false) => ", does not work now",
        None => "",
    };
    emit_ticket(
        conn,
        row,
        EventType::TicketRated,
        serde_json::json!({"score": input.score, "works_now": input.works_now,
                           "by_customer": actor == Actor::Customer}),
    )?;
    record_event_by(
        conn,
        row.id,
        actor,
        "rated",
        None,
        None,
        Some(&format!("{} of 5{works}", input.score)),
    )?;
    Ok(())
}

/// Moves a ticket one step in its status machine, in its own transaction.
pub fn transition(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    action: TicketAction,
    note: Option<&str>,
    hold: Duration,
) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| {
        require_ticket_role(principal)?;
        transition_in(conn, principal, id, action, note, hold)
    })
}

/// Moves a ticket one step in its status machine: the transaction behind the status routes (public for the
/// benchmark, which runs it without HTTP).
pub fn transition_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    action: TicketAction,
    note: Option<&str>,
    hold: Duration,
) -> AppResult<Ticket> {
    let row = lock_ticket_in_scope(conn, principal, id)?;
    let loan = repo::lock_loan_of(conn, row.id)?;
    let from = TicketStatus::parse(&row.status);
    let to = from.apply(action)?;
    let decision = (action == TicketAction::StartRepair)
        .then(|| decision_of(&row))
        .transpose()?;
    if let Some(decision) = &decision {
        rules::check_repair_may_start(&decision.remedies, row.remedy.as_deref())?;
    }
    // A free repair needs no approval; a paid one starts only once the customer has approved a quote.
    if action == TicketAction::StartRepair {
        rules::check_quote_allows_repair(from, crate::repairs::warranty_free(&row), row.quote_state.as_deref())?;
    }
    let now = Ts(crate::now());
    if channel_of(&row) == Channel::MailIn {
        mail_in_gates(conn, &row, action, principal.key_id)?;
    }
    match action {
        // The release gate: the repaired phone goes back only once the loaner is back (or written off).
        TicketAction::Close => end_ticket_in(conn, &row, loan.as_ref(), Some(principal.key_id), now, hold, |_| {
            crate::loans::loaner_outstanding("closing")
        })?,
        TicketAction::Cancel => end_ticket_in(conn, &row, loan.as_ref(), Some(principal.key_id), now, hold, |_| {
            LoanState::Issued.cancel().err().unwrap_or(AppError::Forbidden)
        })?,
        _ => {}
    }
    // A screen plan's repair uses the plan up: one replacement per plan (409 `plan_used_up` when another repair
    // used it meanwhile).
    if let (Some(decision), Some(device)) = (&decision, row.device_id)
        && decision.rule == Rule::ScreenPlan
    {
        crate::devices::use_plan_in(conn, device, crate::devices::PlanKind::ScreenPlan, row.id, now)?;
    }
    let closed_at = to.is_final().then_some(now);
    repo::set_status(conn, row.id, from, to, now, closed_at)?;
    emit_status(conn, &row, from, to)?;
    record_event(
        conn,
        row.id,
        Some(principal.key_id),
        "status_changed",
        Some(from),
        Some(to),
        note,
    )?;
    let row = ticket_in_scope(conn, principal, id)?;
    detail(conn, row)
}

/// What ending a ticket (closed, cancelled, returned, exchanged) does to its loan and its parts: a waiting or
/// reserved loan is cancelled (a reserved loaner goes to the next waiter, under the queue's lock); an issued loaner
/// must come back first (`issued` says why not); parts still reserved were not used and go back to the shelf. The
/// caller holds the ticket's and the loan's locks.
fn end_ticket_in(
    conn: &mut Conn<'_>,
    row: &TicketRow,
    loan: Option<&LoanRow>,
    actor: Option<Uuid>,
    now: Ts,
    hold: Duration,
    issued: impl FnOnce(&LoanRow) -> AppError,
) -> AppResult<()> {
    if let Some(loan) = loan {
        match loan.state() {
            LoanState::Issued => return Err(issued(loan)),
            state @ (LoanState::Waiting | LoanState::Reserved) => {
                crate::loans::end_loan(conn, loan, state.cancel()?, actor, None, now, hold)?;
            }
            _ => {}
        }
    }
    crate::repairs::release_all(conn, row, actor)
}

/// The warranty decision stored on a ticket (the one shown to the customer).
fn decision_of(row: &TicketRow) -> AppResult<WarrantyDecision> {
    Ok(row
        .warranty_decision
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .ok_or_else(|| anyhow::anyhow!("ticket {} has no readable warranty decision", row.number))?)
}

/// Records the customer's choice among the remedies the ticket's decision offers, in its own transaction; a return
/// or an exchange is carried out at once and ends the ticket (see [`choose_remedy_in`]).
pub fn choose_remedy(db: &Db, bearer: &Bearer, id: Uuid, input: &ChooseRemedy, hold: Duration) -> AppResult<Ticket> {
    bearer.write(db, |conn, principal| {
        require_ticket_role(principal)?;
        choose_remedy_in(conn, principal, id, input, hold)
    })
}

/// The customer's choice: checked ([`rules::check_remedy`]), recorded with who and when and a `remedy_chosen`
/// timeline entry. A repair is only recorded (the ticket goes on); a return refunds and an exchange replaces the
/// phone, each closing the ticket ([`carry_out`]).
///
/// Lock order: the ticket, its loans (ending one serves the queue under the queue's lock, as a cancel does), then
/// the device, never the device before the queue (an opening takes the queue's lock before the device's).
pub fn choose_remedy_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    input: &ChooseRemedy,
    hold: Duration,
) -> AppResult<Ticket> {
    let row = lock_ticket_in_scope(conn, principal, id)?;
    choose_remedy_on(conn, row, Actor::Key(principal.key_id), input, hold)?;
    let row = ticket_in_scope(conn, principal, id)?;
    detail(conn, row)
}

/// The customer's choice on a ticket the caller has locked (staff's route, or the customer's link), by `actor`:
/// the rules and effects of [`choose_remedy_in`]. Answers the ticket's row as it stood before the choice. An
/// exchange the customer chose through the link ([`choose_remedy_through_link`]) is carried out here when staff
/// choose `exchange` with the new phone: the customer's choice stands as they made it.
pub fn choose_remedy_on(
    conn: &mut Conn<'_>,
    row: TicketRow,
    actor: Actor,
    input: &ChooseRemedy,
    hold: Duration,
) -> AppResult<TicketRow> {
    choose(conn, row, actor, input, hold, false)
}

/// The customer's choice through their link, on a ticket the caller has locked: as staff's, except that an
/// exchange is only recorded, the new phone being handed over (and its IMEI recorded) by the store, which carries
/// it out with `POST /tickets/{ticket_id}/remedy`. Until then the ticket waits: no repair starts.
pub fn choose_remedy_through_link(
    conn: &mut Conn<'_>,
    row: TicketRow,
    input: &ChooseRemedy,
    hold: Duration,
) -> AppResult<TicketRow> {
    choose(conn, row, Actor::Customer, input, hold, true)
}

/// Whether the customer chose an exchange that the store has yet to carry out.
pub fn exchange_awaits_store(row: &TicketRow) -> bool {
    row.remedy.as_deref() == Some("exchange") && row.outcome.is_none() && !TicketStatus::parse(&row.status).is_final()
}

fn choose(
    conn: &mut Conn<'_>,
    row: TicketRow,
    actor: Actor,
    input: &ChooseRemedy,
    hold: Duration,
    exchange_at_store: bool,
) -> AppResult<TicketRow> {
    let loan = repo::lock_loan_of(conn, row.id)?;
    // Staff carrying out the exchange the customer chose through the link: checked as a fresh choice, recorded as
    // the customer made it.
    let carrying_out = !exchange_at_store && input.remedy == Remedy::Exchange && exchange_awaits_store(&row);
    let mut checks = Checks::new();
    let replacement = match (input.remedy, input.replacement_imei.as_deref()) {
        (Remedy::Exchange, None) if exchange_at_store => None,
        (Remedy::Exchange, Some(imei)) => Imei::parse(imei)
            .map_err(|why| checks.fail("replacement_imei", why))
            .ok(),
        (Remedy::Exchange, None) => {
            checks.fail("replacement_imei", "an exchange names the new phone's IMEI");
            None
        }
        (_, Some(_)) => {
            checks.fail("replacement_imei", "only an exchange has a replacement phone");
            None
        }
        (_, None) => None,
    };
    let note = input
        .note
        .as_ref()
        .map(|n| checks.text("note", n, 0, 1000))
        .filter(|n| !n.is_empty());
    checks.finish()?;
    let decision = decision_of(&row)?;
    let device = match row.device_id {
        Some(device) => crate::devices::repo::find(conn, device)?,
        None => None,
    };
    rules::check_remedy(
        &rules::RemedyContext {
            status: TicketStatus::parse(&row.status),
            chosen: if carrying_out { None } else { row.remedy.as_deref() },
            offered: &decision.remedies,
            channel: channel_of(&row),
            device: device.as_ref().map(|d| (d.state(), d.price_paid_minor)),
        },
        input.remedy,
    )?;
    let ends_ticket = match input.remedy {
        Remedy::Return => true,
        Remedy::Exchange => !exchange_at_store,
        Remedy::FreeRepair | Remedy::PaidRepair => false,
    };
    if let Some(loan) = loan.as_ref().filter(|l| ends_ticket && l.state() == LoanState::Issued) {
        return Err(loaner_out(loan));
    }
    if let Some(imei) = &replacement
        && crate::devices::repo::by_imei(conn, &imei.to_string())?.is_some()
    {
        return Err(replacement_taken(imei));
    }
    let now = Ts(crate::now());
    let awaits_store = exchange_at_store && input.remedy == Remedy::Exchange;
    if !carrying_out {
        let remedy = enum_str(&input.remedy);
        repo::set_remedy(conn, row.id, Some(&remedy), Some(now), actor.key().map(Id), now)?;
        let mut words = match &note {
            Some(note) => format!("the customer chose {remedy}: {note}"),
            None => format!("the customer chose {remedy}"),
        };
        if awaits_store {
            words.push_str(" (the store hands over the new phone)");
        }
        emit_ticket(
            conn,
            &row,
            EventType::TicketRemedyChosen,
            serde_json::json!({ "remedy": remedy, "awaits_store": awaits_store }),
        )?;
        record_event_by(conn, row.id, actor, "remedy_chosen", None, None, Some(&words))?;
    }
    if ends_ticket {
        end_ticket_in(conn, &row, loan.as_ref(), actor.key(), now, hold, loaner_out)?;
        let Some(device) = device else {
            return Err(anyhow::anyhow!("ticket {} lost its device record", row.number).into());
        };
        carry_out(conn, actor, &row, &decision, &device, replacement.as_ref(), now)?;
    }
    Ok(row)
}

fn loaner_out(loan: &LoanRow) -> AppError {
    AppError::conflict(
        "loaner_out",
        format!(
            "the customer still has the loaner of loan {}: take it back before the ticket ends",
            loan.id.0
        ),
    )
}

fn replacement_taken(imei: &Imei) -> AppError {
    AppError::conflict(
        "replacement_imei_taken",
        format!("a device with IMEI {imei} is on record already: the replacement must be a new phone"),
    )
}

/// A return or an exchange carried out (the ticket's loan and parts already ended): the device, locked now, is
/// marked returned (with the refund: the price paid less the policy's daily depreciation after the return window,
/// not counting the days the phone spent in covered repairs) or exchanged (its replacement recorded: the same model,
/// customer and certificate, its warranty starting today at the store; its extended warranty moves with it, see
/// `devices::repo::move_plans`), and the ticket closes with its outcome.
fn carry_out(
    conn: &mut Conn<'_>,
    by: Actor,
    row: &TicketRow,
    decision: &WarrantyDecision,
    device: &DeviceRow,
    replacement: Option<&Imei>,
    now: Ts,
) -> AppResult<()> {
    let not_in_use = || AppError::conflict("device_not_in_use", "the device was returned or exchanged meanwhile");
    let locked = crate::devices::repo::lock_by_imei(conn, &device.imei)?
        .filter(|d| d.id == device.id && d.state() == DeviceState::InUse)
        .ok_or_else(not_in_use)?;
    let time_zone = repo::store_time_zone(conn, row.store_id)?;
    let today = local_date(&time_zone, now.0);
    // A refund runs to the day the customer claimed it, the ticket's opening (as the decision does): days spent
    // with the network on this ticket since are not depreciated.
    let claimed_on = local_date(&time_zone, row.created_at.0);
    let from = TicketStatus::parse(&row.status);
    let actor = by.key();
    let (outcome, kind, words, next) = match replacement {
        None => {
            let price = locked.price_paid_minor.ok_or_else(|| {
                AppError::conflict(
                    "price_paid_unknown",
                    "the device has no price paid to refund: an admin records it with PATCH /api/v1/devices/{imei}",
                )
            })?;
            let facts = crate::devices::facts_in(conn, &locked, Some(row.id))?;
            let refund = warranty::refund(
                price,
                &decision.policy.terms,
                locked.warranty_starts_on,
                claimed_on,
                facts.credits.repair_days,
            );
            crate::audit::record(
                conn,
                actor,
                "device_returned",
                "device",
                locked.id.0,
                &serde_json::json!({
                    "ticket_id": row.id.0,
                    "price_paid_minor": refund.price_minor,
                    "depreciation_days": refund.depreciation_days,
                    "depreciation_minor": refund.depreciation_minor,
                    "refund_minor": refund.refund_minor,
                    "by_customer": by == Actor::Customer,
                }),
            )?;
            let outcome = Outcome {
                kind: "returned",
                refund_minor: Some(refund.refund_minor),
                replacement_device_id: None,
            };
            (outcome, "returned", rules::refund_note(&refund), DeviceState::Returned)
        }
        Some(imei) => {
            let new = DeviceRow {
                id: Id(Uuid::now_v7()),
                imei: imei.to_string(),
                model_id: locked.model_id,
                purchase_date: locked.purchase_date,
                warranty_starts_on: today,
                price_paid_minor: locked.price_paid_minor,
                seller: locked.seller.clone(),
                invoice_number: locked.invoice_number.clone(),
                state: DeviceState::InUse.as_str().to_owned(),
                customer_id: locked.customer_id.or(row.customer_id),
                replaces_device_id: Some(locked.id),
                credit_correction_days: 0,
                created_at: now,
                updated_at: now,
            };
            if !crate::devices::repo::insert_if_absent(conn, &new)? {
                return Err(replacement_taken(imei));
            }
            let moved = crate::devices::repo::move_plans(conn, locked.id, new.id)?;
            crate::audit::record(
                conn,
                actor,
                "device_exchanged",
                "device",
                locked.id.0,
                &serde_json::json!({
                    "ticket_id": row.id.0,
                    "replacement_device_id": new.id.0,
                    "replacement_imei": new.imei,
                    "plans_moved": moved,
                }),
            )?;
            let outcome = Outcome {
                kind: "exchanged",
                refund_minor: None,
                replacement_device_id: Some(new.id),
            };
            let words = format!(
                "exchanged for a new phone of the same model, IMEI {}: its warranty starts on {today}",
                new.imei
            );
            (outcome, "exchanged", words, DeviceState::Exchanged)
        }
    };
    if !crate::devices::repo::set_state(conn, locked.id, DeviceState::InUse, next, now)? {
        return Err(not_in_use());
    }
    if !repo::close_with_outcome(conn, row.id, from, &outcome, now)? {
        return Err(AppError::conflict(
            "ticket_changed",
            "the ticket changed meanwhile; read it again",
        ));
    }
    emit_status(conn, row, from, TicketStatus::Closed)?;
    record_event_by(
        conn,
        row.id,
        by,
        kind,
        Some(from),
        Some(TicketStatus::Closed),
        Some(&words),
    )?;
    Ok(())
}

/// A mail-in repair goes back by courier: ready means an outbound pickup to the inbound address, and the ticket
/// closes only once that delivery is done. Cancelling the ticket cancels the legs the courier has not started (the
/// partner sees them cancelled, and later events on them are refused); a leg under way carries the phone, so the
/// ticket cannot be cancelled until it ends.
fn mail_in_gates(conn: &mut Conn<'_>, row: &TicketRow, action: TicketAction, actor: Uuid) -> AppResult<()> {
    use crate::courier::{Direction, PickupRequest, PickupStatus};
    let legs = crate::courier::lock_pickups_of(conn, row.id)?;
    match action {
        TicketAction::Cancel => {
            let open: Vec<_> = legs
                .iter()
                .filter(|p| !PickupStatus::parse(&p.status).is_final())
                .collect();
            if open
                .iter()
                .any(|p| PickupStatus::parse(&p.status).rank() >= PickupStatus::PickedUp.rank())
            {
                return Err(AppError::conflict(
                    "pickup_under_way",
                    "the courier is carrying the phone: cancel once that leg is delivered or failed",
                ));
            }
            for leg in open {
                crate::courier::cancel_leg(conn, leg, actor, Some("the ticket was cancelled"))?;
            }
        }
        TicketAction::MarkReady => {
            let outbound_open = legs
                .iter()
                .any(|p| p.direction == "outbound" && !matches!(p.status.as_str(), "failed" | "cancelled"));
            if let (false, Some(inbound)) = (outbound_open, legs.iter().find(|p| p.direction == "inbound")) {
                let request = PickupRequest {
                    address: inbound.address.clone(),
                    contact_name: Some(inbound.contact_name.clone()),
                    contact_phone: Some(inbound.contact_phone.clone()),
                    window_start: None,
                    window_end: None,
                    partner_id: inbound.partner_id.map(Uuid::from),
                };
                crate::courier::create_pickup(conn, row, Direction::Outbound, &request, actor)?;
            }
        }
        TicketAction::Close
            if !legs
                .iter()
                .any(|p| p.direction == "outbound" && p.status == "delivered") =>
        {
            return Err(AppError::conflict(
                "awaiting_delivery",
                "a mail-in ticket closes once the courier has delivered the phone back",
            ));
        }
        _ => {}
    }
    Ok(())
}
