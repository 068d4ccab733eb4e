//! The users' and sessions' queries.

use diesel::prelude::*;
use uuid::Uuid;

use super::model::{SessionRow, UserRow};
use crate::auth::ApiKeyRow;
use crate::db::Conn;
use crate::db::schema::{api_key_stores, api_keys, sessions, users};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::with_conn;

pub fn insert(conn: &mut Conn<'_>, row: &UserRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(users::table).values(row).execute(c))?;
    Ok(())
}

pub fn find_by_username(conn: &mut Conn<'_>, username: &str) -> AppResult<Option<UserRow>> {
    Ok(with_conn!(conn, c => users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(c)
        .optional())?)
}

/// Counts one more failed sign-in and returns the count, on the row's lock: two failures at once count two.
pub fn count_failure(conn: &mut Conn<'_>, id: Uuid, now: Ts) -> AppResult<i32> {
    with_conn!(conn, c => diesel::update(users::table.find(Id(id)))
        .set((users::failed_attempts.eq(users::failed_attempts + 1), users::updated_at.eq(now)))
        .execute(c))?;
    Ok(with_conn!(conn, c => users::table.find(Id(id)).select(users::failed_attempts).first(c))?)
}

pub fn set_locked_until(conn: &mut Conn<'_>, id: Uuid, until: Option<Ts>) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(users::table.find(Id(id))).set(users::locked_until.eq(until)).execute(c))?;
    Ok(())
}

/// After a successful sign-in the account starts over.
pub fn clear_failures(conn: &mut Conn<'_>, id: Uuid, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(users::table.find(Id(id)))
        .filter(users::failed_attempts.ne(0).or(users::locked_until.is_not_null()))
        .set((users::failed_attempts.eq(0), users::locked_until.eq(None::<Ts>), users::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

pub fn insert_session(conn: &mut Conn<'_>, row: &SessionRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(sessions::table).values(row).execute(c))?;
    Ok(())
}

/// A session, its user, the user's key and the key's stores.
pub type SessionWithUser = (SessionRow, UserRow, ApiKeyRow, Vec<Uuid>);

/// A session with its user, the user's key and the key's stores (in id order), in one statement: every
/// cookie-authenticated request runs it. The rows repeat once per store (once with no store for keys without one).
pub fn session_by_hash(conn: &mut Conn<'_>, token_hash: &str) -> AppResult<Option<SessionWithUser>> {
    let rows: Vec<(SessionRow, UserRow, ApiKeyRow, Option<Id>)> = with_conn!(conn, c => sessions::table
        .inner_join(users::table.inner_join(api_keys::table.left_join(api_key_stores::table)))
        .filter(sessions::token_hash.eq(token_hash))
        .order(api_key_stores::store_id)
        .select((
            SessionRow::as_select(),
            UserRow::as_select(),
            ApiKeyRow::as_select(),
            api_key_stores::store_id.nullable(),
        ))
        .load(c))?;
    let scope = rows.iter().filter_map(|(.., store)| store.map(Uuid::from)).collect();
    Ok(rows.into_iter().next().map(|(s, u, k, _)| (s, u, k, scope)))
}

pub fn touch_session(conn: &mut Conn<'_>, id: Uuid, at: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(sessions::table.find(Id(id))).set(sessions::last_seen_at.eq(at)).execute(c))?;
    Ok(())
}

/// Deletes a user's sessions that have ended (idle since `idle_since` or past their absolute end), so that the
/// table holds no more than each user's live sessions and the last ended ones of users who have not signed in since.
/// Along `sessions_user`: one user's rows.
pub fn delete_ended_sessions(conn: &mut Conn<'_>, user: Id, now: Ts, idle_since: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::delete(
            sessions::table
                .filter(sessions::user_id.eq(user))
                .filter(sessions::expires_at.le(now).or(sessions::last_seen_at.le(idle_since))),
        )
        .execute(c))?)
}

/// Deletes every session that has ended, whoever's: what the sweeper runs, so that users who never sign in again do
/// not leave their sessions behind. Sessions are few (staff, not customers), so the scan stays small.
pub fn delete_all_ended_sessions(conn: &mut Conn<'_>, now: Ts, idle_since: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::delete(
            sessions::table.filter(sessions::expires_at.le(now).or(sessions::last_seen_at.le(idle_since))),
        )
        .execute(c))?)
}

pub fn delete_session(conn: &mut Conn<'_>, token_hash: &str) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::delete(sessions::table.filter(sessions::token_hash.eq(token_hash))).execute(c))?)
}

/// The usernames behind these keys, for timelines that name people: one statement for the whole list.
pub fn names_of_keys(conn: &mut Conn<'_>, key_ids: &[Uuid]) -> AppResult<Vec<(Uuid, String, String)>> {
    if key_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Id> = key_ids.iter().copied().map(Id).collect();
    let rows: Vec<(Id, String, String)> = with_conn!(conn, c => users::table
        .filter(users::key_id.eq_any(ids))
        .select((users::key_id, users::username, users::display_name))
        .load(c))?;
    Ok(rows.into_iter().map(|(k, u, d)| (k.0, u, d)).collect())
}

pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<UserRow>> {
    Ok(with_conn!(conn, c => users::table
        .find(Id(id))
        .select(UserRow::as_select())
        .first(c)
        .optional())?)
}

/// Every user with their key's role and stores, by username, in one statement: the rows repeat once per store
/// (once with no store for a user without a scope), in store id order.
pub fn list_with_access(conn: &mut Conn<'_>) -> AppResult<Vec<(UserRow, String, Option<Id>)>> {
    Ok(with_conn!(conn, c => users::table
        .inner_join(api_keys::table.left_join(api_key_stores::table))
        .order((users::username, api_key_stores::store_id))
        .select((UserRow::as_select(), api_keys::role, api_key_stores::store_id.nullable()))
        .load(c))?)
}

pub fn set_disabled(conn: &mut Conn<'_>, id: Uuid, disabled: bool, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(users::table.find(Id(id)))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// A new password; the account's failures and lock start over.
pub fn set_password(conn: &mut Conn<'_>, id: Uuid, password_hash: &str, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(users::table.find(Id(id)))
        .set((
            users::password_hash.eq(password_hash),
            users::failed_attempts.eq(0),
            users::locked_until.eq(None::<Ts>),
            users::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

pub fn set_profile(conn: &mut Conn<'_>, id: Uuid, display_name: &str, locale: &str, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(users::table.find(Id(id)))
        .set((users::display_name.eq(display_name), users::locale.eq(locale), users::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Ends every session of a user at once, on every instance (they are rows, not cookies).
pub fn delete_sessions_of(conn: &mut Conn<'_>, user: Uuid) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::delete(sessions::table.filter(sessions::user_id.eq(Id(user)))).execute(c))?)
}

/// Gives a user's key a new role and replaces its stores.
pub fn set_key_access(conn: &mut Conn<'_>, key_id: Uuid, role: &str, store_ids: &[Uuid]) -> AppResult<()> {
    let key = Id(key_id);
    with_conn!(conn, c => diesel::update(api_keys::table.find(key)).set(api_keys::role.eq(role)).execute(c))?;
    with_conn!(conn, c => diesel::delete(api_key_stores::table.filter(api_key_stores::api_key_id.eq(key))).execute(c))?;
    let rows: Vec<_> = store_ids
        .iter()
        .map(|s| (api_key_stores::api_key_id.eq(key), api_key_stores::store_id.eq(Id(*s))))
        .collect();
    if !rows.is_empty() {
        with_conn!(conn, c => diesel::insert_into(api_key_stores::table).values(&rows).execute(c))?;
    }
    Ok(())
}
