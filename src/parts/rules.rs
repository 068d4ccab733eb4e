//! The catalog's rules, with no database in sight: SKUs, prices and warranties a part may carry, how far back a
//! price change may take effect, and how a search text becomes a pattern.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::model::PartCategory;
use crate::http::validate::Checks;
use crate::money::Money;

/// The longest warranty a part may carry, in months.
pub const MAX_WARRANTY_MONTHS: u32 = 60;
/// How far in the past a price change may take effect: enough for a late entry of today's change, not enough to
/// rewrite the prices earlier quotes were made at.
pub const BACKDATE_LIMIT_HOURS: i64 = 24;
/// Most compatible models (or series) one request may list.
pub const MAX_COMPATIBLE: usize = 200;

/// The warranty of a part of this category when none is given: the accessory periods of the "three
/// guarantees" rules (battery 6 months, charger 12, wired earphones 3), and 3 months for any other part.
pub fn default_warranty_months(category: PartCategory) -> u32 {
    match category {
        PartCategory::Battery => 6,
        PartCategory::Charger => 12,
        PartCategory::Earphones => 3,
        _ => 3,
    }
}

/// A SKU: 1-64 letters, digits, `-` or `_`, upper-cased.
pub fn sku(checks: &mut Checks, field: &str, value: &str) -> String {
    let sku = value.trim().to_ascii_uppercase();
    if sku.is_empty() || sku.len() > 64 {
        checks.fail(field, "must be 1 to 64 characters");
    } else if !sku.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        checks.fail(field, "may hold only letters, digits, '-' and '_'");
    }
    sku
}

/// A price in fen, not negative.
pub fn money(checks: &mut Checks, field: &str, value: &Money) -> i64 {
    value.to_minor_non_negative().unwrap_or_else(|why| {
        checks.fail(&format!("{field}.amount"), why);
        0
    })
}

/// A part's own warranty, at most [`MAX_WARRANTY_MONTHS`].
pub fn warranty(checks: &mut Checks, months: u32) -> i32 {
    if months > MAX_WARRANTY_MONTHS {
        checks.fail("warranty_months", format!("must be at most {MAX_WARRANTY_MONTHS}"));
    }
    i32::try_from(months).unwrap_or(i32::MAX)
}

/// A compatibility list of at most [`MAX_COMPATIBLE`] ids.
pub fn compatible_count(checks: &mut Checks, field: &str, ids: &[Uuid]) {
    if ids.len() > MAX_COMPATIBLE {
        checks.fail(field, format!("may list at most {MAX_COMPATIBLE} ids"));
    }
}

/// When a price change takes effect: `at` (now when absent), cut to microseconds as PostgreSQL keeps it so the
/// answer is what is stored, and not more than [`BACKDATE_LIMIT_HOURS`] before `now`.
pub fn effective_at(checks: &mut Checks, at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    let at = crate::to_micros(at.unwrap_or(now));
    if at < now - Duration::hours(BACKDATE_LIMIT_HOURS) {
        checks.fail(
            "effective_at",
            format!("must not be more than {BACKDATE_LIMIT_HOURS} hours in the past"),
        );
    }
    at
}

/// `%` and `_` in a search text match themselves, not any text.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warranty_defaults_follow_the_category() {
        for (category, months) in [
            (PartCategory::Battery, 6),
            (PartCategory::Charger, 12),
            (PartCategory::Earphones, 3),
            (PartCategory::Screen, 3),
            (PartCategory::Other, 3),
        ] {
            assert_eq!(category.default_warranty_months(), months, "{category:?}");
        }
    }

    #[test]
    fn categories_round_trip_through_their_stored_names() {
        for category in PartCategory::ALL {
            assert_eq!(PartCategory::parse(category.as_str()), category);
            let json = serde_json::to_string(&category).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", category.as_str()));
        }
    }

    #[test]
    fn skus_are_upper_cased_and_checked() {
        let mut checks = Checks::new();
        assert_eq!(sku(&mut checks, "a", " scr-m60_1 "), "SCR-M60_1");
        assert!(Checks::finish(checks).is_ok());
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            let mut checks = Checks::new();
            sku(&mut checks, "sku", bad);
            assert!(checks.finish().is_err(), "{bad:?}");
        }
        let mut checks = Checks::new();
        sku(&mut checks, "sku", &"X".repeat(64));
        assert!(checks.finish().is_ok());
    }

    #[test]
    fn search_text_matches_itself() {
        assert_eq!(like_pattern("mate"), "%mate%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn price_changes_may_take_effect_a_day_back_at_most() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        for (hours_back, ok) in [(0, true), (-48, true), (23, true), (24, true), (25, false)] {
            let mut checks = Checks::new();
            let at = effective_at(&mut checks, Some(now - Duration::hours(hours_back)), now);
            assert_eq!(checks.finish().is_ok(), ok, "{hours_back}");
            assert_eq!(at, now - Duration::hours(hours_back));
        }
        let mut checks = Checks::new();
        assert_eq!(effective_at(&mut checks, None, now), now);
    }
}
