//! The files' queries. A blob is inserted with `ON CONFLICT DO NOTHING` on its hash: two uploads of the same bytes
//! at once both succeed and leave one blob (PostgreSQL makes the second wait for the first's commit; SQLite
//! serialises writers).

use diesel::prelude::*;

use super::model::{AttachmentRow, BlobRow};
use crate::auth::{Principal, Role};
use crate::db::Conn;
use crate::db::schema::{file_attachments, file_blobs, file_link_keys, loans, tickets};
use crate::db::types::{Id, Ts};
use crate::error::AppResult;
use crate::http::pagination::PageRequest;
use crate::with_conn;

/// A ticket's store, if the ticket exists.
pub fn ticket_store(conn: &mut Conn<'_>, ticket: Id) -> AppResult<Option<Id>> {
    Ok(with_conn!(conn, c => tickets::table.find(ticket).select(tickets::store_id).first(c).optional())?)
}

/// A loan's store, if the loan exists.
pub fn loan_store(conn: &mut Conn<'_>, loan: Id) -> AppResult<Option<Id>> {
    Ok(with_conn!(conn, c => loans::table.find(loan).select(loans::store_id).first(c).optional())?)
}

/// Writes a blob unless one with its hash exists; whether this call wrote it.
pub fn insert_blob(conn: &mut Conn<'_>, row: &BlobRow) -> AppResult<bool> {
    let written = with_conn!(conn, c => diesel::insert_into(file_blobs::table)
        .values(row)
        .on_conflict(file_blobs::sha256)
        .do_nothing()
        .execute(c))?;
    Ok(written == 1)
}

pub fn insert_attachment(conn: &mut Conn<'_>, row: &AttachmentRow) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(file_attachments::table).values(row).execute(c))?;
    Ok(())
}

/// A file that was not deleted, with its blob.
pub fn find(conn: &mut Conn<'_>, id: Id) -> AppResult<Option<(AttachmentRow, BlobRow)>> {
    Ok(with_conn!(conn, c => file_attachments::table
        .inner_join(file_blobs::table)
        .filter(file_attachments::id.eq(id))
        .filter(file_attachments::deleted_at.is_null())
        .select((AttachmentRow::as_select(), BlobRow::as_select()))
        .first(c)
        .optional())?)
}

/// One page of a ticket's files (not deleted), in id order (upload order: ids are v7).
pub fn list_of_ticket(conn: &mut Conn<'_>, ticket: Id, page: &PageRequest) -> AppResult<Vec<(AttachmentRow, BlobRow)>> {
    Ok(with_conn!(conn, c => {
        let mut q = file_attachments::table
            .inner_join(file_blobs::table)
            .filter(file_attachments::ticket_id.eq(ticket))
            .filter(file_attachments::deleted_at.is_null())
            .select((AttachmentRow::as_select(), BlobRow::as_select()))
            .order(file_attachments::id)
            .limit(page.fetch())
            .into_boxed();
        if let Some(after) = page.after {
            q = q.filter(file_attachments::id.gt(Id(after)));
        }
        q.load(c)
    })?)
}

/// One page of a loan's files (not deleted), in id order.
pub fn list_of_loan(conn: &mut Conn<'_>, loan: Id, page: &PageRequest) -> AppResult<Vec<(AttachmentRow, BlobRow)>> {
    Ok(with_conn!(conn, c => {
        let mut q = file_attachments::table
            .inner_join(file_blobs::table)
            .filter(file_attachments::loan_id.eq(loan))
            .filter(file_attachments::deleted_at.is_null())
            .select((AttachmentRow::as_select(), BlobRow::as_select()))
            .order(file_attachments::id)
            .limit(page.fetch())
            .into_boxed();
        if let Some(after) = page.after {
            q = q.filter(file_attachments::id.gt(Id(after)));
        }
        q.load(c)
    })?)
}

/// A ticket's customer-visible files (not deleted), oldest first; at most `limit`.
pub fn customer_visible_of_ticket(
    conn: &mut Conn<'_>,
    ticket: Id,
    limit: i64,
) -> AppResult<Vec<(AttachmentRow, BlobRow)>> {
    Ok(with_conn!(conn, c => file_attachments::table
        .inner_join(file_blobs::table)
        .filter(file_attachments::ticket_id.eq(ticket))
        .filter(file_attachments::deleted_at.is_null())
        .filter(file_attachments::visibility.eq("customer_visible"))
        .select((AttachmentRow::as_select(), BlobRow::as_select()))
        .order(file_attachments::id)
        .limit(limit)
        .load(c))?)
}

pub fn set_visibility(conn: &mut Conn<'_>, id: Id, visibility: &str, now: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(file_attachments::table.find(id))
        .filter(file_attachments::deleted_at.is_null())
        .set((file_attachments::visibility.eq(visibility), file_attachments::updated_at.eq(now)))
        .execute(c))?)
}

/// Marks a file deleted; its blob stays (other files may share it, and the record stays for the history).
pub fn mark_deleted(conn: &mut Conn<'_>, id: Id, now: Ts) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::update(file_attachments::table.find(id))
        .filter(file_attachments::deleted_at.is_null())
        .set((file_attachments::deleted_at.eq(Some(now)), file_attachments::updated_at.eq(now)))
        .execute(c))?)
}

/// The link-signing key, if one was made.
pub fn link_key(conn: &mut Conn<'_>) -> AppResult<Option<String>> {
    Ok(with_conn!(conn, c => file_link_keys::table.find(1).select(file_link_keys::secret).first(c).optional())?)
}

/// Makes the link-signing key unless one exists (the first instance's wins).
pub fn insert_link_key(conn: &mut Conn<'_>, secret: &str, now: Ts) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(file_link_keys::table)
        .values((file_link_keys::id.eq(1), file_link_keys::secret.eq(secret), file_link_keys::created_at.eq(now)))
        .on_conflict(file_link_keys::id)
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// Whether the caller's scope covers a store.
pub fn covers(principal: &Principal, store: Id) -> bool {
    principal.role == Role::Admin || principal.store_ids.contains(&store.0)
}

/// How many blobs hold this content (0 or 1: the hash is the key).
pub fn blobs_with_hash(conn: &mut Conn<'_>, sha256: &str) -> AppResult<i64> {
    Ok(with_conn!(conn, c => file_blobs::table.filter(file_blobs::sha256.eq(sha256)).count().get_result(c))?)
}
