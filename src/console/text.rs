//! The console's words in each language it speaks; a user's locale chooses.

use crate::loans::LoanState;
use crate::tickets::TicketStatus;
use crate::users::Locale;
use crate::warranty::{Remedy, Rule};

/// Every string a console page shows.
pub struct Text {
    pub lang: &'static str,
    pub skip: &'static str,
    pub sign_in_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub refused: &'static str,
    pub session_ended: &'static str,
    pub home: &'static str,
    pub search_label: &'static str,
    pub search_hint: &'static str,
    pub search: &'static str,
    pub results_for: &'static str,
    pub no_results: &'static str,
    pub not_a_query: &'static str,
    pub number: &'static str,
    pub status: &'static str,
    pub customer: &'static str,
    pub device: &'static str,
    pub opened: &'static str,
    pub promised: &'static str,
    pub fault: &'static str,
    pub warranty: &'static str,
    pub loan: &'static str,
    pub timeline: &'static str,
    pub when: &'static str,
    pub what: &'static str,
    pub who: &'static str,
    pub note: &'static str,
    pub by_customer: &'static str,
    pub by_system: &'static str,
    pub by_key: &'static str,
    pub not_found_title: &'static str,
    pub not_found: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden: &'static str,
    pub too_many_title: &'static str,
    pub too_many: &'static str,
    pub back_home: &'static str,
    pub nav_label: &'static str,
    pub nav_lists: &'static str,
    pub nav_warehouse: &'static str,
    pub nav_admin: &'static str,
    pub open_ticket: &'static str,
}

pub const EN: Text = Text {
    lang: "en",
    skip: "Skip to content",
    sign_in_title: "Sign in",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    refused: "Wrong username or password, or the account must wait a while after failed tries. Try again later.",
    session_ended: "Your session has ended. Sign in to go on.",
    home: "Front desk",
    search_label: "IMEI, phone number or ticket number",
    search_hint: "Scan or type an IMEI (15 digits), a customer's mobile number, or a ticket number such as RT-2026-000123.",
    search: "Search",
    results_for: "Tickets for",
    no_results: "No ticket found.",
    not_a_query: "That is not an IMEI, a phone number or a ticket number.",
    number: "Ticket",
    status: "Status",
    customer: "Customer",
    device: "Device (IMEI)",
    opened: "Opened",
    promised: "Promised",
    fault: "Reported fault",
    warranty: "Warranty",
    loan: "Loaner",
    timeline: "Timeline",
    when: "When",
    what: "What",
    who: "Who",
    note: "Note",
    by_customer: "the customer",
    by_system: "Depot",
    by_key: "API key",
    not_found_title: "Not found",
    not_found: "There is no such page, or it is not in your stores.",
    forbidden_title: "Refused",
    forbidden: "This form was refused: it came without its security token or from another site. Nothing was changed. Go back, reload the page and try again.",
    too_many_title: "Too many tries",
    too_many: "Too many failed sign-ins from this address. Wait a minute and try again.",
    back_home: "Back to the front desk",
    nav_label: "Console",
    nav_lists: "Lists",
    nav_warehouse: "Warehouse",
    nav_admin: "Admin",
    open_ticket: "Open a ticket",
};

pub const ZH_CN: Text = Text {
    lang: "zh-CN",
    skip: "跳到正文",
    sign_in_title: "登录",
    username: "用户名",
    password: "密码",
    sign_in: "登录",
    sign_out: "退出登录",
    signed_in_as: "当前用户",
    refused: "用户名或密码错误，或账号因多次失败需稍候再试。请稍后重试。",
    session_ended: "会话已结束，请重新登录后继续。",
    home: "前台",
    search_label: "IMEI、手机号或工单号",
    search_hint: "扫描或输入 IMEI（15 位数字）、客户手机号，或工单号（如 RT-2026-000123）。",
    search: "搜索",
    results_for: "工单：",
    no_results: "未找到工单。",
    not_a_query: "这不是 IMEI、手机号或工单号。",
    number: "工单",
    status: "状态",
    customer: "客户",
    device: "设备（IMEI）",
    opened: "受理时间",
    promised: "承诺时间",
    fault: "故障描述",
    warranty: "保修",
    loan: "备用机",
    timeline: "处理记录",
    when: "时间",
    what: "事项",
    who: "经办人",
    note: "备注",
    by_customer: "客户",
    by_system: "系统",
    by_key: "API 密钥",
    not_found_title: "未找到",
    not_found: "页面不存在，或不属于您的门店。",
    forbidden_title: "已拒绝",
    forbidden: "表单被拒绝：缺少安全令牌或来自其他网站，未做任何更改。请返回并刷新页面后重试。",
    too_many_title: "尝试次数过多",
    too_many: "此地址登录失败次数过多，请一分钟后再试。",
    back_home: "返回前台",
    nav_label: "控制台",
    nav_lists: "待办清单",
    nav_warehouse: "仓库",
    nav_admin: "管理",
    open_ticket: "新建工单",
};

pub fn of(locale: Locale) -> &'static Text {
    match locale {
        Locale::ZhCn => &ZH_CN,
        Locale::En => &EN,
    }
}

/// The language of a page shown before anyone signs in: the browser's first choice between the two.
pub fn from_accept_language(header: Option<&str>) -> &'static Text {
    let header = header.unwrap_or("").to_ascii_lowercase();
    match (header.find("zh"), header.find("en")) {
        (_, Some(en)) if header.find("zh").is_none_or(|zh| en < zh) => &EN,
        _ => &ZH_CN,
    }
}

/// Whether the page speaks Chinese.
fn zh(t: &Text) -> bool {
    t.lang == ZH_CN.lang
}

/// A ticket's status in the user's words; the page keeps the code in a `data-status` attribute.
pub fn status_label(t: &Text, status: TicketStatus) -> &'static str {
    use TicketStatus as S;
    match (zh(t), status) {
        (false, S::Received) => "Received",
        (false, S::Diagnosing) => "Diagnosing",
        (false, S::AwaitingApproval) => "Waiting for the customer's approval",
        (false, S::Repairing) => "Being repaired",
        (false, S::QualityCheck) => "Quality check",
        (false, S::ReadyForPickup) => "Ready for pickup",
        (false, S::Closed) => "Closed",
        (false, S::Cancelled) => "Cancelled",
        (true, S::Received) => "已受理",
        (true, S::Diagnosing) => "检测中",
        (true, S::AwaitingApproval) => "待客户确认",
        (true, S::Repairing) => "维修中",
        (true, S::QualityCheck) => "质检中",
        (true, S::ReadyForPickup) => "待取机",
        (true, S::Closed) => "已关闭",
        (true, S::Cancelled) => "已取消",
    }
}

/// A loaner loan's state in the user's words.
pub fn loan_state_label(t: &Text, state: LoanState) -> &'static str {
    use LoanState as L;
    match (zh(t), state) {
        (false, L::Waiting) => "On the waitlist",
        (false, L::Reserved) => "Reserved",
        (false, L::Issued) => "With the customer",
        (false, L::Returned) => "Returned",
        (false, L::Cancelled) => "Cancelled",
        (false, L::Expired) => "Hold expired",
        (false, L::Lost) => "Lost",
        (true, L::Waiting) => "排队中",
        (true, L::Reserved) => "已预留",
        (true, L::Issued) => "客户使用中",
        (true, L::Returned) => "已归还",
        (true, L::Cancelled) => "已取消",
        (true, L::Expired) => "预留已过期",
        (true, L::Lost) => "已丢失",
    }
}

/// A remedy the warranty offers, in the user's words.
pub fn remedy_label(t: &Text, remedy: Remedy) -> &'static str {
    match (zh(t), remedy) {
        (false, Remedy::Return) => "Return (refund)",
        (false, Remedy::Exchange) => "Exchange for a new phone",
        (false, Remedy::FreeRepair) => "Free repair",
        (false, Remedy::PaidRepair) => "Paid repair",
        (true, Remedy::Return) => "退货（退款）",
        (true, Remedy::Exchange) => "换新机",
        (true, Remedy::FreeRepair) => "免费维修",
        (true, Remedy::PaidRepair) => "付费维修",
    }
}

/// The warranty rule that decided, in the user's words.
pub fn rule_label(t: &Text, rule: Rule) -> &'static str {
    use Rule as R;
    match (zh(t), rule) {
        (false, R::ReturnWindow) => "Within the return period",
        (false, R::ExchangeWindow) => "Within the exchange period",
        (false, R::RepairWindow) => "Within the warranty period",
        (false, R::ExtendedWarranty) => "Extended warranty",
        (false, R::AccessoryWindow) => "Within the accessory's warranty",
        (false, R::ScreenPlan) => "Screen protection plan",
        (false, R::PeriodExpired) => "Warranty period expired",
        (false, R::LiquidDamage) => "Liquid damage",
        (false, R::PhysicalDamage) => "Physical damage",
        (false, R::Tampering) => "Opened or repaired elsewhere",
        (false, R::CertificateMissing) => "No warranty certificate",
        (false, R::CertificateMismatched) => "Certificate does not match the phone",
        (false, R::CertificateAltered) => "Certificate altered",
        (false, R::ForceMajeure) => "Force majeure",
        (false, R::PurchaseDateInFuture) => "Purchase date in the future",
        (false, R::RepeatedRepairs) => "Repaired twice and failing again",
        (true, R::ReturnWindow) => "退货期内",
        (true, R::ExchangeWindow) => "换货期内",
        (true, R::RepairWindow) => "保修期内",
        (true, R::ExtendedWarranty) => "延长保修",
        (true, R::AccessoryWindow) => "配件保修期内",
        (true, R::ScreenPlan) => "碎屏保障服务",
        (true, R::PeriodExpired) => "已过保修期",
        (true, R::LiquidDamage) => "进液损坏",
        (true, R::PhysicalDamage) => "人为物理损坏",
        (true, R::Tampering) => "非授权拆修",
        (true, R::CertificateMissing) => "无保修凭证",
        (true, R::CertificateMismatched) => "凭证与机器不符",
        (true, R::CertificateAltered) => "凭证涂改",
        (true, R::ForceMajeure) => "不可抗力",
        (true, R::PurchaseDateInFuture) => "购机日期晚于今天",
        (true, R::RepeatedRepairs) => "两次维修后仍故障",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_names_a_status_in_its_own_words() {
        assert_eq!(status_label(&EN, TicketStatus::ReadyForPickup), "Ready for pickup");
        assert_eq!(status_label(&ZH_CN, TicketStatus::ReadyForPickup), "待取机");
        assert_eq!(loan_state_label(&ZH_CN, LoanState::Issued), "客户使用中");
        assert_eq!(remedy_label(&EN, Remedy::FreeRepair), "Free repair");
        assert_eq!(rule_label(&ZH_CN, Rule::ReturnWindow), "退货期内");
    }
}
