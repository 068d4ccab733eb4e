//! `depot`: parse the command line and call into the library.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use depot::auth::{self, NewApiKey, Role};
use depot::config::{DEFAULT_BIND, DEFAULT_BODY_TIMEOUT_SECS, DEFAULT_DATABASE_URL, DEFAULT_MAX_CONNECTIONS, Settings};
use depot::db::{Db, Engine, PoolOptions, SqliteSynchronous};
use depot::edge::{Cidr, TrustedProxies};
use depot::telemetry::{self, LogFormat};
use depot::{openapi, seed, startup};

#[derive(Parser)]
#[command(
    name = "depot",
    version,
    about = "Depot: loaners, parts, repair tickets and courier pickups"
)]
struct Cli {
    /// `sqlite://FILE` (default, created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    /// Log format on stderr.
    #[arg(long, env = "DEPOT_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(Box<ServeArgs>),
    /// Run pending database migrations and exit.
    Migrate,
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the staff who sign in to the console.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Check that every stock level equals the sums of its ledger; exits 1 when one does not. An explicit full
    /// check: it reads the whole ledger.
    CheckStock,
    /// Copy the database into FILE, consistently, while servers keep serving (SQLite). On PostgreSQL this runs
    /// `pg_dump --format=custom` when it is on the PATH, and otherwise says how to and exits 1.
    Backup {
        /// The new file to write; it must not exist.
        file: std::path::PathBuf,
    },
    /// Load the demo data set (stores, series, models, loaners, parts, stock, a courier); safe to run again.
    SeedDemo,
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "DEPOT_BIND", default_value = DEFAULT_BIND)]
    bind: String,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "DEPOT_WORKERS", default_value_t = 0)]
    workers: usize,
    /// Largest number of database connections in the pool.
    #[arg(long, env = "DEPOT_DB_MAX_CONNECTIONS", default_value_t = 8)]
    db_max_connections: u32,
    /// Seconds to wait for a database connection before answering 503.
    #[arg(long, env = "DEPOT_DB_TIMEOUT_SECS", default_value_t = 10)]
    db_timeout_secs: u64,
    /// Hours a reserved loaner is held for hand-over before the reservation expires.
    #[arg(long, env = "DEPOT_LOAN_HOLD_HOURS", default_value_t = 48)]
    loan_hold_hours: u64,
    /// Hours after its opening a complaint's first reply is due (the list's `due=breached` and the staff alert).
    #[arg(long, env = "DEPOT_COMPLAINT_FIRST_REPLY_HOURS", default_value_t = 48, value_parser = clap::value_parser!(u64).range(1..=8760))]
    complaint_first_reply_hours: u64,
    /// Seconds between sweeps for reservations whose hold ran out (0: no sweeper on this instance).
    #[arg(long, env = "DEPOT_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    sweep_interval_secs: u64,
    /// Milliseconds between placements of committed events in the event feed (0: this instance does not place
    /// them; another instance must).
    #[arg(long, env = "DEPOT_EVENTS_INTERVAL_MS", default_value_t = 200)]
    events_interval_ms: u64,
    /// A store's waitlist for one series longer than this raises a `waitlist.long` staff alert (checked each sweep).
    #[arg(long, env = "DEPOT_ALERT_WAITLIST_LENGTH", default_value_t = 5)]
    alert_waitlist_length: i64,
    /// Seconds graceful shutdown waits for requests in flight.
    #[arg(long, env = "DEPOT_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    shutdown_timeout_secs: u64,
    /// Seconds a draining server goes on answering (readiness 503) before it waits out the requests in flight.
    #[arg(long, env = "DEPOT_DRAIN_DELAY_SECS", default_value_t = 1)]
    drain_delay_secs: u64,
    /// Seconds a client has to send a request body once its headers arrived (then 408 and the connection closes).
    #[arg(long, env = "DEPOT_BODY_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_TIMEOUT_SECS)]
    body_timeout_secs: u64,
    /// Open connections this server holds at once, over all workers; further ones wait in the listen backlog.
    #[arg(long, env = "DEPOT_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Proxies whose X-Forwarded-For names the client: comma-separated addresses or CIDR networks (none by default).
    #[arg(long, env = "DEPOT_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// Client addresses or networks that may read /metrics without a key (comma-separated).
    #[arg(long, env = "DEPOT_METRICS_ALLOW", default_value = "127.0.0.0/8,::1")]
    metrics_allow: String,
    /// A bearer key that opens /metrics from any address (at least 16 characters); none by default.
    #[arg(long, env = "DEPOT_METRICS_KEY", hide_env_values = true)]
    metrics_key: Option<String>,
    /// SQLite only: `normal` (commits survive a crash of the process; a power loss may lose the last ones, never
    /// the database) or `full` (a commit once answered survives a power loss too; slower writes).
    #[arg(long, env = "DEPOT_SQLITE_SYNCHRONOUS", value_parser = parse_synchronous, default_value = "normal")]
    sqlite_synchronous: SqliteSynchronous,
    /// Networks webhook deliveries may reach although loopback, private or link-local: CIDRs or addresses,
    /// comma-separated or repeated (none by default).
    #[arg(
        long = "webhook-allow-cidr",
        env = "DEPOT_WEBHOOK_ALLOW_CIDRS",
        value_delimiter = ','
    )]
    webhook_allow_cidrs: Vec<String>,
    /// Webhook deliveries in flight at once on this instance.
    #[arg(long, env = "DEPOT_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    webhook_concurrency: usize,
    /// Webhook deliveries in flight at once to one endpoint on this instance (a slow endpoint never takes every
    /// worker).
    #[arg(long, env = "DEPOT_WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 4)]
    webhook_endpoint_concurrency: usize,
    /// Minutes a console session may go unused before it ends (the user signs in again).
    #[arg(long, env = "DEPOT_SESSION_IDLE_MINUTES", default_value_t = depot::config::DEFAULT_SESSION_IDLE_MINUTES, value_parser = clap::value_parser!(i64).range(1..=1440))]
    session_idle_minutes: i64,
    /// Hours after signing in a console session ends, however busy.
    #[arg(long, env = "DEPOT_SESSION_HOURS", default_value_t = depot::config::DEFAULT_SESSION_HOURS, value_parser = clap::value_parser!(i64).range(1..=720))]
    session_hours: i64,
    /// Send the console's session cookie without `Secure`, for plain-HTTP use other than on localhost (browsers
    /// accept a `Secure` cookie from http://localhost). Leave off behind HTTPS.
    #[arg(long, env = "DEPOT_INSECURE_COOKIES")]
    insecure_cookies: bool,
    /// Seconds a webhook delivery may take before it counts as failed.
    #[arg(long, env = "DEPOT_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    webhook_timeout_secs: u64,
    /// Seconds a dispatcher's claim holds a message; after it, another instance may take it (longer than the
    /// timeout).
    #[arg(long, env = "DEPOT_WEBHOOK_LEASE_SECS", default_value_t = 60)]
    webhook_lease_secs: u64,
    /// Milliseconds between the webhook dispatcher's looks for work when idle (0: no dispatcher on this instance).
    #[arg(long, env = "DEPOT_WEBHOOK_INTERVAL_MS", default_value_t = 100)]
    webhook_interval_ms: u64,
    /// Days of failing deliveries, none delivered, after which an endpoint is disabled.
    #[arg(long, env = "DEPOT_WEBHOOK_DISABLE_AFTER_DAYS", default_value_t = 5)]
    webhook_disable_after_days: u64,
    /// Seconds between rounds of planning and sending customer reminders (0: none on this instance).
    #[arg(long, env = "DEPOT_REMINDERS_INTERVAL_SECS", default_value_t = 30)]
    reminders_interval_secs: u64,
    /// Where customers open their tracking links, e.g. `https://service.example.com`.
    #[arg(long, env = "DEPOT_PUBLIC_BASE_URL", default_value = "http://127.0.0.1:8080")]
    public_base_url: String,
    /// Quiet hours in each store's time zone, `HH:MM-HH:MM` (a reminder due in them waits for their end).
    #[arg(long, env = "DEPOT_QUIET_HOURS", default_value = "21:00-08:00")]
    quiet_hours: String,
    /// Language of reminders to Chinese numbers (`zh` or `en`); other countries' numbers get English.
    #[arg(long, env = "DEPOT_REMINDERS_LANGUAGE", default_value = "zh")]
    reminders_language: String,
    /// The HTTP SMS gateway (`http://`); none writes reminders to the log. Its key is read from DEPOT_SMS_API_KEY.
    #[arg(long, env = "DEPOT_SMS_GATEWAY_URL")]
    sms_gateway_url: Option<String>,
    /// The sign name the SMS provider registered for us.
    #[arg(long, env = "DEPOT_SMS_SIGN_NAME", default_value = "Depot")]
    sms_sign_name: String,
    /// The SMS provider's template id for free text.
    #[arg(long, env = "DEPOT_SMS_TEMPLATE_ID", default_value = "")]
    sms_template_id: String,
    /// Largest upload (photo or file) accepted, in bytes; larger ones are refused with 413 and nothing is stored.
    #[arg(long, env = "DEPOT_MAX_UPLOAD_BYTES", default_value_t = depot::files::DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    /// Directory of the file store (default: `files` beside the SQLite file; `depot-files` in the working directory
    /// on PostgreSQL: several instances need a shared directory or --files-s3-url).
    #[arg(long, env = "DEPOT_FILES_DIR")]
    files_dir: Option<std::path::PathBuf>,
    /// An S3-compatible bucket for files instead of the directory: `http(s)://host[:port]/bucket` (path style).
    /// Credentials from DEPOT_S3_ACCESS_KEY_ID and DEPOT_S3_SECRET_ACCESS_KEY.
    #[arg(long, env = "DEPOT_FILES_S3_URL")]
    files_s3_url: Option<String>,
    /// The S3 region the signatures name.
    #[arg(long, env = "DEPOT_FILES_S3_REGION", default_value = "us-east-1")]
    files_s3_region: String,
}

/// The files settings from the command line; the S3 credentials from the environment only.
fn files_settings(args: &ServeArgs) -> anyhow::Result<depot::files::FilesSettings> {
    let s3 = match args.files_s3_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            let key = std::env::var("DEPOT_S3_ACCESS_KEY_ID").unwrap_or_default();
            let secret = std::env::var("DEPOT_S3_SECRET_ACCESS_KEY").unwrap_or_default();
            if key.is_empty() || secret.is_empty() {
                anyhow::bail!("--files-s3-url needs DEPOT_S3_ACCESS_KEY_ID and DEPOT_S3_SECRET_ACCESS_KEY");
            }
            Some(depot::files::S3Settings {
                url: url.to_owned(),
                region: args.files_s3_region.clone(),
                access_key_id: key,
                secret_access_key: secret,
            })
        }
        None => None,
    };
    Ok(depot::files::FilesSettings {
        max_upload_bytes: args.max_upload_bytes,
        dir: args.files_dir.clone(),
        s3,
        ..Default::default()
    })
}

/// The reminder settings from the command line; the gateway's key from the environment only.
fn reminder_settings(args: &ServeArgs) -> anyhow::Result<depot::reminders::ReminderSettings> {
    use depot::reminders::{GatewaySettings, Language, ReminderSettings};
    let parse_time = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M");
    let (start, end) = args
        .quiet_hours
        .split_once('-')
        .and_then(|(s, e)| Some((parse_time(s).ok()?, parse_time(e).ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--quiet-hours must be HH:MM-HH:MM"))?;
    let language = Language::parse(&args.reminders_language)
        .ok_or_else(|| anyhow::anyhow!("--reminders-language must be zh or en"))?;
    let gateway = match &args.sms_gateway_url {
        Some(url) if !url.is_empty() => {
            if !url.starts_with("http://") {
                anyhow::bail!(
                    "--sms-gateway-url must be an http:// URL (reach an https provider through a local TLS proxy)"
                );
            }
            let api_key = std::env::var("DEPOT_SMS_API_KEY").unwrap_or_default();
            if api_key.is_empty() {
                anyhow::bail!("--sms-gateway-url needs the gateway's key in DEPOT_SMS_API_KEY");
            }
            Some(GatewaySettings {
                url: url.clone(),
                api_key,
                sign_name: args.sms_sign_name.clone(),
                template_id: args.sms_template_id.clone(),
                timeout: Duration::from_secs(10),
            })
        }
        _ => None,
    };
    Ok(ReminderSettings {
        interval: Duration::from_secs(args.reminders_interval_secs),
        public_base_url: args.public_base_url.clone(),
        quiet_start: start,
        quiet_end: end,
        language,
        gateway,
    })
}

fn parse_synchronous(value: &str) -> Result<SqliteSynchronous, String> {
    SqliteSynchronous::parse(value).ok_or_else(|| "one of normal, full".to_owned())
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (shown once).
    Create {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        label: String,
        /// Store or location code the key acts on (store_staff, warehouse); repeat for several.
        #[arg(long = "store")]
        stores: Vec<String>,
        /// Courier partner code (courier keys).
        #[arg(long)]
        partner: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id; it stops working at once.
    Revoke { id: uuid::Uuid },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user. The password is read from DEPOT_USER_PASSWORD when set, otherwise from the first line of
    /// standard input (never a flag: it would stay in the shell's history).
    Create {
        #[arg(long)]
        username: String,
        /// admin, store_staff or warehouse.
        #[arg(long, value_parser = parse_user_role)]
        role: Role,
        /// Store or location code the user acts on (store_staff, warehouse); repeat for several.
        #[arg(long = "store")]
        stores: Vec<String>,
        /// The console's language for the user: zh-CN or en.
        #[arg(long, default_value = "zh-CN", value_parser = parse_locale)]
        locale: depot::users::Locale,
        /// The name the console shows (the username by default).
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn parse_user_role(value: &str) -> Result<Role, String> {
    match Role::parse(value) {
        Some(role @ (Role::Admin | Role::StoreStaff | Role::Warehouse)) => Ok(role),
        _ => Err("one of admin, store_staff, warehouse".to_owned()),
    }
}

fn parse_locale(value: &str) -> Result<depot::users::Locale, String> {
    depot::users::Locale::parse(value).ok_or_else(|| "one of zh-CN, en".to_owned())
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| "one of admin, store_staff, warehouse, courier".to_owned())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init_logging(cli.log_format);
    match cli.command {
        None => serve(
            &cli.database_url,
            ServeArgs {
                bind: DEFAULT_BIND.into(),
                ..from_env_serve_args()
            },
        ),
        Some(Command::Serve(args)) => serve(&cli.database_url, *args),
        Some(Command::Migrate) => {
            let db = open(&cli.database_url)?;
            let applied = db.migrate()?;
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Some(Command::Keys(command)) => keys_command(&cli.database_url, command),
        Some(Command::Users(command)) => users_command(&cli.database_url, command),
        Some(Command::SeedDemo) => {
            let db = open(&cli.database_url)?;
            db.migrate()?;
            let report = seed::seed_demo(&db)?;
            println!("{report}");
            Ok(())
        }
        Some(Command::CheckStock) => {
            let db = open(&cli.database_url)?;
            db.migrate()?;
            let check = db
                .read(depot::stock::check_ledger)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for m in &check.mismatches {
                println!(
                    "MISMATCH location {} part {}: on_hand {} vs ledger {}, reserved {} vs ledger {}",
                    m.location_id, m.part_id, m.on_hand, m.ledger_on_hand, m.reserved, m.ledger_reserved
                );
            }
            println!(
                "{} stock level(s) checked; {} mismatch(es)",
                check.levels,
                check.mismatches.len()
            );
            if check.consistent {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Some(Command::Backup { file }) => backup(&cli.database_url, &file),
        Some(Command::Openapi) => {
            print!("{}", openapi::document_json());
            Ok(())
        }
    }
}

/// `depot` with no subcommand serves with the same flags' environment variables.
fn from_env_serve_args() -> ServeArgs {
    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        serve: ServeArgs,
    }
    Only::parse_from(["depot"]).serve
}

fn open(url: &str) -> anyhow::Result<Db> {
    Db::connect(
        url,
        &PoolOptions {
            max_connections: 2,
            connect_timeout: Duration::from_secs(10),
            ..PoolOptions::default()
        },
    )
}

fn serve(database_url: &str, args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::for_database(database_url);
    settings.pool.max_connections = args.db_max_connections;
    settings.pool.connect_timeout = Duration::from_secs(args.db_timeout_secs);
    settings.loan_hold = Duration::from_secs(args.loan_hold_hours * 3600);
    settings.complaint_first_reply = Duration::from_secs(args.complaint_first_reply_hours * 3600);
    settings.workers = args.workers;
    settings.sweep_interval = Duration::from_secs(args.sweep_interval_secs);
    settings.events_interval = Duration::from_millis(args.events_interval_ms);
    settings.alert_waitlist_length = args.alert_waitlist_length;
    settings.shutdown_timeout = Duration::from_secs(args.shutdown_timeout_secs);
    settings.drain_delay = Duration::from_secs(args.drain_delay_secs);
    settings.body_timeout = Duration::from_secs(args.body_timeout_secs);
    settings.max_connections = args.max_connections;
    settings.trusted_proxies =
        TrustedProxies(Cidr::parse_list(&args.trusted_proxies).map_err(|e| anyhow::anyhow!("--trusted-proxies: {e}"))?);
    settings.metrics_allow =
        Cidr::parse_list(&args.metrics_allow).map_err(|e| anyhow::anyhow!("--metrics-allow: {e}"))?;
    settings.reminders = reminder_settings(&args)?;
    settings.files = files_settings(&args)?;
    settings.metrics_key = args.metrics_key;
    settings.pool.sqlite_synchronous = args.sqlite_synchronous;
    settings.webhook_allow = Cidr::parse_list(&args.webhook_allow_cidrs.join(","))
        .map_err(|e| anyhow::anyhow!("--webhook-allow-cidr: {e}"))?;
    settings.webhook_concurrency = args.webhook_concurrency;
    settings.webhook_endpoint_concurrency = args.webhook_endpoint_concurrency;
    settings.webhook_timeout = Duration::from_secs(args.webhook_timeout_secs);
    settings.webhook_lease = Duration::from_secs(args.webhook_lease_secs);
    settings.webhook_interval = Duration::from_millis(args.webhook_interval_ms);
    settings.webhook_disable_after = Duration::from_secs(args.webhook_disable_after_days * 24 * 3600);
    settings.session = depot::users::SessionSettings {
        idle: chrono::Duration::minutes(args.session_idle_minutes),
        lifetime: chrono::Duration::hours(args.session_hours),
    };
    settings.cookie_secure = !args.insecure_cookies;
    let state = startup::prepare(settings)?;
    if let Some(created) = auth::bootstrap_admin(&state.db).map_err(|e| anyhow::anyhow!("{e}"))? {
        let key = created.key.unwrap_or_default();
        println!("\nFirst start on an empty database: created an admin API key. It is shown this once; keep it.\n");
        println!("    {key}\n");
        println!(
            "Use it as:  curl -H 'Authorization: Bearer {key}' http://{}/api/v1/stores\n",
            args.bind
        );
    }
    let sweeper = startup::spawn_sweeper(state.clone());
    let sequencer = depot::events::spawn_sequencer(state.clone());
    let dispatcher = depot::webhooks::spawn_dispatcher(state.clone());
    let reminders = depot::reminders::spawn_sender(state.clone());
    let listener = TcpListener::bind(&args.bind).with_context(|| format!("binding {}", args.bind))?;
    tracing::info!(
        address = %listener.local_addr()?,
        engine = ?state.db.engine(),
        "depot serving; API docs at /docs/"
    );
    let serving = state.clone();
    actix_web::rt::System::new().block_on(async move {
        let server = startup::run(listener, serving.clone())?;
        actix_web::rt::spawn(startup::stop_on_signal(serving, server.handle()));
        server.await
    })?;
    // The server stopped; so did the sweeper's loop (drain told it): wait for a sweep in progress to end.
    state.shutdown.begin();
    if let Some(sweeper) = sweeper {
        if sweeper.join().is_err() {
            tracing::error!("the reservation sweeper panicked");
        }
    }
    if let Some(dispatcher) = dispatcher {
        // Deliveries in flight get the shutdown timeout; what is still held is given back to other instances.
        dispatcher.stop(state.settings.shutdown_timeout);
    }
    if let Some(sequencer) = sequencer {
        if sequencer.join().is_err() {
            tracing::error!("the event sequencer panicked");
        }
    }
    if let Some(reminders) = reminders {
        if reminders.join().is_err() {
            tracing::error!("the reminder sender panicked");
        }
    }
    tracing::info!("depot stopped");
    Ok(())
}

/// `depot backup FILE`: SQLite copies itself (`VACUUM INTO`, consistent while servers write); PostgreSQL's tool is
/// `pg_dump`, run here when it is installed. Never migrates (a backup taken before an upgrade must be of the
/// database as it was), and refuses a database a newer Depot migrated (back it up with that version).
fn backup(url: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let db = open(url)?;
    db.refuse_newer().context("nothing was backed up")?;
    match Engine::of_url(url) {
        Engine::Sqlite => {
            db.backup_sqlite(file)?;
            println!("backed up to {}", file.display());
            Ok(())
        }
        Engine::Postgres => {
            anyhow::ensure!(!file.exists(), "{} already exists; choose a new file", file.display());
            let status = std::process::Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--file")
                .arg(file)
                .arg("--dbname")
                .arg(url)
                .status();
            match status {
                Ok(s) if s.success() => {
                    println!("backed up with pg_dump to {} (restore with pg_restore)", file.display());
                    Ok(())
                }
                Ok(s) => anyhow::bail!("pg_dump failed ({s}); nothing was backed up"),
                Err(e) => {
                    eprintln!(
                        "On PostgreSQL, back up with PostgreSQL's own tools: \
                         pg_dump --format=custom --file {} --dbname <DATABASE_URL> (restore with pg_restore), \
                         or continuous archiving for point-in-time recovery. pg_dump could not be run here: {e}",
                        file.display()
                    );
                    std::process::exit(1)
                }
            }
        }
    }
}

fn keys_command(url: &str, command: KeysCommand) -> anyhow::Result<()> {
    let db = open(url)?;
    db.migrate()?;
    let fail = |e: depot::error::AppError| anyhow::anyhow!("{e}: {:?}", e.to_problem().errors);
    match command {
        KeysCommand::Create {
            role,
            label,
            stores,
            partner,
        } => {
            let created = db
                .write(|conn| {
                    let mut store_ids = Vec::new();
                    for code in &stores {
                        let store = depot::catalog::repo::stores::find_by_code(conn, &code.to_ascii_uppercase())?
                            .ok_or_else(|| depot::error::AppError::field("store", format!("no store {code}")))?;
                        store_ids.push(store.id.0);
                    }
                    let partner_id =
                        match &partner {
                            Some(code) => Some(seed::find_partner(conn, code)?.ok_or_else(|| {
                                depot::error::AppError::field("partner", format!("no partner {code}"))
                            })?),
                            None => None,
                        };
                    let request = auth::CreateApiKey {
                        role,
                        label: label.clone(),
                        store_ids,
                        partner_id,
                    };
                    let new: NewApiKey = request.parse()?;
                    auth::create_key(conn, &new, None)
                })
                .map_err(fail)?;
            println!(
                "created {} key {} ({})",
                created.api_key.role.as_str(),
                created.api_key.id,
                created.api_key.label
            );
            println!("{}", created.key.unwrap_or_default());
        }
        KeysCommand::List => {
            let mut page =
                depot::http::pagination::PageRequest::parse(auth::service::LIST, Some(200), None).map_err(fail)?;
            loop {
                let (items, next) = db.read(|conn| auth::list_keys(conn, page)).map_err(fail)?;
                for k in items {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    println!(
                        "{}  dpk_{}_…  {:<11}  {:<7}  {}",
                        k.id,
                        k.prefix,
                        k.role.as_str(),
                        state,
                        k.label
                    );
                }
                match next {
                    Some(cursor) => {
                        page =
                            depot::http::pagination::PageRequest::parse(auth::service::LIST, Some(200), Some(&cursor))
                                .map_err(fail)?
                    }
                    None => break,
                }
            }
        }
        KeysCommand::Revoke { id } => {
            let key = db.write(|conn| auth::revoke_key(conn, id, None)).map_err(fail)?;
            println!("revoked {} ({})", key.id, key.label);
        }
    }
    Ok(())
}

fn users_command(url: &str, command: UsersCommand) -> anyhow::Result<()> {
    let db = open(url)?;
    db.migrate()?;
    let fail = |e: depot::error::AppError| anyhow::anyhow!("{e}: {:?}", e.to_problem().errors);
    match command {
        UsersCommand::Create {
            username,
            role,
            stores,
            locale,
            display_name,
        } => {
            let username = depot::users::Username::parse(&username).map_err(|e| anyhow::anyhow!("--username {e}"))?;
            let password = match std::env::var("DEPOT_USER_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let store_ids = db
                .read(|conn| {
                    let mut ids = Vec::new();
                    for code in &stores {
                        let store = depot::catalog::repo::stores::find_by_code(conn, &code.to_ascii_uppercase())?
                            .ok_or_else(|| depot::error::AppError::field("store", format!("no store {code}")))?;
                        ids.push(store.id.0);
                    }
                    Ok(ids)
                })
                .map_err(fail)?;
            // The rules of the admin's form: a password long enough, a role and stores as a key's.
            let new = depot::users::service::parse_new_user(
                username.as_str(),
                display_name.as_deref().unwrap_or(username.as_str()),
                role.as_str(),
                store_ids,
                locale.as_str(),
                &password,
            )
            .map_err(fail)?;
            let user = depot::users::service::create(&db, &new, None).map_err(fail)?;
            println!("created {} user {} ({})", role.as_str(), user.username, user.id.0);
        }
    }
    Ok(())
}
