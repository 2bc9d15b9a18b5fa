//! What the app's background thread does on each tick: lock the store once the window has been
//! idle too long, and decide when to sync. It syncs every `interval` while the server answers,
//! soon after a local change, and while the server cannot be reached it retries with
//! exponential back-off and jitter (capped at `max_retry`), so sync starts by itself shortly
//! after signal returns. A busy server (503 with `Retry-After`) is left alone at least as long
//! as it asked. A refusal (revoked, bad request) waits a full interval, and so does a server
//! whose certificate is not trusted: a security problem, not a dead spot to retry quickly. A
//! server that no longer speaks this app's protocol (or not yet) is not called again by
//! itself: only an update changes that answer (the user may still press Sync).

use std::time::{Duration, Instant};

use super::App;
use crate::error::{Error, Result};
use crate::sync::auto::{after_busy, Backoff};
use crate::sync::SyncReport;

/// What the shell should do after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    Nothing,
    /// The idle lock just locked the store: show the lock screen.
    Locked,
    /// A sync is due: run `App::sync_now`, then report it with `Scheduler::after_sync`.
    SyncDue,
    /// A sync with the paired partner's device is due: run `App::peer_sync_now`, then report it
    /// with `Scheduler::after_peer_sync`.
    PeerSyncDue,
}

pub struct Scheduler {
    interval: Duration,
    soon: Duration,
    backoff: Backoff,
    next_sync: Instant,
    /// No sync before this, not even after a local change: what a busy server asked for.
    not_before: Instant,
    /// The next sync with the partner's device, while paired.
    next_peer_sync: Instant,
}

impl Scheduler {
    pub fn new(interval: Duration, max_retry: Duration, now: Instant) -> Self {
        Scheduler {
            interval,
            soon: Duration::from_secs(2),
            backoff: Backoff::new(Duration::from_secs(2), max_retry),
            next_sync: now,
            not_before: now,
            next_peer_sync: now,
        }
    }

    /// How long the app waits by itself after the server refused its protocol version: a day,
    /// so a device left running for a shift asks once more, not every 30 seconds.
    pub const AFTER_VERSION_REFUSAL: Duration = Duration::from_secs(24 * 3600);

    /// The app's defaults: every 30 s, retries up to a minute apart.
    pub fn standard(now: Instant) -> Self {
        Scheduler::new(Duration::from_secs(30), Duration::from_secs(60), now)
    }

    pub fn tick(&mut self, app: &App, now: Instant) -> Tick {
        if app.lock_if_idle() {
            return Tick::Locked;
        }
        if app.is_unlocked() && now >= self.next_sync {
            return Tick::SyncDue;
        }
        if app.is_unlocked() && now >= self.next_peer_sync && app.peer_partner_known() {
            return Tick::PeerSyncDue;
        }
        Tick::Nothing
    }

    /// How often the pair's devices sync while the partner answers, and how soon to try again
    /// while it does not (out of the car, or its app locked).
    pub const PEER_INTERVAL: Duration = Duration::from_secs(30);
    pub const PEER_RETRY: Duration = Duration::from_secs(15);

    pub fn after_peer_sync(&mut self, result: &Result<crate::peer::PeerReport>, now: Instant) {
        self.next_peer_sync = now
            + match result {
                Ok(_) => Self::PEER_INTERVAL,
                Err(Error::PeerUnreachable(_)) => Self::PEER_RETRY,
                // refused (the pairing ended on the other side, a certificate expired): not
                // every few seconds; the Shift screen says why
                Err(_) => Self::PEER_INTERVAL * 4,
            };
    }

    pub fn after_sync(&mut self, result: &Result<SyncReport>, now: Instant) {
        self.next_sync = now
            + match result {
                Ok(_) => {
                    self.backoff.reset();
                    self.not_before = now;
                    self.interval
                }
                Err(Error::Unreachable(_)) => self.backoff.next_delay(),
                Err(Error::ServerBusy { retry_after_secs }) => {
                    let wait = after_busy(&mut self.backoff, *retry_after_secs);
                    self.not_before = now + Duration::from_secs(*retry_after_secs);
                    wait
                }
                Err(Error::SyncBusy) => self.soon,
                Err(Error::UpdateRequired { .. } | Error::ServerOutdated { .. }) => {
                    self.not_before = now + Self::AFTER_VERSION_REFUSAL;
                    Self::AFTER_VERSION_REFUSAL
                }
                // a certificate not trusted is no dead spot: no quick retries, only the
                // interval (the warning stays on screen until a sync succeeds)
                Err(Error::UntrustedServer(_)) => self.interval,
                Err(_) => self.interval,
            };
    }

    /// A local change was made: send it soon rather than at the next interval (to the server,
    /// and to the partner's device).
    pub fn nudge(&mut self, now: Instant) {
        self.next_sync = self.next_sync.min(now + self.soon).max(self.not_before);
        self.next_peer_sync = self.next_peer_sync.min(now + self.soon);
    }

    /// When the next sync is due.
    pub fn next_sync(&self) -> Instant {
        self.next_sync
    }
}
