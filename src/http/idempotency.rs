//! `Idempotency-Key` on creating POSTs: the same key with the same body replays the first response; the same key
//! with a different body is a 409. The record is written in the creating transaction, so a crash never leaves a
//! created record without its replay, and two racing requests with one key create one record. A request with a key
//! takes the key first (see [`take_key`]), so a duplicate sent at once waits for the first and replays its answer
//! instead of running beside it: a duplicate that ran would claim rows (a loaner) that the first then skips, only to
//! roll back on the key's unique index and leave them unused.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use futures_util::future::{Ready, ready};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::{Bearer, Principal};
use crate::db::schema::idempotency_records;
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::with_conn;

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

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_records)]
struct IdempotencyRecord {
    api_key_id: Id,
    idem_key: String,
    request_hash: String,
    status_code: i32,
    response_body: String,
    created_at: Ts,
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

fn run<T: Serialize>(
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
                take_key(conn, key_id, key)?;
                if let Some(previous) = find(conn, key_id, key)? {
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
                with_conn!(conn, c => diesel::insert_into(idempotency_records::table).values(&record).execute(c))?;
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

/// Holds the key until the transaction ends. PostgreSQL takes a transaction-scoped advisory lock on a hash of the
/// caller and the key (the two-number form, a key space apart from the single-number locks used elsewhere): a
/// duplicate waits here until the first commits, then finds its record. A hash collision only makes two unrelated
/// requests take turns. SQLite runs one writer at a time already.
fn take_key(conn: &mut Conn<'_>, key_id: Uuid, key: &str) -> AppResult<()> {
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

fn find(conn: &mut Conn<'_>, key_id: Uuid, key: &str) -> AppResult<Option<IdempotencyRecord>> {
    Ok(with_conn!(conn, c => idempotency_records::table
        .filter(idempotency_records::api_key_id.eq(Id(key_id)))
        .filter(idempotency_records::idem_key.eq(key))
        .select(IdempotencyRecord::as_select())
        .first(c)
        .optional())?)
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
