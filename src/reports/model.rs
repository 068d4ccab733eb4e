//! The satisfaction report's rows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One store's satisfaction and complaints in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoreSatisfaction {
    pub store_id: Uuid,
    pub store_code: String,
    pub store_name: String,
    /// Tickets closed in the period.
    pub closed_tickets: i64,
    /// Of those, the ones the customer rated (the callback).
    pub ratings_count: i64,
    /// Their average score (1 to 5), to two decimals; absent with no rating.
    pub ratings_average: Option<f64>,
    /// Closed tickets rated / closed tickets, 0 to 1 to four decimals; absent with no closed ticket.
    pub callback_coverage: Option<f64>,
    /// Complaints opened in the period.
    pub complaints_opened: i64,
    /// Of those, the ones whose first reply was sent or is overdue (the clock has run out or stopped).
    pub first_replies_due: i64,
    /// Of those, the ones answered by their due time.
    pub first_replies_on_time: i64,
    /// First replies on time / first replies due, 0 to 1 to four decimals; absent when none was due.
    pub first_replies_on_time_share: Option<f64>,
    /// Complaints opened in the period and resolved since.
    pub complaints_resolved: i64,
    /// Median hours from opening to resolution of those, to two decimals; absent when none was resolved.
    pub median_hours_to_resolve: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SatisfactionReport {
    /// The period's start (included).
    pub from: DateTime<Utc>,
    /// The period's end (excluded).
    pub to: DateTime<Utc>,
    /// One row per store, in store code order.
    pub stores: Vec<StoreSatisfaction>,
}

/// A complaint's times, as the report counts them.
#[derive(Debug, Clone, Copy)]
pub struct ComplaintTimes {
    pub opened_at: DateTime<Utc>,
    pub first_reply_due_at: DateTime<Utc>,
    pub first_reply_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}
