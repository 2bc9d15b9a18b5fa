//! Every crash point of the device store (tests/src/crash): a workload of acknowledged edits, a
//! bundle import, a sync response applied, a passphrase change (the key-slot file replaced)
//! and a purge (a record erased at the server, taken off the device and its pages reclaimed)
//! is recorded operation by operation; then, for every fsync boundary, the files are rebuilt
//! as a crash there could leave them (power lost, process killed, unsynced writes partly on
//! disk and torn) and checked:
//! - `PRAGMA integrity_check` is ok and the store opens with the passphrase its key slots
//!   should hold then (the old one, the new one, or either while the change was under way);
//! - every edit acknowledged before the crash is there, and nothing is half applied: the two
//!   fields set together are equal, a bundle's two cases and a sync's cases come all or none;
//! - a purge acknowledged stays done; the audit chain verifies.
//!
//! `PROVIDE_CRASH_POINTS` (1000) distinct crash states at least (`make soak`: 10000);
//! `PROVIDE_CRASH_EDITS` (12) pairs of edits before the other steps; `PROVIDE_CRASH_SEED`.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use provide_core::crypto::keyslots::KeySlots;
use provide_core::crypto::KdfParams;
use provide_core::model::Deployment;
use provide_core::sync::enrol::enrol;
use provide_core::sync::transport::HttpTransport;
use provide_core::sync::{sync, SyncOptions};
use provide_core::{Error, Store};
use provide_tests::crash::disk::{fingerprint, Crash, Disk, Image};
use provide_tests::crash::trace::{self, Event};
use provide_tests::device::fast_options;
use provide_tests::{note, sets, Device, TestServer, PASSPHRASE};
use rand::rngs::StdRng;
use rand::SeedableRng;

const NEW_PASSPHRASE: &str = "quarry meadow thimble";
const BUNDLE_PASSPHRASE: &str = "bundle passphrase 42";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ids the checks look for.
struct Ids {
    own: String,
    bundled: Vec<String>,
    pulled: Vec<String>,
    erased: String,
}

/// What had been acknowledged (or begun) before a crash point, from the workload's marks.
#[derive(Debug, Clone, Default)]
struct Acked {
    notes: BTreeSet<usize>,
    fields: Option<usize>,
    bundle_begun: bool,
    bundle: bool,
    sync: bool,
    passphrase_begun: bool,
    passphrase: bool,
    purge: bool,
}

impl Acked {
    fn take(&mut self, mark: &str) {
        match mark.split_once(' ') {
            Some(("note", i)) => {
                self.notes.insert(i.parse().unwrap());
            }
            Some(("fields", i)) => self.fields = Some(i.parse().unwrap()),
            _ => match mark {
                "bundle begun" => self.bundle_begun = true,
                "bundle" => self.bundle = true,
                "sync" => self.sync = true,
                "passphrase begun" => self.passphrase_begun = true,
                "passphrase" => self.passphrase = true,
                "purge" => self.purge = true,
                _ => {}
            },
        }
    }
}

fn field_value(i: usize) -> String {
    format!("ref-{i}")
}

fn note_text(i: usize) -> String {
    format!("crash workload note {i}")
}

/// Files by name, with their contents.
type Files = Vec<(String, Vec<u8>)>;

/// Runs the workload on an enrolled device's store with the recording on; returns the
/// recording, the folder's files when it started, and the ids to check.
fn record_workload(edits: usize) -> (Vec<Event>, Files, Ids) {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut transport = HttpTransport::new(&server.url, None).unwrap();
    let code = server.code("pc.cole.fictional", "officer", "west", "t1");
    let mut s = enrol(
        dir.path(),
        &server.url,
        &code,
        PASSPHRASE,
        fast_options(),
        &mut transport,
    )
    .unwrap();
    let own = s
        .create_case(
            Deployment::Live,
            &sets(&[
                ("victim.name", "Fictional Person Cole"),
                ("incident.reference", "start"),
                ("incident.location", "start"),
            ]),
        )
        .unwrap();
    sync(&mut s, &mut transport, &SyncOptions::default(), &mut |_| {}).unwrap();
    drop(s);

    // a teammate's cases, which the device pulls in one sync response
    let mut teammate = Device::enrol(&server, "pc.tia.fictional", "officer", "west", "t1");
    let pulled: Vec<String> = (0..3)
        .map(|i| {
            let name = format!("Fictional Person T{i}");
            teammate
                .store
                .create_case(Deployment::Live, &sets(&[("victim.name", &name)]))
                .unwrap()
        })
        .collect();
    teammate.sync().unwrap();
    // another's case, whole, in a rescue bundle (its author synced it once, so the server
    // knows its changes when this device passes them on)
    let mut other = Device::enrol(&server, "pc.bee.fictional", "officer", "west", "t1");
    let bundled = vec![other
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", "Fictional Person Bee")]),
        )
        .unwrap()];
    other.sync().unwrap();
    let mut bundle = Vec::new();
    other
        .store
        .export_bundle(
            Some(&bundled[0]),
            false,
            BUNDLE_PASSPHRASE,
            KdfParams::FLOOR,
            |b| {
                bundle = b.to_vec();
                Ok(())
            },
        )
        .unwrap();

    trace::start(dir.path());
    let before = files_of(dir.path());
    let mut s = Store::open(dir.path(), PASSPHRASE, None).unwrap();
    trace::mark("opened");
    let edit = |s: &mut Store, i: usize| {
        s.add_case_item(&own, "notes", &note(&note_text(i)))
            .unwrap();
        trace::mark(format!("note {i}"));
        let v = field_value(i);
        s.set_case_fields(
            &own,
            &sets(&[("incident.reference", &v), ("incident.location", &v)]),
        )
        .unwrap();
        trace::mark(format!("fields {i}"));
    };
    for i in 0..edits {
        edit(&mut s, i);
    }
    trace::mark("bundle begun");
    let imported = s.import_bundle(&bundle, BUNDLE_PASSPHRASE).unwrap();
    assert_eq!(imported.created, 1, "{imported:?}");
    trace::mark("bundle");
    let report = sync(&mut s, &mut transport, &SyncOptions::default(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{report:?}");
    trace::mark("sync");
    trace::mark("passphrase begun");
    s.change_passphrase(NEW_PASSPHRASE).unwrap();
    trace::mark("passphrase");
    let erased = pulled[0].clone();
    server
        .service
        .erase_case(&erased, "DPA erasure request DP-0099", "dpo.dee.fictional")
        .unwrap();
    let report = sync(&mut s, &mut transport, &SyncOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(report.erased.len(), 1, "{report:?}");
    trace::mark("purge");
    for i in edits..edits + 3 {
        edit(&mut s, i);
    }
    drop(s);
    trace::mark("closed");
    let events = trace::stop();
    (
        events,
        before,
        Ids {
            own,
            bundled,
            pulled: pulled[1..].to_vec(),
            erased,
        },
    )
}

/// The folder's files as they are, but the WAL's shared-memory index.
fn files_of(dir: &Path) -> Files {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with("-shm") && e.file_type().unwrap().is_file() {
            out.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

/// One crash point to check.
struct Point {
    at: usize,
    how: Crash,
    image: Image,
    acked: Acked,
}

/// Checks the store a crash left; an error says what was wrong.
fn check(point: &Point, ids: &Ids, data_key: &[u8; 32]) -> Result<(), String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (name, content) in &point.image {
        std::fs::write(dir.join(name), content).unwrap();
    }
    // the database as SQLite finds it, before the store touches it
    {
        let conn = rusqlite::Connection::open(dir.join("provide.db")).map_err(|e| e.to_string())?;
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(data_key)))
            .map_err(|e| e.to_string())?;
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| format!("integrity_check failed: {e}"))?;
        if ok != "ok" {
            return Err(format!("integrity_check: {ok}"));
        }
    }
    let a = &point.acked;
    let passphrases: &[&str] = if a.passphrase {
        &[NEW_PASSPHRASE]
    } else if a.passphrase_begun {
        &[PASSPHRASE, NEW_PASSPHRASE]
    } else {
        &[PASSPHRASE]
    };
    // a wrong guess is counted in the slot file: each try starts from the crash's own file
    let slots = dir.join("keyslots.json");
    let slot_file = std::fs::read(&slots).map_err(|e| format!("no key-slot file: {e}"))?;
    let mut opened = None;
    let mut tried = vec![];
    for p in passphrases {
        std::fs::write(&slots, &slot_file).unwrap();
        let mut result = Store::open(dir, p, None);
        // an unlock is counted durably before its passphrase is tried and cleared after: a
        // crash in between leaves one attempt counted, and the next must wait its second
        // (by design: killing the app mid-guess does not avoid the count)
        if let Err(Error::BackingOff(secs)) = result {
            std::thread::sleep(std::time::Duration::from_millis(secs * 1000 + 100));
            result = Store::open(dir, p, None);
        }
        match result {
            Ok(s) => {
                opened = Some(s);
                break;
            }
            Err(e) => tried.push(e.to_string()),
        }
    }
    let mut s = opened.ok_or_else(|| format!("the store did not open: {tried:?}"))?;
    s.audit_verify()
        .map_err(|e| format!("the audit chain does not verify: {e}"))?;
    let view = s
        .show_case(&ids.own)
        .map_err(|e| format!("the device's own case: {e}"))?;
    let notes: HashSet<&str> = view.record.notes.iter().map(|n| n.text.as_str()).collect();
    for i in &a.notes {
        if !notes.contains(note_text(*i).as_str()) {
            return Err(format!("acknowledged note {i} is lost"));
        }
    }
    let (reference, location) = (
        &view.record.incident.reference,
        &view.record.incident.location,
    );
    if reference != location {
        return Err(format!(
            "two fields set together differ: {reference} / {location}"
        ));
    }
    let n = reference
        .strip_prefix("ref-")
        .and_then(|n| n.parse::<usize>().ok());
    if let Some(acked) = a.fields {
        if n.is_none_or(|n| n < acked) {
            return Err(format!(
                "acknowledged field value {acked} is lost (found {reference})"
            ));
        }
    }
    let mut holds = |id: &str| -> Result<bool, String> {
        match s.record_heads(id) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(format!("record {id}: {e}")),
        }
    };
    let count = |ids: &[String], holds: &mut dyn FnMut(&str) -> Result<bool, String>| {
        ids.iter()
            .map(|id| holds(id))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.iter().filter(|h| **h).count())
    };
    let bundled = count(&ids.bundled, &mut holds)?;
    match (bundled, a.bundle_begun, a.bundle) {
        (0, _, false) => {}
        (1, true, _) => {}
        _ => return Err(format!("{bundled} of the bundle's 1 case are here")),
    }
    let pulled = count(&ids.pulled, &mut holds)?;
    let erased = holds(&ids.erased)?;
    match (pulled, a.sync) {
        (0, false) | (2, _) => {}
        _ => return Err(format!("{pulled} of the sync's 2 kept cases are here")),
    }
    if erased && (pulled == 0 || a.purge) {
        return Err("the erased case is here after its purge, or without its sync".into());
    }
    if a.sync && !a.passphrase && !erased {
        return Err("the erased case went before it was erased".into());
    }
    Ok(())
}

#[test]
fn every_crash_point_leaves_a_store_that_opens_whole() {
    if std::env::var_os("PROVIDE_TEST_DATABASE_URL").is_some() {
        eprintln!("the device store's crash points do not depend on the server's backend: run in the SQLite pass");
        return;
    }
    let target: usize = env("PROVIDE_CRASH_POINTS", 1000);
    let edits: usize = env("PROVIDE_CRASH_EDITS", 12);
    let seed: u64 = env("PROVIDE_CRASH_SEED", rand::random());
    eprintln!("crash points: seed {seed} (PROVIDE_CRASH_SEED), at least {target} points, {edits} edit pairs");
    let (events, before, ids) = record_workload(edits);
    let data_key = {
        // the data key never changes: the checks open the raw database with it
        let tmp = tempfile::tempdir().unwrap();
        for (n, c) in &before {
            std::fs::write(tmp.path().join(n), c).unwrap();
        }
        let (_, key) = KeySlots::load(tmp.path())
            .unwrap()
            .unlock(PASSPHRASE, None)
            .unwrap();
        let mut k = [0u8; 32];
        k.copy_from_slice(key.as_ref());
        k
    };
    let kinds = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    eprintln!(
        "recorded {} operations: {} writes, {} fsyncs, {} truncations, {} renames, {} folder fsyncs",
        events.len(),
        kinds(&|e| matches!(e, Event::Write { .. })),
        kinds(&|e| matches!(e, Event::Sync { .. })),
        kinds(&|e| matches!(e, Event::Truncate { .. })),
        kinds(&|e| matches!(e, Event::Rename { .. })),
        kinds(&|e| matches!(e, Event::SyncFolder)),
    );
    assert!(
        kinds(&|e| matches!(e, Event::Rename { .. })) >= 1,
        "the key-slot file's replacement was recorded"
    );

    // pass 1: the boundaries and how much could be lost at each
    let mut disk = Disk::from_files(before.clone());
    let mut boundaries = vec![];
    for (i, e) in events.iter().enumerate() {
        if e.is_boundary() {
            boundaries.push((i, disk.unsynced()));
        }
        disk.replay(e);
    }
    boundaries.push((events.len(), disk.unsynced()));
    // each boundary gets power-lost and process-killed; the torn states are shared out
    // among the boundaries with unsynced writes, more to those with more of them
    let fixed: usize = boundaries.iter().map(|b| if b.1 > 0 { 2 } else { 1 }).sum();
    let weight: usize = boundaries.iter().map(|b| b.1.min(64)).sum::<usize>().max(1);
    // a small margin: a window with few unsynced writes runs out of distinct states
    let extra = (target + target / 32).saturating_sub(fixed);
    let torn_quota: Vec<usize> = boundaries
        .iter()
        .map(|b| (extra * b.1.min(64)).div_ceil(weight))
        .collect();

    // pass 2: rebuild and check, on every core
    let mut rng = StdRng::seed_from_u64(seed);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let (tx, rx) = mpsc::sync_channel::<Point>(workers * 2);
    let rx = Arc::new(Mutex::new(rx));
    let failures: Mutex<Vec<String>> = Mutex::new(vec![]);
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let mut counts = [0usize; 3];
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let rx = rx.clone();
            let (ids, failures, checked) = (&ids, &failures, &checked);
            scope.spawn(move || loop {
                let point = match rx.lock().unwrap().recv() {
                    Ok(p) => p,
                    Err(_) => return,
                };
                checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Err(e) = check(&point, ids, &data_key) {
                    failures.lock().unwrap().push(format!(
                        "crash before operation {} ({:?}): {e}",
                        point.at, point.how
                    ));
                }
            });
        }
        let mut disk = Disk::from_files(before.clone());
        let mut acked = Acked::default();
        let mut b = 0;
        let mut carried = 0;
        for i in 0..=events.len() {
            if b < boundaries.len() && boundaries[b].0 == i {
                let mut seen = HashSet::new();
                let mut send = |how: Crash, image: Image| {
                    if seen.insert(fingerprint(&image)) {
                        counts[how as usize] += 1;
                        tx.send(Point {
                            at: i,
                            how,
                            image,
                            acked: acked.clone(),
                        })
                        .unwrap();
                        true
                    } else {
                        false
                    }
                };
                send(Crash::PowerLost, disk.crash(Crash::PowerLost, &mut rng));
                send(
                    Crash::ProcessKilled,
                    disk.crash(Crash::ProcessKilled, &mut rng),
                );
                // what a boundary could not make (too few distinct states) passes to the next
                let quota = torn_quota[b] + carried;
                let (mut made, mut tries) = (0, 0);
                while made < quota && tries < quota * 4 {
                    tries += 1;
                    if send(Crash::Torn, disk.crash(Crash::Torn, &mut rng)) {
                        made += 1;
                    }
                }
                carried = if disk.unsynced() > 0 {
                    quota - made
                } else {
                    carried
                };
                b += 1;
            }
            if let Some(e) = events.get(i) {
                if let Event::Mark(m) = e {
                    acked.take(m);
                }
                disk.replay(e);
            }
        }
        drop(tx);
    });
    let failures = failures.into_inner().unwrap();
    let total: usize = counts.iter().sum();
    eprintln!(
        "{total} distinct crash states checked at {} fsync boundaries: {} power lost, {} process killed, {} torn or partly written; {} failed",
        boundaries.len(),
        counts[Crash::PowerLost as usize],
        counts[Crash::ProcessKilled as usize],
        counts[Crash::Torn as usize],
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} crash points failed, first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        total >= target,
        "only {total} distinct crash states of the {target} asked for"
    );
}
