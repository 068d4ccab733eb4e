//! Repair tickets with loaners: the walk-in flow, the waitlist, concurrency, expiry, bad input, scopes.

use std::collections::HashSet;

use chrono::{Duration, Timelike, Utc};
use depot::imei::Imei;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Resp, TestApp, spawn_another, spawn_app};

pub struct Premium {
    pub store: String,
    pub series: String,
    pub model: String,
}

static NEXT_IMEI: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub fn imei() -> String {
    let n = NEXT_IMEI.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Imei::from_body(&format!("35{:012}", n + std::process::id() as u64 * 100_000))
        .map(|i| i.to_string())
        .unwrap_or_default()
}

/// A service center, a premium series with one model, and `loaners` loaners of it there.
pub fn premium(app: &TestApp, code: &str, loaners: usize) -> Premium {
    let store = app.create_store(code, "Shenzhen");
    let series = app.post_admin(
        "/api/v1/series",
        &json!({"code": format!("{code}-MATE"), "name": "Mate", "premium": true,
        "loaner_deposit": {"amount": "500.00", "currency": "CNY"}}),
    );
    assert_eq!(series.status, 201, "{}", series.text);
    let model = app.post_admin(
        "/api/v1/models",
        &json!({"code": format!("{code}-M60"), "name": "Mate 60", "series_id": series.id()}),
    );
    assert_eq!(model.status, 201, "{}", model.text);
    let p = Premium {
        store,
        series: series.id(),
        model: model.id(),
    };
    for i in 0..loaners {
        let grade = ["A", "B", "C"][i % 3];
        add_loaner(app, &p, grade);
    }
    p
}

pub fn add_loaner(app: &TestApp, p: &Premium, grade: &str) -> Resp {
    let res = app.post_admin(
        "/api/v1/loaners",
        &json!({"imei": imei(), "model_id": p.model, "store_id": p.store, "grade": grade}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res
}

pub fn ticket_body(p: &Premium, channel: &str) -> Value {
    let purchased = (Utc::now() - Duration::days(100)).date_naive();
    let pickup = (channel == "mail_in").then(|| json!({"address": "88 Shennan Road, Futian, Shenzhen"}));
    let mut body = json!({
        "store_id": p.store,
        "customer": {"name": "Wang Fang", "phone": "+8613800138000"},
        "device_imei": imei(),
        "model_id": p.model,
        "purchase_date": purchased,
        "channel": channel,
        "reported_fault": "screen flickers",
        "accessories": ["case"],
    });
    if let Some(pickup) = pickup {
        body["pickup"] = pickup;
    }
    body
}

pub fn open(app: &TestApp, p: &Premium) -> Resp {
    let res = app.post_admin("/api/v1/tickets", &ticket_body(p, "walk_in"));
    assert_eq!(res.status, 201, "{}", res.text);
    res
}

fn post(app: &TestApp, path: &str, body: Value) -> Resp {
    app.post_admin(path, &body)
}

fn loan_id(ticket: &Resp) -> String {
    ticket.body["loan"]["id"].as_str().unwrap_or_default().to_owned()
}

/// Moves a ticket through its status machine as the admin (`action` is the last path segment, e.g. `cancel`).
pub fn step(app: &TestApp, ticket: &str, action: &str) -> Resp {
    app.send(
        "POST",
        &format!("/api/v1/tickets/{ticket}/{action}"),
        Some(&app.admin_key),
        &[],
        "",
    )
}

#[test]
fn walk_in_flow_reserves_lends_returns_and_serves_the_next_waiter() {
    let app = spawn_app();
    let p = premium(&app, "FT", 1);
    let a = open(&app, &p);
    assert_eq!(a.body["number"].as_str().map(|n| n.starts_with("RT-")), Some(true));
    assert_eq!(a.body["loan"]["state"], "reserved", "{}", a.text);
    assert!(a.body["loan"]["loaner_imei"].is_string());
    assert!(a.body["loan"]["hold_until"].is_string());
    assert_eq!(a.body["warranty"]["rule"], "repair_window");
    assert_eq!(a.body["warranty"]["free"], true);
    // The opening and its reservation are both in the timeline, in that order, as answered and as stored.
    let first_two = |timeline: &Value| -> Vec<String> {
        let entries = timeline.as_array().into_iter().flatten().take(2);
        entries.filter_map(|e| e["kind"].as_str().map(str::to_owned)).collect()
    };
    assert_eq!(
        first_two(&a.body["timeline"]),
        ["opened", "loan_reserved"],
        "{}",
        a.text
    );
    let stored = app.get_admin(&format!("/api/v1/tickets/{}", a.id()));
    assert_eq!(
        first_two(&stored.body["timeline"]),
        ["opened", "loan_reserved"],
        "{}",
        stored.text
    );
    let b = open(&app, &p);
    assert_eq!(b.body["loan"]["state"], "waiting");
    assert_eq!(b.body["loan"]["waitlist_position"], 1);

    let issued = post(&app, &format!("/api/v1/loans/{}/issue", loan_id(&a)), json!({}));
    assert_eq!(issued.status, 200, "{}", issued.text);
    assert_eq!(issued.body["state"], "issued");
    assert_eq!(
        issued.body["deposit"]["amount"], "500.00",
        "the series deposit by default"
    );
    assert!(issued.body["due_at"].is_string());
    post(&app, &format!("/api/v1/loans/{}/issue", loan_id(&a)), json!({})).problem(409, "illegal_transition");

    let id = a.id();
    for action in ["start-diagnosis", "start-repair", "start-quality-check", "mark-ready"] {
        let res = step(&app, &id, action);
        assert_eq!(res.status, 200, "{action}: {}", res.text);
    }
    step(&app, &id, "close").problem(409, "loaner_outstanding");

    let returned = post(
        &app,
        &format!("/api/v1/loans/{}/return", loan_id(&a)),
        json!({"condition": "good", "missing_accessories": ["charger"]}),
    );
    assert_eq!(returned.status, 200, "{}", returned.text);
    assert_eq!(returned.body["state"], "returned");
    assert_eq!(returned.body["missing_accessories"], json!(["charger"]));
    post(
        &app,
        &format!("/api/v1/loans/{}/return", loan_id(&a)),
        json!({"condition": "good"}),
    )
    .problem(409, "illegal_transition");
    let loaner = returned.body["loaner_id"].as_str().unwrap_or_default().to_owned();
    let in_inspection = app.get_admin(&format!("/api/v1/loaners/{loaner}"));
    assert_eq!(in_inspection.body["state"], "inspection");

    let b_still = app.get_admin(&format!("/api/v1/tickets/{}", b.id()));
    assert_eq!(
        b_still.body["loan"]["state"], "waiting",
        "not lent again before inspection"
    );
    let passed = post(
        &app,
        &format!("/api/v1/loaners/{loaner}/inspection"),
        json!({"result": "pass", "grade": "B"}),
    );
    assert_eq!(passed.status, 200, "{}", passed.text);
    assert_eq!(
        passed.body["state"], "reserved",
        "the loaner went straight to the next waiter"
    );
    let b_now = app.get_admin(&format!("/api/v1/tickets/{}", b.id()));
    assert_eq!(b_now.body["loan"]["state"], "reserved");
    assert_eq!(b_now.body["loan"]["loaner_id"], loaner.as_str());

    let closed = step(&app, &id, "close");
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.body["status"], "closed");
    let kinds: Vec<&str> = closed.body["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "opened",
        "loan_reserved",
        "loan_issued",
        "status_changed",
        "loan_returned",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let rated = post(
        &app,
        &format!("/api/v1/tickets/{id}/rating"),
        json!({"score": 5, "comment": "quick"}),
    );
    assert_eq!(rated.body["rating"]["score"], 5);
    post(&app, &format!("/api/v1/tickets/{id}/rating"), json!({"score": 4})).problem(409, "already_rated");
    let pending = post(&app, &format!("/api/v1/tickets/{}/rating", b.id()), json!({"score": 4}));
    pending.problem(409, "ticket_not_closed");
}

fn open_many(app: &TestApp, others: Option<&TestApp>, p: &Premium, n: usize) -> Vec<Resp> {
    let bodies: Vec<Value> = (0..n).map(|_| ticket_body(p, "walk_in")).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let target = match others {
                    Some(other) if i % 2 == 1 => other,
                    _ => app,
                };
                s.spawn(move || target.post_admin("/api/v1/tickets", body))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

fn check_no_loaner_twice(responses: &[Resp], loaners: usize) {
    assert!(
        responses.iter().all(|r| r.status == 201),
        "{:?}",
        responses.iter().map(|r| (r.status, &r.text)).collect::<Vec<_>>()
    );
    let reserved: Vec<&str> = responses
        .iter()
        .filter(|r| r.body["loan"]["state"] == "reserved")
        .filter_map(|r| r.body["loan"]["loaner_id"].as_str())
        .collect();
    let waiting = responses
        .iter()
        .filter(|r| r.body["loan"]["state"] == "waiting")
        .count();
    assert_eq!(reserved.len(), loaners, "every loaner reserved once");
    assert_eq!(waiting, responses.len() - loaners, "the rest wait");
    assert_eq!(
        reserved.iter().collect::<HashSet<_>>().len(),
        loaners,
        "no loaner twice"
    );
}

fn check_waitlist(app: &TestApp, p: &Premium, waiting: usize) {
    let availability = app.get_admin(&format!(
        "/api/v1/loaner-availability?store_id={}&series_id={}",
        p.store, p.series
    ));
    assert_eq!(availability.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(availability.body["items"][0]["reserved"], json!(10));
    assert_eq!(availability.body["items"][0]["available"], json!(0));
    assert_eq!(availability.body["items"][0]["waitlist"], json!(waiting));
    let listed = app.get_admin(&format!("/api/v1/loans?state=waiting&store_id={}&limit=200", p.store));
    let mut positions: Vec<i64> = listed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["waitlist_position"].as_i64())
        .collect();
    positions.sort();
    assert_eq!(
        positions,
        (1..=waiting as i64).collect::<Vec<_>>(),
        "one queue, no ties"
    );
}

#[test]
fn sixty_four_concurrent_openings_share_ten_loaners() {
    let app = spawn_app();
    let p = premium(&app, "RUSH", 10);
    let responses = open_many(&app, None, &p, 64);
    check_no_loaner_twice(&responses, 10);
    check_waitlist(&app, &p, 54);
}

#[test]
fn two_instances_on_one_database_never_promise_a_loaner_twice() {
    let app = spawn_app();
    let other = spawn_another(&app);
    let p = premium(&app, "DUO", 10);
    let responses = open_many(&app, Some(&other), &p, 64);
    check_no_loaner_twice(&responses, 10);
    check_waitlist(&other, &p, 54);
}

#[test]
fn returns_racing_openings_serve_the_waitlist_in_order() {
    let app = spawn_app();
    let p = premium(&app, "ORDER", 3);
    let holders: Vec<Resp> = (0..3).map(|_| open(&app, &p)).collect();
    let waiters: Vec<Resp> = (0..4).map(|_| open(&app, &p)).collect();
    for w in &waiters {
        assert_eq!(w.body["loan"]["state"], "waiting");
    }
    for h in &holders {
        let res = post(&app, &format!("/api/v1/loans/{}/issue", loan_id(h)), json!({}));
        assert_eq!(res.status, 200, "{}", res.text);
    }
    // Take the three loaners back and pass them while eight new tickets open at the same time.
    let newcomers: Vec<Resp> = std::thread::scope(|s| {
        let returns: Vec<_> = holders
            .iter()
            .map(|h| {
                let app = &app;
                s.spawn(move || {
                    let back = post(
                        app,
                        &format!("/api/v1/loans/{}/return", loan_id(h)),
                        json!({"condition": "good"}),
                    );
                    let loaner = back.body["loaner_id"].as_str().unwrap_or_default().to_owned();
                    post(
                        app,
                        &format!("/api/v1/loaners/{loaner}/inspection"),
                        json!({"result": "pass"}),
                    )
                })
            })
            .collect();
        let openings: Vec<_> = (0..8)
            .map(|_| {
                let (app, p) = (&app, &p);
                s.spawn(move || open(app, p))
            })
            .collect();
        for r in returns {
            let inspected = r.join().ok();
            assert_eq!(inspected.map(|r| r.status), Some(200));
        }
        openings.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let states: Vec<String> = waiters
        .iter()
        .map(|w| {
            app.get_admin(&format!("/api/v1/tickets/{}", w.id())).body["loan"]["state"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    assert_eq!(
        states,
        ["reserved", "reserved", "reserved", "waiting"],
        "the three oldest waiters are served first"
    );
    assert!(
        newcomers.iter().all(|n| n.body["loan"]["state"] == "waiting"),
        "no newcomer jumps the queue"
    );
    let last = app.get_admin(&format!("/api/v1/tickets/{}", waiters[3].id()));
    assert_eq!(
        last.body["loan"]["waitlist_position"], 1,
        "the fourth waiter is now first in line"
    );
}

#[test]
fn reservations_expire_and_pass_to_the_next_waiter_but_mail_in_holds() {
    let app = spawn_app();
    let p = premium(&app, "HOLD", 2);
    let walk_in = open(&app, &p);
    let mail_in = app.post_admin("/api/v1/tickets", &ticket_body(&p, "mail_in"));
    assert_eq!(mail_in.body["loan"]["state"], "reserved");
    assert!(
        mail_in.body["loan"]["hold_until"].is_null(),
        "mail-in holds until the courier leg ends"
    );
    let waiter = open(&app, &p);
    assert_eq!(waiter.body["loan"]["state"], "waiting");

    let hold = std::time::Duration::from_secs(48 * 3600);
    let later = depot::db::types::Ts(depot::now() + Duration::hours(49));
    let expired = depot::loans::expire_due(&app.db, later, hold).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(expired, 1);
    let again = depot::loans::expire_due(&app.db, later, hold).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, 0, "a second sweep finds nothing");
    let gone = app.get_admin(&format!("/api/v1/tickets/{}", walk_in.id()));
    assert_eq!(gone.body["loan"]["state"], "expired");
    let served = app.get_admin(&format!("/api/v1/tickets/{}", waiter.id()));
    assert_eq!(served.body["loan"]["state"], "reserved");
    assert_eq!(served.body["loan"]["loaner_id"], walk_in.body["loan"]["loaner_id"]);
    let kept = app.get_admin(&format!("/api/v1/tickets/{}", mail_in.id()));
    assert_eq!(kept.body["loan"]["state"], "reserved");
    post(&app, &format!("/api/v1/loans/{}/issue", loan_id(&walk_in)), json!({})).problem(409, "illegal_transition");
}

#[test]
fn sweepers_on_two_instances_expire_each_reservation_once() {
    let app = spawn_app();
    let other = spawn_another(&app);
    let p = premium(&app, "SWEEP", 6);
    let holders: Vec<Resp> = (0..6).map(|_| open(&app, &p)).collect();
    let waiters: Vec<Resp> = (0..6).map(|_| open(&app, &p)).collect();
    assert!(holders.iter().all(|t| t.body["loan"]["state"] == "reserved"));
    assert!(waiters.iter().all(|t| t.body["loan"]["state"] == "waiting"));

    // Four sweepers at once, two on each instance's pool, all past every walk-in hold.
    let hold = std::time::Duration::from_secs(48 * 3600);
    let later = depot::db::types::Ts(depot::now() + Duration::hours(49));
    let expired: Vec<usize> = std::thread::scope(|scope| {
        let sweepers: Vec<_> = [&app, &other, &app, &other]
            .into_iter()
            .map(|instance| scope.spawn(move || depot::loans::expire_due(&instance.db, later, hold)))
            .collect();
        sweepers
            .into_iter()
            .map(|s| s.join().unwrap_or_else(|_| panic!("a sweeper panicked")))
            .map(|r| r.unwrap_or_else(|e| panic!("a sweeper failed: {e}")))
            .collect()
    });
    assert_eq!(
        expired.iter().sum::<usize>(),
        6,
        "each reservation expired once: {expired:?}"
    );
    for t in &holders {
        let now = app.get_admin(&format!("/api/v1/tickets/{}", t.id()));
        assert_eq!(now.body["loan"]["state"], "expired", "{}", now.text);
    }
    let mut loaners = HashSet::new();
    for t in &waiters {
        let now = app.get_admin(&format!("/api/v1/tickets/{}", t.id()));
        assert_eq!(
            now.body["loan"]["state"], "reserved",
            "every waiter served: {}",
            now.text
        );
        let loaner = now.body["loan"]["loaner_id"].as_str().unwrap_or_default().to_owned();
        assert!(loaners.insert(loaner), "no loaner served twice");
    }
}

#[test]
fn loans_extend_and_fall_overdue_and_loaners_move_retire_and_come_back_from_maintenance() {
    let app = spawn_app();
    let p = premium(&app, "LIFE", 2);
    let elsewhere = app.create_store("LIFE2", "Guangzhou");
    let a = open(&app, &p);
    let b = open(&app, &p);
    let c = open(&app, &p);
    assert_eq!(c.body["loan"]["state"], "waiting");
    let lent = a.body["loan"]["loaner_id"].as_str().unwrap_or_default().to_owned();
    let held = b.body["loan"]["loaner_id"].as_str().unwrap_or_default().to_owned();

    // A reserved loaner stays at its store and in service.
    let move_held = json!({"store_id": elsewhere});
    post(&app, &format!("/api/v1/loaners/{held}/move"), move_held).problem(409, "loaner_committed");
    let retire_held = json!({"reason": "cracked frame"});
    post(&app, &format!("/api/v1/loaners/{held}/retire"), retire_held).problem(409, "loaner_committed");

    // Issue, extend with a reason to a later time only, then fall overdue.
    let due = Utc::now() + Duration::hours(2);
    let issued = post(
        &app,
        &format!("/api/v1/loans/{}/issue", loan_id(&a)),
        json!({"due_at": due}),
    );
    assert_eq!(issued.status, 200, "{}", issued.text);
    let extend = format!("/api/v1/loans/{}/extend", loan_id(&a));
    let earlier = post(
        &app,
        &extend,
        json!({"due_at": due - Duration::hours(1), "reason": "parts late"}),
    );
    assert_eq!(earlier.bad_fields(), ["due_at"]);
    let no_reason = post(&app, &extend, json!({"due_at": due + Duration::days(2), "reason": ""}));
    assert_eq!(no_reason.bad_fields(), ["reason"]);
    let extended = post(
        &app,
        &extend,
        json!({"due_at": due + Duration::days(2), "reason": "parts late"}),
    );
    assert_eq!(extended.status, 200, "{}", extended.text);
    let new_due = extended.body["due_at"]
        .as_str()
        .and_then(|d| d.parse::<chrono::DateTime<Utc>>().ok());
    assert!(
        new_due.is_some_and(|d| d > due + Duration::days(1)),
        "{}",
        extended.text
    );
    let overdue_ids = |app: &TestApp| -> Vec<String> {
        let res = app.get_admin(&format!("/api/v1/loans?overdue=true&store_id={}", p.store));
        assert_eq!(res.status, 200, "{}", res.text);
        let items = res.body["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .filter_map(|l| l["id"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(overdue_ids(&app).is_empty(), "not due yet");
    let loan = Uuid::parse_str(&loan_id(&a)).unwrap_or_else(|e| panic!("loan id: {e}"));
    app.db
        .write(|conn| {
            use depot::db::schema::loans;
            use depot::db::types::{Id, Ts};
            use diesel::prelude::*;
            let past = Ts(Utc::now() - Duration::hours(1));
            Ok(depot::with_conn!(conn, c => diesel::update(loans::table.find(Id(loan)))
                .set(loans::due_at.eq(past)).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("moving the due time back: {e}"));
    assert_eq!(
        overdue_ids(&app),
        [loan_id(&a)],
        "only the issued loan past its due time"
    );

    // The customer declines the loaner: the reservation ends and the waiter gets it.
    let declined = post(
        &app,
        &format!("/api/v1/loans/{}/cancel", loan_id(&b)),
        json!({"reason": "customer declined a loaner"}),
    );
    assert_eq!(declined.status, 200, "{}", declined.text);
    assert_eq!(declined.body["state"], "cancelled");
    let served = app.get_admin(&format!("/api/v1/tickets/{}", c.id()));
    assert_eq!(served.body["loan"]["state"], "reserved", "{}", served.text);
    assert_eq!(served.body["loan"]["loaner_id"], held.as_str());

    // Back damaged: inspection fails, maintenance, then available, then moved and retired.
    let back = post(
        &app,
        &format!("/api/v1/loans/{}/return", loan_id(&a)),
        json!({"condition": "damaged"}),
    );
    assert_eq!(back.status, 200, "{}", back.text);
    let failed = post(
        &app,
        &format!("/api/v1/loaners/{lent}/inspection"),
        json!({"result": "fail"}),
    );
    assert_eq!(failed.body["state"], "maintenance", "{}", failed.text);
    post(
        &app,
        &format!("/api/v1/loaners/{lent}/inspection"),
        json!({"result": "pass"}),
    )
    .problem(409, "illegal_transition");
    let fixed = post(&app, &format!("/api/v1/loaners/{lent}/maintenance-done"), json!({}));
    assert_eq!(fixed.body["state"], "available", "{}", fixed.text);
    let moved = post(
        &app,
        &format!("/api/v1/loaners/{lent}/move"),
        json!({"store_id": elsewhere}),
    );
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["store_id"], elsewhere.as_str());
    let retired = post(
        &app,
        &format!("/api/v1/loaners/{lent}/retire"),
        json!({"reason": "battery swollen"}),
    );
    assert_eq!(retired.body["state"], "retired", "{}", retired.text);
    let again = post(
        &app,
        &format!("/api/v1/loaners/{lent}/retire"),
        json!({"reason": "again"}),
    );
    assert_eq!(
        (again.status, &again.body["state"]),
        (200, &json!("retired")),
        "retiring is idempotent"
    );
}

#[test]
fn cancelling_and_losing_release_the_loaner_or_the_ticket() {
    let app = spawn_app();
    let p = premium(&app, "CNL", 1);
    let a = open(&app, &p);
    let b = open(&app, &p);
    let cancelled = step(&app, &a.id(), "cancel");
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.body["loan"]["state"], "cancelled");
    let b = app.get_admin(&format!("/api/v1/tickets/{}", b.id()));
    assert_eq!(
        b.body["loan"]["state"], "reserved",
        "the released loaner serves the next waiter"
    );

    assert_eq!(
        post(&app, &format!("/api/v1/loans/{}/issue", loan_id(&b)), json!({})).status,
        200
    );
    step(&app, b.body["id"].as_str().unwrap_or_default(), "cancel").problem(409, "loaner_outstanding");
    let lost = post(
        &app,
        &format!("/api/v1/loans/{}/lost", loan_id(&b)),
        json!({"charge": {"amount": "3999.00", "currency": "CNY"}}),
    );
    assert_eq!(lost.status, 200, "{}", lost.text);
    assert_eq!(lost.body["damage_charge"]["amount"], "3999.00");
    let loaner = app.get_admin(&format!(
        "/api/v1/loaners/{}",
        lost.body["loaner_id"].as_str().unwrap_or_default()
    ));
    assert_eq!(loaner.body["state"], "retired");
    let id = b.body["id"].as_str().unwrap_or_default().to_owned();
    for action in [
        "start-diagnosis",
        "start-repair",
        "start-quality-check",
        "mark-ready",
        "close",
    ] {
        assert_eq!(step(&app, &id, action).status, 200, "{action}");
    }
}

#[test]
fn bad_ticket_input_is_refused_and_changes_nothing() {
    let app = spawn_app();
    let p = premium(&app, "BAD", 1);
    let mut body = ticket_body(&p, "walk_in");
    body["device_imei"] = json!("490154203237517");
    let res = app.post_admin("/api/v1/tickets", &body);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["device_imei"]);
    let mut body = ticket_body(&p, "walk_in");
    body["purchase_date"] = json!((Utc::now() + Duration::days(3)).date_naive());
    assert_eq!(app.post_admin("/api/v1/tickets", &body).bad_fields(), ["purchase_date"]);
    let mut body = ticket_body(&p, "walk_in");
    body["model_id"] = json!("0190a5b4-0000-7000-8000-000000000000");
    assert_eq!(app.post_admin("/api/v1/tickets", &body).bad_fields(), ["model_id"]);
    app.send(
        "POST",
        &format!("/api/v1/stores/{}/deactivate", p.store),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(
        app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"))
            .bad_fields(),
        ["store_id"]
    );
    app.send(
        "POST",
        &format!("/api/v1/stores/{}/activate", p.store),
        Some(&app.admin_key),
        &[],
        "",
    );
    for (deactivate, activate) in [
        (
            format!("/api/v1/models/{}/deactivate", p.model),
            format!("/api/v1/models/{}/activate", p.model),
        ),
        (
            format!("/api/v1/series/{}/deactivate", p.series),
            format!("/api/v1/series/{}/activate", p.series),
        ),
    ] {
        assert_eq!(app.send("POST", &deactivate, Some(&app.admin_key), &[], "").status, 200);
        let refused = app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
        assert_eq!(refused.bad_fields(), ["model_id"], "{deactivate}: {}", refused.text);
        assert_eq!(app.send("POST", &activate, Some(&app.admin_key), &[], "").status, 200);
    }
    let mut body = ticket_body(&p, "walk_in");
    body["channel"] = json!("drone");
    assert_eq!(app.post_admin("/api/v1/tickets", &body).bad_fields(), ["channel"]);
    let mut body = ticket_body(&p, "walk_in");
    body["promised_at"] = json!(Utc::now() - Duration::hours(1));
    assert_eq!(app.post_admin("/api/v1/tickets", &body).bad_fields(), ["promised_at"]);

    let tickets = app.get_admin("/api/v1/tickets");
    assert_eq!(
        tickets.body["items"].as_array().map(Vec::len),
        Some(0),
        "nothing was opened"
    );
    let availability = app.get_admin(&format!("/api/v1/loaner-availability?store_id={}", p.store));
    assert_eq!(
        availability.body["items"][0]["available"],
        json!(1),
        "the loaner is still free"
    );

    let t = open(&app, &p);
    post(
        &app,
        &format!("/api/v1/loans/{}/return", loan_id(&t)),
        json!({"condition": "good"}),
    )
    .problem(409, "illegal_transition");
    step(&app, &t.id(), "close").problem(409, "illegal_transition");
    step(&app, &t.id(), "mark-ready").problem(409, "illegal_transition");
    let issue = post(
        &app,
        &format!("/api/v1/loans/{}/issue", loan_id(&t)),
        json!({"due_at": "2020-01-01T00:00:00Z"}),
    );
    assert_eq!(issue.bad_fields(), ["due_at"]);
    let after = app.get_admin(&format!("/api/v1/tickets/{}", t.id()));
    assert_eq!(after.body["status"], "received");
    assert_eq!(after.body["loan"]["state"], "reserved");
    let promised = (Utc::now() + Duration::days(3))
        .with_nanosecond(0)
        .unwrap_or_else(Utc::now);
    let mut body = ticket_body(&p, "walk_in");
    body["promised_at"] = json!(promised);
    let kept = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(kept.status, 201, "{}", kept.text);
    let answered = kept.body["promised_at"]
        .as_str()
        .and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok());
    assert_eq!(answered, Some(promised), "a promise in the future is kept");
}

#[test]
fn findings_are_judged_on_the_day_the_phone_came_in() {
    let app = spawn_app();
    let p = premium(&app, "DAY", 0);
    let store = app.get_admin(&format!("/api/v1/stores/{}", p.store));
    let time_zone = store.body["time_zone"].as_str().unwrap_or_default().to_owned();
    let today = depot::tickets::local_date(&time_zone, Utc::now());
    let mut body = ticket_body(&p, "walk_in");
    body["purchase_date"] = json!(today - Duration::days(8));
    let t = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(t.status, 201, "{}", t.text);
    assert_eq!(t.body["warranty"]["rule"], "exchange_window", "day 8 today");
    // As if the ticket had been opened yesterday, on day 7 of the return window.
    let id = Uuid::parse_str(&t.id()).unwrap_or_else(|e| panic!("ticket id: {e}"));
    app.db
        .write(|conn| {
            use depot::db::schema::tickets;
            use depot::db::types::{Id, Ts};
            use diesel::prelude::*;
            let yesterday = Ts(Utc::now() - Duration::days(1));
            Ok(depot::with_conn!(conn, c => diesel::update(tickets::table.find(Id(id)))
                .set(tickets::created_at.eq(yesterday)).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("backdating the ticket: {e}"));
    let changed = app.patch_admin(
        &format!("/api/v1/tickets/{}/findings", t.id()),
        &json!({"inspection": {"cosmetic": "light scratches on the frame"}}),
    );
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["warranty"]["rule"], "return_window", "{}", changed.text);
    assert_eq!(
        changed.body["warranty"]["remedies"],
        json!(["return", "exchange", "free_repair"])
    );
}

#[test]
fn findings_redecide_the_warranty() {
    let app = spawn_app();
    let p = premium(&app, "WAR", 0);
    let mut body = ticket_body(&p, "walk_in");
    body["purchase_date"] = json!((Utc::now() - Duration::days(10)).date_naive());
    let t = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(t.status, 201, "{}", t.text);
    assert_eq!(t.body["warranty"]["rule"], "exchange_window");
    assert_eq!(t.body["warranty"]["remedies"], json!(["exchange", "free_repair"]));
    assert_eq!(t.body["loan"]["state"], "waiting", "no loaner at all: waitlisted");
    let changed = app.patch_admin(
        &format!("/api/v1/tickets/{}/findings", t.id()),
        &json!({"inspection": {"liquid": true}}),
    );
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["warranty"]["rule"], "liquid_damage");
    assert_eq!(changed.body["warranty"]["free"], false);
    assert_eq!(
        changed.body["warranty"]["inputs"]["findings"]["liquid"], true,
        "the decision keeps its inputs"
    );
}

#[test]
fn standard_series_get_no_loaner_and_staff_see_only_their_stores() {
    let app = spawn_app();
    let p = premium(&app, "MINE", 1);
    let other = premium(&app, "THEIRS", 1);
    let nova = app.post_admin(
        "/api/v1/series",
        &json!({"code": "NOVA", "name": "nova", "premium": false}),
    );
    let model = app.post_admin(
        "/api/v1/models",
        &json!({"code": "NOVA12", "name": "nova 12", "series_id": nova.id()}),
    );
    let mut body = ticket_body(&p, "walk_in");
    body["model_id"] = json!(model.id());
    let standard = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(standard.status, 201, "{}", standard.text);
    assert!(standard.body["loan"].is_null(), "standard series get no loaner");

    let staff = app.create_key("store_staff", &[&p.store]);
    let theirs = open(&app, &other);
    app.get(&format!("/api/v1/tickets/{}", theirs.id()), Some(&staff))
        .problem(404, "not_found");
    app.post("/api/v1/tickets", &staff, &ticket_body(&other, "walk_in"))
        .problem(400, "validation_failed");
    let mine = app.post("/api/v1/tickets", &staff, &ticket_body(&p, "walk_in"));
    assert_eq!(mine.status, 201, "{}", mine.text);
    let listed = app.get("/api/v1/tickets", Some(&staff));
    let stores: HashSet<&str> = listed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["store_id"].as_str())
        .collect();
    assert_eq!(stores, HashSet::from([p.store.as_str()]));
    post(&app, &format!("/api/v1/loans/{}/issue", loan_id(&theirs)), json!({}));
    app.post(
        &format!("/api/v1/loans/{}/return", loan_id(&theirs)),
        &staff,
        &json!({"condition": "good"}),
    )
    .problem(404, "not_found");
    let warehouse = app.create_key("warehouse", &[&p.store]);
    app.get("/api/v1/tickets", Some(&warehouse)).problem(403, "forbidden");
}

#[test]
fn loaners_import_from_csv_all_or_nothing() {
    let app = spawn_app();
    let p = premium(&app, "CSV", 0);
    let model_code = "CSV-M60";
    let (a, b) = (imei(), imei());
    let bad =
        format!("imei,model_code,store_code,grade\n{a},{model_code},CSV,A\n12345,{model_code},CSV,A\n{b},NOPE,CSV,Z\n");
    let res = app.send(
        "POST",
        "/api/v1/loaners/import",
        Some(&app.admin_key),
        &[("Content-Type", "text/csv")],
        &bad,
    );
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["line 3", "line 4"]);
    let none = app.get_admin(&format!("/api/v1/loaners?store_id={}", p.store));
    assert_eq!(
        none.body["items"].as_array().map(Vec::len),
        Some(0),
        "nothing registered from a bad file"
    );
    let good = format!("imei,model_code,store_code,grade\n{a},{model_code},CSV,A\n{b},{model_code},csv,b\n");
    let res = app.send(
        "POST",
        "/api/v1/loaners/import",
        Some(&app.admin_key),
        &[("Content-Type", "text/csv")],
        &good,
    );
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["created"].as_array().map(Vec::len), Some(2));
    let again = app.send(
        "POST",
        "/api/v1/loaners/import",
        Some(&app.admin_key),
        &[("Content-Type", "text/csv")],
        &good,
    );
    again.problem(400, "validation_failed");
    let moved = post(
        &app,
        &format!(
            "/api/v1/loaners/{}/move",
            res.body["created"][0]["id"].as_str().unwrap_or_default()
        ),
        json!({"store_id": app.create_store("CSV2", "Shanghai")}),
    );
    assert_eq!(moved.status, 200, "{}", moved.text);
}

/// The opening's answer is built from the rows it wrote, not read back: it must equal what a read returns, for a
/// reserved loan, a waiting one (with its place in the queue) and a ticket without a loaner.
#[test]
fn the_opening_answer_is_the_stored_ticket() {
    let app = spawn_app();
    let p = premium(&app, "ECHO", 1);
    let reserved = open(&app, &p);
    let waiting = open(&app, &p);
    assert_eq!(reserved.body["loan"]["state"], "reserved", "{}", reserved.text);
    assert_eq!(waiting.body["loan"]["state"], "waiting", "{}", waiting.text);
    assert_eq!(waiting.body["loan"]["waitlist_position"], 1, "{}", waiting.text);
    let standard = app.post_admin(
        "/api/v1/series",
        &json!({"code": "ECHO-NOVA", "name": "Nova", "premium": false}),
    );
    let model = app.post_admin(
        "/api/v1/models",
        &json!({"code": "ECHO-N12", "name": "Nova 12", "series_id": standard.id()}),
    );
    let mut body = ticket_body(&p, "walk_in");
    body["model_id"] = json!(model.id());
    let plain = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(plain.status, 201, "{}", plain.text);
    assert!(plain.body["loan"].is_null(), "{}", plain.text);
    for opened in [reserved, waiting, plain] {
        assert!(opened.body["tracking_token"].is_string(), "{}", opened.text);
        let mut answered = opened.body.clone();
        answered["tracking_token"] = Value::Null;
        let read = app.get_admin(&format!("/api/v1/tickets/{}", opened.id()));
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(answered, read.body);
    }
}
