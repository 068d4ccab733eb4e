//! The staff console over HTTP: signing in and out, wrong passwords and the lock-out, CSRF refusals, the scope
//! 404, the idle timeout's return to the wanted page, and the JSON API under a session.
//!
//! Time is simulated: a session's `last_seen_at` and an account's `locked_until` are moved in the database
//! (`app.db`), as no request may move them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use depot::auth::Role;
use depot::db::schema::{sessions, users};
use depot::db::types::Ts;
use depot::users::{Locale, NewUser, Username};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::tickets::imei;

pub const PASSWORD: &str = "front desk 2026";

/// `unwrap` for tests, which the lints keep out of the code: a failure panics naming what failed.
pub trait Must<T> {
    fn must(self) -> T;
}

impl<T, E: std::fmt::Debug> Must<T> for Result<T, E> {
    #[track_caller]
    fn must(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{e:?}"),
        }
    }
}

impl<T> Must<T> for Option<T> {
    #[track_caller]
    fn must(self) -> T {
        match self {
            Some(v) => v,
            None => panic!("nothing where something was expected"),
        }
    }
}

/// Creates a console user with `PASSWORD`; returns the id of the key that names the user as an actor.
#[track_caller]
pub fn create_user(app: &TestApp, username: &str, role: Role, store_ids: &[&str], locale: Locale) -> String {
    let new = NewUser {
        username: Username::parse(username).must(),
        display_name: format!("{username} display"),
        role,
        store_ids: store_ids.iter().map(|s| s.parse().must()).collect(),
        locale,
        password: PASSWORD.to_owned(),
    };
    let row = depot::users::service::create(&app.db, &new, None).must();
    row.key_id.0.to_string()
}

/// Opens a walk-in ticket at this store (as the admin); returns it.
#[track_caller]
pub fn open_ticket(app: &TestApp, store: &str, model: &str) -> Value {
    let purchased = (Utc::now() - chrono::Duration::days(100)).date_naive();
    let res = app.post_admin(
        "/api/v1/tickets",
        &json!({"store_id": store, "customer": {"name": "Han Meimei", "phone": "13800138000"},
                "device_imei": imei(), "model_id": model, "purchase_date": purchased, "channel": "walk_in",
                "reported_fault": "no signal", "accessories": []}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    res.body
}

/// One answer, as a browser would see it before following redirects.
pub struct Page {
    pub status: u16,
    pub location: String,
    pub set_cookies: Vec<String>,
    pub html: String,
}

impl Page {
    /// The value of the first hidden input with this name.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .html
            .find(&marker)
            .map(|i| i + marker.len())
            .unwrap_or(self.html.len());
        self.html[start..].split('"').next().unwrap_or_default().to_owned()
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

/// A browser without JavaScript: keeps cookies, follows no redirect, sends what it is told.
pub struct Browser<'a> {
    app: &'a TestApp,
    agent: ureq::Agent,
    pub cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Browser<'a> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Browser {
            app,
            agent,
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn finish(&mut self, result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
        let mut res = result.must();
        let header = |name: &str| -> Vec<String> {
            res.headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .collect()
        };
        let location = header("location").into_iter().next().unwrap_or_default();
        let set_cookies = header("set-cookie");
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let status = res.status().as_u16();
        let html = res.body_mut().read_to_string().unwrap_or_default();
        Page {
            status,
            location,
            set_cookies,
            html,
        }
    }

    pub fn get(&mut self, path: &str) -> Page {
        let req = self
            .agent
            .get(&self.app.url(path))
            .header("Cookie", &self.cookie_header());
        let res = req.call();
        self.finish(res)
    }

    /// Posts a form; `headers` such as `Origin` are sent as given.
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = self
            .agent
            .post(&self.app.url(path))
            .header("Cookie", &self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send(&body);
        self.finish(res)
    }

    /// Sends JSON to the API with the browser's cookies.
    pub fn json(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
        let url = self.app.url(path);
        let res = match method {
            "GET" => self.agent.get(&url).header("Cookie", &self.cookie_header()).call(),
            _ => {
                let mut req = self
                    .agent
                    .post(&url)
                    .header("Cookie", &self.cookie_header())
                    .header("Content-Type", "application/json");
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                req.send(&body.to_string())
            }
        };
        let page = self.finish(res);
        (page.status, serde_json::from_str(&page.html).unwrap_or(Value::Null))
    }

    /// Signs in through the form, with `next` when given; returns the answer to the post.
    pub fn sign_in(&mut self, username: &str, password: &str, next: &str) -> Page {
        let form = self.get(&format!("/console/sign-in?next={}", encode(next)));
        assert_eq!(form.status, 200, "{}", form.html);
        let csrf = form.hidden("csrf");
        assert_eq!(csrf.len(), 43, "the form carries its token: {}", form.html);
        self.post(
            "/console/sign-in",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ],
            &[],
        )
    }
}

pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

struct Desk {
    store: String,
    model: String,
}

fn desk(app: &TestApp, code: &str) -> Desk {
    Desk {
        store: app.create_store(code, "Shenzhen"),
        model: app.create_standard_model(code),
    }
}

fn session_count(app: &TestApp) -> i64 {
    app.db
        .read(|conn| Ok(depot::with_conn!(conn, c => sessions::table.count().get_result::<i64>(c))?))
        .must()
}

#[test]
fn staff_sign_in_see_the_desk_and_sign_out() {
    let app = spawn_app();
    let d = desk(&app, "CSA");
    create_user(&app, "Wang.Fang", Role::StoreStaff, &[&d.store], Locale::En);
    let mut b = Browser::new(&app);

    let home = b.get("/console/");
    assert_eq!(home.status, 303);
    assert_eq!(home.location, "/console/sign-in?next=%2Fconsole%2F");

    // The username is case-insensitive.
    let signed = b.sign_in("WANG.FANG", PASSWORD, "/console/");
    assert_eq!(signed.status, 303, "{}", signed.html);
    assert_eq!(signed.location, "/console/");
    let cookie = signed.cookie("depot_session").must();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert_eq!(session_count(&app), 1);

    let home = b.get("/console/");
    assert_eq!(home.status, 200, "{}", home.html);
    assert!(home.html.contains("Wang.Fang display"), "{}", home.html);
    assert!(
        home.html
            .contains("<label for=\"q\">IMEI, phone number or ticket number</label>")
    );
    let csrf = home.hidden("csrf");

    let out = b.post("/console/sign-out", &[("csrf", &csrf)], &[]);
    assert_eq!(out.status, 303);
    assert_eq!(out.location, "/console/sign-in");
    assert!(out.cookie("depot_session").is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(session_count(&app), 0, "the session is gone from the database");

    // The old cookie opens nothing any more.
    b.cookies
        .insert("depot_session".into(), cookie.split(';').next().must()[14..].to_owned());
    assert_eq!(b.get("/console/").status, 303);
}

#[test]
fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app();
    let d = desk(&app, "CSB");
    create_user(&app, "li", Role::StoreStaff, &[&d.store], Locale::ZhCn);
    let mut b = Browser::new(&app);
    let wrong = b.sign_in("li", "not the password", "/console/");
    let unknown = b.sign_in("nobody", PASSWORD, "/console/");
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, 401);
        assert!(page.cookie("depot_session").is_none());
        assert!(page.html.contains("id=\"sign-in-problem\""), "{}", page.html);
    }
    let problem = |p: &Page| {
        p.html
            .split("id=\"sign-in-problem\">")
            .nth(1)
            .unwrap_or_default()
            .split('<')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(problem(&wrong), problem(&unknown));
    assert_eq!(session_count(&app), 0);
}

#[test]
fn repeated_failures_lock_the_account_for_longer_each_time() {
    let app = spawn_app();
    let d = desk(&app, "CSC");
    create_user(&app, "zhao", Role::StoreStaff, &[&d.store], Locale::En);
    let mut b = Browser::new(&app);
    let locked_until = |app: &TestApp| {
        app.db
            .read(|conn| {
                Ok(depot::with_conn!(conn, c => users::table
                    .filter(users::username.eq("zhao"))
                    .select((users::failed_attempts, users::locked_until))
                    .first::<(i32, Option<Ts>)>(c))?)
            })
            .must()
    };
    for _ in 0..2 {
        assert_eq!(b.sign_in("zhao", "guess", "/console/").status, 401);
    }
    assert_eq!(locked_until(&app), (2, None), "two slips cost nothing");
    assert_eq!(b.sign_in("zhao", "guess", "/console/").status, 401);
    let (failed, until) = locked_until(&app);
    assert_eq!(failed, 3);
    let first_wait = until.must().0 - Utc::now();
    assert!(first_wait > chrono::Duration::seconds(20), "{first_wait}");

    // While locked, even the right password is refused, with the same message.
    assert_eq!(b.sign_in("zhao", PASSWORD, "/console/").status, 401);
    assert_eq!(session_count(&app), 0);

    // The wait runs out (moved into the past here): the next failure waits twice as long.
    let unlock = |app: &TestApp| {
        app.db
            .write(|conn| {
                let past = Ts(Utc::now() - chrono::Duration::seconds(1));
                depot::with_conn!(conn, c => diesel::update(users::table).set(users::locked_until.eq(past)).execute(c))?;
                Ok(())
            })
            .must()
    };
    unlock(&app);
    assert_eq!(b.sign_in("zhao", "guess", "/console/").status, 401);
    let (failed, until) = locked_until(&app);
    assert_eq!(failed, 4);
    assert!(until.must().0 - Utc::now() > first_wait + chrono::Duration::seconds(10));

    unlock(&app);
    let signed = b.sign_in("zhao", PASSWORD, "/console/");
    assert_eq!(signed.status, 303, "{}", signed.html);
    assert_eq!(locked_until(&app), (0, None), "a success starts the count over");
}

#[test]
fn failed_sign_ins_are_limited_per_client() {
    let app = spawn_app();
    let mut b = Browser::new(&app);
    for i in 0..10 {
        assert_eq!(b.sign_in(&format!("ghost{i}"), "guess", "/console/").status, 401);
    }
    let blocked = b.sign_in("ghost10", "guess", "/console/");
    assert_eq!(blocked.status, 429, "{}", blocked.html);
}

#[test]
fn forms_without_their_token_or_from_another_site_are_refused() {
    let app = spawn_app();
    let d = desk(&app, "CSD");
    create_user(&app, "qian", Role::StoreStaff, &[&d.store], Locale::En);
    let mut b = Browser::new(&app);

    // Signing in: without the token, with another token, from another site.
    let form = b.get("/console/sign-in");
    let csrf = form.hidden("csrf");
    let creds = [("username", "qian"), ("password", PASSWORD)];
    let no_token = b.post("/console/sign-in", &creds, &[]);
    assert_eq!(no_token.status, 403, "{}", no_token.html);
    let other = "x".repeat(43);
    let wrong_token = b.post("/console/sign-in", &[creds[0], creds[1], ("csrf", &other)], &[]);
    assert_eq!(wrong_token.status, 403);
    let cross = b.post(
        "/console/sign-in",
        &[creds[0], creds[1], ("csrf", &csrf)],
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(cross.status, 403);
    assert_eq!(session_count(&app), 0, "no refused form signed anyone in");

    // Same origin is fine.
    let host = app.base.trim_start_matches("http://").to_owned();
    let ok = b.post(
        "/console/sign-in",
        &[creds[0], creds[1], ("csrf", &csrf)],
        &[("Origin", &format!("http://{host}"))],
    );
    assert_eq!(ok.status, 303, "{}", ok.html);

    // Signing out: without the token, and with it from another site; the session lives on.
    let home = b.get("/console/");
    let csrf = home.hidden("csrf");
    assert_eq!(b.post("/console/sign-out", &[], &[]).status, 403);
    assert_eq!(b.post("/console/sign-out", &[("csrf", &other)], &[]).status, 403);
    assert_eq!(
        b.post(
            "/console/sign-out",
            &[("csrf", &csrf)],
            &[("Origin", "http://evil.example")]
        )
        .status,
        403
    );
    assert_eq!(session_count(&app), 1);
    assert_eq!(b.get("/console/").status, 200, "still signed in");
}

#[test]
fn another_stores_ticket_is_a_404_page_and_ones_own_shows_its_timeline() {
    let app = spawn_app();
    let mine = desk(&app, "CSE");
    let theirs = desk(&app, "CSF");
    let ours = open_ticket(&app, &mine.store, &mine.model);
    let other = open_ticket(&app, &theirs.store, &theirs.model);
    create_user(&app, "sun", Role::StoreStaff, &[&mine.store], Locale::En);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("sun", PASSWORD, "/console/").status, 303);

    let page = b.get(&format!("/console/tickets/{}", ours["id"].as_str().must()));
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(ours["number"].as_str().must()));
    assert!(page.html.contains("id=\"timeline\""));
    assert!(page.html.contains("opened"), "{}", page.html);

    for path in [
        format!("/console/tickets/{}", other["id"].as_str().must()),
        "/console/tickets/not-a-uuid".to_owned(),
        "/console/no-such-page".to_owned(),
    ] {
        let page = b.get(&path);
        assert_eq!(page.status, 404, "{path}");
        assert!(page.html.contains("id=\"message-title\">Not found<"), "{}", page.html);
        assert!(!page.html.contains(other["number"].as_str().must()));
    }

    // The search finds only the store's own tickets.
    let found = b.get(&format!(
        "/console/search?q={}",
        encode(ours["device_imei"].as_str().must())
    ));
    assert_eq!(found.status, 200);
    assert!(found.html.contains(ours["number"].as_str().must()), "{}", found.html);
    let theirs_found = b.get(&format!(
        "/console/search?q={}",
        encode(other["device_imei"].as_str().must())
    ));
    assert!(theirs_found.html.contains("id=\"no-results\""), "{}", theirs_found.html);
}

#[test]
fn an_idle_session_sends_the_user_to_sign_in_and_back_to_the_wanted_page() {
    let app = spawn_app();
    let d = desk(&app, "CSG");
    let ticket = open_ticket(&app, &d.store, &d.model);
    create_user(&app, "zhou", Role::StoreStaff, &[&d.store], Locale::ZhCn);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("zhou", PASSWORD, "/console/").status, 303);
    let wanted = format!("/console/tickets/{}", ticket["id"].as_str().must());
    assert_eq!(b.get(&wanted).status, 200);

    // 31 minutes without a request (the default idle timeout is 30).
    app.db
        .write(|conn| {
            let then = Ts(Utc::now() - chrono::Duration::minutes(31));
            depot::with_conn!(conn, c => diesel::update(sessions::table).set(sessions::last_seen_at.eq(then)).execute(c))?;
            Ok(())
        })
        .must();
    let away = b.get(&wanted);
    assert_eq!(away.status, 303);
    assert_eq!(away.location, format!("/console/sign-in?next={}", encode(&wanted)));
    let form = b.get(&away.location);
    assert!(
        form.html.contains("会话已结束"),
        "the zh-CN browser is told why: {}",
        form.html
    );
    assert_eq!(form.hidden("next"), wanted);

    // A form sent after the session ended goes to sign in, and then back to the page it was on (its own address
    // answers only posts); nothing changed.
    let referer = app.url(&wanted);
    let step = b.post(
        &format!("{wanted}/steps/start-diagnosis"),
        &[("csrf", "whatever"), ("idem", "x")],
        &[("Referer", &referer)],
    );
    assert_eq!(step.status, 303);
    assert_eq!(step.location, format!("/console/sign-in?next={}", encode(&wanted)));
    let foreign = b.post(
        &format!("{wanted}/steps/start-diagnosis"),
        &[],
        &[("Referer", "http://evil.example/console/admin/")],
    );
    assert_eq!(
        foreign.location,
        format!("/console/sign-in?next={}", encode("/console/"))
    );
    let status = app.get_admin(&format!("/api/v1/tickets/{}", ticket["id"].as_str().must()));
    assert_eq!(status.body["status"], "received");

    let back = b.sign_in("zhou", PASSWORD, &wanted);
    assert_eq!(back.status, 303);
    assert_eq!(back.location, wanted);
    // Signing in again cleared the ended session: only the new one is left.
    let sessions_left: i64 = app
        .db
        .read(|conn| Ok(depot::with_conn!(conn, c => sessions::table.count().get_result(c))?))
        .must();
    assert_eq!(sessions_left, 1, "the idle session is deleted at the next sign-in");
    let page = b.get(&wanted);
    assert_eq!(page.status, 200);
    assert!(page.html.contains("处理记录"), "the user's locale: {}", page.html);

    // `next` is only ever a console path.
    for evil in ["//evil.example/", "https://evil.example/console/", "/api/v1/stores"] {
        let mut other = Browser::new(&app);
        let signed = other.sign_in("zhou", PASSWORD, evil);
        assert_eq!(signed.location, "/console/", "{evil}");
    }
}

#[test]
fn the_json_api_accepts_a_session_and_records_the_user() {
    let app = spawn_app();
    let mine = desk(&app, "CSH");
    let theirs = desk(&app, "CSI");
    let ours = open_ticket(&app, &mine.store, &mine.model);
    let other = open_ticket(&app, &theirs.store, &theirs.model);
    let key_id = create_user(&app, "wu", Role::StoreStaff, &[&mine.store], Locale::En);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("wu", PASSWORD, "/console/").status, 303);
    let csrf = b.get("/console/").hidden("csrf");
    let id = ours["id"].as_str().must();

    let (status, body) = b.json("GET", &format!("/api/v1/tickets/{id}"), &[], &Value::Null);
    assert_eq!(status, 200, "{body}");
    let (status, _) = b.json(
        "GET",
        &format!("/api/v1/tickets/{}", other["id"].as_str().must()),
        &[],
        &Value::Null,
    );
    assert_eq!(status, 404, "the user's scope holds");
    let (status, _) = b.json("GET", "/api/v1/api-keys", &[], &Value::Null);
    assert_eq!(status, 403, "the user's role holds");

    // A write needs the CSRF token (or a same-origin Origin); another site's Origin is refused whatever it carries.
    let path = format!("/api/v1/tickets/{id}/start-diagnosis");
    let (status, body) = b.json("POST", &path, &[], &json!({}));
    assert_eq!(status, 403, "{body}");
    let (status, _) = b.json("POST", &path, &[("X-CSRF-Token", &"y".repeat(43))], &json!({}));
    assert_eq!(status, 403);
    let (status, _) = b.json(
        "POST",
        &path,
        &[("X-CSRF-Token", &csrf), ("Origin", "http://evil.example")],
        &json!({}),
    );
    assert_eq!(status, 403);
    let (status, body) = b.json("GET", &format!("/api/v1/tickets/{id}"), &[], &Value::Null);
    assert_eq!(body["status"], "received", "nothing changed: {status}");

    let (status, body) = b.json(
        "POST",
        &path,
        &[("X-CSRF-Token", &csrf)],
        &json!({"note": "screen checked"}),
    );
    assert_eq!(status, 200, "{body}");
    let event = body["timeline"].as_array().must().last().must().clone();
    assert_eq!(event["to_status"], "diagnosing");
    assert_eq!(
        event["api_key_id"],
        key_id.as_str(),
        "the timeline names the user's key"
    );
    assert_eq!(event["username"], "wu", "and the user: {event}");
    let opened = &body["timeline"][0];
    assert_eq!(opened["kind"], "opened");
    assert_eq!(
        opened["username"],
        Value::Null,
        "opened with an API key, no user: {opened}"
    );

    // The console's timeline names the person.
    let page = b.get(&format!("/console/tickets/{id}"));
    assert!(page.html.contains("wu display (wu)"), "{}", page.html);

    // Without the cookie, nothing.
    b.cookies.clear();
    let (status, _) = b.json("GET", &format!("/api/v1/tickets/{id}"), &[], &Value::Null);
    assert_eq!(status, 401);

    // An admin's change made in a session is in the audit log with the person's name.
    create_user(&app, "boss", Role::Admin, &[], Locale::En);
    let mut admin = Browser::new(&app);
    assert_eq!(admin.sign_in("boss", PASSWORD, "/console/").status, 303);
    let csrf = admin.get("/console/").hidden("csrf");
    let (status, store) = admin.json(
        "POST",
        "/api/v1/stores",
        &[("X-CSRF-Token", &csrf)],
        &json!({"code": "CSJ", "name": "CSJ service center", "city": "Wuhan", "kind": "service_center"}),
    );
    assert_eq!(status, 201, "{store}");
    let log = app.get_admin(&format!("/api/v1/audit-log?entity_id={}", store["id"].as_str().must()));
    assert_eq!(log.status, 200, "{}", log.text);
    let entry = &log.body["items"][0];
    assert_eq!(entry["action"], "create");
    assert_eq!(entry["username"], "boss", "{entry}");
    let by_key = app.get_admin("/api/v1/audit-log?entity_type=user");
    assert_eq!(
        by_key.body["items"][0]["username"],
        Value::Null,
        "made from the command line: {}",
        by_key.text
    );
}

#[test]
fn the_sweep_deletes_ended_sessions_of_users_who_never_come_back() {
    let app = spawn_app();
    let d = desk(&app, "CSJ");
    create_user(&app, "gone", Role::StoreStaff, &[&d.store], Locale::En);
    create_user(&app, "here", Role::StoreStaff, &[&d.store], Locale::En);
    let mut gone = Browser::new(&app);
    let mut here = Browser::new(&app);
    assert_eq!(gone.sign_in("gone", PASSWORD, "/console/").status, 303);
    assert_eq!(here.sign_in("here", PASSWORD, "/console/").status, 303);
    // "gone" stopped using the console 31 minutes ago (the default idle timeout is 30) and never signs in again.
    app.db
        .write(|conn| {
            let then = Ts(Utc::now() - chrono::Duration::minutes(31));
            let gone_user = users::table.filter(users::username.eq("gone")).select(users::id);
            depot::with_conn!(conn, c => diesel::update(sessions::table.filter(sessions::user_id.eq_any(gone_user)))
                .set(sessions::last_seen_at.eq(then))
                .execute(c))?;
            Ok(())
        })
        .must();
    assert_eq!(session_count(&app), 2);
    let settings = app.state.settings.session;
    let deleted = depot::users::service::sweep_sessions(&app.db, Utc::now(), settings).must();
    assert_eq!(deleted, 1, "only the idle session ended");
    assert_eq!(session_count(&app), 1);
    assert_eq!(here.get("/console/").status, 200, "the live session is kept");
    assert_eq!(
        gone.get("/console/").status,
        303,
        "the swept one sends its browser to sign in"
    );
}
