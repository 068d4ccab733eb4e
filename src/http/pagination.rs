//! Cursor pagination: items in id order (UUID v7, so creation order), the cursor an opaque token for the last id.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::AppError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub limit: i64,
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, AppError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(PageRequest { after, limit })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the extra row and returns the cursor of the next page, if any.
    pub fn finish<T>(&self, rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
        self.finish_with(rows, |r| encode_cursor(id(r)))
    }

    /// As [`PageRequest::finish`], for a list whose cursor is more than an id (see [`encode_keyed_cursor`]).
    pub fn finish_with<T>(&self, mut rows: Vec<T>, cursor: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = if more { rows.last().map(cursor) } else { None };
        (rows, next)
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<Uuid, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::field("cursor", "not a cursor returned by this list"))
}

/// The cursor of a list ordered by an id and then a text key (e.g. stock levels by location, then SKU).
pub fn encode_keyed_cursor(id: Uuid, key: &str) -> String {
    let mut bytes = id.as_bytes().to_vec();
    bytes.extend_from_slice(key.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The id and text key of a cursor made by [`encode_keyed_cursor`].
pub fn decode_keyed_cursor(cursor: &str) -> Result<(Uuid, String), AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .filter(|bytes| bytes.len() > 16)
        .and_then(|bytes| {
            let (id, key) = bytes.split_at(16);
            Some((Uuid::from_slice(id).ok()?, String::from_utf8(key.to_vec()).ok()?))
        })
        .ok_or_else(|| AppError::field("cursor", "not a cursor returned by this list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        let page = PageRequest::parse(Some(10), Some(&encode_cursor(id)));
        assert_eq!(page.ok().and_then(|p| p.after), Some(id));
        assert!(PageRequest::parse(None, Some("not-a-cursor!")).is_err());
        assert!(PageRequest::parse(None, Some("AAAA")).is_err());
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(MAX_LIMIT + 1), None).is_err());
    }

    #[test]
    fn keyed_cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        let cursor = encode_keyed_cursor(id, "SCR-MATE60PRO");
        assert_eq!(
            decode_keyed_cursor(&cursor).ok(),
            Some((id, "SCR-MATE60PRO".to_owned()))
        );
        assert!(
            decode_keyed_cursor(&encode_cursor(id)).is_err(),
            "an id alone has no key"
        );
        assert!(decode_keyed_cursor("not-a-cursor!").is_err());
    }

    #[test]
    fn finish_cuts_the_probe_row() {
        let page = PageRequest { after: None, limit: 2 };
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (rows, next) = page.finish(ids.clone(), |id| *id);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, Some(encode_cursor(ids[1])));
        let (rows, next) = page.finish(ids[..2].to_vec(), |id| *id);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, None);
    }
}
