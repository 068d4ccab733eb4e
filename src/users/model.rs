//! Users and sessions as stored, the parsed username and locale, and password hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use diesel::prelude::*;
use rand::RngCore;
use uuid::Uuid;

use crate::auth::Role;
use crate::db::schema::{sessions, users};
use crate::db::types::{Id, Ts};

/// A username: 1 to 64 of `a-z 0-9 . _ -`, kept in lower case so that `Alice` and `alice` are one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(typed: &str) -> Result<Username, &'static str> {
        let name = typed.trim().to_ascii_lowercase();
        if name.is_empty() || name.len() > 64 {
            return Err("must be 1 to 64 characters");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("may hold only letters a-z, digits, '.', '_' and '-'");
        }
        Ok(Username(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The console's language for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    ZhCn,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    pub fn parse(value: &str) -> Option<Locale> {
        match value {
            "zh-CN" => Some(Locale::ZhCn),
            "en" => Some(Locale::En),
            _ => None,
        }
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1 lane): about 20 ms per hash on a server core.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("encoding a salt: {e}"))?;
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string; a string that does not parse matches nothing. The parameters are
/// read from the string, so hashes made with older parameters still verify.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification without a user, so that an unknown username answers as slowly as a wrong
/// password and the timing tells nothing.
pub fn verify_nobody(password: &str) {
    static DUMMY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hash_password("no user has this password").unwrap_or_default());
    let _ = verify_password(password, &DUMMY);
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Id,
    pub username: String,
    pub display_name: String,
    pub locale: String,
    pub password_hash: String,
    pub key_id: Id,
    pub disabled: bool,
    pub failed_attempts: i32,
    pub locked_until: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: Id,
    pub token_hash: String,
    pub user_id: Id,
    pub csrf_secret: String,
    pub created_at: Ts,
    pub last_seen_at: Ts,
    pub expires_at: Ts,
}

/// A validated request for a new user.
pub struct NewUser {
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    /// Stores (store staff) or locations (warehouse).
    pub store_ids: Vec<Uuid>,
    pub locale: Locale,
    pub password: String,
}

/// The signed-in person, as the console shows them.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub locale: Locale,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_and_plain() {
        assert_eq!(Username::parse(" Alice.W ").map(|u| u.0), Ok("alice.w".to_owned()));
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("李雷").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn passwords_verify_against_their_phc_string_only() {
        let Ok(phc) = hash_password("correct horse battery") else {
            panic!("hashing failed")
        };
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterY", &phc));
        assert!(!verify_password("correct horse battery", "not a phc string"));
        assert_ne!(Some(phc), hash_password("correct horse battery").ok(), "salted");
    }
}
