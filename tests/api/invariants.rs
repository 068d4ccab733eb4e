//! The database itself refuses what the invariants forbid, on both engines, even when the code is bypassed and
//! writers race.

use chrono::NaiveDate;
use depot::db::schema::{loaners, loans, parts, product_models, product_series, stock_levels, stores, tickets};
use depot::db::types::{Id, Ts};
use depot::db::{Conn, Db};
use depot::error::{AppError, AppResult};
use depot::with_conn;
use diesel::prelude::*;
use uuid::Uuid;

use crate::helpers::spawn_app;

/// Inserts an available loaner; a macro because the statement is compiled once per engine.
macro_rules! insert_loaner_stmt {
    ($c:expr, $f:expr, $id:expr, $imei:expr) => {
        diesel::insert_into(loaners::table)
            .values((
                loaners::id.eq($id),
                loaners::imei.eq($imei),
                loaners::series_id.eq($f.series),
                loaners::model_id.eq($f.model),
                loaners::store_id.eq($f.store),
                loaners::grade.eq("A"),
                loaners::state.eq("available"),
                loaners::idle_since.eq(now()),
                loaners::created_at.eq(now()),
                loaners::updated_at.eq(now()),
            ))
            .execute($c)
    };
}

struct Fixture {
    store: Id,
    series: Id,
    model: Id,
    loaner: Id,
}

fn now() -> Ts {
    Ts(depot::now())
}

fn id() -> Id {
    Id(Uuid::now_v7())
}

fn fixture(db: &Db) -> Fixture {
    let f = Fixture {
        store: id(),
        series: id(),
        model: id(),
        loaner: id(),
    };
    db.write(|conn| {
        with_conn!(conn, c => {
            diesel::insert_into(stores::table).values((
                stores::id.eq(f.store), stores::code.eq("S1"), stores::name.eq("S1"), stores::city.eq("Shenzhen"),
                stores::kind.eq("service_center"), stores::time_zone.eq("Asia/Shanghai"), stores::active.eq(true),
                stores::created_at.eq(now()), stores::updated_at.eq(now()),
            )).execute(c)?;
            diesel::insert_into(product_series::table).values((
                product_series::id.eq(f.series), product_series::code.eq("MATE"), product_series::name.eq("Mate"),
                product_series::premium.eq(true), product_series::active.eq(true),
                product_series::created_at.eq(now()), product_series::updated_at.eq(now()),
            )).execute(c)?;
            diesel::insert_into(product_models::table).values((
                product_models::id.eq(f.model), product_models::code.eq("MATE60"), product_models::name.eq("Mate 60"),
                product_models::series_id.eq(f.series), product_models::active.eq(true),
                product_models::created_at.eq(now()), product_models::updated_at.eq(now()),
            )).execute(c)?;
            insert_loaner_stmt!(c, f, f.loaner, "490154203237518")
        })?;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("fixture: {e}"));
    f
}

fn ticket(conn: &mut Conn<'_>, f: &Fixture, number: &str) -> AppResult<Id> {
    let ticket = id();
    let date = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
    with_conn!(conn, c => diesel::insert_into(tickets::table).values((
        tickets::id.eq(ticket), tickets::number.eq(number), tickets::store_id.eq(f.store),
        tickets::customer_name.eq("Li Lei"), tickets::customer_phone.eq("13800000000"),
        tickets::device_imei.eq("490154203237518"), tickets::model_id.eq(f.model), tickets::purchase_date.eq(date),
        tickets::channel.eq("walk_in"), tickets::reported_fault.eq("screen"), tickets::accessories.eq("[]"),
        tickets::status.eq("received"), tickets::created_at.eq(now()), tickets::updated_at.eq(now()),
    )).execute(c))?;
    Ok(ticket)
}

fn loan(conn: &mut Conn<'_>, f: &Fixture, ticket: Id, loaner: Option<Id>, state: &str) -> AppResult<usize> {
    Ok(with_conn!(conn, c => diesel::insert_into(loans::table).values((
        loans::id.eq(id()), loans::ticket_id.eq(ticket), loans::loaner_id.eq(loaner), loans::store_id.eq(f.store),
        loans::series_id.eq(f.series), loans::state.eq(state), loans::queued_at.eq(now()),
        loans::loaner_hold.eq(hold_for(state)),
        loans::created_at.eq(now()), loans::updated_at.eq(now()),
    )).execute(c))?)
}

/// The loaner state an open loan in `state` requires.
fn hold_for(state: &str) -> Option<&'static str> {
    match state {
        "reserved" => Some("reserved"),
        "issued" => Some("on_loan"),
        _ => None,
    }
}

fn set_loaner(db: &Db, f: &Fixture, state: &str) {
    db.write(|conn| {
        Ok(with_conn!(conn, c => diesel::update(loaners::table.find(f.loaner))
        .set(loaners::state.eq(state)).execute(c))?)
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

fn is_code(result: AppResult<usize>, code: &str) -> bool {
    matches!(result, Err(AppError::Conflict { code: c, .. }) if c == code)
}

#[test]
fn a_loaner_and_a_ticket_have_at_most_one_open_loan() {
    let app = spawn_app();
    let f = fixture(&app.db);
    let (t1, t2) = app
        .db
        .write(|conn| Ok((ticket(conn, &f, "RT-1")?, ticket(conn, &f, "RT-2")?)))
        .unwrap_or_else(|e| panic!("{e}"));
    set_loaner(&app.db, &f, "reserved");
    let first = app.db.write(|conn| loan(conn, &f, t1, Some(f.loaner), "reserved"));
    assert!(first.is_ok(), "{first:?}");
    let second = app.db.write(|conn| loan(conn, &f, t2, Some(f.loaner), "reserved"));
    assert!(is_code(second, "duplicate"), "one loaner, two open loans must fail");
    let waiting_twice = app.db.write(|conn| loan(conn, &f, t1, None, "waiting"));
    assert!(
        is_code(waiting_twice, "duplicate"),
        "one ticket, two open loans must fail"
    );
    let closed = app.db.write(|conn| loan(conn, &f, t2, Some(f.loaner), "returned"));
    assert!(closed.is_ok(), "closed loans are history and do not count: {closed:?}");
    let no_loaner = app.db.write(|conn| loan(conn, &f, t2, None, "reserved"));
    assert!(
        is_code(no_loaner, "constraint_violation"),
        "a reserved loan names its loaner"
    );
}

#[test]
fn racing_writers_cannot_promise_one_loaner_twice() {
    let app = spawn_app();
    let f = fixture(&app.db);
    let tickets: Vec<Id> = (0..16)
        .map(|i| {
            app.db
                .write(|conn| ticket(conn, &f, &format!("RT-{i}")))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    set_loaner(&app.db, &f, "reserved");
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = tickets
            .iter()
            .map(|t| {
                let (db, f) = (&app.db, &f);
                s.spawn(move || db.write(|conn| loan(conn, f, *t, Some(f.loaner), "reserved")).is_ok())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(false)).collect()
    });
    assert_eq!(
        results.iter().filter(|ok| **ok).count(),
        1,
        "exactly one reservation wins: {results:?}"
    );
}

#[test]
fn stock_can_never_be_negative_or_over_reserved() {
    let app = spawn_app();
    let f = fixture(&app.db);
    let part = id();
    let level = |on_hand: i64, reserved: i64| {
        app.db.write(|conn| {
            Ok(with_conn!(conn, c => {
                diesel::delete(stock_levels::table).execute(c)?;
                diesel::insert_into(stock_levels::table).values((
                    stock_levels::location_id.eq(f.store), stock_levels::part_id.eq(part),
                    stock_levels::on_hand.eq(on_hand), stock_levels::reserved.eq(reserved),
                    stock_levels::updated_at.eq(now()),
                )).execute(c)
            })?)
        })
    };
    app.db
        .write(|conn| {
            Ok(with_conn!(conn, c => diesel::insert_into(parts::table).values((
                parts::id.eq(part), parts::sku.eq("SCR-1"), parts::name.eq("screen"), parts::category.eq("screen"),
                parts::warranty_months.eq(3), parts::active.eq(true),
                parts::created_at.eq(now()), parts::updated_at.eq(now()),
            )).execute(c))?)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(level(5, 5).is_ok());
    assert!(is_code(level(5, 6), "constraint_violation"), "reserved above on hand");
    assert!(is_code(level(-1, 0), "constraint_violation"), "negative on hand");
    assert!(is_code(level(5, -1), "constraint_violation"), "negative reserved");
    // A guarded decrement below zero is refused by the check even without the guard.
    let oversell = app.db.write(|conn| {
        Ok(with_conn!(conn, c => diesel::update(stock_levels::table)
            .set(stock_levels::on_hand.eq(stock_levels::on_hand - 6)).execute(c))?)
    });
    assert!(is_code(oversell, "constraint_violation"));
    let dup_sku = app.db.write(|conn| {
        Ok(with_conn!(conn, c => diesel::insert_into(parts::table).values((
            parts::id.eq(id()), parts::sku.eq("SCR-1"), parts::name.eq("again"), parts::category.eq("screen"),
            parts::warranty_months.eq(3), parts::active.eq(true),
            parts::created_at.eq(now()), parts::updated_at.eq(now()),
        )).execute(c))?)
    });
    assert!(is_code(dup_sku, "duplicate"), "SKUs are unique");
}

#[test]
fn imeis_are_unique() {
    let app = spawn_app();
    let f = fixture(&app.db);
    let again = app
        .db
        .write(|conn| Ok(with_conn!(conn, c => insert_loaner_stmt!(c, f, id(), "490154203237518"))?));
    assert!(is_code(again, "duplicate"));
    let short = app
        .db
        .write(|conn| Ok(with_conn!(conn, c => insert_loaner_stmt!(c, f, id(), "4901542"))?));
    assert!(is_code(short, "constraint_violation"), "an IMEI has 15 digits");
}

#[test]
fn a_loaners_state_must_agree_with_its_open_loan() {
    let app = spawn_app();
    let f = fixture(&app.db);
    let t = app
        .db
        .write(|conn| ticket(conn, &f, "RT-1"))
        .unwrap_or_else(|e| panic!("{e}"));
    // The loaner is still `available`: a reservation of it is refused when the transaction commits.
    let stale = app.db.write(|conn| loan(conn, &f, t, Some(f.loaner), "reserved"));
    assert!(
        is_code(stale, "reference_missing"),
        "an open loan pins its loaner's state"
    );
    // Changing both together is fine; changing the loaner alone under an open loan is not.
    let together = app.db.write(|conn| {
        with_conn!(conn, c => diesel::update(loaners::table.find(f.loaner)).set(loaners::state.eq("reserved")).execute(c))?;
        loan(conn, &f, t, Some(f.loaner), "reserved")
    });
    assert!(together.is_ok(), "{together:?}");
    let alone = app.db.write(|conn| {
        Ok(with_conn!(conn, c => diesel::update(loaners::table.find(f.loaner)).set(loaners::state.eq("available")).execute(c))?)
    });
    assert!(
        is_code(alone, "reference_missing"),
        "a reserved loaner cannot quietly become available"
    );
}
