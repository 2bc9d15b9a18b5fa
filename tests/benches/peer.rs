//! `make bench` — the pair syncing in the car (issue 18): the officer's and the IDVA's devices
//! over mutual TLS through the link shaper set to a car's local Wi-Fi (20 Mbit/s each way,
//! 5 ms round trip, `car-wifi`), with no server involved. Prints time, frames' bytes both ways
//! and what passed; never passes or fails. Beside it, the same 5 cases over the server's HTTP
//! protocol on the same link (upload by one, download by the other), the path they would take
//! with signal.
//!
//! Rows: a shift's 5 new cases made by the IDVA (DASH, notes, referrals, safety plan), the
//! first session of the shift (pairing included); one note added on each side; a session with
//! nothing new.

use std::time::Instant;

use provide_core::peer::{session, Listener, PeerReport};
use provide_core::sync::transport::HttpTransport;
use provide_core::sync::{sync, SyncOptions};
use provide_tests::shaper::{Counts, Profile, Shaper};
use provide_tests::workload::shift_case;
use provide_tests::{note, Device, TestServer};

fn row(
    name: &str,
    ms: f64,
    (up, down): (u64, u64),
    (sent, received): (usize, usize),
    trips: u32,
    wire: Option<(u64, u64)>,
) {
    let wire = wire.map_or("-".to_string(), |(u, d)| format!("{u} / {d}"));
    println!(
        "| {name:<52} | {ms:>8.1} | {up:>9} | {down:>10} | {sent:>4} | {received:>4} | {trips:>5} | {wire:>15} |"
    );
}

/// One session through the shaper: the IDVA listens, the officer dials.
fn session_over(
    listener: Listener,
    mut idva: Device,
    officer: &mut Device,
    addr: &str,
    code: Option<&str>,
) -> (Listener, Device, PeerReport, f64) {
    let serving = std::thread::spawn(move || {
        let mut listener = listener;
        let r = listener.serve_one(&mut idva.store);
        (listener, idva, r)
    });
    let t = Instant::now();
    let report = session::dial(&mut officer.store, addr, code).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let (listener, idva, served) = serving.join().unwrap();
    served.unwrap();
    (listener, idva, report, ms)
}

fn main() {
    let profile = Profile::named("car-wifi").expect("the car's Wi-Fi profile");
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "pc.bench.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.bench.fictional", "idva", "west", "t1");
    // with signal, the cases would reach this officer's device through the server
    let mut by_server = Device::enrol(&server, "pc.bench2.fictional", "officer", "west", "t1");
    for d in [&mut officer, &mut idva, &mut by_server] {
        d.sync().unwrap();
    }
    let ids: Vec<String> = (0..5).map(|n| shift_case(&mut idva.store, n)).collect();

    let listener = Listener::bind(&idva.store, "127.0.0.1:0").unwrap();
    let code = listener.code().to_string();
    let shaped = Shaper::start(listener.local_addr().unwrap(), profile.clone(), 7);
    let addr = shaped.addr.to_string();
    println!(
        "\nThe pair in the car: {} ({} bit/s each way, {} ms round trip), no server involved\n",
        profile.name,
        profile.bits_per_second,
        profile.rtt.as_millis()
    );
    header();
    let first = shaped.counts();
    let (listener, idva, r, ms) = session_over(listener, idva, &mut officer, &addr, Some(&code));
    peer_row(
        "a shift's 5 cases, IDVA to officer (pairing included)",
        ms,
        &r,
        &shaped,
        first,
    );
    let mut idva = idva;
    idva.store
        .add_case_item(&ids[0], "notes", &note("idva: follow-up call booked"))
        .unwrap();
    officer
        .store
        .add_case_item(&ids[1], "notes", &note("officer: neighbour spoken to"))
        .unwrap();
    let before = shaped.counts();
    let (listener, idva, r, ms) = session_over(listener, idva, &mut officer, &addr, None);
    peer_row("one note on each side", ms, &r, &shaped, before);
    let before = shaped.counts();
    let (_, mut idva, r, ms) = session_over(listener, idva, &mut officer, &addr, None);
    peer_row("nothing new", ms, &r, &shaped, before);

    println!("\nThe same cases through the server over the same link (HTTP bodies)\n");
    header();
    let shaped_server = Shaper::start(server.addr(), profile, 11);
    let opts = SyncOptions::default();
    let mut link = HttpTransport::new(&shaped_server.url(), None).unwrap();
    let t = Instant::now();
    let up = sync(&mut idva.store, &mut link, &opts, &mut |_| {}).unwrap();
    row(
        "upload by the IDVA",
        t.elapsed().as_secs_f64() * 1000.0,
        (up.bytes_up, up.bytes_down),
        (up.docs_sent, up.docs_received),
        up.round_trips,
        None,
    );
    let mut link = HttpTransport::new(&shaped_server.url(), None).unwrap();
    let t = Instant::now();
    let down = sync(&mut by_server.store, &mut link, &opts, &mut |_| {}).unwrap();
    row(
        "download by an officer's device",
        t.elapsed().as_secs_f64() * 1000.0,
        (down.bytes_up, down.bytes_down),
        (down.docs_sent, down.docs_received),
        down.round_trips,
        None,
    );
}

fn header() {
    println!(
        "| {:<52} | {:>8} | {:>9} | {:>10} | {:>4} | {:>4} | {:>5} | {:>15} |",
        "scenario", "ms", "bytes up", "bytes down", "sent", "recv", "trips", "wire up / down"
    );
    println!("|{}|", "-".repeat(127));
}

/// A session's row: its frames' bytes, and what crossed the shaped link (TLS records and
/// handshake, certificates included), from the shaper's counts since `before`.
fn peer_row(name: &str, ms: f64, r: &PeerReport, shaper: &Shaper, before: Counts) {
    let now = shaper.counts();
    row(
        name,
        ms,
        (r.bytes_up, r.bytes_down),
        (r.records_sent, r.records_received),
        r.round_trips,
        Some((
            now.bytes_up - before.bytes_up,
            now.bytes_down - before.bytes_down,
        )),
    );
}
