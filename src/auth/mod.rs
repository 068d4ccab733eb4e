//! API keys: who is calling, in which role, with which scope.

pub mod keys;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::future::{Ready, ready};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::{AnyConnection, Conn, Db};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    StoreStaff,
    Warehouse,
    Courier,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::StoreStaff => "store_staff",
            Role::Warehouse => "warehouse",
            Role::Courier => "courier",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "admin" => Some(Role::Admin),
            "store_staff" => Some(Role::StoreStaff),
            "warehouse" => Some(Role::Warehouse),
            "courier" => Some(Role::Courier),
            _ => None,
        }
    }
}

/// The caller, as established from its API key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: Uuid,
    pub role: Role,
    /// Stores (store staff) or locations (warehouse) the key may act on.
    pub store_ids: Vec<Uuid>,
    pub partner_id: Option<Uuid>,
}

impl Principal {
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Whether this caller may see or act on a store: admins everywhere, staff in their scope.
    pub fn covers_store(&self, store_id: Uuid) -> bool {
        self.role == Role::Admin || self.store_ids.contains(&store_id)
    }
}

/// Key text: `dpk_` + 8-character public prefix + `_` + 43 characters of secret (256 bits).
pub struct NewKey {
    pub text: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate_key() -> NewKey {
    let mut prefix = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut prefix);
    rand::rng().fill_bytes(&mut secret);
    let prefix = URL_SAFE_NO_PAD.encode(prefix).replace(['-', '_'], "x");
    let text = format!("dpk_{prefix}_{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash_key(&text);
    NewKey { text, prefix, hash }
}

/// Keys are 256-bit random, so one SHA-256 is enough: there is nothing to brute-force.
pub fn hash_key(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// How stale `last_used_at` may get before a request refreshes it; saves a write on every request.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// The API key a request presents, not yet looked up. Handlers check it in their own database call
/// ([`Bearer::write`], [`Bearer::writer`], [`Bearer::read`]), on the connection their work uses: one pool checkout
/// and one hop to a blocking thread per request, where checking the key before the handler ran took one of each
/// more. With fewer connections than requests in flight, that is also one wait in the pool instead of two.
///
/// A missing or malformed key is refused at extraction (401 before anything else). A well-formed key that is
/// unknown or revoked (401), or whose role may not act (403), is refused in the handler's call, so after the path
/// and body have been parsed: such a caller may learn that its body is malformed, and nothing else. The edge
/// middleware (`crate::edge::guard`) refuses a malformed key, or one the database already refused, before the body
/// is read at all, and passes the key's hash on ([`KeyHash`]) so that it is computed once.
pub struct Bearer {
    hash: String,
}

/// A key's hash, computed by the edge middleware (`crate::edge::guard`) and kept for the extractor.
#[derive(Clone)]
pub struct KeyHash(pub String);

/// Whether `text` has the shape of a key [`generate_key`] makes: `dpk_`, 8 letters or digits, `_`, 43 base64url
/// characters. Anything else is refused without a look-up.
pub fn well_formed_key(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 4 + 8 + 1 + 43
        && text.starts_with("dpk_")
        && b[4..12].iter().all(u8::is_ascii_alphanumeric)
        && b[12] == b'_'
        && b[13..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

impl FromRequest for Bearer {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = crate::edge::bearer_of(req.headers());
        ready(match token {
            None => Err(AppError::Unauthorized(
                "an API key is required: Authorization: Bearer <key>",
            )),
            Some(t) if !well_formed_key(t) => Err(AppError::Unauthorized("the API key is not valid")),
            Some(t) => {
                let hash = match req.extensions().get::<KeyHash>() {
                    Some(KeyHash(hash)) => hash.clone(),
                    None => hash_key(t),
                };
                Ok(Bearer { hash })
            }
        })
    }
}

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

    /// The key's holder, or 401. Sets `stale` to the key's id when its `last_used_at` is due for a refresh.
    fn check(&self, conn: &mut Conn<'_>, stale: &mut Option<Uuid>) -> AppResult<Principal> {
        let (principal, last_used) =
            keys::find_active_by_hash(conn, &self.hash)?.ok_or(AppError::Unauthorized("the API key is not valid"))?;
        if is_stale(last_used, Utc::now()) {
            *stale = Some(principal.key_id);
        }
        Ok(principal)
    }
}

/// Refreshes a key's `last_used_at` in its own short write, after the request's work: kept out of the request's
/// transaction, so that concurrent requests with one key never queue on the key's row. Best effort: a failed
/// bookkeeping write must not fail the caller's request.
fn record_use(db: &Db, stale: Option<Uuid>) {
    if let Some(id) = stale {
        if let Err(e) = db.write(|conn| keys::touch(conn, id, Utc::now())) {
            tracing::warn!(error = %e, "could not record key use");
        }
    }
}

fn is_stale(last_used: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used.is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a.text, b.text);
        assert!(a.text.starts_with(&format!("dpk_{}_", a.prefix)));
        assert_eq!(a.prefix.len(), 8);
        assert_eq!(a.text.len(), 4 + 8 + 1 + 43);
        assert_eq!(hash_key(&a.text), a.hash);
        assert_eq!(a.hash.len(), 64);
        assert!(well_formed_key(&a.text));
        assert!(!well_formed_key("dpk_nothing_here"));
        assert!(!well_formed_key(&format!("{}!", &a.text[..a.text.len() - 1])));
        assert!(!well_formed_key(&format!("{}x", a.text)));
    }
}
