//! The rules of signing in: how long a failing account waits, when a session has ended, and what a request must
//! show to write under a session.

use chrono::{DateTime, Duration, Utc};

use super::model::MIN_PASSWORD_CHARS;

/// Failures allowed before the account waits: typing slips cost nothing.
pub const FREE_FAILURES: i32 = 2;
/// The first wait, doubled with each further failure.
pub const FIRST_LOCK_SECS: i64 = 30;
/// The longest wait: long enough to make guessing useless, short enough that the real user is not shut out for
/// the day by someone else's guesses.
pub const MAX_LOCK_SECS: i64 = 15 * 60;

/// How long the account waits after its `failed`-th failure in a row: nothing for the first [`FREE_FAILURES`], then
/// 30 s, 1 min, 2 min, … up to 15 minutes.
pub fn lock_for(failed: i32) -> Option<Duration> {
    if failed <= FREE_FAILURES {
        return None;
    }
    let doublings = u32::try_from(failed - FREE_FAILURES - 1).unwrap_or(0).min(16);
    Some(Duration::seconds((FIRST_LOCK_SECS << doublings).min(MAX_LOCK_SECS)))
}

/// Whether a session is still good at `now`: used within the idle timeout and before its absolute end.
pub fn session_live(now: DateTime<Utc>, last_seen: DateTime<Utc>, expires_at: DateTime<Utc>, idle: Duration) -> bool {
    now < expires_at && now < last_seen + idle
}

/// How stale a session's `last_seen_at` may get before a request refreshes it; saves a write on every request,
/// at the cost of the idle timeout being a minute coarse.
pub const LAST_SEEN_GRANULARITY_SECS: i64 = 60;

pub fn last_seen_stale(last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (now - last_seen).num_seconds() >= LAST_SEEN_GRANULARITY_SECS
}

/// Whether an `Origin` header names the host the request was sent to (`Host`). The scheme is not compared: behind
/// a TLS-terminating proxy the server sees plain HTTP while the browser's origin is `https://`.
pub fn same_origin(origin: &str, host: &str) -> bool {
    match origin.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() => !host.is_empty() && rest.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// Whether a token a request carries equals the session's CSRF secret, in constant time.
pub fn csrf_matches(given: &str, secret: &str) -> bool {
    !secret.is_empty() && bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), secret.as_bytes()))
}

/// The page to return to after signing in: only a path of the console itself, never another site
/// (`//evil.example`, `/\evil.example`, `https://…`) nor anything with control characters.
pub fn local_next(next: &str) -> Option<&str> {
    let fits = next.starts_with("/console/")
        && next.len() <= 500
        && !next.contains('\\')
        && !next.contains("//")
        && next.chars().all(|c| !c.is_control());
    fits.then_some(next)
}

/// Why a new password is refused, if it is: shorter than [`MIN_PASSWORD_CHARS`] or longer than the sign-in form takes.
pub fn password_problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Some(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    (chars > MAX_PASSWORD_CHARS).then(|| format!("must be at most {MAX_PASSWORD_CHARS} characters"))
}

/// The longest password accepted: what the sign-in form lets one type.
pub const MAX_PASSWORD_CHARS: usize = 1024;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn each_failure_past_the_free_ones_waits_longer() {
        let cases = [
            (0, None),
            (1, None),
            (2, None),
            (3, Some(30)),
            (4, Some(60)),
            (5, Some(120)),
            (7, Some(480)),
            (8, Some(900)),
            (40, Some(900)),
        ];
        for (failed, secs) in cases {
            assert_eq!(lock_for(failed), secs.map(Duration::seconds), "{failed}");
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_at_its_absolute_end() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let idle = Duration::minutes(30);
        let end = t0 + Duration::hours(12);
        assert!(session_live(t0 + Duration::minutes(29), t0, end, idle));
        assert!(!session_live(t0 + Duration::minutes(30), t0, end, idle));
        assert!(session_live(
            end - Duration::seconds(1),
            end - Duration::minutes(1),
            end,
            idle
        ));
        assert!(!session_live(end, end - Duration::minutes(1), end, idle));
    }

    #[test]
    fn only_the_same_host_is_the_same_origin() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("https://depot.example", "depot.example"));
        assert!(!same_origin("http://evil.example", "depot.example"));
        assert!(!same_origin("http://depot.example.evil.example", "depot.example"));
        assert!(!same_origin("null", "depot.example"));
        assert!(!same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!same_origin("http://", ""));
    }

    #[test]
    fn next_is_a_console_path_only() {
        assert_eq!(local_next("/console/tickets/1?x=2"), Some("/console/tickets/1?x=2"));
        for bad in [
            "//evil.example/console/",
            "https://evil.example/console/",
            "/console//evil",
            "/console/\\x",
            "/api/v1/stores",
            "/console/\r\nSet-Cookie: a=b",
            "",
        ] {
            assert_eq!(local_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_long_enough_and_not_endless() {
        assert!(password_problem("123456789").is_some());
        assert_eq!(password_problem("1234567890"), None);
        assert_eq!(password_problem("密码密码密码密码密码"), None, "characters, not bytes");
        assert!(password_problem(&"x".repeat(1025)).is_some());
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        assert!(csrf_matches("abc", "abc"));
        assert!(!csrf_matches("ab", "abc"));
        assert!(!csrf_matches("", ""));
    }
}
