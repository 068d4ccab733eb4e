//! Devices and customers over HTTP: a phone's history by IMEI, an admin's correction, plans sold under their rules
//! and used up once, customers found by any spelling of their number, and what each caller may see.
//!
//! Tickets are opened over HTTP; their device and customer records are made (when the opening has not made them)
//! and linked through the database, so these tests hold whether or not the opening links tickets itself.

use chrono::{Duration, Months, NaiveDate, Utc};
use depot::db::types::{Id, Ts};
use depot::devices::{DeviceRow, PlanKind};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Resp, TestApp, spawn_app};
use crate::tickets::imei;

/// Two service centers and a non-premium model (no loaners in the way).
struct World {
    store_a: String,
    store_b: String,
    model: String,
}

fn world(app: &TestApp, code: &str) -> World {
    let store_a = app.create_store(&format!("{code}A"), "Shenzhen");
    let store_b = app.create_store(&format!("{code}B"), "Guangzhou");
    let model = app.create_standard_model(code);
    World {
        store_a,
        store_b,
        model,
    }
}

fn today() -> NaiveDate {
    depot::tickets::local_date("Asia/Shanghai", Utc::now())
}

fn uuid(text: &str) -> Uuid {
    text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[track_caller]
fn open(app: &TestApp, store: &str, model: &str, imei: &str, purchased: NaiveDate) -> Resp {
    let res = app.post_admin(
        "/api/v1/tickets",
        &json!({
            "store_id": store,
            "customer": {"name": "Wang Fang", "phone": "+8613800138000"},
            "device_imei": imei,
            "model_id": model,
            "purchase_date": purchased,
            "channel": "walk_in",
            "reported_fault": "does not charge",
        }),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res
}

/// The device with this IMEI: the one the opening made, or one written now.
fn device(app: &TestApp, imei: &str, model: &str, purchased: NaiveDate) -> Uuid {
    let row = DeviceRow {
        id: Id(Uuid::now_v7()),
        imei: imei.to_owned(),
        model_id: Id(uuid(model)),
        purchase_date: purchased,
        warranty_starts_on: purchased,
        price_paid_minor: Some(399_900),
        seller: None,
        invoice_number: None,
        state: "in_use".to_owned(),
        customer_id: None,
        replaces_device_id: None,
        credit_correction_days: 0,
        created_at: Ts(depot::now()),
        updated_at: Ts(depot::now()),
    };
    app.db
        .write(|conn| {
            depot::devices::repo::insert_if_absent(conn, &row)?;
            depot::devices::repo::by_imei(conn, imei)
        })
        .unwrap_or_else(|e| panic!("device {imei}: {e}"))
        .map(|d| d.id.0)
        .unwrap_or_else(|| panic!("no device {imei}"))
}

/// Runs one statement on the test's database.
fn exec(app: &TestApp, f: impl FnOnce(&mut depot::db::Conn<'_>) -> depot::error::AppResult<usize>) {
    app.db.write(f).unwrap_or_else(|e| panic!("writing: {e}"));
}

fn link(app: &TestApp, ticket: &str, device: Uuid, customer: Option<Uuid>) {
    use depot::db::schema::tickets;
    let ticket = Id(uuid(ticket));
    exec(app, |conn| {
        Ok(depot::with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
            .set((tickets::device_id.eq(Some(Id(device))), tickets::customer_id.eq(customer.map(Id))))
            .execute(c))?)
    });
}

fn audit_of(app: &TestApp, entity: Uuid) -> Vec<Value> {
    let res = app.get_admin(&format!("/api/v1/audit-log?entity_id={entity}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

fn patch(app: &TestApp, path: &str, key: &str, body: &Value) -> Resp {
    app.send("PATCH", path, Some(key), &[], &body.to_string())
}

#[test]
fn a_device_history_shows_its_record_plans_credits_and_only_the_callers_tickets() {
    let app = spawn_app();
    let w = world(&app, "DH");
    let phone = imei();
    let purchased = today() - Duration::days(100);
    let first = open(&app, &w.store_a, &w.model, &phone, purchased);
    let id = device(&app, &phone, &w.model, purchased);
    link(&app, &first.id(), id, None);
    // The first repair was covered, received ten days ago and ready four days ago: six days with the network.
    {
        use depot::db::schema::tickets;
        let ticket = Id(uuid(&first.id()));
        let now = Utc::now();
        exec(&app, |conn| {
            Ok(depot::with_conn!(conn, c => diesel::update(tickets::table.find(ticket))
                .set((
                    tickets::status.eq("closed"),
                    tickets::received_at.eq(Some(Ts(depot::to_micros(now - Duration::days(10))))),
                    tickets::ready_at.eq(Some(Ts(depot::to_micros(now - Duration::days(4))))),
                    tickets::closed_at.eq(Some(Ts(depot::to_micros(now)))),
                ))
                .execute(c))?)
        });
    }
    let second = open(&app, &w.store_b, &w.model, &phone, purchased);
    link(&app, &second.id(), id, None);

    let all = app.get_admin(&format!("/api/v1/devices/{phone}"));
    assert_eq!(all.status, 200, "{}", all.text);
    let b = &all.body;
    assert_eq!(b["device"]["id"], id.to_string());
    assert_eq!(b["device"]["imei"], phone);
    assert_eq!(b["device"]["model_id"], w.model);
    assert_eq!(b["device"]["purchase_date"], purchased.to_string());
    assert_eq!(b["device"]["state"], "in_use");
    assert_eq!(b["credits"]["repair_days"], 6, "{}", all.text);
    assert_eq!(b["credits"]["overrun_days"], 0);
    assert_eq!(b["credits"]["prior_repairs"], 1);
    assert_eq!(b["credits"]["credited_days"], 6);
    assert_eq!(b["ticket_count"], 2);
    let numbers: Vec<&str> = b["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(numbers, [second.id(), first.id()], "newest first");
    let covered = &b["tickets"][1];
    assert_eq!(covered["repair_days"], 6);
    assert_eq!(covered["counts_as_repair"], true);
    assert_eq!(covered["rule"], "repair_window");
    assert_eq!(covered["free"], true);
    assert_eq!(covered["status"], "closed");
    assert_eq!(b["tickets"][0]["repair_days"], 0, "an open ticket credits nothing yet");

    // Store B's front desk sees the phone's record and credits, but only its own store's ticket.
    let staff_b = app.create_key("store_staff", &[&w.store_b]);
    let seen = app.get(&format!("/api/v1/devices/{phone}"), Some(&staff_b));
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.body["credits"]["repair_days"], 6);
    assert_eq!(seen.body["ticket_count"], 1);
    assert_eq!(seen.body["tickets"].as_array().map(Vec::len), Some(1));
    assert_eq!(seen.body["tickets"][0]["id"], second.id());
    assert_eq!(seen.body["tickets"][0]["store_id"], w.store_b);
    // A store with no ticket of it sees the record and no tickets.
    let staff_c = app.create_key("store_staff", &[&app.create_store("DHC", "Foshan")]);
    let none = app.get(&format!("/api/v1/devices/{phone}"), Some(&staff_c));
    assert_eq!(none.status, 200, "{}", none.text);
    assert_eq!(none.body["tickets"], json!([]));
    assert_eq!(none.body["ticket_count"], 0);
    let warehouse = app.create_key("warehouse", &[&w.store_a]);
    app.get(&format!("/api/v1/devices/{phone}"), Some(&warehouse))
        .problem(403, "forbidden");
}

#[test]
fn an_unknown_or_malformed_imei_is_refused() {
    let app = spawn_app();
    let w = world(&app, "DU");
    let unknown = imei();
    let body = json!({"kind": "screen_plan", "price": {"amount": "99.00", "currency": "CNY"}, "store_id": w.store_a});
    let fix = json!({"seller": "Suning", "reason": "invoice re-read"});
    app.get_admin(&format!("/api/v1/devices/{unknown}"))
        .problem(404, "not_found");
    app.post_admin(&format!("/api/v1/devices/{unknown}/plans"), &body)
        .problem(404, "not_found");
    patch(&app, &format!("/api/v1/devices/{unknown}"), &app.admin_key, &fix).problem(404, "not_found");
    // A wrong check digit: no device has it.
    let last = unknown.as_bytes()[14] - b'0';
    let luhn_bad = format!("{}{}", &unknown[..14], (last + 1) % 10);
    app.get_admin(&format!("/api/v1/devices/{luhn_bad}"))
        .problem(404, "not_found");
    for malformed in ["12345", "3500000000000000", "35000000000000x", "%20350000000000001"] {
        let res = app.get_admin(&format!("/api/v1/devices/{malformed}"));
        res.problem(400, "validation_failed");
        assert_eq!(res.bad_fields(), ["imei"], "{malformed}: {}", res.text);
        let res = app.post_admin(&format!("/api/v1/devices/{malformed}/plans"), &body);
        assert_eq!(res.bad_fields(), ["imei"], "{malformed}: {}", res.text);
    }
}

#[test]
fn an_admin_corrects_a_device_with_a_reason_on_the_audit_log() {
    let app = spawn_app();
    let w = world(&app, "DC");
    let phone = imei();
    let purchased = today() - Duration::days(200);
    let id = device(&app, &phone, &w.model, purchased);
    let path = format!("/api/v1/devices/{phone}");
    let staff = app.create_key("store_staff", &[&w.store_a]);
    let fix = json!({
        "purchase_date": purchased - Duration::days(5),
        "credit_correction_days": 30,
        "seller": "Suning Shenzhen",
        "invoice_number": "INV-0042",
        "price_paid": {"amount": "4299.00", "currency": "CNY"},
        "reason": "the invoice was misread at the first opening",
    });
    // Refused, nothing changed: store staff, no reason, an empty reason, an unknown field, days out of range, a
    // purchase in the future, an unknown model.
    patch(&app, &path, &staff, &fix).problem(403, "forbidden");
    let mut no_reason = fix.clone();
    if let Some(fields) = no_reason.as_object_mut() {
        fields.remove("reason");
    }
    let res = patch(&app, &path, &app.admin_key, &no_reason);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["reason"]);
    for (field, value) in [
        ("reason", json!("   ")),
        ("reason", json!("x".repeat(501))),
        ("credit_correction_days", json!(3651)),
        ("credit_correction_days", json!(-1)),
        ("purchase_date", json!(today() + Duration::days(1))),
        ("model_id", json!(Uuid::now_v7())),
        ("state", json!("returned")),
    ] {
        let mut bad = fix.clone();
        bad[field] = value;
        let res = patch(&app, &path, &app.admin_key, &bad);
        res.problem(400, "validation_failed");
        assert_eq!(res.bad_fields(), [field], "{}", res.text);
    }
    let untouched = app.get_admin(&path);
    assert_eq!(untouched.body["device"]["purchase_date"], purchased.to_string());
    assert!(audit_of(&app, id).is_empty(), "nothing written by a refusal");

    let fixed = patch(&app, &path, &app.admin_key, &fix);
    assert_eq!(fixed.status, 200, "{}", fixed.text);
    let d = &fixed.body["device"];
    let moved = (purchased - Duration::days(5)).to_string();
    assert_eq!(d["purchase_date"], moved);
    assert_eq!(
        d["warranty_starts_on"], moved,
        "the warranty start moves with the purchase"
    );
    assert_eq!(d["seller"], "Suning Shenzhen");
    assert_eq!(d["invoice_number"], "INV-0042");
    assert_eq!(d["price_paid"]["amount"], "4299.00");
    assert_eq!(d["credit_correction_days"], 30);
    assert_eq!(fixed.body["credits"]["correction_days"], 30);
    assert_eq!(fixed.body["credits"]["credited_days"], 30);
    assert_eq!(app.get_admin(&path).body["device"], *d, "as stored");
    let entries = audit_of(&app, id);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["action"], "correct");
    assert_eq!(entry["entity_type"], "device");
    assert_eq!(
        entry["details"]["reason"],
        "the invoice was misread at the first opening"
    );
    assert_eq!(entry["details"]["before"]["purchase_date"], purchased.to_string());
    assert_eq!(entry["details"]["after"]["purchase_date"], moved);
    assert_eq!(entry["details"]["before"]["credit_correction_days"], 0);
    assert_eq!(entry["details"]["after"]["credit_correction_days"], 30);
    assert_eq!(entry["details"]["before"]["price_paid"]["amount"], "3999.00");

    // The same correction again changes nothing and writes nothing; null clears an optional field.
    assert_eq!(patch(&app, &path, &app.admin_key, &fix).status, 200);
    assert_eq!(audit_of(&app, id).len(), 1);
    let cleared = patch(
        &app,
        &path,
        &app.admin_key,
        &json!({"seller": null, "reason": "not on the invoice"}),
    );
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["device"]["seller"], Value::Null);
    assert_eq!(cleared.body["device"]["invoice_number"], "INV-0042");
    assert_eq!(audit_of(&app, id).len(), 2);

    // An exchange's replacement keeps the exchange date as its warranty start.
    let replacement = imei();
    let exchanged_on = today() - Duration::days(20);
    let new_id = device(&app, &replacement, &w.model, exchanged_on);
    {
        use depot::db::schema::devices;
        exec(&app, |conn| {
            Ok(
                depot::with_conn!(conn, c => diesel::update(devices::table.find(Id(new_id)))
                .set((devices::replaces_device_id.eq(Some(Id(id))), devices::purchase_date.eq(purchased)))
                .execute(c))?,
            )
        });
    }
    let res = patch(
        &app,
        &format!("/api/v1/devices/{replacement}"),
        &app.admin_key,
        &json!({"purchase_date": purchased - Duration::days(5), "reason": "the first phone's invoice"}),
    );
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["device"]["purchase_date"], moved);
    assert_eq!(res.body["device"]["warranty_starts_on"], exchanged_on.to_string());
}

fn plan(kind: &str, store: &str, sold_on: Option<NaiveDate>) -> Value {
    let mut body = json!({"kind": kind, "price": {"amount": "199.00", "currency": "CNY"}, "store_id": store});
    if let Some(day) = sold_on {
        body["sold_on"] = json!(day);
    }
    body
}

#[test]
fn plans_are_sold_under_their_rules_at_the_boundaries() {
    let app = spawn_app();
    let w = world(&app, "DP");
    let purchased = today() - Duration::days(100);
    let (one, two) = (imei(), imei());
    device(&app, &one, &w.model, purchased);
    device(&app, &two, &w.model, purchased);
    let sell = |imei: &str, body: &Value| app.post_admin(&format!("/api/v1/devices/{imei}/plans"), body);

    // The screen plan: day 30 after purchase sells, day 31 does not; before the purchase is a typing error.
    let day30 = sell(
        &one,
        &plan("screen_plan", &w.store_a, Some(purchased + Duration::days(30))),
    );
    assert_eq!(day30.status, 201, "{}", day30.text);
    assert_eq!(day30.body["kind"], "screen_plan");
    assert_eq!(day30.body["price"]["amount"], "199.00");
    assert_eq!(day30.body["store_id"], w.store_a);
    assert_eq!(day30.body["used_by_ticket_id"], Value::Null);
    sell(
        &two,
        &plan("screen_plan", &w.store_a, Some(purchased + Duration::days(31))),
    )
    .problem(409, "screen_plan_window_closed");
    let early = sell(
        &two,
        &plan("screen_plan", &w.store_a, Some(purchased - Duration::days(1))),
    );
    assert_eq!(early.bad_fields(), ["sold_on"], "{}", early.text);
    let future = sell(
        &two,
        &plan("screen_plan", &w.store_a, Some(today() + Duration::days(1))),
    );
    assert_eq!(future.bad_fields(), ["sold_on"], "{}", future.text);
    // One of each kind.
    sell(
        &one,
        &plan("screen_plan", &w.store_a, Some(purchased + Duration::days(1))),
    )
    .problem(409, "plan_already_sold");
    let extended = sell(&one, &plan("extended_warranty", &w.store_a, None));
    assert_eq!(extended.status, 201, "{}", extended.text);
    assert_eq!(extended.body["sold_on"], today().to_string(), "today at the store");
    sell(&one, &plan("extended_warranty", &w.store_a, None)).problem(409, "plan_already_sold");

    // The extended warranty: on the standard period's last day it sells, the day after it does not.
    let old = imei();
    let bought = today() - Duration::days(500);
    device(&app, &old, &w.model, bought);
    let last_day = bought.checked_add_months(Months::new(12)).unwrap_or(bought);
    sell(
        &old,
        &plan("extended_warranty", &w.store_a, Some(last_day + Duration::days(1))),
    )
    .problem(409, "warranty_expired");
    let on_time = sell(&old, &plan("extended_warranty", &w.store_a, Some(last_day)));
    assert_eq!(on_time.status, 201, "{}", on_time.text);

    // A returned phone takes no plan.
    let returned = imei();
    let returned_id = device(&app, &returned, &w.model, today() - Duration::days(3));
    {
        use depot::db::schema::devices;
        exec(&app, |conn| {
            Ok(
                depot::with_conn!(conn, c => diesel::update(devices::table.find(Id(returned_id)))
                .set(devices::state.eq("returned"))
                .execute(c))?,
            )
        });
    }
    sell(&returned, &plan("screen_plan", &w.store_a, None)).problem(409, "device_not_in_use");

    // Store staff sell at their own store only; a warehouse key not at all.
    let staff_b = app.create_key("store_staff", &[&w.store_b]);
    let fresh = imei();
    device(&app, &fresh, &w.model, today() - Duration::days(2));
    let path = format!("/api/v1/devices/{fresh}/plans");
    let elsewhere = app.post(&path, &staff_b, &plan("screen_plan", &w.store_a, None));
    assert_eq!(elsewhere.bad_fields(), ["store_id"], "{}", elsewhere.text);
    let warehouse = app.create_key("warehouse", &[&w.store_a]);
    app.post(&path, &warehouse, &plan("screen_plan", &w.store_b, None))
        .problem(403, "forbidden");
    // An Idempotency-Key replays the first sale; with another body it is refused.
    let body = plan("screen_plan", &w.store_b, None).to_string();
    let headers = [("Idempotency-Key", "sale-1")];
    let first = app.send("POST", &path, Some(&staff_b), &headers, &body);
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.send("POST", &path, Some(&staff_b), &headers, &body);
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.id(), first.id());
    let other = plan("extended_warranty", &w.store_b, None).to_string();
    app.send("POST", &path, Some(&staff_b), &headers, &other)
        .problem(409, "idempotency_key_reused");

    let history = app.get_admin(&format!("/api/v1/devices/{one}"));
    let kinds: Vec<&str> = history.body["plans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["screen_plan", "extended_warranty"], "{}", history.text);
    let entries = audit_of(&app, uuid(history.body["device"]["id"].as_str().unwrap_or_default()));
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|e| e["action"] == "sell_plan"));
}

#[test]
fn a_screen_plan_is_used_up_by_one_ticket() {
    let app = spawn_app();
    let w = world(&app, "DS");
    let phone = imei();
    let purchased = today() - Duration::days(10);
    let id = device(&app, &phone, &w.model, purchased);
    let sold = app.post_admin(
        &format!("/api/v1/devices/{phone}/plans"),
        &plan("screen_plan", &w.store_a, None),
    );
    assert_eq!(sold.status, 201, "{}", sold.text);
    let first = Id(uuid(&open(&app, &w.store_a, &w.model, &imei(), purchased).id()));
    let second = Id(uuid(&open(&app, &w.store_a, &w.model, &imei(), purchased).id()));
    let use_plan = |kind: PlanKind, ticket: Id| {
        app.db
            .write(|conn| depot::devices::use_plan_in(conn, Id(id), kind, ticket, Ts(depot::now())))
    };
    let used = use_plan(PlanKind::ScreenPlan, first).unwrap_or_else(|e| panic!("using the plan: {e}"));
    assert_eq!(used.used_by_ticket_id, Some(first));
    let again = use_plan(PlanKind::ScreenPlan, first).unwrap_or_else(|e| panic!("using it again: {e}"));
    assert_eq!(again.used_at, used.used_at, "the same ticket again changes nothing");
    let refused = use_plan(PlanKind::ScreenPlan, second).err().map(|e| e.code());
    assert_eq!(refused, Some("plan_used_up"));
    let none = use_plan(PlanKind::ExtendedWarranty, first).err().map(|e| e.code());
    assert_eq!(none, Some("plan_not_sold"));
    let history = app.get_admin(&format!("/api/v1/devices/{phone}"));
    assert_eq!(history.body["plans"][0]["used_by_ticket_id"], first.0.to_string());
    assert!(history.body["plans"][0]["used_at"].is_string(), "{}", history.text);
}

#[test]
fn customers_are_found_by_any_spelling_of_their_number_and_only_in_scope() {
    let app = spawn_app();
    let w = world(&app, "CU");
    let phone = imei();
    let purchased = today() - Duration::days(40);
    let ticket = open(&app, &w.store_a, &w.model, &phone, purchased);
    let device_id = device(&app, &phone, &w.model, purchased);
    let customer = app
        .db
        .write(|conn| depot::customers::repo::find_or_create(conn, "13800138000", "Wang Fang", None, Ts(depot::now())))
        .unwrap_or_else(|e| panic!("customer: {e}"))
        .id
        .0;
    link(&app, &ticket.id(), device_id, Some(customer));
    {
        use depot::db::schema::devices;
        exec(&app, |conn| {
            Ok(
                depot::with_conn!(conn, c => diesel::update(devices::table.find(Id(device_id)))
                .set(devices::customer_id.eq(Some(Id(customer))))
                .execute(c))?,
            )
        });
    }

    for spelling in [
        "13800138000",
        "%2B8613800138000",
        "%2B86%20138%200013%208000",
        "008613800138000",
        "138-0013-8000",
        "+86+138+0013+8000",
    ] {
        let found = app.get_admin(&format!("/api/v1/customers?phone={spelling}"));
        assert_eq!(found.status, 200, "{spelling}: {}", found.text);
        assert_eq!(found.body["customer"]["id"], customer.to_string(), "{spelling}");
    }
    let found = app.get_admin(&format!("/api/v1/customers/{customer}"));
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.body["customer"]["phone"], "13800138000");
    assert_eq!(found.body["customer"]["contact_consent"], false);
    assert_eq!(found.body["devices"][0]["imei"], phone);
    assert_eq!(found.body["tickets"][0]["id"], ticket.id());
    assert_eq!(found.body["tickets"][0]["device_imei"], phone);
    assert_eq!(found.body["ticket_count"], 1);
    for bad in ["abc", "1234", "138%090013800"] {
        let res = app.get_admin(&format!("/api/v1/customers?phone={bad}"));
        assert_eq!(res.bad_fields(), ["phone"], "{bad}: {}", res.text);
    }
    app.get_admin("/api/v1/customers").problem(400, "validation_failed");
    app.get_admin("/api/v1/customers?phone=13900139000")
        .problem(404, "not_found");
    app.get_admin(&format!("/api/v1/customers/{}", Uuid::now_v7()))
        .problem(404, "not_found");

    // Store A's staff see the customer; store B's, with none of their tickets, get 404 everywhere.
    let staff_a = app.create_key("store_staff", &[&w.store_a]);
    let staff_b = app.create_key("store_staff", &[&w.store_b]);
    assert_eq!(
        app.get("/api/v1/customers?phone=13800138000", Some(&staff_a)).status,
        200
    );
    app.get("/api/v1/customers?phone=13800138000", Some(&staff_b))
        .problem(404, "not_found");
    app.get(&format!("/api/v1/customers/{customer}"), Some(&staff_b))
        .problem(404, "not_found");
    let path = format!("/api/v1/customers/{customer}");
    patch(&app, &path, &staff_b, &json!({"contact_consent": true})).problem(404, "not_found");
    let warehouse = app.create_key("warehouse", &[&w.store_a]);
    app.get(&path, Some(&warehouse)).problem(403, "forbidden");

    let res = patch(&app, &path, &staff_a, &json!({"nickname": "Fang"}));
    assert_eq!(res.bad_fields(), ["nickname"], "{}", res.text);
    let res = patch(&app, &path, &staff_a, &json!({"name": " "}));
    assert_eq!(res.bad_fields(), ["name"], "{}", res.text);
    assert!(audit_of(&app, customer).is_empty());
    let changed = patch(&app, &path, &staff_a, &json!({"contact_consent": true, "name": "王芳"}));
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["customer"]["contact_consent"], true);
    assert_eq!(changed.body["customer"]["name"], "王芳");
    assert_eq!(app.get_admin(&path).body["customer"], changed.body["customer"]);
    let entries = audit_of(&app, customer);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["details"]["before"]["contact_consent"], false);
    assert_eq!(entries[0]["details"]["after"]["name"], "王芳");
}
