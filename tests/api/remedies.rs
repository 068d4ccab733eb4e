//! The customer's choice of remedy and its outcome: the gate before a repair, refusals, a return with its refund,
//! an exchange with the new phone's warranty start, repeated repairs, the ready and received stamps, and credited
//! days (issue 13 items 6 and 7).
//!
//! Until the ticket opening links devices (the lead's part of issue 13), [`link`] links a ticket to its device's
//! record through `app.db`, creating the record when there is none; once the opening links them it only fills the
//! price paid where the record lacks it.

use chrono::{Duration, NaiveDate, Utc};
use depot::db::types::{Id, Ts};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Resp, TestApp, spawn_app};
use crate::tickets::{Premium, imei, premium, step, ticket_body};

fn uuid_of(value: &Value) -> Uuid {
    value
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("not a uuid: {value}"))
}

/// Opens a walk-in ticket for `imei`, bought `days` ago, with these findings.
fn open_for(app: &TestApp, p: &Premium, imei: &str, days: i64, inspection: Value) -> Resp {
    let mut body = ticket_body(p, "walk_in");
    body["device_imei"] = json!(imei);
    body["purchase_date"] = json!((Utc::now() - Duration::days(days)).date_naive());
    body["inspection"] = inspection;
    let res = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(res.status, 201, "{}", res.text);
    res
}

/// The ticket's device record, linked to it (see the module's doc), with `price_minor` as its price paid when it
/// has none.
fn link(app: &TestApp, ticket: &Value, price_minor: Option<i64>) -> Id {
    use depot::db::schema::{devices, tickets};
    use depot::devices::DeviceRow;
    use diesel::prelude::*;
    let ticket_id = Id(uuid_of(&ticket["id"]));
    let imei = ticket["device_imei"].as_str().unwrap_or_default().to_owned();
    let model = Id(uuid_of(&ticket["model_id"]));
    let purchase: NaiveDate = ticket["purchase_date"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no purchase date: {ticket}"));
    app.db
        .write(|conn| {
            let found: Option<Id> = depot::with_conn!(conn, c => devices::table
                .filter(devices::imei.eq(&imei))
                .select(devices::id)
                .first(c)
                .optional())?;
            let id = match found {
                Some(id) => id,
                None => {
                    let now = Ts(depot::now());
                    let row = DeviceRow {
                        id: Id(Uuid::now_v7()),
                        imei: imei.clone(),
                        model_id: model,
                        purchase_date: purchase,
                        warranty_starts_on: purchase,
                        price_paid_minor: None,
                        seller: Some("Huawei Store Futian".into()),
                        invoice_number: Some("INV-0001".into()),
                        state: "in_use".into(),
                        customer_id: None,
                        replaces_device_id: None,
                        credit_correction_days: 0,
                        created_at: now,
                        updated_at: now,
                    };
                    depot::with_conn!(conn, c => diesel::insert_into(devices::table).values(&row).execute(c))?;
                    row.id
                }
            };
            depot::with_conn!(conn, c => diesel::update(tickets::table.find(ticket_id))
                .filter(tickets::device_id.is_null())
                .set(tickets::device_id.eq(Some(id)))
                .execute(c))?;
            if let Some(price) = price_minor {
                depot::with_conn!(conn, c => diesel::update(devices::table.find(id))
                    .filter(devices::price_paid_minor.is_null())
                    .set(devices::price_paid_minor.eq(Some(price)))
                    .execute(c))?;
            }
            Ok(id)
        })
        .unwrap_or_else(|e| panic!("linking the device: {e}"))
}

/// A device's state, warranty start and the device it replaces, read from the database.
fn device_row(app: &TestApp, id: Id) -> depot::devices::DeviceRow {
    use depot::db::schema::devices;
    use depot::devices::DeviceRow;
    use diesel::prelude::*;
    app.db
        .read(|conn| Ok(depot::with_conn!(conn, c => devices::table.find(id).select(DeviceRow::as_select()).first(c))?))
        .unwrap_or_else(|e| panic!("reading the device: {e}"))
}

fn choose(app: &TestApp, ticket: &str, body: Value) -> Resp {
    app.post_admin(&format!("/api/v1/tickets/{ticket}/remedy"), &body)
}

fn ok(res: Resp) -> Resp {
    assert_eq!(res.status, 200, "{}", res.text);
    res
}

fn kinds(ticket: &Value) -> Vec<String> {
    ticket["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

/// Walks a free repair from received to closed.
fn repair_and_close(app: &TestApp, id: &str) -> Resp {
    for action in ["start-diagnosis", "start-repair", "start-quality-check", "mark-ready"] {
        ok(step(app, id, action));
    }
    ok(step(app, id, "close"))
}

#[test]
fn a_repair_waits_for_the_customers_choice_which_is_recorded_once_among_those_offered() {
    let app = spawn_app();
    let p = premium(&app, "RM1", 1);
    let t = open_for(&app, &p, &imei(), 3, json!({}));
    let id = t.id();
    assert_eq!(
        t.body["warranty"]["remedies"],
        json!(["return", "exchange", "free_repair"])
    );
    ok(step(&app, &id, "start-diagnosis"));
    step(&app, &id, "start-repair").problem(409, "remedy_not_chosen");

    choose(&app, &id, json!({"remedy": "paid_repair"})).problem(409, "remedy_not_offered");
    // An exchange names its new phone, and nothing else does.
    let missing = choose(&app, &id, json!({"remedy": "exchange"}));
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert_eq!(missing.bad_fields(), ["replacement_imei"]);
    let stray = choose(&app, &id, json!({"remedy": "free_repair", "replacement_imei": imei()}));
    assert_eq!(stray.bad_fields(), ["replacement_imei"]);
    let unchanged = ok(app.get_admin(&format!("/api/v1/tickets/{id}")));
    assert!(unchanged.body["remedy"].is_null(), "{}", unchanged.text);

    let chosen = ok(choose(
        &app,
        &id,
        json!({"remedy": "free_repair", "note": "wants it fixed"}),
    ));
    assert_eq!(chosen.body["remedy"]["remedy"], "free_repair");
    assert!(chosen.body["remedy"]["chosen_at"].is_string());
    assert!(chosen.body["remedy"]["chosen_by"].is_string());
    assert_eq!(chosen.body["status"], "diagnosing");
    assert!(kinds(&chosen.body).contains(&"remedy_chosen".to_owned()));
    choose(&app, &id, json!({"remedy": "return"})).problem(409, "remedy_already_chosen");

    ok(step(&app, &id, "start-repair"));
    ok(step(&app, &id, "start-quality-check"));
    let ready = ok(step(&app, &id, "mark-ready"));
    assert!(ready.body["ready_at"].is_string(), "ready_at stamped: {}", ready.text);
    assert!(
        ready.body["received_at"].is_string(),
        "a walk-in is received at opening"
    );
    let closed = ok(step(&app, &id, "close"));
    assert_eq!(closed.body["ready_at"], ready.body["ready_at"]);
    choose(&app, &id, json!({"remedy": "return"})).problem(409, "ticket_final");
}

#[test]
fn a_choice_the_new_findings_withdraw_is_cleared_and_a_started_repair_refuses_one() {
    let app = spawn_app();
    let p = premium(&app, "RM2", 1);
    let t = open_for(&app, &p, &imei(), 3, json!({}));
    let id = t.id();
    ok(choose(&app, &id, json!({"remedy": "free_repair"})));
    let liquid = app.patch_admin(
        &format!("/api/v1/tickets/{id}/findings"),
        &json!({"inspection": {"liquid": true}}),
    );
    assert_eq!(liquid.status, 200, "{}", liquid.text);
    assert_eq!(liquid.body["warranty"]["remedies"], json!(["paid_repair"]));
    assert!(liquid.body["remedy"].is_null(), "{}", liquid.text);
    assert!(kinds(&liquid.body).contains(&"remedy_cleared".to_owned()));

    // One remedy offered: no choice to wait for; once the repair runs, no choice is taken.
    let old = open_for(&app, &p, &imei(), 100, json!({}));
    assert_eq!(old.body["warranty"]["remedies"], json!(["free_repair"]));
    ok(step(&app, &old.id(), "start-diagnosis"));
    ok(step(&app, &old.id(), "start-repair"));
    choose(&app, &old.id(), json!({"remedy": "free_repair"})).problem(409, "repair_started");
}

#[test]
fn a_return_refunds_the_price_closes_the_ticket_releases_its_loaner_and_retires_the_device() {
    let app = spawn_app();
    let p = premium(&app, "RM3", 1);
    let t = open_for(&app, &p, &imei(), 3, json!({}));
    let id = t.id();
    assert_eq!(t.body["loan"]["state"], "reserved");
    let device = link(&app, &t.body, None);
    // No price paid on record: an admin records it first; nothing is changed meanwhile.
    let unknown = choose(&app, &id, json!({"remedy": "return"}));
    let detail = unknown.problem(409, "price_paid_unknown")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("PATCH /api/v1/devices/"), "{detail}");
    assert!(ok(app.get_admin(&format!("/api/v1/tickets/{id}"))).body["remedy"].is_null());
    link(&app, &t.body, Some(399_900));

    let returned = ok(choose(&app, &id, json!({"remedy": "return"})));
    assert_eq!(returned.body["status"], "closed", "{}", returned.text);
    assert!(returned.body["closed_at"].is_string());
    assert_eq!(returned.body["remedy"]["remedy"], "return");
    assert_eq!(returned.body["outcome"]["kind"], "returned");
    // Within the return window: the whole price, no depreciation.
    assert_eq!(
        returned.body["outcome"]["refund"],
        json!({"amount": "3999.00", "currency": "CNY"})
    );
    assert_eq!(returned.body["loan"]["state"], "cancelled", "{}", returned.text);
    let timeline = kinds(&returned.body);
    assert!(timeline.contains(&"remedy_chosen".to_owned()) && timeline.contains(&"returned".to_owned()));
    assert_eq!(device_row(&app, device).state, "returned");

    // The loaner went back to the pool: the next ticket gets it at once.
    let next = open_for(&app, &p, &imei(), 100, json!({}));
    assert_eq!(next.body["loan"]["state"], "reserved", "{}", next.text);
    choose(&app, &id, json!({"remedy": "exchange", "replacement_imei": imei()})).problem(409, "ticket_final");
}

#[test]
fn an_exchange_records_the_new_phone_whose_warranty_starts_today_and_moves_the_plans() {
    use depot::db::schema::device_plans;
    use diesel::prelude::*;
    let app = spawn_app();
    let p = premium(&app, "RM4", 1);
    let t = open_for(&app, &p, &imei(), 10, json!({}));
    let id = t.id();
    assert_eq!(t.body["warranty"]["remedies"], json!(["exchange", "free_repair"]));
    let old = link(&app, &t.body, Some(599_900));
    // An extended warranty sold with the phone (the plans' own routes are another part of issue 13).
    let store = Id(uuid_of(&json!(p.store)));
    app.db
        .write(|conn| {
            let plan = depot::devices::DevicePlanRow {
                id: Id(Uuid::now_v7()),
                device_id: old,
                kind: "extended_warranty".into(),
                sold_on: Utc::now().date_naive() - Duration::days(10),
                price_minor: 29_900,
                store_id: store,
                api_key_id: None,
                used_by_ticket_id: None,
                used_at: None,
                created_at: Ts(depot::now()),
            };
            Ok(depot::with_conn!(conn, c => diesel::insert_into(device_plans::table).values(&plan).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("selling the plan: {e}"));

    choose(&app, &id, json!({"remedy": "return"})).problem(409, "remedy_not_offered");
    let bad = choose(
        &app,
        &id,
        json!({"remedy": "exchange", "replacement_imei": "490154203237517"}),
    );
    assert_eq!(bad.bad_fields(), ["replacement_imei"], "{}", bad.text);
    // The replacement must be a phone not on record: its own IMEI is.
    let own = t.body["device_imei"].as_str().unwrap_or_default();
    choose(&app, &id, json!({"remedy": "exchange", "replacement_imei": own})).problem(409, "replacement_imei_taken");
    assert!(ok(app.get_admin(&format!("/api/v1/tickets/{id}"))).body["remedy"].is_null());

    let new_imei = imei();
    let exchanged = ok(choose(
        &app,
        &id,
        json!({"remedy": "exchange", "replacement_imei": new_imei}),
    ));
    assert_eq!(exchanged.body["status"], "closed", "{}", exchanged.text);
    assert_eq!(exchanged.body["outcome"]["kind"], "exchanged");
    assert_eq!(exchanged.body["loan"]["state"], "cancelled");
    assert!(kinds(&exchanged.body).contains(&"exchanged".to_owned()));
    let new = Id(uuid_of(&exchanged.body["outcome"]["replacement_device_id"]));
    let new_row = device_row(&app, new);
    let old_row = device_row(&app, old);
    assert_eq!(old_row.state, "exchanged");
    assert_eq!(new_row.state, "in_use");
    assert_eq!(new_row.imei, new_imei);
    assert_eq!(new_row.replaces_device_id, Some(old));
    assert_eq!(new_row.model_id, old_row.model_id);
    assert_eq!(new_row.purchase_date, old_row.purchase_date);
    assert_eq!(new_row.price_paid_minor, Some(599_900));
    assert_eq!(new_row.invoice_number, old_row.invoice_number);
    assert_eq!(
        new_row.warranty_starts_on,
        depot::tickets::local_date("Asia/Shanghai", Utc::now())
    );
    let plan_owner: Vec<Id> = app
        .db
        .read(|conn| Ok(depot::with_conn!(conn, c => device_plans::table.select(device_plans::device_id).load(c))?))
        .unwrap_or_default();
    assert_eq!(plan_owner, [new]);
}

#[test]
fn a_ticket_whose_loaner_is_out_cannot_end_in_a_return() {
    let app = spawn_app();
    let p = premium(&app, "RM5", 1);
    let t = open_for(&app, &p, &imei(), 3, json!({}));
    let id = t.id();
    link(&app, &t.body, Some(100_000));
    let loan = t.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    ok(app.post_admin(&format!("/api/v1/loans/{loan}/issue"), &json!({})));
    let out = choose(&app, &id, json!({"remedy": "return"}));
    let detail = out.problem(409, "loaner_out")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains(&loan), "{detail}");
    let unchanged = ok(app.get_admin(&format!("/api/v1/tickets/{id}")));
    assert!(unchanged.body["remedy"].is_null());
    assert_eq!(unchanged.body["status"], "received");
    assert_eq!(unchanged.body["loan"]["state"], "issued");
}

#[test]
fn after_two_free_repairs_a_third_failure_offers_a_return_refunded_less_depreciation() {
    let app = spawn_app();
    let p = premium(&app, "RM6", 1);
    let phone = imei();
    for _ in 0..2 {
        let t = open_for(&app, &p, &phone, 100, json!({}));
        link(&app, &t.body, Some(400_000));
        repair_and_close(&app, &t.id());
    }
    let third = open_for(&app, &p, &phone, 100, json!({}));
    let id = third.id();
    link(&app, &third.body, None);
    // The decision is made again now that the ticket is linked to its device's history (the lead's opening makes
    // it at once).
    let decided = app.patch_admin(&format!("/api/v1/tickets/{id}/findings"), &json!({"inspection": {}}));
    assert_eq!(decided.status, 200, "{}", decided.text);
    assert_eq!(decided.body["warranty"]["rule"], "repeated_repairs", "{}", decided.text);
    assert_eq!(decided.body["warranty"]["inputs"]["prior_repairs"], 2);
    let remedies = decided.body["warranty"]["remedies"].clone();
    assert!(
        remedies
            .as_array()
            .is_some_and(|r| r.contains(&json!("exchange")) && r.contains(&json!("return")))
    );

    let returned = ok(choose(&app, &id, json!({"remedy": "return"})));
    // 0.5 % of the price a day from purchase to the return; the earlier repairs took no whole day.
    let days = decided.body["warranty"]["days_since_purchase"]
        .as_i64()
        .unwrap_or_default();
    let refund = 400_000 - (400_000 * 50 * days + 5_000) / 10_000;
    let amount = format!("{}.{:02}", refund / 100, refund % 100);
    assert_eq!(
        returned.body["outcome"]["refund"]["amount"], amount,
        "{}",
        returned.text
    );
    let note = returned.body["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "returned")
        .and_then(|e| e["note"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(note.contains(&format!("for {days} days")), "{note}");
}

/// Sets a ticket's stamps in the past, to stand for days that passed (no test waits for days).
fn backdate(app: &TestApp, ticket: &str, received: Option<i64>, promised: Option<i64>, ready: Option<i64>) {
    use depot::db::schema::tickets;
    use diesel::prelude::*;
    let id = Id(uuid_of(&json!(ticket)));
    let ago = |days: Option<i64>| days.map(|d| Ts(depot::to_micros(Utc::now() - Duration::days(d))));
    app.db
        .write(|conn| {
            Ok(depot::with_conn!(conn, c => diesel::update(tickets::table.find(id))
                .set((
                    tickets::received_at.eq(ago(received)),
                    tickets::promised_at.eq(ago(promised)),
                    tickets::ready_at.eq(ago(ready)),
                ))
                .execute(c))?)
        })
        .unwrap_or_else(|e| panic!("backdating: {e}"));
}

#[test]
fn an_overrun_and_days_in_covered_repair_extend_the_next_decision() {
    let app = spawn_app();
    let p = premium(&app, "RM7", 2);
    let phone = imei();
    // A paid repair (liquid found) sent back unrepaired on a declined quote: marked ready then.
    let paid = open_for(&app, &p, &phone, 100, json!({"liquid": true}));
    let paid_id = paid.id();
    link(&app, &paid.body, None);
    ok(step(&app, &paid_id, "start-diagnosis"));
    ok(app.post_admin(&format!("/api/v1/tickets/{paid_id}/quote"), &json!({})));
    let declined = ok(app.send(
        "POST",
        &format!("/api/v1/tickets/{paid_id}/quote/decline"),
        Some(&app.admin_key),
        &[],
        "",
    ));
    assert_eq!(declined.body["status"], "ready_for_pickup");
    assert!(
        declined.body["ready_at"].is_string(),
        "a declined quote stamps ready: {}",
        declined.text
    );
    ok(step(&app, &paid_id, "close"));
    // It was promised 11 days ago and ready 1 day ago: 10 days over its promise.
    backdate(&app, &paid_id, Some(20), Some(11), Some(1));

    // A covered repair that kept the phone 12 days.
    let free = open_for(&app, &p, &phone, 100, json!({}));
    link(&app, &free.body, None);
    repair_and_close(&app, &free.id());
    backdate(&app, &free.id(), Some(14), None, Some(2));

    let next = open_for(&app, &p, &phone, 100, json!({}));
    link(&app, &next.body, None);
    let decided = app.patch_admin(
        &format!("/api/v1/tickets/{}/findings", next.id()),
        &json!({"inspection": {}}),
    );
    assert_eq!(decided.status, 200, "{}", decided.text);
    let inputs = &decided.body["warranty"]["inputs"];
    assert_eq!(inputs["overrun_days"], 10, "{}", decided.text);
    assert_eq!(inputs["repair_days"], 12, "{}", decided.text);
    // The free-repair period ends 22 days later than a year from purchase.
    let purchase: NaiveDate = next.body["purchase_date"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_default();
    let year = purchase.checked_add_months(chrono::Months::new(12)).unwrap_or_default();
    assert_eq!(
        decided.body["warranty"]["coverage_ends"],
        json!((year + Duration::days(22)).to_string()),
        "{}",
        decided.text
    );
}

#[test]
fn a_mail_in_phone_is_received_when_the_courier_delivers_it_and_is_not_returned_by_courier() {
    let app = spawn_app();
    let p = premium(&app, "RM8", 1);
    let c = crate::courier::partner(&app, "RMX");
    let mut body = ticket_body(&p, "mail_in");
    body["pickup"]["partner_id"] = json!(c.partner);
    body["purchase_date"] = json!((Utc::now() - Duration::days(3)).date_naive());
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    let id = opened.id();
    assert!(
        opened.body["received_at"].is_null(),
        "not at the store yet: {}",
        opened.text
    );
    let inbound = opened.body["pickups"][0]["id"].as_str().unwrap_or_default().to_owned();
    let courier = |path: &str, body: Value| {
        let res = app.post(&format!("/api/v1/courier/pickups/{inbound}/{path}"), &c.key, &body);
        assert_eq!(res.status, 200, "{}", res.text);
    };
    courier("accept", json!({"tracking_number": "SF200001"}));
    let at = |minutes: i64| Utc::now() - Duration::minutes(minutes);
    courier(
        "events",
        json!({"event_id": "e1", "type": "picked_up", "happened_at": at(60)}),
    );
    assert!(ok(app.get_admin(&format!("/api/v1/tickets/{id}"))).body["received_at"].is_null());
    let delivered = at(10);
    courier(
        "events",
        json!({"event_id": "e2", "type": "delivered", "happened_at": delivered}),
    );
    let received = ok(app.get_admin(&format!("/api/v1/tickets/{id}")));
    let stamp = received.body["received_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    assert_eq!(stamp, Some(depot::to_micros(delivered)), "{}", received.text);

    link(&app, &opened.body, Some(100_000));
    choose(&app, &id, json!({"remedy": "return"})).problem(409, "mail_in_outcome_unsupported");
    ok(choose(&app, &id, json!({"remedy": "free_repair"})));
}

/// Sells a screen plan for `device` through the database (the plans' routes are another part of issue 13), used by
/// `used_by` when given.
fn screen_plan(app: &TestApp, p: &Premium, device: Id, used_by: Option<Id>) {
    use depot::db::schema::device_plans;
    use diesel::prelude::*;
    let store = Id(uuid_of(&json!(p.store)));
    app.db
        .write(|conn| {
            let plan = depot::devices::DevicePlanRow {
                id: Id(Uuid::now_v7()),
                device_id: device,
                kind: "screen_plan".into(),
                sold_on: Utc::now().date_naive() - Duration::days(100),
                price_minor: 19_900,
                store_id: store,
                api_key_id: None,
                used_by_ticket_id: used_by,
                used_at: used_by.map(|_| Ts(depot::to_micros(Utc::now()))),
                created_at: Ts(depot::now()),
            };
            Ok(depot::with_conn!(conn, c => diesel::insert_into(device_plans::table).values(&plan).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("selling the plan: {e}"));
}

fn plan_user(app: &TestApp, device: Id) -> Option<Id> {
    use depot::db::schema::device_plans;
    use diesel::prelude::*;
    app.db
        .read(|conn| {
            Ok(depot::with_conn!(conn, c => device_plans::table
                .filter(device_plans::device_id.eq(device))
                .select(device_plans::used_by_ticket_id)
                .first(c))?)
        })
        .unwrap_or_else(|e| panic!("reading the plan: {e}"))
}

#[test]
fn a_screen_plan_repair_uses_the_plan_up_and_a_plan_used_meanwhile_refuses_the_start() {
    let app = spawn_app();
    let p = premium(&app, "RM9", 2);
    let mut tickets = Vec::new();
    for _ in 0..2 {
        let mut body = ticket_body(&p, "walk_in");
        body["fault"] = json!("screen_damage");
        let t = app.post_admin("/api/v1/tickets", &body);
        assert_eq!(t.status, 201, "{}", t.text);
        tickets.push((t.id(), link(&app, &t.body, None)));
    }
    let (first, first_device) = tickets[0].clone();
    let (second, second_device) = tickets[1].clone();
    screen_plan(&app, &p, first_device, None);
    screen_plan(&app, &p, second_device, None);
    for (id, _) in &tickets {
        let decided = app.patch_admin(
            &format!("/api/v1/tickets/{id}/findings"),
            &json!({"inspection": {}, "fault": "screen_damage"}),
        );
        assert_eq!(decided.body["warranty"]["rule"], "screen_plan", "{}", decided.text);
        ok(step(&app, id, "start-diagnosis"));
    }
    ok(step(&app, &first, "start-repair"));
    assert_eq!(plan_user(&app, first_device), Some(Id(uuid_of(&json!(first)))));

    // The second device's plan is used up by another repair after its decision was made.
    use depot::db::schema::device_plans;
    use diesel::prelude::*;
    let other = Id(uuid_of(&json!(first)));
    app.db
        .write(|conn| {
            Ok(depot::with_conn!(conn, c => diesel::update(device_plans::table
                .filter(device_plans::device_id.eq(second_device)))
                .set(device_plans::used_by_ticket_id.eq(Some(other)))
                .execute(c))?)
        })
        .unwrap_or_else(|e| panic!("using the plan: {e}"));
    step(&app, &second, "start-repair").problem(409, "plan_used_up");
    assert_eq!(
        ok(app.get_admin(&format!("/api/v1/tickets/{second}"))).body["status"],
        "diagnosing"
    );
}
