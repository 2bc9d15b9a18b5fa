//! What one client may cost the server: the operator's knobs (`Limits`, part of the service's
//! `Config`) and the shared gates that enforce the in-flight caps (`Gates`). Connections and
//! their timers are kept by `listener`, request bodies by `body`, failed credentials by
//! `throttle`; each reads its numbers from here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ServerError;

/// The server's resource limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once. At the cap, the oldest connection that has no request in
    /// progress (a slow or idle one) is closed to make room; if every one is busy, the new one
    /// is closed at once.
    pub max_connections: usize,
    /// Time to send a request's headers (and the TLS handshake before the first). The same
    /// timer closes a kept-alive connection left idle this long.
    pub header_timeout: Duration,
    /// A body must arrive at this average rate (bytes per second) after `body_grace`: its
    /// deadline moves on as bytes arrive, so a slow but live link is served and a trickle is
    /// cut off.
    pub body_min_rate: u64,
    /// The start a body gets before `body_min_rate` applies.
    pub body_grace: Duration,
    /// The most a whole request may take, body, work and answer.
    pub request_timeout: Duration,
    /// Syncs admitted at once (their bodies arriving or their work waiting or running), one
    /// per device; more get 503.
    pub max_syncs_in_flight: usize,
    /// Admitted syncs worked on at once (each on a thread of the blocking pool, with its
    /// decoding memory); the others wait their turn.
    pub sync_workers: usize,
    /// Workers kept apart for syncs whose body is at most `small_body`, so ordinary syncs are
    /// not queued behind a few enormous requests.
    pub small_sync_workers: usize,
    /// Bytes of request bodies held in memory at once (each reserves its declared length, or
    /// the most allowed); more get 503.
    pub max_body_bytes_in_flight: usize,
    /// Bytes kept apart for bodies of at most `small_body` (a device's usual upload is about
    /// 256 KiB), so a few clients sending the largest bodies cannot starve everyone else.
    pub small_body_reserve: usize,
    pub small_body: usize,
    /// The `Retry-After` given with a 503.
    pub retry_after_secs: u64,
    /// The largest body of an unauthenticated request (an enrolment).
    pub max_enrol_bytes: usize,
    /// Failed credentials and enrolment codes: how many in a burst per source or device.
    pub failures_burst: u32,
    /// ... and how often one more is allowed after that.
    pub failure_refill: Duration,
    /// Sources and devices tracked at once; beyond it new ones share one bucket.
    pub max_tracked: usize,
    /// Failed attempts are audited as one entry per source (or device) per window.
    pub audit_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(20),
            // about the worst a 2G (GPRS) link still manages; a device's upload is ~256 KiB
            body_min_rate: 1024,
            body_grace: Duration::from_secs(30),
            request_timeout: Duration::from_secs(15 * 60),
            max_syncs_in_flight: 64,
            sync_workers: 4,
            small_sync_workers: 2,
            max_body_bytes_in_flight: 128 * 1024 * 1024,
            small_body_reserve: 32 * 1024 * 1024,
            small_body: 1024 * 1024,
            retry_after_secs: 5,
            max_enrol_bytes: 4 * 1024,
            failures_burst: 10,
            failure_refill: Duration::from_secs(30),
            max_tracked: 10_000,
            audit_window: Duration::from_secs(60),
        }
    }
}

/// The caps on work in flight, shared by every request.
pub struct Gates {
    limits: Limits,
    syncs: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    small_workers: Arc<Semaphore>,
    body_bytes: Arc<Semaphore>,
    small_body_bytes: Arc<Semaphore>,
}

/// Room held for one request; given back when dropped.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Gates {
    pub fn new(limits: Limits) -> Self {
        let bytes = |n: usize| Arc::new(Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS)));
        Gates {
            limits,
            syncs: Arc::new(Semaphore::new(limits.max_syncs_in_flight.max(1))),
            workers: Arc::new(Semaphore::new(limits.sync_workers.max(1))),
            small_workers: Arc::new(Semaphore::new(limits.small_sync_workers)),
            body_bytes: bytes(limits.max_body_bytes_in_flight),
            small_body_bytes: bytes(limits.small_body_reserve),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn busy(&self) -> ServerError {
        ServerError::Busy(self.limits.retry_after_secs)
    }

    /// Syncs holding a place now.
    pub fn syncs_in_flight(&self) -> usize {
        self.limits
            .max_syncs_in_flight
            .max(1)
            .saturating_sub(self.syncs.available_permits())
    }

    /// A place among the syncs in flight, or `Busy` at once.
    pub fn sync_slot(&self) -> Result<Slot, ServerError> {
        self.syncs
            .clone()
            .try_acquire_owned()
            .map(Slot)
            .map_err(|_| self.busy())
    }

    /// A turn to work, once one of the `sync_workers` is free, or for a body of `bytes` at
    /// most `small_body`, one of the `small_sync_workers`.
    pub async fn worker(&self, bytes: usize) -> Result<Slot, ServerError> {
        let any = self.workers.clone().acquire_owned();
        let permit = if bytes <= self.limits.small_body && self.limits.small_sync_workers > 0 {
            tokio::select! {
                p = any => p,
                p = self.small_workers.clone().acquire_owned() => p,
            }
        } else {
            any.await
        };
        permit
            .map(Slot)
            .map_err(|_| ServerError::Internal("the server is stopping".into()))
    }

    /// Room for a body of up to `bytes` in memory, or `Busy` at once. A small body takes
    /// room from its reserve first.
    pub fn body_room(&self, bytes: usize) -> Result<Slot, ServerError> {
        let n = u32::try_from(bytes.max(1)).map_err(|_| ServerError::TooLarge)?;
        let small = (bytes <= self.limits.small_body)
            .then(|| self.small_body_bytes.clone().try_acquire_many_owned(n).ok())
            .flatten();
        match small {
            Some(permit) => Ok(Slot(permit)),
            None => self
                .body_bytes
                .clone()
                .try_acquire_many_owned(n)
                .map(Slot)
                .map_err(|_| self.busy()),
        }
    }
}
