//! The loaner CSV import's rules: what a row must hold, which file is refused whole, and the order rows are
//! applied in. Pure functions; the service looks each row's model and store up and applies the good rows.

use std::collections::HashSet;

use serde::Deserialize;

use super::model::Grade;
use crate::db::types::Id;
use crate::error::{AppError, AppResult, FieldError};
use crate::imei::Imei;

/// The header the file must start with.
pub const HEADER: &[&str] = &["imei", "model_code", "store_code", "grade"];

/// The most rows one file may register.
pub const MAX_ROWS: usize = 10_000;

/// One CSV row: `imei,model_code,store_code,grade`.
#[derive(Debug, Deserialize)]
pub struct CsvLoaner {
    pub imei: String,
    pub model_code: String,
    pub store_code: String,
    pub grade: String,
}

/// The row's model as the database knows it: id, series, active.
pub type ModelFound = Option<(Id, Id, bool)>;
/// The row's store as the database knows it, when in the caller's scope: id, kind, active.
pub type StoreFound = Option<(Id, String, bool)>;

/// A row fit to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodRow {
    pub imei: Imei,
    pub model: Id,
    pub series: Id,
    pub store: Id,
    pub grade: Grade,
}

/// Checks one row, given its model and store as found: the row fit to register, or every problem with it, joined
/// by `; `. `seen` holds the IMEIs of the rows above it (a file must not name one twice).
pub fn check_row(
    row: &CsvLoaner,
    model: ModelFound,
    store: StoreFound,
    seen: &mut HashSet<String>,
) -> Result<GoodRow, String> {
    let mut problems = Vec::new();
    let imei = Imei::parse(&row.imei)
        .map_err(|why| problems.push(format!("imei {why}")))
        .ok();
    if let Some(imei) = &imei {
        if !seen.insert(imei.to_string()) {
            problems.push("imei repeats an earlier row".to_owned());
        }
    }
    let grade = Grade::parse(&row.grade);
    if grade.is_none() {
        problems.push("grade must be A, B or C".to_owned());
    }
    let model = match model {
        Some((id, series, true)) => Some((id, series)),
        Some(_) => {
            problems.push(format!("model {} is deactivated", row.model_code));
            None
        }
        None => {
            problems.push(format!("no model {}", row.model_code));
            None
        }
    };
    let store = match store {
        Some((id, kind, true)) if kind == "service_center" => Some(id),
        Some(_) => {
            problems.push(format!("store {} is not an active service center", row.store_code));
            None
        }
        None => {
            problems.push(format!("no store {}", row.store_code));
            None
        }
    };
    if let (Some(imei), Some(grade), Some((model, series)), Some(store), true) =
        (imei, grade, model, store, problems.is_empty())
    {
        Ok(GoodRow {
            imei,
            model,
            series,
            store,
            grade,
        })
    } else {
        Err(problems.join("; "))
    }
}

/// Whether the file may be applied: all rows or none, so any bad row refuses it (each reported with its line).
pub fn accept(good: usize, errors: Vec<FieldError>) -> AppResult<()> {
    if good == 0 && errors.is_empty() {
        return Err(AppError::field("body", "the file has no rows"));
    }
    if good > MAX_ROWS {
        return Err(AppError::field("body", "at most 10000 rows per file"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(())
}

/// The order the good rows are applied in: each new loaner serves its queue under the queue's lock, so rows go in
/// (store, series) order, the order the sweeper takes queues in, so that two imports (or an import and a sweeper)
/// never wait crosswise. The answer still lists the loaners in file order.
pub fn apply_order(good: &[(String, GoodRow)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..good.len()).collect();
    order.sort_by_key(|i| (good[*i].1.store.0, good[*i].1.series.0));
    order
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn row(imei: &str, grade: &str) -> CsvLoaner {
        CsvLoaner {
            imei: imei.into(),
            model_code: "MATE60PRO".into(),
            store_code: "SZ01".into(),
            grade: grade.into(),
        }
    }

    const OK: &str = "490154203237518";

    #[test]
    fn a_row_is_good_only_with_every_field_right() {
        let (model, series, store) = (Id(Uuid::from_u128(1)), Id(Uuid::from_u128(2)), Id(Uuid::from_u128(3)));
        let found_model = Some((model, series, true));
        let found_store = || Some((store, "service_center".to_owned(), true));
        let cases: Vec<(CsvLoaner, ModelFound, StoreFound, Result<(), &str>)> = vec![
            (row(OK, "a"), found_model, found_store(), Ok(())),
            (
                row("490154203237517", "A"),
                found_model,
                found_store(),
                Err("imei check digit is wrong (Luhn)"),
            ),
            (row(OK, "D"), found_model, found_store(), Err("grade must be A, B or C")),
            (row(OK, "A"), None, found_store(), Err("no model MATE60PRO")),
            (
                row(OK, "A"),
                Some((model, series, false)),
                found_store(),
                Err("model MATE60PRO is deactivated"),
            ),
            (row(OK, "A"), found_model, None, Err("no store SZ01")),
            (
                row(OK, "A"),
                found_model,
                Some((store, "warehouse".to_owned(), true)),
                Err("store SZ01 is not an active service center"),
            ),
            (
                row("1", "X"),
                None,
                None,
                Err("imei must be 15 digits; grade must be A, B or C; no model MATE60PRO; no store SZ01"),
            ),
        ];
        for (row, model_found, store_found, expected) in cases {
            let got = check_row(&row, model_found, store_found, &mut HashSet::new());
            match expected {
                Ok(()) => assert_eq!(
                    got.map(|g| (g.model, g.series, g.store, g.grade)),
                    Ok((model, series, store, Grade::A)),
                    "{row:?}"
                ),
                Err(why) => assert_eq!(got.err().as_deref(), Some(why), "{row:?}"),
            }
        }
    }

    #[test]
    fn an_imei_named_twice_is_refused_the_second_time() {
        let model = Some((Id(Uuid::from_u128(1)), Id(Uuid::from_u128(2)), true));
        let store = || Some((Id(Uuid::from_u128(3)), "service_center".to_owned(), true));
        let mut seen = HashSet::new();
        assert!(check_row(&row(OK, "B"), model, store(), &mut seen).is_ok());
        assert_eq!(
            check_row(&row(OK, "B"), model, store(), &mut seen).err().as_deref(),
            Some("imei repeats an earlier row")
        );
    }

    #[test]
    fn a_file_is_refused_whole() {
        let bad = || vec![FieldError::new("line 2", "no model X")];
        for (good, errors, expected) in [
            (0, vec![], Some("validation_failed")),
            (MAX_ROWS + 1, vec![], Some("validation_failed")),
            (3, bad(), Some("validation_failed")),
            (MAX_ROWS, vec![], None),
        ] {
            assert_eq!(accept(good, errors).err().map(|e| e.code()), expected, "{good}");
        }
    }
}
