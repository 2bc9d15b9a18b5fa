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
    AuditEvent, AuditFilter, DocWrite, EnrolmentCode, Holding, NewDevice, NewDeviceUser,
    PublishedItem, Redemption, Revoke, RevokedDevice, Standing, Storage, UserProfile,
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
        standing: Standing::OPEN,
    }
}

/// Stores an enrolment code for `user`, valid until `expires_at_ms`.
fn issue(s: &dyn Storage, code: &str, user: &str, expires_at_ms: i64) {
    s.create_enrolment(
        code,
        &profile(user, Role::Officer),
        expires_at_ms,
        &event("enrolment_code", ""),
    )
    .unwrap();
}

/// Spends `code` for a new device, accepting whatever the code is.
fn enrol(s: &dyn Storage, code: &str, id: &str, actor: &str) -> Result<UserProfile, ServerError> {
    s.redeem_code(code, &Redemption::Device(new_device(id, actor)), &|_| {
        Ok(event("enrol", ""))
    })
}

fn audited(s: &dyn Storage, action: &str) -> usize {
    let mut filter = AuditFilter::default();
    filter.entries.action = Some(action.into());
    s.audit(&filter).unwrap().len()
}

#[test]
fn a_code_is_spent_once_and_only_as_the_service_decides() {
    let (_d, s) = storage();
    let s = s.as_ref();
    issue(s, "code-a", "pc.a.fictional", 2_000);
    assert_eq!(
        audited(s, "enrolment_code"),
        1,
        "issuing is audited with the code"
    );
    // decide sees the stored code; its refusal leaves the code unspent and nothing written
    let seen = std::cell::RefCell::new(None);
    let refused = s.redeem_code(
        "code-a",
        &Redemption::Device(new_device("dev-x", "aa09")),
        &|code| {
            *seen.borrow_mut() = code.cloned();
            Err(ServerError::EnrolmentRefused)
        },
    );
    assert!(matches!(refused, Err(ServerError::EnrolmentRefused)));
    assert_eq!(
        seen.into_inner(),
        Some(EnrolmentCode {
            user: profile("pc.a.fictional", Role::Officer),
            expires_at_ms: 2_000,
            spent: false,
        })
    );
    assert!(s.device("dev-x").unwrap().is_none());
    assert_eq!(audited(s, "enrol"), 0);
    // allowed: the device is enrolled with the event, and the code is spent
    let got = enrol(s, "code-a", "dev-a", "aa01").unwrap();
    assert_eq!(got, profile("pc.a.fictional", Role::Officer));
    assert_eq!(audited(s, "enrol"), 1);
    let spent = s.redeem_code(
        "code-a",
        &Redemption::Device(new_device("dev-b", "aa02")),
        &|code| {
            assert!(code.unwrap().spent, "the store says the code was spent");
            Err(ServerError::EnrolmentRefused)
        },
    );
    assert!(spent.is_err());
    // an unknown code reaches decide as None, and is refused even if decide allowed it
    let unknown = s.redeem_code(
        "no-such-code",
        &Redemption::Device(new_device("dev-c", "aa03")),
        &|code| {
            assert!(code.is_none());
            Ok(event("enrol", ""))
        },
    );
    assert!(matches!(unknown, Err(ServerError::EnrolmentRefused)));
    let d = s.device("dev-a").unwrap().unwrap();
    assert_eq!(
        (d.user.as_str(), d.actor.as_str(), d.revoked),
        ("pc.a.fictional", "aa01", false)
    );
    assert_eq!(s.devices().unwrap().len(), 1);
    let owner = s.actor_owner("aa01").unwrap().unwrap();
    assert_eq!(
        (owner.device_id.as_str(), owner.user.as_str()),
        ("dev-a", "pc.a.fictional")
    );
    assert!(s.actors_of_user("pc.a.fictional").unwrap().contains("aa01"));
    assert!(s.actors_of_device("dev-a").unwrap().contains("aa01"));
}

#[test]
fn an_actor_is_registered_once_whether_to_a_device_or_to_a_user_on_one() {
    let (_d, s) = storage();
    let s = s.as_ref();
    issue(s, "code-a", "pc.a.fictional", i64::MAX);
    enrol(s, "code-a", "dev-a", "aa01").unwrap();
    // a second user on the device, with an actor of their own
    issue(s, "code-b", "pc.b.fictional", i64::MAX);
    let added = s
        .redeem_code(
            "code-b",
            &Redemption::DeviceUser(NewDeviceUser {
                device_id: "dev-a".into(),
                actor: "aa02".into(),
            }),
            &|_| Ok(event("add_user", "")),
        )
        .unwrap();
    assert_eq!(added.name, "pc.b.fictional");
    assert_eq!(audited(s, "add_user"), 1);
    let owner = s.actor_owner("aa02").unwrap().unwrap();
    assert_eq!(
        (owner.device_id.as_str(), owner.user.as_str()),
        ("dev-a", "pc.b.fictional")
    );
    assert_eq!(s.actors_of_device("dev-a").unwrap().len(), 2);
    // the enrolling user's actor and the added user's actor are both taken, for a device
    // and for a user alike; the codes stay unspent
    for (i, taken) in ["aa01", "aa02"].iter().enumerate() {
        let code = format!("code-c{i}");
        issue(s, &code, "pc.c.fictional", i64::MAX);
        assert!(matches!(
            enrol(s, &code, &format!("dev-c{i}"), taken),
            Err(ServerError::InvalidInput(_))
        ));
        let as_user = s.redeem_code(
            &code,
            &Redemption::DeviceUser(NewDeviceUser {
                device_id: "dev-a".into(),
                actor: taken.to_string(),
            }),
            &|_| Ok(event("add_user", "")),
        );
        assert!(matches!(as_user, Err(ServerError::InvalidInput(_))));
        enrol(s, &code, &format!("dev-c{i}"), &format!("ab0{i}")).unwrap();
    }
    // a user already on the device is not added again
    issue(s, "code-b2", "pc.b.fictional", i64::MAX);
    let again = s.redeem_code(
        "code-b2",
        &Redemption::DeviceUser(NewDeviceUser {
            device_id: "dev-a".into(),
            actor: "aa07".into(),
        }),
        &|_| Ok(event("add_user", "")),
    );
    assert!(matches!(again, Err(ServerError::Forbidden(_))));
    assert_eq!(audited(s, "add_user"), 1);
}

#[test]
fn revocation_marks_what_it_is_told_with_its_audit_in_one_commit() {
    let (_d, s) = storage();
    let s = s.as_ref();
    for (i, user) in ["pc.r.fictional", "pc.r.fictional", "pc.s.fictional"]
        .iter()
        .enumerate()
    {
        let code = format!("code-{i}");
        issue(s, &code, user, i64::MAX);
        enrol(s, &code, &format!("dev-{i}"), &format!("ab0{i}")).unwrap();
    }
    issue(s, "unspent", "pc.r.fictional", i64::MAX);
    let one_event = |devices: &[RevokedDevice]| {
        devices
            .iter()
            .map(|d| event("revoke", &d.id))
            .collect::<Vec<_>>()
    };
    let revoked = s.revoke(Revoke::Device("dev-2"), None, &one_event).unwrap();
    assert_eq!(
        revoked,
        vec![RevokedDevice {
            id: "dev-2".into(),
            user: "pc.s.fictional".into()
        }]
    );
    assert!(s.device("dev-2").unwrap().unwrap().revoked);
    // a device already revoked is reached again; an unknown one is not
    assert_eq!(
        s.revoke(Revoke::Device("dev-2"), None, &one_event)
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .revoke(Revoke::Device("no-such-device"), None, &one_event)
        .unwrap()
        .is_empty());
    assert_eq!(audited(s, "revoke"), 2);
    let mut ids: Vec<String> = s
        .revoke(
            Revoke::DevicesOf("pc.r.fictional"),
            Some("pc.r.fictional"),
            &one_event,
        )
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["dev-0", "dev-1"]);
    assert_eq!(audited(s, "revoke"), 4);
    assert!(s.devices().unwrap().iter().all(|d| d.revoked));
    // the user's unused code was spent with the revocation
    let code = std::cell::RefCell::new(None);
    let _ = s.redeem_code(
        "unspent",
        &Redemption::Device(new_device("dev-9", "ab09")),
        &|c| {
            *code.borrow_mut() = c.cloned();
            Err(ServerError::EnrolmentRefused)
        },
    );
    assert!(code.into_inner().unwrap().spent);
    // revoking the user's devices again reaches none
    assert!(s
        .revoke(Revoke::DevicesOf("pc.r.fictional"), None, &one_event)
        .unwrap()
        .is_empty());
    // the final upload opens once: the first time is kept
    let opened = s.open_final_upload("dev-2", 10_000).unwrap();
    assert_eq!(s.open_final_upload("dev-2", 99_000).unwrap(), opened);
}

#[test]
fn request_numbers_only_go_up() {
    let (_d, s) = storage();
    issue(s.as_ref(), "c", "pc.q.fictional", i64::MAX);
    enrol(s.as_ref(), "c", "dev-q", "ac01").unwrap();
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
    assert_eq!(
        s.known_heads("dev-y", "case-9").unwrap(),
        Some(newer.clone())
    );
    // told to let it go, and confirmed: no longer held, but the mark that it was stays
    assert!(!s.ever_held("dev-y", "case-8").unwrap());
    s.record_delivery("dev-y", &[], &["case-9".to_string()], &[], 42)
        .unwrap();
    s.confirm_deliveries("dev-y", 42).unwrap();
    assert_eq!(s.known_heads("dev-y", "case-9").unwrap(), None);
    assert_eq!(s.holding("dev-y", "case-9").unwrap(), None);
    assert!(s.ever_held("dev-y", "case-9").unwrap());
    // handed in again (or sent again): held again
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
    issue(s.as_ref(), "c", "pc.h.fictional", i64::MAX);
    enrol(s.as_ref(), "c", "dev-h", "ad01").unwrap();
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

#[test]
fn a_documents_standing_is_kept_and_what_a_device_holds_is_found_by_it() {
    use provide_core::model::case::Status;
    let (_d, s) = storage();
    let at = |status: Status, since_ms: i64| Standing {
        status: Some(status),
        since_ms,
    };
    let stand = |id: &str, standing: Standing| {
        let (bytes, heads) = doc(1);
        s.update_doc(id, &mut |_| {
            Ok(Some(DocWrite {
                standing,
                ..write(bytes.clone(), heads.clone(), "t1")
            }))
        })
        .unwrap();
    };
    stand("case-open", at(Status::Active, 100));
    stand("case-old", at(Status::Closed, 1_000));
    stand("case-new", at(Status::Closed, 5_000));
    stand("case-over", at(Status::HandedOver, 2_000));
    stand("shift-1", Standing::OPEN);
    stand("case-elsewhere", at(Status::Closed, 10));
    assert_eq!(
        s.doc_meta("case-old").unwrap().unwrap().standing,
        at(Status::Closed, 1_000)
    );
    assert_eq!(
        s.doc_meta("shift-1").unwrap().unwrap().standing,
        Standing::OPEN
    );
    // the device holds all but one
    let all = ["case-open", "case-old", "case-new", "case-over", "shift-1"];
    let delivered: Vec<(String, Vec<ChangeHash>)> =
        all.iter().map(|id| (id.to_string(), vec![])).collect();
    s.record_delivery("dev-s", &delivered, &[], &[], 1).unwrap();
    let ids = |statuses: &[&str], before: i64| -> Vec<String> {
        s.held_in_status_before("dev-s", statuses, before, 10)
            .unwrap()
            .into_iter()
            .map(|(m, _)| m.id)
            .collect()
    };
    assert_eq!(ids(&["closed"], 4_999), ["case-old"]);
    assert_eq!(ids(&["closed"], 5_000), ["case-old", "case-new"]);
    assert_eq!(
        ids(&["handed_over", "closed"], 9_999),
        ["case-old", "case-over", "case-new"],
        "oldest first"
    );
    assert!(ids(&["triaged"], 9_999).is_empty());
    assert_eq!(
        s.held_in_status_before("dev-s", &["closed"], 9_999, 1)
            .unwrap()
            .len(),
        1,
        "at most the limit"
    );
    // told to purge: no longer counted as held
    s.record_delivery("dev-s", &[], &["case-old".to_string()], &[], 2)
        .unwrap();
    assert_eq!(ids(&["closed"], 9_999), ["case-new"]);
    // status changes and the new time is kept; reopened, it is no longer found
    stand("case-new", at(Status::Active, 6_000));
    assert!(ids(&["closed"], 9_999).is_empty());
    // a fetch on request: held again, with when it was fetched, the pending purge forgotten
    assert_eq!(
        s.holding("dev-s", "case-old").unwrap(),
        None,
        "purge pending"
    );
    assert_eq!(
        s.holding("dev-s", "case-over").unwrap(),
        Some(Holding { fetched_ms: None })
    );
    s.record_fetch(
        "dev-s",
        &[("case-old".to_string(), vec![])],
        &[event("consult", "case-old")],
        3,
        77_000,
    )
    .unwrap();
    assert_eq!(
        s.holding("dev-s", "case-old").unwrap(),
        Some(Holding {
            fetched_ms: Some(77_000)
        })
    );
    // a case fetched after the cutoff is not found by it (it is within its grace period)
    assert!(s
        .held_in_status_before("dev-s", &["closed"], 9_999, 10)
        .unwrap()
        .is_empty());
    let held = s
        .held_in_status_before("dev-s", &["closed"], 77_000, 10)
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].0.id.as_str(), held[0].1),
        ("case-old", Some(77_000))
    );
    assert_eq!(audited(s.as_ref(), "consult"), 1);
    assert_eq!(s.holding("dev-other", "case-old").unwrap(), None);
}

#[test]
fn retention_policies_are_kept_per_division_with_their_audit() {
    let (_d, s) = storage();
    assert!(s.retentions().unwrap().is_empty());
    s.set_retention("west", 24, &event("policy", "")).unwrap();
    s.set_retention("east", 0, &event("policy", "")).unwrap();
    s.set_retention("west", 48, &event("policy", "")).unwrap();
    let got: Vec<(String, u32)> = s
        .retentions()
        .unwrap()
        .into_iter()
        .map(|p| (p.division, p.handover_grace_hours))
        .collect();
    assert_eq!(got, [("east".to_string(), 0), ("west".to_string(), 48)]);
    assert_eq!(audited(s.as_ref(), "policy"), 3);
}

#[test]
fn review_periods_are_kept_per_division_and_class_with_their_audit() {
    let (_d, s) = storage();
    assert!(s.review_periods().unwrap().is_empty());
    s.set_review_period("west", "police_case", 60, &event("policy", ""))
        .unwrap();
    s.set_review_period("west", "nhs_health", 120, &event("policy", ""))
        .unwrap();
    s.set_review_period("west", "police_case", 84, &event("policy", ""))
        .unwrap();
    let got: Vec<(String, String, u32)> = s
        .review_periods()
        .unwrap()
        .into_iter()
        .map(|p| (p.division, p.class, p.review_after_months))
        .collect();
    assert_eq!(
        got,
        [
            ("west".to_string(), "nhs_health".to_string(), 120),
            ("west".to_string(), "police_case".to_string(), 84)
        ]
    );
    assert_eq!(audited(s.as_ref(), "policy"), 3);
}

#[test]
fn records_come_due_by_closure_or_by_their_latest_retain_decision() {
    use provide_core::model::case::Status;
    use provide_sync_server::storage::{Decision, DueQuery, ReviewDecision};
    let (_d, s) = storage();
    let put = |id: &str, kind: RecordKind, division: &str, status: Status, since_ms: i64| {
        let (bytes, heads) = doc(1);
        s.update_doc(id, &mut |_| {
            Ok(Some(DocWrite {
                kind,
                division: division.into(),
                standing: Standing {
                    status: Some(status),
                    since_ms,
                },
                ..write(bytes.clone(), heads.clone(), "t1")
            }))
        })
        .unwrap();
    };
    put("c-old", RecordKind::Case, "west", Status::Closed, 1_000);
    put(
        "c-old.health",
        RecordKind::Health,
        "west",
        Status::Closed,
        1_000,
    );
    put("c-mid", RecordKind::Case, "west", Status::Closed, 3_000);
    put("c-new", RecordKind::Case, "west", Status::Closed, 9_000);
    put("c-open", RecordKind::Case, "west", Status::Active, 10);
    put("c-over", RecordKind::Case, "west", Status::HandedOver, 10);
    put("c-east", RecordKind::Case, "east", Status::Closed, 2_000);
    let due = |kind: RecordKind,
               division: Option<&str>,
               before: i64,
               east: Option<i64>,
               as_of: &str| {
        s.due_for_review(&DueQuery {
            kind,
            division: division.map(str::to_string),
            closed_before_ms: before,
            division_closed_before_ms: east.map(|e| ("east".to_string(), e)).into_iter().collect(),
            as_of: as_of.into(),
            limit: 10,
        })
        .unwrap()
        .into_iter()
        .map(|d| (d.meta.id, d.retained_until))
        .collect::<Vec<_>>()
    };
    let ids = |v: Vec<(String, Option<String>)>| v.into_iter().map(|d| d.0).collect::<Vec<_>>();
    // closed before the cutoff, oldest first; open and handed-over cases never
    assert_eq!(
        ids(due(RecordKind::Case, None, 5_000, None, "2026-01-01")),
        ["c-old", "c-east", "c-mid"]
    );
    assert_eq!(
        ids(due(RecordKind::Case, None, 3_000, None, "2026-01-01")),
        ["c-old", "c-east"]
    );
    assert_eq!(
        ids(due(RecordKind::Health, None, 5_000, None, "2026-01-01")),
        ["c-old.health"]
    );
    // one division; a division's own cutoff
    assert_eq!(
        ids(due(
            RecordKind::Case,
            Some("west"),
            5_000,
            None,
            "2026-01-01"
        )),
        ["c-old", "c-mid"]
    );
    assert_eq!(
        ids(due(
            RecordKind::Case,
            None,
            5_000,
            Some(2_000),
            "2026-01-01"
        )),
        ["c-old", "c-mid"],
        "east's own period leaves c-east out"
    );
    // retained until a date: not due before it, due on it, with the date
    let decide = |id: &str, decision: Decision, until: Option<&str>, at_ms: i64| {
        s.record_review(
            &ReviewDecision {
                record: id.into(),
                kind: RecordKind::Case,
                class: "police_case".into(),
                decision,
                retain_until: until.map(str::to_string),
                reason: "Fictional reason for the conformance suite".into(),
                decided_by: "sg.conf.fictional".into(),
                device: String::new(),
                decided_at: "2026-01-01T00:00:00.000Z".into(),
                decided_ms: at_ms,
            },
            &event("retention_review", id),
        )
        .unwrap();
    };
    decide("c-old", Decision::Retain, Some("2030-06-01"), 20_000);
    assert_eq!(
        ids(due(RecordKind::Case, None, 5_000, None, "2030-05-31")),
        ["c-east", "c-mid"]
    );
    assert_eq!(
        due(RecordKind::Case, None, 5_000, None, "2030-06-01")[0],
        ("c-old".to_string(), Some("2030-06-01".to_string()))
    );
    // a record retained and not yet past its cutoff comes due on its date all the same
    decide("c-new", Decision::Retain, Some("2027-01-01"), 20_000);
    assert_eq!(
        ids(due(
            RecordKind::Case,
            Some("west"),
            5_000,
            None,
            "2027-01-01"
        )),
        ["c-mid", "c-new"]
    );
    // the latest decision counts: a later retain moves the date, a dispose leaves it due
    decide("c-old", Decision::Retain, Some("2031-01-01"), 21_000);
    assert!(!ids(due(RecordKind::Case, None, 5_000, None, "2030-12-31")).contains(&"c-old".into()));
    decide("c-old", Decision::Dispose, None, 22_000);
    assert_eq!(
        due(RecordKind::Case, None, 5_000, None, "2026-01-01")[0],
        ("c-old".to_string(), None)
    );
    // a decision before the record's latest closure does not count
    put("c-mid", RecordKind::Case, "west", Status::Closed, 30_000);
    decide("c-mid", Decision::Retain, Some("2040-01-01"), 25_000);
    assert!(!ids(due(RecordKind::Case, None, 5_000, None, "2026-01-01")).contains(&"c-mid".into()));
    assert!(ids(due(RecordKind::Case, None, 40_000, None, "2026-01-01")).contains(&"c-mid".into()));
    // at most the limit; the decisions are kept in order, reason and all, with their audit
    let limited = s
        .due_for_review(&DueQuery {
            kind: RecordKind::Case,
            division: None,
            closed_before_ms: i64::MAX,
            division_closed_before_ms: vec![],
            as_of: "2026-01-01".into(),
            limit: 1,
        })
        .unwrap();
    assert_eq!(limited.len(), 1);
    let kept = s.review_decisions("c-old").unwrap();
    let got: Vec<(Decision, Option<String>)> = kept
        .iter()
        .map(|d| (d.decision, d.retain_until.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (Decision::Retain, Some("2030-06-01".to_string())),
            (Decision::Retain, Some("2031-01-01".to_string())),
            (Decision::Dispose, None)
        ]
    );
    assert_eq!(kept[0].reason, "Fictional reason for the conformance suite");
    assert!(s.review_decisions("c-east").unwrap().is_empty());
    assert_eq!(audited(s.as_ref(), "retention_review"), 5);
}

#[test]
fn cases_of_a_victim_are_found_by_digest_whatever_their_status() {
    use provide_core::model::case::Status;
    use provide_core::model::{Case, Deployment, Victim};
    use provide_core::report::pseudonym::victim_digest;
    use provide_core::report::Attendance;
    let (_d, s) = storage();
    let key = *s.identity_key();
    let victim = |name: &str, dob: &str| Victim {
        name: name.into(),
        dob: Some(dob.into()),
        ..Default::default()
    };
    let put = |id: &str, v: &Victim, status: Status| {
        let mut case = Case::new(
            id.into(),
            Deployment::PostIncident,
            "pc.conf.fictional",
            "2026-03-01T10:00:00Z",
        );
        case.victim = v.clone();
        case.status = status;
        let (bytes, heads) = doc(1);
        s.update_doc(id, &mut |_| {
            Ok(Some(DocWrite {
                attendance: Some(Attendance::of(&case, &key)),
                ..write(bytes.clone(), heads.clone(), "t1")
            }))
        })
        .unwrap();
    };
    let ann = victim("Annabel Conformance", "1980-01-02");
    let namesake = victim("Annabel Conformance", "1999-09-09");
    let spaced = victim("  annabel   CONFORMANCE ", "1980-01-02");
    put("case-c", &ann, Status::Closed);
    put("case-a", &ann, Status::Triaged);
    put("case-b", &spaced, Status::Active);
    put("case-other", &namesake, Status::Active);
    put("case-nameless", &victim(" ", "1980-01-02"), Status::Active);
    let digest = victim_digest(&key, &ann).unwrap();
    assert_eq!(
        s.cases_of_victim(&digest, 10).unwrap(),
        ["case-a", "case-b", "case-c"],
        "every case of the victim, triaged and closed included, by id"
    );
    assert_eq!(s.cases_of_victim(&digest, 2).unwrap(), ["case-a", "case-b"]);
    let other = victim_digest(&key, &namesake).unwrap();
    assert_eq!(s.cases_of_victim(&other, 10).unwrap(), ["case-other"]);
    assert!(s.cases_of_victim("00", 10).unwrap().is_empty());
    // a case whose victim is corrected is found under the new identity only
    put("case-c", &namesake, Status::Closed);
    assert_eq!(
        s.cases_of_victim(&digest, 10).unwrap(),
        ["case-a", "case-b"]
    );
    assert_eq!(
        s.cases_of_victim(&other, 10).unwrap(),
        ["case-c", "case-other"]
    );
}
