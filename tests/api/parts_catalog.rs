use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app};

fn money(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

#[track_caller]
fn create_series(app: &TestApp, code: &str) -> String {
    let res = app.post_admin(
        "/api/v1/series",
        &json!({"code": code, "name": format!("{code} series"), "premium": true}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res.id()
}

#[track_caller]
fn create_model(app: &TestApp, code: &str, series: &str) -> String {
    let res = app.post_admin(
        "/api/v1/models",
        &json!({"code": code, "name": format!("{code} handset"), "series_id": series}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res.id()
}

#[track_caller]
fn create_part(app: &TestApp, body: Value) -> Value {
    let res = app.post_admin("/api/v1/parts", &body);
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

fn post_empty(app: &TestApp, path: &str) -> Resp {
    app.send("POST", path, Some(&app.admin_key), &[], "")
}

fn skus(res: &Resp) -> Vec<String> {
    res.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["sku"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An instant in a response, to compare whatever number of fraction digits it was written with.
fn instant(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|at| at.with_timezone(&Utc))
}

/// Now plus `offset`, cut to microseconds as the server keeps instants.
fn micros_from_now(offset: Duration) -> DateTime<Utc> {
    let at = Utc::now() + offset;
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// MATE (MATE60PRO, MATE60) and P (P70).
struct Catalog {
    mate: String,
    p: String,
    mate60pro: String,
    mate60: String,
    p70: String,
}

fn catalog(app: &TestApp) -> Catalog {
    let mate = create_series(app, "MATE");
    let p = create_series(app, "P");
    let mate60pro = create_model(app, "MATE60PRO", &mate);
    let mate60 = create_model(app, "MATE60", &mate);
    let p70 = create_model(app, "P70", &p);
    Catalog {
        mate,
        p,
        mate60pro,
        mate60,
        p70,
    }
}

#[test]
fn parts_are_created_listed_searched_and_filtered_by_model_directly_or_via_series() {
    let app = spawn_app();
    let c = catalog(&app);
    let res = app.send(
        "POST",
        "/api/v1/parts",
        Some(&app.admin_key),
        &[("Idempotency-Key", "scr-1")],
        &json!({"sku": " scr-mate60pro ", "name": "Mate 60 Pro Display Assembly", "category": "screen",
                "compatible_model_ids": [c.mate60pro], "price": money("1949"), "labour_price": money("150.5")})
        .to_string(),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    let screen = res.body.clone();
    assert_eq!(screen["sku"], "SCR-MATE60PRO", "SKUs are trimmed and upper-cased");
    assert_eq!(screen["price"], money("1949.00"));
    assert_eq!(screen["labour_price"], money("150.50"));
    assert_eq!(screen["warranty_months"], 3, "default warranty of a screen");
    assert_eq!(screen["compatible_model_ids"], json!([c.mate60pro]));
    assert_eq!(screen["compatible_series_ids"], json!([]));
    assert_eq!(screen["active"], true);
    let replay = app.send(
        "POST",
        "/api/v1/parts",
        Some(&app.admin_key),
        &[("Idempotency-Key", "scr-1")],
        &json!({"sku": " scr-mate60pro ", "name": "Mate 60 Pro Display Assembly", "category": "screen",
                "compatible_model_ids": [c.mate60pro], "price": money("1949"), "labour_price": money("150.5")})
        .to_string(),
    );
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        replay.body["id"], screen["id"],
        "a retried creation creates nothing new"
    );

    let charger = create_part(
        &app,
        json!({"sku": "CHG-66W", "name": "SuperCharge 66W charger", "category": "charger",
               "compatible_series_ids": [c.mate], "price": money("149.00")}),
    );
    assert_eq!(charger["warranty_months"], 12, "chargers carry 12 months");
    assert_eq!(charger["labour_price"], Value::Null);
    assert_eq!(charger["compatible_series_ids"], json!([c.mate]));
    let battery = create_part(
        &app,
        json!({"sku": "bat-p70", "name": "P70 battery", "category": "battery",
               "compatible_model_ids": [c.p70, c.p70], "price": money("249.00"), "warranty_months": 9}),
    );
    assert_eq!(battery["warranty_months"], 9, "a given warranty wins over the default");
    assert_eq!(
        battery["compatible_model_ids"],
        json!([c.p70]),
        "a model listed twice fits once"
    );

    let got = app.get_admin(&format!("/api/v1/parts/{}", screen["id"].as_str().unwrap_or_default()));
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body, screen, "read returns what create returned");

    let all = app.get_admin("/api/v1/parts");
    assert_eq!(skus(&all), ["SCR-MATE60PRO", "CHG-66W", "BAT-P70"], "creation order");
    let first = app.get_admin("/api/v1/parts?limit=2");
    assert_eq!(skus(&first), ["SCR-MATE60PRO", "CHG-66W"]);
    let cursor = first.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let second = app.get_admin(&format!("/api/v1/parts?limit=2&cursor={cursor}"));
    assert_eq!(skus(&second), ["BAT-P70"]);
    assert_eq!(second.body["next_cursor"], Value::Null);

    let fits = |model: &str| skus(&app.get_admin(&format!("/api/v1/parts?model_id={model}")));
    assert_eq!(
        fits(&c.mate60pro),
        ["SCR-MATE60PRO", "CHG-66W"],
        "directly and through the series"
    );
    assert_eq!(fits(&c.mate60), ["CHG-66W"], "only through the series");
    assert_eq!(fits(&c.p70), ["BAT-P70"]);
    assert!(
        fits("0190a5b4-0000-7000-8000-000000000000").is_empty(),
        "nothing fits an unknown model"
    );

    let search = |q: &str| skus(&app.get_admin(&format!("/api/v1/parts?q={q}")));
    assert_eq!(search("DISPLAY"), ["SCR-MATE60PRO"], "name, any case");
    assert_eq!(search("supercharge"), ["CHG-66W"]);
    assert_eq!(search("bat-"), ["BAT-P70"], "SKU, any case");
    assert_eq!(search("6"), ["SCR-MATE60PRO", "CHG-66W"]);
    assert!(search("%25").is_empty(), "a % in the text is not a wildcard");
    assert!(search("_").is_empty(), "nor is an underscore");
    assert_eq!(skus(&app.get_admin("/api/v1/parts?sku=chg-66w")), ["CHG-66W"]);
    assert!(
        skus(&app.get_admin("/api/v1/parts?sku=CHG")).is_empty(),
        "sku is an exact match"
    );
    assert_eq!(skus(&app.get_admin("/api/v1/parts?category=battery")), ["BAT-P70"]);
    assert_eq!(
        skus(&app.get_admin(&format!("/api/v1/parts?category=charger&model_id={}", c.mate60))),
        ["CHG-66W"]
    );
    let bad = app.get_admin("/api/v1/parts?category=phone");
    bad.problem(400, "validation_failed");
    assert_eq!(bad.bad_fields(), ["category"]);

    let id = battery["id"].as_str().unwrap_or_default().to_owned();
    let updated = app.patch_admin(
        &format!("/api/v1/parts/{id}"),
        &json!({"name": "P70 battery 5000 mAh", "compatible_series_ids": [c.p], "labour_price": money("30")}),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["name"], "P70 battery 5000 mAh");
    assert_eq!(updated.body["labour_price"], money("30.00"));
    assert_eq!(
        updated.body["compatible_model_ids"],
        json!([c.p70]),
        "models stay when not given"
    );
    assert_eq!(updated.body["compatible_series_ids"], json!([c.p]));
    assert_eq!(updated.body["sku"], "BAT-P70");
    let cleared = app.patch_admin(&format!("/api/v1/parts/{id}"), &json!({"labour_price": null}));
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(
        cleared.body["labour_price"],
        Value::Null,
        "null removes the labour price"
    );
    assert_eq!(cleared.body["name"], "P70 battery 5000 mAh");

    let orphan = app.patch_admin(
        &format!("/api/v1/parts/{}", screen["id"].as_str().unwrap_or_default()),
        &json!({"compatible_model_ids": []}),
    );
    orphan.problem(400, "validation_failed");
    assert_eq!(orphan.bad_fields(), ["compatible_model_ids"]);
    assert_eq!(
        app.get_admin(&format!("/api/v1/parts/{}", screen["id"].as_str().unwrap_or_default()))
            .body["compatible_model_ids"],
        json!([c.mate60pro]),
        "a refused change changes nothing"
    );
    let nothing = app.patch_admin(&format!("/api/v1/parts/{id}"), &json!({}));
    nothing.problem(400, "validation_failed");
    assert_eq!(nothing.bad_fields(), ["body"]);

    let off = post_empty(&app, &format!("/api/v1/parts/{id}/deactivate"));
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["active"], false);
    assert_eq!(
        skus(&app.get_admin("/api/v1/parts?active=true")),
        ["SCR-MATE60PRO", "CHG-66W"]
    );
    assert_eq!(skus(&app.get_admin("/api/v1/parts?active=false")), ["BAT-P70"]);
    let on = post_empty(&app, &format!("/api/v1/parts/{id}/activate"));
    assert_eq!(on.body["active"], true);

    let audit = app.get_admin(&format!("/api/v1/audit-log?entity_type=part&entity_id={id}"));
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(actions, ["create", "update", "update", "deactivate", "activate"]);
}

#[test]
fn duplicate_skus_and_bad_input_are_refused_naming_the_field() {
    let app = spawn_app();
    let c = catalog(&app);
    create_part(
        &app,
        json!({"sku": "SCR-1", "name": "Screen", "category": "screen", "compatible_model_ids": [c.mate60pro],
               "price": money("10.00")}),
    );
    let dup = app.post_admin(
        "/api/v1/parts",
        &json!({"sku": "scr-1", "name": "Other screen", "category": "screen", "compatible_model_ids": [c.mate60],
                "price": money("10.00")}),
    );
    dup.problem(409, "duplicate_sku");

    let bad = |patch: Value| {
        let mut body = json!({"sku": "NEW-1", "name": "New", "category": "camera",
                              "compatible_model_ids": [c.mate60pro], "price": money("10.00")});
        if let (Some(body), Some(patch)) = (body.as_object_mut(), patch.as_object()) {
            for (k, v) in patch {
                if v.is_null() {
                    body.remove(k);
                } else {
                    body.insert(k.clone(), v.clone());
                }
            }
        }
        let res = app.post_admin("/api/v1/parts", &body);
        res.problem(400, "validation_failed");
        res.bad_fields()
    };
    for (amount, why) in [
        (json!("1.001"), "3 decimals"),
        (json!("-5.00"), "negative"),
        (json!(5.5), "a number"),
    ] {
        assert_eq!(
            bad(json!({"price": {"amount": amount, "currency": "CNY"}})),
            ["price.amount"],
            "{why}"
        );
        assert_eq!(
            bad(json!({"labour_price": {"amount": amount, "currency": "CNY"}})),
            ["labour_price.amount"],
            "labour {why}"
        );
    }
    assert_eq!(
        bad(json!({"price": {"amount": "1.00", "currency": "USD"}})),
        ["price.currency"]
    );
    let unknown = "0190a5b4-0000-7000-8000-000000000000";
    assert_eq!(
        bad(json!({"compatible_model_ids": [unknown]})),
        ["compatible_model_ids[0]"]
    );
    assert_eq!(
        bad(json!({"compatible_model_ids": [c.mate60, unknown], "compatible_series_ids": [c.mate, unknown]})),
        ["compatible_model_ids[1]", "compatible_series_ids[1]"]
    );
    assert_eq!(
        bad(json!({"compatible_model_ids": [c.mate]})),
        ["compatible_model_ids[0]"],
        "a series is not a model"
    );
    assert_eq!(
        bad(json!({"compatible_model_ids": []})),
        ["compatible_model_ids"],
        "fits nothing"
    );
    assert_eq!(
        bad(json!({"compatible_model_ids": null})),
        ["compatible_model_ids"],
        "fits nothing"
    );
    assert_eq!(bad(json!({"warranty_months": 61})), ["warranty_months"]);
    assert_eq!(bad(json!({"warranty_months": -1})), ["warranty_months"]);
    assert_eq!(bad(json!({"sku": "SCR 2"})), ["sku"]);
    assert_eq!(bad(json!({"sku": "X".repeat(65)})), ["sku"]);
    assert_eq!(bad(json!({"category": "phone"})), ["category"]);
    assert_eq!(bad(json!({"name": ""})), ["name"]);
    assert_eq!(bad(json!({"colour": "red"})), ["colour"], "unknown fields are refused");
    let still_one = app.get_admin("/api/v1/parts");
    assert_eq!(skus(&still_one), ["SCR-1"], "nothing refused was created");

    let staff_store = app.create_store("SZ-1", "Shenzhen");
    let staff = app.create_key("store_staff", &[&staff_store]);
    let res = app.post(
        "/api/v1/parts",
        &staff,
        &json!({"sku": "NEW-2", "name": "New", "category": "camera", "compatible_model_ids": [c.mate60pro],
                "price": money("10.00")}),
    );
    res.problem(403, "forbidden");
    app.get("/api/v1/parts", None).problem(401, "unauthorized");
    assert_eq!(
        app.get("/api/v1/parts", Some(&staff)).status,
        200,
        "any key reads the catalog"
    );
    app.get_admin("/api/v1/parts/0190a5b4-0000-7000-8000-000000000000")
        .problem(404, "not_found");
    let res = app.get_admin("/api/v1/parts/not-a-uuid");
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["part_id"]);
}

#[test]
fn price_history_keeps_every_change_with_who_made_it_and_future_prices_wait_for_their_time() {
    let app = spawn_app();
    let c = catalog(&app);
    let part = create_part(
        &app,
        json!({"sku": "SCR-1", "name": "Screen", "category": "screen", "compatible_model_ids": [c.mate60pro],
               "price": money("100.00")}),
    );
    let id = part["id"].as_str().unwrap_or_default().to_owned();
    let created_at = part["created_at"].as_str().unwrap_or_default().to_owned();
    let second_admin = app.post_admin("/api/v1/api-keys", &json!({"role": "admin", "label": "pricing desk"}));
    assert_eq!(second_admin.status, 201, "{}", second_admin.text);
    let pricing_key = second_admin.body["key"].as_str().unwrap_or_default().to_owned();
    let pricing_key_id = second_admin.body["api_key"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let prices = format!("/api/v1/parts/{id}/prices");
    let now_change = app.post(&prices, &pricing_key, &json!({"price": money("120")}));
    assert_eq!(now_change.status, 201, "{}", now_change.text);
    assert_eq!(now_change.body["price"], money("120.00"));
    assert_eq!(now_change.body["api_key_id"], pricing_key_id.as_str());
    assert_eq!(now_change.body["part_id"], id.as_str());
    let future = micros_from_now(Duration::days(1));
    let future_change = app.post_admin(
        &prices,
        &json!({"price": money("150.00"), "effective_at": rfc3339(future)}),
    );
    assert_eq!(future_change.status, 201, "{}", future_change.text);
    assert_eq!(instant(&future_change.body["effective_at"]), Some(future));

    let history = app.get_admin(&prices);
    assert_eq!(history.status, 200, "{}", history.text);
    let items = history.body["items"].as_array().cloned().unwrap_or_default();
    let amounts: Vec<&str> = items.iter().filter_map(|i| i["price"]["amount"].as_str()).collect();
    assert_eq!(
        amounts,
        ["150.00", "120.00", "100.00"],
        "every change, the most recent first"
    );
    assert_eq!(items[1]["api_key_id"], pricing_key_id.as_str(), "who made each change");
    assert!(items[0]["api_key_id"].is_string());
    assert_ne!(items[0]["api_key_id"], items[1]["api_key_id"]);
    assert_eq!(
        items[2]["effective_at"].as_str(),
        Some(created_at.as_str()),
        "the opening price"
    );
    let page = app.get_admin(&format!("{prices}?limit=2"));
    let cursor = page.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let rest = app.get_admin(&format!("{prices}?limit=2&cursor={cursor}"));
    assert_eq!(rest.body["items"][0]["price"]["amount"], "100.00");

    let price_at = |query: &str| app.get_admin(&format!("/api/v1/parts/{id}/price{query}"));
    let current = price_at("");
    assert_eq!(current.status, 200, "{}", current.text);
    assert_eq!(
        current.body["price"],
        money("120.00"),
        "the future price is not in force yet"
    );
    assert_eq!(current.body["price_change_id"], now_change.body["id"]);
    assert_eq!(
        app.get_admin(&format!("/api/v1/parts/{id}")).body["price"],
        money("120.00")
    );
    let just_before = price_at(&format!("?at={}", rfc3339(future - Duration::microseconds(1))));
    assert_eq!(just_before.body["price"], money("120.00"));
    let at_effect = price_at(&format!("?at={}", rfc3339(future)));
    assert_eq!(
        at_effect.body["price"],
        money("150.00"),
        "in force from its effective time"
    );
    let later = price_at(&format!("?at={}", rfc3339(future + Duration::days(30))));
    assert_eq!(later.body["price"], money("150.00"));
    assert_eq!(instant(&later.body["effective_at"]), Some(future));
    price_at(&format!("?at={}", rfc3339(Utc::now() - Duration::days(3)))).problem(404, "not_found");
    let res = price_at("?at=yesterday");
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["at"]);

    // A second change for the same instant supersedes the first.
    let same_time = app.post_admin(
        &prices,
        &json!({"price": money("140.00"), "effective_at": rfc3339(future)}),
    );
    assert_eq!(same_time.status, 201, "{}", same_time.text);
    assert_eq!(
        price_at(&format!("?at={}", rfc3339(future))).body["price"],
        money("140.00")
    );

    let old = app.post_admin(
        &prices,
        &json!({"price": money("90.00"), "effective_at": rfc3339(Utc::now() - Duration::days(2))}),
    );
    old.problem(400, "validation_failed");
    assert_eq!(old.bad_fields(), ["effective_at"]);
    let late_entry = app.post_admin(
        &prices,
        &json!({"price": money("110.00"), "effective_at": rfc3339(Utc::now() - Duration::hours(1))}),
    );
    assert_eq!(
        late_entry.status, 201,
        "an hour back is a late entry, allowed: {}",
        late_entry.text
    );
    for (amount, why) in [
        (json!("1.001"), "3 decimals"),
        (json!("-1"), "negative"),
        (json!(1.5), "a number"),
    ] {
        let res = app.post_admin(&prices, &json!({"price": {"amount": amount, "currency": "CNY"}}));
        res.problem(400, "validation_failed");
        assert_eq!(res.bad_fields(), ["price.amount"], "{why}");
    }

    let store = app.create_store("SZ-1", "Shenzhen");
    let warehouse = app.post_admin(
        "/api/v1/stores",
        &json!({"code": "WH-1", "name": "Dongguan warehouse", "city": "Dongguan", "kind": "warehouse"}),
    );
    let staff = app.create_key("store_staff", &[&store]);
    let stock_keeper = app.create_key("warehouse", &[&warehouse.id()]);
    for key in [&staff, &stock_keeper] {
        app.post(&prices, key, &json!({"price": money("1.00")}))
            .problem(403, "forbidden");
        assert_eq!(app.get(&prices, Some(key)).status, 200, "any key reads the history");
        assert_eq!(app.get(&format!("/api/v1/parts/{id}/price"), Some(key)).status, 200);
    }

    let retry = |body: &Value| {
        app.send(
            "POST",
            &prices,
            Some(&app.admin_key),
            &[("Idempotency-Key", "price-retry")],
            &body.to_string(),
        )
    };
    let first = retry(&json!({"price": money("99.00")}));
    let again = retry(&json!({"price": money("99.00")}));
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(again.body["id"], first.body["id"], "a retried change is made once");
    retry(&json!({"price": money("98.00")})).problem(409, "idempotency_key_reused");
    let count = app.get_admin(&prices).body["items"].as_array().map(Vec::len);
    assert_eq!(count, Some(6), "refused and retried changes leave no rows");

    app.post_admin(
        "/api/v1/parts/0190a5b4-0000-7000-8000-000000000000/prices",
        &json!({"price": money("1.00")}),
    )
    .problem(404, "not_found");
    app.get_admin("/api/v1/parts/0190a5b4-0000-7000-8000-000000000000/price")
        .problem(404, "not_found");
    let audit = app.get_admin(&format!("/api/v1/audit-log?entity_type=part&entity_id={id}"));
    let changes = audit.body["items"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["action"] == "change_price").count());
    assert_eq!(changes, Some(5));
}

#[test]
fn the_public_price_list_shows_current_prices_by_model_without_a_key() {
    let app = spawn_app();
    let c = catalog(&app);
    let screen = create_part(
        &app,
        json!({"sku": "SCR-MATE60PRO", "name": "Mate 60 Pro display", "category": "screen",
               "compatible_model_ids": [c.mate60pro], "price": money("1949.00"), "labour_price": money("150")}),
    );
    create_part(
        &app,
        json!({"sku": "BAT-MATE", "name": "Mate battery", "category": "battery",
               "compatible_series_ids": [c.mate], "price": money("299.00")}),
    );
    create_part(
        &app,
        json!({"sku": "BCV-MATE60PRO-B", "name": "Back cover, black", "category": "back_cover",
               "compatible_model_ids": [c.mate60pro], "price": money("399.00")}),
    );
    create_part(
        &app,
        json!({"sku": "BCV-MATE60PRO-A", "name": "Back cover, white", "category": "back_cover",
               "compatible_model_ids": [c.mate60pro], "price": money("399.00")}),
    );
    create_part(
        &app,
        json!({"sku": "BAT-P70", "name": "P70 battery", "category": "battery",
               "compatible_model_ids": [c.p70], "price": money("249.00")}),
    );

    let list = app.get(&format!("/api/v1/public/price-list?model_id={}", c.mate60pro), None);
    assert_eq!(list.status, 200, "no key needed: {}", list.text);
    assert_eq!(
        list.body["model"],
        json!({"id": c.mate60pro, "code": "MATE60PRO", "name": "MATE60PRO handset"})
    );
    assert_eq!(
        skus(&list),
        ["SCR-MATE60PRO", "BAT-MATE", "BCV-MATE60PRO-A", "BCV-MATE60PRO-B"],
        "by category, then SKU; the P70 battery does not fit"
    );
    assert_eq!(
        list.body["items"][0],
        json!({"sku": "SCR-MATE60PRO", "name": "Mate 60 Pro display", "category": "screen",
               "price": money("1949.00"), "labour_price": money("150.00"), "warranty_months": 3})
    );
    assert_eq!(list.body["items"][1]["warranty_months"], 6);
    assert_eq!(list.body["items"][1]["labour_price"], Value::Null);
    let by_code = app.get("/api/v1/public/price-list?model_code=mate60pro", None);
    assert_eq!(by_code.status, 200, "{}", by_code.text);
    assert_eq!(by_code.body, list.body, "a model by its code, any case");
    let mate60 = app.get(&format!("/api/v1/public/price-list?model_id={}", c.mate60), None);
    assert_eq!(skus(&mate60), ["BAT-MATE"], "through the series");

    let res = app.get(
        &format!(
            "/api/v1/public/price-list?model_id={}&model_code=MATE60PRO",
            c.mate60pro
        ),
        None,
    );
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["model_code"]);
    let res = app.get("/api/v1/public/price-list", None);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["model_id"]);
    app.get("/api/v1/public/price-list?model_code=NOKIA3310", None)
        .problem(404, "not_found");
    app.get(
        "/api/v1/public/price-list?model_id=0190a5b4-0000-7000-8000-000000000000",
        None,
    )
    .problem(404, "not_found");

    // A change effective two seconds from now (room for a busy machine): the list keeps the old price until then.
    let screen_id = screen["id"].as_str().unwrap_or_default().to_owned();
    let soon = micros_from_now(Duration::seconds(2));
    let change = app.post_admin(
        &format!("/api/v1/parts/{screen_id}/prices"),
        &json!({"price": money("1799.00"), "effective_at": rfc3339(soon)}),
    );
    assert_eq!(change.status, 201, "{}", change.text);
    let before = app.get("/api/v1/public/price-list?model_code=MATE60PRO", None);
    assert_eq!(before.body["items"][0]["price"], money("1949.00"), "not yet in force");
    let wait = (soon - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_millis(200);
    std::thread::sleep(wait);
    let after = app.get("/api/v1/public/price-list?model_code=MATE60PRO", None);
    assert_eq!(after.body["items"][0]["sku"], "SCR-MATE60PRO");
    assert_eq!(after.body["items"][0]["price"], money("1799.00"), "in force now");

    let off = post_empty(&app, &format!("/api/v1/parts/{screen_id}/deactivate"));
    assert_eq!(off.status, 200, "{}", off.text);
    let without = app.get("/api/v1/public/price-list?model_code=MATE60PRO", None);
    assert_eq!(
        skus(&without),
        ["BAT-MATE", "BCV-MATE60PRO-A", "BCV-MATE60PRO-B"],
        "a deactivated part is not published"
    );

    let model_off = post_empty(&app, &format!("/api/v1/models/{}/deactivate", c.mate60pro));
    assert_eq!(model_off.status, 200, "{}", model_off.text);
    app.get("/api/v1/public/price-list?model_code=MATE60PRO", None)
        .problem(404, "not_found");
    let p70 = app.get(&format!("/api/v1/public/price-list?model_id={}", c.p70), None);
    assert_eq!(skus(&p70), ["BAT-P70"]);
}
