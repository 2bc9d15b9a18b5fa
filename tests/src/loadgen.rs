//! Shared setup of the load benchmarks (`benches/load.rs`, the closed loop; `benches/fleet.rs`,
//! the fleet at its arrival rate): a backend and its real server processes (SQLite, one
//! process; PostgreSQL, two over one database), codes issued for every device before a server
//! opens the store, light devices (`light`) enrolled through the real endpoint, every device's
//! own case uploaded once, documents seeded, and the numbers taken of a run (latency
//! percentiles, processes' CPU time, the machine's load).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::service::Config;

use crate::binaries::{self, Serving};
use crate::light::{seed, LightDevice};
use crate::server::fresh_database;

/// The environment variable `name` parsed, else `default`.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The devices of another division that seed the stored documents.
pub const SEEDERS: usize = 4;

/// The server's log level in a run (its log goes to a file either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logging {
    Info,
    Off,
}

impl Logging {
    pub fn level(self) -> &'static str {
        match self {
            Logging::Info => "info",
            Logging::Off => "off",
        }
    }
}

/// Which server build a backend runs: this one, or the binary of an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Build {
    Current,
    Baseline(PathBuf),
}

impl Build {
    pub fn name(&self) -> &'static str {
        match self {
            Build::Current => "current",
            Build::Baseline(_) => "baseline",
        }
    }

    /// The protocol version its devices speak: the baseline's is `PROVIDE_BASELINE_PROTOCOL`,
    /// by default 6 (a build from before per-record keys speaks 4 to 6).
    pub fn protocol(&self) -> u16 {
        match self {
            Build::Current => provide_core::sync::protocol::VERSION,
            Build::Baseline(_) => env("PROVIDE_BASELINE_PROTOCOL", 6),
        }
    }
}

/// One backend: how to issue codes and start its server processes.
pub struct Backend {
    pub name: &'static str,
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    pub processes: usize,
    pub build: Build,
}

impl Backend {
    pub fn sqlite(build: Build) -> Self {
        Backend {
            name: "SQLite, 1 process",
            dir: tempfile::tempdir().unwrap(),
            database_url: None,
            processes: 1,
            build,
        }
    }

    /// Two processes over a fresh database on the PostgreSQL server at `base`.
    pub fn postgres(base: &str, build: Build) -> Self {
        Backend {
            name: "PostgreSQL, 2 processes",
            dir: tempfile::tempdir().unwrap(),
            database_url: Some(fresh_database(base)),
            processes: 2,
            build,
        }
    }

    /// The arguments naming its data (before the command).
    pub fn data_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            self.dir.path().to_str().unwrap().to_string(),
        ];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_string(), url.clone()]);
        }
        args
    }

    pub fn data(&self) -> DataDir {
        let mut d = DataDir::new(self.dir.path());
        d.database_url = self.database_url.clone();
        d
    }

    pub fn start(&self) -> Vec<(Serving, String)> {
        self.start_logging(Logging::Info)
    }

    /// The server processes, each writing its log to `server-N.log` in the data folder.
    pub fn start_logging(&self, logging: Logging) -> Vec<(Serving, String)> {
        let args = self.data_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let serve_args = ["--log-level", logging.level()];
        (0..self.processes)
            .map(|i| {
                let log = self.log_file(i);
                match &self.build {
                    Build::Current => binaries::serve_logging_to(&args, &serve_args, &log),
                    Build::Baseline(bin) => {
                        binaries::serve_binary_logging_to(bin, &args, &serve_args, &log)
                    }
                }
            })
            .collect()
    }

    fn log_file(&self, process: usize) -> PathBuf {
        self.dir.path().join(format!("server-{process}.log"))
    }

    /// The bytes the processes' logs hold now.
    pub fn log_bytes(&self) -> u64 {
        (0..self.processes)
            .map(|i| std::fs::metadata(self.log_file(i)).map_or(0, |m| m.len()))
            .sum()
    }
}

/// The codes of a backend's devices: those under load (`pc.loadN`, ten to a team), those
/// enrolled but never synced until the run (`pc.freshN`, spread over the same teams), and the
/// seeders (division `archive`).
pub struct Codes {
    pub load: Vec<String>,
    pub fresh: Vec<String>,
    pub seeders: Vec<String>,
}

/// Issues every code before any server process opens the store: in this process for this
/// build, with the baseline's own command line for the baseline (its store is its own).
pub fn issue_codes(b: &Backend, devices: usize, fresh: usize) -> Codes {
    let service = (b.build == Build::Current).then(|| b.data().open(Config::default()).unwrap());
    let code = |user: String, division: &str, team: String| match (&service, &b.build) {
        (Some(service), _) => admin::enrol(service, &user, "officer", division, &team, 24)
            .unwrap()
            .to_string(),
        (None, Build::Baseline(bin)) => {
            let out = std::process::Command::new(bin)
                .args(b.data_args())
                .args(["enrol", "--user", &user, "--role", "officer"])
                .args(["--division", division, "--team", &team])
                .env("PROVIDE_LOG", "warn")
                .output()
                .unwrap();
            assert!(out.status.success(), "the baseline's enrol failed: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        }
        (None, Build::Current) => unreachable!("the current build enrols in process"),
    };
    let teams = devices.div_ceil(10).max(1);
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
        fresh: (0..fresh)
            .map(|i| {
                code(
                    format!("pc.fresh{i}.fictional"),
                    "west",
                    format!("t{}", i % teams),
                )
            })
            .collect(),
        seeders: (0..SEEDERS)
            .map(|i| code(format!("pc.seed{i}.fictional"), "archive", format!("a{i}")))
            .collect(),
    }
}

/// The HTTP client of every light device of a run.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// The benches' runtime: two workers (the machine's cores, shared with the servers).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Enrols a device with each code (device `i` on server `i % urls.len()`); they speak
/// `protocol`.
pub async fn enrol_all(
    client: &reqwest::Client,
    urls: &[String],
    codes: &[String],
    protocol: u16,
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
                let mut d = LightDevice::enrol(&c, &url, &code).await.unwrap();
                d.speak(protocol);
                d
            }));
        }
        for t in tasks {
            out.push(t.await.unwrap());
        }
    }
    out
}

/// What one closed-loop run measured.
pub struct Measured {
    pub syncs: u64,
    pub errors: u64,
    pub latencies_us: Vec<u64>,
    pub secs: f64,
}

/// Every device syncs in a closed loop (no pause) for `secs`, editing its case on one sync in
/// five; device `i` uses server `i % urls.len()`. With `secs` 0, each syncs once.
pub async fn closed_loop(
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
                if (n + i as u64).is_multiple_of(5) {
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

/// Every device syncs once (uploading its case, taking its team's), a few hundred at a time
/// (each until it succeeds);
/// device `i` uses server `i % urls.len()`.
pub async fn catch_up(
    client: &reqwest::Client,
    urls: &[String],
    devices: Vec<LightDevice>,
) -> Vec<LightDevice> {
    let mut out = Vec::with_capacity(devices.len());
    let mut devices = devices.into_iter().enumerate().peekable();
    while devices.peek().is_some() {
        let mut tasks = Vec::new();
        for (i, mut dev) in devices.by_ref().take(250) {
            let (c, url) = (client.clone(), urls[i % urls.len()].clone());
            tasks.push(tokio::spawn(async move {
                // a server past its limits answers "busy" (503): again, a little later
                let mut tries = 0;
                while let Err(e) = dev.sync(&c, &url, vec![]).await {
                    tries += 1;
                    assert!(tries < 30, "device {i} could not catch up: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                dev
            }));
        }
        for t in tasks {
            out.push(t.await.unwrap());
        }
    }
    out
}

/// The devices of a backend set up for runs (`set_up`).
pub struct Fleet {
    /// Enrolled, each with its case uploaded and caught up once.
    pub load: Vec<LightDevice>,
    /// Enrolled and never synced.
    pub fresh: Vec<LightDevice>,
}

/// Readies a backend for runs: codes issued, the devices enrolled (`devices` under load, each
/// with a case of its own uploaded and caught up once, and `fresh` never synced), `docs`
/// documents seeded; its server processes stopped again.
pub fn set_up(
    backend: &Backend,
    (devices, fresh): (usize, usize),
    docs: usize,
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
) -> Fleet {
    let codes = issue_codes(backend, devices, fresh);
    let servers = backend.start();
    let urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let protocol = backend.build.protocol();
    rt.block_on(async {
        let mut load = enrol_all(client, &urls, &codes.load, protocol).await;
        let fresh = enrol_all(client, &urls, &codes.fresh, protocol).await;
        let seeders = enrol_all(client, &urls, &codes.seeders, protocol).await;
        for (i, d) in load.iter_mut().enumerate() {
            d.start_case(i);
        }
        let load = catch_up(client, &urls, load).await;
        seed(client, &urls, seeders, 0, docs).await;
        Fleet { load, fresh }
    })
}

/// The `p` quantile (0 to 1) of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// The median of some numbers (0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The machine's 1-minute load average (others build on it too).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The CPU time a process has used (user and system, from `/proc/PID/stat`), in seconds;
/// `children` adds that of its children it has waited for.
pub fn cpu_secs(pid: u32, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name, which is in parentheses and may hold spaces
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17: 11-14 after the name and state
    let ticks = f.get(11)? + f.get(12)? + if children { f.get(13)? + f.get(14)? } else { 0 };
    Some(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The parent of a process (`/proc/PID/stat`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The postmaster of the PostgreSQL server at `url` (from its data folder's `postmaster.pid`),
/// if this process can read it. Call outside an async runtime (the client blocks).
pub fn postmaster_of(url: &str) -> Option<u32> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).ok()?;
    let dir: String = c.query_one("SHOW data_directory", &[]).ok()?.get(0);
    let pid_file = std::fs::read_to_string(format!("{dir}/postmaster.pid")).ok()?;
    pid_file.lines().next()?.trim().parse().ok()
}

/// The CPU time, in seconds, of a PostgreSQL server: its postmaster (with the children it
/// has reaped) and every live child (the connections' backends, the writers).
pub fn postgres_cpu_secs_of(postmaster: u32) -> Option<f64> {
    let mut total = cpu_secs(postmaster, true)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if parent_of(pid) == Some(postmaster) {
            total += cpu_secs(pid, false).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// The machine's busy and total CPU time so far, in seconds (`/proc/stat`), to tell how much
/// else ran beside a bench.
pub fn machine_cpu_secs() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    Some((
        (total - idle) as f64 / clock_ticks(),
        total as f64 / clock_ticks(),
    ))
}
