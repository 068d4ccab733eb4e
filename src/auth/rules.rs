//! When a key's use is worth recording.

use chrono::{DateTime, Utc};

/// How stale `last_used_at` may get before a request refreshes it; saves a write on every request.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

pub fn is_stale(last_used: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used.is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS)
}
