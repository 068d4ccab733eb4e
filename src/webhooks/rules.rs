//! The webhooks' rules, without a database or a network in sight: the Standard Webhooks signature, secrets, what an
//! endpoint URL may be and which addresses it may reach, the retry schedule and the message envelope.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::edge::Cidr;

/// Secrets are `whsec_` and the base64 of this many random bytes (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
pub const SECRET_PREFIX: &str = "whsec_";
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// A new endpoint secret: `whsec_` + base64 of [`SECRET_BYTES`] random bytes.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes a secret stands for: the base64 after `whsec_` (the specification's form).
fn key_of(secret: &str) -> Vec<u8> {
    let text = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(text).unwrap_or_else(|_| text.as_bytes().to_vec())
}

/// One signature: `v1,` + base64 of HMAC-SHA256 with the secret's key over `id.timestamp.body`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key_of(secret)) {
        Ok(mac) => mac,
        // HMAC takes a key of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret in force, space-separated (during a rotation's
/// overlap, the new secret's and the previous one's).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An endpoint URL as registered: scheme, host (without IPv6 brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    pub text: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
}

/// Parses an endpoint URL: `http` or `https`, a host, no user name or password. The addresses it resolves to are
/// checked apart ([`refused_address`]), since DNS answers change.
pub fn parse_url(text: &str) -> Result<EndpointUrl, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_URL_LEN {
        return Err(format!("must be 1 to {MAX_URL_LEN} characters"));
    }
    let uri: ureq::http::Uri = text.parse().map_err(|_| "is not a URL".to_owned())?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(format!("the scheme must be http or https, not {other}")),
        None => return Err("must be an absolute http or https URL".to_owned()),
    };
    let authority = uri.authority().ok_or_else(|| "has no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("must not carry a user name or password".to_owned());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(EndpointUrl {
        text: text.to_owned(),
        https,
        host,
        port,
    })
}

/// Why a delivery may not go to `ip`, unless the operator allowed it (`--webhook-allow-cidr`): loopback, private,
/// link-local, shared (CGNAT), unspecified, multicast, broadcast, documentation and reserved ranges, unique-local
/// and link-local IPv6, and the IPv4-mapped and NAT64 forms of those. `None`: a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return forbidden_v4(v4);
            }
            if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("a unique-local IPv6 address")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("a link-local IPv6 address")
            } else if s[0] & 0xffc0 == 0xfec0 {
                Some("a site-local IPv6 address")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("a documentation address")
            } else if v6.segments()[..6] == [0, 0, 0, 0, 0, 0] {
                // IPv4-compatible (deprecated) ::a.b.c.d
                Some("an IPv4-compatible IPv6 address")
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_unspecified() || o[0] == 0 {
        Some("the unspecified address (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("a shared (CGNAT) address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() || o[0] >= 240 {
        Some("a reserved address")
    } else if ip.is_documentation() || (o[0] == 198 && (o[1] & 0xfe) == 18) || (o[0] == 192 && o[1] == 0 && o[2] == 0) {
        Some("a documentation, benchmarking or protocol address")
    } else {
        None
    }
}

/// Why `ip` is refused for webhook deliveries, given the operator's allow list; `None` when it may be reached.
pub fn refused_address(ip: IpAddr, allow: &[Cidr]) -> Option<String> {
    if allow.iter().any(|c| c.contains(ip)) {
        return None;
    }
    forbidden_reason(ip).map(|why| format!("{ip} is {why}, which webhooks may not reach (see --webhook-allow-cidr)"))
}

/// Pauses between attempts, from the first failure on: about 27.5 hours in all, so a message is retried for more
/// than a day before it is given up.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The pause before the next attempt after `failed` failed attempts (1-based), scaled by `scale` (1.0 in
/// production; tests shrink it) and jittered by ±10% (`jitter` in 0..1; at -10% the whole schedule still spans more than 24 hours); `None` when the message has had its last
/// attempt.
pub fn next_delay(failed: u32, scale: f64, jitter: f64) -> Option<Duration> {
    let base = *RETRY_SCHEDULE.get(failed.checked_sub(1)? as usize)?;
    let factor = scale.max(0.0) * (0.9 + 0.2 * jitter.clamp(0.0, 1.0));
    Some(base.mul_f64(factor))
}

/// The message body (Standard Webhooks' envelope): `type`, `timestamp` (when the event happened) and `data`: the
/// event's `id`, its `subject` (`type`, `id`), `store_id` when it has one, and the payload's fields beside them (a
/// payload that is not an object goes in `data.payload`).
pub fn envelope(
    event_type: &str,
    occurred_at: DateTime<Utc>,
    event_id: uuid::Uuid,
    subject: (&str, uuid::Uuid),
    store_id: Option<uuid::Uuid>,
    payload: serde_json::Value,
) -> serde_json::Value {
    let mut data = serde_json::Map::new();
    match payload {
        serde_json::Value::Object(fields) => data.extend(fields),
        serde_json::Value::Null => {}
        other => {
            data.insert("payload".into(), other);
        }
    }
    data.insert("id".into(), event_id.to_string().into());
    data.insert(
        "subject".into(),
        serde_json::json!({"type": subject.0, "id": subject.1.to_string()}),
    );
    if let Some(store) = store_id {
        data.insert("store_id".into(), store.to_string().into());
    }
    serde_json::json!({
        "type": event_type,
        "timestamp": occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": data,
    })
}

/// Keeps at most `max` bytes of a response body as text (cut on a character boundary).
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let text = String::from_utf8_lossy(cut);
    text.trim_end_matches('\u{fffd}').to_owned()
}

/// What an endpoint's `description` may be, as the OpenAPI document states it: after surrounding white space is
/// trimmed, at most 500 characters and none a control character (what `Checks::text` enforces with 0 to 500).
pub const DESCRIPTION_PATTERN: &str = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,498}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_test_vector_is_reproduced() {
        // The specification's published vector (also in its reference libraries' tests).
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_sign_twice_space_separated() {
        let header = signature_header(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &generate_secret()],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(parts[1].starts_with("v1,") && parts[1] != parts[0]);
    }

    #[test]
    fn secrets_have_the_specified_form() {
        let s = generate_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(key_of(&s).len(), SECRET_BYTES);
        assert_ne!(s, generate_secret());
    }

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        let ok = parse_url("https://hooks.example.com/depot?x=1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((ok.https, ok.host.as_str(), ok.port), (true, "hooks.example.com", 443));
        let v6 = parse_url("http://[::1]:8080/h").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com/hook",
            "http://user:pw@example.com/",
            "",
            "gopher://x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_and_special_addresses_are_refused_unless_allowed() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ];
        for text in refused {
            let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(refused_address(ip, &[]).is_some(), "{text} must be refused");
        }
        for text in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
            "100.128.0.1",
        ] {
            let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(refused_address(ip, &[]), None, "{text} must be allowed");
        }
        let allow = Cidr::parse_list("127.0.0.0/8,10.0.0.0/8").unwrap_or_else(|e| panic!("{e}"));
        for text in ["127.0.0.1", "10.9.9.9", "::ffff:127.0.0.1"] {
            let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(refused_address(ip, &allow), None, "{text} is allowed by the operator");
        }
        let ip: IpAddr = "192.168.0.1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(refused_address(ip, &allow).is_some());
    }

    #[test]
    fn retries_back_off_for_more_than_a_day_then_stop() {
        let total: Duration = (1..=7).filter_map(|n| next_delay(n, 1.0, 0.0)).sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        assert_eq!(next_delay(8, 1.0, 0.5), None);
        assert_eq!(next_delay(0, 1.0, 0.5), None);
        let low = next_delay(2, 1.0, 0.0).unwrap_or_default();
        let high = next_delay(2, 1.0, 1.0).unwrap_or_default();
        assert!(low < high && low >= Duration::from_secs(240) && high <= Duration::from_secs(360));
        let scaled = next_delay(1, 0.001, 0.5).unwrap_or_default();
        assert!(
            scaled > Duration::from_micros(4900) && scaled < Duration::from_micros(5100),
            "{scaled:?}"
        );
    }

    #[test]
    fn the_envelope_carries_the_event_and_its_payload() {
        let id = uuid::Uuid::now_v7();
        let subject = uuid::Uuid::now_v7();
        let body = envelope(
            "ticket.opened",
            Utc::now(),
            id,
            ("ticket", subject),
            None,
            serde_json::json!({"number": "RT-1", "id": "spoofed"}),
        );
        assert_eq!(body["type"], "ticket.opened");
        assert_eq!(body["data"]["id"], id.to_string());
        assert_eq!(body["data"]["subject"]["type"], "ticket");
        assert_eq!(body["data"]["number"], "RT-1");
        assert!(body["data"].get("store_id").is_none());
    }

    #[test]
    fn an_excerpt_is_cut_on_a_character_boundary() {
        assert_eq!(excerpt("héllo".as_bytes(), 2), "h");
        assert_eq!(excerpt(b"ok", 1024), "ok");
    }

    #[test]
    fn the_description_pattern_accepts_what_the_server_accepts() {
        let pattern = regex::Regex::new(super::DESCRIPTION_PATTERN).unwrap_or_else(|e| panic!("{e}"));
        let long = "x".repeat(500);
        let too_long = "x".repeat(501);
        let padded = format!("  {long}\t\n");
        let samples = [
            "",
            "   ",
            "partner hooks",
            " 维修 回调 ",
            "a\u{0}b",
            "a\u{7}",
            "tab\tinside",
            "line\nbreak",
            "\u{85}x",
            "x\u{9f}y",
            "\u{3000}全角\u{3000}",
            long.as_str(),
            too_long.as_str(),
            padded.as_str(),
            "é\u{200b}",
        ];
        for sample in samples {
            let mut checks = crate::http::validate::Checks::new();
            checks.text("description", sample, 0, 500);
            let server = checks.finish().is_ok();
            assert_eq!(pattern.is_match(sample), server, "{sample:?}");
        }
    }
}
