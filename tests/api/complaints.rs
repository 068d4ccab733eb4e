//! Complaints and the satisfaction report (issue 15 parts 3 and 4): states and the owner from first contact, scopes,
//! bad input, the single owner under concurrent acknowledgements, the first reply's clock with a made-up now and
//! its breach alert, the customer's complaint through the link (and its rate limit), goodwill remedies, the
//! outbox events, and the report in JSON and CSV.

use chrono::{Duration, Utc};
use depot::auth::{Principal, Role};
use depot::complaints::model::{ComplaintCategory, ComplaintChannel, ContactPreference};
use depot::complaints::{ComplaintFilter, DueFilter, NewComplaint, Target};
use depot::events;
use depot::http::pagination::PageRequest;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app, spawn_app_with};
use crate::tickets::{Premium, open, premium, step, ticket_body};

/// A store key's text and id.
struct Staff {
    key: String,
    id: String,
}

fn staff(app: &TestApp, role: &str, stores: &[&str]) -> Staff {
    let res = app.post_admin(
        "/api/v1/api-keys",
        &json!({"role": role, "label": format!("{role} complaint key"), "store_ids": stores}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    Staff {
        key: res.body["key"].as_str().unwrap_or_default().to_owned(),
        id: res.body["api_key"]["id"].as_str().unwrap_or_default().to_owned(),
    }
}

/// A service center with a series that gets no loaner, and one model of it.
fn plain(app: &TestApp, code: &str) -> Premium {
    let store = app.create_store(code, "Guiyang");
    let series = app.post_admin(
        "/api/v1/series",
        &json!({"code": format!("{code}-NOVA"), "name": "Nova", "premium": false}),
    );
    assert_eq!(series.status, 201, "{}", series.text);
    let model = app.post_admin(
        "/api/v1/models",
        &json!({"code": format!("{code}-N12"), "name": "Nova 12", "series_id": series.id()}),
    );
    assert_eq!(model.status, 201, "{}", model.text);
    Premium {
        store,
        series: series.id(),
        model: model.id(),
    }
}

fn complaint_on(ticket: &str) -> Value {
    json!({"ticket_id": ticket, "category": "repair_quality", "text": "The screen still flickers after the repair.",
           "contact_preference": "phone", "channel": "phone"})
}

fn act(app: &TestApp, key: &str, complaint: &str, action: &str, body: Option<Value>) -> Resp {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    app.send(
        "POST",
        &format!("/api/v1/complaints/{complaint}/{action}"),
        Some(key),
        &[],
        &body,
    )
}

fn kinds(complaint: &Value) -> Vec<String> {
    complaint["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

fn feed_types(app: &TestApp, query: &str) -> Vec<Value> {
    events::sequence(&app.db).unwrap_or_else(|e| panic!("sequencing: {e}"));
    let res = app.get_admin(&format!("/api/v1/events?limit=200{query}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_complaint_walks_its_states_with_its_owner_timeline_remedies_and_events() {
    let app = spawn_app();
    let a = plain(&app, "CA");
    let b = plain(&app, "CB");
    let staff_a = staff(&app, "store_staff", &[&a.store]);
    let staff_b = staff(&app, "store_staff", &[&b.store]);
    let ticket = open(&app, &a).id();

    // Bad input changes nothing: no text, blank text, two targets, an unknown field, the customer's channel.
    let mut blank = complaint_on(&ticket);
    blank["text"] = json!("   ");
    let res = app.post("/api/v1/complaints", &staff_a.key, &blank);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["text"]);
    let mut missing = complaint_on(&ticket);
    missing.as_object_mut().map(|o| o.remove("text"));
    app.post("/api/v1/complaints", &staff_a.key, &missing)
        .problem(400, "validation_failed");
    let mut two = complaint_on(&ticket);
    two["store_id"] = json!(a.store);
    assert_eq!(
        app.post("/api/v1/complaints", &staff_a.key, &two).bad_fields(),
        ["ticket_id"]
    );
    let mut unknown = complaint_on(&ticket);
    unknown["priority"] = json!("high");
    app.post("/api/v1/complaints", &staff_a.key, &unknown)
        .problem(400, "validation_failed");
    let mut link = complaint_on(&ticket);
    link["channel"] = json!("link");
    assert_eq!(
        app.post("/api/v1/complaints", &staff_a.key, &link).bad_fields(),
        ["channel"]
    );
    // Another store's ticket, or another store: 404, as if it did not exist.
    app.post("/api/v1/complaints", &staff_b.key, &complaint_on(&ticket))
        .problem(404, "not_found");
    let mut about_a = complaint_on(&ticket);
    about_a.as_object_mut().map(|o| o.remove("ticket_id"));
    about_a["store_id"] = json!(a.store);
    app.post("/api/v1/complaints", &staff_b.key, &about_a)
        .problem(404, "not_found");
    let nothing = app.get("/api/v1/complaints", Some(&staff_a.key));
    assert_eq!(nothing.body["items"], json!([]), "nothing was stored");

    let opened = app.post("/api/v1/complaints", &staff_a.key, &complaint_on(&ticket));
    assert_eq!(opened.status, 201, "{}", opened.text);
    let id = opened.id();
    assert_eq!(opened.body["state"], "open");
    assert_eq!(opened.body["about"], "ticket");
    assert_eq!(opened.body["store_id"], a.store.as_str());
    assert_eq!(opened.body["owner_id"], Value::Null);
    assert_eq!(opened.body["opened_by"], staff_a.id.as_str());
    assert_eq!(opened.body["reply_clock"], "running");
    let opened_at: chrono::DateTime<Utc> = serde_json::from_value(opened.body["opened_at"].clone()).unwrap_or_default();
    let due: chrono::DateTime<Utc> =
        serde_json::from_value(opened.body["first_reply_due_at"].clone()).unwrap_or_default();
    assert_eq!(due - opened_at, Duration::hours(48));
    app.get(&format!("/api/v1/complaints/{id}"), Some(&staff_b.key))
        .problem(404, "not_found");
    act(&app, &staff_b.key, &id, "acknowledge", None).problem(404, "not_found");
    let warehouse = staff(&app, "warehouse", &[&a.store]);
    app.get("/api/v1/complaints", Some(&warehouse.key))
        .problem(403, "forbidden");

    // Illegal transitions name the state.
    let early = act(&app, &staff_a.key, &id, "close", None);
    early.problem(409, "complaint_state");
    assert!(
        early.body["detail"].as_str().unwrap_or_default().contains("open"),
        "{}",
        early.text
    );
    act(&app, &staff_a.key, &id, "resolve", Some(json!({"resolution": "x"}))).problem(409, "complaint_state");

    let taken = act(&app, &staff_a.key, &id, "acknowledge", None);
    assert_eq!(taken.status, 200, "{}", taken.text);
    assert_eq!(taken.body["state"], "acknowledged");
    assert_eq!(taken.body["owner_id"], staff_a.id.as_str());
    act(&app, &app.admin_key, &id, "acknowledge", None).problem(409, "complaint_state");

    act(&app, &staff_a.key, &id, "replies", Some(json!({"message": " "}))).problem(400, "validation_failed");
    let replied = act(
        &app,
        &app.admin_key,
        &id,
        "replies",
        Some(json!({"message": "We will call you today at 3 pm."})),
    );
    assert_eq!(replied.status, 200, "{}", replied.text);
    assert_eq!(replied.body["reply_clock"], "met");
    assert_eq!(replied.body["owner_id"], staff_a.id.as_str(), "the owner stays");
    let resolved = act(
        &app,
        &staff_a.key,
        &id,
        "resolve",
        Some(json!({"resolution": "Screen replaced again, free of charge."})),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(resolved.body["state"], "resolved");
    act(&app, &staff_a.key, &id, "replies", Some(json!({"message": "hello"}))).problem(409, "complaint_state");
    let closed = act(&app, &staff_a.key, &id, "close", None);
    assert_eq!(closed.body["state"], "closed", "{}", closed.text);
    act(&app, &staff_a.key, &id, "close", None).problem(409, "complaint_state");
    let reopened = act(
        &app,
        &staff_a.key,
        &id,
        "reopen",
        Some(json!({"note": "The customer called back."})),
    );
    assert_eq!(reopened.body["state"], "reopened", "{}", reopened.text);
    assert_eq!(reopened.body["closed_at"], Value::Null);

    // Goodwill remedies: a manager's (admin's) decision; bad amounts and shapes refused.
    let compensation = json!({"kind": "compensation", "amount": {"amount": "50.00", "currency": "CNY"}});
    act(&app, &staff_a.key, &id, "remedies", Some(compensation.clone())).problem(403, "forbidden");
    let bad = act(
        &app,
        &app.admin_key,
        &id,
        "remedies",
        Some(json!({"kind": "extended_warranty"})),
    );
    assert_eq!(bad.bad_fields(), ["warranty_days"]);
    let zero = act(
        &app,
        &app.admin_key,
        &id,
        "remedies",
        Some(json!({"kind": "waived_charge", "amount": {"amount": "0", "currency": "CNY"}})),
    );
    assert_eq!(zero.bad_fields(), ["amount"]);
    let mixed = act(
        &app,
        &app.admin_key,
        &id,
        "remedies",
        Some(json!({"kind": "compensation", "amount": {"amount": "5.00", "currency": "CNY"}, "warranty_days": 3})),
    );
    assert_eq!(mixed.bad_fields(), ["warranty_days"]);
    let paid = act(&app, &app.admin_key, &id, "remedies", Some(compensation));
    assert_eq!(paid.status, 200, "{}", paid.text);
    let days = act(
        &app,
        &app.admin_key,
        &id,
        "remedies",
        Some(json!({"kind": "extended_warranty", "warranty_days": 90, "note": "goodwill"})),
    );
    assert_eq!(days.status, 200, "{}", days.text);
    let remedies = days.body["remedies"].as_array().cloned().unwrap_or_default();
    assert_eq!(remedies.len(), 2, "{}", days.text);
    assert_eq!(remedies[0]["kind"], "compensation");
    assert_eq!(remedies[0]["amount"], json!({"amount": "50.00", "currency": "CNY"}));
    assert_eq!(remedies[1]["warranty_days"], 90);
    assert!(
        remedies
            .iter()
            .all(|r| r["approved_by"].is_string() && r["approved_at"].is_string())
    );

    assert_eq!(
        kinds(&days.body),
        [
            "opened",
            "acknowledged",
            "replied",
            "resolved",
            "closed",
            "reopened",
            "remedy_recorded",
            "remedy_recorded"
        ]
    );
    let events = feed_types(
        &app,
        "&types=complaint.opened,complaint.acknowledged,complaint.replied,complaint.resolved,complaint.closed,complaint.reopened,complaint.remedy_recorded",
    );
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "complaint.opened",
            "complaint.acknowledged",
            "complaint.replied",
            "complaint.resolved",
            "complaint.closed",
            "complaint.reopened",
            "complaint.remedy_recorded",
            "complaint.remedy_recorded"
        ]
    );
    assert_eq!(events[0]["subject"], json!({"type": "complaint", "id": id}));
    assert!(
        !events[0]["payload"].to_string().contains("flickers"),
        "no customer words in events"
    );
    // Store B's staff do not see store A's complaint events.
    events::sequence(&app.db).unwrap_or_else(|e| panic!("{e}"));
    let theirs = app.get("/api/v1/events?types=complaint.opened", Some(&staff_b.key));
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.text);

    // Against a loan and against the store itself: the store is the loan's, or the one named.
    let p = premium(&app, "CL", 1);
    let with_loan = app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
    let loan = with_loan.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let mut on_loan = complaint_on(&ticket);
    on_loan.as_object_mut().map(|o| o.remove("ticket_id"));
    on_loan["loan_id"] = json!(loan);
    on_loan["category"] = json!("loaner");
    let res = app.post_admin("/api/v1/complaints", &on_loan);
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(
        (
            res.body["about"].clone(),
            res.body["store_id"].clone(),
            res.body["ticket_id"].clone()
        ),
        (json!("loan"), json!(p.store), json!(with_loan.id()))
    );
    let res = app.post("/api/v1/complaints", &staff_a.key, &about_a);
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["about"], "store");
    let listed = app.get("/api/v1/complaints", Some(&staff_a.key));
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(2),
        "store A's two, not store CL's"
    );
}

#[test]
fn concurrent_acknowledgements_leave_exactly_one_owner() {
    let app = spawn_app();
    let a = plain(&app, "CC");
    let ticket = open(&app, &a).id();
    let keys: Vec<Staff> = (0..8).map(|_| staff(&app, "store_staff", &[&a.store])).collect();
    for round in 0..3 {
        let opened = app.post_admin("/api/v1/complaints", &complaint_on(&ticket));
        assert_eq!(opened.status, 201, "{}", opened.text);
        let id = opened.id();
        let barrier = std::sync::Barrier::new(keys.len());
        let results: Vec<(String, Resp)> = std::thread::scope(|s| {
            let handles: Vec<_> = keys
                .iter()
                .map(|k| {
                    let (app, id, barrier) = (&app, &id, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        (k.id.clone(), act(app, &k.key, id, "acknowledge", None))
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let winners: Vec<&(String, Resp)> = results.iter().filter(|(_, r)| r.status == 200).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {:?}",
            results.iter().map(|(_, r)| r.status).collect::<Vec<_>>()
        );
        for (_, r) in results.iter().filter(|(_, r)| r.status != 200) {
            r.problem(409, "complaint_state");
        }
        let stored = app.get_admin(&format!("/api/v1/complaints/{id}"));
        assert_eq!(stored.body["owner_id"], winners[0].0.as_str());
        assert_eq!(
            kinds(&stored.body),
            ["opened", "acknowledged"],
            "one acknowledgement recorded"
        );
    }
}

fn new_complaint(ticket: &str) -> NewComplaint {
    NewComplaint {
        target: Target::Ticket(ticket.parse().unwrap_or_default()),
        category: ComplaintCategory::Delay,
        text: "Promised for Monday, still not ready.".into(),
        contact_preference: ContactPreference::Sms,
        channel: ComplaintChannel::Phone,
    }
}

/// An admin acting with key `id` (a real key: timeline entries name it).
fn admin(id: &str) -> Principal {
    Principal {
        key_id: id.parse().unwrap_or_default(),
        role: Role::Admin,
        store_ids: vec![],
        partner_id: None,
        username: None,
    }
}

fn ids(res: &Resp) -> Vec<String> {
    res.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_first_reply_clock_shows_due_soon_and_breached_and_alerts_once() {
    // Complaints opened over HTTP here are due in 2 hours (so at once "due soon"); those opened through the service
    // at a made-up time get the default 48 hours.
    let app = spawn_app_with(|s| s.complaint_first_reply = std::time::Duration::from_secs(2 * 3600));
    let a = plain(&app, "CK");
    let b = plain(&app, "CX");
    let staff_a = staff(&app, "store_staff", &[&a.store]);
    let ticket = open(&app, &a).id();
    let other = open(&app, &b).id();
    let manager = staff(&app, "admin", &[]);
    let admin = || admin(&manager.id);
    let now = Utc::now();
    let open_at = |ticket: &str, at: chrono::DateTime<Utc>| {
        app.db
            .write(|conn| {
                depot::complaints::service::open_in(conn, &admin(), &new_complaint(ticket), at, Duration::hours(48))
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .id
            .to_string()
    };
    let soon = open_at(&ticket, now - Duration::hours(47));
    let breached = open_at(&ticket, now - Duration::hours(49));
    let running = open_at(&ticket, now - Duration::hours(1));
    let elsewhere = open_at(&other, now - Duration::hours(50));
    let fresh = app.post_admin("/api/v1/complaints", &complaint_on(&ticket));
    assert_eq!(fresh.status, 201, "{}", fresh.text);
    assert_eq!(fresh.body["reply_clock"], "due_soon", "the flag's 2 hours");

    let list = |query: &str| {
        let res = app.get(&format!("/api/v1/complaints?{query}"), Some(&staff_a.key));
        assert_eq!(res.status, 200, "{}", res.text);
        res
    };
    let due_soon = list("due=soon");
    assert_eq!(ids(&due_soon), [soon.clone(), fresh.id()]);
    assert!(
        due_soon.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["reply_clock"] == "due_soon")
    );
    assert_eq!(
        ids(&list("due=breached")),
        [breached.as_str()],
        "store B's is not store A's staff's"
    );
    assert_eq!(
        ids(&app.get_admin("/api/v1/complaints?due=breached")),
        [breached.clone(), elsewhere.clone()]
    );
    assert_eq!(
        ids(&app.get_admin(&format!("/api/v1/complaints?due=breached&store_id={}", b.store))),
        [elsewhere.as_str()]
    );
    assert_eq!(
        list("state=open&limit=2").body["items"].as_array().map(Vec::len),
        Some(2)
    );
    for bad in ["due=later", "state=pending", "limit=0", "priority=high"] {
        let res = app.get(&format!("/api/v1/complaints?{bad}"), Some(&staff_a.key));
        res.problem(400, "validation_failed");
    }
    assert_eq!(
        app.get(&format!("/api/v1/complaints?store_id={}", b.store), Some(&staff_a.key))
            .body["items"],
        json!([]),
        "another store's list is empty for store A's staff"
    );

    // The list at a made-up later time: everything unanswered is breached.
    let later = now + Duration::hours(49);
    let page = PageRequest::parse("/complaints", Some(50), None).unwrap_or_else(|e| panic!("{e}"));
    let filter = ComplaintFilter {
        store_id: Some(a.store.parse().unwrap_or_default()),
        state: None,
        due: Some(DueFilter::Breached),
    };
    let at_later = app
        .db
        .read(|conn| depot::complaints::service::list_in(conn, &admin(), &filter, page, later))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(at_later.items.len(), 4);

    // The staff alert: raised once per breached complaint, however often the sweeper looks.
    let raise = |at| depot::complaints::raise_breach_alerts(&app.db, at).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raise(now), 2, "the two overdue now");
    assert_eq!(raise(now), 0, "once");
    // A reply stops the clock: answered late.
    let replied = act(
        &app,
        &staff_a.key,
        &breached,
        "replies",
        Some(json!({"message": "Sorry, calling you now."})),
    );
    assert_eq!(replied.status, 200, "{}", replied.text);
    assert_eq!(replied.body["reply_clock"], "missed");
    assert_eq!(
        replied.body["state"], "acknowledged",
        "replying to an open complaint takes it"
    );
    assert_eq!(replied.body["owner_id"], staff_a.id.as_str());
    assert_eq!(ids(&list("due=breached")), Vec::<String>::new());
    assert_eq!(raise(later), 3, "the due-soon, the running and the fresh one");
    assert_eq!(raise(later), 0);
    let alerts = feed_types(&app, "&types=complaint.first_reply_breached");
    let mut subjects: Vec<String> = alerts
        .iter()
        .filter_map(|e| e["subject"]["id"].as_str().map(str::to_owned))
        .collect();
    subjects.sort();
    let mut expected = vec![breached, elsewhere, soon, running, fresh.id()];
    expected.sort();
    assert_eq!(subjects, expected);
}

#[test]
fn the_customer_files_and_reopens_a_complaint_through_the_link_within_its_limits() {
    let app = spawn_app();
    let a = plain(&app, "CT");
    let opened = open(&app, &a);
    let token = opened.body["tracking_token"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/v1/public/tracking/{token}/complaints");
    let file = |path: &str, body: &Value| app.send("POST", path, None, &[], &body.to_string());
    let body =
        json!({"category": "delay", "text": "没有按时修好 (not ready as promised)", "contact_preference": "sms"});

    let filed = file(&path, &body);
    assert_eq!(filed.status, 201, "{}", filed.text);
    let id = filed.id();
    assert_eq!(filed.body["state"], "open");
    assert!(
        filed.body.get("owner_id").is_none() && filed.body.get("text").is_none(),
        "{}",
        filed.text
    );
    let seen = app.get_admin(&format!("/api/v1/complaints/{id}"));
    assert_eq!(seen.body["channel"], "link");
    assert_eq!(seen.body["ticket_id"], opened.id().as_str());
    assert_eq!(seen.body["opened_by"], Value::Null);
    assert_eq!(seen.body["timeline"][0]["by_customer"], true);

    let mut blank = body.clone();
    blank["text"] = json!("");
    assert_eq!(file(&path, &blank).bad_fields(), ["text"]);
    let mut extra = body.clone();
    extra["channel"] = json!("phone");
    file(&path, &extra).problem(400, "validation_failed");
    let unknown = format!("/api/v1/public/tracking/{}/complaints", depot::tracking::new_token());
    file(&unknown, &body).problem(404, "not_found");
    file("/api/v1/public/tracking/short/complaints", &body).problem(400, "validation_failed");

    // A retry with the same Idempotency-Key files nothing new; the key with another body is refused.
    let with_key = |body: &Value| app.send("POST", &path, None, &[("Idempotency-Key", "form-1")], &body.to_string());
    let first = with_key(&body);
    assert_eq!(first.status, 201, "{}", first.text);
    let again = with_key(&body);
    assert_eq!((again.status, again.id()), (201, first.id()), "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let mut changed = body.clone();
    changed["category"] = json!("charges");
    with_key(&changed).problem(409, "idempotency_key_reused");

    // The customer may reopen it once resolved, through their own link only.
    act(&app, &app.admin_key, &id, "acknowledge", None);
    let resolved = act(
        &app,
        &app.admin_key,
        &id,
        "resolve",
        Some(json!({"resolution": "Ready tomorrow, with a discount."})),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    let other = open(&app, &a);
    let other_token = other.body["tracking_token"].as_str().unwrap_or_default().to_owned();
    let reopen = |token: &str| {
        app.send(
            "POST",
            &format!("/api/v1/public/tracking/{token}/complaints/{id}/reopen"),
            None,
            &[],
            &json!({"note": "Still not ready."}).to_string(),
        )
    };
    reopen(&other_token).problem(404, "not_found");
    let reopened = reopen(&token);
    assert_eq!(reopened.status, 200, "{}", reopened.text);
    assert_eq!(reopened.body["state"], "reopened");
    reopen(&token).problem(409, "complaint_state");
    let seen = app.get_admin(&format!("/api/v1/complaints/{id}"));
    let last = seen.body["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (last["kind"].clone(), last["by_customer"].clone()),
        (json!("reopened"), json!(true))
    );

    // Ten writes per token per window, accepted or refused alike: this token has had seven (filed, blank, three
    // with the key, reopened, reopened again; a body that does not parse never reaches the count). Three more, then
    // 429.
    let statuses: Vec<u16> = (0..3).map(|_| file(&path, &body).status).collect();
    assert_eq!(statuses, [201; 3], "{statuses:?}");
    let limited = file(&path, &body);
    limited.problem(429, "too_many_requests");
    assert!(limited.header("retry-after").is_some(), "{:?}", limited.headers);
    // Another customer's link is limited separately (per client: 30).
    let other_path = format!("/api/v1/public/tracking/{other_token}/complaints");
    assert_eq!(file(&other_path, &body).status, 201);
    let listed = app.get_admin(&format!("/api/v1/complaints?store_id={}", a.store));
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(6),
        "1 + 1 + 3 + 1 filed; nothing for refusals or replays"
    );
}

fn close_ticket(app: &TestApp, ticket: &str) {
    for action in [
        "start-diagnosis",
        "start-repair",
        "start-quality-check",
        "mark-ready",
        "close",
    ] {
        let res = step(app, ticket, action);
        assert_eq!(res.status, 200, "{action}: {}", res.text);
    }
}

#[test]
fn the_satisfaction_report_counts_ratings_callbacks_and_complaints_in_json_and_csv() {
    let app = spawn_app();
    let a = plain(&app, "RA");
    let b = plain(&app, "RB");
    let staff_a = staff(&app, "store_staff", &[&a.store]);
    let staff_b = staff(&app, "store_staff", &[&b.store]);
    let start = Utc::now() - Duration::minutes(1);
    let rated = open(&app, &a).id();
    let unrated = open(&app, &a).id();
    let _still_open = open(&app, &a).id();
    close_ticket(&app, &rated);
    close_ticket(&app, &unrated);
    let rating = app.post_admin(&format!("/api/v1/tickets/{rated}/rating"), &json!({"score": 4}));
    assert_eq!(rating.status, 200, "{}", rating.text);
    let c = app.post("/api/v1/complaints", &staff_a.key, &complaint_on(&rated));
    assert_eq!(c.status, 201, "{}", c.text);
    let resolved = act(&app, &staff_a.key, &c.id(), "acknowledge", None);
    assert_eq!(resolved.status, 200);
    let resolved = act(
        &app,
        &staff_a.key,
        &c.id(),
        "resolve",
        Some(json!({"resolution": "Refunded the labour."})),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    let unanswered = app.post("/api/v1/complaints", &staff_a.key, &complaint_on(&unrated));
    assert_eq!(unanswered.status, 201);

    let period = format!(
        "from={}&to={}",
        start.format("%Y-%m-%dT%H:%M:%SZ"),
        (Utc::now() + Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let report = app.get(&format!("/api/v1/reports/satisfaction?{period}"), Some(&staff_a.key));
    assert_eq!(report.status, 200, "{}", report.text);
    let stores = report.body["stores"].as_array().cloned().unwrap_or_default();
    assert_eq!(stores.len(), 1, "store A's staff see store A only: {}", report.text);
    let row = &stores[0];
    assert_eq!(row["store_code"], "RA");
    assert_eq!(row["closed_tickets"], 2);
    assert_eq!(row["ratings_count"], 1);
    assert_eq!(row["ratings_average"], 4.0);
    assert_eq!(row["callback_coverage"], 0.5);
    assert_eq!(row["complaints_opened"], 2);
    assert_eq!(row["first_replies_due"], 1, "the unanswered one's clock still runs");
    assert_eq!(row["first_replies_on_time"], 1);
    assert_eq!(row["first_replies_on_time_share"], 1.0);
    assert_eq!(row["complaints_resolved"], 1);
    assert!(
        row["median_hours_to_resolve"]
            .as_f64()
            .is_some_and(|h| (0.0..0.1).contains(&h)),
        "{row}"
    );

    // The admin sees both service centers; store B's row is empty.
    let all = app.get_admin(&format!("/api/v1/reports/satisfaction?{period}"));
    let codes: Vec<&str> = all.body["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["store_code"].as_str())
        .collect();
    assert_eq!(codes, ["RA", "RB"]);
    assert_eq!(all.body["stores"][1]["closed_tickets"], 0);
    assert_eq!(all.body["stores"][1]["ratings_average"], Value::Null);
    // A period before anything happened counts nothing.
    let before = app.get(
        &format!(
            "/api/v1/reports/satisfaction?store_id={}&to={}",
            a.store,
            start.format("%Y-%m-%dT%H:%M:%SZ")
        ),
        Some(&staff_a.key),
    );
    assert_eq!(before.body["stores"][0]["closed_tickets"], 0, "{}", before.text);
    assert_eq!(before.body["stores"][0]["complaints_opened"], 0);

    // CSV, asked either way.
    let csv = app.get(
        &format!("/api/v1/reports/satisfaction?{period}&format=csv"),
        Some(&staff_a.key),
    );
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 2, "{}", csv.text);
    assert_eq!(lines[0], depot::reports::http::CSV_HEADER.join(","));
    let cells: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(cells[0], a.store);
    assert_eq!(cells[1], "RA");
    assert_eq!(&cells[5..], ["2", "1", "4", "0.5", "2", "1", "1", "1", "1", cells[14]]);
    let mut accept = ureq::get(&app.url(&format!("/api/v1/reports/satisfaction?{period}")))
        .header("Authorization", &format!("Bearer {}", staff_a.key))
        .header("Accept", "text/csv")
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accept.body_mut().read_to_string().unwrap_or_default(), csv.text);

    // Scope and bad input.
    app.get(
        &format!("/api/v1/reports/satisfaction?store_id={}", a.store),
        Some(&staff_b.key),
    )
    .problem(404, "not_found");
    let theirs = app.get("/api/v1/reports/satisfaction", Some(&staff_b.key));
    assert_eq!(theirs.body["stores"][0]["store_code"], "RB", "{}", theirs.text);
    let backwards = app.get(
        &format!(
            "/api/v1/reports/satisfaction?from={}&to={}",
            Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
            start.format("%Y-%m-%dT%H:%M:%SZ")
        ),
        Some(&staff_a.key),
    );
    assert_eq!(backwards.bad_fields(), ["from"]);
    app.get("/api/v1/reports/satisfaction?format=xml", Some(&staff_a.key))
        .problem(400, "validation_failed");
    let courier = staff(&app, "warehouse", &[&a.store]);
    app.get("/api/v1/reports/satisfaction", Some(&courier.key))
        .problem(403, "forbidden");
}

#[test]
fn two_link_complaints_at_once_with_one_key_file_one_and_answer_alike() {
    let app = spawn_app();
    let a = plain(&app, "CK");
    for round in 0..3 {
        let opened = open(&app, &a);
        let (ticket, token) = (
            opened.id(),
            opened.body["tracking_token"].as_str().unwrap_or_default().to_owned(),
        );
        let path = format!("/api/v1/public/tracking/{token}/complaints");
        let body = json!({"category": "delay", "text": "Still waiting for my phone.", "contact_preference": "phone"})
            .to_string();
        let barrier = std::sync::Barrier::new(2);
        let answers: Vec<Resp> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..2)
                .map(|_| {
                    let (app, path, body, barrier) = (&app, &path, &body, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        app.send("POST", path, None, &[("Idempotency-Key", "form-7")], body)
                    })
                })
                .collect();
            runs.into_iter().filter_map(|r| r.join().ok()).collect()
        });
        assert_eq!(answers.len(), 2);
        for a in &answers {
            assert_eq!(a.status, 201, "round {round}: {}", a.text);
        }
        assert_eq!(answers[0].body, answers[1].body, "round {round}: the answers differ");
        let replayed = answers
            .iter()
            .filter(|a| a.header("idempotent-replayed") == Some("true"))
            .count();
        assert_eq!(replayed, 1, "round {round}: one filed, the other replayed it");
        let listed = app.get_admin(&format!("/api/v1/complaints?store_id={}", a.store));
        let of_ticket: Vec<&Value> = listed.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["ticket_id"] == ticket.as_str())
            .collect();
        assert_eq!(of_ticket.len(), 1, "round {round}: {}", listed.text);
        assert_eq!(of_ticket[0]["id"], answers[0].body["id"]);
    }
}

#[test]
fn a_goodwill_remedy_racing_the_close_lands_before_it_or_is_refused() {
    let app = spawn_app();
    let a = plain(&app, "CG");
    let ticket = open(&app, &a).id();
    let remedy = json!({"kind": "compensation", "amount": {"amount": "20.00", "currency": "CNY"}});
    let resolved = |app: &TestApp| {
        let opened = app.post_admin("/api/v1/complaints", &complaint_on(&ticket));
        assert_eq!(opened.status, 201, "{}", opened.text);
        let id = opened.id();
        act(app, &app.admin_key, &id, "acknowledge", None);
        let res = act(
            app,
            &app.admin_key,
            &id,
            "resolve",
            Some(json!({"resolution": "Screen replaced."})),
        );
        assert_eq!(res.status, 200, "{}", res.text);
        id
    };

    // In turn: a closed complaint is settled; reopened, it takes the remedy.
    let id = resolved(&app);
    assert_eq!(act(&app, &app.admin_key, &id, "close", None).status, 200);
    act(&app, &app.admin_key, &id, "remedies", Some(remedy.clone())).problem(409, "complaint_closed");
    let unchanged = app.get_admin(&format!("/api/v1/complaints/{id}"));
    assert_eq!(unchanged.body["remedies"], json!([]), "{}", unchanged.text);
    assert_eq!(act(&app, &app.admin_key, &id, "reopen", None).status, 200);
    assert_eq!(
        act(&app, &app.admin_key, &id, "remedies", Some(remedy.clone())).status,
        200
    );

    // At once: one order, whichever it is.
    for round in 0..6 {
        let id = resolved(&app);
        let barrier = std::sync::Barrier::new(2);
        let (closed, granted) = std::thread::scope(|s| {
            let c = s.spawn(|| {
                barrier.wait();
                act(&app, &app.admin_key, &id, "close", None)
            });
            let r = s.spawn(|| {
                barrier.wait();
                act(&app, &app.admin_key, &id, "remedies", Some(remedy.clone()))
            });
            (
                c.join().unwrap_or_else(|_| panic!("closing")),
                r.join().unwrap_or_else(|_| panic!("granting")),
            )
        });
        assert_eq!(closed.status, 200, "round {round}: {}", closed.text);
        let stored = app.get_admin(&format!("/api/v1/complaints/{id}"));
        assert_eq!(stored.body["state"], "closed", "round {round}");
        let remedies = stored.body["remedies"].as_array().map_or(0, Vec::len);
        let timeline = kinds(&stored.body);
        match granted.status {
            200 => {
                assert_eq!(remedies, 1, "round {round}: {}", stored.text);
                assert_eq!(
                    &timeline[timeline.len() - 2..],
                    ["remedy_recorded", "closed"],
                    "round {round}: the remedy before the close"
                );
            }
            _ => {
                granted.problem(409, "complaint_closed");
                assert_eq!(remedies, 0, "round {round}: {}", stored.text);
                assert!(
                    !timeline.contains(&"remedy_recorded".to_owned()),
                    "round {round}: {timeline:?}"
                );
                assert_eq!(timeline.last().map(String::as_str), Some("closed"));
            }
        }
    }
}

#[test]
fn goodwill_warranty_days_extend_the_devices_next_decision() {
    let app = spawn_app();
    let a = plain(&app, "CW");
    let mut body = ticket_body(&a, "walk_in");
    // Some days past the one-year free-repair period.
    body["purchase_date"] = json!((Utc::now() - Duration::days(370)).date_naive());
    let first = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["warranty"]["rule"], "period_expired", "{}", first.text);
    assert_eq!(first.body["warranty"]["free"], false);
    let complaint = app.post_admin("/api/v1/complaints", &complaint_on(&first.id()));
    assert_eq!(complaint.status, 201, "{}", complaint.text);
    let granted = act(
        &app,
        &app.admin_key,
        &complaint.id(),
        "remedies",
        Some(json!({"kind": "extended_warranty", "warranty_days": 30, "note": "goodwill"})),
    );
    assert_eq!(granted.status, 200, "{}", granted.text);
    // A compensation is money, not days: it extends nothing.
    let paid = act(
        &app,
        &app.admin_key,
        &complaint.id(),
        "remedies",
        Some(json!({"kind": "compensation", "amount": {"amount": "10.00", "currency": "CNY"}})),
    );
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(step(&app, &first.id(), "cancel").status, 200);

    // The same phone back: the 30 days granted push the free-repair end past today.
    let second = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.body["warranty"]["rule"], "repair_window", "{}", second.text);
    assert_eq!(second.body["warranty"]["free"], true);
    let device = app.get_admin(&format!(
        "/api/v1/devices/{}",
        body["device_imei"].as_str().unwrap_or_default()
    ));
    assert_eq!(device.status, 200, "{}", device.text);
    assert_eq!(device.body["credits"]["correction_days"], 30, "{}", device.text);
}
