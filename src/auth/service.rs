//! The key check every request runs ([`Bearer::write`], [`Bearer::writer`], [`Bearer::read`]), and the API key
//! use cases: create (the secret shown once), read, list, revoke, and the first admin key.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    ApiKey, ApiKeyRow, Bearer, CreatedApiKey, Credential, Csrf, NewApiKey, Principal, Role, generate_key,
};
use super::repo;
use super::rules::{LAST_USED_GRANULARITY_SECS, is_stale};
use crate::audit;
use crate::db::types::{Id, Ts};
use crate::db::{AnyConnection, Conn, Db};
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;

pub use repo::touch;

impl Bearer {
    /// Runs `f` as the key's holder in one write transaction, the key checked just before it on its connection.
    pub fn write<T, F>(&self, db: &Db, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut Conn<'_>, &Principal) -> AppResult<T>,
    {
        self.writer(db, |conn, principal| conn.transaction(|c| f(c, principal)))
    }

    /// Runs `f` as the key's holder with a connection that may write, outside a transaction ([`Db::writer`]).
    pub fn writer<T, F>(&self, db: &Db, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut AnyConnection, &Principal) -> AppResult<T>,
    {
        let mut used = None;
        let result = db.writer(|conn| {
            let principal = self.check(&mut conn.as_conn(), &mut used)?;
            f(conn, &principal)
        });
        record_use(db, used);
        result
    }

    /// Runs `f` as the key's holder on a read connection, the key checked on it first.
    pub fn read<T, F>(&self, db: &Db, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut Conn<'_>, &Principal) -> AppResult<T>,
    {
        let mut used = None;
        let result = db.read(|conn| {
            let principal = self.check(conn, &mut used)?;
            f(conn, &principal)
        });
        record_use(db, used);
        result
    }

    /// The key's (or the session's) holder, or 401; a session's write without its CSRF token, 403. Sets `stale`
    /// when the key's `last_used_at` or the session's `last_seen_at` is due for a refresh.
    fn check(&self, conn: &mut Conn<'_>, stale: &mut Option<Use>) -> AppResult<Principal> {
        match &self.credential {
            Credential::Key(hash) => {
                let (principal, last_used) =
                    find_active_by_hash(conn, hash)?.ok_or(AppError::Unauthorized("the API key is not valid"))?;
                if is_stale(last_used, Utc::now()) {
                    *stale = Some(Use::Key(principal.key_id));
                }
                Ok(principal)
            }
            Credential::Session { token_hash, csrf, idle } => {
                let session = crate::users::session_in(conn, token_hash, crate::now(), *idle)?
                    .ok_or(AppError::Unauthorized("the session has ended: sign in again"))?;
                let passed = match csrf {
                    Csrf::Passed => true,
                    Csrf::Token(token) => crate::users::rules::csrf_matches(token, &session.csrf_secret),
                    Csrf::Missing => false,
                };
                if !passed {
                    return Err(AppError::Forbidden);
                }
                *stale = Some(Use::Session(session.id, session.last_seen));
                Ok(session.principal)
            }
            Credential::Checked(principal) => Ok(principal.clone()),
        }
    }
}

/// A credential's use to record after the request.
enum Use {
    Key(Uuid),
    Session(Uuid, DateTime<Utc>),
}

/// Refreshes a key's `last_used_at` (or a session's `last_seen_at`) in its own short write, after the request's
/// work: kept out of the request's transaction, so that concurrent requests with one key never queue on the key's
/// row. Best effort: a failed bookkeeping write must not fail the caller's request.
fn record_use(db: &Db, stale: Option<Use>) {
    match stale {
        Some(Use::Key(id)) => {
            if !claim_record(id, Instant::now()) {
                return;
            }
            if let Err(e) = db.write(|conn| repo::touch(conn, id, Utc::now())) {
                tracing::warn!(error = %e, "could not record key use");
            }
        }
        Some(Use::Session(id, last_seen)) => crate::users::service::record_seen(db, id, last_seen),
        None => {}
    }
}

/// When this process last recorded each key's use.
static RECORDED: LazyLock<Mutex<HashMap<Uuid, Instant>>> = LazyLock::new(Mutex::default);

/// Whether this request is the one to record key `id`'s use: the first of this process's requests to find it stale
/// within a granularity period. Every request in flight when a key turns stale sees it stale; if each wrote, they
/// would queue on the key's row (measured: 20 to 40 ms at 8 clients on one key, each minute).
fn claim_record(id: Uuid, now: Instant) -> bool {
    let period = Duration::from_secs(LAST_USED_GRANULARITY_SECS.unsigned_abs());
    let Ok(mut recorded) = RECORDED.lock() else {
        return true;
    };
    if recorded.get(&id).is_some_and(|at| now.duration_since(*at) < period) {
        return false;
    }
    if recorded.len() >= 10_000 {
        recorded.retain(|_, at| now.duration_since(*at) < period);
    }
    recorded.insert(id, now);
    true
}

/// Creates a key in the caller's transaction and returns it with its secret.
pub fn create_key(conn: &mut Conn<'_>, new: &NewApiKey, actor: Option<Uuid>) -> AppResult<CreatedApiKey> {
    for (i, store_id) in new.store_ids.iter().enumerate() {
        if !repo::store_exists(conn, *store_id)? {
            return Err(AppError::field(&format!("store_ids[{i}]"), "no such store"));
        }
    }
    if let Some(partner_id) = new.partner_id {
        if !repo::partner_exists(conn, partner_id)? {
            return Err(AppError::field("partner_id", "no such courier partner"));
        }
    }
    let secret = generate_key();
    let row = ApiKeyRow {
        id: Id(Uuid::now_v7()),
        prefix: secret.prefix,
        key_hash: secret.hash,
        role: new.role.as_str().to_owned(),
        partner_id: new.partner_id.map(Id),
        label: new.label.clone(),
        created_by: actor.map(Id),
        created_at: Ts(crate::now()),
        revoked_at: None,
        last_used_at: None,
    };
    repo::insert(conn, &row, &new.store_ids)?;
    let api_key = ApiKey::from_row(row, new.store_ids.clone());
    audit::record(conn, actor, "create", "api_key", api_key.id, &api_key)?;
    Ok(CreatedApiKey {
        key: Some(secret.text),
        api_key,
    })
}

/// The caller behind an unrevoked key, with when the key was last used.
pub fn find_active_by_hash(conn: &mut Conn<'_>, hash: &str) -> AppResult<Option<(Principal, Option<DateTime<Utc>>)>> {
    let Some((row, scope)) = repo::find_active_by_hash(conn, hash)? else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&row.role) else {
        return Ok(None);
    };
    // Only store staff and warehouse keys have a scope.
    let store_ids = match role {
        Role::StoreStaff | Role::Warehouse => scope,
        Role::Admin | Role::Courier => Vec::new(),
    };
    let principal = Principal {
        key_id: row.id.0,
        role,
        store_ids,
        partner_id: row.partner_id.map(Uuid::from),
        username: None,
    };
    Ok(Some((principal, row.last_used_at.map(DateTime::from))))
}

/// Creates a key for an admin, in the transaction the idempotent create opens.
pub fn create(conn: &mut Conn<'_>, principal: &Principal, new: &NewApiKey) -> AppResult<CreatedApiKey> {
    principal.require_admin()?;
    create_key(conn, new, Some(principal.key_id))
}

/// One key, for admins only.
pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<ApiKey> {
    bearer.read(db, |conn, principal| {
        principal.require_admin()?;
        get_key(conn, id)
    })
}

/// One page of keys, for admins only.
pub fn list(db: &Db, bearer: &Bearer, page: PageRequest) -> AppResult<(Vec<ApiKey>, Option<String>)> {
    bearer.read(db, |conn, principal| {
        principal.require_admin()?;
        list_keys(conn, page)
    })
}

/// Revokes a key as an admin; see [`revoke_key`].
pub fn revoke(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<ApiKey> {
    bearer.write(db, |conn, principal| revoke_in(conn, principal, id))
}

/// [`revoke`] in the caller's transaction.
pub fn revoke_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<ApiKey> {
    principal.require_admin()?;
    revoke_key(conn, id, Some(principal.key_id))
}

pub fn get_key(conn: &mut Conn<'_>, id: Uuid) -> AppResult<ApiKey> {
    let row = repo::find(conn, id)?.ok_or(AppError::NotFound("api key"))?;
    let scope = repo::scope_of(conn, id)?;
    Ok(ApiKey::from_row(row, scope))
}

/// The route of the key list, which names it in its cursors.
pub const LIST: &str = "/api-keys";

pub fn list_keys(conn: &mut Conn<'_>, page: PageRequest) -> AppResult<(Vec<ApiKey>, Option<String>)> {
    let rows = repo::list(conn, page)?;
    let (rows, next) = page.finish(rows, |r| r.id.0);
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let scopes = repo::scopes_of(conn, &ids)?;
    let keys = rows
        .into_iter()
        .map(|row| {
            let scope = scopes.iter().filter(|(k, _)| *k == row.id).map(|(_, s)| s.0).collect();
            ApiKey::from_row(row, scope)
        })
        .collect();
    Ok((keys, next))
}

/// Revokes a key at once; revoking a revoked key changes nothing and answers the same.
pub fn revoke_key(conn: &mut Conn<'_>, id: Uuid, actor: Option<Uuid>) -> AppResult<ApiKey> {
    let key = get_key(conn, id)?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let now = crate::now();
    repo::set_revoked(conn, id, Ts(now))?;
    audit::record(
        conn,
        actor,
        "revoke",
        "api_key",
        id,
        &serde_json::json!({ "revoked_at": now }),
    )?;
    get_key(conn, id)
}

/// Creates the first admin key if no admin key was ever bootstrapped; returns its text to print once.
pub fn bootstrap_admin(db: &Db) -> AppResult<Option<CreatedApiKey>> {
    db.write(|conn| {
        if repo::count(conn)? > 0 {
            return Ok(None);
        }
        // The primary key makes this happen once even with several instances starting together.
        if !repo::mark_admin_bootstrapped(conn, Ts(crate::now()))? {
            return Ok(None);
        }
        let new = NewApiKey {
            role: Role::Admin,
            label: "first admin key".into(),
            store_ids: vec![],
            partner_id: None,
        };
        create_key(conn, &new, None).map(Some)
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use uuid::Uuid;

    use super::claim_record;

    #[test]
    fn one_request_per_key_and_minute_records_the_use() {
        let (key, other) = (Uuid::now_v7(), Uuid::now_v7());
        let start = Instant::now();
        assert!(claim_record(key, start));
        assert!(!claim_record(key, start), "a second request at once");
        assert!(!claim_record(key, start + Duration::from_secs(59)));
        assert!(claim_record(other, start), "another key is its own");
        assert!(claim_record(key, start + Duration::from_secs(60)));
    }
}
