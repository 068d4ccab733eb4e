//! Warranty policies per series (create, list, read, delete a future one, refusals) and the dry-run warranty check
//! (the decision a ticket would get, under the series' policy in force at the store today, with nothing written).

use chrono::{Duration, NaiveDate, Utc};
use depot::db::schema::{audit_log, customers, device_plans, devices, tickets};
use depot::db::types::{Id, Ts};
use depot::devices::{DevicePlanRow, DeviceRow};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Resp, TestApp, spawn_app};
use crate::tickets::{Premium, imei, premium, ticket_body};

/// Today at the test stores (created in the default time zone, Asia/Shanghai).
fn store_today() -> NaiveDate {
    depot::tickets::rules::local_date("Asia/Shanghai", Utc::now())
}

/// A policy as generous as the national rule, from `from`.
fn national_like(series: &str, from: NaiveDate) -> Value {
    json!({
        "series_id": series, "effective_from": from,
        "return_days": 7, "exchange_days": 15, "handset_months": 12, "battery_months": 6, "charger_months": 12,
        "wired_earphones_months": 3, "extended_months": 12, "screen_plan_months": 12, "daily_depreciation": "0.50",
    })
}

/// A policy with a 14-day return window, from `from`.
fn fourteen_days(series: &str, from: NaiveDate) -> Value {
    let mut body = national_like(series, from);
    body["return_days"] = json!(14);
    body["exchange_days"] = json!(30);
    body["daily_depreciation"] = json!("0.25");
    body["note"] = json!("Maker's 14-day return promise");
    body
}

#[track_caller]
fn create(app: &TestApp, body: &Value) -> Resp {
    let res = app.post_admin("/api/v1/warranty-policies", body);
    assert_eq!(res.status, 201, "{}", res.text);
    res
}

fn check(app: &TestApp, key: &str, query: &str) -> Resp {
    app.get(&format!("/api/v1/warranty/check?{query}"), Some(key))
}

/// The check's query for a phone Depot has no record of, bought `days_ago` days before today at the store.
fn unknown_phone(p: &Premium, imei: &str, days_ago: i64) -> String {
    let purchased = store_today() - Duration::days(days_ago);
    format!(
        "imei={imei}&store_id={}&model_id={}&purchase_date={purchased}",
        p.store, p.model
    )
}

fn delete(app: &TestApp, path: &str, key: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    agent
        .delete(&app.url(path))
        .header("Authorization", &format!("Bearer {key}"))
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
}

fn count(app: &TestApp) -> [i64; 4] {
    app.db
        .read(|conn| {
            Ok(depot::with_conn!(conn, c => {
                let devices = devices::table.count().get_result::<i64>(c)?;
                let customers = customers::table.count().get_result::<i64>(c)?;
                let tickets = tickets::table.count().get_result::<i64>(c)?;
                let audit = audit_log::table.count().get_result::<i64>(c)?;
                Ok::<_, diesel::result::Error>([devices, customers, tickets, audit])
            })?)
        })
        .unwrap_or_else(|e| panic!("counting: {e}"))
}

/// A device record as the opening will write it (until the lead's opening lands, tests write it here).
fn insert_device(app: &TestApp, p: &Premium, imei: &str, purchased: NaiveDate, starts: NaiveDate, state: &str) -> Id {
    let now = Ts(depot::now());
    let row = DeviceRow {
        id: Id(Uuid::now_v7()),
        imei: imei.to_owned(),
        model_id: Id(p.model.parse().unwrap_or_default()),
        purchase_date: purchased,
        warranty_starts_on: starts,
        price_paid_minor: Some(599_900),
        seller: None,
        invoice_number: None,
        state: state.to_owned(),
        customer_id: None,
        replaces_device_id: None,
        credit_correction_days: 0,
        created_at: now,
        updated_at: now,
    };
    let id = row.id;
    app.db
        .write(|conn| depot::devices::repo::insert_if_absent(conn, &row))
        .unwrap_or_else(|e| panic!("inserting a device: {e}"));
    id
}

fn sell_extended_warranty(app: &TestApp, p: &Premium, device: Id) {
    let row = DevicePlanRow {
        id: Id(Uuid::now_v7()),
        device_id: device,
        kind: "extended_warranty".into(),
        sold_on: store_today(),
        price_minor: 29_900,
        store_id: Id(p.store.parse().unwrap_or_default()),
        api_key_id: None,
        used_by_ticket_id: None,
        used_at: None,
        created_at: Ts(depot::now()),
    };
    app.db
        .write(|conn| {
            Ok(depot::with_conn!(conn, c => diesel::insert_into(device_plans::table).values(&row).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("selling a plan: {e}"));
}

#[test]
fn policies_are_created_by_admins_listed_and_read_by_staff_and_audited() {
    let app = spawn_app();
    let p = premium(&app, "WP", 0);
    let staff = app.create_key("store_staff", &[&p.store]);
    let warehouse = app.create_key("warehouse", &[&p.store]);
    let from = store_today() - Duration::days(30);

    let created = create(&app, &fourteen_days(&p.series, from));
    let policy = created.body.clone();
    assert_eq!(policy["series_id"], p.series.as_str());
    assert_eq!(policy["effective_from"], from.to_string());
    assert_eq!(policy["return_days"], 14);
    assert_eq!(policy["exchange_days"], 30);
    assert_eq!(policy["daily_depreciation"], "0.25");
    assert_eq!(policy["note"], "Maker's 14-day return promise");
    assert!(policy["created_by"].is_string());

    // Read by store staff (who explain decisions), never written by them; other roles neither.
    let got = app.get(&format!("/api/v1/warranty-policies/{}", created.id()), Some(&staff));
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body, policy);
    let refused = app.post(
        "/api/v1/warranty-policies",
        &staff,
        &national_like(&p.series, store_today()),
    );
    refused.problem(403, "forbidden");
    app.get("/api/v1/warranty-policies", Some(&warehouse))
        .problem(403, "forbidden");
    app.get(&format!("/api/v1/warranty-policies/{}", Uuid::now_v7()), Some(&staff))
        .problem(404, "not_found");

    // A second policy of the series from a later date, and one of another series; listed in creation order,
    // filtered by series, paginated.
    let later = create(&app, &national_like(&p.series, from + Duration::days(400)));
    let other = premium(&app, "WQ", 0);
    create(&app, &national_like(&other.series, from));
    let page = app.get(
        &format!("/api/v1/warranty-policies?series_id={}&limit=1", p.series),
        Some(&staff),
    );
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["items"][0]["id"], created.id().as_str());
    let cursor = page.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{}", page.text);
    let next = app.get(
        &format!(
            "/api/v1/warranty-policies?series_id={}&limit=1&cursor={cursor}",
            p.series
        ),
        Some(&staff),
    );
    assert_eq!(next.body["items"][0]["id"], later.id().as_str(), "{}", next.text);
    assert!(next.body["next_cursor"].is_null());
    let all = app.get_admin("/api/v1/warranty-policies");
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(3));

    // The Idempotency-Key replays the first answer instead of refusing a duplicate.
    let body = national_like(&p.series, from + Duration::days(800)).to_string();
    let headers = [("Idempotency-Key", "policy-1")];
    let first = app.send(
        "POST",
        "/api/v1/warranty-policies",
        Some(&app.admin_key),
        &headers,
        &body,
    );
    let again = app.send(
        "POST",
        "/api/v1/warranty-policies",
        Some(&app.admin_key),
        &headers,
        &body,
    );
    assert_eq!((first.status, again.status), (201, 201), "{}", again.text);
    assert_eq!(first.id(), again.id());
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));

    let audit = app.get_admin(&format!(
        "/api/v1/audit-log?entity_type=warranty_policy&entity_id={}",
        created.id()
    ));
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(1), "{}", audit.text);
    assert_eq!(audit.body["items"][0]["action"], "create");
}

#[test]
fn policies_less_generous_than_the_national_rule_duplicates_and_unknown_series_are_refused() {
    let app = spawn_app();
    let p = premium(&app, "WR", 0);
    let today = store_today();

    let mut meaner = national_like(&p.series, today);
    meaner["return_days"] = json!(5);
    meaner["battery_months"] = json!(3);
    meaner["daily_depreciation"] = json!("0.60");
    let res = app.post_admin("/api/v1/warranty-policies", &meaner);
    res.problem(400, "validation_failed");
    assert_eq!(
        res.bad_fields(),
        ["return_days", "battery_months", "daily_depreciation"]
    );

    for (field, value) in [
        ("exchange_days", json!(16)), // with return_days 20 below
        ("daily_depreciation", json!("0.555")),
        ("daily_depreciation", json!(".5")),
        ("daily_depreciation", json!("-0.1")),
        ("daily_depreciation", json!(0.5)),
        ("handset_months", json!(121)),
        ("return_days", json!(366)),
        ("effective_from", json!("1999-12-31")),
        ("note", json!(" ")),
    ] {
        let mut body = national_like(&p.series, today);
        if field == "exchange_days" {
            body["return_days"] = json!(20);
        }
        body[field] = value.clone();
        let res = app.post_admin("/api/v1/warranty-policies", &body);
        assert_eq!(res.status, 400, "{field} = {value}: {}", res.text);
        assert_eq!(res.bad_fields(), [field], "{field} = {value}: {}", res.text);
    }
    // The boundaries themselves are accepted: the national rule's own terms, and no depreciation at all.
    let mut free = national_like(&p.series, today);
    free["daily_depreciation"] = json!("0");
    assert_eq!(create(&app, &free).body["daily_depreciation"], "0.00");

    let res = app.post_admin(
        "/api/v1/warranty-policies",
        &national_like(&Uuid::now_v7().to_string(), today),
    );
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["series_id"]);

    app.post_admin("/api/v1/warranty-policies", &fourteen_days(&p.series, today))
        .problem(409, "policy_exists");
    let all = app.get_admin("/api/v1/warranty-policies");
    assert_eq!(
        all.body["items"].as_array().map(Vec::len),
        Some(1),
        "nothing else written"
    );
}

#[test]
fn a_series_policy_turns_the_exchange_window_into_a_return_window_and_names_itself() {
    let app = spawn_app();
    let p = premium(&app, "WS", 0);
    let staff = app.create_key("store_staff", &[&p.store]);
    let phone = imei();

    let national = check(&app, &staff, &unknown_phone(&p, &phone, 10));
    assert_eq!(national.status, 200, "{}", national.text);
    assert_eq!(national.body["rule"], "exchange_window");
    assert_eq!(national.body["policy"]["source"], "national");
    assert!(national.body["policy"]["id"].is_null());
    assert_eq!(national.body["days_since_purchase"], 10);

    let policy = create(&app, &fourteen_days(&p.series, store_today() - Duration::days(30)));
    let series = check(&app, &staff, &unknown_phone(&p, &phone, 10));
    assert_eq!(series.status, 200, "{}", series.text);
    assert_eq!(series.body["rule"], "return_window", "{}", series.text);
    assert_eq!(series.body["remedies"], json!(["return", "exchange", "free_repair"]));
    assert_eq!(series.body["policy"]["source"], "series");
    assert_eq!(series.body["policy"]["id"], policy.id().as_str());
    assert_eq!(series.body["policy"]["effective_from"], policy.body["effective_from"]);
    assert_eq!(series.body["policy"]["terms"]["return_days"], 14);
    assert_eq!(series.body["policy"]["terms"]["daily_depreciation_bp"], 25);

    // Another series' phone keeps the national rule.
    let other = premium(&app, "WT", 0);
    let res = check(&app, &app.admin_key, &unknown_phone(&other, &imei(), 10));
    assert_eq!(res.body["rule"], "exchange_window", "{}", res.text);
}

#[test]
fn a_policy_effective_tomorrow_does_not_apply_today_and_only_a_future_policy_may_be_deleted() {
    let app = spawn_app();
    let p = premium(&app, "WU", 0);
    create(&app, &fourteen_days(&p.series, store_today() + Duration::days(1)));
    let res = check(&app, &app.admin_key, &unknown_phone(&p, &imei(), 10));
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["rule"], "exchange_window", "{}", res.text);
    assert_eq!(res.body["policy"]["source"], "national");

    // A policy dated a few days on is in force nowhere yet: it may be deleted (audited); one in force may not.
    let future = create(&app, &national_like(&p.series, store_today() + Duration::days(10)));
    let today = create(&app, &national_like(&p.series, store_today()));
    let staff = app.create_key("store_staff", &[&p.store]);
    let path = format!("/api/v1/warranty-policies/{}", future.id());
    assert_eq!(delete(&app, &path, &staff), 403);
    assert_eq!(delete(&app, &path, &app.admin_key), 204);
    app.get_admin(&path).problem(404, "not_found");
    assert_eq!(delete(&app, &path, &app.admin_key), 404);
    let audit = app.get_admin(&format!(
        "/api/v1/audit-log?entity_type=warranty_policy&entity_id={}",
        future.id()
    ));
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["create", "delete"], "{}", audit.text);

    let in_force = create(&app, &national_like(&p.series, store_today() - Duration::days(1)));
    let path = format!("/api/v1/warranty-policies/{}", in_force.id());
    assert_eq!(delete(&app, &path, &app.admin_key), 409);
    assert_eq!(app.get_admin(&path).status, 200);
    // So is one dated today at the store: it has taken effect there.
    let path = format!("/api/v1/warranty-policies/{}", today.id());
    assert_eq!(delete(&app, &path, &app.admin_key), 409);
}

#[test]
fn a_dry_run_for_an_unknown_phone_needs_its_purchase_date_and_model_and_refuses_bad_input() {
    let app = spawn_app();
    let p = premium(&app, "WV", 0);
    let staff = app.create_key("store_staff", &[&p.store]);
    let phone = imei();
    let base = format!("imei={phone}&store_id={}", p.store);

    let res = check(&app, &staff, &base);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["purchase_date", "model_id"]);
    let res = check(&app, &staff, &format!("{base}&model_id={}", p.model));
    assert_eq!(res.bad_fields(), ["purchase_date"], "{}", res.text);
    let tomorrow = store_today() + Duration::days(1);
    let res = check(
        &app,
        &staff,
        &format!("{base}&model_id={}&purchase_date={tomorrow}", p.model),
    );
    assert_eq!(res.bad_fields(), ["purchase_date"], "{}", res.text);
    let res = check(
        &app,
        &staff,
        &format!("{base}&model_id={}&purchase_date=2026-01-01", Uuid::now_v7()),
    );
    assert_eq!(res.bad_fields(), ["model_id"], "{}", res.text);

    let bad_luhn = format!("{}{}", &phone[..14], (phone.as_bytes()[14] - b'0' + 1) % 10);
    let res = check(&app, &staff, &unknown_phone(&p, &bad_luhn, 10));
    assert_eq!(res.bad_fields(), ["imei"], "{}", res.text);
    let res = check(&app, &staff, &format!("store_id={}", p.store));
    assert_eq!(res.bad_fields(), ["imei"], "{}", res.text);
    let res = check(
        &app,
        &staff,
        &format!("{}&fault=dropped", unknown_phone(&p, &phone, 10)),
    );
    assert_eq!(res.bad_fields(), ["fault"], "{}", res.text);

    // A store outside the caller's scope is no store, as for an opening; other roles may not check at all.
    let elsewhere = premium(&app, "WW", 0);
    let res = check(&app, &staff, &unknown_phone(&elsewhere, &phone, 10));
    assert_eq!(res.bad_fields(), ["store_id"], "{}", res.text);
    let warehouse = app.create_key("warehouse", &[&p.store]);
    check(&app, &warehouse, &unknown_phone(&p, &phone, 10)).problem(403, "forbidden");

    // Findings and the certificate are judged as an opening's would be.
    let res = check(&app, &staff, &format!("{}&liquid=true", unknown_phone(&p, &phone, 10)));
    assert_eq!(res.body["rule"], "liquid_damage", "{}", res.text);
    let res = check(
        &app,
        &staff,
        &format!("{}&certificate=missing", unknown_phone(&p, &phone, 10)),
    );
    assert_eq!(res.body["rule"], "certificate_missing", "{}", res.text);
    let res = check(
        &app,
        &staff,
        &format!("{}&covered_item=battery", unknown_phone(&p, &phone, 200)),
    );
    assert_eq!(res.body["rule"], "period_expired", "{}", res.text);
}

#[test]
fn a_dry_run_writes_nothing() {
    let app = spawn_app();
    let p = premium(&app, "WX", 1);
    create(&app, &fourteen_days(&p.series, store_today() - Duration::days(30)));
    let known = imei();
    insert_device(
        &app,
        &p,
        &known,
        store_today() - Duration::days(3),
        store_today() - Duration::days(3),
        "in_use",
    );
    let before = count(&app);
    for query in [
        unknown_phone(&p, &imei(), 10),
        format!("imei={known}&store_id={}", p.store),
        format!("imei={}&store_id={}", imei(), p.store),
    ] {
        let res = check(&app, &app.admin_key, &query);
        assert!(res.status == 200 || res.status == 400, "{}", res.text);
    }
    assert_eq!(count(&app), before, "devices, customers, tickets and audit entries");
    let availability = app.get_admin(&format!("/api/v1/loaner-availability?store_id={}", p.store));
    assert_eq!(availability.body["items"][0]["available"], 1, "{}", availability.text);
}

#[test]
fn a_known_phone_is_judged_from_its_record_plans_and_warranty_start() {
    let app = spawn_app();
    let p = premium(&app, "WY", 0);
    let staff = app.create_key("store_staff", &[&p.store]);
    let today = store_today();

    // A replacement phone: bought 40 days ago, its periods restarted 3 days ago on the exchange.
    let phone = imei();
    let purchased = today - Duration::days(40);
    let device = insert_device(&app, &p, &phone, purchased, today - Duration::days(3), "in_use");
    sell_extended_warranty(&app, &p, device);
    let known = format!("imei={phone}&store_id={}", p.store);
    let res = check(&app, &staff, &known);
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["rule"], "return_window", "{}", res.text);
    assert_eq!(res.body["days_since_purchase"], 3);
    assert_eq!(res.body["inputs"]["extended_warranty"], true);
    assert_eq!(res.body["inputs"]["screen_plan"], false);

    // What is given must agree with the record; what agrees changes nothing.
    let agreeing = check(
        &app,
        &staff,
        &format!("{known}&model_id={}&purchase_date={purchased}", p.model),
    );
    assert_eq!(agreeing.body, res.body);
    let other = premium(&app, "WZ", 0);
    check(&app, &staff, &format!("{known}&model_id={}", other.model)).problem(409, "device_model_mismatch");
    check(
        &app,
        &staff,
        &format!("{known}&purchase_date={}", purchased - Duration::days(1)),
    )
    .problem(409, "device_purchase_date_mismatch");

    // A returned phone is never a customer's phone again.
    let returned = imei();
    insert_device(&app, &p, &returned, purchased, purchased, "returned");
    check(&app, &staff, &format!("imei={returned}&store_id={}", p.store)).problem(409, "device_not_in_use");
}

/// The dry run and the opening build the decision the same way: checked, then opened the same day, the same
/// phone gets the same decision under its series' policy.
#[test]
fn a_dry_run_and_an_opening_of_the_same_phone_agree() {
    let app = spawn_app();
    let p = premium(&app, "WA", 1);
    create(&app, &fourteen_days(&p.series, store_today() - Duration::days(30)));
    let mut body = ticket_body(&p, "walk_in");
    let phone = body["device_imei"].as_str().unwrap_or_default().to_owned();
    let purchased = store_today() - Duration::days(10);
    body["purchase_date"] = json!(purchased);
    let dry = check(&app, &app.admin_key, &unknown_phone(&p, &phone, 10));
    assert_eq!(dry.status, 200, "{}", dry.text);
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    assert_eq!(opened.body["warranty"], dry.body);
    assert_eq!(dry.body["rule"], "return_window");
}

/// The document promises the bounds the server enforces: each term's minimum is the national rule's, its maximum
/// the policy's limit, and the depreciation's pattern the parser's.
#[test]
fn the_documented_policy_bounds_are_the_enforced_ones() {
    use depot::warranty::rules::{DEPRECIATION_PATTERN, MAX_POLICY_DAYS, MAX_POLICY_MONTHS};
    let doc: Value = serde_json::from_str(&depot::openapi::document_json()).unwrap_or_default();
    let fields = &doc["components"]["schemas"]["CreateWarrantyPolicy"]["properties"];
    let national = serde_json::to_value(depot::warranty::Policy::default()).unwrap_or_default();
    for (field, most) in [
        ("return_days", MAX_POLICY_DAYS),
        ("exchange_days", MAX_POLICY_DAYS),
        ("handset_months", MAX_POLICY_MONTHS),
        ("battery_months", MAX_POLICY_MONTHS),
        ("charger_months", MAX_POLICY_MONTHS),
        ("wired_earphones_months", MAX_POLICY_MONTHS),
        ("extended_months", MAX_POLICY_MONTHS),
        ("screen_plan_months", MAX_POLICY_MONTHS),
    ] {
        assert_eq!(fields[field]["minimum"], national[field], "{field}");
        assert_eq!(fields[field]["maximum"], most, "{field}");
    }
    assert_eq!(fields["daily_depreciation"]["pattern"], DEPRECIATION_PATTERN);
    let imei = &doc["paths"]["/api/v1/warranty/check"]["get"]["parameters"][0];
    assert_eq!(
        (imei["name"].as_str(), imei["required"].as_bool()),
        (Some("imei"), Some(true))
    );
}
