//! What every console page and form shares: the signed-in user ([`Signed`]), the page's answer with the console's
//! headers ([`page`]), a form post checked for its session, CSRF token and origin ([`posted`]), a form's work done once
//! however often it is sent ([`once`]), and an API problem turned into messages beside the fields it names
//! ([`Problems`]).
//!
//! A page module (`desk`, `warehouse`, `admin`) writes its handlers with these and keeps its own words and
//! templates; its form handlers call the same use cases the JSON API calls, as the signed-in user's key, so a
//! console action is checked, scoped and recorded exactly as the API's.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::cookie_value;
use super::text::{self, Text};
use crate::auth::{Bearer, Principal, Role};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::users::rules::{csrf_matches, same_origin};
use crate::users::service::{record_seen, token_hash, well_formed_token};
use crate::users::{SESSION_COOKIE, Session};

/// The console's pages load only their own stylesheet and post only to themselves.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

/// What every page shows around its content: who is signed in, the token its forms carry, and which parts of the
/// console the user's role opens (the navigation shows only those).
pub struct Chrome {
    pub user: Option<String>,
    pub csrf: String,
    pub desk: bool,
    pub warehouse: bool,
    pub admin: bool,
}

impl Chrome {
    pub fn of(session: &Session) -> Chrome {
        let role = session.principal.role;
        Chrome {
            user: Some(session.user.display_name.clone()),
            csrf: session.csrf_secret.clone(),
            desk: matches!(role, Role::Admin | Role::StoreStaff),
            warehouse: matches!(role, Role::Admin | Role::Warehouse),
            admin: role == Role::Admin,
        }
    }

    pub fn anonymous() -> Chrome {
        Chrome {
            user: None,
            csrf: String::new(),
            desk: false,
            warehouse: false,
            admin: false,
        }
    }
}

/// A signed-in request: the session, and the words of the user's language.
pub struct Signed {
    pub session: Session,
    pub t: &'static Text,
}

impl Signed {
    pub fn chrome(&self) -> Chrome {
        Chrome::of(&self.session)
    }

    /// The user's key, for calling a use case as them.
    pub fn bearer(&self) -> Bearer {
        Bearer::checked(self.session.principal.clone())
    }

    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }

    pub fn locale(&self) -> crate::users::Locale {
        self.session.user.locale
    }

    /// The 404 page in the user's language: what another store's record looks like from here.
    pub fn not_found(&self) -> AppResult<HttpResponse> {
        not_found(self.t, self.chrome())
    }

    /// The 403 page: a role that may not do this.
    pub fn refused(&self) -> AppResult<HttpResponse> {
        refused(self.t, self.chrome())
    }
}

/// The fields of a posted form or a query string; a field given twice keeps its first value.
pub type Fields = HashMap<String, String>;

/// The value of a field, or "" when absent.
pub fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(String::as_str).unwrap_or("")
}

/// A field as an optional value: absent or blank is `None`, otherwise trimmed.
pub fn optional(fields: &Fields, name: &str) -> Option<String> {
    fields
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Reads `application/x-www-form-urlencoded` bytes (or a query string).
pub fn fields(bytes: &[u8]) -> Fields {
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// The request's query string as fields.
pub fn query(req: &HttpRequest) -> Fields {
    fields(req.query_string().as_bytes())
}

/// An HTML answer with the console's headers: never cached (pages show people's data), framed by nobody.
pub fn page(status: StatusCode, html: AppResult<String>) -> AppResult<HttpResponse> {
    let html = html?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(html))
}

/// Renders a template as a 200 page.
pub fn show(template: &impl Template) -> AppResult<HttpResponse> {
    page(StatusCode::OK, render(template))
}

/// Renders a form page again after its post was refused: 422 (or the status given), the problems beside their
/// fields.
pub fn show_again(status: StatusCode, template: &impl Template) -> AppResult<HttpResponse> {
    page(status, render(template))
}

pub fn render(template: &impl Template) -> AppResult<String> {
    template
        .render()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering a console page: {e}")))
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage {
    t: &'static Text,
    chrome: Chrome,
    title: &'static str,
    text: &'static str,
}

pub fn message(
    status: StatusCode,
    t: &'static Text,
    chrome: Chrome,
    title: &'static str,
    body: &'static str,
) -> AppResult<HttpResponse> {
    page(
        status,
        render(&MessagePage {
            t,
            chrome,
            title,
            text: body,
        }),
    )
}

pub fn not_found(t: &'static Text, chrome: Chrome) -> AppResult<HttpResponse> {
    message(StatusCode::NOT_FOUND, t, chrome, t.not_found_title, t.not_found)
}

pub fn refused(t: &'static Text, chrome: Chrome) -> AppResult<HttpResponse> {
    message(StatusCode::FORBIDDEN, t, chrome, t.forbidden_title, t.forbidden)
}

/// 303 to `location`: where a form post sends the browser when its work is done (post/redirect/get).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A download: `body` as `filename`, never cached.
pub fn download(content_type: &str, filename: &str, body: impl actix_web::body::MessageBody + 'static) -> HttpResponse {
    let mut res = HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The language for someone not signed in.
pub fn anonymous_text(req: &HttpRequest) -> &'static Text {
    text::from_accept_language(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// The request's live session, if its cookie names one; a session in use has its `last_seen_at` kept fresh.
pub async fn session_of(state: &web::Data<AppState>, req: &HttpRequest) -> AppResult<Option<Session>> {
    let Some(token) = cookie_value(req.headers(), SESSION_COOKIE).filter(|t| well_formed_token(t)) else {
        return Ok(None);
    };
    let hash = token_hash(token);
    let state = state.clone();
    web::block(move || {
        let idle = state.settings.session.idle;
        let session = state
            .db
            .read(|conn| crate::users::session_in(conn, &hash, crate::now(), idle))?;
        if let Some(s) = &session {
            record_seen(&state.db, s.id, s.last_seen);
        }
        Ok(session)
    })
    .await?
}

/// To the sign-in page, and back to this page after. A form posted after the session ended goes back to the page
/// the form was on (its `Referer`, when that is a console page of this site), since its own address answers only
/// posts; what was typed in it is not kept.
pub fn to_sign_in(req: &HttpRequest) -> HttpResponse {
    let wanted = if req.method() == actix_web::http::Method::GET {
        match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        }
    } else {
        referring_page(req).unwrap_or_else(|| "/console/".to_owned())
    };
    let next: String = form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
    see_other(&format!("/console/sign-in?next={next}"))
}

/// The console page a request came from, from its `Referer` when that names this site.
fn referring_page(req: &HttpRequest) -> Option<String> {
    let referer = req.headers().get(header::REFERER)?.to_str().ok()?;
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("http://")
        .or_else(|| referer.strip_prefix("https://"))?
        .strip_prefix(host)?;
    crate::users::rules::local_next(rest).map(str::to_owned)
}

/// The signed-in user of a page view, or (as `Err`) the answer that sends them to sign in first.
pub async fn signed_in(state: &web::Data<AppState>, req: &HttpRequest) -> Result<Signed, AppResult<HttpResponse>> {
    match session_of(state, req).await {
        Ok(Some(session)) => Ok(Signed {
            t: text::of(session.user.locale),
            session,
        }),
        Ok(None) => Err(Ok(to_sign_in(req))),
        Err(e) => Err(Err(e)),
    }
}

/// A form post from another site: its `Origin` names someone else (a browser always sends it with a POST).
pub fn cross_origin(req: &HttpRequest) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match req.headers().get(header::ORIGIN) {
        Some(origin) => !same_origin(origin.to_str().unwrap_or(""), host),
        None => false,
    }
}

/// A checked form post: signed in, carrying the session's CSRF token in field `csrf`, from this site. `Err` is the
/// answer instead (to sign in; the 403 page, nothing changed).
pub async fn posted(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Signed, Fields), AppResult<HttpResponse>> {
    let signed = signed_in(state, req).await?;
    let form = fields(body);
    if cross_origin(req) || !csrf_matches(field(&form, "csrf"), &signed.session.csrf_secret) {
        return Err(signed.refused());
    }
    Ok((signed, form))
}

/// A fresh one-time token for a form's hidden `idem` field: the same form sent twice (a double click, a reload)
/// does its work once.
pub fn form_token() -> String {
    crate::users::service::random_token()
}

/// Runs a form's `work` as the signed-in user in one write transaction, once per form token (field `idem`): a second
/// post of the same form waits for the first and answers as it did. `work` answers where the browser goes next.
/// `route` names the form; with the form's fields (but not its tokens) it fingerprints the post, so one token reused
/// with other values is refused.
pub async fn once<F>(
    state: &web::Data<AppState>,
    signed: &Signed,
    form: &Fields,
    route: &str,
    work: F,
) -> AppResult<String>
where
    F: Fn(&mut Conn<'_>, &Principal) -> AppResult<String> + Send + 'static,
{
    let token = Some(field(form, "idem"))
        .filter(|k| !k.is_empty() && k.len() <= 200 && k.chars().all(|c| c.is_ascii_graphic()))
        .map(|k| format!("console:{k}"));
    let mut values: Vec<(&String, &String)> = form.iter().filter(|(k, _)| *k != "csrf" && *k != "idem").collect();
    values.sort();
    let canonical: String = values.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let fingerprint = crate::http::idempotency::fingerprint(route, canonical.as_bytes());
    let db = state.db.clone();
    let bearer = signed.bearer();
    let (_, body, _) =
        web::block(move || crate::http::idempotency::run(&db, &bearer, token.as_deref(), &fingerprint, &work, |_| {}))
            .await??;
    serde_json::from_str::<String>(&body).map_err(|e| AppError::Internal(anyhow::anyhow!("a stored form answer: {e}")))
}

/// An API problem as a form shows it: a message beside each field it names, and the rest above the form.
#[derive(Default, Debug)]
pub struct Problems {
    pub fields: HashMap<String, String>,
    pub general: Option<String>,
}

impl Problems {
    /// The problems of a refused use case, or `Err` for what a form cannot help with (a database failure, a bug),
    /// which the error page answers.
    pub fn of(error: AppError) -> AppResult<Problems> {
        let status = actix_web::ResponseError::status_code(&error);
        if status.is_server_error() {
            return Err(error);
        }
        let problem = error.to_problem();
        let mut problems = Problems::default();
        for e in problem.errors {
            problems.fields.entry(e.field).or_insert(e.message);
        }
        if problems.fields.is_empty() {
            problems.general = Some(problem.detail);
        }
        Ok(problems)
    }

    /// One field's problem, for the template: `problems.at("imei")`.
    pub fn at(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }
}
