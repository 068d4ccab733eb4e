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

/// Pooled connections are not pinged on every checkout; when the database drops them (a restart, a failover),
/// the requests that meet a dead connection answer 503 (never 500), and the pool replaces them.
#[test]
fn the_pool_recovers_when_the_database_drops_its_connections() {
    let app = spawn_app();
    let depot::db::Engine::Postgres = app.db.engine() else {
        println!("skipped on SQLite: an embedded database has no server to drop connections");
        return;
    };
    assert_eq!(app.get_admin("/api/v1/stores").status, 200);
    // From a connection of its own, outside the pool, so that every pooled connection is dropped.
    let mut outside = <diesel::PgConnection as diesel::Connection>::establish(&app.database_url)
        .unwrap_or_else(|e| panic!("connecting: {e}"));
    #[derive(diesel::QueryableByName)]
    struct Killed {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        killed: bool,
    }
    let killed: Vec<Killed> = diesel::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid, 5000) AS killed FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ),
        &mut outside,
    )
    .unwrap_or_else(|e| panic!("terminating the pool's connections: {e}"));
    assert!(killed.iter().all(|k| k.killed), "a connection survived");
    assert!(!killed.is_empty(), "the pool held no other connection to drop");
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let status = app.get_admin("/api/v1/stores").status;
        statuses.push(status);
        if status == 200 && statuses.len() > 1 && statuses[statuses.len() - 2] == 200 {
            break;
        }
    }
    println!("statuses while the pool heals: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 200 or 503 while the pool heals: {statuses:?}"
    );
    assert!(statuses.ends_with(&[200, 200]), "the pool did not heal: {statuses:?}");
}
