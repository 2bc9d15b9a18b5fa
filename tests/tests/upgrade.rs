//! Upgrading in the field: stores written by the release before migrations (fixtures in
//! `tests/fixtures/0.1.0/`, made by `scripts/make-upgrade-fixtures.sh` with that release's
//! binaries) open with today's code with every record intact, and the old device, holding
//! changes the server never saw and an open conflict, syncs with the upgraded server and
//! converges with a device enrolled after the upgrade. A store written by a newer release is
//! refused, untouched, on all three stores. On PostgreSQL, several server processes starting
//! at once migrate the database once. The upgraded server's audit log verifies as one chain
//! that starts with the old release's entries (gaps a rolled-back insert left included).
//!
//! The SQLite-server fixture runs in every pass; the PostgreSQL ones need
//! `PROVIDE_TEST_DATABASE_URL` (`scripts/with-postgres.sh`, as `make test` runs this suite a
//! second time) and say they are skipped without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use provide_core::store::migrations;
use provide_core::store::CaseFilter;
use provide_core::sync::transport::HttpTransport;
use provide_core::sync::{sync, SyncOptions};
use provide_core::Store;
use provide_sync_server::admin::DataDir;
use provide_sync_server::service::Config;
use provide_tests::server::fresh_database;
use provide_tests::{Device, TestServer};
use serde_json::Value;

const RELEASE: &str = "0.1.0";

fn fixture(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(RELEASE)
        .join(backend)
}

fn expected(backend: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(backend).join("expected.json")).unwrap())
        .unwrap()
}

/// Copies a fixture folder where the code under test may change it, with the owner-only
/// permissions a real data folder has (git keeps neither).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
        for e in std::fs::read_dir(to).unwrap() {
            let p = e.unwrap().path();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

/// A fixture's device store, copied out and opened by today's code (which migrates it).
fn open_old_device(backend: &str, into: &Path) -> Store {
    let dir = into.join("idva");
    copy_dir(&fixture(backend).join("idva"), &dir);
    let passphrase = expected(backend)["passphrase"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        migrations::version(&raw_device_db(&dir, &passphrase)).unwrap(),
        0,
        "0.1.0 made its stores before schema versions"
    );
    Store::open(&dir, &passphrase, None).unwrap()
}

/// What the CLI printed, as the store shows it now (the days since an incident move on; when
/// a case leaves the device is counted from the upgrade, migration 3, and 0.1.0 did not say).
fn without_clock(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("days_since_incident");
        o.remove("leaves_device");
    }
    if let Some(rows) = v.as_array_mut() {
        for row in rows {
            *row = without_clock(row.take());
        }
    }
    v
}

/// Every record the old device held reads back as the old release showed it.
fn assert_records_intact(store: &mut Store, want: &Value) {
    let conflicted = want["conflicted_case"].as_str().unwrap();
    let shown = serde_json::to_value(store.show_case(conflicted).unwrap()).unwrap();
    // closed on this IDVA's device: it leaves the grace period after the upgrade, and the
    // device, not yet synced since, goes by the default policy
    assert_eq!(shown["record"]["status"], "closed");
    assert_eq!(
        shown["leaves_device"]["policy"],
        serde_json::json!({ "grace_hours": 72, "heard_from_server": false })
    );
    assert_eq!(
        without_clock(shown),
        without_clock(want["idva_case_show"].clone()),
        "the case (its fields, notes, DASH, risk and open conflict) reads as 0.1.0 showed it"
    );
    let health = serde_json::to_value(store.show_health(conflicted).unwrap()).unwrap();
    assert_eq!(health, want["idva_health_show"], "the health record");
    let list = serde_json::to_value(store.list_cases(&CaseFilter::default()).unwrap()).unwrap();
    // rows now carry more (the contact rules, area, triage, today's visit: migration 5); what
    // 0.1.0 listed reads as it did, and the new parts are filled from the old documents
    let old_keys: Vec<String> = want["idva_case_list"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let as_old: Vec<Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let mut row = row.clone();
            row.as_object_mut()
                .unwrap()
                .retain(|k, _| old_keys.contains(k));
            row
        })
        .collect();
    assert_eq!(
        without_clock(Value::Array(as_old)),
        without_clock(want["idva_case_list"].clone()),
        "the case list"
    );
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == conflicted)
        .unwrap();
    let rules = &want["idva_case_show"]["record"]["victim"]["safe_contact"];
    for key in ["call_ok", "text_ok", "voicemail_ok", "safe_times"] {
        assert_eq!(
            row["contact"][key], rules[key],
            "the row's {key}, from the document"
        );
    }
    store.audit_verify().unwrap();
}

/// Opens the old device against the upgraded server, syncs it, enrols a new officer's device
/// after the upgrade, and checks both hold the same cases.
fn old_device_syncs_and_converges(server: &TestServer, mut old: Store, want: &Value) {
    let mut transport = HttpTransport::new(&server.url, None).unwrap();
    let unsynced: Vec<&str> = want["unsynced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let report = sync(
        &mut old,
        &mut transport,
        &SyncOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        report.docs_sent >= unsynced.len(),
        "the old device uploads the changes the server never saw: {report:?}"
    );
    let mut officer = Device::enrol(server, "pc-after-upgrade", "officer", "west", "t1");
    officer.sync().unwrap();
    sync(
        &mut old,
        &mut transport,
        &SyncOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    officer.sync().unwrap();
    for id in want["cases"].as_array().unwrap() {
        let id = id.as_str().unwrap();
        let theirs = officer.store.show_case(id).unwrap();
        let ours = old.show_case(id).unwrap();
        assert_eq!(
            serde_json::to_value(&theirs.record).unwrap(),
            serde_json::to_value(&ours.record).unwrap(),
            "case {id} converged"
        );
        assert_eq!(
            officer.store.record_heads(id).unwrap(),
            old.record_heads(id).unwrap(),
            "case {id}: the same history on both devices"
        );
    }
    // the note written offline on the old device reached the new one
    let case = want["conflicted_case"].as_str().unwrap();
    let visits = serde_json::to_value(officer.store.show_case(case).unwrap().record).unwrap();
    assert!(
        visits.to_string().contains("Follow-up call at a safe time"),
        "the unsynced note arrived"
    );
}

#[test]
fn the_device_store_of_0_1_opens_with_every_record_intact_and_is_migrated() {
    for backend in ["sqlite", "postgres"] {
        let tmp = tempfile::tempdir().unwrap();
        let want = expected(backend);
        let mut store = open_old_device(backend, tmp.path());
        assert_records_intact(&mut store, &want);
        drop(store);
        // opened again: already at the latest schema, nothing to do, still intact
        let mut store = Store::open(
            &tmp.path().join("idva"),
            want["passphrase"].as_str().unwrap(),
            None,
        )
        .unwrap();
        assert_records_intact(&mut store, &want);
        let raw = raw_device_db(
            &tmp.path().join("idva"),
            want["passphrase"].as_str().unwrap(),
        );
        assert_eq!(
            migrations::version(&raw).unwrap(),
            migrations::latest(provide_core::store::schema::MIGRATIONS)
        );
        // made before purges had to leave nothing: converted once to give free pages back
        let vacuum: i64 = raw
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(vacuum, 2, "incremental vacuum");
        let integrity: String = raw
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}

#[test]
fn the_sqlite_server_of_0_1_serves_again_and_the_old_device_converges() {
    let want = expected("sqlite");
    let tmp = tempfile::tempdir().unwrap();
    let data_path = tmp.path().join("server");
    copy_dir(&fixture("sqlite").join("server"), &data_path);
    assert_eq!(migrations::version(&raw_server_db(&data_path)).unwrap(), 0);
    let server = TestServer::serve(tmp, DataDir::new(&data_path), Config::default());
    assert_eq!(
        migrations::version(&raw_server_db(&data_path)).unwrap(),
        migrations::latest(provide_sync_server::storage::sqlite::MIGRATIONS)
    );
    let devices = server.service.storage.devices().unwrap();
    assert_eq!(
        devices.len(),
        2,
        "both devices enrolled under 0.1.0 are still known"
    );
    let before = chain_verifies(&server);
    assert!(
        before > 0,
        "0.1.0's audit entries are the start of the chain"
    );
    let scratch = tempfile::tempdir().unwrap();
    let old = open_old_device("sqlite", scratch.path());
    old_device_syncs_and_converges(&server, old, &want);
    assert!(
        chain_verifies(&server) > before,
        "entries written after the upgrade continue it"
    );
}

#[test]
fn the_postgres_database_of_0_1_serves_again_and_the_old_device_converges() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped: PROVIDE_TEST_DATABASE_URL is not set (scripts/with-postgres.sh)");
        return;
    };
    let want = expected("postgres");
    let url = fresh_database(&base);
    restore_dump(&url, &fixture("postgres").join("server/postgres.sql"));
    let tmp = tempfile::tempdir().unwrap();
    let mut data = DataDir::new(&tmp.path().join("server"));
    data.database_url = Some(url.clone());
    let server = TestServer::serve(tmp, data, Config::default());
    assert_eq!(server.service.storage.devices().unwrap().len(), 2);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let applied: i64 = db
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert!(applied >= 1, "the migrations are recorded");
    let before = chain_verifies(&server);
    assert!(
        before > 0,
        "0.1.0's audit entries are the start of the chain"
    );
    let scratch = tempfile::tempdir().unwrap();
    let old = open_old_device("postgres", scratch.path());
    old_device_syncs_and_converges(&server, old, &want);
    assert!(
        chain_verifies(&server) > before,
        "entries written after the upgrade continue it"
    );
}

/// The upgraded server's audit log verifies as one chain (`audit verify`); the number of its
/// entries.
fn chain_verifies(server: &TestServer) -> u64 {
    let check = provide_sync_server::admin::verify_audit(&server.service, None).unwrap();
    assert!(check.verified, "{:?}", check.problem);
    let rows = server
        .service
        .storage
        .audit(&Default::default())
        .unwrap()
        .len() as u64;
    assert_eq!(check.entries, rows, "every entry is in the chain");
    check.entries
}

#[test]
fn a_postgres_log_with_the_gaps_of_rolled_back_inserts_is_chained_as_it_is() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped: PROVIDE_TEST_DATABASE_URL is not set (scripts/with-postgres.sh)");
        return;
    };
    let url = fresh_database(&base);
    restore_dump(&url, &fixture("postgres").join("server/postgres.sql"));
    // 0.1's numbers came from a sequence: an insert rolled back left its number unused
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute("DELETE FROM audit WHERE seq IN (5, 9)")
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut data = DataDir::new(&tmp.path().join("server"));
    data.database_url = Some(url);
    let server = TestServer::serve(tmp, data, Config::default());
    let before = chain_verifies(&server);
    // new entries are numbered on from the head, and the whole log still verifies
    Device::enrol(&server, "pc-after-upgrade", "officer", "west", "t1");
    assert!(chain_verifies(&server) > before);
    let seqs: Vec<i64> = db
        .query("SELECT seq FROM audit WHERE seq > 14 ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seqs, (15..15 + seqs.len() as i64).collect::<Vec<_>>());
}

#[test]
fn a_device_store_from_a_newer_release_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let want = expected("sqlite");
    let pass = want["passphrase"].as_str().unwrap();
    drop(open_old_device("sqlite", tmp.path()));
    let dir = tmp.path().join("idva");
    let newer = migrations::latest(provide_core::store::schema::MIGRATIONS) + 1;
    raw_device_db(&dir, pass)
        .execute_batch(&format!("PRAGMA user_version = {newer}"))
        .unwrap();
    let before = std::fs::read(dir.join("provide.db")).unwrap();
    let err = Store::open(&dir, pass, None).err().expect("refused");
    assert_eq!(err.code(), "store_too_new", "{err}");
    assert!(err.to_string().contains("newer release"), "{err}");
    assert!(
        std::fs::read(dir.join("provide.db")).unwrap() == before,
        "the store was changed"
    );
    // the command line says the same, with its own words, and changes nothing either
    let out = Command::new(provide_tests::binaries::bin("provide"))
        .args(["--data-dir", dir.to_str().unwrap(), "case", "list"])
        .env("PROVIDE_PASSPHRASE", pass)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer release"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("provide.db")).unwrap(), before);
}

#[test]
fn a_server_store_from_a_newer_release_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let data_path = tmp.path().join("server");
    copy_dir(&fixture("sqlite").join("server"), &data_path);
    let data = DataDir::new(&data_path);
    drop(data.open(Config::default()).unwrap());
    let conn = raw_server_db(&data_path);
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let before = std::fs::read(data_path.join("server.db")).unwrap();
    let err = data.open(Config::default()).err().expect("refused");
    assert_eq!(err.code(), "store_too_new", "{err}");
    assert!(err.to_string().contains("schema 999"), "{err}");
    assert_eq!(std::fs::read(data_path.join("server.db")).unwrap(), before);
}

#[test]
fn a_postgres_database_from_a_newer_release_is_refused_and_many_processes_migrate_once() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped: PROVIDE_TEST_DATABASE_URL is not set (scripts/with-postgres.sh)");
        return;
    };
    // eight server processes' worth of openings start at once on an empty database
    let url = fresh_database(&base);
    let openers: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let tmp = tempfile::tempdir().unwrap();
                let mut data = DataDir::new(&tmp.path().join(format!("s{i}")));
                data.database_url = Some(url);
                data.open(Config::default()).map(|_| ())
            })
        })
        .collect();
    for o in openers {
        o.join().unwrap().unwrap();
    }
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows: Vec<i32> = db
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let latest = rows.last().copied().unwrap();
    assert_eq!(
        rows,
        (1..=latest).collect::<Vec<_>>(),
        "each migration once, in order"
    );
    // a newer release migrated it further: this one refuses it and changes nothing
    db.execute(
        "INSERT INTO schema_migrations (version, about) VALUES ($1, 'from the future')",
        &[&(latest + 1)],
    )
    .unwrap();
    let tables_before: i64 = db
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    let tmp = tempfile::tempdir().unwrap();
    let mut data = DataDir::new(tmp.path());
    data.database_url = Some(url);
    let err = data.open(Config::default()).err().expect("refused");
    assert_eq!(err.code(), "store_too_new", "{err}");
    assert!(err.to_string().contains("newer release"), "{err}");
    let tables_after: i64 = db
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables_before, tables_after);
}

/// The device's database opened with its data key, as the upgrade left it.
fn raw_device_db(dir: &Path, passphrase: &str) -> rusqlite::Connection {
    let mut slots = provide_core::crypto::keyslots::KeySlots::load(dir).unwrap();
    let (_, key) = slots.unlock(passphrase, None).unwrap();
    let conn = rusqlite::Connection::open(dir.join("provide.db")).unwrap();
    provide_core::store::schema::apply_key(&conn, &key).unwrap();
    conn
}

/// The sync server's embedded store opened with its key file.
fn raw_server_db(data: &Path) -> rusqlite::Connection {
    let key = provide_sync_server::keyfile::load_or_create(&data.join("server.key")).unwrap();
    let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
    provide_core::store::schema::apply_key(&conn, &key).unwrap();
    conn
}

/// Loads a `pg_dump` into the database at `url` with PostgreSQL's own client.
fn restore_dump(url: &str, dump: &Path) {
    let psql = ["/usr/bin/psql"]
        .into_iter()
        .map(PathBuf::from)
        .chain(
            std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join("bin/psql")),
        )
        .find(|p| p.exists())
        .expect("psql is installed with PostgreSQL (scripts/install-deps.sh)");
    let out = Command::new(psql)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the 0.1.0 dump loads: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
