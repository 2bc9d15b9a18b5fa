//! Issue 13, findings 1, 2, 3, 5 and 11: an enrolled device in an attacker's hands tries to
//! write what its user may not, under another user's name, or records that would stop others'
//! syncs; a revoked device (and a restored copy of it) tries to go on writing. Each attack is
//! performed with a crafted client (`provide_tests::attack`) over real HTTP, and must fail
//! cleanly: the document refused with a code naming the rule, nothing changed on the server or
//! on any other device, and the attempt in the server's audit log. They run on SQLite and, in
//! `make test`, again on PostgreSQL.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash};
use provide_core::model::{health_id, Deployment, RecordKind};
use provide_core::store::CaseFilter;
use provide_core::sync::protocol::{DocOutcome, Refusal};
use provide_core::Error;
use provide_sync_server::service::Config;
use provide_tests::attack::{message, now_ms, Answer, Attacker};
use provide_tests::{sets, Device, TestServer};

struct Team {
    server: TestServer,
    officer: Device,
    idva: Device,
    case: String,
}

const OFFICER: &str = "pc.abe.fictional";
const IDVA: &str = "idva.cat.fictional";

fn team_with(config: Config) -> Team {
    let server = TestServer::start_with(config);
    let mut officer = Device::enrol(&server, OFFICER, "officer", "west", "t1");
    let mut idva = Device::enrol(&server, IDVA, "idva", "west", "t1");
    let case = officer
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("victim.name", "Dee Fictional"),
                ("victim.phone", "01632 960111"),
            ]),
        )
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    Team {
        server,
        officer,
        idva,
        case,
    }
}

fn team() -> Team {
    team_with(Config::default())
}

/// The server's copy of a document: its heads, or None.
fn heads_on_server(server: &TestServer, id: &str) -> Option<Vec<ChangeHash>> {
    server
        .service
        .storage
        .doc_meta(id)
        .unwrap()
        .map(|m| m.heads)
}

/// The refusal the server gave, and that it was audited with the rule.
fn refused(server: &TestServer, answer: &Answer, id: &str) -> Refusal {
    let DocOutcome::Refused(why) = answer.first_outcome() else {
        panic!("the upload of {id} was not refused: {answer:?}");
    };
    let audit = server.audit_of(id);
    assert!(
        audit.iter().any(|e| e.action == "refuse"),
        "the refusal of {id} is audited: {audit:?}"
    );
    why
}

fn seq(d: &mut Device) -> u64 {
    d.store.next_request_seq().unwrap()
}

#[test]
fn finding_1_an_officer_cannot_plant_or_write_an_idva_health_record() {
    let mut t = team();
    let attacker = Attacker::of(&t.server, &t.officer);
    let health = health_id(&t.case);

    // an empty document for the health record, before the IDVA makes it
    let empty = AutoCommit::new().save();
    let s = seq(&mut t.officer);
    let answer = attacker.upload(s, &health, RecordKind::Health, vec![], empty);
    assert_eq!(refused(&t.server, &answer, &health), Refusal::NotAllowed);
    assert!(heads_on_server(&t.server, &health).is_none());
    assert!(
        t.server
            .service
            .storage
            .known_heads(t.officer.store.device_id(), &health)
            .unwrap()
            .is_none(),
        "no delivery was recorded for the officer's device"
    );

    // the IDVA writes the real record
    t.idva
        .store
        .set_discreet_contact(&t.case, "Call the sister's number only")
        .unwrap();
    t.idva.sync().unwrap();
    let before = heads_on_server(&t.server, &health).unwrap();

    // the officer's device forges a change to it, claiming to be the IDVA
    let mut doc = t.idva_doc(&health, &attacker);
    let base = doc.get_heads();
    doc.put(
        automerge::ROOT,
        "discreet_contact",
        "Ring the home phone any time",
    )
    .unwrap();
    let changes = Attacker::commit(&mut doc, &base, &message(IDVA, "idva"), now_ms());
    let s = seq(&mut t.officer);
    let answer = attacker.upload(s, &health, RecordKind::Health, base, changes);
    assert_eq!(refused(&t.server, &answer, &health), Refusal::NotAllowed);
    assert_eq!(heads_on_server(&t.server, &health).unwrap(), before);

    // the IDVA's devices still read the real advice
    t.idva.sync().unwrap();
    let h = t.idva.store.show_health(&t.case).unwrap().unwrap();
    assert_eq!(h.record.discreet_contact, "Call the sister's number only");
}

impl Team {
    /// The officer's device, in the attacker's hands, edits its copy of the case as it likes,
    /// commits with the message and time given, and uploads the change.
    fn forge(
        &mut self,
        attacker: &Attacker,
        edit: impl FnOnce(&mut AutoCommit),
        msg: &str,
        at: i64,
    ) -> Answer {
        let mut doc = attacker.load(&mut self.officer, &self.case);
        let base = doc.get_heads();
        edit(&mut doc);
        let changes = Attacker::commit(&mut doc, &base, msg, at);
        let s = seq(&mut self.officer);
        attacker.upload(s, &self.case, RecordKind::Case, base, changes)
    }

    /// The IDVA's health record as an attacker who somehow had its bytes would load it.
    fn idva_doc(&mut self, id: &str, attacker: &Attacker) -> AutoCommit {
        let (_, bytes) = self.idva.store.record_bytes(id).unwrap();
        AutoCommit::load(&bytes)
            .unwrap()
            .with_actor(attacker.actor.clone())
    }
}

#[test]
fn finding_2_a_change_claiming_another_author_is_refused() {
    let mut t = team();
    let attacker = Attacker::of(&t.server, &t.officer);
    let before = heads_on_server(&t.server, &t.case).unwrap();

    // the message names the IDVA
    let answer = t.forge(
        &attacker,
        |doc| Attacker::put(doc, &["victim", "phone"], "07700 900999"),
        &message(IDVA, "idva"),
        now_ms(),
    );
    assert_eq!(
        refused(&t.server, &answer, &t.case),
        Refusal::AuthorMismatch
    );

    // the message names the officer but with the IDVA's role
    let answer = t.forge(
        &attacker,
        |doc| Attacker::put(doc, &["victim", "phone"], "07700 900999"),
        &message(OFFICER, "idva"),
        now_ms(),
    );
    assert_eq!(
        refused(&t.server, &answer, &t.case),
        Refusal::AuthorMismatch
    );

    // a note whose author field names the IDVA, in a change honestly from the officer
    let add_note = |doc: &mut AutoCommit| {
        let notes = match automerge::ReadDoc::get(doc, automerge::ROOT, "notes").unwrap() {
            Some((_, id)) => id,
            None => panic!("a case has a notes list"),
        };
        let note = doc
            .insert_object(&notes, 0, automerge::ObjType::Map)
            .unwrap();
        for (k, v) in [
            ("id", "0b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b"),
            ("at", "2026-11-30T10:00:00Z"),
            ("author", IDVA),
            ("role", "idva"),
            ("text", "Victim withdrew her statement"),
        ] {
            doc.put(&note, k, v).unwrap();
        }
    };
    let answer = t.forge(&attacker, add_note, &message(OFFICER, "officer"), now_ms());
    assert_eq!(
        refused(&t.server, &answer, &t.case),
        Refusal::AuthorMismatch
    );

    // a time far ahead of the server's clock, or before the device existed
    for at in [now_ms() + 3_600_000, now_ms() - 30 * 86_400_000] {
        let answer = t.forge(
            &attacker,
            |doc| Attacker::put(doc, &["victim", "phone"], "07700 900999"),
            &message(OFFICER, "officer"),
            at,
        );
        assert_eq!(
            refused(&t.server, &answer, &t.case),
            Refusal::TimeOutOfRange
        );
    }
    assert_eq!(heads_on_server(&t.server, &t.case).unwrap(), before);

    // the same edit, honestly attributed, is taken: the refusals were about authorship
    let answer = t.forge(
        &attacker,
        |doc| Attacker::put(doc, &["victim", "phone"], "07700 900123"),
        &message(OFFICER, "officer"),
        now_ms(),
    );
    assert_eq!(answer.first_outcome(), DocOutcome::Accepted);
    t.idva.sync().unwrap();
    let history = t
        .idva
        .store
        .case_history(&t.case, Some("victim.phone"))
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.user.as_str(), last.role.as_str()),
        (OFFICER, "officer")
    );
}

#[test]
fn finding_3_poison_records_are_refused_and_never_reach_other_devices() {
    let mut t = team();
    let attacker = Attacker::of(&t.server, &t.officer);

    // a case of schema 999
    let id = "1b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b";
    let changes = {
        let (_, bytes) = t.officer.store.record_bytes(&t.case).unwrap();
        let real =
            provide_core::record::RecordDoc::load_unmigrated(&t.case, RecordKind::Case, &[bytes])
                .unwrap();
        let mut case = real.case().unwrap();
        case.id = id.to_string();
        case.schema = 999;
        let author = provide_core::record::Author::new(OFFICER, provide_core::model::Role::Officer);
        // as devices send a whole record: uncompressed (compressed columns are refused)
        provide_core::record::RecordDoc::new_case(&case, &attacker.actor, &author)
            .unwrap()
            .wire_snapshot()
    };
    let s = seq(&mut t.officer);
    let answer = attacker.upload(s, id, RecordKind::Case, vec![], changes.clone());
    assert_eq!(refused(&t.server, &answer, id), Refusal::UnknownSchema);
    assert!(heads_on_server(&t.server, id).is_none());

    // a case uploaded under a health record's id
    let health_shaped = health_id(id);
    let s = seq(&mut t.officer);
    let answer = attacker.upload(s, &health_shaped, RecordKind::Case, vec![], changes);
    assert_eq!(
        refused(&t.server, &answer, &health_shaped),
        Refusal::InvalidRecord
    );
    assert!(heads_on_server(&t.server, &health_shaped).is_none());

    // the team's later cases still reach the IDVA
    let later = t
        .officer
        .store
        .create_case(Deployment::Live, &sets(&[("victim.name", "Eve Fictional")]))
        .unwrap();
    t.officer.sync().unwrap();
    let report = t.idva.sync().unwrap();
    assert!(report.set_aside.is_empty(), "{report:?}");
    assert!(t.idva.store.show_case(&later).is_ok());
}

#[test]
fn finding_11_an_officer_cannot_triage_or_move_a_case() {
    let mut t = team();
    let attacker = Attacker::of(&t.server, &t.officer);
    let before = heads_on_server(&t.server, &t.case).unwrap();

    // the app refuses it
    for (path, value) in [("status", "triaged"), ("team", "t2"), ("division", "east")] {
        match t
            .officer
            .store
            .set_case_fields(&t.case, &sets(&[(path, value)]))
        {
            Err(Error::Forbidden { .. }) => {}
            other => panic!("{path} = {value} was not refused: {other:?}"),
        }
    }
    assert!(matches!(
        t.officer
            .store
            .create_case(Deployment::Live, &sets(&[("status", "triaged")])),
        Err(Error::Forbidden { .. })
    ));

    // and so does the server, when the device's own checks are bypassed
    for (path, value) in [
        (&["status"][..], "triaged"),
        (&["team"][..], "t2"),
        (&["division"][..], "east"),
        (&["triage", "reason"][..], "high_risk"),
        (&["support", "safety_planning"][..], "true"),
    ] {
        let put = |doc: &mut AutoCommit| match value {
            "true" => Attacker::put(doc, path, true),
            _ => Attacker::put(doc, path, value),
        };
        let answer = t.forge(&attacker, put, &message(OFFICER, "officer"), now_ms());
        assert_eq!(
            refused(&t.server, &answer, &t.case),
            Refusal::NotAllowed,
            "{path:?}"
        );
    }
    // a second creation: a change without dependencies on the existing case, from a device
    // whose actor has not written to it yet (its first values would be nobody's edit)
    let idva_attacker = Attacker::of(&t.server, &t.idva);
    let mut doc = AutoCommit::new().with_actor(idva_attacker.actor.clone());
    doc.put(automerge::ROOT, "team", "t2").unwrap();
    let changes = Attacker::commit(&mut doc, &[], &message(IDVA, "idva"), now_ms());
    let s = seq(&mut t.idva);
    let answer = idva_attacker.upload(s, &t.case, RecordKind::Case, vec![], changes);
    assert_eq!(refused(&t.server, &answer, &t.case), Refusal::NotAllowed);

    assert_eq!(heads_on_server(&t.server, &t.case).unwrap(), before);
    t.idva.sync().unwrap();
    let case = t.idva.store.show_case(&t.case).unwrap().record;
    assert_eq!((case.status.as_str(), case.team.as_str()), ("active", "t1"));
}

#[test]
fn finding_5_a_revoked_device_makes_one_final_upload_held_for_review_then_writes_nothing() {
    // a final upload window of no time at all: it closes as soon as it has been used
    let mut t = team_with(Config {
        final_upload_minutes: 0,
        ..Config::default()
    });
    // offline work, and a copy of the whole device taken (a disk image)
    t.officer
        .store
        .set_case_fields(&t.case, &sets(&[("victim.phone", "07700 900222")]))
        .unwrap();
    let image = tempfile::tempdir().unwrap();
    copy_dir(t.officer.dir.path(), image.path());
    let before = heads_on_server(&t.server, &t.case).unwrap();
    let attacker = Attacker::of(&t.server, &t.officer);

    t.server
        .service
        .revoke_device(t.officer.store.device_id())
        .unwrap();
    let report = t.officer.sync().unwrap();
    assert!(report.revoked);
    assert_eq!(report.docs_sent, 1, "{report:?}");
    // kept for review, not merged into the case every device receives
    let held = t.server.service.storage.held_for_review().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].record, t.case);
    assert!(t
        .server
        .audit_of(&t.case)
        .iter()
        .any(|e| e.action == "hold_for_review"));
    assert_eq!(heads_on_server(&t.server, &t.case).unwrap(), before);
    t.idva.sync().unwrap();
    let case = t.idva.store.show_case(&t.case).unwrap().record;
    assert_eq!(case.victim.phone, "01632 960111");

    // the disk image, restored and synced: refused before its body is read, and it erases
    // itself
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut restored = Device {
        store: provide_core::Store::open(image.path(), provide_tests::PASSPHRASE, None).unwrap(),
        transport: provide_core::sync::transport::HttpTransport::new(&t.server.url, None).unwrap(),
        dir: image,
    };
    let report = restored.sync().unwrap();
    assert!(report.revoked);
    assert!(restored.store.is_erased());
    assert_eq!(t.server.service.storage.held_for_review().unwrap().len(), 1);
    assert_eq!(heads_on_server(&t.server, &t.case).unwrap(), before);

    // a crafted request with the revoked credential: refused as revoked, whatever it holds
    let answer = attacker.post(b"PV\x05not even a message".to_vec());
    match answer {
        Answer::Refused { status, code } => assert_eq!((status, code.as_str()), (403, "revoked")),
        other => panic!("{other:?}"),
    }
    let n = t
        .server
        .audit_of("")
        .iter()
        .filter(|e| e.detail.contains("after its final upload"))
        .count();
    assert!(n >= 2, "each refused request is audited");
    assert!(t
        .idva
        .store
        .list_cases(&CaseFilter::default())
        .unwrap()
        .iter()
        .all(|c| c.id == t.case));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Finding 2, on the devices: a change that reaches a device other than through the server (a
/// rescue bundle) is checked against the server's registry of actors the device learned on
/// sync: one whose message names someone other than its actor's registered user is refused
/// with the whole bundle; one from an actor the registry does not know is taken but shown as
/// not confirmed; changes the server passed are attributed by the registry and confirmed.
#[test]
fn finding_2_devices_name_authors_by_the_servers_registry() {
    let mut t = team();
    let attacker = Attacker::of(&t.server, &t.officer);
    // the IDVA's device learned on sync who the officer's actor is
    let history = t
        .idva
        .store
        .case_history(&t.case, Some("victim.name"))
        .unwrap();
    assert!(
        history.iter().all(|h| h.verified && h.user == OFFICER),
        "{history:?}"
    );
    let bundle_of = |t: &mut Team, actor: automerge::ActorId| {
        let mut doc = attacker.load(&mut t.officer, &t.case).with_actor(actor);
        let base = doc.get_heads();
        Attacker::put(
            &mut doc,
            &["victim", "safe_contact", "notes"],
            "Safe to call any time",
        );
        let changes = Attacker::commit(&mut doc, &base, &message(IDVA, "idva"), now_ms());
        let payload = provide_core::bundle::Payload {
            format: 1,
            created_at: "2026-11-30T10:00:00Z".into(),
            device_id: t.officer.store.device_id().to_string(),
            user: OFFICER.into(),
            role: "officer".into(),
            records: vec![provide_core::bundle::BundleRecord {
                id: t.case.clone(),
                kind: "case".into(),
                changes: hex::encode(changes),
            }],
        };
        provide_core::bundle::seal(
            &payload,
            "a bundle passphrase for the test",
            provide_tests::device::fast_options().kdf,
        )
        .unwrap()
    };
    let heads = t.idva.store.record_heads(&t.case).unwrap();

    // the officer's device forges a change in the IDVA's name and hands it over in a bundle
    let forged = bundle_of(&mut t, attacker.actor.clone());
    match t
        .idva
        .store
        .import_bundle(&forged, "a bundle passphrase for the test")
    {
        Err(Error::BadBundle(why)) => assert!(why.contains("could not have made"), "{why}"),
        other => panic!("the forged bundle was taken: {other:?}"),
    }
    assert_eq!(t.idva.store.record_heads(&t.case).unwrap(), heads);

    // from an actor nobody registered: taken (a rescue bundle may carry work the server has
    // not seen), but its author is shown as the message's claim, not confirmed
    let stranger = bundle_of(&mut t, automerge::ActorId::random());
    t.idva
        .store
        .import_bundle(&stranger, "a bundle passphrase for the test")
        .unwrap();
    let history = t
        .idva
        .store
        .case_history(&t.case, Some("victim.safe_contact.notes"))
        .unwrap();
    let claimed = history.last().unwrap();
    assert_eq!(
        (claimed.user.as_str(), claimed.verified),
        (IDVA, false),
        "an unregistered actor's claim is not confirmed"
    );
}

/// What a restored server takes from a record sent whole (`own_part`): the device's own
/// changes whose dependencies it holds, never a change under another user's actor, and never
/// a change of the device's own that depends on one.
#[test]
fn a_forged_change_never_rides_along_with_the_devices_own() {
    let mut t = team();
    let attacker = Attacker::of(&t.server, &t.officer);
    let idva_actor = t.idva.store.actor().clone();
    let before = heads_on_server(&t.server, &t.case).unwrap();

    // the device's own change first, then one forged under the IDVA's actor on top of it
    let mut doc = attacker.load(&mut t.officer, &t.case);
    Attacker::put(&mut doc, &["status"], "closed");
    Attacker::commit(&mut doc, &before, &message(OFFICER, "officer"), now_ms());
    let own = doc.get_heads();
    let mut other = doc.fork().with_actor(idva_actor.clone());
    Attacker::put(&mut other, &["status"], "handed_over");
    Attacker::commit(&mut other, &own, &message(IDVA, "idva"), now_ms());
    doc.merge(&mut other).unwrap();
    let forged = doc.get_heads();
    let changes = doc.save_after(&before);
    let s = seq(&mut t.officer);
    let answer = attacker.upload(s, &t.case, RecordKind::Case, before.clone(), changes);
    assert_eq!(refused(&t.server, &answer, &t.case), Refusal::UnknownActor);
    assert_eq!(
        heads_on_server(&t.server, &t.case).unwrap(),
        own,
        "the device's own change is taken, the forged one is not"
    );
    assert_ne!(own, forged);

    // a change of the device's own on top of a forged one is not taken either
    let now = heads_on_server(&t.server, &t.case).unwrap();
    // (on the server's copy, which holds the attacker's first change, so the officer's actor
    // goes on from it)
    let stored = t.server.service.storage.load_doc(&t.case).unwrap().unwrap();
    let mut doc = AutoCommit::load(&stored.chunks.concat())
        .unwrap()
        .with_actor(attacker.actor.clone());
    let base = doc.get_heads();
    assert_eq!(base, now);
    let mut other = doc.fork().with_actor(idva_actor);
    Attacker::put(&mut other, &["status"], "handed_over");
    Attacker::commit(&mut other, &base, &message(IDVA, "idva"), now_ms());
    doc.merge(&mut other).unwrap();
    Attacker::put(&mut doc, &["status"], "closed");
    let changes = Attacker::commit(&mut doc, &base, &message(OFFICER, "officer"), now_ms());
    let s = seq(&mut t.officer);
    let answer = attacker.upload(s, &t.case, RecordKind::Case, base, changes);
    assert_eq!(refused(&t.server, &answer, &t.case), Refusal::UnknownActor);
    assert_eq!(heads_on_server(&t.server, &t.case).unwrap(), now);

    // and the IDVA's device never sees the forged status
    t.idva.sync().unwrap();
    let case = t.idva.store.show_case(&t.case).unwrap().record;
    assert_eq!(case.status.as_str(), "closed");
}
