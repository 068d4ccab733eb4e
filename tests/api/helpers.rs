//! `spawn_app()`: the real server on a random port over a fresh database: a SQLite file, or a new PostgreSQL
//! database when `DEPOT_TEST_DATABASE_URL` is set (then a connection failure fails the test, never skips it).

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use depot::auth::{self, NewApiKey, Role};
use depot::config::Settings;
use depot::db::{Db, Engine};
use depot::startup;
use diesel::{Connection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

pub struct TestApp {
    pub base: String,
    pub admin_key: String,
    pub db: Db,
    pub state: actix_web::web::Data<startup::AppState>,
    pub database_url: String,
    agent: ureq::Agent,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(std::path::PathBuf),
    PgDatabase {
        admin_url: String,
        name: String,
    },
    /// Another instance's database: its first instance cleans up.
    Shared,
}

pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem+json answer with this status and code, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert!(
            self.content_type.starts_with("application/problem+json"),
            "content type {}",
            self.content_type
        );
        assert_eq!(self.body["code"], code, "problem code; body: {}", self.text);
        assert_eq!(self.body["status"], status);
        &self.body
    }

    /// The fields named in a validation problem.
    pub fn bad_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn test_engine() -> Engine {
    match std::env::var("DEPOT_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Engine::Postgres,
        _ => Engine::Sqlite,
    }
}

/// A fresh, empty database URL for one test, and how to remove it afterwards.
fn fresh_database() -> (String, Cleanup) {
    match std::env::var("DEPOT_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("depot_test_{}", Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("DEPOT_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
            let url = depot::db::url_with_database(&admin_url, &name);
            (url, Cleanup::PgDatabase { admin_url, name })
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("depot-test-{}", Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
            (
                format!("sqlite://{}", dir.join("depot.db").display()),
                Cleanup::SqliteDir(dir),
            )
        }
    }
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(|_| {})
}

/// As [`spawn_app`], with settings changed by `configure` (after the tests' defaults).
pub fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let (database_url, cleanup) = fresh_database();
    spawn_on(&database_url, cleanup, configure)
}

/// The server on a fresh database reached through another URL (`route` rewrites the fresh database's URL, e.g. to
/// go through a test proxy); cleanup uses the real one.
pub fn spawn_app_through(route: impl FnOnce(&str) -> String) -> TestApp {
    let (database_url, cleanup) = fresh_database();
    spawn_on(&route(&database_url), cleanup, |_| {})
}

/// A second server instance on the same database as `app` (for multi-instance tests).
pub fn spawn_another(app: &TestApp) -> TestApp {
    let mut other = spawn_on(&app.database_url, Cleanup::Shared, |_| {});
    other.admin_key = app.admin_key.clone();
    other
}

fn spawn_on(database_url: &str, cleanup: Cleanup, configure: impl FnOnce(&mut Settings)) -> TestApp {
    depot::telemetry::init_logging_at(depot::telemetry::LogFormat::Text, "warn");
    let mut settings = Settings::for_database(database_url);
    settings.pool.max_connections = 8;
    settings.workers = 2;
    settings.shutdown_timeout = Duration::from_secs(1);
    configure(&mut settings);
    let state = startup::prepare(settings).unwrap_or_else(|e| panic!("preparing the app: {e:#}"));
    let db = state.db.clone();
    let app_state = state.clone();
    let admin = NewApiKey {
        role: Role::Admin,
        label: "test admin".into(),
        store_ids: vec![],
        partner_id: None,
    };
    let admin_key = db
        .write(|conn| auth::create_key(conn, &admin, None))
        .unwrap_or_else(|e| panic!("creating the admin key: {e}"))
        .key
        .unwrap_or_default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let result = actix_web::rt::System::new().block_on(async move {
            let server = startup::run(listener, state)?;
            let _ = tx.send(server.handle());
            server.await
        });
        if let Err(e) = result {
            eprintln!("test server failed: {e}");
        }
    });
    let handle = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        admin_key,
        db,
        state: app_state,
        database_url: database_url.to_owned(),
        agent,
        handle,
        thread: Some(thread),
        cleanup,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match &self.cleanup {
            Cleanup::Shared => {}
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
                }
            }
        }
    }
}

impl TestApp {
    /// Stops the server as SIGTERM does ([`startup::drain`]), in a thread that ends when the server has stopped.
    pub fn drain_in_background(&self) -> JoinHandle<()> {
        let (state, handle) = (self.state.clone(), self.handle.clone());
        std::thread::spawn(move || actix_web::rt::System::new().block_on(startup::drain(&state, &handle)))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut res = result.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = res.status().as_u16();
        let headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let content_type = headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            content_type,
            headers,
            body,
            text,
        }
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> Resp {
        let mut req = self.agent.get(&self.url(path));
        if let Some(k) = key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        Self::finish(req.call())
    }

    pub fn get_admin(&self, path: &str) -> Resp {
        self.get(path, Some(&self.admin_key))
    }

    pub fn send(&self, method: &str, path: &str, key: Option<&str>, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut req = match method {
            "POST" => self.agent.post(&self.url(path)),
            "PATCH" => self.agent.patch(&self.url(path)),
            "PUT" => self.agent.put(&self.url(path)),
            other => panic!("unsupported method {other}"),
        };
        if let Some(k) = key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut has_type = false;
        for (name, value) in headers {
            has_type |= name.eq_ignore_ascii_case("content-type");
            req = req.header(*name, *value);
        }
        if !has_type {
            req = req.header("Content-Type", "application/json");
        }
        Self::finish(req.send(body))
    }

    pub fn post(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.send("POST", path, Some(key), &[], &body.to_string())
    }

    pub fn post_admin(&self, path: &str, body: &Value) -> Resp {
        self.post(path, &self.admin_key, body)
    }

    pub fn patch_admin(&self, path: &str, body: &Value) -> Resp {
        self.send("PATCH", path, Some(&self.admin_key), &[], &body.to_string())
    }

    /// Creates a store and returns its id.
    #[track_caller]
    pub fn create_store(&self, code: &str, city: &str) -> String {
        let res = self.post_admin(
            "/api/v1/stores",
            &serde_json::json!({"code": code, "name": format!("{code} service center"), "city": city,
                                "kind": "service_center"}),
        );
        assert_eq!(res.status, 201, "{}", res.text);
        res.id()
    }

    /// Creates a standard (non-premium: no loaners in the way) series `{code}-NOVA` with one model `{code}-N12`,
    /// and returns the model's id.
    #[track_caller]
    pub fn create_standard_model(&self, code: &str) -> String {
        let series = self.post_admin(
            "/api/v1/series",
            &serde_json::json!({"code": format!("{code}-NOVA"), "name": "Nova", "premium": false}),
        );
        assert_eq!(series.status, 201, "{}", series.text);
        let model = self.post_admin(
            "/api/v1/models",
            &serde_json::json!({"code": format!("{code}-N12"), "name": "Nova 12", "series_id": series.id()}),
        );
        assert_eq!(model.status, 201, "{}", model.text);
        model.id()
    }

    /// Creates a key with this role and scope over HTTP and returns its text.
    #[track_caller]
    pub fn create_key(&self, role: &str, store_ids: &[&str]) -> String {
        let res = self.post_admin(
            "/api/v1/api-keys",
            &serde_json::json!({"role": role, "label": format!("{role} test key"), "store_ids": store_ids}),
        );
        assert_eq!(res.status, 201, "{}", res.text);
        res.body["key"].as_str().unwrap_or_default().to_owned()
    }
}
