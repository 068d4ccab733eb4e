//! Builds the application and binds it; used by `depot serve` and by the tests alike.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpServer, web};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::db::Db;
use crate::edge::{self, BadKeys, FailureLimiter, RecentKeys, RouteTable, Shutdown};
use crate::error::{AppError, FieldError};
pub use crate::state::AppState;
use crate::telemetry::{self, Metrics};
use crate::{
    audit, auth, catalog, courier, customers, devices, health, loaners, loans, openapi, parts, repairs, stock, tickets,
    tracking, warranty,
};

/// Connects, migrates and builds the shared state.
pub fn prepare(settings: Settings) -> anyhow::Result<web::Data<AppState>> {
    settings.validate()?;
    let db = Db::connect(&settings.database_url, &settings.pool)?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let metrics = Metrics::new()?;
    let files = crate::files::Files::open(&settings.files, &settings.database_url, &db)?;
    tracing::info!(store = %files.store.describe(), "file store");
    Ok(web::Data::new(AppState {
        db,
        metrics,
        settings,
        failed_lookups: tracking::failure_limiter(),
        link_writes: edge::LinkWrites::default(),
        auth_failures: FailureLimiter::new(edge::AUTH_FAILURES_PER_WINDOW, edge::AUTH_FAILURE_WINDOW),
        sign_in_failures: FailureLimiter::new(edge::SIGN_IN_FAILURES_PER_WINDOW, edge::AUTH_FAILURE_WINDOW),
        bad_keys: BadKeys::default(),
        good_keys: RecentKeys::default(),
        shutdown: Shutdown::default(),
        files,
    }))
}

/// Expires reservations whose hold ran out and serves queues left beside a free loaner, every `sweep_interval`, until
/// shutdown begins ([`drain`]); join the returned thread to wait for a sweep in progress. Every instance may run one:
/// the sweep locks what it changes (see `loans::sweep`).
pub fn spawn_sweeper(state: web::Data<AppState>) -> Option<std::thread::JoinHandle<()>> {
    let interval = state.settings.sweep_interval;
    if interval.is_zero() {
        return None;
    }
    let spawned = std::thread::Builder::new().name("loan-sweeper".into()).spawn(move || {
        while !state.shutdown.wait(interval) {
            let now = crate::db::types::Ts(crate::now());
            match crate::loans::sweep(&state.db, now, state.settings.loan_hold) {
                Ok(s) if s == Default::default() => {}
                Ok(s) => tracing::info!(expired = s.expired, served = s.served, "loaner reservations swept"),
                Err(e) => tracing::warn!(error = %e, "reservation sweep failed; retrying next round"),
            }
            let alerts = crate::events::AlertSettings::from(&state.settings);
            match crate::events::raise_alerts(&state.db, now, &alerts) {
                Ok(0) => {}
                Ok(n) => tracing::info!(raised = n, "staff alerts raised"),
                Err(e) => tracing::warn!(error = %e, "raising staff alerts failed; retrying next round"),
            }
            match crate::complaints::raise_breach_alerts(&state.db, now.0) {
                Ok(0) => {}
                Ok(n) => tracing::info!(raised = n, "complaints past their first reply alerted"),
                Err(e) => tracing::warn!(error = %e, "alerting overdue complaints failed; retrying next round"),
            }
            match crate::users::service::sweep_sessions(&state.db, now.0, state.settings.session) {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "ended console sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "deleting ended sessions failed; retrying next round"),
            }
        }
    });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!(error = %e, "could not start the reservation sweeper");
            None
        }
    }
}

/// Serves the application on `listener` until the returned server is stopped. Signals are not handled here: the
/// binary calls [`drain`] on SIGTERM or SIGINT ([`stop_on_signal`]).
pub fn run(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let workers = match state.settings.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let shutdown = state.settings.shutdown_timeout.as_secs();
    let max_connections = state.settings.max_connections_per_worker(workers);
    let document = openapi::document();
    let routes = web::Data::new(RouteTable::from_openapi(&document));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(routes.clone())
            .app_data(web::PathConfig::default().error_handler(|err, req| path_error(&err.to_string(), req).into()))
            .wrap(from_fn(edge::guard))
            .wrap(from_fn(telemetry::request_context))
            .service(
                web::scope("/api/v1")
                    .configure(catalog::configure)
                    .configure(auth::configure)
                    .configure(loaners::configure)
                    .configure(crate::files::configure)
                    .configure(loans::configure)
                    .configure(tickets::configure)
                    .configure(devices::configure)
                    .configure(customers::configure)
                    .configure(parts::configure)
                    .configure(stock::configure)
                    .configure(repairs::configure)
                    .configure(courier::configure)
                    .configure(tracking::configure)
                    .configure(audit::configure)
                    .configure(crate::events::configure)
                    .configure(warranty::configure)
                    .configure(crate::webhooks::configure)
                    .configure(crate::complaints::configure)
                    .configure(crate::reports::configure)
                    .default_service(web::to(edge::no_route)),
            )
            .configure(crate::console::configure)
            .configure(health::configure)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", document.clone()))
            .service(web::redirect("/docs", "/docs/"))
            .default_service(web::to(edge::no_route))
    })
    .workers(workers)
    .max_connections(max_connections)
    .shutdown_timeout(shutdown)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Names the path parameters that did not parse (ids must be UUIDs).
fn path_error(message: &str, req: &HttpRequest) -> AppError {
    let bad: Vec<FieldError> = req
        .match_info()
        .iter()
        .filter(|(name, value)| name.ends_with("_id") && uuid::Uuid::parse_str(value).is_err())
        .map(|(name, _)| FieldError::new(name, "must be a UUID"))
        .collect();
    if bad.is_empty() {
        AppError::field("path", message.to_owned())
    } else {
        AppError::Validation(bad)
    }
}

/// A graceful stop: readiness answers 503 and every answer carries `Connection: close` from now on, and the sweeper
/// leaves its loop; the server goes on answering for `drain_delay`, then until no request is in flight (for up to
/// `shutdown_timeout`), and only then stops listening and stops its workers. Stopping the workers while a request
/// was still receiving its body, or while a kept-alive connection was sending one, now and then closed that
/// connection unanswered; the delay lets requests already sent be read (and counted) and load balancers see the 503.
pub async fn drain(state: &AppState, handle: &ServerHandle) {
    state.shutdown.begin();
    let deadline = std::time::Instant::now() + state.settings.shutdown_timeout;
    actix_web::rt::time::sleep(state.settings.drain_delay.min(state.settings.shutdown_timeout)).await;
    while state.shutdown.in_flight() > 0 && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    handle.stop(true).await;
}

/// Waits for SIGTERM or SIGINT (Ctrl-C), then drains the server.
pub async fn stop_on_signal(state: web::Data<AppState>, handle: ServerHandle) {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                let term = Box::pin(term.recv());
                let interrupt = Box::pin(actix_web::rt::signal::ctrl_c());
                futures_util::future::select(term, interrupt).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = actix_web::rt::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_web::rt::signal::ctrl_c().await;
    }
    tracing::info!("stop requested: draining");
    drain(&state, &handle).await;
}
