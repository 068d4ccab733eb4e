//! API keys: who is calling, in which role, with which scope.
//!
//! - [`model`]: [`Role`], [`Principal`] (the caller), the key text ([`generate_key`], [`hash_key`],
//!   [`well_formed_key`]), [`Bearer`] (the key a request presents) and the stored key records.
//! - [`rules`]: when a key's `last_used_at` is worth refreshing.
//! - [`service`]: the key check each request runs with its own work ([`Bearer::write`], [`Bearer::writer`],
//!   [`Bearer::read`]), and the key use cases (create, read, list, revoke, the first admin key).
//! - [`repo`]: the queries.
//! - [`http`]: the [`Bearer`] extractor and the admins' `/api-keys` endpoints.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::CreateApiKey;
pub use model::{
    ApiKey, ApiKeyRow, Bearer, CreatedApiKey, Credential, Csrf, KeyHash, NewApiKey, NewKey, Principal, Role,
    generate_key, hash_key, well_formed_key,
};
pub use service::{bootstrap_admin, create_key, list_keys, revoke_key};

pub fn configure(cfg: &mut web::ServiceConfig) {
    http::configure(cfg);
}
