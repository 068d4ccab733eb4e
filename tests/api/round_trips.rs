//! Database round trips of the hot paths (issue 12): a premium opening that claims a loaner, one that joins the
//! waitlist, and a part reservation each take at most 6 round trips to PostgreSQL, the API-key check included.
//!
//! The server's database URL points at a counting proxy (`benches/harness/pg_proxy.rs`, shared with the
//! benchmarks), which counts simple queries and extended-protocol batches (each ends with a `Sync`). The pool has
//! one connection, so the warm-up request of each path prepares the statements that the counted request reuses
//! (a prepared statement's first use costs an extra round trip). A count, not a timing: it does not depend on the
//! machine's speed.

#[path = "../../benches/harness/pg_proxy.rs"]
mod pg_proxy;

use std::time::Duration;

use depot::db::Engine;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app_with, test_engine};
use crate::tickets::{Premium, open, premium, ticket_body};
use pg_proxy::{Counters, Counts, MessageReader, PgProxy, authority};

/// The bar of issue 12 for each path.
const MAX_ROUND_TRIPS: u64 = 6;

/// Sends one request and counts the round trips it made. A moment after the answer the proxy is read again: work
/// the request left behind (none is expected) is its cost too.
fn counted(counters: &Counters, request: impl FnOnce() -> Resp) -> (Resp, Counts) {
    counters.reset();
    let res = request();
    let at_answer = counters.read();
    std::thread::sleep(Duration::from_millis(200));
    let settled = counters.read();
    if settled != at_answer {
        println!(
            "  {} round trip(s) came after the answer",
            settled.round_trips() - at_answer.round_trips()
        );
    }
    (res, settled)
}

fn created(res: &Resp) -> &Value {
    assert!((200..300).contains(&res.status), "{}: {}", res.status, res.text);
    &res.body
}

fn reserve_part(app: &TestApp, ticket: &str, part: &str) -> Resp {
    app.post_admin(
        &format!("/api/v1/tickets/{ticket}/parts"),
        &json!({"part_id": part, "quantity": 1}),
    )
}

#[test]
fn premium_openings_and_part_reservations_take_at_most_six_round_trips() {
    if test_engine() == Engine::Sqlite {
        println!("skipped on SQLite: an embedded database has no round trips to count");
        return;
    }
    let admin_url = std::env::var("DEPOT_TEST_DATABASE_URL").unwrap_or_default();
    if authority(&admin_url).is_none() {
        println!("skipped: DEPOT_TEST_DATABASE_URL names no host:port to put a proxy in front of");
        return;
    }
    // Declared before the app, so dropped after it: the server's connections close before the proxy's.
    let proxy = PgProxy::for_url(&admin_url, Duration::ZERO).unwrap_or_else(|e| panic!("starting the proxy: {e}"));
    let app = spawn_app_with(|s| {
        s.database_url = proxy
            .route(&s.database_url)
            .unwrap_or_else(|| panic!("routing {} through the proxy", s.database_url));
        s.pool.max_connections = 1;
    });

    // Two loaners: the first counted opening claims the second, the next openings join the waitlist.
    let p: Premium = premium(&app, "RT", 2);
    let part = created(&app.post_admin(
        "/api/v1/parts",
        &json!({"sku": "RT-SCR-1", "name": "Display", "category": "screen", "compatible_model_ids": [p.model],
                "price": {"amount": "899.00", "currency": "CNY"}}),
    ))["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    created(&app.post_admin(
        "/api/v1/stock/receipts",
        &json!({"location_id": p.store, "receipt_number": "RT-RECEIPT-1",
                "lines": [{"part_id": part, "quantity": 10}]}),
    ));
    let open_walk_in = || app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
    let counters = &proxy.counters;

    let warm_claim = open(&app, &p);
    assert_eq!(warm_claim.body["loan"]["state"], "reserved", "{}", warm_claim.text);
    let (claim, claim_trips) = counted(counters, open_walk_in);

    let warm_wait = open(&app, &p);
    assert_eq!(warm_wait.body["loan"]["state"], "waiting", "{}", warm_wait.text);
    let (wait, wait_trips) = counted(counters, open_walk_in);

    created(&reserve_part(&app, &warm_claim.id(), &part));
    let (reservation, reservation_trips) = counted(counters, || reserve_part(&app, &claim.id(), &part));

    println!("round trips per request (Q simple queries, S batches ended by Sync, P statements prepared):");
    println!("  premium opening, claims a loaner:  {}", claim_trips.describe());
    println!("  premium opening, joins waitlist:   {}", wait_trips.describe());
    println!("  part reservation:                  {}", reservation_trips.describe());

    // The counted requests took the paths they stand for.
    assert_eq!(claim.status, 201, "{}", claim.text);
    assert_eq!(claim.body["loan"]["state"], "reserved", "{}", claim.text);
    assert_eq!(wait.status, 201, "{}", wait.text);
    assert_eq!(wait.body["loan"]["state"], "waiting", "{}", wait.text);
    let mut over: Vec<String> = [
        ("a premium opening that claims a loaner", claim_trips),
        ("a premium opening that joins the waitlist", wait_trips),
        ("a part reservation", reservation_trips),
    ]
    .into_iter()
    .filter(|(_, trips)| trips.round_trips() > MAX_ROUND_TRIPS)
    .map(|(path, trips)| format!("{path} took {} round trips", trips.describe()))
    .collect();
    // The reservation answers the line it wrote and the ticket's totals.
    if reservation.status != 200 || reservation.body["line"]["state"] != "reserved" {
        over.push(format!(
            "the part reservation answered {}: {}",
            reservation.status, reservation.text
        ));
    }
    assert!(
        over.is_empty(),
        "at most {MAX_ROUND_TRIPS} round trips each: {}",
        over.join("; ")
    );
}

/// The proxy finds every message's type however the stream is cut into reads.
#[test]
fn the_proxy_counts_messages_however_the_stream_is_cut() {
    // A simple query, then a Parse/Bind/Execute/Sync batch.
    let mut stream = Vec::new();
    for (kind, body) in [
        (b'Q', &b"select 1\0"[..]),
        (b'P', &b"\0select 1\0\0\0"[..]),
        (b'B', &b"\0\0\0\0\0\0\0\0\0\0"[..]),
        (b'E', &b"\0\0\0\0\0"[..]),
        (b'S', &b""[..]),
    ] {
        stream.push(kind);
        stream.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        stream.extend_from_slice(body);
    }
    for cut in 1..stream.len() {
        let mut reader = MessageReader::default();
        let mut seen = Vec::new();
        for chunk in stream.chunks(cut) {
            reader.feed(chunk, |k| seen.push(k));
        }
        assert_eq!(seen, b"QPBES", "reads of {cut} bytes");
    }
}

/// The proxy takes the place of a URL's host and port, and refuses a URL it cannot stand in for.
#[test]
fn the_proxy_finds_and_replaces_a_urls_host_and_port() {
    let url = "postgres://postgres@127.0.0.1:5432/depot_test_x?sslmode=disable";
    let (upstream, range) = authority(url).unwrap_or_default();
    assert_eq!(upstream, "127.0.0.1:5432");
    assert_eq!(url.get(range), Some("127.0.0.1:5432"));
    assert_eq!(
        authority("postgresql://u:p@db/x").map(|a| a.0).as_deref(),
        Some("db:5432")
    );
    assert_eq!(
        authority("postgres://u@[::1]:6432/x").map(|a| a.0).as_deref(),
        Some("[::1]:6432")
    );
    assert_eq!(
        authority("postgres://postgres@/postgres?host=/var/run/postgresql"),
        None
    );
    assert_eq!(authority("sqlite://depot.db"), None);
}
