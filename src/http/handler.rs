//! What every area's handlers share: run a use case (which opens its own transaction as the caller's key) on a
//! blocking thread (diesel blocks) and answer its result as JSON ([`answer`]), and the `POST` call on one record with
//! a JSON body or none (`record_post!`, `record_action!`).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::error::AppResult;

/// Runs `work` on a blocking thread (diesel is blocking) and answers 200 with its result.
pub async fn answer<T, F>(work: F) -> AppResult<HttpResponse>
where
    T: Serialize + Send + 'static,
    F: FnOnce() -> AppResult<T> + Send + 'static,
{
    let value = web::block(work).await??;
    Ok(HttpResponse::Ok().json(value))
}

/// A `POST` call on one record (`/…/{id}/…`): its JSON body, parsed, goes to one use case, whose answer (the record)
/// is the response. `$call` sees the state, the caller's key, the record's id and the body by the names given, and
/// calls the use case, which opens its own transaction as that key.
/// utoipa reads the route's method from the attribute's bare name, so the caller imports `actix_web::post` (and
/// names `Uuid` and `WriteErrors`, which the `utoipa::path` attribute resolves where the macro is called).
macro_rules! record_post {
    (
        tag = $tag:literal, id = $id_name:literal, answer = $answer:ty,
        $name:ident, $path:literal, $body:ty, $doc:literal, |$state:ident, $bearer:ident, $id:ident, $input:ident| $call:expr
    ) => {
        #[doc = $doc]
        #[utoipa::path(
                    tag = $tag, operation_id = stringify!($name), params(($id_name = Uuid, Path)), request_body = $body,
                    responses((status = 200, body = $answer), WriteErrors),
                    security(("bearer" = []))
                )]
        #[post($path)]
        pub async fn $name(
            $state: ::actix_web::web::Data<$crate::state::AppState>,
            $bearer: $crate::auth::Bearer,
            path: ::actix_web::web::Path<::uuid::Uuid>,
            body: $crate::http::ApiJson<$body>,
        ) -> $crate::error::AppResult<::actix_web::HttpResponse> {
            let $id = path.into_inner();
            let $input = body.value;
            $crate::http::handler::answer(move || -> $crate::error::AppResult<$answer> { $call }).await
        }
    };
}
pub(crate) use record_post;

/// A `POST` call on one record (`/…/{id}/…`) with no body, such as a state change: one use case, whose answer (the
/// record) is the response. `$call` sees the state, the caller's key and the record's id by the names given. As
/// [`record_post!`], the caller imports `post` and names `Uuid` and `WriteErrors`.
macro_rules! record_action {
    (
        tag = $tag:literal, id = $id_name:literal, answer = $answer:ty,
        $name:ident, $path:literal, $doc:literal, |$state:ident, $bearer:ident, $id:ident| $call:expr
    ) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($name), params(($id_name = Uuid, Path)), responses((status = 200, body = $answer), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(
            $state: ::actix_web::web::Data<$crate::state::AppState>,
            $bearer: $crate::auth::Bearer,
            path: ::actix_web::web::Path<::uuid::Uuid>,
        ) -> $crate::error::AppResult<::actix_web::HttpResponse> {
            let $id = path.into_inner();
            $crate::http::handler::answer(move || -> $crate::error::AppResult<$answer> { $call }).await
        }
    };
}
pub(crate) use record_action;
