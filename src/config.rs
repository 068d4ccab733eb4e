//! Settings of a running server, from flags and environment (see `main.rs` for the names).

use std::time::Duration;

use crate::db::PoolOptions;
use crate::edge::{Cidr, TrustedProxies};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://depot.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 10;
/// Under the usual `ulimit -n` of 1,024, leaving room for the database pool, logs and the listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 768;
/// A console session unused this long has ended.
pub const DEFAULT_SESSION_IDLE_MINUTES: i64 = 30;
/// A console session ends this long after signing in, however busy: a working day with room to spare.
pub const DEFAULT_SESSION_HOURS: i64 = 12;

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub pool: PoolOptions,
    /// How long a reserved loaner waits for hand-over before the reservation expires.
    pub loan_hold: Duration,
    /// How often this instance looks for reservations whose hold ran out; zero turns the sweeper off.
    pub sweep_interval: Duration,
    /// How often this instance places committed events in the feed (see `events::sequence`); zero turns it off.
    pub events_interval: Duration,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// How long graceful shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// How long a draining server goes on listening and answering (readiness 503) before it waits out the requests
    /// in flight and stops: time for load balancers to notice, and for requests already sent to be read.
    pub drain_delay: Duration,
    /// How long a client may take to send a request's body once its headers arrived (408 after).
    pub body_timeout: Duration,
    /// Open connections this server accepts at once, over all workers; more wait in the listen backlog.
    pub max_connections: usize,
    /// Proxies whose `X-Forwarded-For` names the client; everyone else is the client themself.
    pub trusted_proxies: TrustedProxies,
    /// Client addresses that may read `/metrics` without a key.
    pub metrics_allow: Vec<Cidr>,
    /// A bearer key that opens `/metrics` from any address; none by default.
    pub metrics_key: Option<String>,
    /// A store's waitlist for one series longer than this raises a `waitlist.long` staff alert (see `events::alerts`).
    pub alert_waitlist_length: i64,
    /// Networks webhook deliveries may reach although loopback or private (none by default).
    pub webhook_allow: Vec<Cidr>,
    /// Webhook deliveries in flight at once on this instance.
    pub webhook_concurrency: usize,
    /// Webhook deliveries in flight at once to one endpoint on this instance (at most `webhook_concurrency`), so
    /// that a slow endpoint never takes every worker.
    pub webhook_endpoint_concurrency: usize,
    /// Longest a webhook delivery may take.
    pub webhook_timeout: Duration,
    /// How long a dispatcher's claim holds a message (longer than the timeout).
    pub webhook_lease: Duration,
    /// How often the dispatcher looks for work when idle; zero: no dispatcher on this instance.
    pub webhook_interval: Duration,
    /// Multiplies the webhook retry schedule (1.0: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    pub webhook_backoff_scale: f64,
    /// An endpoint whose deliveries all failed for this long is disabled.
    pub webhook_disable_after: Duration,
    /// How long after its opening a complaint's first reply is due (48 hours by default).
    pub complaint_first_reply: Duration,
    /// Customer reminders: the loop's interval, the tracking links' base, quiet hours, language, the SMS gateway.
    pub reminders: crate::reminders::ReminderSettings,
    /// Uploads: the size limit and the file store (a directory, or an S3-compatible bucket).
    pub files: crate::files::FilesSettings,
    /// Console sessions: idle timeout and absolute lifetime.
    pub session: crate::users::SessionSettings,
    /// Whether the session cookie carries `Secure` (sent over HTTPS only). On unless turned off for plain-HTTP
    /// use on one machine: a browser on `http://localhost` accepts it either way, any other plain-HTTP host
    /// needs it off.
    pub cookie_secure: bool,
}

impl Settings {
    pub fn for_database(url: &str) -> Settings {
        Settings {
            database_url: url.to_owned(),
            pool: PoolOptions::default(),
            loan_hold: Duration::from_secs(48 * 3600),
            sweep_interval: Duration::from_secs(60),
            events_interval: Duration::from_millis(200),
            workers: 0,
            shutdown_timeout: Duration::from_secs(30),
            drain_delay: Duration::from_secs(1),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            trusted_proxies: TrustedProxies::default(),
            metrics_allow: Cidr::loopback(),
            metrics_key: None,
            alert_waitlist_length: 5,
            webhook_allow: Vec::new(),
            webhook_concurrency: 16,
            webhook_endpoint_concurrency: 4,
            webhook_timeout: Duration::from_secs(10),
            webhook_lease: Duration::from_secs(60),
            webhook_interval: Duration::from_millis(100),
            webhook_backoff_scale: 1.0,
            webhook_disable_after: Duration::from_secs(5 * 24 * 3600),
            complaint_first_reply: Duration::from_secs(48 * 3600),
            reminders: crate::reminders::ReminderSettings::default(),
            files: crate::files::FilesSettings::default(),
            session: crate::users::SessionSettings {
                idle: chrono::Duration::minutes(DEFAULT_SESSION_IDLE_MINUTES),
                lifetime: chrono::Duration::hours(DEFAULT_SESSION_HOURS),
            },
            cookie_secure: true,
        }
    }

    /// Checks what clap cannot: values that must agree with each other.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.pool.max_connections == 0 {
            anyhow::bail!("--db-max-connections must be at least 1");
        }
        if self.body_timeout.is_zero() {
            anyhow::bail!("--body-timeout-secs must be at least 1");
        }
        if self.max_connections == 0 {
            anyhow::bail!("--max-connections must be at least 1");
        }
        if self.metrics_key.as_deref().is_some_and(|k| k.len() < 16) {
            anyhow::bail!("--metrics-key must be at least 16 characters");
        }
        if self.webhook_concurrency == 0 || self.webhook_timeout.is_zero() {
            anyhow::bail!("--webhook-concurrency and --webhook-timeout-secs must be at least 1");
        }
        if self.webhook_endpoint_concurrency == 0 {
            anyhow::bail!("--webhook-endpoint-concurrency must be at least 1");
        }
        if self.webhook_lease <= self.webhook_timeout {
            anyhow::bail!("--webhook-lease-secs must be longer than --webhook-timeout-secs");
        }
        if !(self.webhook_backoff_scale.is_finite() && self.webhook_backoff_scale >= 0.0) {
            anyhow::bail!("the webhook backoff scale must be a non-negative number");
        }
        if self.files.max_upload_bytes == 0 {
            anyhow::bail!("--max-upload-bytes must be at least 1");
        }
        if self.files.s3.is_some() && self.files.dir.is_some() {
            anyhow::bail!("give --files-dir or --files-s3-url, not both");
        }
        if self.complaint_first_reply.is_zero() {
            anyhow::bail!("--complaint-first-reply-hours must be at least 1");
        }
        if self.session.idle <= chrono::Duration::zero() || self.session.lifetime < self.session.idle {
            anyhow::bail!("--session-idle-minutes must be at least 1 and --session-hours at least as long");
        }
        if self.loan_hold.is_zero() {
            anyhow::bail!("--loan-hold-hours must be at least 1");
        }
        Ok(())
    }

    /// The per-worker connection cap that keeps the whole server under `max_connections`.
    pub fn max_connections_per_worker(&self, workers: usize) -> usize {
        (self.max_connections / workers.max(1)).max(1)
    }
}
