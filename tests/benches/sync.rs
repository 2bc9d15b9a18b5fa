//! `make bench` — sync over a real server on loopback. Prints a table of round trips and HTTP
//! body bytes (compressed, as sent) per scenario; never passes or fails.
//!
//! Rows: one field edit; a shift's 5 new cases (DASH, notes, referrals, safety plan); an idle
//! sync with 5,000 unchanged documents stored; the first sync of those 5,000 to a new device.
//! The lower bound beside each: the new data as plain JSON, zstd-compressed.

use std::time::Instant;

use provide_core::model::Deployment;
use provide_core::sync::SyncReport;
use provide_tests::workload::shift_case;
use provide_tests::{Device, TestServer};

fn stored() -> usize {
    std::env::var("PROVIDE_BENCH_SYNC_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

/// zstd-compressed size of the cases as plain JSON: what the new data costs at the least.
fn json_floor(d: &mut Device, ids: &[String]) -> usize {
    let cases: Vec<_> = ids
        .iter()
        .map(|id| d.store.show_case(id).unwrap().record)
        .collect();
    zstd::bulk::compress(&serde_json::to_vec(&cases).unwrap(), 3)
        .unwrap()
        .len()
}

fn row(name: &str, r: &SyncReport, ms: f64, floor: Option<usize>) {
    let floor = floor.map(|f| f.to_string()).unwrap_or_else(|| "-".into());
    println!(
        "| {name:<44} | {:>6} | {:>9} | {:>10} | {:>5} | {:>5} | {:>9.1} | {floor:>10} |",
        r.round_trips, r.bytes_up, r.bytes_down, r.docs_sent, r.docs_received, ms
    );
}

fn timed(d: &mut Device) -> (SyncReport, f64) {
    let t = Instant::now();
    let r = d.sync().unwrap();
    (r, t.elapsed().as_secs_f64() * 1000.0)
}

fn main() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.bench.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bench.fictional", "idva", "west", "t1");
    officer.sync().unwrap();
    idva.sync().unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();

    println!("\nSync over HTTP on loopback (bytes are HTTP bodies as sent, zstd-compressed)\n");
    println!(
        "| {:<44} | {:>6} | {:>9} | {:>10} | {:>5} | {:>5} | {:>9} | {:>10} |",
        "scenario", "trips", "bytes up", "bytes down", "sent", "recv", "ms", "JSON floor"
    );
    println!("|{}|", "-".repeat(125));

    let ids: Vec<String> = (0..5).map(|n| shift_case(&mut idva.store, n)).collect();
    let floor = json_floor(&mut idva, &ids);
    let (r, ms) = timed(&mut idva);
    row("a shift's 5 new cases: upload (IDVA)", &r, ms, Some(floor));
    let (r, ms) = timed(&mut officer);
    row(
        "a shift's 5 new cases: download (officer)",
        &r,
        ms,
        Some(floor),
    );
    officer.sync().unwrap();
    idva.sync().unwrap();

    officer
        .store
        .set_case_fields(&ids[2], &[("status".into(), "handed_over".into())])
        .unwrap();
    let (r, ms) = timed(&mut officer);
    row("one edit: upload", &r, ms, None);
    let (r, ms) = timed(&mut idva);
    row("one edit: download", &r, ms, None);

    let n = stored();
    let t = Instant::now();
    for i in 0..n {
        officer
            .store
            .create_case(
                Deployment::Consultation,
                &[("victim.name".into(), format!("Fictional Person {i}"))],
            )
            .unwrap();
    }
    let create_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (r, ms) = timed(&mut officer);
    row(&format!("{n} new documents: upload"), &r, ms, None);
    let (r, ms) = timed(&mut idva);
    row(
        &format!("{n} new documents: first sync, second device"),
        &r,
        ms,
        None,
    );
    officer.sync().unwrap();
    idva.sync().unwrap();
    let (r, ms) = timed(&mut officer);
    row(
        &format!("idle sync, {} documents stored", n + 5),
        &r,
        ms,
        None,
    );
    let (r, ms) = timed(&mut idva);
    row(
        &format!("idle sync, {} documents stored (IDVA)", n + 5),
        &r,
        ms,
        None,
    );
    println!(
        "\nTargets: 1 round trip in steady state; an idle sync under 200 bytes in all, whatever the number of documents.\n(creating the {n} documents locally took {create_ms:.0} ms; not part of any row)"
    );
}
