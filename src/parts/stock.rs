//! Stock per location: levels (on hand, reserved, reorder settings) and the append-only movement ledger behind
//! them. Every change of `on_hand` or `reserved` writes its movement in the same transaction, and every decrement is
//! a guarded update (`… WHERE on_hand - reserved >= q`) with the table's checks (`0 <= reserved <= on_hand`)
//! behind it, so concurrent reservations never oversell and `on_hand` always equals the ledger's sum.

use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use crate::auth::{Bearer, Principal, Role};
use crate::db::Conn;
use crate::db::schema::{parts, stock_levels, stock_movements, stores};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, FieldError, OrDuplicate, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::{self, PageRequest};
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::loaners::CsvBody;
use crate::state::AppState;
use crate::with_conn;

/// Movements that change `on_hand`; the others (`reservation`, `release`) change only `reserved`.
pub const ON_HAND_KINDS: [&str; 5] = ["receipt", "transfer_out", "transfer_in", "adjustment", "consumption"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Receipt,
    TransferOut,
    TransferIn,
    Adjustment,
    Reservation,
    Release,
    Consumption,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Receipt => "receipt",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
            MovementKind::Adjustment => "adjustment",
            MovementKind::Reservation => "reservation",
            MovementKind::Release => "release",
            MovementKind::Consumption => "consumption",
        }
    }

    fn parse(value: &str) -> MovementKind {
        match value {
            "receipt" => MovementKind::Receipt,
            "transfer_out" => MovementKind::TransferOut,
            "transfer_in" => MovementKind::TransferIn,
            "adjustment" => MovementKind::Adjustment,
            "reservation" => MovementKind::Reservation,
            "release" => MovementKind::Release,
            _ => MovementKind::Consumption,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stock_levels)]
pub struct LevelRow {
    pub location_id: Id,
    pub part_id: Id,
    pub on_hand: i64,
    pub reserved: i64,
    pub reorder_point: i64,
    pub reorder_qty: i64,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stock_movements)]
pub struct MovementRow {
    pub id: Id,
    pub location_id: Id,
    pub part_id: Id,
    pub kind: String,
    pub quantity: i64,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub api_key_id: Option<Id>,
    pub at: Ts,
}

/// Stock of one part at one location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    pub location_id: Uuid,
    pub part_id: Uuid,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand - reserved`: what can still be reserved or moved.
    pub available: i64,
    pub reorder_point: i64,
    pub reorder_qty: i64,
    pub updated_at: DateTime<Utc>,
}

/// One entry of the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockMovement {
    pub id: Uuid,
    pub location_id: Uuid,
    pub part_id: Uuid,
    pub kind: MovementKind,
    /// Signed: what the movement added to `on_hand` (or to `reserved`, for reservation and release).
    pub quantity: i64,
    /// Receipt number, ticket number or transfer reference.
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl From<MovementRow> for StockMovement {
    fn from(r: MovementRow) -> Self {
        StockMovement {
            id: r.id.0,
            location_id: r.location_id.0,
            part_id: r.part_id.0,
            kind: MovementKind::parse(&r.kind),
            quantity: r.quantity,
            reference: r.reference,
            reason: r.reason,
            api_key_id: r.api_key_id.map(Uuid::from),
            at: r.at.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    pub part_id: Uuid,
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReceipt {
    pub location_id: Uuid,
    /// The supplier's delivery or receipt number; a receipt number is counted once per location and part.
    #[schema(min_length = 1, max_length = 64)]
    pub receipt_number: String,
    #[schema(min_items = 1, max_items = 1000)]
    pub lines: Vec<ReceiptLine>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptResult {
    pub receipt_number: String,
    pub movements: Vec<StockMovement>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    pub from_location_id: Uuid,
    pub to_location_id: Uuid,
    pub part_id: Uuid,
    #[schema(minimum = 1, maximum = 1000000)]
    pub quantity: i64,
    #[schema(max_length = 64)]
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferResult {
    pub transfer_out: StockMovement,
    pub transfer_in: StockMovement,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdjustment {
    pub location_id: Uuid,
    pub part_id: Uuid,
    /// What the count found on the shelf; not below what is reserved.
    #[schema(minimum = 0)]
    pub counted: i64,
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentResult {
    pub level: StockLevel,
    /// Absent when the count matched.
    pub movement: Option<StockMovement>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderSettings {
    #[schema(minimum = 0, maximum = 1000000)]
    pub reorder_point: i64,
    #[schema(minimum = 0, maximum = 1000000)]
    pub reorder_qty: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockLevelList {
    /// By location, then SKU.
    pub items: Vec<StockLevel>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockMovementList {
    pub items: Vec<StockMovement>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A level at or below its reorder point.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReorderLine {
    pub location_id: Uuid,
    pub location_code: String,
    pub part_id: Uuid,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub reorder_point: i64,
    pub reorder_qty: i64,
    /// The shortfall below the reorder point plus the reorder quantity.
    pub suggested_qty: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReorderReport {
    pub items: Vec<ReorderLine>,
}

/// A level whose `on_hand` or `reserved` disagrees with the ledger (none, normally).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerMismatch {
    pub location_id: Uuid,
    pub part_id: Uuid,
    pub on_hand: i64,
    pub ledger_on_hand: i64,
    pub reserved: i64,
    pub ledger_reserved: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerCheck {
    /// Levels checked.
    pub levels: i64,
    /// True when every level equals its ledger.
    pub consistent: bool,
    pub mismatches: Vec<LedgerMismatch>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LevelQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub location_id: Option<Uuid>,
    pub part_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MovementQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub location_id: Option<Uuid>,
    pub part_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReorderQuery {
    pub location_id: Option<Uuid>,
}

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
fn require_stock_reader(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::Warehouse | Role::StoreStaff => Ok(()),
        Role::Courier => Err(AppError::Forbidden),
    }
}

fn scope_filter(principal: &Principal) -> Option<Vec<Id>> {
    (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect())
}

pub fn check_location(conn: &mut Conn<'_>, location: Uuid, field: &str) -> AppResult<Id> {
    let active: Option<bool> =
        with_conn!(conn, c => stores::table.find(Id(location)).select(stores::active).first(c).optional())?;
    match active {
        Some(true) => Ok(Id(location)),
        Some(false) => Err(AppError::field(field, "the location is deactivated")),
        None => Err(AppError::field(field, "no such location")),
    }
}

/// The part's SKU, if it exists and is active.
pub fn check_part(conn: &mut Conn<'_>, part: Uuid, field: &str) -> AppResult<String> {
    let found: Option<(String, bool)> =
        with_conn!(conn, c => parts::table.find(Id(part)).select((parts::sku, parts::active)).first(c).optional())?;
    match found {
        Some((sku, true)) => Ok(sku),
        Some((_, false)) => Err(AppError::field(field, "the part is deactivated")),
        None => Err(AppError::field(field, "no such part")),
    }
}

fn quantity(checks: &mut Checks, field: &str, q: i64) {
    if !(1..=1_000_000).contains(&q) {
        checks.fail(field, "must be a whole number from 1 to 1000000");
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
    let row = MovementRow {
        id: Id(Uuid::now_v7()),
        location_id: location,
        part_id: part,
        kind: kind.as_str().to_owned(),
        quantity,
        reference: reference.map(str::to_owned),
        reason: reason.map(str::to_owned),
        api_key_id: actor.map(Id),
        at: Ts(crate::now()),
    };
    with_conn!(conn, c => diesel::insert_into(stock_movements::table).values(&row).execute(c))?;
    Ok(row)
}

/// Adds to `on_hand`, creating the level if it is the first stock of this part here.
fn add_on_hand(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<()> {
    let now = Ts(crate::now());
    let row = LevelRow {
        location_id: location,
        part_id: part,
        on_hand: q,
        reserved: 0,
        reorder_point: 0,
        reorder_qty: 0,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(stock_levels::table)
        .values(&row)
        .on_conflict((stock_levels::location_id, stock_levels::part_id))
        .do_update()
        .set((stock_levels::on_hand.eq(stock_levels::on_hand + q), stock_levels::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Takes `q` from what is available (`on_hand - reserved`), or refuses with `insufficient_stock`.
fn take_available(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<()> {
    let now = Ts(crate::now());
    let updated = with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .filter((stock_levels::on_hand - stock_levels::reserved).ge(q))
        .set((stock_levels::on_hand.eq(stock_levels::on_hand - q), stock_levels::updated_at.eq(now)))
        .execute(c))?;
    if updated == 1 {
        Ok(())
    } else {
        Err(insufficient(conn, location, part, q)?)
    }
}

fn insufficient(conn: &mut Conn<'_>, location: Id, part: Id, q: i64) -> AppResult<AppError> {
    let available = level(conn, location, part)?
        .map(|l| l.on_hand - l.reserved)
        .unwrap_or(0);
    Ok(AppError::conflict(
        "insufficient_stock",
        format!("{q} wanted, {available} available at this location"),
    ))
}

fn level(conn: &mut Conn<'_>, location: Id, part: Id) -> AppResult<Option<LevelRow>> {
    Ok(
        with_conn!(conn, c => stock_levels::table.find((location, part)).select(LevelRow::as_select()).first(c).optional())?,
    )
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
    let now = Ts(crate::now());
    let updated = with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .filter((stock_levels::on_hand - stock_levels::reserved).ge(q))
        .set((stock_levels::reserved.eq(stock_levels::reserved + q), stock_levels::updated_at.eq(now)))
        .execute(c))?;
    if updated != 1 {
        return Err(insufficient(conn, location, part, q)?);
    }
    Ok(())
}

/// Gives back `q` reserved units.
pub fn release_units(
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
        MovementKind::Release,
        -q,
        Some(reference),
        None,
        Some(actor),
    )?;
    let now = Ts(crate::now());
    let updated = with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .filter(stock_levels::reserved.ge(q))
        .set((stock_levels::reserved.eq(stock_levels::reserved - q), stock_levels::updated_at.eq(now)))
        .execute(c))?;
    if updated != 1 {
        return Err(anyhow::anyhow!("releasing {q} units that were not reserved").into());
    }
    Ok(())
}

/// Uses `q` reserved units in a repair: they leave both `reserved` and `on_hand`.
pub fn consume_units(
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
        MovementKind::Consumption,
        -q,
        Some(reference),
        None,
        Some(actor),
    )?;
    let now = Ts(crate::now());
    let updated = with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .filter(stock_levels::reserved.ge(q))
        .set((
            stock_levels::reserved.eq(stock_levels::reserved - q),
            stock_levels::on_hand.eq(stock_levels::on_hand - q),
            stock_levels::updated_at.eq(now),
        ))
        .execute(c))?;
    if updated != 1 {
        return Err(anyhow::anyhow!("consuming {q} units that were not reserved").into());
    }
    Ok(())
}

pub fn receive(conn: &mut Conn<'_>, principal: &Principal, input: &CreateReceipt) -> AppResult<ReceiptResult> {
    require_stock_writer(principal, input.location_id)?;
    let mut checks = Checks::new();
    let number = checks.text("receipt_number", &input.receipt_number, 1, 64);
    if input.lines.is_empty() || input.lines.len() > 1000 {
        checks.fail("lines", "1 to 1000 lines");
    }
    for (i, line) in input.lines.iter().enumerate() {
        quantity(&mut checks, &format!("lines[{i}].quantity"), line.quantity);
    }
    checks.finish()?;
    let location = check_location(conn, input.location_id, "location_id")?;
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
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
        let already: i64 = with_conn!(conn, c => stock_movements::table
            .filter(stock_movements::location_id.eq(location))
            .filter(stock_movements::part_id.eq(part))
            .filter(stock_movements::kind.eq("receipt"))
            .filter(stock_movements::reference.eq(&number))
            .count()
            .get_result(c))?;
        let taken = || {
            AppError::conflict(
                "duplicate_receipt",
                format!("receipt {number} was already recorded at this location"),
            )
        };
        if already > 0 {
            return Err(taken());
        }
        add_on_hand(conn, location, part, line.quantity)?;
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
        let location: Option<(Id, bool)> = with_conn!(conn, c => stores::table
            .filter(stores::code.eq(row.location_code.to_ascii_uppercase()))
            .select((stores::id, stores::active)).first(c).optional())?;
        let location = match location {
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
        let part: Option<(Id, bool)> = with_conn!(conn, c => parts::table
            .filter(parts::sku.eq(row.sku.to_ascii_uppercase()))
            .select((parts::id, parts::active)).first(c).optional())?;
        let part = match part {
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
        let qty = row.quantity.parse::<i64>().ok().filter(|q| (1..=1_000_000).contains(q));
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
    lock_levels(conn, levels)?;
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
    require_stock_writer(principal, input.from_location_id)?;
    let mut checks = Checks::new();
    quantity(&mut checks, "quantity", input.quantity);
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
    lock_levels(conn, [(from, part), (to, part)])?;
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
    add_on_hand(conn, to, part, input.quantity)?;
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

/// Locks the existing levels among `levels` in (location, part) order, the one order in which every path that
/// changes more than one level takes them (PostgreSQL; SQLite has one writer): two transactions taking the same
/// levels in opposite orders would deadlock.
fn lock_levels(conn: &mut Conn<'_>, levels: impl IntoIterator<Item = (Id, Id)>) -> AppResult<()> {
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
fn level_for_update(conn: &mut Conn<'_>, location: Id, part: Id) -> AppResult<Option<LevelRow>> {
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

pub fn adjust(conn: &mut Conn<'_>, principal: &Principal, input: &CreateAdjustment) -> AppResult<AdjustmentResult> {
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
    let current = match level_for_update(conn, location, part)? {
        Some(level) => level,
        None => {
            add_on_hand(conn, location, part, 0)?;
            level_for_update(conn, location, part)?.ok_or_else(|| anyhow::anyhow!("stock level vanished"))?
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
        with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
            .set((stock_levels::on_hand.eq(input.counted), stock_levels::updated_at.eq(Ts(crate::now()))))
            .execute(c))?;
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
    let level = level(conn, location, part)?.ok_or_else(|| anyhow::anyhow!("stock level vanished"))?;
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
        available: r.on_hand - r.reserved,
        reorder_point: r.reorder_point,
        reorder_qty: r.reorder_qty,
        updated_at: r.updated_at.0,
    }
}

fn set_reorder(
    conn: &mut Conn<'_>,
    principal: &Principal,
    location: Uuid,
    part: Uuid,
    input: &ReorderSettings,
) -> AppResult<StockLevel> {
    require_stock_writer(principal, location)?;
    let mut checks = Checks::new();
    if !(0..=1_000_000).contains(&input.reorder_point) {
        checks.fail("reorder_point", "must be 0 to 1000000");
    }
    if !(0..=1_000_000).contains(&input.reorder_qty) {
        checks.fail("reorder_qty", "must be 0 to 1000000");
    }
    checks.finish()?;
    let location = check_location(conn, location, "location_id")?;
    let sku = check_part(conn, part, "part_id")?;
    let part = Id(part);
    add_on_hand(conn, location, part, 0)?;
    with_conn!(conn, c => diesel::update(stock_levels::table.find((location, part)))
        .set((
            stock_levels::reorder_point.eq(input.reorder_point),
            stock_levels::reorder_qty.eq(input.reorder_qty),
            stock_levels::updated_at.eq(Ts(crate::now())),
        ))
        .execute(c))?;
    let level = level(conn, location, part)?.ok_or_else(|| anyhow::anyhow!("stock level vanished"))?;
    Ok(to_level(level, sku))
}

/// The route of the stock level list, which names it in its (keyed) cursors.
pub const LEVELS: &str = "/stock/levels";

fn levels(conn: &mut Conn<'_>, principal: &Principal, query: &LevelQuery) -> AppResult<StockLevelList> {
    let scope = scope_filter(principal);
    let page = PageRequest::parse(LEVELS, query.limit, None)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| pagination::decode_keyed_cursor(LEVELS, c))
        .transpose()?;
    let rows: Vec<(LevelRow, String)> = with_conn!(conn, c => {
        let mut q = stock_levels::table
            .inner_join(parts::table)
            .select((LevelRow::as_select(), parts::sku))
            .order((stock_levels::location_id, parts::sku))
            .limit(page.fetch())
            .into_boxed();
        if let Some((location, sku)) = &after {
            q = q.filter(
                stock_levels::location_id
                    .gt(Id(*location))
                    .or(stock_levels::location_id.eq(Id(*location)).and(parts::sku.gt(sku.clone()))),
            );
        }
        if let Some(location) = query.location_id {
            q = q.filter(stock_levels::location_id.eq(Id(location)));
        }
        if let Some(part) = query.part_id {
            q = q.filter(stock_levels::part_id.eq(Id(part)));
        }
        if let Some(scope) = &scope {
            q = q.filter(stock_levels::location_id.eq_any(scope.clone()));
        }
        q.load(c)
    })?;
    let items = rows.into_iter().map(|(r, sku)| to_level(r, sku)).collect();
    let (items, next_cursor) = page.finish_with(items, |l: &StockLevel| {
        pagination::encode_keyed_cursor(LEVELS, l.location_id, &l.sku)
    });
    Ok(StockLevelList { items, next_cursor })
}

fn movements(
    conn: &mut Conn<'_>,
    principal: &Principal,
    query: &MovementQuery,
    page: PageRequest,
) -> AppResult<StockMovementList> {
    let scope = scope_filter(principal);
    let rows: Vec<MovementRow> = with_conn!(conn, c => {
        let mut q = stock_movements::table
            .select(MovementRow::as_select())
            .order(stock_movements::id)
            .limit(page.fetch())
            .into_boxed();
        if let Some(after) = page.after {
            q = q.filter(stock_movements::id.gt(Id(after)));
        }
        if let Some(location) = query.location_id {
            q = q.filter(stock_movements::location_id.eq(Id(location)));
        }
        if let Some(part) = query.part_id {
            q = q.filter(stock_movements::part_id.eq(Id(part)));
        }
        if let Some(scope) = &scope {
            // One location (most keys) as `=`: the generic plan then reads its movements in id order.
            q = match scope.as_slice() {
                [one] => q.filter(stock_movements::location_id.eq(*one)),
                _ => q.filter(stock_movements::location_id.eq_any(scope.clone())),
            };
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(StockMovementList {
        items: rows.into_iter().map(StockMovement::from).collect(),
        next_cursor,
    })
}

pub fn reorder_report(conn: &mut Conn<'_>, principal: &Principal, location: Option<Uuid>) -> AppResult<ReorderReport> {
    let scope = scope_filter(principal);
    let rows: Vec<(LevelRow, String, String)> = with_conn!(conn, c => {
        let mut q = stock_levels::table
            .inner_join(parts::table)
            .inner_join(stores::table)
            .filter((stock_levels::on_hand - stock_levels::reserved).le(stock_levels::reorder_point))
            .filter(stock_levels::reorder_point.gt(0).or(stock_levels::reorder_qty.gt(0)))
            .select((LevelRow::as_select(), parts::sku, stores::code))
            .order((stores::code, parts::sku))
            .into_boxed();
        if let Some(location) = location {
            q = q.filter(stock_levels::location_id.eq(Id(location)));
        }
        if let Some(scope) = &scope {
            q = q.filter(stock_levels::location_id.eq_any(scope.clone()));
        }
        q.load(c)
    })?;
    let items = rows
        .into_iter()
        .map(|(l, sku, code)| {
            let available = l.on_hand - l.reserved;
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
                suggested_qty: (l.reorder_point - available).max(0) + l.reorder_qty,
            }
        })
        .collect();
    Ok(ReorderReport { items })
}

#[derive(QueryableByName)]
struct LedgerSum {
    #[diesel(sql_type = crate::db::types::DbUuid)]
    location_id: Id,
    #[diesel(sql_type = crate::db::types::DbUuid)]
    part_id: Id,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total: i64,
}

/// Compares every level with the sums of its ledger.
pub fn check_ledger(conn: &mut Conn<'_>) -> AppResult<LedgerCheck> {
    let levels: Vec<LevelRow> = with_conn!(conn, c => stock_levels::table.select(LevelRow::as_select()).load(c))?;
    // SUM of a BIGINT is NUMERIC on PostgreSQL; the cast keeps it an integer on both engines.
    let sums: Vec<LedgerSum> = with_conn!(conn, c => diesel::sql_query(
        "SELECT location_id, part_id, kind, CAST(SUM(quantity) AS BIGINT) AS total FROM stock_movements \
         GROUP BY location_id, part_id, kind",
    )
    .load(c))?;
    let mut ledger: std::collections::HashMap<(Id, Id), (i64, i64)> = std::collections::HashMap::new();
    for LedgerSum {
        location_id: location,
        part_id: part,
        kind,
        total: sum,
    } in sums
    {
        let entry = ledger.entry((location, part)).or_default();
        if ON_HAND_KINDS.contains(&kind.as_str()) {
            entry.0 += sum;
        }
        // Reserved units come in by reservation and leave by release or consumption.
        if matches!(kind.as_str(), "reservation" | "release" | "consumption") {
            entry.1 += sum;
        }
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

/// Record a goods receipt at a location. A receipt number is counted once: sending it again is a 409 that changes
/// nothing.
#[utoipa::path(
    tag = "stock", operation_id = "create_receipt", request_body = CreateReceipt,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = ReceiptResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/stock/receipts")]
pub async fn create_receipt(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateReceipt>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /stock/receipts", &body.raw);
    let input = body.value;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        require_stock_reader(principal)?;
        receive(conn, principal, &input)
    })
    .await
}

/// Record receipts from CSV (`location_code,receipt_number,sku,quantity`, header first). All rows or none: every
/// bad row is reported with its line number; receipt numbers already recorded are refused (409).
#[utoipa::path(
    tag = "stock", operation_id = "import_receipts",
    request_body(
        content = Vec<u8>, content_type = "application/octet-stream",
        description = "CSV text, sent as `text/csv` or `application/octet-stream`: a header \
                       `location_code,receipt_number,sku,quantity`, then one line per part received."
    ),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe import: the same key and file replay the first response.")),
    responses((status = 201, body = Vec<ReceiptResult>), WriteErrors),
    security(("bearer" = []))
)]
#[post("/stock/receipts/import")]
pub async fn import_receipts_csv(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: CsvBody,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /stock/receipts/import", &body.0);
    let bytes = body.0;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        match principal.role {
            Role::Admin | Role::Warehouse => {}
            _ => return Err(AppError::Forbidden),
        }
        import_receipts(conn, principal, &bytes)
    })
    .await
}

/// Move stock between two locations; both sides are written in one transaction.
#[utoipa::path(
    tag = "stock", operation_id = "create_transfer", request_body = CreateTransfer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = TransferResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/stock/transfers")]
pub async fn create_transfer(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateTransfer>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /stock/transfers", &body.raw);
    let input = body.value;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        require_stock_reader(principal)?;
        transfer(conn, principal, &input)
    })
    .await
}

/// Record a stock count: `on_hand` becomes what was counted, and the difference goes into the ledger with its
/// reason.
#[utoipa::path(
    tag = "stock", operation_id = "create_adjustment", request_body = CreateAdjustment,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = AdjustmentResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/stock/adjustments")]
pub async fn create_adjustment(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateAdjustment>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /stock/adjustments", &body.raw);
    let input = body.value;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        require_stock_reader(principal)?;
        adjust(conn, principal, &input)
    })
    .await
}

/// Set a level's reorder point and reorder quantity.
#[utoipa::path(
    tag = "stock", operation_id = "set_reorder_settings",
    params(("location_id" = Uuid, Path), ("part_id" = Uuid, Path)), request_body = ReorderSettings,
    responses((status = 200, body = StockLevel), WriteErrors),
    security(("bearer" = []))
)]
#[put("/stock/levels/{location_id}/{part_id}/reorder")]
pub async fn set_reorder_settings(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<ReorderSettings>,
) -> AppResult<HttpResponse> {
    let (location, part) = path.into_inner();
    let input = body.value;
    let level = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_stock_reader(principal)?;
            set_reorder(conn, principal, location, part, &input)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(level))
}

/// Stock levels of the caller's locations.
#[utoipa::path(
    tag = "stock", operation_id = "list_stock_levels", params(LevelQuery),
    responses((status = 200, body = StockLevelList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/levels")]
pub async fn list_stock_levels(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<LevelQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let list = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_stock_reader(principal)?;
            levels(conn, principal, &query)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// The movement ledger of the caller's locations, oldest first.
#[utoipa::path(
    tag = "stock", operation_id = "list_stock_movements", params(MovementQuery),
    responses((status = 200, body = StockMovementList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/movements")]
pub async fn list_stock_movements(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<MovementQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/stock/movements", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_stock_reader(principal)?;
            movements(conn, principal, &query, page)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Every level at or below its reorder point, with a suggested quantity.
#[utoipa::path(
    tag = "stock", operation_id = "get_reorder_report", params(ReorderQuery),
    responses((status = 200, body = ReorderReport), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/reorder-report")]
pub async fn get_reorder_report(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<ReorderQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let report = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_stock_reader(principal)?;
            reorder_report(conn, principal, query.location_id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(report))
}

/// The reorder report as CSV, for purchasing.
#[utoipa::path(
    tag = "stock", operation_id = "get_reorder_report_csv", params(ReorderQuery),
    responses((status = 200, content_type = "text/csv", body = String), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/reorder-report.csv")]
pub async fn get_reorder_report_csv(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<ReorderQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let report = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_stock_reader(principal)?;
            reorder_report(conn, principal, query.location_id)
        })
    })
    .await??;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "location_code",
            "sku",
            "on_hand",
            "reserved",
            "available",
            "reorder_point",
            "reorder_qty",
            "suggested_qty",
        ])
        .map_err(anyhow::Error::from)?;
    for l in &report.items {
        writer
            .write_record([
                l.location_code.clone(),
                l.sku.clone(),
                l.on_hand.to_string(),
                l.reserved.to_string(),
                l.available.to_string(),
                l.reorder_point.to_string(),
                l.reorder_qty.to_string(),
                l.suggested_qty.to_string(),
            ])
            .map_err(anyhow::Error::from)?;
    }
    let body = writer.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body))
}

/// Proves `on_hand` (and `reserved`) equal the ledger's sums for every level. Admins only.
#[utoipa::path(
    tag = "stock", operation_id = "check_stock_ledger",
    responses((status = 200, body = LedgerCheck), ReadErrors),
    security(("bearer" = []))
)]
#[get("/stock/ledger-check")]
pub async fn check_stock_ledger(state: web::Data<AppState>, bearer: Bearer) -> AppResult<HttpResponse> {
    let check = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            principal.require_admin()?;
            check_ledger(conn)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(check))
}

#[derive(OpenApi)]
#[openapi(paths(
    create_receipt,
    import_receipts_csv,
    create_transfer,
    create_adjustment,
    set_reorder_settings,
    list_stock_levels,
    list_stock_movements,
    get_reorder_report,
    get_reorder_report_csv,
    check_stock_ledger,
))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(import_receipts_csv)
        .service(create_receipt)
        .service(create_transfer)
        .service(create_adjustment)
        .service(set_reorder_settings)
        .service(list_stock_levels)
        .service(list_stock_movements)
        .service(get_reorder_report_csv)
        .service(get_reorder_report)
        .service(check_stock_ledger);
}
