//! Every list and look-up that grows with the data uses an index, also as PostgreSQL's generic plan of a prepared
//! statement (`plan_cache_mode = force_generic_plan`), on a database with enough rows that a scan loses.
//!
//! The statements are not copied here: they are captured (diesel's instrumentation) while the real server answers
//! the real list requests, so the test checks whatever the code sends today.

use std::collections::BTreeSet;
use std::sync::Mutex;

use depot::db::Engine;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, test_engine};

/// The database whose statements are recorded (its name), and what was recorded.
static TARGET: Mutex<Option<String>> = Mutex::new(None);
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records the SQL of every statement the server runs on connections to [`TARGET`] (its
/// [`depot::db::StatementObserver`]).
fn record(url: &str, statement: &str) {
    let target = TARGET.lock().ok().and_then(|t| t.clone());
    if target.is_some_and(|t| url.contains(&format!("/{t}"))) {
        let sql = statement.split(" -- binds: ").next().unwrap_or_default().to_owned();
        if let Ok(mut all) = CAPTURED.lock() {
            all.push(sql);
        }
    }
}

/// The tables that grow with the business: a scan of any of them is what this test forbids.
const BIG_TABLES: &[&str] = &[
    "tickets",
    "ticket_events",
    "loans",
    "pickups",
    "pickup_events",
    "audit_log",
    "stock_movements",
    "ticket_parts",
];

/// 60 more stores, 6,000 customers, and 60,000 tickets across them (20,000 phones, each customer's ten, all promised
/// three days after opening, a fifth of the closed ones ready late) with their loans and events, half as many pickups with events, and as many audit entries and
/// stock movements: enough that a scan costs the planner more than any index that fits. The open pickups have the
/// newest ids, as they do in a real partner's list, so that a walk by id past the final ones is as long as it gets.
const LOAD: &str = r#"
INSERT INTO stores (id, code, name, city, kind, time_zone, created_at, updated_at)
SELECT gen_random_uuid(), 'LOAD-' || g, 'Load ' || g, 'Shenzhen', 'service_center', 'Asia/Shanghai', now(), now()
FROM generate_series(1, 60) g;
INSERT INTO customers (id, phone, name, contact_consent, created_at, updated_at)
SELECT gen_random_uuid(), '1370000' || lpad(g::text, 4, '0'), 'Load Customer', false, now(), now()
FROM generate_series(1, 6000) g;
CREATE TEMP TABLE ids AS SELECT
    (SELECT array_agg(id ORDER BY phone) FROM customers) AS customers,
    (SELECT array_agg(id ORDER BY code) FROM stores WHERE kind = 'service_center') AS stores,
    (SELECT array_agg(id ORDER BY code) FROM stores) AS locations,
    (SELECT array_agg(id ORDER BY sku) FROM parts) AS parts,
    (SELECT id FROM product_models ORDER BY code LIMIT 1) AS model,
    (SELECT series_id FROM product_models ORDER BY code LIMIT 1) AS series,
    (SELECT id FROM courier_partners ORDER BY code LIMIT 1) AS partner,
    (SELECT warranty_decision FROM tickets LIMIT 1) AS decision;
INSERT INTO tickets (id, number, store_id, customer_name, customer_phone, device_imei, model_id, purchase_date,
                     channel, reported_fault, accessories, warranty_decision, status, created_at, updated_at,
                     customer_id, promised_at, ready_at)
SELECT gen_random_uuid(), 'LOAD-' || g, stores[1 + g % array_length(stores, 1)], 'Load Test', '+8613800000000',
       (490154200000000 + g % 20000)::text, model, DATE '2026-01-01',
       CASE WHEN g % 2 = 0 THEN 'mail_in' ELSE 'walk_in' END, 'load',
       '[]', decision, CASE g % 200 WHEN 0 THEN 'received' WHEN 1 THEN 'repairing' WHEN 2 THEN 'cancelled' ELSE 'closed' END,
       now() - interval '400 days' + g * interval '1 minute', now() - interval '400 days' + g * interval '1 minute',
       customers[1 + g % array_length(customers, 1)],
       now() - interval '397 days' + g * interval '1 minute',
       CASE WHEN g % 200 > 2 THEN now() - interval '400 days' + g * interval '1 minute' + (g % 5) * interval '1 day' END
FROM ids, generate_series(1, 60000) g;
INSERT INTO loans (id, ticket_id, store_id, series_id, state, queued_at, created_at, updated_at)
SELECT gen_random_uuid(), t.id, t.store_id, ids.series, CASE t.status WHEN 'received' THEN 'waiting' ELSE 'cancelled' END,
       t.created_at, t.created_at, t.updated_at
FROM tickets t, ids WHERE t.number LIKE 'LOAD-%';
INSERT INTO pickups (id, ticket_id, direction, partner_id, address, contact_name, contact_phone, status, created_at,
                     updated_at)
SELECT (CASE t.status WHEN 'received' THEN 'f' ELSE '0' END
        || lpad(to_hex(row_number() OVER (ORDER BY t.number)), 31, '0'))::uuid, t.id, 'inbound', ids.partner, '1 Load Road', 'Load Test', '+8613800000000',
       CASE t.status WHEN 'received' THEN 'requested' ELSE 'delivered' END, t.created_at, t.updated_at
FROM tickets t, ids WHERE t.channel = 'mail_in' AND t.number LIKE 'LOAD-%';
INSERT INTO pickup_events (id, pickup_id, partner_id, partner_event_id, kind, happened_at, received_at, body_hash)
SELECT gen_random_uuid(), p.id, p.partner_id, 'load-' || p.id, 'delivered', p.updated_at, p.updated_at, 'x'
FROM pickups p;
INSERT INTO ticket_events (id, ticket_id, at, kind, to_status)
SELECT gen_random_uuid(), t.id, t.created_at, 'opened', 'received' FROM tickets t WHERE t.number LIKE 'LOAD-%';
INSERT INTO ticket_parts (id, ticket_id, part_id, location_id, quantity, state, covered, created_at, updated_at)
SELECT gen_random_uuid(), t.id, parts[1 + abs(hashtext(t.number)) % array_length(parts, 1)], t.store_id, 1,
       'consumed', true, t.created_at, t.updated_at
FROM tickets t, ids WHERE t.number LIKE 'LOAD-%';
INSERT INTO audit_log (id, at, action, entity_type, entity_id, details)
SELECT gen_random_uuid(), now() - interval '400 days' + g * interval '1 minute', 'update',
       (ARRAY['loaner', 'part', 'loan', 'key', 'price', 'stock', 'partner', 'store'])[1 + g % 8],
       gen_random_uuid(), '{}'
FROM generate_series(1, 60000) g;
INSERT INTO stock_movements (id, location_id, part_id, kind, quantity, reason, at)
SELECT gen_random_uuid(), locations[1 + g % array_length(locations, 1)], parts[1 + (g / 7) % array_length(parts, 1)],
       'adjustment', 1, 'load', now() - interval '400 days' + g * interval '1 minute'
FROM ids, generate_series(1, 60000) g;
ANALYZE;
"#;

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The generic plan of `sql` as a prepared statement (PostgreSQL 15 has no `EXPLAIN (GENERIC_PLAN)`: with
/// `force_generic_plan` the values given to EXECUTE do not shape the plan, so NULLs do).
fn generic_plan(conn: &mut PgConnection, sql: &str) -> Result<String, String> {
    let params = (1..=200).rev().find(|n| sql.contains(&format!("${n}"))).unwrap_or(0);
    let args = vec!["NULL"; params].join(", ");
    conn.batch_execute("DEALLOCATE ALL; SET plan_cache_mode = force_generic_plan")
        .map_err(|e| e.to_string())?;
    conn.batch_execute(&format!("PREPARE listed AS {sql}"))
        .map_err(|e| format!("PREPARE failed: {e}"))?;
    let execute = if params == 0 {
        "EXPLAIN EXECUTE listed".to_owned()
    } else {
        format!("EXPLAIN EXECUTE listed({args})")
    };
    let lines: Vec<PlanLine> = diesel::sql_query(execute)
        .load(conn)
        .map_err(|e| format!("EXPLAIN failed: {e}"))?;
    Ok(lines.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n"))
}

/// What is wrong with a plan, if anything: a big table read whole (a sequential scan), or walked along any of its
/// indexes while a filter throws rows away (the generic plan of `WHERE status = $1 ORDER BY id LIMIT $2` without an
/// index that leads with the status, or a partner's pickups "open first" along `(partner_id, id)`: fast when most
/// rows match, a walk through the table's history when few do). The plan is not run, so every filter on an index
/// walk counts as one that may throw rows away.
fn plan_fault(plan: &str) -> Option<String> {
    let lines: Vec<&str> = plan.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        for t in BIG_TABLES {
            let scanned = line
                .split("Seq Scan on ")
                .nth(1)
                .is_some_and(|rest| rest.split_whitespace().next() == Some(t));
            if scanned {
                return Some(format!("scans {t}"));
            }
            if line.contains("Scan using ") && line.contains(&format!(" on {t} ")) {
                let indent = line.len() - line.trim_start().len();
                let filtered = lines[i + 1..]
                    .iter()
                    .take_while(|l| {
                        let inner = l.len() - l.trim_start().len();
                        inner > indent && !l.trim_start().starts_with("->")
                    })
                    .any(|l| l.trim_start().starts_with("Filter:"));
                if filtered && walked_for_a_limit(&lines[..i], indent) {
                    let index = line
                        .split("Scan using ")
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next());
                    return Some(format!(
                        "walks {t} along {}, filtering rows out",
                        index.unwrap_or("an index")
                    ));
                }
            }
        }
    }
    None
}

/// Filtered walks accepted, each with why: the index (or the filtered column) and the reason. A walk along
/// `pickups_partner_open` filters only among the partner's open pickups, which that partial index alone holds.
/// The two ranges on a column other than the list's order (`updated_since`, `overdue`) walk the list's order and
/// filter: known, and left for a change of those queries (see the report of issue 11), not hidden: they are
/// printed.
const KNOWN_FILTERED_WALKS: &[(&str, &str)] = &[
    (
        "pickups_partner_open",
        "only the partner's open pickups are in the index",
    ),
    (
        "(updated_at >= $",
        "known: updated_since walks the list order, filtering by time",
    ),
    (
        "(due_at < $",
        "known: the overdue list walks issued loans in id order, filtering by due time",
    ),
    (
        "tickets_imei",
        "a phone's tickets are few: the caller's stores are filtered among them",
    ),
    (
        "tickets_customer",
        "a customer's tickets are few: the caller's stores are filtered among them",
    ),
    (
        "tickets_past_promise",
        "only late or open promised tickets are in the index: the filter drops a store's open tickets whose promise \
         is still ahead",
    ),
];

/// Whether the node at `indent`, below the plan lines `above`, feeds a `Limit` in index order (no `Sort` between):
/// such a walk stops only once it has found enough rows, so what its filter throws away has no bound but the
/// table. Without a limit the walk reads its index range once (a ticket's parts, say), whatever the filter keeps.
fn walked_for_a_limit(above: &[&str], indent: usize) -> bool {
    let mut level = indent;
    for line in above.iter().rev() {
        let inner = line.len() - line.trim_start().len();
        if inner >= level {
            continue;
        }
        level = inner;
        let node = line.trim_start().trim_start_matches("->").trim_start();
        if node.starts_with("Sort") || node.starts_with("Incremental Sort") {
            return false;
        }
        if node.starts_with("Limit") {
            return true;
        }
    }
    false
}

/// Reads a list, then its next page when there is one, so that the cursor's form of the statement runs too.
fn read_list(app: &TestApp, key: &str, path: &str) -> Value {
    let first = app.get(path, Some(key));
    assert_eq!(first.status, 200, "{path}: {}", first.text);
    if let Some(cursor) = first.body["next_cursor"].as_str() {
        let sep = if path.contains('?') { '&' } else { '?' };
        let next = app.get(&format!("{path}{sep}cursor={cursor}"), Some(key));
        assert_eq!(next.status, 200, "{path} next page: {}", next.text);
    }
    first.body
}

#[test]
fn every_list_query_uses_an_index_in_its_generic_plan() {
    if test_engine() == Engine::Sqlite {
        println!(
            "skipped on SQLite: generic plans and plan_cache_mode are PostgreSQL's; SQLite plans every statement \
             when it is prepared"
        );
        return;
    }
    depot::db::observe_statements(Some(record));
    let app = spawn_app();
    depot::seed::seed_demo(&app.db).unwrap_or_else(|e| panic!("seeding: {e}"));
    let store = app.get_admin("/api/v1/stores?kind=service_center&limit=1").body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let models = app.get_admin("/api/v1/models?limit=200");
    let model = models.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["code"] == "MATE60PRO")
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    // One ticket opened for real: the one viewed below, and the warranty decision the loaded ones copy.
    let opened = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": store, "customer": {"name": "Wang Fang", "phone": "+8613800138000"},
                "device_imei": "490154203237518", "model_id": model, "purchase_date": "2026-11-20",
                "channel": "walk_in", "reported_fault": "screen flickers", "accessories": []}),
    );
    assert_eq!(opened.status, 201, "{}", opened.text);
    let ticket = opened.id();
    let series = models.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["code"] == "MATE60PRO")
        .map(|m| m["series_id"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let mut conn = PgConnection::establish(&app.database_url).unwrap_or_else(|e| panic!("{e}"));
    conn.batch_execute(LOAD).unwrap_or_else(|e| panic!("loading rows: {e}"));

    let partner = app.get_admin("/api/v1/partners").body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let courier = app.post_admin(
        "/api/v1/api-keys",
        &json!({"role": "courier", "label": "plans", "partner_id": partner}),
    );
    assert_eq!(courier.status, 201, "{}", courier.text);
    let courier_key = courier.body["key"].as_str().unwrap_or_default().to_owned();
    let staff_key = app.create_key("store_staff", &[&store]);
    let part = app.get_admin("/api/v1/parts?limit=1").body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let name = app.database_url.rsplit('/').next().unwrap_or_default();
    let name = name.split('?').next().unwrap_or_default().to_owned();
    if let Ok(mut t) = TARGET.lock() {
        *t = Some(name);
    }
    let admin = app.admin_key.clone();
    read_list(&app, &admin, "/api/v1/tickets?status=received&limit=5");
    for (key, path) in [
        (&admin, "/api/v1/tickets?limit=5".to_owned()),
        (&admin, format!("/api/v1/tickets?store_id={store}&limit=5")),
        (
            &admin,
            format!("/api/v1/tickets?store_id={store}&status=received&limit=5"),
        ),
        (&staff_key, "/api/v1/tickets?status=repairing&limit=5".to_owned()),
        (&staff_key, "/api/v1/tickets?limit=5".to_owned()),
        (&staff_key, format!("/api/v1/loaners?series_id={series}&limit=5")),
        (&staff_key, "/api/v1/stock/movements?limit=5".to_owned()),
        (&admin, format!("/api/v1/tickets/{ticket}")),
        (&admin, format!("/api/v1/pickups?ticket_id={ticket}")),
        (&admin, format!("/api/v1/tickets/{ticket}/parts")),
        (&admin, "/api/v1/loans?state=waiting&limit=5".to_owned()),
        (&admin, "/api/v1/loans?overdue=true&limit=5".to_owned()),
        (&admin, format!("/api/v1/loans?store_id={store}&state=waiting&limit=5")),
        (&staff_key, "/api/v1/loans?limit=5".to_owned()),
        (&admin, "/api/v1/audit-log?entity_type=store&limit=5".to_owned()),
        (&admin, format!("/api/v1/audit-log?entity_id={ticket}")),
        (&courier_key, "/api/v1/courier/pickups?limit=5".to_owned()),
        (
            &courier_key,
            "/api/v1/courier/pickups?status=requested&limit=5".to_owned(),
        ),
        (
            &courier_key,
            "/api/v1/courier/pickups?updated_since=2026-11-30T00:00:00Z&limit=5".to_owned(),
        ),
        (&admin, "/api/v1/courier/pickups?status=requested&limit=5".to_owned()),
        (
            &admin,
            format!("/api/v1/stock/movements?location_id={store}&part_id={part}&limit=5"),
        ),
        (&admin, format!("/api/v1/stock/movements?location_id={store}&limit=5")),
        (&admin, format!("/api/v1/stock/movements?part_id={part}&limit=5")),
        (&admin, format!("/api/v1/stock/levels?location_id={store}&limit=5")),
        (&admin, format!("/api/v1/loaners?store_id={store}&limit=5")),
        (&admin, format!("/api/v1/loaner-availability?store_id={store}")),
        (&admin, "/api/v1/tickets?imei=490154203237518&limit=5".to_owned()),
        (&staff_key, "/api/v1/tickets?imei=490154203237518&limit=5".to_owned()),
        (&admin, "/api/v1/tickets?phone=13700000001&limit=5".to_owned()),
        (
            &staff_key,
            "/api/v1/tickets?phone=%2B86%20137-0000-0002&limit=5".to_owned(),
        ),
        (&admin, "/api/v1/tickets?number=RT-2026&limit=5".to_owned()),
        (&staff_key, "/api/v1/tickets?number=load-1&limit=5".to_owned()),
        (
            &admin,
            format!("/api/v1/tickets?store_id={store}&past_promise=true&limit=5"),
        ),
        (&staff_key, "/api/v1/tickets?past_promise=true&limit=5".to_owned()),
    ] {
        read_list(&app, key, &path);
    }
    assert_eq!(app.get("/metrics", None).status, 200);
    if let Ok(mut t) = TARGET.lock() {
        *t = None;
    }

    let statements: BTreeSet<String> = CAPTURED
        .lock()
        .map(|c| {
            c.iter()
                .filter(|s| s.trim_start().starts_with("SELECT"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let relevant: Vec<&String> = statements
        .iter()
        .filter(|s| BIG_TABLES.iter().any(|t| s.contains(&format!("\"{t}\""))))
        .collect();
    assert!(
        relevant.len() >= 15,
        "the list requests ran only {} statements on the big tables: is the recorder attached?",
        relevant.len()
    );
    let mut failures = Vec::new();
    for sql in &relevant {
        match generic_plan(&mut conn, sql) {
            Ok(plan) => {
                if let Some(fault) = plan_fault(&plan) {
                    match KNOWN_FILTERED_WALKS.iter().find(|(mark, _)| plan.contains(mark)) {
                        Some((_, why)) => println!("accepted ({why}): {fault}:\n  {sql}\n{plan}\n"),
                        None => failures.push(format!("{fault}:\n  {sql}\n{plan}\n")),
                    }
                }
            }
            Err(e) => failures.push(format!("{e}:\n  {sql}\n")),
        }
    }
    println!("checked the generic plans of {} statements", relevant.len());
    assert!(
        failures.is_empty(),
        "{} statement(s) without an index:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[derive(diesel::QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(diesel::QueryableByName)]
struct ColumnName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// The search's filters on SQLite: each request's statement on tickets is planned (`EXPLAIN QUERY PLAN`, unbound
/// parameters) on 60,000 tickets across three stores, analysed, and must search its index, never scan the table.
#[test]
fn ticket_search_uses_its_indexes_on_sqlite() {
    if test_engine() != Engine::Sqlite {
        println!(
            "skipped on PostgreSQL: the generic plans are checked by every_list_query_uses_an_index_in_its_generic_plan"
        );
        return;
    }
    depot::db::observe_statements(Some(record));
    let app = spawn_app();
    let stores: Vec<String> = ["PLAN-A", "PLAN-B", "PLAN-C"]
        .iter()
        .map(|code| app.create_store(code, "Shenzhen"))
        .collect();
    let series = app.post_admin(
        "/api/v1/series",
        &json!({"code": "PLAN-NOVA", "name": "Nova", "premium": false}),
    );
    assert_eq!(series.status, 201, "{}", series.text);
    let model = app.post_admin(
        "/api/v1/models",
        &json!({"code": "PLAN-N12", "name": "Nova 12", "series_id": series.id()}),
    );
    assert_eq!(model.status, 201, "{}", model.text);
    let opened = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": stores[0], "customer": {"name": "Wang Fang", "phone": "+8613800138000"},
                "device_imei": "490154203237518", "model_id": model.id(), "purchase_date": "2026-11-20",
                "channel": "walk_in", "reported_fault": "screen flickers", "accessories": []}),
    );
    assert_eq!(opened.status, 201, "{}", opened.text);

    // 60,000 copies of the opened ticket, each with its own id and number, 20,000 phones, 6,000 customers, three
    // stores, all promised, a fifth of the closed ones ready late.
    let mut conn = diesel::SqliteConnection::establish(app.database_url.trim_start_matches("sqlite://"))
        .unwrap_or_else(|e| panic!("{e}"));
    let columns: Vec<ColumnName> = diesel::sql_query("SELECT name FROM pragma_table_info('tickets')")
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    let overrides = [
        ("id", "randomblob(16)"),
        ("number", "'LOAD-' || g"),
        (
            "store_id",
            "(SELECT id FROM stores WHERE code = 'PLAN-' || char(65 + g % 3))",
        ),
        ("device_imei", "CAST(490154200000000 + g % 20000 AS TEXT)"),
        ("customer_id", "(SELECT id FROM customers WHERE rowid = 1 + g % 6000)"),
        (
            "status",
            "CASE g % 200 WHEN 0 THEN 'received' WHEN 1 THEN 'repairing' WHEN 2 THEN 'cancelled' ELSE 'closed' END",
        ),
        ("tracking_token_hash", "NULL"),
        ("device_id", "NULL"),
        ("promised_at", "t.created_at"),
        (
            "ready_at",
            "CASE WHEN g % 200 > 2 AND g % 5 = 4 THEN t.updated_at ELSE NULL END",
        ),
    ];
    let (names, values): (Vec<String>, Vec<String>) = columns
        .iter()
        .map(|c| {
            let value = overrides
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_else(|| format!("t.{}", c.name));
            (c.name.clone(), value)
        })
        .unzip();
    let load = format!(
        "INSERT INTO customers (id, phone, name, contact_consent, created_at, updated_at)
         WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < 6000)
         SELECT randomblob(16), '1370000' || substr('000' || g, -4), 'Load Customer', 0, created_at, updated_at
         FROM n, tickets;
         INSERT INTO tickets ({})
         WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < 60000)
         SELECT {} FROM n, tickets t WHERE t.number NOT LIKE 'LOAD-%';
         ANALYZE;",
        names.join(", "),
        values.join(", ")
    );
    conn.batch_execute(&load)
        .unwrap_or_else(|e| panic!("loading rows: {e}"));

    let staff = app.create_key("store_staff", &[&stores[0]]);
    let admin = app.admin_key.clone();
    let dir = app
        .database_url
        .split('/')
        .find(|s| s.starts_with("depot-test-"))
        .unwrap_or_default()
        .to_owned();
    let store = &stores[0];
    let mut failures = Vec::new();
    for (key, path, index) in [
        (
            &admin,
            "/api/v1/tickets?imei=490154203237518&limit=5".to_owned(),
            "tickets_imei",
        ),
        (
            &staff,
            "/api/v1/tickets?imei=490154203237518&limit=5".to_owned(),
            "tickets_imei",
        ),
        (
            &admin,
            "/api/v1/tickets?phone=13700000001&limit=5".to_owned(),
            "tickets_customer",
        ),
        (
            &staff,
            "/api/v1/tickets?phone=%2B8613700000002&limit=5".to_owned(),
            "tickets_customer",
        ),
        (
            &admin,
            "/api/v1/tickets?number=LOAD-1&limit=5".to_owned(),
            "sqlite_autoindex_tickets_2",
        ),
        (
            &staff,
            "/api/v1/tickets?number=rt-2026&limit=5".to_owned(),
            "sqlite_autoindex_tickets_2",
        ),
        (
            &admin,
            format!("/api/v1/tickets?store_id={store}&past_promise=true&limit=5"),
            "tickets_past_promise",
        ),
        (
            &staff,
            "/api/v1/tickets?past_promise=true&limit=5".to_owned(),
            "tickets_past_promise",
        ),
    ] {
        if let Ok(mut c) = CAPTURED.lock() {
            c.clear();
        }
        if let Ok(mut t) = TARGET.lock() {
            *t = Some(dir.clone());
        }
        read_list(&app, key, &path);
        if let Ok(mut t) = TARGET.lock() {
            *t = None;
        }
        let statements: Vec<String> = CAPTURED
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|s| s.trim_start().starts_with("SELECT") && s.contains("FROM `tickets`"))
                    // A number search's next page first reads the cursor ticket's number by its primary key.
                    .filter(|s| !s.contains("WHERE (`tickets`.`id` = ?)"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if statements.is_empty() {
            failures.push(format!("{path}: no statement on tickets recorded"));
        }
        for sql in statements {
            let plan: Vec<SqlitePlanLine> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(&mut conn)
                .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"));
            let plan: Vec<String> = plan.into_iter().map(|l| l.detail).collect();
            let scans = plan.iter().any(|l| l.starts_with("SCAN "));
            let searches = plan
                .iter()
                .any(|l| l.starts_with("SEARCH tickets USING") && l.contains(&format!("INDEX {index} ")));
            println!("{path}: {}", plan.join("; "));
            if scans || !searches {
                failures.push(format!(
                    "{path} does not search {index}:\n  {sql}\n  {}\n",
                    plan.join("\n  ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The dispatcher's claim on a backlog of 20,000 due messages of one endpoint: each statement it sends on
/// `webhook_messages` reads that endpoint's due messages along `webhook_messages_endpoint_due`, in the index's
/// order and without a sort, so it stops at the endpoint's room whatever the backlog (the claim before it sorted
/// every due row). PostgreSQL's generic plan, SQLite's `EXPLAIN QUERY PLAN`; the statements are the ones the real
/// claim sends, captured.
#[test]
fn the_webhook_claim_reads_an_endpoints_head_in_index_order_whatever_the_backlog() {
    use depot::db::types::{Id, Ts};
    use depot::webhooks::{model::MessageRow, repo};

    depot::db::observe_statements(Some(record));
    let app = crate::helpers::spawn_app_with(crate::webhooks::fast);
    let receiver = crate::webhooks::Receiver::start(|_, _| (204, std::time::Duration::ZERO));
    let (endpoint, _) = crate::webhooks::endpoint(&app, &app.admin_key, &receiver.url, &["stock.low"]);
    let endpoint = Id(uuid::Uuid::parse_str(&endpoint).unwrap_or_else(|e| panic!("{e}")));
    let now = depot::now();
    let backlog: Vec<MessageRow> = (0..20_000)
        .map(|n| {
            let at = Ts(now - chrono::Duration::seconds(20_000 - n));
            MessageRow::new(endpoint, None, "stock.low", "{}".to_owned(), at)
        })
        .collect();
    app.db
        .write(|conn| repo::insert_messages(conn, &backlog))
        .unwrap_or_else(|e| panic!("loading messages: {e}"));
    let target = match test_engine() {
        Engine::Postgres => {
            let name = app.database_url.rsplit('/').next().unwrap_or_default();
            name.split('?').next().unwrap_or_default().to_owned()
        }
        Engine::Sqlite => app
            .database_url
            .split('/')
            .find(|s| s.starts_with("depot-test-"))
            .unwrap_or_default()
            .to_owned(),
    };
    app.db
        .write(|conn| {
            depot::with_conn!(conn, c => diesel::sql_query("ANALYZE").execute(c))?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("analyzing: {e}"));
    if let Ok(mut c) = CAPTURED.lock() {
        c.clear();
    }
    if let Ok(mut t) = TARGET.lock() {
        *t = Some(target);
    }
    let token = Id(uuid::Uuid::now_v7());
    let claimed = app.db.write(|conn| {
        repo::claim(
            conn,
            Ts(now),
            Ts(now + chrono::Duration::minutes(1)),
            token,
            &[(endpoint, 4)],
        )
    });
    if let Ok(mut t) = TARGET.lock() {
        *t = None;
    }
    let claimed = claimed.unwrap_or_else(|e| panic!("claiming: {e}"));
    assert_eq!(claimed.messages.len(), 4, "the claim takes the endpoint's room");
    assert!(claimed.dry.is_empty(), "the endpoint has more due");
    let oldest: Vec<Id> = backlog.iter().take(4).map(|m| m.id).collect();
    let mut took: Vec<Id> = claimed.messages.iter().map(|m| m.id).collect();
    took.sort();
    assert_eq!(took, oldest, "the oldest due first");

    let statements: Vec<String> = CAPTURED
        .lock()
        .map(|c| {
            c.iter()
                .filter(|s| {
                    s.trim_start().starts_with("SELECT")
                        && (s.contains("FROM \"webhook_messages\"") || s.contains("FROM `webhook_messages`"))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        statements.len(),
        1,
        "one read of the endpoint's due messages: {statements:?}"
    );
    let sql = &statements[0];
    let plan = match test_engine() {
        Engine::Postgres => {
            let mut conn = PgConnection::establish(&app.database_url).unwrap_or_else(|e| panic!("{e}"));
            generic_plan(&mut conn, sql).unwrap_or_else(|e| panic!("{e}"))
        }
        Engine::Sqlite => {
            let mut conn = diesel::SqliteConnection::establish(app.database_url.trim_start_matches("sqlite://"))
                .unwrap_or_else(|e| panic!("{e}"));
            let plan: Vec<SqlitePlanLine> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(&mut conn)
                .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"));
            plan.into_iter().map(|l| l.detail).collect::<Vec<_>>().join("\n")
        }
    };
    println!("{sql}\n{plan}");
    assert!(
        plan.contains("webhook_messages_endpoint_due"),
        "not along the index:\n{sql}\n{plan}"
    );
    assert!(
        !plan.contains("Sort") && !plan.contains("TEMP B-TREE"),
        "sorted:\n{sql}\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan") && !plan.contains("SCAN webhook_messages"),
        "scanned:\n{sql}\n{plan}"
    );
}
