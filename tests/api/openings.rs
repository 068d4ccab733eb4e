//! The opening's rare paths, which the one-statement opening on PostgreSQL hands back to the step-by-step serving:
//! a queue left stranded beside a free loaner, and openings racing for the last loaner while others wait.

use depot::db::schema::{loaners, loans};
use depot::db::types::{Id, Ts};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::spawn_app;
use crate::tickets::{open, premium};

fn loan_of(ticket: &crate::helpers::Resp) -> (String, Value) {
    let loan = &ticket.body["loan"];
    (
        loan["state"].as_str().unwrap_or_default().to_owned(),
        loan["waitlist_position"].clone(),
    )
}

/// A loaner freed without its queue being served (as a release that failed over would leave it): the next opening
/// must not take it past the waiter, and must serve the waiter with it, on both engines.
#[test]
fn an_opening_beside_a_stranded_queue_serves_the_waiter_first_and_waits_behind_it() {
    let app = spawn_app();
    let p = premium(&app, "STRAND", 1);
    let first = open(&app, &p);
    assert_eq!(loan_of(&first).0, "reserved", "{}", first.text);
    let waiter = open(&app, &p);
    assert_eq!(
        loan_of(&waiter),
        ("waiting".to_owned(), Value::from(1)),
        "{}",
        waiter.text
    );

    // The first ticket's loan ends and its loaner goes back to the pool, but nobody serves the queue.
    let loan = Id(Uuid::parse_str(first.body["loan"]["id"].as_str().unwrap_or_default()).unwrap_or_default());
    let loaner = Id(Uuid::parse_str(first.body["loan"]["loaner_id"].as_str().unwrap_or_default()).unwrap_or_default());
    let now = Ts(depot::now());
    app.db
        .write(|conn| {
            depot::with_conn!(conn, c => {
                diesel::update(loans::table.find(loan))
                    .set((loans::state.eq("cancelled"), loans::loaner_hold.eq(None::<String>), loans::updated_at.eq(now)))
                    .execute(c)?;
                diesel::update(loaners::table.find(loaner)).set(loaners::state.eq("available")).execute(c)
            })
            .map_err(depot::error::AppError::from)
        })
        .unwrap_or_else(|e| panic!("stranding the queue: {e}"));

    let next = open(&app, &p);
    assert_eq!(
        loan_of(&next),
        ("waiting".to_owned(), Value::from(1)),
        "the new ticket waits behind the served one: {}",
        next.text
    );
    let served = app.get_admin(&format!("/api/v1/tickets/{}", waiter.id()));
    assert_eq!(served.body["loan"]["state"], "reserved", "{}", served.text);
    assert_eq!(
        served.body["loan"]["loaner_id"].as_str(),
        Some(loaner.0.to_string().as_str())
    );
}

/// Openings racing at a store with fewer loaners than openings: every loaner goes to exactly one ticket, the rest
/// wait with positions 1..n in the order they are served, and no loaner stays free beside a waiter.
#[test]
fn openings_racing_for_the_last_loaners_give_each_once_and_queue_the_rest_in_order() {
    let app = spawn_app();
    let p = premium(&app, "RACE", 3);
    let opened: Vec<crate::helpers::Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12).map(|_| s.spawn(|| open(&app, &p))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("an opening panicked")))
            .collect()
    });
    let mut loaners_given: Vec<String> = opened
        .iter()
        .filter(|t| loan_of(t).0 == "reserved")
        .map(|t| t.body["loan"]["loaner_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    loaners_given.sort();
    loaners_given.dedup();
    // Read back: an opening that joined the queue may have been served since it answered.
    let now: Vec<(String, Value)> = opened
        .iter()
        .map(|t| loan_of(&app.get_admin(&format!("/api/v1/tickets/{}", t.id()))))
        .collect();
    let reserved = now.iter().filter(|(state, _)| state == "reserved").count();
    assert_eq!(reserved, 3, "every loaner is promised once: {now:?}");
    assert!(loaners_given.len() <= 3);
    let mut positions: Vec<i64> = now.iter().filter_map(|(_, position)| position.as_i64()).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=9).collect::<Vec<i64>>(), "{now:?}");
}
