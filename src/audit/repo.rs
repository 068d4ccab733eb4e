//! The audit log's queries.

use diesel::prelude::*;
use uuid::Uuid;

use super::model::AuditRow;
use crate::db::Conn;
use crate::db::schema::{audit_log, users};
use crate::db::types::Id;
use crate::error::AppResult;
use crate::http::pagination::PageRequest;
use crate::with_conn;

pub fn insert(conn: &mut Conn<'_>, row: &AuditRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(audit_log::table).values(row).execute(c))?;
    Ok(())
}

/// One page of entries in id order (oldest first), optionally about one kind of record or one record, each with
/// the username of the console user whose key made the change (in the same statement).
pub fn list(
    conn: &mut Conn<'_>,
    page: PageRequest,
    entity_type: Option<&str>,
    entity_id: Option<Uuid>,
) -> AppResult<Vec<(AuditRow, Option<String>)>> {
    Ok(with_conn!(conn, c => {
        let mut q = audit_log::table
            .left_join(users::table.on(users::key_id.nullable().eq(audit_log::api_key_id)))
            .select((AuditRow::as_select(), users::username.nullable()))
            .order(audit_log::id)
            .limit(page.fetch())
            .into_boxed();
        if let Some(after) = page.after {
            q = q.filter(audit_log::id.gt(Id(after)));
        }
        if let Some(t) = entity_type {
            q = q.filter(audit_log::entity_type.eq(t.to_owned()));
        }
        if let Some(id) = entity_id {
            q = q.filter(audit_log::entity_id.eq(Id(id)));
        }
        q.load(c)
    })?)
}
