//! `make bench` — load: many simulated devices syncing at once against real server processes
//! (the built `provide-sync-server`), one on its SQLite store and, when
//! `PROVIDE_TEST_DATABASE_URL` names a PostgreSQL server (`scripts/with-postgres.sh`), two
//! over one PostgreSQL database with the devices split between them. Prints a table; never
//! passes or fails.
//!
//! Devices (tests/src/light.rs) are enrolled through the real endpoint, ten to a team, each
//! with a case of its own; then each syncs in a closed loop (no pause) for the run, editing its
//! case on one sync in five, so teammates receive the edits. The stored documents are seeded
//! before the run through the protocol, a thousand per request from a few seeding devices of
//! another division (so the devices under load do not walk them; see ARCHITECTURE). Each
//! server process is restarted after seeding, so its peak memory (`VmHWM`) is that of the run.
//!
//! Each run starts a fresh server process and warms it up for `PROVIDE_LOAD_WARMUP_SECS` (10)
//! of the same load before measuring: straight after seeding, caches are cold and
//! PostgreSQL's planner has not yet analysed the seeded tables.
//!
//! Every server process writes its log at `info` (one line per request, the default) to a
//! file beside its data, never to a terminal.
//!
//! The cost of logging: after the rows above, the SQLite server runs the same load with its
//! log at `info` and `off`, alternately, each in turn first (`PROVIDE_LOAD_LOG_ROUNDS` (2) rounds, with the
//! smallest document count), and a second table compares them.
//!
//! Environment: `PROVIDE_LOAD_SECS` (60), `PROVIDE_LOAD_DEVICES` (1000),
//! `PROVIDE_LOAD_DOCS` (`10000,100000`: the stored-document counts, in increasing order),
//! `PROVIDE_LOAD_PART` (`all`, `rows` or `log-cost`: which tables to make),
//! `PROVIDE_LOAD_LOG_ROUNDS` (2).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::service::Config;
use provide_tests::binaries::{self, Serving};
use provide_tests::light::LightDevice;
use provide_tests::server::fresh_database;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const SEEDERS: usize = 4;
const SEED_BATCH: usize = 1_000;

/// The server's log level in a run (its log goes to a file either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logging {
    Info,
    Off,
}

impl Logging {
    fn level(self) -> &'static str {
        match self {
            Logging::Info => "info",
            Logging::Off => "off",
        }
    }
}

/// One backend: how to issue codes and start its server processes.
struct Backend {
    name: &'static str,
    dir: tempfile::TempDir,
    database_url: Option<String>,
    processes: usize,
}

impl Backend {
    fn data(&self) -> DataDir {
        let mut d = DataDir::new(self.dir.path());
        d.database_url = self.database_url.clone();
        d
    }

    fn start(&self) -> Vec<(Serving, String)> {
        self.start_logging(Logging::Info)
    }

    /// The server processes, each writing its log to `server-N.log` in the data folder.
    fn start_logging(&self, logging: Logging) -> Vec<(Serving, String)> {
        let dir = self.dir.path().to_str().unwrap().to_string();
        let serve_args = ["--log-level", logging.level()];
        (0..self.processes)
            .map(|i| {
                let log = self.log_file(i);
                match &self.database_url {
                    Some(url) => binaries::serve_logging_to(
                        &["--data-dir", &dir, "--database-url", url],
                        &serve_args,
                        &log,
                    ),
                    None => binaries::serve_logging_to(&["--data-dir", &dir], &serve_args, &log),
                }
            })
            .collect()
    }

    fn log_file(&self, process: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("server-{process}.log"))
    }

    /// The bytes the processes' logs hold now.
    fn log_bytes(&self) -> u64 {
        (0..self.processes)
            .map(|i| std::fs::metadata(self.log_file(i)).map_or(0, |m| m.len()))
            .sum()
    }
}

struct Codes {
    load: Vec<String>,
    seeders: Vec<String>,
}

/// Issues every code before any server process opens the store.
fn issue_codes(b: &Backend, devices: usize) -> Codes {
    let service = b.data().open(Config::default()).unwrap();
    let code = |user: String, division: &str, team: String| {
        admin::enrol(&service, &user, "officer", division, &team, 24)
            .unwrap()
            .to_string()
    };
    Codes {
        load: (0..devices)
            .map(|i| {
                code(
                    format!("pc.load{i}.fictional"),
                    "west",
                    format!("t{}", i / 10),
                )
            })
            .collect(),
        seeders: (0..SEEDERS)
            .map(|i| code(format!("pc.seed{i}.fictional"), "archive", format!("a{i}")))
            .collect(),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

async fn enrol_all(
    client: &reqwest::Client,
    urls: &[String],
    codes: &[String],
) -> Vec<LightDevice> {
    let mut out = Vec::with_capacity(codes.len());
    for chunk in codes.chunks(50) {
        let mut tasks = Vec::new();
        for (i, code) in chunk.iter().enumerate() {
            let (c, url, code) = (
                client.clone(),
                urls[(out.len() + i) % urls.len()].clone(),
                code.clone(),
            );
            tasks.push(tokio::spawn(async move {
                LightDevice::enrol(&c, &url, &code).await.unwrap()
            }));
        }
        for t in tasks {
            out.push(t.await.unwrap());
        }
    }
    out
}

/// Seeds documents `from..to` through the protocol from the seeding devices, in requests of
/// `SEED_BATCH` documents; returns the devices.
async fn seed(
    client: &reqwest::Client,
    urls: &[String],
    seeders: Vec<LightDevice>,
    from: usize,
    to: usize,
) -> Vec<LightDevice> {
    let per = (to - from).div_ceil(seeders.len());
    let mut tasks = Vec::new();
    for (k, mut dev) in seeders.into_iter().enumerate() {
        let start = (from + k * per).min(to);
        let end = (start + per).min(to);
        let (c, url) = (client.clone(), urls[k % urls.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut n = start;
            while n < end {
                let batch = SEED_BATCH.min(end - n);
                // documents are built off the async workers: they are CPU work
                let (d, docs) = tokio::task::spawn_blocking(move || {
                    let docs = dev.bulk_cases(n, batch);
                    (dev, docs)
                })
                .await
                .unwrap();
                dev = d;
                let answer = dev.sync(&c, &url, docs).await.unwrap();
                // a request takes what fits its budget (500 documents, 5 s of work: see
                // service/sync.rs), in order; the rest are built and sent again
                assert!(!answer.acks.is_empty(), "the server took none of a batch");
                n += answer.acks.len();
            }
            dev
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// What one run measured.
struct Measured {
    syncs: u64,
    errors: u64,
    latencies_us: Vec<u64>,
    secs: f64,
}

/// Every device syncs in a closed loop for `secs`; device `i` uses server `i % urls.len()`.
async fn run(
    client: &reqwest::Client,
    urls: &[String],
    devices: Vec<LightDevice>,
    secs: f64,
) -> (Measured, Vec<LightDevice>) {
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for (i, mut dev) in devices.into_iter().enumerate() {
        let (c, url) = (client.clone(), urls[i % urls.len()].clone());
        let (errors, first_error) = (errors.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            // at least one sync each, even in a run of no length (the setup's catch-up)
            while n == 0 || Instant::now() < deadline {
                n += 1;
                if (n + i as u64) % 5 == 0 {
                    dev.edit(&format!("Edit {n} from device {i}"));
                }
                let t = Instant::now();
                match dev.sync(&c, &url, vec![]).await {
                    Ok(_) => lat.push(t.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap().get_or_insert(e.to_string());
                    }
                }
            }
            (dev, lat)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut back = Vec::new();
    for t in tasks {
        let (dev, lat) = t.await.unwrap();
        latencies_us.extend(lat);
        back.push(dev);
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("first error: {e}");
    }
    latencies_us.sort_unstable();
    (
        Measured {
            syncs: latencies_us.len() as u64,
            errors: errors.load(Ordering::Relaxed),
            latencies_us,
            secs,
        },
        back,
    )
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct Row {
    backend: String,
    docs: usize,
    devices: usize,
    m: Measured,
    peak_kib: Vec<u64>,
}

fn bench_backend(
    backend: &Backend,
    devices: usize,
    doc_counts: &[usize],
    (warmup, secs): (f64, f64),
    rows: &mut Vec<Row>,
) {
    let t0 = Instant::now();
    let codes = issue_codes(backend, devices);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = client();
    let mut servers = backend.start();
    let mut urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let (mut load, mut seeders) = rt.block_on(async {
        let mut load = enrol_all(&client, &urls, &codes.load).await;
        let seeders = enrol_all(&client, &urls, &codes.seeders).await;
        for (i, d) in load.iter_mut().enumerate() {
            d.start_case(i);
        }
        // every device uploads its case and catches up once, not measured
        let (_, load) = run(&client, &urls, load, 0.0).await;
        (load, seeders)
    });
    eprintln!(
        "[{:.0} s] {}: {devices} devices enrolled",
        t0.elapsed().as_secs_f64(),
        backend.name
    );
    let mut stored = 0;
    for &docs in doc_counts {
        seeders = rt.block_on(seed(&client, &urls, seeders, stored, docs));
        stored = docs;
        eprintln!(
            "[{:.0} s] {}: {docs} documents stored",
            t0.elapsed().as_secs_f64(),
            backend.name
        );
        // a fresh process for each run, so its peak memory is the run's
        drop(servers);
        servers = backend.start();
        urls = servers.iter().map(|s| s.1.clone()).collect();
        // warm the new process's caches (and PostgreSQL's statistics after the bulk seeding)
        // before measuring; its peak memory covers both
        let (_, back) = rt.block_on(run(&client, &urls, load, warmup));
        let (m, back) = rt.block_on(run(&client, &urls, back, secs));
        load = back;
        let peak_kib = servers
            .iter()
            .map(|s| s.0.peak_memory_kib().unwrap_or(0))
            .collect();
        eprintln!(
            "[{:.0} s] {}: run with {docs} documents done",
            t0.elapsed().as_secs_f64(),
            backend.name
        );
        rows.push(Row {
            backend: backend.name.to_string(),
            docs,
            devices,
            m,
            peak_kib,
        });
    }
    drop(servers);
}

/// One run of the logging comparison.
struct LogRun {
    logging: Logging,
    m: Measured,
    log_bytes: u64,
}

/// The same load with the log at `info` and `off`, alternately, `rounds` times each.
fn log_cost(
    backend: &Backend,
    devices: usize,
    docs: usize,
    rounds: usize,
    (warmup, secs): (f64, f64),
) -> Vec<LogRun> {
    let t0 = Instant::now();
    let codes = issue_codes(backend, devices);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = client();
    let mut servers = backend.start();
    let mut urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let mut load = rt.block_on(async {
        let mut load = enrol_all(&client, &urls, &codes.load).await;
        let seeders = enrol_all(&client, &urls, &codes.seeders).await;
        for (i, d) in load.iter_mut().enumerate() {
            d.start_case(i);
        }
        let (_, load) = run(&client, &urls, load, 0.0).await;
        seed(&client, &urls, seeders, 0, docs).await;
        load
    });
    eprintln!(
        "[{:.0} s] log cost: {devices} devices, {docs} documents",
        t0.elapsed().as_secs_f64()
    );
    let mut out = Vec::new();
    for round in 0..rounds {
        // counterbalanced: off first in odd rounds, info first in even ones
        let order = if round % 2 == 0 {
            [Logging::Off, Logging::Info]
        } else {
            [Logging::Info, Logging::Off]
        };
        for logging in order {
            drop(servers);
            servers = backend.start_logging(logging);
            urls = servers.iter().map(|s| s.1.clone()).collect();
            let (_, back) = rt.block_on(run(&client, &urls, load, warmup));
            let before = backend.log_bytes();
            let (m, back) = rt.block_on(run(&client, &urls, back, secs));
            load = back;
            out.push(LogRun {
                logging,
                m,
                log_bytes: backend.log_bytes() - before,
            });
            eprintln!(
                "[{:.0} s] log cost: round {} at {} done",
                t0.elapsed().as_secs_f64(),
                round + 1,
                logging.level()
            );
        }
    }
    drop(servers);
    out
}

fn print_log_cost(runs: &[LogRun], devices: usize, docs: usize, (warmup, secs): (f64, f64)) {
    println!(
        "\nThe cost of logging: SQLite, 1 process, {devices} devices, {docs} documents, {secs:.0} s per run after {warmup:.0} s of warm-up,\nthe log written to a file; runs alternate off and info, in turn first\n"
    );
    println!(
        "| {:<6} | {:>5} | {:>8} | {:>8} | {:>8} | {:>8} | {:>6} | {:>10} |",
        "log", "run", "syncs", "syncs/s", "p50 ms", "p99 ms", "errors", "log KiB/s"
    );
    println!(
        "|{:-<8}|{:-<7}|{:-<10}|{:-<10}|{:-<10}|{:-<10}|{:-<8}|{:-<12}|",
        "", "", "", "", "", "", "", ""
    );
    for (i, r) in runs.iter().enumerate() {
        println!(
            "| {:<6} | {:>5} | {:>8} | {:>8.0} | {:>8.1} | {:>8.1} | {:>6} | {:>10.1} |",
            r.logging.level(),
            i / 2 + 1,
            r.m.syncs,
            r.m.syncs as f64 / r.m.secs,
            percentile(&r.m.latencies_us, 0.5),
            percentile(&r.m.latencies_us, 0.99),
            r.m.errors,
            r.log_bytes as f64 / 1024.0 / r.m.secs,
        );
    }
    let rate = |l: Logging| {
        let (syncs, secs) = runs
            .iter()
            .filter(|r| r.logging == l)
            .fold((0u64, 0f64), |(n, s), r| (n + r.m.syncs, s + r.m.secs));
        syncs as f64 / secs
    };
    let (off, info) = (rate(Logging::Off), rate(Logging::Info));
    println!(
        "\nAll runs: {off:.0} syncs/s with the log off, {info:.0} at info: logging costs {:.1}% of throughput.",
        (off - info) / off * 100.0
    );
}

fn print_rows(rows: &[Row], devices: usize, (warmup, secs): (f64, f64)) {
    println!(
        "\nLoad: {devices} devices syncing concurrently in a closed loop, {secs:.0} s per row after {warmup:.0} s of warm-up, server processes on loopback\n(one sync in five carries an edit; peak memory is VmHWM of each server process, warm-up included)\n"
    );
    println!(
        "| {:<24} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>6} | {:>22} |",
        "backend", "docs", "syncs", "syncs/s", "p50 ms", "p99 ms", "errors", "peak memory MiB"
    );
    println!(
        "|{:-<26}|{:-<10}|{:-<10}|{:-<10}|{:-<10}|{:-<10}|{:-<8}|{:-<24}|",
        "", "", "", "", "", "", "", ""
    );
    for r in rows {
        let mem: Vec<String> = r
            .peak_kib
            .iter()
            .map(|k| format!("{:.0}", *k as f64 / 1024.0))
            .collect();
        println!(
            "| {:<24} | {:>8} | {:>8} | {:>8.0} | {:>8.1} | {:>8.1} | {:>6} | {:>22} |",
            r.backend,
            r.docs,
            r.m.syncs,
            r.m.syncs as f64 / r.m.secs,
            percentile(&r.m.latencies_us, 0.5),
            percentile(&r.m.latencies_us, 0.99),
            r.m.errors,
            mem.join(" + "),
        );
        let _ = r.devices;
    }
}

fn main() {
    let secs: f64 = env("PROVIDE_LOAD_SECS", 60.0);
    let warmup: f64 = env("PROVIDE_LOAD_WARMUP_SECS", 10.0);
    let devices: usize = env("PROVIDE_LOAD_DEVICES", 1000);
    let doc_counts: Vec<usize> = std::env::var("PROVIDE_LOAD_DOCS")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|v| v.trim().parse().expect("document counts"))
        .collect();
    let mut backends = vec![Backend {
        name: "SQLite, 1 process",
        dir: tempfile::tempdir().unwrap(),
        database_url: None,
        processes: 1,
    }];
    match std::env::var("PROVIDE_TEST_DATABASE_URL") {
        Ok(base) => backends.push(Backend {
            name: "PostgreSQL, 2 processes",
            dir: tempfile::tempdir().unwrap(),
            database_url: Some(fresh_database(&base)),
            processes: 2,
        }),
        Err(_) => eprintln!(
            "PROVIDE_TEST_DATABASE_URL is not set: PostgreSQL rows skipped (make bench runs this under scripts/with-postgres.sh)"
        ),
    }
    let part = std::env::var("PROVIDE_LOAD_PART").unwrap_or_else(|_| "all".into());
    let rounds: usize = env("PROVIDE_LOAD_LOG_ROUNDS", 2);
    let mut rows = Vec::new();
    if part != "log-cost" {
        for b in &backends {
            bench_backend(b, devices, &doc_counts, (warmup, secs), &mut rows);
        }
    }
    let log_runs = (part != "rows").then(|| {
        let sqlite = Backend {
            name: "SQLite, 1 process",
            dir: tempfile::tempdir().unwrap(),
            database_url: None,
            processes: 1,
        };
        log_cost(&sqlite, devices, doc_counts[0], rounds, (warmup, secs))
    });
    if !rows.is_empty() {
        print_rows(&rows, devices, (warmup, secs));
    }
    if let Some(runs) = log_runs {
        print_log_cost(&runs, devices, doc_counts[0], (warmup, secs));
    }
}
