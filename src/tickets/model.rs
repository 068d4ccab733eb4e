//! The ticket's rows, its status machine ([`TicketStatus::apply`] with one [`TicketAction`] per explicit call) and
//! its timeline entries.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{ticket_events, tickets};
use crate::db::types::{Id, Ts};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    WalkIn,
    MailIn,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WalkIn => "walk_in",
            Channel::MailIn => "mail_in",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Received,
    Diagnosing,
    AwaitingApproval,
    Repairing,
    QualityCheck,
    ReadyForPickup,
    Closed,
    Cancelled,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Received => "received",
            TicketStatus::Diagnosing => "diagnosing",
            TicketStatus::AwaitingApproval => "awaiting_approval",
            TicketStatus::Repairing => "repairing",
            TicketStatus::QualityCheck => "quality_check",
            TicketStatus::ReadyForPickup => "ready_for_pickup",
            TicketStatus::Closed => "closed",
            TicketStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> TicketStatus {
        match value {
            "received" => TicketStatus::Received,
            "diagnosing" => TicketStatus::Diagnosing,
            "awaiting_approval" => TicketStatus::AwaitingApproval,
            "repairing" => TicketStatus::Repairing,
            "quality_check" => TicketStatus::QualityCheck,
            "ready_for_pickup" => TicketStatus::ReadyForPickup,
            "closed" => TicketStatus::Closed,
            _ => TicketStatus::Cancelled,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Cancelled)
    }

    /// The status after `action`, or why the ticket cannot take it from here.
    pub fn apply(self, action: TicketAction) -> Result<TicketStatus, AppError> {
        use TicketAction as A;
        use TicketStatus as S;
        let next = match (self, action) {
            (S::Received, A::StartDiagnosis) => S::Diagnosing,
            (S::Diagnosing, A::RequestApproval) => S::AwaitingApproval,
            // A free repair needs no approval; an approved quote starts the repair; a failed check goes back.
            (S::Diagnosing | S::AwaitingApproval | S::QualityCheck, A::StartRepair) => S::Repairing,
            (S::Repairing, A::StartQualityCheck) => S::QualityCheck,
            (S::QualityCheck, A::MarkReady) => S::ReadyForPickup,
            (S::ReadyForPickup, A::Close) => S::Closed,
            // A declined quote: the phone goes back unrepaired.
            (S::AwaitingApproval, A::DeclineQuote) => S::ReadyForPickup,
            (s, A::Cancel) if !s.is_final() => S::Cancelled,
            (s, action) => {
                return Err(AppError::conflict(
                    "illegal_transition",
                    format!("a ticket in status {} cannot {}", s.as_str(), action.verb()),
                ));
            }
        };
        Ok(next)
    }
}

/// The explicit calls that move a ticket along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketAction {
    StartDiagnosis,
    RequestApproval,
    StartRepair,
    StartQualityCheck,
    MarkReady,
    Close,
    Cancel,
    DeclineQuote,
}

impl TicketAction {
    pub fn verb(self) -> &'static str {
        match self {
            TicketAction::StartDiagnosis => "start diagnosis",
            TicketAction::RequestApproval => "request approval",
            TicketAction::StartRepair => "start repair",
            TicketAction::StartQualityCheck => "start quality check",
            TicketAction::MarkReady => "be marked ready for pickup",
            TicketAction::Close => "be closed",
            TicketAction::Cancel => "be cancelled",
            TicketAction::DeclineQuote => "decline a quote",
        }
    }
}

/// The columns a ticket list shows: a page of these is a few KB, where full rows would carry each warranty
/// decision's JSON (most of a ticket row's 1.3 KB) for nothing.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tickets)]
pub struct TicketListRow {
    pub id: Id,
    pub number: String,
    pub store_id: Id,
    pub model_id: Id,
    pub channel: String,
    pub status: String,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub device_imei: String,
    pub customer_name: String,
    pub promised_at: Option<Ts>,
    pub ready_at: Option<Ts>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tickets)]
pub struct TicketRow {
    pub id: Id,
    pub number: String,
    pub store_id: Id,
    pub customer_name: String,
    pub customer_phone: String,
    pub device_imei: String,
    pub model_id: Id,
    pub purchase_date: NaiveDate,
    pub channel: String,
    pub reported_fault: String,
    pub accessories: String,
    pub finding_liquid: bool,
    pub finding_drop: bool,
    pub finding_crush: bool,
    pub finding_tampering: bool,
    pub finding_cosmetic: Option<String>,
    pub extended_warranty: bool,
    pub screen_plan: bool,
    pub covered_item: String,
    pub fault_kind: String,
    pub certificate: String,
    pub force_majeure: bool,
    pub prior_overrun_days: i32,
    pub warranty_decision: Option<String>,
    pub status: String,
    pub promised_at: Option<Ts>,
    pub tracking_token_hash: Option<String>,
    pub labour_minor: i64,
    pub rating: Option<i32>,
    pub rating_comment: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub closed_at: Option<Ts>,
    /// The device's record; absent only on tickets older than device records that were left duplicate open.
    pub device_id: Option<Id>,
    pub customer_id: Option<Id>,
    /// When the phone reached the network: the opening for a walk-in, the inbound delivery for a mail-in.
    pub received_at: Option<Ts>,
    /// When the ticket was (last) marked ready for pickup.
    pub ready_at: Option<Ts>,
    /// The customer's choice among the decision's remedies, when it offered one.
    pub remedy: Option<String>,
    pub remedy_chosen_at: Option<Ts>,
    pub remedy_chosen_by: Option<Id>,
    /// `returned` or `exchanged` when the ticket ended that way.
    pub outcome: Option<String>,
    pub refund_minor: Option<i64>,
    pub replacement_device_id: Option<Id>,
    /// Bumped by every quote issued; 0 before the first.
    pub quote_version: i32,
    /// `waiting`, `approved` or `declined`: where the latest quote stands; absent before the first.
    pub quote_state: Option<String>,
    /// The rating's answer to "does it work now?", when it was asked.
    pub rating_works_now: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ticket_events)]
pub struct TicketEventRow {
    pub id: Id,
    pub ticket_id: Id,
    pub at: Ts,
    pub api_key_id: Option<Id>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: Option<String>,
    pub by_customer: bool,
}

/// Who acts on a ticket: a key's holder (staff, a partner), or the customer through their tracking link (no key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Key(Uuid),
    Customer,
}

impl Actor {
    /// The key that acted, if one did.
    pub fn key(self) -> Option<Uuid> {
        match self {
            Actor::Key(k) => Some(k),
            Actor::Customer => None,
        }
    }
}

/// One entry of a ticket's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketEvent {
    pub at: DateTime<Utc>,
    /// `opened`, `status_changed`, `findings_changed`, `loan_reserved`, `loan_issued`, `loan_returned`, …
    pub kind: String,
    pub from_status: Option<TicketStatus>,
    pub to_status: Option<TicketStatus>,
    pub note: Option<String>,
    /// The key that acted; absent for the system (expiry, waitlist) and for the customer.
    pub api_key_id: Option<Uuid>,
    /// The console user who acted (through a session; their key is `api_key_id`); absent for a plain API key,
    /// the system and the customer.
    pub username: Option<String>,
    /// The customer acted, through their tracking link.
    pub by_customer: bool,
}

impl From<TicketEventRow> for TicketEvent {
    fn from(r: TicketEventRow) -> Self {
        TicketEvent {
            at: r.at.0,
            kind: r.kind,
            from_status: r.from_status.as_deref().map(TicketStatus::parse),
            to_status: r.to_status.as_deref().map(TicketStatus::parse),
            note: r.note,
            api_key_id: r.api_key_id.map(Uuid::from),
            username: None,
            by_customer: r.by_customer,
        }
    }
}

impl TicketEventRow {
    /// A timeline entry stamped now, not yet written (see [`super::repo::record_events`]).
    pub fn new(
        ticket: Id,
        actor: Option<uuid::Uuid>,
        kind: &str,
        from: Option<TicketStatus>,
        to: Option<TicketStatus>,
        note: Option<&str>,
    ) -> TicketEventRow {
        TicketEventRow {
            id: Id(Uuid::now_v7()),
            ticket_id: ticket,
            at: Ts(crate::now()),
            api_key_id: actor.map(Id),
            kind: kind.to_owned(),
            from_status: from.map(|s| s.as_str().to_owned()),
            to_status: to.map(|s| s.as_str().to_owned()),
            note: note.map(str::to_owned),
            by_customer: false,
        }
    }

    /// As [`TicketEventRow::new`], by `actor`: a key's holder, or the customer through the link.
    pub fn by(
        ticket: Id,
        actor: Actor,
        kind: &str,
        from: Option<TicketStatus>,
        to: Option<TicketStatus>,
        note: Option<&str>,
    ) -> TicketEventRow {
        TicketEventRow {
            by_customer: actor == Actor::Customer,
            ..TicketEventRow::new(ticket, actor.key(), kind, from, to, note)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TicketAction as A;
    use super::TicketStatus as S;

    #[test]
    fn the_status_machine_allows_only_its_transitions() {
        let walk = [
            (S::Received, A::StartDiagnosis, S::Diagnosing),
            (S::Diagnosing, A::RequestApproval, S::AwaitingApproval),
            (S::AwaitingApproval, A::StartRepair, S::Repairing),
            (S::Diagnosing, A::StartRepair, S::Repairing),
            (S::Repairing, A::StartQualityCheck, S::QualityCheck),
            (S::QualityCheck, A::StartRepair, S::Repairing),
            (S::QualityCheck, A::MarkReady, S::ReadyForPickup),
            (S::ReadyForPickup, A::Close, S::Closed),
            (S::Repairing, A::Cancel, S::Cancelled),
            (S::AwaitingApproval, A::DeclineQuote, S::ReadyForPickup),
        ];
        for (from, action, to) in walk {
            assert_eq!(from.apply(action).ok(), Some(to), "{from:?} {action:?}");
        }
        let refused = [
            (S::Received, A::StartRepair),
            (S::Received, A::Close),
            (S::Repairing, A::MarkReady),
            (S::ReadyForPickup, A::StartRepair),
            (S::Closed, A::Cancel),
            (S::Cancelled, A::Cancel),
            (S::Cancelled, A::StartDiagnosis),
            (S::Repairing, A::DeclineQuote),
        ];
        for (from, action) in refused {
            assert_eq!(
                from.apply(action).err().map(|e| e.code()),
                Some("illegal_transition"),
                "{from:?} {action:?}"
            );
        }
    }
}
