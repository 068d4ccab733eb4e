//! Field checks that collect every problem of a request before answering.

use crate::error::{AppError, FieldError};

#[derive(Default)]
pub struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    pub fn new() -> Self {
        Checks::default()
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// A human-facing code: 1-32 upper-case letters, digits, `-` or `_`. Lower case is upper-cased.
    pub fn code(&mut self, field: &str, value: &str) -> String {
        let code = value.trim().to_ascii_uppercase();
        if code.is_empty() || code.len() > 32 {
            self.fail(field, "must be 1 to 32 characters");
        } else if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            self.fail(field, "may hold only letters, digits, '-' and '_'");
        }
        code
    }

    /// Free text, trimmed, between `min` and `max` characters, without control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        let text = value.trim().to_owned();
        let len = text.chars().count();
        if len < min || len > max {
            self.fail(field, format!("must be {min} to {max} characters"));
        } else if text.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
        text
    }

    /// An IANA time zone name such as `Asia/Shanghai`.
    pub fn time_zone(&mut self, field: &str, value: &str) -> String {
        if value.parse::<chrono_tz::Tz>().is_err() {
            self.fail(field, "must be an IANA time zone name such as Asia/Shanghai");
        }
        value.to_owned()
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem() {
        let mut checks = Checks::new();
        assert_eq!(checks.code("code", " sz-01 "), "SZ-01");
        checks.code("code2", "a b");
        checks.code("code3", "");
        checks.text("name", &"x".repeat(201), 1, 200);
        checks.text("city", "Shen\u{0}zhen", 1, 100);
        checks.time_zone("time_zone", "Mars/Olympus");
        assert_eq!(checks.time_zone("tz", "Asia/Shanghai"), "Asia/Shanghai");
        match checks.finish() {
            Err(AppError::Validation(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["code2", "code3", "name", "city", "time_zone"]);
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
    }
}
