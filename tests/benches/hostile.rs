//! `cargo bench -p provide-tests --bench hostile` — the server under hostile load (issue 13):
//! the release `provide-sync-server` as a real process on its SQLite store, attacked while a
//! normal device (a real encrypted store) syncs. Prints a markdown table: the server's peak
//! resident memory (`VmHWM`, a fresh process per row), how the attackers were answered, and
//! whether and how fast the normal device's sync completed during the attack. Never passes
//! or fails.
//!
//! Rows: 2,000 connections that send half a request head and then nothing (at the default
//! connection cap, and at a cap below their number); 20 clients sending 32 MiB bodies with a
//! wrong credential; 20 enrolled clients each sending the largest body allowed, the same
//! body trickled, 5,000 documents in one request, and the decompression/RLE amplifiers
//! (`amplifier_request`).
//!
//! Environment: `PROVIDE_HOSTILE_CONNECTIONS` (2000), `PROVIDE_HOSTILE_CLIENTS` (20).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provide_core::sync::protocol::{SyncRequest, MAX_BODY};
use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::service::Config;
use provide_tests::binaries::{self, Serving};
use provide_tests::light::LightDevice;
use provide_tests::Device;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Raises this process's soft limit on open files to its hard limit (2,000 sockets).
fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A fresh server process, a normal officer enrolled and synced, and `clients` more codes.
struct Scene {
    _dir: tempfile::TempDir,
    serving: Serving,
    url: String,
    addr: SocketAddr,
    officer: Device,
    attackers: Vec<String>,
}

fn scene(extra_args: &[&str], clients: usize) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let (officer_code, attackers) = {
        let service = DataDir::new(dir.path()).open(Config::default()).unwrap();
        let code = |user: String, team: &str| {
            admin::enrol(&service, &user, "officer", "west", team, 24)
                .unwrap()
                .to_string()
        };
        (
            code("pc.normal.fictional".into(), "t0"),
            (0..clients)
                .map(|i| code(format!("pc.hostile{i}.fictional"), "t9"))
                .collect::<Vec<_>>(),
        )
    };
    let d = dir.path().to_str().unwrap().to_string();
    let (serving, url) = binaries::serve_with(&["--data-dir", d.as_str()], extra_args);
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let mut officer = Device::enrol_at(&url, None, &officer_code).unwrap();
    officer.sync().unwrap();
    Scene {
        _dir: dir,
        serving,
        url,
        addr,
        officer,
        attackers,
    }
}

/// The normal device's sync during an attack: whether it completed, and in how long.
fn normal_sync(officer: &mut Device) -> (bool, Duration) {
    let t = Instant::now();
    let ok = officer.sync().is_ok();
    (ok, t.elapsed())
}

fn health(url: &str) -> (bool, Duration) {
    let t = Instant::now();
    let ok = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
        .get(format!("{url}/v1/health"))
        .send()
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    (ok, t.elapsed())
}

struct Row {
    attack: String,
    answers: String,
    peak_kib: u64,
    sync: (bool, Duration),
    health: (bool, Duration),
}

fn print(rows: &[Row]) {
    println!("| attack | attackers were answered | server peak RSS | normal device's sync during it | /v1/health |");
    println!("|---|---|---:|---|---|");
    let yes = |(ok, d): (bool, Duration)| {
        if ok {
            format!("completed, {} ms", d.as_millis())
        } else {
            format!("FAILED after {} ms", d.as_millis())
        }
    };
    for r in rows {
        println!(
            "| {} | {} | {:.1} MiB | {} | {} |",
            r.attack,
            r.answers,
            r.peak_kib as f64 / 1024.0,
            yes(r.sync),
            yes(r.health)
        );
    }
}

/// Holds `n` connections that sent half a request head; how many the server has closed.
fn slow_connections(extra: &[&str], n: usize, label: &str) -> Row {
    let mut s = scene(extra, 0);
    let held: Vec<TcpStream> = (0..n)
        .filter_map(|_| {
            let mut c = TcpStream::connect(s.addr).ok()?;
            c.write_all(b"POST /v1/sync HTTP/1.1\r\nHost: provide\r\nContent-Ty")
                .ok()?;
            Some(c)
        })
        .collect();
    let opened = held.len();
    let sync = normal_sync(&mut s.officer);
    let health = health(&s.url);
    // how many of them the server has closed by now (a read that does not block)
    let closed = held.iter().filter(|c| closed(c)).count();
    Row {
        attack: format!("{n} half-open connections held ({label})"),
        answers: format!("{opened} opened; {closed} closed by the server to make room"),
        peak_kib: s.serving.peak_memory_kib().unwrap_or(0),
        sync,
        health,
    }
}

fn closed(c: &TcpStream) -> bool {
    c.set_nonblocking(true).unwrap();
    let mut b = [0u8; 64];
    match (&*c).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// The status code of the answer on `c`, if one comes before its read timeout.
fn status(c: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match c.read(&mut b) {
            Ok(1) => line.push(b[0]),
            _ => break,
        }
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    line.split(' ').nth(1).map(str::to_string)
}

/// Sends `head` then `body` on a new connection: the answer's status code, or what became of
/// it. With `pace`, the body goes in slices of that size at that interval and the connection
/// is then abandoned (a trickle is cut off by the server only much later).
fn send(addr: SocketAddr, head: &str, body: &[u8], pace: Option<(usize, Duration)>) -> String {
    let Ok(mut c) = TcpStream::connect(addr) else {
        return "no connection".into();
    };
    if c.write_all(head.as_bytes()).is_err() {
        return "closed".into();
    }
    if let Some((slice, every)) = pace {
        // an answer at once (refused before the body) comes within this
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        if let Some(code) = status(&mut c) {
            return code;
        }
        for part in body.chunks(slice) {
            std::thread::sleep(every);
            if c.write_all(part).is_err() {
                return status(&mut c).unwrap_or_else(|| "closed while trickling".into());
            }
        }
        return "held while trickling".into();
    }
    c.set_read_timeout(Some(Duration::from_secs(600))).unwrap();
    let sent = c.write_all(body).is_ok();
    match status(&mut c) {
        Some(code) => code,
        None if sent => "reset".into(),
        None => "reset while sending".into(),
    }
}

fn tally(answers: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for a in answers {
        match counts.iter_mut().find(|(k, _)| k == a) {
            Some((_, n)) => *n += 1,
            None => counts.push((a.clone(), 1)),
        }
    }
    counts.sort();
    counts
        .iter()
        .map(|(k, n)| format!("{n}× {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs one request per attacker at once, and the normal device's sync while they run; `None`
/// when there is no such request to make.
fn body_attack(
    label: &str,
    clients: usize,
    request: impl Fn(&Scene, &rt::Runtime, usize) -> Option<(String, Vec<u8>)>,
    pace: Option<(usize, Duration)>,
) -> Option<Row> {
    let runtime = rt::Runtime::new();
    let mut s = scene(&[], clients);
    let requests: Vec<(String, Vec<u8>)> = (0..clients)
        .map(|i| request(&s, &runtime, i))
        .collect::<Option<_>>()?;
    let answers = Arc::new(Mutex::new(Vec::new()));
    let started = Arc::new(AtomicBool::new(false));
    let mut peak = 0;
    let mut before_stop = Vec::new();
    let (sync, health) = std::thread::scope(|scope| {
        for (head, body) in &requests {
            let (answers, addr, started) = (answers.clone(), s.addr, started.clone());
            scope.spawn(move || {
                started.store(true, Ordering::Release);
                let a = send(addr, head, body, pace);
                answers.lock().unwrap().push(a);
            });
        }
        while !started.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        // the attack is under way: let its bodies start to arrive
        std::thread::sleep(Duration::from_millis(500));
        let measured = (normal_sync(&mut s.officer), health(&s.url));
        // the attack runs to its end (or for a minute more), then the server is stopped
        let until = Instant::now() + ATTACK_AFTER_SYNC;
        while answers.lock().unwrap().len() < clients && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
        peak = s.serving.peak_memory_kib().unwrap_or(0);
        before_stop = answers.lock().unwrap().clone();
        s.serving.kill();
        measured
    });
    let mut answers = before_stop;
    answers.resize(clients, "still at work when stopped".into());
    Some(Row {
        attack: format!("{clients} clients: {label}"),
        answers: tally(&answers),
        peak_kib: peak,
        sync,
        health,
    })
}

/// How long an attack may go on after the normal device's sync before the server is stopped.
const ATTACK_AFTER_SYNC: Duration = Duration::from_secs(60);

fn sync_head(credential: &str, len: usize) -> String {
    format!(
        "POST /v1/sync HTTP/1.1\r\nHost: provide\r\nContent-Type: application/x-provide-sync\r\nAuthorization: Bearer {credential}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

/// An enrolled light device for attacker `i`.
fn attacker(s: &Scene, runtime: &rt::Runtime, i: usize) -> LightDevice {
    let client = reqwest::Client::new();
    runtime
        .block_on(LightDevice::enrol(&client, &s.url, &s.attackers[i]))
        .unwrap()
}

/// The request that would make an unbounded decoder inflate: client `i` sends, in turn, a
/// compressed change chunk holding a 512 MiB DEFLATE bomb, a change whose run-length column
/// stands for 2^40 rows, and a document whose column is a DEFLATE bomb
/// (`provide_tests::amplifiers`), each a few hundred kilobytes at most.
fn amplifier_request(i: usize) -> Option<Vec<u8>> {
    use provide_core::model::RecordKind;
    use provide_core::sync::protocol::DocChanges;
    use provide_tests::amplifiers::{compressed_change, deflate_bomb, deflated_document, rle_run};
    let changes = match i % 3 {
        0 => compressed_change(&deflate_bomb()),
        1 => rle_run(),
        _ => deflated_document(&deflate_bomb()),
    };
    let request = SyncRequest {
        request_seq: 1,
        cursor: 0,
        docs: vec![DocChanges {
            id: "0b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b".into(),
            kind: RecordKind::Case,
            base: vec![],
            changes,
        }],
        max_response_bytes: 1 << 20,
        audit: vec![],
        erased_confirmed: vec![],
        epochs: vec![],
        relayed: vec![],
    };
    Some(request.encode())
}

mod rt {
    /// A small tokio runtime for the async light devices.
    pub struct Runtime(tokio::runtime::Runtime);

    impl Runtime {
        pub fn new() -> Self {
            Runtime(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            )
        }

        pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
            self.0.block_on(f)
        }
    }
}

fn main() {
    raise_open_files();
    let n = env("PROVIDE_HOSTILE_CONNECTIONS", 2000usize);
    let clients = env("PROVIDE_HOSTILE_CLIENTS", 20usize);
    let mut rows = Vec::new();

    rows.push(slow_connections(&[], n, "default cap 4,096"));
    let cap = (n / 2).to_string();
    rows.push(slow_connections(
        &["--max-connections", &cap],
        n,
        &format!("cap {cap}: the oldest idle are closed"),
    ));

    let garbage = vec![0x5au8; MAX_BODY];
    rows.extend(body_attack(
        "32 MiB body with a wrong credential",
        clients,
        |_, _, i| {
            let fake = format!("00000000-0000-4000-8000-{i:012}.{}", "0".repeat(64));
            Some((sync_head(&fake, MAX_BODY), garbage.clone()))
        },
        None,
    ));
    rows.extend(body_attack(
        "32 MiB body (the largest allowed), enrolled",
        clients,
        |s, rt, i| {
            let d = attacker(s, rt, i);
            Some((sync_head(d.credential(), MAX_BODY), garbage.clone()))
        },
        None,
    ));
    rows.extend(body_attack(
        "32 MiB declared, 2 MiB of it trickled at 128 KiB/s, enrolled",
        clients,
        |s, rt, i| {
            let d = attacker(s, rt, i);
            Some((sync_head(d.credential(), MAX_BODY), vec![0x5a; 2 << 20]))
        },
        Some((16 * 1024, Duration::from_millis(125))),
    ));
    let docs = Config::default().max_docs_per_request;
    rows.extend(body_attack(
        &format!("{docs} new documents in one request, enrolled"),
        clients,
        |s, rt, i| {
            let d = attacker(s, rt, i);
            let body = SyncRequest {
                request_seq: 1,
                cursor: 0,
                docs: d.bulk_cases(i * docs, docs),
                max_response_bytes: 1 << 20,
                audit: vec![],
                erased_confirmed: vec![],
                epochs: vec![],
                relayed: vec![],
            }
            .encode();
            Some((sync_head(d.credential(), body.len()), body))
        },
        None,
    ));
    match body_attack(
        "compressed chunk / RLE amplifier, enrolled",
        clients,
        |s, rt, i| {
            let d = attacker(s, rt, i);
            amplifier_request(i).map(|body| (sync_head(d.credential(), body.len()), body))
        },
        None,
    ) {
        Some(row) => rows.push(row),
        None => println!(
            "(compressed chunk / RLE amplifier: not measured until the provide-core change that bounds it is merged; see `amplifier_request`)\n"
        ),
    }
    print(&rows);
}
