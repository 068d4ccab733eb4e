//! The desk's loaner pages, its lists and a device's history:
//!
//! - `/console/loans/{loan_id}`: a loan, and the forms its state allows (hand over, take back, inspect the returned
//!   loaner, extend, mark lost, cancel), each running the API's use case once per form token.
//! - `/console/desk/lists`: ready for pickup, past the promised time, overdue loans, the waitlists and the
//!   complaints to answer, each read with one statement within the user's stores.
//! - `/console/devices/{imei}`: a phone's record, plans, tickets and loans.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

use super::kit::{self, Chrome, Fields, Problems, Signed, field, optional};
use super::text::{self, Text};
use crate::auth::Principal;
use crate::db::Conn;
use crate::db::types::Id;
use crate::error::{AppError, AppResult};
use crate::loaners::model::{Grade, InspectionResult};
use crate::loans::repo::{DeskLoan, DeskLoans};
use crate::loans::{Loan, LoanState};
use crate::money::{Currency, Money};
use crate::state::AppState;
use crate::tickets::TicketStatus;
use crate::tickets::http::{TicketSearch, TicketSummary};
use crate::users::Locale;

/// How many rows a list shows at most.
const LIST_ROWS: i64 = 200;
/// The waitlists are shown whole up to this many waiters (positions are counted over what is read).
const WAITLIST_ROWS: i64 = 500;

/// The checklist of a loaner's condition, by the names the timeline records.
pub const CHECKLIST: [&str; 6] = ["screen", "body", "camera", "buttons", "charger_cable", "box"];
/// The checklist's items that are accessories: one not ticked on return is recorded missing.
const ACCESSORIES: [&str; 2] = ["charger_cable", "box"];

/// This part's words.
pub struct Words {
    pub loan_title: &'static str,
    pub ticket: &'static str,
    pub series: &'static str,
    pub loaner: &'static str,
    pub waitlist_place: &'static str,
    pub state: &'static str,
    pub due: &'static str,
    pub deposit: &'static str,
    pub hold_until: &'static str,
    pub issued_at: &'static str,
    pub returned_at: &'static str,
    pub returned_condition: &'static str,
    pub missing: &'static str,
    pub loaner_state: &'static str,
    pub no_actions: &'static str,
    pub hand_over: &'static str,
    pub due_hint: &'static str,
    pub deposit_hint: &'static str,
    pub checklist: &'static str,
    pub checklist_hint: &'static str,
    pub items: [&'static str; 6],
    pub note: &'static str,
    pub take_back: &'static str,
    pub return_checklist_hint: &'static str,
    pub condition: &'static str,
    pub good: &'static str,
    pub worn: &'static str,
    pub damaged: &'static str,
    pub damage_charge: &'static str,
    pub inspect: &'static str,
    pub result: &'static str,
    pub pass: &'static str,
    pub fail: &'static str,
    pub grade: &'static str,
    pub grade_same: &'static str,
    pub extend: &'static str,
    pub new_due: &'static str,
    pub reason: &'static str,
    pub lose: &'static str,
    pub charge: &'static str,
    pub cancel: &'static str,
    pub not_a_time: &'static str,
    pub not_an_amount: &'static str,
    pub part_not_in_order: &'static str,
    pub choose_one: &'static str,
    pub not_done: &'static str,
    pub lists_title: &'static str,
    pub ready: &'static str,
    pub ready_at: &'static str,
    pub past_promise: &'static str,
    pub overdue: &'static str,
    pub waitlist: &'static str,
    pub place: &'static str,
    pub queued: &'static str,
    pub complaints_due: &'static str,
    pub complaint: &'static str,
    pub category: &'static str,
    pub reply_due: &'static str,
    pub reply_clock: &'static str,
    pub none: &'static str,
    pub device_title: &'static str,
    pub model: &'static str,
    pub purchased: &'static str,
    pub warranty_starts: &'static str,
    pub device_state: &'static str,
    pub plans: &'static str,
    pub plan_kind: &'static str,
    pub sold_on: &'static str,
    pub used: &'static str,
    pub tickets: &'static str,
    pub loans: &'static str,
    pub device_link: &'static str,
}

pub const EN: Words = Words {
    loan_title: "Loaner",
    ticket: "Ticket",
    series: "Series",
    loaner: "Loaner (IMEI)",
    waitlist_place: "Place on the waitlist",
    state: "State",
    due: "Due back",
    deposit: "Deposit",
    hold_until: "Held until",
    issued_at: "Handed over",
    returned_at: "Returned",
    returned_condition: "Condition as returned",
    missing: "Missing accessories",
    loaner_state: "Loaner's state",
    no_actions: "Nothing can be done with this loan now.",
    hand_over: "Hand over",
    due_hint: "UTC, e.g. 2026-12-20T18:00. Blank: 14 days from now.",
    deposit_hint: "CNY, e.g. 500.00. Blank: the series' deposit.",
    checklist: "Condition checklist",
    checklist_hint: "Tick each part checked and in order, and each accessory given.",
    items: ["Screen", "Body", "Camera", "Buttons", "Charger and cable", "Box"],
    note: "Note",
    take_back: "Take back",
    return_checklist_hint: "Tick each part in order and each accessory brought back; an accessory not ticked is recorded missing.",
    condition: "Condition",
    good: "Good (as lent)",
    worn: "Worn",
    damaged: "Damaged",
    damage_charge: "Charge for damage or missing accessories (CNY)",
    inspect: "Inspection",
    result: "Result",
    pass: "Passed: back in service",
    fail: "Failed: to maintenance",
    grade: "New grade",
    grade_same: "Unchanged",
    extend: "Extend",
    new_due: "New due time (UTC)",
    reason: "Reason",
    lose: "Mark lost",
    charge: "Charge (CNY)",
    cancel: "Cancel the loan",
    not_a_time: "Enter a date and time such as 2026-12-20T18:00.",
    not_an_amount: "Enter an amount such as 500.00.",
    part_not_in_order: "A part is not ticked as in order: choose worn or damaged, or tick it.",
    choose_one: "Choose one.",
    not_done: "Not done:",
    lists_title: "Lists",
    ready: "Ready for pickup",
    ready_at: "Ready since",
    past_promise: "Past the promised time",
    overdue: "Loaners overdue",
    waitlist: "Waitlist",
    place: "Place",
    queued: "Waiting since",
    complaints_due: "Complaints to answer",
    complaint: "Complaint",
    category: "Category",
    reply_due: "Reply due",
    reply_clock: "Reply",
    none: "None.",
    device_title: "Device",
    model: "Model",
    purchased: "Purchased",
    warranty_starts: "Warranty from",
    device_state: "State",
    plans: "Plans",
    plan_kind: "Plan",
    sold_on: "Sold on",
    used: "Used by ticket",
    tickets: "Tickets",
    loans: "Loans",
    device_link: "History",
};

pub const ZH_CN: Words = Words {
    loan_title: "备用机借用",
    ticket: "工单",
    series: "系列",
    loaner: "备用机（IMEI）",
    waitlist_place: "排队位次",
    state: "状态",
    due: "应还时间",
    deposit: "押金",
    hold_until: "保留至",
    issued_at: "交付时间",
    returned_at: "归还时间",
    returned_condition: "归还时状况",
    missing: "缺少的配件",
    loaner_state: "备用机状态",
    no_actions: "此借用当前无可执行的操作。",
    hand_over: "交付备用机",
    due_hint: "UTC 时间，例如 2026-12-20T18:00。留空：14 天后。",
    deposit_hint: "人民币，例如 500.00。留空：按系列押金。",
    checklist: "状况检查",
    checklist_hint: "勾选已检查且完好的部位，以及随机交付的配件。",
    items: ["屏幕", "机身", "摄像头", "按键", "充电器和数据线", "包装盒"],
    note: "备注",
    take_back: "收回备用机",
    return_checklist_hint: "勾选完好的部位和已归还的配件；未勾选的配件记为缺失。",
    condition: "状况",
    good: "良好（与借出时相同）",
    worn: "磨损",
    damaged: "损坏",
    damage_charge: "损坏或缺件费用（元）",
    inspect: "检测",
    result: "结果",
    pass: "通过：恢复可借",
    fail: "未通过：送修",
    grade: "新成色",
    grade_same: "不变",
    extend: "延期",
    new_due: "新的应还时间（UTC）",
    reason: "原因",
    lose: "登记丢失",
    charge: "赔偿金额（元）",
    cancel: "取消借用",
    not_a_time: "请输入日期和时间，例如 2026-12-20T18:00。",
    not_an_amount: "请输入金额，例如 500.00。",
    part_not_in_order: "有部位未勾选为完好：请选择磨损或损坏，或勾选该部位。",
    choose_one: "请选择一项。",
    not_done: "未完成：",
    lists_title: "待办清单",
    ready: "待取机",
    ready_at: "完成时间",
    past_promise: "已超承诺时间",
    overdue: "备用机逾期未还",
    waitlist: "备用机排队",
    place: "位次",
    queued: "排队时间",
    complaints_due: "待答复投诉",
    complaint: "投诉",
    category: "类别",
    reply_due: "答复期限",
    reply_clock: "答复",
    none: "无。",
    device_title: "设备",
    model: "型号",
    purchased: "购买日期",
    warranty_starts: "保修起始",
    device_state: "状态",
    plans: "服务计划",
    plan_kind: "计划",
    sold_on: "售出日期",
    used: "使用工单",
    tickets: "工单",
    loans: "备用机借用",
    device_link: "设备记录",
};

fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::ZhCn => &ZH_CN,
        Locale::En => &EN,
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn money(m: &Money) -> String {
    format!("{} CNY", m.amount)
}

/// A time typed into a form: RFC 3339, or a `datetime-local` value (read as UTC, as the pages show times).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

/// An amount typed into a form, in yuan.
pub fn parse_money(text: &str) -> Option<Money> {
    crate::money::parse_amount(text.trim()).ok().map(|amount| Money {
        amount,
        currency: Currency::Cny,
    })
}

/// The checklist as a form sends it: the items ticked, in the checklist's order.
fn ticked(form: &Fields) -> Vec<&'static str> {
    CHECKLIST
        .iter()
        .copied()
        .filter(|item| !field(form, &format!("check_{item}")).is_empty())
        .collect()
}

/// What the timeline records of a checklist and a note.
pub fn checklist_note(ticked: &[&str], note: Option<&str>) -> String {
    let not: Vec<&str> = CHECKLIST.iter().copied().filter(|i| !ticked.contains(i)).collect();
    let mut text = format!(
        "checked: {}",
        if ticked.is_empty() {
            "-".to_owned()
        } else {
            ticked.join(", ")
        }
    );
    if !not.is_empty() {
        text.push_str(&format!("; not checked: {}", not.join(", ")));
    }
    if let Some(note) = note {
        text.push_str(&format!("; note: {note}"));
    }
    text
}

/// The forms of the loan page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Issue,
    Return,
    Inspect,
    Extend,
    Lose,
    Cancel,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Issue => "issue",
            Step::Return => "return",
            Step::Inspect => "inspection",
            Step::Extend => "extend",
            Step::Lose => "lost",
            Step::Cancel => "cancel",
        }
    }
}

/// A form's input, read and parsed; what the use case itself checks is left to it.
enum Input {
    Issue {
        due_at: Option<DateTime<Utc>>,
        deposit: Option<Money>,
        note: String,
    },
    Return {
        condition: String,
        missing: Vec<String>,
        charge: Option<Money>,
        note: String,
    },
    Inspect {
        result: InspectionResult,
        grade: Option<Grade>,
        note: Option<String>,
    },
    Extend {
        due_at: DateTime<Utc>,
        reason: String,
    },
    Lose {
        charge: Money,
        note: Option<String>,
    },
    Cancel {
        reason: String,
    },
}

/// Reads a form of `step`, or the problems beside its fields.
fn read(step: Step, form: &Fields, w: &Words) -> Result<Input, Problems> {
    let mut problems = Problems::default();
    let mut fail = |name: &str, message: &str| {
        problems
            .fields
            .entry(name.to_owned())
            .or_insert_with(|| message.to_owned());
    };
    let time = |name: &str, fail: &mut dyn FnMut(&str, &str)| -> Option<DateTime<Utc>> {
        let text = optional(form, name)?;
        let parsed = parse_time(&text);
        if parsed.is_none() {
            fail(name, w.not_a_time);
        }
        parsed
    };
    let amount = |name: &str, api: &str, fail: &mut dyn FnMut(&str, &str)| -> Option<Money> {
        let text = optional(form, name)?;
        let parsed = parse_money(&text);
        if parsed.is_none() {
            fail(api, w.not_an_amount);
        }
        parsed
    };
    let input = match step {
        Step::Issue => {
            let due_at = time("due_at", &mut fail);
            let deposit = amount("deposit", "deposit.amount", &mut fail);
            Input::Issue {
                due_at,
                deposit,
                note: checklist_note(&ticked(form), optional(form, "note").as_deref()),
            }
        }
        Step::Return => {
            let ticked = ticked(form);
            let condition = field(form, "condition").to_owned();
            if !["good", "worn", "damaged"].contains(&condition.as_str()) {
                fail("condition", w.choose_one);
            }
            let part_missing = CHECKLIST
                .iter()
                .any(|i| !ACCESSORIES.contains(i) && !ticked.contains(i));
            if part_missing && condition == "good" {
                fail("condition", w.part_not_in_order);
            }
            let missing = ACCESSORIES
                .iter()
                .filter(|a| !ticked.contains(a))
                .map(|a| (*a).to_owned())
                .collect();
            let charge = amount("damage_charge", "damage_charge.amount", &mut fail);
            Input::Return {
                condition,
                missing,
                charge,
                note: checklist_note(&ticked, optional(form, "note").as_deref()),
            }
        }
        Step::Inspect => {
            let result = match field(form, "result") {
                "pass" => Some(InspectionResult::Pass),
                "fail" => Some(InspectionResult::Fail),
                _ => None,
            };
            if result.is_none() {
                fail("result", w.choose_one);
            }
            let grade = match field(form, "grade") {
                "A" => Some(Grade::A),
                "B" => Some(Grade::B),
                "C" => Some(Grade::C),
                _ => None,
            };
            Input::Inspect {
                result: result.unwrap_or(InspectionResult::Fail),
                grade,
                note: optional(form, "note"),
            }
        }
        Step::Extend => {
            let due_at = time("due_at", &mut fail);
            if optional(form, "due_at").is_none() {
                fail("due_at", w.not_a_time);
            }
            Input::Extend {
                due_at: due_at.unwrap_or_default(),
                reason: field(form, "reason").trim().to_owned(),
            }
        }
        Step::Lose => {
            let charge = amount("charge", "charge.amount", &mut fail);
            if optional(form, "charge").is_none() {
                fail("charge.amount", w.not_an_amount);
            }
            Input::Lose {
                charge: charge.unwrap_or_else(|| Money::from_minor(0)),
                note: optional(form, "note"),
            }
        }
        Step::Cancel => Input::Cancel {
            reason: field(form, "reason").trim().to_owned(),
        },
    };
    if problems.is_empty() { Ok(input) } else { Err(problems) }
}

/// Runs a read form's use case as `principal` in the form's transaction.
fn act(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    input: &Input,
    hold: std::time::Duration,
) -> AppResult<()> {
    use crate::loans::service as loans;
    match input {
        Input::Issue { due_at, deposit, note } => {
            loans::issue_in(conn, principal, id, *due_at, *deposit, Some(note))?;
        }
        Input::Return {
            condition,
            missing,
            charge,
            note,
        } => {
            loans::give_back_in(
                conn,
                principal,
                id,
                Some(condition.clone()),
                missing,
                *charge,
                Some(note),
            )?;
        }
        Input::Inspect { result, grade, note } => {
            let loan = loans::get_in(conn, principal, id)?;
            let Some(loaner) = loan.loaner_id.filter(|_| loan.state == LoanState::Returned) else {
                return Err(AppError::conflict(
                    "illegal_transition",
                    format!("a {} loan has no loaner to inspect", loan.state.as_str()),
                ));
            };
            crate::loaners::service::inspect_in(conn, principal, loaner, *result, *grade, note.as_deref(), hold)?;
        }
        Input::Extend { due_at, reason } => {
            loans::extend_in(conn, principal, id, *due_at, reason)?;
        }
        Input::Lose { charge, note } => {
            loans::lose_in(conn, principal, id, charge, note.as_deref())?;
        }
        Input::Cancel { reason } => {
            loans::cancel_in(conn, principal, id, reason, hold)?;
        }
    }
    Ok(())
}

/// The loan as its page shows it.
struct LoanView {
    id: Uuid,
    ticket_id: Uuid,
    number: String,
    customer: String,
    series: String,
    loaner: Option<String>,
    place: Option<i64>,
    state: &'static str,
    state_code: &'static str,
    due: Option<String>,
    deposit: Option<String>,
    hold_until: Option<String>,
    issued: Option<String>,
    returned: Option<String>,
    condition: Option<String>,
    missing: String,
    loaner_state: Option<String>,
}

/// Which forms the loan's state allows: the API's own transitions decide.
struct Allowed {
    issue: bool,
    give_back: bool,
    inspect: bool,
    extend: bool,
    lose: bool,
    cancel: bool,
}

impl Allowed {
    fn of(state: LoanState, loaner_state: Option<&str>) -> Allowed {
        Allowed {
            issue: state.issue().is_ok(),
            give_back: state.give_back().is_ok(),
            inspect: state == LoanState::Returned && loaner_state == Some("inspection"),
            extend: state == LoanState::Issued,
            lose: state.lose().is_ok(),
            cancel: state.cancel().is_ok(),
        }
    }

    fn any(&self) -> bool {
        self.issue || self.give_back || self.inspect || self.extend || self.lose || self.cancel
    }
}

/// Each form's one-time token.
struct Tokens {
    issue: String,
    give_back: String,
    inspect: String,
    extend: String,
    lose: String,
    cancel: String,
}

impl Tokens {
    fn fresh() -> Tokens {
        Tokens {
            issue: kit::form_token(),
            give_back: kit::form_token(),
            inspect: kit::form_token(),
            extend: kit::form_token(),
            lose: kit::form_token(),
            cancel: kit::form_token(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/lists/loan.html")]
struct LoanPage {
    t: &'static Text,
    w: &'static Words,
    chrome: Chrome,
    loan: LoanView,
    allowed: Allowed,
    /// The checklist's items and their labels.
    items: Vec<(&'static str, &'static str)>,
    idem: Tokens,
    /// The form that was refused, with what was typed in it and its problems.
    failed: Option<Step>,
    typed: Fields,
    problems: Problems,
}

impl LoanPage {
    /// The problem of `name` in form `step`, when that form was the one refused.
    fn problem(&self, step: &str, name: &str) -> Option<&str> {
        match self.failed {
            Some(f) if f.name() == step => self.problems.at(name),
            _ => None,
        }
    }

    /// The general problem of form `step`.
    fn general(&self, step: &str) -> Option<&str> {
        match self.failed {
            Some(f) if f.name() == step => self.problems.general.as_deref(),
            _ => None,
        }
    }

    /// Whether form `step` is the one refused (it is shown again even if the state no longer allows it, with why).
    fn failed_is(&self, step: &str) -> bool {
        self.failed.is_some_and(|f| f.name() == step)
    }

    /// What was typed into `name` of form `step`, when it was refused.
    fn typed(&self, step: &str, name: &str) -> &str {
        match self.failed {
            Some(f) if f.name() == step => field(&self.typed, name),
            _ => "",
        }
    }

    fn is(&self, step: &str, name: &str, value: &str) -> bool {
        self.typed(step, name) == value
    }

    /// Whether checklist `item` of form `step` is ticked: as sent when refused, otherwise not.
    fn checked(&self, step: &str, item: &str) -> bool {
        !self.typed(step, &format!("check_{item}")).is_empty()
    }
}

/// What the loan page reads: the loan, its ticket's number and customer, its series, its loaner's state.
fn read_loan(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<(Loan, DeskLoan, Option<String>)> {
    let loan = crate::loans::service::get_in(conn, principal, id)?;
    let ticket = [Id(loan.ticket_id)];
    let desk = crate::loans::service::desk_loans_in(conn, principal, DeskLoans::OfTickets(&ticket), 50)?
        .into_iter()
        .find(|d| d.id.0 == id)
        .ok_or(AppError::NotFound("loan"))?;
    let loaner_state = match loan.loaner_id {
        Some(loaner) => crate::loaners::repo::find(conn, Id(loaner))?.map(|l| l.state),
        None => None,
    };
    Ok((loan, desk, loaner_state))
}

/// Renders the loan page (with a refused form's problems when `failed`); the 404 page for a loan out of scope.
async fn loan_page(
    state: &web::Data<AppState>,
    signed: &Signed,
    id: Uuid,
    status: StatusCode,
    failed: Option<(Step, Fields, Problems)>,
) -> AppResult<HttpResponse> {
    let db = state.db.clone();
    let bearer = signed.bearer();
    let found = web::block(move || bearer.read(&db, |conn, principal| read_loan(conn, principal, id))).await?;
    let (loan, desk, loaner_state) = match found {
        Ok(found) => found,
        Err(AppError::NotFound(_) | AppError::Forbidden) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let missing = loan.missing_accessories.join(", ");
    let allowed = Allowed::of(loan.state, loaner_state.as_deref());
    let view = LoanView {
        id: loan.id,
        ticket_id: loan.ticket_id,
        number: desk.number,
        customer: desk.customer_name,
        series: desk.series_name,
        loaner: loan.loaner_imei,
        place: loan.waitlist_position,
        state: text::loan_state_label(signed.t, loan.state),
        state_code: loan.state.as_str(),
        due: loan.due_at.map(when),
        deposit: loan.deposit.as_ref().map(money),
        hold_until: loan.hold_until.map(when),
        issued: loan.issued_at.map(when),
        returned: loan.returned_at.map(when),
        condition: loan.return_condition,
        missing,
        loaner_state,
    };
    let (failed, typed, problems) = match failed {
        Some((step, typed, problems)) => (Some(step), typed, problems),
        None => (None, Fields::new(), Problems::default()),
    };
    let w = words(signed.locale());
    let page = LoanPage {
        t: signed.t,
        w,
        items: CHECKLIST.iter().copied().zip(w.items.iter().copied()).collect(),
        chrome: signed.chrome(),
        loan: view,
        allowed,
        idem: Tokens::fresh(),
        failed,
        typed,
        problems,
    };
    kit::page(status, kit::render(&page))
}

#[get("/loans/{loan_id}")]
async fn show_loan(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let signed = match kit::signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return signed.not_found();
    };
    loan_page(&state, &signed, id, StatusCode::OK, None).await
}

/// A loan form's post: checked, read, run once through the use case, then back to the loan page (303), or the page
/// again with the problems beside the fields (422, nothing changed).
async fn post_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    step: Step,
) -> AppResult<HttpResponse> {
    let (signed, form) = match kit::posted(&state, &req, &body).await {
        Ok(posted) => posted,
        Err(answer) => return answer,
    };
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return signed.not_found();
    };
    let input = match read(step, &form, words(signed.locale())) {
        Ok(input) => input,
        Err(problems) => {
            return loan_page(
                &state,
                &signed,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((step, form, problems)),
            )
            .await;
        }
    };
    let hold = state.settings.loan_hold;
    let route = format!("console:loan-{}", step.name());
    let done = kit::once(&state, &signed, &form, &route, move |conn, principal| {
        act(conn, principal, id, &input, hold)?;
        Ok(format!("/console/loans/{id}"))
    })
    .await;
    match done {
        Ok(location) => Ok(kit::see_other(&location)),
        Err(AppError::NotFound(_)) => signed.not_found(),
        Err(AppError::Forbidden) => signed.refused(),
        Err(e) => {
            let problems = Problems::of(e)?;
            loan_page(
                &state,
                &signed,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((step, form, problems)),
            )
            .await
        }
    }
}

#[post("/loans/{loan_id}/issue")]
async fn issue(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    post_step(state, req, path, body, Step::Issue).await
}

#[post("/loans/{loan_id}/return")]
async fn give_back(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    post_step(state, req, path, body, Step::Return).await
}

#[post("/loans/{loan_id}/inspection")]
async fn inspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    post_step(state, req, path, body, Step::Inspect).await
}

#[post("/loans/{loan_id}/extend")]
async fn extend(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    post_step(state, req, path, body, Step::Extend).await
}

#[post("/loans/{loan_id}/lost")]
async fn lose(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    post_step(state, req, path, body, Step::Lose).await
}

#[post("/loans/{loan_id}/cancel")]
async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    post_step(state, req, path, body, Step::Cancel).await
}

/// A ticket in a list.
struct TicketRow {
    id: Uuid,
    number: String,
    customer: String,
    status: &'static str,
    status_code: &'static str,
    at: String,
}

/// A loan in a list.
struct LoanRow {
    id: Uuid,
    ticket_id: Uuid,
    number: String,
    customer: String,
    series: String,
    state: &'static str,
    state_code: &'static str,
    loaner: String,
    due: String,
    queued: String,
    place: i64,
}

impl LoanRow {
    fn of(t: &Text, l: DeskLoan, place: i64) -> LoanRow {
        let state = LoanState::parse(&l.state);
        LoanRow {
            id: l.id.0,
            ticket_id: l.ticket_id.0,
            number: l.number,
            customer: l.customer_name,
            series: l.series_name,
            state: text::loan_state_label(t, state),
            state_code: state.as_str(),
            loaner: l.loaner_imei.unwrap_or_default(),
            due: l.due_at.map(|d| when(d.0)).unwrap_or_default(),
            queued: when(l.queued_at.0),
            place,
        }
    }
}

struct ComplaintRow {
    id: Uuid,
    ticket_id: Option<Uuid>,
    category: String,
    state: String,
    due: String,
    clock: String,
    late: bool,
}

#[derive(Template)]
#[template(path = "console/lists/lists.html")]
struct ListsPage {
    t: &'static Text,
    w: &'static Words,
    chrome: Chrome,
    ready: Vec<TicketRow>,
    past_promise: Vec<TicketRow>,
    overdue: Vec<LoanRow>,
    waitlist: Vec<LoanRow>,
    complaints: Vec<ComplaintRow>,
}

/// The lists' rows, as read.
struct Lists {
    ready: Vec<TicketSummary>,
    past_promise: Vec<TicketSummary>,
    overdue: Vec<DeskLoan>,
    waiting: Vec<DeskLoan>,
    complaints: Vec<crate::complaints::model::ComplaintSummary>,
}

fn read_lists(conn: &mut Conn<'_>, principal: &Principal, now: DateTime<Utc>) -> AppResult<Lists> {
    let page = || crate::http::pagination::PageRequest::parse("/tickets", Some(LIST_ROWS), None);
    let ready = TicketSearch {
        status: Some(TicketStatus::ReadyForPickup),
        ..TicketSearch::default()
    };
    let mut ready = crate::tickets::service::list_in(conn, principal, &ready, page()?)?.items;
    ready.sort_by_key(|t| (t.ready_at, t.created_at));
    let late = TicketSearch {
        past_promise: true,
        open_only: true,
        ..TicketSearch::default()
    };
    let mut past_promise = crate::tickets::service::list_in(conn, principal, &late, page()?)?.items;
    past_promise.sort_by_key(|t| (t.promised_at, t.created_at));
    let overdue = crate::loans::service::desk_loans_in(
        conn,
        principal,
        DeskLoans::Overdue(crate::db::types::Ts(now)),
        LIST_ROWS,
    )?;
    let waiting = crate::loans::service::desk_loans_in(conn, principal, DeskLoans::Waiting, WAITLIST_ROWS)?;
    let complaints = crate::complaints::service::open_by_due_in(conn, principal, now, LIST_ROWS)?;
    Ok(Lists {
        ready,
        past_promise,
        overdue,
        waiting,
        complaints,
    })
}

fn ticket_row(text: &Text, t: TicketSummary, at: Option<DateTime<Utc>>) -> TicketRow {
    TicketRow {
        id: t.id,
        number: t.number,
        customer: t.customer_name,
        status: text::status_label(text, t.status),
        status_code: t.status.as_str(),
        at: at.map(when).unwrap_or_default(),
    }
}

/// Numbers each waiter by its place in its queue (store and series): the rows come queue by queue, in order.
fn with_places(t: &Text, waiting: Vec<DeskLoan>) -> Vec<LoanRow> {
    let mut places: HashMap<(Id, Id), i64> = HashMap::new();
    waiting
        .into_iter()
        .map(|l| {
            let place = places.entry((l.store_id, l.series_id)).or_insert(0);
            *place += 1;
            let place = *place;
            LoanRow::of(t, l, place)
        })
        .collect()
}

#[get("/desk/lists")]
async fn lists(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let signed = match kit::signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let db = state.db.clone();
    let bearer = signed.bearer();
    let now = crate::now();
    let found = web::block(move || bearer.read(&db, |conn, principal| read_lists(conn, principal, now))).await?;
    let lists = match found {
        Ok(lists) => lists,
        Err(AppError::Forbidden) => return signed.refused(),
        Err(e) => return Err(e),
    };
    let page = ListsPage {
        t: signed.t,
        w: words(signed.locale()),
        chrome: signed.chrome(),
        ready: lists
            .ready
            .into_iter()
            .map(|t| {
                let at = t.ready_at;
                ticket_row(signed.t, t, at)
            })
            .collect(),
        past_promise: lists
            .past_promise
            .into_iter()
            .map(|t| {
                let at = t.promised_at;
                ticket_row(signed.t, t, at)
            })
            .collect(),
        overdue: lists.overdue.into_iter().map(|l| LoanRow::of(signed.t, l, 0)).collect(),
        waitlist: with_places(signed.t, lists.waiting),
        complaints: lists
            .complaints
            .into_iter()
            .map(|c| ComplaintRow {
                id: c.id,
                ticket_id: c.ticket_id,
                category: c.category.as_str().to_owned(),
                state: c.state.as_str().to_owned(),
                due: when(c.first_reply_due_at),
                clock: c.reply_clock.as_str().to_owned(),
                late: c.first_reply_at.is_none() && c.first_reply_due_at <= now,
            })
            .collect(),
    };
    kit::show(&page)
}

struct PlanRow {
    kind: String,
    sold_on: String,
    price: String,
    used_by: Option<Uuid>,
}

struct DeviceView {
    imei: String,
    model: String,
    purchased: String,
    warranty_starts: String,
    state: String,
}

#[derive(Template)]
#[template(path = "console/lists/device.html")]
struct DevicePage {
    t: &'static Text,
    w: &'static Words,
    chrome: Chrome,
    device: DeviceView,
    plans: Vec<PlanRow>,
    tickets: Vec<TicketRow>,
    loans: Vec<LoanRow>,
}

type DeviceRead = (crate::devices::model::DeviceHistory, Option<String>, Vec<DeskLoan>);

fn read_device(conn: &mut Conn<'_>, principal: &Principal, imei: &str) -> AppResult<DeviceRead> {
    let history = crate::devices::service::history_by_imei_in(conn, principal, imei)?;
    let model = crate::catalog::repo::models::find(conn, history.device.model_id)?.map(|m| m.name);
    let tickets: Vec<Id> = history.tickets.iter().map(|t| Id(t.id)).collect();
    let loans = if tickets.is_empty() {
        Vec::new()
    } else {
        crate::loans::service::desk_loans_in(conn, principal, DeskLoans::OfTickets(&tickets), LIST_ROWS)?
    };
    Ok((history, model, loans))
}

#[get("/devices/{imei}")]
async fn device(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let signed = match kit::signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let imei = path.into_inner();
    if imei.len() != 15 || !imei.bytes().all(|b| b.is_ascii_digit()) {
        return signed.not_found();
    }
    let db = state.db.clone();
    let bearer = signed.bearer();
    let found = web::block(move || bearer.read(&db, |conn, principal| read_device(conn, principal, &imei))).await?;
    let (history, model, loans) = match found {
        Ok(found) => found,
        Err(AppError::NotFound(_) | AppError::Forbidden) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let d = &history.device;
    let device = DeviceView {
        imei: d.imei.clone(),
        model: model.unwrap_or_default(),
        purchased: d.purchase_date.to_string(),
        warranty_starts: d.warranty_starts_on.to_string(),
        state: d.state.as_str().to_owned(),
    };
    let plans = history
        .plans
        .iter()
        .map(|p| PlanRow {
            kind: p.kind.as_str().to_owned(),
            sold_on: p.sold_on.to_string(),
            price: money(&p.price),
            used_by: p.used_by_ticket_id,
        })
        .collect();
    let tickets = history
        .tickets
        .iter()
        .map(|t| TicketRow {
            id: t.id,
            number: t.number.clone(),
            customer: String::new(),
            status: text::status_label(signed.t, t.status),
            status_code: t.status.as_str(),
            at: when(t.created_at),
        })
        .collect();
    let page = DevicePage {
        t: signed.t,
        w: words(signed.locale()),
        chrome: signed.chrome(),
        device,
        plans,
        tickets,
        loans: loans.into_iter().map(|l| LoanRow::of(signed.t, l, 0)).collect(),
    };
    kit::show(&page)
}

/// Registers this part's pages inside the `/console` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(show_loan)
        .service(issue)
        .service(give_back)
        .service(inspect)
        .service(extend)
        .service(lose)
        .service(cancel)
        .service(lists)
        .service(device);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_typed_in_a_datetime_field_or_rfc_3339() {
        let expected = DateTime::parse_from_rfc3339("2026-12-20T18:00:00Z").map(|t| t.with_timezone(&Utc));
        for typed in [
            "2026-12-20T18:00",
            " 2026-12-20T18:00:00 ",
            "2026-12-20 18:00",
            "2026-12-21T02:00:00+08:00",
        ] {
            assert_eq!(parse_time(typed), expected.ok(), "{typed}");
        }
        for typed in ["", "tomorrow", "2026-13-01T00:00", "20/12/2026"] {
            assert_eq!(parse_time(typed), None, "{typed}");
        }
    }

    #[test]
    fn amounts_are_yuan_with_at_most_two_decimals() {
        assert_eq!(parse_money("500").map(|m| m.to_minor()), Some(Ok(50_000)));
        assert_eq!(parse_money(" 12.5 ").map(|m| m.to_minor()), Some(Ok(1_250)));
        assert!(parse_money("-1").is_none());
        assert!(parse_money("1.234").is_none());
        assert!(parse_money("abc").is_none());
    }

    #[test]
    fn the_checklist_note_names_what_was_and_was_not_checked() {
        assert_eq!(
            checklist_note(&["screen", "body", "camera", "buttons"], Some("scratch on the back")),
            "checked: screen, body, camera, buttons; not checked: charger_cable, box; note: scratch on the back"
        );
        assert_eq!(
            checklist_note(&CHECKLIST, None),
            "checked: screen, body, camera, buttons, charger_cable, box"
        );
        assert_eq!(
            checklist_note(&[], None),
            "checked: -; not checked: screen, body, camera, buttons, charger_cable, box"
        );
    }

    #[test]
    fn a_return_with_a_part_not_in_order_cannot_be_good() {
        let form: Fields = [("condition", "good"), ("check_screen", "on"), ("check_box", "on")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let Err(problems) = read(Step::Return, &form, &EN) else {
            panic!("accepted a good return with parts not ticked");
        };
        assert_eq!(problems.at("condition"), Some(EN.part_not_in_order));
        let mut form = form;
        form.insert("condition".into(), "worn".into());
        let Ok(Input::Return { missing, .. }) = read(Step::Return, &form, &EN) else {
            panic!("refused a worn return");
        };
        assert_eq!(missing, ["charger_cable"]);
    }

    #[test]
    fn the_forms_shown_follow_the_loan_state_machine() {
        let shown = |state, loaner| {
            let a = Allowed::of(state, loaner);
            [a.issue, a.give_back, a.inspect, a.extend, a.lose, a.cancel]
        };
        assert_eq!(
            shown(LoanState::Waiting, None),
            [false, false, false, false, false, true]
        );
        assert_eq!(
            shown(LoanState::Reserved, Some("reserved")),
            [true, false, false, false, false, true]
        );
        assert_eq!(
            shown(LoanState::Issued, Some("on_loan")),
            [false, true, false, true, true, false]
        );
        assert_eq!(
            shown(LoanState::Returned, Some("inspection")),
            [false, false, true, false, false, false]
        );
        assert_eq!(shown(LoanState::Returned, Some("available")), [false; 6]);
        assert!(!Allowed::of(LoanState::Cancelled, None).any());
    }
}
