//! A customer's row.

use diesel::prelude::*;

use crate::db::schema::customers;
use crate::db::types::{Id, Ts};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = customers)]
pub struct CustomerRow {
    pub id: Id,
    /// Normalised by [`super::rules::normalise_phone`].
    pub phone: String,
    pub name: String,
    pub contact_consent: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}
