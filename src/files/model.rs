//! Files' rows and types: the blob (one per distinct content), the attachment (one use of a blob on a ticket or a
//! loan), the types accepted, the stages and the visibility.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{file_attachments, file_blobs};
use crate::db::types::{Id, Ts};

/// The types accepted, each recognised from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum FileType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
    #[serde(rename = "application/pdf")]
    Pdf,
}

impl FileType {
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Webp => "image/webp",
            FileType::Pdf => "application/pdf",
        }
    }

    pub fn parse(content_type: &str) -> Option<FileType> {
        match content_type {
            "image/jpeg" => Some(FileType::Jpeg),
            "image/png" => Some(FileType::Png),
            "image/webp" => Some(FileType::Webp),
            "application/pdf" => Some(FileType::Pdf),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FileType::Jpeg => "JPEG",
            FileType::Png => "PNG",
            FileType::Webp => "WebP",
            FileType::Pdf => "PDF",
        }
    }

    pub fn is_image(self) -> bool {
        self != FileType::Pdf
    }
}

/// When in a repair a ticket's file was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketFileStage {
    Intake,
    Diagnosis,
    Repair,
    QualityCheck,
}

/// When in a loan a loan's file was taken: the loaner's condition at hand-over and at return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoanFileStage {
    Handover,
    Return,
}

impl From<TicketFileStage> for FileStage {
    fn from(stage: TicketFileStage) -> FileStage {
        match stage {
            TicketFileStage::Intake => FileStage::Intake,
            TicketFileStage::Diagnosis => FileStage::Diagnosis,
            TicketFileStage::Repair => FileStage::Repair,
            TicketFileStage::QualityCheck => FileStage::QualityCheck,
        }
    }
}

impl From<LoanFileStage> for FileStage {
    fn from(stage: LoanFileStage) -> FileStage {
        match stage {
            LoanFileStage::Handover => FileStage::Handover,
            LoanFileStage::Return => FileStage::Return,
        }
    }
}

/// A file's stage, on a ticket or on a loan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStage {
    Intake,
    Diagnosis,
    Repair,
    QualityCheck,
    Handover,
    Return,
}

impl FileStage {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStage::Intake => "intake",
            FileStage::Diagnosis => "diagnosis",
            FileStage::Repair => "repair",
            FileStage::QualityCheck => "quality_check",
            FileStage::Handover => "handover",
            FileStage::Return => "return",
        }
    }

    pub fn parse(value: &str) -> Option<FileStage> {
        [
            FileStage::Intake,
            FileStage::Diagnosis,
            FileStage::Repair,
            FileStage::QualityCheck,
            FileStage::Handover,
            FileStage::Return,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    /// A ticket's stages.
    pub fn of_ticket(value: &str) -> Option<FileStage> {
        FileStage::parse(value).filter(|s| !matches!(s, FileStage::Handover | FileStage::Return))
    }

    /// A loan's stages.
    pub fn of_loan(value: &str) -> Option<FileStage> {
        FileStage::parse(value).filter(|s| matches!(s, FileStage::Handover | FileStage::Return))
    }
}

/// Who may see a file: staff only, or the customer too (through the tracking link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Internal,
    CustomerVisible,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Internal => "internal",
            Visibility::CustomerVisible => "customer_visible",
        }
    }

    pub fn parse(value: &str) -> Option<Visibility> {
        match value {
            "internal" => Some(Visibility::Internal),
            "customer_visible" => Some(Visibility::CustomerVisible),
            _ => None,
        }
    }
}

/// What a file is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Ticket(Uuid),
    Loan(Uuid),
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_blobs)]
pub struct BlobRow {
    pub sha256: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub thumbnail_bytes: Option<i64>,
    pub created_at: Ts,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_attachments)]
pub struct AttachmentRow {
    pub id: Id,
    pub blob_sha256: String,
    pub store_id: Id,
    pub ticket_id: Option<Id>,
    pub loan_id: Option<Id>,
    pub stage: String,
    pub visibility: String,
    pub file_name: Option<String>,
    pub uploaded_by: Option<Id>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub deleted_at: Option<Ts>,
}

/// A file on a ticket or a loan, as staff see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileOut {
    pub id: Uuid,
    /// The ticket it belongs to (absent for a loan's file).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ticket_id: Option<Uuid>,
    /// The loan it belongs to (absent for a ticket's file).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub loan_id: Option<Uuid>,
    pub store_id: Uuid,
    pub stage: FileStage,
    pub visibility: Visibility,
    /// The type found in the bytes.
    pub content_type: FileType,
    /// Size as stored (photos without their metadata).
    pub size_bytes: i64,
    /// SHA-256 of the bytes as stored, in hex; identical bytes are stored once.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// Whether `GET /files/{file_id}/thumbnail` has a picture (images only).
    pub has_thumbnail: bool,
    /// The name the file was uploaded under, if any (for people; the type never comes from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub file_name: Option<String>,
    /// The key that uploaded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub uploaded_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FileOut {
    pub fn from_rows(a: &AttachmentRow, b: &BlobRow) -> FileOut {
        FileOut {
            id: a.id.0,
            ticket_id: a.ticket_id.map(|i| i.0),
            loan_id: a.loan_id.map(|i| i.0),
            store_id: a.store_id.0,
            stage: FileStage::parse(&a.stage).unwrap_or(FileStage::Intake),
            visibility: Visibility::parse(&a.visibility).unwrap_or_default(),
            content_type: FileType::parse(&b.content_type).unwrap_or(FileType::Pdf),
            size_bytes: b.size_bytes,
            sha256: b.sha256.clone(),
            has_thumbnail: b.thumbnail_bytes.is_some(),
            file_name: a.file_name.clone(),
            uploaded_by: a.uploaded_by.map(|i| i.0),
            created_at: a.created_at.0,
            updated_at: a.updated_at.0,
        }
    }
}

/// A customer-visible file as the tracking link may show it: no name, no uploader, and short-lived signed links
/// (paths under `/api/v1/public/files/`, valid without a key until `links_expire_at`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerFile {
    pub id: Uuid,
    pub stage: FileStage,
    pub content_type: FileType,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    /// Downloads the file.
    pub url: String,
    /// Downloads its thumbnail (images only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub thumbnail_url: Option<String>,
    pub links_expire_at: DateTime<Utc>,
}
