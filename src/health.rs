//! Liveness, readiness and metrics for operators.

use actix_web::{HttpResponse, get, web};
use prometheus::{Encoder, TextEncoder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when healthy.
    pub status: String,
    /// `sqlite` or `postgres`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// How long readiness waits for the database's answer before it says "not ready".
const READY_DEADLINE: std::time::Duration = std::time::Duration::from_millis(1000);

/// The process is up and serving.
#[utoipa::path(tag = "operations", operation_id = "check_liveness", responses((status = 200, body = Health)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        engine: None,
    })
}

/// The database answers within a second, every migration has run and none unknown to this binary (a newer Depot's)
/// has, and writes have not just failed for a full disk: ready for traffic. A 503 says why in `detail`.
#[utoipa::path(
    tag = "operations", operation_id = "check_readiness",
    responses(
        (status = 200, body = Health),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Not ready"),
    )
)]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    if state.shutdown.is_draining() {
        return Err(AppError::Unavailable("shutting down".into()));
    }
    let engine = state.db.engine();
    let db = state.db.clone();
    // A pooled connection to a server that drops packets hangs in its query until TCP gives up: answer anyway.
    let result = match actix_web::rt::time::timeout(READY_DEADLINE, web::block(move || db.ready())).await {
        Ok(finished) => finished?,
        Err(_) => Err(format!(
            "the database did not answer within {} ms",
            READY_DEADLINE.as_millis()
        )),
    };
    match result {
        Ok(()) => Ok(HttpResponse::Ok().json(Health {
            status: "ok".into(),
            engine: Some(
                serde_json::to_value(engine)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            ),
        })),
        Err(why) => Err(AppError::NotReady(why)),
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    tag = "operations", operation_id = "get_metrics",
    responses(
        (status = 200, content_type = "text/plain", body = String),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Not an allowed address and no metrics key"),
    )
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let gauges = state.clone();
    let counts = web::block(move || gauges.db.read(crate::db::gauges::loaner_counts)).await?;
    let m = &state.metrics;
    match counts {
        Ok((loaner_rows, waiting_rows)) => {
            m.loaners.reset();
            for (store, series, st, n) in loaner_rows {
                m.loaners
                    .with_label_values(&[store.as_str(), series.as_str(), st.as_str()])
                    .set(n);
            }
            m.waitlist.reset();
            for (store, series, n) in waiting_rows {
                m.waitlist.with_label_values(&[store.as_str(), series.as_str()]).set(n);
            }
        }
        // Scrapes must keep working while the database is down; the HTTP metrics still say something.
        Err(e) => tracing::warn!(error = %e, "could not read loaner counts for metrics"),
    }
    let outbox = state.clone();
    let backlog = web::block(move || {
        let backlog = crate::events::backlog(&outbox.db)?;
        let age = crate::events::oldest_unplaced_age(&outbox.db, crate::now())?;
        Ok::<_, crate::error::AppError>((backlog, age))
    })
    .await?;
    match backlog {
        Ok((backlog, age)) => {
            m.outbox_backlog.set(backlog);
            m.outbox_oldest_age.set(age);
        }
        Err(e) => tracing::warn!(error = %e, "could not read the outbox backlog for metrics"),
    }
    let (connections, idle) = state.db.pool_state();
    m.db_connections
        .with_label_values(&["open"])
        .set(i64::from(connections));
    m.db_connections.with_label_values(&["idle"]).set(i64::from(idle));
    let mut body = Vec::new();
    TextEncoder::new()
        .encode(&m.registry.gather(), &mut body)
        .map_err(anyhow::Error::from)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live).service(ready).service(metrics);
}
