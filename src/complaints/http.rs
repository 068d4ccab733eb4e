//! Complaints over HTTP: staff open, list, read and work them (`/complaints`); the customer files one, or reopens
//! one, through the tracking link (`/public/tracking/{token}/complaints`, no key, rate-limited).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::model::{
    Complaint, ComplaintCategory, ComplaintChannel, ComplaintFilter, ComplaintList, ComplaintState, ContactPreference,
    DueFilter, NewComplaint, NewRemedy, PublicComplaint, RemedyKind, Target,
};
use super::rules::{self, MAX_NOTE, MAX_TEXT, MAX_WARRANTY_DAYS};
use super::service;
use crate::auth::{Bearer, Principal};
use crate::db::Conn;
use crate::error::{AppError, AppResult, FieldError, Problem, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::money::Money;
use crate::state::AppState;
use crate::tracking::http::{admit_link_write, unknown_token};
use crate::tracking::service::LinkRequest;

/// The list's route, also the tag of its cursors.
pub const COMPLAINTS: &str = "/complaints";

/// A complaint taken by staff (phone, walk-in): against exactly one of a ticket, a loan or a store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenComplaint {
    /// A ticket of the caller's stores; the complaint belongs to its store.
    pub ticket_id: Option<Uuid>,
    /// A loan of the caller's stores; the complaint belongs to its store.
    pub loan_id: Option<Uuid>,
    /// A store of the caller's, for a complaint about the store itself.
    pub store_id: Option<Uuid>,
    pub category: ComplaintCategory,
    /// The customer's complaint in their words: not blank.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub text: String,
    pub contact_preference: ContactPreference,
    /// `phone` or `walk_in` (`link` is the customer's own channel).
    pub channel: ComplaintChannel,
}

/// A complaint filed by the customer through their tracking link, about the link's repair.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileComplaint {
    pub category: ComplaintCategory,
    /// What went wrong, in the customer's words: not blank.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub text: String,
    pub contact_preference: ContactPreference,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyToComplaint {
    /// The message to the customer, kept on the complaint's timeline: not blank.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveComplaint {
    /// What was done about it, as told to the customer: not blank.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub resolution: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintNote {
    /// Shown on the complaint's timeline.
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A goodwill remedy: `waived_charge` and `compensation` take `amount`, `extended_warranty` takes `warranty_days`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRemedy {
    pub kind: RemedyKind,
    /// More than zero; for `waived_charge` and `compensation` only.
    pub amount: Option<Money>,
    /// Days added to the phone's warranty; for `extended_warranty` only.
    #[schema(minimum = 1, maximum = 1095)]
    pub warranty_days: Option<i32>,
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplaintQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub store_id: Option<Uuid>,
    pub state: Option<ComplaintState>,
    /// `soon`: first reply not sent and due within 6 hours; `breached`: first reply not sent and overdue.
    pub due: Option<DueFilter>,
}

fn checked(checks: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    rules::text(value, max).unwrap_or_else(|e| {
        checks.push(FieldError::new(field, e));
        String::new()
    })
}

fn finish(checks: Vec<FieldError>) -> AppResult<()> {
    if checks.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(checks))
    }
}

fn optional_note(note: Option<&str>, field: &str, max: usize) -> AppResult<Option<String>> {
    match note {
        None => Ok(None),
        Some(n) if n.trim().is_empty() && n.chars().count() <= max => Ok(None),
        Some(n) => rules::text(n, max).map(Some).map_err(|e| AppError::field(field, e)),
    }
}

/// The optional note of a step that takes one (close, reopen): blank is none.
fn timeline_note(body: Option<&ApiJson<ComplaintNote>>) -> AppResult<Option<String>> {
    optional_note(body.and_then(|b| b.value.note.as_deref()), "note", MAX_TEXT)
}

impl OpenComplaint {
    fn parse(&self) -> AppResult<NewComplaint> {
        let mut checks = Vec::new();
        let text = checked(&mut checks, "text", &self.text, MAX_TEXT);
        let target = match (self.ticket_id, self.loan_id, self.store_id) {
            (Some(t), None, None) => Some(Target::Ticket(t)),
            (None, Some(l), None) => Some(Target::Loan(l)),
            (None, None, Some(s)) => Some(Target::Store(s)),
            _ => {
                checks.push(FieldError::new(
                    "ticket_id",
                    "give exactly one of ticket_id, loan_id and store_id",
                ));
                None
            }
        };
        finish(checks)?;
        Ok(NewComplaint {
            target: target.ok_or_else(|| AppError::field("ticket_id", "missing"))?,
            category: self.category,
            text,
            contact_preference: self.contact_preference,
            channel: self.channel,
        })
    }
}

impl RecordRemedy {
    fn parse(&self) -> AppResult<NewRemedy> {
        let mut checks = Vec::new();
        let note = optional_note(self.note.as_deref(), "note", MAX_NOTE)?;
        let (amount_minor, warranty_days) = match self.kind {
            RemedyKind::ExtendedWarranty => {
                if self.amount.is_some() {
                    checks.push(FieldError::new("amount", "not for extended_warranty"));
                }
                match self.warranty_days {
                    Some(d) if (1..=MAX_WARRANTY_DAYS).contains(&d) => (None, Some(d)),
                    Some(_) => {
                        checks.push(FieldError::new(
                            "warranty_days",
                            format!("must be between 1 and {MAX_WARRANTY_DAYS}"),
                        ));
                        (None, None)
                    }
                    None => {
                        checks.push(FieldError::new("warranty_days", "required for extended_warranty"));
                        (None, None)
                    }
                }
            }
            RemedyKind::WaivedCharge | RemedyKind::Compensation => {
                if self.warranty_days.is_some() {
                    checks.push(FieldError::new("warranty_days", "only for extended_warranty"));
                }
                match &self.amount {
                    None => {
                        checks.push(FieldError::new("amount", "required for this remedy"));
                        (None, None)
                    }
                    Some(m) => match m.to_minor_non_negative() {
                        Ok(0) => {
                            checks.push(FieldError::new("amount", "must be more than zero"));
                            (None, None)
                        }
                        Ok(minor) => (Some(minor), None),
                        Err(e) => {
                            checks.push(FieldError::new("amount", e));
                            (None, None)
                        }
                    },
                }
            }
        };
        finish(checks)?;
        Ok(NewRemedy {
            kind: self.kind,
            amount_minor,
            warranty_days,
            note,
        })
    }
}

/// Open a complaint taken by phone or at the desk, against a ticket, a loan or a store of the caller's. Its first
/// reply is due 48 hours later (`--complaint-first-reply-hours`).
#[utoipa::path(
    tag = "complaints", operation_id = "open_complaint", request_body = OpenComplaint,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and body replay the first response.")),
    responses((status = 201, body = Complaint), WriteErrors),
    security(("bearer" = []))
)]
#[post("/complaints")]
pub async fn open_complaint(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    body: ApiJson<OpenComplaint>,
) -> AppResult<HttpResponse> {
    let fingerprint = idempotency::fingerprint("POST /complaints", &body.raw);
    let new = body.value.parse()?;
    let first_reply = first_reply(&state);
    let create = move |conn: &mut Conn<'_>, principal: &Principal| {
        service::open_in(conn, principal, &new, crate::now(), first_reply)
    };
    idempotency::create(state.db.clone(), bearer, key, fingerprint, create).await
}

fn first_reply(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.settings.complaint_first_reply).unwrap_or(chrono::Duration::hours(48))
}

/// List the caller's stores' complaints in opening order; `due=soon` or `due=breached` shows those whose first
/// reply is due within 6 hours or overdue.
#[utoipa::path(
    tag = "complaints", operation_id = "list_complaints", params(ComplaintQuery),
    responses((status = 200, body = ComplaintList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/complaints")]
pub async fn list_complaints(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: ApiQuery<ComplaintQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse(COMPLAINTS, query.limit, query.cursor.as_deref())?;
    let filter = ComplaintFilter {
        store_id: query.store_id,
        state: query.state,
        due: query.due,
    };
    answer(move || service::list(&state.db, &bearer, &filter, page, crate::now())).await
}

/// Read a complaint with its clock, timeline and remedies.
#[utoipa::path(
    tag = "complaints", operation_id = "get_complaint", params(("complaint_id" = Uuid, Path)),
    responses((status = 200, body = Complaint), ReadErrors),
    security(("bearer" = []))
)]
#[get("/complaints/{complaint_id}")]
pub async fn get_complaint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id, crate::now())).await
}

/// Take the complaint: open (or reopened) → acknowledged. The first staff member to act on an open complaint
/// becomes its owner (first-contact responsibility); of two at once, the second is told `complaint_state` (409).
#[utoipa::path(
    tag = "complaints", operation_id = "acknowledge_complaint", params(("complaint_id" = Uuid, Path)),
    responses((status = 200, body = Complaint), WriteErrors),
    security(("bearer" = []))
)]
#[post("/complaints/{complaint_id}/acknowledge")]
pub async fn acknowledge_complaint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::acknowledge(&state.db, &bearer, id, crate::now())).await
}

/// Send the customer a message (kept on the timeline). The first one is the first reply that stops the clock; on an
/// open complaint it also acknowledges it, the caller becoming its owner. Refused (409 `complaint_state`) once
/// resolved or closed.
#[utoipa::path(
    tag = "complaints", operation_id = "reply_to_complaint", params(("complaint_id" = Uuid, Path)),
    request_body = ReplyToComplaint, responses((status = 200, body = Complaint), WriteErrors),
    security(("bearer" = []))
)]
#[post("/complaints/{complaint_id}/replies")]
pub async fn reply_to_complaint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<ReplyToComplaint>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let message = rules::text(&body.value.message, MAX_TEXT).map_err(|e| AppError::field("message", e))?;
    answer(move || service::reply(&state.db, &bearer, id, &message, crate::now())).await
}

/// Acknowledged (or reopened) → resolved, with what was done; counts as the first reply when none was sent.
#[utoipa::path(
    tag = "complaints", operation_id = "resolve_complaint", params(("complaint_id" = Uuid, Path)),
    request_body = ResolveComplaint, responses((status = 200, body = Complaint), WriteErrors),
    security(("bearer" = []))
)]
#[post("/complaints/{complaint_id}/resolve")]
pub async fn resolve_complaint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<ResolveComplaint>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let resolution = rules::text(&body.value.resolution, MAX_TEXT).map_err(|e| AppError::field("resolution", e))?;
    answer(move || service::resolve(&state.db, &bearer, id, &resolution, crate::now())).await
}

/// Resolved → closed.
#[utoipa::path(
    tag = "complaints", operation_id = "close_complaint", params(("complaint_id" = Uuid, Path)),
    request_body(content = Option<ComplaintNote>, description = "Optional note for the timeline"),
    responses((status = 200, body = Complaint), WriteErrors),
    security(("bearer" = []))
)]
#[post("/complaints/{complaint_id}/close")]
pub async fn close_complaint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: Option<ApiJson<ComplaintNote>>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let note = timeline_note(body.as_ref())?;
    answer(move || service::close(&state.db, &bearer, id, note.as_deref(), crate::now())).await
}

/// Resolved or closed → reopened (staff may at any time); the owner stays.
#[utoipa::path(
    tag = "complaints", operation_id = "reopen_complaint", params(("complaint_id" = Uuid, Path)),
    request_body(content = Option<ComplaintNote>, description = "Optional note for the timeline"),
    responses((status = 200, body = Complaint), WriteErrors),
    security(("bearer" = []))
)]
#[post("/complaints/{complaint_id}/reopen")]
pub async fn reopen_complaint(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: Option<ApiJson<ComplaintNote>>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let note = timeline_note(body.as_ref())?;
    answer(move || service::reopen(&state.db, &bearer, id, note.as_deref(), crate::now())).await
}

/// Record a goodwill remedy (a charge waived, warranty days added, compensation), approved by the caller: admins
/// only, as a manager's decision (store staff: 403). Recorded with who approved it and when. A closed complaint is
/// settled: 409 `complaint_closed` (reopen it first).
#[utoipa::path(
    tag = "complaints", operation_id = "record_complaint_remedy", params(("complaint_id" = Uuid, Path)),
    request_body = RecordRemedy, responses((status = 200, body = Complaint), WriteErrors),
    security(("bearer" = []))
)]
#[post("/complaints/{complaint_id}/remedies")]
pub async fn record_complaint_remedy(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<RecordRemedy>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let remedy = body.value.parse()?;
    answer(move || service::record_remedy(&state.db, &bearer, id, &remedy, crate::now())).await
}

/// The customer files a complaint about their repair from the tracking link. No key; every write through a link
/// is limited per token and per client address (429).
#[utoipa::path(
    tag = "public", operation_id = "file_complaint",
    params(
        ("token" = String, Path, description = "From the customer's link"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe filing: the same key and body through the same link answer with the complaint the first request filed, as it is now."),
    ),
    request_body = FileComplaint,
    responses(
        (status = 201, body = PublicComplaint),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The Idempotency-Key was used with another body (`idempotency_key_reused`)"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed token or body"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No repair has this token"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Too many writes through this link or from this client, or too many failed look-ups; retry later"),
        (status = 500, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[post("/public/tracking/{token}/complaints")]
pub async fn file_complaint(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    key: IdempotencyKey,
    body: ApiJson<FileComplaint>,
) -> AppResult<HttpResponse> {
    let token = path.into_inner();
    let (hash, client) = admit_link_write(&state, &req, &token)?;
    let request = key.0.map(|key| LinkRequest {
        key,
        fingerprint: idempotency::fingerprint("POST /public/tracking/{token}/complaints", &body.raw),
    });
    let input = body.value;
    let mut checks = Vec::new();
    let text = checked(&mut checks, "text", &input.text, MAX_TEXT);
    finish(checks)?;
    let new = NewComplaint {
        target: Target::Ticket(Uuid::nil()),
        category: input.category,
        text,
        contact_preference: input.contact_preference,
        channel: ComplaintChannel::Link,
    };
    let first_reply = first_reply(&state);
    let db = state.db.clone();
    let filed =
        web::block(move || service::open_through_link(&db, &hash, &new, request.as_ref(), crate::now(), first_reply))
            .await??;
    match filed {
        service::Filed::Created(complaint) => Ok(HttpResponse::Created()
            .insert_header(("Cache-Control", "no-store"))
            .json(complaint)),
        service::Filed::Replayed(complaint) => Ok(HttpResponse::Created()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Idempotent-Replayed", "true"))
            .json(complaint)),
        service::Filed::UnknownToken => Err(unknown_token(&state, client)),
    }
}

/// The customer reopens a complaint about their repair from the link, within 14 days of its resolution (after:
/// 409 `reopen_window_passed`).
#[utoipa::path(
    tag = "public", operation_id = "reopen_complaint_through_link",
    params(("token" = String, Path, description = "From the customer's link"), ("complaint_id" = Uuid, Path)),
    request_body(content = Option<ComplaintNote>, description = "Optional note: why it is not settled"),
    responses(
        (status = 200, body = PublicComplaint),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed token or body"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No repair has this token, or the complaint is not this repair's"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Not resolved or closed, or resolved too long ago"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Too many writes through this link or from this client, or too many failed look-ups; retry later"),
        (status = 500, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[post("/public/tracking/{token}/complaints/{complaint_id}/reopen")]
pub async fn reopen_complaint_through_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, Uuid)>,
    body: Option<ApiJson<ComplaintNote>>,
) -> AppResult<HttpResponse> {
    let (token, id) = path.into_inner();
    let (hash, client) = admit_link_write(&state, &req, &token)?;
    let note = timeline_note(body.as_ref())?;
    let db = state.db.clone();
    let reopened =
        web::block(move || service::reopen_through_link(&db, &hash, id, note.as_deref(), crate::now())).await??;
    match reopened {
        Some(complaint) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(complaint)),
        None => Err(unknown_token(&state, client)),
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(
        open_complaint,
        list_complaints,
        get_complaint,
        acknowledge_complaint,
        reply_to_complaint,
        resolve_complaint,
        close_complaint,
        reopen_complaint,
        record_complaint_remedy,
        file_complaint,
        reopen_complaint_through_link,
    ),
    components(schemas(DueFilter))
)]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(open_complaint)
        .service(list_complaints)
        .service(get_complaint)
        .service(acknowledge_complaint)
        .service(reply_to_complaint)
        .service(resolve_complaint)
        .service(close_complaint)
        .service(reopen_complaint)
        .service(record_complaint_remedy)
        .service(file_complaint)
        .service(reopen_complaint_through_link);
}
