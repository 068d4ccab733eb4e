//! The files' use cases. An upload arrives spooled to a temporary file (the handler streamed it there, counting and
//! refusing past the limit); here its type is judged from the bytes, a photo loses its metadata and gets a
//! thumbnail, the bytes go to the store under their SHA-256, and one transaction records the blob (once per
//! content), the attachment and its `file.attached` event.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{AttachmentRow, BlobRow, CustomerFile, FileOut, FileStage, FileType, Owner, Visibility};
use super::repo;
use super::rules::{self, Declared, LinkVariant, PhotoError};
use super::store::{self, DirStore, FileStore, S3Settings, S3Store};
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::{Id, Ts};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::events::{EventType, NewEvent, Subject, emit_in};
use crate::http::pagination::PageRequest;

/// Files settings, from flags and environment.
#[derive(Debug, Clone)]
pub struct FilesSettings {
    /// Largest upload accepted, in bytes (413 past it).
    pub max_upload_bytes: u64,
    /// The directory store's root; `None`: `files` beside the SQLite file, or `depot-files` in the working
    /// directory on PostgreSQL (several instances need a shared directory or the S3 store).
    pub dir: Option<PathBuf>,
    /// An S3-compatible bucket instead of the directory.
    pub s3: Option<S3Settings>,
    /// How long the tracking link's photo links stay valid.
    pub customer_link_ttl: Duration,
}

pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

impl Default for FilesSettings {
    fn default() -> Self {
        FilesSettings {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            dir: None,
            s3: None,
            customer_link_ttl: Duration::from_secs(15 * 60),
        }
    }
}

/// The file store and where uploads are spooled, shared by the handlers.
#[derive(Clone)]
pub struct Files {
    pub store: Arc<dyn FileStore>,
    /// Where uploads are written while they arrive (created when first needed).
    pub spool: PathBuf,
    pub max_upload_bytes: u64,
    /// The key that signs download links (the same on every instance: kept in the database).
    link_key: Arc<Vec<u8>>,
}

impl Files {
    /// Opens the configured store and loads (or makes, on the first start) the link-signing key.
    pub fn open(settings: &FilesSettings, database_url: &str, db: &Db) -> anyhow::Result<Files> {
        let (store, spool): (Arc<dyn FileStore>, PathBuf) = match &settings.s3 {
            Some(s3) => (Arc::new(S3Store::open(s3)?), std::env::temp_dir().join("depot-uploads")),
            None => {
                let dir = settings.dir.clone().unwrap_or_else(|| default_dir(database_url));
                (Arc::new(DirStore::open(&dir)), dir.join(".incoming"))
            }
        };
        let key = ensure_link_key(db).map_err(|e| anyhow::anyhow!("making the file link key: {e}"))?;
        Ok(Files {
            store,
            spool,
            max_upload_bytes: settings.max_upload_bytes,
            link_key: Arc::new(key),
        })
    }

    /// A new spool file, open for writing (the directory is made if missing). Blocking: run it off the async
    /// workers.
    pub fn spool_file(&self) -> std::io::Result<(Spooled, std::fs::File)> {
        std::fs::create_dir_all(&self.spool)?;
        let spooled = Spooled(self.spool.join(format!("upload-{}", Uuid::new_v4().simple())));
        let file = std::fs::File::create(&spooled.0)?;
        Ok((spooled, file))
    }
}

/// `files` beside the SQLite file; `depot-files` in the working directory on PostgreSQL.
pub fn default_dir(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"));
    match file {
        Some(path) => Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.join("files"))
            .unwrap_or_else(|| PathBuf::from("files")),
        None => PathBuf::from("depot-files"),
    }
}

fn ensure_link_key(db: &Db) -> AppResult<Vec<u8>> {
    let existing = db.read(repo::link_key)?;
    let text = match existing {
        Some(text) => text,
        None => {
            let mut bytes = [0u8; 32];
            rand::Rng::fill(&mut rand::rng(), &mut bytes);
            db.write(|conn| repo::insert_link_key(conn, &rules::hex(&bytes), Ts(crate::now())))?;
            db.read(repo::link_key)?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the link key was not kept")))?
        }
    };
    Ok(text.into_bytes())
}

/// Who may handle files: admins, and store staff in their stores.
fn require_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// The owner's store, when it exists and is in the caller's scope (404 otherwise: no existence leaks).
pub fn owner_store(conn: &mut Conn<'_>, principal: &Principal, owner: Owner) -> AppResult<Id> {
    require_role(principal)?;
    let (store, what) = match owner {
        Owner::Ticket(id) => (repo::ticket_store(conn, Id(id))?, "ticket"),
        Owner::Loan(id) => (repo::loan_store(conn, Id(id))?, "loan"),
    };
    match store {
        Some(store) if repo::covers(principal, store) => Ok(store),
        _ => Err(AppError::NotFound(what)),
    }
}

/// Checks before the body is read: the key, the role and the owner's scope.
pub fn check_owner(db: &Db, bearer: &Bearer, owner: Owner) -> AppResult<()> {
    bearer.read(db, |conn, principal| owner_store(conn, principal, owner).map(|_| ()))
}

/// An upload as the handler received it.
pub struct Upload {
    pub owner: Owner,
    pub stage: FileStage,
    pub visibility: Visibility,
    pub file_name: Option<String>,
    /// The declared content type and the field that declared it (`content_type` or `file`).
    pub declared: Option<(String, &'static str)>,
    /// Where the body was spooled; removed when the upload is done with.
    pub spooled: Spooled,
}

/// A spool file, removed when dropped (a blocking call: drop it off the async workers where the code can).
pub struct Spooled(pub PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The bytes to store, judged and cleaned.
struct Prepared {
    kind: FileType,
    bytes: Vec<u8>,
    sha256: String,
    thumbnail: Option<Vec<u8>>,
}

fn prepare(upload: &Upload) -> AppResult<Prepared> {
    let raw = std::fs::read(&upload.spooled.0)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("reading a spooled upload: {e}")))?;
    if raw.is_empty() {
        return Err(AppError::field("file", "the file is empty"));
    }
    let kind = rules::detect(&raw).ok_or_else(|| {
        AppError::field(
            "file",
            "unsupported file type: the bytes are not a JPEG, PNG, WebP or PDF (the type is judged from the bytes, \
             never from the name)",
        )
    })?;
    if let Some((declared, field)) = &upload.declared {
        if let Declared::Disagrees(said) = rules::compare_declared(Some(declared), kind) {
            return Err(AppError::field(
                field,
                format!(
                    "declared {said}, but the bytes are a {} ({})",
                    kind.label(),
                    kind.content_type()
                ),
            ));
        }
    }
    let photo_error = |e: PhotoError| match e {
        PhotoError::Unreadable(why) => AppError::field("file", why),
        PhotoError::TooLarge => AppError::field(
            "file",
            format!(
                "the picture is larger than {} pixels on an edge",
                rules::MAX_DECODED_EDGE
            ),
        ),
    };
    let bytes = rules::strip_metadata(kind, raw).map_err(photo_error)?;
    let thumbnail = rules::thumbnail(kind, &bytes).map_err(photo_error)?;
    let sha256 = rules::sha256_hex(&bytes);
    Ok(Prepared {
        kind,
        bytes,
        sha256,
        thumbnail,
    })
}

/// An upload judged, cleaned and stored, ready to be recorded ([`record`]).
pub struct Stored {
    pub owner: Owner,
    pub stage: FileStage,
    pub visibility: Visibility,
    pub file_name: Option<String>,
    prepared: Prepared,
}

impl Stored {
    /// What makes two uploads the same request (for `Idempotency-Key`): where, how, and the bytes' hash.
    pub fn fingerprint_text(&self) -> String {
        format!(
            "{:?}|{}|{}|{}|{}",
            self.owner,
            self.stage.as_str(),
            self.visibility.as_str(),
            self.file_name.as_deref().unwrap_or_default(),
            self.prepared.sha256
        )
    }
}

/// Judges an upload from its bytes, strips a photo's metadata, makes its thumbnail and puts the bytes in the store
/// under their hash. The spool file is removed whatever happens.
pub fn store_upload(files: &Files, upload: Upload) -> AppResult<Stored> {
    let prepared = prepare(&upload)?;
    let unavailable = |e: anyhow::Error| {
        tracing::error!(error = ?e, "the file store failed");
        AppError::Unavailable(format!("the file store failed: {e}"))
    };
    // The bytes first: a row never points at bytes that are not there. Bytes without a row (the transaction
    // failed) are harmless: their key names their content, and a later upload of them finds them in place.
    files
        .store
        .put(
            &store::blob_key(&prepared.sha256),
            &prepared.bytes,
            prepared.kind.content_type(),
        )
        .map_err(unavailable)?;
    if let Some(thumbnail) = &prepared.thumbnail {
        files
            .store
            .put(&store::thumbnail_key(&prepared.sha256), thumbnail, "image/png")
            .map_err(unavailable)?;
    }
    Ok(Stored {
        owner: upload.owner,
        stage: upload.stage,
        visibility: upload.visibility,
        file_name: upload.file_name.clone(),
        prepared,
    })
}

/// Records a stored upload on its ticket or loan, in the caller's transaction: the blob (once per content), the
/// file and its `file.attached` event.
pub fn record(conn: &mut Conn<'_>, principal: &Principal, upload: &Stored) -> AppResult<FileOut> {
    let prepared = &upload.prepared;
    let now = Ts(crate::now());
    let store_id = owner_store(conn, principal, upload.owner)?;
    let blob = BlobRow {
        sha256: prepared.sha256.clone(),
        content_type: prepared.kind.content_type().to_owned(),
        size_bytes: prepared.bytes.len() as i64,
        thumbnail_bytes: prepared.thumbnail.as_ref().map(|t| t.len() as i64),
        created_at: now,
    };
    repo::insert_blob(conn, &blob)?;
    let (ticket_id, loan_id) = match upload.owner {
        Owner::Ticket(id) => (Some(Id(id)), None),
        Owner::Loan(id) => (None, Some(Id(id))),
    };
    let row = AttachmentRow {
        id: Id(Uuid::now_v7()),
        blob_sha256: prepared.sha256.clone(),
        store_id,
        ticket_id,
        loan_id,
        stage: upload.stage.as_str().to_owned(),
        visibility: upload.visibility.as_str().to_owned(),
        file_name: upload.file_name.clone(),
        uploaded_by: Some(Id(principal.key_id)),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    repo::insert_attachment(conn, &row)?;
    let subject = match upload.owner {
        Owner::Ticket(id) => Subject::ticket(id, store_id.0),
        Owner::Loan(id) => Subject::loan(id, store_id.0),
    };
    emit_in(
        conn,
        NewEvent {
            event_type: EventType::FileAttached,
            subject,
            payload: serde_json::json!({
                "file_id": row.id.0,
                "stage": upload.stage.as_str(),
                "visibility": upload.visibility.as_str(),
                "content_type": prepared.kind.content_type(),
                "size_bytes": blob.size_bytes,
                "sha256": blob.sha256,
            }),
            internal: None,
        },
    )?;
    // The blob as stored (an earlier upload of the same bytes may have made it).
    let (row, blob) = repo::find(conn, row.id)?.ok_or(AppError::NotFound("file"))?;
    Ok(FileOut::from_rows(&row, &blob))
}

/// A file in the caller's scope (404 otherwise).
fn find_in_scope(conn: &mut Conn<'_>, principal: &Principal, id: Uuid) -> AppResult<(AttachmentRow, BlobRow)> {
    require_role(principal)?;
    match repo::find(conn, Id(id))? {
        Some((a, b)) if repo::covers(principal, a.store_id) => Ok((a, b)),
        _ => Err(AppError::NotFound("file")),
    }
}

pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<FileOut> {
    bearer.read(db, |conn, principal| {
        let (a, b) = find_in_scope(conn, principal, id)?;
        Ok(FileOut::from_rows(&a, &b))
    })
}

pub fn list(db: &Db, bearer: &Bearer, owner: Owner, page: PageRequest) -> AppResult<(Vec<FileOut>, Option<String>)> {
    bearer.read(db, |conn, principal| {
        owner_store(conn, principal, owner)?;
        let rows = match owner {
            Owner::Ticket(id) => repo::list_of_ticket(conn, Id(id), &page)?,
            Owner::Loan(id) => repo::list_of_loan(conn, Id(id), &page)?,
        };
        let (rows, next) = page.finish(rows, |(a, _)| a.id.0);
        Ok((rows.iter().map(|(a, b)| FileOut::from_rows(a, b)).collect(), next))
    })
}

/// The files of a ticket the caller has in scope already (the console's ticket page reads it with the ticket), oldest
/// first: one query, at most `limit`.
pub fn of_ticket_in(conn: &mut Conn<'_>, ticket: Uuid, limit: i64) -> AppResult<Vec<FileOut>> {
    let page = PageRequest::parse("/files", Some(limit), None)?;
    let rows = repo::list_of_ticket(conn, Id(ticket), &page)?;
    Ok(rows.iter().map(|(a, b)| FileOut::from_rows(a, b)).collect())
}

/// Bytes to send: the type and the bytes.
pub struct Download {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

fn fetch(files: &Files, blob: &BlobRow, variant: LinkVariant) -> AppResult<Download> {
    let (key, content_type) = match variant {
        LinkVariant::Content => (
            store::blob_key(&blob.sha256),
            FileType::parse(&blob.content_type)
                .map(FileType::content_type)
                .unwrap_or("application/octet-stream"),
        ),
        LinkVariant::Thumbnail if blob.thumbnail_bytes.is_some() => (store::thumbnail_key(&blob.sha256), "image/png"),
        LinkVariant::Thumbnail => return Err(AppError::NotFound("thumbnail")),
    };
    let bytes = files
        .store
        .get(&key)
        .map_err(|e| {
            tracing::error!(error = ?e, "the file store failed");
            AppError::Unavailable(format!("the file store failed: {e}"))
        })?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the store has no object {key}")))?;
    Ok(Download {
        content_type,
        bytes,
        sha256: blob.sha256.clone(),
    })
}

pub fn download(db: &Db, bearer: &Bearer, files: &Files, id: Uuid, variant: LinkVariant) -> AppResult<Download> {
    let (_, blob) = bearer.read(db, |conn, principal| find_in_scope(conn, principal, id))?;
    fetch(files, &blob, variant)
}

pub fn set_visibility(db: &Db, bearer: &Bearer, id: Uuid, visibility: Visibility) -> AppResult<FileOut> {
    bearer.write(db, |conn, principal| {
        let (a, _) = find_in_scope(conn, principal, id)?;
        if a.visibility != visibility.as_str() {
            repo::set_visibility(conn, a.id, visibility.as_str(), Ts(crate::now()))?;
        }
        let (a, b) = repo::find(conn, a.id)?.ok_or(AppError::NotFound("file"))?;
        Ok(FileOut::from_rows(&a, &b))
    })
}

pub fn delete(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<()> {
    bearer.write(db, |conn, principal| {
        let (a, _) = find_in_scope(conn, principal, id)?;
        repo::mark_deleted(conn, a.id, Ts(crate::now()))?;
        Ok(())
    })
}

/// A signed download link.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FileLink {
    /// Opens the file without a key until `expires_at`: a path under this server.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The public path of a signed link.
fn signed_path(key: &[u8], id: Uuid, variant: LinkVariant, expires: i64) -> String {
    let sig = rules::link_signature(key, id, variant, expires);
    format!(
        "/api/v1/public/files/{id}?variant={}&expires={expires}&sig={sig}",
        variant.as_str()
    )
}

pub fn link(
    db: &Db,
    bearer: &Bearer,
    files: &Files,
    id: Uuid,
    variant: LinkVariant,
    ttl: Duration,
) -> AppResult<FileLink> {
    let (_, blob) = bearer.read(db, |conn, principal| find_in_scope(conn, principal, id))?;
    if variant == LinkVariant::Thumbnail && blob.thumbnail_bytes.is_none() {
        return Err(AppError::field(
            "variant",
            "this file has no thumbnail (it is not an image)",
        ));
    }
    let expires_at = crate::now() + chrono::Duration::seconds(ttl.as_secs() as i64);
    Ok(FileLink {
        url: signed_path(&files.link_key, id, variant, expires_at.timestamp()),
        expires_at: chrono::DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at),
    })
}

/// A download through a signed link: 404 for a bad signature, an expired link or a deleted file alike.
pub fn public_download(
    db: &Db,
    files: &Files,
    id: Uuid,
    variant: LinkVariant,
    expires: i64,
    sig: &str,
) -> AppResult<Download> {
    if expires < crate::now().timestamp() || !rules::link_signature_valid(&files.link_key, id, variant, expires, sig) {
        return Err(AppError::NotFound("file"));
    }
    let (_, blob) = db
        .read(|conn| repo::find(conn, Id(id)))?
        .ok_or(AppError::NotFound("file"))?;
    fetch(files, &blob, variant)
}

/// Most photos the tracking link shows.
const CUSTOMER_FILES_MAX: i64 = 100;

/// What the tracking link may show of a ticket's files: the customer-visible ones, each with short-lived signed
/// links (15 minutes) to the file and its thumbnail. For the tracking area, which found the ticket by its token.
pub fn customer_visible_of_ticket(conn: &mut Conn<'_>, ticket_id: Uuid) -> AppResult<Vec<CustomerFile>> {
    customer_visible_for(conn, ticket_id, FilesSettings::default().customer_link_ttl)
}

/// As [`customer_visible_of_ticket`], with links valid for `ttl`.
pub fn customer_visible_for(conn: &mut Conn<'_>, ticket_id: Uuid, ttl: Duration) -> AppResult<Vec<CustomerFile>> {
    let rows = repo::customer_visible_of_ticket(conn, Id(ticket_id), CUSTOMER_FILES_MAX)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let key = repo::link_key(conn)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no file link key")))?
        .into_bytes();
    let expires = crate::now().timestamp() + ttl.as_secs() as i64;
    let links_expire_at = DateTime::from_timestamp(expires, 0).unwrap_or_else(crate::now);
    Ok(rows
        .iter()
        .map(|(a, b)| {
            let out = FileOut::from_rows(a, b);
            CustomerFile {
                id: out.id,
                stage: out.stage,
                content_type: out.content_type,
                size_bytes: out.size_bytes,
                created_at: out.created_at,
                url: signed_path(&key, out.id, LinkVariant::Content, expires),
                thumbnail_url: out
                    .has_thumbnail
                    .then(|| signed_path(&key, out.id, LinkVariant::Thumbnail, expires)),
                links_expire_at,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_directory_is_beside_the_sqlite_file() {
        assert_eq!(
            default_dir("sqlite:///var/lib/depot/depot.db"),
            PathBuf::from("/var/lib/depot/files")
        );
        assert_eq!(default_dir("sqlite://depot.db"), PathBuf::from("files"));
        assert_eq!(default_dir("postgres://u@h/db"), PathBuf::from("depot-files"));
    }
}
