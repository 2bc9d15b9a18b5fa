//! Issue 13, finding 4: a few hundred bytes of request made the server inflate gigabytes.
//! An enrolled device posts, over real HTTP to the real server binary, a compressed change
//! chunk holding a DEFLATE bomb, a change whose run-length column stands for 2^40 rows, and a
//! document chunk whose column is a DEFLATE bomb. Each is refused with a 400 and a code, the
//! server's peak memory does not grow by more than a bound far below what inflating would take,
//! nothing is stored, and an ordinary sync afterwards still works.
//!
//! The response direction (a device refusing the same in a server's answer) is shown in
//! provide-core's `record::untrusted` tests.

use automerge::ChangeHash;
use provide_core::model::{Deployment, RecordKind};
use provide_core::sync::protocol::{DocChanges, SyncRequest};
use provide_core::sync::transport::CONTENT_TYPE;
use provide_tests::amplifiers::{compressed_change, deflate_bomb, deflated_document, rle_run};
use provide_tests::binaries;
use provide_tests::{Device, TestServer};
use reqwest::blocking::Client;

/// The most the server's peak memory may grow while refusing every attack.
const MAX_GROWTH_KIB: u64 = 64 << 10;

/// Everything the server holds about documents, to compare before and after.
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

/// Posts a request carrying `changes` as a new case; returns the status and the error code.
fn post(url: &str, officer: &mut Device, changes: Vec<u8>) -> (u16, String) {
    let body = SyncRequest {
        request_seq: officer.store.next_request_seq().unwrap(),
        cursor: 0,
        docs: vec![DocChanges {
            id: "case-attack-1".into(),
            kind: RecordKind::Case,
            base: vec![],
            changes,
        }],
        max_response_bytes: 1 << 20,
        audit: vec![],
        erased_confirmed: vec![],
        epochs: vec![],
        relayed: vec![],
    }
    .encode();
    let credential = officer.store.server_link().unwrap().credential.to_string();
    let resp = Client::new()
        .post(url)
        .header("content-type", CONTENT_TYPE)
        .bearer_auth(credential)
        .body(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap_or_default();
    (status, v["code"].as_str().unwrap_or_default().to_string())
}

#[test]
fn decode_amplifiers_are_refused_without_inflating_and_sync_goes_on() {
    // the real server binary over a test server's data (its SQLite file or PostgreSQL database)
    let server = TestServer::start();
    let mut args = vec![
        "--data-dir".to_string(),
        server.data_dir().to_str().unwrap().to_string(),
    ];
    if let Some(db) = &server.data.database_url {
        args.extend(["--database-url".to_string(), db.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (serving, url) = binaries::serve(&args);
    let code = server.code("pc.abe.fictional", "officer", "west", "t1");
    let mut officer = Device::enrol_at(&url, None, &code).unwrap();
    let case = officer
        .store
        .create_case(
            Deployment::Live,
            &[("victim.name".into(), "Bo Fictional".into())],
        )
        .unwrap();
    officer.sync().unwrap();
    let sync_url = format!("{url}/v1/sync");

    let bomb = deflate_bomb();
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let attacks = [
        ("compressed change chunk", compressed_change(&bomb)),
        ("run of 2^40 rows", rle_run()),
        ("document with a deflated column", deflated_document(&bomb)),
    ];
    let before = state(&server, &officer);
    let peak_before = serving.peak_memory_kib().unwrap();
    let answers: Vec<_> = attacks
        .into_iter()
        .map(|(what, changes)| (what, post(&sync_url, &mut officer, changes)))
        .collect();
    let growth = serving.peak_memory_kib().unwrap() - peak_before;
    println!("server peak memory: {peak_before} KiB before the attacks, grew {growth} KiB");
    assert!(
        growth < MAX_GROWTH_KIB,
        "the server's peak memory grew {growth} KiB refusing the attacks"
    );
    for (what, (status, code)) in answers {
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{what}");
    }
    assert_eq!(state(&server, &officer), before, "nothing stored");

    // an ordinary sync afterwards still works
    officer
        .store
        .set_case_fields(&case, &[("status".into(), "closed".into())])
        .unwrap();
    let report = officer.sync().unwrap();
    assert_eq!(
        (report.docs_sent, report.refused.len()),
        (1, 0),
        "{report:?}"
    );
    assert_ne!(state(&server, &officer), before);
}

/// Found by fuzzing: a well-formed change whose sequence number skips ahead for an actor the
/// document has never seen makes Automerge 0.12 panic (`lookup_actor(..).unwrap()`). Sent with
/// an explicit base (so decoding does not load it), it reached the server's own parse of the
/// request and answered 500. Now it is a 422 `corrupt_changes`, audited, with nothing stored.
#[test]
fn a_change_that_panics_automerge_is_a_422_and_audited() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.abe.fictional", "officer", "west", "t1");
    officer.sync().unwrap();
    let before = state(&server, &officer);
    // no dependencies, a one-byte actor, sequence 2 (its first change would be 1), start op 1
    let change = provide_tests::amplifiers::chunk(1, &[0, 1, 0xaa, 2, 1, 0, 0, 0, 0]);
    let body = SyncRequest {
        request_seq: officer.store.next_request_seq().unwrap(),
        cursor: 0,
        docs: vec![DocChanges {
            id: "0b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b".into(),
            kind: RecordKind::Case,
            base: vec![ChangeHash([7; 32])],
            changes: change,
        }],
        max_response_bytes: 1 << 20,
        audit: vec![],
        erased_confirmed: vec![],
        epochs: vec![],
        relayed: vec![],
    }
    .encode();
    let credential = officer.store.server_link().unwrap().credential.to_string();
    let resp = Client::new()
        .post(format!("{}/v1/sync", server.url))
        .header("content-type", CONTENT_TYPE)
        .bearer_auth(credential)
        .body(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
    assert_eq!((status, v["code"].as_str()), (422, Some("corrupt_changes")));
    assert_eq!(state(&server, &officer), before, "nothing stored");
    assert!(server
        .audit_of("")
        .iter()
        .any(|e| e.action == "refuse" && e.detail == "request refused whole: corrupt_changes"));
    // and the server goes on
    assert!(officer.sync().is_ok());
}
