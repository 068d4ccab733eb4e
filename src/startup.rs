//! Builds the application and binds it; used by `depot serve` and by the tests alike.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::db::Db;
use crate::error::{AppError, FieldError};
use crate::telemetry::{self, Metrics};
use crate::{audit, auth, catalog, courier, health, loaners, loans, openapi, parts, tickets, tracking};

/// What every request handler can reach.
pub struct AppState {
    pub db: Db,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Failed customer-tracking look-ups per client, to make guessing tokens slow as well as hopeless.
    pub failed_lookups: tracking::FailedLookups,
}

/// Connects, migrates and builds the shared state.
pub fn prepare(settings: Settings) -> anyhow::Result<web::Data<AppState>> {
    settings.validate()?;
    let db = Db::connect(&settings.database_url, &settings.pool)?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let metrics = Metrics::new()?;
    Ok(web::Data::new(AppState {
        db,
        metrics,
        settings,
        failed_lookups: tracking::FailedLookups::default(),
    }))
}

/// Expires reservations whose hold ran out and serves queues left beside a free loaner, every `sweep_interval`, until
/// the process ends. Every instance may run one: the sweep locks what it changes (see `loans::reserve::sweep`).
pub fn spawn_sweeper(state: web::Data<AppState>) -> Option<std::thread::JoinHandle<()>> {
    let interval = state.settings.sweep_interval;
    if interval.is_zero() {
        return None;
    }
    let spawned = std::thread::Builder::new().name("loan-sweeper".into()).spawn(move || {
        loop {
            std::thread::sleep(interval);
            let now = crate::db::types::Ts(crate::now());
            match crate::loans::reserve::sweep(&state.db, now, state.settings.loan_hold) {
                Ok(s) if s == Default::default() => {}
                Ok(s) => tracing::info!(expired = s.expired, served = s.served, "loaner reservations swept"),
                Err(e) => tracing::warn!(error = %e, "reservation sweep failed; retrying next round"),
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

/// Serves the application on `listener` until the returned server is stopped (SIGINT/SIGTERM stop it gracefully).
pub fn run(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let workers = match state.settings.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let shutdown = state.settings.shutdown_timeout.as_secs();
    let document = openapi::document();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PathConfig::default().error_handler(|err, req| path_error(&err.to_string(), req).into()))
            .wrap(from_fn(telemetry::request_context))
            .service(
                web::scope("/api/v1")
                    .configure(catalog::configure)
                    .configure(auth::keys::configure)
                    .configure(loaners::configure)
                    .configure(loans::http::configure)
                    .configure(tickets::http::configure)
                    .configure(parts::configure)
                    .configure(courier::configure)
                    .configure(tracking::configure)
                    .service(audit::list_audit_entries)
                    .default_service(web::to(not_found)),
            )
            .configure(health::configure)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", document.clone()))
            .service(web::redirect("/docs", "/docs/"))
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .shutdown_timeout(shutdown)
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

/// Unknown routes, and known routes with a method they do not take, answer a 404 problem.
async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&AppError::NotFound("route"))
}
