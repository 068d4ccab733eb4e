//! HTTP plumbing shared by every area: running a use case and answering it (`handler`), JSON bodies, pagination,
//! idempotent creation, field checks.

pub mod csv_rows;
pub mod handler;
pub mod idempotency;
pub mod json;
pub mod pagination;
pub mod query;
pub mod validate;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

pub use handler::answer;
pub use json::ApiJson;
pub use query::ApiQuery;

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).json(body)
}
