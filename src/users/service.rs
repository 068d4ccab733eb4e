//! Creating users, signing in and out, and the session check that every cookie-authenticated request runs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use uuid::Uuid;

use super::model::{
    Locale, NewUser, SessionRow, SessionUser, UserRow, Username, hash_password, verify_nobody, verify_password,
};
use super::{repo, rules};
use crate::audit;
use crate::auth::{NewApiKey, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::http::validate::Checks;

/// The cookie that carries a session's token.
pub const SESSION_COOKIE: &str = "depot_session";

/// How long sessions last: ended after `idle` without a request, and at the latest `lifetime` after signing in.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    pub idle: Duration,
    pub lifetime: Duration,
}

/// A live session, checked.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub principal: Principal,
    pub user: SessionUser,
    pub csrf_secret: String,
    pub last_seen: DateTime<Utc>,
}

/// The outcome of a sign-in. A refusal says nothing of why: unknown user, wrong password, locked or disabled
/// account all look alike.
pub enum SignIn {
    Accepted { token: String, session: Box<Session> },
    Refused,
}

/// 256 random bits, base64url (43 characters): session tokens and CSRF secrets.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `text` has the shape of a token [`random_token`] makes; anything else is refused without a look-up.
pub fn well_formed_token(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// A session token's stored hash. Tokens are 256-bit random, so one SHA-256 is enough (as for API keys).
pub fn token_hash(token: &str) -> String {
    crate::auth::hash_key(token)
}

/// Creates a user with the API key that carries its role and scope, in the caller's transaction. The key's text
/// is dropped unseen: nobody can present it, it only names the user as the actor of what they do.
pub fn create_user(
    conn: &mut Conn<'_>,
    new: &NewUser,
    password_hash: String,
    actor: Option<Uuid>,
) -> AppResult<UserRow> {
    if repo::find_by_username(conn, new.username.as_str())?.is_some() {
        return Err(AppError::field("username", "is taken"));
    }
    let key = crate::auth::create_key(
        conn,
        &NewApiKey {
            role: new.role,
            label: format!("console user {}", new.username.as_str()),
            store_ids: new.store_ids.clone(),
            partner_id: None,
        },
        actor,
    )?;
    let now = Ts(crate::now());
    let row = UserRow {
        id: Id(Uuid::now_v7()),
        username: new.username.as_str().to_owned(),
        display_name: new.display_name.clone(),
        locale: new.locale.as_str().to_owned(),
        password_hash,
        key_id: Id(key.api_key.id),
        disabled: false,
        failed_attempts: 0,
        locked_until: None,
        created_at: now,
        updated_at: now,
    };
    repo::insert(conn, &row)?;
    audit::record(
        conn,
        actor,
        "create",
        "user",
        row.id.0,
        &serde_json::json!({
            "username": row.username,
            "display_name": row.display_name,
            "role": new.role.as_str(),
            "store_ids": new.store_ids,
            "locale": row.locale,
            "key_id": key.api_key.id,
        }),
    )?;
    Ok(row)
}

/// Hashes the password (outside any transaction: it takes tens of milliseconds) and creates the user.
pub fn create(db: &Db, new: &NewUser, actor: Option<Uuid>) -> AppResult<UserRow> {
    let hash = hash_password(&new.password)?;
    db.write(|conn| create_user(conn, new, hash, actor))
}

/// Checks a username and password. A locked, disabled or unknown account costs the same password check as a
/// wrong password, so that the answer's timing tells nothing; each failure on a known account counts towards
/// its lock-out ([`rules::lock_for`]).
pub fn sign_in(db: &Db, username: &str, password: &str, settings: SessionSettings) -> AppResult<SignIn> {
    let now = crate::now();
    let user = match super::Username::parse(username) {
        Ok(name) => db.read(|conn| repo::find_by_username(conn, name.as_str()))?,
        Err(_) => None,
    };
    let Some(user) = user else {
        verify_nobody(password);
        return Ok(SignIn::Refused);
    };
    let locked = user.locked_until.is_some_and(|t| t.0 > now);
    if user.disabled || locked {
        verify_nobody(password);
        return Ok(SignIn::Refused);
    }
    let matches = verify_password(password, &user.password_hash);
    db.write(|conn| {
        let now_ts = Ts(now);
        if !matches {
            let failed = repo::count_failure(conn, user.id.0, now_ts)?;
            repo::set_locked_until(conn, user.id.0, rules::lock_for(failed).map(|d| Ts(now + d)))?;
            return Ok(SignIn::Refused);
        }
        repo::clear_failures(conn, user.id.0, now_ts)?;
        // Each sign-in clears the user's ended sessions: nothing else would (a session that ends by idling is never
        // signed out), and the table would keep every session ever made.
        repo::delete_ended_sessions(conn, user.id, now_ts, Ts(now - settings.idle))?;
        let token = random_token();
        let row = SessionRow {
            id: Id(Uuid::now_v7()),
            token_hash: token_hash(&token),
            user_id: user.id,
            csrf_secret: random_token(),
            created_at: now_ts,
            last_seen_at: now_ts,
            expires_at: Ts(now + settings.lifetime),
        };
        repo::insert_session(conn, &row)?;
        match session_in(conn, &row.token_hash, now, settings.idle)? {
            Some(session) => Ok(SignIn::Accepted {
                token,
                session: Box::new(session),
            }),
            // The user's key was revoked: the account cannot act.
            None => Err(AppError::Forbidden),
        }
    })
    .or_else(|e| match e {
        AppError::Forbidden => Ok(SignIn::Refused),
        e => Err(e),
    })
}

/// The live session with this token hash, if any: not idle past `idle`, before its absolute end, its user not
/// disabled and the user's key not revoked.
pub fn session_in(conn: &mut Conn<'_>, hash: &str, now: DateTime<Utc>, idle: Duration) -> AppResult<Option<Session>> {
    let Some((session, user, key, scope)) = repo::session_by_hash(conn, hash)? else {
        return Ok(None);
    };
    if user.disabled
        || key.revoked_at.is_some()
        || !rules::session_live(now, session.last_seen_at.0, session.expires_at.0, idle)
    {
        return Ok(None);
    }
    let Some(role) = Role::parse(&key.role) else {
        return Ok(None);
    };
    let store_ids = match role {
        Role::StoreStaff | Role::Warehouse => scope,
        Role::Admin | Role::Courier => Vec::new(),
    };
    Ok(Some(Session {
        id: session.id.0,
        principal: Principal {
            key_id: key.id.0,
            role,
            store_ids,
            partner_id: key.partner_id.map(Uuid::from),
            username: Some(user.username.clone()),
        },
        user: SessionUser {
            user_id: user.id.0,
            username: user.username,
            display_name: user.display_name,
            locale: Locale::parse(&user.locale).unwrap_or(Locale::ZhCn),
        },
        csrf_secret: session.csrf_secret,
        last_seen: session.last_seen_at.0,
    }))
}

/// Refreshes a session's `last_seen_at` when it is a minute stale, in its own short write after the request's work
/// (as a key's `last_used_at`). Best effort: a failed bookkeeping write must not fail the request.
pub fn record_seen(db: &Db, session_id: Uuid, last_seen: DateTime<Utc>) {
    let now = crate::now();
    if !rules::last_seen_stale(last_seen, now) {
        return;
    }
    if let Err(e) = db.write(|conn| repo::touch_session(conn, session_id, Ts(now))) {
        tracing::warn!(error = %e, "could not record a session's use");
    }
}

/// Ends the session with this token, on every instance at once.
pub fn sign_out(db: &Db, hash: &str) -> AppResult<()> {
    db.write(|conn| repo::delete_session(conn, hash)).map(|_| ())
}

/// The people behind these keys (key id, username, display name), for timelines that name who acted.
pub fn names_of_keys(conn: &mut Conn<'_>, key_ids: &[Uuid]) -> AppResult<Vec<(Uuid, String, String)>> {
    repo::names_of_keys(conn, key_ids)
}

/// Deletes the sessions that have ended (past their end, or idle longer than `settings.idle`): the sweeper's
/// round, for users who never come back to sign in (a sign-in clears only its own user's).
pub fn sweep_sessions(db: &Db, now: DateTime<Utc>, settings: SessionSettings) -> AppResult<usize> {
    db.write(|conn| repo::delete_all_ended_sessions(conn, Ts(now), Ts(now - settings.idle)))
}

/// A user as the admins' list shows them: who, in which language, their role and stores (those of their key), and
/// whether they may sign in.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub locale: Locale,
    pub role: Role,
    pub store_ids: Vec<Uuid>,
    pub disabled: bool,
    pub key_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A role and scope for a user, checked as a key's are ([`crate::auth::CreateApiKey::parse`]); couriers are machine
/// clients and have no console.
fn access(checks: &mut Checks, role: &str, store_ids: Vec<Uuid>) -> Option<(Role, Vec<Uuid>)> {
    let role = match Role::parse(role) {
        Some(Role::Courier) | None => {
            checks.fail("role", "must be admin, store_staff or warehouse");
            return None;
        }
        Some(role) => role,
    };
    let scope = crate::auth::CreateApiKey {
        role,
        label: "console user".to_owned(),
        store_ids,
        partner_id: None,
    }
    .parse();
    match scope {
        Ok(key) => Some((role, key.store_ids)),
        Err(AppError::Validation(errors)) => {
            for e in errors {
                checks.fail(&e.field, e.message);
            }
            None
        }
        Err(e) => {
            checks.fail("store_ids", e.to_string());
            None
        }
    }
}

fn locale(checks: &mut Checks, value: &str) -> Locale {
    Locale::parse(value).unwrap_or_else(|| {
        checks.fail("locale", "must be zh-CN or en");
        Locale::ZhCn
    })
}

fn password(checks: &mut Checks, value: &str) {
    if let Some(why) = rules::password_problem(value) {
        checks.fail("password", why);
    }
}

/// A new user as typed into a form, checked: every problem is named by its field.
pub fn parse_new_user(
    username: &str,
    display_name: &str,
    role: &str,
    store_ids: Vec<Uuid>,
    locale_typed: &str,
    password_typed: &str,
) -> AppResult<NewUser> {
    let mut checks = Checks::new();
    let username = Username::parse(username)
        .map_err(|why| checks.fail("username", why))
        .ok();
    let display_name = checks.text("display_name", display_name, 1, 200);
    let access = access(&mut checks, role, store_ids);
    let locale = locale(&mut checks, locale_typed);
    password(&mut checks, password_typed);
    checks.finish()?;
    match (username, access) {
        (Some(username), Some((role, store_ids))) => Ok(NewUser {
            username,
            display_name,
            role,
            store_ids,
            locale,
            password: password_typed.to_owned(),
        }),
        _ => Err(AppError::field("username", "is not valid")),
    }
}

/// Checks a new password typed for a reset.
pub fn check_password(password_typed: &str) -> AppResult<()> {
    let mut checks = Checks::new();
    password(&mut checks, password_typed);
    checks.finish()
}

/// Creates a user as an admin, in the caller's transaction; the password was hashed before it opened.
pub fn create_in(
    conn: &mut Conn<'_>,
    principal: &Principal,
    new: &NewUser,
    password_hash: String,
) -> AppResult<UserRow> {
    principal.require_admin()?;
    create_user(conn, new, password_hash, Some(principal.key_id))
}

/// Every user, by username, with their role and stores: one statement.
pub fn list_in(conn: &mut Conn<'_>, principal: &Principal) -> AppResult<Vec<UserSummary>> {
    principal.require_admin()?;
    let mut users: Vec<UserSummary> = Vec::new();
    for (row, role, store) in repo::list_with_access(conn)? {
        match users.last_mut() {
            Some(last) if last.id == row.id.0 => last.store_ids.extend(store.map(Uuid::from)),
            _ => users.push(summary(row, &role, store.map(Uuid::from).into_iter().collect())),
        }
    }
    Ok(users)
}

fn summary(row: UserRow, role: &str, store_ids: Vec<Uuid>) -> UserSummary {
    let role = Role::parse(role).unwrap_or(Role::StoreStaff);
    UserSummary {
        id: row.id.0,
        username: row.username,
        display_name: row.display_name,
        locale: Locale::parse(&row.locale).unwrap_or(Locale::ZhCn),
        store_ids: match role {
            Role::StoreStaff | Role::Warehouse => store_ids,
            Role::Admin | Role::Courier => Vec::new(),
        },
        role,
        disabled: row.disabled,
        key_id: row.key_id.0,
        created_at: row.created_at.0,
    }
}

/// One user, as an admin sees them.
pub fn get_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<UserSummary> {
    principal.require_admin()?;
    let row = repo::find(conn, id)?.ok_or(AppError::NotFound("user"))?;
    let key = crate::auth::service::get_key(conn, row.key_id.0)?;
    Ok(summary(row, key.role.as_str(), key.store_ids))
}

/// The user an admin acts on, who must not be the admin themself: nobody disables or demotes their own account by
/// a slip (another admin can).
fn other_user(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, what: &str) -> AppResult<UserRow> {
    principal.require_admin()?;
    let row = repo::find(conn, id)?.ok_or(AppError::NotFound("user"))?;
    if row.key_id.0 == principal.key_id {
        return Err(AppError::conflict(
            "own_account",
            format!("you cannot {what} your own account"),
        ));
    }
    Ok(row)
}

/// Disables a user (admin): their sessions end at once and they can no longer sign in; what they did stays theirs
/// in the history. Again is a no-op.
pub fn disable_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<()> {
    let row = other_user(conn, principal, id, "disable")?;
    let now = Ts(crate::now());
    let ended = repo::delete_sessions_of(conn, id)?;
    if !row.disabled {
        repo::set_disabled(conn, id, true, now)?;
        audit::record(
            conn,
            Some(principal.key_id),
            "disable",
            "user",
            id,
            &serde_json::json!({ "sessions_ended": ended }),
        )?;
    }
    Ok(())
}

/// Lets a disabled user sign in again (admin). Again is a no-op.
pub fn enable_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<()> {
    principal.require_admin()?;
    let row = repo::find(conn, id)?.ok_or(AppError::NotFound("user"))?;
    if row.disabled {
        repo::set_disabled(conn, id, false, Ts(crate::now()))?;
        audit::record(
            conn,
            Some(principal.key_id),
            "enable",
            "user",
            id,
            &serde_json::json!({}),
        )?;
    }
    Ok(())
}

/// Sets a user's password (admin; hashed before the transaction): their sessions end, and the lock-out count
/// starts over.
pub fn reset_password_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, password_hash: &str) -> AppResult<()> {
    principal.require_admin()?;
    repo::find(conn, id)?.ok_or(AppError::NotFound("user"))?;
    let ended = repo::delete_sessions_of(conn, id)?;
    repo::set_password(conn, id, password_hash, Ts(crate::now()))?;
    audit::record(
        conn,
        Some(principal.key_id),
        "reset_password",
        "user",
        id,
        &serde_json::json!({ "sessions_ended": ended }),
    )
}

/// A change of a user's name, language, role or stores, as typed into a form, checked.
pub struct UserChange {
    pub display_name: String,
    pub locale: Locale,
    pub role: Role,
    pub store_ids: Vec<Uuid>,
}

pub fn parse_change(display_name: &str, locale_typed: &str, role: &str, store_ids: Vec<Uuid>) -> AppResult<UserChange> {
    let mut checks = Checks::new();
    let display_name = checks.text("display_name", display_name, 1, 200);
    let locale = locale(&mut checks, locale_typed);
    let access = access(&mut checks, role, store_ids);
    checks.finish()?;
    let (role, store_ids) = access.ok_or_else(|| AppError::field("role", "is not valid"))?;
    Ok(UserChange {
        display_name,
        locale,
        role,
        store_ids,
    })
}

/// Changes a user's name, language, role and stores (admin). The role and stores are their key's, so the change
/// holds from their next request on, sessions included; an admin may not change their own role or stores.
pub fn change_in(conn: &mut Conn<'_>, principal: &Principal, id: Uuid, change: &UserChange) -> AppResult<()> {
    principal.require_admin()?;
    let row = repo::find(conn, id)?.ok_or(AppError::NotFound("user"))?;
    let before = crate::auth::service::get_key(conn, row.key_id.0)?;
    let access_changes = before.role != change.role || before.store_ids != change.store_ids;
    if access_changes && row.key_id.0 == principal.key_id {
        return Err(AppError::conflict_on(
            "role",
            "own_account",
            "you cannot change your own role or stores",
        ));
    }
    for (i, store_id) in change.store_ids.iter().enumerate() {
        if !crate::auth::repo::store_exists(conn, *store_id)? {
            return Err(AppError::field(&format!("store_ids[{i}]"), "no such store"));
        }
    }
    repo::set_profile(conn, id, &change.display_name, change.locale.as_str(), Ts(crate::now()))?;
    if access_changes {
        repo::set_key_access(conn, row.key_id.0, change.role.as_str(), &change.store_ids)?;
    }
    audit::record(
        conn,
        Some(principal.key_id),
        "update",
        "user",
        id,
        &serde_json::json!({
            "display_name": change.display_name,
            "locale": change.locale.as_str(),
            "role": change.role.as_str(),
            "store_ids": change.store_ids,
            "key_id": row.key_id.0,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: AppResult<impl Sized>) -> Vec<String> {
        match result {
            Err(AppError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(e) => vec![format!("unexpected {e}")],
            Ok(_) => Vec::new(),
        }
    }

    #[test]
    fn a_new_user_is_checked_field_by_field() {
        let store = Uuid::now_v7();
        let ok = parse_new_user(
            " Li.Lei ",
            "Li Lei",
            "store_staff",
            vec![store, store],
            "zh-CN",
            "long enough 1",
        );
        let Ok(user) = ok else { panic!("refused") };
        assert_eq!(user.username.as_str(), "li.lei");
        assert_eq!(user.store_ids, vec![store], "a store listed twice is one store");
        assert_eq!(user.locale, Locale::ZhCn);

        let bad = parse_new_user("li lei", "", "store_staff", vec![], "fr", "short");
        assert_eq!(
            fields(bad),
            ["username", "display_name", "store_ids", "locale", "password"]
        );
        assert_eq!(
            fields(parse_new_user("a", "A", "courier", vec![], "en", "long enough 1")),
            ["role"],
            "couriers are machine clients: no console"
        );
        assert_eq!(
            fields(parse_new_user("a", "A", "admin", vec![store], "en", "long enough 1")),
            ["store_ids"],
            "an admin acts everywhere, so has no stores"
        );
    }

    #[test]
    fn a_change_keeps_the_rules_of_a_new_user() {
        let store = Uuid::now_v7();
        let Ok(change) = parse_change("Wang", "en", "warehouse", vec![store]) else {
            panic!("refused")
        };
        assert_eq!((change.role, change.locale), (Role::Warehouse, Locale::En));
        assert_eq!(
            fields(parse_change(" ", "en", "warehouse", vec![])),
            ["display_name", "store_ids"]
        );
        assert!(check_password("0123456789").is_ok());
        assert_eq!(fields(check_password("012345678")), ["password"]);
    }
}
