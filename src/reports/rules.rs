//! The report's arithmetic: one store's figures from its closed tickets' ratings and its complaints' times.

use chrono::{DateTime, Utc};

use super::model::ComplaintTimes;

/// One store's figures, without its name (see [`super::model::StoreSatisfaction`] for what each means).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    pub closed_tickets: i64,
    pub ratings_count: i64,
    pub ratings_average: Option<f64>,
    pub callback_coverage: Option<f64>,
    pub complaints_opened: i64,
    pub first_replies_due: i64,
    pub first_replies_on_time: i64,
    pub first_replies_on_time_share: Option<f64>,
    pub complaints_resolved: i64,
    pub median_hours_to_resolve: Option<f64>,
}

fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64, 4))
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// The figures of a store whose tickets closed in the period carry `ratings` (`None`: not rated) and whose
/// complaints opened in the period have `complaints`' times, as of `now` (a first reply not sent counts as due
/// only once its due time has passed).
pub fn figures(ratings: &[Option<i32>], complaints: &[ComplaintTimes], now: DateTime<Utc>) -> Figures {
    let closed_tickets = ratings.len() as i64;
    let scores: Vec<i32> = ratings.iter().flatten().copied().collect();
    let ratings_count = scores.len() as i64;
    let ratings_average = (!scores.is_empty()).then(|| {
        round(
            scores.iter().map(|s| f64::from(*s)).sum::<f64>() / scores.len() as f64,
            2,
        )
    });
    let due: Vec<&ComplaintTimes> = complaints
        .iter()
        .filter(|c| c.first_reply_at.is_some() || c.first_reply_due_at <= now)
        .collect();
    let on_time = due
        .iter()
        .filter(|c| c.first_reply_at.is_some_and(|at| at <= c.first_reply_due_at))
        .count() as i64;
    let mut hours: Vec<f64> = complaints
        .iter()
        .filter_map(|c| c.resolved_at.map(|r| (r - c.opened_at).num_seconds() as f64 / 3600.0))
        .collect();
    Figures {
        closed_tickets,
        ratings_count,
        ratings_average,
        callback_coverage: share(ratings_count, closed_tickets),
        complaints_opened: complaints.len() as i64,
        first_replies_due: due.len() as i64,
        first_replies_on_time: on_time,
        first_replies_on_time_share: share(on_time, due.len() as i64),
        complaints_resolved: hours.len() as i64,
        median_hours_to_resolve: median(&mut hours).map(|m| round(m, 2)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn medians_of_odd_even_and_no_values() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5.0]), Some(5.0));
        assert_eq!(median(&mut [9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 10.0]), Some(3.0));
    }

    #[test]
    fn a_stores_figures() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let opened = now - Duration::days(5);
        let due = opened + Duration::hours(48);
        let c = |reply: Option<Duration>, resolved: Option<Duration>, opened: DateTime<Utc>| ComplaintTimes {
            opened_at: opened,
            first_reply_due_at: opened + Duration::hours(48),
            first_reply_at: reply.map(|d| opened + d),
            resolved_at: resolved.map(|d| opened + d),
        };
        let complaints = [
            c(Some(Duration::hours(2)), Some(Duration::hours(10)), opened),
            c(Some(Duration::hours(50)), Some(Duration::hours(30)), opened),
            c(None, None, opened),
            // Opened an hour ago: its clock is still running, so it is not yet due.
            c(None, None, now - Duration::hours(1)),
        ];
        assert!(due < now);
        let f = figures(&[Some(5), None, Some(4), Some(2)], &complaints, now);
        assert_eq!(
            f,
            Figures {
                closed_tickets: 4,
                ratings_count: 3,
                ratings_average: Some(3.67),
                callback_coverage: Some(0.75),
                complaints_opened: 4,
                first_replies_due: 3,
                first_replies_on_time: 1,
                first_replies_on_time_share: Some(0.3333),
                complaints_resolved: 2,
                median_hours_to_resolve: Some(20.0),
            }
        );
        assert_eq!(figures(&[], &[], now), Figures::default());
    }
}
