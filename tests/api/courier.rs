//! Courier mail-in over the partner API: retries, duplicates, out-of-order events, scopes, the loaner round trip
//! and the customer's tracking view.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app};
use crate::tickets::{Premium, premium, step, ticket_body};

/// A courier partner and its integration's API key.
pub struct Courier {
    pub partner: String,
    pub key: String,
}

/// Creates a courier partner and a courier key for it.
pub fn partner(app: &TestApp, code: &str) -> Courier {
    let res = app.post_admin(
        "/api/v1/partners",
        &json!({"code": code, "name": format!("{code} Express")}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    let partner = res.id();
    let key = app.post_admin(
        "/api/v1/api-keys",
        &json!({"role": "courier", "label": format!("{code} integration"), "partner_id": partner}),
    );
    assert_eq!(key.status, 201, "{}", key.text);
    Courier {
        partner,
        key: key.body["key"].as_str().unwrap_or_default().to_owned(),
    }
}

fn mail_in(app: &TestApp, p: &Premium, courier: &Courier) -> Resp {
    let mut body = ticket_body(p, "mail_in");
    body["pickup"]["partner_id"] = json!(courier.partner);
    let res = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(res.status, 201, "{}", res.text);
    res
}

/// The id of a mail-in ticket's inbound pickup, from the ticket as opened.
fn inbound_pickup(opened: &Resp) -> String {
    opened.body["pickups"][0]["id"].as_str().unwrap_or_default().to_owned()
}

fn event(id: &str, kind: &str, minutes_ago: i64) -> Value {
    json!({"event_id": id, "type": kind, "happened_at": Utc::now() - Duration::minutes(minutes_ago), "location": "Shenzhen hub"})
}

fn post_event(app: &TestApp, c: &Courier, pickup: &str, body: &Value) -> Resp {
    app.post(&format!("/api/v1/courier/pickups/{pickup}/events"), &c.key, body)
}

fn accept(app: &TestApp, c: &Courier, pickup: &str, tracking: &str) -> Resp {
    app.post(
        &format!("/api/v1/courier/pickups/{pickup}/accept"),
        &c.key,
        &json!({"tracking_number": tracking}),
    )
}

fn ticket(app: &TestApp, id: &str) -> Resp {
    app.get_admin(&format!("/api/v1/tickets/{id}"))
}

#[test]
fn a_mail_in_repair_travels_both_ways_through_the_partner_api() {
    let app = spawn_app();
    let p = premium(&app, "MAIL", 1);
    let c = partner(&app, "SWIFT");
    let opened = mail_in(&app, &p, &c);
    let id = opened.id();
    let token = opened.body["tracking_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(token.len(), 43);
    assert_eq!(opened.body["loan"]["state"], "reserved");
    assert!(opened.body["loan"]["hold_until"].is_null());
    let inbound = inbound_pickup(&opened);
    assert_eq!(opened.body["pickups"][0]["direction"], "inbound");

    let mine = app.get("/api/v1/courier/pickups", Some(&c.key));
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.body["items"][0]["id"], inbound.as_str());
    assert!(
        mine.body["items"][0]["contact_phone"].is_string(),
        "assigned to this partner: the phone shows"
    );

    assert_eq!(accept(&app, &c, &inbound, "SF100001").status, 200);
    assert_eq!(
        accept(&app, &c, &inbound, "SF100001").status,
        200,
        "accepting again is harmless"
    );
    accept(&app, &c, &inbound, "SF999999").problem(409, "illegal_transition");

    let picked = event("ev-1", "picked_up", 50);
    let first = post_event(&app, &c, &inbound, &picked);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.body,
        json!({"event_id": "ev-1", "stored": true, "status": "picked_up"})
    );
    let retry = post_event(&app, &c, &inbound, &picked);
    assert_eq!(
        retry.body,
        json!({"event_id": "ev-1", "stored": false, "status": "picked_up"}),
        "a retry is stored once"
    );
    let mut changed = picked.clone();
    changed["location"] = json!("Guangzhou");
    post_event(&app, &c, &inbound, &changed).problem(409, "event_id_reused");
    assert_eq!(
        ticket(&app, &id).body["loan"]["state"],
        "issued",
        "the loaner went out with the courier"
    );

    // Out of order: arrival is reported before the transit that happened first.
    assert_eq!(
        post_event(&app, &c, &inbound, &event("ev-3", "arrived", 20)).body["status"],
        "in_transit"
    );
    assert_eq!(
        post_event(&app, &c, &inbound, &event("ev-2", "in_transit", 40)).body["status"],
        "in_transit"
    );
    assert_eq!(
        post_event(&app, &c, &inbound, &event("ev-4", "delivered", 10)).body["status"],
        "delivered"
    );
    let late = post_event(&app, &c, &inbound, &event("ev-5", "in_transit", 30));
    assert_eq!(
        late.body,
        json!({"event_id": "ev-5", "stored": true, "status": "delivered"}),
        "never backwards"
    );
    let now = ticket(&app, &id);
    let events: Vec<&str> = now.body["pickups"][0]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(
        events,
        ["ev-1", "ev-2", "ev-5", "ev-3", "ev-4"],
        "kept and ordered by when they happened"
    );
    let kinds: Vec<&str> = now.body["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"device_received") && kinds.contains(&"courier_event"),
        "{kinds:?}"
    );

    for action in ["start-diagnosis", "start-repair", "start-quality-check", "mark-ready"] {
        assert_eq!(step(&app, &id, action).status, 200, "{action}");
    }
    step(&app, &id, "close").problem(409, "awaiting_delivery");
    let ready = ticket(&app, &id);
    let outbound = ready.body["pickups"][1]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(ready.body["pickups"][1]["direction"], "outbound");
    assert_eq!(ready.body["pickups"][1]["partner_id"], c.partner.as_str());
    accept(&app, &c, &outbound, "SF100001").problem(409, "tracking_number_taken");
    assert_eq!(accept(&app, &c, &outbound, "SF100002").status, 200);
    let batch = app.post(
        "/api/v1/courier/events",
        &c.key,
        &json!({"pickup_id": outbound, "events": [event("out-1", "picked_up", 5), event("out-2", "delivered", 1)]}),
    );
    assert_eq!(batch.status, 200, "{}", batch.text);
    assert_eq!(batch.body["outcomes"][1]["status"], "delivered");
    let back = ticket(&app, &id);
    assert_eq!(
        back.body["loan"]["state"], "returned",
        "the loaner came back with the delivery"
    );
    let closed = step(&app, &id, "close");
    assert_eq!(closed.status, 200, "{}", closed.text);

    let view = app.get(&format!("/api/v1/public/tracking/{token}"), None);
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["status"], "closed");
    assert_eq!(view.body["customer"], "W**");
    assert_eq!(view.body["phone"], "*********8000");
    assert!(!view.text.contains("Wang Fang") && !view.text.contains("13800138000") && !view.text.contains("Shennan"));
    assert_eq!(view.body["shipments"].as_array().map(Vec::len), Some(2));
    let number = back.body["number"].as_str().unwrap_or_default().to_owned();
    assert_ne!(
        app.get(&format!("/api/v1/public/tracking/{number}"), None).status,
        200,
        "a ticket number opens nothing"
    );
}

#[test]
fn partners_see_and_touch_only_their_own_pickups() {
    let app = spawn_app();
    let p = premium(&app, "SCOPE", 1);
    let mine = partner(&app, "MINE");
    let other = partner(&app, "OTHER");
    let opened = mail_in(&app, &p, &mine);
    let pickup = inbound_pickup(&opened);
    let theirs = app.get("/api/v1/courier/pickups", Some(&other.key));
    assert_eq!(theirs.body["items"].as_array().map(Vec::len), Some(0));
    accept(&app, &other, &pickup, "X1").problem(404, "not_found");
    post_event(&app, &other, &pickup, &event("x-1", "picked_up", 1)).problem(404, "not_found");
    app.get("/api/v1/tickets", Some(&mine.key)).problem(403, "forbidden");
    let admin_view = app.get_admin("/api/v1/courier/pickups");
    assert_eq!(
        admin_view.body["items"].as_array().map(Vec::len),
        Some(1),
        "an admin sees every partner's pickups"
    );
    let staff = app.create_key("store_staff", &[&p.store]);
    app.get("/api/v1/courier/pickups", Some(&staff))
        .problem(403, "forbidden");

    let key_id: String = app.get_admin("/api/v1/api-keys").body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["partner_id"] == mine.partner.as_str())
        .and_then(|k| k["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    app.send(
        "POST",
        &format!("/api/v1/api-keys/{key_id}/revoke"),
        Some(&app.admin_key),
        &[],
        "",
    );
    app.get("/api/v1/courier/pickups", Some(&mine.key))
        .problem(401, "unauthorized");
}

#[test]
fn bad_events_and_batches_change_nothing() {
    let app = spawn_app();
    let p = premium(&app, "BADEV", 2);
    let c = partner(&app, "QUICK");
    let a = mail_in(&app, &p, &c);
    let pickup = inbound_pickup(&a);
    accept(&app, &c, &pickup, "Q-1");

    let future = json!({"event_id": "f-1", "type": "picked_up", "happened_at": Utc::now() + Duration::hours(2)});
    assert_eq!(
        post_event(&app, &c, &pickup, &future).bad_fields(),
        ["events[0].happened_at"]
    );
    let unknown = json!({"event_id": "u-1", "type": "teleported", "happened_at": Utc::now()});
    assert_eq!(post_event(&app, &c, &pickup, &unknown).bad_fields(), ["type"]);
    let mixed = json!({"pickup_id": pickup, "events": [event("m-1", "picked_up", 5),
        {"event_id": "", "type": "in_transit", "happened_at": Utc::now()}]});
    app.post("/api/v1/courier/events", &c.key, &mixed)
        .problem(400, "validation_failed");
    let many: Vec<Value> = (0..101).map(|i| event(&format!("n-{i}"), "in_transit", 1)).collect();
    app.post(
        "/api/v1/courier/events",
        &c.key,
        &json!({"pickup_id": pickup, "events": many}),
    )
    .problem(400, "validation_failed");
    let view = ticket(&app, &a.id());
    assert_eq!(
        view.body["pickups"][0]["status"], "assigned",
        "nothing from a refused batch was applied"
    );
    assert_eq!(view.body["pickups"][0]["events"].as_array().map(Vec::len), Some(0));

    let b = mail_in(&app, &p, &c);
    let second = inbound_pickup(&b);
    accept(&app, &c, &second, "Q-1").problem(409, "tracking_number_taken");
    let cancelled = app.send(
        "POST",
        &format!("/api/v1/pickups/{second}/cancel"),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    post_event(&app, &c, &second, &event("c-1", "picked_up", 1)).problem(409, "pickup_cancelled");
}

#[test]
fn a_failed_inbound_pickup_ends_the_hold_and_serves_the_next_waiter() {
    let app = spawn_app();
    let p = premium(&app, "FAIL", 1);
    let c = partner(&app, "SLOW");
    let a = mail_in(&app, &p, &c);
    let waiter = crate::tickets::open(&app, &p);
    assert_eq!(waiter.body["loan"]["state"], "waiting");
    let pickup = inbound_pickup(&a);
    accept(&app, &c, &pickup, "S-1");
    post_event(&app, &c, &pickup, &event("s-1", "failed_attempt", 30));
    assert_eq!(
        ticket(&app, &a.id()).body["loan"]["state"],
        "reserved",
        "one failed attempt keeps the hold"
    );
    let res = post_event(&app, &c, &pickup, &event("s-2", "returned_to_sender", 10));
    assert_eq!(res.body["status"], "failed");
    assert_eq!(ticket(&app, &a.id()).body["loan"]["state"], "expired");
    assert_eq!(
        ticket(&app, &waiter.id()).body["loan"]["state"],
        "reserved",
        "the loaner went to the next waiter"
    );
}

#[test]
fn guessing_tracking_tokens_is_useless_and_slowed() {
    let app = spawn_app();
    let p = premium(&app, "GUESS", 0);
    let opened = app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
    let token = opened.body["tracking_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.get(&format!("/api/v1/public/tracking/{token}"), None).status, 200);
    // Every guess differs from the token in its first character, so none can be the real one by chance.
    let other_first = if token.starts_with('A') { "B" } else { "A" };
    let mut statuses = Vec::new();
    for i in 0..12 {
        let guess = format!("{other_first}{}{:02}", &token[1..41], i);
        statuses.push(app.get(&format!("/api/v1/public/tracking/{guess}"), None).status);
    }
    assert!(statuses[..10].iter().all(|s| *s == 404), "{statuses:?}");
    assert_eq!(statuses[11], 429, "failed look-ups are limited: {statuses:?}");
}

#[test]
fn events_resent_at_once_are_stored_once() {
    let app = spawn_app();
    let p = premium(&app, "RACE", 1);
    let c = partner(&app, "RUSH");
    let opened = mail_in(&app, &p, &c);
    let pickup = inbound_pickup(&opened);
    assert_eq!(accept(&app, &c, &pickup, "R-1").status, 200);
    assert_eq!(
        post_event(&app, &c, &pickup, &event("r-0", "picked_up", 30)).status,
        200
    );
    // Four scans, each sent by four clients at once: the first to land moves the pickup (in a transaction), the
    // others find it moved or not yet and race to store or recognise their scan.
    let scans: Vec<Value> = (1..=4)
        .map(|i| event(&format!("r-{i}"), "in_transit", 20 - i))
        .collect();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (app, c, pickup, scan) = (&app, &c, &pickup, &scans[i % 4]);
                s.spawn(move || post_event(app, c, pickup, scan))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    assert_eq!(answers.len(), 16, "every sender got an answer");
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["status"], "in_transit", "{}", answer.text);
    }
    for scan in &scans {
        let stored = answers
            .iter()
            .filter(|a| a.body["event_id"] == scan["event_id"] && a.body["stored"] == true)
            .count();
        assert_eq!(stored, 1, "{} stored by exactly one of its senders", scan["event_id"]);
    }
    let view = ticket(&app, &opened.id());
    assert_eq!(view.body["pickups"][0]["status"], "in_transit");
    assert_eq!(view.body["pickups"][0]["events"].as_array().map(Vec::len), Some(5));
}

#[test]
fn the_partner_list_keeps_open_pickups_first_across_pages() {
    let app = spawn_app();
    let p = premium(&app, "PAGE", 0);
    let c = partner(&app, "PAGER");
    // The two oldest pickups fail; the two newest stay open.
    let pickups: Vec<String> = (0..4).map(|_| inbound_pickup(&mail_in(&app, &p, &c))).collect();
    for (i, pickup) in pickups[..2].iter().enumerate() {
        assert_eq!(accept(&app, &c, pickup, &format!("PG-{i}")).status, 200);
        let failed = post_event(&app, &c, pickup, &event(&format!("pg-{i}"), "returned_to_sender", 5));
        assert_eq!(failed.body["status"], "failed", "{}", failed.text);
    }
    let listed = |limit: usize| -> Vec<(String, String)> {
        let mut seen = Vec::new();
        let mut path = format!("/api/v1/courier/pickups?limit={limit}");
        for _ in 0..10 {
            let page = app.get(&path, Some(&c.key));
            assert_eq!(page.status, 200, "{}", page.text);
            let items = page.body["items"].as_array().cloned().unwrap_or_default();
            assert!(items.len() <= limit, "{}", page.text);
            seen.extend(items.iter().map(|i| {
                let field = |name: &str| i[name].as_str().unwrap_or_default().to_owned();
                (field("id"), field("status"))
            }));
            match page.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/courier/pickups?limit={limit}&cursor={cursor}"),
                None => return seen,
            }
        }
        panic!("the pages never end: {seen:?}")
    };
    let whole = listed(50);
    let expected: Vec<(String, String)> = [(2, "requested"), (3, "requested"), (0, "failed"), (1, "failed")]
        .iter()
        .map(|(i, status)| (pickups[*i].clone(), (*status).to_owned()))
        .collect();
    assert_eq!(whole, expected, "open first, then final, each oldest first");
    assert_eq!(listed(2), whole, "pages of two");
    assert_eq!(listed(1), whole, "pages of one");
    assert_eq!(listed(3), whole, "a page across the two parts");

    // A cursor from another list, or made up, is refused: an id alone (the shape of most lists), a stock-levels
    // cursor (an id and a SKU), and an unknown phase.
    for cursor in [
        "AZLHhB3gcUqlm31sHjIrWA",
        "AZLHhB3gcUqlm31sHjIrWFNDUi1NQVRFNjBQUk8",
        "AZLHhB3gcUqlm31sHjIrWG9wZW5lZA",
    ] {
        let res = app.get(&format!("/api/v1/courier/pickups?cursor={cursor}"), Some(&c.key));
        assert_eq!(res.bad_fields(), ["cursor"], "{}", res.text);
    }
}
