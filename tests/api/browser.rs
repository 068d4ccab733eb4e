//! The console in a real browser: headless Chromium driven through chromedriver (W3C WebDriver over HTTP), at a
//! tablet's width (768 px). The front desk's day: sign in, search an IMEI, open a premium ticket and see the loaner
//! it reserves, hand the loaner over, move the repair along with a photo, take the loaner back and inspect it,
//! close, and see the next waiter served. A warehouse user's CSV with a bad line named. A forged form and pages
//! outside the user's scope refused.
//!
//! With `DEPOT_SCREENSHOTS=<folder>` the tests save the pictures the README shows (`docs/screenshots/`).
//!
//! The WebDriver client is the few commands below over `ureq` (already a dependency) rather than a crate such as
//! fantoccini, which would bring an async HTTP stack and a WebDriver model crate into every test build.
//!
//! Without `chromedriver` on the PATH (or at `DEPOT_CHROMEDRIVER`), the test says so and passes: CI installs
//! Debian's `chromium` and `chromium-driver` (see `.ci/run`), so it runs there for real.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use depot::auth::Role;
use depot::users::Locale;
use serde_json::{Value, json};

use crate::console::{Must, PASSWORD, create_user, open_ticket};
use crate::helpers::{TestApp, spawn_app};
use crate::tickets::{add_loaner, imei, premium, ticket_body};

/// The element reference's key in W3C WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a page may take to show what the test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// A chromedriver process, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver_path() -> Option<String> {
    if let Ok(path) = std::env::var("DEPOT_CHROMEDRIVER") {
        return Some(path);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}

/// Waits until `probe` gives something, or fails after [`PATIENCE`] naming what it waited for.
#[track_caller]
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Driver {
    fn start(path: &str) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").must().local_addr().must().port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .must();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
        };
        wait_for("chromedriver to be ready", || {
            let status = driver.call("GET", "/status", None).ok()?;
            status["value"]["ready"].as_bool().filter(|r| *r)
        });
        driver
    }

    /// One WebDriver command; its answer's `value`, or the error it names.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let res = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(&body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut res = res.map_err(|e| e.to_string())?;
        let ok = res.status().is_success();
        let text = res.body_mut().read_to_string().map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if ok {
            Ok(answer)
        } else {
            Err(answer["value"].to_string())
        }
    }
}

/// A browser window of one WebDriver session.
struct Browser<'a> {
    driver: &'a Driver,
    session: String,
}

impl Browser<'_> {
    fn open(driver: &Driver) -> Browser<'_> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                            "--disable-dev-shm-usage", "--window-size=768,1024"]}
        }}});
        let answer = driver.call("POST", "/session", Some(caps)).must();
        let session = answer["value"]["sessionId"].as_str().must().to_owned();
        Browser { driver, session }
    }

    #[track_caller]
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.session), body)
            .must()
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element the CSS selector finds, once the page shows it.
    #[track_caller]
    fn find(&self, css: &str) -> String {
        wait_for(css, || {
            let path = format!("/session/{}/element", self.session);
            let found = self
                .driver
                .call("POST", &path, Some(json!({"using": "css selector", "value": css})))
                .ok()?;
            found["value"][ELEMENT].as_str().map(str::to_owned)
        })
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.cmd("POST", &format!("/element/{element}/click"), Some(json!({})));
    }

    /// The text of the element the selector finds; found again if the page changed under it (a form's answer
    /// arriving).
    #[track_caller]
    fn text(&self, css: &str) -> String {
        wait_for(css, || {
            let element = self.find(css);
            let path = format!("/session/{}/element/{element}/text", self.session);
            let answer = self.driver.call("GET", &path, None).ok()?;
            Some(answer["value"].as_str().unwrap_or_default().to_owned())
        })
    }

    /// Picks the option with this value in a `<select>`.
    fn choose(&self, select_css: &str, value: &str) {
        self.click(&format!("{select_css} option[value='{value}']"));
    }

    /// Gives a file input a file from disk (what choosing it in the dialog, or taking a photo, does).
    fn attach(&self, css: &str, file: &std::path::Path) {
        self.type_into(css, &file.to_string_lossy());
    }

    /// Sets a control's value as a script would: for date inputs, whose typing depends on the browser's locale.
    fn set_value(&self, css: &str, value: &str) {
        self.find(css);
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": "document.querySelector(arguments[0]).value = arguments[1];", "args": [css, value]})),
        );
    }

    /// Types on the keyboard into whatever has the focus (W3C actions); `\u{E004}` is Tab, `\u{E007}` Enter.
    fn keys(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// The focused element's id and its outline style (how its focus shows).
    fn focused(&self) -> (String, String) {
        let answer = self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": "const e = document.activeElement; \
                                   return [e.id, getComputedStyle(e).outlineStyle];", "args": []})),
        );
        let pair = answer["value"].as_array().cloned().unwrap_or_default();
        let text = |i: usize| pair.get(i).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        (text(0), text(1))
    }

    /// Scrolls the page so that the element is in view (for a screenshot of it).
    fn scroll_to(&self, css: &str) {
        self.find(css);
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": "document.querySelector(arguments[0]).scrollIntoView();", "args": [css]})),
        );
    }

    /// Whether a checkbox or radio button is ticked.
    fn selected(&self, css: &str) -> bool {
        let element = self.find(css);
        self.cmd("GET", &format!("/element/{element}/selected"), None)["value"]
            .as_bool()
            .unwrap_or(false)
    }

    /// The window's size: the tests run at tablet width (768 px); the README's pictures at desk width too.
    fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// Whether the page has an element the selector finds, without waiting.
    fn has(&self, css: &str) -> bool {
        let path = format!("/session/{}/elements", self.session);
        self.driver
            .call("POST", &path, Some(json!({"using": "css selector", "value": css})))
            .ok()
            .and_then(|v| v["value"].as_array().map(|a| !a.is_empty()))
            .unwrap_or(false)
    }

    /// Saves the window as `<DEPOT_SCREENSHOTS>/<name>.png` when that folder is given (the README's pictures are
    /// made so); otherwise does nothing.
    fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("DEPOT_SCREENSHOTS") else {
            return;
        };
        use base64::Engine as _;
        let shot = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().unwrap_or_default())
            .must();
        std::fs::create_dir_all(&dir).must();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).must();
    }

    /// Every element the selector finds now.
    fn all(&self, css: &str) -> Vec<String> {
        let path = format!("/session/{}/elements", self.session);
        self.driver
            .call("POST", &path, Some(json!({"using": "css selector", "value": css})))
            .ok()
            .and_then(|v| {
                v["value"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// An attribute of an element, as the page has it now (a link's `href` comes back absolute).
    /// An element's HTML attribute as written in the page (`data-status`), where [`Self::attribute`] reads a
    /// DOM property.
    /// Read again when the page is replaced meanwhile (a form's answer), as [`Self::text`] is.
    fn html_attribute(&self, css: &str, name: &str) -> String {
        wait_for(css, || {
            let element = self.find(css);
            let path = format!("/session/{}/element/{element}/attribute/{name}", self.session);
            let answer = self.driver.call("GET", &path, None).ok()?;
            Some(answer["value"].as_str().unwrap_or_default().to_owned())
        })
    }

    fn attribute(&self, css: &str, name: &str) -> String {
        let element = self.find(css);
        self.cmd("GET", &format!("/element/{element}/property/{name}"), None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A control's current value.
    fn value(&self, css: &str) -> String {
        let element = self.find(css);
        self.cmd("GET", &format!("/element/{element}/property/value"), None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[track_caller]
    fn wait_for_url(&self, wanted: &str) {
        wait_for(&format!("the browser to reach {wanted}"), || {
            self.url().ends_with(wanted).then_some(())
        });
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self.driver.call("DELETE", &format!("/session/{}", self.session), None);
    }
}

/// chromedriver's path, or `None` after saying why the test cannot run here.
fn driver_or_say_why() -> Option<String> {
    let found = chromedriver_path();
    if found.is_none() {
        eprintln!(
            "browser test skipped: no chromedriver on the PATH (install Debian's chromium and chromium-driver, \
             or set DEPOT_CHROMEDRIVER); CI installs them and runs it"
        );
    }
    found
}

/// Signs `username` in through the sign-in form, from the console's home page.
fn sign_in(browser: &Browser<'_>, app: &TestApp, username: &str) {
    browser.go(&app.url("/console/"));
    browser.wait_for_url("/console/sign-in?next=%2Fconsole%2F");
    browser.type_into("#username", username);
    browser.type_into("#password", PASSWORD);
    browser.click("#sign-in");
    browser.wait_for_url("/console/");
}

/// A small real photo, as a tablet's camera would hand the file input one.
fn photo_file() -> std::path::PathBuf {
    let picture = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 120]));
    let path = std::env::temp_dir().join(format!("depot-browser-photo-{}.png", std::process::id()));
    picture.save(&path).must();
    path
}

/// The ticket page's status code (its `data-status`; the text is in the user's words).
fn status_of(browser: &Browser<'_>) -> String {
    browser.html_attribute("#ticket-status", "data-status")
}

/// Waits for the ticket page to show `status` (a code); failing, names the problem the page shows instead.
#[track_caller]
fn wait_for_status(browser: &Browser<'_>, status: &str) {
    let deadline = Instant::now() + PATIENCE;
    while status_of(browser) != status {
        if Instant::now() > deadline {
            let problem = if browser.has(".problem") {
                browser.text(".problem")
            } else {
                String::new()
            };
            panic!(
                "waited for status {status}; the page shows {}: {problem}",
                browser.text("#ticket-status")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ticket's loan as the JSON API shows it.
fn loan_of(app: &TestApp, ticket_id: &str) -> Value {
    let ticket = app.get_admin(&format!("/api/v1/tickets/{ticket_id}"));
    assert_eq!(ticket.status, 200, "{}", ticket.text);
    ticket.body["loan"].clone()
}

#[test]
fn front_desk_runs_a_premium_repair_from_opening_to_the_next_waiter_served() {
    let Some(path) = driver_or_say_why() else {
        return;
    };
    let app = spawn_app();
    let p = premium(&app, "BRF", 0);
    let loaner = add_loaner(&app, &p, "A");
    let loaner_imei = loaner.body["imei"].as_str().must().to_owned();
    create_user(&app, "desk.flow", Role::StoreStaff, &[&p.store], Locale::En);
    let phone_imei = imei();

    let driver = Driver::start(&path);
    let browser = Browser::open(&driver);
    sign_in(&browser, &app, "desk.flow");
    browser.screenshot("desk-home");

    // The customer's phone is new here: the search finds no ticket and offers to open one for that IMEI.
    browser.type_into("#q", &phone_imei);
    browser.click("#search");
    browser.find("#no-results");
    browser.click("#open-ticket");
    browser.find("#open-form");
    assert_eq!(browser.value("#device-imei"), phone_imei);
    browser.choose("#model-id", &p.model);
    browser.type_into("#customer-name", "Li Lei");
    browser.type_into("#customer-phone", "13900139000");
    let purchased = (chrono::Utc::now() - chrono::Duration::days(100)).date_naive();
    browser.set_value("#purchase-date", &purchased.to_string());
    browser.type_into("#reported-fault", "the screen flickers");
    browser.click("#check");

    // The check shows the decision as it will be made and the loaner that will be reserved.
    assert_eq!(browser.text("#loaner-imei"), loaner_imei);
    let decision = browser.text("#decision");
    assert!(!decision.is_empty());
    browser.scroll_to("#outlook");
    browser.screenshot("desk-open-check");
    browser.click("#open");
    // The answer is the ticket page with the customer's tracking link, shown this once.
    browser.find("#opened-notice");
    let work_order = browser.attribute("#work-order-link", "href");
    let ticket_url = work_order.trim_end_matches("/work-order").to_owned();
    let ticket_id = ticket_url.rsplit('/').next().must().to_owned();
    assert_eq!(status_of(&browser), "received");
    assert_eq!(browser.text("#ticket-status"), "Received", "in words");
    assert!(
        !browser.text("#tracking-link").is_empty(),
        "the customer's link is shown"
    );
    assert_eq!(loan_of(&app, &ticket_id)["state"], "reserved");
    browser.screenshot("desk-ticket-opened");

    // Hand the loaner over, with the condition checklist ticked.
    browser.click("#loan-link");
    browser.find("#issue-form");
    for item in ["screen", "body", "camera", "buttons"] {
        let css = format!("#issue-check_{item}");
        if browser.has(&css) {
            browser.click(&css);
            assert!(browser.selected(&css));
        }
    }
    browser.screenshot("desk-loan-hand-over");
    browser.click("#issue-submit");
    wait_for("the loan to be issued", || {
        (browser.html_attribute("#loan-state", "data-status") == "issued").then_some(())
    });
    assert_eq!(loan_of(&app, &ticket_id)["state"], "issued");

    // Another customer of the same series comes in: the only loaner is out, so they wait, first in line.
    let mut body = ticket_body(&p, "walk_in");
    body["customer"]["phone"] = json!("13700137000");
    let waiter = app.post_admin("/api/v1/tickets", &body);
    assert_eq!(waiter.status, 201, "{}", waiter.text);
    assert_eq!(waiter.body["loan"]["state"], "waiting");
    let waiter_id = waiter.body["id"].as_str().must().to_owned();
    browser.go(&app.url("/console/desk/lists"));
    let waitlist = browser.text("#waitlist");
    assert!(
        waitlist.contains(waiter.body["number"].as_str().must()),
        "the desk's waitlist shows them: {waitlist}"
    );
    browser.screenshot("desk-lists");

    // The repair, step by step, with a photo from the bench.
    browser.go(&ticket_url);
    browser.click("#step-start-diagnosis");
    wait_for_status(&browser, "diagnosing");
    assert!(
        !browser.has("#step-mark-ready"),
        "only the allowed next steps are offered"
    );
    let photo = photo_file();
    browser.attach("#photo-file", &photo);
    browser.click("#upload-photo");
    wait_for("the photo in the list", || browser.has("#photos img").then_some(()));
    let _ = std::fs::remove_file(&photo);
    for (step, status) in [
        ("start-repair", "repairing"),
        ("start-quality-check", "quality_check"),
        ("mark-ready", "ready_for_pickup"),
    ] {
        browser.click(&format!("#step-{step}"));
        wait_for_status(&browser, status);
    }
    browser.screenshot("desk-ticket-ready");

    // The customer brings the loaner back; it is inspected and goes to the one waiting.
    browser.click("#loan-link");
    browser.find("#return-form");
    let boxes = browser.all("#return-checklist input[type=checkbox]");
    for element in boxes {
        browser.cmd("POST", &format!("/element/{element}/click"), Some(json!({})));
    }
    if browser.has("#return-condition") {
        browser.choose("#return-condition", "good");
    }
    browser.click("#return-submit");
    browser.find("#inspection-form");
    browser.click("#inspection-pass");
    browser.click("#inspection-submit");
    wait_for("the loan to be returned and the loaner inspected", || {
        (!browser.has("#inspection-form")).then_some(())
    });
    assert_eq!(loan_of(&app, &ticket_id)["state"], "returned");
    let served = loan_of(&app, &waiter_id);
    assert_eq!(served["state"], "reserved", "the next waiter is served: {served}");
    assert_eq!(served["loaner_imei"], loaner_imei.as_str());

    browser.go(&ticket_url);
    browser.click("#step-close");
    wait_for_status(&browser, "closed");
    let timeline = browser.text("#timeline");
    assert!(
        timeline.contains("desk.flow"),
        "the timeline names the person: {timeline}"
    );
    // The same page at a desk PC's width.
    browser.resize(1280, 1000);
    browser.screenshot("desk-ticket-closed");
}

#[test]
fn front_desk_works_by_keyboard_alone_signs_in_finds_a_ticket_by_imei_and_signs_out() {
    let Some(path) = driver_or_say_why() else {
        return;
    };
    let app = spawn_app();
    let store = app.create_store("BRA", "Shenzhen");
    let model = app.create_standard_model("BRA");
    let ticket = open_ticket(&app, &store, &model);
    create_user(&app, "desk.browser", Role::StoreStaff, &[&store], Locale::En);
    let number = ticket["number"].as_str().must();
    let imei = ticket["device_imei"].as_str().must();

    let driver = Driver::start(&path);
    let browser = Browser::open(&driver);
    browser.go(&app.url("/console/"));
    browser.wait_for_url("/console/sign-in?next=%2Fconsole%2F");
    browser.find("#username");
    // No mouse from here on: the username box has the focus, Tab moves on, Enter submits.
    assert_eq!(browser.focused().0, "username");
    browser.keys("desk.browser\u{E004}");
    assert_eq!(browser.focused().0, "password");
    browser.keys(PASSWORD);
    browser.keys("\u{E004}");
    let (id, outline) = browser.focused();
    assert_eq!(id, "sign-in");
    assert_eq!(outline, "solid", "the focused button shows its focus");
    browser.keys("\u{E007}");
    browser.wait_for_url("/console/");
    assert_eq!(browser.text("#signed-in-as"), "desk.browser display");

    // The search box has the focus: a scanner types the IMEI and its Enter.
    browser.find("#q");
    assert_eq!(browser.focused().0, "q");
    browser.keys(&format!("{imei}\u{E007}"));
    let link = format!("#results a[href='/console/tickets/{}']", ticket["id"].as_str().must());
    assert_eq!(browser.text(&link), number);
    browser.find(&link);
    browser.cmd(
        "POST",
        "/execute/sync",
        Some(json!({"script": "document.querySelector(arguments[0]).focus();", "args": [link]})),
    );
    browser.keys("\u{E007}");
    assert_eq!(browser.text("#ticket-number"), number);
    let timeline = browser.text("#timeline");
    assert!(timeline.contains("opened"), "{timeline}");
    assert!(timeline.contains("Received"), "{timeline}");

    browser.click("#sign-out");
    browser.wait_for_url("/console/sign-in");
    // Signed out for real: the console sends the browser back to sign in.
    browser.go(&app.url("/console/"));
    browser.wait_for_url("/console/sign-in?next=%2Fconsole%2F");
}

#[test]
fn a_warehouse_user_uploads_a_csv_with_a_bad_line_and_sees_it_named() {
    let Some(path) = driver_or_say_why() else {
        return;
    };
    let app = spawn_app();
    depot::seed::seed_demo(&app.db).must();
    let wh = app.get_admin("/api/v1/stores?limit=100");
    let wh_id = wh.body["items"]
        .as_array()
        .must()
        .iter()
        .find(|s| s["code"] == "SZ-WH1")
        .and_then(|s| s["id"].as_str())
        .must()
        .to_owned();
    create_user(&app, "wh.browser", Role::Warehouse, &[&wh_id], Locale::En);
    let before = app.get_admin(&format!("/api/v1/stock/levels?location_id={wh_id}&limit=200"));
    assert_eq!(before.status, 200, "{}", before.text);

    // A file as exported from a spreadsheet: line 3 names a part that does not exist.
    let csv = "location_code,receipt_number,sku,quantity\nSZ-WH1,GR-B1,SCR-MATE60PRO,10\nSZ-WH1,GR-B1,NO-SUCH-PART,5\n";
    let file = std::env::temp_dir().join(format!("depot-browser-receipts-{}.csv", std::process::id()));
    std::fs::write(&file, csv).must();

    let driver = Driver::start(&path);
    let browser = Browser::open(&driver);
    sign_in(&browser, &app, "wh.browser");
    browser.go(&app.url("/console/warehouse/"));
    browser.find("#stock-levels");
    browser.screenshot("warehouse-stock");
    browser.go(&app.url("/console/warehouse/receive"));
    browser.attach("#file", &file);
    browser.click("#import");
    let errors = browser.text("#import-errors");
    let _ = std::fs::remove_file(&file);
    assert!(
        errors.contains('3') && errors.contains("NO-SUCH-PART"),
        "line 3 is named: {errors}"
    );
    browser.screenshot("warehouse-import-errors");
    let after = app.get_admin(&format!("/api/v1/stock/levels?location_id={wh_id}&limit=200"));
    assert_eq!(
        after.body["items"], before.body["items"],
        "a file with a bad line receives nothing"
    );
}

#[test]
fn forged_forms_and_pages_outside_the_users_scope_are_refused_in_the_browser() {
    let Some(path) = driver_or_say_why() else {
        return;
    };
    let app = spawn_app();
    let mine = premium(&app, "BRM", 1);
    let theirs = premium(&app, "BRT", 1);
    let ours = app.post_admin("/api/v1/tickets", &ticket_body(&mine, "walk_in"));
    let other = app.post_admin("/api/v1/tickets", &ticket_body(&theirs, "walk_in"));
    assert_eq!((ours.status, other.status), (201, 201));
    create_user(&app, "desk.scope", Role::StoreStaff, &[&mine.store], Locale::En);

    let driver = Driver::start(&path);
    let browser = Browser::open(&driver);
    sign_in(&browser, &app, "desk.scope");

    // Another store's ticket does not exist for this user.
    browser.go(&app.url(&format!("/console/tickets/{}", other.id())));
    assert_eq!(browser.text("#message-title"), "Not found");
    // The admin's pages are refused to the front desk.
    browser.go(&app.url("/console/admin/"));
    assert_eq!(browser.text("#message-title"), "Admins only");

    // A form whose CSRF token was tampered with is refused, and the ticket is unchanged.
    browser.go(&app.url(&format!("/console/tickets/{}", ours.id())));
    browser.find("#step-start-diagnosis");
    browser.cmd(
        "POST",
        "/execute/sync",
        Some(json!({"script": "document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');", "args": []})),
    );
    browser.click("#step-start-diagnosis");
    assert_eq!(browser.text("#message-title"), "Refused");
    let ticket = app.get_admin(&format!("/api/v1/tickets/{}", ours.id()));
    assert_eq!(ticket.body["status"], "received", "nothing changed");
}

#[test]
fn an_admin_creates_a_chinese_speaking_desk_user_who_signs_in_and_is_then_disabled() {
    let Some(path) = driver_or_say_why() else {
        return;
    };
    let app = spawn_app();
    let store = app.create_store("BRU", "Guangzhou");
    create_user(&app, "boss.browser", Role::Admin, &[], Locale::En);

    let driver = Driver::start(&path);
    let admin = Browser::open(&driver);
    sign_in(&admin, &app, "boss.browser");
    admin.go(&app.url("/console/admin/"));
    admin.screenshot("admin-index");
    admin.go(&app.url("/console/admin/users"));
    admin.type_into("#username", "chen.jing");
    admin.type_into("#display_name", "陈静");
    admin.choose("#role", "store_staff");
    admin.choose("#locale", "zh-CN");
    admin.type_into("#password", "a long enough password");
    admin.click(&format!("#store_ids input[value='{store}']"));
    admin.screenshot("admin-users");
    admin.click("#create-user");
    assert_eq!(admin.text("#user-username"), "chen.jing");
    let user_page = admin.url();

    // The new user, in another browser, signs in and is greeted in Chinese.
    let desk = Browser::open(&driver);
    desk.go(&app.url("/console/"));
    desk.wait_for_url("/console/sign-in?next=%2Fconsole%2F");
    desk.type_into("#username", "chen.jing");
    desk.type_into("#password", "a long enough password");
    desk.click("#sign-in");
    desk.wait_for_url("/console/");
    assert_eq!(desk.text("h1"), "前台");

    // Disabled by the admin: the user's very next page goes to sign in.
    admin.go(&user_page);
    admin.click("#disable-user");
    admin.find("#enable-user");
    desk.go(&app.url("/console/"));
    desk.wait_for_url("/console/sign-in?next=%2Fconsole%2F");
}
