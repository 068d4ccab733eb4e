//! Money at the API: `{"amount": "99.00", "currency": "CNY"}`, the amount a decimal string with at most two
//! places; stored as integer minor units (fen) on both engines.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Currency {
    #[serde(rename = "CNY")]
    Cny,
}

/// An exact amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Decimal string with at most two decimal places, e.g. `"199.00"`.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$", example = "199.00")]
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

    #[test]
    fn amounts_are_decimal_strings_with_two_places_at_most() {
        let m = parse(r#"{"amount": "99.5", "currency": "CNY"}"#).ok();
        assert_eq!(m.map(|m| m.to_minor()), Some(Ok(9950)));
        let m = parse(r#"{"amount": "99.500", "currency": "CNY"}"#).ok();
        assert_eq!(
            m.map(|m| m.to_minor()),
            Some(Ok(9950)),
            "trailing zeros are still two places"
        );
        let m = parse(r#"{"amount": "0.001", "currency": "CNY"}"#).ok();
        assert_eq!(m.map(|m| m.to_minor()), Some(Err("must have at most 2 decimal places")));
        let m = parse(r#"{"amount": "-1.00", "currency": "CNY"}"#).ok();
        assert_eq!(m.map(|m| m.to_minor_non_negative()), Some(Err("must not be negative")));
        assert!(
            parse(r#"{"amount": 19.99, "currency": "CNY"}"#).is_err(),
            "a JSON number is refused"
        );
        assert!(parse(r#"{"amount": "1.00", "currency": "USD"}"#).is_err());
        assert!(parse(r#"{"amount": "1.00", "currency": "CNY", "x": 1}"#).is_err());
        let m = parse(r#"{"amount": "99999999999999999", "currency": "CNY"}"#).ok();
        assert_eq!(m.map(|m| m.to_minor()), Some(Err("is too large")));
    }

    #[test]
    fn renders_two_places() {
        let json = serde_json::to_string(&Money::from_minor(19900)).unwrap_or_default();
        assert_eq!(json, r#"{"amount":"199.00","currency":"CNY"}"#);
        let json = serde_json::to_string(&Money::from_minor(5)).unwrap_or_default();
        assert_eq!(json, r#"{"amount":"0.05","currency":"CNY"}"#);
    }
}
