//! An opening finds or registers its device and customer: one open ticket per device under concurrent openings
//! (with one or two server instances), the record's model and purchase date enforced, one customer per phone
//! whatever its spelling, the invoice's fields kept, plans and credited days read from the record.

use depot::db::schema::{customers, devices, tickets};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_another, spawn_app};
use crate::tickets::{Premium, premium, step, ticket_body};

fn count(app: &TestApp, what: &str) -> i64 {
    app.db
        .read(|conn| {
            let n = depot::with_conn!(conn, c => match what {
                "devices" => devices::table.count().get_result::<i64>(c),
                "customers" => customers::table.count().get_result::<i64>(c),
                _ => tickets::table.count().get_result::<i64>(c),
            })?;
            Ok(n)
        })
        .unwrap_or_else(|e| panic!("counting {what}: {e}"))
}

fn open_body(app: &TestApp, body: &Value) -> Resp {
    app.post_admin("/api/v1/tickets", body)
}

/// Twenty openings for one IMEI at once, split over two server instances: exactly one opens (and takes a loaner);
/// the others answer 409 `device_has_open_ticket` naming that ticket, and nothing of theirs is written.
#[test]
fn one_open_ticket_per_device_under_twenty_concurrent_openings() {
    let app = spawn_app();
    let other = spawn_another(&app);
    let p = premium(&app, "ONE", 3);
    let body = ticket_body(&p, "walk_in");
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let target = if i % 2 == 0 { &app } else { &other };
                let body = &body;
                s.spawn(move || open_body(target, body))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    assert_eq!(answers.len(), 20);
    let opened: Vec<&Resp> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        opened.len(),
        1,
        "{:?}",
        answers.iter().map(|r| (r.status, &r.text)).collect::<Vec<_>>()
    );
    let winner = opened[0].id();
    for refused in answers.iter().filter(|r| r.status != 201) {
        let problem = refused.problem(409, "device_has_open_ticket");
        // A refusal met at the device's lock names the open ticket; one met only at the database's own guard (a
        // race past the lock) may not know it.
        if let Some(id) = problem["ticket_id"].as_str() {
            assert_eq!(id, winner, "{}", refused.text);
        }
        assert_eq!(problem["errors"][0]["field"], "device_imei", "{}", refused.text);
    }
    assert_eq!(count(&app, "tickets"), 1);
    assert_eq!(count(&app, "devices"), 1);
    assert_eq!(opened[0].body["loan"]["state"], "reserved", "{}", opened[0].text);
    let loaners = app.get_admin(&format!("/api/v1/loaners?store_id={}&state=reserved", p.store));
    assert_eq!(
        loaners.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        loaners.text
    );

    // Once that ticket ends, the phone can be opened again: the same device record.
    step(&app, &winner, "cancel");
    let again = open_body(&app, &body);
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["device_id"], opened[0].body["device_id"]);
}

/// The record's model and purchase date win over what a later ticket says: 409 naming the field, nothing written.
#[test]
fn a_ticket_contradicting_the_device_record_is_refused_naming_the_field() {
    let app = spawn_app();
    let p = premium(&app, "MISM", 1);
    let body = ticket_body(&p, "walk_in");
    let first = open_body(&app, &body);
    assert_eq!(first.status, 201, "{}", first.text);
    step(&app, &first.id(), "cancel");
    let tickets_before = count(&app, "tickets");

    let other_model = app.post_admin(
        "/api/v1/models",
        &json!({"code": "MISM-M70", "name": "Mate 70", "series_id": p.series}),
    );
    assert_eq!(other_model.status, 201, "{}", other_model.text);
    let mut wrong_model = body.clone();
    wrong_model["model_id"] = json!(other_model.id());
    let refused = open_body(&app, &wrong_model);
    let problem = refused.problem(409, "device_model_mismatch");
    assert_eq!(problem["errors"][0]["field"], "model_id");

    let mut wrong_date = body.clone();
    wrong_date["purchase_date"] = json!("2025-01-01");
    let refused = open_body(&app, &wrong_date);
    let problem = refused.problem(409, "device_purchase_date_mismatch");
    assert_eq!(problem["errors"][0]["field"], "purchase_date");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(body["purchase_date"].as_str().unwrap_or("?"))),
        "the detail names the recorded date: {}",
        refused.text
    );
    assert_eq!(count(&app, "tickets"), tickets_before, "nothing written");
    assert_eq!(open_body(&app, &body).status, 201);
}

/// One customer per phone whatever its spelling; consent recorded when given; the invoice's fields kept on the
/// device.
#[test]
fn a_customer_is_found_by_the_phone_in_any_spelling() {
    let app = spawn_app();
    let p = premium(&app, "CUST", 2);
    let mut a = ticket_body(&p, "walk_in");
    a["customer"] = json!({"name": "Li Lei", "phone": "+86 138-0013-8000", "contact_consent": true});
    a["invoice"] = json!({"price_paid": {"amount": "5999.00", "currency": "CNY"}, "seller": "Futian flagship store",
        "invoice_number": "INV-2026-0042"});
    let mut b = ticket_body(&p, "walk_in");
    b["customer"] = json!({"name": "Li Lei", "phone": "13800138000"});
    let first = open_body(&app, &a);
    let second = open_body(&app, &b);
    assert_eq!(
        (first.status, second.status),
        (201, 201),
        "{} {}",
        first.text,
        second.text
    );
    assert_eq!(first.body["customer_id"], second.body["customer_id"]);
    assert_ne!(first.body["device_id"], second.body["device_id"]);
    assert_eq!(
        first.body["customer"]["phone"], "+86 138-0013-8000",
        "the ticket keeps the phone as typed"
    );
    assert_eq!(count(&app, "customers"), 1);
    let (consent, price, seller) = app
        .db
        .read(|conn| {
            let imei = a["device_imei"].as_str().unwrap_or_default().to_owned();
            let row = depot::with_conn!(conn, c => {
                let consent = customers::table.select(customers::contact_consent).first::<bool>(c)?;
                let (price, seller) = devices::table
                    .filter(devices::imei.eq(imei))
                    .select((devices::price_paid_minor, devices::seller))
                    .first::<(Option<i64>, Option<String>)>(c)?;
                Ok::<_, diesel::result::Error>((consent, price, seller))
            })?;
            Ok(row)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(consent, "consent given at the counter is recorded");
    assert_eq!(
        (price, seller.as_deref()),
        (Some(599_900), Some("Futian flagship store"))
    );

    let mut bad = ticket_body(&p, "walk_in");
    bad["customer"]["phone"] = json!("138 0013 800x");
    assert_eq!(open_body(&app, &bad).bad_fields(), ["customer.phone"]);
    let mut bad = ticket_body(&p, "walk_in");
    bad["extended_warranty"] = json!(true);
    assert_eq!(
        open_body(&app, &bad).status,
        400,
        "plan flags are no longer the caller's"
    );
}

/// The decision names the policy it used (the national rule by default) and lists the credited days among its
/// inputs, all zero for a phone seen for the first time.
#[test]
fn a_first_decision_uses_the_national_rule_and_credits_nothing() {
    let app = spawn_app();
    let p: Premium = premium(&app, "NAT", 1);
    let opened = open_body(&app, &ticket_body(&p, "walk_in"));
    assert_eq!(opened.status, 201, "{}", opened.text);
    let warranty = &opened.body["warranty"];
    assert_eq!(warranty["policy"]["source"], "national", "{}", opened.text);
    assert_eq!(warranty["policy"]["terms"]["return_days"], 7);
    for input in ["repair_days", "overrun_days", "correction_days", "prior_repairs"] {
        assert_eq!(warranty["inputs"][input], 0, "{input}");
    }
}
