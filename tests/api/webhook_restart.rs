//! The server process killed (SIGKILL, no chance to give anything back) while a webhook delivery is in flight, then
//! started again on the same database: the delivery nobody acknowledged is made again by the new process once the
//! dead one's lease has passed, and only then.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use depot::events::EventType;
use serde_json::json;

use crate::helpers::spawn_app_with;
use crate::webhooks::{Receiver, attempts, emit, endpoint, fast, messages, signed_by, wait_for};

/// The dispatcher's lease in the served processes: a claim of a killed process blocks the message this long.
const LEASE_SECS: u64 = 3;

/// A `depot serve` process on `database_url` that delivers webhooks to loopback; killed when dropped.
struct Served(Child);

impl Served {
    fn start(database_url: &str) -> Served {
        let lease = LEASE_SECS.to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_depot"))
            .args(["serve", "--bind", "127.0.0.1:0", "--webhook-allow-cidr", "127.0.0.0/8"])
            .args([
                "--webhook-timeout-secs",
                "1",
                "--webhook-lease-secs",
                &lease,
                "--webhook-interval-ms",
                "20",
            ])
            .args([
                "--sweep-interval-secs",
                "0",
                "--reminders-interval-secs",
                "0",
                "--events-interval-ms",
                "20",
            ])
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting depot serve: {e}"));
        Served(child)
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_server_killed_mid_delivery_and_restarted_redelivers_what_was_not_acknowledged() {
    let app = spawn_app_with(fast);
    // The first request is held far past the delivery timeout: the process is killed while it waits.
    let receiver = Receiver::start(|_, nth| {
        if nth == 0 {
            (200, Duration::from_secs(30))
        } else {
            (200, Duration::ZERO)
        }
    });
    let admin = app.admin_key.clone();
    let (ep, secret) = endpoint(&app, &admin, &receiver.url, &["loan.lost"]);
    emit(&app, EventType::LoanLost, None, json!({"note": "killed mid-delivery"}));

    let mut first = Served::start(&app.database_url);
    wait_for("the first process's request", || !receiver.deliveries().is_empty());
    let seen = Instant::now();
    first.kill();
    assert_eq!(
        messages(&app, &admin, &ep)[0]["status"],
        "pending",
        "a killed delivery was never acknowledged"
    );

    let _second = Served::start(&app.database_url);
    wait_for("the restarted process's delivery", || {
        messages(&app, &admin, &ep)
            .first()
            .is_some_and(|m| m["status"] == "delivered")
    });
    let got = receiver.deliveries();
    assert_eq!(got.len(), 2, "one request from each process: {got:?}");
    assert_eq!(got[0].id, got[1].id, "the same message, by its webhook-id");
    assert!(got.iter().all(|d| signed_by(&secret, d)), "{got:?}");
    // The claim was taken before the first request was seen, so the lease ends less than LEASE_SECS after it; half
    // of it tells a waited-for lease from a claim taken over at once.
    assert!(
        seen.elapsed() >= Duration::from_secs(LEASE_SECS) / 2,
        "the restarted process waited for the dead one's lease ({:?} after the first request was seen)",
        seen.elapsed()
    );
    let message = messages(&app, &admin, &ep)[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let tried = attempts(&app, &ep, &message);
    assert_eq!(
        tried.len(),
        1,
        "the killed attempt left no record, the second is logged: {tried:?}"
    );
    assert_eq!(tried[0]["status_code"], 200, "{tried:?}");
}
