//! The console in a real browser: headless Chromium driven through chromedriver (W3C WebDriver over HTTP). Sign
//! in, search an IMEI, open the ticket, see its timeline, sign out.
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
use crate::helpers::spawn_app;

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

    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.cmd("GET", &format!("/element/{element}/text"), None)["value"]
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

#[test]
fn front_desk_signs_in_finds_a_ticket_by_imei_reads_its_timeline_and_signs_out() {
    let Some(path) = chromedriver_path() else {
        eprintln!(
            "browser test skipped: no chromedriver on the PATH (install Debian's chromium and chromium-driver, \
             or set DEPOT_CHROMEDRIVER); CI installs them and runs it"
        );
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
    browser.type_into("#username", "desk.browser");
    browser.type_into("#password", PASSWORD);
    browser.click("#sign-in");
    browser.wait_for_url("/console/");
    assert_eq!(browser.text("#signed-in-as"), "desk.browser display");

    browser.type_into("#q", imei);
    browser.click("#search");
    let link = format!("#results a[href='/console/tickets/{}']", ticket["id"].as_str().must());
    assert_eq!(browser.text(&link), number);
    browser.click(&link);
    assert_eq!(browser.text("#ticket-number"), number);
    let timeline = browser.text("#timeline");
    assert!(timeline.contains("opened"), "{timeline}");
    assert!(timeline.contains("received"), "{timeline}");

    browser.click("#sign-out");
    browser.wait_for_url("/console/sign-in");
    // Signed out for real: the console sends the browser back to sign in.
    browser.go(&app.url("/console/"));
    browser.wait_for_url("/console/sign-in?next=%2Fconsole%2F");
}
