use crate::helpers::spawn_app;

#[test]
fn health_metrics_docs_and_request_ids() {
    let app = spawn_app();
    let live = app.get("/health/live", None);
    assert_eq!(live.status, 200);
    assert_eq!(live.body["status"], "ok");
    let ready = app.get("/health/ready", None);
    assert_eq!(ready.status, 200, "{}", ready.text);
    let engine = match crate::helpers::test_engine() {
        depot::db::Engine::Sqlite => "sqlite",
        depot::db::Engine::Postgres => "postgres",
    };
    assert_eq!(ready.body["engine"], engine);

    app.get_admin("/api/v1/stores");
    let metrics = app.get("/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .contains("# TYPE depot_http_request_duration_seconds histogram")
    );
    assert!(
        metrics.text.contains("route=\"/api/v1/stores\""),
        "latency by route pattern"
    );

    let docs = app.get("/docs/", None);
    assert_eq!(docs.status, 200);
    assert!(docs.text.to_lowercase().contains("<html"));

    let generated = live.header("x-request-id").unwrap_or_default().to_owned();
    assert!(!generated.is_empty(), "a request id is made when none is sent");
    let mut req_id = None;
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    if let Ok(res) = agent
        .get(&app.url("/health/live"))
        .header("X-Request-Id", "trace-abc-123")
        .call()
    {
        req_id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    assert_eq!(
        req_id.as_deref(),
        Some("trace-abc-123"),
        "the caller's request id is echoed"
    );
}

#[test]
fn served_document_is_the_checked_in_one() {
    let app = spawn_app();
    let served = app.get("/openapi.json", None);
    assert_eq!(served.status, 200);
    let checked_in: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap_or(serde_json::Value::Null);
    assert_eq!(served.body, checked_in);
}

#[test]
fn openapi_document_matches_the_checked_in_file() {
    let generated = depot::openapi::document_json();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap_or_default();
    assert!(
        generated == checked_in,
        "openapi/openapi.json is out of date with the code; regenerate it with:\n\n    \
         cargo run -- openapi > openapi/openapi.json\n"
    );
}

#[test]
fn every_operation_has_a_stable_id_tag_and_documented_errors() {
    let doc: serde_json::Value = serde_json::from_str(&depot::openapi::document_json()).unwrap_or_default();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{method} {path}: {id}"
            );
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{id} has a tag");
            if path.starts_with("/api/v1") {
                let responses = op["responses"].as_object();
                // Public reads take no key, so they cannot answer 401 or 403.
                let statuses: &[&str] = if path.starts_with("/api/v1/public/") {
                    &["400", "404", "500"]
                } else {
                    &["400", "401", "403", "404", "500"]
                };
                for &status in statuses {
                    assert!(
                        responses.is_some_and(|r| r.contains_key(status)),
                        "{id} documents {status}"
                    );
                }
                assert!(op["security"].is_array(), "{id} names its security");
            }
        }
    }
    assert!(ids.contains("create_store") && ids.contains("revoke_api_key"));
}

#[test]
fn demo_data_loads_once_and_is_served() {
    let app = spawn_app();
    let first = depot::seed::seed_demo(&app.db).unwrap_or_else(|e| panic!("seeding: {e}"));
    assert!(first.created.len() > 30, "{first}");
    let second = depot::seed::seed_demo(&app.db).unwrap_or_else(|e| panic!("seeding again: {e}"));
    assert!(second.created.is_empty(), "a second run adds nothing: {second}");
    assert_eq!(second.present, first.created.len());

    let stores = app.get_admin("/api/v1/stores?kind=service_center");
    assert_eq!(stores.body["items"].as_array().map(Vec::len), Some(3));
    let premium = app.get_admin("/api/v1/series?premium=true");
    let codes: Vec<&str> = premium.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["code"].as_str())
        .collect();
    assert_eq!(codes, ["MATE", "P"]);
    let metrics = app.get("/metrics", None);
    assert!(
        metrics
            .text
            .contains("depot_loaners{series=\"MATE\",state=\"available\",store=\"SZ-FUTIAN\"} 3"),
        "loaner gauges by store and series:\n{}",
        metrics.text
    );
}
