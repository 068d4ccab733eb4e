//! How a mobile number becomes the key a customer is found by.

/// Normalises a mobile number as typed at the counter: spaces, dashes, dots and parentheses go; a mainland
/// number (11 digits starting with 1) loses its country code in any of its spellings (`+86`, `0086`, `86`); any
/// other number keeps a leading `+` if it had one. The result has 5 to 20 digits, or the reason it cannot be a
/// phone number.
pub fn normalise_phone(typed: &str) -> Result<String, &'static str> {
    let trimmed = typed.trim();
    let plus = trimmed.starts_with('+');
    let body = if plus { &trimmed[1..] } else { trimmed };
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err("must be digits, optionally after a +, with spaces or dashes between"),
        }
    }
    let mainland = |rest: &str| rest.len() == 11 && rest.starts_with('1');
    let national = if plus && digits.starts_with("86") && mainland(&digits[2..]) {
        Some(digits[2..].to_owned())
    } else if !plus && digits.starts_with("0086") && mainland(&digits[4..]) {
        Some(digits[4..].to_owned())
    } else if !plus && digits.starts_with("86") && mainland(&digits[2..]) {
        Some(digits[2..].to_owned())
    } else {
        None
    };
    if let Some(number) = national {
        return Ok(number);
    }
    if !(5..=20).contains(&digits.len()) {
        return Err("must have 5 to 20 digits");
    }
    Ok(if plus { format!("+{digits}") } else { digits })
}

/// A phone number as typed at the counter or in a search, as the documents' pattern for it allows (at most 40
/// characters; see [`normalise_phone`] for the rest), normalised.
pub fn typed_phone(typed: &str) -> Result<String, &'static str> {
    if typed.chars().count() > 40 {
        return Err("must be at most 40 characters");
    }
    normalise_phone(typed)
}

#[cfg(test)]
mod tests {
    use super::normalise_phone;

    #[test]
    fn one_number_in_its_spellings_is_one_key() {
        for typed in [
            "13800138000",
            "+8613800138000",
            "+86 138 0013 8000",
            "008613800138000",
            "8613800138000",
            " 138-0013-8000 ",
        ] {
            assert_eq!(normalise_phone(typed).as_deref(), Ok("13800138000"), "{typed}");
        }
        assert_eq!(normalise_phone("+44 20 7946 0958").as_deref(), Ok("+442079460958"));
        assert_eq!(normalise_phone("010-6552 9988").as_deref(), Ok("01065529988"));
        // A +86 landline is not a mainland mobile: it keeps its country code.
        assert_eq!(normalise_phone("+86 10 6552 9988").as_deref(), Ok("+861065529988"));
    }

    #[test]
    fn what_is_not_a_number_is_refused() {
        for typed in [
            "",
            "+",
            "1234",
            "138001380001380013800",
            "138 0013 800a",
            "++8613800138000",
            "+86-abc",
        ] {
            assert!(normalise_phone(typed).is_err(), "{typed}");
        }
    }
}
