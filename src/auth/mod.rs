//! API keys: who is calling, in which role, with which scope.

pub mod keys;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::startup::AppState;

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

impl FromRequest for Principal {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|v| v.trim().to_owned());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(AppError::Unauthorized(
                "an API key is required: Authorization: Bearer <key>",
            ))?;
            let state = state.ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))?;
            if !token.starts_with("dpk_") || token.len() > 100 {
                return Err(AppError::Unauthorized("the API key is not valid"));
            }
            let hash = hash_key(&token);
            let found = web::block(move || {
                let found = state.db.read(|conn| keys::find_active_by_hash(conn, &hash))?;
                if let Some((principal, last_used)) = &found {
                    let now = Utc::now();
                    if is_stale(*last_used, now) {
                        let id = principal.key_id;
                        // Best effort: a failed bookkeeping write must not fail the caller's request.
                        if let Err(e) = state.db.write(|conn| keys::touch(conn, id, now)) {
                            tracing::warn!(error = %e, "could not record key use");
                        }
                    }
                }
                Ok::<_, AppError>(found)
            })
            .await??;
            found
                .map(|(p, _)| p)
                .ok_or(AppError::Unauthorized("the API key is not valid"))
        })
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
    }
}
