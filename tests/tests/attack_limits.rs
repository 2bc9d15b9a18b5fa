//! Issue 13, findings 7, 8 and 10 and the busy answer, performed against a real server on
//! loopback: slow and half-open connections past the connection cap, a slow-loris header,
//! unauthenticated and oversized bodies, floods of wrong enrolment codes and credentials, and
//! a sync over the cap of syncs in flight. Each must fail cleanly, leave the service working
//! for honest devices, and (for the failed credentials) be in the audit log without a secret.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Duration;

use provide_core::report::{AuditRow, CheckedAuditQuery};
use provide_core::Error;
use provide_sync_server::limits::Limits;
use provide_sync_server::service::Config;
use provide_sync_server::storage::AuditFilter;
use provide_tests::{Device, TestServer};

/// How long a raw read may wait before the test gives up on the server closing the
/// connection: a safety net against hanging, far beyond every timeout configured here.
const SAFETY: Duration = Duration::from_secs(60);

fn server_with(limits: Limits) -> TestServer {
    TestServer::start_with(Config {
        limits,
        ..Config::default()
    })
}

fn connect(server: &TestServer) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(SAFETY)).unwrap();
    s
}

/// Reads one answer's head (up to the blank line).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "the answer's head broke off after {:?}: {other:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8(head).unwrap()
}

/// Reads until the server closes the connection; false when it is still open at `SAFETY`.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            // reset by the server
            Err(_) => return true,
        }
    }
}

/// A client whose connections come from `source` (any 127.x address is loopback).
fn client_from(source: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .timeout(SAFETY)
        .build()
        .unwrap()
}

fn actor_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Enrols a device by hand (no store): its credential, for raw requests.
fn credential(server: &TestServer, user: &str) -> String {
    let code = server.code(user, "officer", "North", "Team 1");
    let answer = post_json(
        &client_from("127.0.0.1"),
        &format!("{}/v1/enrol", server.url),
        &serde_json::json!({ "code": code, "actor_id": actor_id() }),
    );
    let answer: serde_json::Value = serde_json::from_slice(&answer.bytes().unwrap()).unwrap();
    answer["credential"].as_str().unwrap().to_string()
}

fn post_json(
    client: &reqwest::blocking::Client,
    url: &str,
    body: &serde_json::Value,
) -> reqwest::blocking::Response {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .unwrap()
}

fn audit(server: &TestServer, action: &str) -> Vec<AuditRow> {
    server
        .service
        .storage
        .audit(&AuditFilter {
            entries: CheckedAuditQuery {
                action: Some(action.into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap()
}

/// (refused, throttled) summed over audit rows' details.
fn counted(rows: &[AuditRow]) -> (u64, u64) {
    let field = |r: &AuditRow, name: &str| -> u64 {
        r.detail
            .split(' ')
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {:?}", r.detail))
            .parse()
            .unwrap()
    };
    rows.iter().fold((0, 0), |(a, b), r| {
        (a + field(r, "refused="), b + field(r, "throttled="))
    })
}

fn code_of(resp: reqwest::blocking::Response) -> (u16, Option<String>, String) {
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body: serde_json::Value = resp
        .bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    (
        status,
        retry,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

// ---- finding 7: slow connections

#[test]
fn half_open_connections_past_the_cap_leave_health_and_sync_working() {
    // a long header timeout: room is made by closing the oldest idle connection, not by waiting
    let server = server_with(Limits {
        max_connections: 8,
        header_timeout: Duration::from_secs(600),
        ..Limits::default()
    });
    let mut officer = Device::enrol(&server, "Officer Ada Brook", "officer", "North", "Team 1");
    officer.sync().unwrap();

    // five times the cap of connections that send half a request head and then nothing
    let mut held: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"POST /v1/sync HTTP/1.1\r\nHost: provide\r\nContent-Ty")
                .unwrap();
            s
        })
        .collect();

    let health = client_from("127.0.0.1")
        .get(format!("{}/v1/health", server.url))
        .send()
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().unwrap(), "ok");
    officer
        .sync()
        .expect("a real device syncs while the connections are held");

    // the oldest of them was closed by the server to make room, without a timer running out
    assert!(closed_by_server(&mut held[0]));
}

#[test]
fn a_slow_loris_and_an_idle_connection_are_closed_by_the_header_timer() {
    let server = server_with(Limits {
        header_timeout: Duration::from_secs(1),
        ..Limits::default()
    });

    // a head sent one header line at a time, never finished: the timer is not reset by bytes
    let mut loris = connect(&server);
    loris
        .write_all(b"POST /v1/sync HTTP/1.1\r\nHost: provide\r\n")
        .unwrap();
    let mut writer = loris.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for i in 0..600 {
            if writer
                .write_all(format!("X-{i}: a\r\n").as_bytes())
                .is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert!(
        closed_by_server(&mut loris),
        "the slow head was not cut off"
    );
    trickle.join().unwrap();

    // a kept-alive connection left idle after its answer is closed the same way
    let mut idle = connect(&server);
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: provide\r\n\r\n")
        .unwrap();
    let head = read_head(&mut idle);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        closed_by_server(&mut idle),
        "the idle connection stayed open"
    );
}

// ---- finding 8: bodies before credentials

#[test]
fn an_unauthenticated_body_is_refused_before_it_is_read() {
    let mut server = TestServer::start();
    let fake = format!(
        "Bearer 00000000-0000-4000-8000-000000000000.{}",
        "0".repeat(64)
    );
    for auth in [Some(fake.as_str()), None] {
        let mut s = connect(&server);
        let mut head = String::from(
            "POST /v1/sync HTTP/1.1\r\nHost: provide\r\nContent-Type: application/x-provide-sync\r\n",
        );
        if let Some(a) = auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("Content-Length: 33554432\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // 1 KiB of the announced 32 MiB, then nothing more
        s.write_all(&[0x5a; 1024]).unwrap();
        let answer = read_head(&mut s);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(
            closed_by_server(&mut s),
            "the server waited for the rest of the body"
        );
    }

    // a device's own body over the limit is refused from its declared length alone
    let cred = credential(&server, "Officer Cal Dunmore");
    let mut s = connect(&server);
    s.write_all(
        format!(
            "POST /v1/sync HTTP/1.1\r\nHost: provide\r\nAuthorization: Bearer {cred}\r\nContent-Length: {}\r\n\r\n",
            32 * 1024 * 1024 + 1
        )
        .as_bytes(),
    )
    .unwrap();
    let answer = read_head(&mut s);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // enrolment takes no credential, so only a small body: refused by its declared length...
    let padding = "x".repeat(5 * 1024);
    let body = serde_json::json!({ "code": "AAAAA-BBBBB-CCCCC-DDDDD", "actor_id": padding });
    let (status, _, code) = code_of(post_json(
        &client_from("127.0.0.1"),
        &format!("{}/v1/enrol", server.url),
        &body,
    ));
    assert_eq!((status, code.as_str()), (413, "too_large"));
    let mut s = connect(&server);
    s.write_all(b"POST /v1/enrol HTTP/1.1\r\nHost: provide\r\nContent-Type: application/json\r\nContent-Length: 33554432\r\n\r\n{\"code\":\"")
        .unwrap();
    let answer = read_head(&mut s);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // ...or, with no length declared, as soon as it passes the limit
    let mut s = connect(&server);
    s.write_all(b"POST /v1/enrol HTTP/1.1\r\nHost: provide\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunks = format!("400\r\n{}\r\n", "y".repeat(1024)).repeat(5);
    s.write_all(chunks.as_bytes()).unwrap();
    let answer = read_head(&mut s);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    server.stop();
    let (refused, _) = counted(&audit(&server, "auth_refused"));
    assert_eq!(refused, 2, "both unauthenticated uploads are audited");
}

// ---- finding 10: failed enrolments and credentials

#[test]
fn wrong_codes_and_credentials_are_throttled_and_audited_without_secrets() {
    let mut server = server_with(Limits {
        failures_burst: 10,
        failure_refill: Duration::from_secs(3600),
        ..Limits::default()
    });
    let mut officer = Device::enrol(&server, "Officer Ada Brook", "officer", "North", "Team 1");
    let officer_id = officer.store.device_id().to_string();

    // 120 wrong enrolment codes from one source
    let attacker = client_from("127.0.0.2");
    let codes: Vec<String> = (0..120)
        .map(|i| format!("ZZZZZ-ZZZZZ-ZZZZZ-Z{i:04}"))
        .collect();
    let mut answers = Vec::new();
    for code in &codes {
        let resp = post_json(
            &attacker,
            &format!("{}/v1/enrol", server.url),
            &serde_json::json!({ "code": code, "actor_id": actor_id() }),
        );
        answers.push(code_of(resp));
    }
    assert!(answers[..10]
        .iter()
        .all(|(s, _, c)| *s == 403 && c == "enrolment_refused"));
    for (status, retry, code) in &answers[10..] {
        assert_eq!((*status, code.as_str()), (429, "throttled"));
        let secs: u64 = retry.as_deref().expect("Retry-After").parse().unwrap();
        assert!(secs >= 1);
    }

    // 30 wrong credentials for an enrolled device from another source
    let guesser = client_from("127.0.0.3");
    let secrets: Vec<String> = (0..30).map(|i| format!("{i:064x}")).collect();
    let sync_with = |client: &reqwest::blocking::Client, credential: &str| {
        code_of(
            client
                .post(format!("{}/v1/sync", server.url))
                .bearer_auth(credential)
                .send()
                .unwrap(),
        )
    };
    let statuses: Vec<u16> = secrets
        .iter()
        .map(|s| sync_with(&guesser, &format!("{officer_id}.{s}")).0)
        .collect();
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    // the device is throttled for wrong credentials from a fresh source too...
    let fresh = client_from("127.0.0.4");
    let wrong = format!("{officer_id}.{}", "f".repeat(64));
    assert_eq!(sync_with(&fresh, &wrong).0, 429);
    // ...while an unknown device from a fresh source is only refused
    let unknown = format!("11111111-2222-4333-8444-555555555555.{}", "e".repeat(64));
    assert_eq!(
        client_from("127.0.0.5")
            .get(format!("{}/v1/audit", server.url))
            .bearer_auth(&unknown)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );

    // a device that authenticated lately passes even the attacker's throttled source (one
    // NAT); one the server has not seen yet waits like everyone there
    let seen = credential(&server, "Officer Eli Grove");
    let unseen = credential(&server, "Officer Fay Holt");
    let read_audit = |client: &reqwest::blocking::Client, cred: &str| {
        code_of(
            client
                .get(format!("{}/v1/audit", server.url))
                .bearer_auth(cred)
                .send()
                .unwrap(),
        )
        .0
    };
    assert_eq!(read_audit(&client_from("127.0.0.1"), &seen), 403);
    assert_eq!(
        read_audit(&guesser, &seen),
        403,
        "vouched: authenticated, then refused by role"
    );
    assert_eq!(read_audit(&guesser, &unseen), 429);

    // honest users are not locked out: the device itself, and a new enrolment
    officer
        .sync()
        .expect("the device's own credential still passes");
    let mut advocate = Device::enrol(&server, "Advocate Bea Marsh", "idva", "North", "Team 1");
    advocate.sync().unwrap();

    server.stop();
    let enrol_rows = audit(&server, "enrol_refused");
    assert_eq!(counted(&enrol_rows), (10, 110));
    assert!(enrol_rows.len() <= 2, "aggregated: {enrol_rows:?}");
    assert!(enrol_rows
        .iter()
        .all(|r| r.detail.contains("source=127.0.0.2")));

    let auth_rows = audit(&server, "auth_refused");
    let on_device: Vec<&AuditRow> = auth_rows
        .iter()
        .filter(|r| r.device == officer_id)
        .collect();
    assert_eq!(
        counted(&on_device.into_iter().cloned().collect::<Vec<_>>()).0,
        10
    );
    assert_eq!(counted(&auth_rows), (11, 22));
    assert!(auth_rows.len() <= 5, "aggregated: {auth_rows:?}");

    // no code or secret that was presented is in the log
    for row in enrol_rows.iter().chain(&auth_rows) {
        let text = format!("{} {} {} {}", row.device, row.user, row.record, row.detail);
        assert!(codes.iter().all(|c| !text.contains(&c[..11])), "{text}");
        assert!(secrets.iter().all(|s| !text.contains(s.as_str())), "{text}");
        assert!(!text.contains(&"f".repeat(16)) && !text.contains(&"e".repeat(16)));
    }
}

// ---- busy: the cap on syncs in flight

#[test]
fn a_sync_over_the_cap_is_answered_busy_and_the_client_says_so() {
    let server = server_with(Limits {
        max_syncs_in_flight: 1,
        retry_after_secs: 7,
        ..Limits::default()
    });
    let mut officer = Device::enrol(&server, "Officer Ada Brook", "officer", "North", "Team 1");
    officer.sync().unwrap();
    let holder = credential(&server, "Officer Cal Dunmore");
    let other = credential(&server, "Officer Dee Fenwick");

    // a sync held in flight: its head is in, and the server asks for its body (100 Continue),
    // which it has only once it admitted the sync
    let mut held = connect(&server);
    held.write_all(
        format!(
            "POST /v1/sync HTTP/1.1\r\nHost: provide\r\nAuthorization: Bearer {holder}\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let go_on = read_head(&mut held);
    assert!(go_on.starts_with("HTTP/1.1 100"), "{go_on}");

    let (status, retry, code) = code_of(
        client_from("127.0.0.1")
            .post(format!("{}/v1/sync", server.url))
            .bearer_auth(&other)
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, retry.as_deref(), code.as_str()),
        (503, Some("7"), "busy")
    );
    match officer.sync() {
        Err(Error::ServerBusy { retry_after_secs }) => assert_eq!(retry_after_secs, 7),
        other => panic!("expected the busy error, got {other:?}"),
    }

    // the held sync finishes (its body is no sync message) and frees its place
    held.write_all(&[0u8; 1000]).unwrap();
    let answer = read_head(&mut held);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    officer.sync().expect("the place is free again");
}
