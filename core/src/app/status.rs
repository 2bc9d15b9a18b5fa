//! What the window shows about the device: the phase (not enrolled, locked, unlocked, wiped)
//! and the always-visible sync status line (offline, syncing with progress, synced at a time,
//! changes waiting, or an error in plain words).

use serde::Serialize;

use crate::crypto::keyslots::KeyProtection;
use crate::error::{Error, Result};
use crate::store::{DevicePolicy, Session, Store};
use crate::sync::{Progress, SyncReport};

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// No store yet: the first-run screen (server address, one-time code, passphrase).
    NotEnrolled,
    /// A store is here and locked. `wait_ms` is the back-off before the next attempt.
    Locked {
        users: Vec<String>,
        failed_attempts: u32,
        #[ts(type = "number")]
        wait_ms: u64,
    },
    Unlocked {
        session: Session,
    },
    /// The data key was destroyed (too many failed attempts, or revoked): enrol again.
    Wiped,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct AppStatus {
    pub phase: Phase,
    pub idle_lock_minutes: u32,
    /// Whether the data key needs the OS keystore as well as the passphrase (`os_keystore`), or
    /// the passphrase alone (`passphrase_only`: no keystore on this platform or none reachable).
    /// Before enrolment: what enrolling now would give.
    pub key_protection: KeyProtection,
    /// How long handed-over and closed cases stay on this device (Settings); `None` while
    /// locked (the policy is kept inside the store).
    pub device_policy: Option<DevicePolicy>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ts_rs::TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Nothing tried since the app was unlocked.
    #[default]
    Idle,
    Syncing {
        progress: Progress,
    },
    Synced {
        at: String,
    },
    /// The server could not be reached; the app tries again by itself.
    Offline {
        message: String,
    },
    /// The server answered with a refusal, or something else failed. `untrusted_server` is a
    /// security problem (the server's certificate is not trusted), shown as one.
    Error {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ts_rs::TS)]
pub struct SyncStatus {
    pub state: SyncState,
    /// Records with changes the server has not acknowledged yet.
    pub waiting: usize,
    /// The last time the server answered.
    pub last_contact: Option<String>,
    /// Out of contact for longer than the server allows: case work waits for a sync.
    pub overdue: bool,
    /// Records the server sent that this device could not use (damaged, of a newer version,
    /// outside its scope), set aside so the rest could sync.
    pub set_aside: usize,
    /// When this device last synced with its partner's device in the car, while paired.
    pub partner_synced_at: Option<String>,
    /// What syncs did on purpose that the user must hear of, in plain words: records erased
    /// at the server (and any unsent edits lost with them), records corrected (rectified) at
    /// the server. Kept until dismissed (at most the newest 20; each is in the audit log too).
    pub notices: Vec<String>,
}

/// The most notices kept.
const MAX_NOTICES: usize = 20;

impl SyncStatus {
    pub(crate) fn for_store(store: &Store) -> Result<Self> {
        let mut s = SyncStatus::default();
        s.refresh(store);
        Ok(s)
    }

    /// Reads the waiting count and the contact times from the store.
    pub(crate) fn refresh(&mut self, store: &Store) {
        if let Ok(n) = store.unsynced_count() {
            self.waiting = n;
        }
        if let Ok(n) = store.set_aside_count() {
            self.set_aside = n;
        }
        if let Ok(c) = store.contact_status() {
            self.last_contact = c.last_contact;
            self.overdue = c.overdue;
        }
        if let Ok(p) = store.pairing() {
            self.partner_synced_at = p.and_then(|p| p.last_sync_at);
        }
    }

    pub(crate) fn finished(&mut self, result: &Result<SyncReport>) {
        if let Ok(report) = result {
            self.notices
                .extend(report.erased.iter().chain(&report.rectified).cloned());
            let over = self.notices.len().saturating_sub(MAX_NOTICES);
            self.notices.drain(..over);
        }
        self.state = match result {
            Ok(_) => SyncState::Synced {
                at: crate::store::now_rfc3339(),
            },
            // the transport's reason ("connection refused", "no route to host") is for the
            // log, not for the officer: the words say what it means and what happens next
            Err(Error::Unreachable(_)) => SyncState::Offline {
                message: "No connection to the sync server. Changes are kept on this device and sent when it is back.".to_string(),
            },
            Err(Error::ServerBusy { retry_after_secs }) => SyncState::Offline {
                message: format!("The sync server is busy. Changes are kept on this device and sent in about {retry_after_secs} s."),
            },
            Err(e) => SyncState::Error {
                code: e.code().to_string(),
                message: e.to_string(),
            },
        };
    }
}
