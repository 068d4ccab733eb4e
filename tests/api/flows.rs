//! The README's flows under races: idempotent duplicates, a claim rolled back beside a concurrent opening, a
//! mail-in ticket whose courier legs end or are cancelled, and cancellations racing the courier.

use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use depot::db::Engine;
use depot::db::types::{Id, Ts};
use depot::error::AppError;
use depot::loans::{Queue, claim_loaner, sweep};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::courier::{Courier, partner as courier};
use crate::helpers::{Resp, TestApp, spawn_app, test_engine};
use crate::tickets::{premium, step, ticket_body};

const HOLD: Duration = Duration::from_secs(48 * 3600);

fn id_of(value: &Value) -> Id {
    Id(Uuid::from_str(value.as_str().unwrap_or_default()).unwrap_or_default())
}

fn now() -> Ts {
    Ts(depot::now())
}

fn open_with_key(app: &TestApp, body: &Value, key: &str) -> Resp {
    app.send(
        "POST",
        "/api/v1/tickets",
        Some(&app.admin_key),
        &[("Idempotency-Key", key)],
        &body.to_string(),
    )
}

fn loaner_state(app: &TestApp, loaner: &str) -> Value {
    app.get_admin(&format!("/api/v1/loaners/{loaner}")).body["state"].clone()
}

#[test]
fn identical_openings_sent_at_once_never_strand_the_ticket_beside_a_free_loaner() {
    let app = spawn_app();
    let p = premium(&app, "STORM", 1);
    for round in 0..50 {
        let body = ticket_body(&p, "walk_in");
        let key = format!("storm-{round}");
        let answers: Vec<Resp> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| open_with_key(&app, &body, &key))).collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        assert_eq!(answers.len(), 8);
        let ticket = answers[0].id();
        for answer in &answers {
            assert_eq!(answer.status, 201, "round {round}: {}", answer.text);
            assert_eq!(answer.id(), ticket, "round {round}: one ticket for one key");
            assert_eq!(
                answer.body["loan"]["state"], "reserved",
                "round {round}: the only free loaner is reserved, not left beside a waiter: {}",
                answer.text
            );
        }
        let read = app.get_admin(&format!("/api/v1/tickets/{ticket}"));
        assert_eq!(read.body["loan"]["state"], "reserved", "round {round}: {}", read.text);
        let loaner = read.body["loan"]["loaner_id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(loaner_state(&app, &loaner), "reserved", "round {round}");
        // Cancelling frees the loaner for the next round.
        let cancelled = step(&app, &ticket, "cancel");
        assert_eq!(cancelled.status, 200, "round {round}: {}", cancelled.text);
        assert_eq!(loaner_state(&app, &loaner), "available", "round {round}");
    }
}

#[test]
fn a_claim_rolled_back_beside_a_concurrent_opening_is_served_by_the_sweep() {
    let app = spawn_app();
    let p = premium(&app, "ROLL", 1);
    let (store, series) = (id_of(&json!(p.store)), id_of(&json!(p.series)));
    let (claimed_tx, claimed_rx) = mpsc::channel();
    let (fail_tx, fail_rx) = mpsc::channel::<()>();
    let opened = std::thread::scope(|s| {
        // A transaction claims the only loaner, holds it while a ticket is opened, then fails and rolls back.
        let db = app.db.clone();
        let claimer = s.spawn(move || {
            db.write(|conn| {
                let claimed = claim_loaner(conn, store, series, now(), Queue::MustBeEmpty)?;
                let _ = claimed_tx.send(claimed.is_some());
                let _ = fail_rx.recv_timeout(Duration::from_secs(30));
                Err::<(), _>(AppError::conflict("forced", "rolled back on purpose"))
            })
        });
        assert_eq!(
            claimed_rx.recv_timeout(Duration::from_secs(30)),
            Ok(true),
            "the claim took the loaner"
        );
        let opening = s.spawn(|| crate::tickets::open(&app, &p));
        let opened = match test_engine() {
            // PostgreSQL: the opening skips the locked loaner and joins the queue while the claim is held.
            Engine::Postgres => {
                let opened = opening.join().ok();
                let _ = fail_tx.send(());
                opened
            }
            // SQLite runs one writer at a time: the opening waits for the claim to roll back.
            Engine::Sqlite => {
                let _ = fail_tx.send(());
                opening.join().ok()
            }
        };
        let rolled_back = claimer.join().ok();
        assert!(
            matches!(rolled_back, Some(Err(AppError::Conflict { code: "forced", .. }))),
            "the claim's transaction failed"
        );
        opened
    });
    let opened = opened.unwrap_or_else(|| panic!("the opening panicked"));
    let ticket = opened.id();
    let before = app.get_admin(&format!("/api/v1/tickets/{ticket}"));
    if test_engine() == Engine::Postgres {
        assert_eq!(
            before.body["loan"]["state"], "waiting",
            "the opening skipped the claimed loaner: {}",
            before.text
        );
    }
    let swept = sweep(&app.db, now(), HOLD).unwrap_or_else(|e| panic!("sweeping: {e}"));
    let after = app.get_admin(&format!("/api/v1/tickets/{ticket}"));
    assert_eq!(after.body["loan"]["state"], "reserved", "{}", after.text);
    assert_eq!(after.body["loan"]["waitlist_position"], Value::Null);
    let expected_served = usize::from(before.body["loan"]["state"] == "waiting");
    assert_eq!(swept.served, expected_served);
    assert_eq!(swept.expired, 0);
    let loaner = after.body["loan"]["loaner_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(loaner_state(&app, &loaner), "reserved");
    // A second sweep, as another instance would run it, finds nothing left to do.
    let again = sweep(&app.db, now(), HOLD).unwrap_or_else(|e| panic!("sweeping again: {e}"));
    assert_eq!((again.expired, again.served), (0, 0));
}

fn mail_in(app: &TestApp, p: &crate::tickets::Premium, c: &Courier, tracking: &str) -> (Resp, String) {
    let mut body = ticket_body(p, "mail_in");
    body["pickup"]["partner_id"] = json!(c.partner);
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    let pickup = opened.body["pickups"][0]["id"].as_str().unwrap_or_default().to_owned();
    let accepted = app.post(
        &format!("/api/v1/courier/pickups/{pickup}/accept"),
        &c.key,
        &json!({"tracking_number": tracking}),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    (opened, pickup)
}

fn courier_event(app: &TestApp, c: &Courier, pickup: &str, id: &str, kind: &str) -> Resp {
    app.post(
        &format!("/api/v1/courier/pickups/{pickup}/events"),
        &c.key,
        &json!({"event_id": id, "type": kind, "happened_at": chrono::Utc::now() - chrono::Duration::seconds(5)}),
    )
}

fn partner_sees(app: &TestApp, c: &Courier, pickup: &str) -> Value {
    let list = app.get("/api/v1/courier/pickups?limit=200", Some(&c.key));
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == pickup)
        .map(|p| p["status"].clone())
        .unwrap_or(Value::Null)
}

fn ticket(app: &TestApp, id: &str) -> Value {
    let res = app.get_admin(&format!("/api/v1/tickets/{id}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

#[test]
fn cancelling_a_mail_in_ticket_cancels_its_open_legs_and_refuses_their_later_events() {
    let app = spawn_app();
    let p = premium(&app, "LEGS", 2);
    let c = courier(&app, "LEGS");
    let (opened, pickup) = mail_in(&app, &p, &c, "L-1");
    assert_eq!(partner_sees(&app, &c, &pickup), "assigned");
    let cancelled = step(&app, &opened.id(), "cancel");
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["pickups"][0]["status"], "cancelled");
    assert_eq!(
        partner_sees(&app, &c, &pickup),
        "cancelled",
        "the partner sees the leg cancelled"
    );
    let before = ticket(&app, &opened.id())["timeline"].clone();
    courier_event(&app, &c, &pickup, "late-1", "picked_up").problem(409, "pickup_cancelled");
    let after = ticket(&app, &opened.id());
    assert_eq!(
        after["pickups"][0]["status"], "cancelled",
        "the late event moved nothing"
    );
    assert_eq!(
        after["timeline"], before,
        "nothing reached the cancelled ticket's timeline"
    );
    assert_eq!(after["loan"]["state"], "cancelled");

    // A leg the courier has under way carries the phone: the ticket cannot be cancelled from under it.
    let (carried, leg) = mail_in(&app, &p, &c, "L-2");
    assert_eq!(courier_event(&app, &c, &leg, "go-1", "picked_up").status, 200);
    step(&app, &carried.id(), "cancel").problem(409, "pickup_under_way");
    let unchanged = ticket(&app, &carried.id());
    assert_eq!(unchanged["status"], "received");
    assert_eq!(unchanged["pickups"][0]["status"], "picked_up");
    assert_eq!(unchanged["loan"]["state"], "issued");
}

#[test]
fn a_mail_in_ticket_still_waiting_when_the_courier_collects_leaves_the_queue() {
    let app = spawn_app();
    let p = premium(&app, "WAITM", 1);
    let c = courier(&app, "WAITM");
    let holder = crate::tickets::open(&app, &p);
    assert_eq!(holder.body["loan"]["state"], "reserved");
    let (collected, collected_leg) = mail_in(&app, &p, &c, "W-1");
    let (failed, failed_leg) = mail_in(&app, &p, &c, "W-2");
    let (delivered, delivered_leg) = mail_in(&app, &p, &c, "W-3");
    let walk_in = crate::tickets::open(&app, &p);
    for t in [&collected, &failed, &delivered, &walk_in] {
        assert_eq!(t.body["loan"]["state"], "waiting", "{}", t.text);
    }
    assert_eq!(courier_event(&app, &c, &collected_leg, "w-1", "picked_up").status, 200);
    assert_eq!(
        courier_event(&app, &c, &failed_leg, "w-2", "returned_to_sender").status,
        200
    );
    assert_eq!(courier_event(&app, &c, &delivered_leg, "w-3", "delivered").status, 200);
    for t in [&collected, &failed, &delivered] {
        let read = ticket(&app, &t.id());
        assert_eq!(
            read["loan"]["state"], "cancelled",
            "no courier can carry it a loaner now: {read}"
        );
        assert!(
            read["timeline"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["kind"] == "loan_cancelled"),
            "the timeline says why"
        );
    }
    assert_eq!(ticket(&app, &walk_in.id())["loan"]["waitlist_position"], 1);
    // The loaner freed next goes to the walk-in customer, with a clock on its hold.
    assert_eq!(step(&app, &holder.id(), "cancel").status, 200);
    let served = ticket(&app, &walk_in.id());
    assert_eq!(served["loan"]["state"], "reserved", "{served}");
    assert!(
        served["loan"]["hold_until"].is_string(),
        "a walk-in hold runs by the clock"
    );
}

#[test]
fn serving_a_queue_skips_a_mail_in_waiter_whose_inbound_leg_is_over() {
    use depot::db::schema::pickups;
    use diesel::prelude::*;
    let app = spawn_app();
    let p = premium(&app, "SKIPM", 1);
    let c = courier(&app, "SKIPM");
    let holder = crate::tickets::open(&app, &p);
    let (stale, leg) = mail_in(&app, &p, &c, "S-1");
    let walk_in = crate::tickets::open(&app, &p);
    assert_eq!(stale.body["loan"]["state"], "waiting");
    // A leg that ended without its event reaching the loan (data from before the courier ended such waits).
    let leg_id = id_of(&json!(leg));
    app.db
        .write(|conn| {
            Ok(depot::with_conn!(conn, c => diesel::update(pickups::table.find(leg_id))
                .set(pickups::status.eq("delivered")).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("ending the leg: {e}"));
    assert_eq!(step(&app, &holder.id(), "cancel").status, 200);
    let skipped = ticket(&app, &stale.id());
    assert_eq!(
        skipped["loan"]["state"], "cancelled",
        "no hold nothing would end: {skipped}"
    );
    let served = ticket(&app, &walk_in.id());
    assert_eq!(
        served["loan"]["state"], "reserved",
        "the walk-in customer behind it is served: {served}"
    );
}

#[test]
fn the_sweep_ends_a_mail_in_hold_that_no_courier_leg_is_left_to_carry() {
    use depot::db::schema::pickups;
    use diesel::prelude::*;
    let app = spawn_app();
    let p = premium(&app, "ORPH", 1);
    let c = courier(&app, "ORPH");
    let (held, leg) = mail_in(&app, &p, &c, "O-1");
    let (carried, _) = mail_in(&app, &p, &c, "O-2");
    let walk_in = crate::tickets::open(&app, &p);
    crate::tickets::add_loaner(&app, &p, "A");
    // The second loaner went to the second mail-in ticket, whose leg is still to collect: it stays held.
    assert_eq!(ticket(&app, &carried.id())["loan"]["state"], "reserved");
    assert_eq!(held.body["loan"]["state"], "reserved");
    // The first ticket's leg failed without its event reaching the loan (data from before the courier ended holds).
    let leg_id = id_of(&json!(leg));
    app.db
        .write(|conn| {
            Ok(depot::with_conn!(conn, c => diesel::update(pickups::table.find(leg_id))
                .set(pickups::status.eq("failed")).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("ending the leg: {e}"));
    let swept = sweep(&app.db, now(), HOLD).unwrap_or_else(|e| panic!("sweeping: {e}"));
    assert_eq!(swept.expired, 1);
    assert_eq!(ticket(&app, &held.id())["loan"]["state"], "expired");
    assert_eq!(
        ticket(&app, &carried.id())["loan"]["state"],
        "reserved",
        "a hold with a leg to come is kept"
    );
    let served = ticket(&app, &walk_in.id());
    assert_eq!(
        served["loan"]["state"], "reserved",
        "the loaner went to the next waiter: {served}"
    );
}

#[test]
fn cancelling_the_inbound_pickup_ends_the_mail_in_hold() {
    let app = spawn_app();
    let p = premium(&app, "HOLDX", 1);
    let c = courier(&app, "HOLDX");
    let (held, leg) = mail_in(&app, &p, &c, "H-1");
    assert_eq!(held.body["loan"]["state"], "reserved");
    assert_eq!(
        held.body["loan"]["hold_until"],
        Value::Null,
        "held until the inbound leg ends"
    );
    let walk_in = crate::tickets::open(&app, &p);
    assert_eq!(walk_in.body["loan"]["state"], "waiting");
    let cancelled = app.post_admin(&format!("/api/v1/pickups/{leg}/cancel"), &json!({}));
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(ticket(&app, &held.id())["loan"]["state"], "expired");
    let served = ticket(&app, &walk_in.id());
    assert_eq!(
        served["loan"]["state"], "reserved",
        "the loaner went to the next waiter: {served}"
    );
}

#[test]
fn a_loan_issued_by_the_courier_is_due_back_and_can_be_overdue() {
    use depot::db::schema::loans;
    use diesel::prelude::*;
    let app = spawn_app();
    let p = premium(&app, "DUE", 1);
    let c = courier(&app, "DUE");
    let (opened, leg) = mail_in(&app, &p, &c, "D-1");
    assert_eq!(courier_event(&app, &c, &leg, "d-1", "picked_up").status, 200);
    let loan = ticket(&app, &opened.id())["loan"].clone();
    assert_eq!(loan["state"], "issued");
    let due: chrono::DateTime<chrono::Utc> = serde_json::from_value(loan["due_at"].clone())
        .unwrap_or_else(|e| panic!("a courier-issued loan has a due time: {e}; {loan}"));
    let days = (due - chrono::Utc::now()).num_hours() / 24;
    assert!((13..=14).contains(&days), "due like a loan issued at the desk: {due}");
    // Once its due time passes, the overdue list shows it.
    let loan_id = id_of(&loan["id"]);
    let past = Ts(depot::now() - chrono::Duration::days(1));
    app.db
        .write(|conn| {
            Ok(depot::with_conn!(conn, c => diesel::update(loans::table.find(loan_id))
                .set(loans::due_at.eq(past)).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("moving the due time: {e}"));
    let overdue = app.get_admin(&format!("/api/v1/loans?overdue=true&store_id={}", p.store));
    assert_eq!(overdue.status, 200, "{}", overdue.text);
    let ids: Vec<&Value> = overdue.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| &l["id"])
        .collect();
    assert_eq!(ids, vec![&loan["id"]]);
}

/// What one round of a cancellation racing the courier's `picked_up` ended with.
fn race_round(app: &TestApp, p: &crate::tickets::Premium, c: &Courier, round: usize, cancel_loan: bool) {
    let (opened, leg) = mail_in(app, p, c, &format!("R-{cancel_loan}-{round}"));
    assert_eq!(opened.body["loan"]["state"], "reserved", "{}", opened.text);
    let ticket_id = opened.id();
    let loan_id = opened.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let loaner = opened.body["loan"]["loaner_id"].as_str().unwrap_or_default().to_owned();
    let (cancel, event) = std::thread::scope(|s| {
        let cancel = s.spawn(|| {
            if cancel_loan {
                app.post_admin(&format!("/api/v1/loans/{loan_id}/cancel"), &json!({"reason": "race"}))
            } else {
                step(app, &ticket_id, "cancel")
            }
        });
        let event = s.spawn(|| courier_event(app, c, &leg, &format!("race-{cancel_loan}-{round}"), "picked_up"));
        (cancel.join(), event.join())
    });
    let (Ok(cancel), Ok(event)) = (cancel, event) else {
        panic!("a racing request panicked");
    };
    let read = ticket(app, &ticket_id);
    let won = cancel.status == 200;
    let context = format!(
        "round {round}: cancel {} {}; event {} {}",
        cancel.status, cancel.text, event.status, event.text
    );
    assert!(matches!(cancel.status, 200 | 409), "{context}");
    assert!(matches!(event.status, 200 | 409), "{context}");
    match (cancel_loan, won) {
        (false, true) => {
            event.problem(409, "pickup_cancelled");
            assert_eq!(read["status"], "cancelled", "{context}");
            assert_eq!(read["loan"]["state"], "cancelled", "{context}");
            assert_eq!(read["pickups"][0]["status"], "cancelled", "{context}");
            assert_eq!(loaner_state(app, &loaner), "available", "{context}");
        }
        (true, true) => {
            assert_eq!(event.status, 200, "{context}");
            assert_eq!(read["loan"]["state"], "cancelled", "{context}");
            assert_eq!(read["pickups"][0]["status"], "picked_up", "{context}");
            assert_eq!(loaner_state(app, &loaner), "available", "{context}");
        }
        (_, false) => {
            assert!(
                ["loaner_outstanding", "pickup_under_way"].contains(&cancel.body["code"].as_str().unwrap_or_default()),
                "{context}"
            );
            assert_eq!(event.status, 200, "{context}");
            assert_ne!(read["status"], "cancelled", "{context}");
            assert_eq!(read["loan"]["state"], "issued", "{context}");
            assert!(read["loan"]["due_at"].is_string(), "{context}");
            assert_eq!(read["pickups"][0]["status"], "picked_up", "{context}");
            assert_eq!(loaner_state(app, &loaner), "on_loan", "{context}");
        }
    }
}

#[test]
fn cancellations_racing_the_couriers_pickup_take_turns() {
    let app = spawn_app();
    let p = premium(&app, "RACE", 1);
    let c = courier(&app, "RACE");
    for round in 0..25 {
        for cancel_loan in [false, true] {
            // One free loaner per round, so that each mail-in ticket gets one reserved.
            crate::tickets::add_loaner(&app, &p, "A");
            race_round(&app, &p, &c, round, cancel_loan);
        }
    }
}

fn reschedule(app: &TestApp, leg: &str, round: usize) -> Resp {
    app.patch_admin(
        &format!("/api/v1/pickups/{leg}"),
        &json!({"address": format!("{round} Binhe Road, Futian, Shenzhen")}),
    )
}

/// A reschedule racing the courier's `picked_up` or a ticket cancel never moves the pickup backwards: it takes its
/// turn in the lock order and, second, is refused for the pickup it finds.
#[test]
fn a_reschedule_racing_the_courier_or_a_cancel_never_moves_the_pickup_back() {
    let app = spawn_app();
    let p = premium(&app, "RESCH", 0);
    let c = courier(&app, "RESCH");
    for round in 0..25 {
        for against_cancel in [false, true] {
            crate::tickets::add_loaner(&app, &p, "A");
            let (opened, leg) = mail_in(&app, &p, &c, &format!("RS-{against_cancel}-{round}"));
            let ticket_id = opened.id();
            let (moved, other) = std::thread::scope(|s| {
                let moved = s.spawn(|| reschedule(&app, &leg, round));
                let other = s.spawn(|| {
                    if against_cancel {
                        step(&app, &ticket_id, "cancel")
                    } else {
                        courier_event(&app, &c, &leg, &format!("rs-{round}"), "picked_up")
                    }
                });
                (moved.join(), other.join())
            });
            let (Ok(moved), Ok(other)) = (moved, other) else {
                panic!("a racing request panicked");
            };
            let context = format!(
                "round {round}: reschedule {} {}; other {} {}",
                moved.status, moved.text, other.status, other.text
            );
            assert_eq!(other.status, 200, "{context}");
            if moved.status != 200 {
                moved.problem(409, "pickup_under_way");
            }
            let read = ticket(&app, &ticket_id);
            if against_cancel {
                assert_eq!(read["status"], "cancelled", "{context}");
                assert_eq!(read["pickups"][0]["status"], "cancelled", "{context}");
                assert_eq!(partner_sees(&app, &c, &leg), "cancelled", "{context}");
            } else {
                assert_eq!(read["loan"]["state"], "issued", "{context}");
                assert_eq!(read["pickups"][0]["status"], "picked_up", "{context}");
            }
        }
    }
}

/// An event that does not move the pickup is stored without a lock; a ticket cancel committing at the same time
/// must not leave it on the cancelled pickup (and so on the cancelled ticket's timeline).
#[test]
fn an_event_that_moves_nothing_is_not_stored_on_a_pickup_cancelled_meanwhile() {
    let app = spawn_app();
    let p = premium(&app, "SCAN", 0);
    let c = courier(&app, "SCAN");
    for round in 0..30 {
        let (opened, leg) = mail_in(&app, &p, &c, &format!("SC-{round}"));
        let ticket_id = opened.id();
        let (cancel, scan) = std::thread::scope(|s| {
            let cancel = s.spawn(|| step(&app, &ticket_id, "cancel"));
            let scan = s.spawn(|| courier_event(&app, &c, &leg, &format!("scan-{round}"), "failed_attempt"));
            (cancel.join(), scan.join())
        });
        let (Ok(cancel), Ok(scan)) = (cancel, scan) else {
            panic!("a racing request panicked");
        };
        let context = format!(
            "round {round}: cancel {} {}; scan {} {}",
            cancel.status, cancel.text, scan.status, scan.text
        );
        assert_eq!(cancel.status, 200, "{context}");
        let read = ticket(&app, &ticket_id);
        let events: Vec<Value> = read["pickups"][0]["events"].as_array().cloned().unwrap_or_default();
        let cancelled_at = read["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["kind"] == "pickup_cancelled")
            .map(|e| e["at"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        if scan.status == 200 {
            // Stored before the cancel: it must be listed before the cancellation, not after it.
            assert_eq!(events.len(), 1, "{context}");
            let received = events[0]["received_at"].as_str().unwrap_or_default();
            let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
            assert!(
                parse(received) <= parse(&cancelled_at),
                "stored after the cancellation ({received} > {cancelled_at}): {context}"
            );
        } else {
            scan.problem(409, "pickup_cancelled");
            assert!(events.is_empty(), "{context}: {events:?}");
        }
    }
}

/// Whether some statement of this test's database waits on a lock (PostgreSQL).
fn someone_waits_on_a_lock(app: &TestApp) -> bool {
    use diesel::prelude::*;
    app.db
        .read(|conn| {
            Ok(depot::with_conn!(conn, c => diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')",
            ))
            .get_result::<bool>(c))?)
        })
        .unwrap_or_else(|e| panic!("reading pg_stat_activity: {e}"))
}

/// The race above made certain: a cancel holds the pickup, changed but not committed, while an event that moves
/// nothing arrives. The event must wait for the cancel and then be refused, not slip in beside it.
#[test]
fn an_event_that_moves_nothing_waits_for_a_cancel_in_flight_and_is_refused() {
    use depot::db::schema::pickups;
    use diesel::prelude::*;
    if test_engine() != Engine::Postgres {
        eprintln!("skipped on SQLite: one writer at a time, so no cancel is in flight beside the event's insert");
        return;
    }
    let app = spawn_app();
    let p = premium(&app, "HELD", 0);
    let c = courier(&app, "HELD");
    let (opened, leg) = mail_in(&app, &p, &c, "H-1");
    let leg_id = id_of(&json!(leg));
    let done = std::sync::atomic::AtomicBool::new(false);
    let (app, done) = (&app, &done);
    let (changed, cancelled) = mpsc::channel();
    let scan = std::thread::scope(|s| {
        let holder = s.spawn(move || {
            app.db.write(|conn| {
                depot::with_conn!(conn, c => diesel::update(pickups::table.find(leg_id))
                    .set(pickups::status.eq("cancelled")).execute(c))?;
                let _ = changed.send(());
                // Commit once the event waits on the pickup (or has answered without waiting).
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !done.load(std::sync::atomic::Ordering::SeqCst)
                    && !someone_waits_on_a_lock(app)
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })
        });
        cancelled
            .recv()
            .unwrap_or_else(|e| panic!("the cancel did not start: {e}"));
        let scan = courier_event(app, &c, &leg, "held-1", "failed_attempt");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(Err(e)) = holder.join() {
            panic!("the cancel failed: {e}");
        }
        scan
    });
    scan.problem(409, "pickup_cancelled");
    let read = ticket(app, &opened.id());
    assert_eq!(
        read["pickups"][0]["events"].as_array().map(Vec::len),
        Some(0),
        "nothing stored on the cancelled pickup: {read}"
    );
}

/// Two of a partner's pickups accepted at once with one tracking number: one wins, the other gets the code the
/// sequential check gives (`tracking_number_taken`), not a bare `duplicate`.
#[test]
fn accepts_racing_for_one_tracking_number_answer_tracking_number_taken() {
    let app = spawn_app();
    let p = premium(&app, "TRK", 0);
    let c = courier(&app, "TRK");
    for round in 0..15 {
        let legs: Vec<String> = (0..2)
            .map(|_| {
                let mut body = ticket_body(&p, "mail_in");
                body["pickup"]["partner_id"] = json!(c.partner);
                let opened = app.post_admin("/api/v1/tickets", &body);
                assert_eq!(opened.status, 201, "{}", opened.text);
                opened.body["pickups"][0]["id"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        let tracking = format!("SAME-{round}");
        let answers: Vec<Resp> = std::thread::scope(|s| {
            let handles: Vec<_> = legs
                .iter()
                .map(|leg| {
                    let (app, c, tracking) = (&app, &c, &tracking);
                    s.spawn(move || {
                        app.post(
                            &format!("/api/v1/courier/pickups/{leg}/accept"),
                            &c.key,
                            &json!({"tracking_number": tracking}),
                        )
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        assert_eq!(answers.len(), 2);
        let won = answers.iter().filter(|a| a.status == 200).count();
        assert_eq!(
            won,
            1,
            "round {round}: {:?}",
            answers.iter().map(|a| &a.text).collect::<Vec<_>>()
        );
        let lost = answers.iter().find(|a| a.status != 200);
        if let Some(lost) = lost {
            lost.problem(409, "tracking_number_taken");
        }
    }
}
