//! Rows of an uploaded CSV file, each named by the line of the file it is on, so an error points at the right line
//! whatever blank lines or line endings the file has.

use serde::de::DeserializeOwned;

use crate::error::{AppError, AppResult};

/// One data row: `line N` as the client's editor numbers it, and the row or why it could not be read.
pub type Row<T> = (String, Result<T, String>);

/// Reads a CSV file whose header must be exactly `header`, trimming every field.
pub fn read<T: DeserializeOwned>(text: &[u8], header: &[&str]) -> AppResult<Vec<Row<T>>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let line = line_of(text, e.position());
            return Err(AppError::field(&line, format!("unreadable header: {e}")));
        }
    };
    if headers.iter().ne(header.iter().copied()) {
        let line = line_of(text, headers.position());
        return Err(AppError::field(
            &line,
            format!("the header must be {}", header.join(",")),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(match record {
            Ok(record) => (
                line_of(text, record.position()),
                record
                    .deserialize::<T>(Some(&headers))
                    .map_err(|e| format!("unreadable row: {e}")),
            ),
            Err(e) => (line_of(text, e.position()), Err(format!("unreadable row: {e}"))),
        });
    }
    Ok(rows)
}

/// `line N` for a record the reader started at `position`. The reader marks a record where it began reading, which is
/// before any blank lines (and the end of a CRLF) it skipped: the record itself starts at the next byte that is not
/// a line break.
fn line_of(text: &[u8], position: Option<&csv::Position>) -> String {
    let from = position
        .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX))
        .min(text.len());
    let start = text[from..]
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(text.len(), |skip| from + skip);
    let before = &text[..start];
    // A line ends with LF, CRLF or a lone CR.
    let breaks = before
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && before.get(i + 1) != Some(&b'\n')))
        .count();
    format!("line {}", breaks + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Pair {
        a: String,
        #[allow(dead_code)]
        b: String,
    }

    fn lines(text: &str) -> Vec<(String, bool)> {
        read::<Pair>(text.as_bytes(), &["a", "b"])
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|(line, row)| (line, row.is_ok()))
            .collect()
    }

    fn at(items: &[(&str, bool)]) -> Vec<(String, bool)> {
        items.iter().map(|(l, ok)| ((*l).to_owned(), *ok)).collect()
    }

    #[test]
    fn rows_are_named_by_their_own_line() {
        let cases: [(&str, Vec<(String, bool)>); 6] = [
            ("a,b\n1,2\n3,4\n", at(&[("line 2", true), ("line 3", true)])),
            ("a,b\n\n1,2\n\n\n3,4\n\n", at(&[("line 3", true), ("line 6", true)])),
            ("a,b\r\n\r\n1,2\r\n3,4\r\n", at(&[("line 3", true), ("line 4", true)])),
            ("a,b\r\r1,2\r3,4", at(&[("line 3", true), ("line 4", true)])),
            ("\n\na,b\n1,2\n", at(&[("line 4", true)])),
            (
                "a,b\n1,2\n\n3\n4,5\n",
                at(&[("line 2", true), ("line 4", false), ("line 5", true)]),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(lines(text), want, "{text:?}");
        }
        let first = read::<Pair>(b"a,b\n\"x\ny\",2\n3,4\n", &["a", "b"]).unwrap_or_default();
        let multi_line: Vec<(&str, &str)> = first
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_ref().map_or("", |p| p.a.as_str())))
            .collect();
        assert_eq!(
            multi_line,
            [("line 2", "x\ny"), ("line 4", "3")],
            "a quoted line break is one row"
        );
    }

    #[test]
    fn a_wrong_header_is_refused_with_its_line() {
        let err = read::<Pair>(b"\na,c\n1,2\n", &["a", "b"]).err().map(|e| e.to_problem());
        let fields: Vec<String> = err.into_iter().flat_map(|p| p.errors).map(|e| e.field).collect();
        assert_eq!(fields, ["line 2"]);
    }
}
