//! The encrypted store: no plaintext canary in any file it writes, no SQLite plaintext header,
//! a wrong passphrase fails and changes nothing, the audit chain catches tampering by someone
//! holding the key, and old documents migrate forward on load.

use std::fs;
use std::path::Path;

use provide_core::crypto::keyslots::LockPolicy;
use provide_core::model::{Deployment, Role};
use provide_core::store::CaseFilter;
use provide_core::{Error, NewUser, Store};

mod support;

const PASS: &str = "fictional passphrase 1";
const CANARIES: &[&str] = &[
    "Perpetua Canarybird",
    "07700 900461",
    "99 Canary Wharfside Lane",
    "Gideon Canarybird",
];

fn new_store(dir: &Path, role: Role) -> Store {
    support::new_store(dir, "pc-fict", role, PASS)
}

fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_no_canary(dir: &Path) {
    for f in all_files(dir) {
        let bytes = fs::read(&f).unwrap();
        for c in CANARIES {
            for needle in [c.to_string(), c.to_lowercase()] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "plaintext `{needle}` found in {}",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn no_plaintext_canary_in_any_file_and_no_sqlite_header() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut s = new_store(&dir, Role::Idva);
    let id = s
        .create_case(
            Deployment::PostIncident,
            &[
                ("victim.name".into(), CANARIES[0].into()),
                ("victim.phone".into(), CANARIES[1].into()),
                ("victim.address".into(), CANARIES[2].into()),
            ],
        )
        .unwrap();
    // while the store is open (WAL present) nothing leaks either
    s.set_case_fields(&id, &[("perpetrator.name".into(), CANARIES[3].into())])
        .unwrap();
    s.add_case_item(
        &id,
        "notes",
        &serde_json::json!({"text": format!("Spoke with {}", CANARIES[0])}),
    )
    .unwrap();
    s.add_health_note(&id, &format!("GP for {}", CANARIES[0]))
        .unwrap();
    assert_no_canary(&dir);
    let found = s
        .list_cases(&CaseFilter {
            search: Some("canarybird".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.len(), 1);
    s.show_case(&id).unwrap();
    assert_no_canary(&dir);
    drop(s);
    assert_no_canary(&dir);
    let db = fs::read(dir.join("provide.db")).unwrap();
    assert!(
        !db.starts_with(b"SQLite format 3\0"),
        "the database has a plaintext header"
    );
    // and the store reopens with the data intact
    let mut s = Store::open(&dir, PASS, None).unwrap();
    assert_eq!(s.show_case(&id).unwrap().record.victim.name, CANARIES[0]);
}

#[test]
fn wrong_passphrase_fails_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut s = new_store(&dir, Role::Officer);
    let id = s
        .create_case(
            Deployment::Live,
            &[("victim.name".into(), "Orla Fictional".into())],
        )
        .unwrap();
    drop(s);
    let db_before = fs::read(dir.join("provide.db")).unwrap();
    assert!(matches!(
        Store::open(&dir, "not the passphrase", None),
        Err(Error::WrongPassphrase)
    ));
    assert_eq!(
        fs::read(dir.join("provide.db")).unwrap(),
        db_before,
        "a failed unlock touched the database"
    );
    // the failure is counted and backs off, then the right passphrase still opens it
    assert!(matches!(
        Store::open(&dir, PASS, None),
        Err(Error::BackingOff(_))
    ));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut s = Store::open(&dir, PASS, None).unwrap();
    assert_eq!(
        s.show_case(&id).unwrap().record.victim.name,
        "Orla Fictional"
    );
}

#[test]
fn lockout_destroys_the_key_and_reports_wiped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let user = NewUser {
        name: "pc-fict".into(),
        role: Role::Officer,
        division: "w".into(),
        team: "t".into(),
    };
    let policy = LockPolicy {
        max_attempts: 4,
        backoff_base_ms: 1,
        backoff_max_ms: 1,
        ..LockPolicy::default()
    };
    let s = Store::init(&dir, user, PASS, support::fast_options(policy)).unwrap();
    drop(s);
    for i in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(5));
        let r = Store::open(&dir, "wrong wrong wrong", None);
        if i < 3 {
            assert!(matches!(r, Err(Error::WrongPassphrase)), "{i}");
        } else {
            assert!(matches!(r, Err(Error::Wiped)));
        }
    }
    assert!(Store::status(&dir).unwrap().wiped);
    assert!(!dir.join("provide.db").exists());
    assert!(matches!(Store::open(&dir, PASS, None), Err(Error::Wiped)));
}

#[test]
fn audit_chain_detects_tampering_by_a_key_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut s = new_store(&dir, Role::Officer);
    let id = s.create_case(Deployment::Live, &[]).unwrap();
    s.set_case_fields(&id, &[("status".into(), "closed".into())])
        .unwrap();
    s.show_case(&id).unwrap();
    let n = s.audit_verify().unwrap();
    assert!(n >= 4);
    drop(s);
    // someone who holds the key edits the log directly
    let conn = support::open_raw(&dir, PASS);
    conn.execute("UPDATE audit SET action = 'view' WHERE seq = 3", [])
        .unwrap();
    drop(conn);
    let s = Store::open(&dir, PASS, None).unwrap();
    match s.audit_verify() {
        Err(Error::AuditBroken { seq, .. }) => assert_eq!(seq, 3),
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[test]
fn roles_are_enforced_by_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let mut officer = new_store(&tmp.path().join("o"), Role::Officer);
    let id = officer.create_case(Deployment::Live, &[]).unwrap();
    assert!(matches!(
        officer.add_health_note(&id, "x"),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        officer.set_case_fields(&id, &[("support.safety_planning".into(), "true".into())]),
        Err(Error::Forbidden { .. })
    ));
    let mut admin = new_store(&tmp.path().join("a"), Role::Admin);
    assert!(matches!(
        admin.list_cases(&CaseFilter::default()),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        admin.create_case(Deployment::Live, &[]),
        Err(Error::Forbidden { .. })
    ));
}

#[test]
fn index_columns_follow_the_document() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = new_store(&tmp.path().join("s"), Role::Idva);
    let id = s
        .create_case(
            Deployment::PostIncident,
            &[("victim.name".into(), "Nerys Fictional".into())],
        )
        .unwrap();
    let answers: serde_json::Map<String, serde_json::Value> = (1..=27)
        .map(|i| {
            (
                format!("dash_{i:02}"),
                serde_json::json!(if i <= 15 { "yes" } else { "no" }),
            )
        })
        .collect();
    let input =
        provide_core::forms::AssessmentInput::from_json(&serde_json::Value::Object(answers))
            .unwrap();
    let (_, eval) = s.assess(&id, "dash", &input).unwrap();
    assert!(eval.meets_marac());
    let rows = s
        .list_cases(&CaseFilter {
            risk: Some("high".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].victim_name, "Nerys Fictional");
    s.set_case_fields(
        &id,
        &[
            ("status".into(), "handed_over".into()),
            ("victim.name".into(), "Nerys Renamed".into()),
        ],
    )
    .unwrap();
    let rows = s
        .list_cases(&CaseFilter {
            status: Some("handed_over".into()),
            search: Some("renamed".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(s
        .list_cases(&CaseFilter {
            search: Some("nerys fictional".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}

#[test]
fn a_schema_1_document_migrates_forward_on_load() {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ReadDoc, ROOT};
    use provide_core::record::{Author, RecordDoc};
    // a case as the schema-1 build wrote it: flat safe-contact fields, no repeat-victim outcome
    let origin = provide_core::model::Case::new(
        "case-old".into(),
        Deployment::Live,
        "u",
        "2026-01-01T00:00:00Z",
    );
    let mut doc = AutoCommit::new();
    autosurgeon::reconcile(&mut doc, &origin).unwrap();
    let victim = match doc.get(ROOT, "victim").unwrap() {
        Some((_, id)) => id,
        None => unreachable!(),
    };
    doc.delete(&victim, "safe_contact").unwrap();
    doc.put(&victim, "safe_to_call", false).unwrap();
    doc.put(&victim, "safe_times", "after 3pm").unwrap();
    let outcome = match doc.get(ROOT, "outcome").unwrap() {
        Some((_, id)) => id,
        None => unreachable!(),
    };
    doc.delete(&outcome, "repeat_victim").unwrap();
    doc.put(ROOT, "schema", 1u64).unwrap();
    doc.commit();
    let rec = RecordDoc::load(
        "case-old",
        provide_core::model::RecordKind::Case,
        &[doc.save()],
        &automerge::ActorId::random(),
        &Author::new("pc-fict", Role::Officer),
    )
    .unwrap();
    let case = rec.case().unwrap();
    assert_eq!(case.schema, provide_core::model::CASE_SCHEMA);
    assert_eq!(case.victim.safe_contact.call_ok, Some(false));
    assert_eq!(case.victim.safe_contact.safe_times, "after 3pm");
    assert_eq!(
        case.outcome.repeat_victim,
        provide_core::model::TriState::Unknown
    );
    // a document from a newer build is refused, not misread
    let mut newer = AutoCommit::new();
    autosurgeon::reconcile(&mut newer, &origin).unwrap();
    newer.put(ROOT, "schema", 99u64).unwrap();
    newer.commit();
    assert!(RecordDoc::load(
        "case-old",
        provide_core::model::RecordKind::Case,
        &[newer.save()],
        &automerge::ActorId::random(),
        &Author::new("pc-fict", Role::Officer)
    )
    .is_err());
}

/// Every value in every table of a database opened directly, as bytes.
fn all_values(conn: &rusqlite::Connection) -> Vec<Vec<u8>> {
    let tables: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    let mut out = vec![];
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..n {
                use rusqlite::types::ValueRef;
                match row.get_ref(i).unwrap() {
                    ValueRef::Text(b) | ValueRef::Blob(b) => out.push(b.to_vec()),
                    _ => {}
                }
            }
        }
    }
    out
}

fn health_chunks(conn: &rusqlite::Connection) -> Vec<Vec<u8>> {
    let mut stmt = conn
        .prepare("SELECT c.bytes FROM chunks c JOIN records r ON r.id = c.record_id WHERE r.kind = 'health'")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

const OFFICER_PASS: &str = "officer passphrase 1";
const HEALTH_CANARY: &str = "Dr Canarybird at Wharfside Surgery";

fn officer_user() -> NewUser {
    NewUser {
        name: "pc-morgan".into(),
        role: Role::Officer,
        division: "west".into(),
        team: "t1".into(),
    }
}

/// Issue 13, finding 6: on a shared device an officer who unlocks the store, even reading the
/// database directly with the data key their slot unwraps, finds no health record content:
/// it is sealed under a key only IDVA slots hold. The IDVA still reads it.
#[test]
fn an_officer_on_a_shared_device_cannot_read_health_records_even_with_the_data_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut idva = new_store(&dir, Role::Idva);
    let id = idva.create_case(Deployment::PostIncident, &[]).unwrap();
    idva.add_health_note(&id, HEALTH_CANARY).unwrap();
    idva.set_discreet_contact(&id, HEALTH_CANARY).unwrap();
    idva.add_user(
        officer_user(),
        automerge::ActorId::random(),
        OFFICER_PASS,
        support::fast_options(LockPolicy::default()).kdf,
    )
    .unwrap();
    drop(idva);

    let mut officer = Store::open(&dir, OFFICER_PASS, None).unwrap();
    assert_eq!(officer.session().role, Role::Officer);
    assert!(matches!(
        officer.show_health(&id),
        Err(Error::Forbidden { .. })
    ));
    drop(officer);
    // the attack: the officer's passphrase unwraps the data key; read every table directly
    let conn = support::open_raw(&dir, OFFICER_PASS);
    let chunks = health_chunks(&conn);
    assert!(!chunks.is_empty());
    for c in &chunks {
        assert!(c.starts_with(b"PHS1"), "a health chunk is not sealed");
        assert!(automerge::Automerge::load(c).is_err());
    }
    for v in all_values(&conn) {
        for needle in [HEALTH_CANARY.to_string(), HEALTH_CANARY.to_lowercase()] {
            assert!(
                !v.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "health content readable with the data key"
            );
        }
    }
    drop(conn);
    assert_no_canary(&dir);

    // the IDVA unlocks the same store and reads the record
    let mut idva = Store::open(&dir, PASS, None).unwrap();
    let h = idva.show_health(&id).unwrap().unwrap().record;
    assert_eq!(h.discreet_contact, HEALTH_CANARY);
    assert_eq!(h.notes[0].text, HEALTH_CANARY);
}

/// A store made before health keys keeps its health records in plaintext chunks: the first
/// IDVA to unlock it makes the key, wraps it in their slot and seals them; doing it again
/// changes nothing.
#[test]
fn an_older_stores_health_records_are_sealed_when_an_idva_unlocks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut idva = new_store(&dir, Role::Idva);
    let id = idva.create_case(Deployment::PostIncident, &[]).unwrap();
    idva.set_discreet_contact(&id, HEALTH_CANARY).unwrap();
    let hid = provide_core::model::health_id(&id);
    let (_, plain) = idva.record_bytes(&hid).unwrap();
    idva.add_user(
        officer_user(),
        automerge::ActorId::random(),
        OFFICER_PASS,
        support::fast_options(LockPolicy::default()).kdf,
    )
    .unwrap();
    drop(idva);
    // make it look as an older build left it: plaintext chunks, no health key anywhere
    let conn = support::open_raw(&dir, PASS);
    conn.execute("DELETE FROM chunks WHERE record_id = ?1", [&hid])
        .unwrap();
    conn.execute(
        "INSERT INTO chunks (record_id, seq, bytes) VALUES (?1, 1, ?2)",
        rusqlite::params![hid, plain],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM meta WHERE key IN ('health_key_at', 'health_sealed_at')",
        [],
    )
    .unwrap();
    drop(conn);
    let slots = dir.join("keyslots.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&slots).unwrap()).unwrap();
    for s in file["slots"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("health");
    }
    fs::write(&slots, file.to_string()).unwrap();
    assert!(!health_chunks(&support::open_raw(&dir, OFFICER_PASS))[0].starts_with(b"PHS1"));

    // an officer unlocking first changes nothing
    drop(Store::open(&dir, OFFICER_PASS, None).unwrap());
    // the IDVA's unlock seals them
    let mut idva = Store::open(&dir, PASS, None).unwrap();
    assert_eq!(
        idva.show_health(&id)
            .unwrap()
            .unwrap()
            .record
            .discreet_contact,
        HEALTH_CANARY
    );
    assert!(idva
        .audit_entries()
        .unwrap()
        .iter()
        .any(|e| e.detail.contains("sealed under the health key")));
    drop(idva);
    let conn = support::open_raw(&dir, OFFICER_PASS);
    assert!(health_chunks(&conn).iter().all(|c| c.starts_with(b"PHS1")));
    assert!(all_values(&conn).iter().all(|v| !v
        .windows(HEALTH_CANARY.len())
        .any(|w| w == HEALTH_CANARY.as_bytes())));
    drop(conn);
    assert_no_canary(&dir);
    // again: nothing more to do, and the record still reads
    let mut idva = Store::open(&dir, PASS, None).unwrap();
    idva.add_health_note(&id, "second note").unwrap();
    assert_eq!(
        idva.show_health(&id).unwrap().unwrap().record.notes.len(),
        1
    );
}

/// Issue 13, finding 11: a key-slot file whose Argon2id cost was lowered to the old minimum
/// (8 MiB, 1 pass) is refused with a clear error on open and in the status, and no attempt is
/// counted.
#[test]
fn a_store_whose_slot_cost_was_lowered_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    drop(new_store(&dir, Role::Officer));
    let path = dir.join("keyslots.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    file["slots"][0]["kdf"]["memory_kib"] = 8192.into();
    file["slots"][0]["kdf"]["iterations"] = 1.into();
    fs::write(&path, file.to_string()).unwrap();
    for pass in [PASS, "a guess at the passphrase"] {
        let e = Store::open(&dir, pass, None).err().unwrap();
        assert_eq!(e.code(), "kdf_below_floor", "{e}");
        assert!(e.to_string().contains("19 MiB"), "{e}");
    }
    assert_eq!(Store::status(&dir).unwrap_err().code(), "kdf_below_floor");
    let after: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(after["lockout"]["failed_attempts"], 0);
}
