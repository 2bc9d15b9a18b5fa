//! Rectification without losing anybody's edits (issue 16, item 4): a case's address, recorded
//! wrongly, is struck on the server while an officer and an IDVA edit the case offline.
//! Afterwards both edits are on every device, the struck address is in no file of any device
//! or of the server (raw or decrypted) and in no `case history`, the IDVA's offline write of
//! the same wrong address is dropped and reported, and the surviving history is attributed to
//! the rectifier and to the edits' own authors. Runs on both server backends.

use provide_core::model::{Deployment, Role};
use provide_tests::forensics::found_on_server;
use provide_tests::{forensics, note, sets, Device, TestServer};

const WRONG: &str = "13 Mistaken Terrace, Fictionton FT3 9WR";
const OLD: &str = "4 Earlier Lane, Fictionton";
const PHONE: &str = "07700 900456";
const OFFICER_NOTE: &str = "Rectnote officer: neighbour saw the car at nine";
const IDVA_NOTE: &str = "Rectnote idva: prefers contact after school run";

fn notes(d: &mut Device, case: &str) -> Vec<String> {
    d.store
        .show_case(case)
        .unwrap()
        .record
        .notes
        .iter()
        .map(|n| n.text.clone())
        .collect()
}

#[test]
fn a_struck_address_goes_everywhere_and_offline_edits_survive_by_their_authors() {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.rae.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.rex.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.ria.fictional", "idva", "west", "t1");
    let case = unit
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("team", "t1"),
                ("victim.name", "Rowan Rectifiable"),
                ("victim.address", OLD),
            ]),
        )
        .unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    // the officer records the wrong address, and it reaches the server and the unit
    officer
        .store
        .set_case_fields(&case, &sets(&[("victim.address", WRONG)]))
        .unwrap();
    officer.sync().unwrap();
    unit.sync().unwrap();

    // both edit offline: the officer a phone number and a note; the IDVA a note, and the same
    // wrong address copied from a paper referral
    officer
        .store
        .set_case_fields(&case, &sets(&[("victim.phone", PHONE)]))
        .unwrap();
    officer
        .store
        .add_case_item(&case, "notes", &note(OFFICER_NOTE))
        .unwrap();
    idva.store
        .add_case_item(&case, "notes", &note(IDVA_NOTE))
        .unwrap();
    idva.store
        .set_case_fields(&case, &sets(&[("victim.address", WRONG)]))
        .unwrap();

    // a rescue bundle made now still holds the wrong address
    let mut bundle = vec![];
    officer
        .store
        .export_bundle(
            Some(&case),
            false,
            "bundle passphrase 42",
            provide_core::crypto::KdfParams::FLOOR,
            |b| {
                bundle = b.to_vec();
                Ok(())
            },
        )
        .unwrap();

    // a device enrolled now that has not synced yet (it will take the bundle below)
    let mut other = Device::enrol(&server, "pc.ray.fictional", "officer", "west", "t1");

    // the scanner sees it first: the wrong address is in the devices' stores (decrypted)
    for d in [&officer, &idva] {
        assert!(!forensics::find(d.dir.path(), &d.data_key(), WRONG).is_empty());
    }
    let before = server.service.storage.load_doc(&case).unwrap().unwrap();
    let text = String::from_utf8_lossy(&before.chunks.concat()).to_string();
    assert!(text.contains("Mistaken"), "the server held it, sealed");

    // meanwhile the address is rectified on the server
    let done = server
        .service
        .rectify_case(
            &case,
            "victim.address",
            "DPA s.46 request R-11",
            "sg.rae.fictional",
            Role::Safeguarding,
        )
        .unwrap();
    assert_eq!((done.epoch, done.struck), (1, 1));
    // nothing readable of the struck value on the server, old history included
    for canary in [WRONG, OLD] {
        let found = found_on_server(&server, canary);
        assert!(
            found.is_empty(),
            "`{canary}` still on the server: {found:?}"
        );
    }
    // an officer's device may not rectify
    assert!(server
        .service
        .rectify_case(&case, "victim.name", "x", "pc.rex.fictional", Role::Officer)
        .is_err());

    // the devices come back: each replaces its copy and sends what it kept
    let r = officer.sync().unwrap();
    assert_eq!(r.rectified.len(), 1, "{r:?}");
    assert!(
        r.rectified[0].contains("2 change(s) made here were kept"),
        "{r:?}"
    );
    let r = idva.sync().unwrap();
    assert_eq!(r.rectified.len(), 1, "{r:?}");
    assert!(
        r.rectified[0].contains("1 change(s) that wrote the struck value again were dropped"),
        "{r:?}"
    );
    for d in [&mut unit, &mut officer, &mut idva] {
        d.sync().unwrap();
    }
    for d in [&mut unit, &mut officer, &mut idva] {
        d.sync().unwrap();
        let view = d.store.show_case(&case).unwrap().record;
        assert_eq!(view.victim.address, "", "{}", d.store.device_id());
        assert_eq!(view.victim.phone, PHONE);
        let mut n = notes(d, &case);
        n.sort();
        assert_eq!(n, vec![IDVA_NOTE.to_string(), OFFICER_NOTE.to_string()]);
        // the struck value is in no history and no file of the device
        let history = d.store.case_history(&case, None).unwrap();
        assert!(history
            .iter()
            .all(|h| !h.value.to_string().contains("Mistaken")));
        let key = d.data_key();
        for canary in [WRONG, OLD] {
            let found = forensics::find(d.dir.path(), &key, canary);
            assert!(found.is_empty(), "`{canary}` on a device: {found:?}");
        }
        // attributions: the root to the rectifier, the edits to their authors, verified
        let by = |path: &str| {
            history
                .iter()
                .filter(|h| h.path == path || h.path.starts_with(&format!("{path}.")))
                .map(|h| (h.user.clone(), h.verified))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            by("victim.phone"),
            vec![("pc.rex.fictional".to_string(), true)]
        );
        assert!(by("victim.name")
            .iter()
            .all(|(u, v)| u == "sg.rae.fictional" && *v));
        let note_authors: Vec<String> = by("notes").into_iter().map(|(u, _)| u).collect();
        assert!(note_authors.contains(&"pc.rex.fictional".to_string()));
        assert!(note_authors.contains(&"idva.ria.fictional".to_string()));
    }
    // the bundle made before: refused by a device that holds the corrected record...
    let report = officer
        .store
        .import_bundle(&bundle, "bundle passphrase 42")
        .unwrap();
    assert_eq!(report.refused_rectified, vec![case.clone()]);
    // ...and a device that never held it takes it, is refused by the server, and is given
    // the corrected record in its place (nothing of the bundle's copy is its own to replay)
    let report = other
        .store
        .import_bundle(&bundle, "bundle passphrase 42")
        .unwrap();
    assert!(report.refused_rectified.is_empty());
    assert!(!other
        .store
        .show_case(&case)
        .unwrap()
        .record
        .victim
        .address
        .is_empty());
    let r = other.sync().unwrap();
    assert_eq!(r.rectified.len(), 1, "{r:?}");
    other.sync().unwrap();
    assert_eq!(
        other.store.show_case(&case).unwrap().record.victim.address,
        ""
    );
    let found = forensics::find(other.dir.path(), &other.data_key(), WRONG);
    assert!(found.is_empty(), "the bundle's copy is gone: {found:?}");

    let server_rec = server.service.storage.load_doc(&case).unwrap().unwrap();
    assert_eq!(server_rec.meta.epoch, 1);
    // the audit keeps that it happened, of which path, never the value
    let audit = server.audit_of(&case);
    let entry = audit.iter().find(|e| e.action == "rectify").unwrap();
    assert!(entry.detail.contains("victim.address"));
    assert!(!entry.detail.contains("Mistaken"));
    for canary in [WRONG, OLD] {
        assert!(found_on_server(&server, canary).is_empty());
    }
}
