//! One error type for the whole service, mapped once to `application/problem+json` (RFC 9457).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

pub type AppResult<T> = Result<T, AppError>;

/// One bad field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `loaner_deposit.amount`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `validation_failed`, `not_found`, `idempotency_key_reused`.
    pub code: String,
    /// The bad fields, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub errors: Vec<FieldError>,
    /// The ticket a conflict is with, e.g. the device's open ticket when a second one is opened for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ticket_id: Option<uuid::Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this key's role may not do this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A conflict about one field of the request (listed in `errors`), or with one ticket (`ticket_id`).
    #[error("{detail}")]
    ConflictAt {
        code: &'static str,
        detail: String,
        field: Option<&'static str>,
        ticket_id: Option<uuid::Uuid>,
    },
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body has the wrong content type (JSON bodies are application/json)")]
    UnsupportedMediaType,
    #[error("too many failed attempts; retry in {0} seconds")]
    TooManyRequests(u64),
    #[error("{0}")]
    Unavailable(String),
    /// Writes fail because the database or its disk is full: an operator must make room; retrying later helps.
    #[error("{0}")]
    StorageFull(String),
    /// Readiness: why this instance should not get traffic (shown, for operators).
    #[error("{0}")]
    NotReady(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// A conflict about one field of the request.
    pub fn conflict_on(field: &'static str, code: &'static str, detail: impl Into<String>) -> Self {
        AppError::ConflictAt {
            code,
            detail: detail.into(),
            field: Some(field),
            ticket_id: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::BadRequest { code, .. } | AppError::Conflict { code, .. } | AppError::ConflictAt { code, .. } => {
                code
            }
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::TooManyRequests(_) => "too_many_requests",
            AppError::Unavailable(_) => "unavailable",
            AppError::StorageFull(_) => "storage_full",
            AppError::NotReady(_) => "not_ready",
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            // A 500 never carries internals; they are in the log under the request id.
            AppError::Internal(_) => "an unexpected error occurred; it has been logged".to_owned(),
            AppError::Unavailable(_) => "the service is temporarily unavailable; retry shortly".to_owned(),
            AppError::StorageFull(_) => {
                "the service cannot store changes right now (its storage is full); retry later".to_owned()
            }
            other => other.to_string(),
        };
        let errors = match self {
            AppError::Validation(errors) => errors.clone(),
            AppError::ConflictAt {
                field: Some(field),
                detail,
                ..
            } => vec![FieldError::new(*field, detail.clone())],
            _ => Vec::new(),
        };
        let ticket_id = match self {
            AppError::ConflictAt { ticket_id, .. } => *ticket_id,
            _ => None,
        };
        Problem {
            problem_type: format!("urn:depot:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            errors,
            ticket_id,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Validation(_) | AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } | AppError::ConflictAt { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::StorageFull(_) | AppError::NotReady(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(e) => tracing::error!(error = ?e, "request failed"),
            AppError::Unavailable(why) => tracing::warn!(%why, "service unavailable"),
            AppError::StorageFull(why) => tracing::error!(%why, "a write failed: the database or its disk is full"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if let AppError::Unauthorized(_) = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        match self {
            AppError::Unavailable(_) | AppError::NotReady(_) => {
                response.insert_header(("Retry-After", "1"));
            }
            AppError::StorageFull(_) => {
                response.insert_header(("Retry-After", STORAGE_FULL_RETRY_AFTER_SECS.to_string()));
            }
            _ => {}
        }
        if let AppError::TooManyRequests(secs) = self {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.json(self.to_problem())
    }
}

impl From<DieselError> for AppError {
    fn from(error: DieselError) -> Self {
        // A commit that failed and could not be rolled back either: the commit's failure is the cause.
        let error = match error {
            DieselError::RollbackErrorOnCommit { commit_error, .. } => *commit_error,
            other => other,
        };
        match &error {
            DieselError::NotFound => AppError::NotFound("resource"),
            DieselError::DatabaseError(kind, info) => {
                // The constraint's name is for the log, never for the client: a create that can meet a unique key
                // maps it to its own code with `or_duplicate`.
                let what = info.constraint_name().unwrap_or_else(|| info.message());
                match kind {
                    // The database's own guard of one open ticket per device, met when two openings raced past the
                    // device's lock (PostgreSQL: by name; SQLite: by the column the message names).
                    DatabaseErrorKind::UniqueViolation
                        if what.contains("tickets_one_open_per_device") || what.contains("tickets.device_id") =>
                    {
                        AppError::conflict_on(
                            "device_imei",
                            "device_has_open_ticket",
                            "this phone already has an open ticket",
                        )
                    }
                    DatabaseErrorKind::UniqueViolation => {
                        tracing::info!(constraint = what, "unique key refused a write");
                        AppError::conflict(DUPLICATE, "a record with the same key already exists")
                    }
                    DatabaseErrorKind::ForeignKeyViolation => {
                        AppError::conflict("reference_missing", "a referenced record does not exist")
                    }
                    DatabaseErrorKind::CheckViolation => {
                        tracing::warn!(constraint = what, "check constraint refused a write");
                        AppError::conflict("constraint_violation", "the change breaks a rule of the data")
                    }
                    DatabaseErrorKind::SerializationFailure => {
                        AppError::Unavailable(format!("serialization failure: {}", info.message()))
                    }
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                        AppError::Unavailable(format!("the database connection was lost; retry: {}", info.message()))
                    }
                    // PostgreSQL reports a deadlock (40P01) as an error diesel does not classify: one side of a
                    // lock cycle is cancelled and may simply run again. The code takes its locks in one order, so
                    // this is a last resort; its retry is the client's, as for a serialization failure.
                    _ if info.message().contains("deadlock detected") => {
                        AppError::Unavailable(format!("deadlock detected: {}", info.message()))
                    }
                    _ if info.message().contains("database is locked") => {
                        AppError::Unavailable("SQLite database is locked".into())
                    }
                    _ if is_storage_full(info.message()) => AppError::StorageFull(info.message().to_owned()),
                    _ => AppError::Internal(anyhow::Error::new(error)),
                }
            }
            _ => AppError::Internal(anyhow::Error::new(error)),
        }
    }
}

/// A full disk takes minutes to fix, not a second: clients should not hammer the server meanwhile.
pub const STORAGE_FULL_RETRY_AFTER_SECS: u64 = 30;

/// SQLite's SQLITE_FULL ("database or disk is full") and PostgreSQL's disk_full (SQLSTATE 53100: "could not
/// extend file ...: No space left on device"), as their messages say (diesel does not pass the SQLSTATE on).
fn is_storage_full(message: &str) -> bool {
    message.contains("database or disk is full")
        || message.contains("could not extend file")
        || message.contains("No space left on device")
}

/// The code of a unique-key violation that no create has given a code of its own.
pub const DUPLICATE: &str = "duplicate";

impl AppError {
    /// Whether this is the database refusing a second record with the same unique key.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, AppError::Conflict { code, .. } if *code == DUPLICATE)
    }
}

/// A create's own answer to a unique-key violation, so a client sees one code for "that key is taken" whether the
/// create's own check saw the other record or the database refused a concurrent one.
pub trait OrDuplicate<T> {
    fn or_duplicate(self, taken: impl FnOnce() -> AppError) -> AppResult<T>;
}

impl<T, E: Into<AppError>> OrDuplicate<T> for Result<T, E> {
    fn or_duplicate(self, taken: impl FnOnce() -> AppError) -> AppResult<T> {
        self.map_err(|e| match e.into() {
            e if e.is_duplicate() => taken(),
            e => e,
        })
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

/// Problems any authenticated read can answer with.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// A query or path parameter is malformed; `errors` names each bad field.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No API key, or not a valid one.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The key's role may not do this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such record within the caller's scope.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// Too many keys refused from this client; retry after the `Retry-After` seconds.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
    /// A bug; logged under the request id, with no details here.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// The database is busy or unreachable; retry after the `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// Problems any write can answer with.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// The body or a parameter is malformed or invalid; `errors` names each bad field.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No API key, or not a valid one.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The key's role may not do this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such record within the caller's scope.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The change conflicts with the current state: a key already taken (`duplicate_code` for stores, series,
    /// models and partners, `duplicate_sku`, `duplicate_imei`, `duplicate_receipt`, or `duplicate` elsewhere, the same
    /// code however the duplicate was found), or an `Idempotency-Key` reused with a different body.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body did not arrive in time after the headers; the connection is closed.
    #[response(status = 408, content_type = "application/problem+json")]
    RequestTimeout(Problem),
    /// The body is larger than 64 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// Too many keys refused from this client; retry after the `Retry-After` seconds.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
    /// A bug; logged under the request id, with no details here.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// The database is busy or unreachable (`unavailable`), or its storage is full (`storage_full`); retry after
    /// the `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Info(&'static str);

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn from_message(message: &'static str) -> AppError {
        AppError::from(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(Info(message)),
        ))
    }

    #[test]
    fn a_full_disk_is_a_503_with_retry_after_on_both_engines() {
        for message in [
            "database or disk is full",
            "could not extend file \"base/16384/16397\": No space left on device",
            "could not write to file \"pg_wal/xlogtemp.123\": No space left on device",
        ] {
            let error = from_message(message);
            assert_eq!(error.code(), "storage_full", "{message}");
            assert_eq!(error.status_code(), StatusCode::SERVICE_UNAVAILABLE);
            let response = error.error_response();
            assert_eq!(
                response.headers().get("Retry-After").and_then(|v| v.to_str().ok()),
                Some("30")
            );
            assert!(!error.to_problem().detail.contains("No space"), "no internals");
        }
        assert_eq!(from_message("syntax error at or near").code(), "internal_error");
    }
}
