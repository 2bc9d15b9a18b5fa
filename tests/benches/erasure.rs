//! `make bench` — erasure (issue 16): how long an erased case takes to be confirmed purged by
//! the devices that held it, what the erasure adds to their exchanges, and how long `erase`
//! itself takes on a store of N cases. Prints tables; never passes or fails.
//!
//! Per store size N: a real release server process on loopback (SQLite, and PostgreSQL when
//! `PROVIDE_TEST_DATABASE_URL` names one), N cases seeded through the protocol by devices of
//! another division, one officer's case received by its teammates, so that
//! `PROVIDE_ERASURE_DEVICES` (100) devices hold it, the author's included (light devices, tests/src/light.rs: they purge what an answer lists as erased and confirm it
//! in their next request). The case is erased with the command line (`erase`, timed: a
//! process, opening the store, the transaction, the key destroyed, the WAL emptied) while the
//! server runs; then each device syncs on its own schedule (a random start within the
//! interval, then every `PROVIDE_ERASURE_INTERVAL_MS` (1000) ms ± 50%, as a fleet does) until
//! it has confirmed, while `erase status --json` is asked every second until it lists no
//! device still to confirm. After the server stops, `Service::erase_case` is timed in process
//! on `PROVIDE_ERASURE_TIMED` (5) of the seeded cases.
//!
//! Environment: `PROVIDE_ERASURE_CASES` (`1000,10000`), `PROVIDE_ERASURE_DEVICES` (100),
//! `PROVIDE_ERASURE_INTERVAL_MS` (1000), `PROVIDE_ERASURE_TIMED` (5).

use std::time::{Duration, Instant};

use provide_core::sync::protocol::{SyncRequest, SyncResponse};
use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::service::Config;
use provide_tests::binaries::{self, Serving};
use provide_tests::light::{seed, LightDevice};
use provide_tests::server::fresh_database;
use rand::{Rng, SeedableRng};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const SEEDERS: usize = 4;
/// How long the devices are given to confirm: a bound so the bench always ends (a device
/// that has not confirmed by then is reported as such), never a verdict.
const GIVE_UP: Duration = Duration::from_secs(300);

/// A server store: the embedded one or a PostgreSQL database.
struct Backend {
    name: &'static str,
    dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Backend {
    fn new(name: &'static str, database_url: Option<String>) -> Self {
        Backend {
            name,
            dir: tempfile::tempdir().unwrap(),
            database_url,
        }
    }

    fn data(&self) -> DataDir {
        let mut d = DataDir::new(self.dir.path());
        d.database_url = self.database_url.clone();
        d
    }

    /// The arguments naming its data (before the command).
    fn data_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            self.dir.path().to_str().unwrap().to_string(),
        ];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_string(), url.clone()]);
        }
        args
    }

    fn start(&self) -> (Serving, String) {
        let args = self.data_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        binaries::serve_logging_to(&args, &[], &self.dir.path().join("server.log"))
    }

    /// Runs the server's command line on this store; its standard output, and how long it took.
    fn cli(&self, args: &[&str]) -> (String, Duration) {
        let t = Instant::now();
        let out = std::process::Command::new(binaries::bin("provide-sync-server"))
            .args(self.data_args())
            .args(args)
            .env("PROVIDE_LOG", "warn")
            .output()
            .unwrap();
        let took = t.elapsed();
        assert!(out.status.success(), "{args:?} failed: {out:?}");
        (String::from_utf8(out.stdout).unwrap(), took)
    }

    /// The devices `erase status` lists as still to confirm.
    fn still_to_confirm(&self, case: &str) -> Vec<String> {
        let (out, _) = self.cli(&["erase", "status", "--case", case, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["devices_to_confirm"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    }
}

/// What one device saw from the erasure on.
#[derive(Default)]
struct DeviceRun {
    syncs: u64,
    errors: u64,
    /// Since the erasure, when its confirming request was answered.
    confirmed: Option<Duration>,
    /// Bytes the erasure added to the answer listing it, and to the confirming request
    /// (each message encoded with and without the erased ids).
    answer_added: Option<usize>,
    request_added: Option<usize>,
}

/// One store size's results.
struct Row {
    backend: &'static str,
    cases: usize,
    holders: usize,
    devices: Vec<DeviceRun>,
    status_all_confirmed: Option<Duration>,
    still_to_confirm: usize,
    erase_cli: Duration,
    erase_in_process: Vec<Duration>,
}

/// The bytes `erased` adds to an answer, and confirming it to a request like the device's
/// next one.
fn added_bytes(answer: &SyncResponse, cursor: u64) -> (usize, usize) {
    let mut without = answer.clone();
    without.erased.clear();
    let request = |confirmed: Vec<String>| SyncRequest {
        request_seq: 1000,
        cursor,
        docs: vec![],
        max_response_bytes: 1 << 20,
        audit: vec![],
        erased_confirmed: confirmed,
        epochs: vec![],
        relayed: vec![],
    };
    (
        answer.encode().len() - without.encode().len(),
        request(answer.erased.clone()).encode().len() - request(vec![]).encode().len(),
    )
}

/// Syncs `dev` on its own schedule from `since` until it has confirmed the erasure.
async fn until_confirmed(
    mut dev: LightDevice,
    client: reqwest::Client,
    url: String,
    since: Instant,
    interval: Duration,
    seed: u64,
) -> DeviceRun {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = DeviceRun::default();
    tokio::time::sleep(interval.mul_f64(rng.gen_range(0.0..1.0))).await;
    while since.elapsed() < GIVE_UP {
        let confirming = !dev.to_confirm().is_empty();
        out.syncs += 1;
        match dev.sync(&client, &url, vec![]).await {
            Ok(answer) => {
                if !answer.erased.is_empty() && out.answer_added.is_none() {
                    let (a, r) = added_bytes(&answer, dev.cursor);
                    out.answer_added = Some(a);
                    out.request_added = Some(r);
                }
                if confirming {
                    out.confirmed = Some(since.elapsed());
                    break;
                }
            }
            Err(_) => out.errors += 1,
        }
        tokio::time::sleep(interval.mul_f64(rng.gen_range(0.5..1.5))).await;
    }
    out
}

fn scenario(backend: &Backend, cases: usize, holders: usize, interval: Duration) -> Row {
    let t0 = Instant::now();
    let (creator_code, holder_codes, seeder_codes) = {
        let service = backend.data().open(Config::default()).unwrap();
        let code = |user: String, division: &str, team: &str| {
            admin::enrol(&service, &user, "officer", division, team, 24)
                .unwrap()
                .to_string()
        };
        (
            code("pc.author.fictional".into(), "west", "e1"),
            // the author holds its case too
            (1..holders)
                .map(|i| code(format!("pc.holder{i}.fictional"), "west", "e1"))
                .collect::<Vec<_>>(),
            (0..SEEDERS)
                .map(|i| code(format!("pc.seed{i}.fictional"), "archive", "a1"))
                .collect::<Vec<_>>(),
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let (mut server, url) = backend.start();
    let (case, devices, seeded) = rt.block_on(async {
        let enrol = |code: String| {
            let (c, url) = (client.clone(), url.clone());
            async move { LightDevice::enrol(&c, &url, &code).await.unwrap() }
        };
        let mut author = enrol(creator_code).await;
        let mut devices: Vec<LightDevice> = Vec::new();
        for code in holder_codes {
            devices.push(enrol(code).await);
        }
        let mut seeders = Vec::new();
        for code in seeder_codes {
            seeders.push(enrol(code).await);
        }
        let (_, seeded) = seed(&client, std::slice::from_ref(&url), seeders, 0, cases).await;
        author.start_case(0);
        author.sync(&client, &url, vec![]).await.unwrap();
        let case = author.case_id().unwrap();
        // every teammate receives the case (and so holds it when it is erased)
        for dev in &mut devices {
            let mut got = false;
            for _ in 0..20 {
                let answer = dev.sync(&client, &url, vec![]).await.unwrap();
                got |= answer.updates.iter().any(|d| d.id == case);
                if got && !answer.more {
                    break;
                }
            }
            assert!(got, "a teammate never received the case");
        }
        devices.push(author);
        (case, devices, seeded)
    });
    eprintln!(
        "[{:.0} s] {}: {cases} cases, the case held by {holders} devices",
        t0.elapsed().as_secs_f64(),
        backend.name
    );

    let (out, erase_cli) = backend.cli(&[
        "erase",
        "--case",
        &case,
        "--reason",
        "Benchmark request ER-0001",
        "--json",
    ]);
    let since = Instant::now();
    let erased: serde_json::Value = serde_json::from_str(&out).unwrap();
    let to_confirm = erased["devices_to_confirm"].as_u64().unwrap() as usize;
    // the devices that held it (the teammates, and the author if the server counts it)
    let listed = backend.still_to_confirm(&case);
    assert_eq!(listed.len(), to_confirm, "erase and erase status disagree");
    let tasks: Vec<_> = devices
        .into_iter()
        .filter(|d| listed.contains(&d.device_id))
        .enumerate()
        .map(|(i, dev)| {
            rt.spawn(until_confirmed(
                dev,
                client.clone(),
                url.clone(),
                since,
                interval,
                i as u64,
            ))
        })
        .collect();
    // the operator's view, asked every second until it lists no device still to confirm
    let mut status_all_confirmed = None;
    while since.elapsed() < GIVE_UP {
        let asked = since.elapsed();
        if backend.still_to_confirm(&case).is_empty() {
            status_all_confirmed = Some(asked);
            break;
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(since.elapsed() - asked));
    }
    let runs: Vec<DeviceRun> = tasks.into_iter().map(|t| rt.block_on(t).unwrap()).collect();
    let still_to_confirm = backend.still_to_confirm(&case).len();
    eprintln!(
        "[{:.0} s] {}: {} of {to_confirm} devices confirmed",
        t0.elapsed().as_secs_f64(),
        backend.name,
        to_confirm - still_to_confirm
    );
    server.stop();

    // `erase_case` itself, in process, on seeded cases (held by no device)
    let timed: usize = env("PROVIDE_ERASURE_TIMED", 5);
    let service = backend.data().open(Config::default()).unwrap();
    let erase_in_process = seeded
        .iter()
        .step_by((seeded.len() / timed.max(1)).max(1))
        .take(timed)
        .map(|id| {
            let t = Instant::now();
            service
                .erase_case(id, "Benchmark request ER-0002", "admin.bench.fictional")
                .unwrap();
            t.elapsed()
        })
        .collect();
    Row {
        backend: backend.name,
        cases,
        holders: to_confirm,
        devices: runs,
        status_all_confirmed,
        still_to_confirm,
        erase_cli,
        erase_in_process,
    }
}

/// The time by which `share` of the holders had confirmed, in seconds ("-" if they never did).
fn by_share(confirmed: &[f64], holders: usize, share: f64) -> String {
    let need = ((holders as f64) * share).ceil() as usize;
    match need.checked_sub(1).and_then(|i| confirmed.get(i)) {
        Some(t) => format!("{t:.1}"),
        None => "-".into(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print(rows: &[Row], interval: Duration) {
    println!(
        "\nErasure confirmed by the devices that held the case: each syncs on its own schedule (first within {:.1} s, then every {:.1} s ± 50%),\nseconds from the end of `erase` (the command line, while the server runs); `erase status` asked every second\n",
        interval.as_secs_f64(),
        interval.as_secs_f64()
    );
    println!(
        "| {:<17} | {:>6} | {:>7} | {:>6} | {:>6} | {:>7} | {:>8} | {:>6} | {:>6} | {:>9} | {:>9} | {:>7} |",
        "backend",
        "cases",
        "holders",
        "50% s",
        "90% s",
        "100% s",
        "status s",
        "syncs",
        "errors",
        "answer +B",
        "request +B",
        "pending"
    );
    println!(
        "|{:-<19}|{:-<8}|{:-<9}|{:-<8}|{:-<8}|{:-<9}|{:-<10}|{:-<8}|{:-<8}|{:-<11}|{:-<12}|{:-<9}|",
        "", "", "", "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        let mut confirmed: Vec<f64> = r
            .devices
            .iter()
            .filter_map(|d| d.confirmed.map(|t| t.as_secs_f64()))
            .collect();
        confirmed.sort_by(|a, b| a.total_cmp(b));
        let bytes = |f: fn(&DeviceRun) -> Option<usize>| {
            let mut v: Vec<usize> = r.devices.iter().filter_map(f).collect();
            v.sort_unstable();
            match (v.first(), v.last()) {
                (Some(a), Some(b)) if a == b => a.to_string(),
                (Some(a), Some(b)) => format!("{a}-{b}"),
                _ => "-".into(),
            }
        };
        println!(
            "| {:<17} | {:>6} | {:>7} | {:>6} | {:>6} | {:>7} | {:>8} | {:>6} | {:>6} | {:>9} | {:>10} | {:>7} |",
            r.backend,
            r.cases,
            r.holders,
            by_share(&confirmed, r.holders, 0.5),
            by_share(&confirmed, r.holders, 0.9),
            by_share(&confirmed, r.holders, 1.0),
            r.status_all_confirmed
                .map_or("-".into(), |t| format!("{:.1}", t.as_secs_f64())),
            r.devices.iter().map(|d| d.syncs).sum::<u64>(),
            r.devices.iter().map(|d| d.errors).sum::<u64>(),
            bytes(|d| d.answer_added),
            bytes(|d| d.request_added),
            r.still_to_confirm,
        );
    }
    println!(
        "\nHow long `erase` takes on a store of N cases: the command line (a process: opening the store, the transaction,\nthe key destroyed, the WAL emptied) on the held case while the server runs, and `Service::erase_case` in process\non seeded cases held by no device (after the server stopped)\n"
    );
    println!(
        "| {:<17} | {:>6} | {:>15} | {:>20} | {:>12} |",
        "backend", "cases", "erase (CLI) ms", "erase_case median ms", "min-max ms"
    );
    println!(
        "|{:-<19}|{:-<8}|{:-<17}|{:-<22}|{:-<14}|",
        "", "", "", "", ""
    );
    for r in rows {
        let mut t: Vec<f64> = r.erase_in_process.iter().map(|d| ms(*d)).collect();
        t.sort_by(|a, b| a.total_cmp(b));
        let median = t.get(t.len() / 2).copied().unwrap_or(0.0);
        println!(
            "| {:<17} | {:>6} | {:>15.0} | {:>20.1} | {:>12} |",
            r.backend,
            r.cases,
            ms(r.erase_cli),
            median,
            format!(
                "{:.1}-{:.1}",
                t.first().copied().unwrap_or(0.0),
                t.last().copied().unwrap_or(0.0)
            ),
        );
    }
}

fn main() {
    let cases: Vec<usize> = std::env::var("PROVIDE_ERASURE_CASES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|v| v.trim().parse().expect("case counts"))
        .collect();
    let holders: usize = env("PROVIDE_ERASURE_DEVICES", 100);
    let interval = Duration::from_millis(env("PROVIDE_ERASURE_INTERVAL_MS", 1000));
    let postgres = std::env::var("PROVIDE_TEST_DATABASE_URL").ok();
    if postgres.is_none() {
        eprintln!(
            "PROVIDE_TEST_DATABASE_URL is not set: PostgreSQL rows skipped (make bench runs this under scripts/with-postgres.sh)"
        );
    }
    let mut rows = Vec::new();
    for &n in &cases {
        let sqlite = Backend::new("SQLite", None);
        rows.push(scenario(&sqlite, n, holders, interval));
        if let Some(base) = &postgres {
            let pg = Backend::new("PostgreSQL", Some(fresh_database(base)));
            rows.push(scenario(&pg, n, holders, interval));
        }
    }
    print(&rows, interval);
}
