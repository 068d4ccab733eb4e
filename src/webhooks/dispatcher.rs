//! The dispatcher: runs on every instance. It hands placed events out as messages (the fan-out, one instance at a
//! time through the consumer's cursor), claims due messages with a lease (`claimed_until`, marked with a token),
//! so that one instance at a time holds a message and a dead instance's messages are taken by another once the
//! lease ran out, and delivers them with a bounded number of workers, each request bounded by a timeout.
//!
//! A delivery resolves the endpoint's host again and checks every address (DNS answers change), then connects to
//! the checked address: the check and the connection happen in one step (the HTTP client's resolver), so a name
//! that changes between them cannot slip through. The lookup is bounded by the delivery's timeout (it runs on a
//! helper thread: see `service::lookup`). Redirects are not followed. At most 1 KiB of an answer is read.
//!
//! No endpoint holds more than `per_endpoint` messages of this dispatcher at once (queued or in flight), so that a
//! slow or hanging receiver takes at most that many workers and the others go on delivering elsewhere.
//!
//! One thread, the claim loop, talks to the database for the deliveries: each round records the attempts finished
//! since the last round and claims for the free workers, in one transaction, so a busy dispatcher commits once per
//! round, not once per message. It asks each endpoint apart for at most what that endpoint's cap leaves (an index
//! read that stops there, whatever the backlog), skips endpoints at their cap or found with nothing due, and touches
//! no table at all while every endpoint is one or the other.
//!
//! Shutdown ([`Dispatcher::stop`]): no more claims; deliveries in flight get up to the grace period; the messages
//! still held (queued, or in flight past the grace) are given back at once for any instance to take.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::web;
use rand::Rng;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use uuid::Uuid;

use super::model::{AttemptRow, EndpointRow, MessageRow};
use super::rules;
use super::{repo, service};
use crate::db::Db;
use crate::db::types::{Id, Ts};
use crate::edge::Cidr;
use crate::error::AppResult;
use crate::state::AppState;
use crate::telemetry::Metrics;

/// Bytes of a receiver's answer kept (and read).
pub const EXCERPT_BYTES: usize = 1024;

/// How a dispatcher works; from the settings (`--webhook-*`).
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Messages of one endpoint held at once (queued or in flight; at most `concurrency`), so that a slow endpoint
    /// never takes every worker from the others.
    pub per_endpoint: usize,
    /// Longest a delivery may take, connection to answer.
    pub timeout: Duration,
    /// How long a claim holds a message; longer than `timeout`, so a live dispatcher never loses one.
    pub lease: Duration,
    /// How often the dispatcher looks for new events and due messages when idle.
    pub interval: Duration,
    /// Multiplies the retry schedule (1.0; tests shrink it).
    pub backoff_scale: f64,
    /// An endpoint whose deliveries all failed for this long is disabled.
    pub disable_after: Duration,
    /// Networks deliveries may reach although private (`--webhook-allow-cidr`).
    pub allow: Vec<Cidr>,
}

impl DispatchConfig {
    pub fn from_settings(settings: &crate::config::Settings) -> DispatchConfig {
        DispatchConfig {
            concurrency: settings.webhook_concurrency.max(1),
            per_endpoint: settings
                .webhook_endpoint_concurrency
                .clamp(1, settings.webhook_concurrency.max(1)),
            timeout: settings.webhook_timeout,
            lease: settings.webhook_lease,
            interval: settings.webhook_interval,
            backoff_scale: settings.webhook_backoff_scale,
            disable_after: settings.webhook_disable_after,
            allow: settings.webhook_allow.clone(),
        }
    }
}

/// Resolves a delivery's host and refuses any address outside what webhooks may reach: the addresses returned
/// are the ones the client connects to.
#[derive(Debug)]
struct CheckedResolver {
    allow: Vec<Cidr>,
    /// Longest a name lookup may take (the delivery's timeout; the lookup is part of it).
    lookup: Duration,
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let url = rules::parse_url(&uri.to_string()).map_err(ureq::Error::BadUri)?;
        let addrs = service::resolve_checked(&url, &self.allow, self.lookup)
            .map_err(|why| ureq::Error::Io(std::io::Error::new(std::io::ErrorKind::PermissionDenied, why)))?;
        let mut result = self.empty();
        for addr in addrs.into_iter().take(16) {
            result.push(addr);
        }
        Ok(result)
    }
}

fn agent(config: &DispatchConfig) -> ureq::Agent {
    let agent_config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(config.timeout))
        .user_agent("Depot-Webhooks/1")
        // Never through a proxy from HTTP_PROXY and the like: the proxy would resolve the endpoint's host, and our
        // checking resolver would never see it (an SSRF bypass).
        .proxy(None)
        .max_idle_connections(config.concurrency * 4)
        .max_idle_connections_per_host(config.concurrency)
        .build();
    ureq::Agent::with_parts(
        agent_config,
        DefaultConnector::new(),
        CheckedResolver {
            allow: config.allow.clone(),
            lookup: config.timeout,
        },
    )
}

/// One attempt's outcome.
#[derive(Debug)]
pub struct Attempt {
    /// When it ended.
    pub at: chrono::DateTime<chrono::Utc>,
    pub delivered: bool,
    pub status_code: Option<i32>,
    pub latency: Duration,
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

/// Sends one message once: `webhook-id` the message's id, `webhook-timestamp` now, `webhook-signature` with every
/// secret in force. 2xx within the timeout is delivered; anything else is a failed attempt.
fn attempt(agent: &ureq::Agent, endpoint: &EndpointRow, message: &MessageRow) -> Attempt {
    let started = Instant::now();
    let now = chrono::Utc::now();
    let id = message.id.0.to_string();
    let timestamp = now.timestamp();
    let signature = rules::signature_header(&endpoint.signing_secrets(now), &id, timestamp, message.body.as_bytes());
    let result = agent
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("webhook-signature", &signature)
        .send(message.body.as_bytes());
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let mut buffer = Vec::with_capacity(256);
            // At most the excerpt, whatever the receiver sends (a huge body is never read whole).
            let read = response
                .body_mut()
                .as_reader()
                .take(EXCERPT_BYTES as u64)
                .read_to_end(&mut buffer);
            let delivered = (200..300).contains(&status) && read.is_ok();
            let error = match (&read, delivered) {
                (Err(e), _) => Some(format!("reading the answer failed: {e}")),
                (Ok(_), false) if (300..400).contains(&status) => {
                    Some(format!("answered {status} (redirects are not followed)"))
                }
                (Ok(_), false) => Some(format!("answered {status}")),
                _ => None,
            };
            Attempt {
                at: crate::now(),
                delivered,
                status_code: Some(i32::from(status)),
                latency: started.elapsed(),
                excerpt: Some(rules::excerpt(&buffer, EXCERPT_BYTES)),
                error,
            }
        }
        Err(e) => Attempt {
            at: crate::now(),
            delivered: false,
            status_code: None,
            latency: started.elapsed(),
            excerpt: None,
            error: Some(match e {
                ureq::Error::Timeout(t) => format!("no answer within the timeout ({t})"),
                other => other.to_string(),
            }),
        },
    }
}

/// A claimed message on its way to a worker.
struct Job {
    message: MessageRow,
    endpoint: Arc<EndpointRow>,
    token: Id,
}

struct Inner {
    db: Db,
    config: DispatchConfig,
    metrics: Option<Metrics>,
    agent: ureq::Agent,
    /// Set when the dispatcher stops claiming.
    stopping: AtomicBool,
    /// Set by [`Dispatcher::abandon`]: workers record nothing more (as if the process had died).
    abandoned: AtomicBool,
    /// Messages claimed and not finished, with their claim's token and their endpoint.
    held: Mutex<HashMap<Id, (Id, Id)>>,
    /// Deliveries in progress.
    in_flight: AtomicUsize,
    /// Deliveries finished and not recorded yet: the claim loop records them, in one transaction with its next
    /// claim (one commit for many outcomes, rather than one per delivery).
    done: Mutex<Vec<(Job, Attempt)>>,
    wake: Condvar,
    wake_lock: Mutex<()>,
}

impl Inner {
    /// Wakes the claim loop. Under `wake_lock`, so that a wake-up cannot fall between the loop's look at what is
    /// held and its wait (the loop would then sleep its whole interval with workers free).
    fn notify(&self) {
        let _guard = self.wake_lock.lock();
        self.wake.notify_all();
    }

    fn held(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(usize::MAX)
    }

    fn has_done(&self) -> bool {
        self.done.lock().map(|d| !d.is_empty()).unwrap_or(false)
    }

    /// Takes the finished deliveries not recorded yet.
    fn take_done(&self) -> Vec<(Job, Attempt)> {
        self.done
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }

    /// Lets go of finished messages once recorded (or once recording failed: their lease runs out and they are
    /// sent again), unless a newer claim holds them.
    fn forget(&self, finished: &[(Job, Attempt)]) {
        if let Ok(mut held) = self.held.lock() {
            for (job, _) in finished {
                if held.get(&job.message.id).map(|h| h.0) == Some(job.token) {
                    held.remove(&job.message.id);
                }
            }
        }
    }

    /// Records finished deliveries on their own (at shutdown, when no claim follows).
    fn record_done(&self) {
        if self.abandoned.load(Ordering::SeqCst) {
            return;
        }
        let finished = self.take_done();
        if finished.is_empty() {
            return;
        }
        let now = crate::now();
        if let Err(e) = self.db.write(|conn| {
            repo::relax_commit(conn)?;
            record(conn, &self.config, &finished, now)
        }) {
            tracing::warn!(error = %e, "recording webhook attempts failed; their leases will run out and they are sent again");
        }
        self.forget(&finished);
    }
}

/// A running dispatcher; stop it with [`Dispatcher::stop`].
pub struct Dispatcher {
    inner: Arc<Inner>,
    /// The delivery workers.
    threads: Vec<JoinHandle<()>>,
    /// The thread that claims (joined by `stop` before it gives back what is held).
    claimer: Option<JoinHandle<()>>,
}

/// Starts a dispatcher on this instance unless `--webhook-interval-ms` is 0.
pub fn spawn_dispatcher(state: web::Data<AppState>) -> Option<Dispatcher> {
    let config = DispatchConfig::from_settings(&state.settings);
    if config.interval.is_zero() {
        return None;
    }
    match Dispatcher::start(state.db.clone(), Some(state.metrics.clone()), config) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!(error = %e, "could not start the webhook dispatcher");
            None
        }
    }
}

impl Dispatcher {
    pub fn start(db: Db, metrics: Option<Metrics>, config: DispatchConfig) -> std::io::Result<Dispatcher> {
        let inner = Arc::new(Inner {
            agent: agent(&config),
            db,
            metrics,
            stopping: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            held: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            done: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
            config,
        });
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut threads = Vec::new();
        for n in 0..inner.config.concurrency {
            let (inner, queue) = (inner.clone(), queue.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("webhook-worker-{n}"))
                    .spawn(move || work(&inner, &queue))?,
            );
        }
        let claimer = inner.clone();
        let claimer = std::thread::Builder::new()
            .name("webhook-dispatcher".into())
            .spawn(move || claim_loop(&claimer, jobs))?;
        Ok(Dispatcher {
            inner,
            threads,
            claimer: Some(claimer),
        })
    }

    /// Messages this dispatcher holds now (claimed, not finished).
    pub fn held(&self) -> usize {
        self.inner.held()
    }

    /// Stops claiming (and waits for a claim in progress, so what it claims is given back too), waits up to `grace`
    /// for deliveries in flight, and gives back every message still held.
    pub fn stop(mut self, grace: Duration) {
        let inner = self.inner.clone();
        inner.stopping.store(true, Ordering::SeqCst);
        inner.notify();
        if let Some(claimer) = self.claimer.take() {
            // Wakes from its wait at the latest after `interval`, or ends its round's claim first.
            let _ = claimer.join();
        }
        let deadline = Instant::now() + grace;
        while inner.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        inner.record_done();
        let held: Vec<(Id, Id)> = inner
            .held
            .lock()
            .map(|mut h| h.drain().map(|(message, (token, _))| (message, token)).collect())
            .unwrap_or_default();
        if !held.is_empty() {
            let mut by_token: HashMap<Id, Vec<Id>> = HashMap::new();
            for (message, token) in held {
                by_token.entry(token).or_default().push(message);
            }
            let released = inner.db.write(|conn| {
                let mut n = 0;
                for (token, ids) in &by_token {
                    n += repo::release(conn, *token, ids)?;
                }
                Ok(n)
            });
            match released {
                Ok(n) => tracing::info!(released = n, "webhook messages given back at shutdown"),
                Err(e) => tracing::warn!(error = %e, "could not give back webhook messages; their lease will run out"),
            }
        }
        // Workers in a delivery past the grace end at their timeout; the others end now.
        for thread in self.threads {
            if thread.is_finished() || inner.in_flight.load(Ordering::SeqCst) == 0 {
                let _ = thread.join();
            }
        }
    }

    /// Stops as a crashed process would: nothing more is recorded and nothing is given back (the leases run out).
    /// For tests of what another instance does then.
    pub fn abandon(self) {
        self.inner.abandoned.store(true, Ordering::SeqCst);
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.notify();
    }
}

/// Where the claim loop stands between rounds.
struct Round {
    /// The enabled endpoints, read again at each interval.
    endpoints: Vec<Id>,
    /// Endpoints whose due messages were all taken at their last look: not asked again before the next interval
    /// (new messages are handed out, and retries come due, at most once per interval for this loop).
    dry: std::collections::HashSet<Id>,
    /// Where the next claim starts in `endpoints`, so that each endpoint is asked first in turn.
    turn: usize,
}

/// The claim loop: each round records the deliveries finished since the last one and claims as many messages as
/// workers are free, in one transaction; then it waits for a delivery to finish (or for the interval). While every
/// endpoint is at its cap or has nothing due, a round touches no table.
fn claim_loop(inner: &Inner, jobs: Sender<Job>) {
    let mut last_gauge = Instant::now() - Duration::from_secs(60);
    let mut last_look = Instant::now() - Duration::from_secs(60);
    let mut round = Round {
        endpoints: Vec::new(),
        dry: std::collections::HashSet::new(),
        turn: 0,
    };
    while !inner.stopping.load(Ordering::SeqCst) {
        // The fan-out is a locking transaction: once per interval is enough (the sequencer places events no more
        // often), however often a finished delivery wakes the loop.
        if last_look.elapsed() >= inner.config.interval {
            last_look = Instant::now();
            if let Err(e) = service::fan_out_all(&inner.db) {
                tracing::warn!(error = %e, "webhook fan-out failed; retrying next round");
            }
            match inner.db.read(repo::enabled_endpoint_ids) {
                Ok(ids) => round.endpoints = ids,
                Err(e) => tracing::warn!(error = %e, "reading the webhook endpoints failed; retrying next round"),
            }
            round.dry.clear();
        }
        let finished = inner.take_done();
        let wanted = wanted(inner, &mut round, &finished);
        if !finished.is_empty() || !wanted.is_empty() {
            match claim(inner, &finished, &wanted) {
                Ok((batch, dry)) => {
                    round.dry.extend(dry);
                    inner.forget(&finished);
                    for job in batch {
                        if jobs.send(job).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "recording and claiming webhook messages failed; retrying next round");
                    // Not recorded: their leases run out and they are sent again (at least once).
                    inner.forget(&finished);
                }
            }
        }
        if last_gauge.elapsed() >= Duration::from_secs(5) {
            last_gauge = Instant::now();
            update_pending(inner);
        }
        let Ok(guard) = inner.wake_lock.lock() else { return };
        // Until a delivery finishes (workers notify under `wake_lock`, so none is missed between this look and the
        // wait) or the next interval's look.
        let wait = inner.config.interval.saturating_sub(last_look.elapsed());
        let _ = inner.wake.wait_timeout_while(guard, wait, |_| {
            !inner.has_done() && !inner.stopping.load(Ordering::SeqCst)
        });
    }
    inner.record_done();
}

/// What this round may claim: for each endpoint in turn, as many messages as its cap leaves (once `finished` are
/// let go), while workers are free; none of endpoints at their cap or found dry.
fn wanted(inner: &Inner, round: &mut Round, finished: &[(Job, Attempt)]) -> Vec<(Id, usize)> {
    let mut per_endpoint: HashMap<Id, usize> = HashMap::new();
    let Ok(held) = inner.held.lock() else {
        return Vec::new();
    };
    for (_, endpoint) in held.values() {
        *per_endpoint.entry(*endpoint).or_default() += 1;
    }
    let mut free = inner
        .config
        .concurrency
        .saturating_sub(held.len() - finished.len().min(held.len()));
    drop(held);
    for (job, _) in finished {
        if let Some(n) = per_endpoint.get_mut(&job.message.endpoint_id) {
            *n = n.saturating_sub(1);
        }
    }
    let mut wanted = Vec::new();
    let count = round.endpoints.len();
    for i in 0..count {
        if free == 0 {
            break;
        }
        let endpoint = round.endpoints[(round.turn + i) % count];
        if round.dry.contains(&endpoint) {
            continue;
        }
        let room = inner
            .config
            .per_endpoint
            .saturating_sub(per_endpoint.get(&endpoint).copied().unwrap_or(0))
            .min(free);
        if room > 0 {
            free -= room;
            wanted.push((endpoint, room));
        }
    }
    round.turn = round.turn.wrapping_add(1);
    wanted
}

fn update_pending(inner: &Inner) {
    if let Some(metrics) = &inner.metrics {
        if let Ok(n) = inner.db.read(repo::pending_count) {
            metrics.webhook_pending.set(n);
        }
    }
}

/// One round's transaction: records `finished` and claims what `wanted` asks for. Returns the claimed jobs and the
/// endpoints found dry.
fn claim(inner: &Inner, finished: &[(Job, Attempt)], wanted: &[(Id, usize)]) -> AppResult<(Vec<Job>, Vec<Id>)> {
    let token = Id(Uuid::now_v7());
    let now = crate::now();
    let lease = chrono::Duration::from_std(inner.config.lease).unwrap_or(chrono::Duration::seconds(60));
    let claimed = inner.db.write(|conn| {
        repo::relax_commit(conn)?;
        record(conn, &inner.config, finished, now)?;
        if wanted.is_empty() {
            return Ok(repo::Claimed::default());
        }
        repo::claim(conn, Ts(now), Ts(now + lease), token, wanted)
    })?;
    let endpoints: HashMap<Id, Arc<EndpointRow>> = claimed.endpoints.into_iter().map(|e| (e.id, Arc::new(e))).collect();
    if let Ok(mut held) = inner.held.lock() {
        for m in &claimed.messages {
            held.insert(m.id, (token, m.endpoint_id));
        }
    }
    let jobs = claimed
        .messages
        .into_iter()
        .filter_map(|message| {
            let endpoint = endpoints.get(&message.endpoint_id)?.clone();
            Some(Job {
                message,
                endpoint,
                token,
            })
        })
        .collect();
    Ok((jobs, claimed.dry))
}

fn work(inner: &Inner, queue: &Mutex<Receiver<Job>>) {
    loop {
        let next = {
            let Ok(queue) = queue.lock() else { return };
            queue.recv_timeout(Duration::from_millis(200))
        };
        let job = match next {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                if inner.stopping.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Counted before looking at `stopping`: `stop` sets `stopping` before it waits for `in_flight` to reach 0,
        // so either it waits for this delivery or this worker sees it stopping; never a message given back and
        // delivered as well.
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        if inner.stopping.load(Ordering::SeqCst) {
            // Not started: left held, to be given back by `stop`.
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let outcome = attempt(&inner.agent, &job.endpoint, &job.message);
        if let Some(metrics) = &inner.metrics {
            metrics.webhook_latency.observe(outcome.latency.as_secs_f64());
            if outcome.delivered {
                metrics.webhook_deliveries.inc();
            } else {
                metrics.webhook_failures.inc();
            }
        }
        if !inner.abandoned.load(Ordering::SeqCst) {
            // Recorded by the claim loop's next round (or by `stop`), still under this claim's token.
            if let Ok(mut done) = inner.done.lock() {
                done.push((job, outcome));
            }
        }
        inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        inner.notify();
    }
}

/// Records finished attempts and their messages' new state (each while its claim is still this one's), and the
/// endpoints' failure streaks: an endpoint failing for `disable_after` with nothing delivered is disabled, with
/// the reason. The attempts go in one statement, and the delivered messages in one per claim and answer status
/// (almost always one): a round's cost grows little with the messages it records.
fn record(
    conn: &mut crate::db::Conn<'_>,
    config: &DispatchConfig,
    finished: &[(Job, Attempt)],
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    if finished.is_empty() {
        return Ok(());
    }
    let attempts: Vec<AttemptRow> = finished
        .iter()
        .map(|(job, outcome)| AttemptRow {
            id: Id(Uuid::now_v7()),
            message_id: job.message.id,
            attempted_at: Ts(outcome.at),
            status_code: outcome.status_code,
            latency_ms: outcome.latency.as_millis().min(i64::MAX as u128) as i64,
            response_excerpt: outcome.excerpt.clone(),
            error: outcome.error.clone(),
        })
        .collect();
    repo::insert_attempts(conn, &attempts)?;
    let mut delivered: HashMap<(Id, Option<i32>), Vec<Id>> = HashMap::new();
    let mut endpoints_delivered: Vec<Id> = Vec::new();
    let disable_after = chrono::Duration::from_std(config.disable_after).unwrap_or(chrono::Duration::days(5));
    for (job, outcome) in finished {
        if outcome.delivered {
            delivered
                .entry((job.token, outcome.status_code))
                .or_default()
                .push(job.message.id);
            continue;
        }
        let failed = job.message.attempts.max(0) as u32 + 1;
        let next = rules::next_delay(failed, config.backoff_scale, rand::rng().random::<f64>())
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Ts(now + d));
        let mine = repo::finish_message(
            conn,
            job.message.id,
            job.token,
            Ts(now),
            &repo::Outcome {
                delivered: false,
                next,
                status_code: outcome.status_code,
                error: outcome.error.as_deref(),
            },
        )?;
        if !mine {
            continue;
        }
        if let Some(since) = repo::endpoint_failed(conn, job.endpoint.id, Ts(now))? {
            if now - since.0 >= disable_after {
                let reason = format!(
                    "disabled at {}: every delivery failed since {} (last: {})",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    since.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    outcome.error.as_deref().unwrap_or("failed")
                );
                repo::disable_endpoint(conn, job.endpoint.id, &reason, Ts(now))?;
            }
        }
    }
    for ((token, status_code), ids) in &delivered {
        let mine = repo::finish_delivered(conn, ids, *token, Ts(now), *status_code)?;
        for (job, _) in finished {
            if mine.contains(&job.message.id) && !endpoints_delivered.contains(&job.endpoint.id) {
                endpoints_delivered.push(job.endpoint.id);
            }
        }
    }
    for endpoint in endpoints_delivered {
        repo::endpoint_succeeded(conn, endpoint)?;
    }
    Ok(())
}
