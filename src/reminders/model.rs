//! Reminders' kinds, states, stored rows and settings.

use std::time::Duration;

use chrono::NaiveTime;
use diesel::prelude::*;

use crate::db::schema::reminders;
use crate::db::types::{Id, Ts};

/// What a reminder tells the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    /// The ticket was opened: its number and the tracking link.
    TicketOpened,
    /// A quote waits for the customer's approval.
    QuoteWaiting,
    /// The phone is ready: the same day, again the next day, then weekly until collected.
    ReadyForPickup,
    /// The loaner is due back tomorrow.
    LoanerDue,
    /// The loaner is overdue.
    LoanerOverdue,
    /// The courier is bringing the phone.
    CourierOnTheWay,
}

impl ReminderKind {
    pub const ALL: [ReminderKind; 6] = [
        ReminderKind::TicketOpened,
        ReminderKind::QuoteWaiting,
        ReminderKind::ReadyForPickup,
        ReminderKind::LoanerDue,
        ReminderKind::LoanerOverdue,
        ReminderKind::CourierOnTheWay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::TicketOpened => "ticket_opened",
            ReminderKind::QuoteWaiting => "quote_waiting",
            ReminderKind::ReadyForPickup => "ready_for_pickup",
            ReminderKind::LoanerDue => "loaner_due",
            ReminderKind::LoanerOverdue => "loaner_overdue",
            ReminderKind::CourierOnTheWay => "courier_on_the_way",
        }
    }

    pub fn parse(name: &str) -> Option<ReminderKind> {
        ReminderKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Where a reminder is: `pending` until sent, or ended as `sent`, `skipped` (no consent, no customer), `cancelled`
/// (what it was about is over: the ticket closed, the loaner returned) or `failed` (the gateway refused it on every
/// attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderState {
    Pending,
    Sent,
    Skipped,
    Cancelled,
    Failed,
}

impl ReminderState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderState::Pending => "pending",
            ReminderState::Sent => "sent",
            ReminderState::Skipped => "skipped",
            ReminderState::Cancelled => "cancelled",
            ReminderState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reminders)]
pub struct ReminderRow {
    pub id: Id,
    pub dedupe_key: String,
    pub ticket_id: Id,
    pub subject_id: Id,
    pub customer_id: Option<Id>,
    pub store_id: Id,
    pub kind: String,
    pub sequence_no: i32,
    pub event_id: Id,
    pub link: Option<String>,
    pub due_at: Ts,
    pub state: String,
    pub attempts: i32,
    pub claimed_until: Option<Ts>,
    pub claim_token: Option<Id>,
    pub body: Option<String>,
    pub channel: Option<String>,
    pub sent_at: Option<Ts>,
    pub reason: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// The language of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Zh,
    En,
}

impl Language {
    pub fn parse(value: &str) -> Option<Language> {
        match value {
            "zh" => Some(Language::Zh),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

/// The HTTP SMS gateway's settings; its key comes from the environment only (`DEPOT_SMS_API_KEY`).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub url: String,
    pub api_key: String,
    /// The signature the provider shows before the text (`【Depot】`), as registered with it.
    pub sign_name: String,
    /// The provider's template id for free text (providers in China require registered templates).
    pub template_id: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ReminderSettings {
    /// How often this instance plans and sends reminders; zero turns the loop off.
    pub interval: Duration,
    /// Where customers open their tracking link (`{base}/api/v1/public/tracking/{token}`).
    pub public_base_url: String,
    /// Quiet hours in the store's time zone: a message due from `quiet_start` to `quiet_end` waits for the end.
    pub quiet_start: NaiveTime,
    pub quiet_end: NaiveTime,
    /// The language for customers with a Chinese number (mainland, Hong Kong, Macau, Taiwan); others get English.
    pub language: Language,
    /// The HTTP SMS gateway; none sends through the log.
    pub gateway: Option<GatewaySettings>,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        ReminderSettings {
            interval: Duration::from_secs(30),
            public_base_url: "http://127.0.0.1:8080".to_owned(),
            quiet_start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            quiet_end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            language: Language::Zh,
            gateway: None,
        }
    }
}
