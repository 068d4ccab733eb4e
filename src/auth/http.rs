//! The `Authorization: Bearer` extractor every handler takes, and the admins' API key endpoints.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, get, post, web};
use futures_util::future::{Ready, ready};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{
    ApiKey, Bearer, CreatedApiKey, Credential, Csrf, KeyHash, NewApiKey, Principal, Role, hash_key, well_formed_key,
};
use super::service::{self, LIST};
use crate::db::Conn;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::handler::record_action;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::state::AppState;

impl FromRequest for Bearer {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = crate::edge::bearer_of(req.headers());
        ready(match token {
            None => match session_cookie(req) {
                Some(session) => Ok(session),
                None => Err(AppError::Unauthorized(
                    "an API key is required: Authorization: Bearer <key>",
                )),
            },
            Some(t) if !well_formed_key(t) => Err(AppError::Unauthorized("the API key is not valid")),
            Some(t) => {
                let hash = match req.extensions().get::<KeyHash>() {
                    Some(KeyHash(hash)) => hash.clone(),
                    None => hash_key(t),
                };
                Ok(Bearer {
                    credential: Credential::Key(hash),
                })
            }
        })
    }
}

/// The console session a request's cookie names, with the CSRF check its method calls for; `None` without a
/// well-formed session cookie (the request then needs a key).
fn session_cookie(req: &HttpRequest) -> Option<Bearer> {
    let token = crate::console::cookie_value(req.headers(), crate::users::SESSION_COOKIE)?;
    if !crate::users::service::well_formed_token(token) {
        return None;
    }
    let idle = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.session.idle)
        .unwrap_or_else(|| chrono::Duration::minutes(crate::config::DEFAULT_SESSION_IDLE_MINUTES));
    Some(Bearer {
        credential: Credential::Session {
            token_hash: crate::users::service::token_hash(token),
            csrf: csrf_of(req),
            idle,
        },
    })
}

/// What a request under a session shows against cross-site forgery: reads need nothing; a write needs the
/// session's token in `X-CSRF-Token`, or an `Origin` naming this server. A write whose `Origin` names another site
/// is refused whatever it carries.
pub fn csrf_of(req: &HttpRequest) -> Csrf {
    if req.method().is_safe() {
        return Csrf::Passed;
    }
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let origin = headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or(""));
    if origin.is_some_and(|o| !crate::users::rules::same_origin(o, host)) {
        return Csrf::Missing;
    }
    match headers.get("x-csrf-token").and_then(|t| t.to_str().ok()) {
        Some(token) => Csrf::Token(token.to_owned()),
        None if origin.is_some() => Csrf::Passed,
        None => Csrf::Missing,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub role: Role,
    /// What the key is for, e.g. `front desk SZ-FUTIAN`.
    #[schema(min_length = 1, max_length = 200)]
    pub label: String,
    /// Required for `store_staff` (their stores) and `warehouse` (their locations); empty otherwise.
    #[serde(default)]
    pub store_ids: Vec<Uuid>,
    /// Required for `courier`; absent otherwise.
    pub partner_id: Option<Uuid>,
}

impl CreateApiKey {
    pub fn parse(self) -> AppResult<NewApiKey> {
        let mut checks = Checks::new();
        let label = checks.text("label", &self.label, 1, 200);
        match self.role {
            Role::StoreStaff | Role::Warehouse if self.store_ids.is_empty() => {
                checks.fail("store_ids", "a store_staff or warehouse key needs at least one store")
            }
            Role::Admin | Role::Courier if !self.store_ids.is_empty() => {
                checks.fail("store_ids", "only store_staff and warehouse keys are scoped to stores")
            }
            _ => {}
        }
        if self.store_ids.len() > 100 {
            checks.fail("store_ids", "at most 100 stores");
        }
        match (self.role, self.partner_id) {
            (Role::Courier, None) => checks.fail("partner_id", "a courier key needs its partner"),
            (Role::Courier, Some(_)) | (_, None) => {}
            (_, Some(_)) => checks.fail("partner_id", "only courier keys belong to a partner"),
        }
        checks.finish()?;
        let mut store_ids = self.store_ids;
        store_ids.sort();
        store_ids.dedup();
        Ok(NewApiKey {
            role: self.role,
            label,
            store_ids,
            partner_id: self.partner_id,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKey>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApiKeyQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Create an API key. The response carries the key text once; only its hash is kept.
#[utoipa::path(
    tag = "api_keys", operation_id = "create_api_key", request_body = CreateApiKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = CreatedApiKey), WriteErrors),
    security(("bearer" = []))
)]
#[post("/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<CreateApiKey>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /api-keys", &body.raw);
    let new = body.value.parse()?;
    let create = move |conn: &mut Conn<'_>, principal: &Principal| service::create(conn, principal, &new);
    idempotency::create_redacted(state.db.clone(), bearer, key, fingerprint, create, |stored| {
        if let Some(secret) = stored.get_mut("key") {
            *secret = serde_json::Value::Null;
        }
    })
    .await
}

/// List API keys in creation order.
#[utoipa::path(
    tag = "api_keys", operation_id = "list_api_keys", params(ApiKeyQuery),
    responses((status = 200, body = ApiKeyList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<ApiKeyQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse(LIST, query.limit, query.cursor.as_deref())?;
    let (items, next_cursor) = web::block(move || service::list(&state.db, &bearer, page)).await??;
    Ok(HttpResponse::Ok().json(ApiKeyList { items, next_cursor }))
}

/// Read one API key.
#[utoipa::path(
    tag = "api_keys", operation_id = "get_api_key", params(("key_id" = Uuid, Path)),
    responses((status = 200, body = ApiKey), ReadErrors),
    security(("bearer" = []))
)]
#[get("/api-keys/{key_id}")]
pub async fn get_api_key(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id)).await
}

record_action!(
    tag = "api_keys",
    id = "key_id",
    answer = ApiKey,
    revoke_api_key,
    "/api-keys/{key_id}/revoke",
    "Revoke an API key. It stops working at once, on every instance.",
    |state, bearer, id| service::revoke(&state.db, &bearer, id)
);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_api_key)
        .service(list_api_keys)
        .service(get_api_key)
        .service(revoke_api_key);
}
