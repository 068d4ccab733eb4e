//! Money at the API: `{"amount": "99.00", "currency": "CNY"}`, the amount a decimal string with at most two
//! places; stored as integer minor units (fen) on both engines.
//!
//! An amount is accepted in exactly one form, [`amount_pattern`]: digits, then optionally a point and one or two
//! digits. Signs, exponents, separators, a bare point and a third decimal are refused, never rewritten. The
//! OpenAPI document states the same pattern (src/openapi.rs writes it from [`MAX_AMOUNT_DIGITS`]).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Most digits before the decimal point: 99,999,999,999.99 is the largest amount, which still fits the minor-unit
/// columns with room to add.
pub const MAX_AMOUNT_DIGITS: usize = 11;

/// The one accepted form of an amount, as an ECMA-262 regular expression (the OpenAPI `pattern`).
pub fn amount_pattern() -> String {
    format!(r"^[0-9]{{1,{MAX_AMOUNT_DIGITS}}}(\.[0-9]{{1,2}})?$")
}

/// Parses an amount in the form of [`amount_pattern`], or says what is wrong with it.
pub fn parse_amount(text: &str) -> Result<Decimal, String> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = digits(whole) && fraction.is_none_or(|f| digits(f) && f.len() <= 2);
    if !well_formed {
        return Err(r#"must be a decimal string such as "199.00": digits, then at most two decimals"#.to_owned());
    }
    if whole.len() > MAX_AMOUNT_DIGITS {
        return Err(format!(
            "is too large: at most {MAX_AMOUNT_DIGITS} digits before the decimal point"
        ));
    }
    Decimal::from_str(text).map_err(|e| e.to_string())
}

fn deserialize_amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_amount(&text).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Currency {
    #[serde(rename = "CNY")]
    Cny,
}

/// An exact amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Decimal string of digits with at most two decimal places, e.g. `"199.00"`; no sign, exponent or
    /// separators.
    #[serde(
        serialize_with = "rust_decimal::serde::str::serialize",
        deserialize_with = "deserialize_amount"
    )]
    #[schema(value_type = String, example = "199.00")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64) -> Money {
        let mut amount = Decimal::new(minor, 2);
        amount.rescale(2);
        Money {
            amount,
            currency: Currency::Cny,
        }
    }

    /// Minor units (fen) of a non-negative amount, or why it cannot be one.
    pub fn to_minor_non_negative(&self) -> Result<i64, &'static str> {
        if self.amount.is_sign_negative() && !self.amount.is_zero() {
            return Err("must not be negative");
        }
        self.to_minor()
    }

    pub fn to_minor(&self) -> Result<i64, &'static str> {
        if self.amount.normalize().scale() > 2 {
            return Err("must have at most 2 decimal places");
        }
        let minor = self.amount * Decimal::ONE_HUNDRED;
        i64::try_from(minor.trunc()).map_err(|_| "is too large").and_then(|m| {
            if m.unsigned_abs() > 9_999_999_999_999 {
                Err("is too large")
            } else {
                Ok(m)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Money, serde_json::Error> {
        serde_json::from_str(json)
    }

    fn amount_of(text: &str) -> Result<i64, String> {
        let json = serde_json::json!({"amount": text, "currency": "CNY"}).to_string();
        let money = parse(&json).map_err(|e| e.to_string())?;
        money.to_minor().map_err(str::to_owned)
    }

    #[test]
    fn amounts_in_the_documented_form_are_accepted() {
        assert_eq!(amount_of("99.5"), Ok(9950));
        assert_eq!(amount_of("99.50"), Ok(9950));
        assert_eq!(amount_of("199"), Ok(19900));
        assert_eq!(amount_of("0"), Ok(0));
        assert_eq!(amount_of("0.05"), Ok(5));
        assert_eq!(amount_of("007.10"), Ok(710), "leading zeros are digits too");
        let largest = format!("{}.99", "9".repeat(MAX_AMOUNT_DIGITS));
        assert_eq!(amount_of(&largest), Ok(9_999_999_999_999));
    }

    #[test]
    fn every_other_form_is_refused_not_rewritten() {
        for text in [
            "10.000", "99.500", "0.001", "1e2", "1E2", "1.5e1", "1_000.00", "1,000.00", "+10.00", "-1.00", "-0", "10.",
            ".5", ".", "", " 1.00", "1.00 ", "1 000", "0x10", "NaN", "inf", "١٢", "1.0.0", "1..0",
        ] {
            let refused = amount_of(text);
            assert!(
                refused.as_ref().is_err_and(|why| why.contains("decimal string")),
                "{text:?} must be refused as malformed, got {refused:?}"
            );
        }
        let too_long = format!("1{}", "0".repeat(MAX_AMOUNT_DIGITS));
        assert!(amount_of(&too_long).is_err_and(|why| why.contains("too large")));
    }

    #[test]
    fn the_pattern_is_the_parser() {
        assert_eq!(amount_pattern(), r"^[0-9]{1,11}(\.[0-9]{1,2})?$");
    }

    #[test]
    fn other_shapes_are_refused() {
        assert!(
            parse(r#"{"amount": 19.99, "currency": "CNY"}"#).is_err(),
            "a JSON number is refused"
        );
        assert!(parse(r#"{"amount": "1.00", "currency": "USD"}"#).is_err());
        assert!(parse(r#"{"amount": "1.00", "currency": "CNY", "x": 1}"#).is_err());
    }

    #[test]
    fn renders_two_places() {
        let json = serde_json::to_string(&Money::from_minor(19900)).unwrap_or_default();
        assert_eq!(json, r#"{"amount":"199.00","currency":"CNY"}"#);
        let json = serde_json::to_string(&Money::from_minor(5)).unwrap_or_default();
        assert_eq!(json, r#"{"amount":"0.05","currency":"CNY"}"#);
    }
}
