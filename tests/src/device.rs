//! A test device: a real encrypted store, enrolled with a test server through its real HTTP
//! endpoint, syncing through the real client (optionally over a shaped link).

use provide_core::crypto::keyslots::LockPolicy;
use provide_core::crypto::KdfParams;
use provide_core::sync::enrol::enrol;
use provide_core::sync::transport::{HttpTransport, Transport};
use provide_core::sync::{sync, SyncOptions, SyncReport};
use provide_core::{InitOptions, Result, Store};
use tempfile::TempDir;

use crate::server::TestServer;
use crate::PASSPHRASE;

pub struct Device {
    pub dir: TempDir,
    pub store: Store,
    pub transport: HttpTransport,
}

/// The cheapest key derivation the store accepts: tests are about sync, not Argon2id.
pub fn fast_options() -> InitOptions {
    InitOptions {
        kdf: KdfParams::FLOOR,
        policy: LockPolicy::default(),
    }
}

impl Device {
    /// Enrols a new device for a new user with a fresh code.
    pub fn enrol(server: &TestServer, user: &str, role: &str, division: &str, team: &str) -> Self {
        let code = server.code(user, role, division, team);
        Self::enrol_with_code(server, &code).unwrap()
    }

    pub fn enrol_with_code(server: &TestServer, code: &str) -> Result<Self> {
        Self::enrol_at(&server.url, server.ca_cert.as_deref(), code)
    }

    /// Enrols with the server at `url` (any process serving it).
    pub fn enrol_at(url: &str, ca_cert: Option<&std::path::Path>, code: &str) -> Result<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut transport = HttpTransport::new(url, ca_cert)?;
        let store = enrol(
            dir.path(),
            url,
            code,
            PASSPHRASE,
            fast_options(),
            &mut transport,
        )?;
        Ok(Device {
            dir,
            store,
            transport,
        })
    }

    pub fn sync(&mut self) -> Result<SyncReport> {
        sync(
            &mut self.store,
            &mut self.transport,
            &SyncOptions::default(),
            &mut |_| {},
        )
    }

    /// Syncs over another transport (a shaped link) with the given limits.
    pub fn sync_over(&mut self, t: &mut dyn Transport, opts: &SyncOptions) -> Result<SyncReport> {
        sync(&mut self.store, t, opts, &mut |_| {})
    }

    /// The store's data key, as the passphrase unwraps it from the key slots.
    pub fn data_key(&self) -> [u8; 32] {
        let mut slots = provide_core::crypto::keyslots::KeySlots::load(self.dir.path()).unwrap();
        let (_, key) = slots.unlock(PASSPHRASE, None).unwrap();
        let mut out = [0u8; 32];
        out.copy_from_slice(key.as_ref());
        out
    }

    /// The device's database opened directly with its key, as someone holding the key could:
    /// for tests that must set up states the app never produces on its own.
    pub fn raw_db(&self) -> rusqlite::Connection {
        let key = self.data_key();
        let conn = rusqlite::Connection::open(self.dir.path().join("provide.db")).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA key = \"x'{}'\";",
            hex::encode(key.as_ref())
        ))
        .unwrap();
        conn
    }

    /// Whether the device holds record `id` (it was never sent here, or was purged, if not).
    pub fn holds(&mut self, id: &str) -> bool {
        match self.store.record_heads(id) {
            Ok(_) => true,
            Err(provide_core::Error::NotFound(_)) => false,
            Err(e) => panic!("{e}"),
        }
    }

    /// Closes and reopens the store (as after the app restarts).
    pub fn reopen(&mut self) {
        let dir = self.dir.path().to_path_buf();
        self.store = Store::open(&dir, PASSPHRASE, None).unwrap();
    }
}
