//! Parts and prices: a list with a search and the create form, and a page per part to change it, deactivate or
//! activate it, and change its price, with its price history. Each calls the parts use cases
//! ([`crate::parts::service`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalog::{Catalog, run};
use super::{Choice, Form, Words, admin_page, admin_post, ids, money_or_null, number_or_null, parse_as, path_id, when};
use crate::auth::Principal;
use crate::console::kit::{self, Chrome, Fields, Signed, field, once, see_other};
use crate::console::text::Text;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageRequest;
use crate::parts::http::ChangePrice;
use crate::parts::{CreatePart, Part, PartCategory, PartQuery, UpdatePart, service};
use crate::state::AppState;

const CATEGORIES: [PartCategory; 9] = PartCategory::ALL;

fn categories(w: &Words) -> Vec<Choice> {
    CATEGORIES
        .into_iter()
        .map(|c| Choice::new(c.as_str(), w.term(c.as_str())))
        .collect()
}

fn money_text(m: Option<crate::money::Money>) -> String {
    m.map(|m| m.amount.to_string()).unwrap_or_default()
}

struct PartLine {
    id: Uuid,
    sku: String,
    name: String,
    category: &'static str,
    price: String,
    fits: String,
    active: bool,
}

fn fits(catalog: &Catalog, part: &Part) -> String {
    let models = part.compatible_model_ids.iter().map(|m| catalog.model_code(*m));
    let series = part
        .compatible_series_ids
        .iter()
        .map(|s| format!("{}*", catalog.series_code(*s)));
    models.chain(series).collect::<Vec<_>>().join(", ")
}

#[derive(Template)]
#[template(path = "console/admin/parts.html")]
struct PartsPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    q: String,
    parts: Vec<PartLine>,
    next: Option<String>,
    categories: Vec<Choice>,
    models: Vec<Choice>,
    series: Vec<Choice>,
    form: Form,
}

const LIST: &str = "/console/admin/parts";

async fn parts_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    signed: Signed,
    w: &'static Words,
    form: Form,
) -> AppResult<HttpResponse> {
    let query = kit::query(req);
    let q = kit::optional(&query, "q").unwrap_or_default();
    let cursor = kit::optional(&query, "cursor");
    let catalog = Catalog::load(state, &signed).await?;
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let search = q.clone();
    let list = web::block(move || {
        let page = PageRequest::parse(LIST, Some(100), cursor.as_deref())
            .or_else(|_| PageRequest::parse(LIST, Some(100), None))?;
        let query = PartQuery {
            limit: None,
            cursor: None,
            sku: None,
            q: Some(search).filter(|q| !q.is_empty() && q.chars().count() <= 100),
            category: None,
            model_id: None,
            active: None,
        };
        service::list(&db, &bearer, &query, page)
    })
    .await??;
    let next = list.next_cursor.map(|cursor| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            query.append_pair("q", &q);
        }
        query.append_pair("cursor", &cursor);
        format!("{LIST}?{}", query.finish())
    });
    let parts = list
        .items
        .iter()
        .map(|p| PartLine {
            id: p.id,
            sku: p.sku.clone(),
            name: p.name.clone(),
            category: p.category.as_str(),
            price: money_text(p.price),
            fits: fits(&catalog, p),
            active: p.active,
        })
        .collect();
    let status = if form.is_refused() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    kit::show_again(
        status,
        &PartsPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            q,
            parts,
            next,
            categories: categories(w),
            models: catalog.model_choices(false),
            series: catalog.series_choices(false),
            form,
        },
    )
}

#[get("/admin/parts")]
async fn route_parts(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    parts_page(&state, &req, signed, w, Form::blank()).await
}

const PART_FIELDS: &[&str] = &[
    "sku",
    "name",
    "category",
    "price",
    "labour_price",
    "warranty_months",
    "compatible_model_ids",
    "compatible_series_ids",
];

fn compatibility(form: &Fields) -> AppResult<(Vec<Uuid>, Vec<Uuid>)> {
    Ok((ids(form, "compatible_model_ids")?, ids(form, "compatible_series_ids")?))
}

#[post("/admin/parts")]
async fn route_create_part(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let parsed = compatibility(&form)
        .and_then(|(models, series)| {
            parse_as::<CreatePart>(&json!({
                "sku": field(&form, "sku"),
                "name": field(&form, "name"),
                "category": field(&form, "category"),
                "compatible_model_ids": models,
                "compatible_series_ids": series,
                "price": money_or_null(&form, "price"),
                "labour_price": money_or_null(&form, "labour_price"),
                "warranty_months": number_or_null(&form, "warranty_months"),
            }))
        })
        .and_then(CreatePart::parse)
        .map(|new| {
            move |conn: &mut Conn<'_>, principal: &Principal| {
                let part = service::create(conn, principal, &new)?;
                Ok(format!("/console/admin/parts/{}?saved", part.id))
            }
        });
    match run(&state, &signed, &form, "admin/parts", PART_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => parts_page(&state, &req, signed, w, Form::again(form, problems?)).await,
    }
}

struct PriceLine {
    price: String,
    effective_at: String,
    made_at: String,
    by: String,
    in_force: bool,
}

#[derive(Template)]
#[template(path = "console/admin/part.html")]
struct PartPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
    part: PartLine,
    labour: String,
    warranty_months: u32,
    prices: Vec<PriceLine>,
    categories: Vec<Choice>,
    models: Vec<Choice>,
    series: Vec<Choice>,
    saved: bool,
    form: Form,
    toggle: Form,
    price_form: Form,
}

/// Which page a part's page was asked for with: a refused edit or a refused price change shown again.
enum Refused {
    Nothing,
    Edit(Form),
    Price(Form),
}

async fn part_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    signed: Signed,
    w: &'static Words,
    id: Uuid,
    refused: Refused,
) -> AppResult<HttpResponse> {
    let (db, bearer) = (state.db.clone(), signed.bearer());
    let found = web::block(move || {
        let part = service::load(&db, &bearer, id)?;
        let page = PageRequest::parse("/console/admin/parts/prices", Some(100), None)?;
        let prices = service::price_history(&db, &bearer, id, page)?;
        let mut keys: Vec<Uuid> = prices.items.iter().filter_map(|p| p.api_key_id).collect();
        keys.sort();
        keys.dedup();
        let names = db.read(|conn| crate::users::service::names_of_keys(conn, &keys))?;
        Ok::<_, AppError>((part, prices, names))
    })
    .await?;
    let (part, prices, names) = match found {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return signed.not_found(),
        Err(e) => return Err(e),
    };
    let catalog = Catalog::load(state, &signed).await?;
    let now = crate::now();
    // The price in force is the latest effective one already in effect; history comes newest made first.
    let in_force = prices
        .items
        .iter()
        .filter(|p| p.effective_at <= now)
        .max_by_key(|p| (p.effective_at, p.id))
        .map(|p| p.id);
    let prices = prices
        .items
        .iter()
        .map(|p| PriceLine {
            price: p.price.amount.to_string(),
            effective_at: when(p.effective_at),
            made_at: when(p.created_at),
            by: match p.api_key_id {
                Some(key) => names
                    .iter()
                    .find(|(k, ..)| *k == key)
                    .map(|(_, username, _)| username.clone())
                    .unwrap_or_else(|| key.to_string()[..8].to_owned()),
                None => String::new(),
            },
            in_force: Some(p.id) == in_force,
        })
        .collect();
    let edit_values = || {
        let mut values = Fields::new();
        values.insert("name".into(), part.name.clone());
        values.insert("category".into(), part.category.as_str().into());
        values.insert("labour_price".into(), money_text(part.labour_price));
        values.insert("warranty_months".into(), part.warranty_months.to_string());
        let joined = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",");
        values.insert("compatible_model_ids".into(), joined(&part.compatible_model_ids));
        values.insert("compatible_series_ids".into(), joined(&part.compatible_series_ids));
        values
    };
    let (status, form, price_form) = match refused {
        Refused::Nothing => (StatusCode::OK, Form::with(edit_values()), Form::blank()),
        Refused::Edit(form) => (StatusCode::UNPROCESSABLE_ENTITY, form, Form::blank()),
        Refused::Price(price) => (StatusCode::UNPROCESSABLE_ENTITY, Form::with(edit_values()), price),
    };
    let mut toggle = Fields::new();
    toggle.insert("active".into(), (!part.active).to_string());
    kit::show_again(
        status,
        &PartPage {
            t: signed.t,
            chrome: signed.chrome(),
            w,
            labour: money_text(part.labour_price),
            warranty_months: part.warranty_months,
            part: PartLine {
                id: part.id,
                sku: part.sku.clone(),
                name: part.name.clone(),
                category: part.category.as_str(),
                price: money_text(part.price),
                fits: fits(&catalog, &part),
                active: part.active,
            },
            prices,
            categories: categories(w),
            models: catalog.model_choices(false),
            series: catalog.series_choices(false),
            saved: kit::query(req).contains_key("saved"),
            form,
            toggle: Form::with(toggle),
            price_form,
        },
    )
}

#[get("/admin/parts/{id}")]
async fn route_part(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(id) = path_id(&path) else {
        return signed.not_found();
    };
    part_page(&state, &req, signed, w, id, Refused::Nothing).await
}

#[post("/admin/parts/{id}")]
async fn route_update_part(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(part) = path_id(&path) else {
        return signed.not_found();
    };
    let parsed = compatibility(&form)
        .and_then(|(models, series)| {
            parse_as::<UpdatePart>(&json!({
                "name": field(&form, "name"),
                "category": field(&form, "category"),
                "labour_price": money_or_null(&form, "labour_price"),
                "warranty_months": number_or_null(&form, "warranty_months"),
                "compatible_model_ids": models,
                "compatible_series_ids": series,
            }))
        })
        .and_then(UpdatePart::parse)
        .map(|update| {
            move |conn: &mut Conn<'_>, principal: &Principal| {
                service::update_in(conn, principal, part, &update)?;
                Ok(format!("/console/admin/parts/{part}?saved"))
            }
        });
    match run(&state, &signed, &form, "admin/parts/update", PART_FIELDS, parsed).await {
        Ok(answer) => Ok(answer),
        Err(problems) => {
            let form = Form::again(form, problems?);
            part_page(&state, &req, signed, w, part, Refused::Edit(form)).await
        }
    }
}

#[post("/admin/parts/{id}/active")]
async fn route_toggle_part(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, _, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(part) = path_id(&path) else {
        return signed.not_found();
    };
    let active = field(&form, "active") == "true";
    let work = move |conn: &mut Conn<'_>, principal: &Principal| {
        service::set_active_in(conn, principal, part, active)?;
        Ok(format!("/console/admin/parts/{part}?saved"))
    };
    match once(&state, &signed, &form, "admin/parts/active", work).await {
        Ok(to) => Ok(see_other(&to)),
        Err(AppError::NotFound(_)) => signed.not_found(),
        Err(e) => Err(e),
    }
}

/// A `datetime-local` value (`2026-12-24T10:00`, read as UTC) as RFC 3339; blank is now (`null`); anything else is
/// passed on for the parse to refuse beside the field.
fn instant(form: &Fields, name: &str) -> Value {
    match kit::optional(form, name) {
        None => Value::Null,
        Some(text) if text.len() == 16 => Value::String(format!("{text}:00Z")),
        Some(text) if text.len() == 19 && !text.ends_with('Z') => Value::String(format!("{text}Z")),
        Some(text) => Value::String(text),
    }
}

#[post("/admin/parts/{id}/prices")]
async fn route_change_price(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (signed, w, form) = match admin_post(&state, &req, &body).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let Some(part) = path_id(&path) else {
        return signed.not_found();
    };
    let parsed = parse_as::<ChangePrice>(&json!({
        "price": money_or_null(&form, "price"),
        "effective_at": instant(&form, "effective_at"),
    }))
    .and_then(ChangePrice::parse)
    .map(|(price_minor, effective_at)| {
        move |conn: &mut Conn<'_>, principal: &Principal| {
            service::change_price(conn, principal, part, price_minor, effective_at)?;
            Ok(format!("/console/admin/parts/{part}?saved"))
        }
    });
    match run(
        &state,
        &signed,
        &form,
        "admin/parts/prices",
        &["price", "effective_at"],
        parsed,
    )
    .await
    {
        Ok(answer) => Ok(answer),
        Err(problems) => {
            let form = Form::again(form, problems?);
            part_page(&state, &req, signed, w, part, Refused::Price(form)).await
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route_parts)
        .service(route_create_part)
        .service(route_part)
        .service(route_update_part)
        .service(route_toggle_part)
        .service(route_change_price);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_date_and_time_is_read_as_utc() {
        let mut form = Fields::new();
        form.insert("a".into(), "2026-12-24T10:00".into());
        form.insert("b".into(), "2026-12-24T10:00:30".into());
        form.insert("c".into(), "tomorrow".into());
        assert_eq!(instant(&form, "a"), json!("2026-12-24T10:00:00Z"));
        assert_eq!(instant(&form, "b"), json!("2026-12-24T10:00:30Z"));
        assert_eq!(instant(&form, "c"), json!("tomorrow"));
        assert_eq!(instant(&form, "none"), Value::Null);
    }
}
