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
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let inner = err.inner();
        if inner.is_syntax() || inner.is_eof() {
            return AppError::bad_request("malformed_json", format!("the body is not valid JSON: {inner}"));
        }
        let message = strip_position(&inner.to_string());
        let path = err.path().to_string();
        let field = if path == "." {
            named_field(&message).unwrap_or_else(|| "body".to_owned())
        } else {
            path
        };
        AppError::Validation(vec![FieldError::new(field, message)])
    })?;
    de.end()
        .map_err(|e| AppError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
    Ok(value)
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
}
