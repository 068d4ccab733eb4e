use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn requests_without_a_valid_key_are_401_problems() {
    let app = spawn_app();
    let res = app.get("/api/v1/stores", None);
    res.problem(401, "unauthorized");
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    app.get("/api/v1/stores", Some("dpk_nothing_here"))
        .problem(401, "unauthorized");
    app.get("/api/v1/stores", Some("not even the format"))
        .problem(401, "unauthorized");
}

#[test]
fn roles_are_enforced_and_scoped_keys_read_the_catalog() {
    let app = spawn_app();
    let store = app.create_store("SZ-1", "Shenzhen");
    let staff = app.create_key("store_staff", &[&store]);
    assert!(staff.starts_with("dpk_"));

    assert_eq!(
        app.get("/api/v1/stores", Some(&staff)).status,
        200,
        "staff read the catalog"
    );
    let res = app.post(
        "/api/v1/stores",
        &staff,
        &json!({"code": "SZ-2", "name": "n", "city": "c", "kind": "service_center"}),
    );
    res.problem(403, "forbidden");
    app.get("/api/v1/api-keys", Some(&staff)).problem(403, "forbidden");
    app.get("/api/v1/audit-log", Some(&staff)).problem(403, "forbidden");
}

#[test]
fn keys_are_shown_once_stored_hashed_and_revoked_at_once() {
    let app = spawn_app();
    let store = app.create_store("SZ-1", "Shenzhen");
    let res = app.post_admin(
        "/api/v1/api-keys",
        &json!({"role": "warehouse", "label": "dock 3", "store_ids": [store]}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    let secret = res.body["key"].as_str().unwrap_or_default().to_owned();
    let id = res.body["api_key"]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(res.body["api_key"]["store_ids"], json!([store]));
    assert!(secret.contains(res.body["api_key"]["prefix"].as_str().unwrap_or("?")));

    let listed = app.get_admin("/api/v1/api-keys");
    assert_eq!(listed.status, 200);
    assert!(!listed.text.contains(&secret), "the secret is never listed");
    assert!(listed.body["items"].as_array().map(|a| a.len() == 2).unwrap_or(false));

    assert_eq!(app.get("/api/v1/stores", Some(&secret)).status, 200);
    let used = app.get_admin(&format!("/api/v1/api-keys/{id}"));
    assert!(
        used.body["last_used_at"].is_string(),
        "last use is recorded: {}",
        used.text
    );

    let revoked = app.send(
        "POST",
        &format!("/api/v1/api-keys/{id}/revoke"),
        Some(&app.admin_key),
        &[],
        "",
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert!(revoked.body["revoked_at"].is_string());
    app.get("/api/v1/stores", Some(&secret)).problem(401, "unauthorized");

    // What is stored is a hash: the secret appears nowhere in the database.
    let stored: Vec<String> = app
        .db
        .read(|conn| {
            use depot::db::schema::api_keys;
            use diesel::prelude::*;
            Ok(depot::with_conn!(conn, c => api_keys::table.select(api_keys::key_hash).load(c))?)
        })
        .unwrap_or_default();
    assert!(!stored.is_empty());
    assert!(stored.iter().all(|h| h.len() == 64 && !h.contains(&secret)));
}

#[test]
fn key_requests_must_match_their_role() {
    let app = spawn_app();
    let store = app.create_store("SZ-1", "Shenzhen");
    let res = app.post_admin("/api/v1/api-keys", &json!({"role": "store_staff", "label": "desk"}));
    res.problem(400, "validation_failed");
    assert_eq!(res.bad_fields(), ["store_ids"]);
    let res = app.post_admin(
        "/api/v1/api-keys",
        &json!({"role": "admin", "label": "x", "store_ids": [store]}),
    );
    assert_eq!(res.bad_fields(), ["store_ids"]);
    let res = app.post_admin("/api/v1/api-keys", &json!({"role": "courier", "label": "x"}));
    assert_eq!(res.bad_fields(), ["partner_id"]);
    let res = app.post_admin(
        "/api/v1/api-keys",
        &json!({"role": "store_staff", "label": "x", "store_ids": ["0190a5b4-0000-7000-8000-000000000000"]}),
    );
    assert_eq!(res.bad_fields(), ["store_ids[0]"]);
    let res = app.post_admin("/api/v1/api-keys", &json!({"role": "superuser", "label": "x"}));
    assert_eq!(res.bad_fields(), ["role"]);
    let keys = app.get_admin("/api/v1/api-keys");
    assert_eq!(
        keys.body["items"].as_array().map(Vec::len),
        Some(1),
        "only the admin key exists"
    );
}
