//! Files over HTTP: uploads (multipart or a raw body, streamed to a spool file and refused past the limit),
//! lists, metadata, downloads, visibility, deletion, and signed links that open a file without a key.

use std::io::Write;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{FileOut, FileStage, LoanFileStage, Owner, TicketFileStage, Visibility};
use super::rules::LinkVariant;
use super::service::{self, FileLink, Files, Spooled, Upload};
use crate::auth::Bearer;
use crate::error::{AppError, AppResult, ReadErrors, WriteErrors};
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::pagination::PageRequest;
use crate::http::{ApiJson, ApiQuery, answer};
use crate::state::AppState;

/// A file's bytes (JPEG, PNG, WebP or PDF; the type is judged from the bytes).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(#[allow(dead_code)] Vec<u8>);

/// A ticket's photo or file as a `multipart/form-data` upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TicketFileUpload {
    /// The file: JPEG, PNG, WebP or PDF (judged from the bytes; a part `Content-Type` that disagrees is refused).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    pub stage: TicketFileStage,
    /// `internal` when absent.
    pub visibility: Option<Visibility>,
}

/// A loan's photo or file as a `multipart/form-data` upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoanFileUpload {
    /// The file: JPEG, PNG, WebP or PDF (judged from the bytes; a part `Content-Type` that disagrees is refused).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    pub stage: LoanFileStage,
    /// `internal` when absent.
    pub visibility: Option<Visibility>,
}

/// With a raw body, the stage and visibility (a multipart upload may give them as form fields instead).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketUploadQuery {
    /// Required with a raw body.
    pub stage: Option<TicketFileStage>,
    /// `internal` when absent.
    pub visibility: Option<Visibility>,
    /// The file's name, for people (a multipart part's filename takes this place).
    #[param(min_length = 1, max_length = 255)]
    pub file_name: Option<String>,
}

/// With a raw body, the stage and visibility (a multipart upload may give them as form fields instead).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoanUploadQuery {
    /// Required with a raw body.
    pub stage: Option<LoanFileStage>,
    /// `internal` when absent.
    pub visibility: Option<Visibility>,
    /// The file's name, for people (a multipart part's filename takes this place).
    #[param(min_length = 1, max_length = 255)]
    pub file_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileList {
    pub items: Vec<FileOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFile {
    pub visibility: Visibility,
}

/// Shortest and longest life of a signed link, in seconds.
pub const LINK_TTL_MIN: i64 = 60;
pub const LINK_TTL_MAX: i64 = 86_400;
const LINK_TTL_DEFAULT: i64 = 900;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFileLink {
    /// What the link opens; `content` when absent.
    pub variant: Option<LinkVariant>,
    /// How long the link works, in seconds (default 900).
    #[schema(minimum = 60, maximum = 86400)]
    pub ttl_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PublicFileQuery {
    /// `content` when absent.
    pub variant: Option<LinkVariant>,
    /// Unix seconds after which the link no longer works.
    pub expires: i64,
    /// The link's signature.
    #[param(pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)]
    pub sig: String,
}

/// Bytes allowed beside the file in a multipart body (boundaries, part headers, the small fields).
const MULTIPART_OVERHEAD: u64 = 16 * 1024;
/// Longest small form field (stage, visibility), in bytes.
const FIELD_LIMIT: usize = 64;
/// Most parts a multipart upload may have.
const MAX_PARTS: usize = 8;

fn internal(what: &'static str) -> impl Fn(std::io::Error) -> AppError {
    move |e| AppError::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// Bytes gathered from the body before one write to the spool file: each write is a trip to the blocking pool,
/// so it is made per batch rather than per chunk.
const SPOOL_BATCH: usize = 256 * 1024;

/// Streams `body` into a new spool file, counting; past `limit` bytes the upload is refused (413). The file is
/// made and written on the blocking pool, never on the async worker, and put in `spooled` as soon as it exists,
/// so that the caller removes it (off the worker too) whatever happens next.
async fn spool<S, E>(files: &Files, mut body: S, limit: u64, spooled: &mut Option<Spooled>) -> AppResult<u64>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let making = files.clone();
    let (made, mut file) = web::block(move || making.spool_file())
        .await?
        .map_err(internal("creating a spool file"))?;
    *spooled = Some(made);
    let mut size = 0u64;
    let mut batch = Vec::with_capacity(SPOOL_BATCH);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| AppError::bad_request("unreadable_body", format!("the body broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(AppError::PayloadTooLarge(limit as usize));
        }
        batch.extend_from_slice(&chunk);
        if batch.len() >= SPOOL_BATCH {
            (file, batch) = write_batch(file, batch).await?;
        }
    }
    if !batch.is_empty() {
        write_batch(file, batch).await?;
    }
    Ok(size)
}

/// Appends `batch` to a spool file on the blocking pool; hands both back, the batch emptied for reuse.
async fn write_batch(mut file: std::fs::File, mut batch: Vec<u8>) -> AppResult<(std::fs::File, Vec<u8>)> {
    web::block(move || {
        file.write_all(&batch)?;
        batch.clear();
        Ok((file, batch))
    })
    .await?
    .map_err(internal("writing a spool file"))
}

/// Removes a refused upload's spool file on the blocking pool (dropping it removes it).
async fn discard(spooled: Option<Spooled>) {
    if let Some(spooled) = spooled {
        // Should the pool not take it, the closure and the file in it are dropped here all the same.
        let _ = web::block(move || drop(spooled)).await;
    }
}

async fn small_field<S, E>(mut field: S, name: &'static str) -> AppResult<String>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut text = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| AppError::bad_request("malformed_multipart", e.to_string()))?;
        if text.len() + chunk.len() > FIELD_LIMIT {
            return Err(AppError::field(name, "too long"));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text)
        .map(|t| t.trim().to_owned())
        .map_err(|_| AppError::field(name, "not UTF-8 text"))
}

/// A file name for people: the last path segment, without control characters, at most 255 characters.
fn clean_file_name(name: &str, field: &'static str) -> AppResult<Option<String>> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if last.is_empty() {
        return Ok(None);
    }
    if last.chars().any(char::is_control) {
        return Err(AppError::field(field, "must not contain control characters"));
    }
    if last.chars().count() > 255 {
        return Err(AppError::field(field, "at most 255 characters"));
    }
    Ok(Some(last.to_owned()))
}

/// Stage, visibility and file name as the query gave them.
struct Given {
    stage: Option<FileStage>,
    visibility: Option<Visibility>,
    file_name: Option<String>,
}

fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// The shared upload: checks the caller and the owner before reading the body, then spools it and stores it.
async fn upload(
    state: web::Data<AppState>,
    bearer: Bearer,
    key: IdempotencyKey,
    owner: Owner,
    given: Given,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let checked = state.clone();
    let bearer = web::block(move || service::check_owner(&checked.db, &bearer, owner).map(|()| bearer)).await??;
    let files = state.files.clone();
    // The spool file stays here until the upload is whole, so that a refusal removes it off the worker too.
    let mut spooled = None;
    let upload = match read_upload(&files, owner, given, &req, payload, &mut spooled, &mut Vec::new()).await {
        Ok(upload) => upload,
        Err(refused) => {
            discard(spooled).await;
            return Err(refused);
        }
    };
    let stored = web::block(move || service::store_upload(&files, upload)).await??;
    let route = match owner {
        Owner::Ticket(_) => "POST /tickets/{ticket_id}/files",
        Owner::Loan(_) => "POST /loans/{loan_id}/files",
    };
    let fingerprint = idempotency::fingerprint(route, stored.fingerprint_text().as_bytes());
    idempotency::create(state.db.clone(), bearer, key, fingerprint, move |conn, principal| {
        service::record(conn, principal, &stored)
    })
    .await
}

/// A file uploaded through a console form (`multipart/form-data` with `file`, `stage` and the form's own small
/// fields named in `extra`, e.g. its CSRF and one-time tokens): judged, cleaned and put in the store as the API's
/// upload does, with the same limits, and the extra fields as given. `accept` sees the extra fields first (the CSRF
/// check): what it refuses never reaches the store. The caller records the upload ([`service::record`]); the spool
/// file is removed whatever happens.
pub async fn upload_from_form(
    state: &web::Data<AppState>,
    owner: Owner,
    req: &HttpRequest,
    payload: web::Payload,
    extra: &[&str],
    accept: impl FnOnce(&[(String, String)]) -> AppResult<()>,
) -> AppResult<(service::Stored, Vec<(String, String)>)> {
    let files = state.files.clone();
    let given = Given {
        stage: None,
        visibility: None,
        file_name: None,
    };
    let mut spooled = None;
    let mut fields: Vec<(String, String)> = extra.iter().map(|n| ((*n).to_owned(), String::new())).collect();
    let upload = match read_upload(&files, owner, given, req, payload, &mut spooled, &mut fields).await {
        Ok(upload) => upload,
        Err(refused) => {
            discard(spooled).await;
            return Err(refused);
        }
    };
    if let Err(refused) = accept(&fields) {
        discard(spooled).await;
        return Err(refused);
    }
    let stored = web::block(move || service::store_upload(&files, upload)).await??;
    Ok((stored, fields))
}

/// Reads the upload, a multipart form or a raw body, and spools its file into `spooled`. A multipart form may carry
/// the small fields named in `extra` (their values are filled in).
async fn read_upload(
    files: &Files,
    owner: Owner,
    given: Given,
    req: &HttpRequest,
    payload: web::Payload,
    spooled: &mut Option<Spooled>,
    extra: &mut [(String, String)],
) -> AppResult<Upload> {
    let limit = files.max_upload_bytes;
    let multipart = is_multipart(req);
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let allowance = if multipart { limit + MULTIPART_OVERHEAD } else { limit };
    if declared_length.is_some_and(|n| n > allowance) {
        return Err(AppError::PayloadTooLarge(limit as usize));
    }
    let parse_stage = |text: &str| match owner {
        Owner::Ticket(_) => FileStage::of_ticket(text)
            .ok_or_else(|| AppError::field("stage", "one of intake, diagnosis, repair, quality_check")),
        Owner::Loan(_) => FileStage::of_loan(text).ok_or_else(|| AppError::field("stage", "one of handover, return")),
    };
    let (stage, visibility, file_name, declared) = if multipart {
        let mut form = Multipart::new(req.headers(), payload);
        let mut stage = None;
        let mut visibility = None;
        let mut part_name = None;
        let mut declared = None;
        let mut parts = 0;
        while let Some(field) = form.next().await {
            let mut field = field.map_err(|e| AppError::bad_request("malformed_multipart", e.to_string()))?;
            parts += 1;
            if parts > MAX_PARTS {
                return Err(AppError::bad_request(
                    "malformed_multipart",
                    "too many parts; the form has file, stage and visibility",
                ));
            }
            let name = field.name().unwrap_or_default().to_owned();
            match name.as_str() {
                "file" if spooled.is_some() => return Err(AppError::field("file", "give one file per upload")),
                "file" => {
                    part_name = match field.content_disposition().and_then(|cd| cd.get_filename()) {
                        Some(n) => clean_file_name(n, "file")?,
                        None => None,
                    };
                    declared = field.content_type().map(|m| (m.essence_str().to_owned(), "file"));
                    spool(files, &mut field, limit, spooled).await?;
                }
                "stage" => stage = Some(small_field(&mut field, "stage").await?),
                "visibility" => visibility = Some(small_field(&mut field, "visibility").await?),
                other if extra.iter().any(|(n, _)| n == other) => {
                    let value = small_field(&mut field, "form").await?;
                    if let Some(slot) = extra.iter_mut().find(|(n, _)| n == other) {
                        slot.1 = value;
                    }
                }
                _ => {
                    return Err(AppError::field(
                        "form",
                        format!("unknown part {name:?}; the form has file, stage and visibility"),
                    ));
                }
            }
        }
        if spooled.is_none() {
            return Err(AppError::field("file", "the form has no file part"));
        }
        let stage = match (stage, given.stage) {
            (Some(_), Some(_)) => {
                return Err(AppError::field(
                    "stage",
                    "give it once: as a form field or in the query",
                ));
            }
            (Some(text), None) => parse_stage(&text)?,
            (None, Some(stage)) => stage,
            (None, None) => return Err(AppError::field("stage", "required")),
        };
        let visibility = match (visibility, given.visibility) {
            (Some(_), Some(_)) => {
                return Err(AppError::field(
                    "visibility",
                    "give it once: as a form field or in the query",
                ));
            }
            (Some(text), None) => Visibility::parse(&text)
                .ok_or_else(|| AppError::field("visibility", "one of internal, customer_visible"))?,
            (None, given) => given.unwrap_or_default(),
        };
        (stage, visibility, part_name.or(given.file_name), declared)
    } else {
        let stage = given.stage.ok_or_else(|| AppError::field("stage", "required"))?;
        let declared = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| {
                v.to_str()
                    .map(|d| (d.to_owned(), "content_type"))
                    .map_err(|_| AppError::field("content_type", "not readable"))
            })
            .transpose()?;
        spool(files, payload, limit, spooled).await?;
        (stage, given.visibility.unwrap_or_default(), given.file_name, declared)
    };
    let spooled = spooled
        .take()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("an upload without its spool file")))?;
    Ok(Upload {
        owner,
        stage,
        visibility,
        file_name,
        declared,
        spooled,
    })
}

fn query_file_name(name: Option<String>) -> AppResult<Option<String>> {
    match name {
        Some(n) if n.is_empty() || n.chars().count() > 255 => Err(AppError::field("file_name", "1 to 255 characters")),
        Some(n) => clean_file_name(&n, "file_name"),
        None => Ok(None),
    }
}

/// Writes an upload handler: a multipart form or a raw body, with the owner's stages in the form or the query.
macro_rules! upload_endpoint {
    (
        $(#[doc = $doc:literal])*
        $name:ident, $route:literal, $param:literal, $owner:ident, $query:ty, $form:ty $(,)?
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            tag = "files", operation_id = stringify!($name), params(($param = Uuid, Path), $query,
                ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation: the same key and the same upload replay the first response.")),
            request_body(
                description = "A multipart form, or the file's bytes as the body (`application/octet-stream`; the file's \
own type, e.g. `image/jpeg`, is accepted too when it agrees with the bytes).",
                content(
                    ($form = "multipart/form-data"),
                    (FileBytes = "application/octet-stream"),
                )
            ),
            responses((status = 201, body = FileOut, description = "Stored."), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($route)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            key: IdempotencyKey,
            path: web::Path<Uuid>,
            query: ApiQuery<$query>,
            req: HttpRequest,
            payload: web::Payload,
        ) -> AppResult<HttpResponse> {
            let ApiQuery(query) = query;
            let given = Given {
                stage: query.stage.map(FileStage::from),
                visibility: query.visibility,
                file_name: query_file_name(query.file_name)?,
            };
            upload(state, bearer, key, Owner::$owner(path.into_inner()), given, req, payload).await
        }
    };
}

upload_endpoint!(
    /// Attach a photo or file to a ticket (admins; store staff in their stores): `multipart/form-data` with a `file`
    /// part and `stage` (and `visibility`) fields, or the bytes as the body with `stage` (and `visibility`) in the
    /// query. JPEG, PNG, WebP or PDF, judged from the bytes, never the name; a declared type that disagrees is refused
    /// (400 naming it). Past the upload limit (10 MB by default): 413, nothing stored. Photos lose their metadata
    /// (EXIF, XMP: location included) before they are hashed and stored, and get a thumbnail; identical bytes are
    /// stored once. Writes a `file.attached` event.
    upload_ticket_file, "/tickets/{ticket_id}/files", "ticket_id", Ticket, TicketUploadQuery, TicketFileUpload
);

upload_endpoint!(
    /// Attach a photo or file to a loan: the loaner's condition at hand-over or return (admins; store staff in their
    /// stores). As `upload_ticket_file`, with the stages `handover` and `return`.
    upload_loan_file, "/loans/{loan_id}/files", "loan_id", Loan, LoanUploadQuery, LoanFileUpload
);

/// List a ticket's files, oldest first (admins; store staff in their stores).
#[utoipa::path(
    tag = "files", operation_id = "list_ticket_files", params(("ticket_id" = Uuid, Path), FileListQuery),
    responses((status = 200, body = FileList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/tickets/{ticket_id}/files")]
pub async fn list_ticket_files(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    query: ApiQuery<FileListQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/tickets/{ticket_id}/files", query.limit, query.cursor.as_deref())?;
    let owner = Owner::Ticket(path.into_inner());
    let (items, next_cursor) = web::block(move || service::list(&state.db, &bearer, owner, page)).await??;
    Ok(HttpResponse::Ok().json(FileList { items, next_cursor }))
}

/// List a loan's files, oldest first (admins; store staff in their stores).
#[utoipa::path(
    tag = "files", operation_id = "list_loan_files", params(("loan_id" = Uuid, Path), FileListQuery),
    responses((status = 200, body = FileList), ReadErrors),
    security(("bearer" = []))
)]
#[get("/loans/{loan_id}/files")]
pub async fn list_loan_files(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    query: ApiQuery<FileListQuery>,
) -> AppResult<HttpResponse> {
    let ApiQuery(query) = query;
    let page = PageRequest::parse("/loans/{loan_id}/files", query.limit, query.cursor.as_deref())?;
    let owner = Owner::Loan(path.into_inner());
    let (items, next_cursor) = web::block(move || service::list(&state.db, &bearer, owner, page)).await??;
    Ok(HttpResponse::Ok().json(FileList { items, next_cursor }))
}

/// Read a file's record (admins; store staff in their stores).
#[utoipa::path(
    tag = "files", operation_id = "get_file", params(("file_id" = Uuid, Path)),
    responses((status = 200, body = FileOut), ReadErrors),
    security(("bearer" = []))
)]
#[get("/files/{file_id}")]
pub async fn get_file(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    answer(move || service::get(&state.db, &bearer, id)).await
}

fn bytes_response(download: service::Download) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(download.content_type)
        .insert_header((header::ETAG, format!("\"{}\"", download.sha256)))
        // A PDF or picture opened from here runs nothing and reaches nothing.
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((header::CONTENT_DISPOSITION, "inline"))
        .body(download.bytes)
}

/// Download a file's bytes as stored (photos without their metadata) (admins; store staff in their stores).
#[utoipa::path(
    tag = "files", operation_id = "download_file", params(("file_id" = Uuid, Path)),
    responses((status = 200, description = "The file's bytes, as their type.", content(
        (FileBytes = "image/jpeg"), (FileBytes = "image/png"), (FileBytes = "image/webp"), (FileBytes = "application/pdf"),
    )), ReadErrors),
    security(("bearer" = []))
)]
#[get("/files/{file_id}/content")]
pub async fn download_file(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let files = state.files.clone();
    let download =
        web::block(move || service::download(&state.db, &bearer, &files, id, LinkVariant::Content)).await??;
    Ok(bytes_response(download))
}

/// Download an image's thumbnail: a PNG at most 320 pixels on its longer edge (404 for a PDF).
#[utoipa::path(
    tag = "files", operation_id = "download_file_thumbnail", params(("file_id" = Uuid, Path)),
    responses((status = 200, description = "The thumbnail.", content_type = "image/png", body = FileBytes), ReadErrors),
    security(("bearer" = []))
)]
#[get("/files/{file_id}/thumbnail")]
pub async fn download_file_thumbnail(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let files = state.files.clone();
    let download =
        web::block(move || service::download(&state.db, &bearer, &files, id, LinkVariant::Thumbnail)).await??;
    Ok(bytes_response(download))
}

/// Change who may see a file: `internal` (staff) or `customer_visible` (the tracking link shows it too).
#[utoipa::path(
    tag = "files", operation_id = "update_file", params(("file_id" = Uuid, Path)), request_body = UpdateFile,
    responses((status = 200, body = FileOut), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/files/{file_id}")]
pub async fn update_file(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<UpdateFile>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let visibility = body.value.visibility;
    answer(move || service::set_visibility(&state.db, &bearer, id, visibility)).await
}

/// Delete a file from its ticket or loan. The record is kept (marked deleted) and the bytes stay while any file
/// shares them; the file is no longer listed, served, or opened by its links.
#[utoipa::path(
    tag = "files", operation_id = "delete_file", params(("file_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted."), WriteErrors),
    security(("bearer" = []))
)]
#[delete("/files/{file_id}")]
pub async fn delete_file(state: web::Data<AppState>, bearer: Bearer, path: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    web::block(move || service::delete(&state.db, &bearer, id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// A short-lived signed link to a file or its thumbnail that works without a key until it expires (for a
/// customer, a courier, a browser).
#[utoipa::path(
    tag = "files", operation_id = "create_file_link", params(("file_id" = Uuid, Path)), request_body = CreateFileLink,
    responses((status = 200, body = FileLink), WriteErrors),
    security(("bearer" = []))
)]
#[post("/files/{file_id}/links")]
pub async fn create_file_link(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<Uuid>,
    body: ApiJson<CreateFileLink>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let ttl = body.value.ttl_seconds.unwrap_or(LINK_TTL_DEFAULT);
    if !(LINK_TTL_MIN..=LINK_TTL_MAX).contains(&ttl) {
        return Err(AppError::field(
            "ttl_seconds",
            format!("between {LINK_TTL_MIN} and {LINK_TTL_MAX}"),
        ));
    }
    let variant = body.value.variant.unwrap_or(LinkVariant::Content);
    let files = state.files.clone();
    answer(move || {
        service::link(
            &state.db,
            &bearer,
            &files,
            id,
            variant,
            std::time::Duration::from_secs(ttl as u64),
        )
    })
    .await
}

/// Open a file through a signed link, without a key. An expired or altered link, or a deleted file: 404.
#[utoipa::path(
    tag = "public", operation_id = "get_public_file", params(("file_id" = Uuid, Path), PublicFileQuery),
    responses(
        (status = 200, description = "The file's bytes (or its PNG thumbnail), as their type.", content(
            (FileBytes = "image/jpeg"), (FileBytes = "image/png"), (FileBytes = "image/webp"),
            (FileBytes = "application/pdf"),
        )),
        (status = 400, description = "A malformed parameter.", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such link, or it expired.", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 500, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, body = crate::error::Problem, content_type = "application/problem+json",
            description = "The database or the file store is unavailable; retry shortly."),
    ),
    security(())
)]
#[get("/public/files/{file_id}")]
pub async fn get_public_file(
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: ApiQuery<PublicFileQuery>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let ApiQuery(query) = query;
    let variant = query.variant.unwrap_or(LinkVariant::Content);
    let files = state.files.clone();
    let download =
        web::block(move || service::public_download(&state.db, &files, id, variant, query.expires, &query.sig))
            .await??;
    Ok(bytes_response(download))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        upload_ticket_file,
        upload_loan_file,
        list_ticket_files,
        list_loan_files,
        get_file,
        download_file,
        download_file_thumbnail,
        update_file,
        delete_file,
        create_file_link,
        get_public_file,
    ),
    components(schemas(FileBytes))
)]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(upload_ticket_file)
        .service(upload_loan_file)
        .service(list_ticket_files)
        .service(list_loan_files)
        .service(get_file)
        .service(download_file)
        .service(download_file_thumbnail)
        .service(update_file)
        .service(delete_file)
        .service(create_file_link)
        .service(get_public_file);
}
