//! The loaner pool: a list with filters (store, series, state), registering one loaner, importing a CSV file (every
//! bad line named in a table), and a page per loaner to move it to another service center or retire it. Each calls
//! the pool's use cases ([`crate::loaners::service`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde_json::json;
use uuid::Uuid;

use super::catalog::{Catalog, run};
use super::{Choice, Form, Words, admin_page, admin_post, id, parse_as, path_id, problems_of};
use crate::auth::Principal;
use crate::console::kit::{self, Chrome, Fields, Signed, field, once, see_other};
use crate::console::text::Text;
use crate::db::Conn;
use crate::db::types::Id;
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;
use crate::loaners::http::RegisterLoaner;
use crate::loaners::repo::LoanerFilter;
use crate::loaners::{Loaner, LoanerState, service};
use crate::state::AppState;

const STATES: [LoanerState; 6] = [
    LoanerState::Available,
    LoanerState::Reserved,
    LoanerState::OnLoan,
    LoanerState::Inspection,
    LoanerState::Maintenance,
    LoanerState::Retired,
];

struct LoanerLine {
    id: Uuid,
    imei: String,
    model: String,
    series: String,
    store: String,
    grade: &'static str,
    state: &'static str,
}

/// A line of a refused import: where, and what is wrong there.
pub struct ImportError {
    pub line: String,
    pub problem: String,
}

#[derive(Template)]
#[template(path = "console/admin/loaners.html")]
struct LoanersPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    filter: Fields,
    loaners: Vec<LoanerLine>,
    next: Option<String>,
    stores: Vec<Choice>,
    all_stores: Vec<Choice>,
    series: Vec<Choice>,
    models: Vec<Choice>,
    states: Vec<Choice>,
    grades: Vec<Choice>,
    imported: Option<String>,
    form: Form,
    import: Form,
    import_errors: Vec<ImportError>,
}

impl LoanersPage {
    fn filtered(&self, name: &str, value: &str) -> bool {
        kit::field(&self.filter, name) == value
    }
}

const LIST: &str = "/console/admin/loaners";

fn grades() -> Vec<Choice> {
    ["A", "B", "C"].into_iter().map(|g| Choice::new(g, g)).collect()
}

/// The list as filtered by the query string; an unknown filter value lists nothing rather than everything.
async fn loaners_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    signed: Signed,
    w: &'static Words,
    form: Form,
    import: Form,
    import_errors: Vec<ImportError>,
) -> AppResult<HttpResponse> {
    let filter = kit::query(req);
    let catalog = Catalog::load(state, &signed).await?;
    let pick = |name: &str| kit::optional(&filter, name).map(|v| Uuid::parse_str(&v).map(Id));
    let state_wanted = kit::optional(&filter, "state").map(|s| STATES.into_iter().find(|st| st.as_str() == s));
    let cursor = kit::optional(&filter, "cursor");
    let (loaners, next) = match (pick("store"), pick("series"), state_wanted) {
        (Some(Err(_)), ..) | (_, Some(Err(_)), _) | (.., Some(None)) => (Vec::new(), None),
        (store, series, wanted) => {
            let filter = LoanerFilter {
                store_id: store.and_then(Result::ok),
                series_id: series.and_then(Result::ok),
                state: wanted.flatten(),
            };
            let (db, bearer) = (state.db.clone(), signed.bearer());
            web::block(move || {
                let page = PageRequest::parse(LIST, Some(100), cursor.as_deref())
                    .or_else(|_| PageRequest::parse(LIST, Some(100), None))?;
                service::list(&db, &bearer, &filter, page)
            })
            .await??
        }
    };
    let next = next.map(|cursor| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for name in ["store", "series", "state"] {
            if let Some(v) = kit::optional(&filter, name) {
                query.append_pair(name, &v);
            }
        }
        query.append_pair("cursor", &cursor);
        format!("{LIST}?{}", query.finish())
    });
    let loaners = loaners
        .into_iter()
        .map(|l: Loaner| LoanerLine {
            id: l.id,
            imei: l.imei,
            model: catalog.model_code(l.model_id),
            series: catalog.series_code(l.series_id),
            store: catalog.store_code(l.store_id),
            grade: l.grade.as_str(),
            state: l.state.as_str(),
        })
        .collect();
    let refused = form.is_refused() || !import_errors.is_empty() || import.is_refused();
    let status = if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    kit::show_again(
        status,
        &LoanersPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            imported: kit::optional(&filter, "imported"),
            filter,
            loaners,
            next,
            stores: catalog.service_center_choices(),
            all_stores: catalog.store_choices(w),
            series: catalog.series_choices(false),
            models: catalog.model_choices(true),
            states: STATES
                .into_iter()
                .map(|s| Choice::new(s.as_str(), w.term(s.as_str())))
                .collect(),
            grades: grades(),
            form,
            import,
            import_errors,
        },
    )
}

#[get("/admin/loaners")]
async fn route_loaners(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    loaners_page(&state, &req, signed, w, Form::blank(), Form::blank(), Vec::new()).await
}

const REGISTER_FIELDS: &[&str] = &["imei", "model_id", "store_id", "grade"];

#[post("/admin/loaners")]
async fn route_register(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let hold = state.settings.loan_hold;
    let parsed = id(&form, "model_id")
        .and_then(|model| Ok((model, id(&form, "store_id")?)))
        .and_then(|(model, store)| {
            parse_as::<RegisterLoaner>(&json!({
                "imei": field(&form, "imei").trim(),
                "model_id": model,
                "store_id": store,
                "grade": field(&form, "grade"),
            }))
        })
        .map(|input| {
            move |conn: &mut Conn<'_>, principal: &Principal| {
                let loaner = service::register(
                    conn,
                    principal,
                    &input.imei,
                    input.model_id,
                    input.store_id,
                    input.grade,
                    hold,
                )?;
                Ok(format!("/console/admin/loaners/{}?saved", loaner.id))
            }
        });
    match run(&state, &signed, &form, "admin/loaners", REGISTER_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => {
            let form = Form::again(form, problems?);
            loaners_page(&state, &req, signed, w, form, Form::blank(), Vec::new()).await
        }
    }
}

#[post("/admin/loaners/import")]
async fn route_import(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let hold = state.settings.loan_hold;
    let csv = field(&form, "csv").as_bytes().to_vec();
    let work = move |conn: &mut Conn<'_>, principal: &Principal| {
        let created = service::import(conn, principal, &csv, hold)?;
        Ok(format!("/console/admin/loaners?imported={}", created.len()))
    };
    match once(&state, &signed, &form, "admin/loaners/import", work).await {
        Ok(to) => Ok(see_other(&to)),
        Err(AppError::Validation(errors)) => {
            let import_errors = errors
                .into_iter()
                .map(|e| ImportError {
                    line: e.field,
                    problem: e.message,
                })
                .collect();
            let import = Form::again(form, kit::Problems::default());
            loaners_page(&state, &req, signed, w, Form::blank(), import, import_errors).await
        }
        Err(e) => {
            let import = Form::again(form, problems_of(e, &["csv"])?);
            loaners_page(&state, &req, signed, w, Form::blank(), import, Vec::new()).await
        }
    }
}

#[derive(Template)]
#[template(path = "console/admin/loaner.html")]
struct LoanerPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    loaner: LoanerLine,
    idle_since: String,
    stores: Vec<Choice>,
    saved: bool,
    move_form: Form,
    retire_form: Form,
}

async fn loaner_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    signed: Signed,
    w: &'static Words,
    id: Uuid,
    move_form: Form,
    retire_form: Form,
) -> AppResult<HttpResponse> {
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let loaner = match web::block(move || service::get(&db, &bearer, id)).await? {
        Ok(loaner) => loaner,
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let catalog = Catalog::load(state, &signed).await?;
    let status = if move_form.is_refused() || retire_form.is_refused() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    kit::show_again(
        status,
        &LoanerPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            idle_since: super::when(loaner.idle_since),
            loaner: LoanerLine {
                id: loaner.id,
                imei: loaner.imei,
                model: catalog.model_code(loaner.model_id),
                series: catalog.series_code(loaner.series_id),
                store: catalog.store_code(loaner.store_id),
                grade: loaner.grade.as_str(),
                state: loaner.state.as_str(),
            },
            stores: catalog.service_center_choices(),
            saved: kit::query(req).contains_key("saved"),
            move_form,
            retire_form,
        },
    )
}

#[get("/admin/loaners/{id}")]
async fn route_loaner(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(id) = path_id(&path) else {
        return signed.not_found();
    };
    loaner_page(&state, &req, signed, w, id, Form::blank(), Form::blank()).await
}

#[post("/admin/loaners/{id}/move")]
async fn route_move_loaner(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(loaner) = path_id(&path) else {
        return signed.not_found();
    };
    let hold = state.settings.loan_hold;
    let parsed = id(&form, "store_id").map(|store| {
        move |conn: &mut Conn<'_>, principal: &Principal| {
            service::move_in(conn, principal, loaner, store, hold)?;
            Ok(format!("/console/admin/loaners/{loaner}?saved"))
        }
    });
    match run(&state, &signed, &form, "admin/loaners/move", &["store_id"], parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => {
            let form = Form::again(form, problems?);
            loaner_page(&state, &req, signed, w, loaner, form, Form::blank()).await
        }
    }
}

#[post("/admin/loaners/{id}/retire")]
async fn route_retire_loaner(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(loaner) = path_id(&path) else {
        return signed.not_found();
    };
    let reason = field(&form, "reason").to_owned();
    let work = move |conn: &mut Conn<'_>, principal: &Principal| {
        service::retire_in(conn, principal, loaner, &reason)?;
        Ok(format!("/console/admin/loaners/{loaner}?saved"))
    };
    match run(&state, &signed, &form, "admin/loaners/retire", &["reason"], Ok(work)).await {
        Ok(answer) => Ok(answer),
        Err(problems) => {
            let form = Form::again(form, problems?);
            loaner_page(&state, &req, signed, w, loaner, Form::blank(), form).await
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route_loaners)
        .service(route_register)
        .service(route_import)
        .service(route_loaner)
        .service(route_move_loaner)
        .service(route_retire_loaner);
}
