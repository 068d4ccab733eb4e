//! A JSON body extractor that names the bad field, rejects unknown fields (through `deny_unknown_fields` on the
//! request types), caps the body size and keeps the raw bytes for idempotency fingerprints.

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldError};

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        let payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(AppError::UnsupportedMediaType);
            }
            let raw = read_body(payload, BODY_LIMIT).await?;
            let value = parse_json(&raw)?;
            Ok(ApiJson { value, raw })
        })
    }
}

/// Reads a whole request body, refusing it once it passes `limit` bytes.
pub async fn read_body(mut payload: Payload, limit: usize) -> Result<Bytes, AppError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::bad_request("unreadable_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Deserializes `bytes`, turning serde's message into a problem that names the field.
///
/// A number with a zero fraction (`5.0`) is an integer by JSON Schema, so the OpenAPI document's `integer` admits
/// it: it is read as the integer it equals (and a fraction such as `5.5` is still refused).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => value,
        Err(err) if err.inner().to_string().starts_with("invalid type: floating point") => {
            let mut tree: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| AppError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
            integral_floats_to_integers(&mut tree);
            return serde_path_to_error::deserialize(tree).map_err(field_problem);
        }
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(AppError::bad_request(
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                ));
            }
            return Err(field_problem(err));
        }
    };
    de.end()
        .map_err(|e| AppError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

fn field_problem(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let message = strip_position(&err.inner().to_string());
    let path = err.path().to_string();
    let field = if path == "." {
        named_field(&message).unwrap_or_else(|| "body".to_owned())
    } else {
        path
    };
    AppError::Validation(vec![FieldError::new(field, message)])
}

/// Rewrites every number with a zero fraction that an `i64` holds exactly (`5.0`, `-3e2`) as that integer.
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below it is exact in an f64
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= LIMIT
            {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// serde_json appends "at line 1 column 7"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// "missing field `code`" names its field only in the message.
fn named_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        code: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field_of(body: &str) -> String {
        match parse_json::<Input>(body.as_bytes()) {
            Err(AppError::Validation(errors)) => errors[0].field.clone(),
            Err(other) => other.code().to_owned(),
            Ok(_) => "ok".to_owned(),
        }
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(field_of(r#"{"code": 1}"#), "code");
        assert_eq!(field_of(r#"{}"#), "code");
        assert_eq!(field_of(r#"{"code": "A", "inner": {"count": -1}}"#), "inner.count");
        assert_eq!(field_of(r#"{"code": "A", "extra": true}"#), "extra");
        assert_eq!(field_of(r#"{"code": "A""#), "malformed_json");
        assert_eq!(field_of(r#"{"code": "A"} trailing"#), "malformed_json");
        assert_eq!(field_of(r#"{"code": "A"}"#), "ok");
    }

    #[test]
    fn an_integer_written_with_a_zero_fraction_is_that_integer() {
        let input = parse_json::<Input>(br#"{"code": "A", "inner": {"count": 5.0}}"#);
        assert_eq!(input.ok().and_then(|i| i.inner).map(|i| i.count), Some(5));
        let input = parse_json::<Input>(br#"{"code": "A", "inner": {"count": 2e2}}"#);
        assert_eq!(input.ok().and_then(|i| i.inner).map(|i| i.count), Some(200));
        assert_eq!(field_of(r#"{"code": "A", "inner": {"count": 5.5}}"#), "inner.count");
        assert_eq!(field_of(r#"{"code": "A", "inner": {"count": -1.0}}"#), "inner.count");
        assert_eq!(field_of(r#"{"code": 1.0, "inner": {"count": 1.0}}"#), "code");
    }
}
