//! The loaner pool's use cases: register (one, or a CSV file), list, availability, move between stores, inspect
//! after return, finish maintenance, retire. A loaner that becomes available serves the waitlist of its series at
//! its store in the same transaction ([`crate::loans::serve_waitlist`], [`crate::loans::make_available`]).
//! Registration runs inside the idempotent-creation transaction of its handler, so it takes `&mut Conn`; the other
//! use cases each own their transaction.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use uuid::Uuid;

use super::csv::{self, CsvLoaner};
use super::model::{Availability, Grade, InspectionResult, Loaner, LoanerRow, LoanerState};
use super::repo::{self, CountFilter, LoanerFilter};
use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult, FieldError, OrDuplicate};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::imei::Imei;
use crate::loans::{make_available, serve_waitlist};

/// Staff manage the loaners of their stores; admins all.
pub fn require_pool_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

fn loaner_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<LoanerRow> {
    repo::find(conn, Id(id))?
        .filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("loaner"))
}

/// Runs a change of one loaner of the caller's stores in one write transaction, as the key's holder, and answers
/// the loaner after it.
fn change(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    f: impl FnOnce(&mut Conn<'_>, &Principal, LoanerRow) -> AppResult<()>,
) -> AppResult<Loaner> {
    bearer.write(db, |conn, principal| change_in(conn, principal, id, f))
}

/// [`change`] in the caller's transaction, as `principal`.
/// [`change`] in the caller's transaction.
fn change_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    f: impl FnOnce(&mut Conn<'_>, &Principal, LoanerRow) -> AppResult<()>,
) -> AppResult<Loaner> {
    require_pool_role(principal)?;
    let row = loaner_in_scope(conn, principal, id)?;
    let loaner_id = row.id;
    f(conn, principal, row)?;
    get_row(conn, loaner_id)
}

fn get_row(conn: &mut Conn<'_>, id: Id) -> AppResult<Loaner> {
    Ok(repo::get(conn, id)?.into())
}

/// An active service center in the caller's scope, or why not (under `field`).
fn lending_store(conn: &mut Conn<'_>, principal: &Principal, store_id: Uuid, field: &str) -> AppResult<Id> {
    match repo::store_kind(conn, Id(store_id))?.filter(|_| principal.covers_store(store_id)) {
        None => Err(AppError::field(field, "no such store")),
        Some((kind, active)) if !active || kind != "service_center" => {
            Err(AppError::field(field, "loaners are kept at active service centers"))
        }
        Some(_) => Ok(Id(store_id)),
    }
}

/// The series of an active model, or why not.
fn series_of_model(conn: &mut Conn<'_>, model_id: Uuid, field: &str) -> AppResult<Id> {
    match repo::model_series(conn, Id(model_id))? {
        None => Err(AppError::field(field, "no such model")),
        Some((_, false)) => Err(AppError::field(field, "the model is deactivated")),
        Some((series, true)) => Ok(series),
    }
}

/// Registers one loaner at a service center (in the caller's transaction); it serves the waitlist of its series
/// there at once.
pub fn register(
    conn: &mut Conn<'_>,
    principal: &Principal,
    imei: &str,
    model_id: Uuid,
    store_id: Uuid,
    grade: Grade,
    hold: Duration,
) -> AppResult<Loaner> {
    require_pool_role(principal)?;
    let imei = Imei::parse(imei).map_err(|why| AppError::field("imei", why))?;
    let store = lending_store(conn, principal, store_id, "store_id")?;
    let series = series_of_model(conn, model_id, "model_id")?;
    let loaner = csv::GoodRow {
        imei,
        model: Id(model_id),
        series,
        store,
        grade,
    };
    insert(conn, principal, &loaner, hold)
}

/// Writes one loaner, from either the JSON or the CSV path, and serves its queue.
fn insert(conn: &mut Conn<'_>, principal: &Principal, loaner: &csv::GoodRow, hold: Duration) -> AppResult<Loaner> {
    let imei = &loaner.imei;
    let exists = repo::count_imei(conn, imei.as_str())?;
    let taken = || AppError::conflict("duplicate_imei", format!("a loaner with IMEI {imei} is registered"));
    if exists > 0 {
        return Err(taken());
    }
    let now = Ts(crate::now());
    let row = LoanerRow {
        id: Id(Uuid::now_v7()),
        imei: imei.to_string(),
        series_id: loaner.series,
        model_id: loaner.model,
        store_id: loaner.store,
        grade: loaner.grade.as_str().to_owned(),
        state: LoanerState::Available.as_str().to_owned(),
        idle_since: now,
        created_at: now,
        updated_at: now,
    };
    repo::insert(conn, &row).or_duplicate(taken)?;
    audit::record(
        conn,
        Some(principal.key_id),
        "register",
        "loaner",
        row.id.0,
        &serde_json::json!({"imei": row.imei}),
    )?;
    // A new loaner serves whoever is waiting for its series here.
    serve_waitlist(conn, loaner.store, loaner.series, now, hold)?;
    get_row(conn, row.id)
}

/// Registers every row of a CSV file (in the caller's transaction), or none: each bad row is reported with its
/// line number. Answers the loaners in file order.
pub fn import(conn: &mut Conn<'_>, principal: &Principal, csv_text: &[u8], hold: Duration) -> AppResult<Vec<Loaner>> {
    require_pool_role(principal)?;
    let rows = crate::http::csv_rows::read::<CsvLoaner>(csv_text, csv::HEADER)?;
    let mut errors = Vec::new();
    let mut good = Vec::new();
    let mut seen = HashSet::new();
    for (line, row) in rows {
        let checked = match row {
            Ok(row) => {
                let model = repo::model_by_code(conn, &row.model_code.to_ascii_uppercase())?;
                let store = repo::store_by_code(conn, &row.store_code.to_ascii_uppercase())?
                    .filter(|(id, _, _)| principal.covers_store(id.0));
                csv::check_row(&row, model, store, &mut seen)
            }
            Err(unreadable) => Err(unreadable),
        };
        match checked {
            Ok(loaner) => good.push((line, loaner)),
            Err(problems) => errors.push(FieldError::new(&line, problems)),
        }
    }
    csv::accept(good.len(), errors)?;
    let mut created = vec![None; good.len()];
    for i in csv::apply_order(&good) {
        let (line, loaner) = &good[i];
        match insert(conn, principal, loaner, hold) {
            Ok(loaner) => created[i] = Some(loaner),
            Err(AppError::Conflict { detail, .. }) => {
                return Err(AppError::Validation(vec![FieldError::new(line, detail)]));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(created.into_iter().flatten().collect())
}

/// Moves a loaner to another service center (not while reserved, on loan or retired); an available one serves the
/// waitlist there.
pub fn move_to(db: &Db, bearer: &Bearer, id: Uuid, store_id: Uuid, hold: Duration) -> AppResult<Loaner> {
    bearer.write(db, |conn, principal| move_in(conn, principal, id, store_id, hold))
}

/// [`move_to`] in the caller's transaction.
pub fn move_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    store_id: Uuid,
    hold: Duration,
) -> AppResult<Loaner> {
    change_in(conn, principal, id, |conn, principal, row| {
        let state = LoanerState::parse(&row.state);
        let store = lending_store(conn, principal, store_id, "store_id")?;
        if state.is_committed() || state == LoanerState::Retired {
            return Err(AppError::conflict(
                "loaner_committed",
                format!("a {} loaner stays where it is", state.as_str()),
            ));
        }
        let now = Ts(crate::now());
        repo::set_store(conn, &row, store, now)?;
        audit::record(
            conn,
            Some(principal.key_id),
            "move",
            "loaner",
            row.id.0,
            &serde_json::json!({"from": row.store_id.0, "to": store.0}),
        )?;
        if state == LoanerState::Available {
            serve_waitlist(conn, store, row.series_id, now, hold)?;
        }
        Ok(())
    })
}

/// Retires a loaner for good, for the `reason` given (not while reserved or on loan; again is a no-op).
pub fn retire(db: &Db, bearer: &Bearer, id: Uuid, reason: &str) -> AppResult<Loaner> {
    bearer.write(db, |conn, principal| retire_in(conn, principal, id, reason))
}

/// [`retire`] in the caller's transaction.
pub fn retire_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, reason: &str) -> AppResult<Loaner> {
    change_in(conn, principal, id, |conn, principal, row| {
        let mut checks = Checks::new();
        let reason = checks.text("reason", reason, 1, 1000);
        checks.finish()?;
        let state = LoanerState::parse(&row.state);
        if state.is_committed() {
            return Err(AppError::conflict(
                "loaner_committed",
                format!("a {} loaner cannot be retired", state.as_str()),
            ));
        }
        if state != LoanerState::Retired {
            repo::set_retired(conn, &row, Ts(crate::now()))?;
            audit::record(
                conn,
                Some(principal.key_id),
                "retire",
                "loaner",
                row.id.0,
                &serde_json::json!({"reason": reason}),
            )?;
        }
        Ok(())
    })
}

/// Records the inspection of a returned loaner: pass makes it available (serving the waitlist), fail sends it to
/// maintenance; `grade` is its new condition grade, when it changed.
pub fn inspect(
    db: &Db,
    bearer: &Bearer,
    id: Uuid,
    result: InspectionResult,
    grade: Option<Grade>,
    note: Option<&str>,
    hold: Duration,
) -> AppResult<Loaner> {
    bearer.write(db, |conn, principal| {
        inspect_in(conn, principal, id, result, grade, note, hold)
    })
}

/// [`inspect`] in the caller's transaction, as `principal`.
pub fn inspect_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    result: InspectionResult,
    grade: Option<Grade>,
    note: Option<&str>,
    hold: Duration,
) -> AppResult<Loaner> {
    change_in(conn, principal, id, |conn, principal, row| {
        if LoanerState::parse(&row.state) != LoanerState::Inspection {
            return Err(AppError::conflict(
                "illegal_transition",
                format!("a {} loaner is not awaiting inspection", row.state),
            ));
        }
        let now = Ts(crate::now());
        if let Some(grade) = grade {
            repo::set_grade(conn, row.id, grade)?;
        }
        match result {
            InspectionResult::Pass => make_available(conn, row.id, true, now, hold)?,
            InspectionResult::Fail => repo::set_maintenance(conn, row.id, now)?,
        }
        audit::record(
            conn,
            Some(principal.key_id),
            "inspect",
            "loaner",
            row.id.0,
            &serde_json::json!({"result": result, "grade": grade, "note": note}),
        )
    })
}

/// A loaner's maintenance is done: it becomes available and serves the waitlist.
pub fn finish_maintenance(db: &Db, bearer: &Bearer, id: Uuid, hold: Duration) -> AppResult<Loaner> {
    change(db, bearer, id, |conn, principal, row| {
        if LoanerState::parse(&row.state) != LoanerState::Maintenance {
            return Err(AppError::conflict(
                "illegal_transition",
                format!("a {} loaner is not in maintenance", row.state),
            ));
        }
        make_available(conn, row.id, true, Ts(crate::now()), hold)?;
        audit::record(
            conn,
            Some(principal.key_id),
            "maintenance_done",
            "loaner",
            row.id.0,
            &serde_json::json!({}),
        )
    })
}

/// Read one loaner of the caller's stores.
pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<Loaner> {
    let row = bearer.read(db, |conn, principal| {
        require_pool_role(principal)?;
        loaner_in_scope(conn, principal, id)
    })?;
    Ok(row.into())
}

/// One page of the loaners of the caller's stores, and the cursor of the next.
pub fn list(
    db: &Db,
    bearer: &Bearer,
    filter: &LoanerFilter,
    page: PageRequest,
) -> AppResult<(Vec<Loaner>, Option<String>)> {
    bearer.read(db, |conn, principal| {
        require_pool_role(principal)?;
        let rows = repo::list(conn, principal, filter, &page)?;
        let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
        Ok((rows.into_iter().map(Loaner::from).collect(), next_cursor))
    })
}

/// Loaner counts by state and waitlist length, per store and series, within the caller's stores.
pub fn availability(
    db: &Db,
    bearer: &Bearer,
    store_id: Option<Uuid>,
    series_id: Option<Uuid>,
) -> AppResult<Vec<Availability>> {
    bearer.read(db, |conn, principal| {
        require_pool_role(principal)?;
        let filter = CountFilter {
            store_id: store_id.map(Id),
            series_id: series_id.map(Id),
            scope: (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect()),
        };
        let counts = repo::count_by_state(conn, &filter)?;
        let waiting = repo::count_waiting(conn, &filter)?;
        Ok(tally(counts, waiting))
    })
}

/// Folds the per-state counts and the waitlist lengths into one entry per store and series, in key order.
fn tally(counts: Vec<(Id, Id, String, i64)>, waiting: Vec<(Id, Id, i64)>) -> Vec<Availability> {
    let mut by_key: BTreeMap<(Uuid, Uuid), Availability> = BTreeMap::new();
    for (store, series, state, n) in counts {
        let a = by_key
            .entry((store.0, series.0))
            .or_insert_with(|| Availability::empty(store, series));
        match LoanerState::parse(&state) {
            LoanerState::Available => a.available = n,
            LoanerState::Reserved => a.reserved = n,
            LoanerState::OnLoan => a.on_loan = n,
            LoanerState::Inspection => a.inspection = n,
            LoanerState::Maintenance => a.maintenance = n,
            LoanerState::Retired => a.retired = n,
        }
    }
    for (store, series, n) in waiting {
        by_key
            .entry((store.0, series.0))
            .or_insert_with(|| Availability::empty(store, series))
            .waitlist = n;
    }
    by_key.into_values().collect()
}
