//! Scale benchmark: a national network's year (issue 13). Loads 1,000 stores, 10,000 loaners and N tickets (10
//! million by default on PostgreSQL, 1 million on SQLite), each with its device and customer and its timeline, into
//! a fresh, migrated database (COPY on PostgreSQL, multi-row INSERTs in big transactions on SQLite), then measures
//! over HTTP against the release server, round by round: premium walk-in openings at new IMEIs, the ticket search
//! by IMEI, phone and number prefix, a device's history and a store's past-promise list. It prints figures and never
//! asserts on them (see `harness`).
//!
//! `cargo bench --bench scale -- [--database-url URL] --concurrency 8 [--tickets N] [--measure open,imei,...]
//! [--keep] [--existing URL] [--load-only]` (see `benches/README.md`)

mod harness;

use std::fmt::Write as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use clap::Parser;
use depot::auth::{Principal, Role};
use depot::catalog::{self, CreateModel, CreateSeries, CreateStore, StoreKind};
use depot::db::schema::{customers, devices, loaners, ticket_events, tickets};
use depot::db::{Db, Engine};
use depot::imei::Imei;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ExecuteCopyFromDsl, QueryDsl, RunQueryDsl};
use harness::{Request, Scratch, Server, Side, app_error};
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "scale",
    about = "Load a national network's year, then measure openings and reads over HTTP"
)]
struct Args {
    #[command(flatten)]
    run: harness::RunArgs,
    /// Tickets of the year to load (default: 10,000,000 on PostgreSQL, 1,000,000 on SQLite).
    #[arg(long)]
    tickets: Option<u64>,
    /// Service centers; a device's tickets go to one of them.
    #[arg(long, default_value_t = 1000)]
    stores: usize,
    /// Loaners of the premium series at each store, registered through the server's CSV import.
    #[arg(long, default_value_t = 10)]
    loaners_per_store: usize,
    /// Tickets per load transaction (with their devices, customers and timeline entries).
    #[arg(long, default_value_t = 30_000)]
    batch: u64,
    /// Database connections loading batches in parallel (PostgreSQL; SQLite has one writer).
    #[arg(long, default_value_t = 2)]
    load_connections: usize,
    /// What to measure, in this order within each round.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "open,imei,phone,number,device,past-promise"
    )]
    measure: Vec<Measure>,
    /// Leave the database in place at the end (to reuse it with `--existing`, or to EXPLAIN its reads).
    #[arg(long)]
    keep: bool,
    /// A database loaded by an earlier `--keep` run: measure on it without loading (it is not removed).
    #[arg(long, value_name = "URL")]
    existing: Option<String>,
    /// Load, report the sizes, and stop before measuring.
    #[arg(long)]
    load_only: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Measure {
    /// POST /api/v1/tickets: premium walk-in at a random store, a new IMEI and a new customer.
    Open,
    /// GET /api/v1/tickets?imei= of a loaded device.
    Imei,
    /// GET /api/v1/tickets?phone= of a loaded customer.
    Phone,
    /// GET /api/v1/tickets?number= a loaded ticket's number without its last two digits.
    Number,
    /// GET /api/v1/devices/{imei} of a loaded device.
    Device,
    /// GET /api/v1/tickets?store_id=..&past_promise=true of a random store.
    PastPromise,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Measure::Open => "open",
            Measure::Imei => "imei",
            Measure::Phone => "phone",
            Measure::Number => "number",
            Measure::Device => "device",
            Measure::PastPromise => "late",
        }
    }
}

/// Loan hold of a walk-in reservation, as the server's default.
const HOLD: Duration = Duration::from_secs(48 * 3600);
const STORE_PREFIX: &str = "SCALE-";
const PREMIUM_MODEL: &str = "SCALEMATE1";
/// Tickets sampled from the loaded data for the reads to look up.
const SAMPLES: usize = 5_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.run.check()?;
    if args.stores == 0 || args.batch == 0 || args.load_connections == 0 {
        bail!("--stores, --batch and --load-connections must be at least 1");
    }
    let mut scratch = match &args.existing {
        Some(url) => Scratch::existing(url),
        None => Scratch::new(args.run.database_url.as_deref())?,
    };
    let url = scratch.url.clone();
    let engine = Engine::of_url(&url);
    let count = args.tickets.unwrap_or(match engine {
        Engine::Postgres => 10_000_000,
        Engine::Sqlite => 1_000_000,
    });
    println!(
        "depot scale benchmark: {engine:?}, {}, {} stores x {} loaners",
        args.run.describe(),
        args.stores,
        args.loaners_per_store
    );
    if args.keep {
        scratch.keep();
        println!("the database stays after the run: {url}");
    }
    // Migrations first, on the empty database: every table and index is the migrations' own.
    let db = harness::raw_pool(&url, args.run.pool)?;
    let fixture = match &args.existing {
        Some(_) => Fixture::find(&db, &url)?,
        None => {
            let fixture = Fixture::create(&db, &url, args.stores)?;
            load(&url, engine, &fixture, count, args.batch, args.load_connections)?;
            fixture
        }
    };
    report_sizes(&url, engine)?;
    if args.load_only {
        return Ok(());
    }

    let mut servers = args.run.start_servers(&url)?;
    // The loaners go in through the server's import, so a database kept by `--load-only` has none yet.
    if args.existing.is_none() || loaner_count(&db)? == 0 {
        import_loaners(&servers.current, &fixture, args.loaners_per_store)?;
    }
    println!("{}", servers.memory()?);
    let samples = Samples::read(&url, engine)?;
    println!(
        "samples: {} tickets' IMEI, phone and number, {} stores",
        samples.tickets.len(),
        fixture.store_ids.len()
    );

    let load = args.run.load();
    let auth = format!("Bearer {}", fixture.admin_key);
    let base = servers.current.base.clone();
    let (fixture, samples, auth, base) = (&fixture, &samples, &auth, &base);
    let mut sides: Vec<Side<'_>> = args
        .measure
        .iter()
        .map(|&m| Side {
            name: m.name(),
            run: Box::new(move || {
                let expect: &[u16] = if m == Measure::Open { &[201] } else { &[200] };
                harness::run_http(load, auth, expect, rand::rng, |rng| {
                    Ok(request(m, base, fixture, samples, rng))
                })
            }),
            trips: servers.current.link.counters(),
        })
        .collect();
    harness::compare(&args.run, &mut servers, &mut sides, || {
        Ok(format!("tickets in database {}", ticket_count(&db)?))
    })?;
    drop(servers);
    Ok(())
}

/// The call a measure makes, built before its clock starts.
fn request(m: Measure, base: &str, fixture: &Fixture, samples: &Samples, rng: &mut impl Rng) -> Request {
    let sample = &samples.tickets[rng.random_range(0..samples.tickets.len())];
    let store = fixture.store_ids[rng.random_range(0..fixture.store_ids.len())];
    let get = |path: String| Request {
        url: format!("{base}{path}"),
        body: None,
    };
    match m {
        Measure::Open => Request {
            url: format!("{base}/api/v1/tickets"),
            body: Some(fixture.opening(store, rng).to_string()),
        },
        Measure::Imei => get(format!("/api/v1/tickets?imei={}", sample.imei)),
        Measure::Phone => get(format!("/api/v1/tickets?phone={}", sample.phone)),
        Measure::Number => {
            let prefix = &sample.number[..sample.number.len() - 2];
            get(format!("/api/v1/tickets?number={prefix}"))
        }
        Measure::Device => get(format!("/api/v1/devices/{}", sample.imei)),
        Measure::PastPromise => get(format!("/api/v1/tickets?store_id={store}&past_promise=true")),
    }
}

/// What the load and the openings need: the admin key, the stores, the premium model and the other models, and a
/// real opening's warranty decision to store in the loaded tickets.
struct Fixture {
    admin_key: String,
    principal: Principal,
    store_ids: Vec<Uuid>,
    store_codes: Vec<String>,
    premium_model: Uuid,
    models: Vec<Uuid>,
    decision: String,
}

impl Fixture {
    /// Built through the library's own parse-and-insert functions, so the rows are what the API would write.
    fn create(db: &Db, url: &str, store_count: usize) -> anyhow::Result<Fixture> {
        let admin = harness::create_key(db, Role::Admin, None)?;
        let actor = Some(admin.principal.key_id);
        let (store_ids, store_codes) = db
            .write(|conn| {
                let mut ids = Vec::with_capacity(store_count);
                let mut codes = Vec::with_capacity(store_count);
                for i in 0..store_count {
                    let row = CreateStore {
                        code: format!("{STORE_PREFIX}{i:04}"),
                        name: format!("Service center {i}"),
                        city: format!("City {}", i % 300),
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
        // One premium series (the loaners' and the openings') and three standard ones, two models each.
        let models = db
            .write(|conn| {
                let mut models = Vec::new();
                for (s, (code, premium)) in [("SCALEMATE", true), ("NOVA", false), ("ENJOY", false), ("PLAY", false)]
                    .into_iter()
                    .enumerate()
                {
                    let series_row = CreateSeries {
                        code: code.into(),
                        name: format!("Series {s}"),
                        premium,
                        loaner_deposit: None,
                    }
                    .parse()?;
                    let series = catalog::insert(conn, &series_row, actor)?;
                    for m in 1..=2 {
                        let model_row = CreateModel {
                            code: format!("{code}{m}"),
                            name: format!("{code} {m}"),
                            series_id: series.id,
                        }
                        .parse()?;
                        models.push(catalog::insert(conn, &model_row, actor)?);
                    }
                }
                Ok(models)
            })
            .map_err(app_error)?;
        let premium_model = models
            .iter()
            .find(|m| m.code == PREMIUM_MODEL)
            .map(|m| m.id)
            .context("the premium model")?;
        let mut fixture = Fixture {
            admin_key: admin.text,
            principal: admin.principal,
            store_ids,
            store_codes,
            premium_model,
            models: models.iter().map(|m| m.id).collect(),
            decision: String::new(),
        };
        // One real opening (a standard model: no loan) gives the decision text every loaded ticket carries.
        let standard = models.iter().find(|m| m.code == "NOVA1").context("a standard model")?;
        let mut body = fixture.opening(fixture.store_ids[0], &mut rand::rng());
        body["model_id"] = serde_json::json!(standard.id);
        let input: depot::tickets::OpenTicket = serde_json::from_value(body)?;
        let opened = db
            .write(|conn| depot::tickets::open_in(conn, &fixture.principal, &input, HOLD))
            .map_err(app_error)?;
        fixture.decision = decision_text(url, opened.id)?;
        Ok(fixture)
    }

    /// The fixture of a database an earlier run loaded and kept, with a new admin key.
    fn find(db: &Db, url: &str) -> anyhow::Result<Fixture> {
        let admin = harness::create_key(db, Role::Admin, None)?;
        let stores: Vec<CodeRow> = query(
            url,
            &format!("SELECT id, code FROM stores WHERE code LIKE '{STORE_PREFIX}%' ORDER BY code"),
        )?;
        let models: Vec<CodeRow> = query(url, "SELECT id, code FROM product_models ORDER BY code")?;
        let premium_model = models
            .iter()
            .find(|m| m.code == PREMIUM_MODEL)
            .map(|m| m.id.0)
            .context("no premium model: not a database this benchmark loaded")?;
        if stores.is_empty() {
            bail!("no stores: not a database this benchmark loaded");
        }
        Ok(Fixture {
            admin_key: admin.text,
            principal: admin.principal,
            store_ids: stores.iter().map(|s| s.id.0).collect(),
            store_codes: stores.into_iter().map(|s| s.code).collect(),
            premium_model,
            models: models.iter().map(|m| m.id.0).collect(),
            decision: String::new(),
        })
    }

    /// A premium walk-in opening at `store`: a new IMEI (prefix 86; the loaded devices have 49) and a new customer
    /// (a 15x mobile number; the loaded ones have 13x).
    fn opening(&self, store: Uuid, rng: &mut impl Rng) -> serde_json::Value {
        let imei = Imei::from_body(&format!("86{:012}", rng.random_range(0..1_000_000_000_000u64)))
            .map(|i| i.to_string())
            .unwrap_or_default();
        let phone = format!("+8615{:09}", rng.random_range(0..1_000_000_000u64));
        let purchased = Utc::now().date_naive() - chrono::Days::new(120);
        serde_json::json!({
            "store_id": store,
            "customer": {"name": "Walk-in Customer", "phone": phone},
            "device_imei": imei,
            "model_id": self.premium_model,
            "purchase_date": purchased,
            "channel": "walk_in",
            "reported_fault": "screen flickers and the battery drains overnight",
            "accessories": ["case"],
        })
    }
}

#[derive(diesel::QueryableByName)]
struct CodeRow {
    #[diesel(sql_type = depot::db::types::DbUuid)]
    id: depot::db::types::Id,
    #[diesel(sql_type = diesel::sql_types::Text)]
    code: String,
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

/// Rows of a read-only query, on either engine, through a connection of its own.
fn query<T>(url: &str, sql: &str) -> anyhow::Result<Vec<T>>
where
    T: diesel::QueryableByName<diesel::pg::Pg> + diesel::QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    match Engine::of_url(url) {
        Engine::Postgres => {
            let mut c = PgConnection::establish(url)?;
            Ok(diesel::sql_query(sql).load(&mut c)?)
        }
        Engine::Sqlite => {
            let mut c = SqliteConnection::establish(sqlite_path(url))?;
            Ok(diesel::sql_query(sql).load(&mut c)?)
        }
    }
}

fn execute(url: &str, sql: &str) -> anyhow::Result<()> {
    match Engine::of_url(url) {
        Engine::Postgres => PgConnection::establish(url)?.batch_execute(sql)?,
        Engine::Sqlite => SqliteConnection::establish(sqlite_path(url))?.batch_execute(sql)?,
    }
    Ok(())
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

fn decision_text(url: &str, ticket: Uuid) -> anyhow::Result<String> {
    let id = match Engine::of_url(url) {
        Engine::Postgres => format!("'{ticket}'"),
        Engine::Sqlite => format!("X'{}'", ticket.simple()),
    };
    let rows: Vec<TextRow> = query(
        url,
        &format!("SELECT warranty_decision AS text FROM tickets WHERE id = {id}"),
    )?;
    rows.into_iter()
        .next()
        .map(|r| r.text)
        .context("the opened ticket's decision")
}

fn ticket_count(db: &Db) -> anyhow::Result<i64> {
    db.read(|conn| {
        let n: i64 = depot::with_conn!(conn, c => tickets::table.count().get_result(c))?;
        Ok(n)
    })
    .map_err(app_error)
}

fn loaner_count(db: &Db) -> anyhow::Result<i64> {
    db.read(|conn| {
        let n: i64 = depot::with_conn!(conn, c => loaners::table.count().get_result(c))?;
        Ok(n)
    })
    .map_err(app_error)
}

/// Loaded tickets picked at random: the IMEIs, phones and numbers the reads look up.
struct Samples {
    tickets: Vec<Sample>,
}

#[derive(diesel::QueryableByName)]
struct Sample {
    #[diesel(sql_type = diesel::sql_types::Text)]
    imei: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    phone: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    number: String,
}

impl Samples {
    fn read(url: &str, engine: Engine) -> anyhow::Result<Samples> {
        let columns = "device_imei AS imei, customer_phone AS phone, number";
        let tickets: Vec<Sample> = match engine {
            Engine::Postgres => {
                let total: Vec<CountRow> = query(
                    url,
                    "SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'tickets'",
                )?;
                let total = total.first().map_or(1, |r| r.n.max(1));
                let percent = (SAMPLES as f64 * 200.0 / total as f64).clamp(0.001, 100.0);
                query(
                    url,
                    &format!(
                        "SELECT {columns} FROM tickets TABLESAMPLE SYSTEM ({percent}) \
                         WHERE device_imei LIKE '49%' LIMIT {SAMPLES}"
                    ),
                )?
            }
            Engine::Sqlite => {
                let max: Vec<CountRow> = query(url, "SELECT max(rowid) AS n FROM tickets")?;
                let max = max.first().map_or(1, |r| r.n.max(1));
                let mut rng = rand::rng();
                let ids: Vec<String> = (0..SAMPLES).map(|_| rng.random_range(1..=max).to_string()).collect();
                query(
                    url,
                    &format!(
                        "SELECT {columns} FROM tickets WHERE rowid IN ({}) AND device_imei LIKE '49%'",
                        ids.join(",")
                    ),
                )?
            }
        };
        if tickets.is_empty() {
            bail!("no loaded tickets to sample");
        }
        Ok(Samples { tickets })
    }
}

#[derive(diesel::QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Registers the loaners through the server's CSV import, the way a store's pool is loaded in practice.
fn import_loaners(server: &Server, fixture: &Fixture, per_store: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let count = harness::import_loaners(
        server,
        &fixture.admin_key,
        PREMIUM_MODEL,
        &fixture.store_codes,
        per_store,
    )?;
    println!(
        "setup: {count} loaners imported over HTTP in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// The year's data: every row is a function of its ticket's index, so batches are generated independently.

const DAY_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;

/// A deterministic 64-bit hash of (what, index): splitmix64.
fn h(what: u64, i: u64) -> u64 {
    let mut z = i
        .wrapping_add(what.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A time-ordered id (UUID v7, as the server makes) for the instant `at_us`, its random part from (what, index).
fn id(what: u64, i: u64, at_us: i64) -> Uuid {
    let r = h(what, i).to_le_bytes();
    let r2 = h(what ^ 0xFF, i).to_le_bytes();
    let bytes = [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r2[0], r2[1]];
    uuid::Builder::from_unix_timestamp_millis((at_us / 1000) as u64, &bytes).into_uuid()
}

/// The shape of the year: ticket `i` is opened at `at(i)`, evenly over the 365 days before now; one ticket in five
/// after the first 90 days brings back the phone of the ticket 90 days before it (a repeat repair); customers own
/// one to three of the phones.
struct Year {
    n: u64,
    start_us: i64,
    end_us: i64,
    repeat_offset: u64,
    stores: Vec<Uuid>,
    models: Vec<Uuid>,
    key: Uuid,
    decision: String,
}

const REPEAT_PERCENT: u64 = 20;

impl Year {
    fn at(&self, i: u64) -> i64 {
        self.start_us + ((i as i128 * (self.end_us - self.start_us) as i128) / self.n as i128) as i64
    }

    fn is_repeat(&self, i: u64) -> bool {
        self.repeat_offset > 0 && i >= self.repeat_offset && h(1, i) % 100 < REPEAT_PERCENT
    }

    /// The ticket that first brought in ticket `i`'s phone: the device's index.
    fn first_of(&self, mut i: u64) -> u64 {
        while self.is_repeat(i) {
            i -= self.repeat_offset;
        }
        i
    }

    /// Devices of three consecutive first tickets share a customer: the block's first `m` (1 to 3) do.
    fn customer_key(&self, f: u64) -> u64 {
        let block = f / 3;
        let shared = 1 + h(2, block) % 3;
        if f % 3 < shared { block * 3 } else { f }
    }

    /// Whether device `f` is the first of its customer's devices, which brings the customer's row.
    fn brings_customer(&self, f: u64) -> bool {
        let key = self.customer_key(f);
        key == f || (key..f).all(|j| self.is_repeat(j) || self.customer_key(j) != key)
    }

    fn customer_id(&self, key: u64) -> Uuid {
        id(3, key, self.at(key))
    }

    fn device_id(&self, f: u64) -> Uuid {
        id(4, f, self.at(f))
    }

    fn imei(f: u64) -> String {
        Imei::from_body(&format!("49{f:012}"))
            .map(|i| i.to_string())
            .unwrap_or_default()
    }

    fn phone(key: u64) -> String {
        format!("13{key:09}")
    }

    fn purchase_date(&self, f: u64) -> NaiveDate {
        date_of(self.at(f) - (10 + (h(5, f) % 300) as i64) * DAY_US)
    }

    fn model(&self, f: u64) -> Uuid {
        self.models[(h(6, f) % self.models.len() as u64) as usize]
    }

    fn store(&self, f: u64) -> Uuid {
        self.stores[(h(7, f) % self.stores.len() as u64) as usize]
    }
}

/// How a ticket of the year stands now.
struct Fate {
    status: &'static str,
    ready_at: Option<i64>,
    closed_at: Option<i64>,
    promised_at: i64,
    /// The status it left for ready or for cancelled (its last one before), for the timeline.
    before: &'static str,
}

const OPEN_STATUSES: [&str; 5] = [
    "received",
    "diagnosing",
    "awaiting_approval",
    "repairing",
    "quality_check",
];

impl Year {
    /// Most are closed; 3% cancelled; those of the last three weeks move through the statuses; about 2% of those of
    /// the last two months are still open with their promise (3 days) long past; a repair takes 12 to 96 hours, so
    /// a quarter are ready later than promised.
    fn fate(&self, i: u64) -> Fate {
        let t = self.at(i);
        let age = self.end_us - t;
        let promised_at = t + 3 * DAY_US;
        let repair = (12 + (h(8, i) % 85) as i64) * HOUR_US;
        let pickup_wait = (h(9, i) % (5 * 24)) as i64 * HOUR_US;
        let open_status = OPEN_STATUSES[(h(10, i) % OPEN_STATUSES.len() as u64) as usize];
        if h(11, i) % 100 < 3 && age > DAY_US {
            return Fate {
                status: "cancelled",
                ready_at: None,
                closed_at: Some(t + DAY_US),
                promised_at,
                before: "received",
            };
        }
        if age > 21 * DAY_US && age < 60 * DAY_US && h(12, i) % 100 < 2 {
            return Fate {
                status: open_status,
                ready_at: None,
                closed_at: None,
                promised_at,
                before: "received",
            };
        }
        if age < repair {
            return Fate {
                status: open_status,
                ready_at: None,
                closed_at: None,
                promised_at,
                before: "received",
            };
        }
        let ready = t + repair;
        if age < repair + pickup_wait {
            return Fate {
                status: "ready_for_pickup",
                ready_at: Some(ready),
                closed_at: None,
                promised_at,
                before: "quality_check",
            };
        }
        Fate {
            status: "closed",
            ready_at: Some(ready),
            closed_at: Some(ready + pickup_wait),
            promised_at,
            before: "quality_check",
        }
    }
}

fn date_of(us: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(us).map_or(NaiveDate::MIN, |t| t.date_naive())
}

/// Values written as one engine's bulk format: PostgreSQL's COPY text, or SQLite's SQL literals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Copy,
    Sql,
}

/// One table's rows of a batch, in the engine's format.
struct Rows {
    format: Format,
    text: String,
    count: u64,
    /// SQLite: rows of the statement being built, and the statements done.
    in_statement: u64,
    statements: Vec<String>,
    table: &'static str,
    columns: &'static str,
    first_field: bool,
}

/// Rows per SQLite INSERT statement.
const ROWS_PER_INSERT: u64 = 500;

impl Rows {
    fn new(format: Format, table: &'static str, columns: &'static str) -> Rows {
        Rows {
            format,
            text: String::with_capacity(1 << 20),
            count: 0,
            in_statement: 0,
            statements: Vec::new(),
            table,
            columns,
            first_field: true,
        }
    }

    fn begin(&mut self) {
        self.first_field = true;
        if self.format == Format::Sql {
            self.text.push_str(if self.in_statement == 0 { "(" } else { ",(" });
        }
    }

    fn end(&mut self) {
        self.count += 1;
        match self.format {
            Format::Copy => self.text.push('\n'),
            Format::Sql => {
                self.text.push(')');
                self.in_statement += 1;
                if self.in_statement == ROWS_PER_INSERT {
                    self.finish_statement();
                }
            }
        }
    }

    fn finish_statement(&mut self) {
        if self.format == Format::Sql && self.in_statement > 0 {
            let values = std::mem::take(&mut self.text);
            self.statements.push(format!(
                "INSERT INTO {} ({}) VALUES {values};",
                self.table, self.columns
            ));
            self.in_statement = 0;
        }
    }

    fn sep(&mut self) {
        if !self.first_field {
            self.text.push(match self.format {
                Format::Copy => '\t',
                Format::Sql => ',',
            });
        }
        self.first_field = false;
    }

    fn null(&mut self) -> &mut Self {
        self.sep();
        self.text.push_str(match self.format {
            Format::Copy => "\\N",
            Format::Sql => "NULL",
        });
        self
    }

    fn uuid(&mut self, v: Uuid) -> &mut Self {
        self.sep();
        match self.format {
            Format::Copy => {
                let _ = write!(self.text, "{}", v.hyphenated());
            }
            Format::Sql => {
                let _ = write!(self.text, "X'{}'", v.simple());
            }
        }
        self
    }

    fn text(&mut self, v: &str) -> &mut Self {
        self.sep();
        match self.format {
            Format::Copy => {
                for c in v.chars() {
                    match c {
                        '\\' => self.text.push_str("\\\\"),
                        '\t' => self.text.push_str("\\t"),
                        '\n' => self.text.push_str("\\n"),
                        '\r' => self.text.push_str("\\r"),
                        c => self.text.push(c),
                    }
                }
            }
            Format::Sql => {
                self.text.push('\'');
                self.text.push_str(&v.replace('\'', "''"));
                self.text.push('\'');
            }
        }
        self
    }

    fn opt_uuid(&mut self, v: Option<Uuid>) -> &mut Self {
        match v {
            Some(v) => self.uuid(v),
            None => self.null(),
        }
    }

    fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// An instant as the server stores it: microseconds, UTC.
    fn ts(&mut self, us: i64) -> &mut Self {
        self.sep();
        let t = DateTime::from_timestamp_micros(us).unwrap_or_default();
        let (d, tm) = (t.date_naive(), t.time());
        let micros = tm.nanosecond() / 1000;
        match self.format {
            Format::Copy => {
                let _ = write!(
                    self.text,
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{micros:06}+00",
                    d.year(),
                    d.month(),
                    d.day(),
                    tm.hour(),
                    tm.minute(),
                    tm.second()
                );
            }
            Format::Sql => {
                let _ = write!(
                    self.text,
                    "'{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z'",
                    d.year(),
                    d.month(),
                    d.day(),
                    tm.hour(),
                    tm.minute(),
                    tm.second()
                );
            }
        }
        self
    }

    fn opt_ts(&mut self, us: Option<i64>) -> &mut Self {
        match us {
            Some(us) => self.ts(us),
            None => self.null(),
        }
    }

    fn date(&mut self, d: NaiveDate) -> &mut Self {
        self.sep();
        let quote = if self.format == Format::Sql { "'" } else { "" };
        let _ = write!(
            self.text,
            "{quote}{:04}-{:02}-{:02}{quote}",
            d.year(),
            d.month(),
            d.day()
        );
        self
    }

    fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.text.push_str(match (self.format, v) {
            (Format::Copy, true) => "t",
            (Format::Copy, false) => "f",
            (Format::Sql, true) => "1",
            (Format::Sql, false) => "0",
        });
        self
    }

    fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.text, "{v}");
        self
    }

    fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }
}

const CUSTOMER_COLUMNS: &str = "id, phone, name, contact_consent, created_at, updated_at";
const DEVICE_COLUMNS: &str = "id, imei, model_id, purchase_date, warranty_starts_on, price_paid_minor, seller, \
     invoice_number, state, customer_id, replaces_device_id, credit_correction_days, created_at, updated_at";
const TICKET_COLUMNS: &str = "id, number, store_id, customer_name, customer_phone, device_imei, model_id, \
     purchase_date, channel, reported_fault, accessories, finding_liquid, finding_drop, finding_crush, \
     finding_tampering, finding_cosmetic, extended_warranty, screen_plan, covered_item, fault_kind, certificate, \
     force_majeure, prior_overrun_days, warranty_decision, status, promised_at, tracking_token_hash, labour_minor, \
     rating, rating_comment, created_at, updated_at, closed_at, device_id, customer_id, received_at, ready_at, \
     remedy, remedy_chosen_at, remedy_chosen_by, outcome, refund_minor, replacement_device_id";
const EVENT_COLUMNS: &str = "id, ticket_id, at, api_key_id, kind, from_status, to_status, note";

/// One batch's rows of the four tables.
struct Batch {
    customers: Rows,
    devices: Rows,
    tickets: Rows,
    events: Rows,
}

const FAULTS: [&str; 6] = [
    "screen flickers and the battery drains overnight",
    "does not charge",
    "camera app crashes",
    "speaker crackles during calls",
    "restarts by itself",
    "touch screen unresponsive at the top",
];

impl Year {
    /// The rows of tickets `from..to`, with their devices and customers when these are new, and their timelines.
    fn batch(&self, format: Format, from: u64, to: u64) -> Batch {
        let mut b = Batch {
            customers: Rows::new(format, "customers", CUSTOMER_COLUMNS),
            devices: Rows::new(format, "devices", DEVICE_COLUMNS),
            tickets: Rows::new(format, "tickets", TICKET_COLUMNS),
            events: Rows::new(format, "ticket_events", EVENT_COLUMNS),
        };
        for i in from..to {
            self.ticket(&mut b, i);
        }
        for rows in [&mut b.customers, &mut b.devices, &mut b.tickets, &mut b.events] {
            rows.finish_statement();
        }
        b
    }

    fn ticket(&self, b: &mut Batch, i: u64) {
        let t = self.at(i);
        let f = self.first_of(i);
        let key = self.customer_key(f);
        let (customer, device) = (self.customer_id(key), self.device_id(f));
        let phone = Year::phone(key);
        let name = format!("Customer {key}");
        let imei = Year::imei(f);
        let purchase = self.purchase_date(f);
        if f == i {
            if self.brings_customer(f) {
                let at = self.at(key);
                let c = &mut b.customers;
                c.begin();
                c.uuid(customer)
                    .text(&phone)
                    .text(&name)
                    .bool(h(13, key) % 2 == 0)
                    .ts(at)
                    .ts(at);
                c.end();
            }
            let d = &mut b.devices;
            d.begin();
            d.uuid(device)
                .text(&imei)
                .uuid(self.model(f))
                .date(purchase)
                .date(purchase)
                .int(199_900 + (h(14, f) % 5) as i64 * 100_000)
                .text("Official store")
                .text(&format!("INV{f:010}"))
                .text("in_use")
                .uuid(customer)
                .null()
                .int(0)
                .ts(t)
                .ts(t);
            d.end();
        }
        let fate = self.fate(i);
        let id = id(2, i, t);
        let value = i as i64 + 2; // number 1 is the fixture's real opening
        let number = depot::tickets::rules::ticket_number(date_of(t).year(), value);
        let token = Sha256::digest(format!("scale-token-{i}").as_bytes()).iter().fold(
            String::with_capacity(64),
            |mut s, byte| {
                let _ = write!(s, "{byte:02x}");
                s
            },
        );
        let updated = fate.closed_at.or(fate.ready_at).unwrap_or(t);
        let closed = fate.status == "closed";
        let rating = (closed && h(15, i) % 10 < 3).then(|| 3 + (h(16, i) % 3) as i64);
        let r = &mut b.tickets;
        r.begin();
        r.uuid(id)
            .text(&number)
            .uuid(self.store(f))
            .text(&name)
            .text(&phone)
            .text(&imei)
            .uuid(self.model(f))
            .date(purchase)
            .text("walk_in")
            .text(FAULTS[(h(17, i) % FAULTS.len() as u64) as usize])
            .text("[\"case\"]")
            .bool(false)
            .bool(false)
            .bool(false)
            .bool(false)
            .null()
            .bool(false)
            .bool(false)
            .text("handset")
            .text("performance")
            .text("valid")
            .bool(false)
            .int(0)
            .opt_text((!self.decision.is_empty()).then_some(self.decision.as_str()))
            .text(fate.status)
            .ts(fate.promised_at)
            .text(&token)
            .int(if closed { 8_000 } else { 0 })
            .opt_int(rating)
            .null()
            .ts(t)
            .ts(updated)
            .opt_ts(fate.closed_at)
            .uuid(device)
            .uuid(customer)
            .ts(t)
            .opt_ts(fate.ready_at)
            .opt_text(closed.then_some("free_repair"))
            .opt_ts(closed.then_some(t))
            .opt_uuid(closed.then_some(self.key))
            .null()
            .null()
            .null();
        r.end();
        let e = &mut b.events;
        let mut event = |n: u64, at: i64, kind: &str, from: Option<&str>, to: &str, note: Option<&str>| {
            e.begin();
            e.uuid(self::id(20 + n, i, at))
                .uuid(id)
                .ts(at)
                .uuid(self.key)
                .text(kind)
                .opt_text(from)
                .text(to)
                .opt_text(note);
            e.end();
        };
        event(0, t, "opened", None, "received", Some("in warranty: free repair"));
        if let Some(ready) = fate.ready_at {
            event(1, ready, "status_changed", Some(fate.before), "ready_for_pickup", None);
        }
        if let Some(at) = fate.closed_at {
            let from = if closed { "ready_for_pickup" } else { fate.before };
            event(2, at, "status_changed", Some(from), fate.status, None);
        }
    }
}

/// Loads the year into the migrated database: batches generated on this thread, written by `connections` writers,
/// each batch in one transaction (customers, devices, tickets, then timelines, so every foreign key holds).
fn load(url: &str, engine: Engine, fixture: &Fixture, n: u64, batch: u64, connections: usize) -> anyhow::Result<()> {
    let end_us = Utc::now().timestamp_micros() - HOUR_US;
    let year = Year {
        n: n.max(1),
        start_us: end_us - 365 * DAY_US,
        end_us,
        repeat_offset: n * 90 / 365,
        stores: fixture.store_ids.clone(),
        models: fixture.models.clone(),
        key: fixture.principal.key_id,
        decision: fixture.decision.clone(),
    };
    // Blocks of three tickets (a customer's devices) stay in one batch.
    let batch = batch.div_ceil(3) * 3;
    let format = match engine {
        Engine::Postgres => Format::Copy,
        Engine::Sqlite => Format::Sql,
    };
    let writers = if engine == Engine::Sqlite { 1 } else { connections };
    // A repeat repair's device comes from a batch written before it, committed by the time it is needed: at least
    // several times the writers' batches lie between the two.
    let batch = match n * 90 / 365 / (4 * writers as u64) {
        0 => batch,
        limit => batch.min(limit / 3 * 3).max(3),
    };
    println!("load: {n} tickets in batches of {batch}, {writers} connection(s)");
    let started = Instant::now();
    let (tx, rx) = mpsc::sync_channel::<Batch>(writers);
    let rx = std::sync::Mutex::new(rx);
    let totals = std::thread::scope(|s| -> anyhow::Result<[u64; 4]> {
        let workers: Vec<_> = (0..writers)
            .map(|_| {
                let rx = &rx;
                s.spawn(move || -> anyhow::Result<[u64; 4]> {
                    let mut writer = Writer::connect(url)?;
                    let mut totals = [0u64; 4];
                    loop {
                        let next = rx.lock().map_err(|_| anyhow::anyhow!("a writer panicked"))?.recv();
                        let Ok(b) = next else { break };
                        writer.write(&b)?;
                        for (t, rows) in totals.iter_mut().zip([&b.customers, &b.devices, &b.tickets, &b.events]) {
                            *t += rows.count;
                        }
                    }
                    Ok(totals)
                })
            })
            .collect();
        let mut from = 0;
        let mut last_report = Instant::now();
        while from < n {
            let to = (from + batch).min(n);
            if tx.send(year.batch(format, from, to)).is_err() {
                break; // a writer failed: its error is reported below
            }
            from = to;
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                println!("  load: {from} of {n} tickets generated after {secs:.0} s");
            }
        }
        drop(tx);
        let mut totals = [0u64; 4];
        for w in workers {
            let t = w.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
            for (a, b) in totals.iter_mut().zip(t) {
                *a += b;
            }
        }
        Ok(totals)
    })?;
    let loaded = started.elapsed().as_secs_f64();
    println!(
        "load: {} customers, {} devices, {} tickets, {} timeline entries in {loaded:.1} s ({:.0} tickets/s)",
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals[2] as f64 / loaded
    );
    // The next opening's number follows the loaded ones; the planner learns the new tables.
    let last = n as i64 + 1;
    let started = Instant::now();
    match engine {
        Engine::Postgres => {
            execute(url, &format!("SELECT setval('ticket_number_seq', {last})"))?;
            execute(url, "VACUUM (ANALYZE) customers, devices, tickets, ticket_events")?;
        }
        Engine::Sqlite => {
            execute(
                url,
                &format!(
                    "INSERT INTO counters (name, value) VALUES ('ticket_number', {last}) \
                     ON CONFLICT (name) DO UPDATE SET value = {last}; ANALYZE;"
                ),
            )?;
        }
    }
    println!("load: vacuum and analyze in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// COPY of one table's rows of a batch, in PostgreSQL's text format, into the named columns.
macro_rules! copy {
    ($c:expr, $table:expr, $columns:expr, $rows:expr) => {{
        let rows: &Rows = $rows;
        if rows.count > 0 {
            let text = rows.text.as_bytes();
            diesel::copy_from($table)
                .from_raw_data($columns, |w| {
                    w.write_all(text)
                        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
                })
                .execute($c)?;
        }
    }};
}

enum Writer {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl Writer {
    fn connect(url: &str) -> anyhow::Result<Writer> {
        Ok(match Engine::of_url(url) {
            Engine::Postgres => Writer::Pg(PgConnection::establish(url)?),
            Engine::Sqlite => {
                let mut c = SqliteConnection::establish(sqlite_path(url))?;
                // A benchmark's load: nothing to lose if the machine stops mid-way.
                c.batch_execute("PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 60000;")?;
                Writer::Sqlite(c)
            }
        })
    }

    fn write(&mut self, b: &Batch) -> anyhow::Result<()> {
        match self {
            Writer::Pg(c) => c.transaction(|c| -> diesel::QueryResult<()> {
                copy!(c, customers::table, customer_columns(), &b.customers);
                copy!(c, devices::table, device_columns(), &b.devices);
                copy!(c, tickets::table, ticket_columns(), &b.tickets);
                copy!(c, ticket_events::table, event_columns(), &b.events);
                Ok(())
            })?,
            Writer::Sqlite(c) => c.transaction(|c| -> diesel::QueryResult<()> {
                for rows in [&b.customers, &b.devices, &b.tickets, &b.events] {
                    for statement in &rows.statements {
                        c.batch_execute(statement)?;
                    }
                }
                Ok(())
            })?,
        }
        Ok(())
    }
}

fn customer_columns() -> impl diesel::pg::CopyTarget<Table = customers::table> {
    use customers::*;
    (id, phone, name, contact_consent, created_at, updated_at)
}

fn device_columns() -> impl diesel::pg::CopyTarget<Table = devices::table> {
    use devices::*;
    (
        id,
        imei,
        model_id,
        purchase_date,
        warranty_starts_on,
        price_paid_minor,
        seller,
        invoice_number,
        state,
        customer_id,
        replaces_device_id,
        credit_correction_days,
        created_at,
        updated_at,
    )
}

fn ticket_columns() -> impl diesel::pg::CopyTarget<Table = tickets::table> {
    use tickets::*;
    (
        id,
        number,
        store_id,
        customer_name,
        customer_phone,
        device_imei,
        model_id,
        purchase_date,
        channel,
        reported_fault,
        accessories,
        finding_liquid,
        finding_drop,
        finding_crush,
        finding_tampering,
        finding_cosmetic,
        extended_warranty,
        screen_plan,
        covered_item,
        fault_kind,
        certificate,
        force_majeure,
        prior_overrun_days,
        warranty_decision,
        status,
        promised_at,
        tracking_token_hash,
        labour_minor,
        rating,
        rating_comment,
        created_at,
        updated_at,
        closed_at,
        device_id,
        customer_id,
        received_at,
        ready_at,
        remedy,
        remedy_chosen_at,
        remedy_chosen_by,
        outcome,
        refund_minor,
        replacement_device_id,
    )
}

fn event_columns() -> impl diesel::pg::CopyTarget<Table = ticket_events::table> {
    use ticket_events::*;
    (id, ticket_id, at, api_key_id, kind, from_status, to_status, note)
}

#[derive(diesel::QueryableByName)]
struct SizeRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bytes: i64,
}

/// The database's size on disk, and its largest tables with their indexes.
fn report_sizes(url: &str, engine: Engine) -> anyhow::Result<()> {
    match engine {
        Engine::Postgres => {
            let total: Vec<SizeRow> = query(
                url,
                "SELECT current_database()::text AS name, pg_database_size(current_database()) AS bytes",
            )?;
            let tables: Vec<SizeRow> = query(
                url,
                "SELECT c.relname::text || ' (table ' || pg_size_pretty(pg_table_size(c.oid)) || ', indexes ' || \
                 pg_size_pretty(pg_indexes_size(c.oid)) || ')' AS name, pg_total_relation_size(c.oid) AS bytes \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY bytes DESC LIMIT 5",
            )?;
            for t in total.iter().chain(&tables) {
                println!("  size: {:>9.1} MiB  {}", t.bytes as f64 / 1048576.0, t.name);
            }
        }
        Engine::Sqlite => {
            let path = sqlite_path(url);
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
                + std::fs::metadata(format!("{path}-wal")).map(|m| m.len()).unwrap_or(0);
            println!("  size: {:>9.1} MiB  {path} (with its WAL)", bytes as f64 / 1048576.0);
        }
    }
    Ok(())
}
