//! The database: engine chosen from the URL, connection pools, transactions and embedded migrations.
//!
//! Queries are written once with diesel's query builder and compiled for each engine by [`with_conn!`], which
//! matches the [`Conn`] enum; the few statements that differ by engine (row claiming, upserts) match it by hand.

pub mod gauges;
pub mod prepared;
pub mod schema;
pub mod types;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::AppError;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Runs `$body` with `$c` bound to the concrete diesel connection inside a [`Conn`].
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Pg(conn) => {
                let $c: &mut diesel::pg::PgConnection = conn;
                $body
            }
            $crate::db::Conn::Sqlite(conn) => {
                let $c: &mut diesel::sqlite::SqliteConnection = conn;
                $body
            }
        }
    };
}

/// A borrowed connection of either engine, as handed to repository functions.
pub enum Conn<'a> {
    Pg(&'a mut PgConnection),
    Sqlite(&'a mut SqliteConnection),
}

/// An owned connection of either engine, as kept by the pool.
pub struct AnyConnection {
    engine: EngineConnection,
    /// Set when the connection failed its check after an error; the pool then drops it.
    dead: bool,
}

enum EngineConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl AnyConnection {
    pub fn as_conn(&mut self) -> Conn<'_> {
        match &mut self.engine {
            EngineConnection::Pg(c) => Conn::Pg(c),
            EngineConnection::Sqlite(c) => Conn::Sqlite(c),
        }
    }

    /// Runs `f` in a transaction. On SQLite the transaction takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// two writers never deadlock upgrading a read lock.
    pub fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        // The work's own error wins over a failure to roll back after it: SQLite ends the transaction itself on
        // some errors (SQLITE_FULL), and diesel's rollback then fails with "no transaction is active", which would
        // otherwise replace "database or disk is full".
        let mut failed: Option<E> = None;
        let run = |conn: &mut Conn<'_>| {
            f(conn).map_err(|e| {
                failed = Some(e);
                diesel::result::Error::RollbackTransaction
            })
        };
        let result = match &mut self.engine {
            EngineConnection::Pg(c) => c.transaction(|c| run(&mut Conn::Pg(c))),
            EngineConnection::Sqlite(c) => c.immediate_transaction(|c| run(&mut Conn::Sqlite(c))),
        };
        result.map_err(|e| failed.unwrap_or_else(|| E::from(e)))
    }

    fn ping(&mut self) -> diesel::QueryResult<()> {
        match &mut self.engine {
            EngineConnection::Pg(c) => c.batch_execute("SELECT 1"),
            EngineConnection::Sqlite(c) => c.batch_execute("SELECT 1"),
        }
    }

    /// Connections are not pinged on every checkout (that would add a round trip to every request). Instead, after
    /// a request failed for a reason that is not the caller's, the connection is pinged once, and a dead one (the
    /// server restarted, the network dropped) is marked so that the pool replaces it.
    /// Returns true when the connection was found dead.
    fn check_after_error<T>(&mut self, result: &Result<T, AppError>) -> bool {
        if let Err(AppError::Internal(_) | AppError::Unavailable(_)) = result {
            if self.ping().is_err() {
                tracing::warn!("a database connection is dead; the pool will open a new one");
                self.dead = true;
                return true;
            }
        }
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Sqlite,
}

impl Engine {
    pub fn of_url(url: &str) -> Engine {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else {
            Engine::Sqlite
        }
    }
}

/// A PostgreSQL URL with its database name replaced, keeping its query (`?host=/var/run/postgresql`, say): for
/// tools that create a scratch database beside the one they were given (the tests, the benchmarks).
pub fn url_with_database(url: &str, name: &str) -> String {
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

/// Opens connections for one URL, picking the engine from its scheme so that a bad PostgreSQL URL fails at once
/// with libpq's own message.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: String,
    engine: Engine,
    synchronous: SqliteSynchronous,
    health: Arc<DbHealth>,
}

/// libpq parameters added to a PostgreSQL URL that does not set them. `connect_timeout` bounds opening a
/// connection; TCP keepalives and `tcp_user_timeout` bound how long a query on an open connection waits for a server
/// that vanished without a word (a host that drops packets): about 15 s instead of the kernel's many minutes.
const PG_URL_DEFAULTS: &[(&str, &str)] = &[
    // Seconds: without it a server that accepts and never answers would hold the pool's connecting threads forever.
    ("connect_timeout", "3"),
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "2"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "15000"),
];

/// The session lock instances take turns under to migrate one database.
const MIGRATION_LOCK: i64 = 7243003;

/// Takes the session-level advisory lock `key` if it is free.
fn pg_try_lock(c: &mut PgConnection, key: i64) -> diesel::QueryResult<bool> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "pg_try_advisory_lock({key})"
    )))
    .get_result(c)
}

/// `url` with each of [`PG_URL_DEFAULTS`] it does not set.
pub fn with_pg_defaults(url: &str) -> String {
    let mut url = url.to_owned();
    for (name, value) in PG_URL_DEFAULTS {
        let set = url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|p| p.split('=').next() == Some(*name)));
        if !set {
            let sep = if url.contains('?') { '&' } else { '?' };
            url = format!("{url}{sep}{name}={value}");
        }
    }
    url
}

/// Whether `SET lc_messages` was refused once already (the role is not a superuser): warned about once.
static LC_MESSAGES_REFUSED: AtomicBool = AtomicBool::new(false);

impl ConnectionManager {
    pub fn new(url: &str) -> Self {
        Self::with_options(url, SqliteSynchronous::default(), Arc::default())
    }

    fn with_options(url: &str, synchronous: SqliteSynchronous, health: Arc<DbHealth>) -> Self {
        let engine = Engine::of_url(url);
        let url = if engine == Engine::Postgres {
            with_pg_defaults(url)
        } else {
            url.to_owned()
        };
        ConnectionManager {
            url,
            engine,
            synchronous,
            health,
        }
    }

    fn counter(&self) -> StatementCounter {
        StatementCounter {
            count: self.health.statements.clone(),
            url: self.url.clone(),
        }
    }

    fn sqlite_path(&self) -> &str {
        let path = self.url.strip_prefix("sqlite://").unwrap_or(&self.url);
        path.strip_prefix("sqlite:").unwrap_or(path)
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        let connected = self.open();
        match &connected {
            Ok(_) => self.health.mark_up(),
            Err(e) => self.health.mark_down(&format!("connecting: {e}")),
        }
        connected
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    /// Marked dead after an error, or left inside a transaction that could not be ended.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.dead
            || match &mut conn.engine {
                EngineConnection::Pg(c) => R2D2Connection::is_broken(c),
                EngineConnection::Sqlite(c) => R2D2Connection::is_broken(c),
            }
    }
}

impl ConnectionManager {
    fn open(&self) -> Result<AnyConnection, r2d2::Error> {
        match self.engine {
            Engine::Postgres => {
                let mut conn = PgConnection::establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
                // Deadlocks, serialization failures and a full disk are recognised by their messages
                // (`crate::error`), which the server translates under another lc_messages. Setting it takes a
                // superuser (or, since PostgreSQL 15, `GRANT SET ON PARAMETER lc_messages`); otherwise the
                // role's or database's setting stands (README: PostgreSQL messages).
                if conn.batch_execute("SET lc_messages TO 'C'").is_err()
                    && !LC_MESSAGES_REFUSED.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(
                        "could not SET lc_messages = 'C' (not a superuser); unless the role or database already has \
                         it (ALTER ROLE ... SET lc_messages = 'C'), a non-English server's deadlock and disk-full \
                         errors answer 500 instead of 503"
                    );
                }
                conn.set_instrumentation(self.counter());
                Ok(AnyConnection {
                    engine: EngineConnection::Pg(conn),
                    dead: false,
                })
            }
            Engine::Sqlite => {
                let mut conn = SqliteConnection::establish(self.sqlite_path()).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout makes a second writer wait instead of
                // failing. NORMAL sync is durable across process crashes in WAL mode, and on power loss keeps the
                // database intact but may lose the last commits; FULL syncs the WAL on every commit.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = {};",
                    self.synchronous.pragma()
                ))
                .map_err(r2d2::Error::QueryError)?;
                conn.set_instrumentation(self.counter());
                Ok(AnyConnection {
                    engine: EngineConnection::Sqlite(conn),
                    dead: false,
                })
            }
        }
    }
}

/// SQLite's `synchronous` setting: what a commit waits for before it is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteSynchronous {
    /// Sync the WAL at checkpoints only: a commit survives a crash of the process, and the database survives a
    /// power loss intact, but the last commits before it may be lost.
    #[default]
    Normal,
    /// Sync the WAL on every commit: a commit once answered survives a power loss too; writes are slower.
    Full,
}

impl SqliteSynchronous {
    pub fn parse(value: &str) -> Option<SqliteSynchronous> {
        match value.to_ascii_lowercase().as_str() {
            "normal" => Some(SqliteSynchronous::Normal),
            "full" => Some(SqliteSynchronous::Full),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
        }
    }
}

/// What the server has recently learnt about its database, shared by the pools and the connection manager: whether
/// it is known to be unreachable (so requests fail fast instead of each waiting the pool's timeout), and whether
/// writes recently failed because the disk is full (so readiness can say so).
#[derive(Debug, Default)]
pub struct DbHealth {
    down: AtomicBool,
    down_reason: Mutex<String>,
    disk_full_at: Mutex<Option<Instant>>,
    /// Statements run on this database's connections since start: tests count what one page view costs with it.
    statements: Arc<AtomicU64>,
}

/// Watches every statement the server's connections start: the connection's URL and the statement's SQL (with its
/// binds, as diesel prints it). The query-plan tests capture the real server's statements with it; nothing else
/// sets one.
pub type StatementObserver = fn(url: &str, sql: &str);

static OBSERVER: Mutex<Option<StatementObserver>> = Mutex::new(None);
/// Whether an observer is set: read on every statement, so that without one no lock is taken.
static OBSERVED: AtomicBool = AtomicBool::new(false);

/// Sets (or, with `None`, removes) the [`StatementObserver`].
pub fn observe_statements(observer: Option<StatementObserver>) {
    if let Ok(mut slot) = OBSERVER.lock() {
        *slot = observer;
        OBSERVED.store(observer.is_some(), Ordering::SeqCst);
    }
}

/// Each connection's instrumentation: counts the statements it starts into [`DbHealth::statements`] and shows them
/// to the [`StatementObserver`], if one is set.
struct StatementCounter {
    count: Arc<AtomicU64>,
    url: String,
}

impl diesel::connection::Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
            self.count.fetch_add(1, Ordering::Relaxed);
            if OBSERVED.load(Ordering::Relaxed) {
                let observer = OBSERVER.lock().ok().and_then(|o| *o);
                if let Some(observe) = observer {
                    observe(&self.url, &query.to_string());
                }
            }
        }
    }
}

/// How long after a write failed for a full disk readiness keeps answering 503, unless a write succeeds first.
pub const DISK_FULL_MEMORY: Duration = Duration::from_secs(30);

impl DbHealth {
    fn mark_down(&self, why: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(%why, "the database is unreachable; requests fail fast until it answers again");
        }
        if let Ok(mut reason) = self.down_reason.lock() {
            why.clone_into(&mut reason);
        }
    }

    fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("the database answers again");
        }
    }

    /// True when the last attempt to reach the database failed and none has succeeded since.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn down_reason(&self) -> String {
        self.down_reason.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn note_write<T>(&self, result: &Result<T, AppError>) {
        match result {
            Err(AppError::StorageFull(_)) => {
                if let Ok(mut at) = self.disk_full_at.lock() {
                    *at = Some(Instant::now());
                }
            }
            Ok(_) => {
                if let Ok(mut at) = self.disk_full_at.lock() {
                    *at = None;
                }
            }
            Err(_) => {}
        }
    }

    /// Statements run on the database's connections since the server started (all pools). A test reads it before
    /// and after one request to count that request's statements.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// True when a write failed for a full disk within [`DISK_FULL_MEMORY`] and none succeeded since.
    pub fn writes_failing(&self) -> bool {
        self.disk_full_at
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() < DISK_FULL_MEMORY)
    }
}

pub type PooledConn = PooledConnection<ConnectionManager>;

/// Connection pools for one database. SQLite allows one writer at a time, so its writes go through a pool of one
/// connection (no writer starves waiting for the lock) and reads use the rest; PostgreSQL uses one pool for both.
#[derive(Clone)]
pub struct Db {
    engine: Engine,
    read: Pool<ConnectionManager>,
    write: Pool<ConnectionManager>,
    health: Arc<DbHealth>,
    timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

/// While the database is known to be down, a request waits this long for a connection (one may come back) instead
/// of the pool's full timeout.
const FAIL_FAST: Duration = Duration::from_millis(500);
/// Readiness never waits longer than this for a connection: a load balancer's probe must get an answer.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

impl Db {
    pub fn connect(url: &str, options: &PoolOptions) -> anyhow::Result<Db> {
        let engine = Engine::of_url(url);
        if engine == Engine::Sqlite {
            let manager = ConnectionManager::new(url);
            if let Some(parent) = std::path::Path::new(manager.sqlite_path()).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating the folder for the SQLite file {}", parent.display()))?;
                }
            }
        }
        let health = Arc::new(DbHealth::default());
        let build = |size: u32| {
            Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                // A ping per checkout would be a round trip on every request; dead connections are found after an
                // error instead (`check_after_error`).
                .test_on_check_out(false)
                .connection_timeout(options.connect_timeout)
                .build(ConnectionManager::with_options(
                    url,
                    options.sqlite_synchronous,
                    health.clone(),
                ))
                .with_context(|| format!("connecting to the {engine:?} database"))
        };
        let (read, write) = match engine {
            Engine::Postgres => {
                let pool = build(options.max_connections.max(2))?;
                (pool.clone(), pool)
            }
            Engine::Sqlite => (build(options.max_connections.max(2))?, build(1)?),
        };
        Ok(Db {
            engine,
            read,
            write,
            health,
            timeout: options.connect_timeout,
        })
    }

    pub fn health(&self) -> &DbHealth {
        &self.health
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.read.state();
        (state.connections, state.idle_connections)
    }

    /// A connection within the pool's timeout, or at once (almost) while the database is known to be down.
    fn get(&self, pool: &Pool<ConnectionManager>) -> Result<PooledConn, AppError> {
        let timeout = if self.health.is_down() {
            FAIL_FAST.min(self.timeout)
        } else {
            self.timeout
        };
        pool.get_timeout(timeout).map_err(|e| {
            if self.health.is_down() {
                AppError::Unavailable(format!("the database is unreachable: {}", self.health.down_reason()))
            } else {
                AppError::Unavailable(format!("no database connection available: {e}"))
            }
        })
    }

    /// After a unit of work: a success proves the database answers; a failure that the connection's ping confirms
    /// marks it dead and the database suspect.
    fn after<T>(&self, conn: &mut PooledConn, result: &Result<T, AppError>) {
        if result.is_ok() {
            self.health.mark_up();
        } else if conn.check_after_error(result) {
            self.health.mark_down("a pooled connection died");
        }
    }

    /// Runs `f` in one write transaction.
    pub fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        let mut conn = self.get(&self.write)?;
        let result = conn.transaction(f);
        self.after(&mut conn, &result);
        self.health.note_write(&result);
        result
    }

    /// Runs `f` with a connection that may write, outside a transaction: each statement commits on its own, and `f`
    /// opens a transaction ([`AnyConnection::transaction`]) for work that needs one.
    pub fn writer<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError>,
    {
        let mut conn = self.get(&self.write)?;
        let result = f(&mut conn);
        self.after(&mut conn, &result);
        self.health.note_write(&result);
        result
    }

    /// Runs `f` on a read connection, without a transaction.
    pub fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        let mut conn = self.get(&self.read)?;
        let result = f(&mut conn.as_conn());
        self.after(&mut conn, &result);
        result
    }

    /// Runs the embedded migrations of this engine that have not run yet. Refuses, changing nothing, a database
    /// that holds migrations this binary does not know: a newer Depot migrated it, and this one would misread it.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.write.get().context("getting a connection to migrate")?;
        let applied = match &mut conn.engine {
            EngineConnection::Pg(c) => {
                // Instances starting together on one database take turns: the second finds nothing left to run. It
                // polls for the lock rather than wait in `pg_advisory_lock`: a waiting statement holds a snapshot,
                // and a migration that builds an index CONCURRENTLY waits for every older snapshot, so the two would
                // wait for each other.
                while !pg_try_lock(c, MIGRATION_LOCK).context("locking for migrations")? {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                let applied = refuse_unknown(c, PG_MIGRATIONS).and_then(|()| {
                    c.run_pending_migrations(PG_MIGRATIONS)
                        .map(names)
                        .map_err(anyhow::Error::from_boxed)
                });
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .context("unlocking after migrations")?;
                applied
            }
            EngineConnection::Sqlite(c) => refuse_unknown(c, SQLITE_MIGRATIONS).and_then(|()| {
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(names)
                    .map_err(anyhow::Error::from_boxed)
            }),
        };
        applied.context("running migrations")
    }

    /// Ok when the database answers, every embedded migration has run and none unknown to this binary has, and
    /// writes have not recently failed for a full disk; otherwise why not. Answers within about a second even when
    /// the database does not.
    pub fn ready(&self) -> Result<(), String> {
        if self.health.writes_failing() {
            return Err("writes are failing: the database or its disk is full".into());
        }
        let timeout = if self.health.is_down() {
            FAIL_FAST
        } else {
            READY_TIMEOUT
        };
        let mut conn = self.read.get_timeout(timeout.min(self.timeout)).map_err(|_| {
            self.health.mark_down("readiness found no connection");
            "the database is unreachable".to_owned()
        })?;
        let checked = match &mut conn.engine {
            EngineConnection::Pg(c) => migration_state(c, PG_MIGRATIONS),
            EngineConnection::Sqlite(c) => migration_state(c, SQLITE_MIGRATIONS),
        };
        match checked {
            Ok(MigrationState { unknown, .. }) if !unknown.is_empty() => Err(newer_database(&unknown)),
            Ok(MigrationState { pending: true, .. }) => Err("migrations pending".into()),
            Ok(_) => {
                self.health.mark_up();
                Ok(())
            }
            Err(e) => {
                if conn.ping().is_err() {
                    conn.dead = true;
                    self.health.mark_down("readiness found a dead connection");
                    Err("the database is unreachable".into())
                } else {
                    Err(format!("checking migrations: {e}"))
                }
            }
        }
    }

    /// Refuses a database that holds migrations this binary does not know, and changes nothing either way (no
    /// migration runs: `depot backup` copies what is there, pending migrations and all).
    pub fn refuse_newer(&self) -> anyhow::Result<()> {
        let mut conn = self.read.get().context("getting a connection to the database")?;
        match &mut conn.engine {
            EngineConnection::Pg(c) => refuse_unknown(c, PG_MIGRATIONS),
            EngineConnection::Sqlite(c) => refuse_unknown(c, SQLITE_MIGRATIONS),
        }
    }

    /// Copies the database into `target`, consistently and while it serves (SQLite: `VACUUM INTO`, a snapshot
    /// of every committed transaction, the WAL's included). `target` must not exist yet.
    pub fn backup_sqlite(&self, target: &std::path::Path) -> anyhow::Result<()> {
        anyhow::ensure!(self.engine == Engine::Sqlite, "backup_sqlite on a PostgreSQL database");
        anyhow::ensure!(
            !target.exists(),
            "{} already exists; choose a new file",
            target.display()
        );
        let path = target
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("the backup path {} is not UTF-8", target.display()))?;
        let mut conn = self.read.get().context("getting a connection to back up")?;
        match &mut conn.engine {
            EngineConnection::Sqlite(c) => c
                .batch_execute(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))
                .with_context(|| format!("copying the database into {path}")),
            EngineConnection::Pg(_) => anyhow::bail!("backup_sqlite on a PostgreSQL database"),
        }
    }
}

struct MigrationState {
    pending: bool,
    unknown: Vec<String>,
}

/// Which embedded migrations have not run, and which applied ones this binary does not know.
fn migration_state<C, DB>(conn: &mut C, source: EmbeddedMigrations) -> anyhow::Result<MigrationState>
where
    C: MigrationHarness<DB>,
    DB: diesel::backend::Backend,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let known: Vec<String> = MigrationSource::<DB>::migrations(&source)
        .map_err(anyhow::Error::from_boxed)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied: Vec<String> = conn
        .applied_migrations()
        .map_err(anyhow::Error::from_boxed)?
        .iter()
        .map(|v| v.to_string())
        .collect();
    let mut unknown: Vec<String> = applied.iter().filter(|v| !known.contains(v)).cloned().collect();
    unknown.sort();
    let pending = known.iter().any(|v| !applied.contains(v));
    Ok(MigrationState { pending, unknown })
}

fn refuse_unknown<C, DB>(conn: &mut C, source: EmbeddedMigrations) -> anyhow::Result<()>
where
    C: MigrationHarness<DB>,
    DB: diesel::backend::Backend,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let state = migration_state(conn, source)?;
    if state.unknown.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(newer_database(&state.unknown))
    }
}

fn newer_database(unknown: &[String]) -> String {
    format!(
        "the database was migrated by a newer Depot: it holds migration(s) {} that this binary (version {}) does \
         not know, so it refuses to use it; run the newer version, or restore a backup taken before the upgrade",
        unknown.join(", "),
        env!("CARGO_PKG_VERSION")
    )
}

fn names(versions: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    versions.iter().map(|v| v.to_string()).collect()
}

/// `loans.state = 'waiting'` as a literal rather than a bound parameter: PostgreSQL's generic plan of a prepared
/// statement can then read the partial waitlist index (`WHERE state = 'waiting'`), which a parameter never matches,
/// instead of scanning every loan ever made.
pub fn loan_is_waiting() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("\"loans\".\"state\" = 'waiting'")
}

/// Runs raw SQL that is the same on both engines (used by tests and tooling).
pub fn execute_raw(conn: &mut Conn<'_>, sql: &str) -> diesel::QueryResult<usize> {
    with_conn!(conn, c => diesel::sql_query(sql).execute(c))
}

#[cfg(test)]
mod tests {
    use super::{url_with_database, with_pg_defaults};

    #[test]
    fn postgres_urls_get_timeouts_and_keepalives_they_do_not_set() {
        assert_eq!(
            with_pg_defaults("postgres://u@db/main"),
            "postgres://u@db/main?connect_timeout=3&keepalives=1&keepalives_idle=5&keepalives_interval=2\
             &keepalives_count=3&tcp_user_timeout=15000"
        );
        let own = with_pg_defaults("postgres://u@db/main?sslmode=disable&keepalives_idle=60&tcp_user_timeout=0");
        assert!(own.starts_with("postgres://u@db/main?sslmode=disable&keepalives_idle=60&tcp_user_timeout=0&"));
        assert_eq!(own.matches("keepalives_idle=").count(), 1, "{own}");
        assert_eq!(own.matches("tcp_user_timeout=").count(), 1, "{own}");
        assert!(own.contains("&connect_timeout=3&keepalives=1&"), "{own}");
    }

    #[test]
    fn a_scratch_database_keeps_the_host_and_the_query() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/scratch",
            ),
            (
                "postgres://u:p@db/main?sslmode=disable",
                "postgres://u:p@db/scratch?sslmode=disable",
            ),
            (
                "postgres://postgres@/postgres?host=/var/run/postgresql",
                "postgres://postgres@/scratch?host=/var/run/postgresql",
            ),
            ("postgresql://db", "postgresql://db/scratch"),
        ];
        for (url, expected) in cases {
            assert_eq!(url_with_database(url, "scratch"), expected, "{url}");
        }
    }
}
