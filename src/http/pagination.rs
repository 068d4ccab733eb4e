//! Cursor pagination: items in id order (UUID v7, so creation order), the cursor an opaque token for the last id.
//!
//! A cursor belongs to one list: it starts with a tag derived from the list's name (its route under `/api/v1`,
//! e.g. `/stores`), so a cursor of another list is refused as malformed (400 `cursor`) instead of being read as a
//! position in this one. Every string of the form [`cursor_pattern`] is a cursor of its list (it may point
//! anywhere, which only moves where the page starts), and nothing else is: the OpenAPI document states the pattern.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// Most characters in the text key of a keyed cursor (see [`encode_keyed_cursor`]).
pub const MAX_CURSOR_KEY_LEN: usize = 64;

/// Every key a keyed cursor may carry, as a regular expression: 1-64 letters, digits, `-` or `_`.
pub const ANY_CURSOR_KEY: &str = "[A-Za-z0-9_-]{1,64}";

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// The list the page belongs to (its route under `/api/v1`); it tags the cursors this page hands out.
    pub list: &'static str,
    pub after: Option<Uuid>,
    pub limit: i64,
}

impl PageRequest {
    pub fn parse(list: &'static str, limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, AppError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = cursor.map(|c| decode_cursor(list, c)).transpose()?;
        Ok(PageRequest { list, after, limit })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the extra row and returns the cursor of the next page, if any.
    pub fn finish<T>(&self, rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
        let list = self.list;
        self.finish_with(rows, |r| encode_cursor(list, id(r)))
    }

    /// As [`PageRequest::finish`], for a list whose cursor is more than an id (see [`encode_keyed_cursor`]).
    pub fn finish_with<T>(&self, mut rows: Vec<T>, cursor: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = if more { rows.last().map(cursor) } else { None };
        (rows, next)
    }
}

/// Three bytes naming a list inside its cursors: four base64 characters, so every cursor of a list starts with
/// the same [`cursor_prefix`].
fn list_tag(list: &str) -> [u8; 3] {
    let digest = Sha256::digest(list.as_bytes());
    [digest[0], digest[1], digest[2]]
}

/// The four characters every cursor of `list` starts with.
pub fn cursor_prefix(list: &str) -> String {
    URL_SAFE_NO_PAD.encode(list_tag(list))
}

/// The cursors of `list` that follow an id, as an ECMA-262 regular expression: the list's prefix, then 16 bytes
/// in unpadded base64url (22 characters, the last carrying 2 bits and 4 zero bits).
pub fn cursor_pattern(list: &str) -> String {
    format!("^{}[A-Za-z0-9_-]{{21}}[AQgw]$", cursor_prefix(list))
}

/// The cursors of `list` that follow an id and a text key (see [`encode_keyed_cursor`]) matching `key`, a regular
/// expression no wider than [`ANY_CURSOR_KEY`].
pub fn keyed_cursor_pattern(list: &str, key: &str) -> String {
    format!("^{}[A-Za-z0-9_-]{{21}}[AQgw]\\.{key}$", cursor_prefix(list))
}

pub fn encode_cursor(list: &str, id: Uuid) -> String {
    let mut bytes = list_tag(list).to_vec();
    bytes.extend_from_slice(id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The cursor of a list ordered by a position (a non-negative integer: the event feed's), carried as the 128 bits
/// of an id cursor, so it has the same documented pattern ([`cursor_pattern`]).
pub fn encode_position_cursor(list: &str, position: i64) -> String {
    encode_cursor(list, Uuid::from_u128(u128::from(position.max(0).unsigned_abs())))
}

/// The position of a cursor made by [`encode_position_cursor`]; every cursor of the pattern is one (a value past
/// the largest position reads as the largest: nothing follows it). `field` names the parameter in the refusal.
pub fn decode_position_cursor(list: &str, cursor: &str, field: &str) -> Result<i64, AppError> {
    decode_cursor(list, cursor)
        .map(|id| i64::try_from(id.as_u128()).unwrap_or(i64::MAX))
        .map_err(|_| AppError::field(field, "not a cursor returned by this list"))
}

fn malformed() -> AppError {
    AppError::field("cursor", "not a cursor returned by this list")
}

fn decode_cursor(list: &str, cursor: &str) -> Result<Uuid, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .filter(|bytes| bytes.len() == 19 && bytes[..3] == list_tag(list))
        .and_then(|bytes| Uuid::from_slice(&bytes[3..]).ok())
        .ok_or_else(malformed)
}

fn is_cursor_key(key: &str) -> bool {
    (1..=MAX_CURSOR_KEY_LEN).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The cursor of a list ordered by an id and then a text key (e.g. stock levels by location, then SKU): the id's
/// cursor, a `.` and the key, which must be 1-64 letters, digits, `-` or `_` (a SKU or a code).
pub fn encode_keyed_cursor(list: &str, id: Uuid, key: &str) -> String {
    debug_assert!(
        is_cursor_key(key),
        "a cursor key must match the documented pattern: {key:?}"
    );
    format!("{}.{key}", encode_cursor(list, id))
}

/// The id and text key of a cursor of `list` made by [`encode_keyed_cursor`].
pub fn decode_keyed_cursor(list: &str, cursor: &str) -> Result<(Uuid, String), AppError> {
    let (id, key) = cursor.split_once('.').ok_or_else(malformed)?;
    if !is_cursor_key(key) {
        return Err(malformed());
    }
    Ok((decode_cursor(list, id)?, key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "/things";

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        let page = PageRequest::parse(LIST, Some(10), Some(&encode_cursor(LIST, id)));
        assert_eq!(page.ok().and_then(|p| p.after), Some(id));
        assert!(PageRequest::parse(LIST, None, Some("not-a-cursor!")).is_err());
        assert!(PageRequest::parse(LIST, None, Some("AAAA")).is_err());
        assert!(PageRequest::parse(LIST, None, Some("")).is_err());
        assert!(PageRequest::parse(LIST, Some(0), None).is_err());
        assert!(PageRequest::parse(LIST, Some(MAX_LIMIT + 1), None).is_err());
    }

    #[test]
    fn a_cursor_of_another_list_is_refused() {
        let id = Uuid::now_v7();
        let other = encode_cursor("/other-things", id);
        assert!(PageRequest::parse(LIST, None, Some(&other)).is_err());
        assert!(decode_keyed_cursor(LIST, &encode_keyed_cursor("/other-things", id, "K")).is_err());
        assert!(decode_keyed_cursor(LIST, &encode_keyed_cursor(LIST, id, "K")).is_ok());
    }

    #[test]
    fn keyed_cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        let cursor = encode_keyed_cursor(LIST, id, "SCR-MATE60PRO");
        assert_eq!(
            decode_keyed_cursor(LIST, &cursor).ok(),
            Some((id, "SCR-MATE60PRO".to_owned()))
        );
        assert!(
            decode_keyed_cursor(LIST, &encode_cursor(LIST, id)).is_err(),
            "an id alone has no key"
        );
        assert!(decode_keyed_cursor(LIST, &format!("{}.", encode_cursor(LIST, id))).is_err());
        assert!(decode_keyed_cursor(LIST, &format!("{}.a b", encode_cursor(LIST, id))).is_err());
        assert!(decode_keyed_cursor(LIST, "not-a-cursor!").is_err());
    }

    /// The documented pattern and the decoder agree: every cursor made matches it, and every string of its shape
    /// (any 16 bytes after the prefix) decodes; a wrong final character (non-zero spare bits) matches neither.
    #[test]
    fn the_pattern_describes_exactly_the_cursors() {
        let prefix = cursor_prefix(LIST);
        for _ in 0..200 {
            let id = Uuid::from_bytes(rand::random());
            let cursor = encode_cursor(LIST, id);
            assert_eq!(cursor.len(), 26);
            assert!(cursor.starts_with(&prefix));
            assert!(b"AQgw".contains(&cursor.as_bytes()[25]), "{cursor}");
            assert!(
                cursor[4..25]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
        for last in ['A', 'Q', 'g', 'w'] {
            let cursor = format!("{prefix}{}{last}", "_".repeat(21));
            assert!(decode_cursor(LIST, &cursor).is_ok(), "{cursor}");
        }
        for last in ['B', 'R', 'h', 'x', '-'] {
            let cursor = format!("{prefix}{}{last}", "A".repeat(21));
            assert!(decode_cursor(LIST, &cursor).is_err(), "{cursor}");
        }
        assert_eq!(cursor_pattern(LIST), format!("^{prefix}[A-Za-z0-9_-]{{21}}[AQgw]$"));
    }

    #[test]
    fn finish_cuts_the_probe_row() {
        let page = PageRequest {
            list: LIST,
            after: None,
            limit: 2,
        };
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (rows, next) = page.finish(ids.clone(), |id| *id);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, Some(encode_cursor(LIST, ids[1])));
        let (rows, next) = page.finish(ids[..2].to_vec(), |id| *id);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, None);
    }
}
