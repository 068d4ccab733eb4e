//! The stock queries: levels, the movement ledger, and the look-ups of locations and parts that stock needs. Every
//! decrement is a guarded update (`… WHERE on_hand - reserved >= q`) with the table's checks
//! (`0 <= reserved <= on_hand`) behind it.

use diesel::prelude::*;

use super::model::{LevelRow, MovementRow};
use crate::db::Conn;
use crate::db::schema::{parts, stock_levels, stock_movements, stores};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

/// Whether a location is active; `None` when there is no such location.
pub fn location_active(conn: &mut Conn<'_>, location: Id) -> AppResult<Option<bool>> {
    Ok(with_conn!(conn, c => stores::table.find(location).select(stores::active).first(c).optional())?)
}

/// A part's SKU and whether it is active; `None` when there is no such part.
pub fn part_sku_active(conn: &mut Conn<'_>, part: Id) -> AppResult<Option<(String, bool)>> {
    Ok(with_conn!(conn, c => parts::table.find(part).select((parts::sku, parts::active)).first(c).optional())?)
}

/// A location by its code (upper-case), and whether it is active.
pub fn location_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<(Id, bool)>> {
    Ok(with_conn!(conn, c => stores::table
        .filter(stores::code.eq(code))
        .select((stores::id, stores::active)).first(c).optional())?)
}

/// A part by its SKU (upper-case), and whether it is active.
pub fn part_by_sku(conn: &mut Conn<'_>, sku: &str) -> AppResult<Option<(Id, bool)>> {
    Ok(with_conn!(conn, c => parts::table
        .filter(parts::sku.eq(sku))
        .select((parts::id, parts::active)).first(c).optional())?)
}

/// Appends one movement to the ledger.
pub fn insert_movement(conn: &mut Conn<'_>, row: &MovementRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(stock_movements::table).values(row).execute(c))?;
    Ok(())
}

/// How many receipt movements with this number the location already has for the part.
pub fn receipts_recorded(conn: &mut Conn<'_>, location: Id, part: Id, number: &str) -> AppResult<i64> {
    Ok(with_conn!(conn, c => stock_movements::table
        .filter(stock_movements::location_id.eq(location))
        .filter(stock_movements::part_id.eq(part))
        .filter(stock_movements::kind.eq("receipt"))
        .filter(stock_movements::reference.eq(number))
        .count()
        .get_result(c))?)
}

/// Adds to `on_hand`, creating the level if it is the first stock of this part here.
pub fn add_on_hand(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<()> {
    let now = Ts(crate::now());
    let row = LevelRow {
        on_hand: q,
        ..LevelRow::empty(location, part, now)
    };
    with_conn!(conn, c => diesel::insert_into(stock_levels::table)
        .values(&row)
        .on_conflict((stock_levels::location_id, stock_levels::part_id))
        .do_update()
        .set((stock_levels::on_hand.eq(stock_levels::on_hand + q), stock_levels::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Takes `q` from `on_hand` while that many are available (`on_hand - reserved`); false when they are not.
pub fn take_available(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<bool> {
    let now = Ts(crate::now());
    let updated = with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .filter((stock_levels::on_hand - stock_levels::reserved).ge(q))
        .set((stock_levels::on_hand.eq(stock_levels::on_hand - q), stock_levels::updated_at.eq(now)))
        .execute(c))?;
    Ok(updated == 1)
}

/// `reserved += q` only while that many are available; false when they are not.
pub fn reserve_available(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<bool> {
    let now = Ts(crate::now());
    let updated = with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .filter((stock_levels::on_hand - stock_levels::reserved).ge(q))
        .set((stock_levels::reserved.eq(stock_levels::reserved + q), stock_levels::updated_at.eq(now)))
        .execute(c))?;
    Ok(updated == 1)
}

/// `reserved -= q`, and `on_hand -= q` too when the units are used up (`consumed`); false when fewer than `q` are
/// reserved.
pub fn unreserve(conn: &mut Conn<'_>, location: Id, part: Id, q: i64, consumed: bool) -> AppResult<bool> {
    let now = Ts(crate::now());
    let level = stock_levels::table.find((location, part));
    let updated = if consumed {
        with_conn!(conn, c => diesel::update(level)
            .filter(stock_levels::reserved.ge(q))
            .set((
                stock_levels::reserved.eq(stock_levels::reserved - q),
                stock_levels::on_hand.eq(stock_levels::on_hand - q),
                stock_levels::updated_at.eq(now),
            ))
            .execute(c))?
    } else {
        with_conn!(conn, c => diesel::update(level)
            .filter(stock_levels::reserved.ge(q))
            .set((stock_levels::reserved.eq(stock_levels::reserved - q), stock_levels::updated_at.eq(now)))
            .execute(c))?
    };
    Ok(updated == 1)
}

/// `on_hand` becomes what a count found.
pub fn set_on_hand(conn: &mut Conn<'_>, location: Id, part: Id, counted: i64) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .set((stock_levels::on_hand.eq(counted), stock_levels::updated_at.eq(Ts(crate::now()))))
        .execute(c))?;
    Ok(())
}

/// Sets a level's reorder point and quantity.
pub fn set_reorder(conn: &mut Conn<'_>, location: Id, part: Id, point: i64, qty: i64) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .set((
            stock_levels::reorder_point.eq(point),
            stock_levels::reorder_qty.eq(qty),
            stock_levels::updated_at.eq(Ts(crate::now())),
        ))
        .execute(c))?;
    Ok(())
}

pub fn level(conn: &mut Conn<'_>, location: Id, part: Id) -> AppResult<Option<LevelRow>> {
    Ok(
        with_conn!(conn, c => stock_levels::table.find((location, part)).select(LevelRow::as_select()).first(c).optional())?,
    )
}

/// Locks the existing levels among `levels` in (location, part) order, the one order in which every path that
/// changes more than one level takes them (PostgreSQL; SQLite has one writer): two transactions taking the same
/// levels in opposite orders would deadlock.
pub fn lock_levels(conn: &mut Conn<'_>, levels: impl IntoIterator<Item = (Id, Id)>) -> AppResult<()> {
    if let Conn::Pg(_) = conn {
        let mut levels: Vec<(Id, Id)> = levels.into_iter().collect();
        levels.sort_by_key(|(location, part)| (location.0, part.0));
        levels.dedup_by_key(|(location, part)| (location.0, part.0));
        for (location, part) in levels {
            level_for_update(conn, location, part)?;
        }
    }
    Ok(())
}

/// The level, locked against concurrent writers until the transaction ends (PostgreSQL; SQLite has one writer).
pub fn level_for_update(conn: &mut Conn<'_>, location: Id, part: Id) -> AppResult<Option<LevelRow>> {
    Ok(match conn {
        Conn::Pg(c) => stock_levels::table
            .find((location, part))
            .select(LevelRow::as_select())
            .for_update()
            .first(*c)
            .optional()?,
        Conn::Sqlite(c) => stock_levels::table
            .find((location, part))
            .select(LevelRow::as_select())
            .first(*c)
            .optional()?,
    })
}

/// Which levels a list or report covers: the filters and the caller's locations (`None`: every location).
pub struct LevelFilter<'a> {
    pub location: Option<Id>,
    pub part: Option<Id>,
    pub scope: Option<&'a [Id]>,
}

/// A page of levels with their SKUs, by location then SKU, after the keyed cursor `after`.
pub fn levels_page(
    conn: &mut Conn<'_>,
    filter: &LevelFilter<'_>,
    after: Option<(Id, String)>,
    fetch: i64,
) -> AppResult<Vec<(LevelRow, String)>> {
    Ok(with_conn!(conn, c => {
        let mut q = stock_levels::table
            .inner_join(parts::table)
            .select((LevelRow::as_select(), parts::sku))
            .order((stock_levels::location_id, parts::sku))
            .limit(fetch)
            .into_boxed();
        if let Some((location, sku)) = &after {
            q = q.filter(
                stock_levels::location_id
                    .gt(*location)
                    .or(stock_levels::location_id.eq(*location).and(parts::sku.gt(sku.clone()))),
            );
        }
        if let Some(location) = filter.location {
            q = q.filter(stock_levels::location_id.eq(location));
        }
        if let Some(part) = filter.part {
            q = q.filter(stock_levels::part_id.eq(part));
        }
        if let Some(scope) = filter.scope {
            q = q.filter(stock_levels::location_id.eq_any(scope.to_vec()));
        }
        q.load(c)
    })?)
}

/// A page of the ledger in id order, after the movement `after`.
pub fn movements_page(
    conn: &mut Conn<'_>,
    filter: &LevelFilter<'_>,
    after: Option<Id>,
    fetch: i64,
) -> AppResult<Vec<MovementRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = stock_movements::table
            .select(MovementRow::as_select())
            .order(stock_movements::id)
            .limit(fetch)
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(stock_movements::id.gt(after));
        }
        if let Some(location) = filter.location {
            q = q.filter(stock_movements::location_id.eq(location));
        }
        if let Some(part) = filter.part {
            q = q.filter(stock_movements::part_id.eq(part));
        }
        if let Some(scope) = filter.scope {
            // One location (most keys) as `=`: the generic plan then reads its movements in id order.
            q = match scope {
                [one] => q.filter(stock_movements::location_id.eq(*one)),
                _ => q.filter(stock_movements::location_id.eq_any(scope.to_vec())),
            };
        }
        q.load(c)
    })?)
}

/// The levels at or below their reorder point (and with a reorder setting), with SKU and location code, by
/// location code then SKU.
pub fn levels_to_reorder(conn: &mut Conn<'_>, filter: &LevelFilter<'_>) -> AppResult<Vec<(LevelRow, String, String)>> {
    Ok(with_conn!(conn, c => {
        let mut q = stock_levels::table
            .inner_join(parts::table)
            .inner_join(stores::table)
            .filter((stock_levels::on_hand - stock_levels::reserved).le(stock_levels::reorder_point))
            .filter(stock_levels::reorder_point.gt(0).or(stock_levels::reorder_qty.gt(0)))
            .select((LevelRow::as_select(), parts::sku, stores::code))
            .order((stores::code, parts::sku))
            .into_boxed();
        if let Some(location) = filter.location {
            q = q.filter(stock_levels::location_id.eq(location));
        }
        if let Some(scope) = filter.scope {
            q = q.filter(stock_levels::location_id.eq_any(scope.to_vec()));
        }
        q.load(c)
    })?)
}

pub fn all_levels(conn: &mut Conn<'_>) -> AppResult<Vec<LevelRow>> {
    Ok(with_conn!(conn, c => stock_levels::table.select(LevelRow::as_select()).load(c))?)
}

/// The ledger's sum for one (location, part, kind).
#[derive(QueryableByName)]
pub struct LedgerSum {
    #[diesel(sql_type = crate::db::types::DbUuid)]
    pub location_id: Id,
    #[diesel(sql_type = crate::db::types::DbUuid)]
    pub part_id: Id,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total: i64,
}

pub fn ledger_sums(conn: &mut Conn<'_>) -> AppResult<Vec<LedgerSum>> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL; the cast keeps it an integer on both engines.
    Ok(with_conn!(conn, c => diesel::sql_query(
        "SELECT location_id, part_id, kind, CAST(SUM(quantity) AS BIGINT) AS total FROM stock_movements \
         GROUP BY location_id, part_id, kind",
    )
    .load(c))?)
}

/// A level as the console's list shows it: the level, the part's SKU and name, the location's code and name.
pub type LevelLine = (LevelRow, String, String, String, String);

/// What the console's level list is filtered by, beyond [`LevelFilter`].
pub struct LevelSearch<'a> {
    pub filter: LevelFilter<'a>,
    /// A LIKE pattern of the lowered SKU or name text ([`crate::parts::rules::like_pattern`]).
    pub pattern: Option<String>,
    /// Only the levels the reorder report would list ([`super::rules::is_low`]).
    pub low_only: bool,
}

/// A page of levels with their part and location, by location then SKU (the API's order and cursor), in one query.
pub fn level_lines(
    conn: &mut Conn<'_>,
    search: &LevelSearch<'_>,
    after: Option<(Id, String)>,
    fetch: i64,
) -> AppResult<Vec<LevelLine>> {
    use crate::parts::repo::lower;
    let filter = &search.filter;
    Ok(with_conn!(conn, c => {
        let mut q = stock_levels::table
            .inner_join(parts::table)
            .inner_join(stores::table)
            .select((LevelRow::as_select(), parts::sku, parts::name, stores::code, stores::name))
            .order((stock_levels::location_id, parts::sku))
            .limit(fetch)
            .into_boxed();
        if let Some((location, sku)) = &after {
            q = q.filter(
                stock_levels::location_id
                    .gt(*location)
                    .or(stock_levels::location_id.eq(*location).and(parts::sku.gt(sku.clone()))),
            );
        }
        if let Some(location) = filter.location {
            q = q.filter(stock_levels::location_id.eq(location));
        }
        if let Some(part) = filter.part {
            q = q.filter(stock_levels::part_id.eq(part));
        }
        if let Some(scope) = filter.scope {
            q = q.filter(stock_levels::location_id.eq_any(scope.to_vec()));
        }
        if let Some(pattern) = &search.pattern {
            q = q.filter(
                lower(parts::sku).like(pattern.clone()).escape('\\')
                    .or(lower(parts::name).like(pattern.clone()).escape('\\')),
            );
        }
        if search.low_only {
            q = q
                .filter((stock_levels::on_hand - stock_levels::reserved).le(stock_levels::reorder_point))
                .filter(stock_levels::reorder_point.gt(0).or(stock_levels::reorder_qty.gt(0)));
        }
        q.load(c)
    })?)
}

/// Every active location (id, code, name), by code.
pub fn active_locations(conn: &mut Conn<'_>) -> AppResult<Vec<(Id, String, String)>> {
    Ok(with_conn!(conn, c => stores::table
        .filter(stores::active.eq(true))
        .select((stores::id, stores::code, stores::name))
        .order(stores::code)
        .load(c))?)
}

/// A part's SKU and name; `None` when there is no such part.
pub fn part_label(conn: &mut Conn<'_>, part: Id) -> AppResult<Option<(String, String)>> {
    Ok(with_conn!(conn, c => parts::table.find(part).select((parts::sku, parts::name)).first(c).optional())?)
}

/// The receipt movements one key recorded under these receipt numbers, with SKU and location code, in ledger order.
pub fn receipts_by(
    conn: &mut Conn<'_>,
    key: Id,
    numbers: &[String],
    limit: i64,
) -> AppResult<Vec<(MovementRow, String, String)>> {
    Ok(with_conn!(conn, c => stock_movements::table
        .inner_join(parts::table)
        .inner_join(stores::table)
        .filter(stock_movements::kind.eq("receipt"))
        .filter(stock_movements::api_key_id.eq(key))
        .filter(stock_movements::reference.eq_any(numbers.to_vec()))
        .select((MovementRow::as_select(), parts::sku, stores::code))
        .order(stock_movements::id)
        .limit(limit)
        .load(c))?)
}
