//! The key-slot file beside the database (`keyslots.json`).
//!
//! The database is opened by a random 256-bit data key that is never written down in the clear.
//! Each enrolled user has one slot holding that key wrapped (XChaCha20-Poly1305) under a key
//! derived from their passphrase by Argon2id. The file also counts failed unlocks across
//! restarts: each failure doubles the wait before the next attempt, and when the limit is reached
//! every slot is destroyed, which makes the database unreadable for good ("wiped").
//!
//! The file holds user names, cost parameters, salts and ciphertext; no case content.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{derive_key, open, random_bytes, seal, KdfParams, SecretKey};
use crate::error::{Error, Result};

pub const FILE_NAME: &str = "keyslots.json";
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Lock and lockout policy; validated when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct LockPolicy {
    /// Failed unlocks after which the data key is destroyed.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles with each further failure.
    #[ts(type = "number")]
    pub backoff_base_ms: u64,
    /// The longest wait between attempts.
    #[ts(type = "number")]
    pub backoff_max_ms: u64,
    /// Lock after this much idle time (1-15 minutes).
    pub idle_lock_minutes: u32,
}

impl Default for LockPolicy {
    fn default() -> Self {
        LockPolicy {
            max_attempts: 10,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            idle_lock_minutes: 5,
        }
    }
}

impl LockPolicy {
    pub fn validate(&self) -> Result<()> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err(Error::InvalidSetting(
                "the unlock attempt limit must be between 1 and 100".into(),
            ));
        }
        if !(1..=15).contains(&self.idle_lock_minutes) {
            return Err(Error::InvalidSetting(
                "the idle lock must be between 1 and 15 minutes".into(),
            ));
        }
        if self.backoff_base_ms > self.backoff_max_ms {
            return Err(Error::InvalidSetting(
                "the first back-off cannot exceed the longest".into(),
            ));
        }
        Ok(())
    }

    /// How long to wait after `failures` failed attempts.
    pub fn backoff_ms(&self, failures: u32) -> u64 {
        if failures == 0 {
            return 0;
        }
        let shift = (failures - 1).min(32);
        self.backoff_base_ms
            .saturating_mul(1u64 << shift)
            .min(self.backoff_max_ms)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot {
    user: String,
    kdf: KdfParams,
    salt: String,
    nonce: String,
    wrapped_key: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Lockout {
    failed_attempts: u32,
    last_failure_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotFile {
    format: u32,
    wiped: bool,
    policy: LockPolicy,
    lockout: Lockout,
    slots: Vec<Slot>,
}

/// The key slots of one store.
pub struct KeySlots {
    path: PathBuf,
    file: SlotFile,
}

const AAD: &[u8] = b"provide keyslot v1";

fn wrap(user: &str, passphrase: &str, data_key: &SecretKey, kdf: KdfParams) -> Result<Slot> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::WeakPassphrase(MIN_PASSPHRASE_CHARS));
    }
    let salt = random_bytes::<16>();
    let kek = derive_key(passphrase.as_bytes(), &salt, kdf)?;
    let aad = [AAD, user.as_bytes()].concat();
    let (nonce, ct) = seal(&kek, data_key.as_ref(), &aad)?;
    Ok(Slot {
        user: user.to_string(),
        kdf,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        wrapped_key: hex::encode(ct),
    })
}

impl KeySlots {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Creates the slot file with one user's slot for `data_key`.
    pub fn create(
        dir: &Path,
        user: &str,
        passphrase: &str,
        data_key: &SecretKey,
        kdf: KdfParams,
        policy: LockPolicy,
    ) -> Result<Self> {
        policy.validate()?;
        let slots = KeySlots {
            path: Self::path_in(dir),
            file: SlotFile {
                format: 1,
                wiped: false,
                policy,
                lockout: Lockout::default(),
                slots: vec![wrap(user, passphrase, data_key, kdf)?],
            },
        };
        slots.write()?;
        Ok(slots)
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = Self::path_in(dir);
        let text = fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::StoreMissing(dir.display().to_string()),
            _ => Error::from(e),
        })?;
        let file: SlotFile = serde_json::from_str(&text)
            .map_err(|_| Error::Io("the key-slot file is damaged".into()))?;
        Ok(KeySlots { path, file })
    }

    pub fn policy(&self) -> LockPolicy {
        self.file.policy
    }

    pub fn is_wiped(&self) -> bool {
        self.file.wiped
    }

    pub fn users(&self) -> Vec<String> {
        self.file.slots.iter().map(|s| s.user.clone()).collect()
    }

    pub fn failed_attempts(&self) -> u32 {
        self.file.lockout.failed_attempts
    }

    /// Milliseconds to wait before another attempt is allowed.
    pub fn wait_ms(&self, now_ms: i64) -> u64 {
        let l = &self.file.lockout;
        let until = l
            .last_failure_ms
            .saturating_add(self.file.policy.backoff_ms(l.failed_attempts) as i64);
        (until - now_ms).max(0) as u64
    }

    /// Tries the passphrase against the slots (only `user`'s when given). On success returns the
    /// user and the data key and clears the failure count; on failure counts it, and destroys
    /// every slot when the limit is reached.
    pub fn unlock(&mut self, passphrase: &str, user: Option<&str>) -> Result<(String, SecretKey)> {
        if self.file.wiped {
            return Err(Error::Wiped);
        }
        let now = chrono::Utc::now().timestamp_millis();
        let wait = self.wait_ms(now);
        if wait > 0 {
            return Err(Error::BackingOff(wait.div_ceil(1000)));
        }
        for slot in self
            .file
            .slots
            .iter()
            .filter(|s| user.is_none_or(|u| u == s.user))
        {
            let salt = hex::decode(&slot.salt)
                .map_err(|_| Error::Io("the key-slot file is damaged".into()))?;
            let nonce = hex::decode(&slot.nonce)
                .map_err(|_| Error::Io("the key-slot file is damaged".into()))?;
            let ct = hex::decode(&slot.wrapped_key)
                .map_err(|_| Error::Io("the key-slot file is damaged".into()))?;
            let kek = derive_key(passphrase.as_bytes(), &salt, slot.kdf)?;
            let aad = [AAD, slot.user.as_bytes()].concat();
            if let Some(plain) = open(&kek, &nonce, &ct, &aad) {
                if plain.len() != 32 {
                    return Err(Error::Io("the key-slot file is damaged".into()));
                }
                let mut key = zeroize::Zeroizing::new([0u8; 32]);
                key.copy_from_slice(&plain);
                let who = slot.user.clone();
                if self.file.lockout.failed_attempts > 0 {
                    self.file.lockout = Lockout::default();
                    self.write()?;
                }
                return Ok((who, key));
            }
        }
        self.file.lockout.failed_attempts += 1;
        self.file.lockout.last_failure_ms = now;
        if self.file.lockout.failed_attempts >= self.file.policy.max_attempts {
            self.destroy()?;
            return Err(Error::Wiped);
        }
        self.write()?;
        Err(Error::WrongPassphrase)
    }

    /// Adds a slot for another user, wrapping the same data key.
    pub fn add(
        &mut self,
        user: &str,
        passphrase: &str,
        data_key: &SecretKey,
        kdf: KdfParams,
    ) -> Result<()> {
        if self.file.slots.iter().any(|s| s.user == user) {
            return Err(Error::InvalidInput(format!(
                "user {user} already has a key slot"
            )));
        }
        self.file.slots.push(wrap(user, passphrase, data_key, kdf)?);
        self.write()
    }

    /// Replaces a user's slot under a new passphrase.
    pub fn change_passphrase(
        &mut self,
        user: &str,
        new_passphrase: &str,
        data_key: &SecretKey,
    ) -> Result<()> {
        let kdf = self
            .file
            .slots
            .iter()
            .find(|s| s.user == user)
            .map(|s| s.kdf)
            .unwrap_or_default();
        let slot = wrap(user, new_passphrase, data_key, kdf)?;
        self.file.slots.retain(|s| s.user != user);
        self.file.slots.push(slot);
        self.write()
    }

    pub fn set_policy(&mut self, policy: LockPolicy) -> Result<()> {
        policy.validate()?;
        self.file.policy = policy;
        self.write()
    }

    /// Destroys every slot: the data key can no longer be recovered by anyone.
    pub fn destroy(&mut self) -> Result<()> {
        self.file.slots.clear();
        self.file.wiped = true;
        self.write()
    }

    /// Writes the file atomically and durably (temporary file, fsync, rename, fsync directory).
    fn write(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(
                serde_json::to_string_pretty(&self.file)
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .as_bytes(),
            )?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::random_key;

    fn fast() -> KdfParams {
        KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = LockPolicy::default();
        assert_eq!(p.backoff_ms(0), 0);
        assert_eq!(p.backoff_ms(1), 1_000);
        assert_eq!(p.backoff_ms(3), 4_000);
        assert_eq!(p.backoff_ms(30), 300_000);
    }

    #[test]
    fn policy_limits_are_enforced() {
        let p = LockPolicy {
            idle_lock_minutes: 16,
            ..Default::default()
        };
        assert!(p.validate().is_err());
        let p = LockPolicy {
            max_attempts: 0,
            ..Default::default()
        };
        assert!(p.validate().is_err());
    }

    #[test]
    fn wrong_passphrase_counts_and_limit_destroys_slots() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key();
        let policy = LockPolicy {
            max_attempts: 3,
            backoff_base_ms: 0,
            backoff_max_ms: 0,
            ..Default::default()
        };
        let mut s = KeySlots::create(
            dir.path(),
            "pc-ada",
            "correct horse battery",
            &key,
            fast(),
            policy,
        )
        .unwrap();
        let (who, k) = s.unlock("correct horse battery", None).unwrap();
        assert_eq!((who.as_str(), *k), ("pc-ada", *key));
        assert!(matches!(
            s.unlock("nope nope nope", None),
            Err(Error::WrongPassphrase)
        ));
        // counted across restarts: reload from disk
        let mut s = KeySlots::load(dir.path()).unwrap();
        assert_eq!(s.failed_attempts(), 1);
        assert!(matches!(
            s.unlock("nope nope nope", None),
            Err(Error::WrongPassphrase)
        ));
        assert!(matches!(
            s.unlock("nope nope nope", None),
            Err(Error::Wiped)
        ));
        let mut s = KeySlots::load(dir.path()).unwrap();
        assert!(s.is_wiped());
        assert!(matches!(
            s.unlock("correct horse battery", None),
            Err(Error::Wiped)
        ));
    }

    #[test]
    fn backoff_refuses_early_attempts_without_counting_them() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key();
        let mut s = KeySlots::create(
            dir.path(),
            "pc-ada",
            "correct horse battery",
            &key,
            fast(),
            LockPolicy::default(),
        )
        .unwrap();
        assert!(matches!(
            s.unlock("wrong wrong", None),
            Err(Error::WrongPassphrase)
        ));
        assert!(matches!(
            s.unlock("correct horse battery", None),
            Err(Error::BackingOff(_))
        ));
        assert_eq!(s.failed_attempts(), 1);
    }
}
