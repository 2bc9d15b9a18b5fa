//! The device side of sync, driven by hand-built server responses: acknowledged heads advance
//! only on acknowledgement, edits made in flight stay pending, received changes are not sent
//! back, a history request makes the next upload whole, and purges erase.

use provide_core::model::{Deployment, Role};
use provide_core::store::Upload;
use provide_core::sync::protocol::{DocAck, DocOutcome, SyncResponse};
use provide_core::Store;

mod support;

fn store(dir: &std::path::Path, name: &str, role: Role) -> Store {
    support::new_store(&dir.join(name), name, role, "fictional passphrase 3")
}

fn accept_all(sent: &[Upload], cursor: u64) -> SyncResponse {
    SyncResponse {
        acks: sent
            .iter()
            .enumerate()
            .map(|(doc, _)| DocAck {
                doc,
                outcome: DocOutcome::Accepted,
            })
            .collect(),
        cursor,
        ..Default::default()
    }
}

#[test]
fn acknowledgement_clears_pending_and_in_flight_edits_stay_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = store(tmp.path(), "pc-a", Role::Officer);
    let id = a
        .create_case(
            Deployment::Live,
            &[("victim.name".into(), "Tegan Fictional".into())],
        )
        .unwrap();
    assert_eq!(a.unsynced_count().unwrap(), 1);
    let (sent, more) = a.pending_uploads(1 << 20).unwrap();
    assert!(!more);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].doc.base.is_empty());
    // an edit lands while the request is in flight
    a.set_case_fields(&id, &[("status".into(), "handed_over".into())])
        .unwrap();
    let applied = a.apply_sync_response(&sent, &accept_all(&sent, 5)).unwrap();
    assert_eq!(applied.acknowledged, 1);
    assert_eq!(a.sync_cursor().unwrap(), 5);
    assert_eq!(
        a.unsynced_count().unwrap(),
        1,
        "the in-flight edit must stay pending"
    );
    let (sent2, _) = a.pending_uploads(1 << 20).unwrap();
    assert_eq!(sent2[0].doc.base, sent[0].local_heads);
    assert!(
        sent2[0].doc.changes.len() < sent[0].doc.changes.len(),
        "only the new change is sent"
    );
    a.apply_sync_response(&sent2, &accept_all(&sent2, 6))
        .unwrap();
    assert_eq!(a.unsynced_count().unwrap(), 0);
    assert!(a.pending_uploads(1 << 20).unwrap().0.is_empty());
}

#[test]
fn no_acknowledgement_means_the_changes_are_sent_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = store(tmp.path(), "pc-a", Role::Officer);
    a.create_case(Deployment::Live, &[]).unwrap();
    let (sent, _) = a.pending_uploads(1 << 20).unwrap();
    // the connection dropped: an empty response (or none at all) acknowledges nothing
    a.apply_sync_response(
        &sent,
        &SyncResponse {
            cursor: 0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(a.unsynced_count().unwrap(), 1);
    let (again, _) = a.pending_uploads(1 << 20).unwrap();
    assert_eq!(again[0].doc.changes, sent[0].doc.changes);
    // a history request makes the next upload the whole document
    let resp = SyncResponse {
        acks: vec![DocAck {
            doc: 0,
            outcome: DocOutcome::NeedHistory,
        }],
        ..Default::default()
    };
    assert_eq!(
        a.apply_sync_response(&again, &resp).unwrap().need_history,
        1
    );
    assert!(a.pending_uploads(1 << 20).unwrap().0[0].doc.base.is_empty());
}

#[test]
fn received_changes_merge_and_are_not_sent_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = store(tmp.path(), "pc-a", Role::Officer);
    let mut b = store(tmp.path(), "idva-b", Role::Idva);
    let id = a
        .create_case(
            Deployment::PostIncident,
            &[("victim.name".into(), "Bryony Fictional".into())],
        )
        .unwrap();
    let (sent_a, _) = a.pending_uploads(1 << 20).unwrap();
    a.apply_sync_response(&sent_a, &accept_all(&sent_a, 1))
        .unwrap();
    // the server passes A's document on to B
    let to_b = SyncResponse {
        updates: sent_a.iter().map(|u| u.doc.clone()).collect(),
        cursor: 1,
        ..Default::default()
    };
    assert_eq!(b.apply_sync_response(&[], &to_b).unwrap().received, 1);
    assert_eq!(
        b.unsynced_count().unwrap(),
        0,
        "what came from the server is not sent back"
    );
    // B edits; only B's change goes up, based on what it received
    b.set_case_fields(
        &id,
        &[("outcome.engaged_safeguarding".into(), "yes".into())],
    )
    .unwrap();
    let (sent_b, _) = b.pending_uploads(1 << 20).unwrap();
    assert_eq!(sent_b.len(), 1);
    assert_eq!(sent_b[0].doc.base, sent_a[0].local_heads);
    // A receives B's change and sees it
    let to_a = SyncResponse {
        updates: sent_b.iter().map(|u| u.doc.clone()).collect(),
        cursor: 2,
        ..Default::default()
    };
    a.apply_sync_response(&[], &to_a).unwrap();
    assert_eq!(
        a.show_case(&id)
            .unwrap()
            .record
            .outcome
            .engaged_safeguarding
            .as_str(),
        "yes"
    );
    assert_eq!(a.unsynced_count().unwrap(), 0);
    // replaying the same update changes nothing
    a.apply_sync_response(&[], &to_a).unwrap();
    assert_eq!(a.unsynced_count().unwrap(), 0);
}

#[test]
fn purge_erases_and_health_records_never_land_on_police_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let mut idva = store(tmp.path(), "idva-b", Role::Idva);
    let mut officer = store(tmp.path(), "pc-a", Role::Officer);
    let id = idva.create_case(Deployment::Live, &[]).unwrap();
    idva.add_health_note(&id, "GP on Tuesdays").unwrap();
    let (sent, _) = idva.pending_uploads(1 << 20).unwrap();
    assert_eq!(sent.len(), 2);
    let health: Vec<_> = sent
        .iter()
        .filter(|u| u.doc.kind == provide_core::model::RecordKind::Health)
        .map(|u| u.doc.clone())
        .collect();
    let bad = SyncResponse {
        updates: health,
        ..Default::default()
    };
    // set aside, not stored, and its bytes not kept: a police device may not hold them
    let applied = officer.apply_sync_response(&[], &bad).unwrap();
    assert_eq!(
        (applied.received, applied.quarantined.len()),
        (0, 1),
        "{applied:?}"
    );
    assert_eq!(officer.unsynced_count().unwrap(), 0);
    // a record holding edits the server has not acknowledged is never purged
    let purge = SyncResponse {
        purge: vec![id.clone()],
        cursor: 9,
        ..Default::default()
    };
    assert_eq!(idva.apply_sync_response(&[], &purge).unwrap().purged, 0);
    assert!(idva.show_case(&id).is_ok());
    // once acknowledged, it goes
    let acked = SyncResponse {
        acks: sent
            .iter()
            .enumerate()
            .map(|(doc, _)| provide_core::sync::protocol::DocAck {
                doc,
                outcome: provide_core::sync::protocol::DocOutcome::Accepted,
            })
            .collect(),
        purge: vec![id.clone()],
        cursor: 10,
        ..Default::default()
    };
    assert_eq!(idva.apply_sync_response(&sent, &acked).unwrap().purged, 1);
    assert!(idva.show_case(&id).is_err());
    idva.audit_verify().unwrap();
}

/// Issue 13, finding 3, on the device: an answer carrying records this device cannot use (a
/// newer schema, damaged bytes, a case under a health record's id, another team's case) sets
/// each aside with an audit entry and applies the rest, so one bad record never stops a sync.
#[test]
fn records_a_device_cannot_use_are_set_aside_and_the_rest_applies() {
    use provide_core::model::{Case, RecordKind};
    use provide_core::record::{Author, RecordDoc};
    use provide_core::sync::protocol::DocChanges;

    let tmp = tempfile::tempdir().unwrap();
    let mut idva = store(tmp.path(), "idva-a", Role::Idva);
    let author = Author::new("pc.far.fictional", Role::Officer);
    let actor = automerge::ActorId::random();
    let case = |id: &str, team: &str, schema: u64| {
        let mut c = Case::new(
            id.into(),
            Deployment::Live,
            "pc.far.fictional",
            "2026-11-30T09:00:00Z",
        );
        c.division = "west".into();
        c.team = team.into();
        c.schema = schema;
        c.victim.name = "Uma Fictional".into();
        let mut rec = RecordDoc::new_case(&c, &actor, &author).unwrap();
        rec.wire_snapshot()
    };
    let team = idva.session().team.clone();
    let good = "2b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b";
    let newer = "3b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b";
    let damaged = "4b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b";
    let elsewhere = "5b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b";
    let misfiled = format!("{good}.health");
    let doc = |id: &str, kind, changes| DocChanges {
        id: id.to_string(),
        kind,
        base: vec![],
        changes,
    };
    let mut broken = case(damaged, &team, 3);
    let n = broken.len();
    broken.truncate(n / 2);
    let resp = SyncResponse {
        updates: vec![
            doc(newer, RecordKind::Case, case(newer, &team, 999)),
            doc(damaged, RecordKind::Case, broken),
            doc(&misfiled, RecordKind::Health, case(good, &team, 3)),
            doc(
                elsewhere,
                RecordKind::Case,
                case(elsewhere, "another-team", 3),
            ),
            doc(good, RecordKind::Case, case(good, &team, 3)),
        ],
        cursor: 9,
        ..Default::default()
    };
    let applied = idva.apply_sync_response(&[], &resp).unwrap();
    assert_eq!(applied.received, 1, "{applied:?}");
    assert_eq!(applied.quarantined.len(), 4, "{applied:?}");
    assert_eq!(idva.sync_cursor().unwrap(), 9);
    assert!(idva.show_case(good).is_ok());
    for id in [newer, damaged, elsewhere] {
        assert!(idva.show_case(id).is_err(), "{id} was not stored");
    }
    let audit = idva.audit_entries().unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.detail.starts_with("set aside"))
            .count(),
        4
    );
    // no reason names anything the record holds
    assert!(applied.quarantined.iter().all(|r| !r.contains("Uma")));
}

/// An answer whose cursor is below the device's (a server restored from a backup) makes every
/// record go up again whole, and the audit log from the server's head; an answer at or above
/// it changes nothing of the kind.
#[test]
fn a_cursor_below_the_devices_makes_everything_go_up_again_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = store(tmp.path(), "pc-a", Role::Officer);
    for n in 0..2 {
        a.create_case(
            Deployment::Live,
            &[("victim.name".into(), format!("Ursula Fictional {n}"))],
        )
        .unwrap();
    }
    let (sent, _) = a.pending_uploads(1 << 20).unwrap();
    let mut ack = accept_all(&sent, 40);
    ack.audit_acked = a.audit_to_upload(10_000).unwrap().last().unwrap().seq as u64;
    a.apply_sync_response(&sent, &ack).unwrap();
    a.record_contact(ack.audit_acked).unwrap();
    assert_eq!(a.unsynced_count().unwrap(), 0);
    let logged_before = a.audit_to_upload(10_000).unwrap().len();

    // the same cursor, or a higher one: nothing to send
    a.apply_sync_response(&[], &accept_all(&[], 40)).unwrap();
    a.apply_sync_response(&[], &accept_all(&[], 41)).unwrap();
    assert_eq!(a.unsynced_count().unwrap(), 0);

    // restored: the server holds audit entries up to 2 and answers with cursor 0
    let restored = SyncResponse {
        cursor: 0,
        more: true,
        audit_acked: 2,
        ..Default::default()
    };
    a.apply_sync_response(&[], &restored).unwrap();
    assert_eq!(a.sync_cursor().unwrap(), 0);
    assert_eq!(a.unsynced_count().unwrap(), 2);
    let (again, _) = a.pending_uploads(1 << 20).unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|u| u.doc.base.is_empty()), "sent whole");
    let audit = a.audit_to_upload(10_000).unwrap();
    assert_eq!(
        audit.first().unwrap().seq,
        3,
        "the audit log from the server's head"
    );
    assert!(audit.len() > logged_before);
}

/// Issue 15 review, R3: a record this device set aside (its bytes kept, e.g. one "of another
/// kind") is removed with the purge of its id, even though no record row of it exists: a set-
/// aside copy of a case must not outlive the case on the device.
#[test]
fn a_purge_removes_what_was_set_aside_under_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let mut officer = store(tmp.path(), "pc-q", Role::Officer);
    let mut other = store(tmp.path(), "pc-r", Role::Officer);
    let id = officer.create_case(Deployment::Live, &[]).unwrap();
    // the same id arriving as a shift: set aside, bytes kept
    let shift_id = other
        .start_shift(&provide_core::store::ShiftInput {
            pattern: provide_core::model::shift::Pattern::Early,
            call_sign: "PR9".into(),
            partner: "pc.fictional".into(),
            date: None,
        })
        .unwrap();
    let (uploads, _) = other.pending_uploads(1 << 20).unwrap();
    let mut doc = uploads
        .iter()
        .find(|u| u.doc.id == shift_id)
        .unwrap()
        .doc
        .clone();
    doc.id = id.clone();
    let applied = officer
        .apply_sync_response(
            &[],
            &SyncResponse {
                updates: vec![doc],
                cursor: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(applied.quarantined.len(), 1, "{applied:?}");
    let count = || -> i64 {
        let conn = support::open_raw(&tmp.path().join("pc-q"), "fictional passphrase 3");
        conn.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(), 1);
    // the case itself holds an unacknowledged edit (kept), but the set-aside copy goes
    officer
        .apply_sync_response(
            &[],
            &SyncResponse {
                purge: vec![id.clone()],
                cursor: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(count(), 0);
    assert!(officer.show_case(&id).is_ok(), "unsent edits keep the case");
}
