//! A complaint's rows, its state machine ([`ComplaintState::apply`], one [`ComplaintAction`] per call), its
//! categories and channels, and what the API shows of it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{complaint_events, complaint_remedies, complaints};
use crate::db::types::{Id, Ts};
use crate::error::AppError;
use crate::money::Money;

/// Declares a string enum with its wire names, `as_str` and `parse` (one list, so they cannot disagree).
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        // The document's names: utoipa does not read a `rename` whose value comes through the macro, so the
        // variants' snake_case (every wire name is) is stated for the whole enum; serde keeps the wire names.
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            pub fn parse(value: &str) -> Option<$name> {
                match value {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

wire_enum!(
    /// What the complaint is about, in the words after-sales teams file complaints under.
    ComplaintCategory {
        /// The repair did not fix the fault, or broke something else.
        RepairQuality => "repair_quality",
        /// The repair took longer than promised.
        Delay => "delay",
        StaffAttitude => "staff_attitude",
        /// A charge the customer disputes (quote, deposit, damage charge).
        Charges => "charges",
        /// The loaner handset: none offered, faulty, deposit.
        Loaner => "loaner",
        /// Personal data on the phone or in the records.
        DataPrivacy => "data_privacy",
        /// The courier's pickup or delivery.
        Courier => "courier",
        Other => "other",
    }
);

wire_enum!(
    /// How the customer wants to be answered.
    ContactPreference {
        Sms => "sms",
        Phone => "phone",
        /// Do not contact: the answer is on the link only.
        None => "none",
    }
);

wire_enum!(
    /// How the complaint reached the service network.
    ComplaintChannel {
        /// The customer's tracking link.
        Link => "link",
        Phone => "phone",
        WalkIn => "walk_in",
    }
);

wire_enum!(
    /// What the complaint is against.
    ComplaintAbout {
        Ticket => "ticket",
        Store => "store",
        Loan => "loan",
    }
);

wire_enum!(
    /// `open → acknowledged → resolved → closed`; `reopened` from resolved or closed, then acknowledged again or
    /// resolved.
    ComplaintState {
        Open => "open",
        Acknowledged => "acknowledged",
        Resolved => "resolved",
        Closed => "closed",
        Reopened => "reopened",
    }
);

wire_enum!(
    /// A goodwill remedy.
    RemedyKind {
        /// A charge waived (`amount`).
        WaivedCharge => "waived_charge",
        /// Days added to the phone's warranty (`warranty_days`).
        ExtendedWarranty => "extended_warranty",
        /// Compensation paid (`amount`).
        Compensation => "compensation",
    }
);

wire_enum!(
    /// Where the first reply stands.
    ReplyClock {
        /// Not answered yet, due later than the due-soon window.
        Running => "running",
        /// Not answered yet, due within the due-soon window.
        DueSoon => "due_soon",
        /// Not answered, and the due time has passed.
        Breached => "breached",
        /// Answered in time.
        Met => "met",
        /// Answered, late.
        Missed => "missed",
    }
);

wire_enum!(
    /// One step on a complaint's timeline.
    ComplaintEventKind {
        Opened => "opened",
        Acknowledged => "acknowledged",
        /// A message from staff to the customer.
        Replied => "replied",
        Resolved => "resolved",
        Closed => "closed",
        Reopened => "reopened",
        RemedyRecorded => "remedy_recorded",
    }
);

/// What staff (or the customer, for `Reopen`) do to a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComplaintAction {
    Acknowledge,
    Resolve,
    Close,
    Reopen,
}

impl ComplaintState {
    /// The state after `action`, or 409 naming the state the complaint is in.
    pub fn apply(self, action: ComplaintAction) -> Result<ComplaintState, AppError> {
        use ComplaintAction as A;
        use ComplaintState as S;
        match (self, action) {
            (S::Open | S::Reopened, A::Acknowledge) => Ok(S::Acknowledged),
            (S::Acknowledged | S::Reopened, A::Resolve) => Ok(S::Resolved),
            (S::Resolved, A::Close) => Ok(S::Closed),
            (S::Resolved | S::Closed, A::Reopen) => Ok(S::Reopened),
            (state, action) => Err(AppError::conflict(
                "complaint_state",
                format!(
                    "the complaint is {}: it cannot be {} from there",
                    state.as_str(),
                    match action {
                        A::Acknowledge => "acknowledged",
                        A::Resolve => "resolved",
                        A::Close => "closed",
                        A::Reopen => "reopened",
                    }
                ),
            )),
        }
    }

    /// Whether staff may reply in this state (an open complaint's first reply also acknowledges it).
    pub fn takes_replies(self) -> bool {
        matches!(
            self,
            ComplaintState::Open | ComplaintState::Acknowledged | ComplaintState::Reopened
        )
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = complaints)]
pub struct ComplaintRow {
    pub id: Id,
    pub store_id: Id,
    pub about: String,
    pub ticket_id: Option<Id>,
    pub loan_id: Option<Id>,
    pub category: String,
    pub text: String,
    pub contact_preference: String,
    pub channel: String,
    pub state: String,
    pub opened_by: Option<Id>,
    pub owner_id: Option<Id>,
    pub opened_at: Ts,
    pub first_reply_due_at: Ts,
    pub first_reply_at: Option<Ts>,
    pub acknowledged_at: Option<Ts>,
    pub resolved_at: Option<Ts>,
    pub closed_at: Option<Ts>,
    pub resolution: Option<String>,
    pub link_request_key: Option<String>,
    pub link_request_hash: Option<String>,
    pub updated_at: Ts,
}

impl ComplaintRow {
    pub fn state(&self) -> ComplaintState {
        ComplaintState::parse(&self.state).unwrap_or(ComplaintState::Open)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = complaint_events)]
pub struct ComplaintEventRow {
    pub id: Id,
    pub complaint_id: Id,
    pub at: Ts,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub actor_id: Option<Id>,
    pub by_customer: bool,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = complaint_remedies)]
pub struct RemedyRow {
    pub id: Id,
    pub complaint_id: Id,
    pub kind: String,
    pub amount_minor: Option<i64>,
    pub warranty_days: Option<i32>,
    pub note: Option<String>,
    pub approved_by: Id,
    pub approved_at: Ts,
}

/// One step of a complaint's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplaintEvent {
    pub at: DateTime<Utc>,
    pub kind: ComplaintEventKind,
    pub from_state: Option<ComplaintState>,
    pub to_state: Option<ComplaintState>,
    /// The staff key that acted; absent for the customer's own acts.
    pub actor_id: Option<Uuid>,
    /// The customer acted, through the tracking link.
    pub by_customer: bool,
    /// The reply, the resolution or the note.
    pub message: Option<String>,
}

/// A goodwill remedy, with who approved it and when.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = GoodwillRemedy)]
pub struct Remedy {
    pub id: Uuid,
    pub kind: RemedyKind,
    /// The charge waived or the compensation paid.
    pub amount: Option<Money>,
    /// Days added to the warranty.
    pub warranty_days: Option<i32>,
    pub note: Option<String>,
    /// The admin key that approved it.
    pub approved_by: Uuid,
    pub approved_at: DateTime<Utc>,
}

/// A complaint with its clock, timeline and remedies.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Complaint {
    pub id: Uuid,
    pub store_id: Uuid,
    pub about: ComplaintAbout,
    pub ticket_id: Option<Uuid>,
    pub loan_id: Option<Uuid>,
    pub category: ComplaintCategory,
    pub text: String,
    pub contact_preference: ContactPreference,
    pub channel: ComplaintChannel,
    pub state: ComplaintState,
    /// The key that opened it; absent when the customer did, through the link.
    pub opened_by: Option<Uuid>,
    /// The first staff member who acted on it (first-contact responsibility).
    pub owner_id: Option<Uuid>,
    pub opened_at: DateTime<Utc>,
    pub first_reply_due_at: DateTime<Utc>,
    pub first_reply_at: Option<DateTime<Utc>>,
    /// Where the first reply stands at the time of the answer.
    pub reply_clock: ReplyClock,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub timeline: Vec<ComplaintEvent>,
    pub remedies: Vec<Remedy>,
    pub updated_at: DateTime<Utc>,
}

/// A complaint in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplaintSummary {
    pub id: Uuid,
    pub store_id: Uuid,
    pub about: ComplaintAbout,
    pub ticket_id: Option<Uuid>,
    pub category: ComplaintCategory,
    pub channel: ComplaintChannel,
    pub state: ComplaintState,
    pub owner_id: Option<Uuid>,
    pub opened_at: DateTime<Utc>,
    pub first_reply_due_at: DateTime<Utc>,
    pub first_reply_at: Option<DateTime<Utc>>,
    pub reply_clock: ReplyClock,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ComplaintList {
    pub items: Vec<ComplaintSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What the customer sees of a complaint filed or reopened through the link: no staff identities.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublicComplaint {
    pub id: Uuid,
    pub category: ComplaintCategory,
    pub state: ComplaintState,
    pub opened_at: DateTime<Utc>,
    /// When the customer will have had a first answer at the latest.
    pub first_reply_due_at: DateTime<Utc>,
    pub first_reply_at: Option<DateTime<Utc>>,
}

/// A validated new complaint.
#[derive(Debug, Clone)]
pub struct NewComplaint {
    pub target: Target,
    pub category: ComplaintCategory,
    pub text: String,
    pub contact_preference: ContactPreference,
    pub channel: ComplaintChannel,
}

/// What a new complaint is against, as given.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Ticket(Uuid),
    Loan(Uuid),
    Store(Uuid),
}

/// A validated goodwill remedy.
#[derive(Debug, Clone)]
pub struct NewRemedy {
    pub kind: RemedyKind,
    pub amount_minor: Option<i64>,
    pub warranty_days: Option<i32>,
    pub note: Option<String>,
}

/// What the list is narrowed to.
#[derive(Debug, Clone, Copy, Default)]
pub struct ComplaintFilter {
    pub store_id: Option<Uuid>,
    pub state: Option<ComplaintState>,
    pub due: Option<DueFilter>,
}

wire_enum!(
    /// Complaints whose first reply is due soon, or overdue.
    DueFilter {
        /// Not answered yet and due within the due-soon window.
        Soon => "soon",
        /// Not answered yet and past due.
        Breached => "breached",
    }
);
