//! Stock arithmetic, with no database in sight: what is available, what the reorder report suggests, and how the
//! ledger's movements add up to a level's `on_hand` and `reserved`.

use crate::http::validate::Checks;

/// Movements that change `on_hand`; the others (`reservation`, `release`) change only `reserved`.
pub const ON_HAND_KINDS: [&str; 5] = ["receipt", "transfer_out", "transfer_in", "adjustment", "consumption"];

/// Movements that change `reserved`: reserved units come in by reservation and leave by release or consumption.
pub const RESERVED_KINDS: [&str; 3] = ["reservation", "release", "consumption"];

/// The most units one receipt line or transfer may move.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// What can still be reserved or moved.
pub fn available(on_hand: i64, reserved: i64) -> i64 {
    on_hand - reserved
}

/// Whether a movement that took `taken` units from what was available left a level with a reorder setting
/// (`point`, `qty`) at or below its reorder point from above it: the moment `stock.low` is raised, once per crossing.
pub fn crossed_reorder_point(available_after: i64, taken: i64, point: i64, qty: i64) -> bool {
    (point > 0 || qty > 0) && taken > 0 && available_after <= point && available_after + taken > point
}

/// Whether a level is low: it has a reorder setting and what is available is at or below its reorder point, the
/// levels the reorder report lists.
pub fn is_low(available: i64, reorder_point: i64, reorder_qty: i64) -> bool {
    (reorder_point > 0 || reorder_qty > 0) && available <= reorder_point
}

/// The reorder report's suggestion: the shortfall below the reorder point plus the reorder quantity.
pub fn suggested_qty(reorder_point: i64, available: i64, reorder_qty: i64) -> i64 {
    (reorder_point - available).max(0) + reorder_qty
}

/// What a movement of `kind` and signed `quantity` adds to a level's `(on_hand, reserved)`, as the ledger check
/// sums them.
pub fn ledger_effect(kind: &str, quantity: i64) -> (i64, i64) {
    let on_hand = if ON_HAND_KINDS.contains(&kind) { quantity } else { 0 };
    let reserved = if RESERVED_KINDS.contains(&kind) { quantity } else { 0 };
    (on_hand, reserved)
}

/// A quantity of units moved at once: 1 to [`MAX_QUANTITY`].
pub fn quantity(checks: &mut Checks, field: &str, q: i64) {
    if !(1..=MAX_QUANTITY).contains(&q) {
        checks.fail(field, "must be a whole number from 1 to 1000000");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn low_stock_is_raised_on_the_crossing_only() {
        use super::crossed_reorder_point as crossed;
        assert!(crossed(5, 1, 5, 10), "6 to 5 reaches the point");
        assert!(crossed(0, 10, 5, 10), "15 to 0 passes it");
        assert!(!crossed(4, 1, 5, 10), "5 to 4 was at it already");
        assert!(!crossed(6, 1, 5, 10), "7 to 6 is still above");
        assert!(!crossed(0, 3, 0, 0), "no reorder setting");
        assert!(
            crossed(0, 3, 0, 5),
            "a reorder quantity alone counts, as in the reorder report"
        );
        assert!(!crossed(5, 0, 5, 10), "nothing taken");
    }

    use super::*;

    #[test]
    fn reorder_suggestions_fill_the_shortfall_then_add_the_reorder_quantity() {
        for (point, available, qty, suggested) in [
            (5, 2, 10, 13),
            (5, 5, 10, 10),
            (5, 7, 10, 10),
            (0, 0, 4, 4),
            (3, -1, 0, 4),
        ] {
            assert_eq!(
                suggested_qty(point, available, qty),
                suggested,
                "{point} {available} {qty}"
            );
        }
    }

    #[test]
    fn a_level_is_low_at_or_below_its_reorder_point_when_it_has_a_setting() {
        for (available, point, qty, low) in [
            (2, 5, 10, true),
            (5, 5, 10, true),
            (6, 5, 10, false),
            (0, 0, 0, false),
            (0, 0, 4, true),
            (-1, 0, 0, false),
        ] {
            assert_eq!(is_low(available, point, qty), low, "{available} {point} {qty}");
        }
    }

    #[test]
    fn each_movement_counts_where_it_belongs() {
        for (kind, q, effect) in [
            ("receipt", 5, (5, 0)),
            ("transfer_out", -2, (-2, 0)),
            ("transfer_in", 2, (2, 0)),
            ("adjustment", -1, (-1, 0)),
            ("reservation", 3, (0, 3)),
            ("release", -3, (0, -3)),
            ("consumption", -1, (-1, -1)),
        ] {
            assert_eq!(ledger_effect(kind, q), effect, "{kind}");
        }
    }

    #[test]
    fn quantities_run_from_one_to_a_million() {
        for (q, ok) in [
            (0, false),
            (1, true),
            (MAX_QUANTITY, true),
            (MAX_QUANTITY + 1, false),
            (-1, false),
        ] {
            let mut checks = Checks::new();
            quantity(&mut checks, "quantity", q);
            assert_eq!(checks.finish().is_ok(), ok, "{q}");
        }
        assert_eq!(available(5, 2), 3);
    }
}
