//! The server's audit log is tamper-evident: after a real multi-device scenario,
//! `provide-sync-server audit verify` passes; then someone with access to the database edits
//! an entry's field, deletes an entry from the middle, deletes the last entries, or swaps two
//! entries, straight in the store (the SQLCipher file opened with its key, or the PostgreSQL
//! database), and `audit verify` names the first wrong entry by its number and says how it is
//! wrong. The last entries deleted are caught only with an anchor (`audit anchor`, kept
//! elsewhere). On PostgreSQL, four `serve` processes over one database, written to at once by
//! devices syncing through all of them, leave one chain that verifies, numbered without gaps.
//!
//! Runs on both stores (`make test` runs it a second time under scripts/with-postgres.sh);
//! the four-process test needs PostgreSQL and says it is skipped without it.

use std::process::{Command, Output};

use provide_core::model::Deployment;
use provide_tests::binaries::{self, bin, enrol_code, Serving};
use provide_tests::server::fresh_database;
use provide_tests::{sets, Device, TestServer};
use serde_json::Value;

/// `provide-sync-server` against the test server's data.
fn cli(server: &TestServer, args: &[&str]) -> Output {
    binaries::admin(server, args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The log's head as `audit anchor` prints it: (`SEQ:HASH`, SEQ).
fn anchor(server: &TestServer) -> (String, i64) {
    let out = cli(server, &["audit", "anchor"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out).trim().to_string();
    let (seq, hash) = text.split_once(':').expect("SEQ:HASH");
    assert_eq!(hash.len(), 64, "{text}");
    let seq = seq.parse().unwrap();
    (text, seq)
}

/// `audit verify` (with `extra` options) succeeded: the number of entries it verified.
fn verifies(server: &TestServer, extra: &[&str]) -> u64 {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = cli(server, &args);
    assert!(
        out.status.success(),
        "audit verify failed: {}",
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("entries verified"), "{text}");
    let mut json_args = args.clone();
    json_args.push("--json");
    let check: Value = serde_json::from_str(&stdout(&cli(server, &json_args))).unwrap();
    assert_eq!(check["verified"], true, "{check}");
    check["entries"].as_u64().unwrap()
}

/// `audit verify` (with `extra` options) failed, exit status 5, naming entry `seq` as `kind`.
fn names(server: &TestServer, extra: &[&str], seq: i64, kind: &str) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = cli(server, &args);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("broken at entry {seq}:")),
        "names entry {seq}: {said}"
    );
    args.push("--json");
    let out = cli(server, &args);
    assert_eq!(out.status.code(), Some(5));
    let check: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(check["verified"], false);
    assert_eq!(check["problem"]["seq"], seq, "{check}");
    assert_eq!(check["problem"]["kind"], kind, "{check}");
}

/// Runs `sql` straight on the server's store, as someone with access to the database could:
/// its PostgreSQL database, or its SQLCipher file opened with its key file.
fn tamper(server: &TestServer, sql: &str) {
    match &server.data.database_url {
        Some(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            c.batch_execute(sql).unwrap();
        }
        None => {
            let dir = &server.data.dir;
            let key =
                provide_sync_server::keyfile::load_or_create(&dir.join("server.key")).unwrap();
            let conn = rusqlite::Connection::open(dir.join("server.db")).unwrap();
            provide_core::store::schema::apply_key(&conn, &key).unwrap();
            conn.execute_batch("PRAGMA busy_timeout = 10000;").unwrap();
            conn.execute_batch(sql).unwrap();
        }
    }
}

/// Three roles enrol, create cases, edit them and sync: a log of enrolments, receipts and
/// disclosures. Returns the server with the devices (to make more entries).
fn scenario() -> (TestServer, Vec<Device>) {
    let server = TestServer::start();
    let mut devices = vec![
        Device::enrol(&server, "pc.ivo.fictional", "officer", "west", "t1"),
        Device::enrol(&server, "idva.jun.fictional", "idva", "west", "t1"),
        Device::enrol(&server, "sg.kit.fictional", "safeguarding", "west", ""),
    ];
    for n in 0..2 {
        devices[0]
            .store
            .create_case(
                Deployment::PostIncident,
                &sets(&[("victim.name", &format!("Fictional Victim {n}"))]),
            )
            .unwrap();
    }
    sync_all(&mut devices);
    let cases: Vec<String> = devices[1]
        .store
        .list_cases(&Default::default())
        .unwrap()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(cases.len(), 2, "the IDVA received both cases");
    for (i, d) in devices.iter_mut().enumerate() {
        for case in &cases {
            d.store
                .add_case_item(
                    case,
                    "notes",
                    &serde_json::json!({ "text": format!("visit noted by device {i}") }),
                )
                .unwrap();
        }
    }
    sync_all(&mut devices);
    sync_all(&mut devices);
    (server, devices)
}

fn sync_all(devices: &mut [Device]) {
    for d in devices.iter_mut() {
        d.sync().unwrap();
    }
}

/// The scenario's log verifies; returns the server and its head's number.
fn verified_scenario() -> (TestServer, Vec<Device>, i64) {
    let (server, devices) = scenario();
    let (_, head) = anchor(&server);
    assert!(head >= 12, "a log of some length: {head} entries");
    assert_eq!(verifies(&server, &[]), head as u64);
    (server, devices, head)
}

#[test]
fn an_edited_entry_is_named() {
    let (server, _devices, head) = verified_scenario();
    let m = head / 2;
    tamper(
        &server,
        &format!("UPDATE audit SET detail = 'nothing was sent' WHERE seq = {m}"),
    );
    names(&server, &[], m, "edited");
}

#[test]
fn an_entry_deleted_from_the_middle_is_named() {
    let (server, _devices, head) = verified_scenario();
    let m = head / 2;
    tamper(&server, &format!("DELETE FROM audit WHERE seq = {m}"));
    names(&server, &[], m, "removed");
}

#[test]
fn swapped_entries_are_named() {
    let (server, _devices, head) = verified_scenario();
    let m = head / 2;
    tamper(
        &server,
        &format!(
            "UPDATE audit SET seq = -1 WHERE seq = {m};
             UPDATE audit SET seq = {m} WHERE seq = {};
             UPDATE audit SET seq = {} WHERE seq = -1;",
            m + 2,
            m + 2
        ),
    );
    names(&server, &[], m, "reordered");
}

#[test]
fn the_last_entries_deleted_are_caught_only_with_an_anchor() {
    let (server, mut devices, _) = verified_scenario();
    let (kept, at) = anchor(&server);
    // more work after the anchor was taken
    devices[0]
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("victim.name", "Fictional Victim Late")]),
        )
        .unwrap();
    sync_all(&mut devices);
    let (_, head) = anchor(&server);
    assert!(head > at);
    assert_eq!(verifies(&server, &["--anchor", &kept]), head as u64);

    // the last entries, back to before the anchor, removed
    tamper(
        &server,
        &format!("DELETE FROM audit WHERE seq > {}", at - 3),
    );
    assert_eq!(
        verifies(&server, &[]),
        (at - 3) as u64,
        "without the anchor the shortened log is a valid chain"
    );
    names(&server, &["--anchor", &kept], at - 2, "cut_short");

    // an anchor whose entry is there with another hash fails too
    let (short, _) = anchor(&server);
    let (seq, hash) = short.split_once(':').unwrap();
    let other = format!(
        "{seq}:{}",
        if hash.starts_with('0') { "1" } else { "0" }.repeat(64)
    );
    names(
        &server,
        &["--anchor", &other],
        seq.parse().unwrap(),
        "anchor_differs",
    );

    // and an anchor that is not one is refused as bad input
    let out = cli(&server, &["audit", "verify", "--anchor", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SEQ:HASH"), "{}", stderr(&out));
}

#[test]
fn the_audit_listing_and_its_options_still_work_beside_the_chain_commands() {
    let (server, _devices, head) = verified_scenario();
    let out = cli(&server, &["audit", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rows.as_array().unwrap().len() as i64, head);
    let out = cli(&server, &["audit", "anchor", "--json"]);
    let head_json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(head_json["seq"], head);
    // a filter given with a chain command is refused, not silently ignored
    let out = cli(&server, &["audit", "--action", "enrol", "verify"]);
    assert!(!out.status.success());
}

fn serve(url: &str, dir: &std::path::Path) -> (Serving, String) {
    binaries::serve(&["--data-dir", dir.to_str().unwrap(), "--database-url", url])
}

#[test]
fn four_processes_writing_at_once_over_postgres_leave_one_chain() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped: PROVIDE_TEST_DATABASE_URL is not set (scripts/with-postgres.sh)");
        return;
    };
    let url = fresh_database(&base);
    let root = tempfile::tempdir().unwrap();
    let servers: Vec<(Serving, String)> = (0..4)
        .map(|i| serve(&url, &root.path().join(format!("s{i}"))))
        .collect();
    let admin_dir = root.path().join("admin");
    let admin: Vec<&str> = vec![
        "--data-dir",
        admin_dir.to_str().unwrap(),
        "--database-url",
        &url,
    ];
    // eight devices, two to a process, enrolled at once
    let mut devices: Vec<Device> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let admin = &admin;
                let server_url = servers[i % 4].1.clone();
                s.spawn(move || {
                    let role = if i % 2 == 0 { "officer" } else { "idva" };
                    let code = enrol_code(admin, &format!("user{i}.fictional"), role, "t1");
                    Device::enrol_at(&server_url, None, &code).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, d) in devices.iter_mut().enumerate().filter(|(i, _)| i % 2 == 0) {
        d.store
            .create_case(
                Deployment::PostIncident,
                &sets(&[("victim.name", &format!("Fictional Person {i}"))]),
            )
            .unwrap();
    }
    // rounds of every device syncing at once, each round through another process, each sync
    // writing receipts and disclosures to the one log
    for round in 0..4 {
        std::thread::scope(|s| {
            for (i, d) in devices.iter_mut().enumerate() {
                let server_url = servers[(i + round) % 4].1.clone();
                s.spawn(move || {
                    let mut t =
                        provide_core::sync::transport::HttpTransport::new(&server_url, None)
                            .unwrap();
                    let ids: Vec<String> = d
                        .store
                        .list_cases(&Default::default())
                        .unwrap()
                        .iter()
                        .map(|c| c.id.clone())
                        .collect();
                    for id in ids {
                        d.store
                            .add_case_item(
                                &id,
                                "notes",
                                &serde_json::json!({ "text": format!("round {round} device {i}") }),
                            )
                            .unwrap();
                    }
                    d.sync_over(&mut t, &Default::default()).unwrap();
                });
            }
        });
    }
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = db
        .query_one("SELECT count(*), COALESCE(max(seq), 0) FROM audit", &[])
        .unwrap();
    let (count, max): (i64, i64) = (row.get(0), row.get(1));
    assert!(count > 40, "many entries written: {count}");
    assert_eq!(count, max, "numbered 1 to {max} without a gap");

    let out = Command::new(bin("provide-sync-server"))
        .args(&admin)
        .args(["audit", "verify", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["verified"], true, "{check}");
    assert_eq!(check["entries"], count);
}
