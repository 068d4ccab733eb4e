//! Ticket-opening benchmark: premium repair tickets opened over HTTP against the real server (a child process) and
//! through the same database transaction called directly, in one invocation, interleaved round by round.
//!
//! It prints figures and never asserts on them: timings on a shared machine are for scale and for the ratio
//! between the two sides, which is why both run in the same invocation (separate runs here differed by up to half).
//!
//! `cargo bench --bench tickets -- [--database-url URL] [--concurrency 32] [--seconds 5] [--rounds 3]
//! [--preload 0] [--stores 64] [--loaners-per-store 20] [--server-workers 0]`

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use depot::auth::keys::{self, NewApiKey};
use depot::auth::{Principal, Role};
use depot::catalog::{models, series, stores};
use depot::db::schema::{loans, tickets};
use depot::db::{Db, Engine, PoolOptions};
use depot::error::AppError;
use depot::imei::Imei;
use depot::tickets::http::OpenTicket;
use diesel::{Connection, ExpressionMethods, QueryDsl, RunQueryDsl};
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "tickets",
    about = "Open premium repair tickets over HTTP and directly; print throughput and latency"
)]
struct Args {
    /// `postgres://USER@HOST:PORT/DB` of a server on which to create (and finally drop) a fresh database
    /// `depot_bench_<random>`; a fresh SQLite file in a temporary folder when absent.
    #[arg(long, env = "DEPOT_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Client threads on each side (and the raw side's pool size; the server's pool gets 4 more).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Length of each side's run within a round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds, each a raw run then an HTTP run.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Tickets opened through the raw path before the rounds, to measure with a full database.
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Service centers; each ticket goes to one at random.
    #[arg(long, default_value_t = 64)]
    stores: usize,
    /// Loaners of the premium series at each store; once they are reserved, tickets join the waitlist.
    #[arg(long, default_value_t = 20)]
    loaners_per_store: usize,
    /// HTTP worker threads of the server (0: the server's default, one per core).
    #[arg(long, default_value_t = 0)]
    server_workers: usize,
    /// Passed by `cargo bench` to every bench binary; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Upper bound on calls per client thread in one run, so that a run ends even if the clock misbehaves.
const MAX_CALLS_PER_THREAD: u64 = 5_000_000;
/// The preload stops here even if it has not reached its count.
const PRELOAD_TIME_LIMIT: Duration = Duration::from_secs(30 * 60);
/// How long the server may take to answer `/health/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Loan hold of a walk-in reservation, as the server's default.
const HOLD: Duration = Duration::from_secs(48 * 3600);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.stores == 0 || args.seconds == 0 {
        bail!("--concurrency, --stores and --seconds must be at least 1");
    }
    // Guards drop in reverse order: the server is killed before its database is removed.
    let scratch = Scratch::new(args.database_url.as_deref())?;
    let url = scratch.url.clone();
    let engine = Engine::of_url(&url);
    println!(
        "depot ticket benchmark: {engine:?}, {} clients, {} round(s) of {} s per side, {} stores x {} loaners",
        args.concurrency, args.rounds, args.seconds, args.stores, args.loaners_per_store
    );

    let pool_size = u32::try_from(args.concurrency).context("--concurrency is too large")?;
    let db = Db::connect(
        &url,
        &PoolOptions {
            max_connections: pool_size,
            connect_timeout: Duration::from_secs(30),
        },
    )?;
    db.migrate()?;
    let fixture = Fixture::create(&db, args.stores)?;

    let mut server = Server::start(&url, args.concurrency + 4, args.server_workers)?;
    import_loaners(&server, &fixture, args.loaners_per_store)?;
    let memory = server.memory()?;
    println!(
        "server pid {} on {}: ready; VmRSS {}  VmHWM {}",
        server.pid(),
        server.base,
        mib(memory.rss_kib),
        mib(memory.hwm_kib)
    );

    if args.preload > 0 {
        preload(&db, &fixture, args.concurrency, args.preload)?;
        let counts = Counts::read(&db)?;
        let memory = server.memory()?;
        println!(
            "after preload: {}; server VmRSS {}  VmHWM {}",
            counts.describe(),
            mib(memory.rss_kib),
            mib(memory.hwm_kib)
        );
    }

    let run = Duration::from_secs(args.seconds);
    let mut raw_all = Stats::default();
    let mut http_all = Stats::default();
    let mut raw_rates = Vec::new();
    let mut http_rates = Vec::new();
    let mut printed_error = (false, false);
    let mut last_memory = memory;
    for round in 1..=args.rounds {
        println!("round {round}/{}", args.rounds);
        let cpu = CpuClock::start(server.pid());
        let mut raw = raw_run(&db, &fixture, args.concurrency, run);
        raw.print("raw", args.concurrency, cpu.finish().as_ref());
        raw.print_first_error(&mut printed_error.0);

        let cpu = CpuClock::start(server.pid());
        let mut http = http_run(&server, &fixture, args.concurrency, run);
        http.print("http", args.concurrency, cpu.finish().as_ref());
        http.print_first_error(&mut printed_error.1);

        server.check_alive()?;
        last_memory = server.memory()?;
        let counts = Counts::read(&db)?;
        println!(
            "  server VmRSS {}  VmHWM {}; {}",
            mib(last_memory.rss_kib),
            mib(last_memory.hwm_kib),
            counts.describe()
        );
        raw_rates.push(raw.rate());
        http_rates.push(http.rate());
        raw_all.merge(raw);
        http_all.merge(http);
    }

    if args.rounds > 0 {
        let raw_rate = median(&mut raw_rates);
        let http_rate = median(&mut http_rates);
        println!(
            "summary ({} rounds; median throughput, p50/p99 over all samples; {engine:?})",
            args.rounds
        );
        raw_all.print_summary("raw", args.concurrency, raw_rate);
        http_all.print_summary("http", args.concurrency, http_rate);
        let ratio = if raw_rate > 0.0 { http_rate / raw_rate } else { f64::NAN };
        println!("ratio http/raw throughput: {ratio:.2}");
        println!(
            "server memory after the last round: VmRSS {}  VmHWM {}",
            mib(last_memory.rss_kib),
            mib(last_memory.hwm_kib)
        );
    }
    drop(server);
    drop(db);
    Ok(())
}

/// What the benchmark opens tickets against: one admin key, stores, one premium series and model.
struct Fixture {
    admin_key: String,
    principal: Principal,
    store_ids: Vec<Uuid>,
    store_codes: Vec<String>,
    model_id: Uuid,
    model_code: String,
}

impl Fixture {
    /// Built through the library's own parse-and-insert functions, so the rows are what the API would write.
    fn create(db: &Db, store_count: usize) -> anyhow::Result<Fixture> {
        let created = db
            .write(|conn| {
                let admin = NewApiKey {
                    role: Role::Admin,
                    label: "benchmark admin".into(),
                    store_ids: vec![],
                    partner_id: None,
                };
                keys::create_key(conn, &admin, None)
            })
            .map_err(app_error)?;
        let key_id = created.api_key.id;
        let admin_key = created.key.context("a new key comes with its text")?;
        let actor = Some(key_id);
        let (store_ids, store_codes) = db
            .write(|conn| {
                let mut ids = Vec::with_capacity(store_count);
                let mut codes = Vec::with_capacity(store_count);
                for i in 0..store_count {
                    let row = stores::CreateStore {
                        code: format!("BENCH-{i:04}"),
                        name: format!("Benchmark service center {i}"),
                        city: "Shenzhen".into(),
                        kind: stores::StoreKind::ServiceCenter,
                        time_zone: None,
                    }
                    .parse()?;
                    let store = stores::insert(conn, &row, actor)?;
                    ids.push(store.id);
                    codes.push(store.code);
                }
                Ok((ids, codes))
            })
            .map_err(app_error)?;
        let model = db
            .write(|conn| {
                let series_row = series::CreateSeries {
                    code: "BENCHMATE".into(),
                    name: "Benchmark Mate".into(),
                    premium: true,
                    loaner_deposit: None,
                }
                .parse()?;
                let series = series::insert(conn, &series_row, actor)?;
                let model_row = models::CreateModel {
                    code: "BENCHMATE1".into(),
                    name: "Benchmark Mate 1".into(),
                    series_id: series.id,
                }
                .parse()?;
                models::insert(conn, &model_row, actor)
            })
            .map_err(app_error)?;
        Ok(Fixture {
            admin_key,
            principal: Principal {
                key_id,
                role: Role::Admin,
                store_ids: vec![],
                partner_id: None,
            },
            store_ids,
            store_codes,
            model_id: model.id,
            model_code: model.code,
        })
    }

    /// A ticket body for a random store: both sides send the same shape, so they do the same work.
    fn ticket_body(&self, rng: &mut impl Rng) -> anyhow::Result<serde_json::Value> {
        let store = self.store_ids[rng.random_range(0..self.store_ids.len())];
        let imei = Imei::from_body(&format!("86{:012}", rng.random_range(0..1_000_000_000_000u64)))
            .map_err(|why| anyhow::anyhow!("device IMEI: {why}"))?;
        // Well within the warranty year, and never after "today" in the store's time zone.
        let purchased = chrono::Utc::now().date_naive() - chrono::Days::new(120);
        Ok(json!({
            "store_id": store,
            "customer": {"name": "Benchmark Customer", "phone": "+8613800138000"},
            "device_imei": imei.to_string(),
            "model_id": self.model_id,
            "purchase_date": purchased,
            "channel": "walk_in",
            "reported_fault": "screen flickers and the battery drains overnight",
            "accessories": ["case"],
        }))
    }
}

/// Registers the loaners through the server's CSV import, the way a store's pool is loaded in practice.
fn import_loaners(server: &Server, fixture: &Fixture, per_store: usize) -> anyhow::Result<()> {
    let rows: Vec<String> = fixture
        .store_codes
        .iter()
        .flat_map(|code| std::iter::repeat_n(code, per_store))
        .enumerate()
        .map(|(n, code)| {
            let imei = Imei::from_body(&format!("35{n:012}")).map_err(|why| anyhow::anyhow!("loaner IMEI: {why}"))?;
            Ok(format!("{imei},{},{code},A", fixture.model_code))
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    // The import takes at most 10,000 rows per file.
    for chunk in rows.chunks(5_000) {
        let csv = format!("imei,model_code,store_code,grade\n{}\n", chunk.join("\n"));
        let mut res = server
            .agent
            .post(format!("{}/api/v1/loaners/import", server.base))
            .header("Authorization", format!("Bearer {}", fixture.admin_key))
            .header("Content-Type", "text/csv")
            .send(csv)
            .context("importing loaners")?;
        let status = res.status().as_u16();
        let body = res.body_mut().read_to_string().unwrap_or_default();
        if status != 201 {
            bail!("importing loaners answered {status}: {body}");
        }
    }
    println!(
        "setup: {} stores, {} loaners imported over HTTP in {:.1} s",
        fixture.store_ids.len(),
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Opens `count` tickets through the raw path as fast as `concurrency` threads can.
fn preload(db: &Db, fixture: &Fixture, concurrency: usize, count: u64) -> anyhow::Result<()> {
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let started = Instant::now();
    let first_error = std::sync::Mutex::new(None::<String>);
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                let mut rng = rand::rng();
                while next.fetch_add(1, Ordering::Relaxed) < count && started.elapsed() < PRELOAD_TIME_LIMIT {
                    match open_raw(db, fixture, &mut rng) {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert(e);
                            }
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
        // Progress for long preloads; ends when the workers do (they are bounded by count and time).
        let mut last_report = Instant::now();
        while done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < count
            && started.elapsed() < PRELOAD_TIME_LIMIT + Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(200));
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                println!(
                    "  preload: {} of {count} after {:.0} s",
                    done.load(Ordering::Relaxed),
                    started.elapsed().as_secs_f64()
                );
            }
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let opened = done.load(Ordering::Relaxed);
    println!(
        "preload: {opened} tickets opened through the raw path in {elapsed:.1} s ({:.0}/s), errors {}{}",
        opened as f64 / elapsed,
        failed.load(Ordering::Relaxed),
        if opened < count {
            " (stopped at the time limit)"
        } else {
            ""
        }
    );
    if let Ok(Some(e)) = first_error.into_inner() {
        println!("  first preload error: {e}");
    }
    Ok(())
}

/// One ticket through the same transaction the HTTP handler runs, minus HTTP, authentication and JSON output.
fn open_raw(db: &Db, fixture: &Fixture, rng: &mut impl Rng) -> Result<(), String> {
    let body = fixture.ticket_body(rng).map_err(|e| e.to_string())?;
    let input: OpenTicket = serde_json::from_value(body).map_err(|e| e.to_string())?;
    db.write(|conn| depot::tickets::http::open(conn, &fixture.principal, &input, HOLD))
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", e.code()))
}

fn raw_run(db: &Db, fixture: &Fixture, concurrency: usize, length: Duration) -> Stats {
    let started = Instant::now();
    let deadline = started + length;
    let mut stats = std::thread::scope(|s| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                s.spawn(move || {
                    let mut stats = Stats::default();
                    let mut rng = rand::rng();
                    let mut calls = 0;
                    while Instant::now() < deadline && calls < MAX_CALLS_PER_THREAD {
                        calls += 1;
                        // The request is built before the clock starts: only the transaction is timed.
                        let input = fixture
                            .ticket_body(&mut rng)
                            .and_then(|b| serde_json::from_value::<OpenTicket>(b).map_err(anyhow::Error::from));
                        let input = match input {
                            Ok(input) => input,
                            Err(e) => {
                                stats.error("bench_input", e.to_string());
                                continue;
                            }
                        };
                        let t = Instant::now();
                        let result =
                            db.write(|conn| depot::tickets::http::open(conn, &fixture.principal, &input, HOLD));
                        let elapsed = t.elapsed();
                        match result {
                            Ok(_) => stats.ok(elapsed),
                            Err(e) => stats.error(e.code(), e.to_string()),
                        }
                    }
                    stats
                })
            })
            .collect();
        collect(workers)
    });
    stats.elapsed = started.elapsed();
    stats
}

fn http_run(server: &Server, fixture: &Fixture, concurrency: usize, length: Duration) -> Stats {
    let url = format!("{}/api/v1/tickets", server.base);
    let auth = format!("Bearer {}", fixture.admin_key);
    let started = Instant::now();
    let deadline = started + length;
    let mut stats = std::thread::scope(|s| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (url, auth) = (&url, &auth);
                s.spawn(move || {
                    let mut stats = Stats::default();
                    let mut rng = rand::rng();
                    // One agent per thread: each client keeps its own keep-alive connection, like separate callers.
                    let agent = client();
                    let mut calls = 0;
                    while Instant::now() < deadline && calls < MAX_CALLS_PER_THREAD {
                        calls += 1;
                        let body = match fixture.ticket_body(&mut rng) {
                            Ok(b) => b.to_string(),
                            Err(e) => {
                                stats.error("bench_input", e.to_string());
                                continue;
                            }
                        };
                        let t = Instant::now();
                        let result = agent
                            .post(url)
                            .header("Authorization", auth)
                            .header("Content-Type", "application/json")
                            .send(body);
                        match result {
                            Ok(mut res) => {
                                let status = res.status().as_u16();
                                // Read the whole answer: the timing covers it, and the connection is reused.
                                let text = res.body_mut().read_to_string();
                                let elapsed = t.elapsed();
                                match (status, text) {
                                    (201, Ok(_)) => stats.ok(elapsed),
                                    (status, Ok(text)) => stats.error(&format!("http {status}"), text),
                                    (status, Err(e)) => stats.error(&format!("http {status}"), e.to_string()),
                                }
                            }
                            Err(e) => stats.error("transport", e.to_string()),
                        }
                    }
                    stats
                })
            })
            .collect();
        collect(workers)
    });
    stats.elapsed = started.elapsed();
    stats
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn collect(workers: Vec<std::thread::ScopedJoinHandle<'_, Stats>>) -> Stats {
    let mut all = Stats::default();
    for worker in workers {
        match worker.join() {
            Ok(stats) => all.merge(stats),
            Err(_) => all.error("bench_panic", "a client thread panicked".into()),
        }
    }
    all
}

/// Successful calls with their latencies, and failures by kind.
#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Stats {
    fn ok(&mut self, elapsed: Duration) {
        self.latencies_us
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    fn error(&mut self, kind: &str, detail: String) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
        self.first_error.get_or_insert(detail);
    }

    fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.elapsed += other.elapsed;
    }

    /// Successful calls per second of wall time.
    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latencies_us.len() as f64 / secs
        } else {
            0.0
        }
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn errors_text(&self) -> String {
        let mut text = self.error_count().to_string();
        if !self.errors.is_empty() {
            let kinds: Vec<String> = self.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            text.push_str(&format!(" ({})", kinds.join(", ")));
        }
        text
    }

    fn line(&mut self, side: &str, clients: usize, rate: f64) -> String {
        self.latencies_us.sort_unstable();
        format!(
            "{side:<6} {clients:>3} clients {rate:>6.0} req/s  p50 {:>5.1} ms  p99 {:>5.1} ms  errors {}",
            percentile_ms(&self.latencies_us, 50.0),
            percentile_ms(&self.latencies_us, 99.0),
            self.errors_text()
        )
    }

    fn print(&mut self, side: &str, clients: usize, cpu: Option<&CpuShare>) {
        let rate = self.rate();
        let line = self.line(side, clients, rate);
        match cpu {
            Some(cpu) => println!("  {line}  | {} ok; {}", self.latencies_us.len(), cpu.describe()),
            None => println!("  {line}  | {} ok", self.latencies_us.len()),
        }
    }

    fn print_first_error(&self, printed: &mut bool) {
        if let (false, Some(e)) = (*printed, &self.first_error) {
            println!("    first error: {e}");
            *printed = true;
        }
    }

    fn print_summary(&mut self, side: &str, clients: usize, median_rate: f64) {
        let line = self.line(side, clients, median_rate);
        println!("{line}");
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[index]) / 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Tickets and loans in the database, read through the library's schema.
struct Counts {
    tickets: i64,
    reserved: i64,
    waiting: i64,
}

impl Counts {
    fn read(db: &Db) -> anyhow::Result<Counts> {
        db.read(|conn| {
            let tickets: i64 = depot::with_conn!(conn, c => tickets::table.count().get_result(c))?;
            let reserved: i64 =
                depot::with_conn!(conn, c => loans::table.filter(loans::state.eq("reserved")).count().get_result(c))?;
            let waiting: i64 =
                depot::with_conn!(conn, c => loans::table.filter(loans::state.eq("waiting")).count().get_result(c))?;
            Ok(Counts {
                tickets,
                reserved,
                waiting,
            })
        })
        .map_err(app_error)
    }

    fn describe(&self) -> String {
        format!(
            "tickets in database {} (loans reserved {}, waiting {})",
            self.tickets, self.reserved, self.waiting
        )
    }
}

/// The release server as a child process, killed when this is dropped (also when the benchmark fails or panics).
struct Server {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Server {
    fn start(url: &str, pool: usize, workers: usize) -> anyhow::Result<Server> {
        // Bind port 0 to learn a free port, then hand it to the server; the gap between is tiny on loopback.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_depot"));
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--database-url", url])
            // No sweeper: it would write during the runs and nothing expires within them anyway.
            .args(["--sweep-interval-secs", "0", "--db-max-connections", &pool.to_string()])
            // Per-request info logs would measure the terminal, not the server.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if workers > 0 {
            command.args(["--workers", &workers.to_string()]);
        }
        let child = command.spawn().context("starting the depot server")?;
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent: client(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            self.check_alive()?;
            if let Ok(res) = self.agent.get(format!("{}/health/ready", self.base)).call() {
                if res.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the server was not ready within {} s", READY_TIMEOUT.as_secs())
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait().context("checking the server process")? {
            Some(status) => bail!("the server exited: {status}"),
            None => Ok(()),
        }
    }

    fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(0)
        };
        Ok(Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// CPU used during one run, as shares of all cores: the whole machine, the server process, this process and the
/// local PostgreSQL processes. On two cores shared by client, server and database these say who the run waited on,
/// and what is left ("other") shows when something outside the benchmark competed for the cores.
struct CpuClock {
    server_pid: u32,
    start: Option<CpuTicks>,
}

struct CpuShare {
    machine: f64,
    server: f64,
    bench: f64,
    postgres: f64,
}

impl CpuShare {
    fn describe(&self) -> String {
        let other = (self.machine - self.server - self.bench - self.postgres).max(0.0);
        format!(
            "cpu busy {:.0}%: postgres {:.0}%, server {:.0}%, bench {:.0}%, other {:.0}%",
            self.machine * 100.0,
            self.postgres * 100.0,
            self.server * 100.0,
            self.bench * 100.0,
            other * 100.0
        )
    }
}

#[derive(Clone, Copy)]
struct CpuTicks {
    busy: u64,
    total: u64,
    server: u64,
    bench: u64,
    postgres: u64,
}

impl CpuClock {
    fn start(server_pid: u32) -> CpuClock {
        CpuClock {
            server_pid,
            start: cpu_ticks(server_pid),
        }
    }

    fn finish(self) -> Option<CpuShare> {
        let (start, end) = (self.start?, cpu_ticks(self.server_pid)?);
        let total = end.total.checked_sub(start.total).filter(|t| *t > 0)? as f64;
        let share = |a: u64, b: u64| b.saturating_sub(a) as f64 / total;
        Some(CpuShare {
            machine: share(start.busy, end.busy),
            server: share(start.server, end.server),
            bench: share(start.bench, end.bench),
            postgres: share(start.postgres, end.postgres),
        })
    }
}

/// Linux clock ticks from `/proc`: all the same unit, so their ratios need no tick rate.
fn cpu_ticks(server_pid: u32) -> Option<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    Some(CpuTicks {
        busy: total.saturating_sub(idle),
        total,
        server: process_ticks(&format!("/proc/{server_pid}/stat"))?.1,
        bench: process_ticks("/proc/self/stat")?.1,
        postgres: postgres_ticks(),
    })
}

/// CPU of every local process named `postgres` (the backends serve both sides; their pools persist, so few
/// backends come or go within a run). Zero when PostgreSQL runs elsewhere or is not used.
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| process_ticks(&format!("{}/stat", e.path().display())))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, ticks)| ticks)
        .sum()
}

/// Command name and utime + stime of a process (fields 2, 14 and 15; the name may contain spaces and parentheses).
fn process_ticks(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// A fresh database for one run, removed afterwards: a SQLite file in a temporary folder, or a new PostgreSQL
/// database on the given server.
struct Scratch {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl Scratch {
    fn new(database_url: Option<&str>) -> anyhow::Result<Scratch> {
        match database_url {
            Some(admin_url) if Engine::of_url(admin_url) == Engine::Postgres => {
                let name = format!("depot_bench_{}", Uuid::new_v4().simple());
                let mut conn =
                    diesel::PgConnection::establish(admin_url).with_context(|| format!("connecting to {admin_url}"))?;
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .with_context(|| format!("creating database {name}"))?;
                Ok(Scratch {
                    url: replace_database(admin_url, &name),
                    cleanup: Cleanup::PgDatabase {
                        admin_url: admin_url.to_owned(),
                        name,
                    },
                })
            }
            Some(other) => bail!("--database-url must be a postgres:// URL (SQLite uses a fresh file): {other}"),
            None => {
                let dir = std::env::temp_dir().join(format!("depot-bench-{}", Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                Ok(Scratch {
                    url: format!("sqlite://{}", dir.join("depot.db").display()),
                    cleanup: Cleanup::Folder(dir),
                })
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Folder(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                // FORCE ends connections still open (the server's, if it was killed mid-way).
                let dropped = diesel::PgConnection::establish(admin_url)
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut c)
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = dropped {
                    eprintln!("could not drop the benchmark database {name}: {e}");
                }
            }
        }
    }
}

/// `postgres://user@host:5432/postgres?x=y` with the database name replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// An application error with the fields it names, for setup failures.
fn app_error(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{e} ({}): {:?}", e.code(), e.to_problem().errors)
}
