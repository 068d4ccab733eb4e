//! Signed webhooks against a real local HTTP receiver: signatures (checked here with an HMAC of our own), retries,
//! a dispatcher stopped mid-delivery, two dispatchers on one database, SSRF refusals, partner scopes, rotation.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use depot::config::Settings;
use depot::edge::Cidr;
use depot::events::{self, EventType, NewEvent, Subject, SubjectType};
use depot::webhooks::{DispatchConfig, Dispatcher};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::courier::partner;
use crate::helpers::{TestApp, spawn_app_with};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signatures: Vec<String>,
    content_type: String,
    body: String,
}

/// What the receiver answers to the `nth` (0-based) request carrying one webhook id: a status and a pause first.
type Behaviour = dyn Fn(&Delivery, usize) -> (u16, Duration) + Send + Sync;

/// A plain HTTP/1.1 receiver on 127.0.0.1: records every request, counts requests per webhook id that overlap in
/// time, answers as `behaviour` says (with `Connection: close`).
pub(crate) struct Receiver {
    pub(crate) url: String,
    log: Arc<Mutex<Vec<Delivery>>>,
    /// Requests per webhook id in progress now, and the most ever seen at once for any id.
    overlap: Arc<Mutex<(HashMap<String, usize>, usize)>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) fn start(behaviour: impl Fn(&Delivery, usize) -> (u16, Duration) + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding the receiver: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let log: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let overlap: Arc<Mutex<(HashMap<String, usize>, usize)>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let (l, o, s) = (log.clone(), overlap.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (l, o, b) = (l.clone(), o.clone(), behaviour.clone());
                std::thread::spawn(move || serve(stream, &l, &o, &*b));
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            log,
            overlap,
            stop,
        }
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub(crate) fn max_overlap(&self) -> usize {
        self.overlap.lock().map(|o| o.1).unwrap_or(usize::MAX)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://").trim_end_matches("/hooks"));
    }
}

fn serve(
    stream: std::net::TcpStream,
    log: &Mutex<Vec<Delivery>>,
    overlap: &Mutex<(HashMap<String, usize>, usize)>,
    behaviour: &Behaviour,
) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let delivery = Delivery {
        id: headers.get("webhook-id").cloned().unwrap_or_default(),
        timestamp: headers.get("webhook-timestamp").cloned().unwrap_or_default(),
        signatures: headers
            .get("webhook-signature")
            .map(|s| s.split(' ').map(str::to_owned).collect())
            .unwrap_or_default(),
        content_type: headers.get("content-type").cloned().unwrap_or_default(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let nth = {
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        let nth = log.iter().filter(|d| d.id == delivery.id).count();
        log.push(delivery.clone());
        nth
    };
    {
        let mut o = overlap.lock().unwrap_or_else(|e| e.into_inner());
        let now = {
            let n = o.0.entry(delivery.id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        o.1 = o.1.max(now);
    }
    let (status, pause) = behaviour(&delivery, nth);
    std::thread::sleep(pause);
    if let Ok(mut o) = overlap.lock() {
        if let Some(n) = o.0.get_mut(&delivery.id) {
            *n -= 1;
        }
    }
    let answer = format!("answer {status}");
    let _ = write!(
        writer,
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nlocation: http://127.0.0.1:1/\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

/// Whether one of `signatures` is the HMAC of `id.timestamp.body` with `secret`'s key (computed here, apart from
/// the server's code).
pub(crate) fn signed_by(secret: &str, d: &Delivery) -> bool {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_else(|e| panic!("secret {secret}: {e}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|e| panic!("{e}"));
    mac.update(format!("{}.{}.{}", d.id, d.timestamp, d.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    d.signatures.contains(&expected)
}

pub(crate) fn fast(settings: &mut Settings) {
    settings.webhook_allow = Cidr::parse_list("127.0.0.0/8").unwrap_or_else(|e| panic!("{e}"));
    settings.webhook_backoff_scale = 0.002;
    settings.webhook_timeout = Duration::from_secs(2);
    settings.webhook_lease = Duration::from_secs(60);
    settings.webhook_interval = Duration::from_millis(20);
    settings.webhook_concurrency = 4;
}

fn dispatcher(app: &TestApp) -> Dispatcher {
    Dispatcher::start(app.db.clone(), None, DispatchConfig::from_settings(&app.state.settings))
        .unwrap_or_else(|e| panic!("starting a dispatcher: {e}"))
}

pub(crate) fn emit(app: &TestApp, event_type: EventType, partner: Option<&str>, payload: Value) -> Uuid {
    let partner = partner.map(|p| Uuid::parse_str(p).unwrap_or_else(|e| panic!("{e}")));
    let id = app
        .db
        .write(|conn| {
            events::emit_in(
                conn,
                NewEvent {
                    event_type,
                    subject: Subject {
                        kind: SubjectType::Pickup,
                        id: Uuid::now_v7(),
                        store_id: None,
                        partner_id: partner,
                    },
                    payload,
                    internal: Some(json!({"tracking_link": "secret-token"})),
                },
            )
        })
        .unwrap_or_else(|e| panic!("emitting: {e}"));
    // On PostgreSQL an event waits for every older transaction of the cluster to end before it is placed: place
    // until none is left.
    wait_for("the event placed in the feed", || {
        events::sequence(&app.db).unwrap_or_else(|e| panic!("sequencing: {e}"));
        events::service::backlog(&app.db).unwrap_or_else(|e| panic!("{e}")) == 0
    });
    id
}

pub(crate) fn endpoint(app: &TestApp, key: &str, url: &str, types: &[&str]) -> (String, String) {
    let res = app.post(
        "/api/v1/webhook-endpoints",
        key,
        &json!({"url": url, "event_types": types, "description": "test receiver"}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    let secret = res.body["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_"), "{}", res.text);
    (res.id(), secret)
}

/// Waits (up to a generous bound, for liveness only) until `done` holds.
#[track_caller]
pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn messages(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
    let res = app.get(
        &format!("/api/v1/webhook-endpoints/{endpoint}/messages?limit=200"),
        Some(key),
    );
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

pub(crate) fn attempts(app: &TestApp, endpoint: &str, message: &str) -> Vec<Value> {
    let res = app.get_admin(&format!(
        "/api/v1/webhook-endpoints/{endpoint}/messages/{message}/attempts"
    ));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn deliveries_are_signed_enveloped_and_logged_and_can_be_redelivered_replayed_and_pinged() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    let admin = app.admin_key.clone();
    let (ep, secret) = endpoint(&app, &admin, &receiver.url, &["pickup.requested", "pickup.cancelled"]);
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let first = emit(&app, EventType::PickupRequested, None, json!({"status": "requested"}));
    emit(&app, EventType::StockLow, None, json!({"on_hand": 1}));
    let second = emit(&app, EventType::PickupCancelled, None, json!({"status": "cancelled"}));
    let d = dispatcher(&app);
    wait_for("two deliveries", || receiver.deliveries().len() >= 2);
    wait_for("both logged as delivered", || {
        messages(&app, &admin, &ep)
            .iter()
            .filter(|m| m["status"] == "delivered")
            .count()
            == 2
    });
    let got = receiver.deliveries();
    assert_eq!(got.len(), 2, "the stock.low event is not subscribed: {got:?}");
    for delivery in &got {
        assert!(signed_by(&secret, delivery), "signature does not verify: {delivery:?}");
        assert_eq!(delivery.signatures.len(), 1);
        assert_eq!(delivery.content_type, "application/json");
        let ts: i64 = delivery.timestamp.parse().unwrap_or_else(|e| panic!("{e}"));
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 600);
        assert!(
            !delivery.body.contains("secret-token"),
            "internal data leaked: {}",
            delivery.body
        );
    }
    let bodies: Vec<Value> = got
        .iter()
        .map(|d| serde_json::from_str(&d.body).unwrap_or(Value::Null))
        .collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| b["data"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        ids.contains(&first.to_string()) && ids.contains(&second.to_string()),
        "{bodies:?}"
    );
    let requested = bodies
        .iter()
        .find(|b| b["type"] == "pickup.requested")
        .unwrap_or_else(|| panic!("{bodies:?}"));
    assert_eq!(requested["data"]["subject"]["type"], "pickup");
    assert_eq!(requested["data"]["status"], "requested");
    assert!(requested["timestamp"].is_string());

    // The log: one attempt, 200, with the answer's excerpt.
    let listed = messages(&app, &admin, &ep);
    let message = listed
        .iter()
        .find(|m| m["event_id"] == first.to_string())
        .unwrap_or_else(|| panic!("{listed:?}"))
        .clone();
    let message_id = message["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(message["attempts"], 1);
    let tried = attempts(&app, &ep, &message_id);
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert_eq!(tried[0]["status_code"], 200);
    assert_eq!(tried[0]["response_excerpt"], "answer 200");

    // Redelivery sends the same message (same webhook-id) again.
    let again = app.post(
        &format!("/api/v1/webhook-endpoints/{ep}/messages/{message_id}/redeliver"),
        &admin,
        &json!({}),
    );
    assert_eq!(again.status, 200, "{}", again.text);
    wait_for("the redelivery", || {
        receiver.deliveries().iter().filter(|d| d.id == message_id).count() == 2
    });

    // A ping, and a replay of the range: new messages for the two subscribed events.
    let ping = app.post(&format!("/api/v1/webhook-endpoints/{ep}/ping"), &admin, &json!({}));
    assert_eq!(ping.status, 200, "{}", ping.text);
    wait_for("the ping", || {
        receiver
            .deliveries()
            .iter()
            .any(|d| d.body.contains("\"webhook.ping\""))
    });
    let replay = app.post(
        &format!("/api/v1/webhook-endpoints/{ep}/replay"),
        &admin,
        &json!({"since": started.to_rfc3339()}),
    );
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.body["queued"], 2, "{}", replay.text);
    assert_eq!(replay.body["scanned"], 3, "{}", replay.text);
    wait_for("the replayed events", || {
        receiver
            .deliveries()
            .iter()
            .filter(|d| d.body.contains(&first.to_string()))
            .count()
            == 3
    });
    for delivery in receiver.deliveries() {
        assert!(signed_by(&secret, &delivery), "{delivery:?}");
    }
    d.stop(Duration::from_secs(5));
}

#[test]
fn a_receiver_failing_its_first_three_attempts_gets_the_message_on_the_fourth() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, nth| {
        if nth < 3 {
            (500, Duration::ZERO)
        } else {
            (204, Duration::ZERO)
        }
    });
    let admin = app.admin_key.clone();
    let (ep, secret) = endpoint(&app, &admin, &receiver.url, &["loan.overdue"]);
    emit(&app, EventType::LoanOverdue, None, json!({"days": 1}));
    let d = dispatcher(&app);
    wait_for("delivery on the fourth attempt", || {
        messages(&app, &admin, &ep)
            .first()
            .is_some_and(|m| m["status"] == "delivered")
    });
    d.stop(Duration::from_secs(5));
    let got = receiver.deliveries();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|d| d.id == got[0].id), "one webhook-id on every retry");
    assert!(got.iter().all(|d| signed_by(&secret, d)));
    let message = &messages(&app, &admin, &ep)[0];
    assert_eq!(message["attempts"], 4);
    let tried = attempts(&app, &ep, message["id"].as_str().unwrap_or_default());
    let codes: Vec<i64> = tried.iter().map(|a| a["status_code"].as_i64().unwrap_or(0)).collect();
    assert_eq!(codes, vec![500, 500, 500, 204]);
    assert!(
        tried[0]["error"].as_str().is_some_and(|e| e.contains("500")),
        "{tried:?}"
    );
    let endpoint = app.get_admin(&format!("/api/v1/webhook-endpoints/{ep}"));
    assert_eq!(
        endpoint.body["failing_since"],
        Value::Null,
        "a delivery ends the failure streak"
    );
}

#[test]
fn a_dispatcher_stopped_mid_delivery_gives_its_claims_back_and_another_delivers_them() {
    let app = spawn_app_with(fast);
    // The first request hangs past the dispatcher's grace; later ones are answered at once.
    let receiver = Receiver::start(|_, nth| {
        if nth == 0 {
            (200, Duration::from_millis(1500))
        } else {
            (200, Duration::ZERO)
        }
    });
    let admin = app.admin_key.clone();
    let (ep, _) = endpoint(&app, &admin, &receiver.url, &["loan.lost"]);
    emit(&app, EventType::LoanLost, None, json!({}));
    let first = dispatcher(&app);
    wait_for("the first request", || !receiver.deliveries().is_empty());
    assert_eq!(first.held(), 1, "the message is held while its request runs");
    // No grace: the claim is given back at once (the lease is 60 s: only the give-back lets another take it now).
    first.stop(Duration::ZERO);
    let second = dispatcher(&app);
    wait_for("the second dispatcher's delivery", || {
        messages(&app, &admin, &ep)
            .first()
            .is_some_and(|m| m["status"] == "delivered")
    });
    second.stop(Duration::from_secs(5));
    let got = receiver.deliveries();
    assert!(got.len() >= 2 && got.iter().all(|d| d.id == got[0].id), "{got:?}");
}

#[test]
fn a_crashed_dispatchers_claims_are_taken_by_another_after_the_lease() {
    let app = spawn_app_with(|s| {
        fast(s);
        s.webhook_timeout = Duration::from_secs(1);
        s.webhook_lease = Duration::from_secs(2);
    });
    // The first request is answered after the client's timeout: the crashed dispatcher records nothing anyway.
    let receiver = Receiver::start(|_, nth| {
        if nth == 0 {
            (200, Duration::from_millis(1200))
        } else {
            (200, Duration::ZERO)
        }
    });
    let admin = app.admin_key.clone();
    let (ep, _) = endpoint(&app, &admin, &receiver.url, &["loan.lost"]);
    emit(&app, EventType::LoanLost, None, json!({}));
    let crashed = dispatcher(&app);
    wait_for("the first request", || !receiver.deliveries().is_empty());
    crashed.abandon();
    let other = dispatcher(&app);
    wait_for("delivery by the other dispatcher", || {
        messages(&app, &admin, &ep)
            .first()
            .is_some_and(|m| m["status"] == "delivered")
    });
    other.stop(Duration::from_secs(5));
    let got = receiver.deliveries();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].id, got[1].id);
    assert_eq!(receiver.max_overlap(), 1, "the lease outlived the first request");
    assert_eq!(
        messages(&app, &admin, &ep)[0]["attempts"],
        1,
        "the crashed attempt was never recorded"
    );
}

#[test]
fn two_dispatchers_on_one_database_never_hold_one_message_at_once() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (200, Duration::from_millis(20)));
    let admin = app.admin_key.clone();
    let (ep, secret) = endpoint(&app, &admin, &receiver.url, &["stock.low"]);
    let n = 60;
    for i in 0..n {
        emit(&app, EventType::StockLow, None, json!({"i": i}));
    }
    let a = dispatcher(&app);
    let b = dispatcher(&app);
    wait_for("every message delivered", || {
        messages(&app, &admin, &ep)
            .iter()
            .filter(|m| m["status"] == "delivered")
            .count()
            == n
    });
    a.stop(Duration::from_secs(5));
    b.stop(Duration::from_secs(5));
    let got = receiver.deliveries();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for d in &got {
        *per_id.entry(d.id.as_str()).or_default() += 1;
        assert!(signed_by(&secret, d));
    }
    assert_eq!(per_id.len(), n);
    assert!(per_id.values().all(|c| *c == 1), "a message was sent twice: {per_id:?}");
    assert_eq!(receiver.max_overlap(), 1);
}

#[test]
fn forbidden_or_unreachable_urls_and_unknown_types_are_refused_with_the_reason() {
    let app = spawn_app_with(|_| {});
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    for url in [
        receiver.url.clone(),
        "ftp://example.com/hook".to_owned(),
        "http://10.1.2.3/hook".to_owned(),
        "http://[::1]:8080/hook".to_owned(),
        "http://169.254.169.254/latest".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://0.0.0.0:80/".to_owned(),
        "http://user:pw@127.0.0.1/".to_owned(),
    ] {
        let res = app.post_admin(
            "/api/v1/webhook-endpoints",
            &json!({"url": url, "event_types": ["ticket.opened"]}),
        );
        res.problem(400, "validation_failed");
        assert_eq!(res.bad_fields(), vec!["url"], "{url}: {}", res.text);
    }
    let refused = app.post_admin(
        "/api/v1/webhook-endpoints",
        &json!({"url": receiver.url, "event_types": ["ticket.opened"]}),
    );
    assert!(refused.text.contains("loopback"), "{}", refused.text);

    // Allowed by the operator, but nothing listens there: unreachable.
    let allowed = spawn_app_with(fast);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = closed.local_addr().map(|a| a.port()).unwrap_or_default();
    drop(closed);
    let res = allowed.post_admin(
        "/api/v1/webhook-endpoints",
        &json!({"url": format!("http://127.0.0.1:{port}/"), "event_types": ["ticket.opened"]}),
    );
    res.problem(400, "validation_failed");
    assert!(res.text.contains("unreachable"), "{}", res.text);

    let res = allowed.post_admin(
        "/api/v1/webhook-endpoints",
        &json!({"url": receiver.url, "event_types": ["ticket.opened", "ticket.exploded"]}),
    );
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(
        res.text.contains("ticket.exploded") && res.text.contains("loan.overdue"),
        "names the valid types: {}",
        res.text
    );
    let res = allowed.post_admin(
        "/api/v1/webhook-endpoints",
        &json!({"url": receiver.url, "event_types": []}),
    );
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.text.contains("pickup.requested"), "{}", res.text);
}

#[test]
fn a_partner_manages_and_receives_only_its_own() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    let mine = partner(&app, "MINE");
    let other = partner(&app, "OTHER");
    let (ep, secret) = endpoint(&app, &mine.key, &receiver.url, &["pickup.status_changed"]);
    let got = app.get(&format!("/api/v1/webhook-endpoints/{ep}"), Some(&mine.key));
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["partner_id"], mine.partner.as_str());
    assert!(got.body.get("secret").is_none(), "the secret is shown once");
    app.get(&format!("/api/v1/webhook-endpoints/{ep}"), Some(&other.key))
        .problem(404, "not_found");
    app.get(&format!("/api/v1/webhook-endpoints/{ep}/messages"), Some(&other.key))
        .problem(404, "not_found");
    app.post(&format!("/api/v1/webhook-endpoints/{ep}/ping"), &other.key, &json!({}))
        .problem(404, "not_found");
    let listed = app.get("/api/v1/webhook-endpoints", Some(&other.key));
    assert_eq!(listed.body["items"], json!([]), "{}", listed.text);
    let res = app.post(
        "/api/v1/webhook-endpoints",
        &other.key,
        &json!({"url": receiver.url, "event_types": ["pickup.requested"], "partner_id": mine.partner}),
    );
    assert_eq!(res.status, 400, "{}", res.text);
    let store = app.create_store("WH1", "Shenzhen");
    let staff = app.create_key("store_staff", &[&store]);
    app.get("/api/v1/webhook-endpoints", Some(&staff))
        .problem(403, "forbidden");
    let admin_list = app.get_admin("/api/v1/webhook-endpoints");
    assert_eq!(admin_list.body["items"].as_array().map(Vec::len), Some(1));

    // Only its own pickups' events reach it.
    let own = emit(
        &app,
        EventType::PickupStatusChanged,
        Some(&mine.partner),
        json!({"status": "picked_up"}),
    );
    emit(
        &app,
        EventType::PickupStatusChanged,
        Some(&other.partner),
        json!({"status": "picked_up"}),
    );
    emit(
        &app,
        EventType::PickupStatusChanged,
        None,
        json!({"status": "picked_up"}),
    );
    let d = dispatcher(&app);
    wait_for("its event", || !receiver.deliveries().is_empty());
    wait_for("the log", || {
        messages(&app, &mine.key, &ep)
            .iter()
            .all(|m| m["status"] == "delivered")
    });
    d.stop(Duration::from_secs(5));
    let got = receiver.deliveries();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].body.contains(&own.to_string()));
    assert!(signed_by(&secret, &got[0]));
}

#[test]
fn a_rotated_secret_signs_beside_the_previous_one_during_the_overlap() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    let admin = app.admin_key.clone();
    let (ep, old) = endpoint(&app, &admin, &receiver.url, &["ticket.opened"]);
    let rotated = app.post(
        &format!("/api/v1/webhook-endpoints/{ep}/rotate-secret"),
        &admin,
        &json!({"overlap_seconds": 3600}),
    );
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.body["secret"].as_str().unwrap_or_default().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    let d = dispatcher(&app);
    app.post(&format!("/api/v1/webhook-endpoints/{ep}/ping"), &admin, &json!({}));
    wait_for("the ping", || receiver.deliveries().len() == 1);
    let first = &receiver.deliveries()[0];
    assert_eq!(first.signatures.len(), 2, "{first:?}");
    assert!(signed_by(&new, first) && signed_by(&old, first));

    // Ending the overlap: the new secret only.
    let ended = app.post(
        &format!("/api/v1/webhook-endpoints/{ep}/rotate-secret"),
        &admin,
        &json!({"overlap_seconds": 0}),
    );
    let newest = ended.body["secret"].as_str().unwrap_or_default().to_owned();
    app.post(&format!("/api/v1/webhook-endpoints/{ep}/ping"), &admin, &json!({}));
    wait_for("the second ping", || receiver.deliveries().len() == 2);
    d.stop(Duration::from_secs(5));
    let second = &receiver.deliveries()[1];
    assert_eq!(second.signatures.len(), 1);
    assert!(signed_by(&newest, second) && !signed_by(&new, second));
    app.post(
        &format!("/api/v1/webhook-endpoints/{ep}/rotate-secret"),
        &admin,
        &json!({"overlap_seconds": -1}),
    )
    .problem(400, "validation_failed");
}

#[test]
fn an_endpoint_failing_for_too_long_is_disabled_with_the_reason_and_enabled_by_an_update() {
    let app = spawn_app_with(|s| {
        fast(s);
        s.webhook_disable_after = Duration::from_millis(300);
    });
    let receiver = Receiver::start(|_, _| (503, Duration::ZERO));
    let admin = app.admin_key.clone();
    let (ep, _) = endpoint(&app, &admin, &receiver.url, &["ticket.opened"]);
    let d = dispatcher(&app);
    app.post(&format!("/api/v1/webhook-endpoints/{ep}/ping"), &admin, &json!({}));
    wait_for("the endpoint disabled", || {
        app.get_admin(&format!("/api/v1/webhook-endpoints/{ep}")).body["enabled"] == false
    });
    d.stop(Duration::from_secs(5));
    let endpoint = app.get_admin(&format!("/api/v1/webhook-endpoints/{ep}"));
    let reason = endpoint.body["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("503"), "{}", endpoint.text);
    let enabled = app.patch_admin(&format!("/api/v1/webhook-endpoints/{ep}"), &json!({"enabled": true}));
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    assert_eq!(enabled.body["enabled"], true);
    assert_eq!(enabled.body["disabled_reason"], Value::Null);
}

#[test]
fn a_redirect_is_a_failed_attempt_and_never_followed() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (302, Duration::ZERO));
    let admin = app.admin_key.clone();
    let (ep, _) = endpoint(&app, &admin, &receiver.url, &["ticket.opened"]);
    let d = dispatcher(&app);
    app.post(&format!("/api/v1/webhook-endpoints/{ep}/ping"), &admin, &json!({}));
    wait_for("two attempts", || {
        messages(&app, &admin, &ep)
            .first()
            .is_some_and(|m| m["attempts"].as_i64() >= Some(2))
    });
    d.stop(Duration::from_secs(5));
    let message = &messages(&app, &admin, &ep)[0];
    assert_eq!(message["status"], "pending");
    assert_eq!(message["last_status_code"], 302);
    assert!(
        message["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("not followed"))
    );
}

/// Messages still under a claim that is not finished (pending or retrying, with a claim token).
fn held_in_database(app: &TestApp) -> i64 {
    use depot::db::schema::webhook_messages as m;
    use diesel::prelude::*;
    app.db
        .read(|conn| {
            Ok(depot::with_conn!(conn, c => m::table
                .filter(m::claim_token.is_not_null())
                .filter(m::status.ne("delivered"))
                .count()
                .get_result::<i64>(c))?)
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A dispatcher stopped right after it started (its claimer may be claiming then) leaves no claim behind: what it
/// claimed is delivered or given back, never locked until the lease runs out.
#[test]
fn a_dispatcher_stopped_at_once_leaves_no_claim_behind() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    let admin = app.admin_key.clone();
    let (ep, _) = endpoint(&app, &admin, &receiver.url, &["loan.lost"]);
    for _ in 0..12 {
        emit(&app, EventType::LoanLost, None, json!({}));
    }
    for round in 0..8 {
        let d = dispatcher(&app);
        std::thread::sleep(Duration::from_millis(round * 3));
        d.stop(Duration::from_secs(5));
        assert_eq!(held_in_database(&app), 0, "round {round}");
    }
    let d = dispatcher(&app);
    wait_for("every message delivered", || {
        messages(&app, &admin, &ep).iter().all(|m| m["status"] == "delivered")
    });
    d.stop(Duration::from_secs(5));
}

/// A replay of a range, paged by `limit` and resumed from each `resume_from`, queues every event of the range once:
/// its filter and its order are both the time the events happened, even when that differs from the feed's order
/// and when several events share one instant.
#[test]
fn a_replay_resumed_from_its_cursor_neither_skips_nor_repeats() {
    use depot::db::schema::events as ev;
    use depot::db::types::Ts;
    use diesel::prelude::*;
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    let admin = app.admin_key.clone();
    let (ep, _) = endpoint(&app, &admin, &receiver.url, &["loan.lost"]);
    let ids: Vec<Uuid> = (0..6)
        .map(|n| emit(&app, EventType::LoanLost, None, json!({ "n": n })))
        .collect();
    // Happened in another order than placed, two pairs at one instant each.
    let base = chrono::Utc::now() - chrono::Duration::hours(1);
    let offsets = [5, 1, 3, 1, 0, 3];
    app.db
        .write(|conn| {
            for (id, secs) in ids.iter().zip(offsets) {
                let at = Ts(base + chrono::Duration::seconds(secs));
                depot::with_conn!(conn, c => diesel::update(ev::table.filter(ev::id.eq(depot::db::types::Id(*id))))
                    .set(ev::occurred_at.eq(at))
                    .execute(c))?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    for (pass, limit) in [1, 2, 3].into_iter().enumerate() {
        let mut since = base - chrono::Duration::seconds(1);
        let until = base + chrono::Duration::seconds(10);
        let mut scanned = 0;
        for _ in 0..20 {
            let replay = app.post(
                &format!("/api/v1/webhook-endpoints/{ep}/replay"),
                &admin,
                &json!({"since": since, "until": until, "limit": limit}),
            );
            assert_eq!(replay.status, 200, "{}", replay.text);
            scanned += replay.body["scanned"].as_u64().unwrap_or_default();
            match replay.body["resume_from"].as_str() {
                Some(next) => {
                    let next: chrono::DateTime<chrono::Utc> = next.parse().unwrap_or_else(|e| panic!("{e}"));
                    assert!(next > since, "the cursor moves on");
                    since = next;
                }
                None => break,
            }
        }
        assert_eq!(scanned, 6, "limit {limit}");
        let listed = messages(&app, &admin, &ep);
        for id in &ids {
            let times = listed.iter().filter(|m| m["event_id"] == id.to_string()).count();
            assert_eq!(times, pass + 1, "limit {limit}: event {id} queued once per replay");
        }
    }
    app.post(
        &format!("/api/v1/webhook-endpoints/{ep}/replay"),
        &admin,
        &json!({"since": base, "limit": 0}),
    )
    .problem(400, "validation_failed");
}

/// A receiver that hangs holds at most its endpoint's share of the workers: another endpoint's message is delivered
/// at once meanwhile.
#[test]
fn a_hanging_receiver_does_not_delay_another_endpoint() {
    let app = spawn_app_with(|s| {
        fast(s);
        s.webhook_timeout = Duration::from_secs(30);
        s.webhook_concurrency = 4;
        s.webhook_endpoint_concurrency = 2;
    });
    let hanging = Receiver::start(|_, _| (200, Duration::from_secs(12)));
    let quick = Receiver::start(|_, _| (200, Duration::ZERO));
    let admin = app.admin_key.clone();
    endpoint(&app, &admin, &hanging.url, &["loan.lost"]);
    let (other, _) = endpoint(&app, &admin, &quick.url, &["loan.expired"]);
    for n in 0..8 {
        emit(&app, EventType::LoanLost, None, json!({ "n": n }));
    }
    emit(&app, EventType::LoanExpired, None, json!({}));
    let started = Instant::now();
    let d = dispatcher(&app);
    wait_for("the quick endpoint's delivery", || !quick.deliveries().is_empty());
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "delayed by the hanging receiver: {took:?}"
    );
    assert_eq!(
        hanging.deliveries().len(),
        2,
        "the hanging endpoint holds its cap of workers, no more"
    );
    assert!(
        messages(&app, &admin, &other)
            .first()
            .is_some_and(|m| m["status"] == "delivered")
            || !quick.deliveries().is_empty()
    );
    d.stop(Duration::ZERO);
}

/// Two updates of one endpoint at once, and two rotations at once: they serialize. No field set by one is lost to
/// the other, and after two rotations the endpoint signs with the later secret beside the earlier one (the overlap
/// chains; the original secret is gone).
#[test]
fn concurrent_updates_and_rotations_of_one_endpoint_serialize() {
    let app = spawn_app_with(fast);
    let receiver = Receiver::start(|_, _| (200, Duration::ZERO));
    let admin = app.admin_key.clone();
    let (ep, original) = endpoint(&app, &admin, &receiver.url, &["ticket.opened"]);
    for round in 0..4 {
        let description = format!("round {round}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let res = app.patch_admin(
                    &format!("/api/v1/webhook-endpoints/{ep}"),
                    &json!({ "description": description }),
                );
                assert_eq!(res.status, 200, "{}", res.text);
            });
            s.spawn(|| {
                let types = if round % 2 == 0 {
                    json!(["loan.lost"])
                } else {
                    json!(["loan.expired", "loan.lost"])
                };
                let res = app.patch_admin(
                    &format!("/api/v1/webhook-endpoints/{ep}"),
                    &json!({ "event_types": types }),
                );
                assert_eq!(res.status, 200, "{}", res.text);
            });
        });
        let now = app.get_admin(&format!("/api/v1/webhook-endpoints/{ep}"));
        assert_eq!(now.status, 200, "{}", now.text);
        assert_eq!(now.body["description"], json!(description), "{}", now.text);
        let expected = if round % 2 == 0 {
            json!(["loan.lost"])
        } else {
            json!(["loan.expired", "loan.lost"])
        };
        assert_eq!(now.body["event_types"], expected, "{}", now.text);
    }
    let secrets: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let res = app.post(
                        &format!("/api/v1/webhook-endpoints/{ep}/rotate-secret"),
                        &admin,
                        &json!({"overlap_seconds": 3600}),
                    );
                    assert_eq!(res.status, 200, "{}", res.text);
                    res.body["secret"].as_str().unwrap_or_default().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    assert_ne!(secrets[0], secrets[1]);
    let d = dispatcher(&app);
    app.post(&format!("/api/v1/webhook-endpoints/{ep}/ping"), &admin, &json!({}));
    wait_for("the ping", || receiver.deliveries().len() == 1);
    d.stop(Duration::from_secs(5));
    let ping = &receiver.deliveries()[0];
    assert_eq!(ping.signatures.len(), 2, "{ping:?}");
    assert!(signed_by(&secrets[0], ping) && signed_by(&secrets[1], ping), "{ping:?}");
    assert!(
        !signed_by(&original, ping),
        "the original secret's overlap was replaced"
    );
}
