//! A real server failure, seen by its operator and by the device: the store's `docs` table is
//! taken away under a running `provide-sync-server serve`, so a sync fails inside the server
//! (a 500). The device is told only that the server failed, with a request id; the log holds
//! that request id with the cause (naming the table) and no record content; the metrics count
//! the error. Once the table is back the device syncs again. On PostgreSQL, `/v1/ready` turns
//! 503 while the database refuses connections and 200 once it takes them again.

use provide_core::model::Deployment;
use provide_core::sync::protocol::SyncRequest;
use provide_core::sync::transport::CONTENT_TYPE;
use provide_core::Error;
use provide_tests::binaries::{enrol_code, serve_logged, LoggedServer};
use provide_tests::{sets, Device};

/// Runs `sql` on the server's store: its PostgreSQL database, or its SQLCipher file opened
/// with its key file.
fn on_store(data: &std::path::Path, database_url: Option<&str>, sql: &str) {
    match database_url {
        Some(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            c.batch_execute(sql).unwrap();
        }
        None => {
            let key = std::fs::read_to_string(data.join("server.key")).unwrap();
            let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
            conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.trim()))
                .unwrap();
            conn.execute_batch("PRAGMA busy_timeout = 10000;").unwrap();
            conn.execute_batch(sql).unwrap();
        }
    }
}

fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

#[test]
fn a_server_failure_is_logged_with_its_cause_and_the_device_gets_a_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let database_url = provide_tests::server::data_dir(&data).database_url;
    let mut owned = vec!["--data-dir".to_string(), data.display().to_string()];
    if let Some(url) = &database_url {
        owned.extend(["--database-url".to_string(), url.clone()]);
    }
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let log_path = dir.path().join("server.log");
    let server = serve_logged(
        &args,
        &["--log-format", "json", "--metrics-listen", "127.0.0.1:0"],
        &log_path,
    );
    let code = enrol_code(&args, "pc.fail.fictional", "officer", "t1");
    let mut officer = Device::enrol_at(&server.url, None, &code).unwrap();
    let code = enrol_code(&args, "pc.probe.fictional", "officer", "t1");
    let probe = Device::enrol_at(&server.url, None, &code).unwrap();
    let case = officer
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Ottoline Failcanary")]),
        )
        .unwrap();
    officer.sync().unwrap();

    // the table goes away under the running server
    on_store(
        &data,
        database_url.as_deref(),
        "ALTER TABLE docs RENAME TO docs_away",
    );
    officer
        .store
        .add_case_item(
            &case,
            "notes",
            &serde_json::json!({ "text": "Failcanary note: the back door sticks" }),
        )
        .unwrap();
    // the device's client takes a 5xx as "try again later", keeping what it holds
    let err = officer.sync().unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");

    // what the server answers, read directly (a second device's credential, an empty request)
    let credential = probe.store.server_link().unwrap().credential.to_string();
    let request = SyncRequest {
        request_seq: 1_000_000,
        cursor: 0,
        docs: vec![],
        max_response_bytes: 1 << 20,
        audit: vec![],
        erased_confirmed: vec![],
        epochs: vec![],
        relayed: vec![],
    };
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}/v1/sync", server.url))
        .header("content-type", CONTENT_TYPE)
        .bearer_auth(&credential)
        .body(request.encode())
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 500);
    let id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = serde_json::from_slice(&answer.bytes().unwrap()).unwrap();
    assert_eq!(body["code"], "storage");
    // the device learns only that the server failed, and the id to quote
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains("docs"), "{message}");
    assert!(message.contains(&format!("request id {id}")), "{message}");

    let metrics = reqwest::blocking::get(server.metrics_url.clone().unwrap())
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("provide_errors_total{code=\"storage\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("provide_syncs_total{outcome=\"error\"} 2\n"),
        "{metrics}"
    );

    // the table is back: the device syncs what it holds
    on_store(
        &data,
        database_url.as_deref(),
        "ALTER TABLE docs_away RENAME TO docs",
    );
    let report = officer.sync().unwrap();
    assert_eq!(report.docs_sent, 1);

    let ready = |url: &str| {
        reqwest::blocking::get(format!("{url}/v1/ready"))
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready(&server.url), 200);
    let Some(url) = database_url else {
        eprintln!(
            "the readiness failure is shown in the PostgreSQL pass (a database that goes away)"
        );
        check_log(server, &log_path, &id, false);
        return;
    };
    let (base, name) = url.rsplit_once('/').unwrap();
    let admin = format!("{base}/postgres");
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
    ))
    .unwrap();
    assert_eq!(ready(&server.url), 503);
    c.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true;"))
        .unwrap();
    assert_eq!(ready(&server.url), 200);
    check_log(server, &log_path, &id, true);
}

/// The log, read once the server has stopped (and written out every line).
fn check_log(mut server: LoggedServer, log_path: &std::path::Path, id: &str, not_ready: bool) {
    server.serving.stop();
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(!log.to_lowercase().contains("failcanary"), "{log}");
    let lines = json_lines(&log);
    let failure = lines
        .iter()
        .find(|l| l["level"] == "ERROR" && l["request_id"] == id)
        .unwrap_or_else(|| panic!("no error logged for request {id}:\n{log}"));
    assert_eq!(failure["code"], "storage");
    let cause = failure["cause"].as_str().unwrap();
    assert!(cause.contains("docs"), "the cause names the table: {cause}");
    let line = lines
        .iter()
        .find(|l| l["target"] == "provide::request" && l["request_id"] == id)
        .unwrap();
    assert_eq!(line["status"], "500");
    assert_eq!(line["route"], "/v1/sync");
    assert_eq!(line["code"], "storage");
    assert!(line["device"].is_string());
    // the device's own attempt failed the same way, logged too
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["level"] == "ERROR" && l["code"] == "storage")
            .count(),
        2
    );

    if not_ready {
        assert!(log.contains("not ready"), "{log}");
    }
}

/// After PostgreSQL drops every connection under a running server (a restart, a failover),
/// the connections the server's pools held from before are checked before they are lent
/// again, and dead ones replaced: of the syncs that follow, at most the first to find a dead
/// connection fails, however many connections the pools held (before, each stale connection
/// failed one request of its own).
#[test]
fn connections_lost_under_a_running_server_fail_at_most_one_request() {
    if std::env::var_os("PROVIDE_TEST_DATABASE_URL").is_none() {
        eprintln!("runs in the PostgreSQL pass (connections the database drops)");
        return;
    }
    let server = provide_tests::TestServer::start();
    let url = server.data.database_url.clone().unwrap();
    let mut devices: Vec<Device> = (0..8)
        .map(|i| {
            Device::enrol(
                &server,
                &format!("pc.pool{i}.fictional"),
                "officer",
                "west",
                "t1",
            )
        })
        .collect();
    for d in devices.iter_mut() {
        d.store.create_case(Deployment::Live, &[]).unwrap();
    }
    // concurrent syncs, so that the pools hold several connections
    for _ in 0..3 {
        std::thread::scope(|s| {
            for d in devices.iter_mut() {
                s.spawn(move || d.sync().unwrap());
            }
        });
    }
    let (base, name) = url.rsplit_once('/').unwrap();
    let mut admin =
        postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls).unwrap();
    let held: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(held >= 3, "the pools hold {held} connections");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .unwrap();
    let failed: Vec<String> = devices
        .iter_mut()
        .filter_map(|d| d.sync().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failed.len() <= 1,
        "{} of {} syncs failed after {held} connections were lost: {failed:?}",
        failed.len(),
        devices.len()
    );
    for d in devices.iter_mut() {
        d.sync().unwrap();
    }
}

/// A statement each pooled connection keeps prepared stops matching the database when another
/// process changes a table under it (a newer release's migration): PostgreSQL refuses it
/// ("cached plan must not change result type", SQLSTATE 0A000). The connection then drops
/// what it kept and prepares again, so each connection fails at most one call, instead of
/// failing the same way for as long as it lives.
#[test]
fn statements_kept_by_a_connection_are_prepared_again_after_a_table_changes() {
    if std::env::var_os("PROVIDE_TEST_DATABASE_URL").is_none() {
        eprintln!("runs in the PostgreSQL pass (statements kept prepared)");
        return;
    }
    let server = provide_tests::TestServer::start();
    let url = server.data.database_url.clone().unwrap();
    let d = Device::enrol(&server, "pc.kept.fictional", "officer", "west", "t1");
    let id = d.store.device_id().to_string();
    let storage = &server.service.storage;
    for _ in 0..4 {
        assert!(storage.device(&id).unwrap().is_some());
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // the same values, another type: a kept statement reading the column no longer fits
    c.batch_execute("ALTER TABLE devices ALTER COLUMN user_name TYPE VARCHAR(200)")
        .unwrap();
    let (mut failed, mut in_a_row, mut calls) = (vec![], 0, 0);
    while in_a_row < 10 && calls < 60 {
        calls += 1;
        match storage.device(&id) {
            Ok(found) => {
                assert!(found.is_some());
                in_a_row += 1;
            }
            Err(e) => {
                failed.push(e.to_string());
                in_a_row = 0;
            }
        }
    }
    assert_eq!(
        in_a_row, 10,
        "after {calls} calls the device still cannot be read: {failed:?}"
    );
    assert!(failed.iter().all(|e| e.contains("0A000")), "{failed:?}");
    eprintln!(
        "{} call(s) failed on a stale statement, then all succeeded",
        failed.len()
    );
}
