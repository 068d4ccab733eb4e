//! What the benchmarks share: a scratch database, the release server as a child process (and, for an A/B run, an
//! older build of it beside), closed-loop clients that time each call, CPU and memory readings, database round
//! trips counted by a proxy that can also add latency (`pg_proxy.rs`), and the comparison of a raw side with the
//! HTTP sides.
//!
//! Benchmarks print figures and never assert on them: timings on a shared machine are for scale and for the ratio
//! between the sides, which is why every side runs in the same invocation, interleaved round by round (separate
//! runs here differed by up to half).

#![allow(dead_code)] // each benchmark uses its own part of the harness

pub mod pg_proxy;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use depot::db::Engine;
use depot::error::AppError;
use diesel::{Connection, RunQueryDsl};
use pg_proxy::{Counters, Counts, PgProxy};
use uuid::Uuid;

/// The options every benchmark takes.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// `postgres://USER@HOST:PORT/DB` of a server on which to create (and finally drop) a fresh database
    /// `depot_bench_<random>`; a fresh SQLite file in a temporary folder when absent.
    #[arg(long, env = "DEPOT_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Client threads on each side (and the raw side's pool size; the server's pool gets 4 more).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Length of each side's run within a round.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Rounds; each runs every side once, in turn.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Calls per second offered by all clients together (0: closed loop, each client calls again as soon as it is
    /// answered). With a rate, each call is due at a fixed time and its latency counts from then, so a call that
    /// starts late because the one before was slow is charged the wait (no coordinated omission).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Database connections, of the server and of the raw side's pool alike, so that the sides differ only by HTTP
    /// (8 is the server's default; fewer connections than clients queue in the pool, not on the CPU).
    #[arg(long, default_value_t = 8)]
    pub pool: u32,
    /// HTTP worker threads of the server (0: the server's default, one per core).
    #[arg(long, default_value_t = 0)]
    pub server_workers: usize,
    /// An A/B run: another build of the server (e.g. the release binary of an older commit) started beside this
    /// one on the same database, with the same options; its HTTP side, `base`, runs in every round beside this
    /// build's, `http`. It starts first, so that it finds the fresh database as it knows it.
    #[arg(long, value_name = "PATH")]
    pub baseline_binary: Option<PathBuf>,
    /// Latency added to each direction of every database connection (both servers' and the raw side's), in
    /// microseconds, by a proxy in this process (PostgreSQL over TCP only); implies `--round-trips`.
    #[arg(long, default_value_t = 0, value_name = "US")]
    pub db_delay_us: u64,
    /// Count each side's database round trips per call (simple queries and batches ended by Sync) through a proxy
    /// in this process (PostgreSQL over TCP only); implied by `--baseline-binary` and `--db-delay-us`.
    #[arg(long)]
    pub round_trips: bool,
    /// Run only the HTTP sides (`http`, and `base` in an A/B run), not the raw transaction beside them.
    #[arg(long)]
    pub http_only: bool,
    /// Passed by `cargo bench` to every bench binary; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl RunArgs {
    /// Starts the servers these options describe on the database at `url`: the baseline build first (if any), then
    /// this one, each reaching the database through a proxy of its own when round trips are counted.
    pub fn start_servers(&self, url: &str) -> anyhow::Result<Servers> {
        let baseline = match &self.baseline_binary {
            Some(binary) => Some(Server::start(
                "base",
                binary,
                self.link(url)?,
                self.pool,
                self.server_workers,
            )?),
            None => None,
        };
        let current = Server::start(
            "http",
            Path::new(env!("CARGO_BIN_EXE_depot")),
            self.link(url)?,
            self.pool,
            self.server_workers,
        )?;
        Ok(Servers { current, baseline })
    }

    /// Whether database connections go through a proxy (which counts their round trips and adds the delay).
    pub fn proxied(&self) -> bool {
        self.round_trips || self.db_delay_us > 0 || self.baseline_binary.is_some()
    }

    /// The way to the database at `url` for one of its clients (a server, the raw side's pool): through a proxy of
    /// its own when round trips are counted, so that each side's count is its own; straight otherwise, and always
    /// on SQLite.
    pub fn link(&self, url: &str) -> anyhow::Result<Link> {
        if !self.proxied() || Engine::of_url(url) != Engine::Postgres {
            return Ok(Link {
                url: url.to_owned(),
                proxy: None,
            });
        }
        let proxy = PgProxy::for_url(url, Duration::from_micros(self.db_delay_us))
            .with_context(|| format!("starting a database proxy for {url}"))?;
        let routed = proxy
            .route(url)
            .with_context(|| format!("routing {url} through the proxy"))?;
        Ok(Link {
            url: routed,
            proxy: Some(proxy),
        })
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 || self.seconds == 0 || self.pool == 0 {
            bail!("--concurrency, --seconds and --pool must be at least 1");
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            bail!("--rate must be a number of calls per second, or 0 for a closed loop");
        }
        let postgres = self
            .database_url
            .as_deref()
            .is_some_and(|url| Engine::of_url(url) == Engine::Postgres);
        if (self.round_trips || self.db_delay_us > 0) && !postgres {
            bail!("--round-trips and --db-delay-us need --database-url postgres://… (a proxy in front of PostgreSQL)");
        }
        if let Some(binary) = &self.baseline_binary {
            if !binary.is_file() {
                bail!("--baseline-binary {}: no such file", binary.display());
            }
        }
        Ok(())
    }

    /// The load of one side's run.
    pub fn load(&self) -> Load {
        Load {
            concurrency: self.concurrency,
            length: Duration::from_secs(self.seconds),
            rate: self.rate,
        }
    }

    /// How the run is driven, for the benchmark's first line.
    pub fn describe(&self) -> String {
        let mode = if self.rate > 0.0 {
            format!("offering {} calls/s in all", self.rate)
        } else {
            "closed loop".to_owned()
        };
        let mut text = format!(
            "{} clients ({mode}), {} round(s) of {} s per side, {} database connections",
            self.concurrency, self.rounds, self.seconds, self.pool
        );
        if self.proxied() {
            text.push_str(&format!(
                ", database through a counting proxy adding {} µs each way",
                self.db_delay_us
            ));
        }
        if let Some(binary) = &self.baseline_binary {
            text.push_str(&format!(", baseline server {}", binary.display()));
        }
        text
    }
}

/// How one client of the scratch database reaches it: `url`, which goes through `proxy` when there is one (kept
/// here so that it lives as long as the client).
pub struct Link {
    pub url: String,
    pub proxy: Option<PgProxy>,
}

impl Link {
    /// The proxy's counters, when round trips are counted.
    pub fn counters(&self) -> Option<Arc<Counters>> {
        self.proxy.as_ref().map(|p| p.counters.clone())
    }
}

/// How one side's run loads its target: `concurrency` clients for `length`, in a closed loop or at `rate` calls
/// per second in all.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub concurrency: usize,
    pub length: Duration,
    pub rate: f64,
}

/// When each call of one client is due in an open-loop run: the clients' calls interleave evenly at the offered rate.
struct Schedule {
    next: Instant,
    interval: Duration,
}

impl Schedule {
    fn new(load: Load, client: usize, started: Instant) -> Option<Schedule> {
        (load.rate > 0.0).then(|| {
            let interval = Duration::from_secs_f64(load.concurrency as f64 / load.rate);
            Schedule {
                next: started + interval.mul_f64(client as f64 / load.concurrency as f64),
                interval,
            }
        })
    }

    /// The due time of the next call, moving the schedule on.
    fn take(&mut self) -> Instant {
        let due = self.next;
        self.next += self.interval;
        due
    }
}

/// The latency of a call that was due at `due`, began at `began` and took `elapsed`: the time it waited past
/// its due time counts too.
fn from_due(due: Option<Instant>, began: Instant, elapsed: Duration) -> Duration {
    elapsed + due.map_or(Duration::ZERO, |d| began.saturating_duration_since(d))
}

/// Upper bound on calls per client thread in one run, so that a run ends even if the clock misbehaves.
pub const MAX_CALLS_PER_THREAD: u64 = 5_000_000;
/// How long the server may take to answer `/health/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What one call of a client did: how long the timed part took, or what went wrong.
pub type Outcome = Result<Duration, (String, String)>;

/// Runs client threads under `load`, each calling `call` with its own state from `init` (as fast as it can, or when
/// its calls are due), and gathers their timings. `call` times only what it measures (inputs are built before its
/// clock).
pub fn run_clients<S>(load: Load, init: impl Fn() -> S + Sync, call: impl Fn(&mut S) -> Outcome + Sync) -> Stats {
    let started = Instant::now();
    let deadline = started + load.length;
    let mut stats = std::thread::scope(|s| {
        let workers: Vec<_> = (0..load.concurrency)
            .map(|client| {
                let (init, call) = (&init, &call);
                s.spawn(move || {
                    let mut stats = Stats::default();
                    let mut state = init();
                    let mut schedule = Schedule::new(load, client, started);
                    let mut calls = 0;
                    while Instant::now() < deadline && calls < MAX_CALLS_PER_THREAD {
                        calls += 1;
                        let due = schedule.as_mut().map(Schedule::take);
                        if let Some(wait) = due.and_then(|d| d.checked_duration_since(Instant::now())) {
                            std::thread::sleep(wait);
                        }
                        let began = Instant::now();
                        match call(&mut state) {
                            Ok(elapsed) => stats.ok(from_due(due, began, elapsed)),
                            Err((kind, detail)) => stats.error(&kind, detail),
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

/// One POST the HTTP side sends: a JSON body to a URL of the server, with the run's key.
pub struct Post {
    pub url: String,
    pub body: String,
}

/// Runs HTTP clients under `load`, each sending the posts `next` builds from its own state (as fast as it can, or
/// when they are due) on its own keep-alive connection, and gathers their timings; only a status in `expect` is a
/// success.
///
/// The clients are tasks on one thread (as in wrk or pgbench) rather than a thread each: on a small machine a
/// thread per client took about 15% of the CPU and added its wake-ups to the latencies being measured.
pub fn run_http_clients<S>(
    load: Load,
    auth: &str,
    expect: &[u16],
    init: impl Fn() -> S,
    next: impl Fn(&mut S) -> Result<Post, (String, String)>,
) -> Stats {
    run_http(load, auth, expect, init, |state| {
        next(state).map(|post| Request {
            url: post.url,
            body: Some(post.body),
        })
    })
}

/// One call an HTTP side sends: a POST of a JSON body, or a GET when there is no body.
pub struct Request {
    pub url: String,
    pub body: Option<String>,
}

/// [`run_http_clients`] for any call, GET or POST: what a read benchmark sends.
pub fn run_http<S>(
    load: Load,
    auth: &str,
    expect: &[u16],
    init: impl Fn() -> S,
    next: impl Fn(&mut S) -> Result<Request, (String, String)>,
) -> Stats {
    let started = Instant::now();
    let deadline = started + load.length;
    let clients = (0..load.concurrency).map(|client| {
        let (mut state, next) = (init(), &next);
        async move {
            let agent = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
            let mut stats = Stats::default();
            let mut schedule = Schedule::new(load, client, started);
            let mut calls = 0;
            while Instant::now() < deadline && calls < MAX_CALLS_PER_THREAD {
                calls += 1;
                let due = schedule.as_mut().map(Schedule::take);
                if let Some(due) = due {
                    actix_web::rt::time::sleep_until(due.into()).await;
                }
                let request = match next(&mut state) {
                    Ok(request) => request,
                    Err((kind, detail)) => {
                        stats.error(&kind, detail);
                        continue;
                    }
                };
                let t = Instant::now();
                let sent = match request.body {
                    Some(body) => {
                        agent
                            .post(&request.url)
                            .insert_header(("Authorization", auth))
                            .content_type("application/json")
                            .send_body(body)
                            .await
                    }
                    None => {
                        agent
                            .get(&request.url)
                            .insert_header(("Authorization", auth))
                            .send()
                            .await
                    }
                };
                let mut res = match sent {
                    Ok(res) => res,
                    Err(e) => {
                        stats.error("transport", e.to_string());
                        continue;
                    }
                };
                let status = res.status().as_u16();
                match res.body().await {
                    Ok(_) if expect.contains(&status) => stats.ok(from_due(due, t, t.elapsed())),
                    Ok(text) => stats.error(&format!("http {status}"), String::from_utf8_lossy(&text).into_owned()),
                    Err(e) => stats.error(&format!("http {status}"), e.to_string()),
                }
            }
            stats
        }
    });
    let per_client = actix_web::rt::System::new().block_on(futures_util::future::join_all(clients));
    let mut stats = Stats::default();
    for client in per_client {
        stats.merge(client);
    }
    stats.elapsed = started.elapsed();
    stats
}

/// A named way of doing the same work: the raw transaction, the HTTP call (of this build, or of the baseline
/// build in an A/B run), a bare insert.
pub struct Side<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut() -> Stats + 'a>,
    /// The counters of the proxy this side's database connections go through, when round trips are counted.
    pub trips: Option<Arc<Counters>>,
}

impl Side<'_> {
    /// An HTTP side: `http` (this build) or `base` (the baseline build).
    pub fn is_http(&self) -> bool {
        matches!(self.name, "http" | "base")
    }
}

/// Runs every side once per round, in turn (in reverse order every other round, so that no side always runs first
/// on the database as the previous round left it), printing each run with the CPU it used and, when counted, its
/// database round trips per call; then the summary, with each side's throughput as a ratio of every side before it.
/// `after_round` describes the database between rounds. With `--http-only`, only the HTTP sides run.
pub fn compare(
    args: &RunArgs,
    servers: &mut Servers,
    sides: &mut [Side<'_>],
    mut after_round: impl FnMut() -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let (rounds, concurrency) = (args.rounds, args.concurrency);
    let active: Vec<usize> = (0..sides.len())
        .filter(|&i| !args.http_only || sides[i].is_http())
        .collect();
    let mut all: Vec<Stats> = sides.iter().map(|_| Stats::default()).collect();
    let mut rates: Vec<Vec<f64>> = sides.iter().map(|_| Vec::new()).collect();
    let mut printed: Vec<bool> = sides.iter().map(|_| false).collect();
    let pids = servers.pids();
    for round in 1..=rounds {
        println!("round {round}/{rounds}");
        let mut order = active.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for i in order {
            let side = &mut sides[i];
            if let Some(trips) = &side.trips {
                trips.reset();
            }
            let cpu = CpuClock::start(&pids);
            let mut stats = (side.run)();
            let cpu = cpu.finish();
            stats.trips = side.trips.as_ref().map(|t| t.take());
            stats.print(side.name, concurrency, cpu.as_ref());
            stats.print_first_error(&mut printed[i]);
            rates[i].push(stats.rate());
            all[i].merge(stats);
        }
        servers.check_alive()?;
        println!("  {}; {}", servers.memory()?, after_round()?);
    }
    if rounds == 0 || active.is_empty() {
        return Ok(());
    }
    let medians: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
    println!("summary ({rounds} rounds; median throughput, p50/p99 over all samples)");
    for &i in &active {
        all[i].print_summary(sides[i].name, concurrency, medians[i]);
    }
    for (n, &i) in active.iter().enumerate() {
        for &j in active.iter().take(n) {
            let ratio = if medians[j] > 0.0 {
                medians[i] / medians[j]
            } else {
                f64::NAN
            };
            println!("ratio {}/{} throughput: {ratio:.2}", sides[i].name, sides[j].name);
        }
    }
    println!("server memory after the last round: {}", servers.memory()?);
    Ok(())
}

/// A pool of connections for the raw side, sized like the server's, on the scratch database.
pub fn raw_pool(url: &str, size: u32) -> anyhow::Result<depot::db::Db> {
    let db = depot::db::Db::connect(
        url,
        &depot::db::PoolOptions {
            max_connections: size,
            connect_timeout: Duration::from_secs(30),
            ..depot::db::PoolOptions::default()
        },
    )?;
    db.migrate()?;
    Ok(db)
}

pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

pub fn collect(workers: Vec<std::thread::ScopedJoinHandle<'_, Stats>>) -> Stats {
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
pub struct Stats {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    elapsed: Duration,
    /// Database round trips made during the run, when a proxy counted them.
    trips: Option<Counts>,
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
        self.trips = match (self.trips, other.trips) {
            (Some(a), Some(b)) => Some(a.plus(b)),
            (a, b) => a.or(b),
        };
    }

    /// Calls made, answered or not: each may have reached the database.
    fn calls(&self) -> u64 {
        self.latencies_us.len() as u64 + self.error_count()
    }

    /// Round trips per call, of the given kind (`None`: all), when counted.
    fn per_call(&self, of: impl Fn(&Counts) -> u64) -> Option<f64> {
        let calls = self.calls();
        self.trips.filter(|_| calls > 0).map(|t| of(&t) as f64 / calls as f64)
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
        let mut line = format!(
            "{side:<6} {clients:>3} clients {rate:>6.0} req/s  p50 {:>5.1} ms  p99 {:>5.1} ms  errors {}",
            percentile_ms(&self.latencies_us, 50.0),
            percentile_ms(&self.latencies_us, 99.0),
            self.errors_text()
        );
        if let Some(trips) = self.per_call(Counts::round_trips) {
            line.push_str(&format!("  db trips/call {trips:.2}"));
        }
        line
    }

    fn print(&mut self, side: &str, clients: usize, cpu: Option<&CpuShare>) {
        let rate = self.rate();
        let line = self.line(side, clients, rate);
        match cpu {
            Some(cpu) => println!("  {line}  | {} ok; {}", self.latencies_us.len(), cpu.describe()),
            None => println!("  {line}  | {} ok", self.latencies_us.len()),
        }
        if let (Some(q), Some(s), Some(p)) = (
            self.per_call(|t| t.simple_queries),
            self.per_call(|t| t.syncs),
            self.per_call(|t| t.parses),
        ) {
            println!(
                "    per call: {q:.2} simple queries + {s:.2} batches ended by Sync; {p:.2} statements prepared; {} calls",
                self.calls()
            );
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
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[index]) / 1000.0
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The servers of a run: this build, and in an A/B run the baseline build beside it on the same database.
pub struct Servers {
    pub current: Server,
    pub baseline: Option<Server>,
}

impl Servers {
    /// The baseline first, as it started.
    pub fn all(&self) -> impl Iterator<Item = &Server> {
        self.baseline.iter().chain(std::iter::once(&self.current))
    }

    /// In an A/B run, puts the baseline server's HTTP side (`base`, made by `make` as for this build's) just before
    /// this build's (`http`), so that the summary gives `http/base`.
    pub fn add_baseline_side<'a>(
        &self,
        sides: &mut Vec<Side<'a>>,
        make: impl Fn(String) -> Box<dyn FnMut() -> Stats + 'a>,
    ) {
        if let Some(baseline) = &self.baseline {
            let at = sides.iter().position(|s| s.name == "http").unwrap_or(sides.len());
            sides.insert(at, baseline.http_side(make));
        }
    }

    fn pids(&self) -> Vec<u32> {
        self.all().map(Server::pid).collect()
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(baseline) = &mut self.baseline {
            baseline.check_alive()?;
        }
        self.current.check_alive()
    }

    /// Each server's memory, e.g. `server VmRSS 42.4 MiB  VmHWM 42.4 MiB`.
    pub fn memory(&self) -> anyhow::Result<String> {
        let lines: Vec<String> = self
            .all()
            .map(|server| {
                let memory = server.memory()?;
                let who = if server.name == "base" {
                    "baseline server"
                } else {
                    "server"
                };
                Ok(format!(
                    "{who} VmRSS {}  VmHWM {}",
                    mib(memory.rss_kib),
                    mib(memory.hwm_kib)
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(lines.join("; "))
    }
}

/// The release server as a child process, killed when this is dropped (also when the benchmark fails or panics).
pub struct Server {
    child: Child,
    /// Its side's name: `http` for this build, `base` for the baseline.
    pub name: &'static str,
    pub base: String,
    pub agent: ureq::Agent,
    /// How it reaches the database (after `child` so that the proxy outlives the process).
    pub link: Link,
}

impl Server {
    /// Starts `binary` (a build of `depot`) serving on a free port, on the database `link` leads to.
    pub fn start(name: &'static str, binary: &Path, link: Link, pool: u32, workers: usize) -> anyhow::Result<Server> {
        Server::start_with(name, binary, link, pool, workers, &[])
    }

    /// [`Server::start`] with more flags for `serve` (e.g. `--webhook-allow-cidr`).
    pub fn start_with(
        name: &'static str,
        binary: &Path,
        link: Link,
        pool: u32,
        workers: usize,
        extra: &[&str],
    ) -> anyhow::Result<Server> {
        // Bind port 0 to learn a free port, then hand it to the server; the gap between is tiny on loopback.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let mut command = Command::new(binary);
        command
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &link.url,
            ])
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
        command.args(extra);
        let child = command
            .spawn()
            .with_context(|| format!("starting the depot server {}", binary.display()))?;
        let mut server = Server {
            child,
            name,
            base: format!("http://127.0.0.1:{port}"),
            agent: client(),
            link,
        };
        server.wait_ready()?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// This server's HTTP side, named after it, running what `make` makes of its base URL, with its round trips.
    pub fn http_side<'a>(&self, make: impl Fn(String) -> Box<dyn FnMut() -> Stats + 'a>) -> Side<'a> {
        Side {
            name: self.name,
            run: make(self.base.clone()),
            trips: self.link.counters(),
        }
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

    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait().context("checking the server process")? {
            Some(status) => bail!("the server exited: {status}"),
            None => Ok(()),
        }
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
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
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// CPU used during one run, as shares of all cores: the whole machine, the server process, this process and the
/// local PostgreSQL processes. On two cores shared by client, server and database these say who the run waited on,
/// and what is left ("other") shows when something outside the benchmark competed for the cores.
pub struct CpuClock {
    server_pids: Vec<u32>,
    start: Option<CpuTicks>,
}

pub struct CpuShare {
    machine: f64,
    server: f64,
    bench: f64,
    postgres: f64,
}

impl CpuShare {
    pub fn describe(&self) -> String {
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
    /// `server_pids`: the servers' processes (both, in an A/B run: their CPU counts together as "server").
    pub fn start(server_pids: &[u32]) -> CpuClock {
        CpuClock {
            server_pids: server_pids.to_vec(),
            start: cpu_ticks(server_pids),
        }
    }

    pub fn finish(self) -> Option<CpuShare> {
        let (start, end) = (self.start?, cpu_ticks(&self.server_pids)?);
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
fn cpu_ticks(server_pids: &[u32]) -> Option<CpuTicks> {
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
        server: server_pids
            .iter()
            .map(|pid| process_ticks(&format!("/proc/{pid}/stat")).map(|(_, ticks)| ticks))
            .sum::<Option<u64>>()?,
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
pub struct Scratch {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Folder(PathBuf),
    PgDatabase {
        admin_url: String,
        name: String,
    },
    /// Left in place (`keep`), or not ours (an existing database given to the benchmark).
    Kept,
}

impl Scratch {
    pub fn new(database_url: Option<&str>) -> anyhow::Result<Scratch> {
        match database_url {
            Some(admin_url) if Engine::of_url(admin_url) == Engine::Postgres => {
                let name = format!("depot_bench_{}", Uuid::new_v4().simple());
                let mut conn =
                    diesel::PgConnection::establish(admin_url).with_context(|| format!("connecting to {admin_url}"))?;
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .with_context(|| format!("creating database {name}"))?;
                Ok(Scratch {
                    url: depot::db::url_with_database(admin_url, &name),
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

impl Scratch {
    /// An existing database the benchmark uses as it finds it and does not remove.
    pub fn existing(url: &str) -> Scratch {
        Scratch {
            url: url.to_owned(),
            cleanup: Cleanup::Kept,
        }
    }

    /// Leaves the database in place after the run (to be reused, or examined with EXPLAIN).
    pub fn keep(&mut self) {
        self.cleanup = Cleanup::Kept;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Folder(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Kept => {}
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

/// An application error with the fields it names, for setup failures.
pub fn app_error(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{e} ({}): {:?}", e.code(), e.to_problem().errors)
}

/// A key made through the library: its text for the HTTP side, its principal for the raw side.
pub struct Key {
    pub text: String,
    pub principal: depot::auth::Principal,
}

pub fn create_key(db: &depot::db::Db, role: depot::auth::Role, partner_id: Option<Uuid>) -> anyhow::Result<Key> {
    let new = depot::auth::NewApiKey {
        role,
        label: format!("benchmark {}", role.as_str()),
        store_ids: vec![],
        partner_id,
    };
    let created = db
        .write(|conn| depot::auth::create_key(conn, &new, None))
        .map_err(app_error)?;
    Ok(Key {
        text: created.key.context("a new key comes with its text")?,
        principal: depot::auth::Principal {
            key_id: created.api_key.id,
            role,
            store_ids: vec![],
            partner_id,
            username: None,
        },
    })
}

/// Setup over HTTP with one key, the way an operator would load the data; any other status than the expected
/// one stops the benchmark with the server's answer.
pub struct Api<'a> {
    pub server: &'a Server,
    pub key: &'a str,
}

impl Api<'_> {
    pub fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let mut res = self
            .server
            .agent
            .post(format!("{}{path}", self.server.base))
            .header("Authorization", format!("Bearer {}", self.key))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .with_context(|| format!("POST {path}"))?;
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        if !(200..300).contains(&status) {
            bail!("POST {path} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path} answered no JSON"))
    }

    /// Creates a record and returns its id.
    pub fn create(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<Uuid> {
        let created = self.post(path, body)?;
        created["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .with_context(|| format!("POST {path} answered no id: {created}"))
    }
}

/// A walk-in (or, with a pickup address, mail-in) repair ticket for a store and model: what the benchmarks open.
pub fn ticket_body(
    store: Uuid,
    model: Uuid,
    pickup: Option<serde_json::Value>,
    rng: &mut impl rand::Rng,
) -> anyhow::Result<serde_json::Value> {
    let imei = depot::imei::Imei::from_body(&format!("86{:012}", rng.random_range(0..1_000_000_000_000u64)))
        .map_err(|why| anyhow::anyhow!("device IMEI: {why}"))?;
    // Well within the warranty year, and never after "today" in the store's time zone.
    let purchased = chrono::Utc::now().date_naive() - chrono::Days::new(120);
    let mut body = serde_json::json!({
        "store_id": store,
        "customer": {"name": "Benchmark Customer", "phone": "+8613800138000"},
        "device_imei": imei.to_string(),
        "model_id": model,
        "purchase_date": purchased,
        "channel": if pickup.is_some() { "mail_in" } else { "walk_in" },
        "reported_fault": "screen flickers and the battery drains overnight",
        "accessories": ["case"],
    });
    if let Some(pickup) = pickup {
        body["pickup"] = pickup;
    }
    Ok(body)
}

/// A service center with one standard (non-premium) series and model, made over HTTP: tickets opened there get
/// no loaner, so a benchmark of parts or couriers measures only its own work.
pub struct StandardStore {
    pub store: Uuid,
    pub model: Uuid,
}

impl StandardStore {
    pub fn create(api: &Api<'_>) -> anyhow::Result<StandardStore> {
        let store = api.create(
            "/api/v1/stores",
            &serde_json::json!({"code": "BENCH-SC", "name": "Benchmark service center", "city": "Shenzhen",
                "kind": "service_center"}),
        )?;
        let series = api.create(
            "/api/v1/series",
            &serde_json::json!({"code": "BENCHNOVA", "name": "Benchmark Nova", "premium": false}),
        )?;
        let model = api.create(
            "/api/v1/models",
            &serde_json::json!({"code": "BENCHNOVA1", "name": "Benchmark Nova 1", "series_id": series}),
        )?;
        Ok(StandardStore { store, model })
    }

    /// Opens `count` tickets through the library (faster than HTTP for setup) and returns them.
    pub fn open_tickets(
        &self,
        db: &depot::db::Db,
        principal: &depot::auth::Principal,
        count: usize,
        pickup: Option<serde_json::Value>,
    ) -> anyhow::Result<Vec<depot::tickets::Ticket>> {
        let mut rng = rand::rng();
        (0..count)
            .map(|_| {
                let body = ticket_body(self.store, self.model, pickup.clone(), &mut rng)?;
                let input: depot::tickets::OpenTicket = serde_json::from_value(body)?;
                db.write(|conn| depot::tickets::open_in(conn, principal, &input, Duration::from_secs(48 * 3600)))
                    .map_err(app_error)
            })
            .collect()
    }
}

/// Registers `per_store` grade-A loaners of `model_code` at each store through the server's CSV import (at most
/// 10,000 rows per file, so in files of 5,000), as a store's pool is loaded in practice; answers how many.
pub fn import_loaners(
    server: &Server,
    admin_key: &str,
    model_code: &str,
    store_codes: &[String],
    per_store: usize,
) -> anyhow::Result<usize> {
    let rows: Vec<String> = store_codes
        .iter()
        .flat_map(|code| std::iter::repeat_n(code, per_store))
        .enumerate()
        .map(|(n, code)| {
            let imei = depot::imei::Imei::from_body(&format!("35{n:012}"))
                .map_err(|why| anyhow::anyhow!("loaner IMEI: {why}"))?;
            Ok(format!("{imei},{model_code},{code},A"))
        })
        .collect::<anyhow::Result<_>>()?;
    for chunk in rows.chunks(5_000) {
        let csv = format!("imei,model_code,store_code,grade\n{}\n", chunk.join("\n"));
        let mut res = server
            .agent
            .post(format!("{}/api/v1/loaners/import", server.base))
            .header("Authorization", format!("Bearer {admin_key}"))
            .header("Content-Type", "text/csv")
            .send(csv)
            .context("importing loaners")?;
        let status = res.status().as_u16();
        let body = res.body_mut().read_to_string().unwrap_or_default();
        if status != 201 {
            bail!("importing loaners answered {status}: {body}");
        }
    }
    Ok(rows.len())
}
