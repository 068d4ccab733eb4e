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
    /// Earlier repairs overran their promised time by this many days in total: extends the final free-repair end
    /// date by that many days (not the return/exchange windows, not the screen plan).
    pub overrun_days: u32,
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
}
