//! Requests that are malformed, truncated, oversized, of the wrong version, replayed,
//! unauthenticated, or that carry corrupt Automerge changes get a 4xx with a `{code, message}`
//! body, and change nothing on the server.

use automerge::ChangeHash;
use provide_core::model::Deployment;
use provide_core::sync::protocol::{seal, DocChanges, SyncRequest, MAGIC};
use provide_core::sync::transport::CONTENT_TYPE;
use provide_tests::{Device, TestServer};
use reqwest::blocking::Client;

/// Everything the server holds about documents and deliveries, to compare before and after.
fn state(server: &TestServer, device: &Device) -> Vec<(String, Vec<ChangeHash>, u64)> {
    let page = server
        .service
        .storage
        .changed_since(0, "west", None, device.store.device_id(), 10_000)
        .unwrap();
    let mut docs: Vec<_> = page
        .docs
        .into_iter()
        .map(|m| (m.id, m.heads, m.seq))
        .collect();
    docs.sort();
    docs
}

struct Raw {
    client: Client,
    url: String,
    credential: String,
}

impl Raw {
    fn new(server: &TestServer, device: &Device) -> Self {
        Raw {
            client: Client::new(),
            url: format!("{}/v1/sync", server.url),
            credential: device.store.server_link().unwrap().credential.to_string(),
        }
    }

    /// Posts `body`; returns the status and the error code from the body.
    fn post(&self, body: Vec<u8>, credential: Option<&str>) -> (u16, String) {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", CONTENT_TYPE)
            .body(body);
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let code = if status >= 400 {
            let v: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
            assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
            v["code"].as_str().unwrap().to_string()
        } else {
            String::new()
        };
        (status, code)
    }

    fn send(&self, body: Vec<u8>) -> (u16, String) {
        self.post(body, Some(&self.credential))
    }
}

fn setup() -> (TestServer, Device, String) {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.abe.fictional", "officer", "west", "t1");
    let case = officer
        .store
        .create_case(
            Deployment::Live,
            &[("victim.name".into(), "Bo Fictional".into())],
        )
        .unwrap();
    officer.sync().unwrap();
    (server, officer, case)
}

/// A well-formed request carrying the given document changes.
fn request(d: &mut Device, docs: Vec<DocChanges>) -> SyncRequest {
    SyncRequest {
        request_seq: d.store.next_request_seq().unwrap(),
        cursor: 0,
        docs,
        max_response_bytes: 1 << 20,
        audit: vec![],
        erased_confirmed: vec![],
        epochs: vec![],
        relayed: vec![],
    }
}

#[test]
fn malformed_truncated_oversized_and_wrong_version_requests_are_refused() {
    let (server, mut officer, case) = setup();
    let before = state(&server, &officer);
    let raw = Raw::new(&server, &officer);
    let (_, bytes) = officer.store.record_bytes(&case).unwrap();
    let valid = request(
        &mut officer,
        vec![DocChanges {
            id: case.clone(),
            kind: provide_core::model::RecordKind::Case,
            base: vec![],
            changes: bytes,
        }],
    )
    .encode();

    let mut wrong_version = valid.clone();
    wrong_version[MAGIC.len()] = 9;
    // a valid envelope whose body decompresses far beyond the limit
    let bomb = seal(vec![0u8; 40 << 20]);
    // a valid envelope around a body that does not parse
    let garbage_body = seal(vec![0xff; 64]);

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty", vec![], 400, "bad_request"),
        (
            "not ours",
            b"GET / HTTP/1.1\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (
            "truncated",
            valid[..valid.len() / 2].to_vec(),
            400,
            "bad_request",
        ),
        (
            "one byte short",
            valid[..valid.len() - 1].to_vec(),
            400,
            "bad_request",
        ),
        ("wrong version", wrong_version, 400, "unsupported_version"),
        ("decompression bomb", bomb, 400, "bad_request"),
        ("body that does not parse", garbage_body, 400, "bad_request"),
    ];
    for (what, body, status, code) in cases {
        let (s, c) = raw.send(body);
        assert_eq!(s, status, "{what}");
        if !code.is_empty() {
            assert_eq!(c, code, "{what}");
        }
    }
    // oversized: answered 413 from its declared length, before a byte of the body is read (a
    // client still writing it may see the connection close instead, so only the head is sent)
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n",
        raw.credential,
        33u64 << 20
    );
    std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    std::io::Read::read_exact(&mut stream, &mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413", "oversized");
    assert_eq!(state(&server, &officer), before);
}

#[test]
fn unauthenticated_and_forged_credentials_are_refused() {
    let (server, mut officer, _) = setup();
    let before = state(&server, &officer);
    let raw = Raw::new(&server, &officer);
    let body = request(&mut officer, vec![]).encode();
    let device = officer.store.device_id().to_string();
    for cred in [
        None,
        Some("garbage".to_string()),
        Some(format!("{device}.{}", "0".repeat(64))),
        Some(format!("{}.{}", "no-such-device", "a".repeat(64))),
    ] {
        let (s, c) = raw.post(body.clone(), cred.as_deref());
        assert_eq!((s, c.as_str()), (401, "unauthorized"), "{cred:?}");
    }
    assert_eq!(state(&server, &officer), before);
}

#[test]
fn a_replayed_request_is_refused_and_changes_nothing() {
    let (server, mut officer, case) = setup();
    let raw = Raw::new(&server, &officer);
    officer
        .store
        .set_case_fields(&case, &[("status".into(), "closed".into())])
        .unwrap();
    let (uploads, _) = officer.store.pending_uploads(1 << 20).unwrap();
    let body = request(&mut officer, uploads.into_iter().map(|u| u.doc).collect()).encode();
    assert_eq!(raw.send(body.clone()).0, 200);
    let after_first = state(&server, &officer);
    assert_eq!(raw.send(body.clone()), (409, "replayed".to_string()));
    // an older request number is a replay too
    let mut older = SyncRequest::decode(&body).unwrap();
    older.request_seq -= 1;
    assert_eq!(raw.send(older.encode()).0, 409);
    assert_eq!(state(&server, &officer), after_first);
}

#[test]
fn corrupt_automerge_changes_are_refused_whole() {
    let (server, mut officer, case) = setup();
    let before = state(&server, &officer);
    let raw = Raw::new(&server, &officer);
    // a good new case and a corrupt one in the same request: neither is stored
    let good = officer
        .store
        .create_case(
            Deployment::Live,
            &[("victim.name".into(), "Cy Fictional".into())],
        )
        .unwrap();
    let (_, good_bytes) = officer.store.record_bytes(&good).unwrap();
    let (_, case_bytes) = officer.store.record_bytes(&case).unwrap();
    let mut flipped = case_bytes.clone();
    // a byte of the checksum: the chunk still walks, and the loader refuses it (a byte flipped
    // elsewhere may instead break the chunk's layout, refused while decoding)
    flipped[5] ^= 0x5a;
    // bytes that are not whole Automerge chunks are refused while the request is decoded
    // (`record::untrusted`), before any loader sees them; the rest by the loaders
    let decode = (400, "bad_request".to_string());
    let load = (422, "corrupt_changes".to_string());
    let corruptions: Vec<(&str, Vec<u8>, (u16, String))> = vec![
        ("random bytes", (0..200u8).collect(), decode.clone()),
        ("a flipped byte", flipped, load.clone()),
        (
            "cut short",
            case_bytes[..case_bytes.len() - 5].to_vec(),
            decode.clone(),
        ),
        ("empty", vec![], load.clone()),
    ];
    for (what, changes, refused) in corruptions {
        let docs = vec![
            DocChanges {
                id: good.clone(),
                kind: provide_core::model::RecordKind::Case,
                base: vec![],
                changes: good_bytes.clone(),
            },
            DocChanges {
                id: case.clone(),
                kind: provide_core::model::RecordKind::Case,
                base: vec![],
                changes,
            },
        ];
        let body = request(&mut officer, docs).encode();
        assert_eq!(raw.send(body), refused, "{what}");
        assert_eq!(state(&server, &officer), before, "{what}");
    }
    // the same id twice is malformed
    let twice = vec![
        DocChanges {
            id: good.clone(),
            kind: provide_core::model::RecordKind::Case,
            base: vec![],
            changes: good_bytes.clone(),
        };
        2
    ];
    let body = request(&mut officer, twice).encode();
    assert_eq!(raw.send(body).0, 400);
    assert_eq!(state(&server, &officer), before);
}

#[test]
fn documents_that_are_not_valid_records_or_not_the_devices_are_refused() {
    let (server, mut officer, case) = setup();
    let raw = Raw::new(&server, &officer);
    let before = state(&server, &officer);
    // a valid Automerge document that is not a case
    let mut doc = automerge::AutoCommit::new().with_actor(officer.store.actor().clone());
    automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "hello", "world").unwrap();
    let not_a_case = doc.save_nocompress();
    // the real case under another id
    let (_, case_bytes) = officer.store.record_bytes(&case).unwrap();
    // a change written under an actor not registered to this user
    let mut stranger = automerge::AutoCommit::new();
    stranger.load_incremental(&case_bytes).unwrap();
    let mut stranger = stranger.with_actor(automerge::ActorId::random());
    automerge::transaction::Transactable::put(&mut stranger, automerge::ROOT, "status", "closed")
        .unwrap();
    let forged = stranger.save_nocompress();
    let docs = vec![
        DocChanges {
            id: "fresh-id".into(),
            kind: provide_core::model::RecordKind::Case,
            base: vec![],
            changes: not_a_case,
        },
        DocChanges {
            id: "another-id".into(),
            kind: provide_core::model::RecordKind::Case,
            base: vec![],
            changes: case_bytes,
        },
        DocChanges {
            id: case.clone(),
            kind: provide_core::model::RecordKind::Case,
            base: vec![],
            changes: forged,
        },
    ];
    let body = request(&mut officer, docs).encode();
    let resp = Client::new()
        .post(&raw.url)
        .bearer_auth(&raw.credential)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answer =
        provide_core::sync::protocol::SyncResponse::decode(&resp.bytes().unwrap()).unwrap();
    use provide_core::sync::protocol::{DocOutcome, Refusal};
    let outcomes: Vec<_> = answer.acks.iter().map(|a| a.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        vec![
            DocOutcome::Refused(Refusal::InvalidRecord),
            DocOutcome::Refused(Refusal::InvalidRecord),
            DocOutcome::Refused(Refusal::UnknownActor),
        ]
    );
    let after: Vec<_> = state(&server, &officer)
        .into_iter()
        .map(|(id, heads, _)| (id, heads))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .map(|(id, heads, _)| (id, heads))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn enrolment_refuses_bad_unknown_spent_and_expired_codes() {
    let server = TestServer::start();
    let post = |body: &str| {
        let r = Client::new()
            .post(format!("{}/v1/enrol", server.url))
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap_or_default();
        (status, v["code"].as_str().unwrap_or("").to_string())
    };
    let actor = automerge::ActorId::random().to_hex_string();
    assert_eq!(post("{not json").0, 400);
    assert_eq!(
        post(&format!(
            r#"{{"code":"AAAAA-BBBBB-CCCCC-DDDDD","actor_id":"{actor}"}}"#
        )),
        (403, "enrolment_refused".into())
    );
    let code = server.code("pc.cy.fictional", "officer", "west", "t1");
    assert_eq!(
        post(&format!(r#"{{"code":"{code}","actor_id":"zz"}}"#)).0,
        400,
        "a bad actor id"
    );
    assert_eq!(
        post(&format!(r#"{{"code":"{code}","actor_id":"{actor}"}}"#)).0,
        200
    );
    // spent
    let other = automerge::ActorId::random().to_hex_string();
    assert_eq!(
        post(&format!(r#"{{"code":"{code}","actor_id":"{other}"}}"#)),
        (403, "enrolment_refused".into())
    );
    // expired: issued directly with an expiry in the past
    let past = chrono_now_ms() - 1000;
    server
        .service
        .storage
        .create_enrolment(
            &provide_sync_server::credentials::hash("EXP1REDC0DE000000000"),
            &provide_sync_server::storage::UserProfile {
                name: "pc.dee.fictional".into(),
                role: provide_core::model::Role::Officer,
                division: "west".into(),
                team: "t1".into(),
            },
            past,
            &provide_sync_server::storage::AuditEvent {
                device: String::new(),
                user: "pc.dee.fictional".into(),
                action: "enrolment_code".into(),
                record: String::new(),
                detail: "code issued for a test".into(),
            },
        )
        .unwrap();
    assert_eq!(
        post(&format!(
            r#"{{"code":"EXP1R-EDC0D-E0000-00000","actor_id":"{other}"}}"#
        )),
        (403, "enrolment_refused".into())
    );
    // the device rejected at every step was never enrolled
    let devices = server.service.storage.devices().unwrap();
    assert_eq!(devices.len(), 1);
    assert!(Device::enrol_with_code(&server, "AAAAA-BBBBB-CCCCC-DDDDD").is_err());
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn direct_requests_for_out_of_scope_ids_are_refused_and_disclose_nothing() {
    let (server, mut officer, case) = setup();
    let mut idva = Device::enrol(&server, "idva.eli.fictional", "idva", "west", "t1");
    idva.sync().unwrap();
    idva.store
        .add_health_note(&case, "fictional GP visit")
        .unwrap();
    idva.sync().unwrap();
    let health = format!("{case}.health");
    let mut other_team = Device::enrol(&server, "pc.fox.fictional", "officer", "west", "t2");
    let raw = Raw::new(&server, &other_team);
    let before = state(&server, &officer);

    // the other team's officer writes to the case and to the health record by id,
    // with changes of its own actor on top of copies obtained elsewhere
    let mut attempts = Vec::new();
    for (id, kind, owner) in [
        (&case, provide_core::model::RecordKind::Case, &mut officer),
        (&health, provide_core::model::RecordKind::Health, &mut idva),
    ] {
        let (_, bytes) = owner.store.record_bytes(id).unwrap();
        let mut doc = automerge::AutoCommit::new();
        doc.load_incremental(&bytes).unwrap();
        let base = doc.get_heads();
        let mut doc = doc.with_actor(other_team.store.actor().clone());
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "schema", 2u64)
            .unwrap();
        attempts.push(DocChanges {
            id: id.clone(),
            kind,
            base,
            changes: doc.save_after(&[]),
        });
    }
    let mut req = request(&mut other_team, attempts);
    req.cursor = 0;
    let resp = Client::new()
        .post(&raw.url)
        .bearer_auth(&raw.credential)
        .body(req.encode())
        .send()
        .unwrap();
    let answer =
        provide_core::sync::protocol::SyncResponse::decode(&resp.bytes().unwrap()).unwrap();
    use provide_core::sync::protocol::{DocOutcome, Refusal};
    // the case is another team's; the health record is no officer's to write at all
    let expected = [Refusal::OutOfScope, Refusal::NotAllowed];
    for ack in &answer.acks {
        assert_eq!(
            ack.outcome,
            DocOutcome::Refused(expected[ack.doc]),
            "document {}",
            ack.doc
        );
    }
    assert!(answer.updates.is_empty(), "out-of-scope records were sent");
    // the officer of the same team asking from cursor 0 gets the case, never the health record
    let mut req = request(&mut officer, vec![]);
    req.cursor = 0;
    let resp = Client::new()
        .post(&raw.url)
        .bearer_auth(officer.store.server_link().unwrap().credential.as_str())
        .body(req.encode())
        .send()
        .unwrap();
    let answer =
        provide_core::sync::protocol::SyncResponse::decode(&resp.bytes().unwrap()).unwrap();
    assert!(answer.updates.iter().all(|u| u.id != health));
    let after: Vec<_> = state(&server, &officer)
        .into_iter()
        .filter(|(id, _, _)| id == &case)
        .map(|(id, heads, _)| (id, heads))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(id, _, _)| id == &case)
        .map(|(id, heads, _)| (id, heads))
        .collect();
    assert_eq!(after, before);
}
