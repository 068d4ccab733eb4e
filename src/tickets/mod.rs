//! Repair tickets: the status machine, the timeline, numbers.

pub mod http;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Conn;
use crate::db::schema::{ticket_events, tickets};
use crate::db::types::{Id, Ts};
use crate::error::{AppError, AppResult};
use crate::with_conn;

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
    /// The key that acted; absent for the system (expiry, waitlist).
    pub api_key_id: Option<Uuid>,
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
        }
    }
}

impl TicketEventRow {
    /// A timeline entry stamped now, not yet written (see [`record_events`]).
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
        }
    }
}

/// Appends an entry to a ticket's timeline.
pub fn record_event(
    conn: &mut Conn<'_>,
    ticket: Id,
    actor: Option<uuid::Uuid>,
    kind: &str,
    from: Option<TicketStatus>,
    to: Option<TicketStatus>,
    note: Option<&str>,
) -> AppResult<TicketEventRow> {
    let row = TicketEventRow::new(ticket, actor, kind, from, to, note);
    record_events(conn, std::slice::from_ref(&row))?;
    Ok(row)
}

/// Writes timeline entries made with [`TicketEventRow::new`], several in one statement.
pub fn record_events(conn: &mut Conn<'_>, rows: &[TicketEventRow]) -> AppResult<()> {
    match rows {
        [] => {}
        // One row stays a plain insert: diesel runs a multi-row insert with nullable columns on SQLite row by row
        // inside a savepoint, which would add two statements to every timeline entry there.
        [row] => {
            with_conn!(conn, c => diesel::insert_into(ticket_events::table).values(row).execute(c))?;
        }
        _ => {
            with_conn!(conn, c => diesel::insert_into(ticket_events::table).values(rows).execute(c))?;
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct NextNumber {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

/// The next human-facing ticket number, e.g. `RT-2026-000123`. PostgreSQL uses a sequence (no row lock held for
/// the transaction, numbers may skip on rollback); SQLite, with one writer at a time, a counter row.
pub fn next_number(conn: &mut Conn<'_>, year: i32) -> AppResult<String> {
    let value = match conn {
        Conn::Pg(c) => {
            diesel::sql_query("SELECT nextval('ticket_number_seq') AS value").get_result::<NextNumber>(*c)?
        }
        Conn::Sqlite(c) => diesel::sql_query(
            "INSERT INTO counters (name, value) VALUES ('ticket_number', 1) \
             ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        )
        .get_result::<NextNumber>(*c)?,
    };
    Ok(format!("RT-{year}-{:06}", value.value))
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
