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
//! another division (so the devices under load do not walk them; see ARCHITECTURE); the
//! setup is shared with the open-loop fleet bench (tests/src/loadgen.rs). Each
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
//! The cost of per-record keys (issue 16): when `PROVIDE_BASELINE_SERVER` names the server
//! binary of an earlier build (one before records were sealed under their own keys, speaking
//! protocol 4 to 6), each backend is set up twice, once per build (codes issued with each
//! build's own command line, documents seeded through each build's protocol, the devices
//! speaking version 6 to the baseline), and the two builds then run the same load alternately,
//! each in turn first, `PROVIDE_LOAD_BASELINE_ROUNDS` (4) runs each, with the smallest
//! document count; a third table compares them.
//!
//! Environment: `PROVIDE_LOAD_SECS` (60), `PROVIDE_LOAD_DEVICES` (1000),
//! `PROVIDE_LOAD_DOCS` (`10000,100000`: the stored-document counts, in increasing order),
//! `PROVIDE_LOAD_PART` (`all`, `rows`, `log-cost` or `baseline`: which tables to make),
//! `PROVIDE_LOAD_LOG_ROUNDS` (2), `PROVIDE_BASELINE_SERVER`, `PROVIDE_LOAD_BASELINE_ROUNDS` (4),
//! `PROVIDE_BASELINE_PROTOCOL` (6: the protocol the baseline's devices speak; any build before
//! this one, e.g. to measure a change, with 7).

use std::path::PathBuf;
use std::time::Instant;

use provide_tests::light::{seed, LightDevice};
use provide_tests::loadgen::{
    self, catch_up, closed_loop as run, enrol_all, env, issue_codes, load_average, median,
    percentile, runtime, set_up, Backend, Build, Logging, Measured,
};

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
    let codes = issue_codes(backend, devices, 0);
    let rt = runtime();
    let client = loadgen::client();
    let mut servers = backend.start();
    let mut urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
    let protocol = backend.build.protocol();
    let (mut load, mut seeders) = rt.block_on(async {
        let mut load = enrol_all(&client, &urls, &codes.load, protocol).await;
        let seeders = enrol_all(&client, &urls, &codes.seeders, protocol).await;
        for (i, d) in load.iter_mut().enumerate() {
            d.start_case(i);
        }
        // every device uploads its case and catches up once, not measured
        let load = catch_up(&client, &urls, load).await;
        (load, seeders)
    });
    eprintln!(
        "[{:.0} s] {}: {devices} devices enrolled",
        t0.elapsed().as_secs_f64(),
        backend.name
    );
    let mut stored = 0;
    for &docs in doc_counts {
        seeders = rt.block_on(seed(&client, &urls, seeders, stored, docs)).0;
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
    let rt = runtime();
    let client = loadgen::client();
    let mut load = set_up(backend, (devices, 0), docs, &rt, &client).load;
    let mut servers = Vec::new();
    let mut urls: Vec<String>;
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

/// One run of the comparison with the baseline.
struct BuildRun {
    build: &'static str,
    round: usize,
    m: Measured,
    /// The machine's load average (1 minute) at the end of the run.
    load: f64,
}

/// The same load on `pair` (this build's backend and the baseline's), alternately, `rounds`
/// times each, each in turn first; every run on a fresh server process after its warm-up.
fn against_baseline(
    pair: [&Backend; 2],
    devices: usize,
    docs: usize,
    rounds: usize,
    (warmup, secs): (f64, f64),
) -> Vec<BuildRun> {
    let t0 = Instant::now();
    let rt = runtime();
    let client = loadgen::client();
    let mut fleets: Vec<Option<Vec<LightDevice>>> = pair
        .iter()
        .map(|b| Some(set_up(b, (devices, 0), docs, &rt, &client).load))
        .collect();
    eprintln!(
        "[{:.0} s] {}: both builds set up, {devices} devices, {docs} documents",
        t0.elapsed().as_secs_f64(),
        pair[0].name
    );
    let mut out = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [1, 0] } else { [0, 1] };
        for k in order {
            let backend = pair[k];
            let servers = backend.start();
            let urls: Vec<String> = servers.iter().map(|s| s.1.clone()).collect();
            let load = fleets[k].take().expect("the fleet is back");
            let (_, back) = rt.block_on(run(&client, &urls, load, warmup));
            let (m, back) = rt.block_on(run(&client, &urls, back, secs));
            fleets[k] = Some(back);
            drop(servers);
            eprintln!(
                "[{:.0} s] {}: round {} of the {} build done",
                t0.elapsed().as_secs_f64(),
                backend.name,
                round + 1,
                backend.build.name()
            );
            out.push(BuildRun {
                build: backend.build.name(),
                round: round + 1,
                m,
                load: load_average(),
            });
        }
    }
    out
}

fn print_against_baseline(
    name: &str,
    runs: &[BuildRun],
    devices: usize,
    docs: usize,
    (warmup, secs): (f64, f64),
) {
    println!(
        "\nThis build against the baseline build: {name}, {devices} devices, {docs} documents, {secs:.0} s per run after {warmup:.0} s of warm-up;\nruns alternate the two builds, in turn first (baseline: PROVIDE_BASELINE_SERVER, its devices speaking protocol {})\n",
        Build::Baseline(PathBuf::new()).protocol()
    );
    println!(
        "| {:<8} | {:>5} | {:>5} | {:>8} | {:>8} | {:>8} | {:>8} | {:>6} |",
        "build", "run", "load", "syncs", "syncs/s", "p50 ms", "p99 ms", "errors"
    );
    println!(
        "|{:-<10}|{:-<7}|{:-<7}|{:-<10}|{:-<10}|{:-<10}|{:-<10}|{:-<8}|",
        "", "", "", "", "", "", "", ""
    );
    for r in runs {
        println!(
            "| {:<8} | {:>5} | {:>5.2} | {:>8} | {:>8.0} | {:>8.1} | {:>8.1} | {:>6} |",
            r.build,
            r.round,
            r.load,
            r.m.syncs,
            r.m.syncs as f64 / r.m.secs,
            percentile(&r.m.latencies_us, 0.5),
            percentile(&r.m.latencies_us, 0.99),
            r.m.errors,
        );
    }
    println!(
        "\n| {:<8} | {:>4} | {:>12} | {:>14} | {:>14} | {:>14} | {:>6} |",
        "build",
        "runs",
        "syncs/s mean",
        "syncs/s median",
        "p50 ms median",
        "p99 ms median",
        "errors"
    );
    println!(
        "|{:-<10}|{:-<6}|{:-<14}|{:-<16}|{:-<16}|{:-<16}|{:-<8}|",
        "", "", "", "", "", "", ""
    );
    let summary = |build: &str| {
        let of: Vec<&BuildRun> = runs.iter().filter(|r| r.build == build).collect();
        let rates: Vec<f64> = of.iter().map(|r| r.m.syncs as f64 / r.m.secs).collect();
        let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
        let p50 = median(
            of.iter()
                .map(|r| percentile(&r.m.latencies_us, 0.5))
                .collect(),
        );
        let p99 = median(
            of.iter()
                .map(|r| percentile(&r.m.latencies_us, 0.99))
                .collect(),
        );
        let errors: u64 = of.iter().map(|r| r.m.errors).sum();
        println!(
            "| {:<8} | {:>4} | {:>12.0} | {:>14.0} | {:>14.1} | {:>14.1} | {:>6} |",
            build,
            of.len(),
            mean,
            median(rates.clone()),
            p50,
            p99,
            errors
        );
        (mean, median(rates), p50, p99)
    };
    let base = summary("baseline");
    let cur = summary("current");
    println!(
        "\ncurrent/baseline: syncs/s mean {:.3}, median {:.3} ({:+.1}% syncs per second by the median); p50 {:.2}x, p99 {:.2}x.",
        cur.0 / base.0,
        cur.1 / base.1,
        (cur.1 / base.1 - 1.0) * 100.0,
        cur.2 / base.2,
        cur.3 / base.3
    );
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
    let postgres = std::env::var("PROVIDE_TEST_DATABASE_URL").ok();
    let part = std::env::var("PROVIDE_LOAD_PART").unwrap_or_else(|_| "all".into());
    let mut backends = Vec::new();
    if part == "all" || part == "rows" {
        backends.push(Backend::sqlite(Build::Current));
    }
    match &postgres {
        Some(base) if part == "all" || part == "rows" => {
            backends.push(Backend::postgres(base, Build::Current))
        }
        Some(_) => {}
        None => eprintln!(
            "PROVIDE_TEST_DATABASE_URL is not set: PostgreSQL rows skipped (make bench runs this under scripts/with-postgres.sh)"
        ),
    }
    let rounds: usize = env("PROVIDE_LOAD_LOG_ROUNDS", 2);
    let mut rows = Vec::new();
    for b in &backends {
        bench_backend(b, devices, &doc_counts, (warmup, secs), &mut rows);
    }
    let log_runs = (part == "all" || part == "log-cost").then(|| {
        let sqlite = Backend::sqlite(Build::Current);
        log_cost(&sqlite, devices, doc_counts[0], rounds, (warmup, secs))
    });
    let baseline = std::env::var_os("PROVIDE_BASELINE_SERVER").map(PathBuf::from);
    let mut compared = Vec::new();
    match baseline {
        Some(bin) if part == "all" || part == "baseline" => {
            assert!(bin.exists(), "PROVIDE_BASELINE_SERVER: {} is missing", bin.display());
            let base_rounds: usize = env("PROVIDE_LOAD_BASELINE_ROUNDS", 4);
            let mut pairs = vec![[
                Backend::sqlite(Build::Current),
                Backend::sqlite(Build::Baseline(bin.clone())),
            ]];
            if let Some(base) = &postgres {
                pairs.push([
                    Backend::postgres(base, Build::Current),
                    Backend::postgres(base, Build::Baseline(bin.clone())),
                ]);
            }
            for [current, old] in &pairs {
                let runs = against_baseline(
                    [current, old],
                    devices,
                    doc_counts[0],
                    base_rounds,
                    (warmup, secs),
                );
                compared.push((current.name, runs));
            }
        }
        Some(_) => {}
        None if part == "baseline" => eprintln!(
            "PROVIDE_BASELINE_SERVER is not set: no baseline to compare with (see docs/BENCHMARKS.md)"
        ),
        None => {}
    }
    if !rows.is_empty() {
        print_rows(&rows, devices, (warmup, secs));
    }
    if let Some(runs) = log_runs {
        print_log_cost(&runs, devices, doc_counts[0], (warmup, secs));
    }
    for (name, runs) in &compared {
        print_against_baseline(name, runs, devices, doc_counts[0], (warmup, secs));
    }
}
