//! Logs with a request id per request, and Prometheus metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Sets up logging to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    init_logging_at(format, "info");
}

/// As [`init_logging`], with another default level (tests log warnings only unless `RUST_LOG` says more).
pub fn init_logging_at(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A second initialisation (tests spawn many apps) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_latency: HistogramVec,
    pub loaners: IntGaugeVec,
    pub waitlist: IntGaugeVec,
    pub db_connections: IntGaugeVec,
    /// Committed events the sequencer has not placed in the feed yet.
    pub outbox_backlog: IntGauge,
    /// Seconds since the oldest of them was written (0 when none waits).
    pub outbox_oldest_age: Gauge,
    /// Webhook delivery attempts' latency.
    pub webhook_latency: Histogram,
    pub webhook_deliveries: IntCounter,
    pub webhook_failures: IntCounter,
    /// Webhook messages not delivered yet (refreshed by the dispatcher every few seconds).
    pub webhook_pending: IntGauge,
    /// Customer reminders the SMS channel accepted.
    pub reminders_sent: IntCounter,
    /// Attempts at customer reminders the SMS channel refused (each is retried, up to its last).
    pub reminders_failed: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("depot".into()), None)?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route and status",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )?;
        let loaners = IntGaugeVec::new(
            Opts::new("loaners", "Loaner handsets by store, series and state"),
            &["store", "series", "state"],
        )?;
        let waitlist = IntGaugeVec::new(
            Opts::new("waitlist_length", "Tickets waiting for a loaner"),
            &["store", "series"],
        )?;
        let db_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections"),
            &["state"],
        )?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(loaners.clone()))?;
        registry.register(Box::new(waitlist.clone()))?;
        registry.register(Box::new(db_connections.clone()))?;
        let outbox_backlog = IntGauge::new("outbox_backlog", "Committed events not yet placed in the event feed")?;
        let outbox_oldest_age = Gauge::new(
            "outbox_oldest_unplaced_age_seconds",
            "Age of the oldest committed event not yet placed in the event feed",
        )?;
        registry.register(Box::new(outbox_backlog.clone()))?;
        registry.register(Box::new(outbox_oldest_age.clone()))?;
        let webhook_latency = Histogram::with_opts(
            HistogramOpts::new(
                "webhook_delivery_duration_seconds",
                "Webhook delivery attempts' latency",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )?;
        let webhook_deliveries = IntCounter::new("webhook_deliveries_total", "Webhook messages delivered (2xx)")?;
        let webhook_failures = IntCounter::new("webhook_failures_total", "Webhook delivery attempts that failed")?;
        let webhook_pending = IntGauge::new("webhook_messages_pending", "Webhook messages not delivered yet")?;
        registry.register(Box::new(webhook_latency.clone()))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(webhook_failures.clone()))?;
        registry.register(Box::new(webhook_pending.clone()))?;
        let reminders_sent = IntCounter::new("reminders_sent_total", "Customer reminders sent")?;
        let reminders_failed = IntCounter::new(
            "reminders_failed_total",
            "Customer reminder attempts the SMS channel refused",
        )?;
        registry.register(Box::new(reminders_sent.clone()))?;
        registry.register(Box::new(reminders_failed.clone()))?;
        Ok(Metrics {
            registry,
            http_latency,
            loaners,
            waitlist,
            db_connections,
            outbox_backlog,
            outbox_oldest_age,
            webhook_latency,
            webhook_deliveries,
            webhook_failures,
            webhook_pending,
            reminders_sent,
            reminders_failed,
        })
    }
}

fn request_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string())
}

/// Gives each request an id (the caller's `X-Request-Id` when sane), logs it in a span around the request,
/// echoes it in the response and records the latency by route.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = request_id_of(&req);
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %crate::edge::loggable_path(req.path()));
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.http_latency.clone());
    let started = Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(latency) = metrics {
        latency
            .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(
        || tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, route = %route, "request completed"),
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}
