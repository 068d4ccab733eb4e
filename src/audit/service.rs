//! Writing and reading the audit log.

use serde::Serialize;
use uuid::Uuid;

use super::model::AuditRow;
use super::repo;
use crate::auth::Bearer;
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::http::pagination::PageRequest;

/// Records one change, in the caller's transaction.
pub fn record(
    conn: &mut Conn<'_>,
    actor: Option<Uuid>,
    action: &str,
    entity_type: &str,
    entity_id: Uuid,
    details: &impl Serialize,
) -> AppResult<()> {
    let row = AuditRow {
        id: Id(Uuid::now_v7()),
        at: Ts(crate::now()),
        api_key_id: actor.map(Id),
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        entity_id: Id(entity_id),
        details: serde_json::to_string(details).map_err(anyhow::Error::from)?,
    };
    repo::insert(conn, &row)
}

/// One page of entries, for admins only.
pub fn list(
    db: &Db,
    bearer: &Bearer,
    page: PageRequest,
    entity_type: Option<&str>,
    entity_id: Option<Uuid>,
) -> AppResult<Vec<(AuditRow, Option<String>)>> {
    bearer.read(db, |conn, principal| {
        principal.require_admin()?;
        repo::list(conn, page, entity_type, entity_id)
    })
}
