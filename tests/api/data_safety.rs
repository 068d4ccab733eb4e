//! Data safety and operations under trouble: a database from a newer Depot, a full disk, online backups, and a
//! PostgreSQL outage.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use depot::config::Settings;
use depot::db::Engine;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_through, test_engine};

/// Runs the built `depot` binary; one still running after a minute (a `serve` that should have refused) is killed
/// and its output returned with a failing status.
fn depot_binary(args: &[&str], database_url: &str) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running depot {args:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for depot {args:?}: {e}"))
}

fn run_sql(app: &TestApp, sql: &str) {
    app.db
        .writer(|conn| {
            depot::with_conn!(conn.as_conn(), c => c.batch_execute(sql))?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A database that a newer Depot migrated holds migrations this binary does not know: readiness says so, and
/// neither `depot serve` (through `startup::prepare`) nor `depot migrate` will use it.
#[test]
fn a_database_migrated_by_a_newer_depot_is_refused() {
    let app = spawn_app();
    assert_eq!(app.get("/health/ready", None).status, 200);
    run_sql(
        &app,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231000000')",
    );

    let ready = app.get("/health/ready", None);
    let problem = ready.problem(503, "not_ready");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("newer Depot") && detail.contains("20991231000000"),
        "readiness names the reason: {detail}"
    );

    let refused = depot::startup::prepare(Settings::for_database(&app.database_url));
    let message = match refused {
        Ok(_) => panic!("a server was prepared on a database from a newer Depot"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        message.contains("newer Depot") && message.contains("20991231000000"),
        "{message}"
    );

    for command in [&["migrate"][..], &["serve", "--bind", "127.0.0.1:0"][..]] {
        let out = depot_binary(command, &app.database_url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "depot {command:?} exits non-zero; stderr: {stderr}"
        );
        assert!(stderr.contains("newer Depot"), "depot {command:?} says why: {stderr}");
    }
}

/// SQLite's "database or disk is full", produced for real by capping the size of the server's write connection's
/// database (`PRAGMA max_page_count`): writes answer 503 `storage_full` with `Retry-After`, readiness answers 503,
/// and both recover once there is room.
#[test]
fn a_full_disk_answers_503_with_retry_after_and_readiness_sees_it() {
    let app = spawn_app();
    if app.db.engine() == Engine::Postgres {
        println!(
            "skipped on PostgreSQL: its disk cannot be filled from a test; the disk_full message mapping has a unit \
             test in src/error.rs"
        );
        return;
    }
    // SQLite writes go through one pooled connection, so this caps every write the server makes.
    run_sql(&app, "PRAGMA max_page_count = 1");
    let mut full = None;
    for i in 0..2000 {
        let res = app.post_admin(
            "/api/v1/stores",
            &json!({"code": format!("FULL-{i}"), "name": "x".repeat(200), "city": "Shenzhen",
                    "kind": "service_center"}),
        );
        if res.status != 201 {
            full = Some(res);
            break;
        }
    }
    let full = full.unwrap_or_else(|| panic!("2000 stores fitted in a database capped at its size"));
    full.problem(503, "storage_full");
    assert_eq!(full.header("retry-after"), Some("30"), "{:?}", full.headers);
    assert!(!full.text.contains("disk is full"), "no internals: {}", full.text);

    let ready = app.get("/health/ready", None);
    let detail = ready.problem(503, "not_ready")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("full"), "{detail}");
    assert_eq!(app.get_admin("/api/v1/stores").status, 200, "reads still work");

    run_sql(&app, "PRAGMA max_page_count = 1073741823");
    let res = app.post_admin(
        "/api/v1/stores",
        &json!({"code": "ROOM-AGAIN", "name": "Room again", "city": "Shenzhen", "kind": "service_center"}),
    );
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(
        app.get("/health/ready", None).status,
        200,
        "a write succeeded: ready again"
    );
}

/// `depot backup FILE` while the server is writing: the copy holds every store whose creation was answered before
/// the backup started, each with its audit entry (written in the same transaction), and passes the integrity check.
#[test]
fn a_backup_taken_while_writing_holds_every_committed_row() {
    let app = Arc::new(spawn_app());
    let dir = std::env::temp_dir().join(format!("depot-backup-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join(if test_engine() == Engine::Sqlite {
        "copy.db"
    } else {
        "copy.dump"
    });
    let file_arg = file.to_string_lossy().into_owned();

    if app.db.engine() == Engine::Postgres {
        // PostgreSQL's tool is pg_dump: the command runs it when it is installed and refuses otherwise.
        let out = depot_binary(&["backup", &file_arg], &app.database_url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let on_path = std::process::Command::new("pg_dump").arg("--version").output().is_ok();
        if on_path {
            assert!(out.status.success(), "{stderr}");
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(size > 0, "pg_dump wrote nothing");
        } else {
            assert!(!out.status.success());
            assert!(stderr.contains("pg_dump"), "{stderr}");
        }
        let again = depot_binary(&["backup", &file_arg], &app.database_url);
        assert!(!again.status.success(), "an existing file is never overwritten");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (app, stop, answered) = (app.clone(), stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let res = app.post_admin(
                        "/api/v1/stores",
                        &json!({"code": format!("BK-{w}-{i}"), "name": "Backup test", "city": "Shenzhen",
                                "kind": "service_center"}),
                    );
                    assert_eq!(res.status, 201, "{}", res.text);
                    answered.lock().map(|mut a| a.push(res.id())).unwrap_or_default();
                    i += 1;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.lock().map(|a| a.len()).unwrap_or(0) < 30 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before: Vec<String> = answered.lock().map(|a| a.clone()).unwrap_or_default();
    let out = depot_binary(&["backup", &file_arg], &app.database_url);
    let during = answered.lock().map(|a| a.len()).unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap_or_else(|_| panic!("a writer failed"));
    }
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        during > before.len(),
        "writes went on while the backup ran ({} before, {during} after)",
        before.len()
    );

    let mut copy = diesel::SqliteConnection::establish(&file_arg).unwrap_or_else(|e| panic!("{e}"));
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let check: Vec<Line> = diesel::sql_query("SELECT integrity_check AS line FROM pragma_integrity_check()")
        .load(&mut copy)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["ok"]);
    let stores: Vec<Line> = diesel::sql_query("SELECT lower(hex(id)) AS line FROM stores")
        .load(&mut copy)
        .unwrap_or_else(|e| panic!("{e}"));
    let stores: std::collections::HashSet<String> = stores.into_iter().map(|l| l.line).collect();
    for id in &before {
        assert!(
            stores.contains(&id.replace('-', "")),
            "store {id} was committed before the backup"
        );
    }
    let audited: Vec<Line> = diesel::sql_query(
        "SELECT lower(hex(entity_id)) AS line FROM audit_log WHERE entity_type = 'store' AND action = 'create'",
    )
    .load(&mut copy)
    .unwrap_or_else(|e| panic!("{e}"));
    let audited: std::collections::HashSet<String> = audited.into_iter().map(|l| l.line).collect();
    assert_eq!(stores, audited, "each store with its audit entry, no half transaction");

    let again = depot_binary(&["backup", &file_arg], &app.database_url);
    assert!(!again.status.success(), "an existing file is never overwritten");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TCP proxy to PostgreSQL that can be cut: existing connections are dropped, and new ones are accepted and
/// then never answered (the nastiest outage: a host that swallows packets).
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    /// Open connections stay open but their bytes are swallowed, both ways (a host that starts dropping packets).
    stalled: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let down = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, s, st) = (down.clone(), sockets.clone(), stalled.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let keep = |stream: &TcpStream| {
                    if let (Ok(clone), Ok(mut all)) = (stream.try_clone(), s.lock()) {
                        all.push(clone);
                    }
                };
                keep(&client);
                if d.load(Ordering::Relaxed) || st.load(Ordering::Relaxed) {
                    continue; // held open, never answered
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                keep(&server);
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    let st = st.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            if st.load(Ordering::Relaxed) {
                                continue; // swallowed
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            port,
            down,
            stalled,
            sockets,
        }
    }

    fn drop_all(&self) {
        if let Ok(mut all) = self.sockets.lock() {
            for s in all.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::Relaxed);
        self.drop_all();
    }

    fn restore(&self) {
        self.down.store(false, Ordering::Relaxed);
        self.stalled.store(false, Ordering::Relaxed);
        self.drop_all();
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::Relaxed);
    }
}

/// The PostgreSQL server's address in `DEPOT_TEST_DATABASE_URL` (`host:port`), or why a proxy cannot be put in
/// front of it.
fn proxied_authority() -> Result<String, &'static str> {
    if test_engine() == Engine::Sqlite {
        return Err("skipped on SQLite: an embedded database has no server to lose");
    }
    let admin_url = std::env::var("DEPOT_TEST_DATABASE_URL").unwrap_or_default();
    let authority = admin_url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .map(|a| a.rsplit('@').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    if authority.is_empty() || !authority.contains(':') {
        return Err("skipped: DEPOT_TEST_DATABASE_URL names no host:port to put a proxy in front of");
    }
    Ok(authority)
}

/// When PostgreSQL stops answering on connections already open (packets dropped: no reset, no error), readiness
/// still answers, 503 within about a second, instead of waiting in a query on a pooled connection until TCP gives
/// up. The bound is generous; it tells an answer from a hang.
#[test]
fn readiness_answers_when_the_database_goes_silent_on_open_connections() {
    let authority = match proxied_authority() {
        Ok(a) => a,
        Err(why) => {
            println!("{why}");
            return;
        }
    };
    let proxy = Proxy::start(authority.clone());
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_through(|url| url.replacen(&authority, &proxied, 1));
    assert_eq!(app.get("/health/ready", None).status, 200);

    proxy.stall();
    for round in 0..3 {
        let started = Instant::now();
        let ready = app.get("/health/ready", None);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "readiness took {took:?} in round {round}"
        );
        ready.problem(503, "not_ready");
    }
    proxy.restore();
}

/// The server's PostgreSQL sessions report errors in English (`lc_messages = C`), whatever the server's locale:
/// deadlock and disk-full detection read the message text.
#[test]
fn postgres_sessions_use_untranslated_messages() {
    let app = spawn_app();
    if app.db.engine() != Engine::Postgres {
        println!("skipped on SQLite: lc_messages is a PostgreSQL setting");
        return;
    }
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        lc_messages: String,
    }
    for _ in 0..3 {
        let got: Vec<Setting> = app
            .db
            .read(|conn| Ok(depot::with_conn!(conn, c => diesel::sql_query("SHOW lc_messages").load(c))?))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.first().map(|s| s.lc_messages.as_str()), Some("C"));
    }
}

/// During a PostgreSQL outage readiness answers within about a second (not the pool's 10 s), and while the
/// database is known down requests fail fast with 503 and `Retry-After`; when it is back, everything recovers.
/// The bounds are generous: they tell a prompt answer from a wait for the pool's timeout, not fast from slow.
#[test]
fn during_a_database_outage_readiness_answers_at_once_and_requests_fail_fast() {
    let admin_url = std::env::var("DEPOT_TEST_DATABASE_URL").unwrap_or_default();
    if test_engine() == Engine::Sqlite {
        println!("skipped on SQLite: an embedded database has no server to lose");
        return;
    }
    // host:port between '@' and the database name; a socket URL has none to proxy.
    let authority = admin_url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .map(|a| a.rsplit('@').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    if authority.is_empty() || !authority.contains(':') {
        println!("skipped: DEPOT_TEST_DATABASE_URL names no host:port to put a proxy in front of");
        return;
    }
    let proxy = Proxy::start(authority.clone());
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_through(|url| url.replacen(&authority, &proxied, 1));
    assert_eq!(app.get_admin("/api/v1/stores").status, 200);
    assert_eq!(app.get("/health/ready", None).status, 200);

    proxy.cut();
    let bound = Duration::from_secs(3);
    for round in 0..3 {
        let started = Instant::now();
        let ready = app.get("/health/ready", None);
        let took = started.elapsed();
        assert!(took < bound, "readiness took {took:?} in round {round}");
        ready.problem(503, "not_ready");
        for _ in 0..2 {
            let started = Instant::now();
            let res = app.get_admin("/api/v1/stores");
            let took = started.elapsed();
            assert!(
                took < bound,
                "a request during the outage took {took:?} in round {round}"
            );
            res.problem(503, "unavailable");
            assert!(res.header("retry-after").is_some(), "{:?}", res.headers);
        }
    }

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = 0;
    while Instant::now() < deadline && ready != 200 {
        ready = app.get("/health/ready", None).status;
        if ready != 200 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert_eq!(ready, 200, "ready again once the database answers");
    assert_eq!(app.get_admin("/api/v1/stores").status, 200);
}

/// `--sqlite-synchronous full` reaches every pooled SQLite connection (NORMAL stays the default).
#[test]
fn sqlite_synchronous_is_a_setting() {
    if test_engine() == Engine::Postgres {
        println!("skipped on PostgreSQL: synchronous is a SQLite setting here");
        return;
    }
    #[derive(diesel::QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let dir = std::env::temp_dir().join(format!("depot-sync-{}", uuid::Uuid::new_v4().simple()));
    for (setting, expected) in [
        (depot::db::SqliteSynchronous::Normal, 1),
        (depot::db::SqliteSynchronous::Full, 2),
    ] {
        let url = format!("sqlite://{}", dir.join(format!("{expected}.db")).display());
        let options = depot::db::PoolOptions {
            sqlite_synchronous: setting,
            ..depot::db::PoolOptions::default()
        };
        let db = depot::db::Db::connect(&url, &options).unwrap_or_else(|e| panic!("{e:#}"));
        let read = |conn: &mut depot::db::Conn<'_>| -> depot::error::AppResult<i32> {
            let rows: Vec<Sync> = depot::with_conn!(conn, c => diesel::sql_query("PRAGMA synchronous").load(c))?;
            Ok(rows.first().map(|r| r.synchronous).unwrap_or(-1))
        };
        assert_eq!(db.read(read).ok(), Some(expected), "{setting:?} on a read connection");
        assert_eq!(
            db.write(read).ok(),
            Some(expected),
            "{setting:?} on the write connection"
        );
    }
    assert_eq!(
        depot::db::SqliteSynchronous::parse("FULL"),
        Some(depot::db::SqliteSynchronous::Full)
    );
    assert_eq!(
        depot::db::SqliteSynchronous::parse("off"),
        None,
        "only normal and full are offered"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `depot backup` copies the database as it is: it never migrates (a backup taken before an upgrade, with the new
/// binary, must be of the old database), it works on a database with pending migrations, and it refuses one a newer
/// Depot migrated, writing nothing.
#[test]
fn a_backup_never_migrates_and_refuses_a_database_from_a_newer_depot() {
    let app = spawn_app();
    let dir = std::env::temp_dir().join(format!("depot-backup-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let count_migrations = |app: &TestApp| -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        app.db
            .read(|conn| {
                let rows: Vec<Count> = depot::with_conn!(conn, c => diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM __diesel_schema_migrations"
                )
                .load(c))?;
                Ok(rows.first().map_or(0, |r| r.n))
            })
            .unwrap_or_else(|e| panic!("{e}"))
    };

    // Pending: the newest migration "not yet run" (its record removed), as a newer binary would see an old database.
    let all = count_migrations(&app);
    run_sql(
        &app,
        "DELETE FROM __diesel_schema_migrations \
         WHERE version = (SELECT MAX(version) FROM (SELECT version FROM __diesel_schema_migrations) AS v)",
    );
    let pending = dir.join("pending.bak");
    let pending_arg = pending.to_string_lossy().into_owned();
    let out = depot_binary(&["backup", &pending_arg], &app.database_url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(pending.exists(), "the backup was written");
    assert_eq!(
        count_migrations(&app),
        all - 1,
        "the backup did not run the pending migration on the live database"
    );

    // Newer: a migration this binary does not know.
    run_sql(
        &app,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231000000')",
    );
    let newer = dir.join("newer.bak");
    let out = depot_binary(&["backup", &newer.to_string_lossy()], &app.database_url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("newer Depot") && stderr.contains("20991231000000") && stderr.contains("nothing was backed up"),
        "{stderr}"
    );
    assert!(!newer.exists(), "nothing was written");
    let _ = std::fs::remove_dir_all(&dir);
}
