//! Who may act: courier partners, API keys (a new key's text shown once, on the answer to the form that made it,
//! and never again), and the console's users (create, change name, language, role and stores, reset a password,
//! disable or enable). Each calls the use cases of its area ([`crate::courier`], [`crate::auth::service`],
//! [`crate::users::service`]).

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalog::{Catalog, run};
use super::{Choice, Form, Words, admin_page, admin_post, ids, parse_as, path_id, problems_of, when};
use crate::auth::{CreateApiKey, Principal};
use crate::console::kit::{self, Chrome, Fields, Signed, field, once, see_other};
use crate::console::text::Text;
use crate::courier::Partner;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;
use crate::http::validate::Checks;
use crate::state::AppState;
use crate::users::service as users;

fn status(refused: bool) -> StatusCode {
    if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

// Courier partners.

#[derive(Template)]
#[template(path = "console/admin/partners.html")]
struct PartnersPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    partners: Vec<Partner>,
    form: Form,
}

async fn load_partners(state: &web::Data<AppState>, signed: &Signed) -> AppResult<Vec<Partner>> {
    let (db, bearer) = (state.db.clone(), signed.bearer());
    web::block(move || crate::courier::list_partners(&db, &bearer)).await?
}

async fn partners_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    form: Form,
) -> AppResult<HttpResponse> {
    let partners = load_partners(state, &signed).await?;
    kit::show_again(
        status(form.is_refused()),
        &PartnersPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            partners,
            form,
        },
    )
}

#[get("/admin/partners")]
async fn route_partners(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    partners_page(&state, signed, w, Form::blank()).await
}

#[post("/admin/partners")]
async fn route_create_partner(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    // The checks of `POST /partners`.
    let mut checks = Checks::new();
    let code = checks.code("code", field(&form, "code"));
    let name = checks.text("name", field(&form, "name"), 1, 200);
    let parsed = checks.finish().map(|()| {
        move |conn: &mut Conn<'_>, principal: &Principal| {
            crate::courier::create_partner(conn, principal, &code, &name)?;
            Ok("/console/admin/partners".to_owned())
        }
    });
    match run(&state, &signed, &form, "admin/partners", &["code", "name"], parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => partners_page(&state, signed, w, Form::again(form, problems?)).await,
    }
}

// API keys.

struct KeyLine {
    id: Uuid,
    prefix: String,
    label: String,
    role: &'static str,
    scope: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
    /// The user this key acts for: managed on the users' page, not here.
    user: Option<String>,
}

#[derive(Template)]
#[template(path = "console/admin/keys.html")]
struct KeysPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    keys: Vec<KeyLine>,
    roles: Vec<Choice>,
    stores: Vec<Choice>,
    partners: Vec<Choice>,
    created: bool,
    form: Form,
    revoke: Form,
}

const KEY_ROLES: [&str; 4] = ["admin", "store_staff", "warehouse", "courier"];

async fn keys_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    signed: Signed,
    w: &'static Words,
    form: Form,
) -> AppResult<HttpResponse> {
    let catalog = Catalog::load(state, &signed).await?;
    let partners = load_partners(state, &signed).await?;
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let (keys, names) = web::block(move || {
        let page = PageRequest::parse("/console/admin/keys", Some(200), None)?;
        let (keys, _) = crate::auth::service::list(&db, &bearer, page)?;
        let ids: Vec<Uuid> = keys.iter().map(|k| k.id).collect();
        let names = db.read(|conn| users::names_of_keys(conn, &ids))?;
        Ok::<_, AppError>((keys, names))
    })
    .await??;
    let keys = keys
        .into_iter()
        .rev()
        .map(|k| {
            let scope = k.store_ids.iter().map(|s| catalog.store_code(*s));
            let partner = k.partner_id.map(|p| {
                partners
                    .iter()
                    .find(|x| x.id == p)
                    .map_or_else(|| p.to_string(), |x| x.code.clone())
            });
            KeyLine {
                id: k.id,
                prefix: k.prefix,
                label: k.label,
                role: k.role.as_str(),
                scope: scope.chain(partner).collect::<Vec<_>>().join(", "),
                created: when(k.created_at),
                last_used: k.last_used_at.map(when).unwrap_or_default(),
                revoked: k.revoked_at.map(when),
                user: names.iter().find(|(key, ..)| *key == k.id).map(|(_, u, _)| u.clone()),
            }
        })
        .collect();
    kit::show_again(
        status(form.is_refused()),
        &KeysPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            keys,
            roles: KEY_ROLES.into_iter().map(|r| Choice::new(r, w.term(r))).collect(),
            stores: catalog.store_choices(w),
            partners: partners
                .iter()
                .filter(|p| p.active)
                .map(|p| Choice::new(p.id, format!("{} · {}", p.code, p.name)))
                .collect(),
            created: kit::query(req).contains_key("created"),
            form,
            revoke: Form::blank(),
        },
    )
}

#[get("/admin/keys")]
async fn route_keys(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    keys_page(&state, &req, signed, w, Form::blank()).await
}

#[derive(Template)]
#[template(path = "console/admin/key_created.html")]
struct KeyCreatedPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    label: String,
    role: &'static str,
    key: String,
}

/// A key just made, to show once.
struct NewKeyShown {
    key: String,
    label: String,
    role: &'static str,
}

#[post("/admin/keys")]
async fn route_create_key(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let partner = kit::optional(&form, "partner_id");
    let parsed = ids(&form, "store_ids").and_then(|store_ids| {
        parse_as::<CreateApiKey>(&json!({
            "role": field(&form, "role"),
            "label": field(&form, "label"),
            "store_ids": store_ids,
            "partner_id": partner.map_or(Value::Null, Value::String),
        }))
        .and_then(CreateApiKey::parse)
    });
    // The key's text leaves the transaction only through here, to be shown on this answer and nowhere else: the
    // form's stored replay (a second click, a reload) is the way back to the list, without it.
    let shown: Arc<Mutex<Option<NewKeyShown>>> = Arc::default();
    let work = parsed.map(|new| {
        let shown = shown.clone();
        move |conn: &mut Conn<'_>, principal: &Principal| {
            let created = crate::auth::service::create(conn, principal, &new)?;
            if let (Some(key), Ok(mut slot)) = (created.key, shown.lock()) {
                *slot = Some(NewKeyShown {
                    key,
                    label: created.api_key.label.clone(),
                    role: created.api_key.role.as_str(),
                });
            }
            Ok(format!("/console/admin/keys?created={}", created.api_key.id))
        }
    });
    let controls = &["role", "label", "store_ids", "partner_id"];
    match run(&state, &signed, &form, "admin/keys", controls, work).await {
        Ok(answer) => {
            let fresh = shown.lock().ok().and_then(|mut slot| slot.take());
            match fresh {
                Some(new) => kit::show(&KeyCreatedPage {
                    t: signed.t,
                    chrome: signed.chrome(),
                    w,
                    label: new.label,
                    role: new.role,
                    key: new.key,
                }),
                None => Ok(answer),
            }
        }
        Err(problems) => keys_page(&state, &req, signed, w, Form::again(form, problems?)).await,
    }
}

#[post("/admin/keys/{id}/revoke")]
async fn route_revoke_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, _, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(key) = path_id(&path) else {
        return signed.not_found();
    };
    let work = move |conn: &mut Conn<'_>, principal: &Principal| {
        crate::auth::service::revoke_in(conn, principal, key)?;
        Ok("/console/admin/keys".to_owned())
    };
    match once(&state, &signed, &form, "admin/keys/revoke", work).await {
        Ok(to) => Ok(see_other(&to)),
        Err(AppError::NotFound(_)) => signed.not_found(),
        Err(e) => Err(e),
    }
}

// Users.

struct UserLine {
    id: Uuid,
    username: String,
    display_name: String,
    role: &'static str,
    scope: String,
    locale: &'static str,
    disabled: bool,
    created: String,
}

fn user_line(catalog: &Catalog, u: &users::UserSummary) -> UserLine {
    UserLine {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role.as_str(),
        scope: u
            .store_ids
            .iter()
            .map(|s| catalog.store_code(*s))
            .collect::<Vec<_>>()
            .join(", "),
        locale: u.locale.as_str(),
        disabled: u.disabled,
        created: when(u.created_at),
    }
}

const USER_ROLES: [&str; 3] = ["admin", "store_staff", "warehouse"];

fn locales() -> Vec<Choice> {
    vec![Choice::new("zh-CN", "中文（简体）"), Choice::new("en", "English")]
}

#[derive(Template)]
#[template(path = "console/admin/users.html")]
struct UsersPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    users: Vec<UserLine>,
    roles: Vec<Choice>,
    stores: Vec<Choice>,
    locales: Vec<Choice>,
    form: Form,
}

async fn users_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    form: Form,
) -> AppResult<HttpResponse> {
    let catalog = Catalog::load(state, &signed).await?;
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let list = web::block(move || bearer.read(&db, users::list_in)).await??;
    kit::show_again(
        status(form.is_refused()),
        &UsersPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            users: list.iter().map(|u| user_line(&catalog, u)).collect(),
            roles: USER_ROLES.into_iter().map(|r| Choice::new(r, w.term(r))).collect(),
            stores: catalog.store_choices(w),
            locales: locales(),
            form,
        },
    )
}

#[get("/admin/users")]
async fn route_users_list(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let mut values = Fields::new();
    values.insert("locale".into(), signed.locale().as_str().into());
    users_page(&state, signed, w, Form::with(values)).await
}

const USER_FIELDS: &[&str] = &["username", "display_name", "role", "store_ids", "locale", "password"];

/// Hashes a password off the request's thread and outside any transaction: it takes tens of milliseconds.
async fn hash(password: String) -> AppResult<String> {
    Ok(web::block(move || crate::users::model::hash_password(&password)).await??)
}

#[post("/admin/users")]
async fn route_create_user(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let new = ids(&form, "store_ids").and_then(|store_ids| {
        users::parse_new_user(
            field(&form, "username"),
            field(&form, "display_name"),
            field(&form, "role"),
            store_ids,
            field(&form, "locale"),
            field(&form, "password"),
        )
    });
    let parsed = match new {
        Ok(new) => {
            let password_hash = hash(new.password.clone()).await?;
            Ok(move |conn: &mut Conn<'_>, principal: &Principal| {
                let user = users::create_in(conn, principal, &new, password_hash.clone())?;
                Ok(format!("/console/admin/users/{}?saved", user.id.0))
            })
        }
        Err(e) => Err(e),
    };
    match run(&state, &signed, &form, "admin/users", USER_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => users_page(&state, signed, w, Form::again(form, problems?)).await,
    }
}

#[derive(Template)]
#[template(path = "console/admin/user.html")]
struct UserPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    user: UserLine,
    myself: bool,
    roles: Vec<Choice>,
    stores: Vec<Choice>,
    locales: Vec<Choice>,
    saved: bool,
    problem: Option<String>,
    form: Form,
    password_form: Form,
    disable_form: Form,
}

/// A user's page, or with one of its forms refused.
enum Refused {
    Nothing,
    Edit(Form),
    Password(Form),
    Disable(String),
}

async fn user_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    signed: Signed,
    w: &'static Words,
    id: Uuid,
    refused: Refused,
) -> AppResult<HttpResponse> {
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let user = match web::block(move || bearer.read(&db, |conn, principal| users::get_in(conn, principal, id))).await? {
        Ok(user) => user,
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let catalog = Catalog::load(state, &signed).await?;
    let mut values = Fields::new();
    values.insert("display_name".into(), user.display_name.clone());
    values.insert("locale".into(), user.locale.as_str().into());
    values.insert("role".into(), user.role.as_str().into());
    let joined = user.store_ids.iter().map(Uuid::to_string).collect::<Vec<_>>();
    values.insert("store_ids".into(), joined.join(","));
    let (status, form, password_form, problem) = match refused {
        Refused::Nothing => (StatusCode::OK, Form::with(values), Form::blank(), None),
        Refused::Edit(form) => (StatusCode::UNPROCESSABLE_ENTITY, form, Form::blank(), None),
        Refused::Password(p) => (StatusCode::UNPROCESSABLE_ENTITY, Form::with(values), p, None),
        Refused::Disable(why) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Form::with(values),
            Form::blank(),
            Some(why),
        ),
    };
    kit::show_again(
        status,
        &UserPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            myself: user.key_id == signed.principal().key_id,
            user: user_line(&catalog, &user),
            roles: USER_ROLES.into_iter().map(|r| Choice::new(r, w.term(r))).collect(),
            stores: catalog.store_choices(w),
            locales: locales(),
            saved: kit::query(req).contains_key("saved"),
            problem,
            form,
            password_form,
            disable_form: Form::blank(),
        },
    )
}

#[get("/admin/users/{id}")]
async fn route_user(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(id) = path_id(&path) else {
        return signed.not_found();
    };
    user_page(&state, &req, signed, w, id, Refused::Nothing).await
}

#[post("/admin/users/{id}")]
async fn route_update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(user) = path_id(&path) else {
        return signed.not_found();
    };
    let parsed = ids(&form, "store_ids")
        .and_then(|store_ids| {
            users::parse_change(
                field(&form, "display_name"),
                field(&form, "locale"),
                field(&form, "role"),
                store_ids,
            )
        })
        .map(|change| {
            move |conn: &mut Conn<'_>, principal: &Principal| {
                users::change_in(conn, principal, user, &change)?;
                Ok(format!("/console/admin/users/{user}?saved"))
            }
        });
    let controls = &["display_name", "locale", "role", "store_ids"];
    match run(&state, &signed, &form, "admin/users/update", controls, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => {
            let form = Form::again(form, problems?);
            user_page(&state, &req, signed, w, user, Refused::Edit(form)).await
        }
    }
}

#[post("/admin/users/{id}/password")]
async fn route_reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(user) = path_id(&path) else {
        return signed.not_found();
    };
    let parsed = match users::check_password(field(&form, "password")) {
        Ok(()) => {
            let password_hash = hash(field(&form, "password").to_owned()).await?;
            Ok(move |conn: &mut Conn<'_>, principal: &Principal| {
                users::reset_password_in(conn, principal, user, &password_hash)?;
                Ok(format!("/console/admin/users/{user}?saved"))
            })
        }
        Err(e) => Err(e),
    };
    match run(&state, &signed, &form, "admin/users/password", &["password"], parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => {
            let form = Form::again(form, problems?);
            user_page(&state, &req, signed, w, user, Refused::Password(form)).await
        }
    }
}

#[post("/admin/users/{id}/disabled")]
async fn route_set_disabled(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(user) = path_id(&path) else {
        return signed.not_found();
    };
    let disable = field(&form, "disabled") == "true";
    let work = move |conn: &mut Conn<'_>, principal: &Principal| {
        if disable {
            users::disable_in(conn, principal, user)?;
        } else {
            users::enable_in(conn, principal, user)?;
        }
        Ok(format!("/console/admin/users/{user}?saved"))
    };
    match once(&state, &signed, &form, "admin/users/disabled", work).await {
        Ok(to) => Ok(see_other(&to)),
        Err(AppError::NotFound(_)) => signed.not_found(),
        Err(e) => {
            let problems = problems_of(e, &[])?;
            let why = problems.general.unwrap_or_default();
            user_page(&state, &req, signed, w, user, Refused::Disable(why)).await
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route_partners)
        .service(route_create_partner)
        .service(route_keys)
        .service(route_create_key)
        .service(route_revoke_key)
        .service(route_users_list)
        .service(route_create_user)
        .service(route_user)
        .service(route_update_user)
        .service(route_reset_password)
        .service(route_set_disabled);
}
