//! A TCP proxy in front of PostgreSQL that counts the round trips its clients make and can add latency, so that a
//! benchmark or a test sees what a server costs in trips to the database, and how it fares when each trip is slow.
//!
//! A round trip is what the issue counts: a simple query (`Q`), or an extended-protocol batch, which ends with its
//! `Sync` (`S`): `Parse`/`Bind`/`Execute` messages are sent together and answered once the `Sync` arrives. Libpq
//! sends a prepared statement's first use as two such batches (prepare, then execute) and each later use as one.
//!
//! The proxy reads the frontend's startup packet (answering `N` to an SSL or GSS encryption request, so the client
//! goes on in plain text: Depot's default build has no TLS, and the tests' URLs say `sslmode=disable`), then follows
//! the frontend's message stream by its length headers and counts messages by type. The backend's bytes are passed
//! through unread. With a delay, every chunk read in one direction is written on after that delay by a writer thread
//! of its own, in the order it was read, so the stream keeps its byte order and each way costs the delay once
//! (a round trip twice), however many bytes it carries; without one, bytes are written as soon as they are read.
//!
//! Used by `benches/harness` and, through a `#[path]` module, by `tests/api/round_trips.rs` (which also holds its
//! unit tests: a bench binary runs none); one copy only.

// The benchmarks and the tests each use a part of it.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Startup-packet codes (PostgreSQL protocol 3.0, "Message Formats").
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// A startup packet longer than this is not PostgreSQL's; the connection is dropped.
const MAX_STARTUP_LEN: usize = 10_000;

/// What the proxy counted since it started or was last reset, over all its connections.
#[derive(Debug, Default)]
pub struct Counters {
    simple_queries: AtomicU64,
    syncs: AtomicU64,
    parses: AtomicU64,
    connections: AtomicU64,
}

/// A reading of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `Q` messages: one round trip each.
    pub simple_queries: u64,
    /// `S` messages: one extended-protocol batch each, one round trip.
    pub syncs: u64,
    /// `P` messages: statements prepared (a warm statement cache sends none).
    pub parses: u64,
    /// Connections accepted (a pool opening connections shows here).
    pub connections: u64,
}

impl Counts {
    /// Round trips as the issue counts them: simple queries plus batches ended by `Sync`.
    pub fn round_trips(&self) -> u64 {
        self.simple_queries + self.syncs
    }

    /// The counts of two periods together.
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            simple_queries: self.simple_queries + other.simple_queries,
            syncs: self.syncs + other.syncs,
            parses: self.parses + other.parses,
            connections: self.connections + other.connections,
        }
    }

    /// E.g. `10 (Q 3, S 7, P 0)`.
    pub fn describe(&self) -> String {
        format!(
            "{} (Q {}, S {}, P {})",
            self.round_trips(),
            self.simple_queries,
            self.syncs,
            self.parses
        )
    }
}

impl Counters {
    pub fn read(&self) -> Counts {
        Counts {
            simple_queries: self.simple_queries.load(Ordering::SeqCst),
            syncs: self.syncs.load(Ordering::SeqCst),
            parses: self.parses.load(Ordering::SeqCst),
            connections: self.connections.load(Ordering::SeqCst),
        }
    }

    /// Reads the counters and sets them to zero.
    pub fn take(&self) -> Counts {
        Counts {
            simple_queries: self.simple_queries.swap(0, Ordering::SeqCst),
            syncs: self.syncs.swap(0, Ordering::SeqCst),
            parses: self.parses.swap(0, Ordering::SeqCst),
            connections: self.connections.swap(0, Ordering::SeqCst),
        }
    }

    pub fn reset(&self) {
        self.take();
    }

    fn message(&self, kind: u8) {
        let counter = match kind {
            b'Q' => &self.simple_queries,
            b'S' => &self.syncs,
            b'P' => &self.parses,
            _ => return,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// The proxy: listening on `127.0.0.1` at a port of its own until dropped; dropping it closes every connection.
pub struct PgProxy {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    /// Added to each direction of every connection.
    pub delay: Duration,
    upstream: String,
    stopping: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl PgProxy {
    /// Starts a proxy to the PostgreSQL server of `url` (a `postgres://…@HOST:PORT/…` URL; a Unix socket URL has no
    /// address to proxy), adding `delay` each way.
    pub fn for_url(url: &str, delay: Duration) -> io::Result<PgProxy> {
        let (upstream, _) = authority(url).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{url}: a proxy needs a postgres:// URL with a host (not a Unix socket)"),
            )
        })?;
        PgProxy::start(&upstream, delay)
    }

    /// Starts a proxy to `upstream` (`host:port`), adding `delay` each way.
    pub fn start(upstream: &str, delay: Duration) -> io::Result<PgProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let proxy = PgProxy {
            addr,
            counters: Arc::default(),
            delay,
            upstream: upstream.to_owned(),
            stopping: Arc::default(),
            sockets: Arc::default(),
        };
        let (counters, stopping, sockets) = (proxy.counters.clone(), proxy.stopping.clone(), proxy.sockets.clone());
        let upstream = upstream.to_owned();
        std::thread::Builder::new().name("pg-proxy".into()).spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let connection = Connection {
                    counters: counters.clone(),
                    sockets: sockets.clone(),
                    delay,
                };
                if let Err(e) = connection.start(client, &upstream) {
                    eprintln!("pg proxy: connecting to {upstream}: {e}");
                }
            }
        })?;
        Ok(proxy)
    }

    /// `url` with its `HOST:PORT` replaced by this proxy's address; everything else (user, database, parameters)
    /// stays. `None` when the URL names no host to replace.
    pub fn route(&self, url: &str) -> Option<String> {
        let (_, range) = authority(url)?;
        let mut routed = url.to_owned();
        routed.replace_range(range, &self.addr.to_string());
        Some(routed)
    }

    /// Where the proxy forwards to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Ok(mut sockets) = self.sockets.lock() {
            for socket in sockets.drain(..) {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    }
}

/// The `HOST:PORT` of a `postgres://` URL (port 5432 when it names none) and where it stands in the URL; `None` for
/// another scheme, a URL without a host (a Unix socket), or one whose `host=` parameter overrides it.
pub fn authority(url: &str) -> Option<(String, std::ops::Range<usize>)> {
    let scheme_end = url.find("://")? + 3;
    let scheme = url.get(..scheme_end)?;
    if scheme != "postgres://" && scheme != "postgresql://" {
        return None;
    }
    let rest = url.get(scheme_end..)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let userinfo_end = rest.get(..end)?.rfind('@').map_or(0, |at| at + 1);
    let hostport = rest.get(userinfo_end..end)?;
    let query = rest.get(end..)?.split_once('?').map_or("", |(_, q)| q);
    if hostport.is_empty() || hostport.contains(',') || query.split('&').any(|p| p.starts_with("host=")) {
        return None;
    }
    let host_has_port = match hostport.rfind(':') {
        // `[::1]:5432` has a port, `[::1]` has none.
        Some(colon) => !hostport.ends_with(']') && colon > hostport.rfind(']').unwrap_or(0),
        None => false,
    };
    let upstream = if host_has_port {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    let start = scheme_end + userinfo_end;
    Some((upstream, start..scheme_end + end))
}

/// What every connection of one proxy shares.
struct Connection {
    counters: Arc<Counters>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    delay: Duration,
}

impl Connection {
    fn start(self, client: TcpStream, upstream: &str) -> io::Result<()> {
        self.keep(&client);
        let server = TcpStream::connect(upstream).inspect_err(|_| {
            let _ = client.shutdown(Shutdown::Both);
        })?;
        self.keep(&server);
        // Each write is a whole message or batch of them: Nagle would hold it back waiting for an acknowledgement.
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        self.counters.connections.fetch_add(1, Ordering::SeqCst);
        let to_server = Sink::new(server.try_clone()?, self.delay)?;
        let to_client = Sink::new(client.try_clone()?, self.delay)?;
        let (counters, answer) = (self.counters.clone(), client.try_clone()?);
        let frontend = client;
        std::thread::Builder::new()
            .name("pg-proxy-front".into())
            .spawn(move || {
                let _ = forward_frontend(frontend, answer, to_server, &counters);
            })?;
        std::thread::Builder::new()
            .name("pg-proxy-back".into())
            .spawn(move || {
                let _ = pipe(server, to_client);
            })?;
        Ok(())
    }

    fn keep(&self, socket: &TcpStream) {
        if let (Ok(clone), Ok(mut all)) = (socket.try_clone(), self.sockets.lock()) {
            // Sockets of closed connections go too, so a long benchmark does not hoard them.
            all.retain(|s| s.peer_addr().is_ok());
            all.push(clone);
        }
    }
}

/// Where the bytes of one direction go: written at once, or handed to a writer thread that writes each chunk when
/// its delay has passed. Closing the sink (dropping it) shuts the destination down once everything is written.
enum Sink {
    Now(TcpStream),
    Later {
        chunks: mpsc::Sender<(Instant, Vec<u8>)>,
        delay: Duration,
    },
}

impl Sink {
    fn new(to: TcpStream, delay: Duration) -> io::Result<Sink> {
        if delay.is_zero() {
            return Ok(Sink::Now(to));
        }
        let (chunks, queue) = mpsc::channel::<(Instant, Vec<u8>)>();
        std::thread::Builder::new()
            .name("pg-proxy-delay".into())
            .spawn(move || {
                let mut to = to;
                // Chunks arrive in the order they were read, each due `delay` after it was: due times only grow.
                for (due, chunk) in queue {
                    let wait = due.saturating_duration_since(Instant::now());
                    if !wait.is_zero() {
                        std::thread::sleep(wait);
                    }
                    if to.write_all(&chunk).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(Shutdown::Both);
            })?;
        Ok(Sink::Later { chunks, delay })
    }

    fn send(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Sink::Now(to) => to.write_all(chunk),
            Sink::Later { chunks, delay } => chunks
                .send((Instant::now() + *delay, chunk.to_vec()))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the delayed writer stopped")),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::Now(to) = self {
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}

/// Passes bytes through unread until either side closes.
fn pipe(mut from: TcpStream, mut to: Sink) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.send(&buf[..n])?;
    }
}

/// The frontend's side: the startup packet (answering encryption requests itself), then the messages, counted.
fn forward_frontend(mut from: TcpStream, mut answer: TcpStream, mut to: Sink, counters: &Counters) -> io::Result<()> {
    loop {
        let mut len = [0u8; 4];
        from.read_exact(&mut len)?;
        let n = u32::from_be_bytes(len) as usize;
        if !(8..=MAX_STARTUP_LEN).contains(&n) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a PostgreSQL startup packet",
            ));
        }
        let mut packet = vec![0u8; n];
        packet[..4].copy_from_slice(&len);
        from.read_exact(&mut packet[4..])?;
        let code = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            // "Not supported": the client goes on in plain text with a new startup packet.
            answer.write_all(b"N")?;
            continue;
        }
        to.send(&packet)?;
        if code == CANCEL_REQUEST {
            return pipe(from, to);
        }
        break;
    }
    let mut reader = MessageReader::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        reader.feed(&buf[..n], |kind| counters.message(kind));
        to.send(&buf[..n])?;
    }
}

/// Follows a stream of typed messages (a type byte, then a 4-byte big-endian length that counts itself but not the
/// type byte), however the stream is cut into chunks, reporting each message's type once its header is complete.
#[derive(Default)]
pub struct MessageReader {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
}

impl MessageReader {
    pub fn feed(&mut self, mut bytes: &[u8], mut on_message: impl FnMut(u8)) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let skip = self.body_left.min(bytes.len());
                self.body_left -= skip;
                bytes = &bytes[skip..];
                continue;
            }
            let take = (5 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len == 5 {
                let [kind, a, b, c, d] = self.header;
                on_message(kind);
                self.body_left = (u32::from_be_bytes([a, b, c, d]) as usize).saturating_sub(4);
                self.header_len = 0;
            }
        }
    }
}
