//! The warranty decision's input ([`WarrantyInput`] with what was found), the configurable [`Policy`], and the
//! decision ([`WarrantyDecision`]: remedies, the [`Rule`] that decided, the explanation).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What is being repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoveredItem {
    Handset,
    Battery,
    Charger,
    WiredEarphones,
}

impl CoveredItem {
    pub fn label(self) -> &'static str {
        match self {
            CoveredItem::Handset => "handset",
            CoveredItem::Battery => "battery",
            CoveredItem::Charger => "charger",
            CoveredItem::WiredEarphones => "wired earphones",
        }
    }
}

/// The kind of fault: a performance fault not caused by the user, or accidental damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Performance,
    ScreenDamage,
    BackCoverDamage,
    OtherDamage,
}

impl FaultKind {
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Performance => "performance fault",
            FaultKind::ScreenDamage => "accidental screen damage",
            FaultKind::BackCoverDamage => "accidental back-cover damage",
            FaultKind::OtherDamage => "accidental damage",
        }
    }
}

/// The warranty certificate or invoice presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Certificate {
    Valid,
    Missing,
    /// The IMEI on the certificate differs from the device's.
    Mismatched,
    Altered,
}

/// What the technician found on inspection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Findings {
    pub liquid: bool,
    pub drop: bool,
    pub crush: bool,
    /// Unauthorized disassembly or repair.
    pub tampering: bool,
}

/// Everything the decision depends on besides the [`Policy`]; echoed in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WarrantyInput {
    pub purchase_date: NaiveDate,
    /// Local date at the store (the caller converts with the store's time zone).
    pub today: NaiveDate,
    pub item: CoveredItem,
    pub fault: FaultKind,
    pub findings: Findings,
    pub certificate: Certificate,
    pub force_majeure: bool,
    /// Adds `extended_months` to the handset's free-repair period (not to accessories, windows or the screen plan).
    pub extended_warranty: bool,
    /// Covers accidental screen and back-cover damage of the handset for `screen_plan_months` from purchase.
    pub screen_plan: bool,
    /// Days the device spent with the network for earlier covered repairs (received to ready for pickup), counted
    /// by Depot from its tickets.
    #[serde(default)]
    pub repair_days: u32,
    /// Days by which earlier repairs that were not covered overran their promised time (a covered repair's overrun
    /// is already inside its `repair_days`).
    pub overrun_days: u32,
    /// Days an admin credited by hand, with a reason on the audit log, and warranty days granted as goodwill on a
    /// complaint.
    #[serde(default)]
    pub correction_days: u32,
    /// Earlier free repairs of this handset for a performance fault within its warranty: after two, a third
    /// failure may be exchanged or returned.
    #[serde(default)]
    pub prior_repairs: u32,
}

impl WarrantyInput {
    /// The days that extend the free-repair end date (not the return/exchange windows, not the screen plan):
    /// repair days, overrun days and corrections together.
    pub fn credited_days(&self) -> u32 {
        self.repair_days
            .saturating_add(self.overrun_days)
            .saturating_add(self.correction_days)
    }
}

/// The configurable periods; [`Policy::default`] is the national rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    /// Handset: return, exchange or free repair while `d <= return_days`.
    pub return_days: u32,
    /// Handset: exchange or free repair while `d <= exchange_days`.
    pub exchange_days: u32,
    pub handset_months: u32,
    pub battery_months: u32,
    pub charger_months: u32,
    pub wired_earphones_months: u32,
    /// Added to the handset's free-repair period by an extended warranty.
    pub extended_months: u32,
    pub screen_plan_months: u32,
    /// A refund after the return window loses this much of the price per day, in hundredths of a percent
    /// (50 = 0.5 % a day, the national rule).
    #[serde(default = "national_depreciation")]
    pub daily_depreciation_bp: u32,
}

fn national_depreciation() -> u32 {
    50
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            return_days: 7,
            exchange_days: 15,
            handset_months: 12,
            battery_months: 6,
            charger_months: 12,
            wired_earphones_months: 3,
            extended_months: 12,
            screen_plan_months: 12,
            daily_depreciation_bp: national_depreciation(),
        }
    }
}

impl Policy {
    /// The item's own free-repair period in months, before any extension.
    pub fn item_months(&self, item: CoveredItem) -> u32 {
        match item {
            CoveredItem::Handset => self.handset_months,
            CoveredItem::Battery => self.battery_months,
            CoveredItem::Charger => self.charger_months,
            CoveredItem::WiredEarphones => self.wired_earphones_months,
        }
    }
}

/// What the customer may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    Return,
    Exchange,
    FreeRepair,
    PaidRepair,
}

/// The rule that decided. The snake_case strings are part of the API: never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
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
    /// Repaired twice for a performance fault within the warranty and failing again: exchange or return offered.
    RepeatedRepairs,
}

impl Rule {
    /// True for the rules that exclude the device before any period is looked at (and for a purchase date in the
    /// future); their decisions have no `coverage_ends`.
    pub fn is_exclusion(self) -> bool {
        matches!(
            self,
            Rule::LiquidDamage
                | Rule::PhysicalDamage
                | Rule::Tampering
                | Rule::CertificateMissing
                | Rule::CertificateMismatched
                | Rule::CertificateAltered
                | Rule::ForceMajeure
                | Rule::PurchaseDateInFuture
        )
    }
}

/// The outcome, with enough to explain it to the customer later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WarrantyDecision {
    /// What the customer may choose, e.g. `[return, exchange, free_repair]`; `[paid_repair]` when not covered.
    pub remedies: Vec<Remedy>,
    /// True when the repair costs the customer nothing (the remedies contain no `paid_repair`).
    pub free: bool,
    pub rule: Rule,
    /// One plain English sentence staff can read to the customer, naming the dates.
    pub explanation: String,
    /// `today - purchase_date` in days (negative when the purchase date is in the future).
    pub days_since_purchase: i64,
    /// Last free day of the period that was applied, after extensions: set when a period decided (the windows,
    /// the screen plan, and `period_expired`, where it is the day the period ended); `None` when an exclusion or a
    /// purchase date in the future decided before any period was looked at.
    pub coverage_ends: Option<NaiveDate>,
    /// Echo of the inputs.
    pub inputs: WarrantyInput,
    /// The policy the decision applied.
    #[serde(default)]
    pub policy: AppliedPolicy,
}

/// Which policy a decision applied: the national rule, or a series' own from a date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppliedPolicy {
    /// The series' policy record; absent for the national rule.
    pub id: Option<uuid::Uuid>,
    /// `national` or `series`.
    pub source: PolicySource,
    /// The day the series' policy took effect; absent for the national rule.
    pub effective_from: Option<NaiveDate>,
    pub terms: Policy,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicySource {
    #[default]
    National,
    Series,
}

impl AppliedPolicy {
    pub fn national() -> AppliedPolicy {
        AppliedPolicy::default()
    }
}

/// A series' own policy from a date, as stored.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, diesel::Insertable)]
#[diesel(table_name = crate::db::schema::warranty_policies)]
pub struct PolicyRow {
    pub id: crate::db::types::Id,
    pub series_id: crate::db::types::Id,
    pub effective_from: NaiveDate,
    pub return_days: i32,
    pub exchange_days: i32,
    pub handset_months: i32,
    pub battery_months: i32,
    pub charger_months: i32,
    pub wired_earphones_months: i32,
    pub extended_months: i32,
    pub screen_plan_months: i32,
    pub daily_depreciation_bp: i32,
    pub note: Option<String>,
    pub api_key_id: Option<crate::db::types::Id>,
    pub created_at: crate::db::types::Ts,
}

impl PolicyRow {
    pub fn terms(&self) -> Policy {
        let n = |v: i32| u32::try_from(v).unwrap_or(0);
        Policy {
            return_days: n(self.return_days),
            exchange_days: n(self.exchange_days),
            handset_months: n(self.handset_months),
            battery_months: n(self.battery_months),
            charger_months: n(self.charger_months),
            wired_earphones_months: n(self.wired_earphones_months),
            extended_months: n(self.extended_months),
            screen_plan_months: n(self.screen_plan_months),
            daily_depreciation_bp: n(self.daily_depreciation_bp),
        }
    }

    pub fn applied(&self) -> AppliedPolicy {
        AppliedPolicy {
            id: Some(self.id.0),
            source: PolicySource::Series,
            effective_from: Some(self.effective_from),
            terms: self.terms(),
        }
    }
}

/// What is presented at the counter for one claim, whether a ticket is opened for it or only checked: the item, the
/// fault, what inspection found, the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub item: CoveredItem,
    pub fault: FaultKind,
    pub findings: Findings,
    pub certificate: Certificate,
    pub force_majeure: bool,
}

/// A series' warranty policy from a date, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WarrantyPolicy {
    pub id: uuid::Uuid,
    pub series_id: uuid::Uuid,
    /// The first day (local to each store) on which decisions for the series' phones use this policy; it stays in
    /// force until a later policy of the series takes effect.
    pub effective_from: NaiveDate,
    pub return_days: u32,
    pub exchange_days: u32,
    pub handset_months: u32,
    pub battery_months: u32,
    pub charger_months: u32,
    pub wired_earphones_months: u32,
    pub extended_months: u32,
    pub screen_plan_months: u32,
    /// Percent of the price a refund loses per day after the return window, with two decimals (e.g. `"0.50"`).
    #[schema(example = "0.50")]
    pub daily_depreciation: String,
    pub note: Option<String>,
    /// The key that created it.
    pub created_by: Option<uuid::Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<PolicyRow> for WarrantyPolicy {
    fn from(row: PolicyRow) -> Self {
        let terms = row.terms();
        WarrantyPolicy {
            id: row.id.0,
            series_id: row.series_id.0,
            effective_from: row.effective_from,
            return_days: terms.return_days,
            exchange_days: terms.exchange_days,
            handset_months: terms.handset_months,
            battery_months: terms.battery_months,
            charger_months: terms.charger_months,
            wired_earphones_months: terms.wired_earphones_months,
            extended_months: terms.extended_months,
            screen_plan_months: terms.screen_plan_months,
            daily_depreciation: super::rules::depreciation_text(terms.daily_depreciation_bp),
            note: row.note,
            created_by: row.api_key_id.map(|k| k.0),
            created_at: row.created_at.0,
        }
    }
}

/// A warranty check without a ticket (a dry run), as parsed from its request.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub imei: crate::imei::Imei,
    /// The store whose time zone gives today.
    pub store_id: uuid::Uuid,
    pub claim: Claim,
    /// For a phone Depot has no record of (required then); for a known one it must agree with the record.
    pub purchase_date: Option<NaiveDate>,
    /// As `purchase_date`.
    pub model_id: Option<uuid::Uuid>,
}
