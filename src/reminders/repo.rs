//! The reminders' queries: planning (idempotent by `dedupe_key`), the facts a message needs, and the claim.

use diesel::prelude::*;

use super::model::ReminderRow;
use crate::db::Conn;
use crate::db::schema::{customers, events, loans, pickups, reminders, stores, tickets};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

/// Writes a planned reminder unless one with its `dedupe_key` exists; true when written.
pub fn insert_planned(conn: &mut Conn<'_>, row: &ReminderRow) -> AppResult<bool> {
    let written = with_conn!(conn, c => diesel::insert_into(reminders::table)
        .values(row)
        .on_conflict(reminders::dedupe_key)
        .do_nothing()
        .execute(c))?;
    Ok(written == 1)
}

/// Cancels the pending reminders about `subject` (a ticket, loan or pickup) of the given kinds; returns how many.
/// A reminder under a live claim is left to its sender (it may be sending it right now, and cancelling would lose
/// the record of a message the customer got): the sender decides it afresh, or sends it, or gives it back.
pub fn cancel_pending(conn: &mut Conn<'_>, subject: Id, kinds: &[&str], reason: &str, now: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(
        reminders::table
            .filter(reminders::subject_id.eq(subject))
            .filter(reminders::state.eq("pending"))
            .filter(reminders::kind.eq_any(kinds))
            .filter(reminders::claimed_until.is_null().or(reminders::claimed_until.lt(now))),
    )
    .set((
        reminders::state.eq("cancelled"),
        reminders::reason.eq(reason),
        reminders::updated_at.eq(now),
    ))
    .execute(c))?)
}

/// What a reminder needs to know of its ticket.
#[derive(Debug, Clone, Queryable)]
pub struct TicketFacts {
    pub id: Id,
    pub number: String,
    pub status: String,
    pub store_id: Id,
    pub customer_id: Option<Id>,
    pub ready_at: Option<Ts>,
    pub store_name: String,
    pub time_zone: String,
}

pub fn ticket_facts(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Option<TicketFacts>> {
    Ok(with_conn!(conn, c => tickets::table
        .inner_join(stores::table)
        .filter(tickets::id.eq(ticket))
        .select((
            tickets::id,
            tickets::number,
            tickets::status,
            tickets::store_id,
            tickets::customer_id,
            tickets::ready_at,
            stores::name,
            stores::time_zone,
        ))
        .first::<TicketFacts>(c)
        .optional())?)
}

/// A loan's ticket, state and due time.
pub fn loan_facts(conn: &mut Conn<'_>, loan: Id) -> AppResult<Option<(Id, String, Option<Ts>)>> {
    Ok(with_conn!(conn, c => loans::table
        .find(loan)
        .select((loans::ticket_id, loans::state, loans::due_at))
        .first(c)
        .optional())?)
}

/// A pickup's ticket, direction and status.
pub fn pickup_facts(conn: &mut Conn<'_>, pickup: Id) -> AppResult<Option<(Id, String, String)>> {
    Ok(with_conn!(conn, c => pickups::table
        .find(pickup)
        .select((pickups::ticket_id, pickups::direction, pickups::status))
        .first(c)
        .optional())?)
}

/// Whether the quote that `issued` (a `quote.issued` event of `ticket`) announced was answered since: a
/// `quote.approved` or `quote.declined` of the ticket written after it (committed, placed in the feed or not).
pub fn quote_answered_since(conn: &mut Conn<'_>, ticket: Id, issued: Id) -> AppResult<bool> {
    let (later, issued_seq) = diesel::alias!(events as later, events as issued_seq);
    let after = issued_seq
        .filter(issued_seq.field(events::id).eq(issued))
        .select(issued_seq.field(events::seq))
        .single_value()
        .assume_not_null();
    Ok(with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        later
            .filter(later.field(events::subject_id).eq(ticket))
            .filter(later.field(events::event_type).eq_any(["quote.approved", "quote.declined"]))
            .filter(later.field(events::seq).gt(after)),
    ))
    .get_result::<bool>(c))?)
}

/// A customer's phone and consent.
pub fn customer_contact(conn: &mut Conn<'_>, customer: Id) -> AppResult<Option<(String, bool)>> {
    Ok(with_conn!(conn, c => customers::table
        .find(customer)
        .select((customers::phone, customers::contact_consent))
        .first(c)
        .optional())?)
}

/// Claims up to `limit` pending reminders due at `now` that nobody holds (or whose holder's lease ran out), for
/// this sender until `until`, marked with `token`. PostgreSQL skips rows another sender is claiming right now;
/// SQLite has one writer at a time, so the second sender sees the first one's claims.
pub fn claim(conn: &mut Conn<'_>, now: Ts, until: Ts, token: Id, limit: i64) -> AppResult<Vec<ReminderRow>> {
    let due = reminders::table
        .filter(reminders::state.eq("pending"))
        .filter(reminders::due_at.le(now))
        .filter(reminders::claimed_until.is_null().or(reminders::claimed_until.lt(now)))
        .order((reminders::due_at, reminders::id))
        .limit(limit)
        .select(reminders::id);
    let ids: Vec<Id> = match conn {
        Conn::Pg(c) => due.for_update().skip_locked().load(*c)?,
        Conn::Sqlite(c) => due.load(*c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(
        with_conn!(conn, c => diesel::update(reminders::table.filter(reminders::id.eq_any(&ids)))
        .set((reminders::claimed_until.eq(Some(until)), reminders::claim_token.eq(Some(token))))
        .returning(reminders::all_columns)
        .get_results::<ReminderRow>(c))?,
    )
}

/// Extends `token`'s claim on reminder `id` to `until`, just before sending it; false when the claim was lost
/// (another sender took it over after the lease ran out) or the reminder is no longer pending.
pub fn extend_claim(conn: &mut Conn<'_>, id: Id, token: Id, until: Ts) -> AppResult<bool> {
    let changed = with_conn!(conn, c => diesel::update(
        reminders::table
            .filter(reminders::id.eq(id))
            .filter(reminders::claim_token.eq(token))
            .filter(reminders::state.eq("pending")),
    )
    .set(reminders::claimed_until.eq(Some(until)))
    .execute(c))?;
    Ok(changed == 1)
}

/// Gives back the reminders of `token`'s claim among `ids` that it still holds, unsent (shutdown): due as they
/// were, for any sender at once. Returns how many.
pub fn unclaim(conn: &mut Conn<'_>, ids: &[Id], token: Id) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(
        reminders::table
            .filter(reminders::id.eq_any(ids))
            .filter(reminders::claim_token.eq(token))
            .filter(reminders::state.eq("pending")),
    )
    .set((reminders::claimed_until.eq(None::<Ts>), reminders::claim_token.eq(None::<Id>)))
    .execute(c))?)
}

/// The claimed reminder `id` if `token` still holds it, locked for this transaction.
pub fn lock_claimed(conn: &mut Conn<'_>, id: Id, token: Id) -> AppResult<Option<ReminderRow>> {
    let held = reminders::table
        .filter(reminders::id.eq(id))
        .filter(reminders::claim_token.eq(token))
        .filter(reminders::state.eq("pending"))
        .select(reminders::all_columns);
    Ok(match conn {
        Conn::Pg(c) => held.for_update().first::<ReminderRow>(*c).optional()?,
        Conn::Sqlite(c) => held.first::<ReminderRow>(*c).optional()?,
    })
}

/// Ends a claimed reminder in `state` (`sent`, `skipped`, `cancelled`, `failed`).
pub struct Ending<'a> {
    pub state: &'a str,
    /// The link as kept once the reminder ended: masked (see `channel::mask_tracking_token`), so that no usable
    /// tracking token stays at rest after the message it was for.
    pub link: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub body: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub sent_at: Option<Ts>,
    pub attempts: i32,
}

pub fn end(conn: &mut Conn<'_>, id: Id, ending: &Ending<'_>, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(reminders::table.find(id))
        .set((
            reminders::state.eq(ending.state),
            reminders::link.eq(ending.link),
            reminders::reason.eq(ending.reason),
            reminders::body.eq(ending.body),
            reminders::channel.eq(ending.channel),
            reminders::sent_at.eq(ending.sent_at),
            reminders::attempts.eq(ending.attempts),
            reminders::claimed_until.eq(None::<Ts>),
            reminders::claim_token.eq(None::<Id>),
            reminders::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Gives a claimed reminder back, due again at `due_at` (quiet hours, a retry), with its attempts and last reason.
pub fn release(conn: &mut Conn<'_>, id: Id, due_at: Ts, attempts: i32, reason: Option<&str>, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(reminders::table.find(id))
        .set((
            reminders::due_at.eq(due_at),
            reminders::attempts.eq(attempts),
            reminders::reason.eq(reason),
            reminders::claimed_until.eq(None::<Ts>),
            reminders::claim_token.eq(None::<Id>),
            reminders::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// A ticket's reminders, oldest due first (tests and the operator's look).
pub fn of_ticket(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Vec<ReminderRow>> {
    Ok(with_conn!(conn, c => reminders::table
        .filter(reminders::ticket_id.eq(ticket))
        .order((reminders::due_at, reminders::sequence_no, reminders::id))
        .select(ReminderRow::as_select())
        .load(c))?)
}
