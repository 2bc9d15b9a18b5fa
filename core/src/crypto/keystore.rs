//! The OS keystore that key slots are bound to (design §4).
//!
//! A bound key slot's wrapping key needs two things: the passphrase (through Argon2id) and a
//! random 32-byte binding secret that only the operating system's keystore holds. Copying the
//! store's files to another machine then gives nothing to guess a passphrase against, and
//! deleting the secret (wipe, revocation) makes the data key unrecoverable even from an old copy
//! of the slot file ("crypto-shredding").
//!
//! `KeyStore` is the one interface; `os_keystore()` returns this platform's, or `None` when
//! there is none to be had, in which case slots are created unbound (passphrase only) and the
//! app says so (`AppStatus::key_protection`).
//!
//! | platform | keystore | `kind()` |
//! |---|---|---|
//! | Linux | freedesktop Secret Service on the session bus (GNOME Keyring, KWallet) | `secret_service` |
//! | macOS, iOS | Keychain | `apple_keychain` |
//! | Windows | Credential Manager | `windows_credential` |
//! | Android | none yet | — |
//!
//! The Linux kernel keyring is deliberately not used: it does not survive a reboot, and losing
//! the binding secret would lose every unsynced change. On Android the Keystore is reachable
//! only from the JVM side, so it needs a Tauri mobile plugin (Kotlin) that implements these
//! three calls; the shell would wrap that plugin in a `KeyStore` and pass it to
//! `App::with_keystore` exactly as `src-tauri/src/state.rs` passes `os_keystore()` today.
//!
//! Secrets are returned in `Zeroizing` buffers; errors name the keystore, never a secret.

use std::sync::Arc;

use crate::crypto::SecretKey;
use crate::error::Result;

/// Where the binding secrets of key slots are kept.
pub trait KeyStore: Send + Sync {
    /// A short stable name of the kind of keystore, recorded in bound slots
    /// (`secret_service`, `apple_keychain`, `windows_credential`).
    fn kind(&self) -> &'static str;
    /// Stores `secret` under `account`, replacing any secret already there.
    fn put(&self, account: &str, secret: &[u8; 32]) -> Result<()>;
    /// The secret under `account`; `None` when there is none. An unreachable keystore is an
    /// error (`Error::KeystoreUnavailable`), never `None`.
    fn get(&self, account: &str) -> Result<Option<SecretKey>>;
    /// Deletes the secret under `account`; deleting one that is not there is not an error.
    fn delete(&self, account: &str) -> Result<()>;
}

/// A keystore shared by the app, its store and the key slots.
pub type SharedKeyStore = Arc<dyn KeyStore>;

/// The service name every binding secret is filed under in the OS keystore.
pub const SERVICE: &str = "provide";

/// The account a slot's binding secret is kept under: derived from the slot's random id, so it
/// names neither the user nor the device.
pub fn account_for(slot_id: &str) -> String {
    format!("keyslot/{slot_id}")
}

/// This platform's OS keystore if one is reachable now, else `None` (slots are then created
/// unbound). On Linux this asks the session bus for a Secret Service, and does not start a bus
/// of its own when there is none.
pub fn os_keystore() -> Option<SharedKeyStore> {
    #[cfg(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "ios",
        target_os = "windows"
    ))]
    {
        native::NativeKeyStore::probe().map(|k| Arc::new(k) as SharedKeyStore)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "ios",
        target_os = "windows"
    )))]
    {
        None
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "windows"
))]
mod native {
    //! The platform keystores reached through the `keyring` crate.

    use keyring::Entry;
    use zeroize::Zeroizing;

    use super::{KeyStore, SERVICE};
    use crate::crypto::SecretKey;
    use crate::error::{Error, Result};

    #[cfg(target_os = "linux")]
    const KIND: &str = "secret_service";
    #[cfg(target_os = "linux")]
    const DESCRIPTION: &str = "the Secret Service (GNOME Keyring or KWallet)";
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    const KIND: &str = "apple_keychain";
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    const DESCRIPTION: &str = "the Keychain";
    #[cfg(target_os = "windows")]
    const KIND: &str = "windows_credential";
    #[cfg(target_os = "windows")]
    const DESCRIPTION: &str = "the Windows Credential Manager";

    /// An account that is never written: reading it tells whether the keystore answers.
    const PROBE_ACCOUNT: &str = "probe";

    pub struct NativeKeyStore;

    impl NativeKeyStore {
        /// The keystore if it answers a read, else `None`.
        pub fn probe() -> Option<Self> {
            #[cfg(target_os = "linux")]
            if !session_bus_configured() {
                return None;
            }
            let ks = NativeKeyStore;
            ks.get(PROBE_ACCOUNT).ok().map(|_| ks)
        }

        fn entry(&self, account: &str) -> Result<Entry> {
            // On Linux the Secret Service is named explicitly (never the kernel keyring, which
            // forgets everything at reboot), in its default collection.
            #[cfg(target_os = "linux")]
            let entry =
                keyring::secret_service::SsCredential::new_with_target(None, SERVICE, account)
                    .map(|c| Entry::new_with_credential(Box::new(c)));
            #[cfg(not(target_os = "linux"))]
            let entry = Entry::new(SERVICE, account);
            entry.map_err(unavailable)
        }
    }

    /// Whether a session bus can be found without starting one: libdbus would otherwise
    /// "autolaunch" a private bus (and with it a keyring) that outlives the app.
    #[cfg(target_os = "linux")]
    fn session_bus_configured() -> bool {
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty()) {
            return true;
        }
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| std::path::Path::new(&d).join("bus").exists())
            .unwrap_or(false)
    }

    /// The keystore's own error in plain words. Its text names the service and the failing
    /// call, never a secret.
    fn unavailable(e: keyring::Error) -> Error {
        let what = match e {
            keyring::Error::NoStorageAccess(_) => {
                "it is locked or refused access (unlock the keyring and try again)".to_string()
            }
            keyring::Error::PlatformFailure(inner) => format!("it did not answer ({inner})"),
            keyring::Error::Ambiguous(_) => "it holds more than one matching secret".to_string(),
            other => other.to_string(),
        };
        Error::KeystoreUnavailable(format!("{DESCRIPTION}: {what}"))
    }

    impl KeyStore for NativeKeyStore {
        fn kind(&self) -> &'static str {
            KIND
        }

        fn put(&self, account: &str, secret: &[u8; 32]) -> Result<()> {
            self.entry(account)?.set_secret(secret).map_err(unavailable)
        }

        fn get(&self, account: &str) -> Result<Option<SecretKey>> {
            match self.entry(account)?.get_secret() {
                Ok(bytes) => {
                    let bytes = Zeroizing::new(bytes);
                    if bytes.len() != 32 {
                        return Err(Error::KeystoreUnavailable(format!(
                            "{DESCRIPTION}: the secret it holds for this store is damaged"
                        )));
                    }
                    let mut key = Zeroizing::new([0u8; 32]);
                    key.copy_from_slice(&bytes);
                    Ok(Some(key))
                }
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(unavailable(e)),
            }
        }

        fn delete(&self, account: &str) -> Result<()> {
            match self.entry(account)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(unavailable(e)),
            }
        }
    }
}
