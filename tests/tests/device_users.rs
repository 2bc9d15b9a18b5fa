//! Issue 13, finding 6 (users on a shared device): a user is added to a device only through
//! the server, with an enrolment code an administrator issued for that user; the role,
//! division and team are the server's, and the new user's own actor id is registered to
//! (device, user, role). An officer's device cannot make an IDVA by itself, nor spend a code
//! issued for another team. Over real HTTP, on SQLite and PostgreSQL.

use automerge::ActorId;
use provide_core::crypto::keyslots::KeySlots;
use provide_core::crypto::KdfParams;
use provide_core::model::Role;
use provide_core::sync::users::add_user;
use provide_core::{Error, Store};
use provide_sync_server::storage::AuditFilter;
use provide_tests::device::Device;
use provide_tests::server::TestServer;
use provide_tests::PASSPHRASE;
use reqwest::blocking::Client;

const IDVA_PASS: &str = "idva passphrase fictional";

fn refused_code(e: Error) -> String {
    match e {
        Error::ServerRefused { code, .. } => code,
        other => panic!("expected the server to refuse, got {other}"),
    }
}

/// Posts a raw body to the users route; returns the status and the error code.
fn raw_post(server: &TestServer, credential: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut req = Client::new()
        .post(format!("{}/v1/device/users", server.url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap_or_default();
    (status, v["code"].as_str().unwrap_or_default().to_string())
}

/// The shared device's database opened directly with the data key the officer's passphrase
/// unwraps, as the officer could.
fn officer_raw_db(dir: &std::path::Path) -> rusqlite::Connection {
    let mut slots = KeySlots::load(dir).unwrap();
    let (who, key) = slots.unlock(PASSPHRASE, None).unwrap();
    assert_eq!(who, "pc-morgan");
    let conn = rusqlite::Connection::open(dir.join("provide.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";",
        hex::encode(key.as_ref())
    ))
    .unwrap();
    conn
}

fn users_on(device: &Device) -> Vec<String> {
    KeySlots::load(device.dir.path()).unwrap().users()
}

fn add_user_events(server: &TestServer) -> Vec<provide_sync_server::storage::AuditRow> {
    let mut filter = AuditFilter::default();
    filter.entries.action = Some("add_user".into());
    server.service.storage.audit(&filter).unwrap()
}

#[test]
fn a_user_is_added_only_with_a_code_the_server_issued_for_them() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc-morgan", "officer", "west", "t1");
    let device_id = officer.store.device_id().to_string();
    let credential = officer.store.server_link().unwrap().credential.to_string();

    // the attack: an officer's device makes an IDVA without a code (a made-up one, an empty
    // one, straight to the route, no credential, an oversized body)
    let e = add_user(
        &mut officer.store,
        "ABCDE-FGHIJ-KLMNO-PQRST",
        IDVA_PASS,
        KdfParams::FLOOR,
        &mut officer.transport,
    )
    .unwrap_err();
    assert_eq!(refused_code(e), "enrolment_refused");
    let actor = ActorId::random().to_hex_string();
    let body = |code: &str| {
        serde_json::to_vec(&serde_json::json!({ "code": code, "actor_id": actor })).unwrap()
    };
    assert_eq!(
        raw_post(&server, Some(&credential), body("")),
        (403, "enrolment_refused".into())
    );
    assert_eq!(
        raw_post(&server, None, body("ABCDE-FGHIJ-KLMNO-PQRST")),
        (401, "unauthorized".into())
    );
    let (status, _) = raw_post(&server, Some(&credential), vec![b' '; 8 * 1024]);
    assert_eq!(status, 413);
    assert_eq!(users_on(&officer), vec!["pc-morgan".to_string()]);
    assert!(server
        .service
        .storage
        .actor_owner(&actor)
        .unwrap()
        .is_none());

    // a code issued for a user of another team is refused, and stays unspent
    let other_team = server.code("idva-sol", "idva", "west", "t2");
    let e = add_user(
        &mut officer.store,
        &other_team,
        IDVA_PASS,
        KdfParams::FLOOR,
        &mut officer.transport,
    )
    .unwrap_err();
    assert_eq!(refused_code(e), "forbidden");
    assert_eq!(users_on(&officer), vec!["pc-morgan".to_string()]);
    assert!(add_user_events(&server).is_empty());

    // with the code the administrator issued for the IDVA, the IDVA is added with the
    // server's role, division and team, and their own actor id registered to them here
    let code = server.code("idva-rowan", "idva", "west", "t1");
    let added = add_user(
        &mut officer.store,
        &code,
        IDVA_PASS,
        KdfParams::FLOOR,
        &mut officer.transport,
    )
    .unwrap();
    assert_eq!(
        (added.user.as_str(), added.role, added.team.as_str()),
        ("idva-rowan", Role::Idva, "t1")
    );
    assert_eq!(users_on(&officer).len(), 2);
    let officer_actor = officer.store.actor().to_hex_string();
    let case = officer
        .store
        .create_case(provide_core::model::Deployment::PostIncident, &[])
        .unwrap();
    drop(officer.store);
    let mut idva = Store::open(officer.dir.path(), IDVA_PASS, None).unwrap();
    // the IDVA's health note on the shared device: sealed under the key only their slot holds
    idva.add_health_note(&case, "Fictional: seen at the Canarybird clinic")
        .unwrap();
    assert_eq!(idva.session().role, Role::Idva);
    let idva_actor = idva.actor().to_hex_string();
    assert_ne!(
        idva_actor, officer_actor,
        "the IDVA commits under an actor of their own"
    );
    let owner = |actor: &str| {
        let o = server.service.storage.actor_owner(actor).unwrap().unwrap();
        assert!(o.registered_at_ms > 0);
        (o.device_id, o.user, o.role)
    };
    assert_eq!(
        owner(&idva_actor),
        (device_id.clone(), "idva-rowan".to_string(), Role::Idva)
    );
    assert_eq!(
        owner(&officer_actor),
        (device_id.clone(), "pc-morgan".to_string(), Role::Officer)
    );
    assert!(server
        .service
        .storage
        .actors_of_user("idva-rowan")
        .unwrap()
        .contains(&idva_actor));
    let events = add_user_events(&server);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].device.as_str(), events[0].user.as_str()),
        (device_id.as_str(), "idva-rowan")
    );
    let hid = provide_core::model::health_id(&case);
    let (_, doc) = idva.record_bytes(&hid).unwrap();
    let doc = automerge::Automerge::load(&doc).unwrap();
    let authors: Vec<String> = doc
        .get_changes(&[])
        .iter()
        .map(|c| c.actor_id().to_hex_string())
        .collect();
    assert!(authors.iter().all(|a| *a == idva_actor), "{authors:?}");
    drop(idva);
    let raw = officer_raw_db(officer.dir.path());
    let sealed: Vec<Vec<u8>> = raw
        .prepare("SELECT bytes FROM chunks WHERE record_id = ?1")
        .unwrap()
        .query_map([&hid], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!sealed.is_empty() && sealed.iter().all(|c| c.starts_with(b"PHS1")));
    assert!(sealed
        .iter()
        .all(|c| !c.windows(10).any(|w| w == b"Canarybird")));
    drop(raw);

    // the officer's sync on the shared device leaves the health record it cannot read for the
    // IDVA, and goes on with the rest
    let mut officer_store = Store::open(officer.dir.path(), PASSPHRASE, None).unwrap();
    assert_eq!(
        officer_store.unreadable_unsynced().unwrap(),
        vec![hid.clone()]
    );
    let report = provide_core::sync::sync(
        &mut officer_store,
        &mut officer.transport,
        &provide_core::sync::SyncOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        report.docs_sent, 1,
        "the case went, the health record stayed"
    );
    assert!(server.service.storage.doc_meta(&hid).unwrap().is_none());

    // the code is spent; the other team's code still enrols a device of its own
    let e = add_user(
        &mut officer_store,
        &code,
        IDVA_PASS,
        KdfParams::FLOOR,
        &mut officer.transport,
    )
    .unwrap_err();
    assert_eq!(refused_code(e), "enrolment_refused");
    Device::enrol_with_code(&server, &other_team).unwrap();
}

#[test]
fn a_revoked_device_adds_no_user() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc-ada", "officer", "west", "t1");
    let code = server.code("idva-kit", "idva", "west", "t1");
    server
        .service
        .revoke_device(officer.store.device_id())
        .unwrap();
    let e = add_user(
        &mut officer.store,
        &code,
        IDVA_PASS,
        KdfParams::FLOOR,
        &mut officer.transport,
    )
    .unwrap_err();
    assert_eq!(refused_code(e), "forbidden");
    assert_eq!(users_on(&officer), vec!["pc-ada".to_string()]);
    assert!(add_user_events(&server).is_empty());
}
