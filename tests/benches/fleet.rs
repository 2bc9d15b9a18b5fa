//! `make bench` — the fleet at its real arrival rate: an open-loop load against real server
//! processes (the built `provide-sync-server`), one on its SQLite store and, when
//! `PROVIDE_TEST_DATABASE_URL` names a PostgreSQL server (`scripts/with-postgres.sh`), two
//! over one PostgreSQL database, the arrivals split between them. Prints tables; never passes
//! or fails.
//!
//! A fleet of `PROVIDE_FLEET_DEVICES` (5,000) light devices (tests/src/light.rs: real
//! enrolment, real credentials, the real protocol over HTTP), ten to a team, each syncing every
//! 30 s on average, arrives at about 167 syncs a second. Here a scheduler issues sync starts at
//! Poisson arrival times at `PROVIDE_FLEET_RATE` a second whatever the server's answers (open
//! loop: a slow answer does not hold back the next arrival, and each sync's latency is measured
//! from its scheduled start, so time spent queued in the client counts too: no coordinated
//! omission). Each arrival picks one of the fleet's devices at random; one that is still in
//! the middle of a sync is not replaced by another: the arrival queues behind its device's
//! current sync (a device syncs one exchange at a time) and is still measured from its own
//! scheduled time (the table counts these). One in five syncs carries an edit of the device's
//! own case, which its nine teammates then receive. A share of arrivals (`PROVIDE_FLEET_FIRST`,
//! 1%) are first syncs of newly issued devices: a pool of devices enrolled during setup and
//! never synced, each used once, in the fleet's teams (a first sync takes the team's cases).
//!
//! Setup (not measured): codes issued, every device enrolled through the real endpoint, its
//! case uploaded, `PROVIDE_FLEET_DOCS` (10,000) documents of another division seeded through
//! the protocol (tests/src/loadgen.rs, shared with the closed-loop load bench). Then fresh server
//! processes, `PROVIDE_FLEET_WARMUP_SECS` (30) of the same arrivals, not counted, and
//! `PROVIDE_FLEET_SECS` (300) measured: arrivals scheduled in that period are counted, each
//! until its answer. CPU is user and system time over the measured period from /proc, as a
//! percentage of one core: each server process, the PostgreSQL cluster's own processes, this
//! client (which runs on the same machine: the devices' requests and answers are real work),
//! and the whole machine (others' work included). Peak memory is `VmHWM` of each server
//! process (warm-up included).
//!
//! Environment: `PROVIDE_FLEET_SECS` (300), `PROVIDE_FLEET_WARMUP_SECS` (30),
//! `PROVIDE_FLEET_RATE` (167), `PROVIDE_FLEET_DEVICES` (5000), `PROVIDE_FLEET_DOCS` (10000),
//! `PROVIDE_FLEET_FIRST` (0.01), `PROVIDE_FLEET_BACKENDS` (`sqlite`, `postgresql` or both,
//! comma-separated: which to run), and `PROVIDE_BASELINE_SERVER` (the server binary of another
//! build to run instead of this one; its devices speak `PROVIDE_BASELINE_PROTOCOL`, 6 unless
//! set). The measured period's start and end are printed (UTC), to line up with a database's
//! statement log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use provide_core::Error;
use provide_tests::light::LightDevice;
use provide_tests::loadgen::{self, cpu_secs, env, percentile, Backend, Build};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;

/// How the run is shaped.
#[derive(Clone, Copy)]
struct Shape {
    rate: f64,
    warmup: f64,
    secs: f64,
    devices: usize,
    docs: usize,
    /// Of the arrivals, the share that are first syncs of new devices.
    first: f64,
}

impl Shape {
    /// Devices kept for first syncs: what the run should use, and a tenth more.
    fn fresh_pool(&self) -> usize {
        (self.rate * (self.warmup + self.secs) * self.first * 1.1).ceil() as usize + 10
    }
}

/// What kind of sync an arrival is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A fleet device's sync with nothing new of its own.
    Plain,
    /// A fleet device's sync carrying an edit of its case.
    Edit,
    /// A new device's first sync.
    First,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "no edit",
            Kind::Edit => "with an edit",
            Kind::First => "first sync",
        }
    }
}

/// One arrival's outcome.
struct Outcome {
    kind: Kind,
    measured: bool,
    /// It found its device mid-sync and waited for it.
    queued: bool,
    latency_us: u64,
    error: Option<String>,
}

/// The kind of a failed sync, for the table (never its message, which may be long).
fn error_kind(e: &Error) -> String {
    match e {
        Error::ServerRefused { status, .. } => format!("HTTP {status}"),
        Error::Unreachable(m) if m.contains("timed out") => "timed out".into(),
        Error::Unreachable(_) => "connection".into(),
        Error::Protocol(_) => "protocol".into(),
        other => {
            let text = format!("{other:?}");
            text.chars().take(40).collect()
        }
    }
}

/// What one backend's run measured.
struct Row {
    backend: &'static str,
    outcomes: Vec<Outcome>,
    secs: f64,
    /// Each server process's CPU seconds over the measured period, and its peak memory (KiB).
    servers: Vec<(f64, u64)>,
    postgres_cpu: Option<f64>,
    client_cpu: f64,
    /// The machine's busy CPU seconds over the period, and its cores.
    machine_busy: f64,
    cores: f64,
    /// First syncs wanted after the pool of new devices ran out (a plain sync instead).
    pool_dry: u64,
}

/// CPU seconds so far of each server process, the PostgreSQL cluster, this process and the
/// machine (busy, total).
fn cpu_now(pids: &[u32], postmaster: Option<u32>) -> (Vec<f64>, Option<f64>, f64, (f64, f64)) {
    (
        pids.iter()
            .map(|p| cpu_secs(*p, false).unwrap_or(0.0))
            .collect(),
        postmaster.and_then(loadgen::postgres_cpu_secs_of),
        cpu_secs(std::process::id(), false).unwrap_or(0.0),
        loadgen::machine_cpu_secs().unwrap_or((0.0, 0.0)),
    )
}

fn bench_backend(backend: &Backend, shape: Shape) -> Row {
    let t0 = Instant::now();
    let rt = loadgen::runtime();
    let client = loadgen::client();
    let fleet = loadgen::set_up(
        backend,
        (shape.devices, shape.fresh_pool()),
        shape.docs,
        &rt,
        &client,
    );
    eprintln!(
        "[{:.0} s] {}: {} devices enrolled and caught up, {} new ones, {} documents stored",
        t0.elapsed().as_secs_f64(),
        backend.name,
        fleet.load.len(),
        fleet.fresh.len(),
        shape.docs
    );
    let postmaster = backend
        .database_url
        .as_deref()
        .and_then(loadgen::postmaster_of);
    // fresh processes: their peak memory is the run's
    let servers = backend.start();
    let urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let pids: Vec<u32> = servers.iter().map(|s| s.0.pid()).collect();
    let devices: Vec<Arc<Mutex<LightDevice>>> = fleet
        .load
        .into_iter()
        .map(|d| Arc::new(Mutex::new(d)))
        .collect();
    let fresh = Arc::new(std::sync::Mutex::new(fleet.fresh));
    let (outcomes, (before, after), secs, pool_dry) = rt.block_on(async {
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let measure_from = start + Duration::from_secs_f64(shape.warmup);
        let end = measure_from + Duration::from_secs_f64(shape.secs);
        // the measured period's CPU, sampled at its edges by a task of its own
        let sampler = {
            let pids = pids.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(measure_from).await;
                let before = (cpu_now(&pids, postmaster), std::time::Instant::now());
                let from = chrono::Utc::now();
                tokio::time::sleep_until(end).await;
                let after = (cpu_now(&pids, postmaster), std::time::Instant::now());
                // for lining the run up with a database's log
                eprintln!(
                    "measured from {} to {} UTC",
                    from.format("%Y-%m-%d %H:%M:%S"),
                    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
                );
                (before, after)
            })
        };
        let mut rng = StdRng::seed_from_u64(0xf1ee7);
        let mut tasks = tokio::task::JoinSet::new();
        let mut t = 0.0f64;
        let total = shape.warmup + shape.secs;
        let mut pool_dry = 0u64;
        let mut n = 0u64;
        let mut outcomes = Vec::new();
        loop {
            // Poisson arrivals: exponential gaps at the rate
            t += -(1.0 - rng.gen::<f64>()).ln() / shape.rate;
            if t >= total {
                break;
            }
            let at = start + Duration::from_secs_f64(t);
            tokio::time::sleep_until(at).await;
            n += 1;
            let measured = t >= shape.warmup;
            let mut kind = if rng.gen::<f64>() < shape.first {
                Kind::First
            } else if rng.gen::<f64>() < 0.2 {
                Kind::Edit
            } else {
                Kind::Plain
            };
            let new_device = if kind == Kind::First {
                let d = fresh.lock().unwrap().pop();
                if d.is_none() {
                    pool_dry += 1;
                    kind = Kind::Plain;
                }
                d
            } else {
                None
            };
            let c = client.clone();
            match new_device {
                Some(mut dev) => {
                    let url = urls[n as usize % urls.len()].clone();
                    tasks.spawn(async move {
                        let r = dev.sync(&c, &url, vec![]).await;
                        finish(kind, measured, false, at, r.err())
                    });
                }
                None => {
                    let i = rng.gen_range(0..devices.len());
                    let (dev, url) = (devices[i].clone(), urls[i % urls.len()].clone());
                    tasks.spawn(async move {
                        // a device syncs one exchange at a time: wait for its current one
                        let (mut d, queued) = match dev.try_lock() {
                            Ok(d) => (d, false),
                            Err(_) => (dev.lock().await, true),
                        };
                        if kind == Kind::Edit {
                            d.edit(&format!("Edit at {t:.3} s"));
                        }
                        let r = d.sync(&c, &url, vec![]).await;
                        finish(kind, measured, queued, at, r.err())
                    });
                }
            }
            // collect what is done as we go (keeps the set small)
            while let Some(done) = tasks.try_join_next() {
                outcomes.push(done.unwrap());
            }
        }
        let (before, after) = sampler.await.unwrap();
        while let Some(done) = tasks.join_next().await {
            outcomes.push(done.unwrap());
        }
        let secs = after.1.duration_since(before.1).as_secs_f64();
        (outcomes, (before.0, after.0), secs, pool_dry)
    });
    let peaks: Vec<u64> = servers
        .iter()
        .map(|s| s.0.peak_memory_kib().unwrap_or(0))
        .collect();
    drop(servers);
    eprintln!(
        "[{:.0} s] {}: run done",
        t0.elapsed().as_secs_f64(),
        backend.name
    );
    Row {
        backend: backend.name,
        outcomes,
        secs,
        servers: before
            .0
            .iter()
            .zip(&after.0)
            .zip(peaks)
            .map(|((b, a), peak)| (a - b, peak))
            .collect(),
        postgres_cpu: after.1.zip(before.1).map(|(a, b)| a - b),
        client_cpu: after.2 - before.2,
        machine_busy: (after.3).0 - (before.3).0,
        cores: ((after.3).1 - (before.3).1) / secs,
        pool_dry,
    }
}

/// An arrival's outcome, timed from its scheduled start.
fn finish(
    kind: Kind,
    measured: bool,
    queued: bool,
    at: tokio::time::Instant,
    error: Option<Error>,
) -> Outcome {
    Outcome {
        kind,
        measured,
        queued,
        latency_us: at.elapsed().as_micros() as u64,
        error: error.as_ref().map(error_kind),
    }
}

/// Latency percentiles (ms) of some outcomes: p50, p99, p99.9, max.
fn latencies(of: &[&Outcome]) -> [f64; 4] {
    let mut l: Vec<u64> = of
        .iter()
        .filter(|o| o.error.is_none())
        .map(|o| o.latency_us)
        .collect();
    l.sort_unstable();
    [
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        percentile(&l, 0.999),
        l.last().map_or(0.0, |m| *m as f64 / 1000.0),
    ]
}

fn print_rows(rows: &[Row], shape: Shape) {
    println!(
        "\nThe fleet at its arrival rate (open loop): {} devices, Poisson arrivals at {} syncs/s, {:.0} s measured after {:.0} s of warm-up,\n{} documents stored; one sync in five carries an edit, {:.1}% are first syncs of new devices; latency from each sync's scheduled start\n",
        shape.devices,
        shape.rate,
        shape.secs,
        shape.warmup,
        shape.docs,
        shape.first * 100.0
    );
    println!(
        "| {:<24} | {:>8} | {:>10} | {:>7} | {:>7} | {:>8} | {:>8} | {:>6} | {:>16} | {:>8} | {:>12} | {:>10} | {:>15} |",
        "backend", "arrivals", "achieved/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
        "server CPU %", "PG CPU %", "client CPU %", "machine %", "peak MiB"
    );
    println!(
        "|{:-<26}|{:-<10}|{:-<12}|{:-<9}|{:-<9}|{:-<10}|{:-<10}|{:-<8}|{:-<18}|{:-<10}|{:-<14}|{:-<12}|{:-<17}|",
        "", "", "", "", "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        let m: Vec<&Outcome> = r.outcomes.iter().filter(|o| o.measured).collect();
        let ok = m.iter().filter(|o| o.error.is_none()).count();
        let errors = m.len() - ok;
        let [p50, p99, p999, max] = latencies(&m);
        let pct = |s: f64| s / r.secs * 100.0;
        let cpu: Vec<String> = r
            .servers
            .iter()
            .map(|(s, _)| format!("{:.0}", pct(*s)))
            .collect();
        let mem: Vec<String> = r
            .servers
            .iter()
            .map(|(_, k)| format!("{:.0}", *k as f64 / 1024.0))
            .collect();
        println!(
            "| {:<24} | {:>8} | {:>10.1} | {:>7.1} | {:>7.1} | {:>8.1} | {:>8.1} | {:>6} | {:>16} | {:>8} | {:>12.0} | {:>10} | {:>15} |",
            r.backend,
            m.len(),
            ok as f64 / r.secs,
            p50,
            p99,
            p999,
            max,
            errors,
            cpu.join(" + "),
            r.postgres_cpu.map_or("-".into(), |s| format!("{:.0}", pct(s))),
            pct(r.client_cpu),
            format!("{:.0} of {:.0}", pct(r.machine_busy), r.cores * 100.0),
            mem.join(" + "),
        );
    }
    println!("\nBy kind of sync (measured period):\n");
    println!(
        "| {:<24} | {:<12} | {:>8} | {:>7} | {:>7} | {:>8} | {:>8} | {:>6} | {:>6} |",
        "backend", "kind", "syncs", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "queued"
    );
    println!(
        "|{:-<26}|{:-<14}|{:-<10}|{:-<9}|{:-<9}|{:-<10}|{:-<10}|{:-<8}|{:-<8}|",
        "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        for kind in [Kind::Plain, Kind::Edit, Kind::First] {
            let m: Vec<&Outcome> = r
                .outcomes
                .iter()
                .filter(|o| o.measured && o.kind == kind)
                .collect();
            let [p50, p99, p999, max] = latencies(&m);
            println!(
                "| {:<24} | {:<12} | {:>8} | {:>7.1} | {:>7.1} | {:>8.1} | {:>8.1} | {:>6} | {:>6} |",
                r.backend,
                kind.name(),
                m.len(),
                p50,
                p99,
                p999,
                max,
                m.iter().filter(|o| o.error.is_some()).count(),
                m.iter().filter(|o| o.queued).count(),
            );
        }
    }
    for r in rows {
        let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
        for o in r.outcomes.iter().filter(|o| o.measured) {
            if let Some(e) = &o.error {
                *kinds.entry(e.as_str()).or_default() += 1;
            }
        }
        if !kinds.is_empty() {
            let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            println!("\n{}: errors by kind: {}", r.backend, list.join(", "));
        }
        if r.pool_dry > 0 {
            println!(
                "\n{}: the pool of new devices ran dry: {} first syncs were plain ones",
                r.backend, r.pool_dry
            );
        }
    }
    println!(
        "\nCPU: % of one core over the measured period (user + system, /proc): each server process; the PostgreSQL cluster's own\nprocesses; this client (its devices build requests and read answers on the same machine); the whole machine, of its cores."
    );
}

fn main() {
    let shape = Shape {
        rate: env("PROVIDE_FLEET_RATE", 167.0),
        warmup: env("PROVIDE_FLEET_WARMUP_SECS", 30.0),
        secs: env("PROVIDE_FLEET_SECS", 300.0),
        devices: env("PROVIDE_FLEET_DEVICES", 5000),
        docs: env("PROVIDE_FLEET_DOCS", 10000),
        first: env("PROVIDE_FLEET_FIRST", 0.01),
    };
    // another build's server instead of this one (as the load bench's baseline)
    let build = std::env::var_os("PROVIDE_BASELINE_SERVER")
        .map_or(Build::Current, |p| Build::Baseline(p.into()));
    let mut backends = vec![Backend::sqlite(build.clone())];
    match std::env::var("PROVIDE_TEST_DATABASE_URL") {
        Ok(base) => backends.push(Backend::postgres(&base, build.clone())),
        Err(_) => eprintln!(
            "PROVIDE_TEST_DATABASE_URL is not set: PostgreSQL skipped (run under scripts/with-postgres.sh)"
        ),
    }
    if let Ok(only) = std::env::var("PROVIDE_FLEET_BACKENDS") {
        backends.retain(|b| {
            only.split(',')
                .any(|o| b.name.to_lowercase().starts_with(o.trim()))
        });
    }
    let rows: Vec<Row> = backends.iter().map(|b| bench_backend(b, shape)).collect();
    print_rows(&rows, shape);
}
