//! The patrol app's device side (`provide_core::app::App`, what the Tauri shell holds) against
//! a real sync server on loopback: enrol with a one-time code, work, sync by itself and on
//! demand, keep working while a slow sync is in flight, go offline and come back, and lock
//! itself when revoked.

use std::sync::{Arc, Barrier};

use provide_core::app::{App, Phase, SyncState, TransportFactory};
use provide_core::model::{Deployment, Role};
use provide_core::sync::transport::{HttpTransport, Transport};
use provide_core::Result;
use provide_tests::device::fast_options;
use provide_tests::{Device, TestServer, PASSPHRASE};

fn http() -> TransportFactory {
    Box::new(|url, _| Ok(Box::new(HttpTransport::new(url, None)?)))
}

fn enrolled_app(server: &TestServer, user: &str, role: &str) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(&dir.path().join("store"), http()).with_init_options(fast_options());
    let code = server.code(user, role, "west", "t1");
    let st = app.enrol(&server.url, &code, PASSPHRASE).unwrap();
    assert!(matches!(st.phase, Phase::Unlocked { .. }), "{st:?}");
    (dir, app)
}

#[test]
fn enrol_work_and_sync_reach_the_partner_device() {
    let server = TestServer::start();
    let (_dir, app) = enrolled_app(&server, "idva.ash.fictional", "idva");
    let mut officer = Device::enrol(&server, "pc.bo.fictional", "officer", "west", "t1");
    let id = app
        .with_store(|s| {
            s.create_case(
                Deployment::PostIncident,
                &[("victim.name".into(), "Jane Fictional".into())],
            )
        })
        .unwrap();
    assert_eq!(app.sync_status().waiting, 1);
    let mut steps = Vec::new();
    let report = app.sync_now(&mut |s| steps.push(s.state.clone())).unwrap();
    assert_eq!(report.docs_sent, 1);
    assert!(steps.iter().any(|s| matches!(s, SyncState::Syncing { .. })));
    let status = app.sync_status();
    assert!(
        matches!(status.state, SyncState::Synced { .. }),
        "{status:?}"
    );
    assert_eq!(status.waiting, 0);
    assert!(status.last_contact.is_some());
    officer.sync().unwrap();
    assert_eq!(
        officer.store.show_case(&id).unwrap().record.victim.name,
        "Jane Fictional"
    );
    // and back: the officer's note arrives at the app on its next sync
    officer
        .store
        .add_case_item(&id, "notes", &serde_json::json!({"text": "door answered"}))
        .unwrap();
    officer.sync().unwrap();
    app.sync_now(&mut |_| {}).unwrap();
    let case = app.with_store(|s| s.show_case(&id)).unwrap();
    assert_eq!(case.record.notes.len(), 1);
}

/// A transport that waits at a barrier before each exchange, so the test can act while a
/// sync is in flight.
struct Held {
    inner: HttpTransport,
    barrier: Arc<Barrier>,
}

impl Transport for Held {
    fn post(&mut self, path: &str, body: &[u8], credential: Option<&str>) -> Result<Vec<u8>> {
        self.barrier.wait(); // the test knows the sync is between its steps
        self.barrier.wait(); // and lets it go on once it has used the store
        self.inner.post(path, body, credential)
    }

    fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        credential: Option<&str>,
    ) -> Result<Vec<u8>> {
        self.inner.get(path, query, credential)
    }
}

#[test]
fn the_store_stays_usable_while_a_sync_waits_on_the_network() {
    let server = TestServer::start();
    let (_dir, app) = enrolled_app(&server, "idva.cy.fictional", "idva");
    app.sync_now(&mut |_| {}).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let b = barrier.clone();
    let url = server.url.clone();
    let dir = app.dir().to_path_buf();
    drop(app);
    let app = Arc::new(
        App::new(
            &dir,
            Box::new(move |_, _| {
                Ok(Box::new(Held {
                    inner: HttpTransport::new(&url, None)?,
                    barrier: b.clone(),
                }))
            }),
        )
        .with_init_options(fast_options()),
    );
    app.unlock(PASSPHRASE, None).unwrap();
    let first = app
        .with_store(|s| s.create_case(Deployment::Live, &[]))
        .unwrap();
    let syncing = {
        let app = app.clone();
        std::thread::spawn(move || app.sync_now(&mut |_| {}))
    };
    barrier.wait(); // the request for `first` is built and about to go
    let second = app
        .with_store(|s| s.create_case(Deployment::Consultation, &[]))
        .expect("the store is free while the sync is on the network");
    assert_eq!(
        app.sync_now(&mut |_| {}).unwrap_err().code(),
        "sync_busy",
        "one sync at a time"
    );
    barrier.wait();
    // the case made meanwhile is found by the same sync and goes in its next request
    barrier.wait();
    barrier.wait();
    let report = syncing.join().unwrap().unwrap();
    assert_eq!(report.docs_sent, 2, "both cases went");
    assert_eq!(report.round_trips, 2);
    assert_eq!(app.sync_status().waiting, 0);
    let mut officer = Device::enrol(&server, "pc.di.fictional", "officer", "west", "t1");
    officer.sync().unwrap();
    officer.store.show_case(&first).unwrap();
    officer.store.show_case(&second).unwrap();
}

#[test]
fn offline_is_shown_in_plain_words_and_work_is_kept() {
    let mut server = TestServer::start();
    let (_dir, app) = enrolled_app(&server, "pc.ed.fictional", "officer");
    server.stop();
    app.with_store(|s| s.create_case(Deployment::Live, &[]))
        .unwrap();
    let err = app.sync_now(&mut |_| {}).unwrap_err();
    assert_eq!(err.code(), "unreachable");
    let status = app.sync_status();
    match &status.state {
        SyncState::Offline { message } => {
            assert!(message.contains("kept on this device"), "{message}")
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(status.waiting, 1);
}

#[test]
fn a_revoked_device_locks_itself_after_uploading() {
    let server = TestServer::start();
    let (_dir, app) = enrolled_app(&server, "pc.fay.fictional", "officer");
    let id = app
        .with_store(|s| s.create_case(Deployment::Live, &[]))
        .unwrap();
    let device_id = app.with_store(|s| Ok(s.device_id().to_string())).unwrap();
    server.service.revoke_device(&device_id).unwrap();
    let report = app.sync_now(&mut |_| {}).unwrap();
    assert!(report.revoked);
    assert!(!app.is_unlocked());
    assert_eq!(app.status().unwrap().phase, Phase::Wiped);
    assert_eq!(app.unlock(PASSPHRASE, None).unwrap_err().code(), "wiped");
    // what it handed over is kept apart for review, not sent to anyone
    let held = server.service.storage.held_for_review().unwrap();
    assert!(held.iter().any(|h| h.record == id), "{held:?}");
    let mut safeguarding = Device::enrol(&server, "ds.gu.fictional", "safeguarding", "west", "t1");
    safeguarding.sync().unwrap();
    assert!(safeguarding.store.show_case(&id).is_err());
}

#[test]
fn the_supervisors_reports_through_the_app() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.cy.fictional", "officer", "west", "t1");
    let case = officer
        .store
        .create_case(
            Deployment::PostIncident,
            &[
                ("victim.name".into(), "Gwen Fictional".into()),
                ("victim.phone".into(), "07700 900123".into()),
                ("incident.occurred_at".into(), "2026-11-20T21:00:00Z".into()),
            ],
        )
        .unwrap();
    officer.sync().unwrap();
    let (_dir, unit) = enrolled_app(&server, "sg.di.fictional", "safeguarding");
    unit.sync_now(&mut |_| {}).unwrap();

    let d = unit.dashboard("2026-11-01", "2026-11-30").unwrap();
    assert_eq!(d.attendances, 1);
    assert_eq!(d.division, "west");

    let folder = tempfile::tempdir().unwrap();
    let csv = provide_core::report::ExportFormat::Csv;
    let first = unit
        .export_report("2026-11-01", "2026-11-30", csv, folder.path())
        .unwrap();
    let second = unit
        .export_report("2026-11-01", "2026-11-30", csv, folder.path())
        .unwrap();
    assert_ne!(
        first.path, second.path,
        "an export never overwrites another"
    );
    let text = std::fs::read_to_string(&first.path).unwrap();
    assert_eq!(text.len() as u64, first.bytes);
    assert_eq!(text.lines().count(), 2, "a header and one attendance");
    assert!(!text.contains("Gwen") && !text.contains("07700"));
    assert!(!text.contains(&case), "the case id is pseudonymous too");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // the device's own log records both exports; the server's log too
    let local = unit.with_store(|s| s.audit_entries()).unwrap();
    assert_eq!(local.iter().filter(|e| e.action == "export").count(), 2);
    let rows = unit
        .audit_log(&provide_core::report::AuditQuery {
            action: Some("export".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rows.len(), 2);

    // an officer's app is refused, in plain words, and a bad period never leaves the device
    let (_odir, patrol) = enrolled_app(&server, "pc.ed.fictional", "officer");
    let e = patrol.dashboard("2026-11-01", "2026-11-30").unwrap_err();
    assert_eq!(provide_core::IpcError::from(&e).code, "forbidden", "{e}");
    let e = unit.dashboard("2026-11-30", "2026-11-01").unwrap_err();
    assert!(!e.to_string().is_empty());
}

#[test]
fn the_app_trusts_the_server_ca_it_enrolled_with_for_every_sync() {
    let server = TestServer::start_tls();
    let ca =
        provide_core::sync::transport::read_ca_cert(server.ca_cert.as_deref().unwrap()).unwrap();
    let calls = Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let seen = calls.clone();
    let enrolment_ca = ca.clone();
    // enrolment trusts the CA it is given (as the shell does from PROVIDE_CA_CERT); every
    // later transport trusts only what the app hands it
    let factory: TransportFactory = Box::new(move |url, kept| {
        let mut seen = seen.lock().unwrap();
        let trust = if seen.is_empty() {
            Some(enrolment_ca.clone())
        } else {
            kept.map(str::to_string)
        };
        seen.push(kept.map(str::to_string));
        Ok(Box::new(HttpTransport::with_ca(url, trust)?))
    });
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(&dir.path().join("store"), factory).with_init_options(fast_options());
    let code = server.code("idva.gil.fictional", "idva", "west", "t1");
    app.enrol(&server.url, &code, PASSPHRASE).unwrap();
    app.with_store(|s| s.create_case(Deployment::Live, &[]))
        .unwrap();
    app.lock();
    app.unlock(PASSPHRASE, None).unwrap();
    let report = app.sync_now(&mut |_| {}).unwrap();
    assert_eq!(report.docs_sent, 1);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0], None, "nothing is kept before enrolment");
    assert_eq!(calls[1].as_deref(), Some(ca.as_str()), "the kept CA");
}

#[test]
fn a_server_the_app_does_not_trust_is_shown_as_a_security_problem_not_offline() {
    let server = TestServer::start_tls();
    let (_ca, cert, key) = provide_tests::server::certificates();
    let (cert_file, key_file) = (
        server.dir.path().join("b-cert.pem"),
        server.dir.path().join("b-key.pem"),
    );
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    // the same data behind a certificate from another CA: what an interceptor would present
    let other = provide_sync_server::serve::start(
        server.service.clone(),
        provide_sync_server::serve::Listen {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: Some((cert_file, key_file)),
        },
    )
    .unwrap();
    let ca = server.ca_cert.clone().unwrap();
    let intercepted = format!("https://localhost:{}", other.addr.port());
    let factory: TransportFactory = Box::new(move |_url, kept| {
        Ok(Box::new(HttpTransport::with_ca(
            &intercepted,
            kept.map(str::to_string),
        )?))
    });
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(&dir.path().join("store"), factory).with_init_options(fast_options());
    let code = server.code("pc.hal.fictional", "officer", "west", "t1");
    // enrolment over the real server, trusting its CA
    let mut transport = HttpTransport::new(&server.url, Some(&ca)).unwrap();
    provide_core::sync::enrol::enrol(
        app.dir(),
        &server.url,
        &code,
        PASSPHRASE,
        fast_options(),
        &mut transport,
    )
    .unwrap();
    app.unlock(PASSPHRASE, None).unwrap();
    app.with_store(|s| s.create_case(Deployment::Live, &[]))
        .unwrap();
    let err = app.sync_now(&mut |_| {}).unwrap_err();
    assert_eq!(err.code(), "untrusted_server", "{err}");
    let status = app.sync_status();
    match &status.state {
        SyncState::Error { code, message } => {
            assert_eq!(code, "untrusted_server");
            assert!(message.starts_with("Security problem"), "{message}");
        }
        s => panic!("shown as {s:?}"),
    }
    assert_eq!(status.waiting, 1, "the work is kept");
    other.stop();
}

#[test]
fn a_ca_that_carried_a_sync_replaces_the_one_the_app_kept() {
    let server = TestServer::start_tls();
    let dir_b = tempfile::tempdir().unwrap();
    let (ca_b, cert, key) = provide_tests::server::certificates();
    let (cert_file, key_file) = (dir_b.path().join("cert.pem"), dir_b.path().join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    // the force's server, moved to a certificate from a new CA
    let moved = provide_sync_server::serve::start(
        server.service.clone(),
        provide_sync_server::serve::Listen {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: Some((cert_file, key_file)),
        },
    )
    .unwrap();
    let moved_url = format!("https://localhost:{}", moved.addr.port());
    // what the shell is told to trust now (PROVIDE_CA_CERT), else what the app kept
    let configured = Arc::new(std::sync::Mutex::new(None::<String>));
    let given = configured.clone();
    let factory: TransportFactory = Box::new(move |_url, kept| {
        let trust = given.lock().unwrap().clone().or(kept.map(str::to_string));
        Ok(Box::new(HttpTransport::with_ca(&moved_url, trust)?))
    });
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(&dir.path().join("store"), factory).with_init_options(fast_options());
    let code = server.code("pc.mo.fictional", "officer", "west", "t1");
    let mut transport = HttpTransport::new(&server.url, server.ca_cert.as_deref()).unwrap();
    provide_core::sync::enrol::enrol(
        app.dir(),
        &server.url,
        &code,
        PASSPHRASE,
        fast_options(),
        &mut transport,
    )
    .unwrap();
    app.unlock(PASSPHRASE, None).unwrap();
    assert_eq!(
        app.sync_now(&mut |_| {}).unwrap_err().code(),
        "untrusted_server",
        "the kept CA does not vouch for the moved server"
    );
    *configured.lock().unwrap() = Some(ca_b.clone());
    app.sync_now(&mut |_| {}).unwrap();
    let kept = app.with_store(|s| s.server_link()).unwrap().ca_cert;
    assert_eq!(kept.as_deref(), Some(ca_b.as_str()), "the new CA is kept");
    *configured.lock().unwrap() = None;
    app.sync_now(&mut |_| {}).unwrap();
    moved.stop();
}

#[test]
fn an_erasure_and_a_correction_are_said_in_plain_words_until_read() {
    let server = TestServer::start();
    let (_dir, app) = enrolled_app(&server, "pc.nia.fictional", "officer");
    let mut unit = Device::enrol(&server, "sg.ned.fictional", "safeguarding", "west", "");
    let make = |unit: &mut Device, address: &str| {
        unit.store
            .create_case(
                Deployment::PostIncident,
                &[
                    ("team".into(), "t1".into()),
                    ("victim.address".into(), address.into()),
                ],
            )
            .unwrap()
    };
    let erased = make(&mut unit, "1 Gone Road");
    let corrected = make(&mut unit, "2 Wrong Road");
    unit.sync().unwrap();
    app.sync_now(&mut |_| {}).unwrap();
    assert!(app.sync_status().notices.is_empty());
    // an edit made here and not sent yet, to the case about to be erased
    app.with_store(|s| {
        s.set_case_fields(&erased, &[("victim.phone".into(), "07700 900001".into())])
    })
    .unwrap();
    server
        .service
        .erase_case(&erased, "DPA request DP-7", "dpo.dot.fictional")
        .unwrap();
    server
        .service
        .rectify_case(
            &corrected,
            "victim.address",
            "DPA s.46 request R-3",
            "sg.ned.fictional",
            Role::Safeguarding,
        )
        .unwrap();
    app.sync_now(&mut |_| {}).unwrap();
    let notices = app.sync_status().notices;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices.iter().any(
        |n| n.contains("erased") && n.contains("1 change(s) made here that had not been sent")
    ));
    assert!(notices
        .iter()
        .any(|n| n.contains("corrected at the server")));
    // they stay through later syncs until the user has read them
    app.sync_now(&mut |_| {}).unwrap();
    assert_eq!(app.sync_status().notices.len(), 2);
    app.dismiss_notices();
    assert!(app.sync_status().notices.is_empty());
}

/// "Pair with partner" through the app (issue 18): the IDVA's app shows a code, the officer's
/// app pairs with its QR code line, the scheduler then syncs them by itself while the server
/// is gone, the sync indicator says when, locking stops the waiting, and ending the shift ends
/// the pairing.
#[test]
fn the_pair_pair_and_sync_through_the_app_with_the_server_gone() {
    use provide_core::app::{Scheduler, Tick};
    use provide_core::store::ShiftInput;
    use std::time::{Duration, Instant};
    let mut server = TestServer::start();
    let (_a, idva) = enrolled_app(&server, "idva.cy.fictional", "idva");
    let (_b, officer) = enrolled_app(&server, "pc.di.fictional", "officer");
    let idva = Arc::new(idva);
    server.stop();
    assert!(
        officer.peer_status().unwrap().certificate_valid,
        "enrolment gave it a pass"
    );

    let shown = idva.peer_show_code("127.0.0.1:0").unwrap();
    let offer = shown.offer.expect("a code on show");
    assert!(
        offer.qr_text.starts_with("provide-pair:127.0.0.1:")
            && offer.qr_text.ends_with(&offer.code)
    );
    assert!(
        offer.qr_rows.len() >= 21 && offer.qr_rows.iter().all(|r| r.len() == offer.qr_rows.len())
    );
    let case = officer
        .with_store(|s| {
            s.create_case(
                Deployment::Live,
                &[("victim.name".into(), "Eve Fictional".into())],
            )
        })
        .unwrap();
    // a wrong code first, then the QR code's line
    let wrong = officer
        .peer_pair(&offer.address, "00000-00000")
        .unwrap_err();
    assert_eq!(wrong.code(), "peer_refused");
    assert!(officer.peer_status().unwrap().last_error.is_some());
    let paired = officer.peer_pair(&offer.qr_text, "").unwrap();
    assert!(paired.paired_now);
    assert_eq!(paired.records_sent, 1);
    assert!(
        idva.with_store(|s| s.record_heads(&case)).is_ok(),
        "the case reached the IDVA"
    );
    let status = officer.peer_status().unwrap();
    assert_eq!(status.pairing.unwrap().partner_user, "idva.cy.fictional");
    assert!(status.last_error.is_none());
    assert!(officer.sync_status().partner_synced_at.is_some());
    assert!(idva.sync_status().partner_synced_at.is_some());

    // the scheduler syncs with the partner by itself
    let start = Instant::now();
    let mut scheduler = Scheduler::standard(start);
    scheduler.after_sync(
        &Err(provide_core::Error::Unreachable("no signal".into())),
        start,
    );
    scheduler.after_peer_sync(&Ok(paired), start);
    let later = start + Scheduler::PEER_INTERVAL + Duration::from_secs(1);
    let mut ticks = vec![];
    let mut at = start;
    while at <= later {
        let tick = scheduler.tick(&officer, at);
        if tick == Tick::SyncDue {
            // no signal: the server sync fails and backs off
            let none = Err(provide_core::Error::Unreachable("no signal".into()));
            scheduler.after_sync(&none, at);
        }
        ticks.push(tick);
        at += Duration::from_secs(1);
    }
    assert!(ticks.contains(&Tick::PeerSyncDue), "{ticks:?}");
    officer
        .with_store(|s| s.add_case_item(&case, "notes", &provide_tests::note("officer: seen")))
        .unwrap();
    let again = officer.peer_sync_now().unwrap();
    assert_eq!(again.records_sent, 1);
    assert_eq!(
        officer.with_store(|s| s.record_heads(&case)).unwrap(),
        idva.with_store(|s| s.record_heads(&case)).unwrap()
    );

    // locking stops the waiting; the pairing stays for the shift
    idva.lock();
    assert_eq!(
        officer.peer_sync_now().unwrap_err().code(),
        "peer_unreachable"
    );
    idva.unlock(PASSPHRASE, None).unwrap();
    assert!(idva.peer_status().unwrap().pairing.is_some());
    // ending the shift ends it
    let shift = officer
        .with_store(|s| {
            s.start_shift(&ShiftInput {
                pattern: provide_core::model::Pattern::Early,
                call_sign: "PR09".into(),
                partner: "idva.cy.fictional".into(),
                date: None,
            })
        })
        .unwrap();
    officer.with_store(|s| s.end_shift(&shift)).unwrap();
    officer.peer_end().unwrap();
    let ended = officer.peer_status().unwrap();
    assert!(ended.pairing.is_none() && ended.partner_address.is_none());
    assert!(officer.sync_status().partner_synced_at.is_none());
    assert!(!officer.peer_partner_known());
}
