//! What the link may show of a person, what may be a token at all, when a link is archived, and the warranty
//! decision explained in Chinese and English.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::warranty::Rule;

/// Days after a ticket ends (closed, cancelled, returned or exchanged) that its link keeps answering: time enough
/// to look back and to rate the repair. Past them the link is archived and answers 404 like an unknown token.
pub const ARCHIVED_AFTER_DAYS: i64 = 90;

/// Whether the link of a ticket that ended at `closed_at` is archived at `now`.
pub fn is_archived(closed_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    closed_at.is_some_and(|at| now - at > Duration::days(ARCHIVED_AFTER_DAYS))
}

/// The decision's rule told to the customer, in Chinese and in English (the staff's `explanation` is English and
/// names more than the customer needs), with the day cover ends when a period decided.
pub fn explain(rule: Rule, coverage_ends: Option<NaiveDate>) -> (String, String) {
    let (zh, en) = match rule {
        Rule::ReturnWindow => (
            "购机后退货期内出现性能故障：您可以选择退货、换货或免费维修。",
            "A performance fault within the return period after purchase: you may return the phone, exchange it or have it repaired free of charge.",
        ),
        Rule::ExchangeWindow => (
            "换货期内出现性能故障：您可以选择换货或免费维修。",
            "A performance fault within the exchange period: you may exchange the phone or have it repaired free of charge.",
        ),
        Rule::RepairWindow => (
            "在保修期内：免费维修。",
            "Within the warranty period: the repair is free of charge.",
        ),
        Rule::ExtendedWarranty => (
            "在延长保修期内：免费维修。",
            "Covered by your extended warranty: the repair is free of charge.",
        ),
        Rule::AccessoryWindow => (
            "配件在保修期内：免费维修或更换。",
            "The accessory is within its warranty period: it is repaired or replaced free of charge.",
        ),
        Rule::ScreenPlan => (
            "由碎屏保障服务承保：免费更换屏幕一次。",
            "Covered by your screen protection plan: the screen is replaced free of charge, once.",
        ),
        Rule::PeriodExpired => (
            "保修期已过：维修需付费，我们会先发报价请您确认。",
            "The warranty period has ended: the repair is charged, and you approve a quote first.",
        ),
        Rule::LiquidDamage => (
            "进液损坏不在保修范围内：维修需付费。",
            "Liquid damage is not covered by the warranty: the repair is charged.",
        ),
        Rule::PhysicalDamage => (
            "摔落、挤压等人为损坏不在保修范围内：维修需付费。",
            "Damage from a drop or a crush is not covered by the warranty: the repair is charged.",
        ),
        Rule::Tampering => (
            "手机曾被非授权拆修或改装，不在保修范围内：维修需付费。",
            "The phone was opened or modified outside an authorised service center, so it is not covered: the repair is charged.",
        ),
        Rule::CertificateMissing => (
            "未出示三包凭证或购机发票：维修需付费。",
            "No warranty certificate or purchase invoice was shown: the repair is charged.",
        ),
        Rule::CertificateMismatched => (
            "三包凭证与手机不符：维修需付费。",
            "The warranty certificate does not match the phone: the repair is charged.",
        ),
        Rule::CertificateAltered => (
            "三包凭证有涂改：维修需付费。",
            "The warranty certificate was altered: the repair is charged.",
        ),
        Rule::ForceMajeure => (
            "不可抗力造成的损坏不在保修范围内：维修需付费。",
            "Damage caused by force majeure is not covered by the warranty: the repair is charged.",
        ),
        Rule::PurchaseDateInFuture => (
            "购机日期晚于今天：工作人员会与您核实后再作判定。",
            "The purchase date lies in the future: staff will check it with you before deciding.",
        ),
        Rule::RepeatedRepairs => (
            "保修期内已因同类故障维修两次仍未修好：您可以选择换货或退货。",
            "Repaired twice within the warranty and failing again: you may exchange or return the phone.",
        ),
    };
    match coverage_ends {
        Some(day) if rule == Rule::PeriodExpired => (
            format!("{zh}保修期于{day}结束。"),
            format!("{en} The period ended on {day}."),
        ),
        Some(day) => (format!("{zh}保修至{day}。"), format!("{en} Covered until {day}.")),
        None => (zh.to_owned(), en.to_owned()),
    }
}

/// Whether `token` has the shape of one [`super::new_token`] makes (43 base64url characters): anything else cannot
/// be anyone's token and is refused without a look-up.
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn mask_name(name: &str) -> String {
    let first: String = name.chars().take(1).collect();
    format!("{first}**")
}

pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().saturating_sub(4);
    digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i < keep { '*' } else { *d })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::new_token;

    #[test]
    fn every_rule_is_explained_in_both_languages_with_the_day_cover_ends() {
        use Rule::*;
        let day = NaiveDate::from_ymd_opt(2027, 3, 1);
        for rule in [
            ReturnWindow,
            ExchangeWindow,
            RepairWindow,
            ExtendedWarranty,
            AccessoryWindow,
            ScreenPlan,
            PeriodExpired,
            LiquidDamage,
            PhysicalDamage,
            Tampering,
            CertificateMissing,
            CertificateMismatched,
            CertificateAltered,
            ForceMajeure,
            PurchaseDateInFuture,
            RepeatedRepairs,
        ] {
            let (zh, en) = explain(rule, None);
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{rule:?}: {zh}"
            );
            assert!(en.is_ascii() && en.ends_with('.'), "{rule:?}: {en}");
            let (zh, en) = explain(rule, day);
            assert!(zh.contains("2027-03-01") && en.contains("2027-03-01"), "{rule:?}");
        }
        assert!(
            explain(PeriodExpired, day)
                .1
                .ends_with("The period ended on 2027-03-01.")
        );
        assert!(explain(RepairWindow, day).0.ends_with("保修至2027-03-01。"));
    }

    #[test]
    fn a_link_is_archived_some_days_after_its_ticket_ends() {
        let now = Utc::now();
        assert!(!is_archived(None, now));
        assert!(!is_archived(Some(now - Duration::days(ARCHIVED_AFTER_DAYS)), now));
        assert!(is_archived(Some(now - Duration::days(ARCHIVED_AFTER_DAYS + 1)), now));
    }

    #[test]
    fn tokens_are_long_random_and_personal_data_is_masked() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits");
        assert_eq!(mask_name("Wang Fang"), "W**");
        assert_eq!(mask_phone("+86 138-0013-8000"), "*********8000");
    }
}
