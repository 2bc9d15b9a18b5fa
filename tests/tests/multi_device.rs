//! Officer, IDVA and safeguarding devices syncing through a real server on loopback: offline
//! edits converge with identical conflicts everywhere, each role receives exactly its scope,
//! a case moved to another team leaves the first team's devices, and a quiet sync is one
//! small round trip.

use provide_core::model::Deployment;
use provide_core::store::CaseFilter;
use provide_core::Error;
use provide_tests::{note, sets, Device, TestServer};

fn note_texts(d: &mut Device, id: &str) -> Vec<String> {
    let mut t: Vec<String> = d
        .store
        .show_case(id)
        .unwrap()
        .record
        .notes
        .iter()
        .map(|n| n.text.clone())
        .collect();
    t.sort();
    t
}

#[test]
fn three_roles_editing_offline_converge_with_identical_conflicts() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let mut safeguarding = Device::enrol(&server, "sg.cal.fictional", "safeguarding", "west", "");

    let case = officer
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("victim.name", "Dana Fictional"),
                ("incident.reference", "WE-000123-FICT"),
            ]),
        )
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    safeguarding.sync().unwrap();
    assert!(idva.holds(&case) && safeguarding.holds(&case));

    // all three offline, editing the same fields and adding notes
    officer
        .store
        .set_case_fields(&case, &sets(&[("status", "closed")]))
        .unwrap();
    idva.store
        .set_case_fields(&case, &sets(&[("status", "handed_over")]))
        .unwrap();
    safeguarding
        .store
        .set_case_fields(&case, &sets(&[("status", "triaged")]))
        .unwrap();
    officer
        .store
        .add_case_item(&case, "notes", &note("officer note"))
        .unwrap();
    idva.store
        .add_case_item(&case, "notes", &note("idva note"))
        .unwrap();
    safeguarding
        .store
        .add_case_item(&case, "notes", &note("safeguarding note"))
        .unwrap();

    for d in [&mut officer, &mut idva, &mut safeguarding] {
        d.sync().unwrap();
    }
    for d in [&mut officer, &mut idva] {
        d.sync().unwrap();
    }

    let heads: Vec<_> = [&mut officer, &mut idva, &mut safeguarding]
        .into_iter()
        .map(|d| d.store.record_heads(&case).unwrap())
        .collect();
    assert_eq!(heads[0], heads[1]);
    assert_eq!(heads[1], heads[2]);
    let server_heads = server
        .service
        .storage
        .doc_meta(&case)
        .unwrap()
        .unwrap()
        .heads;
    let mut sh = server_heads.clone();
    sh.sort();
    let mut dh = heads[0].clone();
    dh.sort();
    assert_eq!(sh, dh, "the server holds the same document");

    let conflicts: Vec<_> = [&mut officer, &mut idva, &mut safeguarding]
        .into_iter()
        .map(|d| d.store.show_case(&case).unwrap().conflicts)
        .collect();
    assert_eq!(conflicts[0], conflicts[1]);
    assert_eq!(conflicts[1], conflicts[2]);
    let status = conflicts[0]
        .iter()
        .find(|c| c.path == "status")
        .expect("a status conflict");
    let mut who: Vec<_> = status.values.iter().map(|v| v.role.clone()).collect();
    who.sort();
    assert_eq!(who, ["idva", "officer", "safeguarding"]);
    let expected = ["idva note", "officer note", "safeguarding note"];
    for d in [&mut officer, &mut idva, &mut safeguarding] {
        assert_eq!(note_texts(d, &case), expected);
        assert_eq!(d.store.unsynced_count().unwrap(), 0);
    }

    // the IDVA resolves; everyone converges on one value
    idva.store
        .set_case_fields(&case, &sets(&[("status", "handed_over")]))
        .unwrap();
    for d in [&mut idva, &mut officer, &mut safeguarding] {
        d.sync().unwrap();
    }
    for d in [&mut officer, &mut idva, &mut safeguarding] {
        let view = d.store.show_case(&case).unwrap();
        assert!(view.conflicts.is_empty(), "{:?}", view.conflicts);
        assert_eq!(view.record.status.as_str(), "handed_over");
    }
}

#[test]
fn health_records_and_other_teams_stay_out_of_scope() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.dev.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.eve.fictional", "idva", "west", "t1");
    let mut idva_same_team = Device::enrol(&server, "idva.fay.fictional", "idva", "west", "t1");
    let mut idva_other_team = Device::enrol(&server, "idva.gus.fictional", "idva", "west", "t2");
    let mut officer_other_division =
        Device::enrol(&server, "pc.hal.fictional", "officer", "east", "t1");
    let mut safeguarding = Device::enrol(&server, "sg.ivy.fictional", "safeguarding", "west", "");
    let mut admin = Device::enrol(&server, "admin.jo.fictional", "admin", "", "");

    let case = idva
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Erin Fictional")]),
        )
        .unwrap();
    idva.store
        .add_health_note(&case, "seen at fictional GP surgery")
        .unwrap();
    let health = format!("{case}.health");
    let report = idva.sync().unwrap();
    assert_eq!(report.docs_sent, 2);
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    for d in [
        &mut officer,
        &mut idva_same_team,
        &mut idva_other_team,
        &mut officer_other_division,
        &mut safeguarding,
    ] {
        d.sync().unwrap();
    }
    assert!(officer.holds(&case));
    assert!(!officer.holds(&health), "health record reached an officer");
    assert!(idva_same_team.holds(&health));
    assert!(safeguarding.holds(&case));
    assert!(
        !safeguarding.holds(&health),
        "health record reached safeguarding"
    );
    assert!(!idva_other_team.holds(&case));
    assert!(!officer_other_division.holds(&case));
    admin.sync().unwrap();
    assert!(matches!(
        admin.store.list_cases(&CaseFilter::default()),
        Err(Error::Forbidden { .. })
    ));

    // every disclosure is in the server's audit log, and no disclosure to the wrong devices
    let disclosed = |d: &Device| {
        server
            .service
            .storage
            .audit(&provide_sync_server::storage::AuditFilter {
                entries: provide_core::report::CheckedAuditQuery {
                    device: Some(d.store.device_id().to_string()),
                    action: Some("disclose".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|r| r.record)
            .collect::<Vec<_>>()
    };
    assert!(disclosed(&officer).contains(&case));
    assert!(!disclosed(&officer).contains(&health));
    assert!(disclosed(&idva_same_team).contains(&health));
    assert!(disclosed(&idva_other_team).is_empty());
    assert!(disclosed(&admin).is_empty());
}

#[test]
fn a_triaged_case_reaches_its_team_and_leaves_it_when_moved() {
    let server = TestServer::start();
    let mut safeguarding = Device::enrol(&server, "sg.kit.fictional", "safeguarding", "west", "");
    let mut officer_t1 = Device::enrol(&server, "pc.lou.fictional", "officer", "west", "t1");
    let mut idva_t1 = Device::enrol(&server, "idva.max.fictional", "idva", "west", "t1");
    let mut officer_t2 = Device::enrol(&server, "pc.ned.fictional", "officer", "west", "t2");
    let mut idva_t2 = Device::enrol(&server, "idva.ora.fictional", "idva", "west", "t2");

    let case = safeguarding
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("team", "t1"), ("victim.name", "Fern Fictional")]),
        )
        .unwrap();
    safeguarding.sync().unwrap();
    officer_t1.sync().unwrap();
    officer_t2.sync().unwrap();
    idva_t1.sync().unwrap();
    assert!(officer_t1.holds(&case));
    assert!(!officer_t2.holds(&case));
    let listed = officer_t1.store.list_cases(&CaseFilter::default()).unwrap();
    assert_eq!(listed[0].status, "triaged");

    idva_t1
        .store
        .add_health_note(&case, "fictional health note")
        .unwrap();
    idva_t1.sync().unwrap();

    // an officer may not move a case out of their own team; the refused edit stays unsynced
    let own = officer_t1
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Gail Fictional")]),
        )
        .unwrap();
    officer_t1.sync().unwrap();
    // (the app refuses it; the server refuses a crafted one too: tests/attack_writes.rs)
    assert!(matches!(
        officer_t1
            .store
            .set_case_fields(&own, &sets(&[("team", "t9")])),
        Err(Error::Forbidden { .. })
    ));
    assert!(officer_t1.store.unsynced_ids().unwrap().is_empty());

    // the officer adds a note offline while safeguarding reassigns the case to team 2
    officer_t1
        .store
        .add_case_item(&case, "notes", &note("visited, fictional"))
        .unwrap();
    safeguarding.sync().unwrap();
    safeguarding
        .store
        .set_case_fields(&case, &sets(&[("team", "t2")]))
        .unwrap();
    safeguarding.sync().unwrap();
    // the case leaves team 1, health record included
    let r = idva_t1.sync().unwrap();
    assert_eq!(r.docs_purged, 2, "{r:?}");
    assert!(!idva_t1.holds(&case));
    assert!(!idva_t1.holds(&format!("{case}.health")));
    // the officer may no longer write to the case: the note is kept apart on the server for
    // review (evidence is neither lost nor written where the officer may not write), and the
    // case leaves the officer's device
    let r = officer_t1.sync().unwrap();
    assert_eq!(r.docs_purged, 1, "{r:?}");
    assert!(!officer_t1.holds(&case));
    let held = server.service.storage.held_for_review().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].record, case);
    // team 2 receives it, without the held note; the health record only to team 2's IDVA
    officer_t2.sync().unwrap();
    idva_t2.sync().unwrap();
    assert!(officer_t2.holds(&case));
    assert!(note_texts(&mut officer_t2, &case).is_empty());
    assert!(idva_t2.holds(&format!("{case}.health")));
    assert!(!officer_t2.holds(&format!("{case}.health")));
}

#[test]
fn a_quiet_sync_is_one_small_round_trip_and_edits_one_round_trip() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.pip.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.quin.fictional", "idva", "west", "t1");
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            officer
                .store
                .create_case(
                    Deployment::Consultation,
                    &sets(&[("victim.name", &format!("Fictional Person {i}"))]),
                )
                .unwrap(),
        );
    }
    let first = officer.sync().unwrap();
    assert_eq!(first.docs_sent, 50);
    idva.sync().unwrap();
    officer.sync().unwrap(); // carries the audit entries of the first sync
    idva.sync().unwrap();
    let idle = officer.sync().unwrap();
    assert_eq!(idle.round_trips, 1);
    assert_eq!(idle.docs_sent + idle.docs_received, 0);
    assert!(idle.bytes_up + idle.bytes_down < 200, "{idle:?}");

    officer
        .store
        .set_case_fields(&ids[7], &sets(&[("status", "closed")]))
        .unwrap();
    let edit = officer.sync().unwrap();
    assert_eq!((edit.round_trips, edit.docs_sent), (1, 1));
    let got = idva.sync().unwrap();
    assert_eq!((got.round_trips, got.docs_received), (1, 1));
}

/// Edits made on both sides of a sync merge in one exchange: the answer carries the other
/// side's changes, and the device counts them as held by the server instead of sending them
/// back on a second round trip.
#[test]
fn concurrent_edits_merge_in_one_round_trip_without_sending_anything_back() {
    let server = TestServer::start();
    let mut idva = Device::enrol(&server, "idva.rowe.fictional", "idva", "west", "t1");
    let mut officer = Device::enrol(&server, "pc.rowe.fictional", "officer", "west", "t1");
    let ids: Vec<String> = (0..3)
        .map(|i| {
            idva.store
                .create_case(
                    Deployment::PostIncident,
                    &sets(&[("victim.name", &format!("Fictional Person {i}"))]),
                )
                .unwrap()
        })
        .collect();
    idva.sync().unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap(); // carries the first sync's audit entries
    for id in &ids {
        idva.store
            .set_case_fields(id, &sets(&[("status", "closed")]))
            .unwrap();
        officer
            .store
            .set_case_fields(id, &sets(&[("victim.safe_contact.safe_times", "Mornings")]))
            .unwrap();
    }
    officer.sync().unwrap();
    let merge = idva.sync().unwrap();
    assert_eq!(merge.round_trips, 1, "{merge:?}");
    assert_eq!((merge.docs_sent, merge.docs_received), (3, 3), "{merge:?}");
    assert_eq!(merge.unsynced_left, 0);
    let after = idva.sync().unwrap();
    assert_eq!(after.docs_sent, 0, "nothing goes back: {after:?}");
    officer.sync().unwrap();
    for id in &ids {
        let mut mine = idva.store.record_heads(id).unwrap();
        let mut theirs = officer.store.record_heads(id).unwrap();
        mine.sort();
        theirs.sort();
        assert_eq!(mine, theirs);
        assert_eq!(mine.len(), 2, "both edits are heads");
    }
}

#[test]
fn large_syncs_go_in_bounded_pages_and_chunks() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.rae.fictional", "officer", "west", "t1");
    let mut fresh = Device::enrol(&server, "sg.sol.fictional", "safeguarding", "west", "");
    for i in 0..120 {
        officer
            .store
            .create_case(
                Deployment::PostIncident,
                &sets(&[("victim.name", &format!("Fictional Person {i}"))]),
            )
            .unwrap();
    }
    let opts = provide_core::sync::SyncOptions {
        max_upload_bytes: 8 * 1024,
        max_response_bytes: 16 * 1024,
        ..Default::default()
    };
    let mut t = provide_core::sync::transport::HttpTransport::new(&server.url, None).unwrap();
    let up = officer.sync_over(&mut t, &opts).unwrap();
    assert_eq!(up.docs_sent, 120);
    assert!(up.round_trips > 3, "{up:?}");
    let down = fresh.sync_over(&mut t, &opts).unwrap();
    assert_eq!(down.docs_received, 120);
    assert!(down.round_trips > 3, "{down:?}");
    assert_eq!(
        fresh
            .store
            .list_cases(&CaseFilter::default())
            .unwrap()
            .len(),
        120
    );
}

#[test]
fn a_device_whose_base_the_server_lacks_sends_the_whole_document() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.tam.fictional", "officer", "west", "t1");
    let case = officer
        .store
        .create_case(Deployment::Live, &sets(&[("victim.name", "Uma Fictional")]))
        .unwrap();
    // the device believes the server acknowledged a change the server never had
    // (a server restored from an older backup)
    officer
        .store
        .set_case_fields(&case, &sets(&[("status", "active")]))
        .unwrap();
    officer
        .raw_db()
        .execute(
            "UPDATE records SET acked_heads = ?1 WHERE id = ?2",
            [hex::encode([7u8; 32]), case.clone()],
        )
        .unwrap();
    let r = officer.sync().unwrap();
    assert_eq!(r.round_trips, 2, "{r:?}");
    assert_eq!(r.docs_sent, 1);
    let meta = server.service.storage.doc_meta(&case).unwrap().unwrap();
    let mut a = meta.heads;
    a.sort();
    let mut b = officer.store.record_heads(&case).unwrap();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn enrolment_and_sync_over_tls() {
    let server = TestServer::start_tls();
    assert!(server.url.starts_with("https://"));
    let mut officer = Device::enrol(&server, "pc.val.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.wyn.fictional", "idva", "west", "t1");
    let case = officer
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Xena Fictional")]),
        )
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    assert!(idva.holds(&case));
    // a device that does not trust the server's CA refuses it
    let mut untrusting =
        provide_core::sync::transport::HttpTransport::new(&server.url, None).unwrap();
    let err = officer
        .sync_over(&mut untrusting, &Default::default())
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedServer(_)), "{err}");
    assert_eq!(err.code(), "untrusted_server");
}

#[test]
fn a_new_patrol_device_never_pages_through_other_teams_documents() {
    // pages of five documents: walking the other team's twenty would take several round trips
    let server = TestServer::start_with(provide_sync_server::service::Config {
        page_docs: 5,
        ..Default::default()
    });
    let mut other = Device::enrol(&server, "pc.far.fictional", "officer", "west", "t2");
    for i in 0..20 {
        other
            .store
            .create_case(
                Deployment::PostIncident,
                &sets(&[("victim.name", &format!("Fern Fictional {i}"))]),
            )
            .unwrap();
    }
    other.sync().unwrap();
    let mut mine = Device::enrol(&server, "pc.near.fictional", "officer", "west", "t1");
    let ours = mine
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Gale Fictional")]),
        )
        .unwrap();
    mine.sync().unwrap();

    let mut fresh = Device::enrol(&server, "idva.new.fictional", "idva", "west", "t1");
    let report = fresh.sync().unwrap();
    assert_eq!(report.docs_received, 1);
    assert_eq!(report.round_trips, 1, "{report:?}");
    assert!(fresh.holds(&ours));
    // the safeguarding unit still pages through the whole division
    let mut unit = Device::enrol(&server, "sg.all.fictional", "safeguarding", "west", "");
    let report = unit.sync().unwrap();
    assert_eq!(report.docs_received, 21);
    assert!(report.round_trips > 1, "{report:?}");
}
