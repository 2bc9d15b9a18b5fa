//! The restore drill. Officer, IDVA and safeguarding devices sync with a real server; a backup
//! is taken while a device keeps syncing (SQLite: `backup`, SQLite's online backup API under
//! SQLCipher; PostgreSQL: `pg_dump`); the devices go on and sync more, so the server holds
//! changes the backup lacks, and one device keeps a change no other device has seen. The
//! server stops; the backup is restored into a fresh data folder (or database) and served at a
//! new address; the devices sync with it, re-upload what it lacks, and every device and the
//! server converge with nothing lost.
//!
//! The SQLite drill runs on the embedded-store pass, the PostgreSQL dump-and-restore on the
//! PostgreSQL pass (`scripts/with-postgres.sh`); each says so when skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use provide_core::model::Deployment;
use provide_core::store::CaseFilter;
use provide_core::sync::transport::HttpTransport;
use provide_sync_server::admin::DataDir;
use provide_sync_server::backup;
use provide_sync_server::service::Config;
use provide_tests::server::pg_bin;
use provide_tests::{sets, Device, TestServer};

const CANARY: &str = "Canary Fictional-Orchard";

/// A case as an officer makes it at a visit, with a first note.
fn shift_case(store: &mut provide_core::Store, n: usize) -> String {
    let id = store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("victim.name", &format!("Fictional Victim {n}")),
                ("incident.reference", &format!("WE-{n:06}-FICT")),
                ("status", "active"),
            ]),
        )
        .unwrap();
    store
        .add_case_item(
            &id,
            "notes",
            &serde_json::json!({ "text": format!("first note {n}") }),
        )
        .unwrap();
    id
}

fn note(d: &mut Device, case: &str, text: &str) {
    d.store
        .add_case_item(case, "notes", &serde_json::json!({ "text": text }))
        .unwrap();
}

fn notes(d: &mut Device, case: &str) -> BTreeSet<String> {
    d.store
        .show_case(case)
        .unwrap()
        .record
        .notes
        .iter()
        .map(|n| n.text.clone())
        .collect()
}

fn case_ids(d: &mut Device) -> BTreeSet<String> {
    d.store
        .list_cases(&CaseFilter::default())
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Every case each device holds, with its sorted heads.
fn state(d: &mut Device) -> BTreeMap<String, Vec<String>> {
    case_ids(d)
        .into_iter()
        .map(|id| {
            let mut heads: Vec<String> = d
                .store
                .record_heads(&id)
                .unwrap()
                .iter()
                .map(|h| h.to_string())
                .collect();
            heads.sort();
            (id, heads)
        })
        .collect()
}

struct Fleet {
    officer: Device,
    idva: Device,
    safeguarding: Device,
}

impl Fleet {
    fn all(&mut self) -> [&mut Device; 3] {
        [&mut self.officer, &mut self.idva, &mut self.safeguarding]
    }

    fn sync_all(&mut self) {
        for d in self.all() {
            let r = d.sync().unwrap();
            assert!(r.refused.is_empty(), "refused: {:?}", r.refused);
        }
    }
}

/// What the drill expects every device to hold at the end: case id → note texts.
type Expected = BTreeMap<String, BTreeSet<String>>;

/// Runs the drill: `take_backup` is called while the officer syncs in a loop, `restore` gets
/// the stopped server back and returns the restored one.
fn drill(
    mut server: TestServer,
    take_backup: impl FnOnce(&TestServer),
    restore: impl FnOnce(TestServer) -> TestServer,
) {
    let mut fleet = Fleet {
        officer: Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1"),
        idva: Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1"),
        safeguarding: Device::enrol(&server, "sg.cal.fictional", "safeguarding", "west", ""),
    };
    let mut expected = Expected::new();
    let made = |case: &str, text: &str, e: &mut Expected| {
        e.entry(case.to_string())
            .or_default()
            .insert(text.to_string());
    };

    // before the backup: three cases, worked on by all three
    let mut cases = Vec::new();
    for n in 0..4 {
        let id = shift_case(&mut fleet.officer.store, n);
        for t in notes(&mut fleet.officer, &id) {
            made(&id, &t, &mut expected);
        }
        cases.push(id);
    }
    fleet.sync_all();
    for (i, case) in cases.iter().enumerate() {
        let text = format!("IDVA note before the backup {i}, {CANARY}");
        note(&mut fleet.idva, case, &text);
        made(case, &text, &mut expected);
    }
    fleet.sync_all();
    fleet.sync_all();

    // the backup, taken while the officer keeps writing and syncing
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let mut officer = fleet.officer;
    let busy_case = cases[0].clone();
    let busy = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        let case = busy_case.clone();
        std::thread::spawn(move || {
            let mut texts = Vec::new();
            // at least a few rounds, whatever the backup's speed, then until it is done
            while rounds.load(Ordering::SeqCst) < 3 || !stop.load(Ordering::SeqCst) {
                let n = rounds.load(Ordering::SeqCst);
                let text = format!("officer note during the backup {n}");
                note(&mut officer, &case, &text);
                texts.push(text);
                officer.sync().unwrap();
                rounds.fetch_add(1, Ordering::SeqCst);
            }
            (officer, texts)
        })
    };
    while rounds.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    take_backup(&server);
    stop.store(true, Ordering::SeqCst);
    let (officer, texts) = busy.join().unwrap();
    fleet.officer = officer;
    for t in texts {
        made(&busy_case, &t, &mut expected);
    }

    // after the backup: more from everyone, all acknowledged by the server
    let late_case = shift_case(&mut fleet.officer.store, 7);
    for t in notes(&mut fleet.officer, &late_case) {
        made(&late_case, &t, &mut expected);
    }
    // on one record, changes of three users after the backup, each made on top of the last
    // (so no one device's copy holds only its own)
    for (d, who) in [
        (&mut fleet.safeguarding, "safeguarding"),
        (&mut fleet.idva, "IDVA"),
        (&mut fleet.officer, "officer"),
    ] {
        d.sync().unwrap();
        let text = format!("{who} note after the backup");
        note(d, &cases[1], &text);
        made(&cases[1], &text, &mut expected);
        d.sync().unwrap();
    }
    let text = "safeguarding note on its own after the backup";
    note(&mut fleet.safeguarding, &cases[3], text);
    made(&cases[3], text, &mut expected);
    fleet.sync_all();
    fleet.sync_all();
    // and one change only the IDVA holds: acknowledged by the server, seen by nobody else
    let only_idva = "IDVA note only the IDVA and the lost server saw";
    note(&mut fleet.idva, &cases[2], only_idva);
    made(&cases[2], only_idva, &mut expected);
    fleet.idva.sync().unwrap();
    assert_eq!(fleet.idva.store.unsynced_count().unwrap(), 0);

    // the server is lost; the backup comes back at a new address
    server.stop();
    let old_url = server.url.clone();
    let restored = restore(server);
    assert_ne!(restored.url, old_url);
    for d in fleet.all() {
        d.transport = HttpTransport::new(&restored.url, None).unwrap();
    }

    // the devices start over with it. A device re-sends every record whole, others' changes
    // in it too: the server takes its own and refuses the rest (UnknownActor: only their
    // author's device may bring them) until their author's device has sent them, so each
    // round brings the server further; three changes in a chain need at most three rounds
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut refused = 0;
        for d in fleet.all() {
            refused += d.sync().unwrap().refused.len();
        }
        if refused == 0 {
            break;
        }
        assert!(rounds < 4, "still refused after {rounds} rounds");
    }
    fleet.sync_all();

    let want_ids: BTreeSet<String> = expected.keys().cloned().collect();
    let reference = state(&mut fleet.officer);
    for d in fleet.all() {
        assert_eq!(case_ids(d), want_ids, "every case on every device");
        assert_eq!(state(d), reference, "every device converged");
        for (case, texts) in &expected {
            let held = notes(d, case);
            assert!(
                texts.is_subset(&held),
                "notes lost on case {case}: {:?}",
                texts.difference(&held).collect::<Vec<_>>()
            );
        }
        assert_eq!(d.store.unsynced_count().unwrap(), 0);
    }
    // each device was told to start over
    let told: BTreeSet<String> = restored
        .service
        .storage
        .audit(&provide_sync_server::storage::AuditFilter {
            entries: provide_core::report::CheckedAuditQuery {
                action: Some("start_over".into()),
                ..Default::default()
            },
            division: None,
            newest_first: false,
        })
        .unwrap()
        .into_iter()
        .map(|r| r.device)
        .collect();
    let ids: BTreeSet<String> = fleet
        .all()
        .iter()
        .map(|d| d.store.device_id().to_string())
        .collect();
    assert_eq!(told, ids);
    // the restored server holds what the devices hold
    for (case, heads) in &reference {
        let meta = restored.service.storage.doc_meta(case).unwrap().unwrap();
        let mut server_heads: Vec<String> = meta.heads.iter().map(|h| h.to_string()).collect();
        server_heads.sort();
        assert_eq!(&server_heads, heads, "server copy of {case}");
    }
    // and every device's own audit log reached it, unbroken (a quiet sync carries the last
    // entries the catching-up syncs logged)
    fleet.sync_all();
    for d in fleet.all() {
        let id = d.store.device_id().to_string();
        let check =
            provide_sync_server::admin::verify_device_audit(&restored.service, &id).unwrap();
        assert!(check.verified, "device audit of {id}: {check:?}");
        // what it logged before its last sync reached the server (that sync logs a little more)
        let sent_before_last = d.store.audit_to_upload(1_000_000).unwrap();
        assert!(
            sent_before_last.len() <= 2,
            "audit of {id} left behind: {} entries, server {:?}",
            sent_before_last.len(),
            check
        );
    }
}

#[test]
fn restore_drill_on_the_embedded_store() {
    if std::env::var("PROVIDE_TEST_DATABASE_URL").is_ok() {
        eprintln!("skipped: the embedded-store drill runs on the SQLite pass");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::serve(
        tempfile::tempdir().unwrap(),
        DataDir::new(&dir.path().join("data")),
        Config::default(),
    );
    let vault = tempfile::tempdir().unwrap();
    let file = vault.path().join("provide-backup.db");
    let keys = vault.path().join("provide-keys.db");
    let taken = file.clone();
    let keys_taken = keys.clone();
    drill(
        server,
        |s| {
            backup::backup(&s.data, &taken).unwrap();
            // the record keys, on their own (more frequent) schedule: taken after the data
            backup::backup_keys(&s.data, &keys_taken).unwrap();
        },
        |old| {
            let key = old.data.dir.join("server.key");
            assert!(
                !file_holds(&file, b"SQLite format 3"),
                "the backup is encrypted"
            );
            assert!(!file_holds(&file, CANARY.as_bytes()));
            assert!(!file_holds(&file, b"Fictional Victim"));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&file).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "the backup is readable by its owner only");
            }
            // no overwriting an existing backup
            assert!(backup::backup(&old.data, &file).is_err());
            let fresh = tempfile::tempdir().unwrap();
            let data = DataDir::new(&fresh.path().join("restored"));
            // without the record keys the records would not open: refused, folder left empty
            let e = backup::restore(&data, &file, &key, None).unwrap_err();
            assert!(e.to_string().contains("no key"), "{e}");
            assert_eq!(std::fs::read_dir(&data.dir).unwrap().count(), 0);
            let summary = backup::restore(&data, &file, &key, Some(&keys)).unwrap();
            assert_eq!(summary.devices, 3);
            drop(old);
            TestServer::serve(fresh, data, Config::default())
        },
    );
}

fn file_holds(path: &Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn restore_refuses_a_folder_in_use_a_wrong_key_and_a_damaged_backup() {
    if std::env::var("PROVIDE_TEST_DATABASE_URL").is_ok() {
        eprintln!("skipped: the embedded store's restore is checked on the SQLite pass");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(&dir.path().join("data"));
    let service = data.open(Config::default()).unwrap();
    provide_sync_server::admin::enrol(&service, "pc.eve.fictional", "officer", "west", "t1", 1)
        .unwrap();
    let file = dir.path().join("b.db");
    backup::backup(&data, &file).unwrap();
    let keys = dir.path().join("k.db");
    backup::backup_keys(&data, &keys).unwrap();
    drop(service);
    let key = data.dir.join("server.key");

    // a folder that is not empty
    let busy = tempfile::tempdir().unwrap();
    std::fs::write(busy.path().join("something"), b"x").unwrap();
    let e = backup::restore(&DataDir::new(busy.path()), &file, &key, Some(&keys)).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    // another key
    let other = dir.path().join("other.key");
    std::fs::write(&other, "11".repeat(32)).unwrap();
    let target = tempfile::tempdir().unwrap();
    let e = backup::restore(
        &DataDir::new(&target.path().join("a")),
        &file,
        &other,
        Some(&keys),
    )
    .unwrap_err();
    assert!(e.to_string().contains("decrypted"), "{e}");
    assert!(!target.path().join("a").exists());
    // a damaged backup (a page overwritten in the middle)
    let damaged = dir.path().join("damaged.db");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 64].fill(0x5a);
    std::fs::write(&damaged, bytes).unwrap();
    assert!(backup::restore(
        &DataDir::new(&target.path().join("b")),
        &damaged,
        &key,
        Some(&keys)
    )
    .is_err());
    // and the good one restores, with the user's code still there
    let good = DataDir::new(&target.path().join("c"));
    backup::restore(&good, &file, &key, Some(&keys)).unwrap();
    let restored = good.open(Config::default()).unwrap();
    assert!(!restored
        .storage
        .audit(&Default::default())
        .unwrap()
        .is_empty());
}

#[test]
fn rotate_key_re_keys_the_store_and_refuses_while_it_is_served() {
    use provide_sync_server::rotate::{rotate_key, Rotated};
    if std::env::var("PROVIDE_TEST_DATABASE_URL").is_ok() {
        eprintln!("skipped: rotate-key is for the embedded store (SQLite pass)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(&dir.path().join("data"));
    let server = TestServer::serve(
        tempfile::tempdir().unwrap(),
        data.clone(),
        Config::default(),
    );
    let mut officer = Device::enrol(&server, "pc.fay.fictional", "officer", "west", "t1");
    let case = shift_case(&mut officer.store, 1);
    officer.sync().unwrap();
    let key_file = data.dir.join("server.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    // served: refused, nothing changed
    let e = rotate_key(&data, None).unwrap_err();
    assert!(e.to_string().contains("stop it first"), "{e}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    drop(server);

    // stopped: re-keyed; the old key no longer opens it, the new one does
    assert_eq!(rotate_key(&data, None).unwrap(), Rotated::Done);
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert!(!PathBuf::from(format!("{}.old", key_file.display())).exists());
    let old_file = dir.path().join("old.key");
    std::fs::write(&old_file, &old_key).unwrap();
    let with_old = DataDir {
        key_file: Some(old_file),
        ..data.clone()
    };
    assert!(with_old.open(Config::default()).is_err());

    // a rotation interrupted after the re-key (the new key still in KEY.new) is finished
    let given = dir.path().join("given.key");
    std::fs::write(&given, "22".repeat(32)).unwrap();
    assert_eq!(rotate_key(&data, Some(&given)).unwrap(), Rotated::Done);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().trim(),
        "22".repeat(32)
    );
    std::fs::rename(&key_file, format!("{}.new", key_file.display())).unwrap();
    std::fs::write(&key_file, &new_key).unwrap();
    assert_eq!(rotate_key(&data, None).unwrap(), Rotated::Finished);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().trim(),
        "22".repeat(32)
    );

    // the store serves again, with its records, and the device syncs with it
    let server = TestServer::serve(tempfile::tempdir().unwrap(), data, Config::default());
    officer.transport = HttpTransport::new(&server.url, None).unwrap();
    note(&mut officer, &case, "after the rotation");
    officer.sync().unwrap();
    assert!(server.service.storage.doc_meta(&case).unwrap().is_some());
}

/// The PostgreSQL drill: `pg_dump` while devices sync, `pg_restore` into a new database,
/// `mark-restored`, served at a new address.
#[test]
fn restore_drill_on_postgresql_with_pg_dump() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped: set PROVIDE_TEST_DATABASE_URL (scripts/with-postgres.sh) for the PostgreSQL drill");
        return;
    };
    let bin = pg_bin();
    let server = TestServer::start();
    let vault = tempfile::tempdir().unwrap();
    let file = vault.path().join("provide.dump");
    let taken = file.clone();
    drill(
        server,
        |s| {
            let url = s.data.database_url.clone().unwrap();
            let out = std::process::Command::new(bin.join("pg_dump"))
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(&taken)
                .arg(&url)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        },
        |old| {
            drop(old);
            let url = provide_tests::server::fresh_database(&base);
            let out = std::process::Command::new(bin.join("pg_restore"))
                .args(["--no-owner", "--exit-on-error", "--dbname"])
                .arg(&url)
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pg_restore: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let dir = tempfile::tempdir().unwrap();
            let mut data = DataDir::new(dir.path());
            data.database_url = Some(url);
            let out =
                std::process::Command::new(provide_tests::binaries::bin("provide-sync-server"))
                    .arg("--data-dir")
                    .arg(dir.path())
                    .args(["--database-url", data.database_url.as_deref().unwrap()])
                    .arg("mark-restored")
                    .output()
                    .unwrap();
            let said = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(out.status.success(), "mark-restored: {said}");
            assert!(said.contains("3 device(s) will start over"), "{said}");
            TestServer::serve(dir, data, Config::default())
        },
    );
}

/// The operator's commands as processes, beside a server process holding the store open.
#[test]
fn the_commands_back_up_a_served_store_restore_it_and_rotate_its_key() {
    use provide_tests::binaries::{self, bin};
    use std::process::Command;
    if std::env::var("PROVIDE_TEST_DATABASE_URL").is_ok() {
        eprintln!("skipped: the embedded store's commands are checked on the SQLite pass");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(bin("provide-sync-server"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (mut serving, url) = binaries::serve(&["--data-dir", &data_arg]);
    let (code, out, err) = run(&[
        "--data-dir",
        &data_arg,
        "enrol",
        "--user",
        "pc.gil.fictional",
        "--role",
        "officer",
        "--division",
        "west",
        "--team",
        "t1",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let mut officer = Device::enrol_at(&url, None, out.trim()).unwrap();
    let case = shift_case(&mut officer.store, 3);
    note(&mut officer, &case, CANARY);
    officer.sync().unwrap();

    // a backup of the served store, by another process
    let file = root.path().join("nightly.db");
    let file_arg = file.to_str().unwrap();
    let (code, _, err) = run(&["--data-dir", &data_arg, "backup", "--out", file_arg]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("keep the key file apart"), "{err}");
    assert!(!file_holds(&file, b"SQLite format 3"));
    assert!(!file_holds(&file, CANARY.as_bytes()));
    let (code, _, err) = run(&["--data-dir", &data_arg, "backup", "--out", file_arg]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("already exists"), "{err}");
    let keys = root.path().join("hourly-keys.db");
    let keys_arg = keys.to_str().unwrap();
    let (code, _, err) = run(&["--data-dir", &data_arg, "backup-keys", "--out", keys_arg]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("Record keys backed up"), "{err}");

    // no re-keying under a running server
    let (code, _, err) = run(&["--data-dir", &data_arg, "rotate-key"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("stop it first"), "{err}");

    // restore: the key file is required, the folder must be empty
    let restored = root.path().join("restored");
    let restored_arg = restored.to_str().unwrap();
    let (code, _, err) = run(&["--data-dir", restored_arg, "restore", "--from", file_arg]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--key-file"), "{err}");
    let key = data.join("server.key");
    let key_arg = key.to_str().unwrap();
    // (the key file may follow the command, as the restore's own option would)
    let (code, _, err) = run(&[
        "--data-dir",
        restored_arg,
        "restore",
        "--from",
        file_arg,
        "--key-file",
        key_arg,
        "--record-keys-from",
        keys_arg,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("1 device(s) will start over"), "{err}");
    assert_eq!(
        std::fs::read_to_string(restored.join("server.key"))
            .unwrap()
            .trim(),
        std::fs::read_to_string(&key).unwrap().trim()
    );
    let (code, _, err) = run(&[
        "--data-dir",
        restored_arg,
        "--key-file",
        key_arg,
        "restore",
        "--from",
        file_arg,
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not empty"), "{err}");

    // stopped, the original is re-keyed and serves again
    serving.kill();
    let (code, _, err) = run(&["--data-dir", &data_arg, "rotate-key"]);
    assert_eq!(code, Some(0), "{err}");
    assert_ne!(
        std::fs::read_to_string(&key).unwrap().trim(),
        std::fs::read_to_string(restored.join("server.key"))
            .unwrap()
            .trim()
    );
    let (_serving, url) = binaries::serve(&["--data-dir", &data_arg]);
    officer.transport = HttpTransport::new(&url, None).unwrap();
    officer.sync().unwrap();

    // the restored copy serves too, and tells the device to start over
    let (_restored_serving, url) = binaries::serve(&["--data-dir", restored_arg]);
    officer.transport = HttpTransport::new(&url, None).unwrap();
    note(&mut officer, &case, "written after the backup");
    officer.sync().unwrap();
    officer.sync().unwrap();
    assert_eq!(officer.store.unsynced_count().unwrap(), 0);
    let (code, out, err) = run(&[
        "--data-dir",
        restored_arg,
        "audit",
        "--action",
        "start_over",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(officer.store.device_id()), "{out}");
}

/// An older release's store (0.1.0's, before migrations) restores: migrated to today's schema,
/// its devices marked to start over, its records intact.
#[test]
fn an_older_releases_store_restores_and_is_migrated() {
    if std::env::var("PROVIDE_TEST_DATABASE_URL").is_ok() {
        eprintln!("skipped: the embedded store's restore is checked on the SQLite pass");
        return;
    }
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/0.1.0/sqlite");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
            .unwrap();
    // copied out: the fixture stays as committed
    let copy = tempfile::tempdir().unwrap();
    let from = copy.path().join("server.db");
    let key = copy.path().join("server.key");
    std::fs::copy(fixture.join("server/server.db"), &from).unwrap();
    std::fs::copy(fixture.join("server/server.key"), &key).unwrap();
    let target = tempfile::tempdir().unwrap();
    let data = DataDir::new(&target.path().join("restored"));
    // a store from before per-record keys: nothing sealed yet, so no key store is needed
    let summary = backup::restore(&data, &from, &key, None).unwrap();
    assert_eq!(
        summary.schema_version,
        provide_core::store::migrations::latest(provide_sync_server::storage::sqlite::MIGRATIONS)
    );
    assert!(summary.devices >= 1);
    let service = data.open(Config::default()).unwrap();
    // every case the old server held: all but those the IDVA made and never synced (an
    // unsynced case with an earlier synced copy, the conflicted one, is held)
    let unsynced: Vec<&str> = expected["unsynced"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let conflicted = expected["conflicted_case"].as_str().unwrap();
    let held: Vec<&str> = expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|id| *id == conflicted || !unsynced.contains(id))
        .collect();
    assert_eq!(held.len(), 2);
    for id in held {
        assert!(service.storage.doc_meta(id).unwrap().is_some(), "case {id}");
    }
}
