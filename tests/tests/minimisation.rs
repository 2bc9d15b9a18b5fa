//! A lost device exposes only today's work (issue 15, items 1 and 2), on both server backends:
//! a case handed over or closed leaves the patrol team's devices (its health record with it)
//! once the division's grace period has passed, and nothing of it remains in any file there;
//! the server and the safeguarding unit still hold it whole; reopening brings it back; the
//! safeguarding unit keeps handed-over cases and lets closed ones go after the same grace
//! period; the policy is set with `policy set`, shown with `policy show --json`, and devices
//! learn it on sync.

use std::process::Output;

use provide_core::audit::Action;
use provide_core::model::Deployment;
use provide_tests::binaries::admin;
use provide_tests::forensics;
use provide_tests::{note, sets, Device, TestServer};
use serde_json::Value;

const VICTIM: &str = "Maribel Shortstay";
const ADDRESS: &str = "9 Transient Walk, Fictionton FT7 3GR";
const PHONE: &str = "07700 900613";
const NOTE: &str = "Minnote: the neighbour at number 11 holds a spare phone";
const HEALTH_NOTE: &str = "Minhealth: sees the practice nurse on Thursdays";
const LATE_NOTE: &str = "Minnote late: written in the car after the hand-over";

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn set_grace(server: &TestServer, hours: &str) {
    ok(admin(
        server,
        &[
            "policy",
            "set",
            "--division",
            "west",
            "--handover-grace-hours",
            hours,
        ],
    ));
}

/// Nothing of the case under the device's directory, raw or decrypted page by page.
fn assert_gone(d: &Device, canaries: &[&str]) {
    let key = d.data_key();
    for canary in canaries {
        let found = forensics::find(d.dir.path(), &key, canary);
        assert!(found.is_empty(), "`{canary}` is still in {found:?}");
    }
}

/// A sync stopped after one exchange carrying one record (the oldest edited case first).
fn one_exchange_of_one_record() -> provide_core::sync::SyncOptions {
    provide_core::sync::SyncOptions {
        max_upload_bytes: 1,
        max_round_trips: 1,
        ..Default::default()
    }
}

struct Team {
    server: TestServer,
    unit: Device,
    officer: Device,
    idva: Device,
    case: String,
}

/// A case of team 1 with a victim, a police note and a health note, on every device.
fn team() -> Team {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.ida.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.ott.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.ivy.fictional", "idva", "west", "t1");
    let case = unit
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("team", "t1"),
                ("status", "active"),
                ("victim.name", VICTIM),
                ("victim.address", ADDRESS),
                ("victim.phone", PHONE),
            ]),
        )
        .unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    officer
        .store
        .add_case_item(&case, "notes", &note(NOTE))
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    idva.store.add_health_note(&case, HEALTH_NOTE).unwrap();
    idva.sync().unwrap();
    unit.sync().unwrap();
    assert!(officer.holds(&case) && idva.holds(&case));
    assert!(idva.holds(&format!("{case}.health")));
    Team {
        server,
        unit,
        officer,
        idva,
        case,
    }
}

fn set_status(unit: &mut Device, case: &str, status: &str) {
    unit.sync().unwrap();
    unit.store
        .set_case_fields(case, &sets(&[("status", status)]))
        .unwrap();
    unit.sync().unwrap();
}

#[test]
fn a_handed_over_case_leaves_the_team_after_the_grace_period_and_nothing_of_it_stays() {
    let Team {
        server,
        mut unit,
        mut officer,
        mut idva,
        case,
    } = team();
    let health = format!("{case}.health");
    // handed over under the default policy: still on the team's devices, which now know it
    set_status(&mut unit, &case, "handed_over");
    officer.sync().unwrap();
    idva.sync().unwrap();
    assert!(officer.holds(&case));
    assert!(idva.holds(&health));
    assert_eq!(officer.store.retention().unwrap().unwrap().grace_hours, 72);

    // the division's grace period is set to 0: on their next sync the case leaves
    set_grace(&server, "0");
    let r = officer.sync().unwrap();
    assert_eq!(r.docs_purged, 1, "{r:?}");
    let r = idva.sync().unwrap();
    assert_eq!(r.docs_purged, 2, "{r:?}");
    assert!(!officer.holds(&case));
    assert!(!idva.holds(&case) && !idva.holds(&health));
    assert_eq!(idva.store.retention().unwrap().unwrap().grace_hours, 0);
    let all = [VICTIM, ADDRESS, PHONE, NOTE, HEALTH_NOTE];
    assert_gone(&officer, &all);
    assert_gone(&idva, &all);
    // the device's audit names the purge, never its content
    assert!(officer
        .store
        .audit_entries()
        .unwrap()
        .iter()
        .any(|e| e.action == Action::Erase.as_str() && e.record == case));
    // and the server says which device purged which record
    let mut filter = provide_sync_server::storage::AuditFilter::default();
    filter.entries.action = Some("purge".into());
    filter.entries.record = Some(case.clone());
    let purges = server.service.storage.audit(&filter).unwrap();
    assert!(
        purges
            .iter()
            .any(|p| p.device == officer.store.device_id()
                && p.detail.contains("past the grace period")),
        "{purges:?}"
    );

    // and the device's own log, which reaches the server with its next sync, says when it
    // purged it: the server holds which device purged which record and when
    officer.sync().unwrap();
    let uploaded = server
        .service
        .storage
        .device_audit(officer.store.device_id())
        .unwrap();
    assert!(
        uploaded
            .iter()
            .any(|e| e.action == Action::Erase.as_str() && e.record == case && !e.at.is_empty()),
        "the purge is in the device's log on the server"
    );

    // the safeguarding unit (which keeps handed-over cases) and the server hold it whole
    unit.sync().unwrap();
    assert!(unit.holds(&case));
    let whole = unit.store.show_case(&case).unwrap().record;
    assert_eq!(whole.victim.name, VICTIM);
    assert!(whole.notes.iter().any(|n| n.text == NOTE));
    assert!(server.service.storage.load_doc(&health).unwrap().is_some());

    // reopened for the team: it comes back to the team's devices, health record and all
    set_status(&mut unit, &case, "active");
    officer.sync().unwrap();
    idva.sync().unwrap();
    assert_eq!(
        officer.store.show_case(&case).unwrap().record.victim.phone,
        PHONE
    );
    assert!(idva
        .store
        .show_health(&health.replace(".health", ""))
        .unwrap()
        .unwrap()
        .record
        .notes
        .iter()
        .any(|n| n.text == HEALTH_NOTE));
}

#[test]
fn an_edit_made_offline_reaches_the_server_before_the_case_leaves_the_device() {
    let Team {
        server: _server,
        mut unit,
        mut officer,
        idva: _idva,
        case,
    } = team();
    set_grace(&_server, "0");
    // offline, the officer writes a note while the unit closes the case
    officer
        .store
        .add_case_item(&case, "notes", &note(LATE_NOTE))
        .unwrap();
    set_status(&mut unit, &case, "closed");
    // the note goes up, is acknowledged, and only then does the case leave
    let r = officer.sync().unwrap();
    assert_eq!(r.docs_purged, 1, "{r:?}");
    assert!(!officer.holds(&case));
    assert_gone(&officer, &[VICTIM, LATE_NOTE]);
    // the note is evidence: it is on the server, and with the unit until its grace ends
    let stored = _server.service.storage.load_doc(&case).unwrap().unwrap();
    let rec = provide_core::record::RecordDoc::load_unmigrated(
        &case,
        provide_core::model::RecordKind::Case,
        &stored.chunks,
    )
    .unwrap();
    assert!(rec
        .case()
        .unwrap()
        .notes
        .iter()
        .any(|n| n.text == LATE_NOTE));
}

#[test]
fn a_record_with_edits_the_server_has_not_acknowledged_stays_until_it_has_them() {
    let Team {
        server,
        mut unit,
        officer: _o,
        mut idva,
        case,
    } = team();
    let health = format!("{case}.health");
    set_grace(&server, "0");
    // offline, the IDVA edits another case of the team and adds to this case's health record;
    // meanwhile the case is handed over
    let other = idva
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Other Fictional")]),
        )
        .unwrap();
    idva.store.add_health_note(&case, LATE_NOTE).unwrap();
    set_status(&mut unit, &case, "handed_over");
    // one exchange carrying one record (the other case: cases go first): its answer tells
    // the device to purge the handed-over case and its health record
    let mut link = provide_core::sync::transport::HttpTransport::new(&server.url, None).unwrap();
    let one_step = one_exchange_of_one_record();
    assert!(
        idva.sync_over(&mut link, &one_step).is_err(),
        "stopped after one exchange"
    );
    assert!(idva.holds(&other));
    assert!(!idva.holds(&case), "the case, fully acknowledged, left");
    assert!(
        idva.holds(&health),
        "the health record holding an unacknowledged note stayed"
    );
    assert!(idva.store.unsynced_ids().unwrap().contains(&health));
    // the next sync hands the note in; acknowledged, the record leaves
    let r = idva.sync().unwrap();
    assert!(r.docs_sent >= 1 && r.docs_purged == 1, "{r:?}");
    assert!(!idva.holds(&health));
    assert_gone(&idva, &[VICTIM, HEALTH_NOTE, LATE_NOTE]);
    let stored = server.service.storage.load_doc(&health).unwrap().unwrap();
    let rec = provide_core::record::RecordDoc::load_unmigrated(
        &health,
        provide_core::model::RecordKind::Health,
        &stored.chunks,
    )
    .unwrap();
    assert!(rec
        .health()
        .unwrap()
        .notes
        .iter()
        .any(|n| n.text == LATE_NOTE));
}

/// The attack of a patrol device that wants to keep a case (or bring it back): it sets the
/// case active again, or flips it between handed over and closed to restart the grace period.
/// Its writes are taken (and show as the record's status and conflicts), but where the case
/// stands moves only by the unit's writes: the case leaves the team all the same.
#[test]
fn a_patrol_device_cannot_keep_or_bring_back_a_case_by_its_status() {
    let Team {
        server,
        mut unit,
        mut officer,
        mut idva,
        case,
    } = team();
    set_status(&mut unit, &case, "handed_over");
    officer.sync().unwrap();
    idva.sync().unwrap();
    let meta = || server.service.storage.doc_meta(&case).unwrap().unwrap();
    let left_at = meta().standing;
    assert_eq!(left_at.status.unwrap().as_str(), "handed_over");
    // flipping between handed over and closed moves nothing (nor restarts the grace period)
    for status in ["closed", "handed_over", "closed"] {
        officer
            .store
            .set_case_fields(&case, &sets(&[("status", status)]))
            .unwrap();
        officer.sync().unwrap();
        assert_eq!(meta().standing, left_at, "{status}");
    }
    // setting it active again does not bring it back to open work
    officer
        .store
        .set_case_fields(&case, &sets(&[("status", "active")]))
        .unwrap();
    set_grace(&server, "0");
    let r = officer.sync().unwrap();
    assert_eq!((r.docs_sent, r.docs_purged), (1, 1), "{r:?}");
    let r = idva.sync().unwrap();
    assert_eq!(r.docs_purged, 2, "{r:?}");
    assert!(!officer.holds(&case) && !idva.holds(&case));
    assert_gone(&officer, &[VICTIM, NOTE]);
    // the record took the write, and the unit, which keeps the case, sees it
    unit.sync().unwrap();
    assert_eq!(
        unit.store.show_case(&case).unwrap().record.status.as_str(),
        "active"
    );
    assert_eq!(meta().standing, left_at);
    // a note of the unit's does not reopen it by the way
    unit.store
        .add_case_item(&case, "notes", &note("reviewed by the unit"))
        .unwrap();
    unit.sync().unwrap();
    assert_eq!(meta().standing, left_at);
    officer.sync().unwrap();
    assert!(!officer.holds(&case));
    // the unit writing its status does bring it back to the team (the record reads "active"
    // already, from the patrol device's write: the unit sets it as it wants it)
    set_status(&mut unit, &case, "triaged");
    set_status(&mut unit, &case, "active");
    officer.sync().unwrap();
    assert!(officer.holds(&case));
}

/// Issue 15 review, R4: a case moved to another team while the officer held an edit back
/// (the purge reached the device before the edit left it). The edit is evidence: handed in
/// later, it is kept for review (never refused as out of scope), and the case then leaves the
/// device as it should.
#[test]
fn an_edit_held_back_when_the_case_moved_away_is_kept_for_review_and_the_case_leaves() {
    let Team {
        server,
        mut unit,
        mut officer,
        idva: _i,
        case,
    } = team();
    // offline: an edit to another case first (it goes up first), then a note to this one
    let other = officer
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Other Fictional")]),
        )
        .unwrap();
    officer
        .store
        .add_case_item(&case, "notes", &note(LATE_NOTE))
        .unwrap();
    unit.sync().unwrap();
    unit.store
        .set_case_fields(&case, &sets(&[("team", "t2")]))
        .unwrap();
    unit.sync().unwrap();
    // one exchange carrying the other case only: its answer tells the device to let the
    // moved case go, which it may not yet (the note is not acknowledged)
    let mut link = provide_core::sync::transport::HttpTransport::new(&server.url, None).unwrap();
    let one_step = one_exchange_of_one_record();
    assert!(officer.sync_over(&mut link, &one_step).is_err());
    assert!(officer.holds(&other));
    assert!(officer.holds(&case), "the held-back note keeps the case");
    // the next sync confirms that exchange, then hands the note in: kept for review, and
    // the case leaves
    let r = officer.sync().unwrap();
    assert!(r.refused.is_empty(), "{r:?}");
    assert_eq!(r.docs_purged, 1, "{r:?}");
    assert!(!officer.holds(&case));
    assert_gone(&officer, &[VICTIM, LATE_NOTE]);
    let held = server.service.storage.held_for_review().unwrap();
    assert!(held.iter().any(|h| h.record == case), "{held:?}");
    assert_eq!(officer.store.unsynced_count().unwrap(), 0);
}

#[test]
fn the_safeguarding_unit_keeps_handed_over_cases_and_lets_closed_ones_go() {
    let Team {
        server,
        mut unit,
        officer: _o,
        idva: _i,
        case,
    } = team();
    set_grace(&server, "0");
    set_status(&mut unit, &case, "handed_over");
    unit.sync().unwrap();
    assert!(unit.holds(&case), "handed over to the unit: kept");
    // closed with a grace period of 0: it leaves in the very exchange that hands the change in
    unit.store
        .set_case_fields(&case, &sets(&[("status", "closed")]))
        .unwrap();
    let r = unit.sync().unwrap();
    assert_eq!((r.docs_sent, r.docs_purged), (1, 1), "{r:?}");
    assert!(!unit.holds(&case));
    assert_gone(&unit, &[VICTIM, ADDRESS, NOTE]);
    assert!(server.service.storage.load_doc(&case).unwrap().is_some());
}

#[test]
fn the_policy_is_set_and_shown_per_division_and_bad_values_are_refused() {
    let server = TestServer::start();
    let show = || -> Value {
        serde_json::from_str(&ok(admin(&server, &["policy", "show", "--json"]))).unwrap()
    };
    assert_eq!(show()["default_handover_grace_hours"], 72);
    assert_eq!(show()["divisions"].as_array().unwrap().len(), 0);
    set_grace(&server, "24");
    ok(admin(
        &server,
        &[
            "policy",
            "set",
            "--division",
            "east",
            "--handover-grace-hours",
            "0",
        ],
    ));
    let shown = show();
    let divisions = shown["divisions"].as_array().unwrap();
    assert_eq!(divisions.len(), 2);
    assert_eq!(divisions[0]["division"], "east");
    assert_eq!(divisions[0]["handover_grace_hours"], 0);
    assert_eq!(divisions[1]["division"], "west");
    assert_eq!(divisions[1]["handover_grace_hours"], 24);
    for (division, hours) in [
        ("west", "-1"),
        ("west", "9000"),
        ("west", "many"),
        ("", "5"),
    ] {
        let out = admin(
            &server,
            &[
                "policy",
                "set",
                "--division",
                division,
                "--handover-grace-hours",
                hours,
            ],
        );
        assert!(!out.status.success(), "{division} {hours} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(show()["divisions"][1]["handover_grace_hours"], 24);
    // the change is audited
    let mut filter = provide_sync_server::storage::AuditFilter::default();
    filter.entries.action = Some("policy".into());
    assert_eq!(server.service.storage.audit(&filter).unwrap().len(), 2);
}
