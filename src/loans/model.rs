//! A loan's rows and states: the loan state machine (one function per transition), the row as stored and the loan
//! as the API shows it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::loans;
use crate::db::types::{Id, Ts};
use crate::error::AppError;
use crate::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoanState {
    /// On the waitlist: no loaner free yet.
    Waiting,
    /// A loaner is held for the customer until hand-over.
    Reserved,
    /// The customer has the loaner.
    Issued,
    Returned,
    Cancelled,
    /// The hold ran out before hand-over.
    Expired,
    Lost,
}

impl LoanState {
    pub fn as_str(self) -> &'static str {
        match self {
            LoanState::Waiting => "waiting",
            LoanState::Reserved => "reserved",
            LoanState::Issued => "issued",
            LoanState::Returned => "returned",
            LoanState::Cancelled => "cancelled",
            LoanState::Expired => "expired",
            LoanState::Lost => "lost",
        }
    }

    pub fn parse(value: &str) -> LoanState {
        match value {
            "waiting" => LoanState::Waiting,
            "reserved" => LoanState::Reserved,
            "issued" => LoanState::Issued,
            "returned" => LoanState::Returned,
            "expired" => LoanState::Expired,
            "lost" => LoanState::Lost,
            _ => LoanState::Cancelled,
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, LoanState::Waiting | LoanState::Reserved | LoanState::Issued)
    }

    /// The state the loaner must be in while the loan is in this one (the database checks it too).
    pub fn loaner_hold(self) -> Option<&'static str> {
        match self {
            LoanState::Reserved => Some("reserved"),
            LoanState::Issued => Some("on_loan"),
            _ => None,
        }
    }

    fn illegal(self, action: &str) -> AppError {
        AppError::conflict(
            "illegal_transition",
            format!("a {} loan cannot be {action}", self.as_str()),
        )
    }

    pub fn issue(self) -> Result<LoanState, AppError> {
        match self {
            LoanState::Reserved => Ok(LoanState::Issued),
            other => Err(other.illegal("issued")),
        }
    }

    pub fn give_back(self) -> Result<LoanState, AppError> {
        match self {
            LoanState::Issued => Ok(LoanState::Returned),
            other => Err(other.illegal("returned")),
        }
    }

    pub fn lose(self) -> Result<LoanState, AppError> {
        match self {
            LoanState::Issued => Ok(LoanState::Lost),
            other => Err(other.illegal("marked lost")),
        }
    }

    pub fn cancel(self) -> Result<LoanState, AppError> {
        match self {
            LoanState::Waiting | LoanState::Reserved => Ok(LoanState::Cancelled),
            LoanState::Issued => Err(loaner_outstanding("cancelling")),
            other => Err(other.illegal("cancelled")),
        }
    }

    pub fn expire(self) -> Result<LoanState, AppError> {
        match self {
            LoanState::Reserved => Ok(LoanState::Expired),
            other => Err(other.illegal("expired")),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = loans)]
pub struct LoanRow {
    pub id: Id,
    pub ticket_id: Id,
    pub loaner_id: Option<Id>,
    pub store_id: Id,
    pub series_id: Id,
    pub state: String,
    pub queued_at: Ts,
    pub reserved_at: Option<Ts>,
    pub hold_until: Option<Ts>,
    pub issued_at: Option<Ts>,
    pub due_at: Option<Ts>,
    pub returned_at: Option<Ts>,
    pub issued_by: Option<Id>,
    pub returned_by: Option<Id>,
    pub deposit_minor: Option<i64>,
    pub return_condition: Option<String>,
    pub missing_accessories: Option<String>,
    pub damage_charge_minor: Option<i64>,
    pub loaner_hold: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A loan of a loaner handset for one repair ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Loan {
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// The loaner held or lent; absent while waiting.
    pub loaner_id: Option<Uuid>,
    /// IMEI of that loaner, for the front desk.
    pub loaner_imei: Option<String>,
    pub store_id: Uuid,
    pub series_id: Uuid,
    pub state: LoanState,
    /// When the ticket joined the queue for a loaner (waitlist order).
    pub queued_at: DateTime<Utc>,
    pub reserved_at: Option<DateTime<Utc>>,
    /// A reservation not handed over by then expires (absent for mail-in: held until the inbound pickup ends).
    pub hold_until: Option<DateTime<Utc>>,
    pub issued_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    pub issued_by: Option<Uuid>,
    pub returned_by: Option<Uuid>,
    pub deposit: Option<Money>,
    pub return_condition: Option<String>,
    pub missing_accessories: Vec<String>,
    pub damage_charge: Option<Money>,
    /// Position on the waitlist of its store and series, 1 first; only while waiting.
    pub waitlist_position: Option<i64>,
}

impl LoanRow {
    /// A newly opened ticket's loan: reserved when `loaner` was claimed for it (held until `hold_until`, see
    /// [`super::rules::hold_until`]), waiting on the queue of its store and series otherwise.
    pub fn for_ticket(
        id: Id,
        ticket: Id,
        store: Id,
        series: Id,
        loaner: Option<Id>,
        hold_until: Option<Ts>,
        now: Ts,
    ) -> LoanRow {
        let state = match loaner {
            Some(_) => LoanState::Reserved,
            None => LoanState::Waiting,
        };
        LoanRow {
            id,
            ticket_id: ticket,
            loaner_id: loaner,
            store_id: store,
            series_id: series,
            state: state.as_str().to_owned(),
            queued_at: now,
            reserved_at: loaner.map(|_| now),
            hold_until: loaner.and(hold_until),
            issued_at: None,
            due_at: None,
            returned_at: None,
            issued_by: None,
            returned_by: None,
            deposit_minor: None,
            return_condition: None,
            missing_accessories: None,
            damage_charge_minor: None,
            loaner_hold: state.loaner_hold().map(str::to_owned),
            created_at: now,
            updated_at: now,
        }
    }

    pub fn state(&self) -> LoanState {
        LoanState::parse(&self.state)
    }

    pub fn to_loan(&self, loaner_imei: Option<String>, waitlist_position: Option<i64>) -> Loan {
        Loan {
            id: self.id.0,
            ticket_id: self.ticket_id.0,
            loaner_id: self.loaner_id.map(Uuid::from),
            loaner_imei,
            store_id: self.store_id.0,
            series_id: self.series_id.0,
            state: self.state(),
            queued_at: self.queued_at.0,
            reserved_at: self.reserved_at.map(DateTime::from),
            hold_until: self.hold_until.map(DateTime::from),
            issued_at: self.issued_at.map(DateTime::from),
            due_at: self.due_at.map(DateTime::from),
            returned_at: self.returned_at.map(DateTime::from),
            issued_by: self.issued_by.map(Uuid::from),
            returned_by: self.returned_by.map(Uuid::from),
            deposit: self.deposit_minor.map(Money::from_minor),
            return_condition: self.return_condition.clone(),
            missing_accessories: self
                .missing_accessories
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
            damage_charge: self.damage_charge_minor.map(Money::from_minor),
            waitlist_position,
        }
    }
}

/// The refusal while the loaner is still with the customer, whatever was asked (cancel a loan or its ticket, close
/// the ticket): one code, `loaner_outstanding`.
pub fn loaner_outstanding(doing: &str) -> AppError {
    AppError::conflict(
        "loaner_outstanding",
        format!("the customer still has the loaner: take it back (or mark it lost) before {doing}"),
    )
}

#[cfg(test)]
mod tests {
    use super::LoanState::*;

    #[test]
    fn transitions_follow_the_loan_lifecycle() {
        assert_eq!(Reserved.issue().ok(), Some(Issued));
        assert_eq!(Issued.give_back().ok(), Some(Returned));
        assert_eq!(Issued.lose().ok(), Some(Lost));
        assert_eq!(Waiting.cancel().ok(), Some(Cancelled));
        assert_eq!(Reserved.cancel().ok(), Some(Cancelled));
        assert_eq!(Reserved.expire().ok(), Some(Expired));
        for (state, action) in [
            (Waiting, Waiting.issue()),
            (Expired, Expired.issue()),
            (Returned, Returned.give_back()),
            (Reserved, Reserved.give_back()),
            (Reserved, Reserved.lose()),
            (Issued, Issued.expire()),
            (Returned, Returned.cancel()),
        ] {
            assert!(action.is_err(), "{state:?}");
        }
        assert_eq!(Issued.cancel().err().map(|e| e.code()), Some("loaner_outstanding"));
        assert_eq!(Reserved.loaner_hold(), Some("reserved"));
        assert_eq!(Issued.loaner_hold(), Some("on_loan"));
        assert_eq!(Waiting.loaner_hold(), None);
    }
}
