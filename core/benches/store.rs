//! `make bench` — the device store benchmark. Prints tables; never passes or fails on time.
//!
//! Rows: unlock (with the Argon2id parameters), durable commit latency of one field edit
//! (p50/p99), creating 10,000 cases, listing and searching over them, loading a case with 1,000
//! changes, bytes on disk per case against its plain JSON, and the same write workload on
//! SQLCipher beside plain SQLite. Then purging: the time a sync answer that purges one case
//! (and its health record) takes to apply on a device holding 500, secure delete, incremental
//! vacuum and WAL truncation included, beside the same answer without the purge.

use std::path::Path;
use std::time::{Duration, Instant};

use provide_core::crypto::keyslots::LockPolicy;
use provide_core::crypto::KdfParams;
use provide_core::model::{Deployment, Role};
use provide_core::store::{schema, CaseFilter};
use provide_core::{InitOptions, NewUser, Store};

const PASS: &str = "benchmark passphrase";

fn cases() -> usize {
    std::env::var("PROVIDE_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn row(name: &str, value: String, target: &str) {
    println!("| {name:<46} | {value:>22} | {target:<18} |");
}

fn fictional_sets(i: usize) -> Vec<(String, String)> {
    vec![
        ("victim.name".into(), format!("Benchmark Person {i}")),
        ("victim.phone".into(), format!("07700 9{:05}", i % 100_000)),
        (
            "victim.address".into(),
            format!("{i} Fictional Row, Testville"),
        ),
        ("incident.reference".into(), format!("LC-{i:08}")),
        ("perpetrator.name".into(), format!("Other Person {i}")),
        (
            "status".into(),
            ["active", "triaged", "handed_over", "closed"][i % 4].into(),
        ),
    ]
}

fn main() {
    let n = cases();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let kdf = KdfParams::default();
    // the safeguarding unit: the role that may set every status the cases below carry
    let user = NewUser {
        name: "sg-bench".into(),
        role: Role::Safeguarding,
        division: "west".into(),
        team: String::new(),
    };
    let mut store = Store::init(
        &dir,
        user,
        PASS,
        InitOptions {
            kdf,
            policy: LockPolicy::default(),
        },
    )
    .unwrap();

    println!("\n## Device store ({n} cases, release build)\n");
    println!(
        "| {:<46} | {:>22} | {:<18} |",
        "measure", "result", "target"
    );
    println!("|{}|{}|{}|", "-".repeat(48), "-".repeat(24), "-".repeat(20));

    // create N cases
    let t = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(
            store
                .create_case(
                    [
                        Deployment::PostIncident,
                        Deployment::Live,
                        Deployment::Consultation,
                    ][i % 3],
                    &fictional_sets(i),
                )
                .unwrap(),
        );
    }
    let create = t.elapsed();
    row(
        &format!("create {n} cases"),
        format!(
            "{:.2} s ({:.2} ms/case)",
            create.as_secs_f64(),
            create.as_secs_f64() * 1000.0 / n as f64
        ),
        "",
    );

    // durable edit latency
    let mut lat = Vec::new();
    for i in 0..300 {
        let id = &ids[i % ids.len()];
        let t = Instant::now();
        store
            .set_case_fields(
                id,
                &[(
                    "victim.safe_contact.safe_times".into(),
                    format!("after {} pm", i % 12),
                )],
            )
            .unwrap();
        lat.push(t.elapsed());
    }
    row("field edit, durable (p50)", ms(pct(lat.clone(), 0.5)), "");
    row("field edit, durable (p99)", ms(pct(lat, 0.99)), "< 10 ms");

    // list and search
    let mut list_t = Vec::new();
    let mut search_t = Vec::new();
    let mut filter_t = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        let all = store.list_cases(&CaseFilter::default()).unwrap();
        list_t.push(t.elapsed());
        assert_eq!(all.len(), n);
        let t = Instant::now();
        let found = store
            .list_cases(&CaseFilter {
                search: Some(format!("person {}", 1000 + i)),
                ..Default::default()
            })
            .unwrap();
        search_t.push(t.elapsed());
        assert!(!found.is_empty());
        let t = Instant::now();
        store
            .list_cases(&CaseFilter {
                status: Some("handed_over".into()),
                limit: Some(200),
                ..Default::default()
            })
            .unwrap();
        filter_t.push(t.elapsed());
    }
    row(
        &format!("list all {n} cases (p50)"),
        ms(pct(list_t, 0.5)),
        "< 50 ms",
    );
    row(
        &format!("search victim name over {n} (p50)"),
        ms(pct(search_t, 0.5)),
        "< 50 ms",
    );
    row(
        "filter by status, first 200 (p50)",
        ms(pct(filter_t, 0.5)),
        "",
    );

    // a case with 1,000 changes
    let heavy = ids[0].clone();
    for i in 0..1000 {
        store
            .set_case_fields(
                &heavy,
                &[("incident.location".into(), format!("Fictional Street {i}"))],
            )
            .unwrap();
    }
    let mut load_t = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        store.show_case(&heavy).unwrap();
        load_t.push(t.elapsed());
    }
    row(
        "open a case with 1,000 changes (p50)",
        ms(pct(load_t, 0.5)),
        "",
    );

    // bytes per case
    drop(store);
    let on_disk = dir_bytes(&dir);
    let mut s = Store::open(&dir, PASS, None).unwrap();
    let sample = s.show_case(&ids[n / 2]).unwrap();
    let json = serde_json::to_vec(&sample.record).unwrap().len();
    row(
        "bytes on disk per case",
        format!("{} B", on_disk / n as u64),
        "",
    );
    row("plain JSON per case", format!("{json} B"), "");
    row(
        "ratio on disk / JSON",
        format!("{:.2}x", (on_disk / n as u64) as f64 / json as f64),
        "",
    );
    drop(s);

    // unlock
    let mut un = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = Store::open(&dir, PASS, None).unwrap();
        un.push(t.elapsed());
        drop(s);
    }
    row(
        &format!(
            "unlock (Argon2id m={} MiB t={} p={})",
            kdf.memory_kib / 1024,
            kdf.iterations,
            kdf.parallelism
        ),
        ms(pct(un, 0.5)),
        "",
    );

    // SQLCipher beside plain SQLite, same write workload
    let (enc, plain) = write_workload(tmp.path());
    println!("\n## Same write workload: SQLCipher beside plain SQLite\n");
    println!(
        "| {:<46} | {:>22} | {:<18} |",
        "workload", "SQLCipher / plain", "target"
    );
    println!("|{}|{}|{}|", "-".repeat(48), "-".repeat(24), "-".repeat(20));
    row(
        &format!("{WORKLOAD_TX} durable transactions (upsert row + chunk)"),
        format!("{} / {}", ms(enc), ms(plain)),
        "",
    );
    row(
        "ratio",
        format!("{:.2}x", enc.as_secs_f64() / plain.as_secs_f64()),
        "<= 1.3x",
    );
    purge_table(tmp.path());
}

const WORKLOAD_TX: usize = 2_000;

/// Cases on the device for the purge measurement.
const PURGE_CASES: usize = 500;

/// Applying a sync answer that purges one case (and its health record) on a device holding
/// `PURGE_CASES`, every one acknowledged, beside the same answer purging nothing.
fn purge_table(root: &Path) {
    use provide_core::sync::protocol::{DocAck, DocOutcome, SyncResponse};
    let dir = root.join("purge");
    let mut store = Store::init(
        &dir,
        NewUser {
            name: "idva-bench".into(),
            role: Role::Idva,
            division: "west".into(),
            team: "t1".into(),
        },
        PASS,
        InitOptions {
            kdf: KdfParams::FLOOR,
            policy: LockPolicy::default(),
        },
    )
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..PURGE_CASES {
        let id = store
            .create_case(
                Deployment::PostIncident,
                &fictional_sets(i)
                    .into_iter()
                    .filter(|(k, _)| k != "status")
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        store
            .add_health_note(&id, &format!("fictional health note {i}"))
            .unwrap();
        for k in 0..5 {
            store
                .set_case_fields(&id, &[("victim.phone".into(), format!("07700 90{k:04}"))])
                .unwrap();
        }
        ids.push(id);
    }
    // the server acknowledges everything
    let (sent, _) = store.pending_uploads(usize::MAX).unwrap();
    let acked = SyncResponse {
        acks: (0..sent.len())
            .map(|doc| DocAck {
                doc,
                outcome: DocOutcome::Accepted,
            })
            .collect(),
        cursor: 1,
        ..Default::default()
    };
    store.apply_sync_response(&sent, &acked).unwrap();
    let mut purge = Vec::new();
    let mut quiet = Vec::new();
    for (round, id) in ids.iter().take(20).enumerate() {
        let cursor = 2 + 2 * round as u64;
        let t = Instant::now();
        store
            .apply_sync_response(
                &[],
                &SyncResponse {
                    cursor,
                    ..Default::default()
                },
            )
            .unwrap();
        quiet.push(t.elapsed());
        let t = Instant::now();
        let applied = store
            .apply_sync_response(
                &[],
                &SyncResponse {
                    purge: vec![id.clone(), format!("{id}.health")],
                    cursor: cursor + 1,
                    ..Default::default()
                },
            )
            .unwrap();
        purge.push(t.elapsed());
        assert_eq!(applied.purged, 2);
    }
    println!("\n## Purging a case on a device holding {PURGE_CASES} (20 purges)\n");
    println!(
        "| {:<46} | {:>22} | {:<18} |",
        "sync answer applied", "p50 / p99", "target"
    );
    println!("|{}|{}|{}|", "-".repeat(48), "-".repeat(24), "-".repeat(20));
    row(
        "nothing to purge",
        format!("{} / {}", ms(pct(quiet.clone(), 0.5)), ms(pct(quiet, 0.99))),
        "",
    );
    row(
        "a case and its health record purged",
        format!("{} / {}", ms(pct(purge.clone(), 0.5)), ms(pct(purge, 0.99))),
        "",
    );
}

/// The store's own write pattern (one transaction: update the record row, append a chunk) on
/// the store's schema and pragmas, once keyed with SQLCipher and once plain.
fn write_workload(root: &Path) -> (Duration, Duration) {
    let run = |name: &str, key: Option<&str>| -> Duration {
        let path = root.join(name);
        let conn = rusqlite::Connection::open(&path).unwrap();
        if let Some(k) = key {
            conn.execute_batch(&format!("PRAGMA key = \"x'{k}'\";"))
                .unwrap();
        }
        conn.execute_batch(schema::PRAGMAS).unwrap();
        conn.execute_batch(schema::TABLES).unwrap();
        let chunk = vec![0x5au8; 420];
        let t = Instant::now();
        for i in 0..WORKLOAD_TX {
            let tx = conn.unchecked_transaction().unwrap();
            let id = format!("case-{}", i % 500);
            tx.execute(
                "INSERT INTO records (id, kind, audience, heads, updated_at, victim_name, search_text) VALUES (?1, 'case', 'shared', ?2, ?3, ?4, ?4)
                 ON CONFLICT(id) DO UPDATE SET heads = excluded.heads, updated_at = excluded.updated_at",
                rusqlite::params![id, format!("{i:064x}"), format!("2026-11-22T10:{:02}:00Z", i % 60), format!("benchmark person {i}")],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO chunks (record_id, seq, bytes) VALUES (?1, ?2, ?3)",
                rusqlite::params![id, i as i64, chunk],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        t.elapsed()
    };
    let key = hex::encode([7u8; 32]);
    // alternate to share any disk warm-up fairly
    let p1 = run("plain-1.db", None);
    let e1 = run("enc-1.db", Some(&key));
    let p2 = run("plain-2.db", None);
    let e2 = run("enc-2.db", Some(&key));
    (e1.min(e2), p1.min(p2))
}
