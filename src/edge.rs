//! What stands between the network and the handlers: who the client is (behind trusted proxies), a deadline for
//! request bodies, back-off after failed authentication, `/metrics` access, security headers, `405` with `Allow`,
//! and `Connection: close` while the server drains for shutdown.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future as _;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::Stream;

use crate::error::{AppError, Problem};
use crate::state::AppState;

/// An address or a network: `10.0.0.0/8`, `192.0.2.7`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }

    /// A comma-separated list, as the flags take it; empty means none.
    pub fn parse_list(text: &str) -> Result<Vec<Cidr>, String> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Cidr::parse)
            .collect()
    }

    pub fn loopback() -> Vec<Cidr> {
        vec![
            Cidr {
                network: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            Cidr {
                network: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                prefix: 128,
            },
        ]
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => masked(
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(a)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => masked(u128::from(n), u128::from(a), self.prefix),
            _ => false,
        }
    }
}

fn masked(network: u128, addr: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    network & mask == addr & mask
}

pub fn any_contains(list: &[Cidr], ip: IpAddr) -> bool {
    list.iter().any(|c| c.contains(ip))
}

/// Proxies whose `X-Forwarded-For` is believed. Empty by default: the client is the peer of the connection.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    /// The client of a request: the peer, unless the peer is a trusted proxy; then the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy (addresses to its left were written by the client and
    /// prove nothing).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.to_canonical());
        if self.0.is_empty() || !any_contains(&self.0, peer) {
            return peer;
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else { return peer };
            for hop in value.split(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => hops.push(ip.to_canonical()),
                    // A hop we cannot read: trust nothing to its left.
                    Err(_) => hops.clear(),
                }
            }
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !any_contains(&self.0, hop) {
                break;
            }
        }
        client
    }
}

/// The client address of a request, as [`TrustedProxies::client_ip`] resolves it.
pub fn client_of(state: &AppState, req: &HttpRequest) -> IpAddr {
    state
        .settings
        .trusted_proxies
        .client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
}

/// Counts events per key in a fixed window; a key past the limit waits for its window to end. Bounded: past
/// 100,000 keys, those whose window has ended are forgotten.
pub struct WindowCounter<K> {
    limit: u32,
    window: Duration,
    by_key: Mutex<HashMap<K, (Instant, u32)>>,
    /// Whether anything was ever recorded: until then, checks take no lock (the usual case on the hot path).
    any: AtomicBool,
}

impl<K: std::hash::Hash + Eq> WindowCounter<K> {
    pub fn new(limit: u32, window: Duration) -> WindowCounter<K> {
        WindowCounter {
            limit,
            window,
            by_key: Mutex::new(HashMap::new()),
            any: AtomicBool::new(false),
        }
    }

    /// Seconds the key must still wait, when it is over the limit.
    pub fn blocked<Q>(&self, key: &Q, now: Instant) -> Option<u64>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let Ok(map) = self.by_key.lock() else { return None };
        let (start, n) = map.get(key)?;
        let elapsed = now.saturating_duration_since(*start);
        (elapsed < self.window && *n >= self.limit).then(|| (self.window - elapsed).as_secs().max(1))
    }

    pub fn record(&self, key: K, now: Instant) {
        let Ok(mut map) = self.by_key.lock() else { return };
        self.any.store(true, Ordering::Relaxed);
        if map.len() > 100_000 {
            // Forget stale entries rather than grow without bound.
            let window = self.window;
            map.retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        }
        let entry = map.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// Counts failures per client address in a fixed window.
pub type FailureLimiter = WindowCounter<IpAddr>;

/// Writes through a customer's tracking link (approving a quote, choosing a remedy, rating, filing a complaint)
/// allowed per token and per client address in a window: the link has no key, so these limits are what stands
/// between it and a script. Every write counts, accepted or refused.
pub struct LinkWrites {
    per_token: WindowCounter<String>,
    per_client: WindowCounter<IpAddr>,
}

/// Writes per tracking token per [`LINK_WRITE_WINDOW`].
pub const LINK_WRITES_PER_TOKEN: u32 = 10;
/// Writes per client address per [`LINK_WRITE_WINDOW`] (a store's NAT may carry several customers).
pub const LINK_WRITES_PER_CLIENT: u32 = 30;
pub const LINK_WRITE_WINDOW: Duration = Duration::from_secs(600);

impl Default for LinkWrites {
    fn default() -> Self {
        LinkWrites {
            per_token: WindowCounter::new(LINK_WRITES_PER_TOKEN, LINK_WRITE_WINDOW),
            per_client: WindowCounter::new(LINK_WRITES_PER_CLIENT, LINK_WRITE_WINDOW),
        }
    }
}

impl LinkWrites {
    /// Counts one write through the link whose token hashes to `token_hash` from `client`, or answers 429 with the
    /// seconds to wait when either limit is reached (the refused attempt is not counted).
    pub fn admit(&self, token_hash: &str, client: IpAddr, now: Instant) -> Result<(), AppError> {
        let wait = self
            .per_client
            .blocked(&client, now)
            .max(self.per_token.blocked(token_hash, now));
        if let Some(secs) = wait {
            return Err(AppError::TooManyRequests(secs));
        }
        self.per_client.record(client, now);
        self.per_token.record(token_hash.to_owned(), now);
        Ok(())
    }
}

/// Keys refused by the database allowed per client per window before the client gets 429.
pub const AUTH_FAILURES_PER_WINDOW: u32 = 30;
/// Failed console sign-ins one client may make per window: a person mistyping needs a few, a guesser many.
pub const SIGN_IN_FAILURES_PER_WINDOW: u32 = 10;
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Key hashes seen recently, each for a while: one set for well-formed keys the database did not know (so that a
/// repeated bad key is refused before its body is read and without a database call), one for keys that were
/// accepted (so that the back-off after failed authentication never refuses a valid key: a client blocked for
/// bad keys may share its address, behind a store's NAT, with real clients). A random key never becomes valid
/// later and a remembered good key is still checked by the handler, so remembering either is safe; entries expire
/// anyway (a restored backup may bring a key back) and the sets are bounded.
pub struct RecentKeys {
    seen: Mutex<HashMap<String, Instant>>,
    /// Whether any key was ever inserted: until then, checks take no lock.
    any: AtomicBool,
}

/// The set of keys the database refused.
pub type BadKeys = RecentKeys;

const KEY_MEMORY_TTL: Duration = Duration::from_secs(600);
const KEYS_KEPT: usize = 10_000;

impl Default for RecentKeys {
    fn default() -> Self {
        RecentKeys {
            seen: Mutex::new(HashMap::new()),
            any: AtomicBool::new(false),
        }
    }
}

impl RecentKeys {
    pub fn contains(&self, hash: &str, now: Instant) -> bool {
        if !self.any.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(map) = self.seen.lock() else { return false };
        map.get(hash)
            .is_some_and(|at| now.saturating_duration_since(*at) < KEY_MEMORY_TTL)
    }

    pub fn insert(&self, hash: String, now: Instant) {
        let Ok(mut map) = self.seen.lock() else { return };
        self.any.store(true, Ordering::Relaxed);
        if map.len() >= KEYS_KEPT && !map.contains_key(&hash) {
            map.retain(|_, at| now.saturating_duration_since(*at) < KEY_MEMORY_TTL);
            if map.len() >= KEYS_KEPT {
                map.clear();
            }
        }
        map.insert(hash, now);
    }

    pub fn remove(&self, hash: &str) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(mut map) = self.seen.lock() {
            map.remove(hash);
        }
    }
}

/// Set once the server is asked to stop: readiness answers 503, answers carry `Connection: close`, and the
/// background threads leave their loops.
#[derive(Default)]
pub struct Shutdown {
    draining: AtomicBool,
    stopped: Mutex<bool>,
    wake: Condvar,
    /// Requests past the edge and not yet answered (see [`InFlight`]).
    in_flight: AtomicUsize,
}

/// Counts one request as in flight until it is answered or dropped.
struct InFlight<'a>(&'a Shutdown);

impl<'a> InFlight<'a> {
    fn enter(shutdown: &'a Shutdown) -> InFlight<'a> {
        shutdown.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(shutdown)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shutdown {
    pub fn begin(&self) {
        self.draining.store(true, Ordering::SeqCst);
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
        }
        self.wake.notify_all();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Requests the server is answering now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Sleeps up to `interval`; true when shutdown began (before or during the wait).
    pub fn wait(&self, interval: Duration) -> bool {
        let Ok(stopped) = self.stopped.lock() else { return true };
        match self.wake.wait_timeout_while(stopped, interval, |stopped| !*stopped) {
            Ok((stopped, _)) => *stopped,
            Err(_) => true,
        }
    }
}

/// A problem+json answer for statuses `AppError` has no variant for.
pub fn problem_response(status: StatusCode, code: &str, detail: &str) -> HttpResponse {
    let problem = Problem {
        problem_type: format!("urn:depot:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        code: code.to_owned(),
        errors: Vec::new(),
        ticket_id: None,
    };
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(problem)
}

/// The routes the server has and the methods each takes, from the OpenAPI document, to tell `405` from `404`.
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<&'static str>)>,
}

enum Segment {
    Literal(String),
    Param,
}

impl RouteTable {
    pub fn from_openapi(document: &utoipa::openapi::OpenApi) -> RouteTable {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Param
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
                (segments, methods)
            })
            .collect();
        RouteTable { routes }
    }

    /// The methods `path` takes, from its most specific matching route (literal segments beat parameters, as
    /// `/tickets/lookup` beats `/tickets/{ticket_id}`); `None` when no route has this path.
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(usize, Vec<&'static str>)> = None;
        for (segments, methods) in &self.routes {
            if segments.len() != parts.len() {
                continue;
            }
            let mut literals = 0;
            let matches = segments.iter().zip(&parts).all(|(seg, part)| match seg {
                Segment::Literal(l) => {
                    literals += 1;
                    l == part
                }
                Segment::Param => !part.is_empty(),
            });
            if matches && best.as_ref().is_none_or(|(n, _)| literals > *n) {
                best = Some((literals, methods.clone()));
            }
        }
        best.map(|(_, methods)| methods)
    }
}

/// Unknown routes answer 404; known routes asked with a method they do not take answer 405 with `Allow`.
pub async fn no_route(req: HttpRequest, routes: web::Data<RouteTable>) -> HttpResponse {
    match routes.allowed(req.path()) {
        Some(methods) if !methods.is_empty() => method_not_allowed(req.method().as_str(), &methods),
        _ => AppError::NotFound("route").error_response(),
    }
}

/// The methods a path takes when `method` is not one of them. Asked before routing, because the router may match
/// a less specific route that takes the method: `GET /loaners/import` would reach `GET /loaners/{loaner_id}`.
fn refused_method(routes: &RouteTable, method: &str, path: &str) -> Option<Vec<&'static str>> {
    routes
        .allowed(path)
        .filter(|methods| !methods.is_empty() && !methods.contains(&method))
}

fn method_not_allowed(method: &str, methods: &[&'static str]) -> HttpResponse {
    let allow = methods.join(", ");
    let mut res = problem_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{method} is not allowed here; this route takes {allow}"),
    );
    if let Ok(value) = HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, value);
    }
    res
}

/// A strict policy for HTML (only the Swagger UI serves it). Swagger UI loads its scripts and styles from its own
/// files, sets inline `style` attributes and draws icons from `data:` URLs; it fetches the document from here.
pub const HTML_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The key in `Authorization: Bearer <key>`, if any.
pub fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

fn has_body(headers: &HeaderMap) -> bool {
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    chunked || length > 0
}

/// A request body that fails once its deadline passes, and says so in `timed_out`.
struct TimedPayload {
    inner: Payload,
    deadline: Pin<Box<actix_web::rt::time::Sleep>>,
    timed_out: Rc<Cell<bool>>,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.timed_out.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}

fn close(res: &mut HttpResponse) {
    res.head_mut().set_connection_type(ConnectionType::Close);
}

/// The server's edge, around every request (see the module comment). Cheap on the hot path: a few header looks, one
/// map look-up for a blocked client and one for a known-bad key; the key's hash is kept for the handler's check.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let _in_flight = InFlight::enter(&state.shutdown);
    let now = Instant::now();
    let path = req.path();
    let public = path.starts_with("/api/v1/public/");
    let api = path.starts_with("/api/v1/") && !public;
    let peer = req.peer_addr().map(|a| a.ip());
    let client = state.settings.trusted_proxies.client_ip(peer, req.headers());
    let with_body = has_body(req.headers());
    let bearer = bearer_of(req.headers()).map(str::to_owned);

    let wrong_method = match req.app_data::<web::Data<RouteTable>>() {
        Some(routes) if path.starts_with("/api/v1/") => refused_method(routes, req.method().as_str(), path),
        _ => None,
    };
    let refused = if let Some(methods) = wrong_method {
        Some(method_not_allowed(req.method().as_str(), &methods))
    } else if path == "/metrics" && !metrics_allowed(&state, peer, req.headers(), bearer.as_deref()) {
        Some(problem_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            "metrics are served to the configured addresses, or with the metrics key",
        ))
    } else if api {
        // A client over the failure limit is refused unless its key was recently accepted: the back-off is for
        // guessers and never costs a valid key (real clients may share the guesser's address, behind a NAT).
        let blocked = state.auth_failures.blocked(&client, now);
        match bearer.as_deref() {
            Some(key) if crate::auth::well_formed_key(key) => {
                let hash = crate::auth::hash_key(key);
                let known_bad = state.bad_keys.contains(&hash, now);
                let refusal = match blocked {
                    Some(secs) if known_bad || !state.good_keys.contains(&hash, now) => {
                        Some(AppError::TooManyRequests(secs).error_response())
                    }
                    _ if known_bad => Some(AppError::Unauthorized("the API key is not valid").error_response()),
                    _ => None,
                };
                req.extensions_mut().insert(crate::auth::KeyHash(hash));
                refusal
            }
            malformed_or_missing => match blocked {
                Some(secs) => Some(AppError::TooManyRequests(secs).error_response()),
                None => {
                    malformed_or_missing.map(|_| AppError::Unauthorized("the API key is not valid").error_response())
                }
            },
        }
    } else {
        None
    };
    if let Some(mut res) = refused {
        if with_body {
            // The body is not read; the connection cannot carry another request.
            close(&mut res);
        }
        let res = req.into_response(res);
        return Ok(finish(&state, res, public));
    }

    let timed_out = Rc::new(Cell::new(false));
    if with_body {
        let inner = req.take_payload();
        let timed = TimedPayload {
            inner,
            deadline: Box::pin(actix_web::rt::time::sleep(state.settings.body_timeout)),
            timed_out: timed_out.clone(),
        };
        let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(timed);
        req.set_payload(Payload::Stream { payload: boxed });
    }

    let mut res = next.call(req).await?.map_into_boxed_body();
    if timed_out.get() {
        let mut answer = problem_response(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            &format!(
                "the request body did not arrive within {} seconds",
                state.settings.body_timeout.as_secs()
            ),
        );
        close(&mut answer);
        res = res.into_response(answer);
    } else if api && res.status() == StatusCode::UNAUTHORIZED {
        // Only a well-formed key the database refused counts: it cost a look-up. A missing, malformed or known-bad
        // key costs nothing, and clients probing without a key (or tests of that) are not slowed.
        if let Some(crate::auth::KeyHash(hash)) = res.request().extensions_mut().remove::<crate::auth::KeyHash>() {
            state.auth_failures.record(client, now);
            state.good_keys.remove(&hash);
            state.bad_keys.insert(hash, now);
        }
    } else if api && res.status().is_success() {
        // Only an authenticated request is answered 2xx under /api/v1 (outside the public routes).
        if let Some(crate::auth::KeyHash(hash)) = res.request().extensions_mut().remove::<crate::auth::KeyHash>() {
            state.good_keys.insert(hash, now);
        }
    }
    Ok(finish(&state, res, public))
}

/// Headers every answer carries, and `Connection: close` while draining.
fn finish(state: &AppState, mut res: ServiceResponse<BoxBody>, public: bool) -> ServiceResponse<BoxBody> {
    let authenticated = res.request().headers().contains_key(header::AUTHORIZATION)
        || res.request().headers().contains_key(header::COOKIE);
    let headers = res.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if (authenticated || public) && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        // The console's pages set their own policy (they post forms to themselves); every other page gets this one.
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(HTML_CSP));
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if state.shutdown.is_draining() {
        res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    res
}

/// `/metrics` is open to a connection whose TCP peer is in `--metrics-allow`, never to an address a request names
/// in `X-Forwarded-For` (a client chooses that). A request a trusted proxy forwarded (it carries `X-Forwarded-For`)
/// comes from whoever is behind the proxy, so the proxy's own address opens nothing for it: it needs the key.
fn metrics_allowed(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap, bearer: Option<&str>) -> bool {
    if let Some(peer) = peer.map(|p| p.to_canonical()) {
        let forwarded =
            any_contains(&state.settings.trusted_proxies.0, peer) && headers.contains_key("x-forwarded-for");
        if !forwarded && any_contains(&state.settings.metrics_allow, peer) {
            return true;
        }
    }
    match (&state.settings.metrics_key, bearer) {
        (Some(key), Some(given)) => bool::from(subtle::ConstantTimeEq::ct_eq(key.as_bytes(), given.as_bytes())),
        _ => false,
    }
}

/// Paths for the request log: a tracking token is a credential and never written down.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const TRACKING: &str = "/api/v1/public/tracking/";
    match path.strip_prefix(TRACKING) {
        Some(rest) if !rest.is_empty() => std::borrow::Cow::Owned(format!("{TRACKING}<redacted>")),
        _ => std::borrow::Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in xff {
            map.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn networks_parse_and_contain() {
        let net = Cidr::parse("10.1.0.0/16").unwrap_or_else(|e| panic!("{e}"));
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.0.9")),
            "IPv4-mapped IPv6 is the IPv4 address"
        );
        assert!(Cidr::parse("::1").is_ok_and(|c| c.contains(ip("::1"))));
        assert!(Cidr::parse("0.0.0.0/0").is_ok_and(|c| c.contains(ip("203.0.113.1"))));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nginx").is_err());
        assert_eq!(Cidr::parse_list(" 10.0.0.1, 192.168.0.0/24 ").map(|l| l.len()), Ok(2));
        assert_eq!(Cidr::parse_list("").map(|l| l.len()), Ok(0));
        assert!(any_contains(&Cidr::loopback(), ip("127.0.0.1")));
        assert!(!any_contains(&Cidr::loopback(), ip("192.0.2.1")));
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(Some(ip("10.0.0.5")), &headers(&["198.51.100.7"])),
            ip("10.0.0.5")
        );
        let proxies = TrustedProxies(vec![Cidr::parse("10.0.0.0/8").unwrap_or_else(|e| panic!("{e}"))]);
        // From the proxy: the right-most address it did not itself add.
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.5")), &headers(&["1.1.1.1, 198.51.100.7"])),
            ip("198.51.100.7"),
            "the client's own (spoofable) entries to the left are ignored"
        );
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.5")), &headers(&["198.51.100.7", "10.0.0.9"])),
            ip("198.51.100.7"),
            "trusted hops are skipped, over several header lines"
        );
        assert_eq!(proxies.client_ip(Some(ip("10.0.0.5")), &headers(&[])), ip("10.0.0.5"));
        // Not from a proxy: the header is the client's word only.
        assert_eq!(
            proxies.client_ip(Some(ip("192.0.2.1")), &headers(&["198.51.100.7"])),
            ip("192.0.2.1")
        );
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.5")), &headers(&["garbage"])),
            ip("10.0.0.5"),
            "an unreadable hop is not believed"
        );
    }

    #[test]
    fn failures_are_limited_per_client_and_window() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.blocked(&a, t0), None);
            limiter.record(a, t0);
        }
        assert_eq!(limiter.blocked(&a, t0), Some(60));
        assert_eq!(limiter.blocked(&b, t0), None, "other clients are not affected");
        assert_eq!(
            limiter.blocked(&a, t0 + Duration::from_secs(60)),
            None,
            "the window passes"
        );
    }

    #[test]
    fn link_writes_are_limited_per_token_and_per_client() {
        let writes = LinkWrites::default();
        let t0 = Instant::now();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..LINK_WRITES_PER_TOKEN {
            assert!(writes.admit("token-1", a, t0).is_ok());
        }
        assert!(
            matches!(writes.admit("token-1", b, t0), Err(AppError::TooManyRequests(_))),
            "the token's limit holds whatever the address"
        );
        let mut admitted = LINK_WRITES_PER_TOKEN;
        for n in 0.. {
            if writes.admit(&format!("other-{n}"), a, t0).is_err() {
                break;
            }
            admitted += 1;
        }
        assert_eq!(
            admitted, LINK_WRITES_PER_CLIENT,
            "the address's limit counts every token's writes"
        );
        assert!(
            writes.admit("token-2", b, t0).is_ok(),
            "another client with another token is served"
        );
        assert!(
            writes.admit("token-1", a, t0 + LINK_WRITE_WINDOW).is_ok(),
            "both windows pass"
        );
    }

    #[test]
    fn bad_keys_are_remembered_for_a_while() {
        let bad = BadKeys::default();
        let t0 = Instant::now();
        assert!(!bad.contains("h", t0));
        bad.insert("h".into(), t0);
        assert!(bad.contains("h", t0 + Duration::from_secs(1)));
        assert!(!bad.contains("h", t0 + KEY_MEMORY_TTL));
    }

    #[test]
    fn tracking_tokens_are_kept_out_of_the_log() {
        assert_eq!(
            loggable_path("/api/v1/public/tracking/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde"),
            "/api/v1/public/tracking/<redacted>"
        );
        assert_eq!(loggable_path("/api/v1/tickets"), "/api/v1/tickets");
        assert_eq!(loggable_path("/api/v1/public/price-list"), "/api/v1/public/price-list");
    }

    #[test]
    fn routes_answer_with_their_methods() {
        let table = RouteTable::from_openapi(&crate::openapi::document());
        assert_eq!(table.allowed("/api/v1/tickets"), Some(vec!["GET", "POST"]));
        assert_eq!(
            table.allowed("/api/v1/tickets/0190c1a2-0000-7000-8000-000000000000/cancel"),
            Some(vec!["POST"])
        );
        assert_eq!(
            table.allowed("/api/v1/parts/0190c1a2-0000-7000-8000-000000000000/price"),
            Some(vec!["GET"])
        );
        assert_eq!(table.allowed("/health/ready"), Some(vec!["GET"]));
        assert_eq!(table.allowed("/api/v1/nothing-here"), None);
    }

    #[test]
    fn the_shutdown_wakes_a_sleeping_loop() {
        let shutdown = std::sync::Arc::new(Shutdown::default());
        assert!(!shutdown.wait(Duration::from_millis(1)));
        let waiter = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || shutdown.wait(Duration::from_secs(3600)))
        };
        shutdown.begin();
        assert!(waiter.join().unwrap_or(false));
        assert!(shutdown.is_draining());
    }
}
