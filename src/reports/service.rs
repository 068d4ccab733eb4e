//! The satisfaction report for the caller's stores, in one read.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{SatisfactionReport, StoreSatisfaction};
use super::{repo, rules};
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};

/// The report for [`from`, `to`), as of `now`: of `store` when given (404 outside the caller's stores), else of
/// the caller's stores (an admin: every service center).
pub fn satisfaction(
    db: &Db,
    bearer: &Bearer,
    store: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<SatisfactionReport> {
    bearer.read(db, |conn, principal| {
        satisfaction_in(conn, principal, store, from, to, now)
    })
}

/// [`satisfaction`] on the caller's connection, as `principal`.
pub fn satisfaction_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    store: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<SatisfactionReport> {
    let only: Option<Vec<Id>> = match (principal.role, store) {
        (Role::Admin | Role::StoreStaff, Some(s)) if principal.covers_store(s) => Some(vec![Id(s)]),
        (Role::Admin | Role::StoreStaff, Some(_)) => return Err(AppError::NotFound("store")),
        (Role::Admin, None) => None,
        (Role::StoreStaff, None) => Some(principal.store_ids.iter().copied().map(Id).collect()),
        _ => return Err(AppError::Forbidden),
    };
    let stores = repo::stores(conn, only.as_deref())?;
    if store.is_some() && stores.is_empty() {
        return Err(AppError::NotFound("store"));
    }
    let mut rows = Vec::with_capacity(stores.len());
    for (id, code, name) in stores {
        let ratings = repo::closed_ticket_ratings(conn, id, Ts(from), Ts(to))?;
        let complaints = repo::complaint_times(conn, id, Ts(from), Ts(to))?;
        let f = rules::figures(&ratings, &complaints, now);
        rows.push(StoreSatisfaction {
            store_id: id.0,
            store_code: code,
            store_name: name,
            closed_tickets: f.closed_tickets,
            ratings_count: f.ratings_count,
            ratings_average: f.ratings_average,
            callback_coverage: f.callback_coverage,
            complaints_opened: f.complaints_opened,
            first_replies_due: f.first_replies_due,
            first_replies_on_time: f.first_replies_on_time,
            first_replies_on_time_share: f.first_replies_on_time_share,
            complaints_resolved: f.complaints_resolved,
            median_hours_to_resolve: f.median_hours_to_resolve,
        });
    }
    Ok(SatisfactionReport { from, to, stores: rows })
}
