//! The console's pages.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use uuid::Uuid;

use super::cookie_value;
use super::kit::{
    Chrome, anonymous_text, cross_origin, fields, message, not_found, page, refused, render, see_other, session_of,
    to_sign_in,
};
use super::text::{self, Text};
use crate::auth::Bearer;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::tickets::http::{TicketSearch, TicketSummary};
use crate::users::rules::{csrf_matches, local_next};
use crate::users::service::token_hash;
use crate::users::{SESSION_COOKIE, SignIn};

/// The cookie that carries the sign-in form's CSRF token (there is no session yet to hold one).
const SIGN_IN_CSRF_COOKIE: &str = "depot_sign_in_csrf";

const STYLESHEET: &str = include_str!("static/console.css");

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    t: &'static Text,
    chrome: Chrome,
    message: Option<&'static str>,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    t: &'static Text,
    chrome: Chrome,
    query: String,
}

/// A ticket as a list row shows it.
struct TicketRow {
    id: Uuid,
    number: String,
    status: &'static str,
    status_code: &'static str,
    customer: String,
    imei: String,
    opened: String,
}

#[derive(Template)]
#[template(path = "console/search.html")]
struct SearchPage {
    t: &'static Text,
    chrome: Chrome,
    query: String,
    problem: Option<&'static str>,
    tickets: Vec<TicketRow>,
    /// The IMEI searched for, to open a ticket for it.
    imei: Option<String>,
}

/// A `Set-Cookie` value with the console's attributes; `max_age` 0 deletes the cookie.
fn cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: Option<i64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if state.settings.cookie_secure {
        text.push_str("; Secure");
    }
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

#[get("/sign-in")]
async fn sign_in_page(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let query = fields(req.query_string().as_bytes());
    let next = query
        .get("next")
        .and_then(|n| local_next(n))
        .unwrap_or("/console/")
        .to_owned();
    if session_of(&state, &req).await?.is_some() {
        return Ok(see_other(&next));
    }
    let t = anonymous_text(&req);
    let csrf = crate::users::service::random_token();
    // Someone sent here from a page they wanted was signed out by the idle timeout (or never signed in).
    let message = query.contains_key("next").then_some(t.session_ended);
    let mut res = page(
        StatusCode::OK,
        render(&SignInPage {
            t,
            chrome: Chrome::anonymous(),
            message,
            csrf: &csrf,
            next: &next,
            username: "",
        }),
    )?;
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(&state, SIGN_IN_CSRF_COOKIE, &csrf, "/console/", None),
    );
    Ok(res)
}

#[post("/sign-in")]
async fn sign_in(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let t = anonymous_text(&req);
    let form = fields(&body);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let expected = cookie_value(req.headers(), SIGN_IN_CSRF_COOKIE).unwrap_or("");
    if cross_origin(&req) || !csrf_matches(field("csrf"), expected) {
        return refused(t, Chrome::anonymous());
    }
    let now = Instant::now();
    let client = crate::edge::client_of(&state, &req);
    if state.sign_in_failures.blocked(&client, now).is_some() {
        return message(
            StatusCode::TOO_MANY_REQUESTS,
            t,
            Chrome::anonymous(),
            t.too_many_title,
            t.too_many,
        );
    }
    let next = local_next(field("next")).unwrap_or("/console/").to_owned();
    let (username, password) = (field("username").to_owned(), field("password").to_owned());
    let outcome = {
        let state = state.clone();
        let username = username.clone();
        web::block(move || crate::users::sign_in(&state.db, &username, &password, state.settings.session)).await??
    };
    match outcome {
        SignIn::Refused => {
            state.sign_in_failures.record(client, now);
            page(
                StatusCode::UNAUTHORIZED,
                render(&SignInPage {
                    t,
                    chrome: Chrome::anonymous(),
                    message: Some(t.refused),
                    csrf: expected,
                    next: &next,
                    username: &username,
                }),
            )
        }
        SignIn::Accepted { token, .. } => {
            let mut res = see_other(&next);
            res.headers_mut()
                .append(header::SET_COOKIE, cookie(&state, SESSION_COOKIE, &token, "/", None));
            res.headers_mut().append(
                header::SET_COOKIE,
                cookie(&state, SIGN_IN_CSRF_COOKIE, "", "/console/", Some(0)),
            );
            Ok(res)
        }
    }
}

#[post("/sign-out")]
async fn sign_out(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let Some(session) = session_of(&state, &req).await? else {
        return Ok(see_other("/console/sign-in"));
    };
    let t = text::of(session.user.locale);
    let form = fields(&body);
    let token = form.get("csrf").map(String::as_str).unwrap_or("");
    if cross_origin(&req) || !csrf_matches(token, &session.csrf_secret) {
        return refused(t, Chrome::of(&session));
    }
    let hash = cookie_value(req.headers(), SESSION_COOKIE)
        .map(token_hash)
        .unwrap_or_default();
    let db = state.db.clone();
    web::block(move || crate::users::sign_out(&db, &hash)).await??;
    let mut res = see_other("/console/sign-in");
    res.headers_mut()
        .append(header::SET_COOKIE, cookie(&state, SESSION_COOKIE, "", "/", Some(0)));
    Ok(res)
}

#[get("/")]
async fn home(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let Some(session) = session_of(&state, &req).await? else {
        return Ok(to_sign_in(&req));
    };
    let t = text::of(session.user.locale);
    page(
        StatusCode::OK,
        render(&HomePage {
            t,
            chrome: Chrome::of(&session),
            query: String::new(),
        }),
    )
}

/// What the front desk's one box was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Query {
    Imei(crate::imei::Imei),
    Phone(String),
    Number(String),
}

/// Reads the search box: 15 digits are an IMEI (its check digit must hold), something starting with a letter is a
/// ticket number or its beginning, anything else a phone number in any spelling the opening accepts.
pub fn classify(typed: &str) -> Option<Query> {
    let q = typed.trim();
    if q.len() == 15 && q.bytes().all(|b| b.is_ascii_digit()) {
        return crate::imei::Imei::parse(q).ok().map(Query::Imei);
    }
    let starts_with_letter = q.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
    if starts_with_letter {
        let fits = q.len() <= 20 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        return fits.then(|| Query::Number(q.to_ascii_uppercase()));
    }
    crate::customers::rules::typed_phone(q).ok().map(Query::Phone)
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn summary_row(t: &Text, s: TicketSummary) -> TicketRow {
    TicketRow {
        id: s.id,
        number: s.number,
        status: text::status_label(t, s.status),
        status_code: s.status.as_str(),
        customer: s.customer_name,
        imei: s.device_imei,
        opened: when(s.created_at),
    }
}

#[get("/search")]
async fn search(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let Some(session) = session_of(&state, &req).await? else {
        return Ok(to_sign_in(&req));
    };
    let t = text::of(session.user.locale);
    let query = fields(req.query_string().as_bytes()).remove("q").unwrap_or_default();
    let mut search = TicketSearch::default();
    let mut searched_imei = None;
    match classify(&query) {
        Some(Query::Imei(imei)) => {
            searched_imei = Some(imei.to_string());
            search.imei = Some(imei);
        }
        Some(Query::Phone(phone)) => search.phone = Some(phone),
        Some(Query::Number(prefix)) => search.number_prefix = Some(prefix),
        None => {
            return page(
                StatusCode::OK,
                render(&SearchPage {
                    t,
                    chrome: Chrome::of(&session),
                    query,
                    problem: Some(t.not_a_query),
                    tickets: Vec::new(),
                    imei: None,
                }),
            );
        }
    }
    let bearer = Bearer::checked(session.principal.clone());
    let db = state.db.clone();
    let found = web::block(move || {
        let page = crate::http::pagination::PageRequest::parse("/tickets", Some(50), None)?;
        crate::tickets::service::list(&db, &bearer, &search, page)
    })
    .await?;
    let tickets = match found {
        Ok(list) => list.items.into_iter().map(|s| summary_row(t, s)).collect(),
        // A role that works no tickets (warehouse) finds none.
        Err(AppError::Forbidden) => Vec::new(),
        Err(e) => return Err(e),
    };
    page(
        StatusCode::OK,
        render(&SearchPage {
            t,
            chrome: Chrome::of(&session),
            query,
            problem: None,
            tickets,
            imei: searched_imei,
        }),
    )
}

#[get("/static/console.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// Any other console path: the 404 page, in the user's language when signed in.
async fn missing(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    match session_of(&state, &req).await? {
        Some(session) => not_found(text::of(session.user.locale), Chrome::of(&session)),
        None => not_found(anonymous_text(&req), Chrome::anonymous()),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .service(web::resource("").route(web::get().to(|| async { see_other("/console/") })))
            .service(home)
            .service(sign_in_page)
            .service(sign_in)
            .service(sign_out)
            .service(search)
            .service(stylesheet)
            .configure(super::desk::configure)
            .configure(super::lists::configure)
            .configure(super::warehouse::configure)
            .configure(super::admin::configure)
            .default_service(web::to(missing)),
    );
}

#[cfg(test)]
mod tests {
    use super::{Query, classify};

    #[test]
    fn the_search_box_tells_imeis_numbers_and_phones_apart() {
        assert!(matches!(classify(" 490154203237518 "), Some(Query::Imei(_))));
        assert_eq!(classify("490154203237519"), None, "a bad check digit is no IMEI");
        assert_eq!(classify("rt-2026-00"), Some(Query::Number("RT-2026-00".into())));
        assert_eq!(classify("+86 138-0013-8000"), Some(Query::Phone("13800138000".into())));
        assert_eq!(classify("RT 2026"), None);
        assert_eq!(classify(""), None);
    }
}
