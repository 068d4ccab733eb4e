//! The loan rules a desk would explain to a customer: how long a reserved loaner is held, when a loan is due back.
//! Pure functions, no database in sight.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::types::Ts;

/// Default loan length when the desk gives no due time.
pub const DEFAULT_LOAN_DAYS: i64 = 14;

/// A mail-in customer's loaner travels with the inbound courier: it is held until that pickup ends, not by the clock.
pub fn hold_until(channel: &str, now: Ts, hold: Duration) -> Option<Ts> {
    (channel != "mail_in").then(|| Ts(now.0 + chrono::Duration::from_std(hold).unwrap_or_default()))
}

/// Whether a reservation's hold has run out by `now` (a hold without a clock never does).
pub fn hold_ran_out(hold_until: Option<Ts>, now: DateTime<Utc>) -> bool {
    hold_until.is_some_and(|h| h.0 < now)
}

/// When a loan handed over at `now` is due back unless the desk says otherwise (the courier's hand-over too).
pub fn default_due(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::days(DEFAULT_LOAN_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> Ts {
        Ts(DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default() + chrono::Duration::hours(hours))
    }

    #[test]
    fn a_walk_in_hold_runs_by_the_clock_and_a_mail_in_hold_does_not() {
        let hold = Duration::from_secs(48 * 3600);
        for (channel, expected) in [("walk_in", Some(at(48))), ("mail_in", None)] {
            assert_eq!(hold_until(channel, at(0), hold), expected, "{channel}");
        }
    }

    #[test]
    fn a_hold_runs_out_only_after_its_time() {
        for (hold_until, now, expected) in [
            (None, at(100), false),
            (Some(at(48)), at(47), false),
            (Some(at(48)), at(48), false),
            (Some(at(48)), at(49), true),
        ] {
            assert_eq!(hold_ran_out(hold_until, now.0), expected, "{hold_until:?} at {now:?}");
        }
    }

    #[test]
    fn a_loan_is_due_two_weeks_after_hand_over() {
        assert_eq!(default_due(at(0).0), at(14 * 24).0);
    }
}
