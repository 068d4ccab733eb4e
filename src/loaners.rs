//! The loaner pool: handsets the network lends, by store and series. Register (one or a CSV file), list,
//! availability per store and series, move between stores, inspect after return, finish maintenance, retire.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::Conn;
use crate::db::schema::{loaners, loans, product_models, stores};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult, FieldError, OrDuplicate, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::imei::Imei;
use crate::loans::reserve::{make_available, serve_waitlist};
use crate::state::AppState;
use crate::with_conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoanerState {
    Available,
    Reserved,
    OnLoan,
    Inspection,
    Maintenance,
    Retired,
}

impl LoanerState {
    pub fn as_str(self) -> &'static str {
        match self {
            LoanerState::Available => "available",
            LoanerState::Reserved => "reserved",
            LoanerState::OnLoan => "on_loan",
            LoanerState::Inspection => "inspection",
            LoanerState::Maintenance => "maintenance",
            LoanerState::Retired => "retired",
        }
    }

    pub fn parse(value: &str) -> LoanerState {
        match value {
            "available" => LoanerState::Available,
            "reserved" => LoanerState::Reserved,
            "on_loan" => LoanerState::OnLoan,
            "inspection" => LoanerState::Inspection,
            "maintenance" => LoanerState::Maintenance,
            _ => LoanerState::Retired,
        }
    }

    /// A loaner promised or lent to a customer stays where it is.
    pub fn is_committed(self) -> bool {
        matches!(self, LoanerState::Reserved | LoanerState::OnLoan)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Grade {
    A,
    B,
    C,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
        }
    }

    fn parse(value: &str) -> Option<Grade> {
        match value.trim().to_ascii_uppercase().as_str() {
            "A" => Some(Grade::A),
            "B" => Some(Grade::B),
            "C" => Some(Grade::C),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = loaners)]
pub struct LoanerRow {
    pub id: Id,
    pub imei: String,
    pub series_id: Id,
    pub model_id: Id,
    pub store_id: Id,
    pub grade: String,
    pub state: String,
    pub idle_since: Ts,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A loaner handset.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Loaner {
    pub id: Uuid,
    pub imei: String,
    pub series_id: Uuid,
    pub model_id: Uuid,
    /// The store that holds it.
    pub store_id: Uuid,
    pub grade: Grade,
    pub state: LoanerState,
    /// Since when it has not been lent; the longest idle of the best grade is lent first.
    pub idle_since: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<LoanerRow> for Loaner {
    fn from(r: LoanerRow) -> Self {
        Loaner {
            id: r.id.0,
            imei: r.imei,
            series_id: r.series_id.0,
            model_id: r.model_id.0,
            store_id: r.store_id.0,
            grade: Grade::parse(&r.grade).unwrap_or(Grade::C),
            state: LoanerState::parse(&r.state),
            idle_since: r.idle_since.0,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterLoaner {
    /// 15 digits with a valid check digit; unique.
    #[schema(min_length = 15, max_length = 15, pattern = "^[0-9]{15}$")]
    pub imei: String,
    pub model_id: Uuid,
    pub store_id: Uuid,
    pub grade: Grade,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveLoaner {
    pub store_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireLoaner {
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InspectionResult {
    /// Fit to lend again.
    Pass,
    /// Needs repair first.
    Fail,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectLoaner {
    pub result: InspectionResult,
    /// A new condition grade, when it changed.
    pub grade: Option<Grade>,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoanerList {
    pub items: Vec<Loaner>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    /// Loaners registered, in file order.
    pub created: Vec<Loaner>,
}

/// Loaner counts of one store and series.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Availability {
    pub store_id: Uuid,
    pub series_id: Uuid,
    pub available: i64,
    pub reserved: i64,
    pub on_loan: i64,
    pub inspection: i64,
    pub maintenance: i64,
    pub retired: i64,
    /// Tickets waiting for a loaner of this series here.
    pub waitlist: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityList {
    pub items: Vec<Availability>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoanerQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub store_id: Option<Uuid>,
    pub series_id: Option<Uuid>,
    pub state: Option<LoanerState>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    pub store_id: Option<Uuid>,
    pub series_id: Option<Uuid>,
}

/// Staff manage the loaners of their stores; admins all.
fn require_pool_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

fn loaner_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<LoanerRow> {
    let row: Option<LoanerRow> =
        with_conn!(conn, c => loaners::table.find(Id(id)).select(LoanerRow::as_select()).first(c).optional())?;
    row.filter(|r| principal.covers_store(r.store_id.0))
        .ok_or(AppError::NotFound("loaner"))
}

/// An active service center in the caller's scope, or why not (under `field`).
fn lending_store(conn: &mut Conn<'_>, principal: &Principal, store_id: Uuid, field: &str) -> AppResult<Id> {
    let store: Option<(String, bool)> = with_conn!(conn, c => stores::table.find(Id(store_id)).select((stores::kind, stores::active)).first(c).optional())?;
    match store.filter(|_| principal.covers_store(store_id)) {
        None => Err(AppError::field(field, "no such store")),
        Some((kind, active)) if !active || kind != "service_center" => {
            Err(AppError::field(field, "loaners are kept at active service centers"))
        }
        Some(_) => Ok(Id(store_id)),
    }
}

/// The series of an active model, or why not.
fn series_of_model(conn: &mut Conn<'_>, model_id: Uuid, field: &str) -> AppResult<Id> {
    let found: Option<(Id, bool)> = with_conn!(conn, c => product_models::table.find(Id(model_id))
        .select((product_models::series_id, product_models::active)).first(c).optional())?;
    match found {
        None => Err(AppError::field(field, "no such model")),
        Some((_, false)) => Err(AppError::field(field, "the model is deactivated")),
        Some((series, true)) => Ok(series),
    }
}

fn register(conn: &mut Conn<'_>, principal: &Principal, input: &RegisterLoaner, hold: Duration) -> AppResult<Loaner> {
    let imei = Imei::parse(&input.imei).map_err(|why| AppError::field("imei", why))?;
    let store = lending_store(conn, principal, input.store_id, "store_id")?;
    let series = series_of_model(conn, input.model_id, "model_id")?;
    insert(
        conn,
        principal,
        &imei,
        Id(input.model_id),
        series,
        store,
        input.grade,
        hold,
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one loaner's fields, from either the JSON or the CSV path"
)]
fn insert(
    conn: &mut Conn<'_>,
    principal: &Principal,
    imei: &Imei,
    model: Id,
    series: Id,
    store: Id,
    grade: Grade,
    hold: Duration,
) -> AppResult<Loaner> {
    let exists: i64 =
        with_conn!(conn, c => loaners::table.filter(loaners::imei.eq(imei.as_str())).count().get_result(c))?;
    let taken = || AppError::conflict("duplicate_imei", format!("a loaner with IMEI {imei} is registered"));
    if exists > 0 {
        return Err(taken());
    }
    let now = Ts(crate::now());
    let row = LoanerRow {
        id: Id(Uuid::now_v7()),
        imei: imei.to_string(),
        series_id: series,
        model_id: model,
        store_id: store,
        grade: grade.as_str().to_owned(),
        state: LoanerState::Available.as_str().to_owned(),
        idle_since: now,
        created_at: now,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(loaners::table).values(&row).execute(c)).or_duplicate(taken)?;
    audit::record(
        conn,
        Some(principal.key_id),
        "register",
        "loaner",
        row.id.0,
        &serde_json::json!({"imei": row.imei}),
    )?;
    // A new loaner serves whoever is waiting for its series here.
    serve_waitlist(conn, store, series, now, hold)?;
    get(conn, row.id)
}

fn get(conn: &mut Conn<'_>, id: Id) -> AppResult<Loaner> {
    let row: LoanerRow = with_conn!(conn, c => loaners::table.find(id).select(LoanerRow::as_select()).first(c))?;
    Ok(row.into())
}

/// One CSV row: `imei,model_code,store_code,grade`.
#[derive(Debug, Deserialize)]
struct CsvLoaner {
    imei: String,
    model_code: String,
    store_code: String,
    grade: String,
}

/// Registers every row of a CSV file, or none: each bad row is reported with its line number.
fn import(conn: &mut Conn<'_>, principal: &Principal, csv_text: &[u8], hold: Duration) -> AppResult<ImportResult> {
    let rows = crate::http::csv_rows::read::<CsvLoaner>(csv_text, &["imei", "model_code", "store_code", "grade"])?;
    let mut errors = Vec::new();
    let mut good = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (line, row) in rows {
        let row = match row {
            Ok(row) => row,
            Err(why) => {
                errors.push(FieldError::new(&line, why));
                continue;
            }
        };
        let mut problems = Vec::new();
        let imei = Imei::parse(&row.imei)
            .map_err(|why| problems.push(format!("imei {why}")))
            .ok();
        if let Some(imei) = &imei {
            if !seen.insert(imei.to_string()) {
                problems.push("imei repeats an earlier row".to_owned());
            }
        }
        let grade = Grade::parse(&row.grade);
        if grade.is_none() {
            problems.push("grade must be A, B or C".to_owned());
        }
        let model: Option<(Id, Id, bool)> = with_conn!(conn, c => product_models::table
            .filter(product_models::code.eq(row.model_code.to_ascii_uppercase()))
            .select((product_models::id, product_models::series_id, product_models::active))
            .first(c).optional())?;
        let model = match model {
            Some((id, series, true)) => Some((id, series)),
            Some(_) => {
                problems.push(format!("model {} is deactivated", row.model_code));
                None
            }
            None => {
                problems.push(format!("no model {}", row.model_code));
                None
            }
        };
        let store: Option<(Id, String, bool)> = with_conn!(conn, c => stores::table
            .filter(stores::code.eq(row.store_code.to_ascii_uppercase()))
            .select((stores::id, stores::kind, stores::active))
            .first(c).optional())?;
        let store = match store.filter(|(id, _, _)| principal.covers_store(id.0)) {
            Some((id, kind, true)) if kind == "service_center" => Some(id),
            Some(_) => {
                problems.push(format!("store {} is not an active service center", row.store_code));
                None
            }
            None => {
                problems.push(format!("no store {}", row.store_code));
                None
            }
        };
        if let (Some(imei), Some(grade), Some((model, series)), Some(store), true) =
            (imei, grade, model, store, problems.is_empty())
        {
            good.push((line, imei, model, series, store, grade));
        } else {
            errors.push(FieldError::new(&line, problems.join("; ")));
        }
    }
    if good.is_empty() && errors.is_empty() {
        return Err(AppError::field("body", "the file has no rows"));
    }
    if good.len() > 10_000 {
        return Err(AppError::field("body", "at most 10000 rows per file"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    // Each new loaner serves its queue under the queue's lock: rows are applied in (store, series) order, the order
    // the sweeper takes queues in, so that two imports (or an import and a sweeper) never wait crosswise. The answer
    // lists the loaners in file order.
    let mut order: Vec<usize> = (0..good.len()).collect();
    order.sort_by_key(|i| (good[*i].4.0, good[*i].3.0));
    let mut created = vec![None; good.len()];
    for i in order {
        let (line, imei, model, series, store, grade) = &good[i];
        match insert(conn, principal, imei, *model, *series, *store, *grade, hold) {
            Ok(loaner) => created[i] = Some(loaner),
            Err(AppError::Conflict { detail, .. }) => {
                return Err(AppError::Validation(vec![FieldError::new(line, detail)]));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(ImportResult {
        created: created.into_iter().flatten().collect(),
    })
}

fn move_to(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    input: &MoveLoaner,
    hold: Duration,
) -> AppResult<Loaner> {
    let row = loaner_in_scope(conn, principal, id)?;
    let state = LoanerState::parse(&row.state);
    let store = lending_store(conn, principal, input.store_id, "store_id")?;
    if state.is_committed() || state == LoanerState::Retired {
        return Err(AppError::conflict(
            "loaner_committed",
            format!("a {} loaner stays where it is", state.as_str()),
        ));
    }
    let now = Ts(crate::now());
    with_conn!(conn, c => diesel::update(loaners::table.find(row.id))
        .filter(loaners::state.eq(&row.state))
        .set((loaners::store_id.eq(store), loaners::updated_at.eq(now)))
        .execute(c))?;
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
    get(conn, row.id)
}

fn retire(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, input: &RetireLoaner) -> AppResult<Loaner> {
    let row = loaner_in_scope(conn, principal, id)?;
    let mut checks = Checks::new();
    let reason = checks.text("reason", &input.reason, 1, 1000);
    checks.finish()?;
    let state = LoanerState::parse(&row.state);
    if state.is_committed() {
        return Err(AppError::conflict(
            "loaner_committed",
            format!("a {} loaner cannot be retired", state.as_str()),
        ));
    }
    if state != LoanerState::Retired {
        with_conn!(conn, c => diesel::update(loaners::table.find(row.id))
            .filter(loaners::state.eq(&row.state))
            .set((loaners::state.eq("retired"), loaners::updated_at.eq(Ts(crate::now()))))
            .execute(c))?;
        audit::record(
            conn,
            Some(principal.key_id),
            "retire",
            "loaner",
            row.id.0,
            &serde_json::json!({"reason": reason}),
        )?;
    }
    get(conn, row.id)
}

fn inspect(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    input: &InspectLoaner,
    hold: Duration,
) -> AppResult<Loaner> {
    let row = loaner_in_scope(conn, principal, id)?;
    if LoanerState::parse(&row.state) != LoanerState::Inspection {
        return Err(AppError::conflict(
            "illegal_transition",
            format!("a {} loaner is not awaiting inspection", row.state),
        ));
    }
    let now = Ts(crate::now());
    if let Some(grade) = input.grade {
        with_conn!(conn, c => diesel::update(loaners::table.find(row.id)).set(loaners::grade.eq(grade.as_str())).execute(c))?;
    }
    match input.result {
        InspectionResult::Pass => make_available(conn, row.id, true, now, hold)?,
        InspectionResult::Fail => {
            with_conn!(conn, c => diesel::update(loaners::table.find(row.id))
                .set((loaners::state.eq("maintenance"), loaners::updated_at.eq(now))).execute(c))?;
        }
    }
    audit::record(
        conn,
        Some(principal.key_id),
        "inspect",
        "loaner",
        row.id.0,
        &serde_json::json!({"result": input.result, "grade": input.grade, "note": input.note}),
    )?;
    get(conn, row.id)
}

fn finish_maintenance(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, hold: Duration) -> AppResult<Loaner> {
    let row = loaner_in_scope(conn, principal, id)?;
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
    )?;
    get(conn, row.id)
}

fn list(conn: &mut Conn<'_>, principal: &Principal, query: &LoanerQuery, page: PageRequest) -> AppResult<LoanerList> {
    let rows: Vec<LoanerRow> = with_conn!(conn, c => {
        let mut q = loaners::table.select(LoanerRow::as_select()).order(loaners::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(loaners::id.gt(Id(after)));
        }
        if let Some(store) = query.store_id {
            q = q.filter(loaners::store_id.eq(Id(store)));
        }
        if principal.role != Role::Admin {
            let scope: Vec<Id> = principal.store_ids.iter().copied().map(Id).collect();
            q = q.filter(loaners::store_id.eq_any(scope));
        }
        if let Some(series) = query.series_id {
            q = q.filter(loaners::series_id.eq(Id(series)));
        }
        if let Some(state) = query.state {
            q = q.filter(loaners::state.eq(state.as_str()));
        }
        q.load(c)
    })?;
    let (rows, next_cursor) = page.finish(rows, |r| r.id.0);
    Ok(LoanerList {
        items: rows.into_iter().map(Loaner::from).collect(),
        next_cursor,
    })
}

fn availability(conn: &mut Conn<'_>, principal: &Principal, query: &AvailabilityQuery) -> AppResult<AvailabilityList> {
    let scope: Option<Vec<Id>> =
        (principal.role != Role::Admin).then(|| principal.store_ids.iter().copied().map(Id).collect());
    let counts: Vec<(Id, Id, String, i64)> = with_conn!(conn, c => {
        let mut q = loaners::table
            .group_by((loaners::store_id, loaners::series_id, loaners::state))
            .select((loaners::store_id, loaners::series_id, loaners::state, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(store) = query.store_id {
            q = q.filter(loaners::store_id.eq(Id(store)));
        }
        if let Some(series) = query.series_id {
            q = q.filter(loaners::series_id.eq(Id(series)));
        }
        if let Some(scope) = &scope {
            q = q.filter(loaners::store_id.eq_any(scope.clone()));
        }
        q.load(c)
    })?;
    let waiting: Vec<(Id, Id, i64)> = with_conn!(conn, c => {
        let mut q = loans::table
            .filter(crate::db::loan_is_waiting())
            .group_by((loans::store_id, loans::series_id))
            .select((loans::store_id, loans::series_id, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(store) = query.store_id {
            q = q.filter(loans::store_id.eq(Id(store)));
        }
        if let Some(series) = query.series_id {
            q = q.filter(loans::series_id.eq(Id(series)));
        }
        if let Some(scope) = &scope {
            q = q.filter(loans::store_id.eq_any(scope.clone()));
        }
        q.load(c)
    })?;
    let mut by_key: std::collections::BTreeMap<(Uuid, Uuid), Availability> = std::collections::BTreeMap::new();
    for (store, series, state, n) in counts {
        let a = by_key
            .entry((store.0, series.0))
            .or_insert_with(|| empty(store, series));
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
            .or_insert_with(|| empty(store, series))
            .waitlist = n;
    }
    Ok(AvailabilityList {
        items: by_key.into_values().collect(),
    })
}

fn empty(store: Id, series: Id) -> Availability {
    Availability {
        store_id: store.0,
        series_id: series.0,
        available: 0,
        reserved: 0,
        on_loan: 0,
        inspection: 0,
        maintenance: 0,
        retired: 0,
        waitlist: 0,
    }
}

/// Register a loaner handset at a service center. It serves the waitlist of its series there at once.
#[utoipa::path(
    tag = "loaners", operation_id = "register_loaner", request_body = RegisterLoaner,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Loaner), WriteErrors),
    security(("bearer" = []))
)]
#[post("/loaners")]
pub async fn register_loaner(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<RegisterLoaner>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /loaners", &body.raw);
    let input = body.value;
    let hold = state.settings.loan_hold;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        require_pool_role(principal)?;
        register(conn, principal, &input, hold)
    })
    .await
}

/// A CSV request body (`text/csv`, or `application/octet-stream` for generated clients), up to 2 MiB.
pub struct CsvBody(pub web::Bytes);

const CSV_LIMIT: usize = 2 * 1024 * 1024;

impl FromRequest for CsvBody {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_csv = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v.starts_with("text/csv") || v.starts_with("application/octet-stream"));
        let payload = payload.take();
        Box::pin(async move {
            if !is_csv {
                return Err(AppError::UnsupportedMediaType);
            }
            Ok(CsvBody(crate::http::json::read_body(payload, CSV_LIMIT).await?))
        })
    }
}

/// Register many loaners from CSV (`imei,model_code,store_code,grade`, header first). All rows or none: every bad
/// row is reported with its line number.
#[utoipa::path(
    tag = "loaners", operation_id = "import_loaners",
    request_body(
        content = Vec<u8>, content_type = "application/octet-stream",
        description = "CSV text, sent as `text/csv` or `application/octet-stream`: a header \
                       `imei,model_code,store_code,grade`, then one loaner per line."
    ),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe import: the same key and file replay the first response.")),
    responses((status = 201, body = ImportResult), WriteErrors),
    security(("bearer" = []))
)]
#[post("/loaners/import")]
pub async fn import_loaners(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: CsvBody,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /loaners/import", &body.0);
    let hold = state.settings.loan_hold;
    let bytes = body.0;
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        require_pool_role(principal)?;
        import(conn, principal, &bytes, hold)
    })
    .await
}

/// List loaners of the caller's stores.
#[utoipa::path(
    tag = "loaners", operation_id = "list_loaners", params(LoanerQuery),
    responses((status = 200, body = LoanerList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loaners")]
pub async fn list_loaners(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<LoanerQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/loaners", query.limit, query.cursor.as_deref())?;
    let list = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_pool_role(principal)?;
            list(conn, principal, &query, page)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Loaner counts by state and waitlist length, per store and series.
#[utoipa::path(
    tag = "loaners", operation_id = "get_loaner_availability", params(AvailabilityQuery),
    responses((status = 200, body = AvailabilityList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loaner-availability")]
pub async fn get_loaner_availability(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<AvailabilityQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let list = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_pool_role(principal)?;
            availability(conn, principal, &query)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// Read one loaner.
#[utoipa::path(
    tag = "loaners", operation_id = "get_loaner", params(("loaner_id" = Uuid, Path)),
    responses((status = 200, body = Loaner), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loaners/{loaner_id}")]
pub async fn get_loaner(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let loaner: Loaner = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            require_pool_role(principal)?;
            loaner_in_scope(conn, principal, id)
        })
    })
    .await??
    .into();
    Ok(HttpResponse::Ok().json(loaner))
}

macro_rules! loaner_endpoint {
    ($name:ident, $path:literal, $body:ty, $doc:literal, |$conn:ident, $principal:ident, $id:ident, $input:ident, $hold:ident| $call:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "loaners", operation_id = stringify!($name), params(("loaner_id" = Uuid, Path)), request_body = $body,
            responses((status = 200, body = Loaner), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
            body: ApiJson<$body>,
        ) -> AppResult<HttpResponse> {
            let $id = path.into_inner();
            let $input = body.value;
            let $hold = state.settings.loan_hold;
            let loaner = web::block(move || {
                bearer.write(&state.db, |$conn, $principal| {
                    require_pool_role($principal)?;
                    $call
                })
            })
            .await??;
            Ok(HttpResponse::Ok().json(loaner))
        }
    };
}

loaner_endpoint!(
    move_loaner,
    "/loaners/{loaner_id}/move",
    MoveLoaner,
    "Move a loaner to another service center (not while reserved or on loan).",
    |conn, principal, id, input, hold| move_to(conn, principal, id, &input, hold)
);
loaner_endpoint!(
    retire_loaner,
    "/loaners/{loaner_id}/retire",
    RetireLoaner,
    "Retire a loaner for good (not while reserved or on loan).",
    |conn, principal, id, input, _hold| retire(conn, principal, id, &input)
);
loaner_endpoint!(
    inspect_loaner,
    "/loaners/{loaner_id}/inspection",
    InspectLoaner,
    "Record the inspection of a returned loaner: pass makes it available (serving the waitlist), fail sends it to \
     maintenance.",
    |conn, principal, id, input, hold| inspect(conn, principal, id, &input, hold)
);

/// A loaner's maintenance is done: it becomes available and serves the waitlist.
#[utoipa::path(
    tag = "loaners", operation_id = "finish_loaner_maintenance", params(("loaner_id" = Uuid, Path)),
    responses((status = 200, body = Loaner), WriteErrors),
    security(("bearer" = []))
)]
#[post("/loaners/{loaner_id}/maintenance-done")]
pub async fn finish_loaner_maintenance(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let hold = state.settings.loan_hold;
    let loaner = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            require_pool_role(principal)?;
            finish_maintenance(conn, principal, id, hold)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(loaner))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(import_loaners)
        .service(register_loaner)
        .service(list_loaners)
        .service(get_loaner_availability)
        .service(get_loaner)
        .service(move_loaner)
        .service(retire_loaner)
        .service(inspect_loaner)
        .service(finish_loaner_maintenance);
}
