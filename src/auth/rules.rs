//! When a key's use is worth recording.

use chrono::{DateTime, Utc};

/// How stale `last_used_at` may get before a request refreshes it; saves a write on every request.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

pub fn is_stale(last_used: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used.is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::is_stale;

    #[test]
    fn a_key_use_is_recorded_at_most_once_a_minute() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let cases = [
            (None, true),
            (Some(now), false),
            (Some(now - Duration::seconds(59)), false),
            (Some(now - Duration::seconds(60)), true),
            (Some(now - Duration::days(3)), true),
        ];
        for (last_used, stale) in cases {
            assert_eq!(is_stale(last_used, now), stale, "{last_used:?}");
        }
    }
}
