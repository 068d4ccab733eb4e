//! `Idempotency-Key` on creating POSTs: the same key with the same body replays the first response; the same key
//! with a different body is a 409. The record is written in the creating transaction, so a crash never leaves a
//! created record without its replay, and two racing requests with one key create one record. A request with a key
//! takes the key first (see [`repo::take_key`]), so a duplicate sent at once waits for the first and replays its answer
//! instead of running beside it: a duplicate that ran would claim rows (a loaner) that the first then skips, only to
//! roll back on the key's unique index and leave them unused.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::{Ready, ready};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::{Bearer, Principal};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};

mod repo;

use repo::IdempotencyRecord;

/// The `Idempotency-Key` header, when sent.
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get("Idempotency-Key") else {
            return ready(Ok(IdempotencyKey(None)));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 200 && k.chars().all(|c| c.is_ascii_graphic()));
        ready(match key {
            Some(k) => Ok(IdempotencyKey(Some(k.to_owned()))),
            None => Err(AppError::field(
                "Idempotency-Key",
                "must be 1 to 200 visible ASCII characters",
            )),
        })
    }
}

/// Fingerprint of a request: route and body, with the JSON normalised so key order and spacing do not matter.
pub fn fingerprint(route: &str, raw_body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(raw_body)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| raw_body.to_vec());
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(&canonical);
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `create` as the key's holder in one write transaction, honouring the caller's idempotency key, and answers
/// 201 with its result (or the replay of the first answer for this key).
pub async fn create<T, F>(
    db: Db,
    bearer: Bearer,
    key: IdempotencyKey,
    fingerprint: String,
    create: F,
) -> AppResult<HttpResponse>
where
    T: Serialize,
    F: Fn(&mut Conn<'_>, &Principal) -> AppResult<T> + Send + 'static,
{
    create_redacted(db, bearer, key, fingerprint, create, |_| {}).await
}

/// As [`create`], but the stored replay is passed through `redact` first, for answers that hold a secret shown
/// once (the replay then lacks it).
pub async fn create_redacted<T, F>(
    db: Db,
    bearer: Bearer,
    key: IdempotencyKey,
    fingerprint: String,
    create: F,
    redact: fn(&mut serde_json::Value),
) -> AppResult<HttpResponse>
where
    T: Serialize,
    F: Fn(&mut Conn<'_>, &Principal) -> AppResult<T> + Send + 'static,
{
    let (status, body, replayed) =
        web::block(move || run(&db, &bearer, key.0.as_deref(), &fingerprint, &create, redact)).await??;
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED));
    response.content_type("application/json");
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.body(body))
}

/// The work of [`create_redacted`] on a blocking thread: `(status, stored body, replayed)`. The console's forms use it
/// directly with the form's one-time token as the key.
pub(crate) fn run<T: Serialize>(
    db: &Db,
    bearer: &Bearer,
    key: Option<&str>,
    fingerprint: &str,
    create: &dyn Fn(&mut Conn<'_>, &Principal) -> AppResult<T>,
    redact: fn(&mut serde_json::Value),
) -> AppResult<(u16, String, bool)> {
    let attempt = || {
        bearer.write(db, |conn, principal| {
            let key_id = principal.key_id;
            if let Some(key) = key {
                repo::take_key(conn, key_id, key)?;
                if let Some(previous) = repo::find(conn, key_id, key)? {
                    if previous.request_hash != fingerprint {
                        return Err(AppError::conflict(
                            "idempotency_key_reused",
                            "this Idempotency-Key was already used with a different request",
                        ));
                    }
                    return Ok((previous.status_code as u16, previous.response_body, true));
                }
            }
            let created = create(conn, principal)?;
            let body = serde_json::to_string(&created).map_err(anyhow::Error::from)?;
            if let Some(key) = key {
                let mut stored = serde_json::to_value(&created).map_err(anyhow::Error::from)?;
                redact(&mut stored);
                let record = IdempotencyRecord {
                    api_key_id: Id(key_id),
                    idem_key: key.to_owned(),
                    request_hash: fingerprint.to_owned(),
                    status_code: 201,
                    response_body: stored.to_string(),
                    created_at: Ts(crate::now()),
                };
                repo::insert(conn, &record)?;
            }
            Ok((201, body, false))
        })
    };
    match attempt() {
        // A concurrent request with the same key may have committed first, so that this one collided with what it
        // created: look again, and answer as it did. A genuine conflict fails the same way twice.
        Err(AppError::Conflict { code, .. }) if key.is_some() && code != "idempotency_key_reused" => attempt(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_key_order_and_spacing_but_not_values() {
        let a = fingerprint("/stores", br#"{"code":"A","name":"x"}"#);
        let b = fingerprint("/stores", br#"{ "name": "x", "code": "A" }"#);
        let c = fingerprint("/stores", br#"{"code":"B","name":"x"}"#);
        let d = fingerprint("/series", br#"{"code":"A","name":"x"}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
