//! Ticket-opening benchmark: premium repair tickets opened over HTTP against the real server (a child process) and
//! through the same database transaction called directly, in one invocation, interleaved round by round. It prints
//! figures and never asserts on them (see `harness`).
//!
//! `cargo bench --bench tickets -- [--database-url URL] [--concurrency 32] [--seconds 5] [--rounds 3]
//! [--preload 0] [--stores 64] [--loaners-per-store 20] [--server-workers 0] [--baseline-binary PATH]
//! [--db-delay-us 0] [--round-trips] [--http-only]` (see `benches/README.md`)

mod harness;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use depot::auth::{Principal, Role};
use depot::catalog::{self, CreateModel, CreateSeries, CreateStore, StoreKind};
use depot::db::schema::{loans, tickets};
use depot::db::{Db, Engine};
use depot::tickets::{OpenTicket, TicketAction};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use harness::{Post, Scratch, Server, Side, app_error};
use rand::Rng;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "tickets",
    about = "Open premium repair tickets over HTTP and directly; print throughput and latency"
)]
struct Args {
    #[command(flatten)]
    run: harness::RunArgs,
    /// Tickets opened and cancelled through the raw path before the rounds, to measure with a full database.
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Service centers; each ticket goes to one at random.
    #[arg(long, default_value_t = 64)]
    stores: usize,
    /// Loaners of the premium series at each store; once they are reserved, tickets join the waitlist.
    #[arg(long, default_value_t = 20)]
    loaners_per_store: usize,
}

/// The preload stops here even if it has not reached its count.
const PRELOAD_TIME_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Loan hold of a walk-in reservation, as the server's default.
const HOLD: Duration = Duration::from_secs(48 * 3600);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.run.check()?;
    if args.stores == 0 {
        bail!("--stores must be at least 1");
    }
    // Guards drop in reverse order: the server is killed before its database is removed.
    let scratch = Scratch::new(args.run.database_url.as_deref())?;
    let url = scratch.url.clone();
    let engine = Engine::of_url(&url);
    println!(
        "depot ticket benchmark: {engine:?}, {}, {} stores x {} loaners",
        args.run.describe(),
        args.stores,
        args.loaners_per_store
    );
    // The baseline server, if any, starts first: it finds the fresh database as it knows it.
    let mut servers = args.run.start_servers(&url)?;
    let raw = args.run.link(&url)?;
    let db = harness::raw_pool(&raw.url, args.run.pool)?;
    let fixture = Fixture::create(&db, args.stores)?;

    import_loaners(&servers.current, &fixture, args.loaners_per_store)?;
    for server in servers.all() {
        println!("{} server pid {} on {}: ready", server.name, server.pid(), server.base);
    }
    println!("{}", servers.memory()?);

    if args.preload > 0 {
        preload(&db, &fixture, args.run.concurrency, args.preload)?;
        let counts = Counts::read(&db)?;
        println!("after preload: {}; {}", counts.describe(), servers.memory()?);
    }

    let load = args.run.load();
    let auth = format!("Bearer {}", fixture.admin_key);
    let (fixture, db, auth) = (&fixture, &db, &auth);
    let http = |base: String| -> Box<dyn FnMut() -> harness::Stats + '_> {
        let url = format!("{base}/api/v1/tickets");
        Box::new(move || {
            harness::run_http_clients(load, auth, &[201], rand::rng, |rng| {
                let body = fixture
                    .ticket_body(rng)
                    .map_err(|e| ("bench_input".to_owned(), e.to_string()))?
                    .to_string();
                Ok(Post { url: url.clone(), body })
            })
        })
    };
    let mut sides = vec![
        Side {
            name: "raw",
            run: Box::new(|| {
                harness::run_clients(load, rand::rng, |rng| {
                    // The request is built before the clock starts: only the transaction is timed.
                    let input = fixture
                        .ticket_body(rng)
                        .and_then(|b| serde_json::from_value::<OpenTicket>(b).map_err(anyhow::Error::from))
                        .map_err(|e| ("bench_input".to_owned(), e.to_string()))?;
                    let t = Instant::now();
                    depot::tickets::service::open(db, &fixture.principal, &input, HOLD)
                        .map_err(|e| (e.code().to_owned(), e.to_string()))?;
                    Ok(t.elapsed())
                })
            }),
            trips: raw.counters(),
        },
        servers.current.http_side(http),
    ];
    servers.add_baseline_side(&mut sides, http);
    harness::compare(&args.run, &mut servers, &mut sides, || Ok(Counts::read(db)?.describe()))?;
    drop(servers);
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
        let admin = harness::create_key(db, Role::Admin, None)?;
        let actor = Some(admin.principal.key_id);
        let (store_ids, store_codes) = db
            .write(|conn| {
                let mut ids = Vec::with_capacity(store_count);
                let mut codes = Vec::with_capacity(store_count);
                for i in 0..store_count {
                    let row = CreateStore {
                        code: format!("BENCH-{i:04}"),
                        name: format!("Benchmark service center {i}"),
                        city: "Shenzhen".into(),
                        kind: StoreKind::ServiceCenter,
                        time_zone: None,
                        address: None,
                        phone: None,
                    }
                    .parse()?;
                    let store = catalog::insert(conn, &row, actor)?;
                    ids.push(store.id);
                    codes.push(store.code);
                }
                Ok((ids, codes))
            })
            .map_err(app_error)?;
        let model = db
            .write(|conn| {
                let series_row = CreateSeries {
                    code: "BENCHMATE".into(),
                    name: "Benchmark Mate".into(),
                    premium: true,
                    loaner_deposit: None,
                }
                .parse()?;
                let series = catalog::insert(conn, &series_row, actor)?;
                let model_row = CreateModel {
                    code: "BENCHMATE1".into(),
                    name: "Benchmark Mate 1".into(),
                    series_id: series.id,
                }
                .parse()?;
                catalog::insert(conn, &model_row, actor)
            })
            .map_err(app_error)?;
        Ok(Fixture {
            admin_key: admin.text,
            principal: admin.principal,
            store_ids,
            store_codes,
            model_id: model.id,
            model_code: model.code,
        })
    }

    /// A ticket body for a random store: both sides send the same shape, so they do the same work.
    fn ticket_body(&self, rng: &mut impl Rng) -> anyhow::Result<serde_json::Value> {
        let store = self.store_ids[rng.random_range(0..self.store_ids.len())];
        harness::ticket_body(store, self.model_id, None, rng)
    }
}

/// Registers the loaners through the server's CSV import, the way a store's pool is loaded in practice.
fn import_loaners(server: &Server, fixture: &Fixture, per_store: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let count = harness::import_loaners(
        server,
        &fixture.admin_key,
        &fixture.model_code,
        &fixture.store_codes,
        per_store,
    )?;
    println!(
        "setup: {} stores, {count} loaners imported over HTTP in {:.1} s",
        fixture.store_ids.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Opens and cancels `count` tickets through the raw path as fast as `concurrency` threads can.
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
        "preload: {opened} tickets opened and cancelled through the raw path in {elapsed:.1} s ({:.0}/s), errors {}{}",
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

/// One ticket of history: opened through the same transaction the HTTP handler runs, then cancelled in a second
/// one, which hands its loaner (or its place in the queue) on. The database fills with tickets, loans and timelines
/// as a store's history would, while the waitlists stay as short as the loaners allow.
fn open_raw(db: &Db, fixture: &Fixture, rng: &mut impl Rng) -> Result<(), String> {
    let body = fixture.ticket_body(rng).map_err(|e| e.to_string())?;
    let input: OpenTicket = serde_json::from_value(body).map_err(|e| e.to_string())?;
    let ticket = depot::tickets::service::open(db, &fixture.principal, &input, HOLD)
        .map_err(|e| format!("{}: {e}", e.code()))?;
    let note = Some("benchmark history");
    db.write(|conn| {
        depot::tickets::transition_in(conn, &fixture.principal, ticket.id, TicketAction::Cancel, note, HOLD)
    })
    .map(|_| ())
    .map_err(|e| format!("{}: {e}", e.code()))
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
