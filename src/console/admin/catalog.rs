//! Stores, product series and product models: a list with its create form, and a page per record to change it
//! and to deactivate or activate it. Each calls the catalog's use cases ([`crate::catalog::service`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde_json::json;
use uuid::Uuid;

use super::{
    Choice, Form, Words, admin_page, admin_post, id, money_or_null, parse_as, path_id, problems_of, text_or_null,
};
use crate::catalog::http::{CreateModel, CreateSeries, CreateStore, UpdateModel, UpdateSeries, UpdateStore};
use crate::catalog::service::{self, Entity};
use crate::catalog::{Model, ModelRow, Series, SeriesRow, Store, StoreRow};
use crate::console::kit::{self, Chrome, Fields, Signed, field, once, see_other};
use crate::console::text::Text;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;
use crate::state::AppState;

/// The catalog as the admin pages need it for names and choices: every store, series and model (the first 200 of
/// each, which is more than a service network has), one statement each.
pub struct Catalog {
    pub stores: Vec<Store>,
    pub series: Vec<Series>,
    pub models: Vec<Model>,
}

impl Catalog {
    pub async fn load(state: &web::Data<AppState>, signed: &Signed) -> AppResult<Catalog> {
        let db = state.db.clone();
        let bearer = signed.bearer();
        web::block(move || {
            let page = |list| PageRequest::parse(list, Some(200), None);
            let (stores, _) = service::list_stores(&db, &bearer, page("/console/admin/stores")?, None, None, None)?;
            let (series, _) = service::list_series(&db, &bearer, page("/console/admin/series")?, None, None)?;
            let (models, _) = service::list_models(&db, &bearer, page("/console/admin/models")?, None, None)?;
            Ok(Catalog { stores, series, models })
        })
        .await?
    }

    pub fn store_code(&self, id: Uuid) -> String {
        self.stores
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_string(), |s| s.code.clone())
    }

    pub fn series_code(&self, id: Uuid) -> String {
        self.series
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_string(), |s| s.code.clone())
    }

    pub fn model_code(&self, id: Uuid) -> String {
        self.models
            .iter()
            .find(|m| m.id == id)
            .map_or_else(|| id.to_string(), |m| m.code.clone())
    }

    pub fn premium(&self, series_id: Uuid) -> bool {
        self.series.iter().any(|s| s.id == series_id && s.premium)
    }

    /// Active service centers: where loaners are kept.
    pub fn service_center_choices(&self) -> Vec<Choice> {
        self.stores
            .iter()
            .filter(|s| s.active && s.kind == crate::catalog::StoreKind::ServiceCenter)
            .map(|s| Choice::new(s.id, format!("{} · {}", s.code, s.name)))
            .collect()
    }

    pub fn store_choices(&self, w: &Words) -> Vec<Choice> {
        self.stores
            .iter()
            .map(|s| Choice::new(s.id, format!("{} · {} ({})", s.code, s.name, w.term(s.kind.as_str()))))
            .collect()
    }

    pub fn series_choices(&self, active_only: bool) -> Vec<Choice> {
        self.series
            .iter()
            .filter(|s| s.active || !active_only)
            .map(|s| Choice::new(s.id, format!("{} · {}", s.code, s.name)))
            .collect()
    }

    pub fn model_choices(&self, active_only: bool) -> Vec<Choice> {
        self.models
            .iter()
            .filter(|m| m.active || !active_only)
            .map(|m| {
                Choice::new(
                    m.id,
                    format!("{} · {} ({})", m.code, m.name, self.series_code(m.series_id)),
                )
            })
            .collect()
    }
}

/// Runs a form's work once and sends the browser on, or answers the problems to show (`Err(Ok(..))`), or fails.
pub async fn run<F>(
    state: &web::Data<AppState>,
    signed: &Signed,
    form: &Fields,
    route: &str,
    controls: &[&str],
    parsed: AppResult<F>,
) -> Result<HttpResponse, AppResult<kit::Problems>>
where
    F: Fn(&mut Conn<'_>, &crate::auth::Principal) -> AppResult<String> + Send + 'static,
{
    let result = match parsed {
        Ok(work) => once(state, signed, form, route, work).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(to) => Ok(see_other(&to)),
        // The form's token was used for other values: the page was kept open (or gone back to) after its form did
        // its work, and changed. Said in the user's words rather than the API's.
        Err(AppError::Conflict {
            code: "idempotency_key_reused",
            ..
        }) => Err(Ok(kit::Problems {
            fields: Default::default(),
            general: Some(super::words::of(signed.locale()).form_used.to_owned()),
        })),
        Err(e) => Err(problems_of(e, controls)),
    }
}

/// `?saved` on a record's page: the form before it did its work.
fn saved(req: &HttpRequest) -> bool {
    kit::query(req).contains_key("saved")
}

fn status(form: &Form) -> StatusCode {
    if form.is_refused() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

fn active_form(active: bool) -> Form {
    let mut values = Fields::new();
    values.insert("active".into(), (!active).to_string());
    Form::with(values)
}

/// The (de)activation of a record: field `active` is the state wanted.
async fn toggle<E>(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    path: String,
    section: &'static str,
) -> AppResult<HttpResponse>
where
    E: Entity + Send + 'static,
    E::Out: Send,
{
    let (signed, _, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(record) = path_id(&path) else {
        return signed.not_found();
    };
    let active = field(&form, "active") == "true";
    let work = move |conn: &mut Conn<'_>, principal: &crate::auth::Principal| {
        service::set_active_in::<E>(conn, principal, record, active)?;
        Ok(format!("/console/admin/{section}/{record}?saved"))
    };
    match once(&state, &signed, &form, &format!("admin/{section}/active"), work).await {
        Ok(to) => Ok(see_other(&to)),
        Err(AppError::NotFound(_)) => signed.not_found(),
        Err(e) => Err(e),
    }
}

// Stores.

struct StoreLine {
    id: Uuid,
    code: String,
    name: String,
    city: String,
    kind: &'static str,
    time_zone: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "console/admin/stores.html")]
struct StoresPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    stores: Vec<StoreLine>,
    kinds: Vec<Choice>,
    form: Form,
}

fn kinds(w: &Words) -> Vec<Choice> {
    vec![
        Choice::new("service_center", w.service_center),
        Choice::new("warehouse", w.warehouse),
    ]
}

async fn stores_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    form: Form,
) -> AppResult<HttpResponse> {
    let catalog = Catalog::load(state, &signed).await?;
    let stores = catalog
        .stores
        .into_iter()
        .map(|s| StoreLine {
            id: s.id,
            code: s.code,
            name: s.name,
            city: s.city,
            kind: s.kind.as_str(),
            time_zone: s.time_zone,
            active: s.active,
        })
        .collect();
    let status = status(&form);
    kit::show_again(
        status,
        &StoresPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            stores,
            kinds: kinds(w),
            form,
        },
    )
}

#[get("/admin/stores")]
async fn route_stores(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let mut values = Fields::new();
    values.insert("time_zone".into(), crate::catalog::model::DEFAULT_TIME_ZONE.into());
    values.insert("kind".into(), "service_center".into());
    stores_page(&state, signed, w, Form::with(values)).await
}

const STORE_FIELDS: &[&str] = &["code", "name", "city", "kind", "time_zone", "address", "phone"];

#[post("/admin/stores")]
async fn route_create_store(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let parsed = parse_as::<CreateStore>(&json!({
        "code": field(&form, "code"),
        "name": field(&form, "name"),
        "city": field(&form, "city"),
        "kind": field(&form, "kind"),
        "time_zone": text_or_null(&form, "time_zone"),
        "address": text_or_null(&form, "address"),
        "phone": text_or_null(&form, "phone"),
    }))
    .and_then(CreateStore::parse)
    .map(|row| {
        move |conn: &mut Conn<'_>, principal: &crate::auth::Principal| {
            let store = service::create::<StoreRow>(conn, principal, &row)?;
            Ok(format!("/console/admin/stores/{}?saved", store.id))
        }
    });
    match run(&state, &signed, &form, "admin/stores", STORE_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => stores_page(&state, signed, w, Form::again(form, problems?)).await,
    }
}

#[derive(Template)]
#[template(path = "console/admin/store.html")]
struct StorePage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    store: Store,
    saved: bool,
    form: Form,
    toggle: Form,
}

async fn store_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    id: Uuid,
    saved: bool,
    form: Option<Form>,
) -> AppResult<HttpResponse> {
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let store = match web::block(move || service::get::<StoreRow>(&db, &bearer, id)).await? {
        Ok(store) => store,
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let form = form.unwrap_or_else(|| {
        let mut values = Fields::new();
        values.insert("name".into(), store.name.clone());
        values.insert("city".into(), store.city.clone());
        values.insert("time_zone".into(), store.time_zone.clone());
        values.insert("address".into(), store.address.clone().unwrap_or_default());
        values.insert("phone".into(), store.phone.clone().unwrap_or_default());
        Form::with(values)
    });
    let status = status(&form);
    kit::show_again(
        status,
        &StorePage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            toggle: active_form(store.active),
            store,
            saved,
            form,
        },
    )
}

#[get("/admin/stores/{id}")]
async fn route_store(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(id) = path_id(&path) else {
        return signed.not_found();
    };
    store_page(&state, signed, w, id, saved(&req), None).await
}

#[post("/admin/stores/{id}")]
async fn route_update_store(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(id) = path_id(&path) else {
        return signed.not_found();
    };
    let parsed = parse_as::<UpdateStore>(&json!({
        "name": field(&form, "name"),
        "city": field(&form, "city"),
        "time_zone": field(&form, "time_zone"),
        "address": text_or_null(&form, "address"),
        "phone": text_or_null(&form, "phone"),
    }))
    .and_then(UpdateStore::parse)
    .map(|changes| {
        move |conn: &mut Conn<'_>, principal: &crate::auth::Principal| {
            service::update_in::<StoreRow>(conn, principal, id, &changes)?;
            Ok(format!("/console/admin/stores/{id}?saved"))
        }
    });
    match run(&state, &signed, &form, "admin/stores/update", STORE_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => store_page(&state, signed, w, id, false, Some(Form::again(form, problems?))).await,
    }
}

#[post("/admin/stores/{id}/active")]
async fn route_toggle_store(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    toggle::<StoreRow>(state, req, body, path.into_inner(), "stores").await
}

// Product series.

#[derive(Template)]
#[template(path = "console/admin/series_list.html")]
struct SeriesListPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    series: Vec<Series>,
    form: Form,
}

async fn series_list_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    form: Form,
) -> AppResult<HttpResponse> {
    let catalog = Catalog::load(state, &signed).await?;
    let status = status(&form);
    kit::show_again(
        status,
        &SeriesListPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            series: catalog.series,
            form,
        },
    )
}

#[get("/admin/series")]
async fn route_series_list(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    series_list_page(&state, signed, w, Form::blank()).await
}

const SERIES_FIELDS: &[&str] = &["code", "name", "premium", "loaner_deposit"];

#[post("/admin/series")]
async fn route_create_series(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let parsed = parse_as::<CreateSeries>(&json!({
        "code": field(&form, "code"),
        "name": field(&form, "name"),
        "premium": form.contains_key("premium"),
        "loaner_deposit": money_or_null(&form, "loaner_deposit"),
    }))
    .and_then(CreateSeries::parse)
    .map(|row| {
        move |conn: &mut Conn<'_>, principal: &crate::auth::Principal| {
            let series = service::create::<SeriesRow>(conn, principal, &row)?;
            Ok(format!("/console/admin/series/{}?saved", series.id))
        }
    });
    match run(&state, &signed, &form, "admin/series", SERIES_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => series_list_page(&state, signed, w, Form::again(form, problems?)).await,
    }
}

#[derive(Template)]
#[template(path = "console/admin/series.html")]
struct SeriesPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    series: Series,
    saved: bool,
    form: Form,
    toggle: Form,
}

async fn series_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    id: Uuid,
    saved: bool,
    form: Option<Form>,
) -> AppResult<HttpResponse> {
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let series = match web::block(move || service::get::<SeriesRow>(&db, &bearer, id)).await? {
        Ok(series) => series,
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let form = form.unwrap_or_else(|| {
        let mut values = Fields::new();
        values.insert("name".into(), series.name.clone());
        if series.premium {
            values.insert("premium".into(), "on".into());
        }
        if let Some(deposit) = series.loaner_deposit {
            values.insert("loaner_deposit".into(), deposit.amount.to_string());
        }
        Form::with(values)
    });
    let status = status(&form);
    kit::show_again(
        status,
        &SeriesPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            toggle: active_form(series.active),
            series,
            saved,
            form,
        },
    )
}

#[get("/admin/series/{id}")]
async fn route_series(
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
    series_page(&state, signed, w, id, saved(&req), None).await
}

#[post("/admin/series/{id}")]
async fn route_update_series(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(id) = path_id(&path) else {
        return signed.not_found();
    };
    let parsed = parse_as::<UpdateSeries>(&json!({
        "name": field(&form, "name"),
        "premium": form.contains_key("premium"),
        "loaner_deposit": money_or_null(&form, "loaner_deposit"),
    }))
    .and_then(UpdateSeries::parse)
    .map(|changes| {
        move |conn: &mut Conn<'_>, principal: &crate::auth::Principal| {
            service::update_in::<SeriesRow>(conn, principal, id, &changes)?;
            Ok(format!("/console/admin/series/{id}?saved"))
        }
    });
    match run(&state, &signed, &form, "admin/series/update", SERIES_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => series_page(&state, signed, w, id, false, Some(Form::again(form, problems?))).await,
    }
}

#[post("/admin/series/{id}/active")]
async fn route_toggle_series(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    toggle::<SeriesRow>(state, req, body, path.into_inner(), "series").await
}

// Product models.

struct ModelLine {
    id: Uuid,
    code: String,
    name: String,
    series: String,
    premium: bool,
    active: bool,
}

#[derive(Template)]
#[template(path = "console/admin/models.html")]
struct ModelsPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    models: Vec<ModelLine>,
    series: Vec<Choice>,
    form: Form,
}

async fn models_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    form: Form,
) -> AppResult<HttpResponse> {
    let catalog = Catalog::load(state, &signed).await?;
    let models = catalog
        .models
        .iter()
        .map(|m| ModelLine {
            id: m.id,
            code: m.code.clone(),
            name: m.name.clone(),
            series: catalog.series_code(m.series_id),
            premium: catalog.premium(m.series_id),
            active: m.active,
        })
        .collect();
    let status = status(&form);
    kit::show_again(
        status,
        &ModelsPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            models,
            series: catalog.series_choices(true),
            form,
        },
    )
}

#[get("/admin/models")]
async fn route_models(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    models_page(&state, signed, w, Form::blank()).await
}

const MODEL_FIELDS: &[&str] = &["code", "name", "series_id"];

#[post("/admin/models")]
async fn route_create_model(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let parsed = id(&form, "series_id")
        .and_then(|series_id| {
            parse_as::<CreateModel>(&json!({
                "code": field(&form, "code"),
                "name": field(&form, "name"),
                "series_id": series_id,
            }))
        })
        .and_then(CreateModel::parse)
        .map(|row| {
            move |conn: &mut Conn<'_>, principal: &crate::auth::Principal| {
                let model = service::create::<ModelRow>(conn, principal, &row)?;
                Ok(format!("/console/admin/models/{}?saved", model.id))
            }
        });
    match run(&state, &signed, &form, "admin/models", MODEL_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => models_page(&state, signed, w, Form::again(form, problems?)).await,
    }
}

#[derive(Template)]
#[template(path = "console/admin/model.html")]
struct ModelPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    model: Model,
    series_code: String,
    premium: bool,
    series: Vec<Choice>,
    saved: bool,
    form: Form,
    toggle: Form,
}

async fn model_page(
    state: &web::Data<AppState>,
    signed: Signed,
    w: &'static Words,
    id: Uuid,
    saved: bool,
    form: Option<Form>,
) -> AppResult<HttpResponse> {
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let model = match web::block(move || service::get::<ModelRow>(&db, &bearer, id)).await? {
        Ok(model) => model,
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let catalog = Catalog::load(state, &signed).await?;
    let form = form.unwrap_or_else(|| {
        let mut values = Fields::new();
        values.insert("name".into(), model.name.clone());
        values.insert("series_id".into(), model.series_id.to_string());
        Form::with(values)
    });
    let status = status(&form);
    kit::show_again(
        status,
        &ModelPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            toggle: active_form(model.active),
            series_code: catalog.series_code(model.series_id),
            premium: catalog.premium(model.series_id),
            series: catalog.series_choices(true),
            model,
            saved,
            form,
        },
    )
}

#[get("/admin/models/{id}")]
async fn route_model(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(id) = path_id(&path) else {
        return signed.not_found();
    };
    model_page(&state, signed, w, id, saved(&req), None).await
}

#[post("/admin/models/{id}")]
async fn route_update_model(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(model_id) = path_id(&path) else {
        return signed.not_found();
    };
    let parsed = id(&form, "series_id")
        .and_then(|series_id| parse_as::<UpdateModel>(&json!({ "name": field(&form, "name"), "series_id": series_id })))
        .and_then(UpdateModel::parse)
        .map(|changes| {
            move |conn: &mut Conn<'_>, principal: &crate::auth::Principal| {
                service::update_in::<ModelRow>(conn, principal, model_id, &changes)?;
                Ok(format!("/console/admin/models/{model_id}?saved"))
            }
        });
    match run(&state, &signed, &form, "admin/models/update", MODEL_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => model_page(&state, signed, w, model_id, false, Some(Form::again(form, problems?))).await,
    }
}

#[post("/admin/models/{id}/active")]
async fn route_toggle_model(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    toggle::<ModelRow>(state, req, body, path.into_inner(), "models").await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route_stores)
        .service(route_create_store)
        .service(route_store)
        .service(route_update_store)
        .service(route_toggle_store)
        .service(route_series_list)
        .service(route_create_series)
        .service(route_series)
        .service(route_update_series)
        .service(route_toggle_series)
        .service(route_models)
        .service(route_create_model)
        .service(route_model)
        .service(route_update_model)
        .service(route_toggle_model);
}
