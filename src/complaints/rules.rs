//! The complaint rules a person would explain: where the first reply's clock stands, what text is acceptable, and
//! how long the customer may reopen a resolved complaint through the link.

use chrono::{DateTime, Duration, Utc};

use super::model::ReplyClock;

/// Longest complaint text, reply, resolution or note, in characters.
pub const MAX_TEXT: usize = 2000;
/// Longest remedy note, in characters.
pub const MAX_NOTE: usize = 1000;
/// A first reply due within this is "due soon".
pub const DUE_SOON: Duration = Duration::hours(6);
/// How long after its resolution the customer may reopen a complaint through the link (staff may at any time).
pub const CUSTOMER_REOPEN_WINDOW: Duration = Duration::days(14);
/// Most warranty days one remedy may add (three years).
pub const MAX_WARRANTY_DAYS: i32 = 1095;

/// Where a first reply due at `due` stands at `now`, answered at `replied` or not yet.
pub fn reply_clock(due: DateTime<Utc>, replied: Option<DateTime<Utc>>, now: DateTime<Utc>) -> ReplyClock {
    match replied {
        Some(at) if at <= due => ReplyClock::Met,
        Some(_) => ReplyClock::Missed,
        None if now >= due => ReplyClock::Breached,
        None if due - now <= DUE_SOON => ReplyClock::DueSoon,
        None => ReplyClock::Running,
    }
}

/// The text trimmed, or why it cannot be a complaint's (or a reply's) text: longer than `max` characters as
/// sent, or blank.
pub fn text(value: &str, max: usize) -> Result<String, String> {
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("must not be blank".to_owned());
    }
    Ok(trimmed.to_owned())
}

/// Whether the customer may still reopen a complaint resolved at `resolved` (a closed one keeps its resolution
/// time).
pub fn customer_may_reopen(resolved: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    resolved.is_some_and(|at| now - at <= CUSTOMER_REOPEN_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_clock_runs_goes_due_soon_breaches_and_stops_at_the_reply() {
        let opened = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let due = opened + Duration::hours(48);
        let cases = [
            (opened, None, ReplyClock::Running),
            (
                due - Duration::hours(6) - Duration::seconds(1),
                None,
                ReplyClock::Running,
            ),
            (due - Duration::hours(6), None, ReplyClock::DueSoon),
            (due - Duration::seconds(1), None, ReplyClock::DueSoon),
            (due, None, ReplyClock::Breached),
            (due + Duration::days(3), None, ReplyClock::Breached),
            (due + Duration::days(3), Some(due), ReplyClock::Met),
            (due + Duration::days(3), Some(opened), ReplyClock::Met),
            (
                due + Duration::days(3),
                Some(due + Duration::seconds(1)),
                ReplyClock::Missed,
            ),
        ];
        for (now, replied, expected) in cases {
            assert_eq!(reply_clock(due, replied, now), expected, "{now} {replied:?}");
        }
    }

    #[test]
    fn text_must_say_something_within_bounds() {
        assert_eq!(
            text("  the screen flickers  ", 23),
            Ok("the screen flickers".to_owned())
        );
        assert!(text("  the screen flickers  ", 22).is_err(), "counted as sent");
        assert!(text("", 20).is_err());
        assert!(text(" \t\n ", 20).is_err());
        assert_eq!(text(&"屏".repeat(20), 20).map(|t| t.chars().count()), Ok(20));
        assert!(text(&"屏".repeat(21), 20).is_err());
    }

    #[test]
    fn the_customer_may_reopen_within_the_window_after_resolution() {
        let resolved = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        assert!(!customer_may_reopen(None, resolved));
        assert!(customer_may_reopen(Some(resolved), resolved + Duration::days(14)));
        assert!(!customer_may_reopen(
            Some(resolved),
            resolved + Duration::days(14) + Duration::seconds(1)
        ));
    }
}
