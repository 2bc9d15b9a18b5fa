//! The pair syncing in the car with no signal (issue 18): an officer's and an IDVA's devices,
//! each a real encrypted store with a certificate from the real server's device CA, sync over
//! mutual TLS on loopback while the server is stopped, converge, and later the server takes
//! what each relayed for the other, with its original authors. Devices that must not sync are
//! refused: another team's, an unpaired one, one with an expired certificate, a revoked one;
//! the health record never reaches the officer, even when asked for.

use std::thread::JoinHandle;

use provide_core::model::{Deployment, RecordKind};
use provide_core::peer::attestation;
use provide_core::peer::certificate::{self, DeviceCa};
use provide_core::peer::message::{self, Held, Message};
use provide_core::peer::{pairing, session, Listener, PeerReport};
use provide_core::{Error, Result};
use provide_tests::{note, sets, Device, TestServer};

/// A listening device's thread: gives the device back with each session's outcome.
type Listening = JoinHandle<(Device, Vec<Result<PeerReport>>)>;

/// Starts `device` listening on loopback for `sessions` sessions; returns its address, its
/// pairing code, and the thread that gives the device back with each session's outcome.
fn listen(mut device: Device, sessions: usize) -> (String, String, Listening) {
    let mut listener = Listener::bind(&device.store, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let code = listener.code().to_string();
    let handle = std::thread::spawn(move || {
        let outcomes = (0..sessions)
            .map(|_| listener.serve_one(&mut device.store))
            .collect();
        (device, outcomes)
    });
    (addr, code, handle)
}

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

fn audit_details(d: &Device) -> Vec<String> {
    d.store
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect()
}

fn refused(r: Result<PeerReport>) -> String {
    match r {
        Err(Error::PeerRefused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_pair_converge_in_the_car_and_the_server_takes_what_each_relayed() {
    let mut server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let mut unit = Device::enrol(&server, "sg.cal.fictional", "safeguarding", "west", "");
    let case = officer
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("victim.name", "Dana Fictional"),
                ("incident.reference", "WE-000777-FICT"),
            ]),
        )
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    assert!(idva.holds(&case));
    assert!(
        officer.store.peer_certificate_expiry().unwrap().is_some(),
        "enrolment issued a certificate"
    );

    // no signal: the server is gone for the rest of the shift
    server.stop();
    officer
        .store
        .add_case_item(&case, "notes", &note("officer: spoke to neighbour"))
        .unwrap();
    officer
        .store
        .set_case_fields(&case, &sets(&[("status", "closed")]))
        .unwrap();
    let second = officer
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Erin Fictional")]),
        )
        .unwrap();
    idva.store
        .add_case_item(&case, "notes", &note("idva: safety plan agreed"))
        .unwrap();
    idva.store
        .set_case_fields(&case, &sets(&[("status", "handed_over")]))
        .unwrap();
    idva.store
        .add_health_note(&case, "fictional GP surgery contacted")
        .unwrap();
    let health = format!("{case}.health");

    // the IDVA shows a code, the officer enters it
    let (addr, code, handle) = listen(idva, 2);
    let first = session::dial(&mut officer.store, &addr, Some(&code)).unwrap();
    assert!(first.paired_now);
    assert_eq!(
        (first.records_sent, first.records_received),
        (2, 1),
        "{first:?}"
    );
    assert!(
        first.refused.is_empty() && first.refused_by_partner.is_empty(),
        "{first:?}"
    );
    // paired for the shift: the next session needs no code, and finds nothing new
    let again = session::dial(&mut officer.store, &addr, None).unwrap();
    assert_eq!(
        (again.records_sent, again.records_received),
        (0, 0),
        "{again:?}"
    );
    let (mut idva, outcomes) = handle.join().unwrap();
    for o in &outcomes {
        assert!(o.is_ok(), "{o:?}");
    }

    // identical records, conflicts and notes on both
    for id in [&case, &second] {
        assert_eq!(
            officer.store.record_heads(id).unwrap(),
            idva.store.record_heads(id).unwrap(),
            "record {id} differs"
        );
    }
    assert_eq!(
        note_texts(&mut officer, &case),
        note_texts(&mut idva, &case)
    );
    assert_eq!(note_texts(&mut officer, &case).len(), 2);
    let conflicts = |d: &mut Device| {
        let mut c: Vec<String> = d
            .store
            .show_case(&case)
            .unwrap()
            .conflicts
            .iter()
            .map(|c| c.path.clone())
            .collect();
        c.sort();
        c
    };
    assert_eq!(conflicts(&mut officer), vec!["status".to_string()]);
    assert_eq!(conflicts(&mut officer), conflicts(&mut idva));
    // the health record stayed with the IDVA
    assert!(idva.holds(&health));
    assert!(
        !officer.holds(&health),
        "the health record reached the officer"
    );

    // both audit logs hold the session and the pairing
    for d in [&officer, &idva] {
        let details = audit_details(d);
        assert!(
            details
                .iter()
                .any(|x| x.starts_with("paired with partner device")),
            "{details:?}"
        );
        assert_eq!(
            details
                .iter()
                .filter(|x| x.starts_with("peer session with partner device"))
                .count(),
            2,
            "{details:?}"
        );
    }
    assert!(audit_details(&officer)
        .iter()
        .any(|x| x.starts_with("received from partner device")));

    // signal again: the officer reaches the server first and relays the IDVA's changes
    server.restart();
    let up = officer.sync().unwrap();
    assert!(
        up.refused.is_empty(),
        "the server refused relayed changes: {:?}",
        up.refused
    );
    assert!(
        server
            .audit_of(&case)
            .iter()
            .any(|e| e.action == "receive" && e.detail.contains("relayed from partner device")),
        "the server's audit names the relay"
    );
    // back in the car: the IDVA learns what the server has of the officer's work, and does
    // not upload it again; its own changes count as delivered only on the server's word
    let (addr, _, handle) = listen(idva, 1);
    session::dial(&mut officer.store, &addr, None).unwrap();
    let (mut idva, outcomes) = handle.join().unwrap();
    outcomes.into_iter().for_each(|o| {
        o.unwrap();
    });
    let mut waiting = idva.store.unsynced_ids().unwrap();
    waiting.sort();
    let mut own = vec![case.clone(), health.clone()];
    own.sort();
    assert_eq!(waiting, own, "the officer's new case is not uploaded twice");
    let before = server
        .service
        .storage
        .doc_meta(&case)
        .unwrap()
        .unwrap()
        .heads;
    let later = idva.sync().unwrap();
    assert!(later.refused.is_empty(), "{:?}", later.refused);
    let after = server
        .service
        .storage
        .doc_meta(&case)
        .unwrap()
        .unwrap()
        .heads;
    assert_eq!(before, after, "the relayed changes were all there already");
    officer.sync().unwrap();
    unit.sync().unwrap();
    // the unit sees both devices' changes, each under its own author, verified
    assert_eq!(
        note_texts(&mut unit, &case),
        note_texts(&mut officer, &case)
    );
    let history = unit.store.case_history(&case, Some("notes")).unwrap();
    for (text, user) in [
        ("idva: safety plan agreed", "idva.bea.fictional"),
        ("officer: spoke to neighbour", "pc.ada.fictional"),
    ] {
        let entry = history
            .iter()
            .find(|h| h.value.to_string().contains(text))
            .unwrap_or_else(|| panic!("no history of {text}: {history:?}"));
        assert_eq!(entry.user, user);
        assert!(entry.verified, "{entry:?}");
    }
    assert_eq!(
        unit.store.record_heads(&case).unwrap(),
        officer.store.record_heads(&case).unwrap()
    );
}

#[test]
fn devices_that_must_not_sync_are_refused() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let mut other_team = Device::enrol(&server, "pc.dan.fictional", "officer", "west", "t2");
    let mut third = Device::enrol(&server, "pc.eve.fictional", "officer", "west", "t1");
    let mut stale = Device::enrol(&server, "pc.fay.fictional", "officer", "west", "t1");
    let mut revoked = Device::enrol(&server, "pc.gus.fictional", "officer", "west", "t1");
    officer
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Hana Fictional")]),
        )
        .unwrap();

    // an expired certificate, signed by the real CA: the listener's TLS refuses it
    let ca_key = hex::decode(
        std::fs::read_to_string(server.data_dir().join("device-ca.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let ca = DeviceCa::from_key(&ca_key).unwrap();
    let claims = certificate::claims_of(&stale.store.peer_credentials().unwrap().cert_der)
        .unwrap()
        .claims;
    let public = stale.store.peer_public_key().unwrap();
    let two_days_ago = chrono::Utc::now().timestamp() - 2 * 86_400;
    let old = ca.issue(&public, &claims, two_days_ago).unwrap();
    let far = chrono::Utc::now().timestamp_millis() + 86_400_000;
    stale
        .store
        .install_peer_certificate(&old, &ca.pem(), &[], far)
        .unwrap();

    server
        .service
        .revoke_device(revoked.store.device_id())
        .unwrap();
    // the IDVA's device learns the revocation when it renews its certificate
    let mut idva = idva;
    provide_core::sync::certificate::renew(&mut idva.store, &mut idva.transport).unwrap();

    let (addr, code, handle) = listen(idva, 6);
    let why = refused(session::dial(&mut other_team.store, &addr, Some(&code)));
    assert!(why.contains("another division or team"), "{why}");
    let why = refused(session::dial(&mut third.store, &addr, None));
    assert!(why.contains("not paired"), "{why}");
    let wrong = if code.starts_with('0') { "1" } else { "0" }.to_string() + &code[1..];
    let why = refused(session::dial(&mut third.store, &addr, Some(&wrong)));
    assert!(why.contains("code was wrong"), "{why}");
    let why = refused(session::dial(&mut stale.store, &addr, Some(&code)));
    assert!(why.contains("certificates did not verify"), "{why}");
    let why = refused(session::dial(&mut revoked.store, &addr, Some(&code)));
    assert!(why.contains("revoked"), "{why}");
    // the partner itself still pairs
    let ok = session::dial(&mut officer.store, &addr, Some(&code)).unwrap();
    assert_eq!(ok.records_sent, 1);
    let (idva, outcomes) = handle.join().unwrap();
    assert_eq!(
        outcomes.iter().filter(|o| o.is_err()).count(),
        5,
        "{outcomes:?}"
    );
    // nothing of the refused devices reached the IDVA, and the refusals left the pairing alone
    assert_eq!(
        idva.store.pairing().unwrap().unwrap().partner_user,
        "pc.ada.fictional"
    );
    assert!(third.store.pairing().unwrap().is_none());
    // the officer's device, listening, refuses the other team's device just the same
    let (addr, code, handle) = listen(officer, 1);
    let why = refused(session::dial(&mut other_team.store, &addr, Some(&code)));
    assert!(why.contains("another division or team"), "{why}");
    handle.join().unwrap();
}

#[test]
fn the_health_record_never_reaches_the_officer_even_when_asked_for() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let case = officer
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Ines Fictional")]),
        )
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    idva.store
        .add_health_note(&case, "fictional clinic letter")
        .unwrap();
    let health = format!("{case}.health");

    let (addr, code, handle) = listen(idva, 2);
    let report = session::dial(&mut officer.store, &addr, Some(&code)).unwrap();
    assert_eq!(report.records_received, 0, "{report:?}");
    assert!(!officer.holds(&health));

    // a crafted request: the officer's device claims to hold the health record at no heads,
    // which would make an honest offer send all of it
    let (creds, mut tls, partner) = session::connect(&officer.store, &addr).unwrap();
    assert_eq!(partner.claims.role, provide_core::model::Role::Idva);
    let proof = pairing::proof(
        &code,
        pairing::Side::Dialer,
        &partner.key_fingerprint,
        &creds.own.key_fingerprint,
    )
    .unwrap();
    message::send(
        &mut tls,
        &Message::Hello {
            proof: proof.to_vec(),
            held: vec![Held {
                id: health.clone(),
                kind: RecordKind::Health,
                heads: vec![],
                acked: vec![],
            }],
        },
    )
    .unwrap();
    let (answer, _) = message::receive(&mut tls, message::MAX_FRAME).unwrap();
    let Message::Offer { docs, held, .. } = answer else {
        panic!("expected an offer, got {answer:?}");
    };
    assert!(
        docs.iter()
            .all(|d| d.kind != RecordKind::Health && d.id != health),
        "{docs:?}"
    );
    assert!(held.iter().all(|h| h.id != health));
    drop(tls);
    let (mut idva, _) = handle.join().unwrap();
    assert!(idva.holds(&health));
}

/// A forged session from `attacker` to the device listening at `addr` with `code`: the
/// attacker's own Hello, then `push` instead of what it holds; returns the listener's `Done`.
fn forged_push(
    attacker: &Device,
    addr: &str,
    code: &str,
    held: Vec<Held>,
    push: Vec<provide_core::sync::protocol::DocChanges>,
    attested: Vec<(usize, attestation::Attestation)>,
) -> Vec<String> {
    let (creds, mut tls, partner) = session::connect(&attacker.store, addr).unwrap();
    let proof = pairing::proof(
        code,
        pairing::Side::Dialer,
        &partner.key_fingerprint,
        &creds.own.key_fingerprint,
    )
    .unwrap();
    message::send(
        &mut tls,
        &Message::Hello {
            proof: proof.to_vec(),
            held,
        },
    )
    .unwrap();
    let (offer, _) = message::receive(&mut tls, message::MAX_FRAME).unwrap();
    assert!(matches!(offer, Message::Offer { .. }), "{offer:?}");
    message::send(
        &mut tls,
        &Message::Push {
            docs: push,
            attested,
        },
    )
    .unwrap();
    match message::receive(&mut tls, message::MAX_FRAME).unwrap().0 {
        Message::Done { refused, .. } => refused,
        other => panic!("expected done, got {other:?}"),
    }
}

/// The record `id` as `d` stores it, read with the store's key (plaintext chunks: not health).
fn raw_doc(d: &Device, id: &str) -> automerge::AutoCommit {
    let db = d.raw_db();
    let mut stmt = db
        .prepare("SELECT bytes FROM chunks WHERE record_id = ?1 ORDER BY seq")
        .unwrap();
    let bytes: Vec<u8> = stmt
        .query_map([id], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .flat_map(|b| b.unwrap())
        .collect();
    automerge::AutoCommit::load(&bytes).unwrap()
}

#[test]
fn a_hostile_partner_can_neither_forge_writes_nor_hold_back_the_devices_own_edits() {
    use automerge::transaction::Transactable;
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let case = officer
        .store
        .create_case(Deployment::Live, &sets(&[("victim.name", "Jo Fictional")]))
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();

    // the officer's device, in an attacker's hands, marks the case triaged (the unit's call),
    // as its own certified actor
    let mut doc = raw_doc(&officer, &case);
    let base = doc.get_heads();
    let actor = hex::decode(&officer.store.peer_credentials().unwrap().own.claims.actor).unwrap();
    doc.set_actor(automerge::ActorId::from(actor));
    doc.put(automerge::ROOT, "status", "triaged").unwrap();
    doc.commit_with(
        provide_core::record::Author::new("pc.ada.fictional", provide_core::model::Role::Officer)
            .commit_options(),
    );
    let forged = provide_core::sync::protocol::DocChanges {
        id: case.clone(),
        kind: RecordKind::Case,
        base: base.clone(),
        changes: doc.save_after(&base),
    };
    // and claims the server already has all of the IDVA's work on the case
    idva.store
        .add_case_item(&case, "notes", &note("idva: unsent evidence"))
        .unwrap();
    let idva_heads = idva.store.record_heads(&case).unwrap();
    let lie = vec![Held {
        id: case.clone(),
        kind: RecordKind::Case,
        heads: idva_heads.clone(),
        acked: idva_heads.clone(),
    }];
    let (addr, code, handle) = listen(idva, 1);
    // signed with the device's own key: its word is good, the rules stop the change
    let creds = officer.store.peer_credentials().unwrap();
    let word =
        attestation::sign(&creds.key_der, &creds.cert_der, &case, doc.get_heads()[0]).unwrap();
    let refused = forged_push(&officer, &addr, &code, lie, vec![forged], vec![(0, word)]);
    let (mut idva, outcome) = handle.join().unwrap();
    outcome.into_iter().for_each(|o| {
        o.unwrap();
    });
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("could not have made"), "{refused:?}");
    assert_ne!(
        idva.store.show_case(&case).unwrap().record.status.as_str(),
        "triaged"
    );
    assert!(!idva
        .store
        .record_heads(&case)
        .unwrap()
        .contains(&doc.get_heads()[0]));
    // the IDVA's own unsent note still goes to the server
    assert_eq!(idva.store.unsynced_ids().unwrap(), vec![case.clone()]);
    let up = idva.sync().unwrap();
    assert_eq!(up.docs_sent, 1);
    officer.sync().unwrap();
    assert!(note_texts(&mut officer, &case).contains(&"idva: unsent evidence".to_string()));
}

#[test]
fn the_server_takes_a_relayed_change_only_with_its_authors_word() {
    use provide_core::sync::protocol::{DocOutcome, Refusal};
    use provide_tests::attack::{message as change_message, now_ms, Attacker};
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let case = officer
        .store
        .create_case(Deployment::Live, &sets(&[("victim.name", "Kit Fictional")]))
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    idva.store
        .add_case_item(&case, "notes", &note("idva: genuine note"))
        .unwrap();
    let idva_actor = idva.store.actor().clone();
    let (addr, code, handle) = listen(idva, 1);
    session::dial(&mut officer.store, &addr, Some(&code)).unwrap();
    let _idva = handle.join().unwrap();
    let words = officer.store.kept_attestations(&case).unwrap();
    assert_eq!(words.len(), 1, "the IDVA's word for its note is kept");

    // the officer's device, in an attacker's hands, adds a change under the IDVA's actor on
    // top of the IDVA's genuine one, and sends both with the IDVA's genuine attestation
    let attacker = Attacker::of(&server, &officer);
    let before = server
        .service
        .storage
        .doc_meta(&case)
        .unwrap()
        .unwrap()
        .heads;
    let mut doc = attacker.load(&mut officer, &case);
    let genuine = doc.get_heads();
    let mut forged = doc.fork().with_actor(idva_actor);
    Attacker::put(&mut forged, &["status"], "closed");
    Attacker::commit(
        &mut forged,
        &genuine,
        &change_message("idva.bea.fictional", "idva"),
        now_ms(),
    );
    doc.merge(&mut forged).unwrap();
    let changes = doc.save_after(&before);
    let seq = officer.store.next_request_seq().unwrap();
    let answer =
        attacker.upload_relayed(seq, &case, RecordKind::Case, before.clone(), changes, words);
    assert_eq!(
        answer.first_outcome(),
        DocOutcome::Refused(Refusal::UnknownActor)
    );
    // the IDVA's genuine change is taken, the forged one is not
    let mut on_server = server
        .service
        .storage
        .doc_meta(&case)
        .unwrap()
        .unwrap()
        .heads;
    on_server.sort();
    let mut expected = genuine.clone();
    expected.sort();
    assert_eq!(on_server, expected);
    assert!(server.audit_of(&case).iter().any(|e| e.action == "refuse"));
}

#[test]
fn a_partner_cannot_pass_off_a_change_as_anyone_elses() {
    use automerge::transaction::Transactable;
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let mut unit = Device::enrol(&server, "sg.cal.fictional", "safeguarding", "west", "");
    let case = officer
        .store
        .create_case(Deployment::Live, &sets(&[("victim.name", "Lee Fictional")]))
        .unwrap();
    officer.sync().unwrap();
    unit.sync().unwrap();
    unit.store
        .add_case_item(&case, "notes", &note("unit: real note"))
        .unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    let heads = idva.store.record_heads(&case).unwrap();

    // the officer's device forges, on the shared case, a change under the IDVA's own actor
    // and one under the unit user's actor (both known to the IDVA's device), each with an
    // author message the write rules would accept
    let forge = |actor: automerge::ActorId, user: &str, role: provide_core::model::Role| {
        let mut doc = raw_doc(&officer, &case).with_actor(actor);
        let base = doc.get_heads();
        doc.put(automerge::ROOT, "status", "closed").unwrap();
        doc.commit_with(provide_core::record::Author::new(user, role).commit_options());
        provide_core::sync::protocol::DocChanges {
            id: case.clone(),
            kind: RecordKind::Case,
            base: base.clone(),
            changes: doc.save_after(&base),
        }
    };
    let idva_actor = idva.store.actor().clone();
    let unit_actor = unit.store.actor().clone();
    for (forged, expect) in [
        (
            forge(
                idva_actor,
                "idva.bea.fictional",
                provide_core::model::Role::Idva,
            ),
            "this device's own name",
        ),
        (
            forge(
                unit_actor,
                "sg.cal.fictional",
                provide_core::model::Role::Safeguarding,
            ),
            "without their author's signed word",
        ),
    ] {
        let (addr, code, handle) = listen(idva, 1);
        let refused = forged_push(&officer, &addr, &code, vec![], vec![forged], vec![]);
        let (d, outcome) = handle.join().unwrap();
        idva = d;
        outcome.into_iter().for_each(|o| {
            o.unwrap();
        });
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].contains(expect), "{refused:?}");
        assert_eq!(
            idva.store.record_heads(&case).unwrap(),
            heads,
            "nothing was taken"
        );
    }
    // the refusals are audited with the session
    assert!(audit_details(&idva)
        .iter()
        .any(|d| d.contains("peer session with partner device") && d.contains("1 refused")));
}

#[test]
fn a_record_that_left_this_device_does_not_come_back_from_a_partner_that_has_not_synced() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
    let mut unit = Device::enrol(&server, "sg.cal.fictional", "safeguarding", "west", "");
    let case = officer
        .store
        .create_case(Deployment::Live, &sets(&[("victim.name", "Mo Fictional")]))
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    unit.sync().unwrap();
    // the unit hands the case to another team; the officer's device syncs and lets it go
    unit.store
        .set_case_fields(&case, &sets(&[("team", "t2")]))
        .unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    assert!(!officer.holds(&case), "the case left the officer's device");
    // the IDVA's device, out of signal since, still holds its older copy and offers it
    assert!(idva.holds(&case));
    let (addr, code, handle) = listen(idva, 1);
    let report = session::dial(&mut officer.store, &addr, Some(&code)).unwrap();
    let _ = handle.join().unwrap();
    assert_eq!(report.records_received, 0, "{report:?}");
    assert!(
        report
            .refused
            .iter()
            .any(|r| r.starts_with(&case) && r.contains("left this device's scope")),
        "{report:?}"
    );
    assert!(!officer.holds(&case));
}
