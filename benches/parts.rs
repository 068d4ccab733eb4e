//! Parts-reservation benchmark: store staff reserve spare parts for repair tickets, all from the same few stock
//! levels of one service center (the contention of a busy store), over HTTP against the real server and through
//! the same database transaction called directly, interleaved round by round. It prints figures and never asserts
//! on them (see `harness`); after each round it runs the ledger check, which must hold.
//!
//! `cargo bench --bench parts -- [--database-url URL] [--concurrency 32] [--seconds 5] [--rounds 3] [--parts 1]
//! [--tickets 500] [--baseline-binary PATH] [--db-delay-us 0] [--round-trips] [--http-only]` (see
//! `benches/README.md`)

mod harness;

use std::time::Instant;

use anyhow::bail;
use clap::Parser;
use depot::auth::Role;
use depot::db::Engine;
use depot::repairs::ReservePart;
use harness::{Api, Post, Scratch, Side, StandardStore, app_error, mib};
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "parts",
    about = "Reserve spare parts for tickets over HTTP and directly; print throughput and latency"
)]
struct Args {
    #[command(flatten)]
    run: harness::RunArgs,
    /// Parts in stock at the store; every reservation takes one unit of one of them, so 1 puts every client on
    /// the same stock level.
    #[arg(long, default_value_t = 1)]
    parts: usize,
    /// Open tickets the reservations are spread over.
    #[arg(long, default_value_t = 500)]
    tickets: usize,
}

/// Units received of each part: enough that no run sells out.
const STOCK: i64 = 1_000_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.run.check()?;
    if args.parts == 0 || args.tickets == 0 {
        bail!("--parts and --tickets must be at least 1");
    }
    let scratch = Scratch::new(args.run.database_url.as_deref())?;
    let url = scratch.url.clone();
    println!(
        "depot parts-reservation benchmark: {:?}, {}, {} part(s), {} tickets",
        Engine::of_url(&url),
        args.run.describe(),
        args.parts,
        args.tickets
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
    let parts: Vec<Uuid> = (0..args.parts)
        .map(|i| {
            api.create(
                "/api/v1/parts",
                &json!({"sku": format!("BENCH-SCR-{i}"), "name": format!("Benchmark display {i}"),
                    "category": "screen", "compatible_model_ids": [shop.model],
                    "price": {"amount": "899.00", "currency": "CNY"}}),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let lines: Vec<_> = parts.iter().map(|p| json!({"part_id": p, "quantity": STOCK})).collect();
    api.post(
        "/api/v1/stock/receipts",
        &json!({"location_id": shop.store, "receipt_number": "BENCH-RECEIPT-1", "lines": lines}),
    )?;
    let tickets: Vec<Uuid> = shop
        .open_tickets(&db, &admin.principal, args.tickets, None)?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let memory = servers.current.memory()?;
    println!(
        "setup in {:.1} s: {} part(s) with {STOCK} units each, {} tickets; server VmRSS {}",
        started.elapsed().as_secs_f64(),
        parts.len(),
        tickets.len(),
        mib(memory.rss_kib)
    );

    let load = args.run.load();
    let auth = format!("Bearer {}", admin.text);
    let (db, parts, tickets, principal, auth) = (&db, &parts, &tickets, &admin.principal, &auth);
    let pick = |rng: &mut rand::rngs::ThreadRng| {
        let ticket = tickets[rng.random_range(0..tickets.len())];
        let part = parts[rng.random_range(0..parts.len())];
        (ticket, json!({"part_id": part, "quantity": 1}))
    };
    let http = |base: String| -> Box<dyn FnMut() -> harness::Stats + '_> {
        Box::new(move || {
            // 200 with the whole ticket, as before issue 12; 201 with the line and the ticket's totals, after it: an
            // A/B run meets both.
            harness::run_http_clients(load, auth, &[200, 201], rand::rng, |rng| {
                let (ticket, body) = pick(rng);
                let url = format!("{base}/api/v1/tickets/{ticket}/parts");
                Ok(Post {
                    url,
                    body: body.to_string(),
                })
            })
        })
    };
    let mut sides = vec![
        Side {
            name: "raw",
            run: Box::new(|| {
                harness::run_clients(load, rand::rng, |rng| {
                    let (ticket, body) = pick(rng);
                    let input: ReservePart =
                        serde_json::from_value(body).map_err(|e| ("bench_input".to_owned(), e.to_string()))?;
                    let t = Instant::now();
                    db.write(|conn| depot::repairs::reserve_in(conn, principal, ticket, &input))
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
        let check = db.read(depot::stock::check_ledger).map_err(app_error)?;
        let reserved: Vec<i64> = db
            .read(|conn| {
                use depot::db::schema::stock_levels;
                use diesel::{QueryDsl, RunQueryDsl};
                Ok(depot::with_conn!(conn, c => stock_levels::table.select(stock_levels::reserved).load(c))?)
            })
            .map_err(app_error)?;
        Ok(format!(
            "units reserved {}; ledger check over {} level(s): {}",
            reserved.iter().sum::<i64>(),
            check.levels,
            if check.consistent { "holds" } else { "BROKEN" }
        ))
    })?;
    drop(servers);
    Ok(())
}
