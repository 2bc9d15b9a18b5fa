//! The key-slot file beside the database (`keyslots.json`).
//!
//! The database is opened by a random 256-bit data key that is never written down in the clear.
//! Each enrolled user has one slot holding that key wrapped (XChaCha20-Poly1305) under a key
//! derived from their passphrase by Argon2id. The file also counts failed unlocks across
//! restarts: each failure doubles the wait before the next attempt, and when the limit is reached
//! every slot is destroyed, which makes the database unreadable for good ("wiped").
//!
//! A slot created while an OS keystore is at hand is *bound*: its wrapping key is derived from
//! the Argon2id output and a random 32-byte secret kept only in that keystore (`bind_key`), under
//! an account named after a random slot id. The slot records that it is bound, to which kind of
//! keystore and under which account, never the secret. Unlocking a bound slot needs the secret:
//! if the keystore cannot be reached or no longer holds it, unlock fails with
//! `KeystoreUnavailable` and the attempt is not counted (no passphrase was tried). Destroying
//! slots (lockout, revocation, a replaced passphrase) deletes their secrets from the keystore.
//! Unbound slots (older files, or no keystore on the platform) work exactly as before.
//!
//! The failure count of a store whose slots are bound is also kept in the keystore, one entry
//! per bound slot beside its secret (`lockout_account`), and unlock uses the larger of the
//! file's count and the keystore's: rewriting the file's counter does not reset it. Each attempt
//! is counted (durably, in both places) *before* the passphrase is tried, so a process killed
//! during Argon2id has still spent the attempt; success clears the count again. Where no slot
//! is bound the file is the only counter, and someone who can rewrite it can reset it: then
//! Argon2id's cost is the only limit on guessing (docs/ARCHITECTURE.md, "Lockout").
//!
//! Each slot's Argon2id cost is checked against the floor (`KdfParams::validate`, OWASP's 19 MiB
//! and 2 passes) whenever the file is loaded: a file whose recorded cost was lowered is refused
//! with `KdfBelowFloor`, never used.
//!
//! The file holds user names, cost parameters, salts, keystore account names and ciphertext; no
//! case content and no secret.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keystore::{account_for, KeyStore, SharedKeyStore};
use super::{bind_key, derive_key, open, random_bytes, random_key, seal, KdfParams, SecretKey};
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

/// How the data key of a store is protected, as the app shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum KeyProtection {
    /// Every key slot is bound to a secret in the OS keystore (or, before enrolment, one is
    /// available to bind to).
    OsKeystore,
    /// At least one key slot is opened by its passphrase alone.
    PassphraseOnly,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot {
    user: String,
    kdf: KdfParams,
    salt: String,
    nonce: String,
    wrapped_key: String,
    /// The health key, wrapped under the same key (IDVA slots only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    health: Option<Wrapped>,
    /// Present when the wrapping key is also bound to a secret in the OS keystore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    binding: Option<Binding>,
}

/// Where a bound slot's secret is kept (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Binding {
    /// `KeyStore::kind` of the keystore holding the secret.
    keystore: String,
    /// The account the secret is kept under (`keystore::account_for` a random slot id).
    account: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Lockout {
    failed_attempts: u32,
    last_failure_ms: i64,
}

impl Lockout {
    /// The later and larger of two counts (a counter is only ever reset by a success, which
    /// resets both).
    fn max(self, other: Lockout) -> Lockout {
        Lockout {
            failed_attempts: self.failed_attempts.max(other.failed_attempts),
            last_failure_ms: self.last_failure_ms.max(other.last_failure_ms),
        }
    }
}

/// What the keystore keeps for a bound slot: the failure count and the lock policy, so that
/// neither is reset or loosened by rewriting the file. 32 bytes: count (u32), time of the last
/// failure (i64), attempt limit, first and longest back-off in ms (u32, saturated), idle lock
/// minutes, then the tag `PLK1`; little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Guard {
    lockout: Lockout,
    policy: LockPolicy,
}

const GUARD_TAG: &[u8; 4] = b"PLK1";

impl Guard {
    fn to_entry(self) -> SecretKey {
        let sat = |ms: u64| u32::try_from(ms).unwrap_or(u32::MAX);
        let mut e = zeroize::Zeroizing::new([0u8; 32]);
        e[..4].copy_from_slice(&self.lockout.failed_attempts.to_le_bytes());
        e[4..12].copy_from_slice(&self.lockout.last_failure_ms.to_le_bytes());
        e[12..16].copy_from_slice(&self.policy.max_attempts.to_le_bytes());
        e[16..20].copy_from_slice(&sat(self.policy.backoff_base_ms).to_le_bytes());
        e[20..24].copy_from_slice(&sat(self.policy.backoff_max_ms).to_le_bytes());
        e[24..28].copy_from_slice(&self.policy.idle_lock_minutes.to_le_bytes());
        e[28..].copy_from_slice(GUARD_TAG);
        e
    }

    /// `None` for an entry this version did not write.
    fn from_entry(e: &SecretKey) -> Option<Guard> {
        if &e[28..] != GUARD_TAG {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(e[i..i + 4].try_into().expect("4 bytes"));
        Some(Guard {
            lockout: Lockout {
                failed_attempts: u32_at(0),
                last_failure_ms: i64::from_le_bytes(e[4..12].try_into().expect("8 bytes")),
            },
            policy: LockPolicy {
                max_attempts: u32_at(12),
                backoff_base_ms: u32_at(16) as u64,
                backoff_max_ms: u32_at(20) as u64,
                idle_lock_minutes: u32_at(24),
            },
        })
    }

    /// Milliseconds to wait after this count before another attempt is allowed.
    fn wait_ms(&self, now_ms: i64) -> u64 {
        let until = self
            .lockout
            .last_failure_ms
            .saturating_add(self.policy.backoff_ms(self.lockout.failed_attempts) as i64);
        (until - now_ms).max(0) as u64
    }

    /// The stricter of two: the larger count, the later failure, the fewer attempts, the longer
    /// waits and the shorter idle lock.
    fn stricter(self, other: Guard) -> Guard {
        let (a, b) = (self.policy, other.policy);
        Guard {
            lockout: self.lockout.max(other.lockout),
            policy: LockPolicy {
                max_attempts: a.max_attempts.min(b.max_attempts),
                backoff_base_ms: a.backoff_base_ms.max(b.backoff_base_ms),
                backoff_max_ms: a.backoff_max_ms.max(b.backoff_max_ms),
                idle_lock_minutes: a.idle_lock_minutes.min(b.idle_lock_minutes),
            },
        }
    }
}

/// The keystore account that keeps the failure count and policy beside a bound slot's secret. It is
/// derived from the slot's own account, which cannot be changed in the file without losing the
/// slot, so editing the file cannot point the count elsewhere.
fn lockout_account(binding_account: &str) -> String {
    format!("{binding_account}/lockout")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotFile {
    format: u32,
    wiped: bool,
    policy: LockPolicy,
    lockout: Lockout,
    slots: Vec<Slot>,
}

/// The key slots of one store, and the keystore their bound slots use (if one was given).
pub struct KeySlots {
    path: PathBuf,
    file: SlotFile,
    keystore: Option<SharedKeyStore>,
}

const AAD: &[u8] = b"provide keyslot v1";
/// Associated data (with the user name) of a slot's wrapped health key.
const HEALTH_AAD: &[u8] = b"provide keyslot health v1";

/// The keys a slot wraps: the data key, and for an IDVA the health key (design: health records
/// are readable only by IDVAs, even on a shared device; `store::health_key`).
pub struct StoreKeys {
    pub data: SecretKey,
    pub health: Option<SecretKey>,
}

impl StoreKeys {
    /// The data key alone (a user who may not read health records).
    pub fn data_only(data: &SecretKey) -> Self {
        StoreKeys {
            data: data.clone(),
            health: None,
        }
    }
}

/// A key wrapped in a slot beside the data key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Wrapped {
    nonce: String,
    key: String,
}

/// Wraps the keys for `user`; bound to a fresh secret in `keystore` when one is given.
fn wrap(
    user: &str,
    passphrase: &str,
    keys: &StoreKeys,
    kdf: KdfParams,
    keystore: Option<&dyn KeyStore>,
) -> Result<Slot> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::WeakPassphrase(MIN_PASSPHRASE_CHARS));
    }
    let salt = random_bytes::<16>();
    let mut kek = derive_key(passphrase.as_bytes(), &salt, kdf)?;
    let mut binding = None;
    if let Some(ks) = keystore {
        let account = account_for(&hex::encode(random_bytes::<16>()));
        let secret = random_key();
        ks.put(&account, &secret)?;
        kek = bind_key(&kek, &secret)?;
        binding = Some(Binding {
            keystore: ks.kind().to_string(),
            account,
        });
    }
    let aad = [AAD, user.as_bytes()].concat();
    let (nonce, ct) = seal(&kek, keys.data.as_ref(), &aad)?;
    let health = match &keys.health {
        Some(h) => {
            let (nonce, ct) = seal(&kek, h.as_ref(), &[HEALTH_AAD, user.as_bytes()].concat())?;
            Some(Wrapped {
                nonce: hex::encode(nonce),
                key: hex::encode(ct),
            })
        }
        None => None,
    };
    Ok(Slot {
        user: user.to_string(),
        kdf,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        wrapped_key: hex::encode(ct),
        health,
        binding,
    })
}

fn damaged() -> Error {
    Error::Io("the key-slot file is damaged".into())
}

impl KeySlots {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Creates the slot file with one user's slot for `data_key`, bound to `keystore` when one
    /// is given (a keystore that fails is an error here: the caller decides whether to fall
    /// back to an unbound slot).
    pub fn create(
        dir: &Path,
        user: &str,
        passphrase: &str,
        keys: &StoreKeys,
        kdf: KdfParams,
        policy: LockPolicy,
        keystore: Option<SharedKeyStore>,
    ) -> Result<Self> {
        policy.validate()?;
        let slot = wrap(user, passphrase, keys, kdf, keystore.as_deref())?;
        let mut slots = KeySlots {
            path: Self::path_in(dir),
            file: SlotFile {
                format: 1,
                wiped: false,
                policy,
                lockout: Lockout::default(),
                slots: vec![slot],
            },
            keystore,
        };
        // for a bound slot the keystore keeps the count and policy from the start
        if let Err(e) = slots.set_lockout(Lockout::default()) {
            slots.release(&slots.file.slots);
            return Err(e);
        }
        Ok(slots)
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = Self::path_in(dir);
        let text = fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::StoreMissing(dir.display().to_string()),
            _ => Error::from(e),
        })?;
        let file: SlotFile = serde_json::from_str(&text).map_err(|_| damaged())?;
        // a slot asking for less than the floor was lowered by someone editing the file: a
        // cheaper Argon2id would only make guessing cheaper
        if file.slots.iter().any(|s| s.kdf.validate().is_err()) {
            return Err(Error::KdfBelowFloor {
                min_mib: super::MIN_KDF_MEMORY_KIB / 1024,
                min_passes: super::MIN_KDF_ITERATIONS,
            });
        }
        Ok(KeySlots {
            path,
            file,
            keystore: None,
        })
    }

    /// Uses `keystore` for bound slots: to unlock them, to bind new ones, and to delete their
    /// secrets when slots are destroyed. Without one, bound slots cannot be unlocked.
    pub fn with_keystore(mut self, keystore: Option<SharedKeyStore>) -> Self {
        self.keystore = keystore;
        self
    }

    /// Whether every slot is bound to the OS keystore.
    pub fn protection(&self) -> KeyProtection {
        if !self.file.slots.is_empty() && self.file.slots.iter().all(|s| s.binding.is_some()) {
            KeyProtection::OsKeystore
        } else {
            KeyProtection::PassphraseOnly
        }
    }

    /// The kind of keystore some slot is bound to, if any is bound.
    pub fn bound_keystore(&self) -> Option<&str> {
        self.file
            .slots
            .iter()
            .find_map(|s| s.binding.as_ref().map(|b| b.keystore.as_str()))
    }

    /// The lock policy in force (for bound slots, the stricter of the file's and the keystore's).
    pub fn policy(&self) -> LockPolicy {
        self.shown_guard().policy
    }

    pub fn is_wiped(&self) -> bool {
        self.file.wiped
    }

    pub fn users(&self) -> Vec<String> {
        self.file.slots.iter().map(|s| s.user.clone()).collect()
    }

    /// Failed attempts since the last success: the larger of the file's count and, for bound
    /// slots, the keystore's (the file's alone when the keystore cannot be read now).
    pub fn failed_attempts(&self) -> u32 {
        self.shown_guard().lockout.failed_attempts
    }

    /// Milliseconds to wait before another attempt is allowed.
    pub fn wait_ms(&self, now_ms: i64) -> u64 {
        self.shown_guard().wait_ms(now_ms)
    }

    fn shown_guard(&self) -> Guard {
        self.guard().unwrap_or(self.file_guard())
    }

    fn file_guard(&self) -> Guard {
        Guard {
            lockout: self.file.lockout,
            policy: self.file.policy,
        }
    }

    /// The keystore accounts holding the count and policy: one per slot bound to this keystore.
    fn guard_accounts(&self) -> Vec<String> {
        let Some(ks) = self.keystore.as_deref() else {
            return vec![];
        };
        self.file
            .slots
            .iter()
            .filter_map(|s| s.binding.as_ref())
            .filter(|b| b.keystore == ks.kind())
            .map(|b| lockout_account(&b.account))
            .collect()
    }

    /// The failure count and policy in force: the stricter of the file's and the keystore's.
    fn guard(&self) -> Result<Guard> {
        let mut g = self.file_guard();
        if let Some(ks) = self.keystore.as_deref() {
            for account in self.guard_accounts() {
                if let Some(kept) = ks.get(&account)?.as_ref().and_then(Guard::from_entry) {
                    g = g.stricter(kept);
                }
            }
        }
        Ok(g)
    }

    /// Records the failure count and the policy durably: in the keystore first (for bound
    /// slots), then in the file (which so gets back a policy someone loosened in it).
    fn set_guard(&mut self, g: Guard) -> Result<()> {
        if let Some(ks) = self.keystore.clone() {
            let entry = g.to_entry();
            for account in self.guard_accounts() {
                ks.put(&account, &entry)?;
            }
        }
        self.file.lockout = g.lockout;
        self.file.policy = g.policy;
        self.write()
    }

    /// `set_guard` with a new count under the policy in force.
    fn set_lockout(&mut self, lockout: Lockout) -> Result<()> {
        let policy = self.guard()?.policy;
        self.set_guard(Guard { lockout, policy })
    }

    /// The secret a bound slot's wrapping key needs, from the keystore. Every failure here is
    /// `KeystoreUnavailable`: no passphrase has been tried yet.
    fn binding_secret(&self, b: &Binding) -> Result<SecretKey> {
        let ks = self.keystore.as_deref().ok_or_else(|| {
            Error::KeystoreUnavailable(format!(
                "this store's key slot is bound to a secret in the OS key store ({}), and none is open; the attempt was not counted",
                b.keystore
            ))
        })?;
        if ks.kind() != b.keystore {
            return Err(Error::KeystoreUnavailable(format!(
                "this store's key slot is bound to a secret in another kind of key store ({}, this device has {}); the attempt was not counted",
                b.keystore,
                ks.kind()
            )));
        }
        ks.get(&b.account)?.ok_or_else(|| {
            Error::KeystoreUnavailable(format!(
                "the secret this store's key slot is bound to is not in the OS key store ({}): the files were copied from another device, or the keyring was reset; the attempt was not counted",
                b.keystore
            ))
        })
    }

    /// Deletes the keystore secrets of `slots`, as far as the keystore allows. Used once the
    /// slots are gone or about to go; a keystore that fails does not stop a wipe.
    fn release(&self, slots: &[Slot]) {
        let Some(ks) = self.keystore.as_deref() else {
            return;
        };
        for b in slots.iter().filter_map(|s| s.binding.as_ref()) {
            if b.keystore == ks.kind() {
                let _ = ks.delete(&b.account);
                let _ = ks.delete(&lockout_account(&b.account));
            }
        }
    }

    /// Tries the passphrase against the slots (only `user`'s when given). On success returns the
    /// user and the data key and clears the failure count. The attempt is counted before any
    /// passphrase is tried, so one cut short (the process killed during Argon2id) still counts;
    /// a failure leaves it counted, and destroys every slot when the limit is reached.
    ///
    /// A bound slot whose keystore secret cannot be had is skipped. When no slot could be tried
    /// at all for that reason, the keystore's error is returned and nothing is counted; when
    /// another slot was tried and failed, the attempt counts as a wrong passphrase.
    pub fn unlock(&mut self, passphrase: &str, user: Option<&str>) -> Result<(String, SecretKey)> {
        self.open_keys(passphrase, user)
            .map(|(who, keys)| (who, keys.data))
    }

    /// `unlock`, giving every key the slot wraps (the health key too, for an IDVA's slot).
    pub fn open_keys(
        &mut self,
        passphrase: &str,
        user: Option<&str>,
    ) -> Result<(String, StoreKeys)> {
        if self.file.wiped {
            return Err(Error::Wiped);
        }
        let guard = self.guard()?;
        let (lockout, policy) = (guard.lockout, guard.policy);
        let max_attempts = policy.max_attempts;
        if lockout.failed_attempts >= max_attempts {
            // the last allowed attempt was counted and never finished
            self.destroy()?;
            return Err(Error::Wiped);
        }
        let now = chrono::Utc::now().timestamp_millis();
        let wait = guard.wait_ms(now);
        if wait > 0 {
            return Err(Error::BackingOff(wait.div_ceil(1000)));
        }
        let mut unavailable = None;
        let mut candidates = Vec::new();
        for slot in self
            .file
            .slots
            .iter()
            .filter(|s| user.is_none_or(|u| u == s.user))
        {
            match slot.binding.as_ref().map(|b| self.binding_secret(b)) {
                None => candidates.push((slot.clone(), None)),
                Some(Ok(secret)) => candidates.push((slot.clone(), Some(secret))),
                Some(Err(e)) => {
                    unavailable.get_or_insert(e);
                }
            }
        }
        if candidates.is_empty() {
            if let Some(e) = unavailable {
                return Err(e);
            }
        }
        let counted = Lockout {
            failed_attempts: lockout.failed_attempts + 1,
            last_failure_ms: now,
        };
        self.set_guard(Guard {
            lockout: counted,
            policy,
        })?;
        #[cfg(test)]
        tests::before_guess();
        for (slot, secret) in &candidates {
            let salt = hex::decode(&slot.salt).map_err(|_| damaged())?;
            let nonce = hex::decode(&slot.nonce).map_err(|_| damaged())?;
            let ct = hex::decode(&slot.wrapped_key).map_err(|_| damaged())?;
            let mut kek = derive_key(passphrase.as_bytes(), &salt, slot.kdf)?;
            if let Some(secret) = secret {
                kek = bind_key(&kek, secret)?;
            }
            let aad = [AAD, slot.user.as_bytes()].concat();
            if let Some(plain) = open(&kek, &nonce, &ct, &aad) {
                if plain.len() != 32 {
                    return Err(damaged());
                }
                let mut key = zeroize::Zeroizing::new([0u8; 32]);
                key.copy_from_slice(&plain);
                let health = match &slot.health {
                    None => None,
                    Some(w) => {
                        let nonce = hex::decode(&w.nonce).map_err(|_| damaged())?;
                        let ct = hex::decode(&w.key).map_err(|_| damaged())?;
                        let aad = [HEALTH_AAD, slot.user.as_bytes()].concat();
                        let plain = open(&kek, &nonce, &ct, &aad).ok_or_else(damaged)?;
                        if plain.len() != 32 {
                            return Err(damaged());
                        }
                        let mut h = zeroize::Zeroizing::new([0u8; 32]);
                        h.copy_from_slice(&plain);
                        Some(h)
                    }
                };
                self.set_guard(Guard {
                    lockout: Lockout::default(),
                    policy,
                })?;
                return Ok((slot.user.clone(), StoreKeys { data: key, health }));
            }
        }
        if counted.failed_attempts >= max_attempts {
            self.destroy()?;
            return Err(Error::Wiped);
        }
        Err(Error::WrongPassphrase)
    }

    /// Adds a slot for another user, wrapping the same data key (and the health key, when
    /// given), bound when this has a keystore.
    pub fn add(
        &mut self,
        user: &str,
        passphrase: &str,
        keys: &StoreKeys,
        kdf: KdfParams,
    ) -> Result<()> {
        if self.file.slots.iter().any(|s| s.user == user) {
            return Err(Error::InvalidInput(format!(
                "user {user} already has a key slot"
            )));
        }
        let slot = wrap(user, passphrase, keys, kdf, self.keystore.as_deref())?;
        let guard = self.guard()?;
        self.file.slots.push(slot);
        if let Err(e) = self.set_guard(guard) {
            let added = self.file.slots.pop().into_iter().collect::<Vec<_>>();
            self.release(&added);
            return Err(e);
        }
        Ok(())
    }

    /// Replaces a user's slot under a new passphrase (bound when this has a keystore), wrapping
    /// `keys`; the old slot's keystore secret is deleted. With the same passphrase this re-wraps
    /// the slot (how an IDVA's slot gains the health key).
    pub fn change_passphrase(
        &mut self,
        user: &str,
        new_passphrase: &str,
        keys: &StoreKeys,
    ) -> Result<()> {
        let kdf = self
            .file
            .slots
            .iter()
            .find(|s| s.user == user)
            .map(|s| s.kdf)
            .unwrap_or_default();
        let slot = wrap(user, new_passphrase, keys, kdf, self.keystore.as_deref())?;
        let guard = self.guard()?;
        let (old, mut kept): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.file.slots)
            .into_iter()
            .partition(|s| s.user == user);
        kept.push(slot);
        self.file.slots = kept;
        if let Err(e) = self.set_guard(guard) {
            let new = self.file.slots.pop().into_iter().collect::<Vec<_>>();
            self.release(&new);
            self.file.slots.extend(old);
            return Err(e);
        }
        self.release(&old);
        Ok(())
    }

    pub fn set_policy(&mut self, policy: LockPolicy) -> Result<()> {
        policy.validate()?;
        let lockout = self.guard()?.lockout;
        self.set_guard(Guard { lockout, policy })
    }

    /// Destroys every slot and deletes their keystore secrets: the data key can no longer be
    /// recovered by anyone, even from an old copy of this file.
    pub fn destroy(&mut self) -> Result<()> {
        let slots = std::mem::take(&mut self.file.slots);
        // the secrets first: once they are gone, no copy of the slot file opens anything
        self.release(&slots);
        self.file.wiped = true;
        self.write()
    }

    /// Writes the file atomically and durably (`durable::replace_file`: temporary file, fsync,
    /// rename, fsync directory).
    fn write(&self) -> Result<()> {
        let text =
            serde_json::to_string_pretty(&self.file).map_err(|e| Error::Internal(e.to_string()))?;
        crate::durable::replace_file(
            &self.path,
            &self.path.with_extension("json.tmp"),
            text.as_bytes(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::random_key;
    use std::cell::Cell;

    thread_local! {
        /// Set by a test to end `unlock` (a panic) between counting and trying the passphrase,
        /// as a process killed during Argon2id would.
        static CRASH_BEFORE_GUESS: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn before_guess() {
        if CRASH_BEFORE_GUESS.get() {
            panic!("simulated crash during Argon2id");
        }
    }

    /// An attempt cut short after it was counted (the process killed while Argon2id ran) stays
    /// counted on disk; cut short at the last allowed attempt, the next start wipes the store.
    #[test]
    fn an_attempt_is_counted_before_the_passphrase_is_tried() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key();
        let policy = LockPolicy {
            max_attempts: 2,
            backoff_base_ms: 0,
            backoff_max_ms: 0,
            ..Default::default()
        };
        KeySlots::create(
            dir.path(),
            "pc-ada",
            "correct horse battery",
            &StoreKeys::data_only(&key),
            fast(),
            policy,
            None,
        )
        .unwrap();
        let crash = || {
            CRASH_BEFORE_GUESS.set(true);
            let r = std::panic::catch_unwind(|| {
                let mut s = KeySlots::load(dir.path()).unwrap();
                let _ = s.unlock("a guess at it", None);
            });
            CRASH_BEFORE_GUESS.set(false);
            assert!(r.is_err(), "the simulated crash happened");
        };
        crash();
        assert_eq!(KeySlots::load(dir.path()).unwrap().failed_attempts(), 1);
        // the right passphrase still opens it, and clears the count
        let mut s = KeySlots::load(dir.path()).unwrap();
        assert_eq!(*s.unlock("correct horse battery", None).unwrap().1, *key);
        assert_eq!(KeySlots::load(dir.path()).unwrap().failed_attempts(), 0);
        crash();
        crash();
        let mut s = KeySlots::load(dir.path()).unwrap();
        assert_eq!(s.failed_attempts(), 2);
        assert!(matches!(
            s.unlock("correct horse battery", None),
            Err(Error::Wiped)
        ));
        assert!(KeySlots::load(dir.path()).unwrap().is_wiped());
    }

    fn fast() -> KdfParams {
        KdfParams::FLOOR
    }

    /// Issue 13, finding 11: a slot file whose recorded Argon2id cost was lowered below the
    /// floor (here to 8 MiB and 1 pass, the old minimum) is refused with a clear error, and no
    /// passphrase is tried against it.
    #[test]
    fn a_slot_file_lowered_below_the_argon2_floor_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key();
        KeySlots::create(
            dir.path(),
            "pc-ada",
            "correct horse battery",
            &StoreKeys::data_only(&key),
            fast(),
            LockPolicy::default(),
            None,
        )
        .unwrap();
        let path = KeySlots::path_in(dir.path());
        let mut file: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        for (memory, passes) in [(8 * 1024, 1), (8 * 1024, 2), (19 * 1024, 1)] {
            file["slots"][0]["kdf"]["memory_kib"] = memory.into();
            file["slots"][0]["kdf"]["iterations"] = passes.into();
            fs::write(&path, file.to_string()).unwrap();
            let e = KeySlots::load(dir.path()).err().unwrap();
            assert!(matches!(e, Error::KdfBelowFloor { .. }), "{e}");
            assert_eq!(e.code(), "kdf_below_floor");
            assert!(e.to_string().contains("19 MiB and 2 passes"), "{e}");
        }
        // the cost the slot was made with opens it again
        file["slots"][0]["kdf"] = serde_json::to_value(fast()).unwrap();
        fs::write(&path, file.to_string()).unwrap();
        let mut s = KeySlots::load(dir.path()).unwrap();
        assert_eq!(*s.unlock("correct horse battery", None).unwrap().1, *key);
        assert_eq!(s.failed_attempts(), 0);
    }

    #[test]
    fn the_floor_is_owasps() {
        assert!(KdfParams::FLOOR.validate().is_ok());
        const { assert!(KdfParams::FLOOR.memory_kib >= 19 * 1024 && KdfParams::FLOOR.iterations >= 2) };
        for (memory_kib, iterations) in [(19 * 1024 - 1, 2), (19 * 1024, 1), (8 * 1024, 1)] {
            let p = KdfParams {
                memory_kib,
                iterations,
                parallelism: 1,
            };
            assert!(p.validate().is_err(), "{p:?}");
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
            &StoreKeys::data_only(&key),
            fast(),
            policy,
            None,
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
            &StoreKeys::data_only(&key),
            fast(),
            LockPolicy::default(),
            None,
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

    #[test]
    fn unbound_slots_keep_the_old_file_format() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key();
        let s = KeySlots::create(
            dir.path(),
            "pc-ada",
            "correct horse battery",
            &StoreKeys::data_only(&key),
            fast(),
            LockPolicy::default(),
            None,
        )
        .unwrap();
        assert_eq!(s.protection(), KeyProtection::PassphraseOnly);
        assert_eq!(s.bound_keystore(), None);
        let text = fs::read_to_string(KeySlots::path_in(dir.path())).unwrap();
        assert!(!text.contains("binding"));
        // a file written before binding existed (same fields, no `binding`) still loads
        let mut s = KeySlots::load(dir.path()).unwrap();
        assert_eq!(*s.unlock("correct horse battery", None).unwrap().1, *key);
    }

    /// A slot whose file says it is bound cannot be opened without the keystore, and trying
    /// does not count against the passphrase.
    #[test]
    fn a_bound_slot_without_its_keystore_is_refused_uncounted() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key();
        KeySlots::create(
            dir.path(),
            "pc-ada",
            "correct horse battery",
            &StoreKeys::data_only(&key),
            fast(),
            LockPolicy::default(),
            None,
        )
        .unwrap();
        let path = KeySlots::path_in(dir.path());
        let mut file: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        file["slots"][0]["binding"] =
            serde_json::json!({"keystore": "secret_service", "account": "keyslot/00"});
        fs::write(&path, file.to_string()).unwrap();
        let mut s = KeySlots::load(dir.path()).unwrap();
        assert_eq!(s.protection(), KeyProtection::OsKeystore);
        assert_eq!(s.bound_keystore(), Some("secret_service"));
        for pass in ["correct horse battery", "wrong wrong wrong"] {
            let e = s.unlock(pass, None).unwrap_err();
            assert!(matches!(e, Error::KeystoreUnavailable(_)), "{e}");
        }
        assert_eq!(s.failed_attempts(), 0);
        assert_eq!(KeySlots::load(dir.path()).unwrap().failed_attempts(), 0);
        // destroying it without a keystore still destroys the slot
        s.destroy().unwrap();
        assert!(KeySlots::load(dir.path()).unwrap().is_wiped());
    }
}
