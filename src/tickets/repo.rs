//! The tickets' queries. The only file of the area that knows which engine runs: the opening is one writable CTE
//! on PostgreSQL ([`insert_opening`]) and today's statements one by one on SQLite; tickets and their loans are
//! locked on PostgreSQL ([`lock_ticket`], [`lock_loan_of`]) where SQLite has one writer at a time.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::model::{TicketEventRow, TicketRow, TicketStatus};
use crate::db::Conn;
use crate::db::schema::{loaners, loans, product_models, product_series, stores, ticket_events, tickets};
use crate::db::types::{DbUuid, Id, Ts};
use crate::error::AppResult;
use crate::loans::reserve::Reservation;
use crate::loans::LoanRow;
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
}

/// The store and model of a ticket being opened and the ticket's number value, read in one query (see
/// [`FoundPlace`]); `None` when the store does not exist. PostgreSQL also takes the queue's shared lock here.
pub fn place_of_opening(conn: &mut Conn<'_>, store: Id, model: Id) -> AppResult<Option<FoundPlace>> {
    {
        {
            type Found = (
                String,
                String,
                bool,
                Option<Id>,
                Option<bool>,
                Option<bool>,
                Option<bool>,
            );
            let found = stores::table
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
                ;
            let found: Option<Found> = with_conn!(conn, c => found.first(c).optional())?;
            let Some((kind, time_zone, store_active, series_id, premium, model_active, series_active)) = found else {
                return Ok(None);
            };
            // PostgreSQL uses a sequence (no row lock held for the transaction, numbers may skip on rollback);
            // SQLite, with one writer at a time, a counter row.
            let number = match conn {
                Conn::Pg(c) => diesel::sql_query("SELECT nextval('ticket_number_seq') AS value")
                    .get_result::<CounterValue>(*c)?,
                Conn::Sqlite(c) => diesel::sql_query(
                    "INSERT INTO counters (name, value) VALUES ('ticket_number', 1) \
                     ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
                )
                .get_result::<CounterValue>(*c)?,
            }
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
            }))
        }
    }
}

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
        reservation: Option<Reservation>,
    },
    /// The ticket only: its timeline and its loan are the caller's (SQLite runs the opening step by step).
    TicketOnly,
    /// The ticket and its `opened` entry, without the loan asked for: the ticket would have waited while a free
    /// loaner of its series was in sight (a queue to serve, or a loaner another opening holds), so the caller
    /// joins the queue the ordinary way and serves it (PostgreSQL).
    LoanLeft,
}

/// Writes an opening: the ticket, its `opened` entry and, with `loan`, its loan (see [`Opening`] for what the
/// caller is left to do). PostgreSQL does it in one statement ([`OPENING_SQL`]); SQLite writes the ticket and
/// leaves the rest to the caller's steps, as before.
pub fn insert_opening(
    conn: &mut Conn<'_>,
    row: &TicketRow,
    opened: &TicketEventRow,
    series: Id,
    loan: Option<&LoanRequest>,
) -> AppResult<Opening> {
    let _ = (opened, series, loan);
    insert_ticket(conn, row)?;
    Ok(Opening::TicketOnly)
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

/// A ticket's courier legs, oldest first.
pub fn pickups_of(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<crate::courier::PickupRow>> {
    use crate::db::schema::pickups;
    Ok(with_conn!(conn, c => pickups::table
        .filter(pickups::ticket_id.eq(ticket))
        .order(pickups::id)
        .select(crate::courier::PickupRow::as_select())
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

pub fn set_rating(conn: &mut Conn<'_>, ticket: Id, score: i32, comment: Option<String>, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .set((tickets::rating.eq(Some(score)), tickets::rating_comment.eq(comment), tickets::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Moves a ticket from `from` to `to` (guarded by `from`), stamping when it ended if it did.
pub fn set_status(
    conn: &mut Conn<'_>,
    ticket: Id,
    from: TicketStatus,
    to: TicketStatus,
    now: Ts,
    closed_at: Option<Ts>,
) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
        .filter(tickets::status.eq(from.as_str()))
        .set((tickets::status.eq(to.as_str()), tickets::updated_at.eq(now), tickets::closed_at.eq(closed_at)))
        .execute(c))?;
    Ok(())
}

/// Which tickets a list shows: a page after `after`, of one store, of the caller's stores (`None` for an admin),
/// of one status.
pub struct TicketFilter {
    pub after: Option<Id>,
    pub fetch: i64,
    pub store: Option<Id>,
    pub scope: Option<Vec<Id>>,
    pub status: Option<TicketStatus>,
}

/// A page of tickets in id order.
pub fn list(conn: &mut Conn<'_>, filter: TicketFilter) -> AppResult<Vec<TicketRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = tickets::table.select(TicketRow::as_select()).order(tickets::id).limit(filter.fetch).into_boxed();
        if let Some(after) = filter.after {
            q = q.filter(tickets::id.gt(after));
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
        q.load(c)
    })?)
}
