//! The console's admin pages, under `/console/admin/`: stores, series and models ([`catalog`]), the loaner pool
//! ([`loaners`]), parts and their prices ([`parts`]), courier partners, API keys and users ([`access`]).
//!
//! Every page and form is for admins only; anyone else gets the 403 page, before anything is read or changed. The
//! forms call the same use cases as the JSON API, as the signed-in admin's key, each in one transaction once per
//! form token; a refused form comes back with what was typed and each problem beside its field.

pub mod access;
pub mod catalog;
pub mod loaners;
pub mod parts;
pub mod words;

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde_json::Value;
use uuid::Uuid;

use super::kit::{self, Chrome, Fields, Problems, Signed, field, form_token, message, posted, signed_in};
use super::text::Text;
use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
pub use words::Words;

/// A signed-in admin's page view, with the words of their language; `Err` is the answer instead: to sign in, or
/// the 403 page for any other role.
pub async fn admin_page(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<(Signed, &'static Words), AppResult<HttpResponse>> {
    let signed = signed_in(state, req).await?;
    let w = words::of(signed.locale());
    if signed.principal().role != Role::Admin {
        return Err(admins_only(&signed, w));
    }
    Ok((signed, w))
}

/// A checked form post by an admin (session, CSRF token, origin, then role), with its fields. Fields given more
/// than once (a list of checkboxes) are joined with commas, so that the form's fingerprint covers all of them.
pub async fn admin_post(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Signed, &'static Words, Fields), AppResult<HttpResponse>> {
    let (signed, mut form) = posted(state, req, body).await?;
    let w = words::of(signed.locale());
    if signed.principal().role != Role::Admin {
        return Err(admins_only(&signed, w));
    }
    let mut many: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        many.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    for (k, values) in many.into_iter().filter(|(_, v)| v.len() > 1) {
        form.insert(k, values.join(","));
    }
    Ok((signed, w, form))
}

fn admins_only(signed: &Signed, w: &'static Words) -> AppResult<HttpResponse> {
    message(
        StatusCode::FORBIDDEN,
        signed.t,
        signed.chrome(),
        w.admins_only_title,
        w.admins_only,
    )
}

/// A form as a page shows it: its one-time token, the values to show in its fields, and the problems of its last
/// post beside them.
pub struct Form {
    pub idem: String,
    values: Fields,
    problems: Problems,
}

impl Form {
    pub fn blank() -> Form {
        Form::with(Fields::new())
    }

    /// A form filled with a record's values (an edit form).
    pub fn with(values: Fields) -> Form {
        Form {
            idem: form_token(),
            values,
            problems: Problems::default(),
        }
    }

    /// A refused post shown again: what was typed (but never a password) and why it was refused.
    pub fn again(mut values: Fields, problems: Problems) -> Form {
        values.remove("password");
        Form {
            idem: form_token(),
            values,
            problems,
        }
    }

    pub fn value(&self, name: &str) -> &str {
        field(&self.values, name)
    }

    /// Whether a single-valued field holds `value` (a selected option).
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.value(name) == value
    }

    /// Whether a many-valued field (checkboxes, joined by commas) holds `value`.
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.value(name).split(',').any(|v| v == value)
    }

    /// Whether a checkbox was ticked.
    pub fn ticked(&self, name: &str) -> bool {
        matches!(self.value(name), "on" | "true")
    }

    pub fn problem(&self, name: &str) -> Option<&str> {
        self.problems.at(name)
    }

    /// What went wrong beyond any one field, or a field's problem the form has no control for.
    pub fn general(&self) -> Option<&str> {
        self.problems.general.as_deref()
    }

    pub fn is_refused(&self) -> bool {
        !self.problems.is_empty()
    }
}

/// An option of a `<select>` or one of a list of checkboxes.
pub struct Choice {
    pub value: String,
    pub label: String,
}

impl Choice {
    pub fn new(value: impl ToString, label: impl Into<String>) -> Choice {
        Choice {
            value: value.to_string(),
            label: label.into(),
        }
    }
}

/// Conflicts that are about one field the form has, so that they show beside it: a taken code, SKU or IMEI.
const CONFLICT_FIELDS: &[(&str, &str)] = &[
    ("duplicate_code", "code"),
    ("duplicate_sku", "sku"),
    ("duplicate_imei", "imei"),
];

/// A refused use case's problems as a form shows them, or `Err` for what no form can help with. A field's path is
/// cut to the form's control (`price.amount` is the `price` field, `store_ids[1]` the `store_ids` list), and a
/// problem whose field the form lacks (`fields`) shows above the form.
pub fn problems_of(error: AppError, fields: &[&str]) -> AppResult<Problems> {
    let error = match error {
        AppError::Conflict { code, detail } => match CONFLICT_FIELDS.iter().find(|(c, _)| *c == code) {
            Some((_, field)) => AppError::ConflictAt {
                code,
                detail,
                field: Some(field),
                ticket_id: None,
            },
            None => AppError::Conflict { code, detail },
        },
        other => other,
    };
    let raw = Problems::of(error)?;
    let mut problems = Problems {
        fields: HashMap::new(),
        general: raw.general,
    };
    let mut stray = Vec::new();
    for (path, message) in raw.fields {
        let control = path.split(['.', '[']).next().unwrap_or_default().to_owned();
        if fields.contains(&control.as_str()) {
            problems.fields.entry(control).or_insert(message);
        } else {
            stray.push(format!("{path}: {message}"));
        }
    }
    if !stray.is_empty() {
        stray.sort();
        let mut general = problems.general.take().map(|g| vec![g]).unwrap_or_default();
        general.extend(stray);
        problems.general = Some(general.join("; "));
    }
    Ok(problems)
}

/// Parses a form as the JSON API parses its body, so that a form and a request are read by one set of rules.
pub fn parse_as<T: serde::de::DeserializeOwned>(value: &Value) -> AppResult<T> {
    crate::http::json::parse_json(value.to_string().as_bytes())
}

/// A text field as JSON: blank is `null`.
pub fn text_or_null(form: &Fields, name: &str) -> Value {
    kit::optional(form, name).map_or(Value::Null, Value::String)
}

/// A number field as JSON: blank is `null`; anything but a whole number stays a string, which the parse refuses
/// beside the field.
pub fn number_or_null(form: &Fields, name: &str) -> Value {
    match kit::optional(form, name) {
        None => Value::Null,
        Some(text) => text.parse::<u64>().map_or(Value::String(text), Value::from),
    }
}

/// A money field as JSON: blank is `null`.
pub fn money_or_null(form: &Fields, name: &str) -> Value {
    kit::optional(form, name).map_or(
        Value::Null,
        |amount| serde_json::json!({"amount": amount, "currency": "CNY"}),
    )
}

/// The ids of a checkbox list (joined by [`admin_post`]); one that is no id is refused beside the list.
pub fn ids(form: &Fields, name: &str) -> AppResult<Vec<Uuid>> {
    field(form, name)
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| Uuid::parse_str(v.trim()).map_err(|_| AppError::field(name, "is not a known choice")))
        .collect()
}

/// One id field (a `<select>`); blank or malformed is refused beside it.
pub fn id(form: &Fields, name: &str) -> AppResult<Uuid> {
    Uuid::parse_str(field(form, name).trim()).map_err(|_| AppError::field(name, "choose one"))
}

/// An instant as the admin pages show it.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A path id, or `None` for anything that is not one (the 404 page).
pub fn path_id(path: &str) -> Option<Uuid> {
    Uuid::parse_str(path).ok()
}

#[derive(Template)]
#[template(path = "console/admin/index.html")]
struct IndexPage {
    t: &'static Text,
    chrome: Chrome,
    w: &'static Words,
}

#[get("/admin/")]
async fn index(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let (signed, w) = match admin_page(&state, &req).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    kit::show(&IndexPage {
        t: signed.t,
        chrome: signed.chrome(),
        w,
    })
}

/// Registers this part's pages inside the `/console` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin").route(web::get().to(|| async { kit::see_other("/console/admin/") })))
        .service(index);
    catalog::configure(cfg);
    loaners::configure(cfg);
    parts::configure(cfg);
    access::configure(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_land_beside_the_control_that_caused_them() {
        let taken = AppError::conflict("duplicate_code", "a store with code A exists");
        let p = problems_of(taken, &["code", "name"]).unwrap_or_default();
        assert_eq!(p.at("code"), Some("a store with code A exists"));
        assert!(p.general.is_none());

        let bad = AppError::Validation(vec![
            crate::error::FieldError::new("price.amount", "must be a decimal"),
            crate::error::FieldError::new("store_ids[1]", "no such store"),
            crate::error::FieldError::new("partner_id", "needs a partner"),
        ]);
        let p = problems_of(bad, &["price", "store_ids"]).unwrap_or_default();
        assert_eq!(p.at("price"), Some("must be a decimal"));
        assert_eq!(p.at("store_ids"), Some("no such store"));
        assert_eq!(p.general.as_deref(), Some("partner_id: needs a partner"));

        assert!(problems_of(AppError::Internal(anyhow::anyhow!("disk")), &[]).is_err());
    }

    #[test]
    fn checkbox_lists_and_numbers_read_as_the_api_would() {
        let mut form = Fields::new();
        form.insert("ids".into(), format!("{},{}", Uuid::nil(), Uuid::max()));
        form.insert("n".into(), "12".into());
        form.insert("m".into(), "12a".into());
        assert_eq!(ids(&form, "ids").ok(), Some(vec![Uuid::nil(), Uuid::max()]));
        assert_eq!(ids(&form, "none").ok(), Some(vec![]));
        assert_eq!(number_or_null(&form, "n"), Value::from(12));
        assert_eq!(number_or_null(&form, "m"), Value::from("12a"));
        assert_eq!(number_or_null(&form, "none"), Value::Null);
        form.insert("bad".into(), "x".into());
        assert!(ids(&form, "bad").is_err());
    }
}
