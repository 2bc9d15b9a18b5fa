//! Revocation and contact: a revoked device uploads what it holds, then destroys its key and
//! data; revoking a user reaches all their devices; a device out of contact too long locks
//! until it syncs; sync starts by itself once the server can be reached.

use std::time::Duration;

use provide_core::model::Deployment;
use provide_core::store::CaseFilter;
use provide_core::sync::auto::{sync_when_reachable, Backoff};
use provide_core::{Error, Store};
use provide_sync_server::admin;
use provide_tests::{Device, TestServer, PASSPHRASE};

fn new_case(d: &mut Device, name: &str) -> String {
    d.store
        .create_case(
            Deployment::PostIncident,
            &[("victim.name".into(), name.into())],
        )
        .unwrap()
}

#[test]
fn a_revoked_device_uploads_what_it_holds_then_erases_itself() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.gil.fictional", "officer", "west", "t1");
    let synced = new_case(&mut officer, "Hana Fictional");
    officer.sync().unwrap();
    // offline work the server has not seen: a new case and an edit
    let unsynced = new_case(&mut officer, "Ivo Fictional");
    officer
        .store
        .add_case_item(&synced, "notes", &serde_json::json!({"text": "late note"}))
        .unwrap();
    assert_eq!(officer.store.unsynced_count().unwrap(), 2);

    server
        .service
        .revoke_device(officer.store.device_id())
        .unwrap();
    let report = officer.sync().unwrap();
    assert!(report.revoked);
    assert_eq!(report.docs_sent, 2, "{report:?}");
    assert_eq!(report.unsynced_left, 0);
    // the server holds both apart, for review (a revoked device's final upload reaches no
    // other device), and the device's audit log arrived whole and verified
    let held: Vec<String> = server
        .service
        .storage
        .held_for_review()
        .unwrap()
        .into_iter()
        .map(|h| h.record)
        .collect();
    assert!(
        held.contains(&unsynced) && held.contains(&synced),
        "{held:?}"
    );
    assert!(server
        .service
        .storage
        .doc_meta(&unsynced)
        .unwrap()
        .is_none());
    let device_id = officer.store.device_id().to_string();
    let check = admin::verify_device_audit(&server.service, &device_id).unwrap();
    assert!(check.verified && check.entries > 0, "{check:?}");
    // the device is erased: no database, no key, nothing to unlock
    assert!(!officer.dir.path().join("provide.db").exists());
    assert!(Store::status(officer.dir.path()).unwrap().wiped);
    assert!(matches!(
        Store::open(officer.dir.path(), PASSPHRASE, None),
        Err(Error::Wiped)
    ));
    assert!(matches!(
        officer.store.list_cases(&CaseFilter::default()),
        Err(Error::Revoked)
    ));
    // another device of the team does not receive the revoked device's final upload: it is
    // kept apart for review
    let mut idva = Device::enrol(&server, "idva.jan.fictional", "idva", "west", "t1");
    idva.sync().unwrap();
    let notes = idva.store.show_case(&synced).unwrap().record.notes;
    assert!(notes.is_empty());
    assert!(idva.store.show_case(&unsynced).is_err());
}

#[test]
fn revoking_a_user_reaches_every_device_and_their_unused_codes() {
    let server = TestServer::start();
    let mut phone = Device::enrol(&server, "pc.kay.fictional", "officer", "west", "t1");
    let tablet_code = server.code("pc.kay.fictional", "officer", "west", "t1");
    let mut tablet = Device::enrol_with_code(&server, &tablet_code).unwrap();
    let spare_code = server.code("pc.kay.fictional", "officer", "west", "t1");
    let mut bystander = Device::enrol(&server, "pc.lee.fictional", "officer", "west", "t1");
    assert_eq!(server.service.revoke_user("pc.kay.fictional").unwrap(), 2);
    assert!(phone.sync().unwrap().revoked);
    assert!(tablet.sync().unwrap().revoked);
    assert!(!bystander.sync().unwrap().revoked);
    assert!(Device::enrol_with_code(&server, &spare_code).is_err());
    let devices = admin::devices(&server.service).unwrap();
    assert_eq!(devices.iter().filter(|d| d.revoked).count(), 2);
}

#[test]
fn a_device_out_of_contact_too_long_locks_until_it_syncs() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.mo.fictional", "officer", "west", "t1");
    new_case(&mut officer, "Nia Fictional");
    assert_eq!(
        officer.store.contact_status().unwrap().max_offline_hours,
        72
    );
    // the last contact was 73 hours ago
    let then = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 73 * 3_600_000;
    officer
        .raw_db()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'last_contact_ms'",
            [then.to_string()],
        )
        .unwrap();
    assert!(officer.store.contact_status().unwrap().overdue);
    assert!(matches!(
        officer.store.list_cases(&CaseFilter::default()),
        Err(Error::ContactOverdue(72))
    ));
    officer.sync().unwrap();
    assert!(!officer.store.contact_status().unwrap().overdue);
    assert_eq!(
        officer
            .store
            .list_cases(&CaseFilter::default())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn sync_starts_by_itself_when_the_server_becomes_reachable() {
    let mut server = TestServer::start();
    let addr = server.addr();
    let mut officer = Device::enrol(&server, "pc.ola.fictional", "officer", "west", "t1");
    let case = new_case(&mut officer, "Pam Fictional");
    server.stop();
    assert!(matches!(officer.sync(), Err(Error::Unreachable(_))));
    let data = server.data.clone();
    let restart = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let service = data.open(Default::default()).unwrap();
        provide_sync_server::serve::start(
            service,
            provide_sync_server::serve::Listen { addr, tls: None },
        )
        .unwrap()
    });
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
    let mut progress = Vec::new();
    let (report, failures) = sync_when_reachable(
        &mut officer.store,
        &mut officer.transport,
        &Default::default(),
        &mut backoff,
        Duration::from_secs(30),
        &mut |p| progress.push(p.clone()),
    )
    .unwrap();
    let running = restart.join().unwrap();
    assert!(failures >= 1, "it retried while the server was down");
    assert_eq!(report.docs_sent, 1);
    assert!(progress
        .iter()
        .any(|p| p.docs_left == 1 && p.bytes_in_flight > 0));
    assert_eq!(progress.last().unwrap().docs_left, 0);
    let meta = server.service.storage.doc_meta(&case).unwrap();
    assert!(meta.is_some());
    running.stop();
}
