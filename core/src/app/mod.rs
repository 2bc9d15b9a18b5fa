//! The patrol app on one device, independent of any UI toolkit: enrolment, unlock and lock,
//! the idle lock, and syncing in the background. The Tauri shell holds one `App` and turns each
//! command into one call here, so everything the app decides is tested in this crate.
//!
//! - `status`: what the window shows about the device (enrolled? locked? synced?).
//! - `background`: what the background thread does on each tick (idle lock, when to sync).
//! - `drafts`: work in progress kept in the encrypted store through the lock.
//! - `peer`: pairing with the partner's device and syncing with it in the car (issue 18).
//!
//! The store lives behind a mutex. A sync holds it only while it reads or writes the store,
//! never across a network exchange, so the pair can keep working while a slow link is busy.
//! Locking drops the store, and with it the data key and the database connection.
//!
//! The shell passes the platform's OS keystore (`with_keystore(os_keystore())`): enrolment then
//! binds the key slot to it, and unlock reads the binding secret from it. Without one, slots
//! are passphrase-only, and `AppStatus::key_protection` says which the device has.

mod background;
mod drafts;
mod peer;
mod status;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::crypto::keyslots::{KeyProtection, KeySlots, LockPolicy};
use crate::crypto::keystore::SharedKeyStore;
use crate::error::{Error, Result};
use crate::store::{InitOptions, Store};
use crate::sync::client::{sync_shared, StoreAccess};
use crate::sync::transport::Transport;
use crate::sync::{Progress, SyncOptions, SyncReport};

pub use background::{Scheduler, Tick};
pub use peer::{parse_pairing, PairingOffer, PeerStatus};
pub use status::{AppStatus, Phase, SyncState, SyncStatus};

/// Makes the transport to a server address (HTTPS with the platform's roots, by default),
/// trusting the server's certificate authority (PEM) kept since enrolment, if any.
pub type TransportFactory =
    Box<dyn Fn(&str, Option<&str>) -> Result<Box<dyn Transport>> + Send + Sync>;

/// The time in milliseconds since the Unix epoch. Tests pass their own to move time on.
pub type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> Clock {
    Box::new(|| chrono::Utc::now().timestamp_millis())
}

/// The default transport: reqwest over rustls, trusting the CA named by `PROVIDE_CA_CERT` if
/// set (at enrolment, or a force moving to a new CA: after a sync succeeds with it, it
/// replaces the kept one), else the CA kept since enrolment.
pub fn http_transport() -> TransportFactory {
    use crate::sync::transport::{read_ca_cert, HttpTransport};
    Box::new(|url, kept| {
        let ca = match std::env::var_os("PROVIDE_CA_CERT") {
            Some(path) => Some(read_ca_cert(Path::new(&path))?),
            None => kept.map(str::to_string),
        };
        Ok(Box::new(HttpTransport::with_ca(url, ca)?))
    })
}

pub struct App {
    dir: PathBuf,
    store: Mutex<Option<Store>>,
    /// Serialises syncs: the background thread and "sync now" never run two at once.
    sync_gate: Mutex<()>,
    sync: Mutex<SyncStatus>,
    last_activity_ms: AtomicI64,
    transport: TransportFactory,
    init: InitOptions,
    keystore: Option<SharedKeyStore>,
    clock: Clock,
    peer: peer::PeerLinkCell,
}

/// Recovers a mutex a panicking thread left poisoned: the data behind it is still whole,
/// because every write to the store is one SQLite transaction.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl App {
    /// The app over the data directory `dir` (created on enrolment).
    pub fn new(dir: &Path, transport: TransportFactory) -> Self {
        App {
            dir: dir.to_path_buf(),
            store: Mutex::new(None),
            sync_gate: Mutex::new(()),
            sync: Mutex::new(SyncStatus::default()),
            last_activity_ms: AtomicI64::new(0),
            transport,
            init: InitOptions::default(),
            keystore: None,
            clock: system_clock(),
            peer: Default::default(),
        }
    }

    /// Uses `clock` for the idle lock and the unlock back-off instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Sets the key-derivation cost and lock policy used at enrolment (tests use a cheap one).
    pub fn with_init_options(mut self, init: InitOptions) -> Self {
        self.init = init;
        self
    }

    /// Binds key slots made at enrolment to `keystore`, and reads bound slots' secrets from it
    /// at unlock (`None`: passphrase-only slots, as on a platform with no keystore).
    pub fn with_keystore(mut self, keystore: Option<SharedKeyStore>) -> Self {
        self.keystore = keystore;
        self
    }

    /// How a store made now would be protected: by the OS keystore if there is one.
    fn available_protection(&self) -> KeyProtection {
        if self.keystore.is_some() {
            KeyProtection::OsKeystore
        } else {
            KeyProtection::PassphraseOnly
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the device stands, for the first screen and the status line.
    pub fn status(&self) -> Result<AppStatus> {
        let guard = lock(&self.store);
        if let Some(store) = guard.as_ref() {
            let policy = store.lock_policy()?;
            return Ok(AppStatus {
                phase: Phase::Unlocked {
                    session: store.session().clone(),
                },
                idle_lock_minutes: policy.idle_lock_minutes,
                key_protection: store.key_protection()?,
                device_policy: Some(store.device_policy()?),
            });
        }
        drop(guard);
        let st = Store::status(&self.dir)?;
        if !st.exists {
            return Ok(AppStatus {
                phase: Phase::NotEnrolled,
                idle_lock_minutes: LockPolicy::default().idle_lock_minutes,
                key_protection: self.available_protection(),
                device_policy: None,
            });
        }
        // with the keystore: a bound store's count and policy are the keystore's too
        let slots = KeySlots::load(&self.dir)?.with_keystore(self.keystore.clone());
        if slots.is_wiped() {
            return Ok(AppStatus {
                phase: Phase::Wiped,
                idle_lock_minutes: slots.policy().idle_lock_minutes,
                key_protection: self.available_protection(),
                device_policy: None,
            });
        }
        Ok(AppStatus {
            phase: Phase::Locked {
                users: slots.users(),
                failed_attempts: slots.failed_attempts(),
                wait_ms: slots.wait_ms(chrono::Utc::now().timestamp_millis()),
            },
            idle_lock_minutes: slots.policy().idle_lock_minutes,
            key_protection: slots.protection(),
            device_policy: None,
        })
    }

    /// Enrols this device with a server and a one-time code, and leaves it unlocked.
    pub fn enrol(&self, server: &str, code: &str, passphrase: &str) -> Result<AppStatus> {
        let mut transport = (self.transport)(server, None)?;
        let store = crate::sync::enrol::enrol_with_keystore(
            &self.dir,
            server,
            code,
            passphrase,
            self.init,
            self.keystore.clone(),
            transport.as_mut(),
        )?;
        self.opened(store)
    }

    /// Unlocks the store. A wrong passphrase counts towards the lockout and its back-off; a
    /// keystore that cannot give a bound slot's secret (`KeystoreUnavailable`) does not.
    pub fn unlock(&self, passphrase: &str, user: Option<&str>) -> Result<AppStatus> {
        if lock(&self.store).is_some() {
            return self.status();
        }
        let store = Store::open_with_keystore(&self.dir, passphrase, user, self.keystore.clone())?;
        self.opened(store)
    }

    fn opened(&self, store: Store) -> Result<AppStatus> {
        *lock(&self.sync) = SyncStatus::for_store(&store)?;
        *lock(&self.store) = Some(store);
        self.touch();
        self.status()
    }

    /// Locks: the store, its key and its connection are dropped, and the device stops waiting
    /// for its partner (the pairing stays for the shift).
    pub fn lock(&self) {
        lock(&self.store).take();
        self.peer_stop_listening();
    }

    /// Something happened in the window: the idle timer starts again.
    pub fn touch(&self) {
        self.last_activity_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long the window has been idle, in milliseconds.
    pub fn idle_ms(&self) -> i64 {
        self.now_ms() - self.last_activity_ms.load(Ordering::Relaxed)
    }

    /// Locks if the window has been idle for longer than the policy allows. True if it locked.
    pub fn lock_if_idle(&self) -> bool {
        let mut guard = lock(&self.store);
        let Some(store) = guard.as_ref() else {
            return false;
        };
        let minutes = store
            .lock_policy()
            .map(|p| p.idle_lock_minutes)
            .unwrap_or(LockPolicy::default().idle_lock_minutes);
        if self.idle_ms() >= i64::from(minutes) * 60_000 {
            guard.take();
            drop(guard);
            self.peer_stop_listening();
            return true;
        }
        false
    }

    /// Sets the idle lock (1-15 minutes).
    pub fn set_idle_lock_minutes(&self, minutes: u32) -> Result<AppStatus> {
        self.with_store(|s| {
            let policy = LockPolicy {
                idle_lock_minutes: minutes,
                ..s.lock_policy()?
            };
            s.set_lock_policy(policy)
        })?;
        self.status()
    }

    /// Runs `f` on the unlocked store. Not activity by itself: only the person's own input
    /// (`touch`) keeps the app unlocked, so screens that refresh themselves after a background
    /// sync cannot hold the idle lock off.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> Result<R>) -> Result<R> {
        let mut guard = lock(&self.store);
        let store = guard.as_mut().ok_or(Error::Locked)?;
        let out = f(store);
        if store.is_erased() {
            guard.take();
        }
        out
    }

    /// The newest version of each risk form: the store's when unlocked (it may hold versions
    /// published since this build), else the shipped ones.
    pub fn forms(&self) -> Vec<crate::forms::FormDef> {
        self.with_store(|s| s.forms())
            .unwrap_or_else(|_| crate::forms::newest_of_each(&[]))
    }

    /// A risk checklist scored while it is being answered, by the same rules as saving it
    /// (`forms::preview`): the UI's live score, level, MARAC criteria and unanswered questions
    /// come from here, never from a copy of the rules. A local call: it works offline.
    pub fn preview_assessment(
        &self,
        form: &str,
        input: &crate::forms::AssessmentInput,
    ) -> Result<crate::forms::AssessmentPreview> {
        let forms = self.forms();
        let def = crate::forms::newest(form, &forms)?;
        Ok(crate::forms::preview(def, input))
    }

    /// The services directory: the store's newest when unlocked, else the shipped one (the
    /// directory is public information and is shown on the lock screen too).
    pub fn directory(&self) -> crate::directory::Directory {
        self.with_store(|s| s.directory())
            .unwrap_or_else(|_| crate::directory::Directory::shipped().clone())
    }

    pub fn is_unlocked(&self) -> bool {
        lock(&self.store).is_some()
    }

    /// The sync status line, with the count of changes waiting read fresh from the store.
    pub fn sync_status(&self) -> SyncStatus {
        let mut status = lock(&self.sync).clone();
        if let Some(store) = lock(&self.store).as_ref() {
            status.refresh(store);
        }
        status
    }

    /// The user has read the sync's notices.
    pub fn dismiss_notices(&self) {
        lock(&self.sync).notices.clear();
    }

    /// Syncs now. `progress` sees each step; the status line follows it too. Returns the report,
    /// or the error in plain words (also kept in the status line).
    pub fn sync_now(&self, progress: &mut dyn FnMut(&SyncStatus)) -> Result<SyncReport> {
        let _gate = self.sync_gate.try_lock().map_err(|_| Error::SyncBusy)?;
        let link = self.with_store(|s| s.server_link())?;
        let mut transport = (self.transport)(&link.url, link.ca_cert.as_deref())?;
        self.set_sync_state(SyncState::Syncing {
            progress: Progress::default(),
        });
        progress(&self.sync_status());
        let access = Shared(self);
        let result = sync_shared(
            &access,
            transport.as_mut(),
            &SyncOptions::default(),
            &mut |p| {
                self.set_sync_state(SyncState::Syncing {
                    progress: p.clone(),
                });
                progress(&self.sync_status());
            },
        );
        {
            let mut status = lock(&self.sync);
            status.finished(&result);
        }
        if let Ok(report) = &result {
            if report.revoked {
                lock(&self.store).take();
            } else if let Some(ca) = transport.trusted_ca() {
                // a CA that just carried a whole sync replaces the one kept (a force's move)
                if link.ca_cert.as_deref() != Some(ca) {
                    let _ = self.with_store(|s| s.set_server_ca_cert(ca));
                }
            }
        }
        progress(&self.sync_status());
        result
    }

    fn set_sync_state(&self, state: SyncState) {
        lock(&self.sync).state = state;
    }
}

/// The app's store as a sync sees it: borrowed for each step, and gone if the app locks meanwhile.
struct Shared<'a>(&'a App);

impl StoreAccess for Shared<'_> {
    fn with_store(&self, f: &mut dyn FnMut(&mut Store) -> Result<()>) -> Result<()> {
        self.0.with_store(|s| f(s))
    }
}

mod reports;
mod review;

pub use reports::ExportSaved;

#[cfg(test)]
mod tests;
