//! Finding tickets: by IMEI, by the customer's phone, by number or its beginning, past their promise; combined with
//! store and status, paginated, scoped to the caller's stores; bad filters refused naming the parameter.
//!
//! Time is simulated: a ticket's promise and ready time are set in the past directly in the database (`app.db`),
//! as no request may set them there.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use depot::db::schema::tickets;
use depot::db::types::{Id, Ts};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Resp, TestApp, spawn_app};
use crate::tickets::imei;

struct Desk {
    store: String,
    model: String,
}

/// A service center with a standard (no loaner) series and model.
fn desk(app: &TestApp, code: &str) -> Desk {
    let store = app.create_store(code, "Shenzhen");
    let model = app.create_standard_model(code);
    Desk { store, model }
}

/// Opens a walk-in ticket for this IMEI and phone; returns the ticket.
#[track_caller]
fn open(app: &TestApp, desk: &Desk, imei: &str, name: &str, phone: &str) -> Value {
    let purchased = (Utc::now() - Duration::days(100)).date_naive();
    let res = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": desk.store, "customer": {"name": name, "phone": phone}, "device_imei": imei,
                "model_id": desk.model, "purchase_date": purchased, "channel": "walk_in",
                "reported_fault": "no signal", "accessories": []}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

/// Opens and cancels: the device has no open ticket afterwards, so that its next opening is allowed.
#[track_caller]
fn open_and_cancel(app: &TestApp, desk: &Desk, imei: &str, phone: &str) -> Value {
    let t = open(app, desk, imei, "Li Lei", phone);
    let id = t["id"].as_str().unwrap_or_default();
    let res = app.post_admin(&format!("/api/v1/tickets/{id}/cancel"), &json!({}));
    assert_eq!(res.status, 200, "{}", res.text);
    t
}

fn id_of(t: &Value) -> String {
    t["id"].as_str().unwrap_or_default().to_owned()
}

/// Every ticket a list answers, following its cursor; checks each page's order and size.
#[track_caller]
fn all_pages(app: &TestApp, key: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let res = app.get(&url, Some(key));
        assert_eq!(res.status, 200, "{url}: {}", res.text);
        items.extend(res.body["items"].as_array().cloned().unwrap_or_default());
        match res.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let ids: Vec<String> = items.iter().map(id_of).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "{path}: not in id order");
    items
}

fn ids(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(id_of).collect()
}

fn ids_of(tickets: &[&Value]) -> BTreeSet<String> {
    tickets.iter().map(|t| id_of(t)).collect()
}

fn uuid(t: &Value) -> Uuid {
    Uuid::parse_str(t["id"].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("ticket id: {e}"))
}

/// Sets a ticket's promise, ready time and status as if time had passed.
fn set_times(app: &TestApp, t: &Value, promised: Option<DateTime<Utc>>, ready: Option<DateTime<Utc>>, status: &str) {
    let id = Id(uuid(t));
    let status = status.to_owned();
    app.db
        .writer(|conn| {
            depot::with_conn!(conn.as_conn(), c => diesel::update(tickets::table.find(id))
                .set((
                    tickets::promised_at.eq(promised.map(|p| Ts(depot::to_micros(p)))),
                    tickets::ready_at.eq(ready.map(|r| Ts(depot::to_micros(r)))),
                    tickets::status.eq(&status),
                ))
                .execute(c))?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("setting times: {e}"));
}

/// Links tickets to the customer of this phone (normalised), as the migration's backfill did for older tickets.
fn link_customer(app: &TestApp, tickets_of: &[&Value], phone: &str, name: &str) {
    let ids: Vec<Id> = tickets_of.iter().map(|t| Id(uuid(t))).collect();
    let phone = phone.to_owned();
    let name = name.to_owned();
    app.db
        .writer(|conn| {
            let now = Ts(depot::now());
            let customer = depot::customers::repo::find_or_create(&mut conn.as_conn(), &phone, &name, None, now)?;
            depot::with_conn!(conn.as_conn(), c => diesel::update(tickets::table.filter(tickets::id.eq_any(ids.clone())))
                .set(tickets::customer_id.eq(Some(customer.id)))
                .execute(c))?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("linking the customer: {e}"));
}

#[test]
fn imei_finds_exactly_the_phones_tickets_across_pages_and_scopes() {
    let app = spawn_app();
    let a = desk(&app, "SRCH-A");
    let b = desk(&app, "SRCH-B");
    let phone_imei = imei();
    let other_imei = imei();
    let mut expected = Vec::new();
    let mut at_a = Vec::new();
    for i in 0..5 {
        let d = if i % 2 == 0 { &a } else { &b };
        // One phone is one model wherever it is repaired: the device's record holds it.
        let same_model = Desk {
            store: d.store.clone(),
            model: a.model.clone(),
        };
        let t = open_and_cancel(&app, &same_model, &phone_imei, "+8613800138000");
        if i % 2 == 0 {
            at_a.push(t.clone());
        }
        expected.push(t);
        open(&app, d, &imei(), "Han Meimei", "+8613900139000");
    }
    open(&app, &a, &other_imei, "Han Meimei", "+8613900139000");

    let admin = app.admin_key.clone();
    let found = all_pages(&app, &admin, &format!("/api/v1/tickets?imei={phone_imei}&limit=2"));
    assert_eq!(ids(&found), ids_of(&expected.iter().collect::<Vec<_>>()));
    assert_eq!(found.len(), 5);
    // The summary shows what the desk picks a row by.
    let first = &found[0];
    assert_eq!(first["device_imei"], phone_imei.as_str());
    assert_eq!(first["customer_name"], "Li Lei");
    assert!(
        first.get("promised_at").is_some() && first.get("ready_at").is_some(),
        "{first}"
    );

    // Combined with store and status.
    let at_store = all_pages(
        &app,
        &admin,
        &format!("/api/v1/tickets?imei={phone_imei}&store_id={}", a.store),
    );
    assert_eq!(ids(&at_store), ids_of(&at_a.iter().collect::<Vec<_>>()));
    let received = all_pages(
        &app,
        &admin,
        &format!("/api/v1/tickets?imei={phone_imei}&status=received"),
    );
    assert!(
        received.is_empty(),
        "all of the phone's tickets were cancelled: {received:?}"
    );
    let cancelled = all_pages(
        &app,
        &admin,
        &format!("/api/v1/tickets?imei={phone_imei}&status=cancelled&limit=1"),
    );
    assert_eq!(cancelled.len(), 5);

    // Store staff see their store's tickets of the phone; staff of another store see none.
    let staff_a = app.create_key("store_staff", &[&a.store]);
    let seen = all_pages(&app, &staff_a, &format!("/api/v1/tickets?imei={phone_imei}"));
    assert_eq!(ids(&seen), ids_of(&at_a.iter().collect::<Vec<_>>()));
    let elsewhere = desk(&app, "SRCH-C");
    let staff_c = app.create_key("store_staff", &[&elsewhere.store]);
    let none = all_pages(&app, &staff_c, &format!("/api/v1/tickets?imei={phone_imei}"));
    assert!(none.is_empty(), "{none:?}");
    // Asking for another store's tickets by name shows nothing either.
    let none = all_pages(
        &app,
        &staff_c,
        &format!("/api/v1/tickets?imei={phone_imei}&store_id={}", a.store),
    );
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn number_finds_a_ticket_or_those_starting_so_in_any_case() {
    let app = spawn_app();
    let a = desk(&app, "NUM-A");
    let opened: Vec<Value> = (0..12)
        .map(|_| open(&app, &a, &imei(), "Li Lei", "+8613800138000"))
        .collect();
    let numbers: Vec<String> = opened
        .iter()
        .map(|t| t["number"].as_str().unwrap_or_default().to_owned())
        .collect();
    let admin = app.admin_key.clone();

    let exact = &numbers[3];
    let found = all_pages(&app, &admin, &format!("/api/v1/tickets?number={exact}"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["number"], exact.as_str());
    let lower = exact.to_lowercase();
    assert_eq!(
        ids(&all_pages(&app, &admin, &format!("/api/v1/tickets?number={lower}"))),
        ids(&found)
    );

    // Prefixes of the last number, from the year down to all but its last digit: each finds exactly the numbers
    // that start so, across pages.
    let last = &numbers[11];
    for cut in [3, 8, last.len() - 2, last.len() - 1] {
        let prefix = &last[..cut];
        let expected: BTreeSet<String> = opened
            .iter()
            .filter(|t| t["number"].as_str().unwrap_or_default().starts_with(prefix))
            .map(id_of)
            .collect();
        let found = all_pages(
            &app,
            &admin,
            &format!("/api/v1/tickets?number={}&limit=5", prefix.to_lowercase()),
        );
        assert_eq!(ids(&found), expected, "prefix {prefix}");
        assert!(!expected.is_empty());
        let in_order: Vec<&str> = found.iter().map(|t| t["number"].as_str().unwrap_or_default()).collect();
        assert!(
            in_order.windows(2).all(|w| w[0] < w[1]),
            "a number search pages in number order: {in_order:?}"
        );
    }
    // A prefix no number has, and one that runs past every number's end.
    assert!(all_pages(&app, &admin, "/api/v1/tickets?number=RT-1999").is_empty());
    assert!(all_pages(&app, &admin, &format!("/api/v1/tickets?number={exact}0")).is_empty());
    // Combined with the status.
    let id = id_of(&opened[3]);
    assert_eq!(
        app.post_admin(&format!("/api/v1/tickets/{id}/cancel"), &json!({}))
            .status,
        200
    );
    let found = all_pages(
        &app,
        &admin,
        &format!("/api/v1/tickets?number={}&status=cancelled", &last[..8]),
    );
    assert_eq!(ids(&found), BTreeSet::from([id]));
}

#[test]
fn past_promise_lists_tickets_ready_late_or_not_ready_past_their_promise() {
    let app = spawn_app();
    let a = desk(&app, "LATE-A");
    let b = desk(&app, "LATE-B");
    let now = Utc::now();
    let (day, two_days) = (Duration::days(1), Duration::days(2));
    let mut t = Vec::new();
    for _ in 0..8 {
        t.push(open(&app, &a, &imei(), "Li Lei", "+8613800138000"));
    }
    let at_b = open(&app, &b, &imei(), "Li Lei", "+8613800138000");
    // Listed: open, not ready, promise passed.
    set_times(&app, &t[0], Some(now - day), None, "repairing");
    // Listed: ready a day after the promise (and collected since).
    set_times(&app, &t[1], Some(now - two_days * 2), Some(now - two_days), "closed");
    // Listed: ready after its promise, waiting for pickup.
    set_times(&app, &t[2], Some(now - two_days), Some(now - day), "ready_for_pickup");
    // Not listed: the promise is ahead.
    set_times(&app, &t[3], Some(now + day), None, "repairing");
    // Not listed: ready before the promise.
    set_times(&app, &t[4], Some(now - day), Some(now - two_days), "closed");
    // Not listed: cancelled, never ready.
    set_times(&app, &t[5], Some(now - day), None, "cancelled");
    // Not listed: closed without being marked ready.
    set_times(&app, &t[6], Some(now - day), None, "closed");
    // Not listed: no promise.
    set_times(&app, &t[7], None, None, "received");
    // Listed at the other store only.
    set_times(&app, &at_b, Some(now - day), None, "received");

    let admin = app.admin_key.clone();
    let expected = ids_of(&[&t[0], &t[1], &t[2]]);
    let found = all_pages(
        &app,
        &admin,
        &format!("/api/v1/tickets?store_id={}&past_promise=true&limit=1", a.store),
    );
    assert_eq!(ids(&found), expected);
    let staff_a = app.create_key("store_staff", &[&a.store]);
    assert_eq!(
        ids(&all_pages(&app, &staff_a, "/api/v1/tickets?past_promise=true")),
        expected
    );
    let both = all_pages(&app, &admin, "/api/v1/tickets?past_promise=true&limit=2");
    assert_eq!(ids(&both), ids_of(&[&t[0], &t[1], &t[2], &at_b]));
    let repairing = all_pages(&app, &admin, "/api/v1/tickets?past_promise=true&status=repairing");
    assert_eq!(ids(&repairing), ids_of(&[&t[0]]));
    // `false` filters nothing.
    let all = all_pages(
        &app,
        &admin,
        &format!("/api/v1/tickets?store_id={}&past_promise=false", a.store),
    );
    assert_eq!(all.len(), 8);
    let late = found
        .iter()
        .find(|s| s["id"] == t[1]["id"])
        .cloned()
        .unwrap_or_default();
    assert!(
        late["promised_at"].is_string() && late["ready_at"].is_string(),
        "{late}"
    );
}

#[test]
fn phone_finds_the_customers_tickets_linked_to_their_record() {
    let app = spawn_app();
    let a = desk(&app, "TEL-A");
    let theirs: Vec<Value> = (0..3)
        .map(|_| open(&app, &a, &imei(), "Wang Fang", "+8613800138000"))
        .collect();
    let others = open(&app, &a, &imei(), "Han Meimei", "13900139000");
    // The link the opening makes, made here directly so that this test reads the search alone.
    link_customer(&app, &theirs.iter().collect::<Vec<_>>(), "13800138000", "Wang Fang");
    link_customer(&app, &[&others], "13900139000", "Han Meimei");
    let admin = app.admin_key.clone();
    for spelling in [
        "13800138000",
        "%2B8613800138000",
        "0086-138-0013-8000",
        "138%200013%208000",
    ] {
        let found = all_pages(&app, &admin, &format!("/api/v1/tickets?phone={spelling}&limit=2"));
        assert_eq!(ids(&found), ids_of(&theirs.iter().collect::<Vec<_>>()), "{spelling}");
    }
    // A number no customer has: an empty page.
    let none = app.get("/api/v1/tickets?phone=13700137000", Some(&admin));
    assert_eq!(none.status, 200, "{}", none.text);
    assert_eq!(none.body["items"], json!([]));
    assert!(none.body["next_cursor"].is_null());
    // Scoped: staff of another store see none of them.
    let b = desk(&app, "TEL-B");
    let staff_b = app.create_key("store_staff", &[&b.store]);
    assert!(all_pages(&app, &staff_b, "/api/v1/tickets?phone=13800138000").is_empty());
}

/// Waits for the opening to link tickets to their customer (the lead's part of issue 13): until then a new ticket
/// has no customer and this search finds nothing.
#[test]
fn phone_typed_in_another_spelling_finds_the_tickets_opened_for_that_customer() {
    let app = spawn_app();
    let a = desk(&app, "TEL-C");
    let first = open(&app, &a, &imei(), "Wang Fang", "+8613800138000");
    let second = open(&app, &a, &imei(), "Wang Fang", "13800138000");
    open(&app, &a, &imei(), "Han Meimei", "+8613900139000");
    let found = all_pages(&app, &app.admin_key, "/api/v1/tickets?phone=138%200013%208000");
    assert_eq!(ids(&found), ids_of(&[&first, &second]));
}

#[track_caller]
fn refused(app: &TestApp, query: &str, field: &str) -> Resp {
    let res = app.get(&format!("/api/v1/tickets?{query}"), Some(&app.admin_key));
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), vec![field.to_owned()], "{query}: {}", res.text);
    res
}

#[test]
fn bad_filters_are_refused_naming_the_parameter() {
    let app = spawn_app();
    let good = imei();
    let mut bad_check = good.clone();
    let last = bad_check.pop().and_then(|c| c.to_digit(10)).unwrap_or(0);
    bad_check.push(char::from_digit((last + 1) % 10, 10).unwrap_or('0'));
    for q in [
        "imei=12345".to_owned(),
        format!("imei={bad_check}"),
        format!("imei={good}0"),
        "imei=49015420323751x".to_owned(),
        format!("imei=%20{}", &good[1..]),
    ] {
        refused(&app, &q, "imei");
    }
    for q in [
        "phone=abc",
        "phone=1234",
        "phone=%2B%2B8613800138000",
        "phone=138%200013%20800a",
        "phone=1",
    ] {
        refused(&app, q, "phone");
    }
    let long = format!("phone={}", "1".repeat(31));
    refused(&app, &long, "phone");
    for q in [
        "number=",
        "number=RT_2026",
        "number=RT%252026",
        "number=RT-2026-0000000000001",
        "number=RT%202026",
    ] {
        refused(&app, q, "number");
    }
    let res = app.get("/api/v1/tickets?past_promise=maybe", Some(&app.admin_key));
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.text.contains("past_promise"), "{}", res.text);
    // The good forms are accepted (and find nothing here).
    for q in [
        format!("imei={good}"),
        "phone=13800138000".to_owned(),
        "number=rt-2026".to_owned(),
    ] {
        let res = app.get(&format!("/api/v1/tickets?{q}"), Some(&app.admin_key));
        assert_eq!(res.status, 200, "{q}: {}", res.text);
        assert_eq!(res.body["items"], json!([]));
    }
}
