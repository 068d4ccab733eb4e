//! The front desk's ticket flow in the console: opening a ticket (checked first), the ticket page's next steps,
//! quote, findings and photos, the printable work order, the scope 404, and the ticket page's statement count.

use std::time::Duration;

use chrono::Utc;
use depot::auth::Role;
use depot::users::Locale;
use serde_json::{Value, json};

use crate::console::{Browser, Must, PASSWORD, Page, create_user, encode, open_ticket};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::tickets::{Premium, imei, premium, step};

/// A signed-in desk user of `store`.
fn staff<'a>(app: &'a TestApp, name: &str, store: &str) -> Browser<'a> {
    create_user(app, name, Role::StoreStaff, &[store], Locale::En);
    let mut b = Browser::new(app);
    let signed = b.sign_in(name, PASSWORD, "/console/");
    assert_eq!(signed.status, 303, "{}", signed.html);
    b
}

/// The opening form's fields for a phone bought `days` ago.
fn opening(store: &str, model: &str, imei: &str, days: i64) -> Vec<(&'static str, String)> {
    let purchased = (Utc::now() - chrono::Duration::days(days)).date_naive();
    vec![
        ("store_id", store.to_owned()),
        ("customer.name", "Li Lei".to_owned()),
        ("customer.phone", "13900139000".to_owned()),
        ("device_imei", imei.to_owned()),
        ("model_id", model.to_owned()),
        ("purchase_date", purchased.to_string()),
        ("reported_fault", "screen flickers".to_owned()),
        ("accessories", "case, charger".to_owned()),
        ("inspection.cosmetic", "scratch on the back".to_owned()),
        ("covered_item", "handset".to_owned()),
        ("fault", "performance".to_owned()),
        ("certificate", "valid".to_owned()),
    ]
}

fn query(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Posts a form with the page's CSRF token and a fresh form token (or the one given).
fn post_form(b: &mut Browser<'_>, path: &str, csrf: &str, idem: &str, fields: &[(&str, String)]) -> Page {
    let mut all: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("csrf", csrf));
    all.push(("idem", idem));
    b.post(path, &all, &[])
}

fn tickets_of(app: &TestApp, store: &str) -> Vec<Value> {
    let res = app.get_admin(&format!("/api/v1/tickets?store_id={store}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

fn ticket(app: &TestApp, id: &str) -> Value {
    let res = app.get_admin(&format!("/api/v1/tickets/{id}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

/// The text between `id="{id}"` and the end of its element's first line of content.
fn element(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no element {id} in {html}"));
    html[start..].chars().take(400).collect()
}

fn csrf_of(b: &mut Browser<'_>) -> String {
    b.get("/console/desk/tickets/new").hidden("csrf")
}

#[test]
fn a_premium_ticket_opened_through_the_form_shows_its_reserved_loaner_and_the_tracking_link_once() {
    let app = spawn_app();
    let p = premium(&app, "DKA", 1);
    let loaner = app.get_admin(&format!("/api/v1/loaners?store_id={}", p.store));
    let loaner_imei = loaner.body["items"][0]["imei"].as_str().must().to_owned();
    let mut b = staff(&app, "desk.a", &p.store);

    let home = b.get("/console/");
    assert!(home.html.contains("id=\"open-ticket\""), "{}", home.html);
    let phone = imei();
    let search = b.get(&format!("/console/search?q={phone}"));
    assert!(
        search
            .html
            .contains(&format!("href=\"/console/desk/tickets/new?imei={phone}\"")),
        "a searched IMEI opens a ticket prefilled: {}",
        search.html
    );
    let prefilled = b.get(&format!("/console/desk/tickets/new?imei={phone}"));
    assert_eq!(prefilled.status, 200, "{}", prefilled.html);
    assert!(
        prefilled.html.contains(&format!("value=\"{phone}\"")),
        "{}",
        prefilled.html
    );

    let fields = opening(&p.store, &p.model, &phone, 100);
    let check = b.get(&format!("/console/desk/tickets/new?check=1&{}", query(&fields)));
    assert_eq!(check.status, 200, "{}", check.html);
    assert!(element(&check.html, "decision-free").contains("Free"), "{}", check.html);
    assert!(
        element(&check.html, "loaner-imei").contains(&loaner_imei),
        "{}",
        check.html
    );
    assert!(tickets_of(&app, &p.store).is_empty(), "the check writes nothing");

    let opened = post_form(
        &mut b,
        "/console/desk/tickets",
        &check.hidden("csrf"),
        &check.hidden("idem"),
        &fields,
    );
    assert_eq!(
        opened.status, 200,
        "the opening answers the ticket page itself: {}",
        opened.html
    );
    assert!(
        element(&opened.html, "tracking-link").contains("/api/v1/public/tracking/"),
        "{}",
        opened.html
    );
    let listed = tickets_of(&app, &p.store);
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().must().to_owned();
    let api = ticket(&app, &id);
    assert_eq!(api["loan"]["state"], "reserved");
    assert_eq!(api["loan"]["loaner_imei"], loaner_imei.as_str());
    assert_eq!(api["accessories"], json!(["case", "charger"]));
    let loan_id = api["loan"]["id"].as_str().must();
    assert!(
        opened
            .html
            .contains(&format!("id=\"loan-link\" href=\"/console/loans/{loan_id}\"")),
        "{}",
        opened.html
    );
    assert!(element(&opened.html, "loan-link").contains(&loaner_imei));

    let later = b.get(&format!("/console/tickets/{id}"));
    assert_eq!(later.status, 200);
    assert!(
        !later.html.contains("tracking-link"),
        "the link is shown once: {}",
        later.html
    );
    assert!(
        element(&later.html, "timeline").contains("desk.a display"),
        "{}",
        later.html
    );
}

#[test]
fn the_check_shows_the_decision_and_the_place_in_the_waitlist_when_no_loaner_is_free() {
    let app = spawn_app();
    let p: Premium = premium(&app, "DKB", 0);
    let waiting = crate::tickets::open(&app, &p);
    assert_eq!(waiting.body["loan"]["state"], "waiting");
    let mut b = staff(&app, "desk.b", &p.store);
    // Bought two years ago: the warranty is over, the repair is paid.
    let fields = opening(&p.store, &p.model, &imei(), 730);
    let check = b.get(&format!("/console/desk/tickets/new?check=1&{}", query(&fields)));
    assert_eq!(check.status, 200, "{}", check.html);
    assert!(element(&check.html, "decision-free").contains("Paid"), "{}", check.html);
    assert!(
        element(&check.html, "decision-rule").contains("data-rule=\"period_expired\">Warranty period expired<"),
        "{}",
        check.html
    );
    assert!(
        element(&check.html, "waitlist-position").contains(">2<"),
        "{}",
        check.html
    );
    assert_eq!(tickets_of(&app, &p.store).len(), 1, "the check opens nothing");
}

#[test]
fn a_bad_imei_is_shown_beside_its_field_and_nothing_is_opened() {
    let app = spawn_app();
    let p = premium(&app, "DKC", 1);
    let mut b = staff(&app, "desk.c", &p.store);
    let csrf = csrf_of(&mut b);
    let fields = opening(&p.store, &p.model, "490154203237519", 100);
    let refused = post_form(&mut b, "/console/desk/tickets", &csrf, "bad-imei-1", &fields);
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.html.contains("id=\"device-imei-problem\""), "{}", refused.html);
    assert!(
        refused
            .html
            .contains("aria-invalid=\"true\" aria-describedby=\"device-imei-problem\""),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("value=\"Li Lei\""),
        "what was typed stays: {}",
        refused.html
    );
    let check = b.get(&format!("/console/desk/tickets/new?check=1&{}", query(&fields)));
    assert_eq!(check.status, 422, "the check shows it too");
    assert!(check.html.contains("id=\"device-imei-problem\""), "{}", check.html);
    assert!(tickets_of(&app, &p.store).is_empty());
}

#[test]
fn a_phone_with_an_open_ticket_is_refused_with_a_link_to_that_ticket() {
    let app = spawn_app();
    let p = premium(&app, "DKD", 2);
    let mut b = staff(&app, "desk.d", &p.store);
    let csrf = csrf_of(&mut b);
    let phone = imei();
    let fields = opening(&p.store, &p.model, &phone, 100);
    let first = post_form(&mut b, "/console/desk/tickets", &csrf, "dup-1", &fields);
    assert_eq!(first.status, 200, "{}", first.html);
    let id = tickets_of(&app, &p.store)[0]["id"].as_str().must().to_owned();
    let again = post_form(&mut b, "/console/desk/tickets", &csrf, "dup-2", &fields);
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(again.html.contains("id=\"device-imei-problem\""), "{}", again.html);
    assert!(
        again.html.contains(&format!("href=\"/console/tickets/{id}\"")),
        "{}",
        again.html
    );
    assert_eq!(tickets_of(&app, &p.store).len(), 1);
}

#[test]
fn one_form_token_posted_twice_opens_one_ticket() {
    let app = spawn_app();
    let p = premium(&app, "DKE", 2);
    let mut b = staff(&app, "desk.e", &p.store);
    let csrf = csrf_of(&mut b);
    let fields = opening(&p.store, &p.model, &imei(), 100);
    let first = post_form(&mut b, "/console/desk/tickets", &csrf, "double-click-1", &fields);
    assert_eq!(first.status, 200, "{}", first.html);
    let second = post_form(&mut b, "/console/desk/tickets", &csrf, "double-click-1", &fields);
    assert_eq!(second.status, 303, "the replay goes to the ticket: {}", second.html);
    let listed = tickets_of(&app, &p.store);
    assert_eq!(listed.len(), 1, "one ticket");
    let id = listed[0]["id"].as_str().must();
    assert_eq!(second.location, format!("/console/tickets/{id}"));
    assert!(
        !second.html.contains("tracking"),
        "a replay does not show the link again"
    );
    let loans = app.get_admin(&format!("/api/v1/loans?store_id={}", p.store));
    assert_eq!(loans.body["items"].as_array().map(Vec::len), Some(1), "{}", loans.text);
}

#[test]
fn next_steps_follow_the_status_and_a_step_not_allowed_is_refused_on_the_page() {
    let app = spawn_app();
    let store = app.create_store("DKF", "Shenzhen");
    let model = app.create_standard_model("DKF");
    let id = open_ticket(&app, &store, &model)["id"].as_str().must().to_owned();
    let mut b = staff(&app, "desk.f", &store);
    let page = b.get(&format!("/console/tickets/{id}"));
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("id=\"step-start-diagnosis\""));
    assert!(page.html.contains("id=\"step-cancel\""));
    for absent in [
        "step-start-repair",
        "step-mark-ready",
        "step-close",
        "step-request-approval",
    ] {
        assert!(
            !page.html.contains(absent),
            "{absent} is not a next step of a received ticket"
        );
    }
    let csrf = page.hidden("csrf");
    let refused = post_form(
        &mut b,
        &format!("/console/tickets/{id}/steps/mark-ready"),
        &csrf,
        "step-1",
        &[],
    );
    assert_eq!(refused.status, 409, "{}", refused.html);
    assert!(
        element(&refused.html, "action-problem").contains("cannot"),
        "{}",
        refused.html
    );
    assert_eq!(ticket(&app, &id)["status"], "received", "nothing changed");

    let moved = post_form(
        &mut b,
        &format!("/console/tickets/{id}/steps/start-diagnosis"),
        &csrf,
        "step-2",
        &[],
    );
    assert_eq!(moved.status, 303, "{}", moved.html);
    assert_eq!(moved.location, format!("/console/tickets/{id}"));
    assert_eq!(ticket(&app, &id)["status"], "diagnosing");
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(element(&page.html, "ticket-status").contains("data-status=\"diagnosing\">Diagnosing<"));
    // A free repair (bought 100 days ago) starts without a quote.
    for present in ["step-start-repair", "step-request-approval", "step-cancel"] {
        assert!(page.html.contains(present), "{present}: {}", page.html);
    }
    assert!(!page.html.contains("step-start-diagnosis"));
}

/// A part fitting `model` at 120.00, with 10 in stock at `store`; returns its id.
fn stocked_part(app: &TestApp, sku: &str, model: &str, store: &str) -> String {
    let part = app.post_admin(
        "/api/v1/parts",
        &json!({"sku": sku, "name": format!("{sku} display"), "category": "screen", "compatible_model_ids": [model],
                "price": {"amount": "120.00", "currency": "CNY"}}),
    );
    assert_eq!(part.status, 201, "{}", part.text);
    let id = part.id();
    let receipt = app.post_admin(
        "/api/v1/stock/receipts",
        &json!({"location_id": store, "receipt_number": format!("{sku}-R1"), "lines": [{"part_id": id, "quantity": 10}]}),
    );
    assert_eq!(receipt.status, 201, "{}", receipt.text);
    id
}

/// A ticket for a phone bought two years ago (a paid repair), opened as the admin.
fn paid_ticket(app: &TestApp, store: &str, model: &str) -> String {
    let purchased = (Utc::now() - chrono::Duration::days(730)).date_naive();
    let res = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": store, "customer": {"name": "Han Meimei", "phone": "13800138000"},
                "device_imei": imei(), "model_id": model, "purchase_date": purchased, "channel": "walk_in",
                "reported_fault": "no signal", "accessories": []}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res.id()
}

#[test]
fn a_quote_built_at_the_desk_is_approved_by_the_customer_at_the_counter() {
    let app = spawn_app();
    let store = app.create_store("DKG", "Shenzhen");
    let model = app.create_standard_model("DKG");
    let part = stocked_part(&app, "DKG-SCR", &model, &store);
    let id = paid_ticket(&app, &store, &model);
    let mut b = staff(&app, "desk.g", &store);
    let page = b.get(&format!("/console/tickets/{id}"));
    let csrf = page.hidden("csrf");
    let go = |b: &mut Browser<'_>, path: &str, idem: &str, fields: &[(&str, String)]| {
        let res = post_form(b, &format!("/console/tickets/{id}/{path}"), &csrf, idem, fields);
        assert_eq!(res.status, 303, "{path}: {}", res.html);
    };
    go(&mut b, "steps/start-diagnosis", "q-1", &[]);
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(
        !page.html.contains("step-start-repair"),
        "a paid repair waits for a quote: {}",
        page.html
    );
    assert!(
        page.html.contains(&format!("value=\"{part}\"")),
        "the part is offered: {}",
        page.html
    );
    go(
        &mut b,
        "parts",
        "q-2",
        &[("part_id", part.clone()), ("quantity", "1".into())],
    );

    let bad = post_form(
        &mut b,
        &format!("/console/tickets/{id}/quote"),
        &csrf,
        "q-3",
        &[("labour", "lots".into())],
    );
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.html.contains("id=\"labour-amount-problem\""), "{}", bad.html);
    assert_eq!(ticket(&app, &id)["status"], "diagnosing");

    go(&mut b, "quote", "q-4", &[("labour", "50".into())]);
    let quoted = ticket(&app, &id);
    assert_eq!(quoted["status"], "awaiting_approval");
    assert_eq!(quoted["parts"]["labour"]["amount"], "50.00");
    assert_eq!(quoted["parts"]["customer_total"]["amount"], "170.00");
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(
        element(&page.html, "quote-customer-total").contains("170.00"),
        "{}",
        page.html
    );
    assert!(page.html.contains("id=\"approve-quote\""), "{}", page.html);

    go(&mut b, "quote/approve", "q-5", &[]);
    assert_eq!(ticket(&app, &id)["status"], "repairing");
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(!page.html.contains("id=\"approve-quote\""));
    assert!(page.html.contains("id=\"step-start-quality-check\""));
}

#[test]
fn findings_saved_at_the_desk_decide_the_warranty_again() {
    let app = spawn_app();
    let store = app.create_store("DKH", "Shenzhen");
    let model = app.create_standard_model("DKH");
    let id = open_ticket(&app, &store, &model)["id"].as_str().must().to_owned();
    let mut b = staff(&app, "desk.h", &store);
    let csrf = b.get(&format!("/console/tickets/{id}")).hidden("csrf");
    let saved = post_form(
        &mut b,
        &format!("/console/tickets/{id}/findings"),
        &csrf,
        "f-1",
        &[
            ("inspection.liquid", "on".into()),
            ("inspection.cosmetic", "corrosion".into()),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.html);
    let api = ticket(&app, &id);
    assert_eq!(api["inspection"]["liquid"], true);
    assert_eq!(api["warranty"]["rule"], "liquid_damage");
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(element(&page.html, "ticket-warranty").contains("Paid"), "{}", page.html);
}

fn png(shade: u8) -> Vec<u8> {
    let picture = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, shade])
    }));
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).must();
    out.into_inner()
}

/// Posts the page's photo form as a browser would (`multipart/form-data`).
fn upload_photo(app: &TestApp, b: &Browser<'_>, ticket: &str, csrf: &str, idem: &str, bytes: &[u8]) -> (u16, String) {
    let boundary = "desk-photo-boundary";
    let mut body = Vec::new();
    for (name, value) in [("csrf", csrf), ("idem", idem), ("stage", "intake")] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"back.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let cookies = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut res = agent
        .post(&app.url(&format!("/console/tickets/{ticket}/photos")))
        .header("Cookie", &cookies)
        .header("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .send(&body[..])
        .must();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn a_photo_uploaded_from_the_page_is_listed_with_its_thumbnail() {
    let app = spawn_app();
    let store = app.create_store("DKI", "Shenzhen");
    let model = app.create_standard_model("DKI");
    let id = open_ticket(&app, &store, &model)["id"].as_str().must().to_owned();
    let mut b = staff(&app, "desk.i", &store);
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(page.html.contains("capture=\"environment\""), "{}", page.html);
    assert!(page.html.contains("id=\"no-photos\""));
    let csrf = page.hidden("csrf");
    let (status, html) = upload_photo(&app, &b, &id, &csrf, "photo-1", &png(10));
    assert_eq!(status, 303, "{html}");
    let (again, _) = upload_photo(&app, &b, &id, &csrf, "photo-1", &png(10));
    assert_eq!(again, 303, "a second post of the same form replays");
    let files = app.get_admin(&format!("/api/v1/tickets/{id}/files"));
    let items = files.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", files.text);
    let file = items[0]["id"].as_str().must();
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(page.html.contains(&format!("id=\"photo-{file}\"")), "{}", page.html);
    assert!(page.html.contains(&format!("src=\"/api/v1/files/{file}/thumbnail\"")));
    let (bad, html) = upload_photo(&app, &b, &id, &csrf, "photo-2", b"not a picture at all");
    assert_eq!(bad, 422, "{html}");
    assert!(html.contains("id=\"file-problem\""), "{html}");
    let (forged, _) = upload_photo(&app, &b, &id, "forged-token", "photo-3", &png(20));
    assert_eq!(forged, 403);
    let files = app.get_admin(&format!("/api/v1/tickets/{id}/files"));
    assert_eq!(
        files.body["items"].as_array().map(Vec::len),
        Some(1),
        "nothing else recorded"
    );
}

#[test]
fn the_work_order_shows_the_fields_the_customer_signs() {
    let app = spawn_app();
    let p = premium(&app, "DKJ", 1);
    let contact = app.patch_admin(
        &format!("/api/v1/stores/{}", p.store),
        &json!({"address": "88 Shennan Road, Futian", "phone": "0755-8888 0000"}),
    );
    assert_eq!(contact.status, 200, "{}", contact.text);
    assert_eq!(contact.body["address"], "88 Shennan Road, Futian");
    let mut b = staff(&app, "desk.j", &p.store);
    let csrf = csrf_of(&mut b);
    let phone = imei();
    let mut fields = opening(&p.store, &p.model, &phone, 100);
    let promised = (Utc::now() + chrono::Duration::days(3)).date_naive();
    fields.push(("promised_on", promised.to_string()));
    let opened = post_form(&mut b, "/console/desk/tickets", &csrf, "wo-1", &fields);
    assert_eq!(opened.status, 200, "{}", opened.html);
    let id = tickets_of(&app, &p.store)[0]["id"].as_str().must().to_owned();
    assert!(
        opened
            .html
            .contains(&format!("href=\"/console/tickets/{id}/work-order\""))
    );
    let order = b.get(&format!("/console/tickets/{id}/work-order"));
    assert_eq!(order.status, 200, "{}", order.html);
    for (field, text) in [
        (
            "wo-store",
            "DKJ service center · 88 Shennan Road, Futian · 0755-8888 0000",
        ),
        ("wo-customer", "Li Lei"),
        ("wo-phone", "13900139000"),
        ("wo-model", "Mate 60"),
        ("wo-imei", phone.as_str()),
        ("wo-condition", "scratch on the back"),
        ("wo-accessories", "case, charger"),
        ("wo-fault", "screen flickers"),
        ("wo-warranty", "Free"),
        ("wo-promised", &promised.to_string()),
        ("wo-agreement", "Repair agreement"),
        ("wo-backup", "backing up the data"),
        ("wo-sign-customer", "signature"),
        ("wo-sign-staff", "Staff signature"),
    ] {
        assert!(
            element(&order.html, field).contains(text),
            "{field} shows {text}: {}",
            order.html
        );
    }
    // In Chinese for a user who reads it.
    create_user(&app, "desk.zh", Role::StoreStaff, &[&p.store], Locale::ZhCn);
    let mut zh = Browser::new(&app);
    zh.sign_in("desk.zh", PASSWORD, "/console/");
    let order = zh.get(&format!("/console/tickets/{id}/work-order"));
    assert!(
        order.html.contains("数据备份告知") && order.html.contains("客户签字"),
        "{}",
        order.html
    );
}

#[test]
fn another_stores_ticket_and_its_forms_are_a_404_and_a_warehouse_user_may_not_open_tickets() {
    let app = spawn_app();
    let mine = app.create_store("DKK", "Shenzhen");
    let theirs = app.create_store("DKL", "Guangzhou");
    let model = app.create_standard_model("DKK");
    let id = open_ticket(&app, &theirs, &model)["id"].as_str().must().to_owned();
    let mut b = staff(&app, "desk.k", &mine);
    let csrf = csrf_of(&mut b);
    assert_eq!(b.get(&format!("/console/tickets/{id}")).status, 404);
    assert_eq!(b.get(&format!("/console/tickets/{id}/work-order")).status, 404);
    for path in [
        "steps/cancel",
        "steps/start-diagnosis",
        "findings",
        "quote",
        "quote/approve",
        "parts",
    ] {
        let res = post_form(
            &mut b,
            &format!("/console/tickets/{id}/{path}"),
            &csrf,
            &format!("x-{path}"),
            &[],
        );
        assert_eq!(res.status, 404, "{path}: {}", res.html);
    }
    let (photo, _) = upload_photo(&app, &b, &id, &csrf, "x-photo", &png(1));
    assert_eq!(photo, 404);
    assert_eq!(ticket(&app, &id)["status"], "received", "nothing changed");
    // Opening at another store: the store is not among the user's.
    let refused = post_form(
        &mut b,
        "/console/desk/tickets",
        &csrf,
        "x-open",
        &opening(&theirs, &model, &imei(), 10),
    );
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.html.contains("id=\"store-id-problem\""), "{}", refused.html);
    assert_eq!(tickets_of(&app, &theirs).len(), 1);

    create_user(&app, "stock.k", Role::Warehouse, &[&mine], Locale::En);
    let mut w = Browser::new(&app);
    w.sign_in("stock.k", PASSWORD, "/console/");
    assert_eq!(w.get("/console/desk/tickets/new").status, 403);
}

/// Statements the app runs for one GET of the page.
fn statements_of(app: &TestApp, b: &mut Browser<'_>, path: &str) -> u64 {
    let before = app.db.health().statements();
    let page = b.get(path);
    assert_eq!(page.status, 200, "{}", page.html);
    app.db.health().statements() - before
}

#[test]
fn the_ticket_page_reads_a_fixed_number_of_statements_however_long_its_lists() {
    let app = spawn_app_with(|s| {
        let long = Duration::from_secs(3600);
        s.sweep_interval = long;
        s.events_interval = long;
        s.webhook_interval = long;
        s.reminders.interval = long;
    });
    let store = app.create_store("DKM", "Shenzhen");
    let model = app.create_standard_model("DKM");
    let small = open_ticket(&app, &store, &model)["id"].as_str().must().to_owned();
    let big = open_ticket(&app, &store, &model)["id"].as_str().must().to_owned();
    // Ten more timeline entries: into diagnosis, then repair and quality check round and round.
    for action in ["start-diagnosis", "start-repair"] {
        assert_eq!(step(&app, &big, action).status, 200);
    }
    for _ in 0..4 {
        assert_eq!(step(&app, &big, "start-quality-check").status, 200);
        assert_eq!(step(&app, &big, "start-repair").status, 200);
    }
    for n in 0..4 {
        let part = stocked_part(&app, &format!("DKM-P{n}"), &model, &store);
        let res = app.post_admin(
            &format!("/api/v1/tickets/{big}/parts"),
            &json!({"part_id": part, "quantity": 1}),
        );
        assert_eq!(res.status, 200, "{}", res.text);
    }
    let mut uploader = staff(&app, "desk.photos", &store);
    let csrf = uploader.get(&format!("/console/tickets/{big}")).hidden("csrf");
    for shade in [1u8, 2, 3] {
        let (status, html) = upload_photo(&app, &uploader, &big, &csrf, &format!("count-{shade}"), &png(shade));
        assert_eq!(status, 303, "{html}");
    }
    let big_ticket = ticket(&app, &big);
    assert!(
        big_ticket["timeline"].as_array().map(Vec::len).unwrap_or(0) >= 10,
        "{big_ticket}"
    );
    assert_eq!(big_ticket["parts"]["lines"].as_array().map(Vec::len), Some(4));
    assert_eq!(ticket(&app, &small)["timeline"].as_array().map(Vec::len), Some(1));

    let mut b = staff(&app, "desk.m", &store);
    let (small_path, big_path) = (format!("/console/tickets/{small}"), format!("/console/tickets/{big}"));
    // Warm: the session's and the key's first use are recorded once, not by every page view.
    statements_of(&app, &mut b, &small_path);
    statements_of(&app, &mut b, &big_path);
    let small_count = statements_of(&app, &mut b, &small_path);
    let big_count = statements_of(&app, &mut b, &big_path);
    println!(
        "ticket page: {small_count} statements for 1 event, 0 photos, 0 parts; {big_count} for 11+ events, 3 photos, 4 parts"
    );
    assert_eq!(small_count, big_count, "the page's cost does not grow with its lists");
    let page = b.get(&big_path);
    assert_eq!(
        page.html.matches("src=\"/api/v1/files/").count(),
        3,
        "the three photos are shown"
    );
}

/// A walk-in ticket for a standard phone bought `days` ago for 3999.00 (on its invoice); returns its id.
fn bought_days_ago(app: &TestApp, store: &str, model: &str, days: i64) -> String {
    let purchased = (Utc::now() - chrono::Duration::days(days)).date_naive();
    let res = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": store, "customer": {"name": "Han Meimei", "phone": "13800138000"},
                "device_imei": imei(), "model_id": model, "purchase_date": purchased, "channel": "walk_in",
                "reported_fault": "no signal", "accessories": [],
                "invoice": {"price_paid": {"amount": "3999.00", "currency": "CNY"}}}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res.body["id"].as_str().must().to_owned()
}

#[test]
fn a_phone_bought_five_days_ago_offers_three_remedies_and_a_free_repair_chosen_opens_the_way_to_the_repair() {
    let app = spawn_app();
    let store = app.create_store("DRA", "Shenzhen");
    let model = app.create_standard_model("DRA");
    let id = bought_days_ago(&app, &store, &model, 5);
    assert_eq!(
        ticket(&app, &id)["warranty"]["remedies"],
        json!(["return", "exchange", "free_repair"])
    );
    assert_eq!(step(&app, &id, "start-diagnosis").status, 200);
    let mut b = staff(&app, "desk.ra", &store);
    let page = b.get(&format!("/console/tickets/{id}"));
    assert_eq!(page.status, 200, "{}", page.html);
    for control in [
        "remedy-form",
        "remedy-return",
        "remedy-exchange",
        "remedy-free_repair",
        "replacement-imei",
        "choose-remedy",
    ] {
        assert!(
            page.html.contains(&format!("id=\"{control}\"")),
            "{control}: {}",
            page.html
        );
    }
    assert!(
        element(&page.html, "remedy-free_repair").contains("Free repair"),
        "in words: {}",
        page.html
    );
    assert!(
        !page.html.contains("id=\"step-start-repair\""),
        "the choice comes first"
    );
    let status = element(&page.html, "ticket-status");
    assert!(status.contains("data-status=\"diagnosing\">Diagnosing<"), "{status}");

    let csrf = page.hidden("csrf");
    let idem = page.html.split("id=\"remedy-form\"").nth(1).map(|rest| {
        let marker = "name=\"idem\" value=\"";
        let start = rest.find(marker).map(|i| i + marker.len()).unwrap_or(0);
        rest[start..].split('"').next().unwrap_or_default().to_owned()
    });
    let chosen = post_form(
        &mut b,
        &format!("/console/tickets/{id}/remedy"),
        &csrf,
        &idem.must(),
        &[
            ("remedy", "free_repair".to_owned()),
            ("replacement_imei", String::new()),
        ],
    );
    assert_eq!(chosen.status, 303, "{}", chosen.html);
    assert_eq!(chosen.location, format!("/console/tickets/{id}"));
    let api = ticket(&app, &id);
    assert_eq!(api["remedy"]["remedy"], "free_repair", "{api}");
    assert!(api["remedy"]["chosen_by"].is_string(), "recorded as the signed-in user");

    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(!page.html.contains("id=\"remedy-form\""), "chosen once: {}", page.html);
    assert!(
        element(&page.html, "ticket-remedy").contains("data-remedy=\"free_repair\">Free repair"),
        "{}",
        page.html
    );
    assert!(page.html.contains("id=\"step-start-repair\""), "{}", page.html);
}

#[test]
fn an_exchange_without_the_new_phones_imei_is_refused_beside_that_field_and_changes_nothing() {
    let app = spawn_app();
    let store = app.create_store("DRB", "Shenzhen");
    let model = app.create_standard_model("DRB");
    let id = bought_days_ago(&app, &store, &model, 5);
    let mut b = staff(&app, "desk.rb", &store);
    let csrf = csrf_of(&mut b);
    let path = format!("/console/tickets/{id}/remedy");

    let refused = post_form(&mut b, &path, &csrf, "exchange-1", &[("remedy", "exchange".to_owned())]);
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused
            .html
            .contains("<p class=\"field-problem\" id=\"replacement-imei-problem\">"),
        "{}",
        refused.html
    );
    let control = element(&refused.html, "replacement-imei");
    assert!(control.contains("aria-invalid=\"true\""), "{control}");
    assert!(
        element(&refused.html, "remedy-exchange").contains("checked"),
        "the choice stays ticked: {}",
        refused.html
    );
    let bad = post_form(
        &mut b,
        &path,
        &csrf,
        "exchange-2",
        &[
            ("remedy", "exchange".to_owned()),
            ("replacement_imei", "12345".to_owned()),
        ],
    );
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.html.contains("id=\"replacement-imei-problem\""), "{}", bad.html);
    assert!(
        element(&bad.html, "replacement-imei").contains("value=\"12345\""),
        "kept as typed"
    );
    let none = post_form(&mut b, &path, &csrf, "exchange-3", &[]);
    assert_eq!(none.status, 422, "{}", none.html);
    assert!(none.html.contains("id=\"remedy-problem\""), "{}", none.html);

    let api = ticket(&app, &id);
    assert!(api["remedy"].is_null(), "nothing recorded: {api}");
    assert!(api["outcome"].is_null());
    assert_eq!(api["status"], "received");

    // Another store's ticket is not found from here.
    let other = app.create_store("DRX", "Beijing");
    let theirs = bought_days_ago(&app, &other, &model, 5);
    let foreign = post_form(
        &mut b,
        &format!("/console/tickets/{theirs}/remedy"),
        &csrf,
        "exchange-4",
        &[("remedy", "free_repair".to_owned())],
    );
    assert_eq!(foreign.status, 404, "{}", foreign.html);
    assert!(ticket(&app, &theirs)["remedy"].is_null());
}

#[test]
fn a_return_posted_twice_with_one_form_token_refunds_once_and_the_page_shows_the_refund() {
    let app = spawn_app();
    let store = app.create_store("DRC", "Shenzhen");
    let model = app.create_standard_model("DRC");
    let id = bought_days_ago(&app, &store, &model, 5);
    let mut b = staff(&app, "desk.rc", &store);
    let csrf = csrf_of(&mut b);
    let path = format!("/console/tickets/{id}/remedy");
    let fields = [("remedy", "return".to_owned())];
    let first = post_form(&mut b, &path, &csrf, "return-1", &fields);
    assert_eq!(first.status, 303, "{}", first.html);
    let second = post_form(&mut b, &path, &csrf, "return-1", &fields);
    assert_eq!(second.status, 303, "the replay answers as the first: {}", second.html);

    let api = ticket(&app, &id);
    assert_eq!(api["status"], "closed", "{api}");
    assert_eq!(api["outcome"]["kind"], "returned");
    let refund = api["outcome"]["refund"]["amount"].as_str().must().to_owned();
    let chosen = api["timeline"]
        .as_array()
        .must()
        .iter()
        .filter(|e| e["kind"] == "remedy_chosen")
        .count();
    assert_eq!(chosen, 1, "acted once: {api}");

    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(element(&page.html, "ticket-refund").contains(&refund), "{}", page.html);
    assert!(!page.html.contains("id=\"remedy-form\""));
    assert!(element(&page.html, "ticket-status").contains("data-status=\"closed\">Closed<"));
}

#[test]
fn a_chinese_speaking_user_reads_statuses_and_remedies_in_chinese() {
    let app = spawn_app();
    let store = app.create_store("DRZ", "Shenzhen");
    let model = app.create_standard_model("DRZ");
    let id = bought_days_ago(&app, &store, &model, 5);
    create_user(&app, "desk.rz", Role::StoreStaff, &[&store], Locale::ZhCn);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("desk.rz", PASSWORD, "/console/").status, 303);
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(
        element(&page.html, "ticket-status").contains("data-status=\"received\">已受理<"),
        "{}",
        page.html
    );
    assert!(
        element(&page.html, "remedy-exchange").contains("换新机"),
        "{}",
        page.html
    );
    let number = ticket(&app, &id)["number"].as_str().must().to_owned();
    let found = b.get(&format!("/console/search?q={number}"));
    assert!(
        found.html.contains("data-status=\"received\">已受理<"),
        "{}",
        found.html
    );
}

/// Posts the opening form from several connections at once, all with the signed-in browser's cookies: each
/// `(form token, fields)` is one post. Answers their statuses, sorted.
fn open_at_once(app: &TestApp, b: &Browser<'_>, csrf: &str, posts: &[(&str, Vec<(&'static str, String)>)]) -> Vec<u16> {
    let mut statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = posts
            .iter()
            .map(|(token, fields)| {
                let mut twin = Browser::new(app);
                twin.cookies = b.cookies.clone();
                s.spawn(move || post_form(&mut twin, "/console/desk/tickets", csrf, token, fields).status)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("a racing post panicked")))
            .collect()
    });
    statuses.sort();
    statuses
}

fn loaners_available(app: &TestApp, store: &str) -> usize {
    let res = app.get_admin(&format!("/api/v1/loaners?store_id={store}"));
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"]
        .as_array()
        .map(|items| items.iter().filter(|l| l["state"] == "available").count())
        .unwrap_or_default()
}

#[test]
fn racing_posts_of_the_opening_form_claim_one_loaner_and_a_refused_one_strands_none() {
    let app = spawn_app();
    let p = premium(&app, "DKR", 3);
    let mut b = staff(&app, "desk.race", &p.store);
    let csrf = csrf_of(&mut b);

    // A double click whose two posts arrive together: one opening, one replay of it.
    let fields = opening(&p.store, &p.model, &imei(), 100);
    let statuses = open_at_once(&app, &b, &csrf, &[("race-1", fields.clone()), ("race-1", fields)]);
    assert_eq!(statuses, vec![200, 303], "one opens, the other replays it");
    assert_eq!(tickets_of(&app, &p.store).len(), 1);
    assert_eq!(loaners_available(&app, &p.store), 2, "one loaner claimed");

    // Two desks open the same phone at once with their own form tokens: one opens, the other is refused (the
    // phone has an open ticket) and rolls back the loaner it may have claimed.
    let fields = opening(&p.store, &p.model, &imei(), 100);
    let statuses = open_at_once(&app, &b, &csrf, &[("race-2a", fields.clone()), ("race-2b", fields)]);
    assert_eq!(statuses, vec![200, 409], "one opens, the other is refused");
    assert_eq!(tickets_of(&app, &p.store).len(), 2);
    assert_eq!(
        loaners_available(&app, &p.store),
        1,
        "the refused opening holds no loaner"
    );

    // The next customer gets that last loaner: nothing was stranded by the rollback.
    let next = post_form(
        &mut b,
        "/console/desk/tickets",
        &csrf,
        "race-3",
        &opening(&p.store, &p.model, &imei(), 100),
    );
    assert_eq!(next.status, 200, "{}", next.html);
    let newest = tickets_of(&app, &p.store)
        .into_iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .map(|id| ticket(&app, &id))
        .filter(|t| t["loan"]["state"] == "reserved")
        .count();
    assert_eq!(newest, 3, "every opened ticket holds a reserved loaner");
    assert_eq!(loaners_available(&app, &p.store), 0);
}
