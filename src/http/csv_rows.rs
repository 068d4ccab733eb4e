//! Rows of an uploaded CSV file, each named by the line of the file it is on, so an error points at the right line
//! whatever blank lines or line endings the file has.

use serde::de::DeserializeOwned;

use crate::error::{AppError, AppResult};

/// One data row: `line N` as the client's editor numbers it, and the row or why it could not be read.
pub type Row<T> = (String, Result<T, String>);

/// Reads a CSV file whose header must be exactly `header`, trimming every field.
pub fn read<T: DeserializeOwned>(text: &[u8], header: &[&str]) -> AppResult<Vec<Row<T>>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text);
    let mut lines = Lines::new(text);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let line = lines.of(e.position());
            return Err(AppError::field(&line, format!("unreadable header: {e}")));
        }
    };
    if headers.iter().ne(header.iter().copied()) {
        let line = lines.of(headers.position());
        return Err(AppError::field(
            &line,
            format!("the header must be {}", header.join(",")),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(match record {
            Ok(record) => (
                lines.of(record.position()),
                record
                    .deserialize::<T>(Some(&headers))
                    .map_err(|e| format!("unreadable row: {e}")),
            ),
            Err(e) => (lines.of(e.position()), Err(format!("unreadable row: {e}"))),
        });
    }
    Ok(rows)
}

/// Line numbers of records, read in order: it counts line breaks from where the previous record began, so a file
/// is scanned once however many rows it has.
struct Lines<'a> {
    text: &'a [u8],
    /// Bytes before `offset` hold `breaks` line breaks.
    offset: usize,
    breaks: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Self {
        Lines {
            text,
            offset: 0,
            breaks: 0,
        }
    }

    /// `line N` for a record the reader started at `position`. The reader marks a record where it began reading,
    /// which is before any blank lines (and the end of a CRLF) it skipped: the record itself starts at the next byte
    /// that is not a line break.
    fn of(&mut self, position: Option<&csv::Position>) -> String {
        let text = self.text;
        let from = position
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX))
            .min(text.len());
        let start = text[from..]
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .map_or(text.len(), |skip| from + skip);
        if start < self.offset {
            // Never happens for records read in order; count afresh rather than guess.
            self.offset = 0;
            self.breaks = 0;
        }
        // A line ends with LF, CRLF or a lone CR.
        self.breaks += (self.offset..start)
            .filter(|&i| text[i] == b'\n' || (text[i] == b'\r' && text.get(i + 1) != Some(&b'\n')))
            .count();
        self.offset = start;
        format!("line {}", self.breaks + 1)
    }
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
    fn a_long_file_keeps_counting_across_blank_lines_and_line_endings() {
        let mut text = String::from("a,b\r\n");
        let mut want = Vec::new();
        let mut line = 1;
        for i in 0..3000 {
            if i % 7 == 0 {
                // A blank line ends as the line before it did ("\r" then "\n" would be one CRLF).
                text.push_str(if i == 0 {
                    "\r\n"
                } else {
                    ["\n", "\r\n", "\r"][(i - 1) % 3]
                });
                line += 1;
            }
            text.push_str(&format!("{i},x{}", ["\n", "\r\n", "\r"][i % 3]));
            line += 1;
            want.push((format!("line {line}"), true));
        }
        assert_eq!(lines(&text), want);
    }

    #[test]
    fn a_wrong_header_is_refused_with_its_line() {
        let err = read::<Pair>(b"\na,c\n1,2\n", &["a", "b"]).err().map(|e| e.to_problem());
        let fields: Vec<String> = err.into_iter().flat_map(|p| p.errors).map(|e| e.field).collect();
        assert_eq!(fields, ["line 2"]);
    }
}
