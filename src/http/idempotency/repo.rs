//! The idempotency records' queries, and the key's lock on PostgreSQL.

use diesel::prelude::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::Conn;
use crate::db::schema::idempotency_records;
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

/// The first answer given for a caller's key.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_records)]
pub struct IdempotencyRecord {
    pub api_key_id: Id,
    pub idem_key: String,
    pub request_hash: String,
    pub status_code: i32,
    pub response_body: String,
    pub created_at: Ts,
}

/// Holds the key until the transaction ends. PostgreSQL takes a transaction-scoped advisory lock on a hash of the
/// caller and the key (the two-number form, a key space apart from the single-number locks used elsewhere): a
/// duplicate waits here until the first commits, then finds its record. A hash collision only makes two unrelated
/// requests take turns. SQLite runs one writer at a time already.
pub fn take_key(conn: &mut Conn<'_>, key_id: Uuid, key: &str) -> AppResult<()> {
    if let Conn::Pg(c) = conn {
        let digest = Sha256::new()
            .chain_update(key_id.as_bytes())
            .chain_update(key.as_bytes())
            .finalize();
        let half = |at: usize| i32::from_be_bytes([digest[at], digest[at + 1], digest[at + 2], digest[at + 3]]);
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(half(0))
            .bind::<diesel::sql_types::Integer, _>(half(4))
            .execute(*c)?;
    }
    Ok(())
}

pub fn find(conn: &mut Conn<'_>, key_id: Uuid, key: &str) -> AppResult<Option<IdempotencyRecord>> {
    Ok(with_conn!(conn, c => idempotency_records::table
        .filter(idempotency_records::api_key_id.eq(Id(key_id)))
        .filter(idempotency_records::idem_key.eq(key))
        .select(IdempotencyRecord::as_select())
        .first(c)
        .optional())?)
}

pub fn insert(conn: &mut Conn<'_>, record: &IdempotencyRecord) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(idempotency_records::table).values(record).execute(c))?;
    Ok(())
}
