//! Syncing by itself: retry with exponential backoff and jitter while the server cannot be
//! reached, and sync as soon as it can. The app shell runs this on a background thread; the
//! command line runs it for `provide sync --wait`.
//!
//! Only "unreachable" and "busy" are retried; a busy server's `Retry-After` is waited at
//! least. A refusal by the server (revoked, bad credential, a bad
//! request) is an answer, and is reported at once. Each failed attempt halves the size of the
//! requests and pages that follow (down to `SyncOptions::MIN_CHUNK`): on a link that keeps
//! breaking, smaller exchanges still get through and each break costs less.

use std::time::{Duration, Instant};

use rand::Rng;

use super::client::{sync, Progress, SyncOptions, SyncReport};
use super::transport::Transport;
use crate::error::{Error, Result};
use crate::store::Store;

/// Delays between attempts: `base`, doubling up to `max`, each with up to 25 % jitter so a
/// fleet of cars coming back into signal together do not all call at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = rand::thread_rng().gen_range(0.0..0.25);
        exp.mul_f64(1.0 - jitter)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_secs(2), Duration::from_secs(300))
    }
}

/// Syncs, retrying with `backoff` while the server is unreachable, until `give_up_after`.
/// Returns the report of the sync that succeeded, and how many attempts failed before it.
pub fn sync_when_reachable(
    store: &mut Store,
    transport: &mut dyn Transport,
    opts: &SyncOptions,
    backoff: &mut Backoff,
    give_up_after: Duration,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(SyncReport, u32)> {
    let start = Instant::now();
    let mut failures = 0;
    let mut opts = *opts;
    loop {
        match sync(store, transport, &opts, progress) {
            Ok(report) => {
                backoff.reset();
                return Ok((report, failures));
            }
            Err(Error::Unreachable(why)) => {
                failures += 1;
                opts = opts.shrunk();
                let delay = backoff.next_delay();
                if start.elapsed() + delay > give_up_after {
                    return Err(Error::Unreachable(why));
                }
                std::thread::sleep(delay);
            }
            Err(Error::ServerBusy { retry_after_secs }) => {
                // an answer, not a broken link: the exchanges keep their size
                failures += 1;
                let delay = after_busy(backoff, retry_after_secs);
                if start.elapsed() + delay > give_up_after {
                    return Err(Error::ServerBusy { retry_after_secs });
                }
                std::thread::sleep(delay);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The wait after a busy answer: the back-off's next delay, and at least what the server asked.
pub fn after_busy(backoff: &mut Backoff, retry_after_secs: u64) -> Duration {
    backoff
        .next_delay()
        .max(Duration::from_secs(retry_after_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_halves_the_exchanges_down_to_a_floor() {
        let o = SyncOptions::default().shrunk();
        let d = SyncOptions::default();
        assert_eq!(o.max_upload_bytes, d.max_upload_bytes / 2);
        assert_eq!(o.max_response_bytes, d.max_response_bytes / 2);
        let mut o = d;
        for _ in 0..40 {
            o = o.shrunk();
        }
        assert_eq!(o.max_upload_bytes, SyncOptions::MIN_CHUNK);
        assert_eq!(o.max_response_bytes, SyncOptions::MIN_CHUNK as u64);
        assert_eq!(o.max_round_trips, d.max_round_trips);
    }

    #[test]
    fn a_busy_server_is_given_at_least_its_retry_after() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(after_busy(&mut b, 30), Duration::from_secs(30));
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        assert!(after_busy(&mut b, 1) >= Duration::from_secs(45));
    }

    #[test]
    fn backoff_doubles_to_its_ceiling_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let full = Duration::from_millis((100u64 << i).min(1000));
            assert!(*d <= full && *d >= full.mul_f64(0.75), "{i}: {d:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
