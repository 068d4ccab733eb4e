//! Stock: receipts (CSV too), transfers, counts, the ledger, reservations for repairs and quotes, concurrency and
//! random movement sequences that must keep `0 <= reserved <= on_hand` and on hand equal to the ledger.

use chrono::{Duration, Utc};
use depot::auth::{Principal, Role};
use depot::db::Db;
use depot::db::schema::{parts, stores};
use depot::db::types::Id;
use depot::stock;
use depot::with_conn;
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_another, spawn_app};

fn store_id(db: &Db, code: &str) -> String {
    let id: Id = db
        .read(|conn| {
            Ok(with_conn!(conn, c => stores::table.filter(stores::code.eq(code)).select(stores::id).first(c))?)
        })
        .unwrap_or_else(|e| panic!("store {code}: {e}"));
    id.0.to_string()
}

fn part_id(db: &Db, sku: &str) -> String {
    let id: Id = db
        .read(|conn| Ok(with_conn!(conn, c => parts::table.filter(parts::sku.eq(sku)).select(parts::id).first(c))?))
        .unwrap_or_else(|e| panic!("part {sku}: {e}"));
    id.0.to_string()
}

fn model_id(db: &Db, code: &str) -> Id {
    use depot::db::schema::product_models;
    db.read(|conn| {
        Ok(
            with_conn!(conn, c => product_models::table.filter(product_models::code.eq(code))
            .select(product_models::id).first(c))?,
        )
    })
    .unwrap_or_else(|e| panic!("model {code}: {e}"))
}

fn seeded() -> TestApp {
    let app = spawn_app();
    depot::seed::seed_demo(&app.db).unwrap_or_else(|e| panic!("seeding: {e}"));
    app
}

fn level(app: &TestApp, location: &str, part: &str) -> Value {
    let res = app.get_admin(&format!("/api/v1/stock/levels?location_id={location}&part_id={part}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"][0].clone()
}

fn ledger_consistent(app: &TestApp) {
    let check = app.get_admin("/api/v1/stock/ledger-check");
    assert_eq!(check.status, 200, "{}", check.text);
    assert_eq!(check.body["consistent"], true, "{}", check.text);
}

fn csv(app: &TestApp, key: &str, path: &str, body: &str) -> crate::helpers::Resp {
    app.send("POST", path, Some(key), &[("Content-Type", "text/csv")], body)
}

#[test]
fn csv_errors_name_the_file_lines_after_blank_lines() {
    let app = seeded();
    let wh = store_id(&app.db, "SZ-WH1");
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let before = level(&app, &wh, &screen)["on_hand"].as_i64();
    // Line 3 is blank; the bad rows are on lines 5 (no such part), 6 (bad quantity) and 7 (a field missing).
    let file = "location_code,receipt_number,sku,quantity\n\
                SZ-WH1,GR-9,SCR-MATE60PRO,10\n\
                \n\
                SZ-WH1,GR-9,BAT-P70,5\n\
                SZ-WH1,GR-9,NOPE,5\n\
                SZ-WH1,GR-9,BAT-MATE60PRO,0\n\
                SZ-WH1,GR-9,SCR-NOVA12\n";
    let res = csv(&app, &app.admin_key, "/api/v1/stock/receipts/import", file);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["line 5", "line 6", "line 7"], "{}", res.text);
    // Blank lines at the end and with CRLF endings count too.
    let crlf = "location_code,receipt_number,sku,quantity\r\n\r\n\r\nSZ-WH1,GR-9,NOPE,1\r\n\r\n";
    let res = csv(&app, &app.admin_key, "/api/v1/stock/receipts/import", crlf);
    assert_eq!(res.bad_fields(), ["line 4"], "{}", res.text);
    assert_eq!(
        level(&app, &wh, &screen)["on_hand"].as_i64(),
        before,
        "nothing applied from a bad file"
    );
    // The loaner import reads its file the same way.
    let loaners = "imei,model_code,store_code,grade\n\n12345,MATE60PRO,SZ-FUTIAN,A\n";
    let res = csv(&app, &app.admin_key, "/api/v1/loaners/import", loaners);
    assert_eq!(res.bad_fields(), ["line 3"], "{}", res.text);
}

#[test]
fn a_warehouse_restocks_by_csv_once_moves_and_counts() {
    let app = seeded();
    let wh = store_id(&app.db, "SZ-WH1");
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let warehouse = app.create_key("warehouse", &[&wh]);
    let before = level(&app, &wh, &screen)["on_hand"].as_i64().unwrap_or(-1);

    let bad = "location_code,receipt_number,sku,quantity\nSZ-WH1,GR-1,SCR-MATE60PRO,10\nSZ-WH1,GR-1,NOPE,5\nSZ-WH1,GR-1,BAT-P70,-2\n";
    let res = csv(&app, &warehouse, "/api/v1/stock/receipts/import", bad);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["line 3", "line 4"]);
    assert_eq!(
        level(&app, &wh, &screen)["on_hand"].as_i64(),
        Some(before),
        "nothing applied from a bad file"
    );

    let good = "location_code,receipt_number,sku,quantity\nSZ-WH1,GR-1,SCR-MATE60PRO,10\nSZ-WH1,GR-1,BAT-P70,5\n";
    let res = csv(&app, &warehouse, "/api/v1/stock/receipts/import", good);
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(level(&app, &wh, &screen)["on_hand"].as_i64(), Some(before + 10));
    csv(&app, &warehouse, "/api/v1/stock/receipts/import", good).problem(409, "duplicate_receipt");
    assert_eq!(
        level(&app, &wh, &screen)["on_hand"].as_i64(),
        Some(before + 10),
        "a re-sent file is not counted twice"
    );
    let elsewhere = "location_code,receipt_number,sku,quantity\nSZ-FUTIAN,GR-2,SCR-MATE60PRO,1\n";
    let res = csv(&app, &warehouse, "/api/v1/stock/receipts/import", elsewhere);
    assert_eq!(
        res.bad_fields(),
        ["line 2"],
        "a warehouse key receives only at its locations"
    );

    let transfer = |body: Value| app.post("/api/v1/stock/transfers", &warehouse, &body);
    let res = transfer(json!({"from_location_id": wh, "to_location_id": wh, "part_id": screen, "quantity": 1}));
    assert_eq!(res.bad_fields(), ["to_location_id"]);
    let res = transfer(json!({"from_location_id": wh, "to_location_id": futian, "part_id": screen, "quantity": 0}));
    assert_eq!(res.bad_fields(), ["quantity"]);
    transfer(json!({"from_location_id": wh, "to_location_id": futian, "part_id": screen, "quantity": 100000}))
        .problem(409, "insufficient_stock");
    let moved = transfer(json!({"from_location_id": wh, "to_location_id": futian, "part_id": screen, "quantity": 6}));
    assert_eq!(moved.status, 201, "{}", moved.text);
    assert_eq!(moved.body["transfer_out"]["quantity"], -6);
    assert_eq!(level(&app, &wh, &screen)["on_hand"].as_i64(), Some(before + 4));

    let counted = app.post(
        "/api/v1/stock/adjustments",
        &warehouse,
        &json!({"location_id": wh, "part_id": screen, "counted": 3, "reason": "cycle count, two cracked"}),
    );
    assert_eq!(counted.status, 201, "{}", counted.text);
    assert_eq!(counted.body["level"]["on_hand"], 3);
    assert_eq!(counted.body["movement"]["quantity"], 3 - (before + 4));
    let history = app.get(
        "/api/v1/stock/movements?location_id=".to_owned().as_str(),
        Some(&warehouse),
    );
    assert_eq!(history.status, 400, "an empty id is a bad parameter");
    let history = app.get(
        &format!("/api/v1/stock/movements?location_id={wh}&part_id={screen}"),
        Some(&warehouse),
    );
    let kinds: Vec<&str> = history.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["receipt", "receipt", "transfer_out", "adjustment"]);
    ledger_consistent(&app);
}

#[test]
fn a_paid_repair_reserves_quotes_and_uses_parts() {
    let app = seeded();
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let model = model_id(&app.db, "MATE60PRO");
    let ticket = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": futian, "customer": {"name": "Li Lei", "phone": "13800000000"},
                "device_imei": crate::tickets::imei(), "model_id": model.0, "purchase_date": "2024-01-02",
                "channel": "walk_in", "reported_fault": "cracked screen", "fault": "screen_damage",
                "inspection": {"drop": true}}),
    );
    assert_eq!(ticket.status, 201, "{}", ticket.text);
    assert_eq!(ticket.body["warranty"]["free"], false);
    let id = ticket.id();
    let before = level(&app, &futian, &screen);

    let too_many = app.post_admin(
        &format!("/api/v1/tickets/{id}/parts"),
        &json!({"part_id": screen, "quantity": 999}),
    );
    too_many.problem(409, "insufficient_stock");
    let reserved = app.post_admin(
        &format!("/api/v1/tickets/{id}/parts"),
        &json!({"part_id": screen, "quantity": 1}),
    );
    assert_eq!(reserved.status, 200, "{}", reserved.text);
    let line = reserved.body["line"]["id"].as_str().unwrap_or_default().to_owned();
    let after = level(&app, &futian, &screen);
    assert_eq!(after["reserved"].as_i64(), before["reserved"].as_i64().map(|r| r + 1));
    assert_eq!(after["on_hand"], before["on_hand"]);

    app.send(
        "POST",
        &format!("/api/v1/tickets/{id}/start-diagnosis"),
        Some(&app.admin_key),
        &[],
        "",
    );
    let quoted = app.post_admin(
        &format!("/api/v1/tickets/{id}/quote"),
        &json!({"labour": {"amount": "150.00", "currency": "CNY"}}),
    );
    assert_eq!(quoted.status, 200, "{}", quoted.text);
    assert_eq!(quoted.body["status"], "awaiting_approval");
    assert_eq!(
        quoted.body["parts"]["lines"][0]["unit_price"]["amount"], "1949.00",
        "priced at the price in force"
    );
    assert_eq!(quoted.body["parts"]["customer_total"]["amount"], "2099.00");
    // A price change after the quote does not change what was quoted.
    app.db
        .write(|conn| {
            use depot::db::schema::part_prices;
            use depot::db::types::Ts;
            Ok(with_conn!(conn, c => diesel::insert_into(part_prices::table).values((
                part_prices::id.eq(Id(Uuid::now_v7())), part_prices::part_id.eq(Id(Uuid::parse_str(&screen).unwrap_or_default())),
                part_prices::price_minor.eq(99_900i64), part_prices::currency.eq("CNY"),
                part_prices::effective_at.eq(Ts(depot::now())), part_prices::created_at.eq(Ts(depot::now())),
            )).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let approved = app.send(
        "POST",
        &format!("/api/v1/tickets/{id}/quote/approve"),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.body["status"], "repairing");
    assert_eq!(
        approved.body["parts"]["customer_total"]["amount"], "2099.00",
        "the snapshot holds"
    );
    let used = app.send(
        "POST",
        &format!("/api/v1/tickets/{id}/parts/{line}/consume"),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(used.status, 200, "{}", used.text);
    assert_eq!(used.body["parts"]["lines"][0]["state"], "consumed");
    app.send(
        "POST",
        &format!("/api/v1/tickets/{id}/parts/{line}/consume"),
        Some(&app.admin_key),
        &[],
        "",
    )
    .problem(409, "illegal_transition");
    let done = level(&app, &futian, &screen);
    assert_eq!(done["on_hand"].as_i64(), before["on_hand"].as_i64().map(|h| h - 1));
    assert_eq!(done["reserved"], before["reserved"]);
    ledger_consistent(&app);
}

/// A walk-in ticket at a store for a model bought on `purchased` (a date, as JSON); asserts it opened.
fn walk_in(app: &TestApp, store: &str, model: &Id, purchased: Value, fault: &str) -> crate::helpers::Resp {
    let ticket = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": store, "customer": {"name": "Li Lei", "phone": "13800000000"},
                "device_imei": crate::tickets::imei(), "model_id": model.0, "purchase_date": purchased,
                "channel": "walk_in", "reported_fault": fault}),
    );
    assert_eq!(ticket.status, 201, "{}", ticket.text);
    ticket
}

fn act(app: &TestApp, path: &str) -> crate::helpers::Resp {
    app.send("POST", path, Some(&app.admin_key), &[], "")
}

fn reserve_one(app: &TestApp, ticket: &str, part: &str) -> String {
    let res = app.post_admin(
        &format!("/api/v1/tickets/{ticket}/parts"),
        &json!({"part_id": part, "quantity": 1}),
    );
    assert_eq!(res.status, 200, "{}", res.text);
    let line = &res.body["line"];
    assert!(line["state"] == "reserved" && line["part_id"] == part, "{}", res.text);
    line["id"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_paid_repair_waits_for_its_quote_and_a_free_one_keeps_the_cost_of_its_parts() {
    let app = seeded();
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let model = model_id(&app.db, "MATE60PRO");

    // Paid: out of warranty. The repair waits for an approved quote, and a part reserved after it is not used.
    let paid = walk_in(&app, &futian, &model, json!("2023-01-02"), "cracked screen");
    assert_eq!(paid.body["warranty"]["free"], false, "{}", paid.text);
    let id = paid.id();
    assert_eq!(act(&app, &format!("/api/v1/tickets/{id}/start-diagnosis")).status, 200);
    act(&app, &format!("/api/v1/tickets/{id}/start-repair")).problem(409, "quote_required");
    let quoted = app.post_admin(
        &format!("/api/v1/tickets/{id}/quote"),
        &json!({"labour": {"amount": "80.00", "currency": "CNY"}}),
    );
    assert_eq!(quoted.status, 200, "{}", quoted.text);
    let approved = act(&app, &format!("/api/v1/tickets/{id}/quote/approve"));
    assert_eq!(approved.body["status"], "repairing", "{}", approved.text);
    let before = level(&app, &futian, &screen);
    let extra = reserve_one(&app, &id, &screen);
    act(&app, &format!("/api/v1/tickets/{id}/parts/{extra}/consume")).problem(409, "part_not_quoted");
    let held = level(&app, &futian, &screen);
    assert_eq!(held["on_hand"], before["on_hand"], "nothing used");
    assert_eq!(held["reserved"].as_i64(), before["reserved"].as_i64().map(|r| r + 1));
    let released = act(&app, &format!("/api/v1/tickets/{id}/parts/{extra}/release"));
    assert_eq!(released.status, 200, "{}", released.text);
    assert_eq!(released.body["parts"]["customer_total"]["amount"], "80.00");

    // Free: within the year. No quote is needed, and the used part keeps its cost while the customer pays nothing.
    let bought = (Utc::now() - Duration::days(60)).date_naive();
    let free = walk_in(&app, &futian, &model, json!(bought), "screen flickers");
    assert_eq!(free.body["warranty"]["free"], true, "{}", free.text);
    let id = free.id();
    let used = reserve_one(&app, &id, &screen);
    let unused = reserve_one(&app, &id, &screen);
    for step in ["start-diagnosis", "start-repair"] {
        let res = act(&app, &format!("/api/v1/tickets/{id}/{step}"));
        assert_eq!(res.status, 200, "{step}: {}", res.text);
    }
    let consumed = act(&app, &format!("/api/v1/tickets/{id}/parts/{used}/consume"));
    assert_eq!(consumed.status, 200, "{}", consumed.text);
    let line = consumed.body["parts"]["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["id"] == used.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(line["state"], "consumed");
    assert_eq!(line["covered"], true);
    assert_eq!(line["unit_price"]["amount"], "1949.00", "priced at the price in force");
    assert_eq!(line["customer_price"]["amount"], "0.00");
    assert_eq!(consumed.body["parts"]["total_cost"]["amount"], "1949.00");
    assert_eq!(consumed.body["parts"]["customer_total"]["amount"], "0.00");

    // Closing the ticket puts the part it reserved and did not use back on the shelf.
    let reserved_before_close = level(&app, &futian, &screen)["reserved"].as_i64();
    for step in ["start-quality-check", "mark-ready", "close"] {
        let res = act(&app, &format!("/api/v1/tickets/{id}/{step}"));
        assert_eq!(res.status, 200, "{step}: {}", res.text);
    }
    let closed = app.get_admin(&format!("/api/v1/tickets/{id}"));
    let lines = closed.body["parts"]["lines"].as_array().cloned().unwrap_or_default();
    assert!(lines.iter().all(|l| l["id"] != unused.as_str()), "{}", closed.text);
    let after = level(&app, &futian, &screen);
    assert_eq!(after["reserved"].as_i64(), reserved_before_close.map(|r| r - 1));
    ledger_consistent(&app);
}

#[test]
fn stock_levels_page_by_location_then_sku() {
    let app = seeded();
    let key = |l: &Value| format!("{}|{}", l["location_id"], l["sku"]);
    let whole = app.get_admin("/api/v1/stock/levels?limit=200");
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert!(whole.body["next_cursor"].is_null(), "the demo data fits in one page");
    let all: Vec<String> = whole.body["items"].as_array().into_iter().flatten().map(key).collect();
    assert!(all.len() > 4, "{}", whole.text);
    let mut paged = Vec::new();
    let mut path = "/api/v1/stock/levels?limit=3".to_owned();
    loop {
        let page = app.get_admin(&path);
        assert_eq!(page.status, 200, "{}", page.text);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 3);
        paged.extend(items.iter().map(key));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/stock/levels?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, all, "the pages together are the whole list, in order, once");
    let bad = app.get_admin("/api/v1/stock/levels?cursor=bm90LWEtY3Vyc29y");
    assert_eq!(bad.bad_fields(), ["cursor"]);
    assert_eq!(app.get_admin("/api/v1/stock/levels?limit=0").bad_fields(), ["limit"]);
}

#[test]
fn a_declined_quote_releases_the_parts() {
    let app = seeded();
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let battery = part_id(&app.db, "BAT-P70");
    let model = model_id(&app.db, "P70");
    let ticket = walk_in(&app, &futian, &model, json!("2023-01-02"), "battery drains");
    let id = ticket.id();
    let before = level(&app, &futian, &battery);
    app.post_admin(
        &format!("/api/v1/tickets/{id}/parts"),
        &json!({"part_id": battery, "quantity": 2}),
    );
    app.send(
        "POST",
        &format!("/api/v1/tickets/{id}/start-diagnosis"),
        Some(&app.admin_key),
        &[],
        "",
    );
    app.post_admin(&format!("/api/v1/tickets/{id}/quote"), &json!({}));
    let declined = app.send(
        "POST",
        &format!("/api/v1/tickets/{id}/quote/decline"),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(declined.status, 200, "{}", declined.text);
    assert_eq!(declined.body["status"], "ready_for_pickup");
    assert_eq!(declined.body["parts"]["lines"].as_array().map(Vec::len), Some(0));
    let after = level(&app, &futian, &battery);
    assert_eq!(
        (&after["on_hand"], &after["reserved"]),
        (&before["on_hand"], &before["reserved"]),
        "the parts are back"
    );
    ledger_consistent(&app);
}

#[test]
fn a_declined_quote_bills_nothing() {
    let app = seeded();
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let battery = part_id(&app.db, "BAT-P70");
    let model = model_id(&app.db, "P70");
    // Bought long ago: a paid repair, so the quote's labour is the customer's to pay if approved.
    let ticket = walk_in(&app, &futian, &model, json!("2023-01-02"), "battery drains");
    let id = ticket.id();
    reserve_one(&app, &id, &battery);
    act(&app, &format!("/api/v1/tickets/{id}/start-diagnosis"));
    let quoted = app.post_admin(
        &format!("/api/v1/tickets/{id}/quote"),
        &json!({"labour": {"amount": "150.00", "currency": "CNY"}}),
    );
    assert_eq!(quoted.status, 200, "{}", quoted.text);
    assert_eq!(quoted.body["parts"]["labour"]["amount"], "150.00", "{}", quoted.text);
    let declined = act(&app, &format!("/api/v1/tickets/{id}/quote/decline"));
    assert_eq!(declined.status, 200, "{}", declined.text);
    let parts = app.get_admin(&format!("/api/v1/tickets/{id}/parts"));
    assert_eq!(parts.status, 200, "{}", parts.text);
    assert_eq!(parts.body["lines"].as_array().map(Vec::len), Some(0), "{}", parts.text);
    assert_eq!(parts.body["customer_total"]["amount"], "0.00", "{}", parts.text);
    assert_eq!(parts.body["total_cost"]["amount"], "0.00", "{}", parts.text);
    assert_eq!(
        declined.body["parts"]["customer_total"]["amount"], "0.00",
        "{}",
        declined.text
    );
    // What was quoted is not forgotten: the timeline says it was not billed.
    assert!(
        declined.body["timeline"]
            .to_string()
            .contains("labour 150.00 not billed"),
        "{}",
        declined.text
    );
}

#[test]
fn the_reorder_report_lists_what_ran_low() {
    let app = seeded();
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let screen = part_id(&app.db, "SCR-NOVA12");
    let set = app.send(
        "PUT",
        &format!("/api/v1/stock/levels/{futian}/{screen}/reorder"),
        Some(&app.admin_key),
        &[],
        &json!({"reorder_point": 5, "reorder_qty": 10}).to_string(),
    );
    assert_eq!(set.status, 200, "{}", set.text);
    let report = app.get_admin(&format!("/api/v1/stock/reorder-report?location_id={futian}"));
    let line = report.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["sku"] == "SCR-NOVA12")
        .cloned();
    let line = line.unwrap_or_else(|| panic!("not listed: {}", report.text));
    assert_eq!(line["available"], 2);
    assert_eq!(
        line["suggested_qty"], 13,
        "3 short of the point, plus the reorder quantity"
    );
    let csv = app.get_admin(&format!("/api/v1/stock/reorder-report.csv?location_id={futian}"));
    assert!(csv.content_type.starts_with("text/csv"));
    assert!(csv.text.starts_with("location_code,sku,"));
    assert!(csv.text.contains("SZ-FUTIAN,SCR-NOVA12,2,0,2,5,10,13"), "{}", csv.text);
}

fn race_for_last_units(app: &TestApp, other: Option<&TestApp>) {
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let screen = part_id(&app.db, "SCR-P70");
    let model = model_id(&app.db, "NOVA12");
    let tickets: Vec<String> = (0..12)
        .map(|_| walk_in(app, &futian, &model, json!("2025-01-02"), "no display").id())
        .collect();
    let available = level(app, &futian, &screen)["available"].as_i64().unwrap_or(0);
    assert_eq!(available, 3, "the demo stock of SCR-P70 at SZ-FUTIAN");
    let statuses: Vec<(u16, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = tickets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let target = match other {
                    Some(o) if i % 2 == 1 => o,
                    _ => app,
                };
                let screen = &screen;
                s.spawn(move || {
                    let res = target.post_admin(
                        &format!("/api/v1/tickets/{t}/parts"),
                        &json!({"part_id": screen, "quantity": 1}),
                    );
                    let line = res.body["line"]["id"].as_str().unwrap_or_default().to_owned();
                    (res.status, t.clone(), line)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((0, String::new(), String::new())))
            .collect()
    });
    let codes: Vec<u16> = statuses.iter().map(|(status, _, _)| *status).collect();
    assert_eq!(codes.iter().filter(|s| **s == 200).count(), 3, "{codes:?}");
    assert!(codes.iter().all(|s| *s == 200 || *s == 409), "{codes:?}");
    let after = level(app, &futian, &screen);
    assert_eq!(after["reserved"], after["on_hand"]);
    assert_eq!(after["available"], 0);
    ledger_consistent(app);
    // A refused reservation (rolled back after it locked its ticket) left no line and no timeline entry.
    for (_, t, _) in statuses.iter().filter(|(status, _, _)| *status == 409) {
        let parts = app.get_admin(&format!("/api/v1/tickets/{t}/parts"));
        assert_eq!(parts.body["lines"].as_array().map(Vec::len), Some(0), "{}", parts.text);
        let ticket = app.get_admin(&format!("/api/v1/tickets/{t}"));
        let timeline = ticket.body["timeline"].as_array().cloned().unwrap_or_default();
        assert!(
            !timeline.is_empty() && timeline.iter().all(|e| e["kind"] != "part_reserved"),
            "{}",
            ticket.text
        );
    }

    // Then each reserved unit is used twice and released once, all at once: one of the three wins per line.
    let won: Vec<(String, String)> = statuses
        .into_iter()
        .filter(|(status, _, _)| *status == 200)
        .map(|(_, t, line)| (t, line))
        .collect();
    for (t, _) in &won {
        assert_eq!(act(app, &format!("/api/v1/tickets/{t}/start-diagnosis")).status, 200);
        let quoted = app.post_admin(&format!("/api/v1/tickets/{t}/quote"), &json!({}));
        assert_eq!(quoted.status, 200, "{}", quoted.text);
        assert_eq!(act(app, &format!("/api/v1/tickets/{t}/quote/approve")).status, 200);
    }
    let finishes: Vec<(String, u16)> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (i, (t, line)) in won.iter().enumerate() {
            for (j, verb) in ["consume", "consume", "release"].into_iter().enumerate() {
                let target = match other {
                    Some(o) if (i + j) % 2 == 1 => o,
                    _ => app,
                };
                let path = format!("/api/v1/tickets/{t}/parts/{line}/{verb}");
                handles.push(s.spawn(move || (verb.to_owned(), act(target, &path).status)));
            }
        }
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    assert_eq!(
        finishes.iter().filter(|(_, status)| *status == 200).count(),
        3,
        "one per line: {finishes:?}"
    );
    assert!(
        finishes.iter().all(|(_, status)| *status == 200 || *status == 409),
        "{finishes:?}"
    );
    let used = finishes
        .iter()
        .filter(|(verb, status)| verb == "consume" && *status == 200)
        .count() as i64;
    let end = level(app, &futian, &screen);
    assert_eq!(end["reserved"], 0, "every line was used or released");
    assert_eq!(end["on_hand"].as_i64(), after["on_hand"].as_i64().map(|h| h - used));
    assert_eq!(end["available"], end["on_hand"]);
    ledger_consistent(app);
}

#[test]
fn concurrent_reservations_of_the_last_units_never_oversell() {
    let app = seeded();
    race_for_last_units(&app, None);
}

#[test]
fn two_instances_reserving_the_last_units_never_oversell() {
    let app = seeded();
    let other = spawn_another(&app);
    race_for_last_units(&app, Some(&other));
}

mod random_sequences {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Receive(u8, i64),
        Transfer(u8, i64),
        Count(u8, i64),
        Reserve(u8, i64),
        Release(u8, i64),
        Consume(u8, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..2, 1i64..20).prop_map(|(l, q)| Op::Receive(l, q)),
            (0u8..2, 1i64..20).prop_map(|(l, q)| Op::Transfer(l, q)),
            (0u8..2, 0i64..30).prop_map(|(l, q)| Op::Count(l, q)),
            (0u8..2, 1i64..10).prop_map(|(l, q)| Op::Reserve(l, q)),
            (0u8..2, 1i64..10).prop_map(|(l, q)| Op::Release(l, q)),
            (0u8..2, 1i64..10).prop_map(|(l, q)| Op::Consume(l, q)),
        ]
    }

    /// Applies one operation in its own transaction; refusals (not enough stock, count below reserved) are fine,
    /// what matters is that nothing breaks the invariants.
    fn apply(db: &Db, admin: &Principal, locations: &[Uuid; 2], part: Uuid, n: usize, op: &Op) {
        let at = |l: &u8| locations[usize::from(*l) % 2];
        let reference = format!("R-{n}");
        let _ = db.write(|conn| match op {
            Op::Receive(l, q) => stock::receive(
                conn,
                admin,
                &stock::CreateReceipt {
                    location_id: at(l),
                    receipt_number: reference.clone(),
                    lines: vec![stock::ReceiptLine {
                        part_id: part,
                        quantity: *q,
                    }],
                },
            )
            .map(|_| ()),
            Op::Transfer(l, q) => stock::transfer(
                conn,
                admin,
                &stock::CreateTransfer {
                    from_location_id: at(l),
                    to_location_id: at(&(l + 1)),
                    part_id: part,
                    quantity: *q,
                    reference: None,
                },
            )
            .map(|_| ()),
            Op::Count(l, q) => stock::adjust(
                conn,
                admin,
                &stock::CreateAdjustment {
                    location_id: at(l),
                    part_id: part,
                    counted: *q,
                    reason: "count".into(),
                },
            )
            .map(|_| ()),
            Op::Reserve(l, q) => stock::reserve_units(conn, Id(at(l)), Id(part), *q, &reference, admin.key_id),
            Op::Release(l, q) => stock::release_units(conn, Id(at(l)), Id(part), *q, &reference, admin.key_id),
            Op::Consume(l, q) => stock::consume_units(conn, Id(at(l)), Id(part), *q, &reference, admin.key_id),
        });
    }

    #[test]
    fn random_movement_sequences_keep_the_invariants() {
        let app = seeded();
        let admin = Principal {
            key_id: Uuid::nil(),
            role: Role::Admin,
            store_ids: vec![],
            partner_id: None,
            username: None,
        };
        let key: Id = app
            .db
            .read(|conn| {
                use depot::db::schema::api_keys;
                Ok(with_conn!(conn, c => api_keys::table.select(api_keys::id).first(c))?)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let admin = Principal { key_id: key.0, ..admin };
        let locations = [
            Uuid::parse_str(&store_id(&app.db, "SZ-WH1")).unwrap_or_default(),
            Uuid::parse_str(&store_id(&app.db, "SZ-NANSHAN")).unwrap_or_default(),
        ];
        let config = ProptestConfig {
            cases: 24,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config, |(ops in proptest::collection::vec(op(), 1..40))| {
            // Each case works on a part of its own, so cases do not see each other's stock.
            let part = Uuid::now_v7();
            let now = depot::db::types::Ts(depot::now());
            app.db.write(|conn| Ok(with_conn!(conn, c => diesel::insert_into(parts::table).values((
                parts::id.eq(Id(part)), parts::sku.eq(format!("P-{}", part.simple())), parts::name.eq("prop part"),
                parts::category.eq("other"), parts::warranty_months.eq(3), parts::active.eq(true),
                parts::created_at.eq(now), parts::updated_at.eq(now),
            )).execute(c))?)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (n, op) in ops.iter().enumerate() {
                apply(&app.db, &admin, &locations, part, n, op);
            }
            let check = app.db.read(stock::check_ledger).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(check.consistent, "ledger disagrees: {:?}", check.mismatches);
            let levels: Vec<(i64, i64)> = app.db.read(|conn| {
                use depot::db::schema::stock_levels;
                Ok(with_conn!(conn, c => stock_levels::table.filter(stock_levels::part_id.eq(Id(part)))
                    .select((stock_levels::on_hand, stock_levels::reserved)).load(c))?)
            }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (on_hand, reserved) in levels {
                prop_assert!(0 <= reserved && reserved <= on_hand, "reserved {} on hand {}", reserved, on_hand);
            }
        });
    }
}

/// A reservation racing the ticket's cancel: the cancel releases every line the ticket has, so a line reserved
/// beside it must either come before (and be released) or be refused (`ticket_final`), never stay reserved.
#[test]
fn a_reservation_racing_the_tickets_cancel_never_stays_reserved() {
    let app = seeded();
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let screen = part_id(&app.db, "SCR-P70");
    let model = model_id(&app.db, "NOVA12");
    for round in 0..30 {
        let ticket = walk_in(&app, &futian, &model, json!("2025-01-02"), "no display").id();
        let (reserved, cancelled) = std::thread::scope(|s| {
            let reserved = s.spawn(|| {
                app.post_admin(
                    &format!("/api/v1/tickets/{ticket}/parts"),
                    &json!({"part_id": screen, "quantity": 1}),
                )
            });
            let cancelled = s.spawn(|| act(&app, &format!("/api/v1/tickets/{ticket}/cancel")));
            (reserved.join(), cancelled.join())
        });
        let (Ok(reserved), Ok(cancelled)) = (reserved, cancelled) else {
            panic!("a racing request panicked");
        };
        let context = format!(
            "round {round}: reserve {} {}; cancel {} {}",
            reserved.status, reserved.text, cancelled.status, cancelled.text
        );
        assert_eq!(cancelled.status, 200, "{context}");
        if reserved.status != 200 {
            reserved.problem(409, "ticket_final");
        }
        let parts = app.get_admin(&format!("/api/v1/tickets/{ticket}/parts"));
        assert_eq!(parts.status, 200, "{}", parts.text);
        let lines = parts.body["lines"].as_array().cloned().unwrap_or_default();
        assert!(
            lines.iter().all(|l| l["state"] != "reserved"),
            "a line stays reserved on the cancelled ticket: {context}; {lines:?}"
        );
        assert_eq!(level(&app, &futian, &screen)["reserved"], 0, "{context}");
    }
    ledger_consistent(&app);
}

/// Transfers A to B and B to A sent at once take the two levels in one order: neither deadlocks (which would answer
/// 503) and the ledger agrees with the levels after.
#[test]
fn opposite_transfers_at_once_never_deadlock() {
    let app = seeded();
    let wh = store_id(&app.db, "SZ-WH1");
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let fill =
        "location_code,receipt_number,sku,quantity\nSZ-WH1,GR-X,SCR-MATE60PRO,500\nSZ-FUTIAN,GR-X,SCR-MATE60PRO,500\n";
    let res = csv(&app, &app.admin_key, "/api/v1/stock/receipts/import", fill);
    assert_eq!(res.status, 201, "{}", res.text);
    let total = |app: &TestApp| {
        level(app, &wh, &screen)["on_hand"].as_i64().unwrap_or(0)
            + level(app, &futian, &screen)["on_hand"].as_i64().unwrap_or(0)
    };
    let before = total(&app);
    for round in 0..40 {
        let answers: Vec<(u16, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = [(&wh, &futian), (&futian, &wh)]
                .into_iter()
                .map(|(from, to)| {
                    let (app, screen) = (&app, &screen);
                    s.spawn(move || {
                        let res = app.post_admin(
                            "/api/v1/stock/transfers",
                            &json!({"from_location_id": from, "to_location_id": to, "part_id": screen, "quantity": 1}),
                        );
                        (res.status, res.text)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or((0, String::new())))
                .collect()
        });
        assert!(
            answers.iter().all(|(status, _)| *status == 201),
            "round {round}: {answers:?}"
        );
    }
    assert_eq!(total(&app), before, "transfers move units, they make none");
    ledger_consistent(&app);
}
