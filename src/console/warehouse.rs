//! The console's warehouse pages: stock levels with their filters and reorder settings, receiving stock (a CSV
//! file or one line), transfers, counts, a part's movement ledger and the reorder report.
//!
//! Every page calls the stock use cases the JSON API calls (`crate::stock::service`), as the signed-in user, so
//! roles and scope are the API's: administrators everywhere, warehouse staff at their locations. Store staff may
//! read their stores' stock through the API, so they may read these lists too; every form that changes stock is the
//! 403 page for them (and for couriers, who read no stock at all).

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use futures_util::StreamExt;
use uuid::Uuid;

use super::kit::{
    self, Chrome, Fields, Problems, Signed, cross_origin, field, form_token, optional, posted, query, see_other, show,
    show_again, signed_in,
};
use super::text::Text;
use crate::auth::{Principal, Role};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::stock::service::{self as stock, LevelLine, LevelSearch, Location, ReceivedLine};
use crate::stock::{CreateAdjustment, CreateReceipt, CreateTransfer, MovementKind, ReceiptLine, ReorderSettings};
use crate::users::Locale;

/// The largest receipts file the form takes (the API's CSV limit).
const CSV_LIMIT: usize = 2 * 1024 * 1024;

/// Receipt numbers a confirmation names in its address, and receipt lines it shows.
const CONFIRM_NUMBERS: usize = 20;
const CONFIRM_LINES: i64 = 200;

/// This part's words.
pub struct Words {
    pub forbidden_title: &'static str,
    pub forbidden: &'static str,
    pub sections: &'static str,
    pub stock_title: &'static str,
    pub receive_title: &'static str,
    pub transfer_title: &'static str,
    pub adjust_title: &'static str,
    pub movements_title: &'static str,
    pub reorder_title: &'static str,
    pub reorder_csv: &'static str,
    pub location: &'static str,
    pub all_locations: &'static str,
    pub part_text: &'static str,
    pub low_only: &'static str,
    pub filter: &'static str,
    pub part: &'static str,
    pub on_hand: &'static str,
    pub reserved: &'static str,
    pub available: &'static str,
    pub reorder_point: &'static str,
    pub reorder_qty: &'static str,
    pub low: &'static str,
    pub next_page: &'static str,
    pub no_levels: &'static str,
    pub ledger: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub csv_heading: &'static str,
    pub csv_help: &'static str,
    pub file: &'static str,
    pub paste: &'static str,
    pub import: &'static str,
    pub import_refused: &'static str,
    pub line: &'static str,
    pub problem: &'static str,
    pub single_heading: &'static str,
    pub receipt_number: &'static str,
    pub sku: &'static str,
    pub quantity: &'static str,
    pub receive: &'static str,
    pub received: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub reference: &'static str,
    pub transfer: &'static str,
    pub transfer_done: &'static str,
    pub adjust_help: &'static str,
    pub counted: &'static str,
    pub reason: &'static str,
    pub record_count: &'static str,
    pub adjust_done: &'static str,
    pub see_movements: &'static str,
    pub movement: &'static str,
    pub no_movements: &'static str,
    pub kinds: [&'static str; 7],
}

pub const EN: Words = Words {
    forbidden_title: "Not for your role",
    forbidden: "Only warehouse staff and administrators change stock. Nothing was changed.",
    sections: "Warehouse",
    stock_title: "Stock levels",
    receive_title: "Receive stock",
    transfer_title: "Transfer stock",
    adjust_title: "Count and adjust",
    movements_title: "Movements",
    reorder_title: "Reorder settings",
    reorder_csv: "Reorder report (CSV)",
    location: "Location",
    all_locations: "All my locations",
    part_text: "Part SKU or name",
    low_only: "Low only (at or below the reorder point)",
    filter: "Filter",
    part: "Part",
    on_hand: "On hand",
    reserved: "Reserved",
    available: "Available",
    reorder_point: "Reorder point",
    reorder_qty: "Reorder quantity",
    low: "Low",
    next_page: "Next page",
    no_levels: "No stock levels match.",
    ledger: "Movements",
    save: "Save",
    saved: "The reorder settings were saved.",
    csv_heading: "Receive a CSV file",
    csv_help: "A header line location_code,receipt_number,sku,quantity, then one line per part received. A file with any bad line is refused whole: nothing is received until every line is right.",
    file: "CSV file",
    paste: "Or paste the CSV text",
    import: "Import",
    import_refused: "The file was refused and nothing was received. Correct these lines and send the whole file again.",
    line: "Line",
    problem: "Problem",
    single_heading: "Receive one part",
    receipt_number: "Receipt number",
    sku: "Part SKU",
    quantity: "Quantity",
    receive: "Receive",
    received: "Received",
    from: "From",
    to: "To",
    reference: "Reference (optional)",
    transfer: "Transfer",
    transfer_done: "The transfer was recorded.",
    adjust_help: "Record what a count found on the shelf: on hand becomes the counted quantity, and the difference goes into the ledger with the reason.",
    counted: "Counted on the shelf",
    reason: "Reason",
    record_count: "Record the count",
    adjust_done: "The count was recorded.",
    see_movements: "See the part's movements",
    movement: "Movement",
    no_movements: "No movements.",
    kinds: [
        "receipt",
        "transfer out",
        "transfer in",
        "adjustment",
        "reservation",
        "release",
        "used in repair",
    ],
};

pub const ZH_CN: Words = Words {
    forbidden_title: "无此权限",
    forbidden: "只有仓库人员和管理员可以变更库存，未做任何更改。",
    sections: "仓库",
    stock_title: "库存",
    receive_title: "入库",
    transfer_title: "调拨",
    adjust_title: "盘点调整",
    movements_title: "出入库记录",
    reorder_title: "补货设置",
    reorder_csv: "补货报表（CSV）",
    location: "库位",
    all_locations: "我的全部库位",
    part_text: "配件编码或名称",
    low_only: "仅显示低库存（不高于补货点）",
    filter: "筛选",
    part: "配件",
    on_hand: "在库",
    reserved: "已预留",
    available: "可用",
    reorder_point: "补货点",
    reorder_qty: "补货数量",
    low: "低库存",
    next_page: "下一页",
    no_levels: "没有符合条件的库存。",
    ledger: "记录",
    save: "保存",
    saved: "补货设置已保存。",
    csv_heading: "CSV 文件入库",
    csv_help: "首行为 location_code,receipt_number,sku,quantity，之后每行一个配件。文件中任何一行有误，整个文件都会被拒绝：所有行都正确之前不会入库。",
    file: "CSV 文件",
    paste: "或粘贴 CSV 文本",
    import: "导入",
    import_refused: "文件被拒绝，未入库任何配件。请更正以下各行后重新提交整个文件。",
    line: "行",
    problem: "问题",
    single_heading: "单个配件入库",
    receipt_number: "入库单号",
    sku: "配件编码",
    quantity: "数量",
    receive: "入库",
    received: "已入库",
    from: "调出库位",
    to: "调入库位",
    reference: "参考号（可选）",
    transfer: "调拨",
    transfer_done: "调拨已记录。",
    adjust_help: "记录盘点结果：在库数量改为盘点数量，差额连同原因记入出入库记录。",
    counted: "盘点数量",
    reason: "原因",
    record_count: "记录盘点",
    adjust_done: "盘点已记录。",
    see_movements: "查看该配件的出入库记录",
    movement: "类型",
    no_movements: "没有记录。",
    kinds: ["入库", "调出", "调入", "盘点调整", "预留", "释放", "维修耗用"],
};

fn words(signed: &Signed) -> &'static Words {
    match signed.locale() {
        Locale::ZhCn => &ZH_CN,
        Locale::En => &EN,
    }
}

/// What a movement kind is called on the page.
fn kind_name(w: &Words, kind: MovementKind) -> &'static str {
    let i = match kind {
        MovementKind::Receipt => 0,
        MovementKind::TransferOut => 1,
        MovementKind::TransferIn => 2,
        MovementKind::Adjustment => 3,
        MovementKind::Reservation => 4,
        MovementKind::Release => 5,
        MovementKind::Consumption => 6,
    };
    w.kinds[i]
}

/// Roles that change stock: the API lets no one else (store staff only read it).
fn handles_stock(principal: &Principal) -> bool {
    matches!(principal.role, Role::Admin | Role::Warehouse)
}

/// The 403 page for a role that may not do this, in this part's words.
fn not_for_role(signed: &Signed) -> AppResult<HttpResponse> {
    let w = words(signed);
    kit::message(
        StatusCode::FORBIDDEN,
        signed.t,
        signed.chrome(),
        w.forbidden_title,
        w.forbidden,
    )
}

/// A refused use case as the form shows it, with the API's field names renamed to the form's (`renames`), and the
/// refusals that concern one field put beside it.
fn problems_of(error: AppError, renames: &[(&str, &str)]) -> AppResult<Problems> {
    let beside = match &error {
        AppError::Conflict { code, detail } => match *code {
            "insufficient_stock" => Some(("quantity", detail.clone())),
            "duplicate_receipt" => Some(("receipt_number", detail.clone())),
            _ => None,
        },
        _ => None,
    };
    let mut problems = Problems::of(error)?;
    if let Some((name, message)) = beside {
        problems.general = None;
        problems.fields.insert(name.to_owned(), message);
    }
    for (from, to) in renames {
        if let Some(message) = problems.fields.remove(*from) {
            problems.fields.entry((*to).to_owned()).or_insert(message);
        }
    }
    // A problem about a field the form does not have is shown above it.
    let unknown: Vec<String> = problems
        .fields
        .keys()
        .filter(|k| !FORM_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    for name in unknown {
        if let Some(message) = problems.fields.remove(&name) {
            problems.general.get_or_insert(format!("{name}: {message}"));
        }
    }
    Ok(problems)
}

/// The fields of this part's forms.
const FORM_FIELDS: [&str; 12] = [
    "location_id",
    "from_location_id",
    "to_location_id",
    "receipt_number",
    "sku",
    "quantity",
    "reference",
    "counted",
    "reason",
    "reorder_point",
    "reorder_qty",
    "text",
];

/// A whole number typed into a form, or a problem on `name` (checked again by the use case, which owns the range).
fn number(form: &Fields, name: &str) -> AppResult<i64> {
    field(form, name)
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::field(name, "must be a whole number"))
}

/// A location chosen in a form, or a problem on `name`.
fn location_field(form: &Fields, name: &str) -> AppResult<Uuid> {
    Uuid::parse_str(field(form, name).trim()).map_err(|_| AppError::field(name, "choose a location"))
}

/// The caller's locations and every location, read as the caller.
async fn locations(state: &web::Data<AppState>, signed: &Signed) -> AppResult<Vec<Location>> {
    let db = state.db.clone();
    let bearer = signed.bearer();
    web::block(move || bearer.read(&db, stock::locations)).await?
}

fn mine(all: &[Location]) -> Vec<Location> {
    all.iter().filter(|l| l.mine).cloned().collect()
}

/// The links between this part's pages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Stock,
    Receive,
    Transfer,
    Adjust,
    Other,
}

// ---------------------------------------------------------------------------------------------------------------
// Stock levels

struct LevelRowView {
    line: LevelLine,
    reorder_idem: String,
}

#[derive(Template)]
#[template(path = "console/warehouse/levels.html")]
struct LevelsPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    section: Section,
    handles: bool,
    locations: Vec<Location>,
    location: String,
    text: String,
    low_only: bool,
    problems: Problems,
    rows: Vec<LevelRowView>,
    next: Option<String>,
    /// The filters as a query string, for the reorder forms to come back to.
    back: String,
    saved: bool,
}

/// What the stock page shows: its filters and page size, as the user gave them.
struct LevelFilters {
    location: String,
    text: String,
    low_only: bool,
    limit: Option<i64>,
}

/// The query string of the stock page with these filters (and a cursor).
fn levels_query(filters: &LevelFilters, cursor: Option<&str>) -> String {
    let LevelFilters {
        location,
        text,
        low_only,
        limit,
    } = filters;
    let mut q = form_urlencoded::Serializer::new(String::new());
    if !location.is_empty() {
        q.append_pair("location", location);
    }
    if !text.is_empty() {
        q.append_pair("q", text);
    }
    if *low_only {
        q.append_pair("low", "1");
    }
    if let Some(limit) = limit {
        q.append_pair("limit", &limit.to_string());
    }
    if let Some(cursor) = cursor {
        q.append_pair("cursor", cursor);
    }
    q.finish()
}

#[get("/warehouse/")]
async fn levels(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let signed = match signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let w = words(&signed);
    let q = query(&req);
    let location = field(&q, "location").trim().to_owned();
    let text = field(&q, "q").trim().to_owned();
    let low_only = !field(&q, "low").is_empty();
    // A page size the API would refuse is shown as its problem.
    let limit = optional(&q, "limit").map(|l| l.parse::<i64>().unwrap_or(0));
    let search = LevelSearch {
        location: Uuid::parse_str(&location).ok(),
        part: None,
        text: optional(&q, "q"),
        low_only,
        limit,
        cursor: optional(&q, "cursor"),
    };
    let db = state.db.clone();
    let bearer = signed.bearer();
    let found = web::block(move || {
        bearer.read(&db, |conn, principal| {
            Ok((
                stock::locations(conn, principal)?,
                stock::level_lines(conn, principal, &search),
            ))
        })
    })
    .await?;
    let (all, lines) = match found {
        Ok(found) => found,
        Err(AppError::Forbidden) => return not_for_role(&signed),
        Err(e) => return Err(e),
    };
    let (lines, problems) = match lines {
        Ok(lines) => (lines, Problems::default()),
        Err(AppError::Forbidden) => return not_for_role(&signed),
        Err(e) => (
            stock::LevelLines {
                items: Vec::new(),
                next_cursor: None,
            },
            problems_of(e, &[])?,
        ),
    };
    let filters = LevelFilters {
        location,
        text,
        low_only,
        limit,
    };
    let next = lines
        .next_cursor
        .as_deref()
        .map(|c| format!("/console/warehouse/?{}", levels_query(&filters, Some(c))));
    let rows = lines
        .items
        .into_iter()
        .map(|line| LevelRowView {
            line,
            reorder_idem: form_token(),
        })
        .collect();
    show(&LevelsPage {
        t: signed.t,
        chrome: signed.chrome(),
        w,
        section: Section::Stock,
        handles: handles_stock(signed.principal()),
        locations: mine(&all),
        back: levels_query(&filters, None),
        location: filters.location,
        text: filters.text,
        low_only,
        problems,
        rows,
        next,
        saved: !field(&q, "saved").is_empty(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Reorder settings

#[derive(Template)]
#[template(path = "console/warehouse/reorder.html")]
struct ReorderPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    section: Section,
    location_id: Uuid,
    part_id: Uuid,
    label: String,
    values: Fields,
    problems: Problems,
    idem: String,
}

impl ReorderPage {
    fn v(&self, name: &str) -> &str {
        field(&self.values, name)
    }
}

/// Only the filters of the stock page (letters, digits and the query string's punctuation) go back into its
/// address.
fn safe_back(back: &str) -> &str {
    let fits = back.len() <= 500
        && back
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%+=&".contains(&b));
    if fits { back } else { "" }
}

#[get("/warehouse/levels/{location_id}/{part_id}/reorder")]
async fn reorder_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let signed = match signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    if !handles_stock(signed.principal()) {
        return not_for_role(&signed);
    }
    let (Ok(location_id), Ok(part_id)) = (Uuid::parse_str(&path.0), Uuid::parse_str(&path.1)) else {
        return signed.not_found();
    };
    let search = LevelSearch {
        location: Some(location_id),
        part: Some(part_id),
        ..LevelSearch::default()
    };
    let db = state.db.clone();
    let bearer = signed.bearer();
    let found = web::block(move || {
        bearer.read(&db, |conn, principal| {
            let (sku, name) = stock::part_label(conn, principal, part_id)?;
            let lines = stock::level_lines(conn, principal, &search)?;
            let level = lines.items.into_iter().find(|l| l.level.part_id == part_id);
            Ok((sku, name, level))
        })
    })
    .await?;
    let (sku, name, level) = match found {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    // A level of another location is not the user's to see; a location of theirs without this part yet may get
    // its first settings.
    let locations = locations(&state, &signed).await?;
    if level.is_none() && !locations.iter().any(|l| l.mine && l.id == location_id) {
        return signed.not_found();
    }
    let mut values = Fields::new();
    if let Some(l) = &level {
        values.insert("reorder_point".into(), l.level.reorder_point.to_string());
        values.insert("reorder_qty".into(), l.level.reorder_qty.to_string());
    }
    let code = locations
        .iter()
        .find(|l| l.id == location_id)
        .map(|l| l.code.clone())
        .unwrap_or_default();
    show(&ReorderPage {
        t: signed.t,
        chrome: signed.chrome(),
        w: words(&signed),
        section: Section::Stock,
        location_id,
        part_id,
        label: format!("{sku} {name} · {code}"),
        values,
        problems: Problems::default(),
        idem: form_token(),
    })
}

#[post("/warehouse/levels/{location_id}/{part_id}/reorder")]
async fn set_reorder(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, form) = match posted(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    if !handles_stock(signed.principal()) {
        return not_for_role(&signed);
    }
    let (Ok(location_id), Ok(part_id)) = (Uuid::parse_str(&path.0), Uuid::parse_str(&path.1)) else {
        return signed.not_found();
    };
    let back = safe_back(field(&form, "back")).to_owned();
    let values = form.clone();
    let route = format!("reorder {location_id} {part_id}");
    let done = kit::once(&state, &signed, &form, &route, move |conn, principal| {
        let input = ReorderSettings {
            reorder_point: number(&values, "reorder_point")?,
            reorder_qty: number(&values, "reorder_qty")?,
        };
        stock::set_reorder_in(conn, principal, location_id, part_id, &input)?;
        let sep = if back.is_empty() { "" } else { "&" };
        Ok(format!("/console/warehouse/?{back}{sep}saved=1"))
    })
    .await;
    match done {
        Ok(location) => Ok(see_other(&location)),
        Err(AppError::Forbidden) => not_for_role(&signed),
        Err(AppError::NotFound(_)) => signed.not_found(),
        Err(e) => {
            let problems = problems_of(e, &[])?;
            let db = state.db.clone();
            let bearer = signed.bearer();
            let label = web::block(move || bearer.read(&db, |conn, p| stock::part_label(conn, p, part_id)))
                .await?
                .map(|(sku, name)| format!("{sku} {name}"))
                .unwrap_or_default();
            show_again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ReorderPage {
                    t: signed.t,
                    chrome: signed.chrome(),
                    w: words(&signed),
                    section: Section::Stock,
                    location_id,
                    part_id,
                    label,
                    values: form,
                    problems,
                    idem: form_token(),
                },
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Receiving

#[derive(Template)]
#[template(path = "console/warehouse/receive.html")]
struct ReceivePage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    section: Section,
    locations: Vec<Location>,
    /// The single receipt's fields and problems.
    values: Fields,
    problems: Problems,
    /// The CSV form's text, its bad lines (line, what is wrong) and its other problem.
    csv: String,
    bad_lines: Vec<(String, String)>,
    csv_problem: Option<String>,
    received: Vec<ReceivedLine>,
    csv_idem: String,
    idem: String,
}

impl ReceivePage {
    fn v(&self, name: &str) -> &str {
        field(&self.values, name)
    }

    fn blank(signed: &Signed, locations: Vec<Location>) -> ReceivePage {
        ReceivePage {
            t: signed.t,
            chrome: signed.chrome(),
            w: words(signed),
            section: Section::Receive,
            locations,
            values: Fields::new(),
            problems: Problems::default(),
            csv: String::new(),
            bad_lines: Vec::new(),
            csv_problem: None,
            received: Vec::new(),
            csv_idem: form_token(),
            idem: form_token(),
        }
    }
}

#[get("/warehouse/receive")]
async fn receive_page(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let signed = match signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    if !handles_stock(signed.principal()) {
        return not_for_role(&signed);
    }
    let numbers: Vec<String> = form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, _)| k == "received")
        .map(|(_, v)| v.into_owned())
        .take(CONFIRM_NUMBERS)
        .collect();
    let db = state.db.clone();
    let bearer = signed.bearer();
    let (all, received) = web::block(move || {
        bearer.read(&db, |conn, principal| {
            Ok((
                stock::locations(conn, principal)?,
                stock::received(conn, principal, &numbers, CONFIRM_LINES)?,
            ))
        })
    })
    .await??;
    let mut page = ReceivePage::blank(&signed, mine(&all));
    page.received = received;
    show(&page)
}

/// Where a recorded receipt sends the browser: this page, naming what was received.
fn received_location(numbers: impl IntoIterator<Item = String>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let mut seen: Vec<String> = Vec::new();
    for n in numbers {
        if !seen.contains(&n) && seen.len() < CONFIRM_NUMBERS {
            q.append_pair("received", &n);
            seen.push(n);
        }
    }
    format!("/console/warehouse/receive?{}", q.finish())
}

#[post("/warehouse/receive")]
async fn receive_one(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, form) = match posted(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    if !handles_stock(signed.principal()) {
        return not_for_role(&signed);
    }
    let values = form.clone();
    let done = kit::once(&state, &signed, &form, "receive", move |conn, principal| {
        let input = CreateReceipt {
            location_id: location_field(&values, "location_id")?,
            receipt_number: field(&values, "receipt_number").to_owned(),
            lines: vec![ReceiptLine {
                part_id: stock::part_of_sku(conn, field(&values, "sku"), "sku")?,
                quantity: number(&values, "quantity")?,
            }],
        };
        let result = stock::receive(conn, principal, &input)?;
        Ok(received_location([result.receipt_number]))
    })
    .await;
    match done {
        Ok(location) => Ok(see_other(&location)),
        Err(AppError::Forbidden) => not_for_role(&signed),
        Err(e) => {
            let problems = problems_of(
                e,
                &[
                    ("lines[0].quantity", "quantity"),
                    ("lines[0].part_id", "sku"),
                    ("lines", "sku"),
                ],
            )?;
            let all = locations(&state, &signed).await?;
            let mut page = ReceivePage::blank(&signed, mine(&all));
            page.values = form;
            page.problems = problems;
            show_again(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// The fields of a form sent as `multipart/form-data` (a file's text under its field's name) or urlencoded.
async fn upload_fields(req: &HttpRequest, mut payload: web::Payload) -> AppResult<Fields> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("multipart/form-data"));
    let too_large = || AppError::PayloadTooLarge(CSV_LIMIT);
    if !multipart {
        let mut bytes = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| AppError::bad_request("unreadable_body", e.to_string()))?;
            if bytes.len() + chunk.len() > CSV_LIMIT {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(kit::fields(&bytes));
    }
    let mut form = Multipart::new(req.headers(), payload);
    let mut fields = Fields::new();
    let mut total = 0;
    while let Some(part) = form.next().await {
        let mut part = part.map_err(|e| AppError::bad_request("malformed_multipart", e.to_string()))?;
        let name = part.name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| AppError::bad_request("malformed_multipart", e.to_string()))?;
            total += chunk.len();
            if total > CSV_LIMIT {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| AppError::field(&name, "must be UTF-8 text (save the sheet as CSV UTF-8)"))?;
        fields.entry(name).or_insert(text);
    }
    Ok(fields)
}

#[post("/warehouse/receive/import")]
async fn import(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> AppResult<HttpResponse> {
    let signed = match signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let read = upload_fields(&req, payload).await;
    let mut form = match read {
        Ok(form) => form,
        Err(e) => {
            // A body the form cannot be read from: say so above the form (no token could be checked, nothing done).
            let all = locations(&state, &signed).await?;
            let mut page = ReceivePage::blank(&signed, mine(&all));
            let problems = Problems::of(e)?;
            page.csv_problem = problems.general.or_else(|| {
                problems
                    .fields
                    .into_iter()
                    .next()
                    .map(|(name, why)| format!("{name}: {why}"))
            });
            return show_again(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    if cross_origin(&req) || !crate::users::rules::csrf_matches(field(&form, "csrf"), &signed.session.csrf_secret) {
        return signed.refused();
    }
    if !handles_stock(signed.principal()) {
        return not_for_role(&signed);
    }
    // The file when one was chosen, else the pasted text; a spreadsheet's byte-order mark is no part of the header.
    let file = form.remove("file").unwrap_or_default();
    let text = if file.trim().is_empty() {
        field(&form, "csv").to_owned()
    } else {
        file
    };
    let text = text.trim_start_matches('\u{feff}').to_owned();
    form.insert("csv".into(), text.clone());
    let bytes = text.clone().into_bytes();
    let done = kit::once(&state, &signed, &form, "receive import", move |conn, principal| {
        let results = stock::import_receipts(conn, principal, &bytes)?;
        Ok(received_location(results.into_iter().map(|r| r.receipt_number)))
    })
    .await;
    match done {
        Ok(location) => Ok(see_other(&location)),
        Err(AppError::Forbidden) => not_for_role(&signed),
        Err(e) => {
            let mut bad_lines = Vec::new();
            let mut csv_problem = None;
            match e {
                AppError::Validation(errors) => {
                    for e in errors {
                        match e.field.strip_prefix("line ") {
                            Some(line) => bad_lines.push((line.to_owned(), e.message)),
                            None => csv_problem = Some(e.message),
                        }
                    }
                }
                other => csv_problem = Problems::of(other)?.general,
            }
            let all = locations(&state, &signed).await?;
            let mut page = ReceivePage::blank(&signed, mine(&all));
            page.csv = text;
            page.bad_lines = bad_lines;
            page.csv_problem = csv_problem;
            show_again(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Transfers and counts

#[derive(Template)]
#[template(path = "console/warehouse/transfer.html")]
struct TransferPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    section: Section,
    from: Vec<Location>,
    to: Vec<Location>,
    values: Fields,
    problems: Problems,
    idem: String,
    done: Option<Uuid>,
}

impl TransferPage {
    fn v(&self, name: &str) -> &str {
        field(&self.values, name)
    }
}

#[derive(Template)]
#[template(path = "console/warehouse/adjust.html")]
struct AdjustPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    section: Section,
    locations: Vec<Location>,
    values: Fields,
    problems: Problems,
    idem: String,
    done: Option<Uuid>,
}

impl AdjustPage {
    fn v(&self, name: &str) -> &str {
        field(&self.values, name)
    }
}

/// A form page's opening: signed in, a role that handles stock, every location; or the answer instead.
async fn form_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<(Signed, Vec<Location>), AppResult<HttpResponse>> {
    let signed = signed_in(state, req).await?;
    if !handles_stock(signed.principal()) {
        return Err(not_for_role(&signed));
    }
    match locations(state, &signed).await {
        Ok(all) => Ok((signed, all)),
        Err(e) => Err(Err(e)),
    }
}

#[get("/warehouse/transfer")]
async fn transfer_page(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, all) = match form_page(&state, &req).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    let q = query(&req);
    show(&TransferPage {
        t: signed.t,
        chrome: signed.chrome(),
        w: words(&signed),
        section: Section::Transfer,
        from: mine(&all),
        to: all,
        values: Fields::new(),
        problems: Problems::default(),
        idem: form_token(),
        done: Uuid::parse_str(field(&q, "done")).ok(),
    })
}

#[post("/warehouse/transfer")]
async fn transfer(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, form) = match posted(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    if !handles_stock(signed.principal()) {
        return not_for_role(&signed);
    }
    let values = form.clone();
    let done = kit::once(
        &state,
        &signed,
        &form,
        "transfer",
        move |conn: &mut Conn<'_>, principal| {
            let input = CreateTransfer {
                from_location_id: location_field(&values, "from_location_id")?,
                to_location_id: location_field(&values, "to_location_id")?,
                part_id: stock::part_of_sku(conn, field(&values, "sku"), "sku")?,
                quantity: number(&values, "quantity")?,
                reference: optional(&values, "reference"),
            };
            stock::transfer(conn, principal, &input)?;
            Ok(format!("/console/warehouse/transfer?done={}", input.part_id))
        },
    )
    .await;
    match done {
        Ok(location) => Ok(see_other(&location)),
        Err(AppError::Forbidden) => not_for_role(&signed),
        Err(e) => {
            let problems = problems_of(e, &[("part_id", "sku")])?;
            let all = locations(&state, &signed).await?;
            show_again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &TransferPage {
                    t: signed.t,
                    chrome: signed.chrome(),
                    w: words(&signed),
                    section: Section::Transfer,
                    from: mine(&all),
                    to: all,
                    values: form,
                    problems,
                    idem: form_token(),
                    done: None,
                },
            )
        }
    }
}

#[get("/warehouse/adjust")]
async fn adjust_page(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, all) = match form_page(&state, &req).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    let q = query(&req);
    // The stock page's links fill in the location and the part.
    let mut values = Fields::new();
    for name in ["location_id", "sku"] {
        if let Some(v) = optional(&q, name) {
            values.insert(name.to_owned(), v);
        }
    }
    show(&AdjustPage {
        t: signed.t,
        chrome: signed.chrome(),
        w: words(&signed),
        section: Section::Adjust,
        locations: mine(&all),
        values,
        problems: Problems::default(),
        idem: form_token(),
        done: Uuid::parse_str(field(&q, "done")).ok(),
    })
}

#[post("/warehouse/adjust")]
async fn adjust(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, form) = match posted(&state, &req, &body).await {
        Ok(checked) => checked,
        Err(answer) => return answer,
    };
    if !handles_stock(signed.principal()) {
        return not_for_role(&signed);
    }
    let values = form.clone();
    let done = kit::once(
        &state,
        &signed,
        &form,
        "adjust",
        move |conn: &mut Conn<'_>, principal| {
            let input = CreateAdjustment {
                location_id: location_field(&values, "location_id")?,
                part_id: stock::part_of_sku(conn, field(&values, "sku"), "sku")?,
                counted: number(&values, "counted")?,
                reason: field(&values, "reason").to_owned(),
            };
            stock::adjust(conn, principal, &input)?;
            Ok(format!("/console/warehouse/adjust?done={}", input.part_id))
        },
    )
    .await;
    match done {
        Ok(location) => Ok(see_other(&location)),
        Err(AppError::Forbidden) => not_for_role(&signed),
        Err(e) => {
            let problems = problems_of(e, &[("part_id", "sku")])?;
            let all = locations(&state, &signed).await?;
            show_again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &AdjustPage {
                    t: signed.t,
                    chrome: signed.chrome(),
                    w: words(&signed),
                    section: Section::Adjust,
                    locations: mine(&all),
                    values: form,
                    problems,
                    idem: form_token(),
                    done: None,
                },
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A part's ledger and the reorder report

struct MovementView {
    at: String,
    location: String,
    kind: &'static str,
    quantity: i64,
    reference: String,
    reason: String,
    who: String,
}

#[derive(Template)]
#[template(path = "console/warehouse/movements.html")]
struct MovementsPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    section: Section,
    part_id: Uuid,
    label: String,
    locations: Vec<Location>,
    location: String,
    movements: Vec<MovementView>,
    next: Option<String>,
}

#[get("/warehouse/parts/{part_id}/movements")]
async fn movements(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let signed = match signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let Ok(part_id) = Uuid::parse_str(&path.into_inner()) else {
        return signed.not_found();
    };
    let q = query(&req);
    let location = field(&q, "location").trim().to_owned();
    let location_id = Uuid::parse_str(&location).ok();
    let cursor = optional(&q, "cursor");
    let db = state.db.clone();
    let bearer = signed.bearer();
    let found = web::block(move || {
        let page = crate::http::pagination::PageRequest::parse("/stock/movements", Some(50), cursor.as_deref())?;
        let query = crate::stock::http::MovementQuery {
            limit: Some(50),
            cursor,
            location_id,
            part_id: Some(part_id),
        };
        let list = stock::movements(&db, &bearer, &query, page)?;
        bearer.read(&db, |conn, principal| {
            let label = stock::part_label(conn, principal, part_id)?;
            let all = stock::locations(conn, principal)?;
            let mut keys: Vec<Uuid> = list.items.iter().filter_map(|m| m.api_key_id).collect();
            keys.sort();
            keys.dedup();
            let names = crate::users::service::names_of_keys(conn, &keys)?;
            Ok((list, label, all, names))
        })
    })
    .await?;
    let (list, (sku, name), all, names) = match found {
        Ok(found) => found,
        Err(AppError::Forbidden) => return not_for_role(&signed),
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let w = words(&signed);
    let movements = list
        .items
        .iter()
        .map(|m| MovementView {
            at: m.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            location: all
                .iter()
                .find(|l| l.id == m.location_id)
                .map(|l| l.code.clone())
                .unwrap_or_default(),
            kind: kind_name(w, m.kind),
            quantity: m.quantity,
            reference: m.reference.clone().unwrap_or_default(),
            reason: m.reason.clone().unwrap_or_default(),
            who: match m.api_key_id {
                Some(key) => names
                    .iter()
                    .find(|(k, ..)| *k == key)
                    .map(|(_, username, display)| format!("{display} ({username})"))
                    .unwrap_or_else(|| format!("{} {}", signed.t.by_key, &key.to_string()[..8])),
                None => signed.t.by_system.to_owned(),
            },
        })
        .collect();
    let next = list.next_cursor.as_deref().map(|c| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !location.is_empty() {
            q.append_pair("location", &location);
        }
        q.append_pair("cursor", c);
        format!("/console/warehouse/parts/{part_id}/movements?{}", q.finish())
    });
    show(&MovementsPage {
        t: signed.t,
        chrome: signed.chrome(),
        w,
        section: Section::Other,
        part_id,
        label: format!("{sku} {name}"),
        locations: mine(&all),
        location,
        movements,
        next,
    })
}

#[get("/warehouse/reorder.csv")]
async fn reorder_csv(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let signed = match signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let location = Uuid::parse_str(field(&query(&req), "location")).ok();
    let db = state.db.clone();
    let bearer = signed.bearer();
    let report = web::block(move || stock::reorder_report(&db, &bearer, location)).await?;
    match report {
        Ok(report) => {
            let body = crate::stock::http::reorder_csv(&report)?;
            Ok(kit::download("text/csv; charset=utf-8", "reorder-report.csv", body))
        }
        Err(AppError::Forbidden) => not_for_role(&signed),
        Err(e) => Err(e),
    }
}

/// Registers this part's pages inside the `/console` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/warehouse").route(web::get().to(|| async { see_other("/console/warehouse/") })))
        .service(levels)
        .service(reorder_form)
        .service(set_reorder)
        .service(receive_page)
        .service(receive_one)
        .service(import)
        .service(transfer_page)
        .service(transfer)
        .service(adjust_page)
        .service(adjust)
        .service(movements)
        .service(reorder_csv);
}
