//! The stock use cases: receipts (one or a CSV file of them), transfers, counts, reorder settings, the lists and the
//! reorder report, and the ledger check; and the repair movements (reserve, release, consume) that the repair
//! use cases compose inside their own transactions.
//!
//! Every change of `on_hand` or `reserved` writes its movement in the same transaction, and every decrement is a
//! guarded update with the table's checks behind it, so concurrent reservations never oversell and `on_hand`
//! always equals the ledger's sum.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use uuid::Uuid;

use super::http::{
    AdjustmentResult, CreateAdjustment, CreateReceipt, CreateTransfer, LedgerCheck, LedgerMismatch, LevelQuery,
    MovementQuery, ReceiptLine, ReceiptResult, ReorderLine, ReorderReport, ReorderSettings, StockLevel, StockLevelList,
    StockMovement, StockMovementList, TransferResult,
};
use super::model::{LevelRow, MovementKind, MovementRow};
use super::repo::{self, LevelFilter};
use super::rules;
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::Id;
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult, FieldError, OrDuplicate};
use crate::http::pagination::{self, PageRequest};
use crate::http::validate::Checks;

/// Who may move stock at a location: admins anywhere, warehouse keys at their locations.
fn require_stock_writer(principal: &Principal, location: Uuid) -> AppResult<()> {
    match principal.role {
        Role::Admin => Ok(()),
        Role::Warehouse if principal.covers_store(location) => Ok(()),
        Role::Warehouse => Err(AppError::NotFound("location")),
        _ => Err(AppError::Forbidden),
    }
}

/// Who may read stock: admins, and warehouse or store staff at their locations.
pub fn require_stock_reader(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::Warehouse | Role::StoreStaff => Ok(()),
        Role::Courier => Err(AppError::Forbidden),
    }
}

/// Who may import receipts from a file: admins and warehouse keys.
pub fn require_importer(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::Warehouse => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

fn scope_filter(principal: &Principal) -> Option<Vec<Id>> {
    (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect())
}

pub fn check_location(conn: &mut Conn<'_>, location: Uuid, field: &str) -> AppResult<Id> {
    location_verdict(repo::location_active(conn, Id(location))?, field)?;
    Ok(Id(location))
}

/// What a location's `active` flag (`None`: no such location) says about taking stock there.
pub fn location_verdict(active: Option<bool>, field: &str) -> AppResult<()> {
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(AppError::field(field, "the location is deactivated")),
        None => Err(AppError::field(field, "no such location")),
    }
}

/// The part's SKU, if it exists and is active.
pub fn check_part(conn: &mut Conn<'_>, part: Uuid, field: &str) -> AppResult<String> {
    part_verdict(repo::part_sku_active(conn, Id(part))?, field)
}

/// What a part's SKU and `active` flag (`None`: no such part) say about moving it: its SKU, or why not.
pub fn part_verdict<T>(found: Option<(T, bool)>, field: &str) -> AppResult<T> {
    match found {
        Some((sku, true)) => Ok(sku),
        Some((_, false)) => Err(AppError::field(field, "the part is deactivated")),
        None => Err(AppError::field(field, "no such part")),
    }
}

/// Appends one movement to the ledger.
#[expect(
    clippy::too_many_arguments,
    reason = "a ledger entry has that many fields; a struct would only rename them"
)]
pub fn record(
    conn: &mut Conn<'_>,
    location: Id,
    part: Id,
    kind: MovementKind,
    quantity: i64,
    reference: Option<&str>,
    reason: Option<&str>,
    actor: Option<Uuid>,
) -> AppResult<MovementRow> {
    let row = MovementRow::new((location, part), kind, quantity, reference, reason, actor);
    repo::insert_movement(conn, &row)?;
    Ok(row)
}

/// Emits `stock.low` (see `crate::events`) when a movement that just took `taken` units from what was available at
/// `location` left the level at or below its reorder point from above it ([`rules::crossed_reorder_point`]). The
/// caller's transaction holds the level's row lock (its update took it).
pub fn emit_if_low(conn: &mut Conn<'_>, location: Id, part: Id, taken: i64) -> AppResult<()> {
    let Some(level) = repo::level(conn, location, part)? else {
        return Ok(());
    };
    let available = rules::available(level.on_hand, level.reserved);
    if !rules::crossed_reorder_point(available, taken, level.reorder_point, level.reorder_qty) {
        return Ok(());
    }
    crate::events::emit_in(
        conn,
        crate::events::NewEvent {
            event_type: crate::events::EventType::StockLow,
            subject: crate::events::Subject {
                kind: crate::events::SubjectType::StockLevel,
                id: part.0,
                store_id: Some(location.0),
                partner_id: None,
            },
            payload: serde_json::json!({
                "location_id": location.0,
                "part_id": part.0,
                "on_hand": level.on_hand,
                "reserved": level.reserved,
                "available": available,
                "reorder_point": level.reorder_point,
                "reorder_qty": level.reorder_qty,
            }),
            internal: None,
        },
    )?;
    Ok(())
}

/// Takes `q` from what is available (`on_hand - reserved`), or refuses with `insufficient_stock`.
fn take_available(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<()> {
    if repo::take_available(conn, location, part, q)? {
        emit_if_low(conn, location, part, q)
    } else {
        Err(insufficient(conn, location, part, q)?)
    }
}

/// The `insufficient_stock` refusal, saying what is available now.
pub fn insufficient(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<AppError> {
    let available = repo::level(conn, location, part)?
        .map(|l| rules::available(l.on_hand, l.reserved))
        .unwrap_or(0);
    Ok(AppError::conflict(
        "insufficient_stock",
        format!("{q} wanted, {available} available at this location"),
    ))
}

/// Reserves `q` units for a repair: `reserved += q` only while that many are available.
///
/// This and the other repair movements write their ledger row before they update the level: the update locks
/// the level's row until the commit, and every movement of this part at this location waits for that lock, so the
/// less that runs after it, the more movements a busy part can take. A refused update rolls the ledger row back
/// with the rest of the transaction.
pub fn reserve_units(
    conn: &mut Conn<'_>,
    location: Id,
    part: Id,
    q: i64,
    reference: &str,
    actor: Uuid,
) -> AppResult<()> {
    record(
        conn,
        location,
        part,
        MovementKind::Reservation,
        q,
        Some(reference),
        None,
        Some(actor),
    )?;
    if !repo::reserve_available(conn, location, part, q)? {
        return Err(insufficient(conn, location, part, q)?);
    }
    emit_if_low(conn, location, part, q)
}

/// Gives back `q` reserved units.
pub fn release_units(
    conn: &mut Conn<'_>,
    location: Id,
    part: Id,
    q: i64,
    reference: &str,
    actor: impl Into<Option<Uuid>>,
) -> AppResult<()> {
    unreserve_units(
        conn,
        (location, part),
        MovementKind::Release,
        q,
        reference,
        actor.into(),
    )
}

/// Uses `q` reserved units in a repair: they leave both `reserved` and `on_hand`.
pub fn consume_units(
    conn: &mut Conn<'_>,
    location: Id,
    part: Id,
    q: i64,
    reference: &str,
    actor: impl Into<Option<Uuid>>,
) -> AppResult<()> {
    unreserve_units(
        conn,
        (location, part),
        MovementKind::Consumption,
        q,
        reference,
        actor.into(),
    )
}

/// Takes `q` units out of `reserved` by a release or a consumption (which takes them from `on_hand` too).
fn unreserve_units(
    conn: &mut Conn<'_>,
    (location, part): (Id, Id),
    kind: MovementKind,
    q: i64,
    reference: &str,
    actor: Option<Uuid>,
) -> AppResult<()> {
    record(conn, location, part, kind, -q, Some(reference), None, actor)?;
    let consumed = kind == MovementKind::Consumption;
    if !repo::unreserve(conn, location, part, q, consumed)? {
        let doing = if consumed { "consuming" } else { "releasing" };
        return Err(anyhow::anyhow!("{doing} {q} units that were not reserved").into());
    }
    Ok(())
}

pub fn receive(conn: &mut Conn<'_>, principal: &Principal, input: &CreateReceipt) -> AppResult<ReceiptResult> {
    require_stock_reader(principal)?;
    require_stock_writer(principal, input.location_id)?;
    let mut checks = Checks::new();
    let number = checks.text("receipt_number", &input.receipt_number, 1, 64);
    if input.lines.is_empty() || input.lines.len() > 1000 {
        checks.fail("lines", "1 to 1000 lines");
    }
    for (i, line) in input.lines.iter().enumerate() {
        rules::quantity(&mut checks, &format!("lines[{i}].quantity"), line.quantity);
    }
    checks.finish()?;
    let location = check_location(conn, input.location_id, "location_id")?;
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in input.lines.iter().enumerate() {
        if let Err(AppError::Validation(mut e)) = check_part(conn, line.part_id, &format!("lines[{i}].part_id")) {
            errors.append(&mut e);
        }
        if !seen.insert(line.part_id) {
            errors.push(FieldError::new(
                format!("lines[{i}].part_id"),
                "repeats an earlier line",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    // Lines are applied in part order (one location), the order every path locks stock levels in; the answer
    // lists their movements in the order sent.
    let mut order: Vec<usize> = (0..input.lines.len()).collect();
    order.sort_by_key(|i| input.lines[*i].part_id);
    let mut movements = vec![None; input.lines.len()];
    for i in order {
        let line = &input.lines[i];
        let part = Id(line.part_id);
        let taken = || {
            AppError::conflict(
                "duplicate_receipt",
                format!("receipt {number} was already recorded at this location"),
            )
        };
        if repo::receipts_recorded(conn, location, part, &number)? > 0 {
            return Err(taken());
        }
        repo::add_on_hand(conn, location, part, line.quantity)?;
        let row = record(
            conn,
            location,
            part,
            MovementKind::Receipt,
            line.quantity,
            Some(&number),
            None,
            Some(principal.key_id),
        )
        .or_duplicate(taken)?;
        movements[i] = Some(row.into());
    }
    Ok(ReceiptResult {
        receipt_number: number,
        movements: movements.into_iter().flatten().collect(),
    })
}

/// One CSV row of a receipts file: `location_code,receipt_number,sku,quantity`.
#[derive(Debug, Deserialize)]
struct CsvReceipt {
    location_code: String,
    receipt_number: String,
    sku: String,
    quantity: String,
}

/// Records every receipt line of a CSV file, or none: each bad row is named by its line number.
pub fn import_receipts(conn: &mut Conn<'_>, principal: &Principal, csv_text: &[u8]) -> AppResult<Vec<ReceiptResult>> {
    require_importer(principal)?;
    let rows =
        crate::http::csv_rows::read::<CsvReceipt>(csv_text, &["location_code", "receipt_number", "sku", "quantity"])?;
    let mut errors = Vec::new();
    // Receipts in file order, each with its lines.
    let mut receipts: Vec<(Uuid, String, Vec<ReceiptLine>)> = Vec::new();
    for (line, row) in rows {
        let row = match row {
            Ok(row) => row,
            Err(why) => {
                errors.push(FieldError::new(&line, why));
                continue;
            }
        };
        let mut problems = Vec::new();
        let location = match repo::location_by_code(conn, &row.location_code.to_ascii_uppercase())? {
            Some((id, true)) if principal.role == Role::Admin || principal.covers_store(id.0) => Some(id.0),
            Some((_, false)) => {
                problems.push(format!("location {} is deactivated", row.location_code));
                None
            }
            _ => {
                problems.push(format!("no location {}", row.location_code));
                None
            }
        };
        let part = match repo::part_by_sku(conn, &row.sku.to_ascii_uppercase())? {
            Some((id, true)) => Some(id.0),
            Some((_, false)) => {
                problems.push(format!("part {} is deactivated", row.sku));
                None
            }
            None => {
                problems.push(format!("no part {}", row.sku));
                None
            }
        };
        let qty = row
            .quantity
            .parse::<i64>()
            .ok()
            .filter(|q| (1..=rules::MAX_QUANTITY).contains(q));
        if qty.is_none() {
            problems.push("quantity must be a whole number from 1 to 1000000".to_owned());
        }
        if row.receipt_number.is_empty() || row.receipt_number.len() > 64 {
            problems.push("receipt_number must be 1 to 64 characters".to_owned());
        }
        match (location, part, qty, problems.is_empty()) {
            (Some(location), Some(part), Some(quantity), true) => {
                match receipts
                    .iter_mut()
                    .find(|(l, n, _)| *l == location && *n == row.receipt_number)
                {
                    Some((_, _, lines)) if lines.iter().any(|l| l.part_id == part) => {
                        errors.push(FieldError::new(&line, "repeats a part of the same receipt"));
                    }
                    Some((_, _, lines)) => lines.push(ReceiptLine {
                        part_id: part,
                        quantity,
                    }),
                    None => receipts.push((
                        location,
                        row.receipt_number,
                        vec![ReceiptLine {
                            part_id: part,
                            quantity,
                        }],
                    )),
                }
            }
            _ => errors.push(FieldError::new(&line, problems.join("; "))),
        }
    }
    if receipts.is_empty() && errors.is_empty() {
        return Err(AppError::field("body", "the file has no rows"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    // Every level the file touches is locked first, in (location, part) order: receipts are applied in file order.
    let levels = receipts
        .iter()
        .flat_map(|(location, _, lines)| lines.iter().map(move |l| (Id(*location), Id(l.part_id))));
    repo::lock_levels(conn, levels)?;
    let mut results = Vec::with_capacity(receipts.len());
    for (location_id, receipt_number, lines) in receipts {
        results.push(receive(
            conn,
            principal,
            &CreateReceipt {
                location_id,
                receipt_number,
                lines,
            },
        )?);
    }
    Ok(results)
}

pub fn transfer(conn: &mut Conn<'_>, principal: &Principal, input: &CreateTransfer) -> AppResult<TransferResult> {
    require_stock_reader(principal)?;
    require_stock_writer(principal, input.from_location_id)?;
    let mut checks = Checks::new();
    rules::quantity(&mut checks, "quantity", input.quantity);
    if input.from_location_id == input.to_location_id {
        checks.fail("to_location_id", "must differ from from_location_id");
    }
    let reference = input.reference.as_ref().map(|r| checks.text("reference", r, 1, 64));
    checks.finish()?;
    let from = check_location(conn, input.from_location_id, "from_location_id")?;
    let to = check_location(conn, input.to_location_id, "to_location_id")?;
    check_part(conn, input.part_id, "part_id")?;
    let part = Id(input.part_id);
    let reference = reference.unwrap_or_else(|| format!("TR-{}", Uuid::now_v7().simple()));
    // Both levels locked in (location, part) order, the order every path takes them in, before either changes:
    // a transfer A to B and one B to A at once would otherwise each hold one and wait for the other.
    repo::lock_levels(conn, [(from, part), (to, part)])?;
    take_available(conn, from, part, input.quantity)?;
    let out = record(
        conn,
        from,
        part,
        MovementKind::TransferOut,
        -input.quantity,
        Some(&reference),
        None,
        Some(principal.key_id),
    )?;
    repo::add_on_hand(conn, to, part, input.quantity)?;
    let into = record(
        conn,
        to,
        part,
        MovementKind::TransferIn,
        input.quantity,
        Some(&reference),
        None,
        Some(principal.key_id),
    )?;
    Ok(TransferResult {
        transfer_out: out.into(),
        transfer_in: into.into(),
    })
}

pub fn adjust(conn: &mut Conn<'_>, principal: &Principal, input: &CreateAdjustment) -> AppResult<AdjustmentResult> {
    require_stock_reader(principal)?;
    require_stock_writer(principal, input.location_id)?;
    let mut checks = Checks::new();
    let reason = checks.text("reason", &input.reason, 1, 500);
    if !(0..=1_000_000_000).contains(&input.counted) {
        checks.fail("counted", "must be a whole number from 0");
    }
    checks.finish()?;
    let location = check_location(conn, input.location_id, "location_id")?;
    let sku = check_part(conn, input.part_id, "part_id")?;
    let part = Id(input.part_id);
    let current = match repo::level_for_update(conn, location, part)? {
        Some(level) => level,
        None => {
            repo::add_on_hand(conn, location, part, 0)?;
            repo::level_for_update(conn, location, part)?.ok_or_else(|| anyhow::anyhow!("stock level vanished"))?
        }
    };
    if input.counted < current.reserved {
        return Err(AppError::field(
            "counted",
            format!("is below the {} units reserved for repairs", current.reserved),
        ));
    }
    let delta = input.counted - current.on_hand;
    let movement = if delta == 0 {
        None
    } else {
        repo::set_on_hand(conn, location, part, input.counted)?;
        emit_if_low(conn, location, part, -delta)?;
        Some(
            record(
                conn,
                location,
                part,
                MovementKind::Adjustment,
                delta,
                None,
                Some(&reason),
                Some(principal.key_id),
            )?
            .into(),
        )
    };
    let level = repo::level(conn, location, part)?.ok_or_else(|| anyhow::anyhow!("stock level vanished"))?;
    Ok(AdjustmentResult {
        level: to_level(level, sku),
        movement,
    })
}

fn to_level(r: LevelRow, sku: String) -> StockLevel {
    StockLevel {
        location_id: r.location_id.0,
        part_id: r.part_id.0,
        sku,
        on_hand: r.on_hand,
        reserved: r.reserved,
        available: rules::available(r.on_hand, r.reserved),
        reorder_point: r.reorder_point,
        reorder_qty: r.reorder_qty,
        updated_at: r.updated_at.0,
    }
}

/// Sets a level's reorder point and quantity, for a caller who may write stock at the location.
pub fn set_reorder(
    db: &Db,
    bearer: &Bearer,
    location: Uuid,
    part: Uuid,
    input: &ReorderSettings,
) -> AppResult<StockLevel> {
    bearer.write(db, |conn, principal| {
        set_reorder_in(conn, principal, location, part, input)
    })
}

/// [`set_reorder`] inside the caller's transaction (the console's form runs it once per form token).
pub fn set_reorder_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    location: Uuid,
    part: Uuid,
    input: &ReorderSettings,
) -> AppResult<StockLevel> {
    require_stock_reader(principal)?;
    require_stock_writer(principal, location)?;
    let mut checks = Checks::new();
    if !(0..=rules::MAX_QUANTITY).contains(&input.reorder_point) {
        checks.fail("reorder_point", "must be 0 to 1000000");
    }
    if !(0..=rules::MAX_QUANTITY).contains(&input.reorder_qty) {
        checks.fail("reorder_qty", "must be 0 to 1000000");
    }
    checks.finish()?;
    let location = check_location(conn, location, "location_id")?;
    let sku = check_part(conn, part, "part_id")?;
    let part = Id(part);
    repo::add_on_hand(conn, location, part, 0)?;
    repo::set_reorder(conn, location, part, input.reorder_point, input.reorder_qty)?;
    let level = repo::level(conn, location, part)?.ok_or_else(|| anyhow::anyhow!("stock level vanished"))?;
    Ok(to_level(level, sku))
}

/// The route of the stock level list, which names it in its (keyed) cursors.
pub const LEVELS: &str = "/stock/levels";

/// One page of the caller's stock levels.
pub fn levels(db: &Db, bearer: &Bearer, query: &LevelQuery) -> AppResult<StockLevelList> {
    bearer.read(db, |conn, principal| {
        require_stock_reader(principal)?;
        let scope = scope_filter(principal);
        let page = PageRequest::parse(LEVELS, query.limit, None)?;
        let after = query
            .cursor
            .as_deref()
            .map(|c| pagination::decode_keyed_cursor(LEVELS, c))
            .transpose()?
            .map(|(location, sku)| (Id(location), sku));
        let filter = LevelFilter {
            location: query.location_id.map(Id),
            part: query.part_id.map(Id),
            scope: scope.as_deref(),
        };
        let rows = repo::levels_page(conn, &filter, after, page.fetch())?;
        let items = rows.into_iter().map(|(r, sku)| to_level(r, sku)).collect();
        let (items, next_cursor) = page.finish_with(items, |l: &StockLevel| {
            pagination::encode_keyed_cursor(LEVELS, l.location_id, &l.sku)
        });
        Ok(StockLevelList { items, next_cursor })
    })
}

/// One page of the caller's movement ledger.
pub fn movements(db: &Db, bearer: &Bearer, query: &MovementQuery, page: PageRequest) -> AppResult<StockMovementList> {
    bearer.read(db, |conn, principal| {
        require_stock_reader(principal)?;
        let scope = scope_filter(principal);
        let filter = LevelFilter {
            location: query.location_id.map(Id),
            part: query.part_id.map(Id),
            scope: scope.as_deref(),
        };
        let rows = repo::movements_page(conn, &filter, page.after.map(Id), page.fetch())?;
        let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
        Ok(StockMovementList {
            items: rows.into_iter().map(StockMovement::from).collect(),
            next_cursor,
        })
    })
}

/// The caller's levels at or below their reorder point.
pub fn reorder_report(db: &Db, bearer: &Bearer, location: Option<Uuid>) -> AppResult<ReorderReport> {
    bearer.read(db, |conn, principal| {
        require_stock_reader(principal)?;
        let scope = scope_filter(principal);
        let filter = LevelFilter {
            location: location.map(Id),
            part: None,
            scope: scope.as_deref(),
        };
        let items = repo::levels_to_reorder(conn, &filter)?
            .into_iter()
            .map(|(l, sku, code)| {
                let available = rules::available(l.on_hand, l.reserved);
                ReorderLine {
                    location_id: l.location_id.0,
                    location_code: code,
                    part_id: l.part_id.0,
                    sku,
                    on_hand: l.on_hand,
                    reserved: l.reserved,
                    available,
                    reorder_point: l.reorder_point,
                    reorder_qty: l.reorder_qty,
                    suggested_qty: rules::suggested_qty(l.reorder_point, available, l.reorder_qty),
                }
            })
            .collect();
        Ok(ReorderReport { items })
    })
}

/// The list of the console's stock page; it tags the page's cursors.
pub const LEVEL_LINES: &str = "/console/warehouse/";

/// A stock level as a person reads it: with the part's name and the location's code and name, and whether it is
/// low ([`rules::is_low`]).
#[derive(Debug)]
pub struct LevelLine {
    pub level: StockLevel,
    pub part_name: String,
    pub location_code: String,
    pub location_name: String,
    pub low: bool,
}

/// What the console's stock page asks for: the API's location filter and paging, plus a SKU or name text and
/// "low only".
#[derive(Debug, Default)]
pub struct LevelSearch {
    pub location: Option<Uuid>,
    pub part: Option<Uuid>,
    pub text: Option<String>,
    pub low_only: bool,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug)]
pub struct LevelLines {
    pub items: Vec<LevelLine>,
    pub next_cursor: Option<String>,
}

/// One page of the caller's stock levels with their parts and locations, read in one query; scoped as [`levels`].
pub fn level_lines(conn: &mut Conn<'_>, principal: &Principal, search: &LevelSearch) -> AppResult<LevelLines> {
    require_stock_reader(principal)?;
    let scope = scope_filter(principal);
    let page = PageRequest::parse(LEVEL_LINES, search.limit, None)?;
    let mut checks = Checks::new();
    let text = search.text.as_ref().map(|t| checks.text("text", t, 1, 100));
    checks.finish()?;
    let after = search
        .cursor
        .as_deref()
        .map(|c| pagination::decode_keyed_cursor(LEVEL_LINES, c))
        .transpose()?
        .map(|(location, sku)| (Id(location), sku));
    let query = repo::LevelSearch {
        filter: LevelFilter {
            location: search.location.map(Id),
            part: search.part.map(Id),
            scope: scope.as_deref(),
        },
        pattern: text.map(|t| crate::parts::rules::like_pattern(&t.to_lowercase())),
        low_only: search.low_only,
    };
    let rows = repo::level_lines(conn, &query, after, page.fetch())?;
    let items = rows
        .into_iter()
        .map(|(row, sku, part_name, location_code, location_name)| {
            let level = to_level(row, sku);
            LevelLine {
                low: rules::is_low(level.available, level.reorder_point, level.reorder_qty),
                level,
                part_name,
                location_code,
                location_name,
            }
        })
        .collect();
    let (items, next_cursor) = page.finish_with(items, |l: &LevelLine| {
        pagination::encode_keyed_cursor(LEVEL_LINES, l.level.location_id, &l.level.sku)
    });
    Ok(LevelLines { items, next_cursor })
}

/// An active location, and whether the caller may handle its stock.
#[derive(Debug, Clone)]
pub struct Location {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub mine: bool,
}

/// Every active location (the places stock may be sent to), by code, marking the caller's own.
pub fn locations(conn: &mut Conn<'_>, principal: &Principal) -> AppResult<Vec<Location>> {
    require_stock_reader(principal)?;
    Ok(repo::active_locations(conn)?
        .into_iter()
        .map(|(id, code, name)| Location {
            mine: principal.covers_store(id.0),
            id: id.0,
            code,
            name,
        })
        .collect())
}

/// A part's SKU and name, for a page about its stock.
pub fn part_label(conn: &mut Conn<'_>, principal: &Principal, part: Uuid) -> AppResult<(String, String)> {
    require_stock_reader(principal)?;
    repo::part_label(conn, Id(part))?.ok_or(AppError::NotFound("part"))
}

/// The part a person typed the SKU of (any case), or a problem on `field`.
pub fn part_of_sku(conn: &mut Conn<'_>, sku: &str, field: &str) -> AppResult<Uuid> {
    let sku = sku.trim().to_ascii_uppercase();
    if sku.is_empty() {
        return Err(AppError::field(field, "required"));
    }
    match repo::part_by_sku(conn, &sku)? {
        Some((id, _)) => Ok(id.0),
        None => Err(AppError::field(field, format!("no part {sku}"))),
    }
}

/// A receipt line as the console confirms it.
#[derive(Debug)]
pub struct ReceivedLine {
    pub receipt_number: String,
    pub location_code: String,
    pub sku: String,
    pub quantity: i64,
}

/// The receipt lines the caller recorded under these receipt numbers (at most `limit`), in ledger order.
pub fn received(
    conn: &mut Conn<'_>,
    principal: &Principal,
    numbers: &[String],
    limit: i64,
) -> AppResult<Vec<ReceivedLine>> {
    require_stock_reader(principal)?;
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(repo::receipts_by(conn, Id(principal.key_id), numbers, limit)?
        .into_iter()
        .map(|(m, sku, location_code)| ReceivedLine {
            receipt_number: m.reference.unwrap_or_default(),
            location_code,
            sku,
            quantity: m.quantity,
        })
        .collect())
}

/// The ledger check, for admins ([`check_ledger`]).
pub fn ledger_check(db: &Db, bearer: &Bearer) -> AppResult<LedgerCheck> {
    bearer.read(db, |conn, principal| {
        principal.require_admin()?;
        check_ledger(conn)
    })
}

/// Compares every level with the sums of its ledger; the step the CLI, the tests and the benches run on their own
/// connection.
pub fn check_ledger(conn: &mut Conn<'_>) -> AppResult<LedgerCheck> {
    let levels = repo::all_levels(conn)?;
    let sums = repo::ledger_sums(conn)?;
    let mut ledger: HashMap<(Id, Id), (i64, i64)> = HashMap::new();
    for sum in sums {
        let entry = ledger.entry((sum.location_id, sum.part_id)).or_default();
        let (on_hand, reserved) = rules::ledger_effect(&sum.kind, sum.total);
        entry.0 += on_hand;
        entry.1 += reserved;
    }
    let mut mismatches = Vec::new();
    for l in &levels {
        let (on_hand, reserved) = ledger.get(&(l.location_id, l.part_id)).copied().unwrap_or((0, 0));
        if on_hand != l.on_hand || reserved != l.reserved {
            mismatches.push(LedgerMismatch {
                location_id: l.location_id.0,
                part_id: l.part_id.0,
                on_hand: l.on_hand,
                ledger_on_hand: on_hand,
                reserved: l.reserved,
                ledger_reserved: reserved,
            });
        }
    }
    Ok(LedgerCheck {
        levels: levels.len() as i64,
        consistent: mismatches.is_empty(),
        mismatches,
    })
}
