//! Erasure that holds (issue 16, items 1 and 2): a case and its health record erased on the
//! server leave nothing readable on the server (scanned raw and decrypted with the server's
//! keys on SQLite, row by row on PostgreSQL), a copy of the data store taken before the
//! erasure no longer opens the case with the key store as it is now, every device that held it
//! purges it and confirms, a device that was offline comes back with an unsent edit and is
//! refused and purged (audited on both sides, said in plain words), and a rescue bundle holding
//! the case is refused on import and on upload. Runs on both server backends.

use provide_core::crypto::KdfParams;
use provide_core::model::Deployment;
use provide_sync_server::storage::record_keys::KeyStore;
use provide_tests::forensics::{found_on_server, server_key};
use provide_tests::{forensics, note, sets, Device, TestServer};

const VICTIM: &str = "Orla Erasewell";
const ADDRESS: &str = "9 Vanishing Row, Fictionton FT9 1ER";
const NOTE: &str = "Erasenote: she keeps a spare key under the blue pot";
const HEALTH: &str = "Erasehealth: counselling on Tuesdays at the fictional clinic";
const OFFLINE: &str = "Erasenote offline: written in the car before the erasure";
const KEPT: &str = "Keepsake Remainder";

fn bundle_of(d: &mut Device, case: &str) -> Vec<u8> {
    let mut out = vec![];
    d.store
        .export_bundle(
            Some(case),
            false,
            "bundle passphrase 42",
            KdfParams::FLOOR,
            |b| {
                out = b.to_vec();
                Ok(())
            },
        )
        .unwrap();
    out
}

#[test]
fn an_erased_case_is_gone_from_the_server_its_old_copies_and_every_device() {
    // on PostgreSQL, the record keys in a database of their own, as OPERATIONS.md says
    let dir = tempfile::tempdir().unwrap();
    let mut data = provide_tests::server::data_dir(dir.path());
    if let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") {
        data.record_keys_url = Some(provide_tests::server::fresh_database(&base));
    }
    let server = TestServer::serve(dir, data, Default::default());
    let mut unit = Device::enrol(&server, "sg.una.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.obi.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.ivy.fictional", "idva", "west", "t1");

    let case = unit
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("team", "t1"),
                ("victim.name", VICTIM),
                ("victim.address", ADDRESS),
            ]),
        )
        .unwrap();
    let kept = unit
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("team", "t1"), ("victim.name", KEPT)]),
        )
        .unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    officer
        .store
        .add_case_item(&case, "notes", &note(NOTE))
        .unwrap();
    officer.sync().unwrap();
    idva.store.add_health_note(&case, HEALTH).unwrap();
    idva.sync().unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    let bundle = bundle_of(&mut officer, &case);

    // the server holds the case sealed: no canary readable even now, in any file or row
    for canary in [VICTIM, ADDRESS, NOTE, HEALTH] {
        let found = found_on_server(&server, canary);
        assert!(
            found.is_empty(),
            "`{canary}` readable on the server: {found:?}"
        );
    }
    // and it reads it whole through its keys
    let stored = server.service.storage.load_doc(&case).unwrap().unwrap();
    let rec = provide_core::record::RecordDoc::load_unmigrated(
        &case,
        provide_core::model::RecordKind::Case,
        &stored.chunks,
    )
    .unwrap();
    assert_eq!(rec.case().unwrap().victim.name, VICTIM);

    // a copy of the data store taken before the erasure
    let copy = tempfile::tempdir().unwrap();
    let before_copy = copy.path().join("before.db");
    match &server.data.database_url {
        None => {
            provide_sync_server::backup::backup(&server.data, &before_copy).unwrap();
        }
        Some(url) => {
            let out = std::process::Command::new(provide_tests::server::pg_bin().join("pg_dump"))
                .args(["--dbname", url, "--format=plain", "--file"])
                .arg(&before_copy)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
    }

    // the IDVA writes offline, and does not sync before the erasure
    idva.store
        .add_case_item(&case, "notes", &note(OFFLINE))
        .unwrap();

    let done = server
        .service
        .erase_case(&case, "DPA erasure request DP-0042", "dpo.dee.fictional")
        .unwrap();
    assert_eq!(done.records.len(), 2, "the case and its health record");
    assert_eq!(done.devices_to_confirm, 3, "{done:?}");
    // erasing again changes nothing and says so
    assert!(server
        .service
        .erase_case(&case, "again", "dpo.dee.fictional")
        .unwrap()
        .records
        .is_empty());

    // the server: nothing of the case in any file or row, and its rows are gone
    assert!(server.service.storage.doc_meta(&case).unwrap().is_none());
    assert!(server.service.storage.load_doc(&case).unwrap().is_none());
    for canary in [VICTIM, ADDRESS, NOTE, HEALTH] {
        let found = found_on_server(&server, canary);
        assert!(
            found.is_empty(),
            "`{canary}` still on the server: {found:?}"
        );
    }
    // the copy taken before: its bytes of the case are there, but no key opens them now
    match &server.data.database_url {
        None => {
            let key = server_key(&server);
            let db = std::fs::read(&before_copy).unwrap();
            for canary in [VICTIM, ADDRESS, NOTE, HEALTH] {
                let pages = forensics::database_pages(&db, &key);
                assert!(
                    !pages
                        .iter()
                        .any(|p| p.windows(canary.len()).any(|w| w == canary.as_bytes())),
                    "`{canary}` readable in the copy taken before"
                );
            }
            let c = rusqlite::Connection::open(&before_copy).unwrap();
            provide_core::store::schema::apply_key(&c, &key).unwrap();
            let chunks: i64 = c
                .query_row(
                    "SELECT count(*) FROM doc_chunks WHERE doc_id = ?1",
                    [&case],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(chunks > 0, "the copy still has the case's sealed bytes");
            let keys = provide_sync_server::storage::record_keys::FileKeyStore::open(
                &server.data.record_keys_path(),
                &zeroize::Zeroizing::new(key),
            )
            .unwrap();
            assert!(keys.get(&case).unwrap().is_none(), "its key is destroyed");
            assert!(keys
                .get(&provide_core::model::health::health_id(&case))
                .unwrap()
                .is_none());
            assert!(keys.get(&kept).unwrap().is_some());
        }
        Some(_) => {
            let dump = std::fs::read_to_string(&before_copy).unwrap();
            for canary in [VICTIM, ADDRESS, NOTE, HEALTH] {
                assert!(!dump.contains(canary), "`{canary}` in the dump");
                assert!(!dump.contains(&hex::encode(canary.as_bytes())));
            }
            assert!(dump.contains(&case), "the dump has the case's sealed rows");
            // the data's dump holds no key, and the key store as it is now has none of the case
            assert!(!dump.contains("CREATE TABLE public.record_keys"));
            let keys_url = server.data.record_keys_url.as_deref().unwrap();
            let mut c = postgres::Client::connect(keys_url, postgres::NoTls).unwrap();
            let left: i64 = c
                .query_one(
                    "SELECT count(*) FROM record_keys WHERE id = $1 OR id LIKE $2",
                    &[&case, &format!("{case}%")],
                )
                .unwrap()
                .get(0);
            assert_eq!(left, 0, "the case's keys are destroyed");
            let kept: i64 = c
                .query_one("SELECT count(*) FROM record_keys WHERE id = $1", &[&kept])
                .unwrap()
                .get(0);
            assert_eq!(kept, 1);
        }
    }

    // the unit and the officer purge it on their next contact, and confirm
    for d in [&mut unit, &mut officer] {
        let r = d.sync().unwrap();
        assert_eq!(r.erased.len(), 1, "{r:?}");
        assert!(r.erased[0].contains("erased"), "{r:?}");
        assert!(!d.holds(&case));
        assert!(d.holds(&kept));
        let key = d.data_key();
        for canary in [VICTIM, ADDRESS, NOTE] {
            let found = forensics::find(d.dir.path(), &key, canary);
            assert!(found.is_empty(), "`{canary}` still on a device: {found:?}");
        }
        // the next sync has nothing more to say of it
        assert!(d.sync().unwrap().erased.is_empty());
    }
    let status = server.service.erasure_status(&case).unwrap().unwrap();
    let waiting: Vec<&str> = status
        .iter()
        .flat_map(|e| &e.devices)
        .filter(|d| d.confirmed_at.is_none())
        .map(|d| d.device.as_str())
        .collect();
    assert_eq!(waiting, vec![idva.store.device_id(); 2], "{status:?}");

    // the IDVA comes back with its unsent edit: refused, purged, and said in plain words
    let r = idva.sync().unwrap();
    assert_eq!(r.erased.len(), 2, "{r:?}");
    assert!(
        r.erased.iter().any(|w| w.contains("1 change(s)")),
        "the lost edit is named: {r:?}"
    );
    assert!(r.refused.iter().any(|x| x.contains("Erased")), "{r:?}");
    assert!(!idva.holds(&case));
    let key = idva.data_key();
    for canary in [VICTIM, ADDRESS, NOTE, HEALTH, OFFLINE] {
        let found = forensics::find(idva.dir.path(), &key, canary);
        assert!(
            found.is_empty(),
            "`{canary}` still on the IDVA's device: {found:?}"
        );
    }
    let device_log = idva.store.audit_entries().unwrap();
    assert!(device_log
        .iter()
        .any(|e| e.record == case && e.action == "erase" && e.detail.contains("not yet sent")));
    let server_log = server.audit_of(&case);
    assert!(server_log
        .iter()
        .any(|e| e.action == "refuse" && e.detail.contains("Erased")));
    assert!(server_log.iter().any(|e| e.action == "erase"));
    assert_eq!(
        server_log
            .iter()
            .filter(|e| e.action == "erase_confirmed")
            .count(),
        3
    );
    let status = server.service.erasure_status(&case).unwrap().unwrap();
    assert!(status
        .iter()
        .flat_map(|e| &e.devices)
        .all(|d| d.confirmed_at.is_some()));
    assert!(server.service.storage.doc_meta(&case).unwrap().is_none());

    // the rescue bundle: refused on import by a device that knows of the erasure
    let report = officer
        .store
        .import_bundle(&bundle, "bundle passphrase 42")
        .unwrap();
    assert_eq!(report.refused_erased, vec![case.clone()]);
    assert!(!officer.holds(&case));
    // a device that never held it imports it, and the server refuses it and has it purged
    let mut other = Device::enrol(&server, "pc.oto.fictional", "officer", "west", "t1");
    other.sync().unwrap();
    let report = other
        .store
        .import_bundle(&bundle, "bundle passphrase 42")
        .unwrap();
    assert_eq!(report.created, 1);
    let r = other.sync().unwrap();
    assert!(r.refused.iter().any(|x| x.contains("Erased")), "{r:?}");
    assert_eq!(r.erased.len(), 1, "{r:?}");
    assert!(!other.holds(&case));
    assert!(server.service.storage.doc_meta(&case).unwrap().is_none());
    for canary in [VICTIM, ADDRESS, NOTE] {
        assert!(found_on_server(&server, canary).is_empty());
    }
}

#[test]
fn erasure_refuses_what_it_should_and_the_commands_say_so() {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.ema.fictional", "safeguarding", "west", "");
    let case = unit
        .store
        .create_case(Deployment::PostIncident, &sets(&[("team", "t1")]))
        .unwrap();
    let shift_like = unit
        .store
        .create_case(Deployment::PostIncident, &sets(&[("team", "t1")]))
        .unwrap();
    unit.sync().unwrap();
    let s = &server.service;
    // no reason, a reason of several lines, an unknown case, a health record id
    assert!(s.erase_case(&case, "  ", "dpo").is_err());
    assert!(s.erase_case(&case, "a\nb", "dpo").is_err());
    assert!(s
        .erase_case("00000000-0000-4000-8000-000000000000", "r", "dpo")
        .is_err());
    assert!(s
        .erase_case(&provide_core::model::health::health_id(&case), "r", "dpo")
        .is_err());
    assert!(s.erasure_status(&case).unwrap().is_none());
    assert!(
        s.storage.doc_meta(&case).unwrap().is_some(),
        "nothing erased"
    );

    // the command line, beside the serving process (the embedded store)
    if server.data.database_url.is_some() {
        return;
    }
    let run = |args: &[&str]| {
        let out = std::process::Command::new(provide_tests::binaries::bin("provide-sync-server"))
            .arg("--data-dir")
            .arg(&server.data.dir)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, _, err) = run(&["erase", "--case", &case]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--reason"), "{err}");
    let (code, _, err) = run(&["erase", "status", "--case", &case, "--json"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("was not erased"), "{err}");
    let (code, _, err) = run(&["erase", "--case", &case, "--reason", "MoPI review R-7"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("1 device(s) are to confirm"), "{err}");
    let (code, out, err) = run(&["erase", "status", "--case", &case, "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["devices_to_confirm"][0], unit.store.device_id(), "{v}");
    assert_eq!(
        v["records"][0]["erased_by"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
    unit.sync().unwrap();
    let (_, out, _) = run(&["erase", "status", "--case", &case, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["devices_to_confirm"].as_array().map(Vec::len),
        Some(0),
        "{v}"
    );
    assert!(unit.holds(&shift_like));
}
