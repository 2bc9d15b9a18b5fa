//! The link shaper of the sync tests: faults between a device and the server.
//!
//! - `CuttingProxy`: a real TCP proxy on loopback that cuts connections at random byte
//!   offsets, in either direction, and delays data, so requests arrive torn or not at all and
//!   answers are cut off mid-body.
//! - `ShakyTransport`: wraps the device's transport; an answer may be lost after the server
//!   acted on the request, delayed, or swapped for an older answer held back (reordering).
//!
//! Every fault is drawn from a seeded generator, so a failing case replays exactly.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use provide_core::sync::transport::Transport;
use provide_core::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How often the proxy cuts, and how much it delays.
#[derive(Debug, Clone, Copy)]
pub struct CutPlan {
    /// Probability that a connection is cut at some point.
    pub cut_probability: f64,
    /// A cut happens within this many bytes of the connection's start (either direction).
    pub cut_within_bytes: usize,
    /// Up to this much delay before each forwarded piece of data.
    pub max_delay_ms: u64,
}

pub struct CuttingProxy {
    pub addr: SocketAddr,
    pub cuts: Arc<AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl CuttingProxy {
    pub fn start(upstream: SocketAddr, plan: CutPlan, seed: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
        let cuts = Arc::new(AtomicU64::new(0));
        let counter = cuts.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (cut_up, cut_down, delays) = {
                    let mut r = rng.lock().unwrap();
                    let cut = r.gen_bool(plan.cut_probability);
                    let at = r.gen_range(0..plan.cut_within_bytes.max(1));
                    let upward = r.gen_bool(0.5);
                    let seed = r.gen();
                    (
                        (cut && upward).then_some(at),
                        (cut && !upward).then_some(at),
                        seed,
                    )
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let mut up = tokio::spawn(pump(cr, sw, cut_up, plan.max_delay_ms, delays));
                    let mut down =
                        tokio::spawn(pump(sr, cw, cut_down, plan.max_delay_ms, delays ^ 1));
                    // a cut in either direction ends the whole connection at once
                    let cut = tokio::select! {
                        r = &mut up => {
                            if matches!(r, Ok(true)) { down.abort(); true }
                            else { matches!(down.await, Ok(true)) }
                        }
                        r = &mut down => {
                            if matches!(r, Ok(true)) { up.abort(); true }
                            else { matches!(up.await, Ok(true)) }
                        }
                    };
                    if cut {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        CuttingProxy {
            addr,
            cuts,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Copies one direction; returns whether it cut the connection.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut_at: Option<usize>,
    max_delay_ms: u64,
    seed: u64,
) -> bool {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0usize;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return false;
            }
            Ok(n) => n,
        };
        if max_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=max_delay_ms))).await;
        }
        if let Some(at) = cut_at {
            if sent + n > at {
                let _ = to.write_all(&buf[..at - sent]).await;
                // drop both halves: the peer sees the connection end mid-message
                return true;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
        sent += n;
    }
}

/// How a `ShakyTransport` misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct Shake {
    /// The server acts on the request but its answer never arrives.
    pub drop_probability: f64,
    /// An older answer, held back, is delivered instead of this one.
    pub reorder_probability: f64,
    pub max_delay_ms: u64,
}

pub struct ShakyTransport<T: Transport> {
    inner: T,
    shake: Shake,
    rng: StdRng,
    held_back: Option<Vec<u8>>,
    pub dropped: u64,
    pub reordered: u64,
}

impl<T: Transport> ShakyTransport<T> {
    pub fn new(inner: T, shake: Shake, seed: u64) -> Self {
        ShakyTransport {
            inner,
            shake,
            rng: StdRng::seed_from_u64(seed),
            held_back: None,
            dropped: 0,
            reordered: 0,
        }
    }
}

impl<T: Transport> Transport for ShakyTransport<T> {
    fn post(&mut self, path: &str, body: &[u8], credential: Option<&str>) -> Result<Vec<u8>> {
        let answer = self.inner.post(path, body, credential)?;
        if self.shake.max_delay_ms > 0 {
            let ms = self.rng.gen_range(0..=self.shake.max_delay_ms);
            std::thread::sleep(Duration::from_millis(ms));
        }
        if self.rng.gen_bool(self.shake.drop_probability) {
            self.dropped += 1;
            if self.rng.gen_bool(0.5) {
                self.held_back = Some(answer);
            }
            return Err(Error::Unreachable("the answer was lost".into()));
        }
        if self.rng.gen_bool(self.shake.reorder_probability) {
            if let Some(old) = self.held_back.replace(answer) {
                self.reordered += 1;
                return Ok(old);
            }
            return Err(Error::Unreachable("the answer is late".into()));
        }
        Ok(answer)
    }

    /// Reads (reports, the audit log) are not part of the sync under test: passed through.
    fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        credential: Option<&str>,
    ) -> Result<Vec<u8>> {
        self.inner.get(path, query, credential)
    }

    fn reference_tag(&self) -> Option<String> {
        self.inner.reference_tag()
    }
}
