use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn store_lifecycle_is_audited() {
    let app = spawn_app();
    let res = app.post_admin(
        "/api/v1/stores",
        &json!({"code": "sz-futian", "name": " Futian ", "city": "Shenzhen", "kind": "service_center"}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["code"], "SZ-FUTIAN", "codes are upper-cased");
    assert_eq!(res.body["name"], "Futian", "text is trimmed");
    assert_eq!(res.body["time_zone"], "Asia/Shanghai", "default time zone");
    assert_eq!(res.body["active"], true);
    let id = res.id();

    let got = app.get_admin(&format!("/api/v1/stores/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.body, res.body, "read returns what create returned");

    let updated = app.patch_admin(
        &format!("/api/v1/stores/{id}"),
        &json!({"name": "Futian Flagship", "time_zone": "Asia/Urumqi"}),
    );
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["name"], "Futian Flagship");
    assert_eq!(updated.body["time_zone"], "Asia/Urumqi");
    assert_eq!(updated.body["city"], "Shenzhen", "untouched fields stay");

    let off = app.send(
        "POST",
        &format!("/api/v1/stores/{id}/deactivate"),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["active"], false);
    let active = app.get_admin("/api/v1/stores?active=true");
    assert_eq!(active.body["items"].as_array().map(Vec::len), Some(0));
    let on = app.send(
        "POST",
        &format!("/api/v1/stores/{id}/activate"),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(on.body["active"], true);

    let audit = app.get_admin(&format!("/api/v1/audit-log?entity_type=store&entity_id={id}"));
    assert_eq!(audit.status, 200, "{}", audit.text);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(actions, ["create", "update", "deactivate", "activate"]);
    assert!(
        audit.body["items"][0]["api_key_id"].is_string(),
        "who acted is recorded"
    );
}

#[test]
fn lists_page_through_every_item_once_in_a_stable_order() {
    let app = spawn_app();
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.create_store(&format!("S{i}"), if i % 2 == 0 { "Shenzhen" } else { "Shanghai" }));
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/stores?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let res = app.get_admin(&path);
        assert_eq!(res.status, 200, "{}", res.text);
        pages += 1;
        for item in res.body["items"].as_array().into_iter().flatten() {
            seen.push(item["id"].as_str().unwrap_or_default().to_owned());
        }
        match res.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/stores?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "creation order, each once");

    let shenzhen = app.get_admin("/api/v1/stores?city=Shenzhen&kind=service_center");
    assert_eq!(shenzhen.body["items"].as_array().map(Vec::len), Some(4));

    app.get_admin("/api/v1/stores?cursor=bm90LWEtY3Vyc29y")
        .problem(400, "validation_failed");
    let res = app.get_admin("/api/v1/stores?limit=0");
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["limit"]);
    let res = app.get_admin("/api/v1/stores?limit=lots");
    assert_eq!(res.bad_fields(), ["limit"]);
    let res = app.get_admin("/api/v1/stores?colour=red");
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["colour"], "unknown query parameters are refused");
    let res = app.get_admin("/api/v1/stores?kind=shop");
    assert_eq!(res.bad_fields(), ["kind"]);
}

#[test]
fn series_carry_an_exact_deposit_and_models_need_an_active_series() {
    let app = spawn_app();
    let res = app.post_admin(
        "/api/v1/series",
        &json!({"code": "MATE", "name": "Mate", "premium": true, "loaner_deposit": {"amount": "999.9", "currency": "CNY"}}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(
        res.body["loaner_deposit"],
        json!({"amount": "999.90", "currency": "CNY"})
    );
    let mate = res.id();

    for (amount, why) in [
        (json!("1.001"), "decimals"),
        (json!("-5.00"), "negative"),
        (json!(5.5), "a number"),
    ] {
        let res = app.post_admin(
            "/api/v1/series",
            &json!({"code": "BAD", "name": "Bad", "premium": false, "loaner_deposit": {"amount": amount, "currency": "CNY"}}),
        );
        res.problem(400, "validation_failed");
        assert_eq!(res.bad_fields(), ["loaner_deposit.amount"], "{why}: {}", res.text);
    }

    let model = app.post_admin(
        "/api/v1/models",
        &json!({"code": "MATE60PRO", "name": "Mate 60 Pro", "series_id": mate}),
    );
    assert_eq!(model.status, 201, "{}", model.text);
    assert_eq!(model.body["series_id"], mate.as_str());
    let filtered = app.get_admin(&format!("/api/v1/models?series_id={mate}"));
    assert_eq!(filtered.body["items"].as_array().map(Vec::len), Some(1));

    let unknown = app.post_admin(
        "/api/v1/models",
        &json!({"code": "X1", "name": "X", "series_id": "0190a5b4-0000-7000-8000-000000000000"}),
    );
    unknown.problem(400, "validation_failed");
    assert_eq!(unknown.bad_fields(), ["series_id"]);

    app.send(
        "POST",
        &format!("/api/v1/series/{mate}/deactivate"),
        Some(&app.admin_key),
        &[],
        "",
    );
    let inactive = app.post_admin(
        "/api/v1/models",
        &json!({"code": "MATE70", "name": "Mate 70", "series_id": mate}),
    );
    inactive.problem(400, "validation_failed");

    let renamed = app.patch_admin(&format!("/api/v1/series/{mate}"), &json!({"premium": false}));
    assert_eq!(renamed.body["premium"], false);
    let empty = app.patch_admin(&format!("/api/v1/series/{mate}"), &json!({}));
    empty.problem(400, "validation_failed");
}

#[test]
fn duplicate_codes_conflict_and_change_nothing() {
    let app = spawn_app();
    app.create_store("SZ-1", "Shenzhen");
    let res = app.post_admin(
        "/api/v1/stores",
        &json!({"code": "sz-1", "name": "Again", "city": "Shenzhen", "kind": "warehouse"}),
    );
    res.problem(409, "duplicate_code");
    let list = app.get_admin("/api/v1/stores");
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.body["items"][0]["name"], "SZ-1 service center");
}

#[test]
fn concurrent_creates_of_one_code_make_one_store_and_no_server_error() {
    let app = spawn_app();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let app = &app;
                s.spawn(move || {
                    app.post_admin(
                        "/api/v1/stores",
                        &json!({"code": "RACE", "name": format!("racer {i}"), "city": "Shenzhen", "kind": "service_center"}),
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    let list = app.get_admin("/api/v1/stores");
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
}

#[test]
fn bad_input_is_a_problem_naming_the_field_and_changes_nothing() {
    let app = spawn_app();
    let key = app.admin_key.clone();
    let post = |body: &str, headers: &[(&str, &str)]| app.send("POST", "/api/v1/stores", Some(&key), headers, body);

    post("{\"code\": ", &[]).problem(400, "malformed_json");
    let res = post(r#"{"code": 5, "name": "n", "city": "c", "kind": "warehouse"}"#, &[]);
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["code"]);
    let res = post(
        r#"{"code": "A", "name": "n", "city": "c", "kind": "warehouse", "manager": "x"}"#,
        &[],
    );
    assert_eq!(res.bad_fields(), ["manager"], "unknown fields are refused");
    let res = post(r#"{"name": "n", "city": "c", "kind": "warehouse"}"#, &[]);
    assert_eq!(res.bad_fields(), ["code"], "missing fields are named");
    let long = "x".repeat(201);
    let res = post(
        &format!(r#"{{"code": "A", "name": "{long}", "city": "c", "kind": "warehouse"}}"#),
        &[],
    );
    assert_eq!(res.bad_fields(), ["name"]);
    let res = post(
        r#"{"code": "A B", "name": "n", "city": "", "kind": "warehouse", "time_zone": "Mars/Base"}"#,
        &[],
    );
    assert_eq!(
        res.bad_fields(),
        ["code", "city", "time_zone"],
        "every bad field at once"
    );
    post(
        r#"{"code": "A", "name": "n", "city": "c", "kind": "warehouse"}"#,
        &[("Content-Type", "text/plain")],
    )
    .problem(415, "unsupported_media_type");
    let huge = format!(
        r#"{{"code": "A", "name": "{}", "city": "c", "kind": "warehouse"}}"#,
        "x".repeat(70_000)
    );
    post(&huge, &[]).problem(413, "payload_too_large");

    let res = app.get_admin("/api/v1/stores/not-a-uuid");
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["store_id"]);
    app.get_admin("/api/v1/stores/0190a5b4-0000-7000-8000-000000000000")
        .problem(404, "not_found");
    app.get_admin("/api/v1/nowhere").problem(404, "not_found");

    let list = app.get_admin("/api/v1/stores");
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
    let audit = app.get_admin("/api/v1/audit-log?entity_type=store");
    assert_eq!(
        audit.body["items"].as_array().map(Vec::len),
        Some(0),
        "nothing was audited"
    );
}

#[test]
fn two_instances_on_one_database_agree() {
    let app = spawn_app();
    let other = crate::helpers::spawn_another(&app);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let target = if i % 2 == 0 { &app } else { &other };
                s.spawn(move || {
                    target
                        .post_admin(
                            "/api/v1/series",
                            &json!({"code": "SHARED", "name": format!("writer {i}"), "premium": true}),
                        )
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    let a = app.get_admin("/api/v1/series");
    let b = other.get_admin("/api/v1/series");
    assert_eq!(a.body, b.body, "both instances see the same catalog");
    assert!(other.database_url == app.database_url);
}
