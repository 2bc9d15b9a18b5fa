//! The `Storage` trait's contract, checked the same way on every backend: the embedded SQLite
//! store, and PostgreSQL when `PROVIDE_TEST_DATABASE_URL` names one (`make test` runs this
//! suite on both). The service above relies on each of these; a new backend must pass them
//! all. Each test talks to the trait only, never to a backend's tables.

use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::ReadDoc;
use automerge::{AutoCommit, ChangeHash, ROOT};
use provide_core::model::{RecordKind, Role};
use provide_sync_server::error::ServerError;
use provide_sync_server::service::Config;
use provide_sync_server::storage::{
    AuditEvent, AuditFilter, DocWrite, NewDevice, PublishedItem, Storage, UserProfile,
};
use provide_tests::server::data_dir;

/// A fresh store of the backend under test, and the folder it lives in.
fn storage() -> (tempfile::TempDir, Arc<dyn Storage>) {
    let dir = tempfile::tempdir().unwrap();
    let service = data_dir(dir.path()).open(Config::default()).unwrap();
    (dir, service.storage)
}

fn profile(name: &str, role: Role) -> UserProfile {
    UserProfile {
        name: name.into(),
        role,
        division: "west".into(),
        team: "t1".into(),
    }
}

fn new_device(id: &str, actor: &str) -> NewDevice {
    NewDevice {
        id: id.into(),
        actor: actor.into(),
        credential_hash: format!("hash-of-{id}"),
    }
}

fn event(action: &str, record: &str) -> AuditEvent {
    AuditEvent {
        device: "d1".into(),
        user: "pc.conf.fictional".into(),
        action: action.into(),
        record: record.into(),
        detail: format!("{action} {record}"),
    }
}

/// A document's bytes and heads after `n` edits.
fn doc(n: usize) -> (Vec<u8>, Vec<ChangeHash>) {
    let mut d = AutoCommit::new();
    for i in 0..n {
        d.put(ROOT, "n", i as i64).unwrap();
        d.commit();
    }
    (d.save(), d.get_heads())
}

fn write(bytes: Vec<u8>, heads: Vec<ChangeHash>, team: &str) -> DocWrite {
    DocWrite {
        kind: RecordKind::Case,
        division: "west".into(),
        team: team.into(),
        heads,
        bytes,
        replace: true,
        attendance: None,
    }
}

#[test]
fn an_enrolment_code_enrols_one_device_once_and_never_after_it_expires() {
    let (_d, s) = storage();
    s.create_enrolment("code-a", &profile("pc.a.fictional", Role::Officer), 2_000)
        .unwrap();
    let got = s
        .redeem_enrolment("code-a", 1_000, &new_device("dev-a", "aa01"))
        .unwrap();
    assert_eq!(got, profile("pc.a.fictional", Role::Officer));
    let again = s.redeem_enrolment("code-a", 1_000, &new_device("dev-b", "aa02"));
    assert!(matches!(again, Err(ServerError::EnrolmentRefused)), "spent");
    assert!(matches!(
        s.redeem_enrolment("no-such-code", 1_000, &new_device("dev-c", "aa03")),
        Err(ServerError::EnrolmentRefused)
    ));
    s.create_enrolment("code-old", &profile("pc.b.fictional", Role::Officer), 500)
        .unwrap();
    assert!(matches!(
        s.redeem_enrolment("code-old", 1_000, &new_device("dev-d", "aa04")),
        Err(ServerError::EnrolmentRefused)
    ));
    // an actor id is registered once
    s.create_enrolment("code-c", &profile("pc.c.fictional", Role::Officer), 2_000)
        .unwrap();
    assert!(s
        .redeem_enrolment("code-c", 1_000, &new_device("dev-e", "aa01"))
        .is_err());
    let devices = s.devices().unwrap();
    assert_eq!(
        devices.len(),
        1,
        "only the one good redemption enrolled a device"
    );
    let d = s.device("dev-a").unwrap().unwrap();
    assert_eq!(
        (d.user.as_str(), d.actor.as_str(), d.revoked),
        ("pc.a.fictional", "aa01", false)
    );
    assert!(s.device("dev-b").unwrap().is_none());
    let owner = s.actor_owner("aa01").unwrap().unwrap();
    assert_eq!(
        (owner.device_id.as_str(), owner.user.as_str()),
        ("dev-a", "pc.a.fictional")
    );
    assert!(s.actors_of_user("pc.a.fictional").unwrap().contains("aa01"));
    assert!(s.actors_of_device("dev-a").unwrap().contains("aa01"));
}

#[test]
fn revocation_holds_and_is_counted() {
    let (_d, s) = storage();
    for (i, user) in ["pc.r.fictional", "pc.r.fictional", "pc.s.fictional"]
        .iter()
        .enumerate()
    {
        let code = format!("code-{i}");
        s.create_enrolment(&code, &profile(user, Role::Officer), i64::MAX)
            .unwrap();
        s.redeem_enrolment(
            &code,
            0,
            &new_device(&format!("dev-{i}"), &format!("ab0{i}")),
        )
        .unwrap();
    }
    assert!(s.revoke_device("dev-2").unwrap());
    assert!(s.device("dev-2").unwrap().unwrap().revoked);
    assert!(!s.revoke_device("no-such-device").unwrap());
    assert_eq!(s.revoke_user("pc.r.fictional").unwrap(), 2);
    assert!(s.devices().unwrap().iter().all(|d| d.revoked));
    // the final upload opens once: the first time is kept
    let opened = s.open_final_upload("dev-2", 10_000).unwrap();
    assert_eq!(s.open_final_upload("dev-2", 99_000).unwrap(), opened);
}

#[test]
fn request_numbers_only_go_up() {
    let (_d, s) = storage();
    s.create_enrolment("c", &profile("pc.q.fictional", Role::Officer), i64::MAX)
        .unwrap();
    s.redeem_enrolment("c", 0, &new_device("dev-q", "ac01"))
        .unwrap();
    let now = "2026-11-30T12:00:00.000Z";
    assert!(s.claim_request("dev-q", 5, now).unwrap());
    assert!(!s.claim_request("dev-q", 5, now).unwrap(), "a replay");
    assert!(!s.claim_request("dev-q", 4, now).unwrap(), "an older one");
    assert!(s.claim_request("dev-q", 6, now).unwrap());
}

#[test]
fn documents_are_written_atomically_and_numbered_in_commit_order() {
    let (_d, s) = storage();
    let (bytes, heads) = doc(1);
    let first = s
        .update_doc("case-1", &mut |stored| {
            assert!(stored.is_none(), "a new document");
            Ok(Some(write(bytes.clone(), heads.clone(), "t1")))
        })
        .unwrap()
        .expect("written");
    // deciding to write nothing leaves it as it was, unnumbered
    assert_eq!(s.update_doc("case-1", &mut |_| Ok(None)).unwrap(), None);
    // a refusal inside the decision writes nothing either
    let err = s.update_doc("case-1", &mut |_| Err(ServerError::Forbidden("no".into())));
    assert!(err.is_err());
    let meta = s.doc_meta("case-1").unwrap().unwrap();
    assert_eq!((meta.seq, meta.heads.clone()), (first, heads));
    // concurrent updates of one document run one after another: none is lost
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                s.update_doc("case-1", &mut |stored| {
                    let stored = stored.expect("exists");
                    let mut d = AutoCommit::load(&stored.chunks.concat()).unwrap();
                    let n = d
                        .get(ROOT, "writes")
                        .unwrap()
                        .and_then(|(v, _)| v.as_i64())
                        .unwrap_or(0);
                    d.put(ROOT, "writes", n + 1).unwrap();
                    d.commit();
                    Ok(Some(write(d.save(), d.get_heads(), "t1")))
                })
                .unwrap()
                .unwrap()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let stored = s.load_doc("case-1").unwrap().unwrap();
    let d = AutoCommit::load(&stored.chunks.concat()).unwrap();
    let (v, _) = d.get(ROOT, "writes").unwrap().unwrap();
    assert_eq!(
        v.as_i64(),
        Some(8),
        "every concurrent update saw the one before it"
    );
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 8, "each commit has its own number");
    assert!(seqs[0] > first);
    assert_eq!(
        stored.meta.seq,
        *seqs.last().unwrap(),
        "the last number is the document's"
    );
}

#[test]
fn changed_since_pages_by_cursor_and_keeps_other_teams_out() {
    let (_d, s) = storage();
    let mut numbers = Vec::new();
    for i in 0..5 {
        let (bytes, heads) = doc(i + 1);
        let team = if i == 2 { "t2" } else { "t1" };
        numbers.push(
            s.update_doc(&format!("case-{i}"), &mut |_| {
                Ok(Some(write(bytes.clone(), heads.clone(), team)))
            })
            .unwrap()
            .unwrap(),
        );
    }
    let page = s.changed_since(0, "west", Some("t1"), "dev-x", 2).unwrap();
    let ids: Vec<&str> = page.docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["case-0", "case-1"]);
    assert!(page.truncated);
    let rest = s
        .changed_since(page.docs[1].seq, "west", Some("t1"), "dev-x", 10)
        .unwrap();
    let ids: Vec<&str> = rest.docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["case-3", "case-4"], "team t2's case never walked");
    assert!(!rest.truncated);
    assert!(rest.upper >= *numbers.last().unwrap());
    // the division's view (no team) sees all five; another division none
    assert_eq!(
        s.changed_since(0, "west", None, "dev-x", 10)
            .unwrap()
            .docs
            .len(),
        5
    );
    assert!(s
        .changed_since(0, "east", None, "dev-x", 10)
        .unwrap()
        .docs
        .is_empty());
}

#[test]
fn deliveries_wait_for_the_device_to_confirm_them() {
    let (_d, s) = storage();
    let (_, heads) = doc(2);
    assert_eq!(s.known_heads("dev-y", "case-9").unwrap(), None);
    s.record_delivery(
        "dev-y",
        &[("case-9".to_string(), heads.clone())],
        &[],
        &[event("disclose", "case-9")],
        40,
    )
    .unwrap();
    assert_eq!(
        s.known_heads("dev-y", "case-9").unwrap(),
        Some(vec![]),
        "sent, unconfirmed"
    );
    // a request carrying an older cursor: that response was lost; nothing of it counts as held
    s.confirm_deliveries("dev-y", 39).unwrap();
    assert_eq!(s.known_heads("dev-y", "case-9").unwrap(), Some(vec![]));
    s.record_delivery(
        "dev-y",
        &[("case-9".to_string(), heads.clone())],
        &[],
        &[],
        41,
    )
    .unwrap();
    s.confirm_deliveries("dev-y", 41).unwrap();
    assert_eq!(
        s.known_heads("dev-y", "case-9").unwrap(),
        Some(heads.clone())
    );
    let (_, newer) = doc(3);
    s.set_known_heads("dev-y", "case-9", &newer).unwrap();
    assert_eq!(s.known_heads("dev-y", "case-9").unwrap(), Some(newer));
    // the disclosure was audited with the delivery
    let rows = s
        .audit(&AuditFilter {
            entries: provide_core::report::CheckedAuditQuery {
                record: Some("case-9".into()),
                ..Default::default()
            },
            division: None,
            newest_first: false,
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action, "disclose");
}

#[test]
fn the_audit_log_keeps_order_and_filters() {
    let (_d, s) = storage();
    s.append_audit(&[
        event("sync", "r1"),
        event("view", "r2"),
        event("sync", "r3"),
    ])
    .unwrap();
    let all = |newest_first, action: Option<&str>| {
        s.audit(&AuditFilter {
            entries: provide_core::report::CheckedAuditQuery {
                action: action.map(String::from),
                ..Default::default()
            },
            division: None,
            newest_first,
        })
        .unwrap()
        .into_iter()
        .map(|r| r.record)
        .collect::<Vec<_>>()
    };
    assert_eq!(all(false, Some("sync")), ["r1", "r3"]);
    assert_eq!(all(true, Some("sync")), ["r3", "r1"]);
    assert_eq!(all(false, Some("view")), ["r2"]);
}

#[test]
fn a_published_version_is_stored_once_and_never_changes() {
    let (_d, s) = storage();
    let item = |body: &str| PublishedItem {
        kind: "form".into(),
        id: "dash".into(),
        version: 7,
        body: body.into(),
        published_at: "2026-11-30T12:00:00.000Z".into(),
    };
    s.publish_reference(
        &item("{\"a\":1}"),
        &event("publish_reference", "form:dash:7"),
    )
    .unwrap();
    let err = s
        .publish_reference(
            &item("{\"a\":2}"),
            &event("publish_reference", "form:dash:7"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    let stored = s.published_reference().unwrap();
    assert_eq!(stored, vec![item("{\"a\":1}")]);
    // the refused one left no audit entry behind
    let audited = s
        .audit(&AuditFilter {
            entries: provide_core::report::CheckedAuditQuery {
                action: Some("publish_reference".into()),
                ..Default::default()
            },
            division: None,
            newest_first: false,
        })
        .unwrap();
    assert_eq!(audited.len(), 1);
}

#[test]
fn records_held_for_review_and_restore_marks_are_kept_per_device() {
    let (_d, s) = storage();
    s.create_enrolment("c", &profile("pc.h.fictional", Role::Officer), i64::MAX)
        .unwrap();
    s.redeem_enrolment("c", 0, &new_device("dev-h", "ad01"))
        .unwrap();
    s.hold_for_review(
        "dev-h",
        "case-h",
        RecordKind::Case,
        b"changes",
        "2026-11-30T12:00:00.000Z",
    )
    .unwrap();
    let held = s.held_for_review().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].record.as_str(), held[0].changes.as_slice()),
        ("case-h", &b"changes"[..])
    );
    assert!(!s.resync_pending("dev-h").unwrap());
    assert_eq!(s.mark_restored().unwrap(), 1);
    assert!(s.resync_pending("dev-h").unwrap());
    s.resync_done("dev-h").unwrap();
    assert!(!s.resync_pending("dev-h").unwrap());
}
