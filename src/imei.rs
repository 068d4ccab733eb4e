//! IMEI: 15 digits, the last a Luhn check digit.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Imei(String);

impl Imei {
    pub fn parse(value: &str) -> Result<Imei, &'static str> {
        let value = value.trim();
        if value.len() != 15 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be 15 digits");
        }
        if luhn_check_digit(&value[..14]) != value.as_bytes()[14] - b'0' {
            return Err("check digit is wrong (Luhn)");
        }
        Ok(Imei(value.to_owned()))
    }

    /// Completes 14 digits with their check digit.
    pub fn from_body(body14: &str) -> Result<Imei, &'static str> {
        if body14.len() != 14 || !body14.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be 14 digits before the check digit");
        }
        Ok(Imei(format!("{body14}{}", luhn_check_digit(body14))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Luhn: from the right, double every second digit of the body (the one next to the check digit first).
fn luhn_check_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_and_rejects_bad_imeis() {
        // Published example IMEI with a valid check digit.
        assert!(Imei::parse("490154203237518").is_ok());
        assert_eq!(Imei::parse("490154203237517"), Err("check digit is wrong (Luhn)"));
        assert_eq!(Imei::parse("49015420323751"), Err("must be 15 digits"));
        assert_eq!(Imei::parse("49015420323751a"), Err("must be 15 digits"));
        assert_eq!(
            Imei::from_body("49015420323751").map(|i| i.to_string()),
            Ok("490154203237518".to_owned())
        );
    }
}
