//! The staff console at `/console/`: server-rendered pages (askama templates compiled into the binary, one
//! stylesheet checked in), signed in with a user's session.
//!
//! - [`text`]: the words of each page in Chinese and English.
//! - [`kit`]: what every page and form shares (session, CSRF, one-time form tokens, problems beside fields).
//! - [`http`]: sign in and out, the front desk's search, the ticket page; it mounts the parts below.
//! - [`desk`], [`warehouse`], [`admin`]: the front desk's, the warehouse's and the administrator's pages.
//! - [`lists`]: a loan's page and its forms, the desk's lists, a device's history.
//!
//! Security, in short: the session cookie is `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` unless the server
//! runs with `--insecure-cookies`. Lax rather than Strict so that a ticket link pasted into a chat or a mail opens
//! signed in; what Strict would add is covered by the CSRF check every form and every cookie-authenticated write
//! passes (a token, and a same-origin `Origin` when the browser sends one). GET never changes anything.

pub mod admin;
pub mod desk;
pub mod http;
pub mod kit;
pub mod lists;
pub mod text;
pub mod warehouse;

use actix_web::http::header::{self, HeaderMap};
use actix_web::web;

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    http::configure(cfg);
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{COOKIE, HeaderMap, HeaderValue};

    use super::cookie_value;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; depot_session_x=2"));
        headers.append(COOKIE, HeaderValue::from_static("depot_session=abc; b=3"));
        assert_eq!(cookie_value(&headers, "depot_session"), Some("abc"));
        assert_eq!(cookie_value(&headers, "b"), Some("3"));
        assert_eq!(cookie_value(&headers, "c"), None);
    }
}
