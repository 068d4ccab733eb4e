//! The console's loan page and its forms, the desk's lists and a device's history: each form acts through the
//! same use case as the JSON API (checked here through the API), once per form token; a step the loan's state does
//! not allow is refused with its problem shown and nothing changed; lists and pages keep to the user's stores.
//!
//! Time is simulated where a list needs the past (an overdue loan, a ticket past its promise): the rows are moved in
//! the database (`app.db`), as no request may move them.

use chrono::{Duration, Utc};
use depot::auth::Role;
use depot::db::schema::{loans, tickets};
use depot::db::types::{Id, Ts};
use depot::users::Locale;
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::{Browser, Must, PASSWORD, Page, create_user};
use crate::helpers::{TestApp, spawn_app};
use crate::tickets::{Premium, add_loaner, open, premium};

/// A signed-in browser of a user with `role` at `store`.
fn signed_in<'a>(app: &'a TestApp, username: &str, role: Role, store: &str) -> Browser<'a> {
    create_user(app, username, role, &[store], Locale::En);
    let mut b = Browser::new(app);
    let signed = b.sign_in(username, PASSWORD, "/console/");
    assert_eq!(signed.status, 303, "{}", signed.html);
    b
}

fn loan_of(ticket: &Value) -> String {
    ticket["loan"]["id"].as_str().must().to_owned()
}

fn loan(app: &TestApp, loan: &str) -> Value {
    let res = app.get_admin(&format!("/api/v1/loans/{loan}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

fn timeline_kinds(app: &TestApp, ticket: &str, kind: &str) -> Vec<Value> {
    let res = app.get_admin(&format!("/api/v1/tickets/{ticket}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["timeline"]
        .as_array()
        .must()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// Posts a form of the loan page as the page gave it (its CSRF token and a fresh page's form token), with `fields`;
/// answers the post and what was sent.
fn post_form(b: &mut Browser<'_>, loan: &str, step: &str, fields: &[(&str, &str)]) -> (Page, Vec<(String, String)>) {
    let page = b.get(&format!("/console/loans/{loan}"));
    let idem = form_token(&page, step);
    let mut sent: Vec<(String, String)> = vec![("csrf".into(), page.hidden("csrf")), ("idem".into(), idem)];
    sent.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let answer = send(b, loan, step, &sent);
    (answer, sent)
}

fn send(b: &mut Browser<'_>, loan: &str, step: &str, sent: &[(String, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post(&format!("/console/loans/{loan}/{step}"), &pairs, &[])
}

/// The `idem` token of the form posting to `step` (a fresh random one when the page does not show that form, so a
/// stale or hand-made post can be tried).
fn form_token(page: &Page, step: &str) -> String {
    let marker = format!("/{step}\" id=\"");
    match page.html.find(&marker) {
        Some(start) => {
            let rest = &page.html[start..];
            let at = rest.find("name=\"idem\" value=\"").must() + "name=\"idem\" value=\"".len();
            rest[at..].split('"').next().must().to_owned()
        }
        None => Uuid::new_v4().to_string(),
    }
}

/// The HTML of the element with this id up to its table's end (or the next 4,000 characters).
fn section<'h>(html: &'h str, id: &str) -> &'h str {
    let Some(start) = html.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let rest = &html[start..];
    let end = rest.find("</table>").unwrap_or(rest.len().min(4000));
    &rest[..end]
}

fn set_loan_due(app: &TestApp, loan: &str, due: chrono::DateTime<Utc>) {
    let id = Id(Uuid::parse_str(loan).must());
    app.db
        .writer(|conn| {
            depot::with_conn!(conn.as_conn(), c => diesel::update(loans::table.find(id))
                .set(loans::due_at.eq(Ts(depot::to_micros(due))))
                .execute(c))?;
            Ok(())
        })
        .must();
}

fn set_ticket(app: &TestApp, ticket: &str, status: &str, promised: Option<chrono::DateTime<Utc>>, ready: bool) {
    let id = Id(Uuid::parse_str(ticket).must());
    let status = status.to_owned();
    let now = Utc::now();
    app.db
        .writer(|conn| {
            depot::with_conn!(conn.as_conn(), c => diesel::update(tickets::table.find(id))
                .set((
                    tickets::status.eq(&status),
                    tickets::promised_at.eq(promised.map(|p| Ts(depot::to_micros(p)))),
                    tickets::ready_at.eq(ready.then(|| Ts(depot::to_micros(now - Duration::hours(3))))),
                ))
                .execute(c))?;
            Ok(())
        })
        .must();
}

const CHECKED_BUT_BOX: [(&str, &str); 5] = [
    ("check_screen", "on"),
    ("check_body", "on"),
    ("check_camera", "on"),
    ("check_buttons", "on"),
    ("check_charger_cable", "on"),
];

fn hand_over_fields<'a>(due: &'a str, deposit: &'a str, note: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![("due_at", due), ("deposit", deposit), ("note", note)];
    fields.extend(CHECKED_BUT_BOX);
    fields
}

#[test]
fn handing_a_reserved_loaner_over_through_the_form_issues_it_with_the_due_time_and_checklist() {
    let app = spawn_app();
    let p = premium(&app, "LH", 1);
    let ticket = open(&app, &p).body;
    let id = loan_of(&ticket);
    let mut b = signed_in(&app, "desk.lh", Role::StoreStaff, &p.store);

    let page = b.get(&format!("/console/loans/{id}"));
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html
            .contains("id=\"loan-state\" data-status=\"reserved\">Reserved<"),
        "{}",
        page.html
    );
    assert!(page.html.contains(ticket["number"].as_str().must()));
    assert!(page.html.contains("id=\"issue-form\""));
    assert!(!page.html.contains("id=\"return-form\""), "no return before hand-over");
    assert!(!page.html.contains("id=\"inspection-form\""));

    let (done, _) = post_form(
        &mut b,
        &id,
        "issue",
        &hand_over_fields("2030-01-15T10:00", "300", "scratch on the back"),
    );
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location, format!("/console/loans/{id}"));

    let issued = loan(&app, &id);
    assert_eq!(issued["state"], "issued");
    assert_eq!(issued["due_at"], "2030-01-15T10:00:00Z");
    assert_eq!(issued["deposit"]["amount"], "300.00");
    let events = timeline_kinds(&app, ticket["id"].as_str().must(), "loan_issued");
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["note"],
        "loaner handed over; checked: screen, body, camera, buttons, charger_cable; not checked: box; \
         note: scratch on the back"
    );
    let after = b.get(&format!("/console/loans/{id}"));
    assert!(
        after
            .html
            .contains("id=\"loan-state\" data-status=\"issued\">With the customer<")
    );
    assert!(after.html.contains("id=\"return-form\""));
    assert!(after.html.contains("id=\"extend-form\""));
    assert!(after.html.contains("id=\"lost-form\""));
    assert!(!after.html.contains("id=\"issue-form\""));
}

#[test]
fn a_loan_form_posted_twice_with_one_token_acts_once() {
    let app = spawn_app();
    let p = premium(&app, "LD", 1);
    let ticket = open(&app, &p).body;
    let id = loan_of(&ticket);
    let mut b = signed_in(&app, "desk.ld", Role::StoreStaff, &p.store);

    let (first, sent) = post_form(&mut b, &id, "issue", &hand_over_fields("", "", ""));
    assert_eq!(first.status, 303, "{}", first.html);
    let second = send(&mut b, &id, "issue", &sent);
    assert_eq!(
        second.status, 303,
        "the double click answers as the first: {}",
        second.html
    );
    assert_eq!(second.location, first.location);
    assert_eq!(loan(&app, &id)["state"], "issued");
    assert_eq!(
        timeline_kinds(&app, ticket["id"].as_str().must(), "loan_issued").len(),
        1
    );
}

#[test]
fn a_form_for_a_step_the_state_does_not_allow_is_refused_with_its_problem_and_changes_nothing() {
    let app = spawn_app();
    let p = premium(&app, "LR", 1);
    let first = open(&app, &p).body;
    let waiting = open(&app, &p).body;
    let waiting_id = loan_of(&waiting);
    let reserved_id = loan_of(&first);
    assert_eq!(loan(&app, &waiting_id)["state"], "waiting");
    let mut b = signed_in(&app, "desk.lr", Role::StoreStaff, &p.store);

    let page = b.get(&format!("/console/loans/{waiting_id}"));
    assert!(
        !page.html.contains("id=\"issue-form\""),
        "a waiting loan shows no hand-over"
    );
    assert!(page.html.contains("id=\"cancel-form\""));
    assert!(page.html.contains("id=\"loan-place\">1<"), "{}", page.html);

    // A stale or hand-made post of the hand-over: refused by the loan's state machine, shown above the form.
    let (refused, _) = post_form(&mut b, &waiting_id, "issue", &hand_over_fields("", "", ""));
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.html.contains("id=\"issue-problem\""), "{}", refused.html);
    assert!(
        refused.html.contains("a waiting loan cannot be issued"),
        "{}",
        refused.html
    );
    assert_eq!(loan(&app, &waiting_id)["state"], "waiting");

    // A due time in the past: the use case's problem beside the field, what was typed kept.
    let (past, _) = post_form(
        &mut b,
        &reserved_id,
        "issue",
        &hand_over_fields("2020-01-01T09:00", "", "kept"),
    );
    assert_eq!(past.status, 422, "{}", past.html);
    assert!(past.html.contains("id=\"issue-due_at-problem\""), "{}", past.html);
    assert!(past.html.contains("aria-invalid=\"true\""));
    assert!(past.html.contains("value=\"2020-01-01T09:00\""));
    assert!(past.html.contains(">kept</textarea>"));
    // Not a time at all: the form's own reading refuses it before the use case.
    let (garbled, _) = post_form(
        &mut b,
        &reserved_id,
        "issue",
        &hand_over_fields("next week", "5.555", ""),
    );
    assert_eq!(garbled.status, 422, "{}", garbled.html);
    assert!(garbled.html.contains("id=\"issue-due_at-problem\""));
    assert!(garbled.html.contains("id=\"issue-deposit-problem\""));
    let still = loan(&app, &reserved_id);
    assert_eq!(still["state"], "reserved");
    assert!(timeline_kinds(&app, first["id"].as_str().must(), "loan_issued").is_empty());
}

#[test]
fn return_and_inspection_free_the_loaner_and_serve_the_next_waiter_of_the_series() {
    let app = spawn_app();
    let p = premium(&app, "LI", 1);
    let first = open(&app, &p).body;
    let next = open(&app, &p).body;
    let id = loan_of(&first);
    let next_id = loan_of(&next);
    let mut b = signed_in(&app, "desk.li", Role::StoreStaff, &p.store);
    assert_eq!(
        post_form(&mut b, &id, "issue", &hand_over_fields("", "", "")).0.status,
        303
    );

    // Good with the camera not ticked is refused beside the condition; nothing changes.
    let mut good = vec![("condition", "good"), ("check_screen", "on"), ("check_body", "on")];
    good.extend([
        ("check_buttons", "on"),
        ("check_charger_cable", "on"),
        ("check_box", "on"),
    ]);
    let (refused, _) = post_form(&mut b, &id, "return", &good);
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.html.contains("id=\"return-condition-problem\""),
        "{}",
        refused.html
    );
    assert_eq!(loan(&app, &id)["state"], "issued");

    let mut worn = vec![
        ("condition", "worn"),
        ("damage_charge", "20"),
        ("note", "camera glass chipped"),
    ];
    worn.extend([
        ("check_screen", "on"),
        ("check_body", "on"),
        ("check_buttons", "on"),
        ("check_box", "on"),
    ]);
    let (back, _) = post_form(&mut b, &id, "return", &worn);
    assert_eq!(back.status, 303, "{}", back.html);
    let returned = loan(&app, &id);
    assert_eq!(returned["state"], "returned");
    assert_eq!(returned["return_condition"], "worn");
    assert_eq!(returned["missing_accessories"], json!(["charger_cable"]));
    assert_eq!(returned["damage_charge"]["amount"], "20.00");
    let loaner = returned["loaner_id"].as_str().must().to_owned();
    assert_eq!(
        app.get_admin(&format!("/api/v1/loaners/{loaner}")).body["state"],
        "inspection"
    );
    assert_eq!(
        loan(&app, &next_id)["state"],
        "waiting",
        "not lent again before inspection"
    );

    let page = b.get(&format!("/console/loans/{id}"));
    assert!(page.html.contains("id=\"inspection-form\""), "{}", page.html);
    let (passed, _) = post_form(&mut b, &id, "inspection", &[("result", "pass"), ("grade", "B")]);
    assert_eq!(passed.status, 303, "{}", passed.html);

    let served = loan(&app, &next_id);
    assert_eq!(served["state"], "reserved", "the next waiter is served: {served}");
    assert_eq!(served["loaner_id"].as_str(), Some(loaner.as_str()));
    let lent = app.get_admin(&format!("/api/v1/loaners/{loaner}")).body;
    assert_eq!(lent["state"], "reserved");
    assert_eq!(lent["grade"], "B");
    let done = b.get(&format!("/console/loans/{id}"));
    assert!(done.html.contains("id=\"no-actions\""), "{}", done.html);
}

/// One store's rows for every list: a ticket ready, one past its promise, an overdue loan, two waiters and a
/// complaint. Answers (ready ticket, late ticket, overdue loan, [waiting loans], complaint).
fn one_of_each(app: &TestApp, p: &Premium) -> (String, String, String, Vec<String>, String) {
    let lent = open(app, p).body;
    let overdue = loan_of(&lent);
    let issued = app.post_admin(&format!("/api/v1/loans/{overdue}/issue"), &json!({}));
    assert_eq!(issued.status, 200, "{}", issued.text);
    set_loan_due(app, &overdue, Utc::now() - Duration::days(2));
    let waiters = vec![loan_of(&open(app, p).body), loan_of(&open(app, p).body)];
    let ready = open(app, p).body["id"].as_str().must().to_owned();
    set_ticket(app, &ready, "ready_for_pickup", None, true);
    let late = open(app, p).body["id"].as_str().must().to_owned();
    set_ticket(app, &late, "repairing", Some(Utc::now() - Duration::hours(5)), false);
    let complaint = app.post_admin(
        "/api/v1/complaints",
        &json!({"ticket_id": late, "category": "repair_quality", "text": "Still not repaired.",
                "contact_preference": "phone", "channel": "phone"}),
    );
    assert_eq!(complaint.status, 201, "{}", complaint.text);
    (ready, late, overdue, waiters, complaint.id())
}

#[test]
fn each_list_shows_its_rows_of_the_users_stores_and_not_another_stores() {
    let app = spawn_app();
    let p = premium(&app, "LL", 1);
    let q = premium(&app, "LM", 1);
    let (ready, late, overdue, waiters, complaint) = one_of_each(&app, &p);
    let (q_ready, q_late, q_overdue, q_waiters, q_complaint) = one_of_each(&app, &q);
    // Closed after being ready late: past its promise, but nothing left to chase.
    let closed = open(&app, &p).body["id"].as_str().must().to_owned();
    set_ticket(&app, &closed, "closed", Some(Utc::now() - Duration::hours(5)), true);
    let mut b = signed_in(&app, "desk.ll", Role::StoreStaff, &p.store);

    let page = b.get("/console/desk/lists");
    assert_eq!(page.status, 200, "{}", page.html);
    let html = &page.html;
    for (list, mine, theirs) in [
        ("ready-for-pickup", &ready, &q_ready),
        ("past-promise", &late, &q_late),
        ("loans-overdue", &overdue, &q_overdue),
        ("complaints-due", &complaint, &q_complaint),
    ] {
        let rows = section(html, list);
        assert!(rows.contains(mine.as_str()), "{list} shows {mine}: {rows}");
        assert!(!html.contains(theirs.as_str()), "{list} hides another store's {theirs}");
    }
    assert!(
        !section(html, "ready-for-pickup").contains(&late),
        "a repairing ticket is not ready"
    );
    assert!(
        !section(html, "past-promise").contains(&ready),
        "a ticket without a promise is not late"
    );
    let waitlist = section(html, "waitlist");
    let first = waitlist.find(&format!("id=\"waiting-{}\"", waiters[0])).must();
    let second = waitlist.find(&format!("id=\"waiting-{}\"", waiters[1])).must();
    assert!(first < second, "the waitlist in serving order: {waitlist}");
    assert!(waitlist[first..second].contains(">#1<"), "{waitlist}");
    assert!(waitlist[second..].contains(">#2<"), "{waitlist}");
    for theirs in &q_waiters {
        assert!(!html.contains(theirs.as_str()));
    }

    // A role that works no tickets is refused the lists.
    let mut warehouse = signed_in(&app, "store.ll", Role::Warehouse, &p.store);
    assert_eq!(warehouse.get("/console/desk/lists").status, 403);
}

#[test]
fn the_device_page_lists_its_tickets_and_loans_and_search_links_to_it() {
    let app = spawn_app();
    let p = premium(&app, "LV", 1);
    let ticket = open(&app, &p).body;
    let imei = ticket["device_imei"].as_str().must().to_owned();
    let mut b = signed_in(&app, "desk.lv", Role::StoreStaff, &p.store);

    let found = b.get(&format!("/console/search?q={imei}"));
    assert!(
        found.html.contains(&format!("href=\"/console/devices/{imei}\"")),
        "{}",
        found.html
    );
    let page = b.get(&format!("/console/devices/{imei}"));
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Mate 60"), "the model's name: {}", page.html);
    let tickets = section(&page.html, "device-tickets");
    assert!(
        tickets.contains(&format!("href=\"/console/tickets/{}\"", ticket["id"].as_str().must())),
        "{tickets}"
    );
    assert!(
        tickets.contains("data-status=\"received\">Received<"),
        "in words: {tickets}"
    );
    let loans = section(&page.html, "device-loans");
    assert!(
        loans.contains(&format!("href=\"/console/loans/{}\"", loan_of(&ticket))),
        "{loans}"
    );
    assert!(
        loans.contains("data-status=\"reserved\">Reserved<"),
        "in words: {loans}"
    );
    assert_eq!(b.get("/console/devices/490154203237519").status, 404, "no such device");
}

#[test]
fn another_stores_loan_is_a_404_page_and_its_forms_change_nothing() {
    let app = spawn_app();
    let p = premium(&app, "LO", 1);
    let q = premium(&app, "LP", 1);
    let id = loan_of(&open(&app, &p).body);
    let mut other = signed_in(&app, "desk.lp", Role::StoreStaff, &q.store);

    let page = other.get(&format!("/console/loans/{id}"));
    assert_eq!(page.status, 404, "{}", page.html);
    let (posted, _) = post_form(&mut other, &id, "issue", &hand_over_fields("", "", ""));
    assert_eq!(posted.status, 404, "{}", posted.html);
    assert_eq!(loan(&app, &id)["state"], "reserved");
    assert_eq!(other.get("/console/loans/not-a-loan").status, 404);
}

/// More rows for every list at a store that [`one_of_each`] has filled: a new loaner serves the first waiter, whose
/// loan is then handed over and made overdue.
fn more_of_each(app: &TestApp, p: &Premium) {
    add_loaner(app, p, "A");
    let reserved = app.get_admin(&format!("/api/v1/loans?store_id={}&state=reserved", p.store));
    let served = reserved.body["items"][0]["id"].as_str().must().to_owned();
    let issued = app.post_admin(&format!("/api/v1/loans/{served}/issue"), &json!({}));
    assert_eq!(issued.status, 200, "{}", issued.text);
    set_loan_due(app, &served, Utc::now() - Duration::days(1));
    open(app, p);
    let ready = open(app, p).body["id"].as_str().must().to_owned();
    set_ticket(app, &ready, "ready_for_pickup", None, true);
    let late = open(app, p).body["id"].as_str().must().to_owned();
    set_ticket(app, &late, "repairing", Some(Utc::now() - Duration::hours(5)), false);
    let complaint = app.post_admin(
        "/api/v1/complaints",
        &json!({"ticket_id": late, "category": "repair_quality", "text": "Still not repaired.",
                "contact_preference": "phone", "channel": "phone"}),
    );
    assert_eq!(complaint.status, 201, "{}", complaint.text);
}

#[test]
fn the_lists_page_costs_the_same_statements_however_many_rows_it_shows() {
    let app = spawn_app();
    let p = premium(&app, "LC", 1);
    one_of_each(&app, &p);
    let mut b = signed_in(&app, "desk.lc", Role::StoreStaff, &p.store);
    let cost = |b: &mut Browser<'_>| {
        let before = app.db.health().statements();
        let page = b.get("/console/desk/lists");
        assert_eq!(page.status, 200, "{}", page.html);
        (
            app.db.health().statements() - before,
            page.html.matches("<tr id=").count(),
        )
    };
    cost(&mut b);
    let (few, rows_few) = cost(&mut b);
    for _ in 0..3 {
        more_of_each(&app, &p);
    }
    let (many, rows_many) = cost(&mut b);
    assert!(rows_many >= rows_few * 3, "{rows_few} rows, then {rows_many}");
    assert_eq!(many, few, "one statement per list, whatever the rows");
}

#[test]
fn extend_mark_lost_and_cancel_go_through_their_forms_with_problems_beside_their_fields() {
    let app = spawn_app();
    let p = premium(&app, "LX", 1);
    let lent = open(&app, &p).body;
    let waiting = open(&app, &p).body;
    let id = loan_of(&lent);
    let waiting_id = loan_of(&waiting);
    let mut b = signed_in(&app, "desk.lx", Role::StoreStaff, &p.store);
    assert_eq!(
        post_form(&mut b, &id, "issue", &hand_over_fields("2030-01-15T10:00", "", ""))
            .0
            .status,
        303
    );

    let (earlier, _) = post_form(
        &mut b,
        &id,
        "extend",
        &[("due_at", "2030-01-10T10:00"), ("reason", "waiting on parts")],
    );
    assert_eq!(earlier.status, 422, "{}", earlier.html);
    assert!(
        earlier.html.contains("id=\"extend-due_at-problem\""),
        "{}",
        earlier.html
    );
    assert!(earlier.html.contains("value=\"waiting on parts\""));
    let (later, _) = post_form(
        &mut b,
        &id,
        "extend",
        &[("due_at", "2030-02-01T10:00"), ("reason", "waiting on parts")],
    );
    assert_eq!(later.status, 303, "{}", later.html);
    assert_eq!(loan(&app, &id)["due_at"], "2030-02-01T10:00:00Z");

    let (no_charge, _) = post_form(&mut b, &id, "lost", &[("charge", ""), ("note", "")]);
    assert_eq!(no_charge.status, 422, "{}", no_charge.html);
    assert!(
        no_charge.html.contains("id=\"lost-charge-problem\""),
        "{}",
        no_charge.html
    );
    assert_eq!(loan(&app, &id)["state"], "issued");
    let (lost, _) = post_form(
        &mut b,
        &id,
        "lost",
        &[("charge", "1999.00"), ("note", "left in a taxi")],
    );
    assert_eq!(lost.status, 303, "{}", lost.html);
    let gone = loan(&app, &id);
    assert_eq!(gone["state"], "lost");
    assert_eq!(gone["damage_charge"]["amount"], "1999.00");

    let (blank, _) = post_form(&mut b, &waiting_id, "cancel", &[("reason", "  ")]);
    assert_eq!(blank.status, 422, "{}", blank.html);
    assert!(blank.html.contains("id=\"cancel-reason-problem\""), "{}", blank.html);
    assert_eq!(loan(&app, &waiting_id)["state"], "waiting");
    let (cancelled, _) = post_form(
        &mut b,
        &waiting_id,
        "cancel",
        &[("reason", "customer declined a loaner")],
    );
    assert_eq!(cancelled.status, 303, "{}", cancelled.html);
    assert_eq!(loan(&app, &waiting_id)["state"], "cancelled");

    // A role that works no loans is refused the form, and nothing changes.
    let other = loan_of(&open(&app, &p).body);
    let mut warehouse = signed_in(&app, "store.lx", Role::Warehouse, &p.store);
    let (refused, _) = post_form(&mut warehouse, &other, "cancel", &[("reason", "not mine to cancel")]);
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert_eq!(loan(&app, &other)["state"], "waiting");
}

#[test]
fn a_chinese_speaking_user_sees_the_loan_page_and_the_lists_in_chinese() {
    let app = spawn_app();
    let p = premium(&app, "LZ", 1);
    let id = loan_of(&open(&app, &p).body);
    create_user(&app, "desk.lz", Role::StoreStaff, &[&p.store], Locale::ZhCn);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("desk.lz", PASSWORD, "/console/").status, 303);

    let page = b.get(&format!("/console/loans/{id}"));
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("<html lang=\"zh-CN\">"));
    assert!(page.html.contains("交付备用机"), "{}", page.html);
    assert!(page.html.contains("屏幕"));
    assert!(page.html.contains("data-status=\"reserved\">已预留<"), "{}", page.html);
    let lists = b.get("/console/desk/lists");
    assert!(lists.html.contains("待取机"), "{}", lists.html);
}
