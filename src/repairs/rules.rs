//! What a repair costs, with no database in sight: a line's cost and what the customer pays for it, a ticket's
//! totals with labour, and whether the warranty decision makes the repair free.

use crate::error::AppError;
use crate::warranty::WarrantyDecision;

/// What a line costs at its quoted price (nothing before it is quoted), and what the customer pays for it:
/// nothing when the warranty covers it.
pub fn line_prices(unit_price_minor: Option<i64>, quantity: i64, covered: bool) -> (i64, i64) {
    let cost = unit_price_minor.unwrap_or(0) * quantity;
    (cost, if covered { 0 } else { cost })
}

/// A ticket's totals, in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub labour: i64,
    /// Parts and labour at quoted prices, whoever pays.
    pub total_cost: i64,
    /// What the customer pays: nothing for what the warranty covers.
    pub customer_total: i64,
}

/// The totals of a ticket whose (unreleased) lines cost `parts_cost` and charge the customer `parts_customer`:
/// labour counts in the cost always, and in the customer's total unless the warranty makes the repair free.
pub fn totals(parts_cost: i64, parts_customer: i64, labour: i64, free: bool) -> Totals {
    Totals {
        labour,
        total_cost: parts_cost + labour,
        customer_total: parts_customer + if free { 0 } else { labour },
    }
}

/// Whether a ticket's stored warranty decision makes the repair free for the customer (no decision, or one that
/// cannot be read: not free).
pub fn decision_is_free(decision: Option<&str>) -> bool {
    decision
        .and_then(|d| serde_json::from_str::<WarrantyDecision>(d).ok())
        .is_some_and(|d| d.free)
}

/// The timeline note of a quote.
pub fn quote_note(covered: bool) -> &'static str {
    if covered {
        "quote: covered by the warranty"
    } else {
        "quote sent for approval"
    }
}

/// The timeline note of a declined quote. A declined quote bills nothing: no diagnosis fee is published, so its
/// labour is dropped (the timeline keeps what was quoted) and the released parts cost nothing either.
pub fn decline_note(labour_minor: i64) -> String {
    if labour_minor > 0 {
        format!(
            "quote declined (labour {} not billed): returned unrepaired",
            crate::money::Money::from_minor(labour_minor).amount
        )
    } else {
        "quote declined: returned unrepaired".to_owned()
    }
}

/// The customer's decision on a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteDecision {
    Approve,
    Decline,
}

impl QuoteDecision {
    /// The quote's state once decided so.
    pub fn state(self) -> &'static str {
        match self {
            QuoteDecision::Approve => "approved",
            QuoteDecision::Decline => "declined",
        }
    }
}

/// Whether the customer, who saw version `seen` of the quote, may take `decision` on a ticket whose latest quote
/// is `version` in `state`, or why not (409): no quote, a quote re-issued since they saw it, or a quote decided
/// already (`quote_already_approved` for the same approval again, `quote_approved` for a decline of an approved
/// one, `quote_declined` for either on a declined one). A quote is decided once: a retry that should answer as the
/// first did carries the first's `Idempotency-Key`.
pub fn check_quote_decision(
    state: Option<&str>,
    version: i32,
    seen: i32,
    decision: QuoteDecision,
) -> Result<(), AppError> {
    let Some(state) = state else {
        return Err(AppError::conflict(
            "no_quote",
            "the repair has no quote to approve or decline",
        ));
    };
    if seen != version {
        return Err(AppError::conflict(
            "quote_changed",
            format!("the quote was re-issued since version {seen}: it is version {version} now; read it again"),
        ));
    }
    match (state, decision) {
        ("waiting", _) => Ok(()),
        ("approved", QuoteDecision::Approve) => Err(AppError::conflict(
            "quote_already_approved",
            "the quote was approved already",
        )),
        ("approved", QuoteDecision::Decline) => {
            Err(AppError::conflict("quote_approved", "the quote was approved already"))
        }
        _ => Err(AppError::conflict("quote_declined", "the quote was declined already")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quote_is_decided_once_on_the_version_seen() {
        use QuoteDecision::*;
        for (state, version, seen, decision, answer) in [
            (Some("waiting"), 1, 1, Approve, Ok(())),
            (Some("waiting"), 2, 2, Decline, Ok(())),
            (Some("approved"), 1, 1, Approve, Err("quote_already_approved")),
            (Some("declined"), 1, 1, Decline, Err("quote_declined")),
            (Some("approved"), 1, 1, Decline, Err("quote_approved")),
            (Some("declined"), 1, 1, Approve, Err("quote_declined")),
            (Some("waiting"), 2, 1, Approve, Err("quote_changed")),
            (Some("approved"), 2, 1, Approve, Err("quote_changed")),
            (None, 0, 0, Approve, Err("no_quote")),
        ] {
            assert_eq!(
                check_quote_decision(state, version, seen, decision).map_err(|e| e.code()),
                answer,
                "{state:?} v{version} seen v{seen} {decision:?}"
            );
        }
    }

    #[test]
    fn a_covered_line_keeps_its_cost_and_charges_nothing() {
        for (price, quantity, covered, prices) in [
            (None, 2, false, (0, 0)),
            (Some(9900), 1, false, (9900, 9900)),
            (Some(9900), 2, false, (19800, 19800)),
            (Some(9900), 2, true, (19800, 0)),
        ] {
            assert_eq!(
                line_prices(price, quantity, covered),
                prices,
                "{price:?} x{quantity} {covered}"
            );
        }
    }

    #[test]
    fn labour_is_charged_unless_the_repair_is_free() {
        for (cost, customer, labour, free, total_cost, customer_total) in [
            (0, 0, 0, false, 0, 0),
            (19800, 19800, 5000, false, 24800, 24800),
            (19800, 0, 5000, true, 24800, 0),
            (19800, 9900, 0, true, 19800, 9900),
        ] {
            let t = totals(cost, customer, labour, free);
            assert_eq!(
                (t.labour, t.total_cost, t.customer_total),
                (labour, total_cost, customer_total)
            );
        }
    }

    #[test]
    fn only_a_readable_free_decision_is_free() {
        assert!(!decision_is_free(None));
        assert!(!decision_is_free(Some("not json")));
        assert_eq!(decline_note(0), "quote declined: returned unrepaired");
        assert_eq!(
            decline_note(5000),
            "quote declined (labour 50.00 not billed): returned unrepaired"
        );
        assert_eq!(quote_note(true), "quote: covered by the warranty");
    }
}
