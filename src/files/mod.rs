//! Photos and files on tickets (intake, diagnosis, repair, quality check) and loans (the loaner's condition at
//! hand-over and return): typed from their bytes, photos stripped of their metadata and given a thumbnail, each
//! content stored once under its SHA-256 in a directory or an S3-compatible bucket, served to staff in scope and,
//! through short-lived signed links, to anyone holding one (the customer's tracking link shows the
//! customer-visible ones: [`customer_visible_of_ticket`]).
//!
//! - [`model`]: blobs, attachments, types, stages, visibility.
//! - [`rules`]: type detection, metadata stripping, thumbnails, link signatures (pure).
//! - [`store`]: the [`FileStore`] interface, the directory and the S3-compatible store.
//! - [`service`]: the use cases.
//! - [`repo`]: the queries.
//! - [`http`]: the endpoints; uploads are streamed to a spool file and refused past the limit.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;
pub mod store;

use actix_web::web;

pub use http::Api;
pub use model::{CustomerFile, FileOut, FileStage, FileType, Visibility};
pub use service::{DEFAULT_MAX_UPLOAD_BYTES, Files, FilesSettings, customer_visible_of_ticket};
pub use store::{DirStore, FileStore, S3Settings, S3Store};

pub fn configure(cfg: &mut web::ServiceConfig) {
    http::configure(cfg);
}
