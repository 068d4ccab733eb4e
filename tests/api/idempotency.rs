use serde_json::json;

use crate::helpers::spawn_app;

#[test]
fn same_key_same_body_replays_and_different_body_conflicts() {
    let app = spawn_app();
    let key = app.admin_key.clone();
    let body = r#"{"code": "MATE", "name": "Mate", "premium": true}"#;
    let first = app.send(
        "POST",
        "/api/v1/series",
        Some(&key),
        &[("Idempotency-Key", "k-1")],
        body,
    );
    assert_eq!(first.status, 201, "{}", first.text);
    let reordered = r#"{"premium": true,  "name": "Mate", "code": "MATE"}"#;
    let again = app.send(
        "POST",
        "/api/v1/series",
        Some(&key),
        &[("Idempotency-Key", "k-1")],
        reordered,
    );
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the first answer is replayed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    let other = r#"{"code": "MATE", "name": "Mate X", "premium": true}"#;
    let res = app.send(
        "POST",
        "/api/v1/series",
        Some(&key),
        &[("Idempotency-Key", "k-1")],
        other,
    );
    res.problem(409, "idempotency_key_reused");

    let list = app.get_admin("/api/v1/series");
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "one series created"
    );
    assert_eq!(list.body["items"][0]["name"], "Mate");

    let res = app.send("POST", "/api/v1/series", Some(&key), &[("Idempotency-Key", "")], body);
    res.problem(400, "validation_failed");
}

#[test]
fn concurrent_retries_with_one_key_create_once() {
    let app = spawn_app();
    let body = json!({"code": "SZ-9", "name": "Nanshan", "city": "Shenzhen", "kind": "service_center"}).to_string();
    let results: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (app, body) = (&app, &body);
                s.spawn(move || {
                    let res = app.send(
                        "POST",
                        "/api/v1/stores",
                        Some(&app.admin_key),
                        &[("Idempotency-Key", "retry-7")],
                        body,
                    );
                    (res.status, res.id())
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    assert_eq!(results.len(), 12);
    assert!(results.iter().all(|(status, _)| *status == 201), "{results:?}");
    let first = &results[0].1;
    assert!(
        results.iter().all(|(_, id)| id == first),
        "every retry sees the same store: {results:?}"
    );
    let list = app.get_admin("/api/v1/stores");
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_replayed_key_creation_does_not_reveal_the_secret_again() {
    let app = spawn_app();
    let body = r#"{"role": "admin", "label": "second admin"}"#;
    let first = app.send(
        "POST",
        "/api/v1/api-keys",
        Some(&app.admin_key),
        &[("Idempotency-Key", "key-1")],
        body,
    );
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.body["key"].is_string());
    let again = app.send(
        "POST",
        "/api/v1/api-keys",
        Some(&app.admin_key),
        &[("Idempotency-Key", "key-1")],
        body,
    );
    assert_eq!(again.status, 201);
    assert!(again.body["key"].is_null(), "the secret is shown once: {}", again.text);
    assert_eq!(again.body["api_key"]["id"], first.body["api_key"]["id"]);
}
