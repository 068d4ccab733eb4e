//! The audit log's row.

use diesel::prelude::*;

use crate::db::schema::audit_log;
use crate::db::types::{Id, Ts};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: Id,
    pub at: Ts,
    pub api_key_id: Option<Id>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Id,
    pub details: String,
}
