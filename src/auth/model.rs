//! Who calls: roles, the caller established from a key ([`Principal`]), the key text and its hash, and the stored
//! key records.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::schema::api_keys;
use crate::db::types::{Id, Ts};
use crate::error::AppError;

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
    /// The console user acting through their session (their hidden key is `key_id`); `None` for an API key, which
    /// is never a user's.
    pub username: Option<String>,
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
///
/// A console session (the `depot_session` cookie) is accepted in place of a key, with the role and scope of its
/// user; a write under it must show the session's CSRF token (`X-CSRF-Token`) or come from the same origin.
pub struct Bearer {
    pub(super) credential: Credential,
}

/// What a request presents to be let in.
pub enum Credential {
    /// An API key's hash.
    Key(String),
    /// A console session's token hash, with what a write must still show and how long the session may idle.
    Session {
        token_hash: String,
        csrf: Csrf,
        idle: chrono::Duration,
    },
    /// A caller the console already established from its session (its pages check the session themselves, to
    /// show who is signed in).
    Checked(Principal),
}

/// The cross-site request forgery check of a request under a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Csrf {
    /// A read (GET, HEAD), or a write whose `Origin` is this server's.
    Passed,
    /// A write that carries this token: it must be the session's.
    Token(String),
    /// A write with neither the token nor a same-origin `Origin` (or with another site's): refused.
    Missing,
}

impl Bearer {
    /// A caller established elsewhere from a checked session; see [`Credential::Checked`].
    pub fn checked(principal: Principal) -> Bearer {
        Bearer {
            credential: Credential::Checked(principal),
        }
    }
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: Id,
    pub prefix: String,
    pub key_hash: String,
    pub role: String,
    pub partner_id: Option<Id>,
    pub label: String,
    pub created_by: Option<Id>,
    pub created_at: Ts,
    pub revoked_at: Option<Ts>,
    pub last_used_at: Option<Ts>,
}

/// An API key as shown after creation: never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    /// Public part of the key text (`dpk_<prefix>_…`), to tell keys apart.
    pub prefix: String,
    pub role: Role,
    pub label: String,
    /// Stores (store staff) or locations (warehouse) the key may act on.
    pub store_ids: Vec<Uuid>,
    /// The courier partner of a courier key.
    pub partner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new API key with its secret, shown this once and never again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The whole key; send it as `Authorization: Bearer <key>`. Only its hash is stored, so an idempotent replay
    /// of the creating request answers without it.
    pub key: Option<String>,
    pub api_key: ApiKey,
}

/// A validated key request.
pub struct NewApiKey {
    pub role: Role,
    pub label: String,
    pub store_ids: Vec<Uuid>,
    pub partner_id: Option<Uuid>,
}

impl ApiKey {
    /// A stored key with its scope, as shown.
    pub fn from_row(row: ApiKeyRow, store_ids: Vec<Uuid>) -> ApiKey {
        ApiKey {
            id: row.id.0,
            prefix: row.prefix,
            role: Role::parse(&row.role).unwrap_or(Role::StoreStaff),
            label: row.label,
            store_ids,
            partner_id: row.partner_id.map(Uuid::from),
            created_at: row.created_at.0,
            revoked_at: row.revoked_at.map(DateTime::from),
            last_used_at: row.last_used_at.map(DateTime::from),
        }
    }
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
