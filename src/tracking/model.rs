//! What the customer's link shows, and the token that opens it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::courier::{Direction, PickupStatus, TrackingEvent};
use crate::money::Money;
use crate::tickets::TicketStatus;
use crate::warranty::{Remedy, Rule};

/// A new token: 256 random bits, base64url without padding (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One leg of the shipment, as the customer sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShipmentView {
    pub direction: Direction,
    pub status: PickupStatus,
    pub tracking_number: Option<String>,
    pub events: Vec<TrackingEvent>,
}

/// One step of the repair, as the customer sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub at: DateTime<Utc>,
    pub status: TicketStatus,
    /// The customer took this step through the link (approved or declined the quote, chose a return).
    pub by_customer: bool,
}

/// The warranty decision, explained to the customer in Chinese and English.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WarrantyView {
    pub rule: Rule,
    /// The repair costs the customer nothing.
    pub free: bool,
    /// What the customer may choose; more than one is a choice to make (`POST .../remedy`).
    pub remedies: Vec<Remedy>,
    /// The customer's choice, once made.
    pub remedy_chosen: Option<Remedy>,
    /// An exchange chosen, waiting for the store: the customer brings the phone in and leaves with the new one.
    pub remedy_awaits_store: bool,
    /// The last free day of the period that applied, when a period decided.
    pub coverage_ends: Option<NaiveDate>,
    pub explanation_zh: String,
    pub explanation_en: String,
}

// Where the latest quote stands. (A plain comment: a doc comment would change the published schema.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuoteState {
    Waiting,
    Approved,
    Declined,
}

impl QuoteState {
    pub fn parse(value: &str) -> QuoteState {
        match value {
            "approved" => QuoteState::Approved,
            "declined" => QuoteState::Declined,
            _ => QuoteState::Waiting,
        }
    }
}

/// One part of the quote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuoteLineView {
    pub name: String,
    pub quantity: i64,
    /// The price quoted for one; absent for a part added after the quote.
    pub unit_price: Option<Money>,
    /// The warranty covers this part: the customer pays nothing for it.
    pub covered: bool,
    /// What the customer pays for this line.
    pub customer_price: Money,
}

/// The quote the customer approves or declines. A declined quote's parts went back to stock and its labour was
/// dropped, so it shows nothing left to pay.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuoteView {
    /// Sent back with the decision (`quote_version`): a quote re-issued since is not decided unseen.
    pub version: i32,
    pub state: QuoteState,
    pub lines: Vec<QuoteLineView>,
    pub labour: Money,
    /// Parts and labour, whoever pays.
    pub total_cost: Money,
    /// What the warranty pays of the total.
    pub warranty_covers: Money,
    /// What the customer pays.
    pub customer_total: Money,
}

/// The customer's rating of the closed repair.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RatingView {
    pub score: i32,
    pub works_now: Option<bool>,
    pub comment: Option<String>,
}

/// What a customer's tracking link shows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackingView {
    pub number: String,
    pub status: TicketStatus,
    pub store_name: String,
    pub store_city: String,
    pub model_name: String,
    /// The first character of the customer's name and a mask, e.g. `W**`.
    pub customer: String,
    /// The phone with all but its last four digits masked.
    pub phone: String,
    pub purchase_date: NaiveDate,
    pub promised_at: Option<DateTime<Utc>>,
    pub steps: Vec<StepView>,
    pub warranty: WarrantyView,
    /// The latest quote, once one was issued.
    pub quote: Option<QuoteView>,
    pub shipments: Vec<ShipmentView>,
    /// The photos and files staff made visible to the customer (intake, diagnosis, repair, quality check), oldest
    /// first, each with links that work without a key for 15 minutes.
    pub photos: Vec<crate::files::CustomerFile>,
    /// The rating, once given (after the ticket closed).
    pub rating: Option<RatingView>,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}
