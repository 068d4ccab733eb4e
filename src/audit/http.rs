//! `GET /audit-log` and its response types.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::service;
use crate::auth::Bearer;
use crate::error::{AppResult, ReadErrors};
use crate::http::ApiQuery;
use crate::http::pagination::PageRequest;
use crate::state::AppState;

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// The key that made the change; absent for changes made from the command line.
    pub api_key_id: Option<Uuid>,
    /// The console user who made the change (through a session; their key is `api_key_id`); absent for changes
    /// made with an API key or from the command line.
    pub username: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    /// The change as JSON: the new values, or the fields that changed.
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryList {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only entries about this kind of record, e.g. `store`.
    pub entity_type: Option<String>,
    /// Only entries about this record.
    pub entity_id: Option<Uuid>,
}

/// List audit entries, oldest first.
#[utoipa::path(
    tag = "audit", operation_id = "list_audit_entries", params(AuditQuery),
    responses(
(status = 200, body = AuditEntryList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/audit-log")]
pub async fn list_audit_entries(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<AuditQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/audit-log", query.limit, query.cursor.as_deref())?;
    let rows =
        web::block(move || service::list(&state.db, &bearer, page, query.entity_type.as_deref(), query.entity_id))
            .await??;
    let (rows, next_cursor) = page.finish(rows, |(r, _)| r.id.0);
    let items = rows
        .into_iter()
        .map(|(r, username)| AuditEntry {
            id: r.id.0,
            at: r.at.0,
            api_key_id: r.api_key_id.map(Uuid::from),
            username,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id.0,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::String(r.details)),
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditEntryList { items, next_cursor }))
}
