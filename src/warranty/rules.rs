//! [`decide`]: the pure decision, in the order the module's docs give, with its table-driven tests.

use chrono::{Days, Months, NaiveDate};

use super::model::{
    AppliedPolicy, Certificate, Claim, CoveredItem, FaultKind, Policy, Remedy, Rule, WarrantyDecision, WarrantyInput,
};
use crate::devices::DeviceFacts;

/// Decides the warranty for one repair. Total: never panics, whatever the dates and policy (dates beyond chrono's
/// range saturate at [`NaiveDate::MAX`]).
///
/// Choices where the national rules are silent:
/// - Accessories have no return or exchange window, only free repair within their own period (plus credited days);
///   the extended warranty does not apply to them.
/// - The screen plan covers only the handset, only `screen_damage` and `back_cover_damage`, and only within
///   `screen_plan_months` of purchase: neither the extended warranty nor credited days extend it. Within the plan the
///   only remedy is free repair, even inside the return window. Certificate problems, tampering, liquid and force
///   majeure still exclude it.
/// - Exclusions win over periods: liquid damage two years after purchase reports `liquid_damage`, not
///   `period_expired`.
/// - The extended warranty period is counted from the purchase date (`handset_months + extended_months` months
///   later), so month-end clamping happens once; credited days (repair time, overruns, corrections) are then added to that end.
/// - Repeated repairs: after two earlier free repairs of a handset performance fault within the warranty, a
///   failure inside the free-repair period (after the exchange window) offers return, exchange or free repair.
/// - Free repair is always available through the exchange window, even under a policy whose handset period is
///   shorter than it.
pub fn decide(input: &WarrantyInput, policy: &Policy) -> WarrantyDecision {
    let d = input.today.signed_duration_since(input.purchase_date).num_days();
    let outcome = evaluate(input, policy, d);
    WarrantyDecision {
        free: !outcome.remedies.contains(&Remedy::PaidRepair),
        remedies: outcome.remedies,
        rule: outcome.rule,
        explanation: outcome.explanation,
        days_since_purchase: d,
        coverage_ends: outcome.coverage_ends,
        inputs: input.clone(),
        policy: AppliedPolicy::national(),
    }
}

struct Outcome {
    remedies: Vec<Remedy>,
    rule: Rule,
    explanation: String,
    coverage_ends: Option<NaiveDate>,
}

impl Outcome {
    fn paid(rule: Rule, why: String) -> Outcome {
        Outcome {
            remedies: vec![Remedy::PaidRepair],
            rule,
            explanation: format!("{why}: not covered; paid repair."),
            coverage_ends: None,
        }
    }

    /// Paid, with the whole sentence given.
    fn paid_because(rule: Rule, sentence: String) -> Outcome {
        Outcome {
            remedies: vec![Remedy::PaidRepair],
            rule,
            explanation: sentence,
            coverage_ends: None,
        }
    }
}

fn evaluate(input: &WarrantyInput, policy: &Policy, d: i64) -> Outcome {
    let purchase = input.purchase_date;
    let today = input.today;
    if d < 0 {
        return Outcome::paid_because(
            Rule::PurchaseDateInFuture,
            format!(
                "The purchase date {purchase} is after today, {today}: no warranty can apply until the date is \
                 corrected; paid repair."
            ),
        );
    }

    match input.certificate {
        Certificate::Valid => {}
        Certificate::Altered => {
            return Outcome::paid(
                Rule::CertificateAltered,
                "The warranty certificate has been altered".to_owned(),
            );
        }
        Certificate::Mismatched => {
            return Outcome::paid(
                Rule::CertificateMismatched,
                "The warranty certificate does not match this device (the IMEI differs)".to_owned(),
            );
        }
        Certificate::Missing => {
            return Outcome::paid(
                Rule::CertificateMissing,
                "No warranty certificate or invoice was presented".to_owned(),
            );
        }
    }
    let findings = input.findings;
    if findings.tampering {
        return Outcome::paid(Rule::Tampering, "Unauthorized disassembly or repair found".to_owned());
    }
    if findings.liquid {
        return Outcome::paid(Rule::LiquidDamage, "Liquid damage found".to_owned());
    }
    if input.force_majeure {
        return Outcome::paid(Rule::ForceMajeure, "The damage was caused by force majeure".to_owned());
    }

    let purchased = purchased_phrase(input.item, purchase, d);
    if input.fault != FaultKind::Performance {
        return accidental_damage(input, policy, &purchased);
    }
    if findings.drop || findings.crush {
        let what = match (findings.drop, findings.crush) {
            (true, true) => "Drop and crush damage found",
            (true, false) => "Drop damage found",
            _ => "Crush damage found",
        };
        return Outcome::paid(Rule::PhysicalDamage, what.to_owned());
    }

    let overrun = credit_phrase(input.credited_days());
    if input.item != CoveredItem::Handset {
        let months = policy.item_months(input.item);
        let end = add_days(add_months(purchase, months), input.credited_days());
        return if today <= end {
            Outcome {
                remedies: vec![Remedy::FreeRepair],
                rule: Rule::AccessoryWindow,
                explanation: format!(
                    "{purchased}: within its {months}-month warranty, which ends on {end}{overrun}; free repair."
                ),
                coverage_ends: Some(end),
            }
        } else {
            Outcome {
                remedies: vec![Remedy::PaidRepair],
                rule: Rule::PeriodExpired,
                explanation: format!("{purchased}: its {months}-month warranty ended on {end}{overrun}; paid repair."),
                coverage_ends: Some(end),
            }
        };
    }

    handset_performance(input, policy, d, &purchased)
}

/// A handset performance fault with nothing excluding it: the return, exchange and free-repair periods.
fn handset_performance(input: &WarrantyInput, policy: &Policy, d: i64, purchased: &str) -> Outcome {
    let purchase = input.purchase_date;
    let today = input.today;
    let months = policy.handset_months;
    let standard_end = add_months(purchase, months);
    let extended = input.extended_warranty && policy.extended_months > 0;
    let extended_end = if extended {
        add_months(purchase, months.saturating_add(policy.extended_months))
    } else {
        standard_end
    };
    let windows_end = add_days(purchase, policy.return_days.max(policy.exchange_days));
    let end = add_days(extended_end, input.credited_days()).max(windows_end);

    if d <= i64::from(policy.return_days) {
        return Outcome {
            remedies: vec![Remedy::Return, Remedy::Exchange, Remedy::FreeRepair],
            rule: Rule::ReturnWindow,
            explanation: format!(
                "{purchased}: within the {}-day return period; the customer may choose return, exchange or free \
                 repair.",
                policy.return_days
            ),
            coverage_ends: Some(end),
        };
    }
    if d <= i64::from(policy.exchange_days) {
        return Outcome {
            remedies: vec![Remedy::Exchange, Remedy::FreeRepair],
            rule: Rule::ExchangeWindow,
            explanation: format!(
                "{purchased}: within the {}-day exchange period; the customer may choose exchange or free repair.",
                policy.exchange_days
            ),
            coverage_ends: Some(end),
        };
    }

    let overrun = credit_phrase(input.credited_days());
    if today <= end && input.prior_repairs >= 2 {
        return Outcome {
            remedies: vec![Remedy::Return, Remedy::Exchange, Remedy::FreeRepair],
            rule: Rule::RepeatedRepairs,
            explanation: format!(
                "{purchased}: repaired {} times already for a performance fault within the warranty, which ends \
                 on {end}{overrun}; the customer may choose return, exchange or another free repair.",
                input.prior_repairs
            ),
            coverage_ends: Some(end),
        };
    }
    if today > end {
        let period = if extended {
            "free-repair period, including the extended warranty,"
        } else {
            "free-repair period"
        };
        return Outcome {
            remedies: vec![Remedy::PaidRepair],
            rule: Rule::PeriodExpired,
            explanation: format!("{purchased}: the {period} ended on {end}{overrun}; paid repair."),
            coverage_ends: Some(end),
        };
    }
    let (rule, period) = if extended && today > standard_end {
        (
            Rule::ExtendedWarranty,
            format!(
                "the {months}-month free-repair period ended on {standard_end}, but the extended warranty covers \
                 until {end}{overrun}"
            ),
        )
    } else if extended {
        (
            Rule::RepairWindow,
            format!(
                "within the {months}-month free-repair period, which the extended warranty continues until \
                 {end}{overrun}"
            ),
        )
    } else {
        (
            Rule::RepairWindow,
            format!("within the {months}-month free-repair period, which ends on {end}{overrun}"),
        )
    };
    Outcome {
        remedies: vec![Remedy::FreeRepair],
        rule,
        explanation: format!("{purchased}: {period}; free repair."),
        coverage_ends: Some(end),
    }
}

/// Accidental damage (not a performance fault): only a screen plan in force covers it.
fn accidental_damage(input: &WarrantyInput, policy: &Policy, purchased: &str) -> Outcome {
    let fault = input.fault.label();
    let plan_kind = matches!(input.fault, FaultKind::ScreenDamage | FaultKind::BackCoverDamage);
    if !input.screen_plan {
        return Outcome::paid(
            Rule::PhysicalDamage,
            format!(
                "{} is not a performance fault and there is no screen plan",
                capitalize(fault)
            ),
        );
    }
    if input.item != CoveredItem::Handset {
        return Outcome::paid(
            Rule::PhysicalDamage,
            format!(
                "The screen plan covers only the handset, not {fault} to the {}",
                input.item.label()
            ),
        );
    }
    if !plan_kind {
        return Outcome::paid(
            Rule::PhysicalDamage,
            "The screen plan covers only accidental screen and back-cover damage, not other accidental damage"
                .to_owned(),
        );
    }
    let plan_end = add_months(input.purchase_date, policy.screen_plan_months);
    if input.today <= plan_end {
        Outcome {
            remedies: vec![Remedy::FreeRepair],
            rule: Rule::ScreenPlan,
            explanation: format!("{purchased}: the screen plan covers {fault} until {plan_end}; free repair."),
            coverage_ends: Some(plan_end),
        }
    } else {
        Outcome::paid_because(
            Rule::PhysicalDamage,
            format!("{purchased}: the screen plan ended on {plan_end}, so {fault} is not covered; paid repair."),
        )
    }
}

/// "Purchased 2026-03-01, 5 days ago" for the handset, "Battery purchased …" for an accessory.
fn purchased_phrase(item: CoveredItem, purchase: NaiveDate, d: i64) -> String {
    let ago = match d {
        0 => "today".to_owned(),
        1 => "1 day ago".to_owned(),
        _ => format!("{d} days ago"),
    };
    match item {
        CoveredItem::Handset => format!("Purchased {purchase}, {ago}"),
        _ => format!("{} purchased {purchase}, {ago}", capitalize(item.label())),
    }
}

fn credit_phrase(days: u32) -> String {
    match days {
        0 => String::new(),
        1 => " (including 1 day credited for earlier repairs)".to_owned(),
        _ => format!(" (including {days} days credited for earlier repairs)"),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The same calendar date `months` later, clamped to the month's last day; saturates at [`NaiveDate::MAX`].
fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(Months::new(months)).unwrap_or(NaiveDate::MAX)
}

fn add_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

/// What a return refunds: the price paid, less a depreciation per day after the return window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refund {
    pub price_minor: i64,
    /// Days depreciated: from the warranty's start to today, less the days the phone spent in repair; 0 within
    /// the return window.
    pub depreciation_days: i64,
    pub depreciation_minor: i64,
    pub refund_minor: i64,
}

/// The refund of a return on `today` (DESIGN.md, "Warranty decision"): no deduction within the return window;
/// after it, `daily_depreciation_bp` hundredths of a percent of the price per day from `start` (the warranty's
/// start) to today, not counting `days_in_repair`, rounded half up to the fen, never more than the price.
pub fn refund(price_minor: i64, policy: &Policy, start: NaiveDate, today: NaiveDate, days_in_repair: u32) -> Refund {
    let d = today.signed_duration_since(start).num_days().max(0);
    let depreciation_days = if d <= i64::from(policy.return_days) {
        0
    } else {
        (d - i64::from(days_in_repair)).max(0)
    };
    let per_day = i128::from(policy.daily_depreciation_bp);
    let raw = i128::from(price_minor) * per_day * i128::from(depreciation_days);
    let depreciation = ((raw + 5_000) / 10_000).min(i128::from(price_minor.max(0)));
    let depreciation_minor = i64::try_from(depreciation).unwrap_or(price_minor);
    Refund {
        price_minor,
        depreciation_days,
        depreciation_minor,
        refund_minor: price_minor - depreciation_minor,
    }
}

/// The decision's input for `claim` on a device whose periods start on `start`, judged on `today` (the store's
/// local date), with what the device's record and history credit (`facts`: plans, repair and overrun days,
/// corrections, earlier repairs; [`DeviceFacts::none`] for a phone Depot has no record of). A ticket's decision and
/// the dry run both build their input here, so that they cannot disagree.
pub fn input_for(claim: &Claim, start: NaiveDate, today: NaiveDate, facts: &DeviceFacts) -> WarrantyInput {
    WarrantyInput {
        purchase_date: start,
        today,
        item: claim.item,
        fault: claim.fault,
        findings: claim.findings,
        certificate: claim.certificate,
        force_majeure: claim.force_majeure,
        extended_warranty: facts.extended_warranty,
        screen_plan: facts.screen_plan,
        repair_days: facts.credits.repair_days,
        overrun_days: facts.credits.overrun_days,
        correction_days: facts.correction_days,
        prior_repairs: facts.credits.prior_repairs,
    }
}

/// The longest return or exchange window a series' policy may set, in days.
pub const MAX_POLICY_DAYS: u32 = 365;
/// The longest period in months a series' policy may set (ten years).
pub const MAX_POLICY_MONTHS: u32 = 120;
/// The earliest and latest day a series' policy may take effect from: four-digit years, so that dates compare as
/// they sort on both engines.
pub const EARLIEST_POLICY_DATE: (i32, u32, u32) = (2000, 1, 1);

/// The earliest date Depot takes as a phone's purchase date (also written as the documents' descriptions say):
/// nothing older is under any warranty, and both engines store every date from it on.
pub fn earliest_purchase_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN)
}
pub const LATEST_POLICY_DATE: (i32, u32, u32) = (9999, 12, 31);

/// A daily depreciation as typed: a percent from `0` to `0.50` with at most two decimals and a leading `0`, exactly
/// the strings [`DEPRECIATION_PATTERN`] matches. Answers hundredths of a percent (`"0.5"` is 50).
pub fn parse_depreciation(text: &str) -> Result<u32, &'static str> {
    const WHY: &str = "must be a percent per day from 0 to 0.50 with at most two decimals, e.g. \"0.50\"";
    let rest = text.strip_prefix('0').ok_or(WHY)?;
    let decimals = match rest.strip_prefix('.') {
        None if rest.is_empty() => "",
        Some(d) if (1..=2).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => d,
        _ => return Err(WHY),
    };
    let hundredths = format!("{decimals:0<2}").parse::<u32>().map_err(|_| WHY)?;
    if hundredths > Policy::default().daily_depreciation_bp {
        return Err(
            "may not exceed the national rule's 0.50 percent a day (a series' policy may only be more generous)",
        );
    }
    Ok(hundredths)
}

/// The strings [`parse_depreciation`] accepts, as an ECMA-262 regular expression (0, 0.0-0.49, 0.00-0.49, 0.5, 0.50).
pub const DEPRECIATION_PATTERN: &str = "^0(\\.([0-4][0-9]?|50?))?$";

/// Hundredths of a percent as the API shows them: `50` is `"0.50"`.
pub fn depreciation_text(hundredths: u32) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// What a series' policy must satisfy: every period at least the national rule's (a maker's policy above the
/// national rule prevails; one below it does not), at most [`MAX_POLICY_DAYS`] or [`MAX_POLICY_MONTHS`], and the
/// exchange window no shorter than the return window. Each bad term with its reason, in field order.
pub fn policy_terms_problems(terms: &Policy) -> Vec<(&'static str, String)> {
    let national = Policy::default();
    let mut problems = Vec::new();
    let mut bound = |field: &'static str, value: u32, least: u32, most: u32, unit: &str| {
        if value < least {
            problems.push((
                field,
                format!(
                    "must be at least the national rule's {least} {unit} (a series' policy may only be more generous)"
                ),
            ));
        } else if value > most {
            problems.push((field, format!("must be at most {most} {unit}")));
        }
    };
    bound(
        "return_days",
        terms.return_days,
        national.return_days,
        MAX_POLICY_DAYS,
        "days",
    );
    bound(
        "exchange_days",
        terms.exchange_days,
        national.exchange_days,
        MAX_POLICY_DAYS,
        "days",
    );
    bound(
        "handset_months",
        terms.handset_months,
        national.handset_months,
        MAX_POLICY_MONTHS,
        "months",
    );
    bound(
        "battery_months",
        terms.battery_months,
        national.battery_months,
        MAX_POLICY_MONTHS,
        "months",
    );
    bound(
        "charger_months",
        terms.charger_months,
        national.charger_months,
        MAX_POLICY_MONTHS,
        "months",
    );
    bound(
        "wired_earphones_months",
        terms.wired_earphones_months,
        national.wired_earphones_months,
        MAX_POLICY_MONTHS,
        "months",
    );
    bound(
        "extended_months",
        terms.extended_months,
        national.extended_months,
        MAX_POLICY_MONTHS,
        "months",
    );
    bound(
        "screen_plan_months",
        terms.screen_plan_months,
        national.screen_plan_months,
        MAX_POLICY_MONTHS,
        "months",
    );
    // Compared only when both are within their bounds: a bad one is reported once, for itself.
    let bounded = |field: &str| !problems.iter().any(|(f, _)| *f == field);
    if terms.exchange_days < terms.return_days && bounded("return_days") && bounded("exchange_days") {
        problems.push(("exchange_days", "must be at least return_days".to_owned()));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::CoveredItem::*;
    use super::FaultKind::*;
    use super::Remedy::*;
    use super::*;
    use crate::warranty::model::Findings;

    const RETURN: &[Remedy] = &[Return, Exchange, FreeRepair];
    const EXCHANGE: &[Remedy] = &[Exchange, FreeRepair];
    const FREE: &[Remedy] = &[FreeRepair];
    const PAID: &[Remedy] = &[PaidRepair];

    const CLEAN: Findings = Findings {
        liquid: false,
        drop: false,
        crush: false,
        tampering: false,
    };
    const LIQUID: Findings = Findings { liquid: true, ..CLEAN };
    const DROP: Findings = Findings { drop: true, ..CLEAN };
    const CRUSH: Findings = Findings { crush: true, ..CLEAN };
    const TAMPERED: Findings = Findings {
        tampering: true,
        ..CLEAN
    };
    const EVERYTHING: Findings = Findings {
        liquid: true,
        drop: true,
        crush: true,
        tampering: true,
    };

    struct Case {
        name: &'static str,
        purchase: &'static str,
        today: &'static str,
        item: CoveredItem,
        fault: FaultKind,
        findings: Findings,
        certificate: Certificate,
        force_majeure: bool,
        extended: bool,
        plan: bool,
        overrun: u32,
        rule: Rule,
        remedies: &'static [Remedy],
        free: bool,
        coverage_ends: Option<&'static str>,
    }

    /// A clean handset performance fault bought 2026-03-01; each case overrides what it tests.
    const BASE: Case = Case {
        name: "",
        purchase: "2026-03-01",
        today: "2026-03-01",
        item: Handset,
        fault: Performance,
        findings: CLEAN,
        certificate: Certificate::Valid,
        force_majeure: false,
        extended: false,
        plan: false,
        overrun: 0,
        rule: Rule::ReturnWindow,
        remedies: RETURN,
        free: true,
        coverage_ends: Some("2027-03-01"),
    };

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap_or_else(|e| panic!("bad test date {s}: {e}"))
    }

    impl Case {
        fn input(&self) -> WarrantyInput {
            WarrantyInput {
                purchase_date: date(self.purchase),
                today: date(self.today),
                item: self.item,
                fault: self.fault,
                findings: self.findings,
                certificate: self.certificate,
                force_majeure: self.force_majeure,
                extended_warranty: self.extended,
                screen_plan: self.plan,
                overrun_days: self.overrun,
                repair_days: 0,
                correction_days: 0,
                prior_repairs: 0,
            }
        }
    }

    fn cases() -> Vec<Case> {
        use Rule::*;
        // Excluded outcomes share these fields.
        const EXCLUDED: Case = Case {
            today: "2026-03-04",
            remedies: PAID,
            free: false,
            coverage_ends: None,
            ..BASE
        };
        vec![
            // Handset windows, bought 2026-03-01.
            Case {
                name: "d=0 return",
                ..BASE
            },
            Case {
                name: "d=7 return",
                today: "2026-03-08",
                ..BASE
            },
            Case {
                name: "d=8 exchange",
                today: "2026-03-09",
                rule: ExchangeWindow,
                remedies: EXCHANGE,
                ..BASE
            },
            Case {
                name: "d=15 exchange",
                today: "2026-03-16",
                rule: ExchangeWindow,
                remedies: EXCHANGE,
                ..BASE
            },
            Case {
                name: "d=16 repair",
                today: "2026-03-17",
                rule: RepairWindow,
                remedies: FREE,
                ..BASE
            },
            Case {
                name: "last day of the year",
                today: "2027-03-01",
                rule: RepairWindow,
                remedies: FREE,
                ..BASE
            },
            Case {
                name: "day after the year",
                today: "2027-03-02",
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                ..BASE
            },
            // Windows across a leap day: 2024-02-25 + 7 days = 2024-03-03.
            Case {
                name: "d=7 across leap day",
                purchase: "2024-02-25",
                today: "2024-03-03",
                coverage_ends: Some("2025-02-25"),
                ..BASE
            },
            Case {
                name: "d=8 across leap day",
                purchase: "2024-02-25",
                today: "2024-03-04",
                rule: ExchangeWindow,
                remedies: EXCHANGE,
                coverage_ends: Some("2025-02-25"),
                ..BASE
            },
            // Leap-day purchase: one year ends 2025-02-28.
            Case {
                name: "leap purchase, 2025-02-28 covered",
                purchase: "2024-02-29",
                today: "2025-02-28",
                rule: RepairWindow,
                remedies: FREE,
                coverage_ends: Some("2025-02-28"),
                ..BASE
            },
            Case {
                name: "leap purchase, 2025-03-01 expired",
                purchase: "2024-02-29",
                today: "2025-03-01",
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2025-02-28"),
                ..BASE
            },
            // Year containing a leap day: 2023-03-01 → 2024-03-01.
            Case {
                name: "2023-03-01 checked on 2024-02-29",
                purchase: "2023-03-01",
                today: "2024-02-29",
                rule: RepairWindow,
                remedies: FREE,
                coverage_ends: Some("2024-03-01"),
                ..BASE
            },
            Case {
                name: "2023-03-01 checked on 2024-03-01",
                purchase: "2023-03-01",
                today: "2024-03-01",
                rule: RepairWindow,
                remedies: FREE,
                coverage_ends: Some("2024-03-01"),
                ..BASE
            },
            Case {
                name: "2023-03-01 checked on 2024-03-02",
                purchase: "2023-03-01",
                today: "2024-03-02",
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2024-03-01"),
                ..BASE
            },
            // Extended warranty: ends 2028-03-01.
            Case {
                name: "extended, d=3",
                today: "2026-03-04",
                extended: true,
                coverage_ends: Some("2028-03-01"),
                ..BASE
            },
            Case {
                name: "extended, last day of the standard year",
                today: "2027-03-01",
                extended: true,
                rule: RepairWindow,
                remedies: FREE,
                coverage_ends: Some("2028-03-01"),
                ..BASE
            },
            Case {
                name: "extended, first day of the extension",
                today: "2027-03-02",
                extended: true,
                rule: ExtendedWarranty,
                remedies: FREE,
                coverage_ends: Some("2028-03-01"),
                ..BASE
            },
            Case {
                name: "extended, last day",
                today: "2028-03-01",
                extended: true,
                rule: ExtendedWarranty,
                remedies: FREE,
                coverage_ends: Some("2028-03-01"),
                ..BASE
            },
            Case {
                name: "extended, day after",
                today: "2028-03-02",
                extended: true,
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2028-03-01"),
                ..BASE
            },
            Case {
                name: "extended, leap purchase, last day",
                purchase: "2024-02-29",
                today: "2026-02-28",
                extended: true,
                rule: ExtendedWarranty,
                remedies: FREE,
                coverage_ends: Some("2026-02-28"),
                ..BASE
            },
            Case {
                name: "extended, leap purchase, day after",
                purchase: "2024-02-29",
                today: "2026-03-01",
                extended: true,
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2026-02-28"),
                ..BASE
            },
            // Overrun days move the final end, not the windows.
            Case {
                name: "overrun, d=7 still return",
                today: "2026-03-08",
                overrun: 30,
                coverage_ends: Some("2027-03-31"),
                ..BASE
            },
            Case {
                name: "overrun, d=16 not exchange",
                today: "2026-03-17",
                overrun: 30,
                rule: RepairWindow,
                remedies: FREE,
                coverage_ends: Some("2027-03-31"),
                ..BASE
            },
            Case {
                name: "overrun 10, last day",
                today: "2027-03-11",
                overrun: 10,
                rule: RepairWindow,
                remedies: FREE,
                coverage_ends: Some("2027-03-11"),
                ..BASE
            },
            Case {
                name: "overrun 10, day after",
                today: "2027-03-12",
                overrun: 10,
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2027-03-11"),
                ..BASE
            },
            Case {
                name: "overrun 10 after extended, last day",
                today: "2028-03-11",
                overrun: 10,
                extended: true,
                rule: ExtendedWarranty,
                remedies: FREE,
                coverage_ends: Some("2028-03-11"),
                ..BASE
            },
            Case {
                name: "overrun 10 after extended, day after",
                today: "2028-03-12",
                overrun: 10,
                extended: true,
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2028-03-11"),
                ..BASE
            },
            // Accessories: their own periods, no return/exchange, no extended warranty.
            Case {
                name: "battery d=0: free repair only",
                item: Battery,
                purchase: "2026-01-31",
                today: "2026-01-31",
                rule: AccessoryWindow,
                remedies: FREE,
                coverage_ends: Some("2026-07-31"),
                ..BASE
            },
            Case {
                name: "battery last day",
                item: Battery,
                purchase: "2026-01-31",
                today: "2026-07-31",
                rule: AccessoryWindow,
                remedies: FREE,
                coverage_ends: Some("2026-07-31"),
                ..BASE
            },
            Case {
                name: "battery day after",
                item: Battery,
                purchase: "2026-01-31",
                today: "2026-08-01",
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2026-07-31"),
                ..BASE
            },
            Case {
                name: "battery, extended warranty does not apply",
                item: Battery,
                purchase: "2026-01-31",
                today: "2026-08-01",
                extended: true,
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2026-07-31"),
                ..BASE
            },
            Case {
                name: "battery, overrun 5, last day",
                item: Battery,
                purchase: "2026-01-31",
                today: "2026-08-05",
                overrun: 5,
                rule: AccessoryWindow,
                remedies: FREE,
                coverage_ends: Some("2026-08-05"),
                ..BASE
            },
            Case {
                name: "battery, overrun 5, day after",
                item: Battery,
                purchase: "2026-01-31",
                today: "2026-08-06",
                overrun: 5,
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2026-08-05"),
                ..BASE
            },
            Case {
                name: "charger last day",
                item: Charger,
                today: "2027-03-01",
                rule: AccessoryWindow,
                remedies: FREE,
                ..BASE
            },
            Case {
                name: "charger day after",
                item: Charger,
                today: "2027-03-02",
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                ..BASE
            },
            Case {
                name: "earphones last day (clamped to February)",
                item: WiredEarphones,
                purchase: "2026-11-30",
                today: "2027-02-28",
                rule: AccessoryWindow,
                remedies: FREE,
                coverage_ends: Some("2027-02-28"),
                ..BASE
            },
            Case {
                name: "earphones day after",
                item: WiredEarphones,
                purchase: "2026-11-30",
                today: "2027-03-01",
                rule: PeriodExpired,
                remedies: PAID,
                free: false,
                coverage_ends: Some("2027-02-28"),
                ..BASE
            },
            // Every exclusion, inside the return window.
            Case {
                name: "certificate altered",
                certificate: Certificate::Altered,
                rule: CertificateAltered,
                ..EXCLUDED
            },
            Case {
                name: "certificate mismatched",
                certificate: Certificate::Mismatched,
                rule: CertificateMismatched,
                ..EXCLUDED
            },
            Case {
                name: "certificate missing",
                certificate: Certificate::Missing,
                rule: CertificateMissing,
                ..EXCLUDED
            },
            Case {
                name: "tampering",
                findings: TAMPERED,
                rule: Tampering,
                ..EXCLUDED
            },
            Case {
                name: "liquid",
                findings: LIQUID,
                rule: LiquidDamage,
                ..EXCLUDED
            },
            Case {
                name: "drop",
                findings: DROP,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "crush",
                findings: CRUSH,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "force majeure",
                force_majeure: true,
                rule: ForceMajeure,
                ..EXCLUDED
            },
            Case {
                name: "screen damage, no plan",
                fault: ScreenDamage,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "back cover damage, no plan",
                fault: BackCoverDamage,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "other damage, no plan",
                fault: OtherDamage,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "accessory damage",
                item: Charger,
                fault: OtherDamage,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "exclusion after expiry",
                today: "2028-06-01",
                findings: LIQUID,
                rule: LiquidDamage,
                ..EXCLUDED
            },
            // Order of the exclusions.
            Case {
                name: "altered certificate first",
                certificate: Certificate::Altered,
                findings: EVERYTHING,
                force_majeure: true,
                rule: CertificateAltered,
                ..EXCLUDED
            },
            Case {
                name: "missing certificate before tampering",
                certificate: Certificate::Missing,
                findings: EVERYTHING,
                rule: CertificateMissing,
                ..EXCLUDED
            },
            Case {
                name: "tampering before liquid",
                findings: EVERYTHING,
                rule: Tampering,
                ..EXCLUDED
            },
            Case {
                name: "liquid before force majeure",
                findings: Findings {
                    liquid: true,
                    drop: true,
                    ..CLEAN
                },
                force_majeure: true,
                rule: LiquidDamage,
                ..EXCLUDED
            },
            Case {
                name: "force majeure before drop",
                findings: DROP,
                force_majeure: true,
                rule: ForceMajeure,
                ..EXCLUDED
            },
            // Screen plan: one year from purchase, screen and back cover of the handset, drop or crush included.
            Case {
                name: "plan covers a dropped screen",
                today: "2026-06-10",
                fault: ScreenDamage,
                findings: DROP,
                plan: true,
                rule: ScreenPlan,
                remedies: FREE,
                ..BASE
            },
            Case {
                name: "plan in return window: free repair only",
                today: "2026-03-03",
                fault: ScreenDamage,
                plan: true,
                rule: ScreenPlan,
                remedies: FREE,
                ..BASE
            },
            Case {
                name: "plan covers a crushed back cover on its last day",
                today: "2027-03-01",
                fault: BackCoverDamage,
                findings: CRUSH,
                plan: true,
                rule: ScreenPlan,
                remedies: FREE,
                ..BASE
            },
            Case {
                name: "plan ended",
                today: "2027-03-02",
                fault: ScreenDamage,
                findings: DROP,
                plan: true,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan not extended by the extended warranty",
                today: "2027-03-02",
                fault: ScreenDamage,
                plan: true,
                extended: true,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan not extended by overrun days",
                today: "2027-03-02",
                fault: ScreenDamage,
                plan: true,
                overrun: 30,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan, leap purchase, last day",
                purchase: "2024-02-29",
                today: "2025-02-28",
                fault: ScreenDamage,
                plan: true,
                rule: ScreenPlan,
                remedies: FREE,
                coverage_ends: Some("2025-02-28"),
                ..BASE
            },
            Case {
                name: "plan, leap purchase, day after",
                purchase: "2024-02-29",
                today: "2025-03-01",
                fault: ScreenDamage,
                plan: true,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan, liquid",
                fault: ScreenDamage,
                findings: LIQUID,
                plan: true,
                rule: LiquidDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan, tampering",
                fault: ScreenDamage,
                findings: TAMPERED,
                plan: true,
                rule: Tampering,
                ..EXCLUDED
            },
            Case {
                name: "plan, certificate missing",
                fault: ScreenDamage,
                certificate: Certificate::Missing,
                plan: true,
                rule: CertificateMissing,
                ..EXCLUDED
            },
            Case {
                name: "plan, force majeure",
                fault: ScreenDamage,
                force_majeure: true,
                plan: true,
                rule: ForceMajeure,
                ..EXCLUDED
            },
            Case {
                name: "plan, other damage",
                fault: OtherDamage,
                plan: true,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan, not for accessories",
                item: Charger,
                fault: ScreenDamage,
                plan: true,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan, performance fault with drop",
                findings: DROP,
                plan: true,
                rule: PhysicalDamage,
                ..EXCLUDED
            },
            Case {
                name: "plan, performance fault follows the windows",
                today: "2026-03-10",
                plan: true,
                rule: ExchangeWindow,
                remedies: EXCHANGE,
                ..BASE
            },
            // Purchase date in the future.
            Case {
                name: "future purchase date",
                today: "2026-02-28",
                rule: PurchaseDateInFuture,
                ..EXCLUDED
            },
            Case {
                name: "future purchase date wins over everything",
                today: "2025-03-01",
                certificate: Certificate::Altered,
                findings: EVERYTHING,
                force_majeure: true,
                plan: true,
                extended: true,
                fault: ScreenDamage,
                rule: PurchaseDateInFuture,
                ..EXCLUDED
            },
        ]
    }

    #[test]
    fn table() {
        let policy = Policy::default();
        let cases = cases();
        for case in &cases {
            let input = case.input();
            let got = decide(&input, &policy);
            let name = case.name;
            assert_eq!(got.rule, case.rule, "{name}: {}", got.explanation);
            assert_eq!(got.remedies, case.remedies, "{name}");
            assert_eq!(got.free, case.free, "{name}");
            assert_eq!(got.coverage_ends, case.coverage_ends.map(date), "{name}");
            assert_eq!(
                got.days_since_purchase,
                (input.today - input.purchase_date).num_days(),
                "{name}"
            );
            assert_eq!(got.inputs, input, "{name}");
            // The return and exchange windows name the purchase date and the day count, not the repair end.
            let windows = [Rule::ReturnWindow, Rule::ExchangeWindow];
            if let Some(end) = got.coverage_ends.filter(|_| !windows.contains(&got.rule)) {
                assert!(
                    got.explanation.contains(&end.to_string()),
                    "{name}: {}",
                    got.explanation
                );
            }
            if !got.rule.is_exclusion() {
                assert!(got.explanation.contains(case.purchase), "{name}: {}", got.explanation);
            }
        }
        assert!(cases.len() >= 60, "{} cases", cases.len());
    }

    fn handset(purchase: &str, today: &str) -> WarrantyInput {
        WarrantyInput {
            purchase_date: date(purchase),
            today: date(today),
            item: Handset,
            fault: Performance,
            findings: Findings::default(),
            certificate: Certificate::Valid,
            force_majeure: false,
            extended_warranty: false,
            screen_plan: false,
            overrun_days: 0,
            repair_days: 0,
            correction_days: 0,
            prior_repairs: 0,
        }
    }

    #[test]
    fn explanations_read_plainly() {
        let policy = Policy::default();
        let explain = |input: WarrantyInput| decide(&input, &policy).explanation;
        let base = handset("2026-03-01", "2026-03-06");
        let cases: Vec<(WarrantyInput, &str)> = vec![
            (
                base.clone(),
                "Purchased 2026-03-01, 5 days ago: within the 7-day return period; the customer may choose return, \
                 exchange or free repair.",
            ),
            (
                handset("2026-03-01", "2026-03-01"),
                "Purchased 2026-03-01, today: within the 7-day return period; the customer may choose return, \
                 exchange or free repair.",
            ),
            (
                handset("2026-03-01", "2026-03-10"),
                "Purchased 2026-03-01, 9 days ago: within the 15-day exchange period; the customer may choose \
                 exchange or free repair.",
            ),
            (
                WarrantyInput {
                    findings: LIQUID,
                    ..base.clone()
                },
                "Liquid damage found: not covered; paid repair.",
            ),
            (
                handset("2026-03-01", "2026-09-17"),
                "Purchased 2026-03-01, 200 days ago: within the 12-month free-repair period, which ends on \
                 2027-03-01; free repair.",
            ),
            (
                WarrantyInput {
                    overrun_days: 1,
                    ..handset("2026-03-01", "2027-03-02")
                },
                "Purchased 2026-03-01, 366 days ago: within the 12-month free-repair period, which ends on \
                 2027-03-02 (including 1 day credited for earlier repairs); free repair.",
            ),
            (
                WarrantyInput {
                    extended_warranty: true,
                    ..handset("2026-03-01", "2027-06-01")
                },
                "Purchased 2026-03-01, 457 days ago: the 12-month free-repair period ended on 2027-03-01, but the \
                 extended warranty covers until 2028-03-01; free repair.",
            ),
            (
                handset("2026-03-01", "2027-03-02"),
                "Purchased 2026-03-01, 366 days ago: the free-repair period ended on 2027-03-01; paid repair.",
            ),
            (
                WarrantyInput {
                    item: Battery,
                    ..handset("2026-01-31", "2026-02-01")
                },
                "Battery purchased 2026-01-31, 1 day ago: within its 6-month warranty, which ends on 2026-07-31; \
                 free repair.",
            ),
            (
                WarrantyInput {
                    fault: ScreenDamage,
                    findings: DROP,
                    screen_plan: true,
                    ..base.clone()
                },
                "Purchased 2026-03-01, 5 days ago: the screen plan covers accidental screen damage until \
                 2027-03-01; free repair.",
            ),
            (
                WarrantyInput {
                    fault: ScreenDamage,
                    screen_plan: true,
                    ..handset("2026-03-01", "2027-03-05")
                },
                "Purchased 2026-03-01, 369 days ago: the screen plan ended on 2027-03-01, so accidental screen \
                 damage is not covered; paid repair.",
            ),
            (
                handset("2026-03-01", "2026-02-28"),
                "The purchase date 2026-03-01 is after today, 2026-02-28: no warranty can apply until the date is \
                 corrected; paid repair.",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(explain(input), want);
        }
    }

    #[test]
    fn policy_defaults_are_the_national_rule() {
        let p = Policy::default();
        assert_eq!(
            (
                p.return_days,
                p.exchange_days,
                p.handset_months,
                p.battery_months,
                p.charger_months,
                p.wired_earphones_months,
                p.extended_months,
                p.screen_plan_months
            ),
            (7, 15, 12, 6, 12, 3, 12, 12)
        );
    }

    #[test]
    fn a_configured_policy_is_honoured() {
        let policy = Policy {
            return_days: 14,
            exchange_days: 30,
            handset_months: 24,
            extended_months: 6,
            ..Policy::default()
        };
        let cases = [
            ("2026-03-15", Rule::ReturnWindow),
            ("2026-03-16", Rule::ExchangeWindow),
            ("2026-03-31", Rule::ExchangeWindow),
            ("2026-04-01", Rule::RepairWindow),
            ("2028-03-01", Rule::RepairWindow),
            ("2028-03-02", Rule::PeriodExpired),
        ];
        for (today, rule) in cases {
            assert_eq!(decide(&handset("2026-03-01", today), &policy).rule, rule, "{today}");
        }
        let extended = WarrantyInput {
            extended_warranty: true,
            ..handset("2026-03-01", "2028-09-01")
        };
        assert_eq!(decide(&extended, &policy).rule, Rule::ExtendedWarranty);
        // A handset period shorter than the exchange window still leaves free repair through it.
        let short = Policy {
            handset_months: 0,
            ..Policy::default()
        };
        let got = decide(&handset("2026-03-01", "2026-03-16"), &short);
        assert_eq!(
            (got.rule, got.coverage_ends),
            (Rule::ExchangeWindow, Some(date("2026-03-16")))
        );
        let got = decide(&handset("2026-03-01", "2026-03-17"), &short);
        assert_eq!(
            (got.rule, got.coverage_ends),
            (Rule::PeriodExpired, Some(date("2026-03-16")))
        );
    }

    #[test]
    fn wire_strings_are_stable() {
        use Rule::*;
        let rules = [
            (ReturnWindow, "return_window"),
            (ExchangeWindow, "exchange_window"),
            (RepairWindow, "repair_window"),
            (ExtendedWarranty, "extended_warranty"),
            (AccessoryWindow, "accessory_window"),
            (ScreenPlan, "screen_plan"),
            (PeriodExpired, "period_expired"),
            (LiquidDamage, "liquid_damage"),
            (PhysicalDamage, "physical_damage"),
            (Tampering, "tampering"),
            (CertificateMissing, "certificate_missing"),
            (CertificateMismatched, "certificate_mismatched"),
            (CertificateAltered, "certificate_altered"),
            (ForceMajeure, "force_majeure"),
            (PurchaseDateInFuture, "purchase_date_in_future"),
            (RepeatedRepairs, "repeated_repairs"),
        ];
        for (rule, s) in rules {
            assert_eq!(serde_json::to_value(rule).ok(), Some(serde_json::Value::from(s)));
        }
        assert_eq!(
            serde_json::to_value(WiredEarphones).ok(),
            Some("wired_earphones".into())
        );
        assert_eq!(
            serde_json::to_value(BackCoverDamage).ok(),
            Some("back_cover_damage".into())
        );
        assert_eq!(
            serde_json::to_value(Certificate::Mismatched).ok(),
            Some("mismatched".into())
        );
        assert_eq!(serde_json::to_value(FreeRepair).ok(), Some("free_repair".into()));

        let decision = decide(&handset("2026-03-01", "2026-03-06"), &Policy::default());
        let json = serde_json::to_value(&decision).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json["remedies"],
            serde_json::json!(["return", "exchange", "free_repair"])
        );
        assert_eq!(json["rule"], "return_window");
        assert_eq!(json["coverage_ends"], "2027-03-01");
        assert_eq!(json["inputs"]["purchase_date"], "2026-03-01");
        assert_eq!(json["inputs"]["findings"]["liquid"], false);
        assert_eq!(serde_json::from_value::<WarrantyDecision>(json).ok(), Some(decision));
    }

    #[test]
    fn extreme_dates_and_policies_do_not_panic() {
        let huge = Policy {
            return_days: u32::MAX,
            exchange_days: u32::MAX,
            handset_months: u32::MAX,
            battery_months: u32::MAX,
            charger_months: u32::MAX,
            wired_earphones_months: u32::MAX,
            extended_months: u32::MAX,
            screen_plan_months: u32::MAX,
            daily_depreciation_bp: u32::MAX,
        };
        let dates = [NaiveDate::MIN, date("2024-02-29"), NaiveDate::MAX];
        for policy in [Policy::default(), huge] {
            for purchase in dates {
                for today in dates {
                    for item in [Handset, Battery] {
                        for fault in [Performance, ScreenDamage] {
                            let input = WarrantyInput {
                                purchase_date: purchase,
                                today,
                                item,
                                fault,
                                screen_plan: true,
                                extended_warranty: true,
                                overrun_days: u32::MAX,
                                ..handset("2024-02-29", "2024-02-29")
                            };
                            let got = decide(&input, &policy);
                            assert_eq!(got.free, !got.remedies.contains(&PaidRepair));
                            assert_eq!(got.rule == Rule::PurchaseDateInFuture, today < purchase);
                        }
                    }
                }
            }
        }
    }

    /// How much the customer may choose: 3 in the return window down to 0 for paid repair.
    fn rank(remedies: &[Remedy]) -> usize {
        if remedies.contains(&PaidRepair) {
            0
        } else {
            remedies.len()
        }
    }

    #[test]
    fn sweep_keeps_the_invariants() {
        let policy = Policy::default();
        // End of January in a leap year: month-end clamping and 29 February both inside the sweep.
        let purchase = date("2024-01-31");
        let items = [Handset, Battery, Charger, WiredEarphones];
        let faults = [Performance, ScreenDamage, BackCoverDamage, OtherDamage];
        let findings = [CLEAN, LIQUID, DROP, TAMPERED];
        let certificates = [Certificate::Valid, Certificate::Mismatched];
        let mut decisions = 0usize;
        for item in items {
            for fault in faults {
                for found in findings {
                    for certificate in certificates {
                        for flags in 0u8..8 {
                            for overrun_days in [0, 40] {
                                let mut previous_rank = usize::MAX;
                                for offset in -5i64..=830 {
                                    let today = if offset < 0 {
                                        purchase - Days::new(offset.unsigned_abs())
                                    } else {
                                        purchase + Days::new(offset.unsigned_abs())
                                    };
                                    let input = WarrantyInput {
                                        purchase_date: purchase,
                                        today,
                                        item,
                                        fault,
                                        findings: found,
                                        certificate,
                                        force_majeure: flags & 1 != 0,
                                        extended_warranty: flags & 2 != 0,
                                        screen_plan: flags & 4 != 0,
                                        overrun_days,
                                        repair_days: 0,
                                        correction_days: 0,
                                        prior_repairs: 0,
                                    };
                                    let got = decide(&input, &policy);
                                    decisions += 1;
                                    let ctx = || format!("{input:?} → {got:?}");
                                    assert_eq!(got.days_since_purchase, offset, "{}", ctx());
                                    assert!(!got.remedies.is_empty(), "{}", ctx());
                                    assert_eq!(got.free, !got.remedies.contains(&PaidRepair), "{}", ctx());
                                    assert_eq!(got.free, got.remedies != [PaidRepair], "{}", ctx());
                                    assert_eq!(got.remedies.contains(&Return), got.rule == Rule::ReturnWindow);
                                    assert_eq!(got.rule.is_exclusion(), got.coverage_ends.is_none(), "{}", ctx());
                                    match got.coverage_ends {
                                        Some(end) if got.free => assert!(today <= end, "{}", ctx()),
                                        Some(end) => assert!(today > end, "{}", ctx()),
                                        None => assert!(!got.free, "{}", ctx()),
                                    }
                                    assert!(got.explanation.ends_with('.'), "{}", ctx());
                                    assert_eq!(got.inputs, input);
                                    if offset < 0 {
                                        assert_eq!(got.rule, Rule::PurchaseDateInFuture);
                                        continue;
                                    }
                                    // Remedies only shrink as time passes; paid never turns free again.
                                    let r = rank(&got.remedies);
                                    assert!(r <= previous_rank, "{}", ctx());
                                    previous_rank = r;
                                    // Only the screen plan makes a drop free; nothing makes the other exclusions free.
                                    if certificate != Certificate::Valid
                                        || found.liquid
                                        || found.tampering
                                        || flags & 1 != 0
                                    {
                                        assert!(!got.free, "{}", ctx());
                                    }
                                    if found.drop {
                                        assert!(!got.free || got.rule == Rule::ScreenPlan, "{}", ctx());
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(decisions, 4 * 4 * 4 * 2 * 8 * 2 * 836);
    }

    #[test]
    fn a_third_failure_after_two_repairs_offers_exchange_or_return() {
        let policy = Policy::default();
        let third = |prior_repairs, today| {
            let input = WarrantyInput {
                prior_repairs,
                ..handset("2026-03-01", today)
            };
            let got = decide(&input, &policy);
            (got.rule, got.remedies)
        };
        assert_eq!(third(1, "2026-09-01"), (Rule::RepairWindow, FREE.to_vec()));
        assert_eq!(third(2, "2026-09-01"), (Rule::RepeatedRepairs, RETURN.to_vec()));
        assert_eq!(third(3, "2027-03-01"), (Rule::RepeatedRepairs, RETURN.to_vec()));
        // Past the warranty the repairs no longer matter; inside the windows the window decides.
        assert_eq!(third(2, "2027-03-02"), (Rule::PeriodExpired, PAID.to_vec()));
        assert_eq!(third(2, "2026-03-10"), (Rule::ExchangeWindow, EXCHANGE.to_vec()));
        // Accidental damage is not a failed repair.
        let damaged = WarrantyInput {
            prior_repairs: 2,
            fault: ScreenDamage,
            ..handset("2026-03-01", "2026-09-01")
        };
        assert_eq!(decide(&damaged, &policy).rule, Rule::PhysicalDamage);
    }

    #[test]
    fn credited_days_add_repair_time_overruns_and_corrections() {
        let policy = Policy::default();
        let input = WarrantyInput {
            repair_days: 3,
            overrun_days: 2,
            correction_days: 1,
            ..handset("2026-03-01", "2027-03-07")
        };
        assert_eq!(input.credited_days(), 6);
        let got = decide(&input, &policy);
        assert_eq!(
            (got.rule, got.coverage_ends),
            (Rule::RepairWindow, Some(date("2027-03-07")))
        );
        let got = decide(
            &WarrantyInput {
                today: date("2027-03-08"),
                ..input
            },
            &policy,
        );
        assert_eq!(got.rule, Rule::PeriodExpired);
        assert!(got.explanation.contains("6 days credited"), "{}", got.explanation);
    }

    #[test]
    fn refunds_depreciate_after_the_return_window_not_counting_repair_days() {
        let policy = Policy::default();
        let start = date("2026-03-01");
        // Within 7 days: the whole price.
        let r = refund(499_900, &policy, start, date("2026-03-08"), 0);
        assert_eq!((r.depreciation_days, r.refund_minor), (0, 499_900));
        // Day 8: 8 days at 0.5 % = 4 %.
        let r = refund(499_900, &policy, start, date("2026-03-09"), 0);
        assert_eq!(
            (r.depreciation_days, r.depreciation_minor, r.refund_minor),
            (8, 19_996, 479_904)
        );
        // Days in repair are not counted: 100 days, 40 of them in repair, 60 at 0.5 % = 30 %.
        let r = refund(100_000, &policy, start, date("2026-06-09"), 40);
        assert_eq!((r.depreciation_days, r.refund_minor), (60, 70_000));
        // Half a fen rounds up; never below zero.
        let r = refund(101, &policy, start, date("2026-03-11"), 0);
        assert_eq!((r.depreciation_minor, r.refund_minor), (5, 96));
        let r = refund(100_000, &policy, start, date("2027-03-01"), 0);
        assert_eq!(r.refund_minor, 0);
        let generous = Policy {
            daily_depreciation_bp: 10,
            ..Policy::default()
        };
        let r = refund(100_000, &generous, start, date("2026-03-21"), 0);
        assert_eq!(r.refund_minor, 98_000);
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use crate::warranty::model::Findings;

    #[test]
    fn depreciation_is_a_percent_from_0_to_0_50_with_two_decimals_at_most() {
        for (text, hundredths) in [
            ("0", 0),
            ("0.0", 0),
            ("0.00", 0),
            ("0.05", 5),
            ("0.1", 10),
            ("0.25", 25),
            ("0.49", 49),
            ("0.5", 50),
            ("0.50", 50),
        ] {
            assert_eq!(parse_depreciation(text), Ok(hundredths), "{text}");
        }
        for text in [
            "", "0.", ".5", "00.5", "0.51", "0.6", "0.99", "1", "1.00", "0.500", "0.555", "-0.1", "+0.1", " 0.5",
            "0,5", "0.5a", "0x1",
        ] {
            assert!(parse_depreciation(text).is_err(), "{text}");
        }
    }

    /// The pattern the OpenAPI document promises accepts exactly what the parser accepts.
    #[test]
    fn the_depreciation_pattern_describes_exactly_what_is_accepted() {
        let pattern = regex::Regex::new(DEPRECIATION_PATTERN).unwrap_or_else(|e| panic!("{e}"));
        let alphabet = ['0', '1', '4', '5', '9', '.', '-'];
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        texts.sort();
        texts.dedup();
        for text in &texts {
            assert_eq!(pattern.is_match(text), parse_depreciation(text).is_ok(), "{text:?}");
        }
        for hundredths in 0..=50 {
            assert_eq!(parse_depreciation(&depreciation_text(hundredths)), Ok(hundredths));
        }
    }

    #[test]
    fn a_policy_may_only_be_more_generous_than_the_national_rule() {
        assert!(policy_terms_problems(&Policy::default()).is_empty());
        let generous = Policy {
            return_days: 14,
            exchange_days: 30,
            handset_months: 24,
            ..Policy::default()
        };
        assert!(policy_terms_problems(&generous).is_empty());
        let fields = |terms: Policy| -> Vec<&'static str> {
            policy_terms_problems(&terms).into_iter().map(|(f, _)| f).collect()
        };
        assert_eq!(
            fields(Policy {
                return_days: 6,
                battery_months: 5,
                screen_plan_months: 0,
                ..Policy::default()
            }),
            ["return_days", "battery_months", "screen_plan_months"]
        );
        assert_eq!(
            fields(Policy {
                return_days: 20,
                exchange_days: 16,
                ..Policy::default()
            }),
            ["exchange_days"]
        );
        assert_eq!(
            fields(Policy {
                return_days: MAX_POLICY_DAYS + 1,
                handset_months: MAX_POLICY_MONTHS + 1,
                ..Policy::default()
            }),
            ["return_days", "handset_months"],
            "a term out of bounds is not compared with another"
        );
    }

    #[test]
    fn the_input_carries_the_claim_and_what_the_device_credits() {
        let claim = Claim {
            item: CoveredItem::Battery,
            fault: FaultKind::Performance,
            findings: Findings {
                drop: true,
                ..Findings::default()
            },
            certificate: Certificate::Mismatched,
            force_majeure: true,
        };
        let start = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap_or_default();
        let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default();
        let mut facts = DeviceFacts::none();
        facts.extended_warranty = true;
        facts.correction_days = 4;
        facts.credits.repair_days = 9;
        facts.credits.overrun_days = 2;
        facts.credits.prior_repairs = 1;
        let input = input_for(&claim, start, today, &facts);
        assert_eq!((input.purchase_date, input.today), (start, today));
        assert_eq!(
            (input.item, input.fault, input.certificate),
            (claim.item, claim.fault, claim.certificate)
        );
        assert_eq!(input.findings, claim.findings);
        assert!(input.force_majeure && input.extended_warranty && !input.screen_plan);
        assert_eq!(
            (
                input.repair_days,
                input.overrun_days,
                input.correction_days,
                input.prior_repairs
            ),
            (9, 2, 4, 1)
        );
        assert_eq!(input.credited_days(), 15);
    }
}
