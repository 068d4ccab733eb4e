//! The outbox core: events written in a transaction exist only if it commits, and the sequencer places committed
//! events in the feed in their subjects' order, including while other transactions are still open.

use std::sync::mpsc;

use depot::error::AppError;
use depot::events::{self, EventType, NewEvent, Subject, SubjectType};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_app;

fn event(subject: Uuid, n: u32) -> NewEvent {
    NewEvent {
        event_type: EventType::TicketStatusChanged,
        subject: Subject {
            kind: SubjectType::Ticket,
            id: subject,
            store_id: None,
            partner_id: None,
        },
        payload: json!({ "n": n }),
        internal: None,
    }
}

fn placed(app: &crate::helpers::TestApp) -> Vec<(Uuid, i64, String)> {
    app.db
        .read(|conn| events::repo::after(conn, 0, 10_000))
        .unwrap_or_else(|e| panic!("reading the feed: {e}"))
        .into_iter()
        .map(|e| (e.subject_id.0, e.position.unwrap_or(-1), e.payload))
        .collect()
}

#[test]
fn a_rolled_back_change_leaves_no_event_and_committed_ones_are_placed_in_order() {
    let app = spawn_app();
    let subject = Uuid::now_v7();
    for n in 0..3 {
        app.db
            .write(|conn| events::emit_in(conn, event(subject, n)).map(|_| ()))
            .unwrap_or_else(|e| panic!("emitting: {e}"));
    }
    let failed: Result<(), AppError> = app.db.write(|conn| {
        events::emit_in(conn, event(subject, 99))?;
        Err(AppError::conflict("test", "the change fails after its event"))
    });
    assert!(failed.is_err());
    let placed_now = events::sequence(&app.db).unwrap_or_else(|e| panic!("sequencing: {e}"));
    let rows = placed(&app);
    assert!(placed_now >= 3, "placed {placed_now}");
    let mine: Vec<_> = rows.iter().filter(|r| r.0 == subject).collect();
    assert_eq!(mine.len(), 3, "{mine:?}");
    for (i, row) in mine.iter().enumerate() {
        assert_eq!(row.2, format!("{{\"n\":{i}}}"));
    }
    let positions: Vec<i64> = rows.iter().map(|r| r.1).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(
        events::sequence(&app.db).unwrap_or_else(|e| panic!("{e}")),
        0,
        "nothing left to place"
    );
}

/// A transaction holds an event uncommitted while a later one commits: the later one must not be placed before the
/// earlier one is (on PostgreSQL, where the order of commits and of `seq` can differ; on SQLite writers wait).
#[test]
fn an_open_transaction_holds_back_the_events_written_after_it() {
    let app = spawn_app();
    if app.db.engine() != depot::db::Engine::Postgres {
        println!(
            "SQLite has one writer at a time: there is no open writer to hold events back (checked on PostgreSQL)"
        );
        return;
    }
    let subject = Uuid::now_v7();
    let (started, wait_started) = mpsc::channel();
    let (finish, wait_finish) = mpsc::channel::<()>();
    let db = app.db.clone();
    let slow = std::thread::spawn(move || {
        db.write(|conn| {
            events::emit_in(conn, event(subject, 0))?;
            started.send(()).ok();
            wait_finish.recv().ok();
            Ok(())
        })
    });
    wait_started.recv().unwrap_or_else(|e| panic!("{e}"));
    app.db
        .write(|conn| events::emit_in(conn, event(subject, 1)).map(|_| ()))
        .unwrap_or_else(|e| panic!("{e}"));
    events::sequence(&app.db).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        placed(&app).is_empty(),
        "the later event was placed while the earlier one could still commit"
    );
    finish.send(()).unwrap_or_else(|e| panic!("{e}"));
    slow.join()
        .unwrap_or_else(|_| panic!("the slow writer panicked"))
        .unwrap_or_else(|e| panic!("{e}"));
    events::sequence(&app.db).unwrap_or_else(|e| panic!("{e}"));
    let rows = placed(&app);
    let order: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(order, ["{\"n\":0}", "{\"n\":1}"]);
}
