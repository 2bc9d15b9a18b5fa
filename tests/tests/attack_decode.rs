//! Issue 13, finding 4: a few hundred bytes of request made the server inflate gigabytes.
//! An enrolled device posts, over real HTTP to the real server binary, a compressed change
//! chunk holding a DEFLATE bomb, a change whose run-length column stands for 2^40 rows, and a
//! document chunk whose column is a DEFLATE bomb. Each is refused with a 400 and a code, the
//! server's peak memory does not grow by more than a bound far below what inflating would take,
//! nothing is stored, and an ordinary sync afterwards still works.
//!
//! The response direction (a device refusing the same in a server's answer) is shown in
//! provide-core's `record::untrusted` tests.

use std::io::Read;

use automerge::ChangeHash;
use provide_core::model::{Deployment, RecordKind};
use provide_core::sync::codec::put_varint;
use provide_core::sync::protocol::{DocChanges, SyncRequest};
use provide_core::sync::transport::CONTENT_TYPE;
use provide_tests::binaries;
use provide_tests::{Device, TestServer};
use reqwest::blocking::Client;
use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// What the bombs inflate to: far beyond the memory bound the test holds the server to.
const BOMB_BYTES: u64 = 512 << 20;
/// The most the server's peak memory may grow while refusing every attack.
const MAX_GROWTH_KIB: u64 = 64 << 10;

/// A chunk with a correct header around `body`.
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut len = Vec::new();
    put_varint(&mut len, body.len() as u64);
    let hash = Sha256::new()
        .chain_update([kind])
        .chain_update(&len)
        .chain_update(body)
        .finalize();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&hash[..4]);
    out.push(kind);
    out.extend_from_slice(&len);
    out.extend_from_slice(body);
    out
}

/// `BOMB_BYTES` zeros, raw DEFLATE: about half a megabyte.
fn deflate_bomb() -> Vec<u8> {
    let zeros = std::io::repeat(0).take(BOMB_BYTES);
    let mut out = Vec::new();
    flate2::read::DeflateEncoder::new(zeros, flate2::Compression::best())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A change's fixed fields: no dependencies, a 16-byte actor, seq 1, start op 1, time 0, no
/// message, no other actors.
fn change_head() -> Vec<u8> {
    let mut b = vec![0, 16];
    b.extend_from_slice(&[0xab; 16]);
    b.extend_from_slice(&[1, 1, 0, 0, 0]);
    b
}

/// Column metadata: a count, then each column's spec and length.
fn columns(cols: &[(u64, usize)]) -> Vec<u8> {
    let mut b = Vec::new();
    put_varint(&mut b, cols.len() as u64);
    for (spec, len) in cols {
        put_varint(&mut b, *spec);
        put_varint(&mut b, *len as u64);
    }
    b
}

/// (a) a compressed change chunk (type 2) whose DEFLATE stream inflates to `BOMB_BYTES`.
fn compressed_change(bomb: &[u8]) -> Vec<u8> {
    chunk(2, bomb)
}

/// (b) a change whose action column (id 4, unsigned integers) holds one run of 2^40 rows.
fn rle_run() -> Vec<u8> {
    let mut run = Vec::new();
    // a signed LEB128 run length of 2^40, then the value
    let mut n: i64 = 1 << 40;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 && b & 0x40 == 0 {
            run.push(b);
            break;
        }
        run.push(b | 0x80);
    }
    run.push(1);
    let mut body = change_head();
    body.extend(columns(&[(0x42, run.len())]));
    body.extend(run);
    chunk(1, &body)
}

/// (c) a document chunk (type 0) whose one change column has its DEFLATE bit set.
fn deflated_document(bomb: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0]; // no actors, no heads
    body.extend(columns(&[(0x42 | 0x08, bomb.len())]));
    body.extend(columns(&[]));
    body.extend_from_slice(bomb);
    chunk(0, &body)
}

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
