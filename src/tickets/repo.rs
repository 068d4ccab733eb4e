//! The tickets' queries. The only file of the area that knows which engine runs: the opening is one writable CTE
//! on PostgreSQL ([`insert_opening`]) and today's statements one by one on SQLite; tickets and their loans are
//! locked on PostgreSQL ([`lock_ticket`], [`lock_loan_of`]) where SQLite has one writer at a time.

use std::sync::LazyLock;

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Bool, Date, Integer, Nullable, Text};

use super::model::{TicketEventRow, TicketListRow, TicketRow, TicketStatus};
use crate::db::Conn;
use crate::db::prepared::{no_parameter, prepared_statement, walk_numbered};
use crate::db::schema::{loaners, loans, product_models, product_series, stores, ticket_events, tickets};
use crate::db::types::{DbTime, DbUuid, Id, Ts};
use crate::error::AppResult;
use crate::events::NewEvent;
use crate::loans::LoanRow;
use crate::loans::{QUEUE_LOCK_KEY, Reservation};
use crate::with_conn;

/// The store and model of a ticket being opened, as found (nothing checked yet), with the ticket's number value.
#[derive(QueryableByName)]
pub struct FoundPlace {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub time_zone: String,
    #[diesel(sql_type = Bool)]
    pub store_active: bool,
    #[diesel(sql_type = Nullable<DbUuid>)]
    pub series_id: Option<Id>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub premium: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub model_active: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub series_active: Option<bool>,
    /// The next value of the ticket counter (taken only when the store exists; an opening refused later rolls it
    /// back on SQLite and skips it on PostgreSQL, whose sequence holds no lock for the transaction).
    #[diesel(sql_type = BigInt)]
    pub number: i64,
    /// PostgreSQL: the series' policies that may be in force at the store today, newest first, as JSON (those
    /// effective up to the day after today in UTC: a store's today is never later), for
    /// [`crate::warranty::service::policy_in`] to pick from. SQLite reads the policy on its own.
    #[diesel(sql_type = Nullable<Text>)]
    pub policies: Option<String>,
}

/// The place look-up of an opening on PostgreSQL, in one round trip: the store, the model and its series, the
/// ticket number (a sequence), and, when the opening will ask for a loaner (an active premium series at an active
/// service center), its queue's shared lock. The lock is taken in this statement, before the one that looks for a
/// free loaner: READ COMMITTED takes a snapshot per statement, and a joiner must hold the lock before the snapshot
/// in which it looks, so that it and a releaser never miss each other (see `crate::loans::repo::lock_queue`).
fn place_sql() -> String {
    let key = QUEUE_LOCK_KEY.replace("{store}", "s.id").replace("{series}", "ps.id");
    format!(
        "SELECT s.kind, s.time_zone, s.active AS store_active, ps.id AS series_id, ps.premium, \
         pm.active AS model_active, ps.active AS series_active, nextval('ticket_number_seq') AS number, \
         CASE WHEN ps.premium AND ps.active AND pm.active AND s.active AND s.kind = 'service_center' \
         THEN pg_advisory_xact_lock_shared({key}) IS NULL END AS queue_locked, \
         COALESCE((SELECT json_agg(p ORDER BY p.effective_from DESC)::text FROM (SELECT wp.id, wp.effective_from, \
         wp.return_days, wp.exchange_days, wp.handset_months, wp.battery_months, wp.charger_months, \
         wp.wired_earphones_months, wp.extended_months, wp.screen_plan_months, wp.daily_depreciation_bp \
         FROM warranty_policies wp WHERE wp.series_id = ps.id AND wp.effective_from <= $3 \
         ORDER BY wp.effective_from DESC LIMIT 3) p), '[]') AS policies \
         FROM stores s LEFT JOIN product_models pm ON pm.id = $2 \
         LEFT JOIN product_series ps ON ps.id = pm.series_id WHERE s.id = $1"
    )
}

/// The store and model of a ticket being opened and the ticket's number value, read in one query (see
/// [`FoundPlace`]); `None` when the store does not exist. PostgreSQL also takes the queue's shared lock here, and
/// reads the series' policies effective up to `policies_until`.
pub fn place_of_opening(
    conn: &mut Conn<'_>,
    store: Id,
    model: Id,
    policies_until: chrono::NaiveDate,
) -> AppResult<Option<FoundPlace>> {
    match conn {
        Conn::Pg(c) => Ok(PlaceStatement {
            store,
            model,
            policies_until,
        }
        .get_result::<FoundPlace>(*c)
        .optional()?),
        Conn::Sqlite(c) => {
            type Found = (
                String,
                String,
                bool,
                Option<Id>,
                Option<bool>,
                Option<bool>,
                Option<bool>,
            );
            let found: Option<Found> = stores::table
                .left_join(product_models::table.on(product_models::id.eq(model)))
                .left_join(product_series::table.on(product_series::id.eq(product_models::series_id)))
                .filter(stores::id.eq(store))
                .select((
                    stores::kind,
                    stores::time_zone,
                    stores::active,
                    product_series::id.nullable(),
                    product_series::premium.nullable(),
                    product_models::active.nullable(),
                    product_series::active.nullable(),
                ))
                .first(*c)
                .optional()?;
            let Some((kind, time_zone, store_active, series_id, premium, model_active, series_active)) = found else {
                return Ok(None);
            };
            // SQLite, with one writer at a time, counts in a row.
            let number = diesel::sql_query(
                "INSERT INTO counters (name, value) VALUES ('ticket_number', 1) \
                 ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            )
            .get_result::<CounterValue>(*c)?
            .value;
            Ok(Some(FoundPlace {
                kind,
                time_zone,
                store_active,
                series_id,
                premium,
                model_active,
                series_active,
                number,
                policies: None,
            }))
        }
    }
}

static PLACE_SQL: LazyLock<String> = LazyLock::new(place_sql);

/// [`place_sql`] with its binds, prepared once per connection.
struct PlaceStatement {
    store: Id,
    model: Id,
    policies_until: chrono::NaiveDate,
}

impl QueryFragment<Pg> for PlaceStatement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk_numbered(&PLACE_SQL, &mut out, |n, out| match n {
            1 => out.push_bind_param::<DbUuid, _>(&self.store),
            2 => out.push_bind_param::<DbUuid, _>(&self.model),
            3 => out.push_bind_param::<Date, _>(&self.policies_until),
            _ => Err(no_parameter("the place look-up", n)),
        })
    }
}

prepared_statement!(PlaceStatement, PlaceStatement);

#[derive(QueryableByName)]
struct CounterValue {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

pub fn insert_ticket(conn: &mut Conn<'_>, row: &TicketRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(tickets::table).values(row).execute(c))?;
    Ok(())
}

/// Writes timeline entries made with [`TicketEventRow::new`], several in one statement.
pub fn record_events(conn: &mut Conn<'_>, rows: &[TicketEventRow]) -> AppResult<()> {
    match rows {
        [] => {}
        // One row stays a plain insert: diesel runs a multi-row insert with nullable columns on SQLite row by row
        // inside a savepoint, which would add two statements to every timeline entry there.
        [row] => {
            with_conn!(conn, c => diesel::insert_into(ticket_events::table).values(row).execute(c))?;
        }
        _ => {
            with_conn!(conn, c => diesel::insert_into(ticket_events::table).values(rows).execute(c))?;
        }
    }
    Ok(())
}

/// The loan an opening asks for (a premium series): its queue, its stamps and the hold of a claimed loaner.
pub struct LoanRequest {
    pub now: Ts,
    pub hold_until: Option<Ts>,
}

/// What [`insert_opening`] wrote.
pub enum Opening {
    /// The ticket, its timeline entries (`events`, in order) and, when asked for, its loan.
    Complete {
        events: Vec<TicketEventRow>,
        reservation: Option<Box<Reservation>>,
    },
    /// The ticket only: its timeline and its loan are the caller's (SQLite runs the opening step by step).
    TicketOnly,
    /// The ticket and its `opened` entry, without the loan asked for: the ticket would have waited while a free
    /// loaner of its series was in sight (a queue to serve, or a loaner another opening holds), so the caller
    /// joins the queue the ordinary way and serves it (PostgreSQL).
    LoanLeft,
}

/// The opening's writes on PostgreSQL, in one round trip (a writable CTE): the ticket; the best available loaner
/// of the series at the store when nobody waits (`FOR UPDATE SKIP LOCKED`, in `claim_loaner`'s order, so that
/// concurrent openings take different loaners), marked reserved; the loan, reserved with it or waiting; the
/// timeline entries (`opened`, and `loan_reserved` when claimed, stamped as made); their outbox events
/// (`ticket.opened`, and `loan.reserved` when claimed, in that order). Every sub-statement sees the
/// snapshot taken after the queue's shared lock ([`place_of_opening`]); foreign keys are checked at the end of the
/// statement and the loaner's state against its loan at commit. The waitlist position is counted in the same
/// snapshot (the waiting loans queued before this one).
const OPENING_SQL: &str = "WITH ticket AS (
    INSERT INTO tickets (id, number, store_id, customer_name, customer_phone, device_imei, model_id, purchase_date,
        channel, reported_fault, accessories, finding_liquid, finding_drop, finding_crush, finding_tampering,
        finding_cosmetic, extended_warranty, screen_plan, covered_item, fault_kind, certificate, force_majeure,
        prior_overrun_days, warranty_decision, status, promised_at, tracking_token_hash, labour_minor, rating,
        rating_comment, created_at, updated_at, closed_at, device_id, customer_id, received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
        $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $49, $50, $51)
    RETURNING id
), claimed AS (
    UPDATE loaners SET state = 'reserved', updated_at = $43
    WHERE id = (
        SELECT l.id FROM loaners l
        WHERE $41 AND l.store_id = $3 AND l.series_id = $42 AND l.state = 'available'
            AND NOT EXISTS (SELECT 1 FROM loans w WHERE w.store_id = $3 AND w.series_id = $42 AND w.state = 'waiting')
        ORDER BY l.grade, l.idle_since, l.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) AND state = 'available'
    RETURNING id, imei
), seen AS (
    SELECT EXISTS (SELECT 1 FROM loaners f WHERE f.store_id = $3 AND f.series_id = $42 AND f.state = 'available')
            AS free_visible,
        (SELECT count(*) FROM loans w WHERE w.store_id = $3 AND w.series_id = $42 AND w.state = 'waiting'
            AND (w.queued_at < $43 OR (w.queued_at = $43 AND w.id < $44))) AS ahead
), outcome AS (
    SELECT c.id AS loaner_id, c.imei AS loaner_imei, s.ahead,
        $41 AND (c.id IS NOT NULL OR NOT s.free_visible) AS loan_written
    FROM seen s LEFT JOIN claimed c ON true
), loan AS (
    INSERT INTO loans (id, ticket_id, loaner_id, store_id, series_id, state, queued_at, reserved_at, hold_until,
        loaner_hold, created_at, updated_at)
    SELECT $44, t.id, o.loaner_id, $3, $42, CASE WHEN o.loaner_id IS NULL THEN 'waiting' ELSE 'reserved' END, $43,
        CASE WHEN o.loaner_id IS NOT NULL THEN $43 END, CASE WHEN o.loaner_id IS NOT NULL THEN $45 END,
        CASE WHEN o.loaner_id IS NOT NULL THEN 'reserved' END, $43, $43
    FROM outcome o, ticket t WHERE o.loan_written
    RETURNING id
), events AS (
    INSERT INTO ticket_events (id, ticket_id, at, api_key_id, kind, from_status, to_status, note)
    SELECT $34, t.id, $35, $36, $37, $38, $39, $40 FROM ticket t
    UNION ALL
    SELECT $46, t.id, $47, NULL, 'loan_reserved', NULL, NULL, $48 FROM ticket t, outcome o
    WHERE o.loaner_id IS NOT NULL
    RETURNING id
), outbox AS (
    INSERT INTO events (id, event_type, occurred_at, subject_type, subject_id, store_id, payload, internal)
    SELECT $52, 'ticket.opened', $31, 'ticket', t.id, $3, $53, $54 FROM ticket t
    UNION ALL
    SELECT $55, 'loan.reserved', $43, 'loan', $44, $3, $56, NULL FROM ticket t, outcome o
    WHERE o.loaner_id IS NOT NULL
    RETURNING seq
)
SELECT loaner_id, loaner_imei, ahead, loan_written FROM outcome";

/// The opening's events as [`OPENING_SQL`] writes them.
struct OpeningOutbox {
    opened_id: Id,
    opened_payload: String,
    opened_internal: Option<String>,
    reserved_id: Id,
    reserved_payload: String,
}

/// [`OPENING_SQL`] with its binds, prepared once per connection.
struct OpeningStatement<'a> {
    row: &'a TicketRow,
    /// The outbox rows: `ticket.opened`'s id, payload and internal part, `loan.reserved`'s id and payload.
    outbox: &'a OpeningOutbox,
    opened: &'a TicketEventRow,
    reserved: &'a TicketEventRow,
    premium: bool,
    series: Id,
    now: Ts,
    loan_id: Id,
    hold_until: Option<Ts>,
}

impl QueryFragment<Pg> for OpeningStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (row, opened) = (self.row, self.opened);
        walk_numbered(OPENING_SQL, &mut out, |n, out| match n {
            1 => out.push_bind_param::<DbUuid, _>(&row.id),
            2 => out.push_bind_param::<Text, _>(&row.number),
            3 => out.push_bind_param::<DbUuid, _>(&row.store_id),
            4 => out.push_bind_param::<Text, _>(&row.customer_name),
            5 => out.push_bind_param::<Text, _>(&row.customer_phone),
            6 => out.push_bind_param::<Text, _>(&row.device_imei),
            7 => out.push_bind_param::<DbUuid, _>(&row.model_id),
            8 => out.push_bind_param::<Date, _>(&row.purchase_date),
            9 => out.push_bind_param::<Text, _>(&row.channel),
            10 => out.push_bind_param::<Text, _>(&row.reported_fault),
            11 => out.push_bind_param::<Text, _>(&row.accessories),
            12 => out.push_bind_param::<Bool, _>(&row.finding_liquid),
            13 => out.push_bind_param::<Bool, _>(&row.finding_drop),
            14 => out.push_bind_param::<Bool, _>(&row.finding_crush),
            15 => out.push_bind_param::<Bool, _>(&row.finding_tampering),
            16 => out.push_bind_param::<Nullable<Text>, _>(&row.finding_cosmetic),
            17 => out.push_bind_param::<Bool, _>(&row.extended_warranty),
            18 => out.push_bind_param::<Bool, _>(&row.screen_plan),
            19 => out.push_bind_param::<Text, _>(&row.covered_item),
            20 => out.push_bind_param::<Text, _>(&row.fault_kind),
            21 => out.push_bind_param::<Text, _>(&row.certificate),
            22 => out.push_bind_param::<Bool, _>(&row.force_majeure),
            23 => out.push_bind_param::<Integer, _>(&row.prior_overrun_days),
            24 => out.push_bind_param::<Nullable<Text>, _>(&row.warranty_decision),
            25 => out.push_bind_param::<Text, _>(&row.status),
            26 => out.push_bind_param::<Nullable<DbTime>, _>(&row.promised_at),
            27 => out.push_bind_param::<Nullable<Text>, _>(&row.tracking_token_hash),
            28 => out.push_bind_param::<BigInt, _>(&row.labour_minor),
            29 => out.push_bind_param::<Nullable<Integer>, _>(&row.rating),
            30 => out.push_bind_param::<Nullable<Text>, _>(&row.rating_comment),
            31 => out.push_bind_param::<DbTime, _>(&row.created_at),
            32 => out.push_bind_param::<DbTime, _>(&row.updated_at),
            33 => out.push_bind_param::<Nullable<DbTime>, _>(&row.closed_at),
            34 => out.push_bind_param::<DbUuid, _>(&opened.id),
            35 => out.push_bind_param::<DbTime, _>(&opened.at),
            36 => out.push_bind_param::<Nullable<DbUuid>, _>(&opened.api_key_id),
            37 => out.push_bind_param::<Text, _>(&opened.kind),
            38 => out.push_bind_param::<Nullable<Text>, _>(&opened.from_status),
            39 => out.push_bind_param::<Nullable<Text>, _>(&opened.to_status),
            40 => out.push_bind_param::<Nullable<Text>, _>(&opened.note),
            41 => out.push_bind_param::<Bool, _>(&self.premium),
            42 => out.push_bind_param::<DbUuid, _>(&self.series),
            43 => out.push_bind_param::<DbTime, _>(&self.now),
            44 => out.push_bind_param::<DbUuid, _>(&self.loan_id),
            45 => out.push_bind_param::<Nullable<DbTime>, _>(&self.hold_until),
            46 => out.push_bind_param::<DbUuid, _>(&self.reserved.id),
            47 => out.push_bind_param::<DbTime, _>(&self.reserved.at),
            48 => out.push_bind_param::<Nullable<Text>, _>(&self.reserved.note),
            49 => out.push_bind_param::<Nullable<DbUuid>, _>(&row.device_id),
            50 => out.push_bind_param::<Nullable<DbUuid>, _>(&row.customer_id),
            51 => out.push_bind_param::<Nullable<DbTime>, _>(&row.received_at),
            52 => out.push_bind_param::<DbUuid, _>(&self.outbox.opened_id),
            53 => out.push_bind_param::<Text, _>(&self.outbox.opened_payload),
            54 => out.push_bind_param::<Nullable<Text>, _>(&self.outbox.opened_internal),
            55 => out.push_bind_param::<DbUuid, _>(&self.outbox.reserved_id),
            56 => out.push_bind_param::<Text, _>(&self.outbox.reserved_payload),
            _ => Err(no_parameter("the opening", n)),
        })
    }
}

prepared_statement!(OpeningStatement<'_>, OpeningStatement<'static>);

#[derive(QueryableByName)]
struct OpeningOutcome {
    #[diesel(sql_type = Nullable<DbUuid>)]
    loaner_id: Option<Id>,
    #[diesel(sql_type = Nullable<Text>)]
    loaner_imei: Option<String>,
    #[diesel(sql_type = BigInt)]
    ahead: i64,
    #[diesel(sql_type = Bool)]
    loan_written: bool,
}

/// Writes an opening: the ticket, its `opened` entry and, with `loan`, its loan (see [`Opening`] for what the
/// caller is left to do). PostgreSQL does it in one statement ([`OPENING_SQL`]); SQLite writes the ticket and
/// leaves the rest to the caller's steps, as before.
pub fn insert_opening(
    conn: &mut Conn<'_>,
    row: &TicketRow,
    opened: &TicketEventRow,
    opened_event: &NewEvent,
    series: Id,
    loan: Option<&LoanRequest>,
) -> AppResult<Opening> {
    let Conn::Pg(c) = conn else {
        insert_ticket(conn, row)?;
        return Ok(Opening::TicketOnly);
    };
    let loan_id = Id(uuid::Uuid::now_v7());
    let now = loan.map_or(row.created_at, |l| l.now);
    let reserved = TicketEventRow::new(row.id, None, "loan_reserved", None, None, Some("loaner reserved"));
    let hold_until = loan.and_then(|l| l.hold_until);
    let json = |v: &serde_json::Value| serde_json::to_string(v).map_err(anyhow::Error::from);
    let outbox = OpeningOutbox {
        opened_id: Id(uuid::Uuid::now_v7()),
        opened_payload: json(&opened_event.payload)?,
        opened_internal: opened_event.internal.as_ref().map(json).transpose()?,
        reserved_id: Id(uuid::Uuid::now_v7()),
        reserved_payload: json(&crate::loans::loan_payload(
            loan_id,
            row.id,
            serde_json::json!({"reserved_at": now.0, "hold_until": hold_until.map(|t| t.0)}),
        ))?,
    };
    let outcome: OpeningOutcome = OpeningStatement {
        row,
        outbox: &outbox,
        opened,
        reserved: &reserved,
        premium: loan.is_some(),
        series,
        now,
        loan_id,
        hold_until: loan.and_then(|l| l.hold_until),
    }
    .get_result(*c)?;
    let Some(loan) = loan else {
        return Ok(Opening::Complete {
            events: vec![opened.clone()],
            reservation: None,
        });
    };
    if !outcome.loan_written {
        return Ok(Opening::LoanLeft);
    }
    let written = LoanRow::for_ticket(
        loan_id,
        row.id,
        row.store_id,
        series,
        outcome.loaner_id,
        loan.hold_until,
        now,
    );
    Ok(match (outcome.loaner_id, outcome.loaner_imei) {
        (Some(_), Some(imei)) => Opening::Complete {
            events: vec![opened.clone(), reserved.clone()],
            reservation: Some(Box::new(Reservation::Claimed {
                loan: written,
                imei,
                event: reserved,
            })),
        },
        _ => Opening::Complete {
            events: vec![opened.clone()],
            reservation: Some(Box::new(Reservation::Waiting {
                loan: written,
                position: outcome.ahead + 1,
            })),
        },
    })
}

/// The store of a ticket.
pub fn store_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Id> {
    Ok(with_conn!(conn, c => tickets::table.find(ticket).select(tickets::store_id).first(c))?)
}

/// A ticket by id, unlocked.
pub fn find_ticket(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<TicketRow>> {
    Ok(with_conn!(conn, c => tickets::table.find(id).select(TicketRow::as_select()).first(c).optional())?)
}

/// Locks a ticket's row (see `service::lock_ticket_in_scope` for the order) and reads it. PostgreSQL takes `FOR NO
/// KEY UPDATE`, the lock an update of the row takes anyway, which leaves the key share that timeline inserts take
/// free; SQLite has one writer at a time.
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

/// Locks a ticket's loans, after the ticket (see `service::lock_ticket_in_scope`), and answers its current one as
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

pub fn loaner_imei(conn: &mut Conn<'_>, loaner: Id) -> AppResult<String> {
    Ok(with_conn!(conn, c => loaners::table.find(loaner).select(loaners::imei).first::<String>(c))?)
}

pub fn series_of_model(conn: &mut Conn<'_>, model: Id) -> AppResult<Id> {
    Ok(with_conn!(conn, c => product_models::table.find(model).select(product_models::series_id).first(c))?)
}

pub fn store_time_zone(conn: &mut Conn<'_>, store: Id) -> AppResult<String> {
    Ok(with_conn!(conn, c => stores::table.find(store).select(stores::time_zone).first(c))?)
}

/// A ticket's timeline entries, in the order they happened.
pub fn events_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<TicketEventRow>> {
    Ok(with_conn!(conn, c => ticket_events::table
        .filter(ticket_events::ticket_id.eq(ticket))
        .order((ticket_events::at, ticket_events::id))
        .select(TicketEventRow::as_select())
        .load(c))?)
}

/// Writes a ticket's findings and the warranty decision made from them.
pub fn update_findings(conn: &mut Conn<'_>, row: &TicketRow, decision_json: String, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(tickets::table.find(row.id))
        .set((
            tickets::finding_liquid.eq(row.finding_liquid),
            tickets::finding_drop.eq(row.finding_drop),
            tickets::finding_crush.eq(row.finding_crush),
            tickets::finding_tampering.eq(row.finding_tampering),
            tickets::finding_cosmetic.eq(&row.finding_cosmetic),
            tickets::fault_kind.eq(&row.fault_kind),
            tickets::certificate.eq(&row.certificate),
            tickets::warranty_decision.eq(Some(decision_json)),
            tickets::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Rates a ticket not rated yet: false when it was rated meanwhile (nothing changed).
pub fn set_rating(
    conn: &mut Conn<'_>,
    ticket: Id,
    score: i32,
    comment: Option<String>,
    works_now: Option<bool>,
    now: Ts,
) -> AppResult<bool> {
    let n = with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .filter(tickets::rating.is_null())
        .set((
            tickets::rating.eq(Some(score)),
            tickets::rating_comment.eq(comment),
            tickets::rating_works_now.eq(works_now),
            tickets::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// Moves a ticket from `from` to `to` (guarded by `from`), stamping when it ended if it did, and when it became
/// ready for pickup if it did (every time: a repair that failed its check and is marked ready again moves the stamp).
pub fn set_status(
    conn: &mut Conn<'_>,
    ticket: Id,
    from: TicketStatus,
    to: TicketStatus,
    now: Ts,
    closed_at: Option<Ts>,
) -> AppResult<bool> {
    let target = tickets::table.find(ticket).filter(tickets::status.eq(from.as_str()));
    let changed = if to == TicketStatus::ReadyForPickup {
        with_conn!(conn, c => diesel::update(target)
            .set((
                tickets::status.eq(to.as_str()),
                tickets::updated_at.eq(now),
                tickets::closed_at.eq(closed_at),
                tickets::ready_at.eq(Some(now)),
            ))
            .execute(c))?
    } else {
        with_conn!(conn, c => diesel::update(target)
            .set((tickets::status.eq(to.as_str()), tickets::updated_at.eq(now), tickets::closed_at.eq(closed_at)))
            .execute(c))?
    };
    Ok(changed == 1)
}

/// Stamps when a mail-in ticket's phone reached the store (its inbound leg delivered), once.
pub fn set_received(conn: &mut Conn<'_>, ticket: Id, at: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .filter(tickets::received_at.is_null())
        .set((tickets::received_at.eq(Some(at)), tickets::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    Ok(())
}

/// Records the customer's choice of remedy (who, when), or clears it (all `None`).
pub fn set_remedy(
    conn: &mut Conn<'_>,
    ticket: Id,
    remedy: Option<&str>,
    chosen_at: Option<Ts>,
    chosen_by: Option<Id>,
    now: Ts,
) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .set((
            tickets::remedy.eq(remedy),
            tickets::remedy_chosen_at.eq(chosen_at),
            tickets::remedy_chosen_by.eq(chosen_by),
            tickets::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// How a ticket ended when it ended in a return or an exchange.
pub struct Outcome<'a> {
    pub kind: &'a str,
    pub refund_minor: Option<i64>,
    pub replacement_device_id: Option<Id>,
}

/// Closes a ticket (guarded by its status `from`) with its outcome; false when it is no longer in `from`.
pub fn close_with_outcome(
    conn: &mut Conn<'_>,
    ticket: Id,
    from: TicketStatus,
    outcome: &Outcome<'_>,
    now: Ts,
) -> AppResult<bool> {
    let changed = with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .filter(tickets::status.eq(from.as_str()))
        .set((
            tickets::status.eq(TicketStatus::Closed.as_str()),
            tickets::closed_at.eq(Some(now)),
            tickets::updated_at.eq(now),
            tickets::outcome.eq(Some(outcome.kind)),
            tickets::refund_minor.eq(outcome.refund_minor),
            tickets::replacement_device_id.eq(outcome.replacement_device_id),
        ))
        .execute(c))?;
    Ok(changed == 1)
}

/// Which tickets a list shows: a page after `after`, of one store, of the caller's stores (`None` for an admin),
/// of one status, of one IMEI, of one customer, whose number starts with a prefix (uppercase), past their promise
/// as of an instant.
pub struct TicketFilter {
    pub after: Option<Id>,
    pub fetch: i64,
    pub store: Option<Id>,
    pub scope: Option<Vec<Id>>,
    pub status: Option<TicketStatus>,
    pub imei: Option<String>,
    pub customer: Option<Id>,
    pub number_prefix: Option<String>,
    pub past_promise_at: Option<Ts>,
    /// Only tickets not closed or cancelled.
    pub open_only: bool,
}

/// The tickets past their promise, written exactly as the partial index `tickets_past_promise`'s predicate, with
/// constants (not parameters), so that both engines prove the index serves the query, also in PostgreSQL's generic
/// plan of the prepared statement.
const PAST_PROMISE: &str = "promised_at IS NOT NULL AND (ready_at > promised_at OR (ready_at IS NULL AND status NOT \
                            IN ('closed', 'cancelled')))";

/// The first string after every string that starts with `prefix`, byte-wise: the prefix with its last byte
/// incremented (the prefix is ASCII letters, digits and dashes, so the result is ASCII too).
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last = last.saturating_add(1);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A page of tickets in id order (in number order when searching by number).
///
/// The number prefix is a byte-wise range `prefix <= number < prefix_end`: on SQLite with `>=`/`<`, which the
/// UNIQUE index on number serves (BINARY collation); on PostgreSQL with the pattern operators `~>=~`/`~<~`, which
/// `tickets_number_prefix (number text_pattern_ops)` serves whatever the database's collation. It is what
/// PostgreSQL makes of `number LIKE 'PREFIX%'` with a constant pattern; a `LIKE $1 || '%'` with a parameter could
/// not use the index in a generic plan.
pub fn list(conn: &mut Conn<'_>, filter: TicketFilter) -> AppResult<Vec<TicketListRow>> {
    let (ge, lt, gt, by_number) = match conn {
        // `USING ~<~`: the pattern index's own (byte-wise) order, so that the index gives the page in order and the
        // scan stops after it; a plain `ORDER BY number` is the collation's order, which that index cannot give.
        Conn::Pg(_) => (" ~>=~ ", " ~<~ ", " ~>~ ", "\"tickets\".\"number\" USING ~<~"),
        Conn::Sqlite(_) => (" >= ", " < ", " > ", "\"tickets\".\"number\""),
    };
    // A number search pages in number order, which its index gives: in id order, a short prefix (`RT-2026-8732`
    // matches 1,100 tickets of a ten-million year) would fetch and sort every match for each page. The cursor stays
    // the last ticket's id; its number is where the next page starts.
    let after_number = match (&filter.number_prefix, filter.after) {
        (Some(_), Some(after)) => Some(
            with_conn!(conn, c => tickets::table.find(after).select(tickets::number).first::<String>(c).optional())?
                .unwrap_or_default(),
        ),
        _ => None,
    };
    Ok(with_conn!(conn, c => {
        let mut q = tickets::table.select(TicketListRow::as_select()).limit(filter.fetch).into_boxed();
        q = if filter.number_prefix.is_some() { q.order(sql::<Text>(by_number)) } else { q.order(tickets::id) };
        match (&after_number, filter.after) {
            (Some(number), _) => {
                q = q.filter(sql::<Bool>("\"tickets\".\"number\"").sql(gt).bind::<Text, _>(number.clone()))
            }
            (None, Some(after)) => q = q.filter(tickets::id.gt(after)),
            (None, None) => {}
        }
        if let Some(store) = filter.store {
            q = q.filter(tickets::store_id.eq(store));
        }
        if let Some(scope) = &filter.scope {
            // One store (most keys) as `=`: the generic plan then reads the store's tickets in id order.
            q = match scope.as_slice() {
                [one] => q.filter(tickets::store_id.eq(*one)),
                _ => q.filter(tickets::store_id.eq_any(scope.clone())),
            };
        }
        if let Some(status) = filter.status {
            q = q.filter(tickets::status.eq(status.as_str()));
        }
        if let Some(imei) = &filter.imei {
            q = q.filter(tickets::device_imei.eq(imei.clone()));
        }
        if let Some(customer) = filter.customer {
            q = q.filter(tickets::customer_id.eq(customer));
        }
        if let Some(prefix) = &filter.number_prefix {
            let range = sql::<Bool>("\"tickets\".\"number\"")
                .sql(ge)
                .bind::<Text, _>(prefix.clone())
                .sql(" AND \"tickets\".\"number\"")
                .sql(lt)
                .bind::<Text, _>(prefix_end(prefix));
            q = q.filter(range);
        }
        if filter.open_only {
            q = q.filter(tickets::status.ne_all(["closed", "cancelled"]));
        }
        if let Some(now) = filter.past_promise_at {
            q = q
                .filter(sql::<Bool>(PAST_PROMISE))
                .filter(tickets::ready_at.is_not_null().or(tickets::promised_at.lt(now)));
        }
        q.load(c)
    })?)
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_before_its_last_character_plus_one() {
        for (prefix, end) in [
            ("RT-2026-0001", "RT-2026-0002"),
            ("RT", "RU"),
            ("RT-", "RT."),
            ("A9", "A:"),
            ("Z", "["),
        ] {
            assert_eq!(prefix_end(prefix), end, "{prefix}");
        }
    }
}
