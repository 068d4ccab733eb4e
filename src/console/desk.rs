//! The front desk's ticket flow: opening a ticket (checked first: the warranty decision as it will be made and the
//! loaner it will get, or its place in the waitlist), the ticket page with only the allowed next steps, the quote
//! builder, the findings, photos from a tablet's camera, and the printable work order.
//!
//! Every form calls the use case its JSON route calls, as the signed-in user, through [`kit::once`]: one write
//! transaction per form token, so a double click acts once. A refused action comes back as the ticket page with the
//! problem shown (beside its field when it names one).
//!
//! The tracking token is shown once, on opening. The opening's answer is the ticket page itself, rendered from the
//! post's result with the link in its notice, rather than a redirect: a redirect would have to carry the token in
//! its URL (browser history, logs, the `Referer`) or store it (the form token's stored answer keeps only where to
//! go). A reload posts the same form token again, which replays as a redirect to the ticket page without the link.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, post, web};
use askama::Template;
use chrono::{NaiveDate, TimeZone};
use uuid::Uuid;

use super::kit::{self, Chrome, Fields, Problems, Signed, field, optional, see_other, show_again};
use super::text::{self, Text};
use crate::auth::{Principal, Role};
use crate::catalog::StoreRow;
use crate::db::Conn;
use crate::db::types::Id;
use crate::error::{AppError, AppResult};
use crate::files::FileOut;
use crate::files::model::Owner;
use crate::loans::Outlook;
use crate::money::{Currency, Money};
use crate::parts::PartRow;
use crate::repairs::http::{QuoteRepair, ReservePart};
use crate::state::AppState;
use crate::tickets::http::{ChooseRemedy, Customer, Inspection, Invoice, OutcomeKind, UpdateFindings};
use crate::tickets::rules::{enum_str, local_date, next_actions, parse_enum};
use crate::tickets::{Channel, OpenTicket, Ticket, TicketAction, TicketRow, TicketStatus};
use crate::users::Locale;
use crate::warranty::model::CheckRequest;
use crate::warranty::{Certificate, Claim, CoveredItem, FaultKind, Findings, WarrantyDecision};

/// The desk's own words.
pub struct Words {
    pub open_title: &'static str,
    pub open_link: &'static str,
    pub store: &'static str,
    pub customer_name: &'static str,
    pub customer_phone: &'static str,
    pub consent: &'static str,
    pub imei: &'static str,
    pub model: &'static str,
    pub premium: &'static str,
    pub purchase_date: &'static str,
    pub reported_fault: &'static str,
    pub accessories: &'static str,
    pub accessories_hint: &'static str,
    pub appearance: &'static str,
    pub liquid: &'static str,
    pub drop: &'static str,
    pub crush: &'static str,
    pub tampering: &'static str,
    pub findings_legend: &'static str,
    pub covered_item: &'static str,
    pub fault_kind: &'static str,
    pub certificate: &'static str,
    pub invoice_legend: &'static str,
    pub price_paid: &'static str,
    pub seller: &'static str,
    pub invoice_number: &'static str,
    pub promised_on: &'static str,
    pub check: &'static str,
    pub open: &'static str,
    pub outlook_title: &'static str,
    pub decision: &'static str,
    pub rule: &'static str,
    pub remedies: &'static str,
    pub coverage_ends: &'static str,
    pub free: &'static str,
    pub paid: &'static str,
    pub loaner_reserved: &'static str,
    pub grade: &'static str,
    pub waitlist: &'static str,
    pub no_loaner: &'static str,
    pub outlook_note: &'static str,
    pub open_ticket_exists: &'static str,
    pub opened_notice: &'static str,
    pub tracking_link: &'static str,
    pub next_steps: &'static str,
    pub no_steps: &'static str,
    pub step_note: &'static str,
    pub start_diagnosis: &'static str,
    pub request_approval: &'static str,
    pub start_repair: &'static str,
    pub start_quality_check: &'static str,
    pub mark_ready: &'static str,
    pub close: &'static str,
    pub cancel: &'static str,
    pub quote_title: &'static str,
    pub part: &'static str,
    pub quantity: &'static str,
    pub reserve_part: &'static str,
    pub release: &'static str,
    pub sku: &'static str,
    pub line_state: &'static str,
    pub unit_price: &'static str,
    pub customer_price: &'static str,
    pub covered: &'static str,
    pub no_lines: &'static str,
    pub labour: &'static str,
    pub labour_row: &'static str,
    pub total_cost: &'static str,
    pub customer_total: &'static str,
    pub issue_quote: &'static str,
    pub quote_state: &'static str,
    pub approve: &'static str,
    pub decline: &'static str,
    pub counter_decision: &'static str,
    pub findings_title: &'static str,
    pub save_findings: &'static str,
    pub photos_title: &'static str,
    pub photo: &'static str,
    pub stage: &'static str,
    pub customer_visible: &'static str,
    pub upload: &'static str,
    pub no_photos: &'static str,
    pub work_order: &'static str,
    pub work_order_title: &'static str,
    pub print_hint: &'static str,
    pub service_center: &'static str,
    pub received: &'static str,
    pub condition: &'static str,
    pub none: &'static str,
    pub estimate: &'static str,
    pub agreement_title: &'static str,
    pub agreement: &'static str,
    pub backup_title: &'static str,
    pub backup: &'static str,
    pub customer_signature: &'static str,
    pub staff_signature: &'static str,
    pub date: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub bad_uuid: &'static str,
    pub bad_date: &'static str,
    pub bad_amount: &'static str,
    pub bad_quantity: &'static str,
    pub required: &'static str,
    pub remedy_title: &'static str,
    pub remedy_hint: &'static str,
    pub remedy_legend: &'static str,
    pub replacement_imei: &'static str,
    pub replacement_hint: &'static str,
    pub choose_remedy: &'static str,
    pub carry_out_exchange: &'static str,
    pub remedy_chosen: &'static str,
    pub awaits_store: &'static str,
    pub refund: &'static str,
    pub exchanged: &'static str,
    pub choose_one: &'static str,
}

pub const EN: Words = Words {
    open_title: "Open a ticket",
    open_link: "Open a ticket",
    store: "Service center",
    customer_name: "Customer's name",
    customer_phone: "Customer's mobile number",
    consent: "The customer agrees to be contacted (reminders, callbacks)",
    imei: "IMEI (15 digits)",
    model: "Model",
    premium: "premium: loaner",
    purchase_date: "Purchase date (on the invoice)",
    reported_fault: "Reported fault",
    accessories: "Accessories left with the phone",
    accessories_hint: "Separated by commas, e.g. case, charger",
    appearance: "Appearance as received (scratches, dents, cracks)",
    liquid: "Liquid damage",
    drop: "Drop damage",
    crush: "Crush damage",
    tampering: "Opened or repaired elsewhere",
    findings_legend: "Findings",
    covered_item: "What is repaired",
    fault_kind: "Kind of fault",
    certificate: "Warranty certificate / invoice",
    invoice_legend: "Invoice (a phone seen for the first time)",
    price_paid: "Price paid (CNY)",
    seller: "Seller",
    invoice_number: "Invoice number",
    promised_on: "Promised date (ready by 18:00)",
    check: "Check",
    open: "Open ticket",
    outlook_title: "What opening will do",
    decision: "Warranty decision",
    rule: "Rule",
    remedies: "The customer may choose",
    coverage_ends: "Covered until",
    free: "Free for the customer",
    paid: "Paid repair",
    loaner_reserved: "Loaner to be reserved",
    grade: "grade",
    waitlist: "No loaner free: the ticket waits at place",
    no_loaner: "Not a premium series: no loaner.",
    outlook_note: "Another opening may take the loaner meanwhile; the ticket page shows what was reserved.",
    open_ticket_exists: "Open the phone's ticket",
    opened_notice: "Ticket opened. Give the customer the tracking link now: it is shown only this once.",
    tracking_link: "Tracking link",
    next_steps: "Next steps",
    no_steps: "No further step: the ticket is closed or cancelled.",
    step_note: "Note for the timeline (optional)",
    start_diagnosis: "Start diagnosis",
    request_approval: "Request approval",
    start_repair: "Start repair",
    start_quality_check: "Quality check",
    mark_ready: "Mark ready for pickup",
    close: "Close (phone handed back)",
    cancel: "Cancel ticket",
    quote_title: "Quote",
    part: "Part",
    quantity: "Quantity",
    reserve_part: "Add part",
    release: "Release",
    sku: "SKU",
    line_state: "State",
    unit_price: "Unit price",
    customer_price: "Customer pays",
    covered: "covered",
    no_lines: "No parts yet.",
    labour: "Labour (CNY)",
    labour_row: "Labour",
    total_cost: "Total cost",
    customer_total: "Customer pays in total",
    issue_quote: "Issue quote",
    quote_state: "Quote",
    approve: "Customer approves",
    decline: "Customer declines",
    counter_decision: "The customer's answer, given at the counter:",
    findings_title: "Findings",
    save_findings: "Save findings",
    photos_title: "Photos",
    photo: "Photo",
    stage: "Stage",
    customer_visible: "The customer may see it (tracking link)",
    upload: "Upload photo",
    no_photos: "No photos yet.",
    work_order: "Printable work order",
    work_order_title: "Repair work order",
    print_hint: "Print this page (Ctrl+P) and have both parties sign.",
    service_center: "Service center",
    received: "Received",
    condition: "Appearance and condition as received",
    none: "none",
    estimate: "Quote / estimated cost",
    agreement_title: "Repair agreement",
    agreement: "The customer entrusts the device above to the service center for inspection and repair. Repairs covered by the warranty are free of charge; other repairs are carried out only after the customer approves a quote. Parts replaced become the service center's property. Repaired parts are under warranty for 90 days, or for the part's own period when longer. A device not collected within 90 days of the notice that it is ready may be handled as the law allows. The customer collects the device with this order and the ID used at drop-off.",
    backup_title: "Data backup notice",
    backup: "The customer is responsible for backing up the data on the device before handing it in. Repair may require the phone to be reset to factory settings, which erases all data; the service center is not liable for any loss of data. Remove SIM and memory cards, and sign out of cloud accounts or give the screen lock so the repair can be tested.",
    customer_signature: "Customer's signature",
    staff_signature: "Staff signature",
    date: "Date",
    yes: "yes",
    no: "no",
    bad_uuid: "choose one from the list",
    bad_date: "a date, e.g. 2026-03-01",
    bad_amount: "an amount in yuan, e.g. 199.00",
    bad_quantity: "a whole number from 1 to 1000",
    required: "required",
    remedy_title: "The customer's choice",
    remedy_hint: "The warranty lets the customer choose. Record the choice they make at the counter; the repair starts only after it.",
    remedy_legend: "The customer chooses",
    replacement_imei: "New phone's IMEI (exchange only)",
    replacement_hint: "15 digits, from the new phone's box. Leave blank for a return or a repair.",
    choose_remedy: "Record the choice",
    carry_out_exchange: "The customer chose an exchange through their link: hand over the new phone and record its IMEI.",
    remedy_chosen: "Customer's choice",
    awaits_store: "waiting for the store to hand over the new phone",
    refund: "Refund",
    exchanged: "Exchanged for a new phone",
    choose_one: "choose one",
};

pub const ZH_CN: Words = Words {
    open_title: "新建工单",
    open_link: "新建工单",
    store: "服务中心",
    customer_name: "客户姓名",
    customer_phone: "客户手机号",
    consent: "客户同意接收联系（提醒、回访）",
    imei: "IMEI（15 位）",
    model: "机型",
    premium: "高端系列：提供备用机",
    purchase_date: "购机日期（以发票为准）",
    reported_fault: "故障描述",
    accessories: "随机附件",
    accessories_hint: "用逗号分隔，例如：保护壳, 充电器",
    appearance: "接机外观（划痕、磕碰、裂痕）",
    liquid: "进液",
    drop: "摔落",
    crush: "挤压",
    tampering: "非授权拆修",
    findings_legend: "检测结果",
    covered_item: "维修对象",
    fault_kind: "故障类型",
    certificate: "保修凭证 / 发票",
    invoice_legend: "发票（首次登记的手机）",
    price_paid: "购买价格（元）",
    seller: "销售商",
    invoice_number: "发票号码",
    promised_on: "承诺取机日期（18:00 前）",
    check: "检查",
    open: "开单",
    outlook_title: "开单后将会",
    decision: "保修判定",
    rule: "依据",
    remedies: "客户可选择",
    coverage_ends: "保修截至",
    free: "客户免费",
    paid: "付费维修",
    loaner_reserved: "将预留的备用机",
    grade: "成色",
    waitlist: "暂无可用备用机：排队位置",
    no_loaner: "非高端系列：不提供备用机。",
    outlook_note: "其他工单可能先占用该备用机；以工单页显示的预留结果为准。",
    open_ticket_exists: "打开该手机的在修工单",
    opened_notice: "工单已创建。请立即将查询链接交给客户：此链接只显示这一次。",
    tracking_link: "查询链接",
    next_steps: "下一步",
    no_steps: "工单已关闭或取消，没有后续步骤。",
    step_note: "处理记录备注（可选）",
    start_diagnosis: "开始检测",
    request_approval: "请求客户确认",
    start_repair: "开始维修",
    start_quality_check: "质检",
    mark_ready: "维修完成待取机",
    close: "关闭工单（已交还手机）",
    cancel: "取消工单",
    quote_title: "报价",
    part: "备件",
    quantity: "数量",
    reserve_part: "添加备件",
    release: "退回",
    sku: "编码",
    line_state: "状态",
    unit_price: "单价",
    customer_price: "客户支付",
    covered: "保修",
    no_lines: "尚无备件。",
    labour: "工时费（元）",
    labour_row: "工时费",
    total_cost: "总成本",
    customer_total: "客户合计支付",
    issue_quote: "出具报价",
    quote_state: "报价状态",
    approve: "客户同意",
    decline: "客户拒绝",
    counter_decision: "客户在柜台的答复：",
    findings_title: "检测结果",
    save_findings: "保存检测结果",
    photos_title: "照片",
    photo: "照片",
    stage: "环节",
    customer_visible: "客户可见（查询链接）",
    upload: "上传照片",
    no_photos: "尚无照片。",
    work_order: "打印维修单",
    work_order_title: "维修受理单",
    print_hint: "打印本页（Ctrl+P），双方签字。",
    service_center: "服务中心",
    received: "受理日期",
    condition: "接机外观及状况",
    none: "无",
    estimate: "报价 / 预估费用",
    agreement_title: "维修协议",
    agreement: "客户将上述设备交由服务中心检测维修。保修范围内的维修免费；保修范围外的维修须经客户确认报价后方可进行。更换下的旧件归服务中心所有。维修部位保修 90 天，备件自身保修期更长的以较长者为准。自通知取机之日起 90 天内未取回的设备，按法律规定处理。客户凭本单及送修时所用证件取机。",
    backup_title: "数据备份告知",
    backup: "送修前请客户自行备份设备中的数据。维修可能需要将手机恢复出厂设置，届时全部数据将被清除；服务中心对数据丢失不承担责任。请取出 SIM 卡和存储卡，并退出云账号或告知锁屏密码以便维修后测试。",
    customer_signature: "客户签字",
    staff_signature: "受理人签字",
    date: "日期",
    yes: "是",
    no: "否",
    bad_uuid: "请从列表中选择",
    bad_date: "请输入日期，例如 2026-03-01",
    bad_amount: "请输入金额（元），例如 199.00",
    bad_quantity: "请输入 1 到 1000 的整数",
    required: "必填",
    remedy_title: "客户的选择",
    remedy_hint: "按三包规定客户可以选择处理方式。请记录客户在柜台的选择；记录后才能开始维修。",
    remedy_legend: "客户选择",
    replacement_imei: "新机 IMEI（仅换货）",
    replacement_hint: "15 位数字，见新机包装盒。退货或维修请留空。",
    choose_remedy: "记录客户选择",
    carry_out_exchange: "客户已通过查询链接选择换货：请交付新机并记录其 IMEI。",
    remedy_chosen: "客户选择",
    awaits_store: "等待门店交付新机",
    refund: "退款金额",
    exchanged: "已换新机",
    choose_one: "请选择一项",
};

fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::ZhCn => &ZH_CN,
        Locale::En => &EN,
    }
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A form's problems as the template marks its controls: a field named `customer.name` is the control with id
/// `customer-name`, its problem the paragraph `customer-name-problem`.
pub struct Marks(pub Problems);

impl Marks {
    fn id(name: &str) -> String {
        name.replace(['.', '_'], "-")
    }

    /// `aria-invalid` and `aria-describedby` for a control whose field has a problem (already escaped).
    pub fn attrs(&self, name: &str) -> String {
        match self.0.at(name) {
            Some(_) => format!(r#"aria-invalid="true" aria-describedby="{}-problem""#, Self::id(name)),
            None => String::new(),
        }
    }

    /// The problem's paragraph beside the control (already escaped).
    pub fn note(&self, name: &str) -> String {
        match self.0.at(name) {
            Some(p) => format!(
                r#"<p class="field-problem" id="{}-problem">{}</p>"#,
                Self::id(name),
                escape(p)
            ),
            None => String::new(),
        }
    }

    /// Problems about fields no control on the page shows, and the general one.
    pub fn rest(&self, shown: &[&str]) -> Vec<String> {
        let mut rest: Vec<String> = self
            .0
            .fields
            .iter()
            .filter(|(k, _)| !shown.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        rest.sort();
        rest.extend(self.0.general.clone());
        rest
    }
}

/// A choice in a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
}

fn choices<T: serde::Serialize + Copy>(all: &[T], label: impl Fn(T) -> String) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: enum_str(v),
            label: label(*v),
        })
        .collect()
}

const COVERED_ITEMS: [CoveredItem; 4] = [
    CoveredItem::Handset,
    CoveredItem::Battery,
    CoveredItem::Charger,
    CoveredItem::WiredEarphones,
];
const FAULTS: [FaultKind; 4] = [
    FaultKind::Performance,
    FaultKind::ScreenDamage,
    FaultKind::BackCoverDamage,
    FaultKind::OtherDamage,
];
const CERTIFICATES: [Certificate; 4] = [
    Certificate::Valid,
    Certificate::Missing,
    Certificate::Mismatched,
    Certificate::Altered,
];

/// What the opening form offers: the user's active service centers and the active models.
struct Options {
    stores: Vec<StoreRow>,
    models: Vec<ModelChoice>,
}

/// A model in the opening form's select, with whether its series is premium (gets a loaner).
pub struct ModelChoice {
    pub value: String,
    pub label: String,
    pub premium: bool,
}

fn options(state: &AppState, signed: &Signed) -> AppResult<Options> {
    let bearer = signed.bearer();
    bearer.read(&state.db, |conn, principal| {
        let page = crate::http::pagination::PageRequest::parse("/stores", Some(200), None)?;
        let stores = crate::catalog::repo::stores::list(
            conn,
            page,
            None,
            Some(crate::catalog::StoreKind::ServiceCenter),
            Some(true),
        )?
        .into_iter()
        .filter(|s| principal.covers_store(s.id.0))
        .collect();
        let models = crate::catalog::repo::models::active_with_premium(conn)?
            .into_iter()
            .map(|(model, premium)| ModelChoice {
                value: model.id.0.to_string(),
                label: format!("{} ({})", model.name, model.code),
                premium,
            })
            .collect();
        Ok(Options { stores, models })
    })
}

/// The opening form as typed: kept when the form comes back, and carried by the confirmation's hidden fields.
#[derive(Default, Clone)]
struct Opening {
    store_id: String,
    customer_name: String,
    customer_phone: String,
    consent: bool,
    imei: String,
    model_id: String,
    purchase_date: String,
    reported_fault: String,
    accessories: String,
    cosmetic: String,
    liquid: bool,
    drop: bool,
    crush: bool,
    tampering: bool,
    covered_item: String,
    fault: String,
    certificate: String,
    price_paid: String,
    seller: String,
    invoice_number: String,
    promised_on: String,
}

fn ticked(fields: &Fields, name: &str) -> bool {
    matches!(field(fields, name), "on" | "true" | "1" | "yes")
}

impl Opening {
    fn of(f: &Fields) -> Opening {
        let text = |name: &str| field(f, name).trim().to_owned();
        Opening {
            store_id: text("store_id"),
            customer_name: text("customer.name"),
            customer_phone: text("customer.phone"),
            consent: ticked(f, "customer.contact_consent"),
            imei: text("device_imei"),
            model_id: text("model_id"),
            purchase_date: text("purchase_date"),
            reported_fault: text("reported_fault"),
            accessories: text("accessories"),
            cosmetic: text("inspection.cosmetic"),
            liquid: ticked(f, "inspection.liquid"),
            drop: ticked(f, "inspection.drop"),
            crush: ticked(f, "inspection.crush"),
            tampering: ticked(f, "inspection.tampering"),
            covered_item: text("covered_item"),
            fault: text("fault"),
            certificate: text("certificate"),
            price_paid: text("invoice.price_paid"),
            seller: text("invoice.seller"),
            invoice_number: text("invoice.invoice_number"),
            promised_on: text("promised_on"),
        }
    }

    /// The fields as the confirmation form carries them.
    fn hidden(&self) -> Vec<(&'static str, String)> {
        let flag = |b: bool| if b { "on".to_owned() } else { String::new() };
        vec![
            ("store_id", self.store_id.clone()),
            ("customer.name", self.customer_name.clone()),
            ("customer.phone", self.customer_phone.clone()),
            ("customer.contact_consent", flag(self.consent)),
            ("device_imei", self.imei.clone()),
            ("model_id", self.model_id.clone()),
            ("purchase_date", self.purchase_date.clone()),
            ("reported_fault", self.reported_fault.clone()),
            ("accessories", self.accessories.clone()),
            ("inspection.cosmetic", self.cosmetic.clone()),
            ("inspection.liquid", flag(self.liquid)),
            ("inspection.drop", flag(self.drop)),
            ("inspection.crush", flag(self.crush)),
            ("inspection.tampering", flag(self.tampering)),
            ("covered_item", self.covered_item.clone()),
            ("fault", self.fault.clone()),
            ("certificate", self.certificate.clone()),
            ("invoice.price_paid", self.price_paid.clone()),
            ("invoice.seller", self.seller.clone()),
            ("invoice.invoice_number", self.invoice_number.clone()),
            ("promised_on", self.promised_on.clone()),
        ]
    }

    /// The opening as the API takes it, or the problems of the fields the form itself reads (choices, dates,
    /// amounts); the use case checks the rest.
    fn parse(&self, w: &Words, stores: &[StoreRow]) -> Result<OpenTicket, Problems> {
        let mut problems = Problems::default();
        let mut fail = |name: &str, why: &str| {
            problems.fields.entry(name.to_owned()).or_insert_with(|| why.to_owned());
        };
        let store_id = Uuid::parse_str(&self.store_id)
            .map_err(|_| fail("store_id", w.bad_uuid))
            .ok();
        let model_id = Uuid::parse_str(&self.model_id)
            .map_err(|_| fail("model_id", w.bad_uuid))
            .ok();
        let purchase_date = NaiveDate::parse_from_str(&self.purchase_date, "%Y-%m-%d")
            .map_err(|_| fail("purchase_date", w.bad_date))
            .ok();
        let price_paid = match self.price_paid.as_str() {
            "" => None,
            text => money(text).map_err(|_| fail("invoice.price_paid", w.bad_amount)).ok(),
        };
        let promised_at = match self.promised_on.as_str() {
            "" => None,
            text => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(day) => {
                    let zone = stores
                        .iter()
                        .find(|s| Some(s.id.0) == store_id)
                        .and_then(|s| s.time_zone.parse::<chrono_tz::Tz>().ok())
                        .unwrap_or(chrono_tz::Asia::Shanghai);
                    day.and_hms_opt(18, 0, 0)
                        .and_then(|t| zone.from_local_datetime(&t).earliest())
                        .map(|t| t.with_timezone(&chrono::Utc))
                }
                Err(_) => {
                    fail("promised_on", w.bad_date);
                    None
                }
            },
        };
        let covered_item = parse_enum::<CoveredItem>(&self.covered_item);
        let fault = parse_enum::<FaultKind>(&self.fault);
        let certificate = parse_enum::<Certificate>(&self.certificate);
        let (Some(store_id), Some(model_id), Some(purchase_date), true) =
            (store_id, model_id, purchase_date, problems.is_empty())
        else {
            return Err(problems);
        };
        let optional_text = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let invoice = Invoice {
            price_paid,
            seller: optional_text(&self.seller),
            invoice_number: optional_text(&self.invoice_number),
        };
        let has_invoice = invoice.price_paid.is_some() || invoice.seller.is_some() || invoice.invoice_number.is_some();
        Ok(OpenTicket {
            store_id,
            customer: Customer {
                name: self.customer_name.clone(),
                phone: self.customer_phone.clone(),
                contact_consent: Some(self.consent),
            },
            device_imei: self.imei.clone(),
            model_id,
            purchase_date,
            channel: Channel::WalkIn,
            reported_fault: self.reported_fault.clone(),
            accessories: self
                .accessories
                .split([',', '，', '、'])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            inspection: Inspection {
                liquid: self.liquid,
                drop: self.drop,
                crush: self.crush,
                tampering: self.tampering,
                cosmetic: optional_text(&self.cosmetic),
            },
            covered_item,
            fault,
            certificate,
            force_majeure: false,
            invoice: has_invoice.then_some(invoice),
            promised_at,
            pickup: None,
        })
    }
}

/// An amount in yuan as typed, e.g. `199` or `199.00`.
fn money(text: &str) -> Result<Money, String> {
    Ok(Money {
        amount: crate::money::parse_amount(text.trim())?,
        currency: Currency::Cny,
    })
}

fn yuan(m: &Money) -> String {
    format!("¥{}", m.amount)
}

/// The decision as the desk reads it out: the rule and the remedies in the user's words, their codes kept for
/// `data-` attributes.
pub struct DecisionView {
    pub explanation: String,
    pub rule: &'static str,
    pub rule_code: String,
    pub remedies: String,
    pub remedy_codes: String,
    pub free: bool,
    pub coverage_ends: Option<String>,
}

impl DecisionView {
    fn of(t: &Text, d: &WarrantyDecision) -> Self {
        DecisionView {
            explanation: d.explanation.clone(),
            rule: text::rule_label(t, d.rule),
            rule_code: enum_str(&d.rule),
            remedies: d
                .remedies
                .iter()
                .map(|r| text::remedy_label(t, *r))
                .collect::<Vec<_>>()
                .join(if t.lang == "en" { ", " } else { "、" }),
            remedy_codes: d.remedies.iter().map(enum_str).collect::<Vec<_>>().join(" "),
            free: d.free,
            coverage_ends: d.coverage_ends.map(|d| d.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "console/desk/open.html")]
struct OpenPage {
    t: &'static Text,
    w: &'static Words,
    chrome: Chrome,
    form: Opening,
    stores: Vec<Choice>,
    models: Vec<ModelChoice>,
    covered_items: Vec<Choice>,
    faults: Vec<Choice>,
    certificates: Vec<Choice>,
    marks: Marks,
    /// The device's open ticket, when the opening was refused for it.
    open_ticket: Option<Uuid>,
    /// After a successful check: what opening will do, and the confirmation's fields.
    decision: Option<DecisionView>,
    /// The loaner to be reserved (IMEI and grade), the place in the waitlist, or neither (no loaner).
    loaner: Option<String>,
    loaner_grade: String,
    waitlist: Option<i64>,
    hidden: Vec<(&'static str, String)>,
    idem: String,
}

/// The fields the opening form shows a control for.
const OPENING_FIELDS: [&str; 18] = [
    "store_id",
    "customer.name",
    "customer.phone",
    "device_imei",
    "model_id",
    "purchase_date",
    "reported_fault",
    "accessories",
    "inspection.cosmetic",
    "covered_item",
    "fault",
    "certificate",
    "invoice.price_paid",
    "invoice.seller",
    "invoice.invoice_number",
    "promised_on",
    "customer.contact_consent",
    "inspection.liquid",
];

impl OpenPage {
    fn new(signed: &Signed, form: Opening, options: Options, problems: Problems) -> OpenPage {
        let w = words(signed.locale());
        let zh = signed.locale() == Locale::ZhCn;
        OpenPage {
            t: signed.t,
            w,
            chrome: signed.chrome(),
            form,
            stores: options
                .stores
                .iter()
                .map(|s| Choice {
                    value: s.id.0.to_string(),
                    label: format!("{} ({})", s.name, s.code),
                })
                .collect(),
            models: options.models,
            covered_items: choices(&COVERED_ITEMS, |c| c.label().to_owned()),
            faults: choices(&FAULTS, |f| f.label().to_owned()),
            certificates: choices(&CERTIFICATES, |c| enum_str(&c).replace('_', " ")),
            marks: Marks(problems),
            open_ticket: None,
            decision: None,
            loaner: None,
            loaner_grade: String::new(),
            waitlist: None,
            hidden: Vec::new(),
            idem: kit::form_token(),
        }
        .localized(zh)
    }

    /// Chinese labels for the enum choices.
    fn localized(mut self, zh: bool) -> OpenPage {
        if zh {
            for (c, label) in self
                .covered_items
                .iter_mut()
                .zip(["手机", "电池", "充电器", "有线耳机"])
            {
                c.label = label.to_owned();
            }
            for (c, label) in self
                .faults
                .iter_mut()
                .zip(["性能故障", "意外碎屏", "意外后盖损坏", "其他意外损坏"])
            {
                c.label = label.to_owned();
            }
            for (c, label) in self
                .certificates
                .iter_mut()
                .zip(["有效", "缺失", "不符（IMEI 不一致）", "涂改"])
            {
                c.label = label.to_owned();
            }
        }
        self
    }

    fn rest(&self) -> Vec<String> {
        self.marks.rest(&OPENING_FIELDS)
    }
}

fn may_open(signed: &Signed) -> bool {
    matches!(signed.principal().role, Role::Admin | Role::StoreStaff)
}

/// The opening form; with `check` in the query, the check step: the decision and the loaner outlook for what was
/// typed, and the button that opens the ticket. A scanned IMEI arrives as `imei` (from the search page).
#[get("/desk/tickets/new")]
async fn open_form(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let signed = match kit::signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    if !may_open(&signed) {
        return signed.refused();
    }
    let query = kit::query(&req);
    let mut form = Opening::of(&query);
    if form.imei.is_empty() {
        form.imei = field(&query, "imei").trim().to_owned();
    }
    let checking = query.contains_key("check");
    let (options, signed) = {
        let state = state.clone();
        web::block(move || options(&state, &signed).map(|o| (o, signed))).await??
    };
    if !checking {
        return kit::show(&OpenPage::new(&signed, form, options, Problems::default()));
    }
    let w = words(signed.locale());
    let input = match form.parse(w, &options.stores) {
        Ok(input) => input,
        Err(problems) => {
            return show_again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &OpenPage::new(&signed, form, options, problems),
            );
        }
    };
    let checked = {
        let state = state.clone();
        let bearer = signed.bearer();
        let zone = options
            .stores
            .iter()
            .find(|s| s.id.0 == input.store_id)
            .map(|s| s.time_zone.clone())
            .unwrap_or_default();
        web::block(move || {
            bearer.read(&state.db, |conn, principal| {
                check_opening_in(conn, principal, &input, &zone)
            })
        })
        .await?
    };
    match checked {
        Ok((decision, outlook)) => {
            let mut page = OpenPage::new(&signed, form.clone(), options, Problems::default());
            page.decision = Some(DecisionView::of(signed.t, &decision));
            match outlook {
                Outlook::NoLoaner => {}
                Outlook::Loaner { imei, grade } => {
                    page.loaner = Some(imei);
                    page.loaner_grade = grade;
                }
                Outlook::Waitlist { position } => page.waitlist = Some(position),
            }
            page.hidden = form.hidden();
            kit::show(&page)
        }
        Err(e) => {
            let status = form_status(&e);
            let problems = Problems::of(e)?;
            show_again(status, &OpenPage::new(&signed, form, options, problems))
        }
    }
}

/// What opening would decide, read without writing: the opening's own checks of the fields, the warranty decision
/// as `check_warranty` makes it, and the loaner outlook.
fn check_opening_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    input: &OpenTicket,
    time_zone: &str,
) -> AppResult<(WarrantyDecision, Outlook)> {
    crate::tickets::require_ticket_role(principal)?;
    let now = crate::now();
    crate::tickets::rules::check_opening(input, local_date(time_zone, now), now)?;
    let imei = crate::imei::Imei::parse(&input.device_imei).map_err(|why| AppError::field("device_imei", why))?;
    let request = CheckRequest {
        imei,
        store_id: input.store_id,
        claim: Claim {
            item: input.covered_item.unwrap_or(CoveredItem::Handset),
            fault: input.fault.unwrap_or(FaultKind::Performance),
            findings: Findings {
                liquid: input.inspection.liquid,
                drop: input.inspection.drop,
                crush: input.inspection.crush,
                tampering: input.inspection.tampering,
            },
            certificate: input.certificate.unwrap_or(Certificate::Valid),
            force_majeure: input.force_majeure,
        },
        purchase_date: Some(input.purchase_date),
        model_id: Some(input.model_id),
    };
    let decision = crate::warranty::service::check_in(conn, principal, &request)?;
    let outlook = crate::loans::outlook_in(conn, Id(input.store_id), Id(input.model_id))?;
    Ok((decision, outlook))
}

/// Opens the ticket: the answer is the ticket page with the tracking link, shown this once (see the module's
/// note); a replay of the same form redirects to the ticket page.
#[post("/desk/tickets")]
async fn open_ticket(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, fields) = match kit::posted(&state, &req, &body).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    if !may_open(&signed) {
        return signed.refused();
    }
    let form = Opening::of(&fields);
    let (options, signed) = {
        let state = state.clone();
        web::block(move || options(&state, &signed).map(|o| (o, signed))).await??
    };
    let input = match form.parse(words(signed.locale()), &options.stores) {
        Ok(input) => input,
        Err(problems) => {
            return show_again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &OpenPage::new(&signed, form, options, problems),
            );
        }
    };
    let hold = state.settings.loan_hold;
    let token: Arc<Mutex<Option<(Uuid, String)>>> = Arc::default();
    let slot = token.clone();
    let opened = kit::once(
        &state,
        &signed,
        &fields,
        "POST /console/desk/tickets",
        move |conn, principal| {
            crate::tickets::require_ticket_role(principal)?;
            let ticket = crate::tickets::service::open_in(conn, principal, &input, hold)?;
            if let (Ok(mut slot), Some(token)) = (slot.lock(), ticket.tracking_token.clone()) {
                *slot = Some((ticket.id, token));
            }
            Ok(format!("/console/tickets/{}", ticket.id))
        },
    )
    .await;
    match opened {
        Ok(location) => {
            let first = token.lock().ok().and_then(|mut t| t.take());
            match first {
                Some((id, token)) => {
                    let link =
                        crate::reminders::service::tracking_link(&state.settings.reminders.public_base_url, &token);
                    ticket_page(&state, signed, id, Problems::default(), Some(link), StatusCode::OK).await
                }
                None => Ok(see_other(&location)),
            }
        }
        Err(e) => {
            let status = form_status(&e);
            let open_ticket = e.to_problem().ticket_id;
            let problems = Problems::of(e)?;
            let mut page = OpenPage::new(&signed, form, options, problems);
            page.open_ticket = open_ticket;
            show_again(status, &page)
        }
    }
}

/// The status a form comes back with when its use case refused it: 422 for bad input (the API's 400), the API's
/// own otherwise (409 for a conflict, 413 for a file too large).
fn form_status(e: &AppError) -> StatusCode {
    match e.status_code() {
        StatusCode::BAD_REQUEST => StatusCode::UNPROCESSABLE_ENTITY,
        status => status,
    }
}

/// Key ids with the username and display name of the user each belongs to.
type Names = crate::tickets::TimelineNames;

/// Everything the ticket page and the work order show, read in one transaction with a fixed number of statements
/// whatever the ticket's size (each list is one query).
struct Loaded {
    ticket: Ticket,
    row: TicketRow,
    names: Names,
    files: Vec<FileOut>,
    parts: Vec<PartRow>,
    /// For the work order: the store and the model.
    store: Option<StoreRow>,
    model: Option<crate::catalog::ModelRow>,
}

/// Most photos the page lists.
const PHOTO_LIMIT: i64 = 100;

fn load(state: &AppState, signed: &Signed, id: Uuid, for_print: bool) -> AppResult<Loaded> {
    signed.bearer().read(&state.db, |conn, principal| {
        crate::tickets::require_ticket_role(principal)?;
        let row = crate::tickets::ticket_in_scope(conn, principal, id)?;
        let (ticket, names) = crate::tickets::detail_with_names(conn, row.clone())?;
        let files = crate::files::service::of_ticket_in(conn, id, PHOTO_LIMIT)?;
        let parts = crate::parts::repo::active_parts_fitting(conn, row.model_id, Id(ticket.series_id))?;
        let (store, model) = match for_print {
            true => (
                crate::catalog::repo::stores::find(conn, row.store_id.0)?,
                crate::catalog::repo::models::find(conn, row.model_id.0)?,
            ),
            false => (None, None),
        };
        Ok(Loaded {
            ticket,
            row,
            names,
            files,
            parts,
            store,
            model,
        })
    })
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

struct EventRow {
    at: String,
    what: String,
    who: String,
    note: String,
}

fn timeline(t: &Text, ticket: &Ticket, names: &Names) -> Vec<EventRow> {
    ticket
        .timeline
        .iter()
        .map(|e| {
            let who = match (e.api_key_id, e.by_customer) {
                (_, true) => t.by_customer.to_owned(),
                (Some(key), false) => names
                    .iter()
                    .find(|(k, ..)| *k == key)
                    .map(|(_, username, display)| format!("{display} ({username})"))
                    .unwrap_or_else(|| format!("{} {}", t.by_key, &key.to_string()[..8])),
                (None, false) => t.by_system.to_owned(),
            };
            let what = match (e.from_status, e.to_status) {
                (Some(from), Some(to)) => format!(
                    "{}: {} → {}",
                    e.kind,
                    text::status_label(t, from),
                    text::status_label(t, to)
                ),
                (None, Some(to)) => format!("{}: {}", e.kind, text::status_label(t, to)),
                _ => e.kind.clone(),
            };
            EventRow {
                at: when(e.at),
                what,
                who,
                note: e.note.clone().unwrap_or_default(),
            }
        })
        .collect()
}

/// The status routes the console posts to, by their last path segment.
const STEPS: [(&str, TicketAction); 7] = [
    ("start-diagnosis", TicketAction::StartDiagnosis),
    ("request-approval", TicketAction::RequestApproval),
    ("start-repair", TicketAction::StartRepair),
    ("start-quality-check", TicketAction::StartQualityCheck),
    ("mark-ready", TicketAction::MarkReady),
    ("close", TicketAction::Close),
    ("cancel", TicketAction::Cancel),
];

fn step_label(w: &Words, action: TicketAction) -> &'static str {
    match action {
        TicketAction::StartDiagnosis => w.start_diagnosis,
        TicketAction::RequestApproval => w.request_approval,
        TicketAction::StartRepair => w.start_repair,
        TicketAction::StartQualityCheck => w.start_quality_check,
        TicketAction::MarkReady => w.mark_ready,
        TicketAction::Close => w.close,
        TicketAction::Cancel | TicketAction::DeclineQuote => w.cancel,
    }
}

struct Step {
    slug: &'static str,
    label: &'static str,
    idem: String,
}

struct Line {
    id: Uuid,
    sku: String,
    name: String,
    quantity: i64,
    state: String,
    unit_price: String,
    customer_price: String,
    covered: bool,
    reserved: bool,
    idem: String,
}

struct Photo {
    id: Uuid,
    thumbnail: bool,
    stage: &'static str,
    name: String,
    at: String,
}

struct LoanView {
    id: Uuid,
    text: String,
}

#[derive(Template)]
#[template(path = "console/desk/ticket.html")]
struct TicketPage {
    t: &'static Text,
    w: &'static Words,
    chrome: Chrome,
    id: Uuid,
    number: String,
    status: &'static str,
    status_code: &'static str,
    customer: String,
    phone: String,
    imei: String,
    opened: String,
    promised: Option<String>,
    fault: String,
    accessories: String,
    decision: DecisionView,
    loan: Option<LoanView>,
    timeline: Vec<EventRow>,
    tracking_link: Option<String>,
    steps: Vec<Step>,
    final_status: bool,
    lines: Vec<Line>,
    labour: String,
    labour_shown: String,
    total_cost: String,
    customer_total: String,
    quote_state: Option<String>,
    may_quote: bool,
    awaiting_approval: bool,
    parts: Vec<Choice>,
    findings: Inspection,
    faults: Vec<Choice>,
    fault_kind: String,
    certificates: Vec<Choice>,
    certificate: String,
    photos: Vec<Photo>,
    stages: Vec<Choice>,
    stage: &'static str,
    marks: Marks,
    /// What the refused form had typed, to show it again.
    typed: Fields,
    remedy_form: Option<RemedyForm>,
    chosen: Option<ChosenRemedy>,
    outcome: Option<String>,
    refund: Option<String>,
    idem_part: String,
    idem_quote: String,
    idem_approve: String,
    idem_decline: String,
    idem_findings: String,
    idem_photo: String,
}

/// The customer's choice among the decision's remedies, while it is still to be made (or, for an exchange chosen
/// through the tracking link, carried out).
struct RemedyForm {
    offered: Vec<Choice>,
    /// Whether an exchange is among them (the form then asks for the new phone's IMEI).
    exchange: bool,
    /// The exchange the customer chose through the link, waiting for the new phone.
    carrying_out: bool,
    idem: String,
}

struct ChosenRemedy {
    code: String,
    label: &'static str,
    awaits_store: bool,
}

/// The fields the ticket page's forms show a control for.
const TICKET_FIELDS: [&str; 8] = [
    "remedy",
    "replacement_imei",
    "part_id",
    "quantity",
    "labour.amount",
    "inspection.cosmetic",
    "file",
    "stage",
];

impl TicketPage {
    fn rest(&self) -> Vec<String> {
        self.marks.rest(&TICKET_FIELDS)
    }

    /// What the refused form had in `name`.
    fn typed(&self, name: &str) -> &str {
        field(&self.typed, name)
    }

    /// Whether remedy `code` is the one ticked: as the refused form sent it, or the only one offered.
    fn remedy_ticked(&self, code: &str) -> bool {
        match self.remedy_form.as_ref() {
            Some(f) if f.offered.len() == 1 => true,
            _ => self.typed("remedy") == code,
        }
    }
}

/// The remedy form, when the customer's choice is still to be recorded: the decision offers a choice, none was made
/// (or the customer's exchange awaits the new phone), and the repair has not started ([`rules::check_remedy`]).
///
/// [`rules::check_remedy`]: crate::tickets::rules::check_remedy
fn remedy_form(t: &Text, ticket: &Ticket) -> Option<RemedyForm> {
    let open = matches!(
        ticket.status,
        TicketStatus::Received | TicketStatus::Diagnosing | TicketStatus::AwaitingApproval
    );
    let offered = &ticket.warranty.remedies;
    let carrying_out = ticket.remedy.as_ref().is_some_and(|r| r.awaits_store);
    if !open || offered.len() < 2 || (ticket.remedy.is_some() && !carrying_out) {
        return None;
    }
    let offered: Vec<Choice> = offered
        .iter()
        .filter(|r| !carrying_out || **r == crate::warranty::Remedy::Exchange)
        .map(|r| Choice {
            value: enum_str(r),
            label: text::remedy_label(t, *r).to_owned(),
        })
        .collect();
    Some(RemedyForm {
        exchange: offered.iter().any(|r| r.value == "exchange"),
        offered,
        carrying_out,
        idem: kit::form_token(),
    })
}

fn ticket_view(
    signed: &Signed,
    loaded: Loaded,
    problems: Problems,
    typed: Fields,
    tracking_link: Option<String>,
) -> TicketPage {
    let t = signed.t;
    let w = words(signed.locale());
    let Loaded {
        ticket,
        row,
        names,
        files,
        parts,
        ..
    } = loaded;
    let status = ticket.status;
    let actions = next_actions(
        status,
        &ticket.warranty.remedies,
        row.remedy.as_deref(),
        crate::repairs::warranty_free(&row),
        row.quote_state.as_deref(),
    );
    let steps = STEPS
        .iter()
        .filter(|(_, a)| actions.contains(a))
        .map(|(slug, a)| Step {
            slug,
            label: step_label(w, *a),
            idem: kit::form_token(),
        })
        .collect();
    let lines = ticket
        .parts
        .lines
        .iter()
        .map(|l| Line {
            id: l.id,
            sku: l.sku.clone(),
            name: l.name.clone(),
            quantity: l.quantity,
            state: enum_str(&l.state),
            unit_price: l.unit_price.as_ref().map(yuan).unwrap_or_default(),
            customer_price: yuan(&l.customer_price),
            covered: l.covered,
            reserved: enum_str(&l.state) == "reserved",
            idem: kit::form_token(),
        })
        .collect();
    let loan = ticket.loan.as_ref().map(|l| {
        let state = text::loan_state_label(t, l.state).to_owned();
        let text = match (&l.loaner_imei, l.waitlist_position) {
            (Some(imei), _) => format!("{state} · {imei}"),
            (None, Some(position)) => format!("{state} · #{position}"),
            (None, None) => state,
        };
        LoanView { id: l.id, text }
    });
    let photos = files
        .iter()
        .map(|f| Photo {
            id: f.id,
            thumbnail: f.has_thumbnail,
            stage: f.stage.as_str(),
            name: f.file_name.clone().unwrap_or_default(),
            at: when(f.created_at),
        })
        .collect();
    let stage = match status {
        TicketStatus::Received => "intake",
        TicketStatus::Diagnosing | TicketStatus::AwaitingApproval => "diagnosis",
        TicketStatus::Repairing => "repair",
        _ => "quality_check",
    };
    let stages = ["intake", "diagnosis", "repair", "quality_check"]
        .iter()
        .map(|s| Choice {
            value: (*s).to_owned(),
            label: s.replace('_', " "),
        })
        .collect();
    let zh = signed.locale() == Locale::ZhCn;
    let localized = |mut list: Vec<Choice>, zh_labels: [&str; 4]| {
        if zh {
            for (c, label) in list.iter_mut().zip(zh_labels) {
                c.label = label.to_owned();
            }
        }
        list
    };
    TicketPage {
        t,
        w,
        chrome: signed.chrome(),
        id: ticket.id,
        number: ticket.number.clone(),
        status: text::status_label(t, status),
        status_code: status.as_str(),
        customer: ticket.customer.name.clone(),
        phone: ticket.customer.phone.clone(),
        imei: ticket.device_imei.clone(),
        opened: when(ticket.created_at),
        promised: ticket.promised_at.map(when),
        fault: ticket.reported_fault.clone(),
        accessories: ticket.accessories.join(", "),
        decision: DecisionView::of(signed.t, &ticket.warranty),
        loan,
        timeline: timeline(t, &ticket, &names),
        tracking_link,
        steps,
        final_status: status.is_final(),
        lines,
        labour: ticket.parts.labour.amount.to_string(),
        labour_shown: yuan(&ticket.parts.labour),
        total_cost: yuan(&ticket.parts.total_cost),
        customer_total: yuan(&ticket.parts.customer_total),
        quote_state: row.quote_state.clone(),
        may_quote: matches!(status, TicketStatus::Diagnosing | TicketStatus::AwaitingApproval),
        awaiting_approval: status == TicketStatus::AwaitingApproval && row.quote_state.as_deref() == Some("waiting"),
        parts: parts
            .iter()
            .map(|p| Choice {
                value: p.id.0.to_string(),
                label: format!("{} · {}", p.sku, p.name),
            })
            .collect(),
        findings: ticket.inspection.clone(),
        faults: localized(
            choices(&FAULTS, |f| f.label().to_owned()),
            ["性能故障", "意外碎屏", "意外后盖损坏", "其他意外损坏"],
        ),
        fault_kind: enum_str(&ticket.fault),
        certificates: localized(
            choices(&CERTIFICATES, |c| enum_str(&c).replace('_', " ")),
            ["有效", "缺失", "不符（IMEI 不一致）", "涂改"],
        ),
        certificate: enum_str(&ticket.certificate),
        photos,
        stages: localized(stages, ["接机", "检测", "维修", "质检"]),
        stage,
        marks: Marks(problems),
        typed,
        remedy_form: remedy_form(t, &ticket),
        chosen: ticket.remedy.as_ref().map(|r| ChosenRemedy {
            code: enum_str(&r.remedy),
            label: text::remedy_label(t, r.remedy),
            awaits_store: r.awaits_store,
        }),
        outcome: ticket.outcome.as_ref().map(|o| match o.kind {
            OutcomeKind::Returned => text::remedy_label(t, crate::warranty::Remedy::Return).to_owned(),
            OutcomeKind::Exchanged => w.exchanged.to_owned(),
        }),
        refund: ticket.outcome.as_ref().and_then(|o| o.refund.as_ref()).map(yuan),
        idem_part: kit::form_token(),
        idem_quote: kit::form_token(),
        idem_approve: kit::form_token(),
        idem_decline: kit::form_token(),
        idem_findings: kit::form_token(),
        idem_photo: kit::form_token(),
    }
}

/// The ticket page with `problems` (a refused action's) and the opening's tracking link when just opened; another
/// store's ticket, or a role that sees no tickets, is the 404 page.
async fn ticket_page(
    state: &web::Data<AppState>,
    signed: Signed,
    id: Uuid,
    problems: Problems,
    tracking_link: Option<String>,
    status: StatusCode,
) -> AppResult<HttpResponse> {
    refused_form_page(state, signed, id, problems, Fields::new(), tracking_link, status).await
}

/// The ticket page, with a refused form's problems and what it had typed.
async fn refused_form_page(
    state: &web::Data<AppState>,
    signed: Signed,
    id: Uuid,
    problems: Problems,
    typed: Fields,
    tracking_link: Option<String>,
    status: StatusCode,
) -> AppResult<HttpResponse> {
    let (found, signed) = {
        let state = state.clone();
        web::block(move || (load(&state, &signed, id, false), signed)).await?
    };
    match found {
        Ok(loaded) => show_again(status, &ticket_view(&signed, loaded, problems, typed, tracking_link)),
        Err(AppError::NotFound(_) | AppError::Forbidden) => signed.not_found(),
        Err(e) => Err(e),
    }
}

#[get("/tickets/{ticket_id}")]
async fn show_ticket(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let signed = match kit::signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return signed.not_found();
    };
    ticket_page(&state, signed, id, Problems::default(), None, StatusCode::OK).await
}

/// Runs one of the ticket page's forms: checked (session, CSRF, origin), its `work` done once per form token as the
/// signed-in user, then back to the ticket page; refused, the ticket page again with the problem.
async fn act<F>(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    id: &str,
    route: &'static str,
    work: F,
) -> AppResult<HttpResponse>
where
    F: Fn(&mut Conn<'_>, &Principal, Uuid, &Fields, &Words) -> AppResult<()> + Send + 'static,
{
    let (signed, fields) = match kit::posted(&state, &req, &body).await {
        Ok(p) => p,
        Err(answer) => return answer,
    };
    let Ok(id) = Uuid::parse_str(id) else {
        return signed.not_found();
    };
    let back = format!("/console/tickets/{id}");
    let form = fields.clone();
    let w = words(signed.locale());
    let done = kit::once(&state, &signed, &fields, route, move |conn, principal| {
        work(conn, principal, id, &form, w)?;
        Ok(back.clone())
    })
    .await;
    match done {
        Ok(location) => Ok(see_other(&location)),
        Err(AppError::NotFound(_) | AppError::Forbidden) => signed.not_found(),
        Err(e) => {
            let status = form_status(&e);
            let problems = Problems::of(e)?;
            refused_form_page(&state, signed, id, problems, fields, None, status).await
        }
    }
}

/// The customer's choice among the remedies the warranty offers: the API's `POST /tickets/{id}/remedy` use case. A
/// return or an exchange (with the new phone's IMEI) is carried out at once and closes the ticket; a repair is
/// recorded and opens the way to "Start repair".
#[post("/tickets/{ticket_id}/remedy")]
async fn choose_remedy(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let hold = state.settings.loan_hold;
    act(
        state,
        req,
        body,
        &path.into_inner(),
        "POST /console/tickets/{id}/remedy",
        move |conn, principal, id, form, w| {
            crate::tickets::require_ticket_role(principal)?;
            let remedy = parse_enum(field(form, "remedy")).ok_or_else(|| AppError::field("remedy", w.choose_one))?;
            let input = ChooseRemedy {
                remedy,
                replacement_imei: optional(form, "replacement_imei"),
                note: None,
            };
            crate::tickets::service::choose_remedy_in(conn, principal, id, &input, hold).map(|_| ())
        },
    )
    .await
}

#[post("/tickets/{ticket_id}/steps/{step}")]
async fn step(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let (id, slug) = path.into_inner();
    let Some(action) = STEPS.iter().find(|(s, _)| *s == slug).map(|(_, a)| *a) else {
        return match kit::signed_in(&state, &req).await {
            Ok(signed) => signed.not_found(),
            Err(answer) => answer,
        };
    };
    let hold = state.settings.loan_hold;
    act(
        state,
        req,
        body,
        &id,
        "POST /console/tickets/{id}/steps",
        move |conn, principal, id, form, _| {
            crate::tickets::require_ticket_role(principal)?;
            let note = optional(form, "note").map(|n| n.chars().take(1000).collect::<String>());
            crate::tickets::service::transition_in(conn, principal, id, action, note.as_deref(), hold).map(|_| ())
        },
    )
    .await
}

#[post("/tickets/{ticket_id}/findings")]
async fn findings(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(
        state,
        req,
        body,
        &path.into_inner(),
        "POST /console/tickets/{id}/findings",
        |conn, principal, id, form, _| {
            let input = UpdateFindings {
                inspection: Inspection {
                    liquid: ticked(form, "inspection.liquid"),
                    drop: ticked(form, "inspection.drop"),
                    crush: ticked(form, "inspection.crush"),
                    tampering: ticked(form, "inspection.tampering"),
                    cosmetic: optional(form, "inspection.cosmetic"),
                },
                fault: parse_enum(field(form, "fault")),
                certificate: parse_enum(field(form, "certificate")),
            };
            crate::tickets::service::update_findings_in(conn, principal, id, &input).map(|_| ())
        },
    )
    .await
}

#[post("/tickets/{ticket_id}/parts")]
async fn reserve_part(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(
        state,
        req,
        body,
        &path.into_inner(),
        "POST /console/tickets/{id}/parts",
        |conn, principal, id, form, w| {
            let part = Uuid::parse_str(field(form, "part_id")).map_err(|_| AppError::field("part_id", w.bad_uuid));
            let quantity = field(form, "quantity")
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|q| (1..=1000).contains(q))
                .ok_or_else(|| AppError::field("quantity", w.bad_quantity));
            let input = ReservePart {
                part_id: part?,
                quantity: quantity?,
                location_id: None,
            };
            crate::repairs::service::reserve_in(conn, principal, id, &input).map(|_| ())
        },
    )
    .await
}

#[post("/tickets/{ticket_id}/parts/{line_id}/release")]
async fn release_part(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let (id, line) = path.into_inner();
    let line = Uuid::parse_str(&line).unwrap_or_default();
    act(
        state,
        req,
        body,
        &id,
        "POST /console/tickets/{id}/parts/release",
        move |conn, principal, id, _, _| crate::repairs::service::release_in(conn, principal, id, line).map(|_| ()),
    )
    .await
}

#[post("/tickets/{ticket_id}/quote")]
async fn quote(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(
        state,
        req,
        body,
        &path.into_inner(),
        "POST /console/tickets/{id}/quote",
        |conn, principal, id, form, w| {
            let labour = match optional(form, "labour") {
                Some(text) => Some(money(&text).map_err(|_| AppError::field("labour.amount", w.bad_amount))?),
                None => None,
            };
            crate::repairs::service::quote_in(conn, principal, id, &QuoteRepair { labour }).map(|_| ())
        },
    )
    .await
}

#[post("/tickets/{ticket_id}/quote/approve")]
async fn approve_quote(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(
        state,
        req,
        body,
        &path.into_inner(),
        "POST /console/tickets/{id}/quote/approve",
        |conn, principal, id, _, _| crate::repairs::service::approve_in(conn, principal, id).map(|_| ()),
    )
    .await
}

#[post("/tickets/{ticket_id}/quote/decline")]
async fn decline_quote(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(
        state,
        req,
        body,
        &path.into_inner(),
        "POST /console/tickets/{id}/quote/decline",
        |conn, principal, id, _, _| crate::repairs::service::decline_in(conn, principal, id).map(|_| ()),
    )
    .await
}

/// A photo from the page's upload form (`multipart/form-data`: `file`, `stage`, `visibility`, and the form's `csrf`
/// and `idem`), judged and stored as the API's upload is, with its limits, and recorded once per form token. The
/// ticket's scope and the request's origin are checked before the body is read; the CSRF token, which comes in the
/// body, before the file is put in the store.
#[post("/tickets/{ticket_id}/photos")]
async fn upload_photo(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let signed = match kit::signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    if kit::cross_origin(&req) {
        return signed.refused();
    }
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return signed.not_found();
    };
    let owner = Owner::Ticket(id);
    let in_scope = {
        let state = state.clone();
        let bearer = signed.bearer();
        web::block(move || crate::files::service::check_owner(&state.db, &bearer, owner)).await?
    };
    match in_scope {
        Ok(()) => {}
        Err(AppError::NotFound(_) | AppError::Forbidden) => return signed.not_found(),
        Err(e) => return Err(e),
    }
    let secret = signed.session.csrf_secret.clone();
    let accept = move |extra: &[(String, String)]| {
        let token = extra.iter().find(|(n, _)| n == "csrf").map(|(_, v)| v.as_str());
        if crate::users::rules::csrf_matches(token.unwrap_or(""), &secret) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    };
    let upload = crate::files::http::upload_from_form(&state, owner, &req, payload, &["csrf", "idem"], accept).await;
    let (stored, extra) = match upload {
        Ok(upload) => upload,
        // A forged form: refused before its bytes reach the store.
        Err(AppError::Forbidden) => return signed.refused(),
        Err(e) => {
            let status = form_status(&e);
            let problems = Problems::of(e)?;
            return ticket_page(&state, signed, id, problems, None, status).await;
        }
    };
    let given = |name: &str| {
        extra
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut fields = Fields::new();
    fields.insert("idem".to_owned(), given("idem"));
    fields.insert("upload".to_owned(), stored.fingerprint_text());
    let back = format!("/console/tickets/{id}");
    let done = kit::once(
        &state,
        &signed,
        &fields,
        "POST /console/tickets/{id}/photos",
        move |conn, principal| {
            crate::files::service::record(conn, principal, &stored)?;
            Ok(back.clone())
        },
    )
    .await;
    match done {
        Ok(location) => Ok(see_other(&location)),
        Err(AppError::NotFound(_) | AppError::Forbidden) => signed.not_found(),
        Err(e) => {
            let status = form_status(&e);
            let problems = Problems::of(e)?;
            ticket_page(&state, signed, id, problems, None, status).await
        }
    }
}

#[derive(Template)]
#[template(path = "console/desk/work_order.html")]
struct WorkOrderPage {
    t: &'static Text,
    w: &'static Words,
    chrome: Chrome,
    id: Uuid,
    number: String,
    store_name: String,
    store_place: String,
    received: String,
    promised: String,
    customer: String,
    phone: String,
    model: String,
    imei: String,
    condition: String,
    accessories: String,
    fault: String,
    decision: DecisionView,
    estimate: String,
    lines: Vec<Line>,
}

#[get("/tickets/{ticket_id}/work-order")]
async fn work_order(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let signed = match kit::signed_in(&state, &req).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return signed.not_found();
    };
    let (found, signed) = {
        let state = state.clone();
        web::block(move || (load(&state, &signed, id, true), signed)).await?
    };
    let loaded = match found {
        Ok(loaded) => loaded,
        Err(AppError::NotFound(_) | AppError::Forbidden) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let w = words(signed.locale());
    let ticket = &loaded.ticket;
    let mut condition: Vec<String> = Vec::new();
    for (found, label) in [
        (ticket.inspection.liquid, w.liquid),
        (ticket.inspection.drop, w.drop),
        (ticket.inspection.crush, w.crush),
        (ticket.inspection.tampering, w.tampering),
    ] {
        if found {
            condition.push(label.to_owned());
        }
    }
    if let Some(cosmetic) = ticket.inspection.cosmetic.as_ref().filter(|c| !c.is_empty()) {
        condition.push(cosmetic.clone());
    }
    let estimate = if ticket.warranty.free {
        format!("{} ({})", yuan(&ticket.parts.customer_total), w.free)
    } else {
        format!(
            "{} / {}",
            yuan(&ticket.parts.customer_total),
            yuan(&ticket.parts.total_cost)
        )
    };
    let lines = ticket
        .parts
        .lines
        .iter()
        .map(|l| Line {
            id: l.id,
            sku: l.sku.clone(),
            name: l.name.clone(),
            quantity: l.quantity,
            state: enum_str(&l.state),
            unit_price: l.unit_price.as_ref().map(yuan).unwrap_or_default(),
            customer_price: yuan(&l.customer_price),
            covered: l.covered,
            reserved: false,
            idem: String::new(),
        })
        .collect();
    let store = loaded.store.as_ref();
    let page = WorkOrderPage {
        t: signed.t,
        w,
        chrome: signed.chrome(),
        id: ticket.id,
        number: ticket.number.clone(),
        store_name: store.map(|s| s.name.clone()).unwrap_or_default(),
        store_place: store
            .map(|s| {
                let mut place = vec![s.address.clone().unwrap_or_else(|| s.city.clone())];
                place.extend(s.phone.clone());
                place.join(" · ")
            })
            .unwrap_or_default(),
        received: ticket.received_at.map(when).unwrap_or_else(|| when(ticket.created_at)),
        promised: ticket.promised_at.map(when).unwrap_or_default(),
        customer: ticket.customer.name.clone(),
        phone: ticket.customer.phone.clone(),
        model: loaded
            .model
            .as_ref()
            .map(|m| format!("{} ({})", m.name, m.code))
            .unwrap_or_default(),
        imei: ticket.device_imei.clone(),
        condition: if condition.is_empty() {
            w.none.to_owned()
        } else {
            condition.join("; ")
        },
        accessories: if ticket.accessories.is_empty() {
            w.none.to_owned()
        } else {
            ticket.accessories.join(", ")
        },
        fault: ticket.reported_fault.clone(),
        decision: DecisionView::of(signed.t, &ticket.warranty),
        estimate,
        lines,
    };
    kit::show(&page)
}

/// Registers this part's pages inside the `/console` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(open_form)
        .service(open_ticket)
        .service(show_ticket)
        .service(step)
        .service(choose_remedy)
        .service(findings)
        .service(reserve_part)
        .service(release_part)
        .service(quote)
        .service(approve_quote)
        .service(decline_quote)
        .service(upload_photo)
        .service(work_order);
}
