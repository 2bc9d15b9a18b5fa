//! The link shaper of the benchmarks: a TCP proxy on loopback between a device and a server
//! that makes the link behave like a mobile network, driven by named profiles (`2g`, `3g`,
//! `4g`, `flaky`). Both the Provide protocol and the stock-Automerge baseline go through it,
//! so their numbers differ only by protocol.
//!
//! The model, per direction of each connection (`Lane`), for the TCP byte stream:
//! - **Bandwidth**: data is cut into segments of `MSS` bytes, each charged `HEADER_BYTES` of
//!   TCP/IP headers on the wire; a segment's transmission starts when the previous one has
//!   left (a token bucket with no burst allowance) and takes its wire size over the bit rate.
//! - **Latency**: a segment arrives half a round trip after its transmission ends, plus a
//!   uniform jitter of up to `jitter`. A new connection's first upward byte waits one round
//!   trip more (the SYN / SYN-ACK handshake).
//! - **Loss**: a lost segment is not lost to the application, since TCP recovers it: it is
//!   sent again (charged to the bandwidth a second time) and arrives late. If three or more
//!   segments follow it in the same burst, the duplicate ACKs trigger a fast retransmit one
//!   round trip later; otherwise (the tail of a message, the common case for sync messages)
//!   the retransmission waits for the timer, `max(2 x RTT, 200 ms)`.
//! - **Reordering** cannot reach the application either: TCP delivers in order, so segments
//!   overtaken by a later one (jitter, retransmission) hold back everything behind them
//!   (head-of-line blocking), which is what a reordering link costs a TCP user.
//! - **Cuts**: `flaky` cuts every open connection every few seconds (both sockets closed at
//!   once, mid-message if one is in flight); `Shaper::cut_now` does it on demand.
//!
//! Not modelled: slow start and congestion control (a connection gets the full rate at once),
//! ACK traffic in the reverse direction, and queueing loss. All of these only make real links
//! slower, for both protocols alike. Random draws come from seeded generators, so a run
//! replays exactly, up to the host's own timing.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// TCP payload per segment (a 1500-byte MTU less IPv4, TCP and timestamp headers).
pub const MSS: usize = 1448;
/// Header bytes each segment costs on the wire.
pub const HEADER_BYTES: usize = 52;
/// The least retransmission timeout (Linux's).
pub const MIN_RTO: Duration = Duration::from_millis(200);

/// A link's character.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// Each direction's rate.
    pub bits_per_second: u64,
    pub rtt: Duration,
    /// Probability that a segment is lost (and retransmitted).
    pub loss: f64,
    /// Up to this much extra one-way delay per segment.
    pub jitter: Duration,
    /// Every open connection is cut after a pause drawn from this range, again and again.
    pub cuts: Option<(Duration, Duration)>,
}

impl Profile {
    /// The named profiles of the benchmark tables.
    pub const NAMES: [&'static str; 4] = ["2g", "3g", "4g", "flaky"];

    pub fn named(name: &str) -> Option<Profile> {
        let p = |bps: u64, rtt_ms: u64, loss: f64, jitter_ms: u64| Profile {
            name: name.to_string(),
            bits_per_second: bps,
            rtt: Duration::from_millis(rtt_ms),
            loss,
            jitter: Duration::from_millis(jitter_ms),
            cuts: None,
        };
        Some(match name {
            "2g" => p(50_000, 600, 0.02, 40),
            "3g" => p(400_000, 300, 0.01, 20),
            "4g" => p(5_000_000, 80, 0.0, 5),
            // the car's own Wi-Fi or a phone's hotspot, between the pair's devices
            "car-wifi" => p(20_000_000, 5, 0.0, 1),
            "flaky" => Profile {
                cuts: Some((Duration::from_secs(3), Duration::from_secs(6))),
                ..p(400_000, 300, 0.01, 20)
            },
            _ => return None,
        })
    }

    /// How long `bytes` take to leave at this link's rate.
    pub fn transmit(&self, bytes: usize) -> Duration {
        let nanos = bytes as u128 * 8 * 1_000_000_000 / u128::from(self.bits_per_second.max(1));
        Duration::from_nanos(nanos as u64)
    }

    /// How late a lost segment arrives: a fast retransmit after one round trip when enough
    /// segments follow it to raise three duplicate ACKs, else the retransmission timer.
    pub fn loss_penalty(&self, segments_after: usize) -> Duration {
        if segments_after >= 3 {
            self.rtt
        } else {
            (self.rtt * 2).max(MIN_RTO)
        }
    }
}

/// One segment as scheduled: which bytes of the burst, when they reach the far side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub bytes: Range<usize>,
    pub deliver_at: Instant,
    pub lost: bool,
}

/// One direction of a connection: when the link is next free, the last delivery (TCP delivers
/// in order), and the random draws. Pure arithmetic on instants, so it is tested exactly.
pub struct Lane {
    profile: Profile,
    free_at: Instant,
    last_delivery: Instant,
    rng: StdRng,
}

impl Lane {
    /// A lane whose first byte may leave at `open_at`.
    pub fn new(profile: Profile, open_at: Instant, seed: u64) -> Self {
        Lane {
            profile,
            free_at: open_at,
            last_delivery: open_at,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Schedules `len` bytes read at `now`, segment by segment.
    pub fn schedule(&mut self, now: Instant, len: usize) -> Vec<Segment> {
        let p = &self.profile;
        let count = len.div_ceil(MSS);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let bytes = i * MSS..((i + 1) * MSS).min(len);
            let wire = p.transmit(bytes.len() + HEADER_BYTES);
            self.free_at = self.free_at.max(now) + wire;
            let mut arrival = self.free_at + p.rtt / 2;
            if !p.jitter.is_zero() {
                arrival += p.jitter.mul_f64(self.rng.gen_range(0.0..1.0));
            }
            let lost = p.loss > 0.0 && self.rng.gen_bool(p.loss.min(1.0));
            if lost {
                // sent again: it costs the link a second time and arrives late
                self.free_at += wire;
                arrival += p.loss_penalty(count - i - 1) + wire;
            }
            self.last_delivery = self.last_delivery.max(arrival);
            out.push(Segment {
                bytes,
                deliver_at: self.last_delivery,
                lost,
            });
        }
        out
    }
}

/// What the shaper has seen, counted as it happens.
#[derive(Debug, Default)]
pub struct Stats {
    /// Payload bytes handed to the server's socket, and to the client's.
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    pub segments: AtomicU64,
    pub segments_lost: AtomicU64,
    pub connections: AtomicU64,
    /// Connections that were open when a cut came.
    pub connections_cut: AtomicU64,
    pub cut_events: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub segments: u64,
    pub segments_lost: u64,
    pub connections: u64,
    pub connections_cut: u64,
    pub cut_events: u64,
}

impl Stats {
    pub fn counts(&self) -> Counts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            bytes_up: g(&self.bytes_up),
            bytes_down: g(&self.bytes_down),
            segments: g(&self.segments),
            segments_lost: g(&self.segments_lost),
            connections: g(&self.connections),
            connections_cut: g(&self.connections_cut),
            cut_events: g(&self.cut_events),
        }
    }
}

/// The proxy: listens on a loopback port and forwards every connection to `upstream` through
/// the profile's link.
pub struct Shaper {
    pub addr: SocketAddr,
    pub profile: Profile,
    pub stats: Arc<Stats>,
    cut: watch::Sender<u64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Shaper {
    pub fn start(upstream: SocketAddr, profile: Profile, seed: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shaper")
            .enable_all()
            .build()
            .expect("a runtime for the shaper");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let stats = Arc::new(Stats::default());
        let (cut, _) = watch::channel(0u64);
        if let Some((lo, hi)) = profile.cuts {
            let (cut, stats) = (cut.clone(), stats.clone());
            runtime.spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed ^ 0xC075);
                loop {
                    tokio::time::sleep(rng.gen_range(lo..=hi)).await;
                    stats.cut_events.fetch_add(1, Ordering::Relaxed);
                    cut.send_modify(|n| *n += 1);
                }
            });
        }
        let (p, st, c) = (profile.clone(), stats.clone(), cut.clone());
        runtime.spawn(async move {
            let mut n = 0u64;
            while let Ok((client, _)) = listener.accept().await {
                n += 1;
                st.connections.fetch_add(1, Ordering::Relaxed);
                let cut = c.subscribe();
                tokio::spawn(connection(
                    client,
                    upstream,
                    p.clone(),
                    seed.wrapping_add(n.wrapping_mul(0x9E37_79B9)),
                    st.clone(),
                    cut,
                ));
            }
        });
        Shaper {
            addr,
            profile,
            stats,
            cut,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every connection open now.
    pub fn cut_now(&self) {
        self.stats.cut_events.fetch_add(1, Ordering::Relaxed);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn counts(&self) -> Counts {
        self.stats.counts()
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    profile: Profile,
    seed: u64,
    stats: Arc<Stats>,
    mut cut: watch::Receiver<u64>,
) {
    let opened = Instant::now();
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // the handshake costs the client a round trip before its first byte can leave
    let up = Lane::new(profile.clone(), opened + profile.rtt, seed);
    let down = Lane::new(profile, opened, seed ^ 0xD0);
    let forward = async {
        tokio::join!(
            pump(cr, sw, up, &stats, &stats.bytes_up),
            pump(sr, cw, down, &stats, &stats.bytes_down)
        )
    };
    tokio::select! {
        _ = forward => {}
        _ = cut.changed() => {
            // dropping the halves closes both sockets, whatever was in flight
            stats.connections_cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Forwards one direction: reads as the sender writes, delivers each segment at its time.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut lane: Lane,
    stats: &Stats,
    delivered: &AtomicU64,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for s in lane.schedule(Instant::now(), n) {
                stats.segments.fetch_add(1, Ordering::Relaxed);
                if s.lost {
                    stats.segments_lost.fetch_add(1, Ordering::Relaxed);
                }
                if tx.send((s.deliver_at, buf[s.bytes].to_vec())).is_err() {
                    return;
                }
            }
        }
    };
    let write = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            // counted as handed over, so a reader that has the bytes sees them counted
            delivered.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        // the sender finished: pass the end of stream on, after the last byte
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(bps: u64, rtt_ms: u64) -> Profile {
        Profile {
            name: "test".into(),
            bits_per_second: bps,
            rtt: Duration::from_millis(rtt_ms),
            loss: 0.0,
            jitter: Duration::ZERO,
            cuts: None,
        }
    }

    #[test]
    fn named_profiles_carry_the_issue_figures() {
        let g2 = Profile::named("2g").unwrap();
        assert_eq!(
            (g2.bits_per_second, g2.rtt, g2.loss),
            (50_000, Duration::from_millis(600), 0.02)
        );
        let g3 = Profile::named("3g").unwrap();
        assert_eq!((g3.bits_per_second, g3.loss), (400_000, 0.01));
        assert_eq!(Profile::named("4g").unwrap().rtt, Duration::from_millis(80));
        let flaky = Profile::named("flaky").unwrap();
        assert!(flaky.cuts.is_some());
        assert_eq!(
            Profile {
                cuts: None,
                name: "3g".into(),
                ..flaky
            },
            g3
        );
        assert!(Profile::named("5g").is_none());
    }

    #[test]
    fn a_segment_takes_its_wire_time_plus_half_the_round_trip() {
        // 8,000 bit/s: one byte per millisecond
        let p = plain(8_000, 200);
        let t0 = Instant::now();
        let mut lane = Lane::new(p, t0, 1);
        let segs = lane.schedule(t0, 100);
        assert_eq!(segs.len(), 1);
        assert_eq!(
            segs[0].deliver_at,
            t0 + Duration::from_millis(100 + HEADER_BYTES as u64 + 100)
        );
    }

    #[test]
    fn bursts_are_serialised_at_the_link_rate_and_split_into_segments() {
        let p = plain(8_000, 0);
        let t0 = Instant::now();
        let mut lane = Lane::new(p, t0, 1);
        let segs = lane.schedule(t0, 3 * MSS + 10);
        assert_eq!(segs.len(), 4);
        assert_eq!(segs[3].bytes, 3 * MSS..3 * MSS + 10);
        let wire = (3 * (MSS + HEADER_BYTES) + 10 + HEADER_BYTES) as u64;
        assert_eq!(segs[3].deliver_at, t0 + Duration::from_millis(wire));
        // a second burst read at once queues behind the first
        let next = lane.schedule(t0, 10);
        assert_eq!(
            next[0].deliver_at,
            t0 + Duration::from_millis(wire + 10 + HEADER_BYTES as u64)
        );
        // an idle link starts afresh
        let later = t0 + Duration::from_secs(60);
        let seg = lane.schedule(later, 10);
        assert_eq!(
            seg[0].deliver_at,
            later + Duration::from_millis(10 + HEADER_BYTES as u64)
        );
    }

    #[test]
    fn a_lost_segment_costs_a_retransmission_and_holds_back_what_follows() {
        let p = Profile {
            loss: 1.0,
            ..plain(8_000_000, 100)
        };
        let t0 = Instant::now();
        let mut lane = Lane::new(p.clone(), t0, 1);
        let segs = lane.schedule(t0, 5 * MSS);
        assert!(segs.iter().all(|s| s.lost));
        // the first has three or more behind it: fast retransmit, one round trip late
        let wire = p.transmit(MSS + HEADER_BYTES);
        assert_eq!(
            segs[0].deliver_at,
            t0 + wire + Duration::from_millis(50) + Duration::from_millis(100) + wire
        );
        // the tail waits for the timer
        assert_eq!(p.loss_penalty(0), Duration::from_millis(200));
        assert!(segs[4].deliver_at >= t0 + Duration::from_millis(50 + 200));
        // in order, always
        assert!(segs.windows(2).all(|w| w[0].deliver_at <= w[1].deliver_at));
    }

    #[test]
    fn jitter_never_reorders_delivery() {
        let p = Profile {
            jitter: Duration::from_millis(500),
            loss: 0.3,
            ..plain(10_000_000, 20)
        };
        let t0 = Instant::now();
        let mut lane = Lane::new(p, t0, 7);
        let segs = lane.schedule(t0, 200 * MSS);
        assert!(segs.iter().any(|s| s.lost) && segs.iter().any(|s| !s.lost));
        assert!(segs.windows(2).all(|w| w[0].deliver_at <= w[1].deliver_at));
        assert!(segs[0].deliver_at >= t0 + Duration::from_millis(10));
    }
}
