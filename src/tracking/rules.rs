//! What the link may show of a person, and what may be a token at all.

/// Whether `token` has the shape of one [`super::new_token`] makes (43 base64url characters): anything else cannot
/// be anyone's token and is refused without a look-up.
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn mask_name(name: &str) -> String {
    let first: String = name.chars().take(1).collect();
    format!("{first}**")
}

pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().saturating_sub(4);
    digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i < keep { '*' } else { *d })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::new_token;

    #[test]
    fn tokens_are_long_random_and_personal_data_is_masked() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits");
        assert_eq!(mask_name("Wang Fang"), "W**");
        assert_eq!(mask_phone("+86 138-0013-8000"), "*********8000");
    }
}
