//! Courier event-ingestion benchmark: a partner's machines post tracking events for many pickups, some of them
//! resent (retries after a lost answer), over HTTP against the real server, through the same database work called
//! directly (`courier::post_event`), and as a bare insert of the event row; interleaved round by round. It prints figures and never
//! asserts on them (see `harness`); after each round it counts the stored events, which resends must not grow.
//!
//! `cargo bench --bench events -- [--database-url URL] [--concurrency 32] [--seconds 5] [--rounds 3]
//! [--pickups 500] [--duplicates 0.2]`

mod harness;

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use depot::auth::Role;
use depot::courier::{EventRow, PostEvent};
use depot::db::Engine;
use depot::db::schema::pickup_events;
use depot::db::types::{Id, Ts};
use harness::{Api, Post, Scratch, Side, StandardStore, app_error, mib};
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "events",
    about = "Post courier tracking events over HTTP and directly; print throughput and latency"
)]
struct Args {
    #[command(flatten)]
    run: harness::RunArgs,
    /// Mail-in tickets, each with an inbound pickup assigned to the partner, that events are spread over.
    #[arg(long, default_value_t = 500)]
    pickups: usize,
    /// Share of posts that resend an event the same client sent before (same id, same body).
    #[arg(long, default_value_t = 0.2)]
    duplicates: f64,
}

/// How many of its own recent events a client may resend.
const HISTORY: usize = 256;
/// Loan hold, as the server's default (no loaner is involved: the tickets are of a standard series).
const HOLD: Duration = Duration::from_secs(48 * 3600);

/// One client's state: its random source, its HTTP agent, its sent events (pickup and body) and a counter for
/// new event ids.
struct Client {
    tag: Uuid,
    rng: rand::rngs::ThreadRng,
    sent: Vec<(Uuid, String)>,
    next: u64,
}

impl Client {
    fn new() -> Client {
        Client {
            tag: Uuid::new_v4(),
            rng: rand::rng(),
            sent: Vec::with_capacity(HISTORY),
            next: 0,
        }
    }

    /// The next post: a resend of an earlier one (with probability `duplicates`) or a new hub scan.
    fn next_event(&mut self, pickups: &[Uuid], duplicates: f64) -> (Uuid, String, bool) {
        if !self.sent.is_empty() && self.rng.random_bool(duplicates.clamp(0.0, 1.0)) {
            let (pickup, body) = &self.sent[self.rng.random_range(0..self.sent.len())];
            return (*pickup, body.clone(), true);
        }
        self.next += 1;
        let pickup = pickups[self.rng.random_range(0..pickups.len())];
        let body = json!({
            "event_id": format!("{}-{}", self.tag.simple(), self.next),
            "type": "in_transit",
            "happened_at": chrono::Utc::now() - chrono::Duration::seconds(30),
            "location": format!("Sorting hub {}", self.next % 40),
        })
        .to_string();
        if self.sent.len() == HISTORY {
            let slot = self.rng.random_range(0..HISTORY);
            self.sent[slot] = (pickup, body.clone());
        } else {
            self.sent.push((pickup, body.clone()));
        }
        (pickup, body, false)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.run.check()?;
    if args.pickups == 0 {
        bail!("--pickups must be at least 1");
    }
    let scratch = Scratch::new(args.run.database_url.as_deref())?;
    let url = scratch.url.clone();
    println!(
        "depot courier-event benchmark: {:?}, {}, {} pickups, {:.0}% resent",
        Engine::of_url(&url),
        args.run.describe(),
        args.pickups,
        args.duplicates * 100.0
    );
    // The baseline server, if any, starts first: it finds the fresh database as it knows it.
    let mut servers = args.run.start_servers(&url)?;
    let raw = args.run.link(&url)?;
    let db = harness::raw_pool(&raw.url, args.run.pool)?;
    let admin = harness::create_key(&db, Role::Admin, None)?;
    let api = Api {
        server: &servers.current,
        key: &admin.text,
    };
    let started = Instant::now();
    let shop = StandardStore::create(&api)?;
    let partner = api.create(
        "/api/v1/partners",
        &json!({"code": "BENCHEX", "name": "Benchmark Express"}),
    )?;
    let courier = harness::create_key(&db, Role::Courier, Some(partner))?;
    let pickup = json!({"address": "88 Shennan Road, Futian, Shenzhen", "partner_id": partner});
    let pickups: Vec<Uuid> = shop
        .open_tickets(&db, &admin.principal, args.pickups, Some(pickup))?
        .into_iter()
        .filter_map(|t| t.pickups.first().map(|p| p.id))
        .collect();
    if pickups.len() != args.pickups {
        bail!(
            "{} of {} mail-in tickets came with a pickup",
            pickups.len(),
            args.pickups
        );
    }
    let memory = servers.current.memory()?;
    println!(
        "setup in {:.1} s: partner, courier key, {} mail-in tickets with pickups; server VmRSS {}",
        started.elapsed().as_secs_f64(),
        pickups.len(),
        mib(memory.rss_kib)
    );

    let load = args.run.load();
    let auth = format!("Bearer {}", courier.text);
    let (db, pickups, principal, auth) = (&db, &pickups, &courier.principal, &auth);
    let duplicates = args.duplicates;
    let http = |base: String| -> Box<dyn FnMut() -> harness::Stats + '_> {
        Box::new(move || {
            harness::run_http_clients(load, auth, &[200], Client::new, |client| {
                let (pickup, body, _) = client.next_event(pickups, duplicates);
                let url = format!("{base}/api/v1/courier/pickups/{pickup}/events");
                Ok(Post { url, body })
            })
        })
    };
    let mut sides = vec![
        Side {
            name: "insert",
            // The floor: one event row written in its own transaction, with no check, no dedup, no effects.
            run: Box::new(|| {
                harness::run_clients(load, Client::new, |client| {
                    let (pickup, body, _) = client.next_event(pickups, 0.0);
                    let event: PostEvent =
                        serde_json::from_str(&body).map_err(|e| ("bench_input".to_owned(), e.to_string()))?;
                    let row = EventRow {
                        id: Id(Uuid::now_v7()),
                        pickup_id: Id(pickup),
                        partner_id: Id(partner),
                        // The bare insert has no dedup: its ids must not collide with the other sides'.
                        partner_event_id: format!("bare-{}", event.event_id),
                        kind: "in_transit".into(),
                        happened_at: Ts(event.happened_at),
                        received_at: Ts(chrono::Utc::now()),
                        location: event.location,
                        note: None,
                        body_hash: String::new(),
                    };
                    let t = Instant::now();
                    db.write(|conn| {
                        use diesel::RunQueryDsl;
                        depot::with_conn!(conn, c => diesel::insert_into(pickup_events::table).values(&row).execute(c))?;
                        Ok(())
                    })
                    .map_err(|e| (e.code().to_owned(), e.to_string()))?;
                    Ok(t.elapsed())
                })
            }),
            trips: raw.counters(),
        },
        Side {
            name: "raw",
            run: Box::new(|| {
                harness::run_clients(load, Client::new, |client| {
                    let (pickup, body, _) = client.next_event(pickups, duplicates);
                    let event: PostEvent =
                        serde_json::from_str(&body).map_err(|e| ("bench_input".to_owned(), e.to_string()))?;
                    let t = Instant::now();
                    db.writer(|conn| depot::courier::post_event(conn, principal, pickup, &event, HOLD))
                        .map_err(|e| (e.code().to_owned(), e.to_string()))?;
                    Ok(t.elapsed())
                })
            }),
            trips: raw.counters(),
        },
        servers.current.http_side(http),
    ];
    servers.add_baseline_side(&mut sides, http);
    harness::compare(&args.run, &mut servers, &mut sides, || {
        let stored: i64 = db
            .read(|conn| {
                use diesel::{QueryDsl, RunQueryDsl};
                Ok(depot::with_conn!(conn, c => pickup_events::table.count().get_result(c))?)
            })
            .map_err(app_error)?;
        Ok(format!("events stored {stored}"))
    })?;
    drop(servers);
    Ok(())
}
