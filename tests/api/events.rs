//! The event feed (issue 14): each flow's events with their subjects and payloads, nothing personal in them, no
//! event for a change that failed, every committed event exactly once and in its subject's order under concurrent
//! writers, resuming from a cursor, the callers' scopes, internal consumers, and the staff alerts.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use depot::db::types::Ts;
use depot::events::{self, AlertSettings};
use serde_json::{Value, json};

use crate::courier::partner;
use crate::helpers::{TestApp, spawn_app};
use crate::tickets::{open, premium, step, ticket_body};

/// Places what committed, then reads the whole feed as `key` (following `next_cursor`), with `query` added.
fn feed(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    feed_after(app, key, query, None)
}

/// As [`feed`], from the cursor `start`.
fn feed_after(app: &TestApp, key: &str, query: &str, start: Option<String>) -> Vec<Value> {
    events::sequence(&app.db).unwrap_or_else(|e| panic!("sequencing: {e}"));
    let mut all = Vec::new();
    let mut after: Option<String> = start;
    loop {
        let mut path = format!("/api/v1/events?limit=7{query}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let res = app.get(&path, Some(key));
        assert_eq!(res.status, 200, "{}", res.text);
        let items = res.body["items"].as_array().cloned().unwrap_or_default();
        let next = res.body["next_cursor"].as_str().unwrap_or_default().to_owned();
        assert!(!next.is_empty(), "next_cursor is always present");
        if items.is_empty() {
            assert_eq!(
                after.as_deref().unwrap_or(next.as_str()),
                next,
                "an empty page keeps the cursor"
            );
            return all;
        }
        all.extend(items);
        after = Some(next);
    }
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

#[test]
fn a_walk_in_flow_emits_its_events_with_subjects_and_nothing_personal() {
    let app = spawn_app();
    let p = premium(&app, "EV", 1);
    let a = open(&app, &p);
    let b = open(&app, &p);
    let (ta, tb) = (a.id(), b.id());
    let loan_a = a.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let loan_b = b.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let token = a.body["tracking_token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty());
    let issued = app.post_admin(&format!("/api/v1/loans/{loan_a}/issue"), &json!({}));
    assert_eq!(issued.status, 200, "{}", issued.text);
    for action in ["start-diagnosis", "start-repair"] {
        assert_eq!(step(&app, &ta, action).status, 200);
    }
    let back = app.post_admin(&format!("/api/v1/loans/{loan_a}/return"), &json!({"condition": "good"}));
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(step(&app, &tb, "cancel").status, 200);

    let all = feed(&app, &app.admin_key, "");
    let opened = of_type(&all, "ticket.opened");
    assert_eq!(opened.len(), 2, "{all:#?}");
    assert_eq!(opened[0]["subject"], json!({"type": "ticket", "id": ta}));
    assert_eq!(opened[0]["store_id"], json!(p.store));
    assert_eq!(opened[0]["payload"]["number"], a.body["number"]);
    let reserved = of_type(&all, "loan.reserved");
    assert_eq!(reserved.len(), 1);
    assert_eq!(reserved[0]["subject"], json!({"type": "loan", "id": loan_a}));
    assert_eq!(reserved[0]["payload"]["ticket_id"], json!(ta));
    let issued = of_type(&all, "loan.issued");
    assert_eq!(issued.len(), 1);
    assert!(issued[0]["payload"]["due_at"].is_string(), "{:?}", issued[0]);
    assert_eq!(of_type(&all, "loan.returned").len(), 1);
    let cancelled = of_type(&all, "loan.cancelled");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["subject"]["id"], json!(loan_b));
    let moves: Vec<(String, Value, Value)> = of_type(&all, "ticket.status_changed")
        .iter()
        .map(|e| {
            (
                e["subject"]["id"].as_str().unwrap_or_default().to_owned(),
                e["payload"]["from"].clone(),
                e["payload"]["to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (ta.clone(), json!("received"), json!("diagnosing")),
            (ta.clone(), json!("diagnosing"), json!("repairing")),
            (tb.clone(), json!("received"), json!("cancelled")),
        ]
    );
    // Nothing personal or secret in anything served.
    let text = serde_json::to_string(&all).unwrap_or_default();
    let imei_a = a.body["device_imei"].as_str().unwrap_or("no imei").to_owned();
    for secret in [
        imei_a.as_str(),
        "13800138000",
        "Wang Fang",
        token.as_str(),
        "tracking_token",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked into the feed");
    }
    // The opening's tracking token is there for Depot's own consumers only.
    let internal: Vec<Option<String>> = app
        .db
        .read(|conn| events::repo::after(conn, 0, 1000))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|e| e.event_type == "ticket.opened" && e.subject_id.0.to_string() == ta)
        .map(|e| e.internal)
        .collect();
    assert_eq!(internal, vec![Some(json!({"tracking_token": token}).to_string())]);
}

#[test]
fn a_change_that_fails_leaves_no_event() {
    let app = spawn_app();
    let p = premium(&app, "RB", 1);
    let a = open(&app, &p);
    let loan = a.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        app.post_admin(&format!("/api/v1/loans/{loan}/issue"), &json!({}))
            .status,
        200
    );
    let before = feed(&app, &app.admin_key, "").len();
    // Cancelling locks the ticket and its loan, then finds the loaner out: 409, and the whole change rolls back.
    assert_eq!(step(&app, &a.id(), "cancel").status, 409);
    // An idempotent opening replayed with the same key returns the first answer and writes nothing new.
    let body = ticket_body(&p, "walk_in");
    let send = || {
        app.send(
            "POST",
            "/api/v1/tickets",
            Some(&app.admin_key),
            &[("Idempotency-Key", "ev-1")],
            &body.to_string(),
        )
    };
    let first = send();
    let again = send();
    assert_eq!((first.status, again.status), (201, 201), "{}", again.text);
    let after = feed(&app, &app.admin_key, "");
    assert_eq!(after.len(), before + 1, "only the one opening's event: {after:#?}");
    assert_eq!(after[before]["type"], "ticket.opened");
}

#[test]
fn scopes_a_store_its_own_a_partner_its_pickups_and_unknown_types_are_refused() {
    let app = spawn_app();
    let p = premium(&app, "SA", 2);
    let other = premium(&app, "SB", 1);
    let courier = partner(&app, "SF");
    let rival = partner(&app, "YT");
    open(&app, &p);
    open(&app, &other);
    let mut body = ticket_body(&p, "mail_in");
    body["pickup"]["partner_id"] = json!(courier.partner);
    let mail = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(mail.status, 201, "{}", mail.text);
    let pickup = mail.body["pickups"][0]["id"].as_str().unwrap_or_default().to_owned();
    let accepted = app.post(
        &format!("/api/v1/courier/pickups/{pickup}/accept"),
        &courier.key,
        &json!({"tracking_number": "SF1000001"}),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.text);

    let staff = app.create_key("store_staff", &[&p.store]);
    let mine = feed(&app, &staff, "");
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e["store_id"] == json!(p.store)), "{mine:#?}");
    let theirs = feed(&app, &courier.key, "");
    let types: Vec<&str> = theirs.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["pickup.requested", "pickup.accepted"], "{theirs:#?}");
    assert!(theirs.iter().all(|e| e["subject"]["id"] == json!(pickup)));
    assert!(feed(&app, &rival.key, "").is_empty(), "another partner sees nothing");
    let only = feed(&app, &app.admin_key, "&types=pickup.accepted,loan.reserved");
    assert!(
        only.iter()
            .all(|e| e["type"] == "pickup.accepted" || e["type"] == "loan.reserved")
    );
    let everything = feed(&app, &app.admin_key, "");
    let wanted = everything
        .iter()
        .filter(|e| e["type"] == "pickup.accepted" || e["type"] == "loan.reserved")
        .count();
    assert_eq!(only.len(), wanted, "{only:#?}");
    assert!(wanted >= 2 && wanted < everything.len());

    let bad = app.get(
        "/api/v1/events?types=ticket.opened,ticket.exploded",
        Some(&app.admin_key),
    );
    let problem = bad.problem(400, "validation_failed");
    assert!(problem.to_string().contains("ticket.status_changed"), "{problem}");
    let warehouse = app.create_key("warehouse", &[&p.store]);
    assert_eq!(app.get("/api/v1/events", Some(&warehouse)).status, 403);
    assert_eq!(app.get("/api/v1/events", None).status, 401);
    app.get("/api/v1/events?after=not-a-cursor", Some(&app.admin_key))
        .problem(400, "validation_failed");
}

/// Eight writers open tickets and move them while a pager places and reads the feed: once quiet, the pager has
/// seen every committed event exactly once, each ticket's in the order of its changes, and a consumer resuming
/// from a cursor in the middle sees exactly the rest.
#[test]
fn concurrent_writers_and_a_pager_see_every_event_once_in_subject_order() {
    let app = Arc::new(spawn_app());
    let p = premium(&app, "CC", 3);
    let done = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let pager = {
        let (app, done, seen) = (app.clone(), done.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut after: Option<String> = None;
            let mut quiet = 0;
            while quiet < 2 {
                let finished = done.load(Ordering::SeqCst);
                events::sequence(&app.db).unwrap_or_else(|e| panic!("sequencing: {e}"));
                let path = match &after {
                    Some(a) => format!("/api/v1/events?limit=13&after={a}"),
                    None => "/api/v1/events?limit=13".to_owned(),
                };
                let res = app.get_admin(&path);
                assert_eq!(res.status, 200, "{}", res.text);
                let items = res.body["items"].as_array().cloned().unwrap_or_default();
                after = res.body["next_cursor"].as_str().map(str::to_owned);
                if items.is_empty() && finished {
                    quiet += 1;
                }
                seen.lock().unwrap_or_else(|e| e.into_inner()).extend(items);
            }
        })
    };
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (app, p) = (
                app.clone(),
                crate::tickets::Premium {
                    store: p.store.clone(),
                    series: p.series.clone(),
                    model: p.model.clone(),
                },
            );
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for _ in 0..3 {
                    let t = app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
                    assert_eq!(t.status, 201, "{}", t.text);
                    let id = t.id();
                    for action in ["start-diagnosis", "cancel"] {
                        assert_eq!(step(&app, &id, action).status, 200);
                    }
                    mine.push(id);
                }
                mine
            })
        })
        .collect();
    let tickets: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_else(|_| panic!("writer")))
        .collect();
    done.store(true, Ordering::SeqCst);
    pager.join().unwrap_or_else(|_| panic!("pager panicked"));
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let ids: Vec<&str> = seen.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "an event was served twice"
    );
    let stored = app
        .db
        .read(|conn| events::repo::after(conn, 0, 100_000))
        .unwrap_or_else(|e| panic!("{e}"));
    let unplaced = events::backlog(&app.db).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unplaced, 0);
    assert_eq!(ids.len(), stored.len(), "the pager missed events");
    let mut per_ticket: HashMap<String, Vec<String>> = HashMap::new();
    for e in &seen {
        if e["subject"]["type"] == "ticket" {
            let step = match e["type"].as_str() {
                Some("ticket.opened") => "opened".to_owned(),
                _ => e["payload"]["to"].as_str().unwrap_or_default().to_owned(),
            };
            per_ticket
                .entry(e["subject"]["id"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(step);
        }
    }
    assert_eq!(per_ticket.len(), tickets.len());
    for t in &tickets {
        assert_eq!(per_ticket[t], ["opened", "diagnosing", "cancelled"], "ticket {t}");
    }
    // A consumer that stopped in the middle resumes from its cursor: exactly the rest, in order.
    let middle = &seen[seen.len() / 2 - 1];
    let whole = feed(&app, &app.admin_key, "");
    let cut = whole
        .iter()
        .position(|e| e["id"] == middle["id"])
        .unwrap_or_else(|| panic!("not found"));
    let first_page = app.get_admin(&format!("/api/v1/events?limit={}", cut + 1));
    let cursor = first_page.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let rest = feed_after(&app, &app.admin_key, "", Some(cursor));
    let rest_ids: Vec<&Value> = rest.iter().map(|e| &e["id"]).collect();
    let expected: Vec<&Value> = whole[cut + 1..].iter().map(|e| &e["id"]).collect();
    assert_eq!(rest_ids, expected);
}

#[test]
fn two_threads_consuming_one_name_never_handle_an_event_twice() {
    let app = Arc::new(spawn_app());
    let p = premium(&app, "CO", 2);
    for _ in 0..12 {
        open(&app, &p);
    }
    events::sequence(&app.db).unwrap_or_else(|e| panic!("{e}"));
    let handled: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (app, handled) = (app.clone(), handled.clone());
            std::thread::spawn(move || {
                for _ in 0..40 {
                    events::consume(&app.db, "test-consumer", 3, |_, batch| {
                        let mut h = handled.lock().unwrap_or_else(|e| e.into_inner());
                        h.extend(batch.iter().map(|e| e.id.0.to_string()));
                        Ok(())
                    })
                    .unwrap_or_else(|e| panic!("consuming: {e}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap_or_else(|_| panic!("consumer panicked"));
    }
    let handled = handled.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let placed = app
        .db
        .read(|conn| events::repo::after(conn, 0, 10_000))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        handled.iter().collect::<HashSet<_>>().len(),
        handled.len(),
        "an event was handled twice"
    );
    assert_eq!(handled.len(), placed.len(), "every placed event was handled");
}

#[test]
fn staff_alerts_are_raised_once_with_a_made_up_clock() {
    let app = spawn_app();
    let p = premium(&app, "AL", 1);
    let mut body = ticket_body(&p, "walk_in");
    body["promised_at"] = json!(Utc::now() + Duration::days(3));
    let a = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(a.status, 201, "{}", a.text);
    let loan = a.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..3 {
        open(&app, &p);
    }
    let settings = AlertSettings {
        reservation_warning: Duration::hours(2),
        waitlist_length: 2,
    };
    let raise =
        |at: chrono::DateTime<Utc>| events::raise_alerts(&app.db, Ts(at), &settings).unwrap_or_else(|e| panic!("{e}"));
    // Now: the waitlist (3 waiting) is longer than 2; nothing else is due.
    assert_eq!(raise(Utc::now()), 1);
    assert_eq!(raise(Utc::now()), 0, "raised once");
    // The hold (48 h) ends within two hours of this made-up now.
    assert_eq!(raise(Utc::now() + Duration::hours(47)), 1);
    assert_eq!(raise(Utc::now() + Duration::hours(47)), 0);
    let issued = app.post_admin(&format!("/api/v1/loans/{loan}/issue"), &json!({}));
    assert_eq!(issued.status, 200, "{}", issued.text);
    // Past the promise (3 days) and the due time (14 days by default): the ticket and the loan, once each.
    assert_eq!(raise(Utc::now() + Duration::days(20)), 2);
    assert_eq!(raise(Utc::now() + Duration::days(21)), 0);
    let all = feed(
        &app,
        &app.admin_key,
        "&types=waitlist.long,loan.reservation_expiring,ticket.past_promise,loan.overdue",
    );
    let types: Vec<&str> = all.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.len(), 4, "{all:#?}");
    for t in [
        "waitlist.long",
        "loan.reservation_expiring",
        "ticket.past_promise",
        "loan.overdue",
    ] {
        assert!(types.contains(&t), "{t} missing: {types:?}");
    }
    let long = of_type(&all, "waitlist.long");
    assert_eq!(long[0]["payload"]["waiting"], 3);
    assert_eq!(long[0]["subject"], json!({"type": "store", "id": p.store}));
}

/// More late tickets than one round looks at: each round raises the ones not raised yet, so the newest are raised
/// too (a scan of the oldest 200 alone would look at the same ones for ever).
#[test]
fn past_promise_alerts_reach_past_one_rounds_batch() {
    let app = spawn_app();
    let p = premium(&app, "PB", 1);
    let count = 230;
    let promised = Utc::now() + Duration::days(1);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..count / 4 + 1 {
                    let mut body = ticket_body(&p, "walk_in");
                    body["promised_at"] = json!(promised);
                    let res = app.post_admin("/api/v1/tickets", &body);
                    assert_eq!(res.status, 201, "{}", res.text);
                }
            });
        }
    });
    let opened = 4 * (count / 4 + 1);
    let settings = AlertSettings {
        reservation_warning: Duration::hours(2),
        waitlist_length: 1_000_000,
    };
    // Past every promise, before the reservation's hold (48 h) comes near its end.
    let at = Ts(promised + Duration::hours(12));
    let raise = || events::raise_alerts(&app.db, at, &settings).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raise(), 200, "one round's batch");
    assert_eq!(raise(), opened - 200, "the rest, the next round");
    assert_eq!(raise(), 0, "each once");
    let late = feed(&app, &app.admin_key, "&types=ticket.past_promise");
    let subjects: HashSet<String> = late.iter().map(|e| e["subject"]["id"].to_string()).collect();
    assert_eq!((late.len(), subjects.len()), (opened, opened));
}

/// Loans returned while two sweepers raise their overdue alerts: each alert is raised under the loan's locks and
/// checked again there, so no loan is alerted after its return (in the loan's feed order) and none twice.
#[test]
fn overdue_alerts_never_follow_the_return_and_two_sweepers_raise_each_once() {
    let app = spawn_app();
    let count = 12;
    let p = premium(&app, "RA", count);
    let loans: Vec<String> = (0..count)
        .map(|_| {
            let t = open(&app, &p);
            let loan = t.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
            let issued = app.post_admin(&format!("/api/v1/loans/{loan}/issue"), &json!({}));
            assert_eq!(issued.status, 200, "{}", issued.text);
            loan
        })
        .collect();
    let settings = AlertSettings {
        reservation_warning: Duration::hours(2),
        waitlist_length: 1_000_000,
    };
    let done = AtomicBool::new(false);
    let raised = Mutex::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                // Rounds until one has started after the last return.
                loop {
                    let last = done.load(Ordering::SeqCst);
                    let n = events::raise_alerts(&app.db, Ts(Utc::now() + Duration::days(20)), &settings)
                        .unwrap_or_else(|e| panic!("{e}"));
                    *raised.lock().unwrap_or_else(|e| e.into_inner()) += n;
                    if last {
                        break;
                    }
                }
            });
        }
        s.spawn(|| {
            for loan in loans.iter().skip(1).step_by(2) {
                let back = app.post_admin(&format!("/api/v1/loans/{loan}/return"), &json!({"condition": "good"}));
                assert_eq!(back.status, 200, "{}", back.text);
            }
            done.store(true, Ordering::SeqCst);
        });
    });
    let all = feed(&app, &app.admin_key, "&types=loan.overdue,loan.returned");
    let mut by_loan: HashMap<String, Vec<String>> = HashMap::new();
    for e in &all {
        by_loan
            .entry(e["subject"]["id"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(e["type"].as_str().unwrap_or_default().to_owned());
    }
    for (n, loan) in loans.iter().enumerate() {
        let seen = by_loan.get(loan).cloned().unwrap_or_default();
        let overdue = seen.iter().filter(|t| *t == "loan.overdue").count();
        if n % 2 == 0 {
            assert_eq!(seen, ["loan.overdue"], "kept loan {loan}");
        } else {
            assert!(overdue <= 1, "loan {loan} alerted twice: {seen:?}");
            assert_eq!(
                seen.last().map(String::as_str),
                Some("loan.returned"),
                "loan {loan}: {seen:?}"
            );
        }
    }
    let total: usize = by_loan.values().flatten().filter(|t| *t == "loan.overdue").count();
    assert_eq!(
        *raised.lock().unwrap_or_else(|e| e.into_inner()),
        total,
        "each raised alert is in the feed once"
    );
}

/// `loan.due_soon` once per loan and due time; an extension emits `loan.extended` and the new due time is due soon
/// again, once.
#[test]
fn due_soon_is_raised_once_per_due_time_and_an_extension_is_an_event() {
    let app = spawn_app();
    let p = premium(&app, "DS", 1);
    let t = open(&app, &p);
    let loan = t.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let issued = app.post_admin(&format!("/api/v1/loans/{loan}/issue"), &json!({}));
    assert_eq!(issued.status, 200, "{}", issued.text);
    let due: chrono::DateTime<Utc> = issued.body["due_at"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{}", issued.text));
    let settings = AlertSettings {
        reservation_warning: Duration::hours(2),
        waitlist_length: 1_000_000,
    };
    let raise =
        |at: chrono::DateTime<Utc>| events::raise_alerts(&app.db, Ts(at), &settings).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raise(due - Duration::hours(30)), 0, "not within a day yet");
    assert_eq!(raise(due - Duration::hours(20)), 1);
    assert_eq!(raise(due - Duration::hours(10)), 0, "once per due time");
    let later = due + Duration::days(2);
    let extended = app.post_admin(
        &format!("/api/v1/loans/{loan}/extend"),
        &json!({"due_at": later, "reason": "part delayed"}),
    );
    assert_eq!(extended.status, 200, "{}", extended.text);
    assert_eq!(
        raise(later - Duration::hours(20)),
        1,
        "the new due time is due soon again"
    );
    assert_eq!(raise(later - Duration::hours(5)), 0);
    let all = feed(&app, &app.admin_key, "&types=loan.due_soon,loan.extended");
    let types: Vec<&str> = all.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["loan.due_soon", "loan.extended", "loan.due_soon"], "{all:#?}");
    let ext = &all[1];
    assert_eq!(ext["subject"], json!({"type": "loan", "id": loan}));
    let new_due: chrono::DateTime<Utc> = ext["payload"]["due_at"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{ext}"));
    assert_eq!(new_due, later);
    assert!(ext["payload"]["previous_due_at"].is_string(), "{ext}");
    // A returned loan is due soon no more.
    let back = app.post_admin(&format!("/api/v1/loans/{loan}/return"), &json!({"condition": "good"}));
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(raise(later - Duration::hours(1)), 0);
}

/// A pickup moved to another partner: the new partner hears of a job to accept, in its scope; the old one hears
/// its job is withdrawn, in its own scope only; the store sees the new request and no false cancellation.
#[test]
fn a_reassigned_pickup_is_announced_to_the_new_partner_and_withdrawn_from_the_old() {
    let app = spawn_app();
    let p = premium(&app, "RP", 1);
    let first = partner(&app, "SF");
    let second = partner(&app, "JD");
    let mut body = ticket_body(&p, "mail_in");
    body["pickup"]["partner_id"] = json!(first.partner);
    let mail = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(mail.status, 201, "{}", mail.text);
    let pickup = mail.body["pickups"][0]["id"].as_str().unwrap_or_default().to_owned();
    let accepted = app.post(
        &format!("/api/v1/courier/pickups/{pickup}/accept"),
        &first.key,
        &json!({"tracking_number": "SF2000001"}),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let moved = app.patch_admin(
        &format!("/api/v1/pickups/{pickup}"),
        &json!({"partner_id": second.partner}),
    );
    assert_eq!(moved.status, 200, "{}", moved.text);

    let new = feed(&app, &second.key, "");
    let types: Vec<&str> = new.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["pickup.requested"], "{new:#?}");
    assert_eq!(new[0]["subject"], json!({"type": "pickup", "id": pickup}));
    assert_eq!(new[0]["payload"]["reassigned"], true);
    assert_eq!(new[0]["payload"]["status"], "requested");
    assert_eq!(new[0]["payload"]["partner_id"], json!(second.partner));

    let old = feed(&app, &first.key, "");
    let types: Vec<&str> = old.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        ["pickup.requested", "pickup.accepted", "pickup.cancelled"],
        "{old:#?}"
    );
    let withdrawn = &old[2]["payload"];
    assert_eq!(withdrawn["reason"], "reassigned");
    assert!(
        !withdrawn.to_string().contains(&second.partner),
        "the old partner is not told who took it"
    );

    let staff = app.create_key("store_staff", &[&p.store]);
    let store = feed(&app, &staff, "&types=pickup.requested,pickup.cancelled");
    let types: Vec<&str> = store.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["pickup.requested", "pickup.requested"], "{store:#?}");
}
