//! Settings of a running server, from flags and environment (see `main.rs` for the names).

use std::time::Duration;

use crate::db::PoolOptions;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://depot.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub pool: PoolOptions,
    /// How long a reserved loaner waits for hand-over before the reservation expires.
    pub loan_hold: Duration,
    /// How often this instance looks for reservations whose hold ran out; zero turns the sweeper off.
    pub sweep_interval: Duration,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// How long graceful shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
}

impl Settings {
    pub fn for_database(url: &str) -> Settings {
        Settings {
            database_url: url.to_owned(),
            pool: PoolOptions::default(),
            loan_hold: Duration::from_secs(48 * 3600),
            sweep_interval: Duration::from_secs(60),
            workers: 0,
            shutdown_timeout: Duration::from_secs(30),
        }
    }

    /// Checks what clap cannot: values that must agree with each other.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.pool.max_connections == 0 {
            anyhow::bail!("--db-max-connections must be at least 1");
        }
        if self.loan_hold.is_zero() {
            anyhow::bail!("--loan-hold-hours must be at least 1");
        }
        Ok(())
    }
}
