//! The database: engine chosen from the URL, connection pools, transactions and embedded migrations.
//!
//! Queries are written once with diesel's query builder and compiled for each engine by [`with_conn!`], which
//! matches the [`Conn`] enum; the few statements that differ by engine (row claiming, upserts) match it by hand.

pub mod schema;
pub mod types;

use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
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
        match &mut self.engine {
            EngineConnection::Pg(c) => c.transaction(|c| f(&mut Conn::Pg(c))),
            EngineConnection::Sqlite(c) => c.immediate_transaction(|c| f(&mut Conn::Sqlite(c))),
        }
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
    fn check_after_error<T>(&mut self, result: &Result<T, AppError>) {
        if let Err(AppError::Internal(_) | AppError::Unavailable(_)) = result {
            if self.ping().is_err() {
                tracing::warn!("a database connection is dead; the pool will open a new one");
                self.dead = true;
            }
        }
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
}

impl ConnectionManager {
    pub fn new(url: &str) -> Self {
        ConnectionManager {
            url: url.to_owned(),
            engine: Engine::of_url(url),
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
        match self.engine {
            Engine::Postgres => PgConnection::establish(&self.url)
                .map(|c| AnyConnection {
                    engine: EngineConnection::Pg(c),
                    dead: false,
                })
                .map_err(r2d2::Error::ConnectionError),
            Engine::Sqlite => {
                let mut conn = SqliteConnection::establish(self.sqlite_path()).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout makes a second writer wait instead of
                // failing; NORMAL sync is durable across process crashes in WAL mode.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = NORMAL;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection {
                    engine: EngineConnection::Sqlite(conn),
                    dead: false,
                })
            }
        }
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

pub type PooledConn = PooledConnection<ConnectionManager>;

/// Connection pools for one database. SQLite allows one writer at a time, so its writes go through a pool of one
/// connection (no writer starves waiting for the lock) and reads use the rest; PostgreSQL uses one pool for both.
#[derive(Clone)]
pub struct Db {
    engine: Engine,
    read: Pool<ConnectionManager>,
    write: Pool<ConnectionManager>,
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

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
        let build = |size: u32| {
            Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                // A ping per checkout would be a round trip on every request; dead connections are found after an
                // error instead (`check_after_error`).
                .test_on_check_out(false)
                .connection_timeout(options.connect_timeout)
                .build(ConnectionManager::new(url))
                .with_context(|| format!("connecting to the {engine:?} database"))
        };
        let (read, write) = match engine {
            Engine::Postgres => {
                let pool = build(options.max_connections.max(2))?;
                (pool.clone(), pool)
            }
            Engine::Sqlite => (build(options.max_connections.max(2))?, build(1)?),
        };
        Ok(Db { engine, read, write })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.read.state();
        (state.connections, state.idle_connections)
    }

    fn get(&self, pool: &Pool<ConnectionManager>) -> Result<PooledConn, AppError> {
        pool.get()
            .map_err(|e| AppError::Unavailable(format!("no database connection available: {e}")))
    }

    /// Runs `f` in one write transaction.
    pub fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        let mut conn = self.get(&self.write)?;
        let result = conn.transaction(f);
        conn.check_after_error(&result);
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
        conn.check_after_error(&result);
        result
    }

    /// Runs `f` on a read connection, without a transaction.
    pub fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Conn<'_>) -> Result<T, AppError>,
    {
        let mut conn = self.get(&self.read)?;
        let result = f(&mut conn.as_conn());
        conn.check_after_error(&result);
        result
    }

    /// Runs the embedded migrations of this engine that have not run yet.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.write.get().context("getting a connection to migrate")?;
        let applied = match &mut conn.engine {
            EngineConnection::Pg(c) => {
                // Instances starting together on one database take turns: the second finds nothing left to run.
                c.batch_execute("SELECT pg_advisory_lock(7243003)")
                    .context("locking for migrations")?;
                let applied = c.run_pending_migrations(PG_MIGRATIONS).map(names);
                c.batch_execute("SELECT pg_advisory_unlock(7243003)")
                    .context("unlocking after migrations")?;
                applied
            }
            EngineConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(names),
        };
        applied.map_err(|e| anyhow::anyhow!("running migrations: {e}"))
    }

    /// True when the database answers and every embedded migration has run.
    pub fn ready(&self) -> Result<(), String> {
        let mut conn = self.read.get().map_err(|e| format!("database unreachable: {e}"))?;
        let pending = match &mut conn.engine {
            EngineConnection::Pg(c) => c.has_pending_migration(PG_MIGRATIONS),
            EngineConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        };
        match pending {
            Ok(false) => Ok(()),
            Ok(true) => Err("migrations pending".into()),
            Err(e) => Err(format!("checking migrations: {e}")),
        }
    }
}

fn names(versions: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    versions.iter().map(|v| v.to_string()).collect()
}

/// Runs raw SQL that is the same on both engines (used by tests and tooling).
pub fn execute_raw(conn: &mut Conn<'_>, sql: &str) -> diesel::QueryResult<usize> {
    with_conn!(conn, c => diesel::sql_query(sql).execute(c))
}

#[cfg(test)]
mod tests {
    use super::url_with_database;

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
