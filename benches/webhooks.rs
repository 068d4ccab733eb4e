//! Webhook dispatcher benchmark (issue 14): the release server as a child process delivers signed webhooks to a
//! receiver run here (a plain HTTP/1.1 listener, a thread per connection, answering 204 once it has read a
//! request). It prints figures and never asserts on them (see `harness`).
//!
//! 1. **Steady rates**: events are written through the library's own outbox call (`events::emit_in`) in
//!    transactions on a pool of this process, at a fixed rate for a while; the server places them in the feed, fans
//!    them out into messages and delivers them. For each rate: messages delivered per second, and the delivery
//!    delay, from the event's `occurred_at` (stamped in the writing transaction, just before its commit) to the
//!    moment the receiver has read the request.
//! 2. **Backlog drain**: with the server stopped, N events are written, placed and fanned out (by the library's
//!    `events::sequence` and `webhooks::fan_out_all`, what the server runs), so N messages wait; then the server
//!    starts and the benchmark times the drain, sampling the server's RSS every second.
//!
//! `cargo bench --bench webhooks -- [--database-url URL] [--rates 500,1000,2000] [--seconds 10] [--backlog 100000]
//! [--endpoints 1] [--skip-steady] [--skip-drain]` (see `benches/README.md`)

mod harness;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use depot::auth::Role;
use depot::db::{Db, Engine};
use depot::events::{EventType, NewEvent, Subject, SubjectType};
use harness::{Api, CpuClock, Scratch, Server, app_error, mib};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "webhooks",
    about = "Deliver webhooks to a local receiver: steady rates (throughput, delay) and a backlog's drain (RSS)"
)]
struct Args {
    /// `postgres://USER@HOST:PORT/DB` of a server on which to create (and finally drop) a fresh database; a fresh
    /// SQLite file in a temporary folder when absent.
    #[arg(long, env = "DEPOT_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Event rates to offer, one after the other, in events per second (each event is one message per endpoint).
    #[arg(long, value_delimiter = ',', default_value = "500,1000,1500,2000")]
    rates: Vec<f64>,
    /// Seconds each rate is offered.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Messages waiting when the server starts for the drain.
    #[arg(long, default_value_t = 100_000)]
    backlog: u64,
    /// Endpoints registered, each for every event type (every event becomes one message per endpoint).
    #[arg(long, default_value_t = 1)]
    endpoints: usize,
    /// The server's database connections (8 is its default).
    #[arg(long, default_value_t = 8)]
    pool: u32,
    /// Verify the signature of one message in this many.
    #[arg(long, default_value_t = 50)]
    verify_every: u64,
    /// Longest wait for a drain (steady rate's tail, or the backlog), in seconds.
    #[arg(long, default_value_t = 900)]
    drain_timeout: u64,
    #[arg(long)]
    skip_steady: bool,
    #[arg(long)]
    skip_drain: bool,
    /// Passed by `cargo bench` to every bench binary; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Events written per producer transaction at most (the backlog's load).
const LOAD_BATCH: u64 = 1_000;
/// How often the steady producer commits what is due.
const TICK: Duration = Duration::from_millis(10);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.endpoints == 0 || args.seconds == 0 || args.pool == 0 || args.verify_every == 0 {
        bail!("--endpoints, --seconds, --pool and --verify-every must be at least 1");
    }
    if args.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        bail!("--rates must be positive numbers of events per second");
    }
    let scratch = Scratch::new(args.database_url.as_deref())?;
    let url = scratch.url.clone();
    let engine = Engine::of_url(&url);
    let receiver = Receiver::start(args.verify_every)?;
    println!(
        "depot webhook benchmark: {engine:?}, receiver on {}, {} endpoint(s), server pool {}, dispatcher settings \
         as the server's defaults",
        receiver.addr, args.endpoints, args.pool
    );
    let db = harness::raw_pool(&url, 4)?;
    let admin = harness::create_key(&db, Role::Admin, None)?;

    let mut server = start_server(&url, args.pool)?;
    println!(
        "server pid {} on {}: ready; {}",
        server.pid(),
        server.base,
        rss_line(&server)
    );
    let api = Api {
        server: &server,
        key: &admin.text,
    };
    let types: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    for n in 0..args.endpoints {
        let created = api.post(
            "/api/v1/webhook-endpoints",
            &serde_json::json!({
                "url": format!("http://{}/hooks/{n}", receiver.addr),
                "event_types": types,
                "description": format!("benchmark receiver {n}"),
            }),
        )?;
        let secret = created["secret"]
            .as_str()
            .context("the new endpoint's answer carries its secret")?;
        receiver
            .secrets
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(secret.to_owned());
    }
    let per_event = args.endpoints as u64;

    if !args.skip_steady {
        println!(
            "steady rates: events written by one producer thread committing every {} ms what is due, {} s per rate",
            TICK.as_millis(),
            args.seconds
        );
        let mut best: Option<f64> = None;
        for &rate in &args.rates {
            let result = steady(
                &db,
                &server,
                &receiver,
                rate,
                Duration::from_secs(args.seconds),
                per_event,
                &args,
            )?;
            if result.p99_ms < 1000.0 && result.complete {
                best = Some(best.map_or(rate, |b: f64| b.max(rate)));
            }
        }
        match best {
            Some(rate) => println!("highest offered rate with every message delivered and p99 < 1 s: {rate} events/s"),
            None => println!("no offered rate kept p99 under 1 s"),
        }
    }
    server.check_alive()?;
    println!("{}", rss_line(&server));

    if !args.skip_drain && args.backlog > 0 {
        drop(server);
        drain(&db, &url, &receiver, &args, per_event)?;
    } else {
        drop(server);
    }
    receiver.print_signatures();
    Ok(())
}

fn start_server(url: &str, pool: u32) -> anyhow::Result<Server> {
    let link = harness::Link {
        url: url.to_owned(),
        proxy: None,
    };
    // Every background worker runs as in production (the sequencer, the reminders, the dispatcher with its fan-out),
    // except the harness's usual `--sweep-interval-secs 0`; the receiver is on loopback, which must be allowed.
    Server::start_with(
        "http",
        Path::new(env!("CARGO_BIN_EXE_depot")),
        link,
        pool,
        0,
        &["--webhook-allow-cidr", "127.0.0.1/32"],
    )
}

fn rss_line(server: &Server) -> String {
    match server.memory() {
        Ok(m) => format!("server VmRSS {}  VmHWM {}", mib(m.rss_kib), mib(m.hwm_kib)),
        Err(e) => format!("server memory unknown: {e}"),
    }
}

/// Microseconds since the Unix epoch, now.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// One request the receiver read.
#[derive(Clone)]
struct Received {
    /// When its body was read whole (µs since the epoch).
    at_us: i64,
    /// The event's `occurred_at`, from the body's `timestamp` (µs since the epoch; 0 when unreadable).
    occurred_us: i64,
    message_id: String,
}

/// The local receiver: every request is recorded and answered 204; a sample of signatures is verified against the
/// endpoints' secrets.
struct Receiver {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    secrets: Arc<Mutex<Vec<String>>>,
    verified: Arc<AtomicU64>,
    bad_signatures: Arc<AtomicU64>,
    malformed: Arc<AtomicU64>,
}

impl Receiver {
    fn start(verify_every: u64) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the receiver")?;
        let receiver = Receiver {
            addr: listener.local_addr()?,
            log: Arc::new(Mutex::new(Vec::with_capacity(200_000))),
            secrets: Arc::new(Mutex::new(Vec::new())),
            verified: Arc::new(AtomicU64::new(0)),
            bad_signatures: Arc::new(AtomicU64::new(0)),
            malformed: Arc::new(AtomicU64::new(0)),
        };
        let shared = receiver.shared(verify_every);
        let seen = Arc::new(AtomicU64::new(0));
        std::thread::Builder::new().name("receiver".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, seen) = (shared.clone(), seen.clone());
                let _ = std::thread::Builder::new()
                    .name("receiver-conn".into())
                    .spawn(move || serve(stream, &shared, &seen));
            }
        })?;
        Ok(receiver)
    }

    fn shared(&self, verify_every: u64) -> Shared {
        Shared {
            log: self.log.clone(),
            secrets: self.secrets.clone(),
            verified: self.verified.clone(),
            bad_signatures: self.bad_signatures.clone(),
            malformed: self.malformed.clone(),
            verify_every,
        }
    }

    fn len(&self) -> usize {
        self.log.lock().map(|l| l.len()).unwrap_or(0)
    }

    fn since(&self, from: usize) -> Vec<Received> {
        self.log
            .lock()
            .map(|l| l[from.min(l.len())..].to_vec())
            .unwrap_or_default()
    }

    fn print_signatures(&self) {
        println!(
            "receiver: {} signatures verified, {} bad; {} malformed requests",
            self.verified.load(Ordering::Relaxed),
            self.bad_signatures.load(Ordering::Relaxed),
            self.malformed.load(Ordering::Relaxed)
        );
    }
}

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Received>>>,
    secrets: Arc<Mutex<Vec<String>>>,
    verified: Arc<AtomicU64>,
    bad_signatures: Arc<AtomicU64>,
    malformed: Arc<AtomicU64>,
    verify_every: u64,
}

/// Reads requests from one keep-alive connection until it closes, answering each with 204.
fn serve(stream: TcpStream, shared: &Shared, seen: &AtomicU64) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.trim().is_empty() {
            continue;
        }
        let (mut length, mut id, mut timestamp, mut signature) = (0usize, String::new(), String::new(), String::new());
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "webhook-id" => id = value.to_owned(),
                    "webhook-timestamp" => timestamp = value.to_owned(),
                    "webhook-signature" => signature = value.to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let at_us = now_us();
        let occurred_us = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["timestamp"].as_str().map(str::to_owned))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.timestamp_micros())
            .unwrap_or(0);
        if id.is_empty() || occurred_us == 0 {
            shared.malformed.fetch_add(1, Ordering::Relaxed);
        }
        if seen.fetch_add(1, Ordering::Relaxed) % shared.verify_every == 0 {
            let secrets = shared.secrets.lock().map(|s| s.clone()).unwrap_or_default();
            if verify(&secrets, &id, &timestamp, &body, &signature) {
                shared.verified.fetch_add(1, Ordering::Relaxed);
            } else {
                shared.bad_signatures.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Ok(mut log) = shared.log.lock() {
            log.push(Received {
                at_us,
                occurred_us,
                message_id: id,
            });
        }
        if writer
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}

/// The Standard Webhooks check, written here from the specification rather than taken from the server: some
/// `v1,` signature is the base64 HMAC-SHA256, keyed with a secret's base64 after `whsec_`, of `id.timestamp.body`.
fn verify(secrets: &[String], id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    secrets.iter().any(|secret| {
        let Ok(key) = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        header.split(' ').any(|s| s == expected)
    })
}

/// Writes `count` events in one transaction through the outbox call, as a change would.
fn write_events(db: &Db, count: u64, first: u64) -> anyhow::Result<()> {
    db.write(|conn| {
        for n in first..first + count {
            depot::events::emit_in(
                conn,
                NewEvent {
                    event_type: EventType::StockLow,
                    subject: Subject {
                        kind: SubjectType::StockLevel,
                        id: Uuid::now_v7(),
                        store_id: None,
                        partner_id: None,
                    },
                    payload: serde_json::json!({
                        "part_sku": format!("BENCH-PART-{:05}", n % 10_000),
                        "on_hand": n % 7,
                        "reorder_point": 8,
                        "sequence": n,
                    }),
                    internal: None,
                },
            )?;
        }
        Ok(())
    })
    .map_err(app_error)
}

struct SteadyResult {
    p99_ms: f64,
    complete: bool,
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at] as f64 / 1000.0
}

/// Offers `rate` events per second for `length`, then waits for their messages; prints what was delivered.
fn steady(
    db: &Db,
    server: &Server,
    receiver: &Receiver,
    rate: f64,
    length: Duration,
    per_event: u64,
    args: &Args,
) -> anyhow::Result<SteadyResult> {
    let from = receiver.len();
    let cpu = CpuClock::start(&[server.pid()]);
    let started = Instant::now();
    let mut written = 0u64;
    let mut commit_us: Vec<i64> = Vec::new();
    while started.elapsed() < length {
        let due = (rate * started.elapsed().as_secs_f64()) as u64;
        if due > written {
            let t = Instant::now();
            write_events(db, due - written, written)?;
            commit_us.push(t.elapsed().as_micros() as i64);
            written = due;
        }
        std::thread::sleep(TICK);
    }
    let produced_for = started.elapsed();
    let in_window = receiver.len() - from;
    let cpu = cpu.finish();
    let expected = written * per_event;
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout.min(120));
    while ((receiver.len() - from) as u64) < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let tail = started.elapsed().saturating_sub(produced_for);
    let received = receiver.since(from);
    let distinct: HashSet<&str> = received.iter().map(|r| r.message_id.as_str()).collect();
    let mut delays: Vec<i64> = received
        .iter()
        .filter(|r| r.occurred_us > 0)
        .map(|r| r.at_us - r.occurred_us)
        .collect();
    delays.sort_unstable();
    let first = received.iter().map(|r| r.at_us).min().unwrap_or(0);
    let last = received.iter().map(|r| r.at_us).max().unwrap_or(0);
    let span = (last - first) as f64 / 1e6;
    commit_us.sort_unstable();
    let p99 = percentile(&delays, 0.99);
    let complete = distinct.len() as u64 >= expected;
    println!(
        "rate {rate:.0} events/s offered: {written} events written in {:.1} s ({:.0}/s; producer commit p50 {:.1} ms, \
         p99 {:.1} ms); {} messages received ({} distinct of {expected}), {:.0} msg/s during the window, {:.0} msg/s \
         first to last; delay p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; tail after the producer stopped {:.2} s{}",
        produced_for.as_secs_f64(),
        written as f64 / produced_for.as_secs_f64(),
        percentile(&commit_us, 0.5),
        percentile(&commit_us, 0.99),
        received.len(),
        distinct.len(),
        in_window as f64 / produced_for.as_secs_f64(),
        if span > 0.0 { received.len() as f64 / span } else { 0.0 },
        percentile(&delays, 0.5),
        p99,
        delays.last().map_or(f64::NAN, |d| *d as f64 / 1000.0),
        tail.as_secs_f64(),
        if complete {
            ""
        } else {
            " (NOT all delivered before the timeout)"
        }
    );
    if let Some(cpu) = cpu {
        println!("  {}", cpu.describe());
    }
    Ok(SteadyResult { p99_ms: p99, complete })
}

/// The backlog: with no server running, N messages are made ready (events written, placed, fanned out); then the
/// server starts and delivers them while its RSS is sampled every second.
fn drain(db: &Db, url: &str, receiver: &Receiver, args: &Args, per_event: u64) -> anyhow::Result<()> {
    let events = args.backlog.div_ceil(per_event);
    let t = Instant::now();
    let mut written = 0;
    while written < events {
        let n = LOAD_BATCH.min(events - written);
        write_events(db, n, 1_000_000_000 + written)?;
        written += n;
    }
    let write_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let placed = depot::events::sequence(db).map_err(app_error)?;
    let place_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let fanned = depot::webhooks::fan_out_all(db).map_err(app_error)?;
    let fan_s = t.elapsed().as_secs_f64();
    let pending = db.read(depot::webhooks::repo::pending_count).map_err(app_error)?;
    println!(
        "backlog (server stopped): {written} events written in {write_s:.1} s, {placed} placed in {place_s:.1} s, \
         {fanned} fanned out in {fan_s:.1} s: {pending} messages pending"
    );
    let from = receiver.len();
    let started = Instant::now();
    let started_us = now_us();
    let server = start_server(url, args.pool)?;
    let ready_s = started.elapsed().as_secs_f64();
    let cpu = CpuClock::start(&[server.pid()]);
    let mut samples: Vec<(f64, u64, usize)> = Vec::new();
    let deadline = started + Duration::from_secs(args.drain_timeout);
    let target = pending.max(0) as usize;
    let mut last_print = Instant::now();
    loop {
        let rss = server.memory().map(|m| m.rss_kib).unwrap_or(0);
        let got = receiver.len() - from;
        samples.push((started.elapsed().as_secs_f64(), rss, got));
        if last_print.elapsed() >= Duration::from_secs(10) {
            last_print = Instant::now();
            println!(
                "  {:>5.0} s: {got} received, RSS {}",
                started.elapsed().as_secs_f64(),
                mib(rss)
            );
        }
        if got >= target || Instant::now() >= deadline {
            break;
        }
        let next = Duration::from_secs(samples.len() as u64);
        std::thread::sleep(next.saturating_sub(started.elapsed()));
    }
    // The exact end: the last message's receive time.
    let received = receiver.since(from);
    let drained_s = received
        .iter()
        .map(|r| r.at_us)
        .max()
        .map_or(0.0, |last| (last - started_us) as f64 / 1e6);
    let first_s = received
        .iter()
        .map(|r| r.at_us)
        .min()
        .map_or(0.0, |first| (first - started_us) as f64 / 1e6);
    let cpu = cpu.finish();
    let end = server.memory().map_err(|e| anyhow::anyhow!("{e}"))?;
    let distinct: HashSet<&str> = received.iter().map(|r| r.message_id.as_str()).collect();
    let left = db.read(depot::webhooks::repo::pending_count).map_err(app_error)?;
    let rss: Vec<u64> = samples.iter().map(|s| s.1).filter(|r| *r > 0).collect();
    let (start_rss, peak_rss) = (
        rss.first().copied().unwrap_or(0),
        rss.iter().copied().max().unwrap_or(0),
    );
    println!(
        "drain: {} messages received ({} distinct) of {target}; server ready after {ready_s:.1} s, first message at \
         {first_s:.1} s, last at {drained_s:.1} s: {:.0} msg/s from start, {:.0} msg/s first to last; {left} pending \
         after",
        received.len(),
        distinct.len(),
        received.len() as f64 / drained_s.max(1e-9),
        received.len() as f64 / (drained_s - first_s).max(1e-9),
    );
    println!(
        "drain RSS: start {} (first sample after ready), peak {}, end {} (VmHWM {}); {} samples",
        mib(start_rss),
        mib(peak_rss),
        mib(end.rss_kib),
        mib(end.hwm_kib),
        rss.len()
    );
    let marks: Vec<String> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 == 0)
        .map(|(_, (t, r, got))| format!("{t:.0}s {got} {:.1}", *r as f64 / 1024.0))
        .collect();
    println!("  every 10 s (time, received, RSS MiB): {}", marks.join(" | "));
    if let Some(cpu) = cpu {
        println!("  {}", cpu.describe());
    }
    drop(server);
    Ok(())
}
