//! The API keys' queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::ApiKeyRow;
use crate::db::Conn;
use crate::db::schema::{api_key_stores, api_keys, bootstrap_events, courier_partners, stores};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::http::pagination::PageRequest;
use crate::with_conn;

pub fn store_exists(conn: &mut Conn<'_>, store_id: Uuid) -> AppResult<bool> {
    let exists: i64 = with_conn!(conn, c => stores::table.filter(stores::id.eq(Id(store_id))).count().get_result(c))?;
    Ok(exists > 0)
}

pub fn partner_exists(conn: &mut Conn<'_>, partner_id: Uuid) -> AppResult<bool> {
    let exists: i64 = with_conn!(conn, c => courier_partners::table
        .filter(courier_partners::id.eq(Id(partner_id))).count().get_result(c))?;
    Ok(exists > 0)
}

/// Inserts the key and one scope row per store.
pub fn insert(conn: &mut Conn<'_>, row: &ApiKeyRow, store_ids: &[Uuid]) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(api_keys::table).values(row).execute(c))?;
    let scope: Vec<(Id, Id)> = store_ids.iter().map(|s| (row.id, Id(*s))).collect();
    for (key_id, store_id) in &scope {
        with_conn!(conn, c => diesel::insert_into(api_key_stores::table)
            .values((api_key_stores::api_key_id.eq(key_id), api_key_stores::store_id.eq(store_id)))
            .execute(c))?;
    }
    Ok(())
}

/// The stores a key may act on, in id order.
pub fn scope_of(conn: &mut Conn<'_>, key_id: Uuid) -> AppResult<Vec<Uuid>> {
    let ids: Vec<Id> = with_conn!(conn, c => api_key_stores::table
        .filter(api_key_stores::api_key_id.eq(Id(key_id)))
        .select(api_key_stores::store_id)
        .order(api_key_stores::store_id)
        .load(c))?;
    Ok(ids.into_iter().map(Uuid::from).collect())
}

/// The stores of each of these keys, as (key, store) in key then store order: one statement for a page of keys.
pub fn scopes_of(conn: &mut Conn<'_>, key_ids: &[Id]) -> AppResult<Vec<(Id, Id)>> {
    if key_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(with_conn!(conn, c => api_key_stores::table
        .filter(api_key_stores::api_key_id.eq_any(key_ids))
        .select((api_key_stores::api_key_id, api_key_stores::store_id))
        .order((api_key_stores::api_key_id, api_key_stores::store_id))
        .load(c))?)
}

/// The unrevoked key with this hash and the stores it may act on (in id order), in one statement: every request
/// checks its key, and a store staff key's scope must not cost a second round trip. The key's row comes once per
/// store (once with no store for keys without a scope).
pub fn find_active_by_hash(conn: &mut Conn<'_>, hash: &str) -> AppResult<Option<(ApiKeyRow, Vec<Uuid>)>> {
    let rows: Vec<(ApiKeyRow, Option<Id>)> = with_conn!(conn, c => api_keys::table
        .left_join(api_key_stores::table)
        .filter(api_keys::key_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .order(api_key_stores::store_id)
        .select((ApiKeyRow::as_select(), api_key_stores::store_id.nullable()))
        .load(c))?;
    let scope = rows.iter().filter_map(|(_, store)| store.map(Uuid::from)).collect();
    Ok(rows.into_iter().next().map(|(row, _)| (row, scope)))
}

pub fn touch(conn: &mut Conn<'_>, key_id: Uuid, at: DateTime<Utc>) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(api_keys::table.find(Id(key_id))).set(api_keys::last_used_at.eq(Ts(at))).execute(c))?;
    Ok(())
}

pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<ApiKeyRow>> {
    Ok(
        with_conn!(conn, c => api_keys::table.find(Id(id)).select(ApiKeyRow::as_select()).first(c)
        .optional())?,
    )
}

/// One page of keys in id order.
pub fn list(conn: &mut Conn<'_>, page: PageRequest) -> AppResult<Vec<ApiKeyRow>> {
    Ok(with_conn!(conn, c => {
        let mut q = api_keys::table.select(ApiKeyRow::as_select()).order(api_keys::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(api_keys::id.gt(Id(after)));
        }
        q.load(c)
    })?)
}

pub fn set_revoked(conn: &mut Conn<'_>, id: Uuid, at: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(api_keys::table.find(Id(id))).set(api_keys::revoked_at.eq(at)).execute(c))?;
    Ok(())
}

pub fn count(conn: &mut Conn<'_>) -> AppResult<i64> {
    Ok(with_conn!(conn, c => api_keys::table.count().get_result(c))?)
}

/// Records that the first admin key was made; false when it was already (the primary key makes this happen once
/// even with several instances starting together).
pub fn mark_admin_bootstrapped(conn: &mut Conn<'_>, at: Ts) -> AppResult<bool> {
    let inserted = with_conn!(conn, c => diesel::insert_into(bootstrap_events::table)
        .values((bootstrap_events::name.eq("admin_key"), bootstrap_events::happened_at.eq(at)))
        .execute(c));
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
