//! What the customer's link shows, and the token that opens it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::courier::{Direction, PickupStatus, TrackingEvent};
use crate::tickets::TicketStatus;

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
    pub shipments: Vec<ShipmentView>,
    pub updated_at: DateTime<Utc>,
}
