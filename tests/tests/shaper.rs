//! The link shaper itself (tests/src/shaper.rs): data crosses it intact and in order however
//! lossy and jittery the link, every byte is counted, it never delivers sooner than the
//! profile allows (lower bounds only: a loaded machine can only be slower), cuts end the
//! connections open at the time, and a real device syncing through a link that keeps
//! cutting still converges. The exact timing arithmetic is unit-tested in the module.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use provide_core::sync::auto::{sync_when_reachable, Backoff};
use provide_core::sync::transport::HttpTransport;
use provide_core::sync::SyncOptions;
use provide_tests::shaper::{Profile, Shaper, HEADER_BYTES, MSS};
use provide_tests::workload::shift_case;
use provide_tests::{Device, TestServer};
use rand::{Rng, SeedableRng};

/// A TCP echo server on loopback (each connection on its own thread).
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn profile(bps: u64, rtt_ms: u64, loss: f64, jitter_ms: u64) -> Profile {
    Profile {
        name: "test".into(),
        bits_per_second: bps,
        rtt: Duration::from_millis(rtt_ms),
        loss,
        jitter: Duration::from_millis(jitter_ms),
        cuts: None,
    }
}

/// Sends `data` through the shaper to the echo server and reads it all back.
fn echo_through(shaper: &Shaper, data: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(shaper.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = s.try_clone().unwrap();
    let sent = data.to_vec();
    let w = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).unwrap();
    w.join().unwrap();
    back
}

#[test]
fn data_crosses_a_lossy_jittery_link_intact_in_order_and_counted() {
    let shaper = Shaper::start(echo_server(), profile(20_000_000, 10, 0.2, 30), 11);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let data: Vec<u8> = (0..300_000).map(|_| rng.gen()).collect();
    let back = echo_through(&shaper, &data);
    assert!(back == data, "the data came back changed or out of order");
    let c = shaper.counts();
    assert_eq!(c.bytes_up, data.len() as u64);
    assert_eq!(c.bytes_down, data.len() as u64);
    assert_eq!(c.connections, 1);
    // at least one segment per MSS each way, and a fifth of them lost (and recovered)
    assert!(c.segments >= 2 * (data.len() / MSS) as u64, "{c:?}");
    assert!(c.segments_lost > c.segments / 10, "{c:?}");
}

#[test]
fn an_exchange_never_beats_the_round_trip_and_the_bit_rate() {
    let p = profile(1_000_000, 120, 0.0, 0);
    let shaper = Shaper::start(echo_server(), p.clone(), 1);
    // a small exchange on a new connection: handshake, then there and back
    let t = Instant::now();
    assert_eq!(echo_through(&shaper, b"ping"), b"ping");
    assert!(t.elapsed() >= 2 * p.rtt, "{:?}", t.elapsed());
    // 100 kB each way at 1 Mbit/s: the upload alone needs 0.8 s of wire time
    let data = vec![7u8; 100_000];
    let t = Instant::now();
    assert_eq!(echo_through(&shaper, &data).len(), data.len());
    let wire = p.transmit(data.len() + data.len().div_ceil(MSS) * HEADER_BYTES);
    assert!(
        t.elapsed() >= wire + p.rtt,
        "{:?} < {:?}",
        t.elapsed(),
        wire
    );
}

#[test]
fn a_cut_ends_the_open_connections_and_the_next_one_works() {
    let shaper = Shaper::start(echo_server(), profile(10_000_000, 20, 0.0, 0), 3);
    let mut s = TcpStream::connect(shaper.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    shaper.cut_now();
    // the proxy closed both sockets: the client sees the end (or a reset), not more data
    let mut rest = Vec::new();
    let _ = s.write_all(b"after the cut");
    let read = s.read_to_end(&mut rest);
    assert!(read.is_err() || rest.is_empty(), "{read:?} {rest:?}");
    assert_eq!(echo_through(&shaper, b"again"), b"again");
    let c = shaper.counts();
    assert_eq!((c.cut_events, c.connections_cut, c.connections), (1, 1, 2));
}

#[test]
fn a_device_syncing_through_a_link_that_keeps_cutting_converges() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, "idva.cut.fictional", "idva", "west", "t1");
    let mut partner = Device::enrol(&server, "pc.cut2.fictional", "officer", "west", "t1");
    let ids: Vec<String> = (0..100)
        .map(|n| shift_case(&mut officer.store, n))
        .collect();
    officer.sync().unwrap();
    // 200 kbit/s with a cut every 0.8-1.5 s: one answer with every case (about 45 kB, 1.8 s
    // on the wire at the least) cannot cross whole
    let shaper = Shaper::start(
        server.addr(),
        Profile {
            cuts: Some((Duration::from_millis(800), Duration::from_millis(1500))),
            ..profile(200_000, 60, 0.01, 10)
        },
        9,
    );
    let mut link = HttpTransport::new(&shaper.url(), None).unwrap();
    let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(200));
    let (report, failures) = sync_when_reachable(
        &mut partner.store,
        &mut link,
        &SyncOptions::default(),
        &mut backoff,
        Duration::from_secs(600),
        &mut |_| {},
    )
    .unwrap();
    let c = shaper.counts();
    assert!(c.connections_cut >= 1 && failures >= 1, "{c:?} {failures}");
    assert_eq!(report.unsynced_left, 0);
    // whatever the cuts tore, the partner ends with every case, whole
    for id in &ids {
        assert_eq!(
            partner.store.show_case(id).unwrap().record,
            officer.store.show_case(id).unwrap().record
        );
    }
    assert_eq!(partner.sync().unwrap().docs_received, 0);
}
