//! Customer reminders: planned from the event feed, sent on the manual's schedule with an injected clock, outside
//! quiet hours, only with consent, through a real HTTP gateway, once each with two senders at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use depot::db::types::{Id, Ts};
use depot::events::{self, EventType, NewEvent, Subject, SubjectType};
use depot::reminders::{self, Channel, GatewaySettings, HttpSmsGateway, ReminderRow, ReminderSettings, Sms};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_another, spawn_app, spawn_app_with};

/// Remembers every message instead of sending it.
#[derive(Default, Clone)]
struct Recording(Arc<Mutex<Vec<(Uuid, String, String)>>>);

impl Channel for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn send(&self, sms: &Sms<'_>) -> Result<(), String> {
        let mut seen = self.0.lock().map_err(|e| e.to_string())?;
        seen.push((sms.id, sms.phone.to_owned(), sms.text.to_owned()));
        Ok(())
    }
}

impl Recording {
    fn messages(&self) -> Vec<(Uuid, String, String)> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

struct Shop {
    store: String,
    model: String,
}

/// A store (in `time_zone`) with a non-premium model: tickets without loaners.
fn shop(app: &TestApp, code: &str, time_zone: &str) -> Shop {
    let store = app.post_admin(
        "/api/v1/stores",
        &json!({"code": code, "name": format!("{code} service center"), "city": "Shenzhen",
                "kind": "service_center", "time_zone": time_zone}),
    );
    assert_eq!(store.status, 201, "{}", store.text);
    let model = app.create_standard_model(code);
    Shop {
        store: store.id(),
        model,
    }
}

const PHONE: &str = "13800138000";

/// Opens a walk-in ticket as [`open_announced`] does, and withdraws the message that announces the opening (the
/// opening's own event plans it): the tests that use this count the other messages.
fn open(app: &TestApp, shop: &Shop, phone: &str, consent: bool) -> Value {
    let ticket = open_announced(app, shop, phone, consent);
    withdraw_opened(app, &ticket);
    ticket
}

/// Plans what the feed holds and withdraws the message announcing `ticket`'s opening.
fn withdraw_opened(app: &TestApp, ticket: &Value) {
    use depot::db::schema::reminders as r;
    use diesel::prelude::*;
    plan(app);
    let id = Id(id_of(ticket));
    app.db
        .write(|conn| {
            depot::with_conn!(conn, c => diesel::update(
                r::table.filter(r::ticket_id.eq(id)).filter(r::kind.eq("ticket_opened")))
                .set(r::state.eq("cancelled"))
                .execute(c))?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("withdrawing the opened message: {e}"));
}

/// Opens a walk-in ticket for a customer with this phone and consent; returns the ticket as answered.
fn open_announced(app: &TestApp, shop: &Shop, phone: &str, consent: bool) -> Value {
    let res = app.post_admin(
        "/api/v1/tickets",
        &json!({
            "store_id": shop.store,
            "customer": {"name": "Wang Fang", "phone": phone, "contact_consent": consent},
            "device_imei": crate::tickets::imei(),
            "model_id": shop.model,
            "purchase_date": (Utc::now() - Duration::days(100)).date_naive(),
            "channel": "walk_in",
            "reported_fault": "screen flickers",
        }),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

fn id_of(ticket: &Value) -> Uuid {
    ticket["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// Places every committed event in the feed. On PostgreSQL the sequencer waits for every older transaction of the
/// cluster (other tests' databases included) to end before it places an event: wait for the backlog to clear.
fn sequence_all(app: &TestApp) {
    for _ in 0..600 {
        events::sequence(&app.db).unwrap_or_else(|e| panic!("sequencing: {e}"));
        if events::service::backlog(&app.db).unwrap_or_else(|e| panic!("{e}")) == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("committed events were still not placed after 30 s");
}

fn placed_events(app: &TestApp) -> Vec<events::EventRow> {
    sequence_all(app);
    app.db
        .read(|conn| events::repo::after(conn, 0, 100_000))
        .unwrap_or_else(|e| panic!("reading the feed: {e}"))
}

/// Writes the event the change should have written, unless the area already wrote it (the emits land in another
/// branch): the tests hold either way.
fn ensure_event(app: &TestApp, ticket: &Value, event_type: EventType, payload: Value, internal: Option<Value>) {
    let subject = id_of(ticket);
    let present = placed_events(app).iter().any(|e| {
        e.subject_id.0 == subject
            && e.event_type == event_type.as_str()
            && serde_json::from_str::<Value>(&e.payload)
                .ok()
                .map(|p| p.get("to").cloned())
                == Some(payload.get("to").cloned())
    });
    if present {
        return;
    }
    let store = ticket["store_id"].as_str().and_then(|s| s.parse().ok());
    app.db
        .write(|conn| {
            events::emit_in(
                conn,
                NewEvent {
                    event_type,
                    subject: Subject {
                        kind: SubjectType::Ticket,
                        id: subject,
                        store_id: store,
                        partner_id: None,
                    },
                    payload: payload.clone(),
                    internal: internal.clone(),
                },
            )
        })
        .unwrap_or_else(|e| panic!("emitting {}: {e}", event_type.as_str()));
}

fn plan(app: &TestApp) {
    sequence_all(app);
    reminders::plan(&app.db, &app.base).unwrap_or_else(|e| panic!("planning: {e}"));
}

/// The ticket's reminders, without an opening's message [`open`] withdrew.
fn reminders_of(app: &TestApp, ticket: &Value) -> Vec<ReminderRow> {
    let id = Id(id_of(ticket));
    app.db
        .read(|conn| reminders::repo::of_ticket(conn, id))
        .unwrap_or_else(|e| panic!("reading reminders: {e}"))
        .into_iter()
        .filter(|r| !(r.kind == "ticket_opened" && r.state == "cancelled"))
        .collect()
}

fn send(app: &TestApp, channel: &dyn Channel, now: DateTime<Utc>) -> reminders::Round {
    reminders::send_due(&app.db, channel, &ReminderSettings::default(), now).unwrap_or_else(|e| panic!("sending: {e}"))
}

fn step(app: &TestApp, ticket: &Value, action: &str) {
    let res = crate::tickets::step(app, ticket["id"].as_str().unwrap_or_default(), action);
    assert_eq!(res.status, 200, "{action}: {}", res.text);
}

/// Moves a fresh ticket to ready for pickup, with its event.
fn make_ready(app: &TestApp, ticket: &Value) {
    for action in ["start-diagnosis", "start-repair", "start-quality-check", "mark-ready"] {
        step(app, ticket, action);
    }
    ensure_event(
        app,
        ticket,
        EventType::TicketStatusChanged,
        json!({"from": "quality_check", "to": "ready_for_pickup"}),
        None,
    );
}

/// 10:00 in Shanghai (02:00 UTC) on a day after today: daytime, and after anything planned now.
fn shanghai_morning(days_ahead: i64) -> DateTime<Utc> {
    let day = (Utc::now() + Duration::days(days_ahead)).date_naive();
    Utc.from_utc_datetime(&day.and_hms_opt(2, 0, 0).unwrap_or_default())
}

fn timeline_kinds(app: &TestApp, ticket: &Value) -> Vec<(String, String)> {
    let res = app.get_admin(&format!("/api/v1/tickets/{}", id_of(ticket)));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["note"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn states(rows: &[ReminderRow], kind: &str) -> Vec<(i32, String)> {
    rows.iter()
        .filter(|r| r.kind == kind)
        .map(|r| (r.sequence_no, r.state.clone()))
        .collect()
}

#[test]
fn a_ready_phone_is_announced_the_same_day_the_next_day_then_weekly_until_collected() {
    let app = spawn_app();
    let shop = shop(&app, "RD", "Asia/Shanghai");
    let ticket = open(&app, &shop, PHONE, true);
    make_ready(&app, &ticket);
    plan(&app);
    let channel = Recording::default();
    let day0 = shanghai_morning(1);

    assert_eq!(
        send(&app, &channel, day0).sent,
        1,
        "the same day: {:?} {:?}",
        reminders_of(&app, &ticket),
        placed_events(&app)
    );
    let rows = reminders_of(&app, &ticket);
    let ready: Vec<_> = rows.iter().filter(|r| r.kind == "ready_for_pickup").collect();
    assert_eq!(ready.len(), 2, "the first sent, the next planned: {rows:?}");
    assert_eq!(ready[1].due_at, Ts(day0 + Duration::days(1)), "the next day");

    assert_eq!(
        send(&app, &channel, day0 + Duration::hours(23)).sent,
        0,
        "not before the next day"
    );
    assert_eq!(send(&app, &channel, day0 + Duration::days(1)).sent, 1, "the next day");
    let third = reminders_of(&app, &ticket)
        .into_iter()
        .find(|r| r.kind == "ready_for_pickup" && r.sequence_no == 3)
        .unwrap_or_else(|| panic!("the third message is planned"));
    assert_eq!(third.due_at, Ts(day0 + Duration::days(8)), "a week after the second");
    assert_eq!(
        send(&app, &channel, day0 + Duration::days(7)).sent,
        0,
        "not before the week is over"
    );
    assert_eq!(send(&app, &channel, day0 + Duration::days(8)).sent, 1, "weekly");
    assert_eq!(send(&app, &channel, day0 + Duration::days(15)).sent, 1, "weekly again");

    // A redelivered feed (the consumer's cursor back to the start) plans nothing twice.
    let before = reminders_of(&app, &ticket).len();
    app.db
        .write(|conn| events::repo::advance_consumer(conn, "reminders", 0, Ts(Utc::now())))
        .unwrap_or_else(|e| panic!("{e}"));
    plan(&app);
    assert_eq!(reminders_of(&app, &ticket).len(), before, "redelivery planned again");
    assert_eq!(
        send(&app, &channel, day0 + Duration::days(15)).sent,
        0,
        "nothing sent twice"
    );

    // Collected: the sequence stops.
    step(&app, &ticket, "close");
    ensure_event(
        &app,
        &ticket,
        EventType::TicketStatusChanged,
        json!({"from": "ready_for_pickup", "to": "closed"}),
        None,
    );
    plan(&app);
    assert_eq!(
        send(&app, &channel, day0 + Duration::days(60)).sent,
        0,
        "nothing after collection"
    );
    let ready = states(&reminders_of(&app, &ticket), "ready_for_pickup");
    assert_eq!(
        ready,
        [
            (1, "sent".to_owned()),
            (2, "sent".to_owned()),
            (3, "sent".to_owned()),
            (4, "sent".to_owned()),
            (5, "cancelled".to_owned())
        ]
    );
    let messages = channel.messages();
    let ready_texts: Vec<_> = messages.iter().filter(|m| m.2.contains("取机")).collect();
    assert_eq!(ready_texts.len(), 4, "{messages:?}");
    assert!(ready_texts.iter().all(|m| m.1 == PHONE));
    let number = ticket["number"].as_str().unwrap_or_default();
    assert!(ready_texts.iter().all(|m| m.2.contains(number)), "{ready_texts:?}");

    // Every message sent is on the timeline, without the full phone number.
    let sent: Vec<_> = timeline_kinds(&app, &ticket)
        .into_iter()
        .filter(|(kind, _)| kind == "reminder_sent")
        .collect();
    assert_eq!(sent.len(), messages.len(), "{sent:?}");
    assert!(
        sent.iter()
            .all(|(_, note)| !note.contains(PHONE) && note.contains("8000")),
        "{sent:?}"
    );
}

#[test]
fn a_message_due_in_quiet_hours_waits_for_their_end_in_the_store_time_zone() {
    let app = spawn_app();
    let shanghai = shop(&app, "QS", "Asia/Shanghai");
    let london = shop(&app, "QL", "Europe/London");
    let in_shanghai = open(&app, &shanghai, PHONE, true);
    let in_london = open(&app, &london, "+442079460958", true);
    make_ready(&app, &in_shanghai);
    make_ready(&app, &in_london);
    plan(&app);
    let channel = Recording::default();
    // 22:30 in Shanghai, 15:30 in London (British summer time) or 14:30.
    let late = shanghai_morning(1) + Duration::hours(12) + Duration::minutes(30);
    let round = send(&app, &channel, late);
    assert_eq!((round.sent, round.deferred), (1, 1), "{round:?}");
    let london_texts = channel.messages();
    assert_eq!(london_texts.len(), 1);
    assert_eq!(london_texts[0].1, "+442079460958");
    assert!(
        london_texts[0].2.starts_with("Your phone is ready"),
        "English for a UK number: {london_texts:?}"
    );

    let waiting = reminders_of(&app, &in_shanghai);
    let morning = shanghai_morning(2) - Duration::hours(2);
    assert_eq!(
        waiting[0].due_at,
        Ts(morning),
        "deferred to 08:00 in Shanghai: {waiting:?}"
    );
    assert_eq!(waiting[0].state, "pending");
    assert_eq!(
        send(&app, &channel, morning - Duration::minutes(1)).sent,
        0,
        "07:59 is still quiet"
    );
    assert_eq!(send(&app, &channel, morning).sent, 1, "08:00");
    assert!(
        channel.messages()[1].2.contains("取机"),
        "Chinese for a mainland number"
    );
}

#[test]
fn a_customer_without_consent_gets_nothing_and_the_reason_is_recorded() {
    let app = spawn_app();
    let shop = shop(&app, "NC", "Asia/Shanghai");
    let ticket = open_announced(&app, &shop, "13900139000", false);
    ensure_event(
        &app,
        &ticket,
        EventType::TicketOpened,
        json!({"status": "received"}),
        Some(json!({"tracking_token": ticket["tracking_token"]})),
    );
    make_ready(&app, &ticket);
    plan(&app);
    let channel = Recording::default();
    let round = send(&app, &channel, shanghai_morning(1));
    assert_eq!((round.sent, round.skipped), (0, 2), "{round:?}");
    assert!(channel.messages().is_empty());
    let rows = reminders_of(&app, &ticket);
    assert!(
        rows.iter()
            .all(|r| r.state == "skipped" && r.reason.as_deref() == Some("no_consent")),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 2, "a skipped ready message plans no next one");
    assert!(!timeline_kinds(&app, &ticket).iter().any(|(k, _)| k == "reminder_sent"));
}

#[test]
fn the_opened_message_carries_a_link_that_opens_the_tracking_page() {
    let app = spawn_app();
    let shop = shop(&app, "TL", "Asia/Shanghai");
    let ticket = open_announced(&app, &shop, PHONE, true);
    let token = ticket["tracking_token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty(), "{ticket}");
    ensure_event(
        &app,
        &ticket,
        EventType::TicketOpened,
        json!({"status": "received"}),
        Some(json!({ "tracking_token": token })),
    );
    plan(&app);
    let channel = Recording::default();
    assert_eq!(send(&app, &channel, shanghai_morning(1)).sent, 1);
    let text = channel.messages()[0].2.clone();
    let link = text
        .split_whitespace()
        .chain(text.split('：'))
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned();
    let path = link
        .strip_prefix(&app.base)
        .unwrap_or_else(|| panic!("{link} is not under {}", app.base));
    let page = app.get(path, None);
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["number"], ticket["number"]);
    assert!(!page.text.contains(PHONE), "the page shows no full phone number");
    // Sent: no whole token stays at rest, in the outbox or in the reminder (its link and body are masked), and
    // the customer's link still opens the page.
    let events = placed_events(&app);
    assert!(
        events
            .iter()
            .all(|e| e.internal.as_deref().is_none_or(|i| !i.contains(&token))),
        "the outbox forgot the token"
    );
    let opened: Vec<ReminderRow> = reminders_of(&app, &ticket)
        .into_iter()
        .filter(|r| r.kind == "ticket_opened")
        .collect();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].state, "sent");
    let kept = format!("{:?} {:?}", opened[0].link, opened[0].body);
    assert!(!kept.contains(&token), "{kept}");
    assert!(
        kept.contains(&token[..6]) && kept.contains('…'),
        "masked, not gone: {kept}"
    );
    assert_eq!(
        app.get(path, None).status,
        200,
        "the link the customer got still opens the page"
    );
}

/// One request the gateway received: its headers (names in lower case) and JSON body.
type Received = (Vec<(String, String)>, Value);

/// A gateway on a local port: answers `statuses` in turn (200 once they run out) and keeps each request.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Received>>>,
}

fn receiver(statuses: Vec<u16>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut headers = Vec::new();
            let mut line = String::new();
            let mut length = 0;
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                let trimmed = line.trim_end().to_owned();
                line.clear();
                if trimmed.is_empty() {
                    break;
                }
                if let Some((name, value)) = trimmed.split_once(':') {
                    let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    if name == "content-length" {
                        length = value.parse().unwrap_or(0);
                    }
                    headers.push((name, value));
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Ok(mut seen) = seen.lock() {
                seen.push((headers, json));
            }
            let status = statuses.next().unwrap_or(200);
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}");
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    Receiver {
        url: format!("http://127.0.0.1:{port}/v1/sms"),
        requests,
    }
}

fn gateway(url: &str) -> HttpSmsGateway {
    HttpSmsGateway::new(GatewaySettings {
        url: url.to_owned(),
        api_key: "test-gateway-key".into(),
        sign_name: "Depot".into(),
        template_id: "SMS_0001".into(),
        timeout: std::time::Duration::from_secs(10),
    })
}

#[test]
fn the_http_gateway_receives_phone_and_text_and_a_failing_one_is_retried() {
    let app = spawn_app();
    let shop = shop(&app, "GW", "Asia/Shanghai");
    let ticket = open(&app, &shop, "+86 138 0013 8000", true);
    make_ready(&app, &ticket);
    plan(&app);
    let gateway_rx = receiver(vec![500, 503]);
    let channel = gateway(&gateway_rx.url);
    let t0 = shanghai_morning(1);
    let first = send(&app, &channel, t0);
    assert_eq!((first.sent, first.failed_attempts), (0, 1), "{first:?}");
    let pending = &reminders_of(&app, &ticket)[0];
    assert_eq!((pending.state.as_str(), pending.attempts), ("pending", 1));
    assert_eq!(pending.due_at, Ts(t0 + Duration::minutes(1)), "retried after a minute");
    assert_eq!(pending.reason.as_deref(), Some("the SMS gateway answered 500"));
    assert_eq!(send(&app, &channel, t0).failed_attempts, 0, "not before the backoff");
    assert_eq!(send(&app, &channel, t0 + Duration::minutes(1)).failed_attempts, 1);
    assert_eq!(
        send(&app, &channel, t0 + Duration::minutes(3)).sent,
        1,
        "the third attempt goes through"
    );
    let rows = reminders_of(&app, &ticket);
    assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("sent", 3));
    assert_eq!(rows[0].channel.as_deref(), Some("http_sms"));

    let requests = gateway_rx.requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(requests.len(), 3, "{requests:?}");
    for (headers, body) in &requests {
        assert!(
            headers.contains(&("x-api-key".to_owned(), "test-gateway-key".to_owned())),
            "{headers:?}"
        );
        assert_eq!(body["phone_number"], PHONE, "the customer's number: {body}");
        assert_eq!(body["template_id"], "SMS_0001");
        assert_eq!(body["out_id"], rows[0].id.0.to_string());
        let text = body["text"].as_str().unwrap_or_default();
        assert!(text.contains(ticket["number"].as_str().unwrap_or("?")), "{text}");
        assert_eq!(
            Some(text),
            rows[0].body.as_deref(),
            "the text recorded is the text sent"
        );
    }
}

#[test]
fn a_gateway_that_never_answers_gives_the_message_up_after_its_attempts() {
    let app = spawn_app();
    let shop = shop(&app, "GX", "Asia/Shanghai");
    let ticket = open(&app, &shop, PHONE, true);
    make_ready(&app, &ticket);
    plan(&app);
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let channel = gateway(&format!("http://{closed}/v1/sms"));
    let t0 = shanghai_morning(1);
    let mut failed = 0;
    for minutes in [0, 1, 3, 7, 15, 31] {
        failed += send(&app, &channel, t0 + Duration::minutes(minutes)).failed;
    }
    assert_eq!(failed, 1);
    let rows = reminders_of(&app, &ticket);
    assert_eq!(rows.len(), 1, "a failed ready message plans no next one: {rows:?}");
    assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("failed", 4));
    assert!(
        rows[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("could not be reached"),
        "{rows:?}"
    );
    assert!(!timeline_kinds(&app, &ticket).iter().any(|(k, _)| k == "reminder_sent"));
}

#[test]
fn two_senders_at_once_send_each_reminder_once() {
    let app = spawn_app();
    let other = spawn_another(&app);
    let shop = shop(&app, "TS", "Asia/Shanghai");
    let ticket = open(&app, &shop, PHONE, true);
    let store = ticket["store_id"].as_str().and_then(|s| s.parse().ok());
    let subject = id_of(&ticket);
    // Many quotes on one ticket: each plans its own message.
    let count = 120;
    app.db
        .write(|conn| {
            for n in 0..count {
                events::emit_in(
                    conn,
                    NewEvent {
                        event_type: EventType::QuoteIssued,
                        subject: Subject {
                            kind: SubjectType::Ticket,
                            id: subject,
                            store_id: store,
                            partner_id: None,
                        },
                        payload: json!({ "n": n }),
                        internal: None,
                    },
                )?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    plan(&app);
    let channel = Recording::default();
    let now = shanghai_morning(1);
    let senders: Vec<_> = [app.db.clone(), app.db.clone(), other.db.clone(), other.db.clone()]
        .into_iter()
        .map(|db| {
            let channel = channel.clone();
            std::thread::spawn(move || reminders::send_due(&db, &channel, &ReminderSettings::default(), now))
        })
        .collect();
    let mut sent = 0;
    for sender in senders {
        let round = sender
            .join()
            .unwrap_or_else(|_| panic!("a sender panicked"))
            .unwrap_or_else(|e| panic!("a sender failed: {e}"));
        assert_eq!(round.lost, 0, "{round:?}");
        sent += round.sent;
    }
    let messages = channel.messages();
    let mut ids: Vec<Uuid> = messages.iter().map(|m| m.0).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((sent, messages.len(), ids.len()), (count, count, count));
    let rows = reminders_of(&app, &ticket);
    assert_eq!(rows.iter().filter(|r| r.state == "sent").count(), count);
    let on_timeline = timeline_kinds(&app, &ticket)
        .into_iter()
        .filter(|(k, _)| k == "reminder_sent")
        .count();
    assert_eq!(on_timeline, count);
}

/// A sender whose claim lapsed (it stalled past its lease) records nothing: the one that took the reminder over
/// does, once.
#[test]
fn a_lapsed_claim_is_taken_over_and_its_first_holder_records_nothing() {
    let app = spawn_app();
    let shop = shop(&app, "LC", "Asia/Shanghai");
    let ticket = open(&app, &shop, PHONE, true);
    make_ready(&app, &ticket);
    plan(&app);
    let now = shanghai_morning(1);
    let (first, second) = (Id(Uuid::now_v7()), Id(Uuid::now_v7()));
    let claimed = app
        .db
        .write(|conn| reminders::repo::claim(conn, Ts(now), Ts(now + Duration::minutes(5)), first, 10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claimed.len(), 1);
    let again = app
        .db
        .write(|conn| {
            reminders::repo::claim(
                conn,
                Ts(now + Duration::minutes(1)),
                Ts(now + Duration::minutes(6)),
                second,
                10,
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.is_empty(), "held while the lease runs");
    let later = now + Duration::minutes(6);
    let taken = app
        .db
        .write(|conn| reminders::repo::claim(conn, Ts(later), Ts(later + Duration::minutes(5)), second, 10))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.len(), 1, "taken over after the lease");
    let id = taken[0].id;
    let first_holds = app
        .db
        .write(|conn| reminders::repo::lock_claimed(conn, id, first))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(first_holds.is_none(), "the first holder lost it");
    let channel = Recording::default();
    // The second holder's claim is still running: a round now claims nothing.
    assert_eq!(send(&app, &channel, later).sent, 0);
    assert_eq!(
        send(&app, &channel, later + Duration::minutes(6)).sent,
        1,
        "sent once after the lease"
    );
}

#[test]
fn the_sender_loop_counts_what_it_sends_in_metrics() {
    let app = spawn_app_with(|s| {
        s.reminders.interval = std::time::Duration::from_millis(100);
        // Whatever the hour of the run.
        s.reminders.quiet_end = s.reminders.quiet_start;
    });
    let shop = shop(&app, "MT", "Asia/Shanghai");
    let ticket = open(&app, &shop, PHONE, true);
    make_ready(&app, &ticket);
    sequence_all(&app);
    let sender = reminders::spawn_sender(app.state.clone()).unwrap_or_else(|| panic!("no sender started"));
    let mut seen = String::new();
    for _ in 0..300 {
        let metrics = app.get("/metrics", None);
        seen = metrics.text;
        if seen.contains("depot_reminders_sent_total 1") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    app.state.shutdown.begin();
    sender.join().unwrap_or_else(|_| panic!("the sender panicked"));
    assert!(seen.contains("depot_reminders_sent_total 1"), "{seen}");
    assert!(seen.contains("depot_reminders_failed_total 0"), "{seen}");
    assert_eq!(reminders_of(&app, &ticket)[0].channel.as_deref(), Some("log"));
}

fn emit_on_loan(app: &TestApp, loan: Uuid, event_type: EventType) {
    let present = placed_events(app)
        .iter()
        .any(|e| e.subject_id.0 == loan && e.event_type == event_type.as_str());
    if present {
        return;
    }
    app.db
        .write(|conn| {
            events::emit_in(
                conn,
                NewEvent {
                    event_type,
                    subject: Subject {
                        kind: SubjectType::Loan,
                        id: loan,
                        store_id: None,
                        partner_id: None,
                    },
                    payload: json!({}),
                    internal: None,
                },
            )
        })
        .unwrap_or_else(|e| panic!("emitting {}: {e}", event_type.as_str()));
}

#[test]
fn a_loaner_is_announced_the_day_before_it_is_due_and_overdue_until_returned() {
    let app = spawn_app();
    let p = crate::tickets::premium(&app, "LD", 1);
    let mut body = crate::tickets::ticket_body(&p, "walk_in");
    body["customer"]["contact_consent"] = json!(true);
    let opened = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(opened.status, 201, "{}", opened.text);
    let ticket = opened.body.clone();
    let loan: Uuid = ticket["loan"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let issued = app.post_admin(&format!("/api/v1/loans/{loan}/issue"), &json!({}));
    assert_eq!(issued.status, 200, "{}", issued.text);
    let due: DateTime<Utc> = issued.body["due_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{}", issued.text));
    emit_on_loan(&app, loan, EventType::LoanIssued);
    withdraw_opened(&app, &ticket);
    let rows = reminders_of(&app, &ticket);
    assert_eq!(states(&rows, "loaner_due"), [(1, "pending".to_owned())], "{rows:?}");
    let day_before = rows.iter().find(|r| r.kind == "loaner_due").map(|r| r.due_at);
    assert_eq!(day_before, Some(Ts(due - Duration::days(1))));

    let always = ReminderSettings {
        quiet_end: ReminderSettings::default().quiet_start,
        ..ReminderSettings::default()
    };
    let channel = Recording::default();
    let send_at = |now| reminders::send_due(&app.db, &channel, &always, now).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        send_at(due - Duration::days(1) - Duration::minutes(1)).sent,
        0,
        "not before the day before"
    );
    assert_eq!(send_at(due - Duration::days(1)).sent, 1);
    let text = channel.messages()[0].2.clone();
    assert!(
        text.contains("备用机") && text.contains(ticket["number"].as_str().unwrap_or("?")),
        "{text}"
    );

    // Overdue: one message; a redelivered event plans no second one.
    emit_on_loan(&app, loan, EventType::LoanOverdue);
    plan(&app);
    app.db
        .write(|conn| events::repo::advance_consumer(conn, "reminders", 0, Ts(Utc::now())))
        .unwrap_or_else(|e| panic!("{e}"));
    plan(&app);
    assert_eq!(
        states(&reminders_of(&app, &ticket), "loaner_overdue"),
        [(1, "pending".to_owned())]
    );

    // Returned before the overdue message went out: it is cancelled, not sent.
    let returned = app.post_admin(&format!("/api/v1/loans/{loan}/return"), &json!({"condition": "good"}));
    assert_eq!(returned.status, 200, "{}", returned.text);
    emit_on_loan(&app, loan, EventType::LoanReturned);
    plan(&app);
    assert_eq!(send_at(due + Duration::days(2)).sent, 0);
    assert_eq!(
        states(&reminders_of(&app, &ticket), "loaner_overdue"),
        [(1, "cancelled".to_owned())]
    );
}

#[test]
fn news_read_from_the_feed_days_late_is_not_announced() {
    use depot::db::schema::events as ev;
    use diesel::prelude::*;
    let app = spawn_app();
    let shop = shop(&app, "ST", "Asia/Shanghai");
    let ticket = open_announced(&app, &shop, PHONE, true);
    ensure_event(
        &app,
        &ticket,
        EventType::TicketOpened,
        json!({"status": "received"}),
        Some(json!({"tracking_token": ticket["tracking_token"]})),
    );
    let subject = Id(id_of(&ticket));
    let two_days_ago = Ts(depot::to_micros(Utc::now() - Duration::days(2)));
    app.db
        .write(|conn| {
            depot::with_conn!(conn, c => diesel::update(ev::table.filter(ev::subject_id.eq(subject)))
                .set(ev::occurred_at.eq(two_days_ago))
                .execute(c))?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    plan(&app);
    assert!(
        reminders_of(&app, &ticket).is_empty(),
        "a two-day-old opening was announced"
    );
}

/// A ticket with `count` quote messages planned (each quote plans its own).
fn ticket_with_quotes(app: &TestApp, code: &str, count: usize) -> Value {
    let shop = shop(app, code, "Asia/Shanghai");
    let ticket = open(app, &shop, PHONE, true);
    let store = ticket["store_id"].as_str().and_then(|s| s.parse().ok());
    let subject = id_of(&ticket);
    app.db
        .write(|conn| {
            for n in 0..count {
                events::emit_in(
                    conn,
                    NewEvent {
                        event_type: EventType::QuoteIssued,
                        subject: Subject {
                            kind: SubjectType::Ticket,
                            id: subject,
                            store_id: store,
                            partner_id: None,
                        },
                        payload: json!({ "n": n }),
                        internal: None,
                    },
                )?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    plan(app);
    ticket
}

/// Stalls on its first message past the sender's lease: another sender takes over everything it had claimed.
struct Stalling {
    db: depot::db::Db,
    taken_over_at: DateTime<Utc>,
    seen: Recording,
}

impl Channel for Stalling {
    fn name(&self) -> &'static str {
        "stalling"
    }

    fn send(&self, sms: &Sms<'_>) -> Result<(), String> {
        if self.seen.messages().is_empty() {
            let at = self.taken_over_at;
            let taken = self
                .db
                .write(|conn| {
                    reminders::repo::claim(conn, Ts(at), Ts(at + Duration::minutes(5)), Id(Uuid::now_v7()), 100)
                })
                .map_err(|e| e.to_string())?;
            assert!(!taken.is_empty(), "nothing to take over");
        }
        self.seen.send(sms)
    }
}

/// A sender renews each claim just before its message: one whose lease ran out while it sent earlier messages
/// (another sender took them over) does not send them as well.
#[test]
fn a_sender_whose_claims_were_taken_over_mid_round_sends_no_more() {
    let app = spawn_app();
    let count = 3;
    let ticket = ticket_with_quotes(&app, "TO", count);
    let now = shanghai_morning(1);
    let channel = Stalling {
        db: app.db.clone(),
        taken_over_at: now + Duration::minutes(6),
        seen: Recording::default(),
    };
    // The quotes' (and the opened ticket's, unless withdrawn).
    let due = reminders_of(&app, &ticket).len();
    assert!(due >= count, "{due}");
    let round = send(&app, &channel, now);
    assert_eq!(channel.seen.messages().len(), 1, "only the message in flight went out");
    assert_eq!((round.sent, round.lost), (0, due), "{round:?}");
    let rows = reminders_of(&app, &ticket);
    assert!(rows.iter().all(|r| r.state == "pending"), "left to the new holder");
}

/// A sender that stops (shutdown) between messages gives back what it claimed and did not send: another round
/// sends it at once, not after the lease.
#[test]
fn a_stopping_sender_gives_back_its_unsent_claims() {
    let app = spawn_app();
    let count = 4;
    let ticket = ticket_with_quotes(&app, "SD", count);
    let now = shanghai_morning(1);
    // The quotes' (and the opened ticket's, unless withdrawn).
    let due = reminders_of(&app, &ticket).len();
    assert!(due >= count, "{due}");
    let channel = Recording::default();
    let stop = || !channel.messages().is_empty();
    let round = reminders::send_due_until(&app.db, &channel, &ReminderSettings::default(), now, &stop)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((round.sent, round.released), (1, due - 1), "{round:?}");
    let rows = reminders_of(&app, &ticket);
    let pending: Vec<_> = rows.iter().filter(|r| r.state == "pending").collect();
    assert_eq!(pending.len(), due - 1);
    assert!(
        pending
            .iter()
            .all(|r| r.claim_token.is_none() && r.claimed_until.is_none())
    );
    assert_eq!(
        send(&app, &channel, now).sent,
        due - 1,
        "sent at once by the next round"
    );
    assert_eq!(channel.messages().len(), due);
}

/// A reminder being sent is not cancelled under its sender (the record of a message the customer got would be
/// lost); its sender decides it afresh, and the one nobody holds is cancelled.
#[test]
fn cancelling_leaves_a_claimed_reminder_to_its_sender() {
    let app = spawn_app();
    let shop = shop(&app, "CC", "Asia/Shanghai");
    let ticket = open(&app, &shop, PHONE, true);
    make_ready(&app, &ticket);
    plan(&app);
    let now = Utc::now() + Duration::seconds(1);
    let token = Id(Uuid::now_v7());
    let claimed = app
        .db
        .write(|conn| reminders::repo::claim(conn, Ts(now), Ts(now + Duration::minutes(5)), token, 10))
        .unwrap_or_else(|e| panic!("{e}"));
    let ready: Vec<_> = claimed.iter().filter(|r| r.kind == "ready_for_pickup").collect();
    assert_eq!(ready.len(), 1, "{claimed:?}");
    step(&app, &ticket, "close");
    ensure_event(
        &app,
        &ticket,
        EventType::TicketStatusChanged,
        json!({"from": "ready_for_pickup", "to": "closed"}),
        None,
    );
    plan(&app);
    let id = ready[0].id;
    let held = app
        .db
        .write(|conn| reminders::repo::lock_claimed(conn, id, token))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(held.is_some(), "still pending under its claim");
    // Once given back, the next round sees the ticket closed and cancels it without sending.
    app.db
        .write(|conn| reminders::repo::unclaim(conn, &[id], token))
        .unwrap_or_else(|e| panic!("{e}"));
    let channel = Recording::default();
    let round = send(&app, &channel, now + Duration::minutes(1));
    assert_eq!(round.sent, 0, "{round:?}");
    let row = reminders_of(&app, &ticket).into_iter().find(|r| r.id == id);
    assert_eq!(row.map(|r| r.state), Some("cancelled".to_owned()));
}

/// A courier partner's event on a ticket's pickup, as the partner sends it.
fn courier_event(app: &TestApp, key: &str, pickup: &str, id: &str, kind: &str, minutes_ago: i64) {
    let res = app.post(
        &format!("/api/v1/courier/pickups/{pickup}/events"),
        key,
        &json!({"event_id": id, "type": kind, "happened_at": Utc::now() - Duration::minutes(minutes_ago),
                "location": "Shenzhen hub"}),
    );
    assert_eq!(res.status, 200, "{kind}: {}", res.text);
}

/// The phone on its way back: the outbound leg in transit is announced to the customer once, on the ticket's
/// timeline; the inbound leg's transit is not (the phone travels to the store then).
#[test]
fn the_courier_on_the_way_is_announced_for_the_outbound_leg_only() {
    let app = spawn_app();
    let shop = shop(&app, "CW", "Asia/Shanghai");
    let courier = crate::courier::partner(&app, "CWX");
    let opened = app.post_admin(
        "/api/v1/tickets",
        &json!({
            "store_id": shop.store,
            "customer": {"name": "Wang Fang", "phone": PHONE, "contact_consent": true},
            "device_imei": crate::tickets::imei(),
            "model_id": shop.model,
            "purchase_date": (Utc::now() - Duration::days(100)).date_naive(),
            "channel": "mail_in",
            "reported_fault": "screen flickers",
            "pickup": {"address": "88 Shennan Road, Futian, Shenzhen", "partner_id": courier.partner},
        }),
    );
    assert_eq!(opened.status, 201, "{}", opened.text);
    let ticket = opened.body.clone();
    withdraw_opened(&app, &ticket);
    let inbound = ticket["pickups"][0]["id"].as_str().unwrap_or_default().to_owned();
    let accept = |pickup: &str, tracking: &str| {
        let res = app.post(
            &format!("/api/v1/courier/pickups/{pickup}/accept"),
            &courier.key,
            &json!({ "tracking_number": tracking }),
        );
        assert_eq!(res.status, 200, "{}", res.text);
    };
    accept(&inbound, "CW0001");
    courier_event(&app, &courier.key, &inbound, "in-1", "picked_up", 30);
    courier_event(&app, &courier.key, &inbound, "in-2", "in_transit", 20);
    courier_event(&app, &courier.key, &inbound, "in-3", "delivered", 10);
    plan(&app);
    assert!(
        states(&reminders_of(&app, &ticket), "courier_on_the_way").is_empty(),
        "the inbound leg announces nothing"
    );
    make_ready(&app, &ticket);
    let ready = app.get_admin(&format!("/api/v1/tickets/{}", id_of(&ticket)));
    let outbound = ready.body["pickups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["direction"] == "outbound")
        .and_then(|p| p["id"].as_str())
        .unwrap_or_else(|| panic!("no outbound leg: {}", ready.text))
        .to_owned();
    accept(&outbound, "CW0002");
    courier_event(&app, &courier.key, &outbound, "out-1", "picked_up", 5);
    courier_event(&app, &courier.key, &outbound, "out-2", "in_transit", 1);
    plan(&app);
    plan(&app);
    let rows = reminders_of(&app, &ticket);
    assert_eq!(
        states(&rows, "courier_on_the_way"),
        [(1, "pending".to_owned())],
        "{rows:?}"
    );
    let channel = Recording::default();
    send(&app, &channel, shanghai_morning(1));
    let on_the_way: Vec<_> = channel
        .messages()
        .into_iter()
        .filter(|(_, _, text)| text.contains("快递"))
        .collect();
    assert_eq!(on_the_way.len(), 1, "{:?}", channel.messages());
    assert_eq!(on_the_way[0].1, PHONE);
    assert!(on_the_way[0].2.contains(ticket["number"].as_str().unwrap_or("?")));
    let rows = reminders_of(&app, &ticket);
    assert_eq!(states(&rows, "courier_on_the_way"), [(1, "sent".to_owned())]);
    assert!(
        timeline_kinds(&app, &ticket)
            .iter()
            .any(|(k, note)| k == "reminder_sent" && note.starts_with("courier_on_the_way")),
        "on the ticket's timeline"
    );
    send(&app, &channel, shanghai_morning(2));
    let again = channel.messages().iter().filter(|(_, _, t)| t.contains("快递")).count();
    assert_eq!(again, 1, "announced once");
}

/// A quote answered while its reminder is claimed by a sender: the sender decides again under its claim, just
/// before sending, and the customer gets no message about a quote already answered.
#[test]
fn a_quote_answered_while_its_reminder_is_claimed_is_not_messaged() {
    let app = spawn_app();
    let ticket = ticket_with_quotes(&app, "QA", 1);
    let rows = reminders_of(&app, &ticket);
    assert_eq!(states(&rows, "quote_waiting"), [(1, "pending".to_owned())], "{rows:?}");
    let channel = Recording::default();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    // Asked before the claim, then before each message: the quote is approved once the reminder is claimed.
    let stop = || {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            ensure_event(&app, &ticket, EventType::QuoteApproved, json!({}), None);
        }
        false
    };
    let round = reminders::send_due_until(
        &app.db,
        &channel,
        &ReminderSettings::default(),
        shanghai_morning(1),
        &stop,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the hook ran under the claim"
    );
    assert_eq!((round.sent, round.cancelled), (0, 1), "{round:?}");
    assert!(channel.messages().is_empty(), "{:?}", channel.messages());
    let rows = reminders_of(&app, &ticket);
    let quote: Vec<_> = rows.iter().filter(|r| r.kind == "quote_waiting").collect();
    assert_eq!(quote[0].state, "cancelled");
    assert_eq!(quote[0].reason.as_deref(), Some("quote_answered"));
}
