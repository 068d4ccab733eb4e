//! The server's edge: body deadlines, early refusal of bad keys, the connection cap, draining on shutdown, the
//! tracking and authentication limiters per client (behind trusted proxies), `/metrics` access, security headers
//! and `405` with `Allow`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use depot::edge::{Cidr, TrustedProxies};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::tickets::{premium, ticket_body};

/// One HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

fn connect(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    let stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("connecting: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    stream
}

fn send(stream: &mut TcpStream, text: &str) {
    stream
        .write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("writing: {e}"));
}

/// Reads one answer (headers and a Content-Length body) from the connection.
#[track_caller]
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => panic!(
                "connection closed before an answer; got {:?}",
                String::from_utf8_lossy(&raw)
            ),
            Ok(_) => raw.push(byte[0]),
            Err(e) => panic!("no answer: {e}; got {:?}", String::from_utf8_lossy(&raw)),
        }
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream
        .read_exact(&mut body)
        .unwrap_or_else(|e| panic!("reading the body: {e}"));
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }
}

/// Whether the server closed the connection (EOF or reset), waiting at most the stream's read timeout.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut rest = [0u8; 64];
    match stream.read(&mut rest) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted),
    }
}

/// One request on its own connection.
fn request(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut stream = connect(app);
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    send(&mut stream, &text);
    read_answer(&mut stream)
}

fn store_request(key: &str, length: usize) -> String {
    format!(
        "POST /api/v1/stores HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

fn store_body(code: &str) -> String {
    json!({"code": code, "name": format!("{code} service center"), "city": "Wuhan", "kind": "service_center"})
        .to_string()
}

/// A key in the right shape that no database knows.
fn unknown_key() -> String {
    let secret: String = uuid::Uuid::new_v4().simple().to_string();
    format!("dpk_abcd1234_{secret}{}", &"0123456789a"[..43 - secret.len()])
}

fn loopback_proxy() -> TrustedProxies {
    TrustedProxies(Cidr::parse_list("127.0.0.1").unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn a_stalled_body_is_answered_408_and_its_connection_closed() {
    let app = spawn_app_with(|s| s.body_timeout = Duration::from_secs(1));
    let mut stream = connect(&app);
    // Headers promising 5,000 bytes, then silence.
    send(&mut stream, &store_request(&app.admin_key, 5000));
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.body["code"], "body_timeout");
    assert!(
        answer
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/problem+json"))
    );
    assert!(answer.closes(), "{answer:?}");
    assert!(closed_by_server(&mut stream), "the connection is closed after a 408");
    // A body that arrives in time, in pieces, is served as usual.
    let body = store_body("SLOWOK");
    let mut stream = connect(&app);
    send(&mut stream, &store_request(&app.admin_key, body.len()));
    send(&mut stream, &body[..10]);
    send(&mut stream, &body[10..]);
    assert_eq!(read_answer(&mut stream).status, 201);
}

#[test]
fn a_bad_key_is_refused_before_its_body_arrives() {
    // Bodies may take long here: every answer below comes before any body does.
    let app = spawn_app_with(|s| s.body_timeout = Duration::from_secs(60));
    // Not a key's shape: refused at once.
    let mut stream = connect(&app);
    send(&mut stream, &store_request("dpk_nothing_here", 5000));
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(answer.closes(), "the unread body ends the connection");
    assert!(closed_by_server(&mut stream));

    // A well-formed unknown key: the database says so once; after that it is refused before its body is read.
    let key = unknown_key();
    let body = store_body("NOPE");
    let mut stream = connect(&app);
    send(&mut stream, &format!("{}{body}", store_request(&key, body.len())));
    assert_eq!(read_answer(&mut stream).status, 401);
    let mut stream = connect(&app);
    send(&mut stream, &store_request(&key, 5000));
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.body["code"], "unauthorized");
    assert!(closed_by_server(&mut stream));
    // The real key is not affected.
    assert_eq!(app.get_admin("/api/v1/stores").status, 200);
}

/// A connection the server has accepted (it answered once) and that now carries a request whose body is still
/// coming, so that it stays busy.
fn busy_connection(app: &TestApp) -> TcpStream {
    let mut stream = connect(app);
    send(&mut stream, "GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(read_answer(&mut stream).status, 200);
    send(&mut stream, &store_request(&app.admin_key, 5000));
    stream
}

#[test]
fn connections_are_capped_per_server() {
    let app = spawn_app_with(|s| {
        s.workers = 1;
        s.max_connections = 3;
        s.body_timeout = Duration::from_secs(60);
    });
    let mut held: Vec<TcpStream> = (0..3).map(|_| busy_connection(&app)).collect();
    let mut fourth = connect(&app);
    fourth
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap_or_else(|e| panic!("{e}"));
    send(
        &mut fourth,
        "GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    let mut first = [0u8; 1];
    let waited = fourth.read(&mut first);
    assert!(
        matches!(&waited, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a fourth connection waits while three are open: {waited:?}"
    );
    // Connections end: the waiting one is served. (actix takes a worker back once it is two below its cap.)
    held.truncate(1);
    fourth
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rest = Vec::new();
    let read = fourth.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 200"), "{read:?}: {text}");
}

#[test]
fn a_draining_server_answers_readiness_503_closes_kept_connections_and_finishes_requests_in_flight() {
    let app = spawn_app_with(|s| {
        s.shutdown_timeout = Duration::from_secs(20);
        s.body_timeout = Duration::from_secs(60);
    });
    // A kept-alive connection, served once.
    let mut kept = connect(&app);
    send(&mut kept, "GET /health/ready HTTP/1.1\r\nHost: test\r\n\r\n");
    let before = read_answer(&mut kept);
    assert_eq!(before.status, 200);
    assert!(!before.closes());
    // A request in flight: its body is still coming.
    let body = store_body("INFLIGHT");
    let mut in_flight = connect(&app);
    // Accepted (it was answered once), then a request whose body is still coming.
    send(&mut in_flight, "GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(read_answer(&mut in_flight).status, 200);
    send(&mut in_flight, &store_request(&app.admin_key, body.len()));
    send(&mut in_flight, &body[..5]);

    // SIGTERM: the flag goes up first, then the server stops accepting and waits for what is in flight.
    app.state.shutdown.begin();
    send(&mut kept, "GET /health/ready HTTP/1.1\r\nHost: test\r\n\r\n");
    let after = read_answer(&mut kept);
    assert_eq!(after.status, 503, "{after:?}");
    assert!(after.closes(), "a kept-alive connection is told to close: {after:?}");
    assert!(closed_by_server(&mut kept));

    let stopping = app.drain_in_background();
    send(&mut in_flight, &body[5..]);
    let finished = read_answer(&mut in_flight);
    assert_eq!(finished.status, 201, "the request in flight finishes: {finished:?}");
    assert!(finished.closes());
    stopping.join().unwrap_or_else(|_| panic!("the drain failed"));
    let stored = app
        .db
        .read(|conn| depot::catalog::repo::stores::find_by_code(conn, "INFLIGHT").map(|s| s.is_some()));
    assert!(matches!(stored, Ok(true)), "its work was kept: {stored:?}");
}

#[test]
fn the_sweeper_stops_when_shutdown_begins() {
    let app = spawn_app_with(|s| s.sweep_interval = Duration::from_secs(3600));
    let sweeper = depot::startup::spawn_sweeper(app.state.clone()).unwrap_or_else(|| panic!("no sweeper"));
    app.state.shutdown.begin();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sweeper.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sweeper.is_finished(),
        "the sweeper left its loop instead of sleeping out its interval"
    );
    assert!(sweeper.join().is_ok());
}

fn tracked_token(app: &TestApp, code: &str) -> String {
    let p = premium(app, code, 0);
    let opened = app.post_admin("/api/v1/tickets", &ticket_body(&p, "walk_in"));
    assert_eq!(opened.status, 201, "{}", opened.text);
    opened.body["tracking_token"].as_str().unwrap_or_default().to_owned()
}

/// A token that is well formed and belongs to no repair.
fn guess(token: &str, i: usize) -> String {
    let first = if token.starts_with('A') { "B" } else { "A" };
    format!("{first}{}{:02}", &token[1..41], i % 100)
}

#[test]
fn the_tracking_limiter_never_refuses_a_valid_token() {
    let app = spawn_app();
    let token = tracked_token(&app, "TRK");
    let statuses: Vec<u16> = (0..12)
        .map(|i| {
            app.get(&format!("/api/v1/public/tracking/{}", guess(&token, i)), None)
                .status
        })
        .collect();
    assert_eq!(statuses[11], 429, "misses are limited: {statuses:?}");
    let view = app.get(&format!("/api/v1/public/tracking/{token}"), None);
    assert_eq!(
        view.status, 200,
        "a valid token from the same client is answered: {}",
        view.text
    );
    assert_eq!(view.header("cache-control"), Some("no-store"));
    // Without trusted proxies, X-Forwarded-For is the client's own word and changes nothing.
    let spoofed = request(
        &app,
        "GET",
        &format!("/api/v1/public/tracking/{}", guess(&token, 50)),
        &[("X-Forwarded-For", "198.51.100.77")],
    );
    assert_eq!(spoofed.status, 429);
}

#[test]
fn behind_a_trusted_proxy_tracking_failures_count_per_forwarded_client() {
    let app = spawn_app_with(|s| s.trusted_proxies = loopback_proxy());
    let token = tracked_token(&app, "TRKP");
    let look = |xff: &str, t: &str| {
        request(
            &app,
            "GET",
            &format!("/api/v1/public/tracking/{t}"),
            &[("X-Forwarded-For", xff)],
        )
        .status
    };
    let noisy: Vec<u16> = (0..12).map(|i| look("198.51.100.1", &guess(&token, i))).collect();
    assert_eq!(noisy[11], 429, "{noisy:?}");
    assert_eq!(
        look("198.51.100.2", &guess(&token, 40)),
        404,
        "another customer behind the proxy is not limited"
    );
    assert_eq!(
        look("198.51.100.1", &token),
        200,
        "nor is a valid token from the noisy one"
    );
}

#[test]
fn failed_authentication_backs_off_per_client_and_spares_other_clients() {
    let app = spawn_app_with(|s| s.trusted_proxies = loopback_proxy());
    let admin = format!("Bearer {}", app.admin_key);
    let mut statuses = Vec::new();
    for _ in 0..=depot::edge::AUTH_FAILURES_PER_WINDOW {
        let bad = format!("Bearer {}", unknown_key());
        statuses.push(
            request(
                &app,
                "GET",
                "/api/v1/stores",
                &[("Authorization", &bad), ("X-Forwarded-For", "203.0.113.5")],
            )
            .status,
        );
    }
    let last = statuses.pop();
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(last, Some(429));
    let blocked = request(
        &app,
        "GET",
        "/api/v1/stores",
        &[("Authorization", &admin), ("X-Forwarded-For", "203.0.113.5")],
    );
    assert_eq!(blocked.status, 429);
    assert!(
        blocked
            .header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1))
    );
    assert_eq!(blocked.body["code"], "too_many_requests");
    let other = request(
        &app,
        "GET",
        "/api/v1/stores",
        &[("Authorization", &admin), ("X-Forwarded-For", "203.0.113.6")],
    );
    assert_eq!(
        other.status, 200,
        "a valid key from another client is served: {other:?}"
    );
}

#[test]
fn a_blocked_client_is_still_served_with_a_key_that_was_accepted() {
    // One device behind a store's NAT floods bad keys; the real clients there share its address.
    let app = spawn_app_with(|s| s.trusted_proxies = loopback_proxy());
    let admin = format!("Bearer {}", app.admin_key);
    let nat = [("Authorization", admin.as_str()), ("X-Forwarded-For", "203.0.113.50")];
    assert_eq!(request(&app, "GET", "/api/v1/stores", &nat).status, 200);
    for _ in 0..depot::edge::AUTH_FAILURES_PER_WINDOW {
        let bad = format!("Bearer {}", unknown_key());
        let status = request(
            &app,
            "GET",
            "/api/v1/stores",
            &[("Authorization", &bad), ("X-Forwarded-For", "203.0.113.50")],
        )
        .status;
        assert_eq!(status, 401);
    }
    let guess = format!("Bearer {}", unknown_key());
    let refused = request(
        &app,
        "GET",
        "/api/v1/stores",
        &[("Authorization", &guess), ("X-Forwarded-For", "203.0.113.50")],
    );
    assert_eq!(refused.status, 429, "the address is blocked for new keys: {refused:?}");
    let served = request(&app, "GET", "/api/v1/stores", &nat);
    assert_eq!(
        served.status, 200,
        "a key accepted before is served from the blocked address: {served:?}"
    );
    let malformed = request(
        &app,
        "GET",
        "/api/v1/stores",
        &[("Authorization", "Bearer nope"), ("X-Forwarded-For", "203.0.113.50")],
    );
    assert_eq!(malformed.status, 429);
}

#[test]
fn metrics_are_served_to_allowed_addresses_or_with_the_key() {
    // Default: loopback only, and the test client is on loopback.
    let app = spawn_app_with(|s| s.trusted_proxies = loopback_proxy());
    assert_eq!(app.get("/metrics", None).status, 200);
    let forwarded = request(&app, "GET", "/metrics", &[("X-Forwarded-For", "203.0.113.9")]);
    assert_eq!(
        forwarded.status, 403,
        "a client behind the proxy is not loopback: {forwarded:?}"
    );
    assert_eq!(forwarded.body["code"], "forbidden");
    // A client names any address it likes in X-Forwarded-For: a trusted proxy appends the real one, but whatever
    // the proxy trusts, the forwarded address opens nothing; only the connection's own peer counts.
    for xff in ["127.0.0.1", "127.0.0.1, 127.0.0.1", "::1"] {
        let spoofed = request(&app, "GET", "/metrics", &[("X-Forwarded-For", xff)]);
        assert_eq!(
            spoofed.status, 403,
            "X-Forwarded-For: {xff} opened /metrics: {spoofed:?}"
        );
    }
    drop(app);
    // Even when the proxies trusted include every address, a forwarded loopback address is not the peer.
    let app = spawn_app_with(|s| {
        s.trusted_proxies = TrustedProxies(Cidr::parse_list("0.0.0.0/0,::/0").unwrap_or_else(|e| panic!("{e}")));
    });
    let spoofed = request(&app, "GET", "/metrics", &[("X-Forwarded-For", "127.0.0.1")]);
    assert_eq!(spoofed.status, 403, "{spoofed:?}");
    drop(app);

    let key = "scrape-secret-0123456789";
    let app = spawn_app_with(|s| {
        s.metrics_allow = Vec::new();
        s.metrics_key = Some(key.to_owned());
    });
    assert_eq!(app.get("/metrics", None).status, 403);
    assert_eq!(app.get("/metrics", Some("scrape-secret-wrong-wrong")).status, 403);
    let scraped = app.get("/metrics", Some(key));
    assert_eq!(scraped.status, 200);
    assert!(scraped.text.contains("depot_http_request_duration_seconds"));
}

#[test]
fn answers_carry_security_headers() {
    let app = spawn_app();
    let stores = app.get_admin("/api/v1/stores");
    assert_eq!(stores.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        stores.header("cache-control"),
        Some("no-store"),
        "authenticated answers are not cached"
    );
    let refused = app.get("/api/v1/stores", None);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));
    let live = app.get("/health/live", None);
    assert_eq!(live.header("x-content-type-options"), Some("nosniff"));
    assert!(live.header("content-security-policy").is_none(), "JSON needs no CSP");

    let docs = app.get("/docs/", None);
    assert_eq!(docs.status, 200);
    assert!(docs.content_type.starts_with("text/html"));
    assert_eq!(docs.header("x-frame-options"), Some("DENY"));
    let csp = docs.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    // Everything the page loads is its own file, which the policy allows; no inline script.
    for src in [
        "./swagger-ui-bundle.js",
        "./swagger-ui-standalone-preset.js",
        "./swagger-initializer.js",
    ] {
        assert!(docs.text.contains(&format!("src=\"{src}\"")), "{}", docs.text);
        let file = app.get(&format!("/docs/{}", src.trim_start_matches("./")), None);
        assert_eq!(file.status, 200, "{src}");
    }
    assert!(!docs.text.contains("<script>"), "no inline script");
    assert!(
        app.get("/openapi.json", None).status == 200,
        "the page's document is same-origin"
    );
}

#[test]
fn an_unlisted_method_on_a_known_route_answers_405_with_allow() {
    let app = spawn_app();
    let auth = format!("Bearer {}", app.admin_key);
    let answer = request(&app, "DELETE", "/api/v1/tickets", &[("Authorization", &auth)]);
    assert_eq!(answer.status, 405, "{answer:?}");
    assert_eq!(answer.header("allow"), Some("GET, POST"));
    assert_eq!(answer.body["code"], "method_not_allowed");
    assert!(
        answer
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/problem+json"))
    );

    let id = uuid::Uuid::now_v7();
    let answer = request(
        &app,
        "PUT",
        &format!("/api/v1/tickets/{id}/cancel"),
        &[("Authorization", &auth)],
    );
    assert_eq!((answer.status, answer.header("allow")), (405, Some("POST")));
    // A literal route beats a parameter, as the document reads: GET /loaners/import is not GET /loaners/{loaner_id}.
    let answer = request(&app, "GET", "/api/v1/loaners/import", &[("Authorization", &auth)]);
    assert_eq!(
        (answer.status, answer.header("allow")),
        (405, Some("POST")),
        "{answer:?}"
    );
    let answer = request(&app, "POST", "/health/ready", &[]);
    assert_eq!((answer.status, answer.header("allow")), (405, Some("GET")));
    let answer = request(&app, "DELETE", "/api/v1/no-such-thing", &[("Authorization", &auth)]);
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["code"], "not_found");
}

/// The real binary, stopped by SIGTERM as an orchestrator stops it.
#[cfg(unix)]
#[test]
fn sigterm_drains_the_real_server() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    if crate::helpers::test_engine() != depot::db::Engine::Sqlite {
        // The binary's own database handling is the same on both engines; one run is enough.
        eprintln!("sigterm_drains_the_real_server: skipped on PostgreSQL, it runs the binary on a SQLite file");
        return;
    }
    let dir = std::env::temp_dir().join(format!("depot-sigterm-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let address = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args([
            "serve",
            "--bind",
            &address,
            "--workers",
            "1",
            "--shutdown-timeout-secs",
            "20",
        ])
        .args(["--sweep-interval-secs", "1", "--body-timeout-secs", "60"])
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("depot.db").display()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting depot: {e}"));
    // The first start prints the admin key on stdout; read it all, so the server never writes into a closed pipe.
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim().starts_with("dpk_") {
                let _ = tx.send(line.trim().to_owned());
            }
        }
    });
    let key = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("no admin key printed: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kept = loop {
        match TcpStream::connect(&address) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("depot did not listen: {e}"),
        }
    };
    kept.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    let ready = "GET /health/ready HTTP/1.1\r\nHost: test\r\n\r\n";
    send(&mut kept, ready);
    assert_eq!(read_answer(&mut kept).status, 200);
    let mut in_flight = TcpStream::connect(&address).unwrap_or_else(|e| panic!("{e}"));
    in_flight
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    send(&mut in_flight, "GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(read_answer(&mut in_flight).status, 200);
    let body = store_body("SIGTERM");
    send(&mut in_flight, &store_request(&key, body.len()));
    send(&mut in_flight, &body[..5]);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(killed.success());
    // The kept connection is served until the signal lands, then told 503 and to close. A readiness check that
    // passed just before the signal landed may still answer 200, but already with `Connection: close`: then the
    // client reconnects, as a load balancer would, and asks again.
    let drained = loop {
        send(&mut kept, ready);
        let answer = read_answer(&mut kept);
        if answer.status != 200 || Instant::now() > deadline {
            break answer;
        }
        if answer.closes() {
            kept = TcpStream::connect(&address).unwrap_or_else(|e| panic!("reconnecting while draining: {e}"));
            kept.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(drained.status, 503, "{drained:?}");
    assert!(drained.closes());
    send(&mut in_flight, &body[5..]);
    let finished = read_answer(&mut in_flight);
    assert_eq!(finished.status, 201, "the request in flight finishes: {finished:?}");
    assert!(finished.closes());

    let exit_deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < exit_deadline => std::thread::sleep(Duration::from_millis(50)),
            other => {
                let _ = child.kill();
                panic!("depot did not exit after SIGTERM: {other:?}");
            }
        }
    };
    let mut log = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut log);
    }
    assert!(status.success(), "{status:?}: {log}");
    assert!(log.contains("draining") && log.contains("depot stopped"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
