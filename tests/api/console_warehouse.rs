//! The console's warehouse pages: receiving by CSV (a bad line named, nothing received) and by form (once per form
//! token), transfers refused beside the field at fault, low rows marked, the ledger naming who acted, the reorder
//! CSV, the roles that may not change stock, scope, and the stock page's statement count.
//!
//! What a page changed is checked through the JSON API.

use std::time::Duration;

use depot::auth::Role;
use depot::db::Db;
use depot::db::schema::{parts, stores};
use depot::db::types::Id;
use depot::users::Locale;
use depot::with_conn;
use diesel::prelude::*;
use serde_json::json;

use crate::console::{Browser, Must, PASSWORD, Page, create_user};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn store_id(db: &Db, code: &str) -> String {
    let id: Id = db
        .read(|conn| {
            Ok(with_conn!(conn, c => stores::table.filter(stores::code.eq(code)).select(stores::id).first(c))?)
        })
        .must();
    id.0.to_string()
}

fn part_id(db: &Db, sku: &str) -> String {
    let id: Id = db
        .read(|conn| Ok(with_conn!(conn, c => parts::table.filter(parts::sku.eq(sku)).select(parts::id).first(c))?))
        .must();
    id.0.to_string()
}

/// On hand of a part at a location, through the JSON API (0 when there is no level yet).
fn on_hand(app: &TestApp, location: &str, part: &str) -> i64 {
    let res = app.get_admin(&format!("/api/v1/stock/levels?location_id={location}&part_id={part}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"][0]["on_hand"].as_i64().unwrap_or(0)
}

/// The demo data, and a warehouse user of `SZ-WH1` signed in.
struct Warehouse<'a> {
    wh: String,
    futian: String,
    browser: Browser<'a>,
}

fn seeded() -> TestApp {
    let app = spawn_app();
    depot::seed::seed_demo(&app.db).must();
    app
}

fn warehouse(app: &TestApp) -> Warehouse<'_> {
    let wh = store_id(&app.db, "SZ-WH1");
    let futian = store_id(&app.db, "SZ-FUTIAN");
    create_user(app, "wh.li", Role::Warehouse, &[&wh], Locale::En);
    let mut browser = Browser::new(app);
    let signed = browser.sign_in("wh.li", PASSWORD, "/console/warehouse/");
    assert_eq!(signed.status, 303, "{}", signed.html);
    Warehouse { wh, futian, browser }
}

/// A `multipart/form-data` post with the browser's cookies: `fields` as text parts, `file` as a CSV file part.
fn post_multipart(app: &TestApp, b: &Browser<'_>, path: &str, fields: &[(&str, &str)], file: Option<&str>) -> Page {
    let boundary = "----depot-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    if let Some(text) = file {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"receipts.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{text}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let (status, headers, text) = raw(
        app,
        b,
        "POST",
        path,
        Some((&format!("multipart/form-data; boundary={boundary}"), &body)),
    );
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Page {
        status,
        location: header("location"),
        set_cookies: Vec::new(),
        html: text,
    }
}

/// A request with the browser's cookies, answered with its status, headers and body.
fn raw(
    app: &TestApp,
    b: &Browser<'_>,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> (u16, Vec<(String, String)>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let cookies: String = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let url = app.url(path);
    let res = match (method, body) {
        ("POST", Some((content_type, body))) => agent
            .post(&url)
            .header("Cookie", &cookies)
            .header("Content-Type", content_type)
            .send(body),
        _ => agent.get(&url).header("Cookie", &cookies).call(),
    };
    let mut res = res.must();
    let headers = res
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (status, headers, text)
}

/// The text of the element with this id, up to its first tag.
fn text_of(html: &str, id: &str) -> String {
    html.split(&format!("id=\"{id}\">"))
        .nth(1)
        .unwrap_or_default()
        .split('<')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The `<tr>` with this id, whole.
fn row<'h>(html: &'h str, id: &str) -> &'h str {
    let start = html.find(&format!("<tr id=\"{id}\"")).unwrap_or(html.len());
    let rest = &html[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[test]
fn a_csv_with_a_bad_line_names_the_line_and_receives_nothing() {
    let app = seeded();
    let mut w = warehouse(&app);
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let before = on_hand(&app, &w.wh, &screen);
    let form = w.browser.get("/console/warehouse/receive");
    assert_eq!(form.status, 200, "{}", form.html);
    let (csrf, idem) = (form.hidden("csrf"), form.hidden("idem"));
    // Pasted text: line 3 names no part, line 4 has a quantity of zero.
    let csv = "location_code,receipt_number,sku,quantity\nSZ-WH1,GR-1,SCR-MATE60PRO,10\nSZ-WH1,GR-1,NOPE,5\nSZ-WH1,GR-1,BAT-P70,0\n";
    let page = post_multipart(
        &app,
        &w.browser,
        "/console/warehouse/receive/import",
        &[("csrf", &csrf), ("idem", &idem), ("csv", csv)],
        None,
    );
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(page.html.contains("id=\"import-errors\""), "{}", page.html);
    let line3 = row(&page.html, "import-line-3");
    assert!(
        line3.contains("<td>3</td>") && line3.contains("no part NOPE"),
        "{line3}"
    );
    assert!(row(&page.html, "import-line-4").contains("quantity"), "{}", page.html);
    assert!(!page.html.contains("id=\"import-line-2\""), "a good line is not named");
    assert!(
        page.html.contains("nothing was received"),
        "the page says the whole file was refused"
    );
    assert!(
        page.html.contains("SZ-WH1,GR-1,NOPE,5"),
        "the text is kept to correct it"
    );
    assert_eq!(
        on_hand(&app, &w.wh, &screen),
        before,
        "nothing received from a bad file"
    );
}

#[test]
fn a_good_csv_file_raises_on_hand_and_shows_what_was_received() {
    let app = seeded();
    let mut w = warehouse(&app);
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let battery = part_id(&app.db, "BAT-P70");
    let (screen_before, battery_before) = (on_hand(&app, &w.wh, &screen), on_hand(&app, &w.wh, &battery));
    let form = w.browser.get("/console/warehouse/receive");
    let (csrf, idem) = (form.hidden("csrf"), form.hidden("idem"));
    let csv = "\u{feff}location_code,receipt_number,sku,quantity\r\nSZ-WH1,GR-7,scr-mate60pro,10\r\nSZ-WH1,GR-7,BAT-P70,5\r\n";
    let page = post_multipart(
        &app,
        &w.browser,
        "/console/warehouse/receive/import",
        &[("csrf", &csrf), ("idem", &idem), ("csv", "")],
        Some(csv),
    );
    assert_eq!(page.status, 303, "{}", page.html);
    assert_eq!(page.location, "/console/warehouse/receive?received=GR-7");
    // The same form sent again (a double click) answers as the first and receives nothing more.
    let again = post_multipart(
        &app,
        &w.browser,
        "/console/warehouse/receive/import",
        &[("csrf", &csrf), ("idem", &idem), ("csv", "")],
        Some(csv),
    );
    assert_eq!((again.status, again.location.as_str()), (303, page.location.as_str()));
    assert_eq!(on_hand(&app, &w.wh, &screen), screen_before + 10);
    assert_eq!(on_hand(&app, &w.wh, &battery), battery_before + 5);

    let done = w.browser.get(&page.location);
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(done.html.contains("id=\"received-lines\""), "{}", done.html);
    assert!(
        done.html
            .contains("<td>GR-7</td><td>SZ-WH1</td><td>SCR-MATE60PRO</td><td class=\"num\">10</td>"),
        "{}",
        done.html
    );
}

#[test]
fn one_receipt_form_posted_twice_receives_once() {
    let app = seeded();
    let mut w = warehouse(&app);
    let battery = part_id(&app.db, "BAT-P70");
    let before = on_hand(&app, &w.wh, &battery);
    let form = w.browser.get("/console/warehouse/receive");
    let (csrf, idem) = (form.hidden("csrf"), form.hidden("idem"));
    let fields = [
        ("csrf", csrf.as_str()),
        ("idem", idem.as_str()),
        ("location_id", w.wh.as_str()),
        ("receipt_number", "GR-D1"),
        ("sku", "bat-p70"),
        ("quantity", "5"),
    ];
    let first = w.browser.post("/console/warehouse/receive", &fields, &[]);
    let second = w.browser.post("/console/warehouse/receive", &fields, &[]);
    assert_eq!(first.status, 303, "{}", first.html);
    assert_eq!((second.status, &second.location), (303, &first.location));
    assert_eq!(on_hand(&app, &w.wh, &battery), before + 5, "received once");

    // A fresh form with the same receipt number is refused beside that field.
    let form = w.browser.get("/console/warehouse/receive");
    let again = w.browser.post(
        "/console/warehouse/receive",
        &[
            ("csrf", &form.hidden("csrf")),
            ("idem", &form.hidden("idem")),
            ("location_id", &w.wh),
            ("receipt_number", "GR-D1"),
            ("sku", "BAT-P70"),
            ("quantity", "5"),
        ],
        &[],
    );
    assert_eq!(again.status, 422, "{}", again.html);
    assert!(again.html.contains("id=\"receipt_number-problem\""), "{}", again.html);
    assert_eq!(on_hand(&app, &w.wh, &battery), before + 5);
}

#[test]
fn a_transfer_beyond_what_is_available_is_refused_beside_the_quantity() {
    let app = seeded();
    let mut w = warehouse(&app);
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let (wh_before, futian_before) = (on_hand(&app, &w.wh, &screen), on_hand(&app, &w.futian, &screen));
    let form = w.browser.get("/console/warehouse/transfer");
    assert_eq!(form.status, 200, "{}", form.html);
    assert!(form.html.contains("<label for=\"quantity\">"), "{}", form.html);
    let too_many = (wh_before + 1).to_string();
    let refused = w.browser.post(
        "/console/warehouse/transfer",
        &[
            ("csrf", &form.hidden("csrf")),
            ("idem", &form.hidden("idem")),
            ("from_location_id", &w.wh),
            ("to_location_id", &w.futian),
            ("sku", "SCR-MATE60PRO"),
            ("quantity", &too_many),
        ],
        &[],
    );
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused
            .html
            .contains("aria-invalid=\"true\" aria-describedby=\"quantity-problem\""),
        "{}",
        refused.html
    );
    let problem = text_of(&refused.html, "quantity-problem");
    assert!(problem.contains(&format!("{wh_before} available")), "{problem}");
    assert!(
        refused.html.contains(&format!("value=\"{too_many}\"")),
        "what was typed is kept"
    );
    assert_eq!(on_hand(&app, &w.wh, &screen), wh_before, "nothing moved");

    let form = w.browser.get("/console/warehouse/transfer");
    let moved = w.browser.post(
        "/console/warehouse/transfer",
        &[
            ("csrf", &form.hidden("csrf")),
            ("idem", &form.hidden("idem")),
            ("from_location_id", &w.wh),
            ("to_location_id", &w.futian),
            ("sku", "SCR-MATE60PRO"),
            ("quantity", "3"),
        ],
        &[],
    );
    assert_eq!(moved.status, 303, "{}", moved.html);
    assert_eq!(on_hand(&app, &w.wh, &screen), wh_before - 3);
    assert_eq!(on_hand(&app, &w.futian, &screen), futian_before + 3);
}

#[test]
fn a_count_sets_on_hand_and_a_blank_reason_is_shown_beside_its_field() {
    let app = seeded();
    let mut w = warehouse(&app);
    let battery = part_id(&app.db, "BAT-MATE60PRO");
    let before = on_hand(&app, &w.wh, &battery);
    let form = w.browser.get(&format!(
        "/console/warehouse/adjust?location_id={}&sku=BAT-MATE60PRO",
        w.wh
    ));
    assert_eq!(form.status, 200, "{}", form.html);
    assert!(
        form.html.contains("value=\"BAT-MATE60PRO\""),
        "the stock page's link fills the part in"
    );
    let blank = w.browser.post(
        "/console/warehouse/adjust",
        &[
            ("csrf", &form.hidden("csrf")),
            ("idem", &form.hidden("idem")),
            ("location_id", &w.wh),
            ("sku", "BAT-MATE60PRO"),
            ("counted", "7"),
            ("reason", " "),
        ],
        &[],
    );
    assert_eq!(blank.status, 422, "{}", blank.html);
    assert!(blank.html.contains("id=\"reason-problem\""), "{}", blank.html);
    assert_eq!(on_hand(&app, &w.wh, &battery), before);
    let counted = w.browser.post(
        "/console/warehouse/adjust",
        &[
            ("csrf", &form.hidden("csrf")),
            ("idem", &form.hidden("idem")),
            ("location_id", &w.wh),
            ("sku", "BAT-MATE60PRO"),
            ("counted", "7"),
            ("reason", "shelf count"),
        ],
        &[],
    );
    assert_eq!(counted.status, 303, "{}", counted.html);
    assert_eq!(on_hand(&app, &w.wh, &battery), 7);
}

#[test]
fn low_rows_are_marked_and_the_reorder_form_sets_the_point() {
    let app = seeded();
    let mut w = warehouse(&app);
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let page = w.browser.get("/console/warehouse/");
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("id=\"stock-levels\""), "{}", page.html);
    let id = "level-SZ-WH1-SCR-MATE60PRO";
    assert!(
        !row(&page.html, id).contains("class=\"low\""),
        "{}",
        row(&page.html, id)
    );

    // Its reorder form, as the row carries it.
    let action = format!("/console/warehouse/levels/{}/{screen}/reorder", w.wh);
    let idem = row(&page.html, id)
        .split("name=\"idem\" value=\"")
        .nth(1)
        .unwrap_or_default()
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    let csrf = page.hidden("csrf");
    let bad = w.browser.post(
        &action,
        &[
            ("csrf", &csrf),
            ("idem", &idem),
            ("reorder_point", "-1"),
            ("reorder_qty", "10"),
        ],
        &[],
    );
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.html.contains("id=\"reorder_point-problem\""), "{}", bad.html);
    let on_hand_now = on_hand(&app, &w.wh, &screen);
    let point = (on_hand_now + 5).to_string();
    let saved = w.browser.post(
        &action,
        &[
            ("csrf", &csrf),
            ("idem", &idem),
            ("back", "low=1"),
            ("reorder_point", &point),
            ("reorder_qty", "10"),
        ],
        &[],
    );
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(saved.location, "/console/warehouse/?low=1&saved=1");
    let level = app.get_admin(&format!("/api/v1/stock/levels?location_id={}&part_id={screen}", w.wh));
    assert_eq!(level.body["items"][0]["reorder_point"].as_i64(), Some(on_hand_now + 5));

    let low = w.browser.get(&saved.location);
    assert!(low.html.contains("id=\"saved\""), "{}", low.html);
    let marked = row(&low.html, id);
    assert!(marked.contains("class=\"low\""), "{marked}");
    assert!(
        marked.contains("<span class=\"badge warn\">Low</span>"),
        "a word, not only a colour: {marked}"
    );
    assert_eq!(low.html.matches("<tr id=\"level-").count(), 1, "low only: {}", low.html);

    // The text filter finds the part by name, in any case.
    let found = w.browser.get("/console/warehouse/?q=mate%2060%20PRO%20display");
    assert!(found.html.contains(id), "{}", found.html);
    assert_eq!(found.html.matches("<tr id=\"level-").count(), 1, "{}", found.html);
}

#[test]
fn the_ledger_shows_each_movement_with_the_name_of_who_made_it() {
    let app = seeded();
    let mut w = warehouse(&app);
    let battery = part_id(&app.db, "BAT-P70");
    let form = w.browser.get("/console/warehouse/receive");
    let done = w.browser.post(
        "/console/warehouse/receive",
        &[
            ("csrf", &form.hidden("csrf")),
            ("idem", &form.hidden("idem")),
            ("location_id", &w.wh),
            ("receipt_number", "GR-L1"),
            ("sku", "BAT-P70"),
            ("quantity", "4"),
        ],
        &[],
    );
    assert_eq!(done.status, 303, "{}", done.html);
    // A receipt by the admin's API key names the key, not a person.
    let by_key = app.post_admin(
        "/api/v1/stock/receipts",
        &json!({"location_id": w.wh, "receipt_number": "GR-L2", "lines": [{"part_id": battery, "quantity": 1}]}),
    );
    assert_eq!(by_key.status, 201, "{}", by_key.text);

    let ledger = w.browser.get(&format!("/console/warehouse/parts/{battery}/movements"));
    assert_eq!(ledger.status, 200, "{}", ledger.html);
    assert!(
        text_of(&ledger.html, "part-label").starts_with("BAT-P70"),
        "{}",
        ledger.html
    );
    let rows: Vec<&str> = ledger.html.split("<tr>").skip(2).collect();
    let mine = rows.iter().find(|r| r.contains("GR-L1")).must();
    assert!(
        mine.contains("wh.li display (wh.li)") && mine.contains("receipt"),
        "{mine}"
    );
    assert!(mine.contains("<td class=\"num\">4</td>"), "{mine}");
    let admins = rows.iter().find(|r| r.contains("GR-L2")).must();
    assert!(admins.contains("API key"), "{admins}");
    // Only this part's movements.
    assert!(!ledger.html.contains("SCR-MATE60PRO"), "{}", ledger.html);
}

#[test]
fn the_reorder_report_downloads_as_the_api_writes_it() {
    let app = seeded();
    let mut w = warehouse(&app);
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let set = app.send(
        "PUT",
        &format!("/api/v1/stock/levels/{}/{screen}/reorder", w.wh),
        Some(&app.admin_key),
        &[],
        &json!({"reorder_point": 100, "reorder_qty": 10}).to_string(),
    );
    assert_eq!(set.status, 200, "{}", set.text);
    let page = w.browser.get("/console/warehouse/");
    assert!(
        page.html.contains("href=\"/console/warehouse/reorder.csv\""),
        "linked from the stock page"
    );

    let (status, headers, body) = raw(&app, &w.browser, "GET", "/console/warehouse/reorder.csv", None);
    assert_eq!(status, 200, "{body}");
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        header("content-disposition"),
        Some("attachment; filename=\"reorder-report.csv\"")
    );
    let key = app.create_key("warehouse", &[&w.wh]);
    let api = app.get("/api/v1/stock/reorder-report.csv", Some(&key));
    assert_eq!(body, api.text, "the same CSV as the API's for the same scope");
    assert!(body.contains("SZ-WH1,SCR-MATE60PRO,"), "{body}");
}

#[test]
fn store_staff_read_their_stock_but_get_the_refusal_for_changing_it() {
    let app = seeded();
    let futian = store_id(&app.db, "SZ-FUTIAN");
    let wh = store_id(&app.db, "SZ-WH1");
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    create_user(&app, "desk.wang", Role::StoreStaff, &[&futian], Locale::En);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("desk.wang", PASSWORD, "/console/").status, 303);

    for path in [
        "/console/warehouse/receive",
        "/console/warehouse/transfer",
        "/console/warehouse/adjust",
        &format!("/console/warehouse/levels/{futian}/{screen}/reorder"),
    ] {
        let page = b.get(path);
        assert_eq!(page.status, 403, "{path}: {}", page.html);
        assert_eq!(text_of(&page.html, "message-title"), "Not for your role", "{path}");
    }
    let home = b.get("/console/");
    let before = on_hand(&app, &futian, &screen);
    let refused = b.post(
        "/console/warehouse/transfer",
        &[
            ("csrf", &home.hidden("csrf")),
            ("idem", "t-1"),
            ("from_location_id", &futian),
            ("to_location_id", &wh),
            ("sku", "SCR-MATE60PRO"),
            ("quantity", "1"),
        ],
        &[],
    );
    assert_eq!(refused.status, 403, "{}", refused.html);
    assert_eq!(on_hand(&app, &futian, &screen), before, "nothing moved");

    // The API lets store staff read their store's stock, so the list opens for them, without its forms.
    let levels = b.get("/console/warehouse/");
    assert_eq!(levels.status, 200, "{}", levels.html);
    assert!(levels.html.contains("level-SZ-FUTIAN-SCR-MATE60PRO"), "{}", levels.html);
    assert!(!levels.html.contains("level-SZ-WH1-"), "{}", levels.html);
    assert!(
        !levels.html.contains("/reorder\">"),
        "no reorder forms: {}",
        levels.html
    );
}

#[test]
fn a_warehouse_user_does_not_see_another_locations_stock() {
    let app = seeded();
    let mut w = warehouse(&app);
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let page = w.browser.get("/console/warehouse/");
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("level-SZ-WH1-SCR-MATE60PRO"), "{}", page.html);
    assert!(
        !page.html.contains("SZ-FUTIAN"),
        "no other location, not even in the filter"
    );
    let filtered = w.browser.get(&format!("/console/warehouse/?location={}", w.futian));
    assert_eq!(filtered.html.matches("<tr id=\"level-").count(), 0, "{}", filtered.html);

    let ledger = w.browser.get(&format!(
        "/console/warehouse/parts/{screen}/movements?location={}",
        w.futian
    ));
    assert_eq!(ledger.status, 200, "{}", ledger.html);
    assert!(ledger.html.contains("id=\"no-movements\""), "{}", ledger.html);

    let other = w
        .browser
        .get(&format!("/console/warehouse/levels/{}/{screen}/reorder", w.futian));
    assert_eq!(other.status, 404, "{}", other.html);

    // A form sent with another location in it changes nothing there.
    let before = on_hand(&app, &w.futian, &screen);
    let form = w.browser.get("/console/warehouse/adjust");
    let tampered = w.browser.post(
        "/console/warehouse/adjust",
        &[
            ("csrf", &form.hidden("csrf")),
            ("idem", &form.hidden("idem")),
            ("location_id", &w.futian),
            ("sku", "SCR-MATE60PRO"),
            ("counted", "0"),
            ("reason", "not mine"),
        ],
        &[],
    );
    assert_eq!(tampered.status, 422, "{}", tampered.html);
    assert!(tampered.html.contains("id=\"form-problem\""), "{}", tampered.html);
    assert_eq!(on_hand(&app, &w.futian, &screen), before);
}

#[test]
fn the_pages_speak_the_users_language() {
    let app = seeded();
    let wh = store_id(&app.db, "SZ-WH1");
    let screen = part_id(&app.db, "SCR-MATE60PRO");
    let set = app.send(
        "PUT",
        &format!("/api/v1/stock/levels/{wh}/{screen}/reorder"),
        Some(&app.admin_key),
        &[],
        &json!({"reorder_point": 100, "reorder_qty": 10}).to_string(),
    );
    assert_eq!(set.status, 200, "{}", set.text);
    create_user(&app, "wh.zhang", Role::Warehouse, &[&wh], Locale::ZhCn);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("wh.zhang", PASSWORD, "/console/warehouse/").status, 303);
    let page = b.get("/console/warehouse/");
    assert!(page.html.contains("<html lang=\"zh-CN\">"), "{}", page.html);
    assert!(page.html.contains("<h1>库存</h1>"), "{}", page.html);
    assert!(
        row(&page.html, "level-SZ-WH1-SCR-MATE60PRO").contains("<span class=\"badge warn\">低库存</span>"),
        "{}",
        page.html
    );
    let form = b.get("/console/warehouse/transfer");
    assert!(
        form.html.contains("<label for=\"quantity\">数量</label>"),
        "{}",
        form.html
    );
}

#[test]
fn the_stock_page_costs_as_many_statements_for_40_rows_as_for_2_and_pages_like_the_api() {
    // No background loop runs (zero turns each off), so every statement counted is the page's.
    let app = spawn_app_with(|s| {
        s.sweep_interval = Duration::ZERO;
        s.events_interval = Duration::ZERO;
        s.webhook_interval = Duration::ZERO;
        s.reminders.interval = Duration::ZERO;
    });
    let wh = app.create_store("WH-COUNT", "Shenzhen");
    let model = app.create_standard_model("CNT");
    let skus: Vec<String> = (1..=40).map(|i| format!("CNT-{i:02}")).collect();
    for sku in &skus {
        let res = app.post_admin(
            "/api/v1/parts",
            &json!({"sku": sku, "name": format!("Count part {sku}"), "category": "screen",
                    "compatible_model_ids": [model], "price": {"amount": "10.00", "currency": "CNY"}}),
        );
        assert_eq!(res.status, 201, "{}", res.text);
    }
    let receive = |skus: &[String], number: &str| {
        let mut csv = String::from("location_code,receipt_number,sku,quantity\n");
        for sku in skus {
            csv.push_str(&format!("WH-COUNT,{number},{sku},3\n"));
        }
        let res = app.send(
            "POST",
            "/api/v1/stock/receipts/import",
            Some(&app.admin_key),
            &[("Content-Type", "text/csv")],
            &csv,
        );
        assert_eq!(res.status, 201, "{}", res.text);
    };
    create_user(&app, "wh.count", Role::Warehouse, &[&wh], Locale::En);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("wh.count", PASSWORD, "/console/warehouse/").status, 303);
    let statements = |b: &mut Browser<'_>| {
        let before = app.db.health().statements();
        let page = b.get("/console/warehouse/");
        let after = app.db.health().statements();
        assert_eq!(page.status, 200, "{}", page.html);
        (after - before, page.html.matches("<tr id=\"level-").count())
    };

    receive(&skus[..2], "GR-A");
    let (two, rows) = statements(&mut b);
    assert_eq!(rows, 2);
    receive(&skus[2..], "GR-B");
    let (forty, rows) = statements(&mut b);
    assert_eq!(rows, 40);
    println!("the stock page ran {two} statements with 2 rows and {forty} with 40");
    assert_eq!(two, forty, "no statement per row");

    // Paged as the API pages: a next link while more rows follow, none on the last page.
    let first = b.get("/console/warehouse/?limit=25");
    assert_eq!(first.html.matches("<tr id=\"level-").count(), 25, "{}", first.html);
    let next = first
        .html
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .unwrap_or_default()
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&#38;", "&");
    assert!(
        next.starts_with("/console/warehouse/?limit=25&cursor="),
        "{}",
        first.html
    );
    let last = b.get(&next);
    assert_eq!(last.html.matches("<tr id=\"level-").count(), 15, "{}", last.html);
    assert!(last.html.contains("level-WH-COUNT-CNT-40"), "{}", last.html);
    assert!(!last.html.contains("id=\"next-page\""), "{}", last.html);
}
