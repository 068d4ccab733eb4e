//! API key records: create (shown once), list, read, revoke; over HTTP for admins and from the command line.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Bearer, Principal, Role, generate_key};
use crate::audit;
use crate::db::schema::{api_key_stores, api_keys, courier_partners, stores};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::http::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: Id,
    pub prefix: String,
    pub key_hash: String,
    pub role: String,
    pub partner_id: Option<Id>,
    pub label: String,
    pub created_by: Option<Id>,
    pub created_at: Ts,
    pub revoked_at: Option<Ts>,
    pub last_used_at: Option<Ts>,
}

/// An API key as shown after creation: never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    /// Public part of the key text (`dpk_<prefix>_…`), to tell keys apart.
    pub prefix: String,
    pub role: Role,
    pub label: String,
    /// Stores (store staff) or locations (warehouse) the key may act on.
    pub store_ids: Vec<Uuid>,
    /// The courier partner of a courier key.
    pub partner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new API key with its secret, shown this once and never again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The whole key; send it as `Authorization: Bearer <key>`. Only its hash is stored, so an idempotent replay
    /// of the creating request answers without it.
    pub key: Option<String>,
    pub api_key: ApiKey,
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

/// A validated key request.
pub struct NewApiKey {
    pub role: Role,
    pub label: String,
    pub store_ids: Vec<Uuid>,
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

/// Creates a key in the caller's transaction and returns it with its secret.
pub fn create_key(conn: &mut Conn<'_>, new: &NewApiKey, actor: Option<Uuid>) -> AppResult<CreatedApiKey> {
    for (i, store_id) in new.store_ids.iter().enumerate() {
        let exists: i64 =
            with_conn!(conn, c => stores::table.filter(stores::id.eq(Id(*store_id))).count().get_result(c))?;
        if exists == 0 {
            return Err(AppError::field(&format!("store_ids[{i}]"), "no such store"));
        }
    }
    if let Some(partner_id) = new.partner_id {
        let exists: i64 = with_conn!(conn, c => courier_partners::table
            .filter(courier_partners::id.eq(Id(partner_id))).count().get_result(c))?;
        if exists == 0 {
            return Err(AppError::field("partner_id", "no such courier partner"));
        }
    }
    let secret = generate_key();
    let row = ApiKeyRow {
        id: Id(Uuid::now_v7()),
        prefix: secret.prefix,
        key_hash: secret.hash,
        role: new.role.as_str().to_owned(),
        partner_id: new.partner_id.map(Id),
        label: new.label.clone(),
        created_by: actor.map(Id),
        created_at: Ts(crate::now()),
        revoked_at: None,
        last_used_at: None,
    };
    with_conn!(conn, c => diesel::insert_into(api_keys::table).values(&row).execute(c))?;
    let scope: Vec<(Id, Id)> = new.store_ids.iter().map(|s| (row.id, Id(*s))).collect();
    for (key_id, store_id) in &scope {
        with_conn!(conn, c => diesel::insert_into(api_key_stores::table)
            .values((api_key_stores::api_key_id.eq(key_id), api_key_stores::store_id.eq(store_id)))
            .execute(c))?;
    }
    let api_key = to_api_key(row, new.store_ids.clone());
    audit::record(conn, actor, "create", "api_key", api_key.id, &api_key)?;
    Ok(CreatedApiKey {
        key: Some(secret.text),
        api_key,
    })
}

fn to_api_key(row: ApiKeyRow, store_ids: Vec<Uuid>) -> ApiKey {
    ApiKey {
        id: row.id.0,
        prefix: row.prefix,
        role: Role::parse(&row.role).unwrap_or(Role::StoreStaff),
        label: row.label,
        store_ids,
        partner_id: row.partner_id.map(Uuid::from),
        created_at: row.created_at.0,
        revoked_at: row.revoked_at.map(DateTime::from),
        last_used_at: row.last_used_at.map(DateTime::from),
    }
}

fn scope_of(conn: &mut Conn<'_>, key_id: Uuid) -> AppResult<Vec<Uuid>> {
    let ids: Vec<Id> = with_conn!(conn, c => api_key_stores::table
        .filter(api_key_stores::api_key_id.eq(Id(key_id)))
        .select(api_key_stores::store_id)
        .order(api_key_stores::store_id)
        .load(c))?;
    Ok(ids.into_iter().map(Uuid::from).collect())
}

/// The caller behind an unrevoked key, with when the key was last used.
pub fn find_active_by_hash(conn: &mut Conn<'_>, hash: &str) -> AppResult<Option<(Principal, Option<DateTime<Utc>>)>> {
    let row: Option<ApiKeyRow> = with_conn!(conn, c => api_keys::table
        .filter(api_keys::key_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .first(c)
        .optional())?;
    let Some(row) = row else { return Ok(None) };
    let Some(role) = Role::parse(&row.role) else {
        return Ok(None);
    };
    // Only store staff and warehouse keys have a scope: other keys need no second query.
    let store_ids = match role {
        Role::StoreStaff | Role::Warehouse => scope_of(conn, row.id.0)?,
        Role::Admin | Role::Courier => Vec::new(),
    };
    let principal = Principal {
        key_id: row.id.0,
        role,
        store_ids,
        partner_id: row.partner_id.map(Uuid::from),
    };
    Ok(Some((principal, row.last_used_at.map(DateTime::from))))
}

pub fn touch(conn: &mut Conn<'_>, key_id: Uuid, at: DateTime<Utc>) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(api_keys::table.find(Id(key_id))).set(api_keys::last_used_at.eq(Ts(at))).execute(c))?;
    Ok(())
}

pub fn get_key(conn: &mut Conn<'_>, id: Uuid) -> AppResult<ApiKey> {
    let row: ApiKeyRow = with_conn!(conn, c => api_keys::table.find(Id(id)).select(ApiKeyRow::as_select()).first(c)
        .optional())?
    .ok_or(AppError::NotFound("api key"))?;
    let scope = scope_of(conn, id)?;
    Ok(to_api_key(row, scope))
}

/// The route of the key list, which names it in its cursors.
pub const LIST: &str = "/api-keys";

pub fn list_keys(conn: &mut Conn<'_>, page: PageRequest) -> AppResult<(Vec<ApiKey>, Option<String>)> {
    let rows: Vec<ApiKeyRow> = with_conn!(conn, c => {
        let mut q = api_keys::table.select(ApiKeyRow::as_select()).order(api_keys::id).limit(page.fetch()).into_boxed();
        if let Some(after) = page.after {
            q = q.filter(api_keys::id.gt(Id(after)));
        }
        q.load(c)
    })?;
    let (rows, next) = page.finish(rows, |r| r.id.0);
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let scope = scope_of(conn, row.id.0)?;
        keys.push(to_api_key(row, scope));
    }
    Ok((keys, next))
}

/// Revokes a key at once; revoking a revoked key changes nothing and answers the same.
pub fn revoke_key(conn: &mut Conn<'_>, id: Uuid, actor: Option<Uuid>) -> AppResult<ApiKey> {
    let key = get_key(conn, id)?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let now = crate::now();
    with_conn!(conn, c => diesel::update(api_keys::table.find(Id(id))).set(api_keys::revoked_at.eq(Ts(now))).execute(c))?;
    audit::record(
        conn,
        actor,
        "revoke",
        "api_key",
        id,
        &serde_json::json!({ "revoked_at": now }),
    )?;
    get_key(conn, id)
}

/// Creates the first admin key if no admin key was ever bootstrapped; returns its text to print once.
pub fn bootstrap_admin(db: &Db) -> AppResult<Option<CreatedApiKey>> {
    use crate::db::schema::bootstrap_events;
    db.write(|conn| {
        let keys: i64 = with_conn!(conn, c => api_keys::table.count().get_result(c))?;
        if keys > 0 {
            return Ok(None);
        }
        // The primary key makes this happen once even with several instances starting together.
        let inserted = with_conn!(conn, c => diesel::insert_into(bootstrap_events::table)
            .values((bootstrap_events::name.eq("admin_key"), bootstrap_events::happened_at.eq(Ts(crate::now()))))
            .execute(c));
        match inserted {
            Ok(_) => {}
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        let new = NewApiKey {
            role: Role::Admin,
            label: "first admin key".into(),
            store_ids: vec![],
            partner_id: None,
        };
        create_key(conn, &new, None).map(Some)
    })
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
    let create = move |conn: &mut Conn<'_>, principal: &Principal| {
        principal.require_admin()?;
        create_key(conn, &new, Some(principal.key_id))
    };
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
    let (items, next_cursor) = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            principal.require_admin()?;
            list_keys(conn, page)
        })
    })
    .await??;
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
    let key = web::block(move || {
        bearer.read(&state.db, |conn, principal| {
            principal.require_admin()?;
            get_key(conn, id)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(key))
}

/// Revoke an API key. It stops working at once, on every instance.
#[utoipa::path(
    tag = "api_keys", operation_id = "revoke_api_key", params(("key_id" = Uuid, Path)),
    responses((status = 200, body = ApiKey), WriteErrors),
    security(("bearer" = []))
)]
#[post("/api-keys/{key_id}/revoke")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let key = web::block(move || {
        bearer.write(&state.db, |conn, principal| {
            principal.require_admin()?;
            revoke_key(conn, id, Some(principal.key_id))
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(key))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_api_key)
        .service(list_api_keys)
        .service(get_api_key)
        .service(revoke_api_key);
}
