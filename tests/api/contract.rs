//! The API's contract with its clients: inputs are accepted in exactly the forms the OpenAPI document states,
//! and refused otherwise with a problem naming the field.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

fn series_count(app: &TestApp) -> usize {
    let res = app.get_admin("/api/v1/series?limit=200");
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().map(Vec::len).unwrap_or_default()
}

#[test]
fn money_is_accepted_only_in_the_documented_form() {
    let app = spawn_app();
    let before = series_count(&app);
    for (i, amount) in [
        "10.000",
        "1e2",
        "1E2",
        "1_000.00",
        "1,000.00",
        "1.5e1",
        "+10.00",
        "10.",
        ".5",
        "-0",
        "-1.00",
        " 1.00",
        "100000000000",
        "0x10",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let res = app.post_admin(
            "/api/v1/series",
            &json!({"code": format!("BAD{i}"), "name": "Bad", "premium": true,
                    "loaner_deposit": {"amount": amount, "currency": "CNY"}}),
        );
        res.problem(400, "validation_failed");
        assert_eq!(res.bad_fields(), ["loaner_deposit.amount"], "{amount:?}: {}", res.text);
    }
    assert_eq!(series_count(&app), before, "a refused amount creates nothing");

    for (code, amount, stored) in [
        ("OK1", "10", "10.00"),
        ("OK2", "10.5", "10.50"),
        ("OK3", "0.05", "0.05"),
        ("OK4", "99999999999.99", "99999999999.99"),
    ] {
        let res = app.post_admin(
            "/api/v1/series",
            &json!({"code": code, "name": "Ok", "premium": true,
                    "loaner_deposit": {"amount": amount, "currency": "CNY"}}),
        );
        assert_eq!(res.status, 201, "{amount}: {}", res.text);
        assert_eq!(res.body["loaner_deposit"]["amount"], stored);
    }

    // A PATCH takes the same form.
    let id = app.get_admin("/api/v1/series?limit=200").body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["code"] == "OK1"))
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let res = app.patch_admin(
        &format!("/api/v1/series/{id}"),
        &json!({"loaner_deposit": {"amount": "1e3", "currency": "CNY"}}),
    );
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["loaner_deposit.amount"]);
    let res = app.get_admin(&format!("/api/v1/series/{id}"));
    assert_eq!(
        res.body["loaner_deposit"]["amount"], "10.00",
        "the refused PATCH changed nothing"
    );
}

/// The pattern the served document states for a list's `cursor` parameter.
fn documented_cursor_pattern(app: &TestApp, path: &str) -> String {
    let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap_or_default();
    let _ = app;
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "cursor"))
        .and_then(|p| p["schema"]["pattern"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_cursor_from_one_list_is_refused_by_another() {
    let app = spawn_app();
    for i in 0..3 {
        app.create_store(&format!("CUR{i}"), "Shenzhen");
        let res = app.post_admin(
            "/api/v1/series",
            &json!({"code": format!("CUR{i}"), "name": "Cursor", "premium": false}),
        );
        assert_eq!(res.status, 201, "{}", res.text);
    }
    let stores = app.get_admin("/api/v1/stores?limit=1");
    let store_cursor = stores.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let series = app.get_admin("/api/v1/series?limit=1");
    let series_cursor = series.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(
        !store_cursor.is_empty() && !series_cursor.is_empty(),
        "both lists have a next page"
    );

    // Each list follows its own cursor...
    let next = app.get_admin(&format!("/api/v1/stores?limit=1&cursor={store_cursor}"));
    assert_eq!(next.status, 200, "{}", next.text);
    assert_ne!(next.body["items"][0]["id"], stores.body["items"][0]["id"]);
    let next = app.get_admin(&format!("/api/v1/series?limit=1&cursor={series_cursor}"));
    assert_eq!(next.status, 200, "{}", next.text);

    // ...and refuses the other's, which names the same kind of id in the same position.
    for (path, cursor) in [
        ("/api/v1/series", &store_cursor),
        ("/api/v1/stores", &series_cursor),
        ("/api/v1/models", &store_cursor),
        ("/api/v1/tickets", &store_cursor),
        ("/api/v1/stock/movements", &series_cursor),
    ] {
        let res = app.get_admin(&format!("{path}?cursor={cursor}"));
        res.problem(400, "validation_failed");
        assert_eq!(res.bad_fields(), ["cursor"], "{path}");
    }

    // A stock level cursor (id and SKU) is refused by another list, and an id cursor by the stock levels.
    let res = app.get_admin(&format!("/api/v1/stock/levels?cursor={store_cursor}"));
    assert_eq!(res.bad_fields(), ["cursor"], "{}", res.text);
    let res = app.get_admin(&format!("/api/v1/stock/levels?cursor={store_cursor}.SKU-1"));
    assert_eq!(res.bad_fields(), ["cursor"], "{}", res.text);

    // The cursors handed out have the shape the document states for their list (its prefix and length).
    for (path, cursor) in [("/api/v1/stores", &store_cursor), ("/api/v1/series", &series_cursor)] {
        let pattern = documented_cursor_pattern(&app, path);
        assert_eq!(pattern.get(1..5), cursor.get(..4), "{path}: {pattern} vs {cursor}");
        assert_eq!(cursor.len(), 26);
        assert!(pattern.ends_with("[A-Za-z0-9_-]{21}[AQgw]$"), "{pattern}");
    }
}

/// The id of the first item of a list answer.
fn first_id(app: &TestApp, path: &str) -> String {
    let res = app.get_admin(path);
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"][0]["id"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_integer_written_with_a_zero_fraction_is_accepted_and_a_fraction_is_not() {
    let app = spawn_app();
    depot::seed::seed_demo(&app.db).unwrap_or_else(|e| panic!("seeding: {e}"));
    let store = first_id(&app, "/api/v1/stores?city=Shenzhen&kind=service_center");
    let part = first_id(&app, "/api/v1/parts?sku=SCR-NOVA12");
    let path = format!("/api/v1/stock/levels/{store}/{part}/reorder");
    let put = |body: Value| app.send("PUT", &path, Some(&app.admin_key), &[], &body.to_string());

    let res = put(json!({"reorder_point": 5.0, "reorder_qty": 1e1}));
    assert_eq!(res.status, 200, "5.0 is the integer 5 by JSON Schema: {}", res.text);
    assert_eq!(res.body["reorder_point"], 5);
    assert_eq!(res.body["reorder_qty"], 10);

    let res = put(json!({"reorder_point": 5.5, "reorder_qty": 10}));
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["reorder_point"]);
    let res = put(json!({"reorder_point": 5, "reorder_qty": 1000001.0}));
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["reorder_qty"], "the range still holds");
}
