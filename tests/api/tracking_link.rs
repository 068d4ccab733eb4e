//! The customer's side of the tracking link (issue 15 item 2): what the view shows (the steps, the warranty
//! explained in Chinese and English, the quote), and what the customer does through it with no key: approve or
//! decline the quote (idempotent, on the version seen, one winner under races), choose the remedy, rate the closed
//! repair once; each on the timeline as the customer's act, with its outbox event, and limited per token.

use chrono::{Duration, Utc};
use depot::db::schema::{events, tickets};
use depot::db::types::{Id, Ts};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Resp, TestApp, spawn_app};
use crate::tickets::{imei, premium, step, ticket_body};

fn seeded() -> TestApp {
    let app = spawn_app();
    depot::seed::seed_demo(&app.db).unwrap_or_else(|e| panic!("seeding: {e}"));
    app
}

fn id_of(db: &depot::db::Db, table: &str, code: &str) -> String {
    use depot::db::schema::{parts, product_models, stores};
    let id: Id = db
        .read(|conn| {
            Ok(match table {
                "stores" => depot::with_conn!(conn, c => stores::table.filter(stores::code.eq(code)).select(stores::id).first(c))?,
                "parts" => depot::with_conn!(conn, c => parts::table.filter(parts::sku.eq(code)).select(parts::id).first(c))?,
                _ => depot::with_conn!(conn, c => product_models::table.filter(product_models::code.eq(code)).select(product_models::id).first(c))?,
            })
        })
        .unwrap_or_else(|e| panic!("{table} {code}: {e}"));
    id.0.to_string()
}

fn ok(res: Resp) -> Resp {
    assert_eq!(res.status, 200, "{}", res.text);
    res
}

fn act(app: &TestApp, path: &str) -> Resp {
    app.send("POST", path, Some(&app.admin_key), &[], "")
}

/// A customer's write through the link: no key.
fn link(app: &TestApp, token: &str, what: &str, body: &Value) -> Resp {
    app.send(
        "POST",
        &format!("/api/v1/public/tracking/{token}/{what}"),
        None,
        &[("content-type", "application/json")],
        &body.to_string(),
    )
}

fn view(app: &TestApp, token: &str) -> Resp {
    app.get(&format!("/api/v1/public/tracking/{token}"), None)
}

fn token_of(opened: &Resp) -> String {
    opened.body["tracking_token"].as_str().unwrap_or_default().to_owned()
}

/// An out-of-warranty repair at the seeded Futian store (a paid repair, quoted before it starts), diagnosed, with
/// a screen reserved; mail-in when `mail_in`.
fn paid_repair(app: &TestApp, mail_in: bool) -> (String, String) {
    let (id, token) = paid_repair_without_parts(app, mail_in);
    let screen = id_of(&app.db, "parts", "SCR-MATE60PRO");
    let reserved = app.post_admin(
        &format!("/api/v1/tickets/{id}/parts"),
        &json!({"part_id": screen, "quantity": 1}),
    );
    assert_eq!(reserved.status, 200, "{}", reserved.text);
    (id, token)
}

/// As [`paid_repair`], with labour only (the races open many, more than the store has screens).
fn paid_repair_without_parts(app: &TestApp, mail_in: bool) -> (String, String) {
    let mut body = json!({"store_id": id_of(&app.db, "stores", "SZ-FUTIAN"),
        "customer": {"name": "Li Lei", "phone": "13800000000"}, "device_imei": imei(),
        "model_id": id_of(&app.db, "models", "MATE60PRO"), "purchase_date": "2023-01-02",
        "channel": if mail_in { "mail_in" } else { "walk_in" }, "reported_fault": "cracked screen"});
    if mail_in {
        body["pickup"] = json!({"address": "88 Shennan Road, Futian, Shenzhen"});
    }
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    assert_eq!(opened.body["warranty"]["free"], false, "{}", opened.text);
    let id = opened.id();
    ok(act(app, &format!("/api/v1/tickets/{id}/start-diagnosis")));
    (id, token_of(&opened))
}

fn quote(app: &TestApp, id: &str, labour: &str) -> Resp {
    ok(app.post_admin(
        &format!("/api/v1/tickets/{id}/quote"),
        &json!({"labour": {"amount": labour, "currency": "CNY"}}),
    ))
}

fn ticket(app: &TestApp, id: &str) -> Value {
    ok(app.get_admin(&format!("/api/v1/tickets/{id}"))).body
}

/// The ticket's timeline entries of `kind` (with the status they moved to, when `to` is given).
fn entries(ticket: &Value, kind: &str, to: Option<&str>) -> Vec<Value> {
    ticket["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == kind && to.is_none_or(|t| e["to_status"] == t))
        .cloned()
        .collect()
}

/// The payloads of the ticket's outbox events of `event_type`.
fn outbox(app: &TestApp, id: &str, event_type: &str) -> Vec<Value> {
    let subject = Id(Uuid::parse_str(id).unwrap_or_default());
    let payloads: Vec<String> = app
        .db
        .read(|conn| {
            Ok(depot::with_conn!(conn, c => events::table
                .filter(events::subject_id.eq(subject))
                .filter(events::event_type.eq(event_type))
                .select(events::payload)
                .load(c))?)
        })
        .unwrap_or_else(|e| panic!("reading the outbox: {e}"));
    payloads
        .iter()
        .map(|p| serde_json::from_str(p).unwrap_or(Value::Null))
        .collect()
}

#[test]
fn a_mail_in_customer_reads_the_quote_approves_it_through_the_link_and_the_repair_goes_on() {
    let app = seeded();
    let (id, token) = paid_repair(&app, true);
    let before = ok(view(&app, &token));
    assert!(before.body["quote"].is_null(), "no quote yet: {}", before.text);
    quote(&app, &id, "80.00");

    let seen = ok(view(&app, &token));
    let q = &seen.body["quote"];
    assert_eq!(
        (q["version"].as_i64(), q["state"].as_str()),
        (Some(1), Some("waiting")),
        "{}",
        seen.text
    );
    assert_eq!(
        q["lines"][0]["name"].as_str().map(|n| !n.is_empty()),
        Some(true),
        "{}",
        seen.text
    );
    assert_eq!(q["lines"][0]["quantity"], 1);
    assert_eq!(
        q["lines"][0]["unit_price"],
        json!({"amount": "1949.00", "currency": "CNY"})
    );
    assert_eq!(q["labour"]["amount"], "80.00");
    assert_eq!(q["total_cost"]["amount"], "2029.00");
    assert_eq!(q["warranty_covers"]["amount"], "0.00");
    assert_eq!(q["customer_total"]["amount"], "2029.00");
    let w = &seen.body["warranty"];
    assert_eq!(w["rule"], "period_expired", "{}", seen.text);
    assert!(
        w["explanation_zh"].as_str().is_some_and(|t| t.contains("保修期")),
        "{w}"
    );
    assert!(
        w["explanation_en"]
            .as_str()
            .is_some_and(|t| t.contains("warranty period")),
        "{w}"
    );
    let steps: Vec<&str> = seen.body["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["status"].as_str())
        .collect();
    assert_eq!(steps, ["received", "diagnosing", "awaiting_approval"], "{}", seen.text);
    let full = ticket(&app, &id);
    for private in [
        &full["device_imei"],
        &full["customer"]["name"],
        &full["customer"]["phone"],
    ] {
        let private = private.as_str().unwrap_or("?");
        assert!(!seen.text.contains(private), "{private} shown on the link");
    }

    let approved = ok(link(&app, &token, "quote/approve", &json!({"quote_version": 1})));
    assert_eq!(approved.body["status"], "repairing", "{}", approved.text);
    assert_eq!(approved.body["quote"]["state"], "approved");
    let last = &approved.body["steps"][3];
    assert_eq!(
        (last["status"].as_str(), last["by_customer"].as_bool()),
        (Some("repairing"), Some(true))
    );
    // Again: refused, nothing more on the timeline; the other decision is refused too.
    link(&app, &token, "quote/approve", &json!({"quote_version": 1})).problem(409, "quote_already_approved");
    link(&app, &token, "quote/decline", &json!({"quote_version": 1})).problem(409, "quote_approved");
    let after = ok(view(&app, &token));
    assert_eq!(after.body["quote"], approved.body["quote"]);
    assert_eq!(after.body["steps"], approved.body["steps"]);

    let full = ticket(&app, &id);
    let moved = entries(&full, "status_changed", Some("repairing"));
    assert_eq!(moved.len(), 1, "{full}");
    assert_eq!(
        (moved[0]["by_customer"].as_bool(), &moved[0]["api_key_id"]),
        (Some(true), &Value::Null)
    );
    let events = outbox(&app, &id, "quote.approved");
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0]["by_customer"].as_bool(), events[0]["version"].as_i64()),
        (Some(true), Some(1))
    );

    // The workshop goes on: the approved part is used and the repair moves to its check.
    let line = full["parts"]["lines"][0]["id"].as_str().unwrap_or_default().to_owned();
    ok(act(&app, &format!("/api/v1/tickets/{id}/parts/{line}/consume")));
    let checked = ok(act(&app, &format!("/api/v1/tickets/{id}/start-quality-check")));
    assert_eq!(checked.body["status"], "quality_check");
}

#[test]
fn a_quote_reissued_since_it_was_seen_is_refused_and_a_declined_one_stays_declined() {
    let app = seeded();
    let (id, token) = paid_repair(&app, false);
    link(&app, &token, "quote/approve", &json!({"quote_version": 1})).problem(409, "no_quote");
    quote(&app, &id, "80.00");
    let reissued = quote(&app, &id, "60.00");
    assert_eq!(reissued.body["status"], "awaiting_approval");
    assert_eq!(
        entries(&reissued.body, "quote_reissued", None).len(),
        1,
        "{}",
        reissued.text
    );
    let seen = ok(view(&app, &token));
    assert_eq!(seen.body["quote"]["version"], 2);
    assert_eq!(seen.body["quote"]["labour"]["amount"], "60.00");

    // The customer decided on the first version: refused, nothing changed.
    link(&app, &token, "quote/approve", &json!({"quote_version": 1})).problem(409, "quote_changed");
    assert_eq!(ok(view(&app, &token)).body["quote"]["state"], "waiting");
    // Bad bodies name the field and change nothing.
    let zero = link(&app, &token, "quote/approve", &json!({"quote_version": 0}));
    assert_eq!(zero.status, 400, "{}", zero.text);
    assert_eq!(zero.bad_fields(), ["quote_version"]);
    let unknown = link(
        &app,
        &token,
        "quote/approve",
        &json!({"quote_version": 2, "price": "1"}),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    let missing = link(&app, &token, "quote/approve", &json!({}));
    assert_eq!(missing.status, 400, "{}", missing.text);

    let declined = ok(link(&app, &token, "quote/decline", &json!({"quote_version": 2})));
    assert_eq!(declined.body["status"], "ready_for_pickup", "{}", declined.text);
    assert_eq!(declined.body["quote"]["state"], "declined");
    assert_eq!(
        declined.body["quote"]["customer_total"]["amount"], "0.00",
        "nothing billed"
    );
    link(&app, &token, "quote/decline", &json!({"quote_version": 2})).problem(409, "quote_declined");
    link(&app, &token, "quote/approve", &json!({"quote_version": 2})).problem(409, "quote_declined");
    let full = ticket(&app, &id);
    assert_eq!(entries(&full, "status_changed", Some("ready_for_pickup")).len(), 1);
    assert_eq!(
        full["parts"]["lines"].as_array().map(Vec::len),
        Some(0),
        "the parts went back"
    );
    assert_eq!(outbox(&app, &id, "quote.declined").len(), 1);
    assert_eq!(outbox(&app, &id, "quote.issued").len(), 2);

    // Unknown and malformed tokens.
    let unknown = "A".repeat(43);
    link(&app, &unknown, "quote/approve", &json!({"quote_version": 2})).problem(404, "not_found");
    let malformed = link(&app, "not-a-token", "quote/approve", &json!({"quote_version": 2}));
    assert_eq!(
        (malformed.status, malformed.bad_fields()),
        (400, vec!["token".to_owned()])
    );
}

#[test]
fn two_approvals_at_once_make_one_transition_and_an_approval_racing_a_decline_has_one_winner() {
    let app = seeded();
    for round in 0..3 {
        let (id, token) = paid_repair_without_parts(&app, false);
        quote(&app, &id, "80.00");
        let answers: Vec<Resp> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..3)
                .map(|_| s.spawn(|| link(&app, &token, "quote/approve", &json!({"quote_version": 1}))))
                .collect();
            runs.into_iter()
                .map(|r| r.join().unwrap_or_else(|_| panic!("approving")))
                .collect()
        });
        // One approval wins; the others find the quote approved already.
        let won: Vec<&Resp> = answers.iter().filter(|a| a.status == 200).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {:?}",
            answers.iter().map(|a| &a.text).collect::<Vec<_>>()
        );
        assert_eq!(won[0].body["status"], "repairing", "{}", won[0].text);
        for a in answers.iter().filter(|a| a.status != 200) {
            a.problem(409, "quote_already_approved");
        }
        let full = ticket(&app, &id);
        assert_eq!(
            entries(&full, "status_changed", Some("repairing")).len(),
            1,
            "round {round}: {full}"
        );
        assert_eq!(outbox(&app, &id, "quote.approved").len(), 1, "round {round}");

        let (id, token) = paid_repair_without_parts(&app, false);
        quote(&app, &id, "80.00");
        let (approve, decline) = std::thread::scope(|s| {
            let a = s.spawn(|| link(&app, &token, "quote/approve", &json!({"quote_version": 1})));
            let d = s.spawn(|| link(&app, &token, "quote/decline", &json!({"quote_version": 1})));
            (
                a.join().unwrap_or_else(|_| panic!("approving")),
                d.join().unwrap_or_else(|_| panic!("declining")),
            )
        });
        let full = ticket(&app, &id);
        match (approve.status, decline.status) {
            (200, 409) => {
                decline.problem(409, "quote_approved");
                assert_eq!(full["status"], "repairing");
            }
            (409, 200) => {
                approve.problem(409, "quote_declined");
                assert_eq!(full["status"], "ready_for_pickup");
            }
            other => panic!(
                "round {round}: one winner expected, got {other:?}: {} / {}",
                approve.text, decline.text
            ),
        }
        let moves = entries(&full, "status_changed", None)
            .iter()
            .filter(|e| e["by_customer"] == true)
            .count();
        assert_eq!(moves, 1, "round {round}: {full}");
    }
}

#[test]
fn the_customer_chooses_the_remedy_through_the_link_by_staffs_rules() {
    let app = spawn_app();
    let p = premium(&app, "LR", 1);
    let mut body = ticket_body(&p, "walk_in");
    body["purchase_date"] = json!((Utc::now() - Duration::days(3)).date_naive());
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    let (id, token) = (opened.id(), token_of(&opened));
    let seen = ok(view(&app, &token));
    assert_eq!(seen.body["warranty"]["rule"], "return_window", "{}", seen.text);
    assert_eq!(
        seen.body["warranty"]["remedies"],
        json!(["return", "exchange", "free_repair"])
    );

    link(&app, &token, "remedy", &json!({"remedy": "paid_repair"})).problem(409, "remedy_not_offered");
    let long = link(
        &app,
        &token,
        "remedy",
        &json!({"remedy": "free_repair", "note": "x".repeat(1001)}),
    );
    assert_eq!(
        (long.status, long.bad_fields()),
        (400, vec!["note".to_owned()]),
        "{}",
        long.text
    );
    let chosen = ok(link(
        &app,
        &token,
        "remedy",
        &json!({"remedy": "free_repair", "note": "fix it please"}),
    ));
    assert_eq!(
        chosen.body["warranty"]["remedy_chosen"], "free_repair",
        "{}",
        chosen.text
    );
    link(&app, &token, "remedy", &json!({"remedy": "return"})).problem(409, "remedy_already_chosen");

    let full = ticket(&app, &id);
    assert_eq!(full["remedy"]["remedy"], "free_repair", "{full}");
    assert!(full["remedy"]["chosen_by"].is_null(), "no key chose it");
    let chose = entries(&full, "remedy_chosen", None);
    assert_eq!(chose.len(), 1);
    assert_eq!(chose[0]["by_customer"], true);
    assert_eq!(chose[0]["note"], "the customer chose free_repair: fix it please");
    assert_eq!(outbox(&app, &id, "ticket.remedy_chosen").len(), 1);
    // The staff's gate sees the choice: the repair may start.
    ok(step(&app, &id, "start-diagnosis"));
    ok(step(&app, &id, "start-repair"));

    // A return chosen through the link is carried out at once, as staff's is: refunded, the ticket closed, the
    // reserved loaner given back.
    let mut body = ticket_body(&p, "walk_in");
    body["purchase_date"] = json!((Utc::now() - Duration::days(3)).date_naive());
    body["invoice"] = json!({"price_paid": {"amount": "3999.00", "currency": "CNY"}});
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    let (id, token) = (opened.id(), token_of(&opened));
    let returned = ok(link(&app, &token, "remedy", &json!({"remedy": "return"})));
    assert_eq!(returned.body["status"], "closed", "{}", returned.text);
    assert!(returned.body["closed_at"].is_string());
    let last = returned.body["steps"]
        .as_array()
        .and_then(|s| s.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (last["status"].as_str(), last["by_customer"].as_bool()),
        (Some("closed"), Some(true))
    );
    let full = ticket(&app, &id);
    assert_eq!(
        full["outcome"]["refund"],
        json!({"amount": "3999.00", "currency": "CNY"}),
        "{full}"
    );
    assert_eq!(full["loan"]["state"], "cancelled", "{full}");
    let ended = entries(&full, "returned", Some("closed"));
    assert_eq!(
        (ended.len(), &ended[0]["by_customer"], &ended[0]["api_key_id"]),
        (1, &json!(true), &Value::Null)
    );
    // Closed: rated through the link next.
    ok(link(&app, &token, "rating", &json!({"score": 5, "works_now": true})));
}

#[test]
fn the_customer_rates_a_closed_repair_once_which_staff_see_and_the_archived_link_is_gone() {
    let app = spawn_app();
    let p = premium(&app, "RL", 0);
    let opened = app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
    assert_eq!(opened.status, 201, "{}", opened.text);
    let (id, token) = (opened.id(), token_of(&opened));
    let rating = json!({"score": 4, "works_now": true, "comment": "quick and kind"});
    link(&app, &token, "rating", &rating).problem(409, "ticket_not_closed");
    for action in [
        "start-diagnosis",
        "start-repair",
        "start-quality-check",
        "mark-ready",
        "close",
    ] {
        ok(step(&app, &id, action));
    }
    let bad = link(&app, &token, "rating", &json!({"score": 6, "works_now": true}));
    assert_eq!(
        (bad.status, bad.bad_fields()),
        (400, vec!["score".to_owned()]),
        "{}",
        bad.text
    );
    let no_answer = link(&app, &token, "rating", &json!({"score": 4}));
    assert_eq!(no_answer.status, 400, "works_now is asked: {}", no_answer.text);
    assert!(ok(view(&app, &token)).body["rating"].is_null(), "nothing changed");

    let rated = ok(link(&app, &token, "rating", &rating));
    assert_eq!(
        rated.body["rating"],
        json!({"score": 4, "works_now": true, "comment": "quick and kind"})
    );
    link(&app, &token, "rating", &json!({"score": 1, "works_now": false})).problem(409, "already_rated");
    // Staff's path keeps the same once: the customer's rating stands.
    app.post_admin(&format!("/api/v1/tickets/{id}/rating"), &json!({"score": 2}))
        .problem(409, "already_rated");
    let full = ticket(&app, &id);
    assert_eq!(
        full["rating"],
        json!({"score": 4, "comment": "quick and kind", "works_now": true})
    );
    let rated = entries(&full, "rated", None);
    assert_eq!((rated.len(), &rated[0]["by_customer"]), (1, &json!(true)), "{full}");
    assert_eq!(rated[0]["note"], "4 of 5, works now");
    let events = outbox(&app, &id, "ticket.rated");
    assert_eq!((events.len(), &events[0]["by_customer"]), (1, &json!(true)));

    // Ended long ago: the link is archived, for reading and for writing.
    let ticket_id = Id(Uuid::parse_str(&id).unwrap_or_default());
    let days = depot::tracking::rules::ARCHIVED_AFTER_DAYS;
    let backdate = |days: i64| {
        app.db
            .write(|conn| {
                Ok(
                    depot::with_conn!(conn, c => diesel::update(tickets::table.find(ticket_id))
                    .set(tickets::closed_at.eq(Some(Ts(depot::to_micros(Utc::now() - Duration::days(days))))))
                    .execute(c))?,
                )
            })
            .unwrap_or_else(|e| panic!("backdating: {e}"));
    };
    backdate(days - 1);
    ok(view(&app, &token));
    backdate(days + 1);
    view(&app, &token).problem(404, "not_found");
    link(&app, &token, "rating", &rating).problem(404, "not_found");
}

#[test]
fn writes_through_one_link_are_limited() {
    let app = seeded();
    let (id, token) = paid_repair(&app, false);
    quote(&app, &id, "80.00");
    let limit = depot::edge::LINK_WRITES_PER_TOKEN;
    // The first starts the repair; the rest are replays of it (each still a write through the link).
    for _ in 0..limit {
        ok(link_keyed(
            &app,
            &token,
            "quote/approve",
            "limited",
            &json!({"quote_version": 1}),
        ));
    }
    let refused = link(&app, &token, "quote/approve", &json!({"quote_version": 1}));
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.header("retry-after").is_some(), "{}", refused.text);
    // Reading is not a write: the link still answers.
    ok(view(&app, &token));
}

#[test]
fn ratings_at_once_through_the_link_and_by_staff_leave_one() {
    let app = spawn_app();
    let p = premium(&app, "RC", 0);
    for round in 0..3 {
        let opened = app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
        assert_eq!(opened.status, 201, "{}", opened.text);
        let (id, token) = (opened.id(), token_of(&opened));
        for action in [
            "start-diagnosis",
            "start-repair",
            "start-quality-check",
            "mark-ready",
            "close",
        ] {
            ok(step(&app, &id, action));
        }
        let answers: Vec<Resp> = std::thread::scope(|s| {
            let runs = vec![
                s.spawn(|| link(&app, &token, "rating", &json!({"score": 5, "works_now": true}))),
                s.spawn(|| link(&app, &token, "rating", &json!({"score": 3, "works_now": false}))),
                s.spawn(|| app.post_admin(&format!("/api/v1/tickets/{id}/rating"), &json!({"score": 1}))),
            ];
            runs.into_iter()
                .map(|r| r.join().unwrap_or_else(|_| panic!("rating")))
                .collect()
        });
        let won: Vec<&Resp> = answers.iter().filter(|a| a.status == 200).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {:?}",
            answers.iter().map(|a| &a.text).collect::<Vec<_>>()
        );
        for lost in answers.iter().filter(|a| a.status != 200) {
            lost.problem(409, "already_rated");
        }
        let full = ticket(&app, &id);
        assert_eq!(entries(&full, "rated", None).len(), 1, "round {round}: {full}");
        assert_eq!(outbox(&app, &id, "ticket.rated").len(), 1, "round {round}");
    }
}

/// A customer's write through the link with an `Idempotency-Key`.
fn link_keyed(app: &TestApp, token: &str, what: &str, key: &str, body: &Value) -> Resp {
    app.send(
        "POST",
        &format!("/api/v1/public/tracking/{token}/{what}"),
        None,
        &[("content-type", "application/json"), ("Idempotency-Key", key)],
        &body.to_string(),
    )
}

#[test]
fn a_quote_is_decided_once_and_a_retry_with_its_key_replays_the_first_answer() {
    let app = seeded();
    let (id, token) = paid_repair(&app, true);
    quote(&app, &id, "80.00");
    let v1 = json!({"quote_version": 1});
    let first = ok(link_keyed(&app, &token, "quote/approve", "approve-1", &v1));
    assert_eq!(first.body["status"], "repairing", "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);

    // The retry (key and body alike, the key's JSON spacing aside) answers as the first did, changing nothing.
    let retry = link_keyed(
        &app,
        &token,
        "quote/approve",
        "approve-1",
        &json!({ "quote_version": 1 }),
    );
    assert_eq!((retry.status, &retry.text), (200, &first.text));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    // The key with another body, or on another act, is refused; without the key the act done is refused.
    link_keyed(&app, &token, "quote/approve", "approve-1", &json!({"quote_version": 2}))
        .problem(409, "idempotency_key_reused");
    link_keyed(&app, &token, "quote/decline", "approve-1", &v1).problem(409, "idempotency_key_reused");
    link(&app, &token, "quote/approve", &v1).problem(409, "quote_already_approved");
    link_keyed(&app, &token, "quote/approve", "approve-2", &v1).problem(409, "quote_already_approved");
    link_keyed(&app, &token, "quote/decline", "decline-1", &v1).problem(409, "quote_approved");
    let bad_key = link_keyed(&app, &token, "quote/approve", "a key", &v1);
    assert_eq!(
        (bad_key.status, bad_key.bad_fields()),
        (400, vec!["Idempotency-Key".to_owned()]),
        "{}",
        bad_key.text
    );

    let full = ticket(&app, &id);
    assert_eq!(entries(&full, "status_changed", Some("repairing")).len(), 1, "{full}");
    assert_eq!(outbox(&app, &id, "quote.approved").len(), 1);
    assert_eq!(full["status"], "repairing");

    // Keys are a link's own: the same key through another link is another request.
    let (other, other_token) = paid_repair_without_parts(&app, false);
    quote(&app, &other, "50.00");
    let declined = ok(link_keyed(&app, &other_token, "quote/decline", "approve-1", &v1));
    assert_eq!(declined.body["status"], "ready_for_pickup", "{}", declined.text);
    assert_eq!(declined.header("idempotent-replayed"), None);
    // A keyed decline declined already, retried without its key: refused, the quote still declined.
    link(&app, &other_token, "quote/decline", &v1).problem(409, "quote_declined");
    let replay = ok(link_keyed(&app, &other_token, "quote/decline", "approve-1", &v1));
    assert_eq!(replay.text, declined.text);
    assert_eq!(outbox(&app, &other, "quote.declined").len(), 1);
}

#[test]
fn approvals_at_once_with_one_key_move_the_ticket_once_and_answer_alike() {
    let app = seeded();
    for round in 0..3 {
        let (id, token) = paid_repair_without_parts(&app, false);
        quote(&app, &id, "80.00");
        let key = format!("same-{round}");
        let answers: Vec<Resp> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..3)
                .map(|_| s.spawn(|| link_keyed(&app, &token, "quote/approve", &key, &json!({"quote_version": 1}))))
                .collect();
            runs.into_iter()
                .map(|r| r.join().unwrap_or_else(|_| panic!("approving")))
                .collect()
        });
        for a in &answers {
            assert_eq!(a.status, 200, "round {round}: {}", a.text);
            assert_eq!(a.text, answers[0].text, "round {round}: the answers differ");
        }
        assert_eq!(answers[0].body["status"], "repairing");
        let replayed = answers
            .iter()
            .filter(|a| a.header("idempotent-replayed") == Some("true"))
            .count();
        assert_eq!(replayed, 2, "round {round}: one acted, the others replayed it");
        let full = ticket(&app, &id);
        assert_eq!(
            entries(&full, "status_changed", Some("repairing")).len(),
            1,
            "round {round}: {full}"
        );
        assert_eq!(outbox(&app, &id, "quote.approved").len(), 1, "round {round}");
    }
}

#[test]
fn start_repair_waits_for_the_customers_approval_of_the_quote() {
    let app = seeded();
    let (id, token) = paid_repair(&app, false);
    quote(&app, &id, "80.00");
    // Staff cannot go round the customer: the quote waits for them.
    step(&app, &id, "start-repair").problem(409, "quote_not_approved");
    let waiting = ticket(&app, &id);
    assert_eq!(waiting["status"], "awaiting_approval", "{waiting}");
    assert!(entries(&waiting, "status_changed", Some("repairing")).is_empty());
    // A quote re-issued still waits.
    quote(&app, &id, "60.00");
    step(&app, &id, "start-repair").problem(409, "quote_not_approved");
    // The customer approves through the link: the repair starts by that act.
    let approved = ok(link(&app, &token, "quote/approve", &json!({"quote_version": 2})));
    assert_eq!(approved.body["status"], "repairing", "{}", approved.text);

    // Approval recorded by staff (the customer phoned) starts it the same way.
    let (id, _) = paid_repair_without_parts(&app, false);
    quote(&app, &id, "80.00");
    step(&app, &id, "start-repair").problem(409, "quote_not_approved");
    let recorded = ok(act(&app, &format!("/api/v1/tickets/{id}/quote/approve")));
    assert_eq!(recorded.body["status"], "repairing", "{}", recorded.text);
    // A declined quote never starts the repair: the phone went back.
    let (id, token) = paid_repair_without_parts(&app, false);
    quote(&app, &id, "80.00");
    ok(link(&app, &token, "quote/decline", &json!({"quote_version": 1})));
    step(&app, &id, "start-repair").problem(409, "illegal_transition");
}

#[test]
fn the_customer_chooses_an_exchange_through_the_link_and_the_store_carries_it_out() {
    let app = spawn_app();
    let p = premium(&app, "LX", 1);
    let mut body = ticket_body(&p, "walk_in");
    body["purchase_date"] = json!((Utc::now() - Duration::days(10)).date_naive());
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    let (id, token) = (opened.id(), token_of(&opened));
    assert_eq!(opened.body["warranty"]["remedies"], json!(["exchange", "free_repair"]));

    let chosen = ok(link(
        &app,
        &token,
        "remedy",
        &json!({"remedy": "exchange", "note": "a new one please"}),
    ));
    let w = &chosen.body["warranty"];
    assert_eq!(
        (w["remedy_chosen"].as_str(), w["remedy_awaits_store"].as_bool()),
        (Some("exchange"), Some(true)),
        "{}",
        chosen.text
    );
    assert_eq!(chosen.body["status"], "received", "nothing carried out yet");
    link(&app, &token, "remedy", &json!({"remedy": "exchange"})).problem(409, "remedy_already_chosen");
    link(&app, &token, "remedy", &json!({"remedy": "free_repair"})).problem(409, "remedy_already_chosen");

    // The staff see the customer's act, and the ticket waits for the store.
    let full = ticket(&app, &id);
    assert_eq!(full["remedy"]["remedy"], "exchange", "{full}");
    assert_eq!(full["remedy"]["awaits_store"], true);
    assert!(full["remedy"]["chosen_by"].is_null());
    assert!(full["outcome"].is_null());
    let chose = entries(&full, "remedy_chosen", None);
    assert_eq!((chose.len(), &chose[0]["by_customer"]), (1, &json!(true)), "{full}");
    let events = outbox(&app, &id, "ticket.remedy_chosen");
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0]["remedy"].as_str(), events[0]["awaits_store"].as_bool()),
        (Some("exchange"), Some(true))
    );
    // No repair instead of the exchange, and staff do not choose again for the customer.
    ok(step(&app, &id, "start-diagnosis"));
    step(&app, &id, "start-repair").problem(409, "exchange_awaiting_store");
    let choose = |body: Value| app.post_admin(&format!("/api/v1/tickets/{id}/remedy"), &body);
    choose(json!({"remedy": "free_repair"})).problem(409, "remedy_already_chosen");
    assert_eq!(choose(json!({"remedy": "exchange"})).bad_fields(), ["replacement_imei"]);

    // The store hands over the new phone: the exchange the customer chose is carried out.
    let new_imei = imei();
    let exchanged = ok(choose(json!({"remedy": "exchange", "replacement_imei": new_imei})));
    assert_eq!(exchanged.body["status"], "closed", "{}", exchanged.text);
    assert_eq!(exchanged.body["outcome"]["kind"], "exchanged");
    assert_eq!(exchanged.body["remedy"]["awaits_store"], false);
    assert!(
        exchanged.body["remedy"]["chosen_by"].is_null(),
        "still the customer's choice"
    );
    assert_eq!(entries(&exchanged.body, "remedy_chosen", None).len(), 1);
    assert_eq!(entries(&exchanged.body, "exchanged", Some("closed")).len(), 1);
    assert_eq!(outbox(&app, &id, "ticket.remedy_chosen").len(), 1);
    choose(json!({"remedy": "exchange", "replacement_imei": imei()})).problem(409, "ticket_final");
    let seen = ok(view(&app, &token));
    assert_eq!(
        (
            seen.body["status"].as_str(),
            seen.body["warranty"]["remedy_awaits_store"].as_bool()
        ),
        (Some("closed"), Some(false))
    );

    // A mail-in phone is exchanged at the store, not through the courier: refused through the link as by staff.
    let mut body = ticket_body(&p, "mail_in");
    body["purchase_date"] = json!((Utc::now() - Duration::days(10)).date_naive());
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    link(&app, &token_of(&opened), "remedy", &json!({"remedy": "exchange"}))
        .problem(409, "mail_in_outcome_unsupported");
}
