//! A record that leaves a device leaves nothing behind in any file (issue 15, item 3): after
//! the purge, no canary of the case (victim name, address, phone, a note's text, including a
//! note written offline just before) is found under the device's data directory, scanned raw
//! and with the database and WAL decrypted page by page with the store's data key, free pages
//! and stale frames included, while the server and the safeguarding device still hold it
//! whole. The scanner is shown to see first: the same canaries are found before the purge,
//! and a case the device keeps is still found after. Runs on both server backends.

use provide_core::audit::Action;
use provide_core::model::Deployment;
use provide_tests::forensics;
use provide_tests::{note, sets, Device, TestServer};

const VICTIM: &str = "Wrenna Purgeworth";
const ADDRESS: &str = "3 Forgetme Close, Fictionton FT4 2PX";
const PHONE: &str = "07700 900882";
const NOTE: &str = "Purgenote: the dog is called Biscuit and barks at strangers";
const OFFLINE_NOTE: &str = "Purgenote offline: left by the back door at half past";
const KEPT: &str = "Keeperton Stayfield";

#[test]
fn a_case_handed_to_another_team_leaves_no_page_of_itself_on_the_first_teams_device() {
    let server = TestServer::start();
    let mut safeguarding = Device::enrol(&server, "sg.pia.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.rue.fictional", "officer", "west", "t1");

    let case = safeguarding
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("team", "t1"),
                ("victim.name", VICTIM),
                ("victim.address", ADDRESS),
                ("victim.phone", PHONE),
            ]),
        )
        .unwrap();
    let kept = safeguarding
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("team", "t1"), ("victim.name", KEPT)]),
        )
        .unwrap();
    safeguarding.sync().unwrap();
    officer.sync().unwrap();
    officer
        .store
        .add_case_item(&case, "notes", &note(NOTE))
        .unwrap();
    officer.sync().unwrap();
    // more edits, so older versions of the record sit in free pages and WAL frames
    for i in 0..20 {
        officer
            .store
            .set_case_fields(
                &case,
                &sets(&[("victim.phone", &format!("{PHONE} ext {i}"))]),
            )
            .unwrap();
    }
    officer
        .store
        .set_case_fields(&case, &sets(&[("victim.phone", PHONE)]))
        .unwrap();
    officer.sync().unwrap();
    // and one note written offline, not yet sent, when the case is handed over
    officer
        .store
        .add_case_item(&case, "notes", &note(OFFLINE_NOTE))
        .unwrap();

    let key = officer.data_key();
    let dir = officer.dir.path().to_path_buf();
    let db = std::fs::read(dir.join("provide.db")).unwrap();
    assert!(
        forensics::decrypts_as_sqlite(&db, &key),
        "the scanner reads the database as SQLCipher does"
    );
    for canary in [VICTIM, ADDRESS, PHONE, NOTE, OFFLINE_NOTE, KEPT] {
        let found = forensics::find(&dir, &key, canary);
        assert!(
            !found.is_empty(),
            "before the purge the scanner finds `{canary}` decrypted"
        );
        assert!(
            found.iter().all(|f| f.contains("decrypted")),
            "plaintext on disk: {found:?}"
        );
    }

    // the safeguarding unit hands the case to team 2
    safeguarding
        .store
        .set_case_fields(&case, &sets(&[("team", "t2")]))
        .unwrap();
    safeguarding.sync().unwrap();
    let r = officer.sync().unwrap();
    assert_eq!(r.docs_purged, 1, "{r:?}");
    assert!(!officer.holds(&case));
    assert!(officer.holds(&kept));

    // (the record's id stays: the device's audit log names what was purged)
    let after = |officer: &Device| {
        for canary in [VICTIM, ADDRESS, PHONE, NOTE, OFFLINE_NOTE] {
            let found = forensics::find(officer.dir.path(), &key, canary);
            assert!(found.is_empty(), "`{canary}` is still in {found:?}");
        }
        let kept_found = forensics::find(officer.dir.path(), &key, KEPT);
        assert!(
            !kept_found.is_empty(),
            "the case the device keeps is still readable"
        );
    };
    after(&officer);
    // the store gives free pages back (later writes may free and zero a few more)
    let mode: i64 = officer
        .raw_db()
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "incremental vacuum");

    // the device's audit log records the purge, by id and reason only, and still verifies
    let entries = officer.store.audit_entries().unwrap();
    let purge = entries
        .iter()
        .find(|e| e.action == Action::Erase.as_str() && e.record == case)
        .expect("the purge is audited");
    assert_eq!(purge.detail, "left this device's scope");
    officer.store.audit_verify().unwrap();

    // reopened (the app restarting), still nothing
    officer.reopen();
    after(&officer);

    // the safeguarding device and the server still hold the case whole, the offline note
    // kept for review on the server
    safeguarding.sync().unwrap();
    let whole = safeguarding.store.show_case(&case).unwrap().record;
    assert_eq!(whole.victim.name, VICTIM);
    assert_eq!(whole.victim.phone, PHONE);
    assert!(whole.notes.iter().any(|n| n.text == NOTE));
    let held = server.service.storage.held_for_review().unwrap();
    assert!(
        held.iter().any(|h| h.record == case),
        "the offline note is kept for review"
    );
}
