//! The courier area's rules, pure and tested here: what a partner's event must look like, how a resent event is
//! told from a reused event id, what a pickup's request must hold, and what a leg's progress means for the
//! ticket's loaner and timeline. The pickup's status machine itself is in `model.rs` ([`PickupStatus`]).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{Direction, PickupRequest, PickupStatus, PostEvent, ReschedulePickup};
use crate::error::{AppError, AppResult};
use crate::http::validate::Checks;
use crate::loans::LoanState;

/// How far ahead of the server's clock an event may claim to have happened (clock skew).
const FUTURE_TOLERANCE_SECS: i64 = 300;
/// Largest batch of events in one request.
const MAX_BATCH: usize = 100;

fn validate_event(checks: &mut Checks, prefix: &str, event: &PostEvent, now: DateTime<Utc>) {
    if event.event_id.trim().is_empty() || event.event_id.len() > 100 {
        checks.fail(&format!("{prefix}event_id"), "must be 1 to 100 characters");
    }
    if event.happened_at > now + chrono::Duration::seconds(FUTURE_TOLERANCE_SECS) {
        checks.fail(&format!("{prefix}happened_at"), "is in the future");
    }
    if event.location.as_ref().is_some_and(|l| l.len() > 200) {
        checks.fail(&format!("{prefix}location"), "at most 200 characters");
    }
    if event.note.as_ref().is_some_and(|n| n.len() > 500) {
        checks.fail(&format!("{prefix}note"), "at most 500 characters");
    }
}

/// Refuses a batch whole when it is empty, too long, or has any malformed event.
pub fn validate_events(events: &[PostEvent], now: DateTime<Utc>) -> AppResult<()> {
    let mut checks = Checks::new();
    if events.is_empty() || events.len() > MAX_BATCH {
        checks.fail("events", format!("1 to {MAX_BATCH} events"));
    }
    for (i, event) in events.iter().enumerate() {
        validate_event(&mut checks, &format!("events[{i}]."), event, now);
    }
    checks.finish()
}

/// A partner's tracking number as accepted: 1 to 64 characters, trimmed.
pub fn tracking_number(text: &str) -> AppResult<String> {
    let mut checks = Checks::new();
    let tracking = checks.text("tracking_number", text, 1, 64);
    checks.finish()?;
    Ok(tracking)
}

/// The fingerprint of an event as sent for a pickup: a resend has the same one, an event id reused with other
/// content (or for another pickup) does not.
pub fn body_hash(pickup: Uuid, event: &PostEvent) -> AppResult<String> {
    let body = serde_json::to_vec(event).map_err(anyhow::Error::from)?;
    Ok(Sha256::digest([pickup.as_bytes().as_slice(), &body].concat())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The answer to an event that was not stored, from the body hash stored first under its event id (none: the
/// event is new, and was refused because its pickup is cancelled). `Ok` means a resend, answered as the first
/// time; an event id reused with other content, or a new event on a cancelled pickup, is a 409.
pub fn unstored_event(event_id: &str, first_hash: Option<&str>, body_hash: &str) -> AppResult<()> {
    match first_hash {
        None => Err(AppError::conflict("pickup_cancelled", "the pickup was cancelled")),
        Some(first) if first != body_hash => Err(AppError::conflict(
            "event_id_reused",
            format!("event {event_id} was received before with different content"),
        )),
        Some(_) => Ok(()),
    }
}

/// A pickup request's checked fields: the address, and the contact (the ticket's customer unless given).
#[derive(Debug, PartialEq)]
pub struct CheckedPickup {
    pub address: String,
    pub contact_name: String,
    pub contact_phone: String,
}

/// Checks a pickup request for a ticket whose customer is `customer_name`, `customer_phone`.
pub fn check_pickup_request(
    request: &PickupRequest,
    customer_name: &str,
    customer_phone: &str,
) -> AppResult<CheckedPickup> {
    let mut checks = Checks::new();
    let address = checks.text("pickup.address", &request.address, 1, 500);
    let contact_name = match &request.contact_name {
        Some(n) => checks.text("pickup.contact_name", n, 1, 100),
        None => customer_name.to_owned(),
    };
    let contact_phone = match &request.contact_phone {
        Some(p) => checks.text("pickup.contact_phone", p, 5, 20),
        None => customer_phone.to_owned(),
    };
    check_window(
        &mut checks,
        "pickup.window_end",
        request.window_start,
        request.window_end,
    );
    checks.finish()?;
    Ok(CheckedPickup {
        address,
        contact_name,
        contact_phone,
    })
}

/// A reschedule's checked fields: the new address if one was given, and the window as it will be (each end as
/// given, or as it was).
#[derive(Debug, PartialEq)]
pub struct CheckedReschedule {
    pub address: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
}

/// Checks a reschedule of a leg whose window is `(start, end)` now.
pub fn check_reschedule(
    input: &ReschedulePickup,
    (start, end): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> AppResult<CheckedReschedule> {
    let mut checks = Checks::new();
    let address = input.address.as_ref().map(|a| checks.text("address", a, 1, 500));
    let window_start = input.window_start.or(start);
    let window_end = input.window_end.or(end);
    check_window(&mut checks, "window_end", window_start, window_end);
    checks.finish()?;
    Ok(CheckedReschedule {
        address,
        window_start,
        window_end,
    })
}

/// A time window, where both ends are known, ends after it starts.
fn check_window(checks: &mut Checks, field: &str, start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) {
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            checks.fail(field, "must be after window_start");
        }
    }
}

/// What a leg's move does to the ticket's loan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoanStep {
    Nothing,
    /// The inbound courier collected the phone and handed the reserved loaner over.
    Issue,
    /// The outbound delivery brought the loaner back.
    Return,
    /// The loan ends in this state, with this note, its loaner (if held) going to the next waiter.
    End(LoanState, &'static str),
}

/// What a leg moving `from` → `to` means for the ticket's loan in state `loan`. The loaner travels with the inbound
/// courier to the customer (lent when the phone is picked up) and comes back with the outbound delivery.
///
/// A mail-in loaner travels only with the inbound courier when it collects the phone, so a mail-in loan that the
/// inbound leg did not carry ends with that leg (DESIGN.md, loaner rule 3): a ticket still waiting once the courier
/// has collected the phone (or the leg failed or ended) leaves the queue, since no courier could take it a loaner
/// served later, which would then be held forever; a reservation the leg ended without handing over (a failed
/// pickup, a cancelled one, or one reserved after the collection) expires and its loaner goes to the next waiter.
pub fn loan_step(direction: Direction, from: PickupStatus, to: PickupStatus, loan: LoanState) -> LoanStep {
    let carried = matches!(
        to,
        PickupStatus::PickedUp | PickupStatus::InTransit | PickupStatus::Delivered
    ) && from.rank() < PickupStatus::PickedUp.rank();
    match (direction, loan) {
        (Direction::Inbound, _) if to.rank() < PickupStatus::PickedUp.rank() => LoanStep::Nothing,
        (Direction::Inbound, LoanState::Waiting) => LoanStep::End(
            LoanState::Cancelled,
            "the courier collected the phone (or the leg ended) before a loaner was free",
        ),
        (Direction::Inbound, LoanState::Reserved) if carried => LoanStep::Issue,
        (Direction::Inbound, LoanState::Reserved) => LoanStep::End(
            LoanState::Expired,
            "the inbound courier leg ended without carrying the loaner",
        ),
        (Direction::Outbound, LoanState::Issued) if to == PickupStatus::Delivered => LoanStep::Return,
        _ => LoanStep::Nothing,
    }
}

/// The ticket's timeline entry (kind, note) for a leg reaching `to`: inbound `delivered` marks the device
/// received, outbound `delivered` lets the ticket close.
pub fn ticket_entry(direction: Direction, to: PickupStatus) -> Option<(&'static str, &'static str)> {
    match (direction, to) {
        (Direction::Inbound, PickupStatus::Delivered) => Some(("device_received", "the phone arrived at the store")),
        (Direction::Outbound, PickupStatus::Delivered) => {
            Some(("device_delivered", "the repaired phone reached the customer"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::courier::model::EventType;

    /// Some instant, to count from.
    fn noon() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::hours(12)
    }

    fn event(id: &str, happened_at: DateTime<Utc>) -> PostEvent {
        PostEvent {
            event_id: id.into(),
            event_type: EventType::InTransit,
            happened_at,
            location: None,
            note: None,
        }
    }

    fn bad_fields(result: AppResult<()>) -> Vec<String> {
        match result {
            Ok(()) => vec![],
            Err(AppError::Validation(errors)) => errors.iter().map(|e| e.field.clone()).collect(),
            Err(other) => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn events_are_refused_whole_when_any_is_malformed() {
        let now = noon();
        let ok = event("e1", now);
        let long_note = PostEvent {
            note: Some("x".repeat(501)),
            ..ok.clone()
        };
        let long_location = PostEvent {
            location: Some("x".repeat(201)),
            ..ok.clone()
        };
        let table: Vec<(Vec<PostEvent>, Vec<&str>)> = vec![
            (vec![ok.clone()], vec![]),
            (vec![], vec!["events"]),
            (vec![ok.clone(); 100], vec![]),
            (vec![ok.clone(); 101], vec!["events"]),
            (vec![event(" ", now)], vec!["events[0].event_id"]),
            (vec![event(&"x".repeat(101), now)], vec!["events[0].event_id"]),
            (vec![ok.clone(), event("e2", now + Duration::seconds(300))], vec![]),
            (
                vec![ok.clone(), event("e2", now + Duration::seconds(301))],
                vec!["events[1].happened_at"],
            ),
            (vec![event("late", now - Duration::days(30))], vec![]),
            (
                vec![long_note, long_location],
                vec!["events[0].note", "events[1].location"],
            ),
        ];
        for (events, expected) in table {
            assert_eq!(bad_fields(validate_events(&events, now)), expected, "{events:?}");
        }
    }

    #[test]
    fn a_resend_is_told_from_a_reused_id_and_a_cancelled_pickup() {
        let code = |r: AppResult<()>| r.err().map(|e| e.code().to_owned());
        assert_eq!(code(unstored_event("e1", Some("h"), "h")), None);
        assert_eq!(
            code(unstored_event("e1", Some("h"), "other")),
            Some("event_id_reused".into())
        );
        assert_eq!(code(unstored_event("e1", None, "h")), Some("pickup_cancelled".into()));
    }

    #[test]
    fn the_body_hash_covers_the_pickup_and_the_content() {
        let now = noon();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let first = body_hash(a, &event("e1", now)).ok();
        assert_eq!(first.as_ref().map(String::len), Some(64));
        assert_eq!(body_hash(a, &event("e1", now)).ok(), first, "a resend");
        assert_ne!(body_hash(b, &event("e1", now)).ok(), first, "another pickup");
        let moved = event("e1", now + Duration::seconds(1));
        assert_ne!(body_hash(a, &moved).ok(), first, "other content");
    }

    #[test]
    fn tracking_numbers_are_1_to_64_characters_trimmed() {
        assert_eq!(tracking_number(" SF123 ").ok(), Some("SF123".into()));
        assert!(tracking_number("").is_err());
        assert!(tracking_number("   ").is_err());
        assert!(tracking_number(&"9".repeat(64)).is_ok());
        assert!(tracking_number(&"9".repeat(65)).is_err());
        assert!(tracking_number("SF\u{7}1").is_err());
    }

    #[test]
    fn a_pickup_request_defaults_its_contact_to_the_customer() {
        let start = noon();
        let request = PickupRequest {
            address: " 1 Road ".into(),
            contact_name: None,
            contact_phone: None,
            window_start: Some(start),
            window_end: Some(start + Duration::hours(2)),
            partner_id: None,
        };
        let checked = check_pickup_request(&request, "Li Lei", "13800138000").ok();
        assert_eq!(
            checked,
            Some(CheckedPickup {
                address: "1 Road".into(),
                contact_name: "Li Lei".into(),
                contact_phone: "13800138000".into(),
            })
        );
        let other = PickupRequest {
            contact_name: Some("Han Meimei".into()),
            contact_phone: Some("1390".into()),
            window_end: Some(start),
            address: String::new(),
            ..request
        };
        let fields = bad_fields(check_pickup_request(&other, "Li Lei", "13800138000").map(|_| ()));
        assert_eq!(fields, ["pickup.address", "pickup.contact_phone", "pickup.window_end"]);
    }

    #[test]
    fn a_reschedule_keeps_what_it_does_not_change() {
        let (nine, ten) = (noon() - Duration::hours(3), noon() - Duration::hours(2));
        let input = |address: Option<&str>, start, end| ReschedulePickup {
            address: address.map(str::to_owned),
            window_start: start,
            window_end: end,
            partner_id: None,
        };
        let checked = |address: Option<&str>, start, end| CheckedReschedule {
            address: address.map(str::to_owned),
            window_start: start,
            window_end: end,
        };
        let table = [
            // (input, window now, outcome)
            (
                input(None, None, None),
                (Some(nine), Some(ten)),
                Ok(checked(None, Some(nine), Some(ten))),
            ),
            (
                input(Some(" 2 Road "), None, None),
                (None, None),
                Ok(checked(Some("2 Road"), None, None)),
            ),
            (
                input(None, None, Some(noon())),
                (Some(nine), Some(ten)),
                Ok(checked(None, Some(nine), Some(noon()))),
            ),
            (
                input(None, Some(ten), None),
                (None, Some(nine)),
                Err(vec!["window_end"]),
            ),
            (input(None, Some(ten), Some(ten)), (None, None), Err(vec!["window_end"])),
            (input(Some(""), None, None), (None, None), Err(vec!["address"])),
        ];
        for (input, window, expected) in table {
            let result = check_reschedule(&input, window);
            match expected {
                Ok(fields) => assert_eq!(result.ok(), Some(fields), "{input:?}"),
                Err(bad) => assert_eq!(bad_fields(result.map(|_| ())), bad, "{input:?}"),
            }
        }
    }

    #[test]
    fn the_loaner_travels_with_the_inbound_courier_and_back_with_the_outbound_one() {
        use Direction::{Inbound as In, Outbound as Out};
        use LoanState as L;
        use LoanStep as Step;
        use PickupStatus as S;
        let expire = Step::End(L::Expired, "the inbound courier leg ended without carrying the loaner");
        let leave_queue = Step::End(
            L::Cancelled,
            "the courier collected the phone (or the leg ended) before a loaner was free",
        );
        let table = [
            // Collected: a reserved loaner is handed over, a waiting ticket leaves the queue.
            (In, S::Assigned, S::PickedUp, L::Reserved, Step::Issue),
            (In, S::Requested, S::Delivered, L::Reserved, Step::Issue),
            (In, S::Assigned, S::InTransit, L::Waiting, leave_queue),
            (In, S::Assigned, S::PickedUp, L::Issued, Step::Nothing),
            // Reserved after the collection, or the leg ended without it: the reservation expires.
            (In, S::PickedUp, S::InTransit, L::Reserved, expire),
            (In, S::Assigned, S::Failed, L::Reserved, expire),
            (In, S::Assigned, S::Cancelled, L::Reserved, expire),
            (In, S::Assigned, S::Failed, L::Waiting, leave_queue),
            (In, S::Requested, S::Cancelled, L::Waiting, leave_queue),
            (In, S::Requested, S::Assigned, L::Reserved, Step::Nothing),
            (In, S::Requested, S::Assigned, L::Waiting, Step::Nothing),
            // The outbound delivery brings the loaner back, and nothing else does.
            (Out, S::InTransit, S::Delivered, L::Issued, Step::Return),
            (Out, S::InTransit, S::Delivered, L::Returned, Step::Nothing),
            (Out, S::Assigned, S::PickedUp, L::Issued, Step::Nothing),
            (Out, S::Assigned, S::Failed, L::Issued, Step::Nothing),
            (Out, S::Assigned, S::Cancelled, L::Reserved, Step::Nothing),
            (Out, S::Assigned, S::Cancelled, L::Waiting, Step::Nothing),
        ];
        for (direction, from, to, loan, step) in table {
            assert_eq!(
                loan_step(direction, from, to, loan),
                step,
                "{direction:?} {from:?} → {to:?}, {loan:?}"
            );
        }
    }

    #[test]
    fn a_delivery_writes_the_tickets_timeline() {
        use PickupStatus as S;
        assert_eq!(
            ticket_entry(Direction::Inbound, S::Delivered).map(|e| e.0),
            Some("device_received")
        );
        assert_eq!(
            ticket_entry(Direction::Outbound, S::Delivered).map(|e| e.0),
            Some("device_delivered")
        );
        for to in [S::PickedUp, S::InTransit, S::Failed, S::Cancelled] {
            assert_eq!(ticket_entry(Direction::Inbound, to), None);
            assert_eq!(ticket_entry(Direction::Outbound, to), None);
        }
    }
}
