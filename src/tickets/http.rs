//! Repair tickets over HTTP: open (reserving a loaner for premium series), read, list, move through the status
//! machine, change inspection findings (which re-decides the warranty), rate.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    TicketAction, TicketEvent, TicketEventRow, TicketRow, TicketStatus, next_number, record_event, record_events,
};
use crate::auth::{Bearer, Principal, Role};
use crate::db::Conn;
use crate::db::schema::{loaners, loans, product_models, product_series, stores, ticket_events, tickets};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::imei::Imei;
use crate::loans::reserve::{Reservation, reserve_for_ticket};
use crate::loans::{Loan, LoanRow, LoanState};
use crate::parts::repair::TicketParts;
use crate::state::AppState;
use crate::warranty::{self, Certificate, CoveredItem, FaultKind, Findings, WarrantyDecision, WarrantyInput};
use crate::with_conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    WalkIn,
    MailIn,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WalkIn => "walk_in",
            Channel::MailIn => "mail_in",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Mobile number, digits with an optional leading `+`.
    #[schema(min_length = 5, max_length = 20)]
    pub phone: String,
}

/// What the engineer found at intake or in diagnosis.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inspection {
    #[serde(default)]
    pub liquid: bool,
    #[serde(default)]
    pub drop: bool,
    #[serde(default)]
    pub crush: bool,
    /// Unauthorized disassembly or repair.
    #[serde(default)]
    pub tampering: bool,
    /// Scratches, dents and the like, in words.
    #[schema(max_length = 500)]
    pub cosmetic: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTicket {
    pub store_id: Uuid,
    pub customer: Customer,
    /// IMEI of the customer's phone: 15 digits with a valid check digit.
    #[schema(min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")]
    pub device_imei: String,
    pub model_id: Uuid,
    /// Purchase date as written on the invoice, local to the store; not in the future.
    pub purchase_date: NaiveDate,
    pub channel: Channel,
    #[schema(min_length = 1, max_length = 1000)]
    pub reported_fault: String,
    /// Accessories handed in with the phone, e.g. `["case", "charger"]`.
    #[serde(default)]
    pub accessories: Vec<String>,
    #[serde(default)]
    pub inspection: Inspection,
    /// What is being repaired (accessories have their own warranty periods); `handset` when absent.
    pub covered_item: Option<CoveredItem>,
    /// Performance fault or accidental damage; `performance` when absent.
    pub fault: Option<FaultKind>,
    /// The warranty certificate or invoice; `valid` when absent.
    pub certificate: Option<Certificate>,
    #[serde(default)]
    pub force_majeure: bool,
    #[serde(default)]
    pub extended_warranty: bool,
    #[serde(default)]
    pub screen_plan: bool,
    /// Days by which earlier repairs of this phone overran their promised time; extends the warranty.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3650)]
    pub prior_overrun_days: u32,
    /// When the repair is promised to be done; in the future.
    pub promised_at: Option<DateTime<Utc>>,
    /// Required for `mail_in`: where the courier collects the phone (and brings a loaner, for a premium series).
    pub pickup: Option<crate::courier::PickupRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFindings {
    pub inspection: Inspection,
    pub fault: Option<FaultKind>,
    pub certificate: Option<Certificate>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionNote {
    /// Shown on the ticket's timeline.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateTicket {
    #[schema(minimum = 1, maximum = 5)]
    pub score: i32,
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Rating {
    pub score: i32,
    pub comment: Option<String>,
}

/// A repair ticket with its warranty decision, its loan and its timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    /// Human-facing number, e.g. `RT-2026-000123`.
    pub number: String,
    pub store_id: Uuid,
    pub customer: Customer,
    pub device_imei: String,
    pub model_id: Uuid,
    pub series_id: Uuid,
    pub purchase_date: NaiveDate,
    pub channel: Channel,
    pub reported_fault: String,
    pub accessories: Vec<String>,
    pub inspection: Inspection,
    pub covered_item: CoveredItem,
    pub fault: FaultKind,
    pub certificate: Certificate,
    pub force_majeure: bool,
    pub extended_warranty: bool,
    pub screen_plan: bool,
    pub prior_overrun_days: u32,
    pub warranty: WarrantyDecision,
    pub status: TicketStatus,
    pub promised_at: Option<DateTime<Utc>>,
    /// The loaner loan of a premium-series ticket: reserved, or waiting on the waitlist. Absent otherwise.
    pub loan: Option<Loan>,
    pub timeline: Vec<TicketEvent>,
    /// Courier legs of a mail-in ticket.
    pub pickups: Vec<crate::courier::Pickup>,
    /// The customer's tracking token, for the link `/api/v1/public/tracking/{token}`. Shown once, in the answer
    /// to opening the ticket; only its hash is kept.
    pub tracking_token: Option<String>,
    /// Parts reserved or used, labour, and what the customer pays.
    pub parts: crate::parts::repair::TicketParts,
    pub rating: Option<Rating>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A ticket in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketSummary {
    pub id: Uuid,
    pub number: String,
    pub store_id: Uuid,
    pub model_id: Uuid,
    pub channel: Channel,
    pub status: TicketStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketList {
    pub items: Vec<TicketSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub store_id: Option<Uuid>,
    pub status: Option<TicketStatus>,
}

/// Store staff act on their stores' tickets; admins on all; other roles not at all.
pub fn require_ticket_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

fn parse_enum<T: for<'de> Deserialize<'de>>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

fn channel_of(row: &TicketRow) -> Channel {
    if row.channel == "mail_in" {
        Channel::MailIn
    } else {
        Channel::WalkIn
    }
}

/// The store-local date of an instant.
pub fn local_date(time_zone: &str, at: DateTime<Utc>) -> NaiveDate {
    match time_zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).date_naive(),
        Err(_) => at.date_naive(),
    }
}

fn warranty_input(row: &TicketRow, today: NaiveDate) -> WarrantyInput {
    WarrantyInput {
        purchase_date: row.purchase_date,
        today,
        item: parse_enum(&row.covered_item).unwrap_or(CoveredItem::Handset),
        fault: parse_enum(&row.fault_kind).unwrap_or(FaultKind::Performance),
        findings: Findings {
            liquid: row.finding_liquid,
            drop: row.finding_drop,
            crush: row.finding_crush,
            tampering: row.finding_tampering,
        },
        certificate: parse_enum(&row.certificate).unwrap_or(Certificate::Valid),
        force_majeure: row.force_majeure,
        extended_warranty: row.extended_warranty,
        screen_plan: row.screen_plan,
        overrun_days: u32::try_from(row.prior_overrun_days).unwrap_or(0),
    }
}

fn enum_str<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Where a ticket is being opened and for what: its store's time zone and its model's series.
struct Place {
    store_id: Id,
    time_zone: String,
    series_id: Id,
    premium: bool,
}

/// The store and model of a ticket being opened, read in one query: the store must exist within the caller's
/// scope and be an active service center; the model and its series must exist and be active.
fn place_of_opening(conn: &mut Conn<'_>, principal: &Principal, store_id: Uuid, model_id: Uuid) -> AppResult<Place> {
    type Found = (
        String,
        String,
        bool,
        Option<Id>,
        Option<bool>,
        Option<bool>,
        Option<bool>,
    );
    let found: Option<Found> = with_conn!(conn, c => stores::table
        .left_join(product_models::table.on(product_models::id.eq(Id(model_id))))
        .left_join(product_series::table.on(product_series::id.eq(product_models::series_id)))
        .filter(stores::id.eq(Id(store_id)))
        .select((
            stores::kind,
            stores::time_zone,
            stores::active,
            product_series::id.nullable(),
            product_series::premium.nullable(),
            product_models::active.nullable(),
            product_series::active.nullable(),
        ))
        .first(c)
        .optional())?;
    let Some((kind, time_zone, store_active, series, premium, model_active, series_active)) =
        found.filter(|_| principal.covers_store(store_id))
    else {
        return Err(AppError::field("store_id", "no such store"));
    };
    if !store_active || kind != "service_center" {
        return Err(AppError::field(
            "store_id",
            "tickets open only at an active service center",
        ));
    }
    let (Some(series_id), Some(premium)) = (series, premium) else {
        return Err(AppError::field("model_id", "no such model"));
    };
    if model_active != Some(true) || series_active != Some(true) {
        return Err(AppError::field("model_id", "the model or its series is deactivated"));
    }
    Ok(Place {
        store_id: Id(store_id),
        time_zone,
        series_id,
        premium,
    })
}

pub fn open(
    conn: &mut Conn<'_>,
    principal: &Principal,
    input: &OpenTicket,
    hold: std::time::Duration,
) -> AppResult<Ticket> {
    let Place {
        store_id,
        time_zone,
        series_id,
        premium,
    } = place_of_opening(conn, principal, input.store_id, input.model_id)?;
    let now = crate::now();
    let today = local_date(&time_zone, now);
    let mut checks = Checks::new();
    let customer_name = checks.text("customer.name", &input.customer.name, 1, 100);
    let phone = input.customer.phone.trim().to_owned();
    let digits = phone.strip_prefix('+').unwrap_or(&phone);
    if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        checks.fail("customer.phone", "must be 5 to 20 digits, optionally after a +");
    }
    let imei = Imei::parse(&input.device_imei)
        .map_err(|why| checks.fail("device_imei", why))
        .ok();
    if input.purchase_date > today {
        checks.fail("purchase_date", format!("is after today ({today}) at the store"));
    }
    let fault = checks.text("reported_fault", &input.reported_fault, 1, 1000);
    if input.accessories.len() > 20 || input.accessories.iter().any(|a| a.trim().is_empty() || a.len() > 100) {
        checks.fail("accessories", "at most 20 names of 1 to 100 characters");
    }
    let cosmetic = input
        .inspection
        .cosmetic
        .as_ref()
        .map(|c| checks.text("inspection.cosmetic", c, 0, 500));
    match (input.channel, &input.pickup) {
        (Channel::MailIn, None) => {
            checks.fail("pickup", "a mail-in ticket needs the address the courier collects from")
        }
        (Channel::WalkIn, Some(_)) => checks.fail("pickup", "only mail-in tickets have a courier pickup"),
        _ => {}
    }
    if input.prior_overrun_days > 3650 {
        checks.fail("prior_overrun_days", "must be at most 3650");
    }
    if input.promised_at.is_some_and(|t| t <= now) {
        checks.fail("promised_at", "must be in the future");
    }
    checks.finish()?;
    let imei = imei.ok_or_else(|| AppError::field("device_imei", "is not valid"))?;

    let mut row = TicketRow {
        id: Id(Uuid::now_v7()),
        number: next_number(conn, chrono::Datelike::year(&today))?,
        store_id,
        customer_name,
        customer_phone: phone,
        device_imei: imei.to_string(),
        model_id: Id(input.model_id),
        purchase_date: input.purchase_date,
        channel: input.channel.as_str().to_owned(),
        reported_fault: fault,
        accessories: serde_json::to_string(&input.accessories).map_err(anyhow::Error::from)?,
        finding_liquid: input.inspection.liquid,
        finding_drop: input.inspection.drop,
        finding_crush: input.inspection.crush,
        finding_tampering: input.inspection.tampering,
        finding_cosmetic: cosmetic,
        extended_warranty: input.extended_warranty,
        screen_plan: input.screen_plan,
        covered_item: enum_str(&input.covered_item.unwrap_or(CoveredItem::Handset)),
        fault_kind: enum_str(&input.fault.unwrap_or(FaultKind::Performance)),
        certificate: enum_str(&input.certificate.unwrap_or(Certificate::Valid)),
        force_majeure: input.force_majeure,
        prior_overrun_days: i32::try_from(input.prior_overrun_days).unwrap_or(0),
        warranty_decision: None,
        status: TicketStatus::Received.as_str().to_owned(),
        promised_at: input.promised_at.map(|t| Ts(truncate(t))),
        tracking_token_hash: None,
        labour_minor: 0,
        rating: None,
        rating_comment: None,
        created_at: Ts(now),
        updated_at: Ts(now),
        closed_at: None,
    };
    let decision = warranty::decide(&warranty_input(&row, today), &warranty::Policy::default());
    row.warranty_decision = Some(serde_json::to_string(&decision).map_err(anyhow::Error::from)?);
    let token = crate::tracking::new_token();
    row.tracking_token_hash = Some(crate::tracking::hash_token(&token));
    with_conn!(conn, c => diesel::insert_into(tickets::table).values(&row).execute(c))?;
    let opened = TicketEventRow::new(
        row.id,
        Some(principal.key_id),
        "opened",
        None,
        Some(TicketStatus::Received),
        Some(decision.explanation.as_str()),
    );
    if let Some(pickup) = &input.pickup {
        crate::courier::create_pickup(conn, &row, crate::courier::Direction::Inbound, pickup, principal.key_id)?;
    }
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
    // The opening's timeline entries go in one statement: the opening itself, and the reservation when a loaner
    // was claimed at once. They are stamped in order, and the timeline is read in that order.
    let events = match &reservation {
        Some(Reservation::Claimed { event, .. }) => vec![opened, event.clone()],
        _ => vec![opened],
    };
    record_events(conn, &events)?;
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
                parts: TicketParts::none(),
                pickups: Vec::new(),
            },
        )?,
        None => detail(conn, row)?,
    };
    ticket.tracking_token = Some(token);
    Ok(ticket)
}

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The ticket's current loan (its open one, else its latest).
pub fn loan_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Option<LoanRow>> {
    let rows: Vec<LoanRow> = with_conn!(conn, c => loans::table
        .filter(loans::ticket_id.eq(ticket))
        .order(loans::id.desc())
        .select(LoanRow::as_select())
        .load(c))?;
    let open = rows.iter().position(|r| r.state().is_open());
    Ok(match open {
        Some(i) => rows.into_iter().nth(i),
        None => rows.into_iter().next(),
    })
}

/// The API view of a loan: with its loaner's IMEI and, while waiting, its place in the queue.
pub fn loan_view(conn: &mut Conn<'_>, row: &LoanRow) -> AppResult<Loan> {
    let imei = match row.loaner_id {
        Some(id) => Some(with_conn!(conn, c => loaners::table.find(id).select(loaners::imei).first::<String>(c))?),
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
    parts: TicketParts,
    pickups: Vec<crate::courier::Pickup>,
}

/// The whole view of a ticket, read from the database.
pub fn detail(conn: &mut Conn<'_>, row: TicketRow) -> AppResult<Ticket> {
    let series_id: Id = with_conn!(conn, c => product_models::table.find(row.model_id)
        .select(product_models::series_id).first(c))?;
    let loan = match loan_of(conn, row.id)? {
        Some(l) => Some(loan_view(conn, &l)?),
        None => None,
    };
    let events: Vec<TicketEventRow> = with_conn!(conn, c => ticket_events::table
        .filter(ticket_events::ticket_id.eq(row.id))
        .order((ticket_events::at, ticket_events::id))
        .select(TicketEventRow::as_select())
        .load(c))?;
    let parts = crate::parts::repair::summary(conn, &row)?;
    let pickups = {
        use crate::db::schema::pickups;
        let rows: Vec<crate::courier::PickupRow> = with_conn!(conn, c => pickups::table
            .filter(pickups::ticket_id.eq(row.id))
            .order(pickups::id)
            .select(crate::courier::PickupRow::as_select())
            .load(c))?;
        rows.into_iter()
            .map(|r| crate::courier::pickup_view(conn, r, true))
            .collect::<AppResult<Vec<_>>>()?
    };
    view(
        row,
        Related {
            series_id,
            loan,
            events,
            parts,
            pickups,
        },
    )
}

fn view(row: TicketRow, related: Related) -> AppResult<Ticket> {
    let Related {
        series_id,
        loan,
        events,
        parts,
        pickups,
    } = related;
    // The pickups' tracking events join the timeline in the order received (the sort is stable).
    let mut timeline: Vec<TicketEvent> = events.into_iter().map(TicketEvent::from).collect();
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
        prior_overrun_days: u32::try_from(row.prior_overrun_days).unwrap_or(0),
        warranty: decision,
        status: TicketStatus::parse(&row.status),
        promised_at: row.promised_at.map(DateTime::from),
        loan,
        timeline,
        parts,
        pickups,
        tracking_token: None,
        rating: row.rating.map(|score| Rating {
            score,
            comment: row.rating_comment.clone(),
        }),
        created_at: row.created_at.0,
        updated_at: row.updated_at.0,
        closed_at: row.closed_at.map(DateTime::from),
    })
}

/// A ticket the caller may see, or 404.
pub fn ticket_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<TicketRow> {
    let row: Option<TicketRow> = with_conn!(conn, c => tickets::table.find(Id(id)).select(TicketRow::as_select())
        .first(c).optional())?;
    row.filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("ticket"))
}

/// A ticket the caller may see, locked until the transaction ends, or 404.
///
/// The lock order: every transaction that changes a ticket's loan or its courier legs locks the ticket first, then
/// its loans ([`lock_loan_of`]), then its pickups; a loaner is changed only under its loan's lock (or claimed free).
/// Taken the same way by the status changes, the loan calls and the courier's events, so that a cancellation and
/// the courier's `picked_up` arriving at once take turns instead of deadlocking. PostgreSQL takes `FOR NO KEY
/// UPDATE`, the lock an update of the row takes anyway, which leaves the key share that timeline inserts take free;
/// SQLite has one writer at a time.
pub fn lock_ticket_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<TicketRow> {
    lock_ticket(conn, Id(id))?
        .filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("ticket"))
}

/// Locks a ticket's row (see [`lock_ticket_in_scope`] for the order) and reads it.
pub fn lock_ticket(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<TicketRow>> {
    Ok(match conn {
        Conn::Pg(c) => tickets::table
            .find(id)
            .select(TicketRow::as_select())
            .for_no_key_update()
            .first(*c)
            .optional()?,
        Conn::Sqlite(c) => tickets::table
            .find(id)
            .select(TicketRow::as_select())
            .first(*c)
            .optional()?,
    })
}

/// Locks a ticket's loans, after the ticket (see [`lock_ticket_in_scope`]), and answers its current one as
/// [`loan_of`] does, read after the lock so that it is the latest.
pub fn lock_loan_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Option<LoanRow>> {
    if let Conn::Pg(c) = conn {
        loans::table
            .filter(loans::ticket_id.eq(ticket))
            .select(loans::id)
            .for_no_key_update()
            .load::<Id>(*c)?;
    }
    loan_of(conn, ticket)
}

/// Moves a ticket one step in its status machine: the transaction behind the status routes (public for the
/// benchmark, which runs it without HTTP).
pub fn transition(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    action: TicketAction,
    note: Option<&str>,
    hold: std::time::Duration,
) -> AppResult<Ticket> {
    let row = lock_ticket_in_scope(conn, principal, id)?;
    let loan = lock_loan_of(conn, row.id)?;
    let from = TicketStatus::parse(&row.status);
    let to = from.apply(action)?;
    // A free repair needs no approval; a paid one starts only once the customer has approved a quote.
    if (from, action) == (TicketStatus::Diagnosing, TicketAction::StartRepair)
        && !crate::parts::repair::warranty_free(&row)
    {
        return Err(AppError::conflict(
            "quote_required",
            "a paid repair starts once the customer approves a quote: send one first",
        ));
    }
    let now = Ts(crate::now());
    if row.channel == "mail_in" {
        mail_in_gates(conn, &row, action, principal.key_id)?;
    }
    if let Some(loan) = loan {
        match (action, loan.state()) {
            // The release gate: the repaired phone goes back only once the loaner is back (or written off).
            (TicketAction::Close, LoanState::Issued) => {
                return Err(crate::loans::loaner_outstanding("closing"));
            }
            (TicketAction::Close | TicketAction::Cancel, state @ (LoanState::Waiting | LoanState::Reserved)) => {
                crate::loans::http::end_loan(conn, &loan, state.cancel()?, Some(principal.key_id), None, now, hold)?;
            }
            (TicketAction::Cancel, LoanState::Issued) => {
                return Err(LoanState::Issued.cancel().err().unwrap_or(AppError::Forbidden));
            }
            _ => {}
        }
    }
    // Parts still reserved when the ticket ends were not used: they go back to the shelf.
    if matches!(action, TicketAction::Cancel | TicketAction::Close) {
        crate::parts::repair::release_all(conn, &row, principal.key_id)?;
    }
    let closed_at = to.is_final().then_some(now);
    with_conn!(conn, c => diesel::update(tickets::table.find(row.id))
        .filter(tickets::status.eq(from.as_str()))
        .set((tickets::status.eq(to.as_str()), tickets::updated_at.eq(now), tickets::closed_at.eq(closed_at)))
        .execute(c))?;
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

fn update_findings(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &UpdateFindings) -> AppResult<Ticket> {
    let mut row = ticket_in_scope(conn, principal, id)?;
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
    let time_zone: String = with_conn!(conn, c => stores::table.find(row.store_id).select(stores::time_zone).first(c))?;
    let now = crate::now();
    // The periods run to the day the customer brought the phone in, the ticket's opening, not to the day of the
    // inspection: findings written on day 8 must not take away a return claimed on day 7.
    let claimed_on = local_date(&time_zone, row.created_at.0);
    let decision = warranty::decide(&warranty_input(&row, claimed_on), &warranty::Policy::default());
    let json = serde_json::to_string(&decision).map_err(anyhow::Error::from)?;
    with_conn!(conn, c => diesel::update(tickets::table.find(row.id))
        .set((
            tickets::finding_liquid.eq(row.finding_liquid),
            tickets::finding_drop.eq(row.finding_drop),
            tickets::finding_crush.eq(row.finding_crush),
            tickets::finding_tampering.eq(row.finding_tampering),
            tickets::finding_cosmetic.eq(&row.finding_cosmetic),
            tickets::fault_kind.eq(&row.fault_kind),
            tickets::certificate.eq(&row.certificate),
            tickets::warranty_decision.eq(Some(json)),
            tickets::updated_at.eq(Ts(now)),
        ))
        .execute(c))?;
    record_event(
        conn,
        row.id,
        Some(principal.key_id),
        "findings_changed",
        None,
        None,
        Some(&decision.explanation),
    )?;
    let row = ticket_in_scope(conn, principal, id)?;
    detail(conn, row)
}

fn rate(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &RateTicket) -> AppResult<Ticket> {
    let row = ticket_in_scope(conn, principal, id)?;
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
    if row.rating.is_some() {
        return Err(AppError::conflict("already_rated", "this ticket has been rated"));
    }
    with_conn!(conn, c => diesel::update(tickets::table.find(row.id))
        .set((tickets::rating.eq(Some(input.score)), tickets::rating_comment.eq(comment), tickets::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    record_event(
        conn,
        row.id,
        Some(principal.key_id),
        "rated",
        None,
        None,
        Some(&format!("{} of 5", input.score)),
    )?;
    let row = ticket_in_scope(conn, principal, id)?;
    detail(conn, row)
}

fn list(conn: &mut Conn<'_>, principal: &Principal, query: &TicketQuery, page: PageRequest) -> AppResult<TicketList> {
    let rows: Vec<TicketRow> = with_conn!(conn, c => {
        let mut q = tickets::table.select(TicketRow::as_select()).order(tickets::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(tickets::id.gt(Id(after)));
        }
        if let Some(store) = query.store_id {
            q = q.filter(tickets::store_id.eq(Id(store)));
        }
        if principal.role != Role::Admin {
            let scope: Vec<Id> = principal.store_ids.iter().copied().map(Id).collect();
            // One store (most keys) as `=`: the generic plan then reads the store's tickets in id order.
            q = match scope.as_slice() {
                [one] => q.filter(tickets::store_id.eq(*one)),
                _ => q.filter(tickets::store_id.eq_any(scope)),
            };
        }
        if let Some(status) = query.status {
            q = q.filter(tickets::status.eq(status.as_str()));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    let items = rows
        .into_iter()
        .map(|r| TicketSummary {
            id: r.id.0,
            number: r.number.clone(),
            store_id: r.store_id.0,
            model_id: r.model_id.0,
            channel: channel_of(&r),
            status: TicketStatus::parse(&r.status),
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
        .collect();
    Ok(TicketList { items, next_cursor })
}

/// Open a repair ticket. For a premium-series model this reserves the best available loaner of the same series at
/// the store in the same transaction, or puts the ticket on the waitlist; `loan` says which.
#[utoipa::path(
    tag = "tickets", operation_id = "open_ticket", request_body = OpenTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets")]
pub async fn open_ticket(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<OpenTicket>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /tickets", &body.raw);
    let input = body.value;
    let hold = state.settings.loan_hold;
    let create = move |conn: &mut Conn<'_>, principal: &Principal| {
        require_ticket_role(principal)?;
        open(conn, principal, &input, hold)
    };
    // The tracking token is shown once; a replay answers without it.
    idempotency::create_redacted(state.db.clone(), bearer, key, fingerprint, create, |stored| {
        if let Some(token) = stored.get_mut("tracking_token") {
            *token = serde_json::Value::Null;
        }
    })
    .await
}

/// Read a ticket with its warranty decision, loan and timeline.
#[utoipa::path(
    tag = "tickets", operation_id = "get_ticket", params(("ticket_id" = Uuid, Path)),
    responses((status = 200, body = Ticket), ReadErrors),
    security(("bearer" = []))
)]
#[get("/tickets/{ticket_id}")]
pub async fn get_ticket(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let ticket = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            let row = ticket_in_scope(conn, principal, id)?;
            detail(conn, row)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(ticket))
}

/// List tickets of the caller's stores, oldest first.
#[utoipa::path(
    tag = "tickets", operation_id = "list_tickets", params(TicketQuery),
    responses((status = 200, body = TicketList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/tickets")]
pub async fn list_tickets(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<TicketQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/tickets", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            list(conn, principal, &query, page)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Record new inspection findings; the warranty decision is made again from them.
#[utoipa::path(
    tag = "tickets", operation_id = "update_ticket_findings", params(("ticket_id" = Uuid, Path)),
    request_body = UpdateFindings, responses((status = 200, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/tickets/{ticket_id}/findings")]
pub async fn update_ticket_findings(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateFindings>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    let ticket = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            update_findings(conn, principal, id, &input)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(ticket))
}

/// Rate a closed ticket, once (the customer's satisfaction, 1 to 5).
#[utoipa::path(
    tag = "tickets", operation_id = "rate_ticket", params(("ticket_id" = Uuid, Path)),
    request_body = RateTicket, responses((status = 200, body = Ticket), WriteErrors),
    security(("bearer" = []))
)]
#[post("/tickets/{ticket_id}/rating")]
pub async fn rate_ticket(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<RateTicket>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let input = body.value;
    let ticket = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            rate(conn, principal, id, &input)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(ticket))
}

async fn run_transition(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: Uuid,
    body: Option<ApiJson<TransitionNote>>,
    action: TicketAction,
) -> AppResult<HttpResponse> {
    let note = body
        .and_then(|b| b.value.note)
        .map(|n| n.trim().chars().take(1000).collect::<String>());
    let hold = state.settings.loan_hold;
    let ticket = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_ticket_role(principal)?;
            transition(conn, principal, id, action, note.as_deref(), hold)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(ticket))
}

macro_rules! transition_endpoint {
    ($name:ident, $path:literal, $action:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
                    tag = "tickets", operation_id = stringify!($name), params(("ticket_id" = Uuid, Path)),
                    request_body(content = Option<TransitionNote>, description = "Optional note for the timeline"),
                    responses((status = 200, body = Ticket), WriteErrors),
                    security(("bearer" = []))
                )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
            body: Option<ApiJson<TransitionNote>>,
        ) -> AppResult<HttpResponse> {
            run_transition(state, bearer, path.into_inner(), body, $action).await
        }
    };
}

transition_endpoint!(
    start_diagnosis,
    "/tickets/{ticket_id}/start-diagnosis",
    TicketAction::StartDiagnosis,
    "Received → diagnosing."
);
transition_endpoint!(
    request_approval,
    "/tickets/{ticket_id}/request-approval",
    TicketAction::RequestApproval,
    "Diagnosing → awaiting the customer's approval of a paid quote."
);
transition_endpoint!(
    start_repair,
    "/tickets/{ticket_id}/start-repair",
    TicketAction::StartRepair,
    "Diagnosing (free repair), awaiting approval (approved) or quality check (failed) → repairing."
);
transition_endpoint!(
    start_quality_check,
    "/tickets/{ticket_id}/start-quality-check",
    TicketAction::StartQualityCheck,
    "Repairing → quality check."
);
transition_endpoint!(
    mark_ready,
    "/tickets/{ticket_id}/mark-ready",
    TicketAction::MarkReady,
    "Quality check passed → ready for pickup."
);
transition_endpoint!(
    close_ticket,
    "/tickets/{ticket_id}/close",
    TicketAction::Close,
    "Ready for pickup → closed: the phone goes back to the customer. Refused with `loaner_outstanding` while the \
     customer still has the loaner (unless it was marked lost); a reservation never handed over is released."
);
transition_endpoint!(
    cancel_ticket,
    "/tickets/{ticket_id}/cancel",
    TicketAction::Cancel,
    "Cancel an open ticket; its waiting or reserved loan is cancelled and the loaner goes to the next waiter. A mail-in ticket's courier legs not yet started are cancelled with it; a leg under way (the courier has the phone) refuses the cancel with 409 `pickup_under_way`."
);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(open_ticket)
        .service(list_tickets)
        .service(get_ticket)
        .service(update_ticket_findings)
        .service(rate_ticket)
        .service(start_diagnosis)
        .service(request_approval)
        .service(start_repair)
        .service(start_quality_check)
        .service(mark_ready)
        .service(close_ticket)
        .service(cancel_ticket);
}
