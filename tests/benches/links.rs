//! `make bench` — Provide's sync against stock Automerge sync over shaped mobile links.
//! Prints one table; never passes or fails.
//!
//! Rows are scenario x link profile (tests/src/shaper.rs: `2g`, `3g`, `4g`, `flaky`); each row
//! is one device's sync through the shaper to a real server on loopback, counted by the same
//! `Metered` transport for both protocols (round trips attempted, HTTP body bytes as sent).
//! The baseline (tests/src/baseline.rs) syncs the same Automerge documents one by one. Where
//! running the baseline whole would take too long (thousands of sequential round trips over a
//! slow link), it runs on a sample of the documents and is scaled up: such cells are marked
//! `~` and the sample is named under the table. Provide's own numbers are always measured
//! whole.
//!
//! The floor of each row is the new data as plain JSON, zstd-compressed (level 3): for new
//! cases the records, for edits the edits as `{id, path, value}` (both directions).
//!
//! Environment: `PROVIDE_BENCH_QUICK=1` for a small version (500 idle documents, 50 cases);
//! `PROVIDE_BENCH_PROFILES=4g,3g` to run some profiles only.

use std::time::{Duration, Instant};

use provide_core::model::{Deployment, RecordKind};
use provide_core::sync::auto::{sync_when_reachable, Backoff};
use provide_core::sync::transport::HttpTransport;
use provide_core::sync::SyncOptions;
use provide_tests::baseline::{BaselineDevice, BaselineServer, Session, INDEX};
use provide_tests::metered::{Meter, Metered};
use provide_tests::shaper::{Counts, Profile, Shaper};
use provide_tests::workload::shift_case;
use provide_tests::{Device, TestServer};
use serde_json::json;

struct Sizes {
    idle_docs: usize,
    first_sync_cases: usize,
    quick: bool,
}

fn sizes() -> Sizes {
    let quick = std::env::var("PROVIDE_BENCH_QUICK").is_ok_and(|v| v == "1");
    Sizes {
        idle_docs: if quick { 500 } else { 5_000 },
        first_sync_cases: if quick { 50 } else { 500 },
        quick,
    }
}

/// How many documents the baseline runs for real under `profile` when scaling is allowed:
/// about a minute of sequential round trips at most.
fn sample(profile: &str, of: usize, quick: bool) -> usize {
    let n = match profile {
        "2g" => 40,
        "3g" | "flaky" => 80,
        _ => 250,
    };
    (if quick { n / 4 } else { n }).clamp(1, of)
}

/// What one protocol did in one row.
#[derive(Clone, Copy, Default)]
struct Run {
    meter: Meter,
    secs: f64,
    /// Counted on a sample of `sampled` documents and scaled up to `of`.
    scaled: Option<(usize, usize)>,
    cuts: u64,
}

struct Row {
    scenario: String,
    profile: String,
    ours: Run,
    base: Run,
    /// The floor, and the documents changed (for the bytes target).
    floor: Option<(usize, usize)>,
}

fn zstd_json(v: &serde_json::Value) -> usize {
    zstd::bulk::compress(&serde_json::to_vec(v).unwrap(), 3)
        .unwrap()
        .len()
}

/// A case as its device holds it, read without opening it on screen: opening it would write
/// an audit entry, and that entry would travel with the next sync measured.
fn case_of(d: &mut Device, id: &str) -> provide_core::model::Case {
    let bytes = bytes_of(d, id);
    provide_core::record::RecordDoc::load_unmigrated(id, RecordKind::Case, &[bytes])
        .and_then(|r| r.case())
        .unwrap()
}

fn cases_floor(d: &mut Device, ids: &[String]) -> usize {
    let cases: Vec<_> = ids.iter().map(|id| case_of(d, id)).collect();
    zstd_json(&serde_json::to_value(cases).unwrap())
}

fn shaper(server: std::net::SocketAddr, profile: &Profile, seed: u64) -> Shaper {
    Shaper::start(server, profile.clone(), seed)
}

fn cuts(before: Counts, after: Counts) -> u64 {
    after.connections_cut - before.connections_cut
}

/// Provide's sync of `device` through `profile`, retried (with shrinking exchanges) while the
/// link breaks, as the app does.
fn ours(device: &mut Device, server: &TestServer, profile: &Profile, seed: u64) -> Run {
    let link = shaper(server.addr(), profile, seed);
    let mut t = Metered::new(HttpTransport::new(&link.url(), None).unwrap());
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
    let start = Instant::now();
    let (report, _) = sync_when_reachable(
        &mut device.store,
        &mut t,
        &SyncOptions::default(),
        &mut backoff,
        Duration::from_secs(3600),
        &mut |_| {},
    )
    .expect("the sync completes");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.unsynced_left, 0, "{report:?}");
    Run {
        meter: t.meter,
        secs,
        scaled: None,
        cuts: link.counts().connections_cut,
    }
}

/// A baseline session through `profile`.
fn base(
    dev: &mut BaselineDevice,
    server: &BaselineServer,
    profile: &Profile,
    seed: u64,
    which: Session,
) -> Run {
    let link = shaper(server.addr, profile, seed);
    let mut t = Metered::new(HttpTransport::new(&link.url(), None).unwrap());
    let start = Instant::now();
    dev.sync(&mut t, which, 100_000).expect("the baseline sync");
    Run {
        meter: t.meter,
        secs: start.elapsed().as_secs_f64(),
        scaled: None,
        cuts: link.counts().connections_cut,
    }
}

/// The baseline for `ids` out of `total` like documents: the index exchange measured whole,
/// the documents on a sample, scaled to `total`.
fn base_scaled(
    dev: &mut BaselineDevice,
    server: &BaselineServer,
    profile: &Profile,
    seed: u64,
    ids: &[String],
    total: usize,
) -> Run {
    let link = shaper(server.addr, profile, seed);
    let mut t = Metered::new(HttpTransport::new(&link.url(), None).unwrap());
    let before = link.counts();
    let start = Instant::now();
    dev.sync(&mut t, Session::Only(&[INDEX.to_string()]), 100_000)
        .unwrap();
    let index_secs = start.elapsed().as_secs_f64();
    let index = t.take();
    let start = Instant::now();
    dev.sync(&mut t, Session::Only(ids), 100_000).unwrap();
    let docs_secs = start.elapsed().as_secs_f64();
    let docs = t.take();
    let f = total as f64 / ids.len() as f64;
    let scale = |v: u64| (v as f64 * f).round() as u64;
    Run {
        meter: Meter {
            round_trips: index.round_trips + scale(docs.round_trips),
            failed: index.failed + scale(docs.failed),
            bytes_up: index.bytes_up + scale(docs.bytes_up),
            bytes_down: index.bytes_down + scale(docs.bytes_down),
        },
        secs: index_secs + docs_secs * f,
        scaled: (ids.len() < total).then_some((ids.len(), total)),
        cuts: cuts(before, link.counts()),
    }
}

/// Settles a baseline device and server on loopback (not measured).
fn settle(dev: &mut BaselineDevice, server: &BaselineServer, which: Session) {
    let mut t = HttpTransport::new(&server.url(), None).unwrap();
    dev.sync(&mut t, which, 0).unwrap();
}

fn converged(dev: &BaselineDevice, server: &BaselineServer, ids: &[String]) {
    for id in ids {
        assert_eq!(dev.heads(id), server.heads(id), "baseline diverged on {id}");
    }
}

fn bytes_of(d: &mut Device, id: &str) -> Vec<u8> {
    d.store.record_bytes(id).unwrap().1
}

/// A shift's 5 new cases uploaded, then one field edit, on a fresh server.
fn shift_and_edit(profile: &Profile, seed: u64, rows: &mut Vec<Row>) {
    let server = TestServer::start();
    let mut idva = Device::enrol(&server, "idva.shift.fictional", "idva", "west", "t1");
    idva.sync().unwrap();
    let ids: Vec<String> = (0..5).map(|n| shift_case(&mut idva.store, n)).collect();
    let floor = cases_floor(&mut idva, &ids);
    let bserver = BaselineServer::start();
    let mut bdev = BaselineDevice::new("idva-device");
    for id in &ids {
        bdev.put(id, &bytes_of(&mut idva, id));
    }
    let o = ours(&mut idva, &server, profile, seed);
    let b = base(&mut bdev, &bserver, profile, seed, Session::Everything);
    converged(&bdev, &bserver, &ids);
    rows.push(Row {
        scenario: "a shift's 5 new cases".into(),
        profile: profile.name.clone(),
        ours: o,
        base: b,
        floor: Some((floor, 5)),
    });

    let edited = &ids[2];
    idva.store
        .set_case_fields(edited, &[("status".into(), "handed_over".into())])
        .unwrap();
    let floor = zstd_json(&json!({"id": edited, "path": "status", "value": "handed_over"}));
    bdev.put(edited, &bytes_of(&mut idva, edited));
    let o = ours(&mut idva, &server, profile, seed + 1);
    let only = [edited.clone()];
    let b = base(&mut bdev, &bserver, profile, seed + 1, Session::Only(&only));
    converged(&bdev, &bserver, &ids);
    rows.push(Row {
        scenario: "one edit".into(),
        profile: profile.name.clone(),
        ours: o,
        base: b,
        floor: Some((floor, 1)),
    });
}

/// A note as the case holds it: its text, and the id, time and author the store gave it, all
/// of which are new data any protocol has to carry.
fn stored_note(d: &mut Device, case: &str, note: &str) -> serde_json::Value {
    let record = case_of(d, case);
    let item = record
        .notes
        .iter()
        .find(|n| n.id == note)
        .expect("the note");
    serde_json::to_value(item).unwrap()
}

/// A day offline: 40 edits across 10 cases, while a colleague edits the same cases.
fn day_offline(profile: &Profile, seed: u64, rows: &mut Vec<Row>) {
    let server = TestServer::start();
    let mut a = Device::enrol(&server, "idva.day.fictional", "idva", "west", "t1");
    let mut b = Device::enrol(&server, "pc.night.fictional", "officer", "west", "t1");
    let ids: Vec<String> = (0..10).map(|n| shift_case(&mut a.store, 100 + n)).collect();
    a.sync().unwrap();
    b.sync().unwrap();
    a.sync().unwrap();
    let bserver = BaselineServer::start();
    let mut bdev = BaselineDevice::new("day-device");
    for id in &ids {
        let bytes = bytes_of(&mut a, id);
        bserver.put(id, &bytes);
        bdev.put(id, &bytes);
    }
    settle(&mut bdev, &bserver, Session::Everything);

    let mut ups = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        for (path, value) in [
            (
                "victim.safe_contact.safe_times",
                format!("Weekdays after 18:00 (case {i})"),
            ),
            (
                "perpetrator.bail_conditions",
                format!("Not to contact the victim directly or indirectly (case {i})"),
            ),
            ("victim.safe_contact.text_ok", "true".to_string()),
        ] {
            a.store
                .set_case_fields(id, &[(path.into(), value.clone())])
                .unwrap();
            ups.push(json!({"id": id, "path": path, "value": value}));
        }
        let text = format!("Follow-up call from the car, case {i}: victim safe, no contact.");
        let note = a
            .store
            .add_case_item(id, "notes", &json!({ "text": text }))
            .unwrap();
        ups.push(json!({"id": id, "path": "notes", "value": stored_note(&mut a, id, &note)}));
    }
    let mut downs = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let times = format!("Mornings only (case {i})");
        b.store
            .set_case_fields(
                id,
                &[("victim.safe_contact.safe_times".into(), times.clone())],
            )
            .unwrap();
        let text = format!("Safeguarding review booked for case {i}.");
        let note = b
            .store
            .add_case_item(id, "notes", &json!({ "text": text }))
            .unwrap();
        downs.push(json!({"id": id, "path": "victim.safe_contact.safe_times", "value": times}));
        downs.push(json!({"id": id, "path": "notes", "value": stored_note(&mut b, id, &note)}));
    }
    b.sync().unwrap();
    for id in &ids {
        bserver.put(id, &bytes_of(&mut b, id));
        bdev.put(id, &bytes_of(&mut a, id));
    }
    let floor = zstd_json(&json!(ups)) + zstd_json(&json!(downs));
    let o = ours(&mut a, &server, profile, seed);
    let b_run = base(&mut bdev, &bserver, profile, seed, Session::Everything);
    converged(&bdev, &bserver, &ids);
    // both protocols end with both sides' edits: the same heads as the colleague's merge
    b.sync().unwrap();
    for id in &ids {
        let mut ours_heads = a.store.record_heads(id).unwrap();
        let mut theirs = b.store.record_heads(id).unwrap();
        ours_heads.sort();
        theirs.sort();
        assert_eq!(ours_heads, theirs, "Provide diverged on {id}");
        let mut base_heads = bdev.heads(id);
        base_heads.sort();
        assert_eq!(base_heads, theirs, "the baseline misses edits on {id}");
    }
    rows.push(Row {
        scenario: "a day offline (40 edits, 10 cases)".into(),
        profile: profile.name.clone(),
        ours: o,
        base: b_run,
        floor: Some((floor, 10)),
    });
}

/// `n` unchanged documents: an idle sync. Setup shared by every profile.
struct Idle {
    server: TestServer,
    device: Device,
    ids: Vec<String>,
    bytes: Vec<Vec<u8>>,
}

fn idle_setup(n: usize) -> Idle {
    let server = TestServer::start();
    let mut device = Device::enrol(&server, "pc.idle.fictional", "officer", "west", "t1");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(
            device
                .store
                .create_case(
                    Deployment::Consultation,
                    &[("victim.name".into(), format!("Fictional Person {i}"))],
                )
                .unwrap(),
        );
    }
    device.sync().unwrap();
    device.sync().unwrap();
    let bytes = ids.iter().map(|id| bytes_of(&mut device, id)).collect();
    Idle {
        server,
        device,
        ids,
        bytes,
    }
}

fn idle(setup: &mut Idle, profile: &Profile, seed: u64, quick: bool, rows: &mut Vec<Row>) {
    let n = setup.ids.len();
    let o = ours(&mut setup.device, &setup.server, profile, seed);
    let bserver = BaselineServer::start();
    let mut bdev = BaselineDevice::new("idle-device");
    for (id, bytes) in setup.ids.iter().zip(&setup.bytes) {
        bserver.put(id, bytes);
        bdev.put(id, bytes);
    }
    let k = sample(&profile.name, n, quick);
    let mut some = vec![INDEX.to_string()];
    some.extend(setup.ids[..k].iter().cloned());
    settle(&mut bdev, &bserver, Session::Only(&some));
    let b = base_scaled(&mut bdev, &bserver, profile, seed, &setup.ids[..k], n);
    rows.push(Row {
        scenario: format!("{n} unchanged documents (idle)"),
        profile: profile.name.clone(),
        ours: o,
        base: b,
        floor: None,
    });
}

/// `n` cases on the server: a new safeguarding device's first sync. Setup shared.
struct FirstSync {
    server: TestServer,
    ids: Vec<String>,
    bytes: Vec<Vec<u8>>,
    floor: usize,
}

fn first_sync_setup(n: usize) -> FirstSync {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "idva.first.fictional", "idva", "west", "t1");
    let ids: Vec<String> = (0..n).map(|i| shift_case(&mut officer.store, i)).collect();
    officer.sync().unwrap();
    let floor = cases_floor(&mut officer, &ids);
    let bytes = ids.iter().map(|id| bytes_of(&mut officer, id)).collect();
    FirstSync {
        server,
        ids,
        bytes,
        floor,
    }
}

fn first_sync(setup: &FirstSync, profile: &Profile, seed: u64, quick: bool, rows: &mut Vec<Row>) {
    let n = setup.ids.len();
    let user = format!("sg.{}.fictional", profile.name);
    let mut sg = Device::enrol(&setup.server, &user, "safeguarding", "west", "");
    let o = ours(&mut sg, &setup.server, profile, seed);
    assert_eq!(sg.store.list_cases(&Default::default()).unwrap().len(), n);
    let bserver = BaselineServer::start();
    for (id, bytes) in setup.ids.iter().zip(&setup.bytes) {
        bserver.put(id, bytes);
    }
    let mut bdev = BaselineDevice::new(&format!("sg-{}", profile.name));
    let k = sample(&profile.name, n, quick);
    let b = base_scaled(&mut bdev, &bserver, profile, seed, &setup.ids[..k], n);
    converged(&bdev, &bserver, &setup.ids[..k]);
    rows.push(Row {
        scenario: format!("{n} cases, first sync (new device)"),
        profile: profile.name.clone(),
        ours: o,
        base: b,
        floor: Some((setup.floor, n)),
    });
}

fn ratio(base: f64, ours: f64) -> String {
    if ours <= 0.0 {
        "-".into()
    } else {
        format!("{:.1}x", base / ours)
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

/// The targets that apply to a row, each with whether it holds.
fn targets(row: &Row, rows: &[Row]) -> String {
    let mut out = Vec::new();
    let bytes = row.ours.meter.bytes() as f64;
    if let Some((floor, changed)) = row.floor {
        let limit = 1.5 * floor as f64 + 50.0 * changed as f64;
        out.push(format!(
            "bytes {:.2} of limit {}",
            bytes / limit,
            verdict(bytes <= limit)
        ));
    }
    if row.scenario.starts_with("a shift") && row.profile == "2g" {
        out.push(format!("under 5 s {}", verdict(row.ours.secs < 5.0)));
    }
    if row.scenario.contains("idle") {
        let b = row.base.meter;
        let ok = b.bytes() as f64 >= 5.0 * bytes && b.round_trips >= 5 * row.ours.meter.round_trips;
        out.push(format!("5x fewer bytes and trips {}", verdict(ok)));
    }
    if row.profile == "flaky" {
        if let Some(uncut) = rows
            .iter()
            .find(|r| r.scenario == row.scenario && r.profile == "3g")
        {
            let f = bytes / uncut.ours.meter.bytes().max(1) as f64;
            out.push(format!(
                "converged, {f:.2}x uncut bytes {}",
                verdict(f <= 2.0)
            ));
        }
    }
    out.join("; ")
}

fn print(rows: &[Row]) {
    println!(
        "\nSync over shaped links: Provide vs stock Automerge sync (one document per message)\n\
         (bytes: HTTP bodies as sent; ~ = baseline scaled up from a sample; floor: new data as zstd JSON)\n"
    );
    println!(
        "| {:<36} | {:<5} | {:>5} | {:>8} | {:>9} | {:>7} | {:>7} | {:>10} | {:>9} | {:>6} | {:>6} | {:>6} | {:>7} | targets",
        "scenario", "link", "trips", "up", "down", "s", "b trips", "b bytes", "b s", "trips", "bytes", "time", "floor"
    );
    println!(
        "|{:-<38}|{:-<7}|{:-<7}|{:-<10}|{:-<11}|{:-<9}|{:-<9}|{:-<12}|{:-<11}|{:-<8}|{:-<8}|{:-<8}|{:-<9}|---------",
        "", "", "", "", "", "", "", "", "", "", "", "", ""
    );
    for r in rows {
        let o = r.ours.meter;
        let b = r.base.meter;
        let tilde = if r.base.scaled.is_some() { "~" } else { "" };
        println!(
            "| {:<36} | {:<5} | {:>5} | {:>8} | {:>9} | {:>7.2} | {:>7} | {:>10} | {:>9} | {:>6} | {:>6} | {:>6} | {:>7} | {}",
            r.scenario,
            r.profile,
            o.round_trips,
            o.bytes_up,
            o.bytes_down,
            r.ours.secs,
            format!("{tilde}{}", b.round_trips),
            format!("{tilde}{}", b.bytes()),
            format!("{tilde}{:.1}", r.base.secs),
            ratio(b.round_trips as f64, o.round_trips as f64),
            ratio(b.bytes() as f64, o.bytes() as f64),
            ratio(r.base.secs, r.ours.secs),
            r.floor.map(|f| f.0.to_string()).unwrap_or_else(|| "-".into()),
            targets(r, rows),
        );
    }
    println!("\nNotes:");
    for r in rows {
        if let Some((k, n)) = r.base.scaled {
            println!(
                "- {} over {}: baseline measured on {k} of {n} documents (plus the index), scaled by {:.1}",
                r.scenario,
                r.profile,
                n as f64 / k as f64
            );
        }
    }
    for r in rows.iter().filter(|r| r.profile == "flaky") {
        println!(
            "- {} over flaky: {} connection(s) cut under Provide ({} failed exchanges), {} under the baseline ({} failed)",
            r.scenario, r.ours.cuts, r.ours.meter.failed, r.base.cuts, r.base.meter.failed
        );
    }
    println!(
        "- trips/bytes/time ratios are baseline / Provide; Provide's numbers include its audit-log upload."
    );
}

fn main() {
    let sizes = sizes();
    let profiles: Vec<Profile> = match std::env::var("PROVIDE_BENCH_PROFILES") {
        Ok(list) => list
            .split(',')
            .map(|n| Profile::named(n.trim()).expect("a known profile"))
            .collect(),
        Err(_) => Profile::NAMES
            .iter()
            .map(|n| Profile::named(n).unwrap())
            .collect(),
    };
    let mut rows = Vec::new();
    let started = Instant::now();
    for (i, p) in profiles.iter().enumerate() {
        shift_and_edit(p, 100 + i as u64, &mut rows);
        eprintln!(
            "[{:.0} s] shift and edit over {}",
            started.elapsed().as_secs_f64(),
            p.name
        );
    }
    for (i, p) in profiles.iter().enumerate() {
        day_offline(p, 200 + i as u64, &mut rows);
        eprintln!(
            "[{:.0} s] day offline over {}",
            started.elapsed().as_secs_f64(),
            p.name
        );
    }
    let mut setup = idle_setup(sizes.idle_docs);
    for (i, p) in profiles.iter().enumerate() {
        idle(&mut setup, p, 300 + i as u64, sizes.quick, &mut rows);
        eprintln!(
            "[{:.0} s] idle over {}",
            started.elapsed().as_secs_f64(),
            p.name
        );
    }
    drop(setup);
    let setup = first_sync_setup(sizes.first_sync_cases);
    for (i, p) in profiles.iter().enumerate() {
        first_sync(&setup, p, 400 + i as u64, sizes.quick, &mut rows);
        eprintln!(
            "[{:.0} s] first sync over {}",
            started.elapsed().as_secs_f64(),
            p.name
        );
    }
    print(&rows);
}
