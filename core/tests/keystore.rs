//! Key slots bound to the real OS keystore (design §4): on Linux the freedesktop Secret Service
//! (GNOME Keyring here); on Windows the Credential Manager (run under Wine by
//! `scripts/windows-tests.sh`). Nothing stands in for the keystore: every test talks to the one
//! `os_keystore()` finds.
//!
//! When no keystore answers, each test says so and returns, unless `PROVIDE_REQUIRE_KEYSTORE=1`
//! is set, as `scripts/run-tests.sh` does when it runs this file inside a private session bus
//! with gnome-keyring: then an unreachable keystore fails every test.

mod support;

use std::fs;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use provide_core::app::{http_transport, App, Phase};
use provide_core::crypto::keyslots::{KeyProtection, KeySlots, LockPolicy};
use provide_core::crypto::keystore::{os_keystore, SharedKeyStore};
use provide_core::model::Role;
use provide_core::{Error, NewUser, Store};
use support::fast_options;

const PASS: &str = "correct horse battery";

/// One test at a time talks to the keystore: GNOME Keyring's daemon has been seen to crash
/// ("Message recipient disconnected from message bus without replying") with several clients
/// in flight on a loaded machine, one of them a `provide` process exiting mid-session.
static SERIAL: Mutex<()> = Mutex::new(());

/// The OS keystore, or `None` (test skipped) when there is none and none is required; the
/// guard keeps the other tests of this file waiting until the test holding it ends.
fn keystore() -> Option<(MutexGuard<'static, ()>, SharedKeyStore)> {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    match os_keystore() {
        Some(ks) => Some((serial, ks)),
        None if std::env::var("PROVIDE_REQUIRE_KEYSTORE").as_deref() == Ok("1") => {
            panic!("PROVIDE_REQUIRE_KEYSTORE=1 but no OS keystore is reachable")
        }
        None => {
            eprintln!("skipped: no OS keystore is reachable (set PROVIDE_REQUIRE_KEYSTORE=1 to fail instead)");
            None
        }
    }
}

fn officer() -> NewUser {
    NewUser {
        name: "pc-ada".into(),
        role: Role::Officer,
        division: "west".into(),
        team: "t1".into(),
    }
}

/// A policy with no back-off, so a test can make several attempts in a row.
fn no_backoff(max_attempts: u32) -> LockPolicy {
    LockPolicy {
        max_attempts,
        backoff_base_ms: 0,
        backoff_max_ms: 0,
        ..Default::default()
    }
}

fn bound_store(dir: &Path, ks: &SharedKeyStore, policy: LockPolicy) -> Store {
    let store =
        Store::init_with_keystore(dir, officer(), PASS, fast_options(policy), Some(ks.clone()))
            .unwrap();
    assert_eq!(store.key_protection().unwrap(), KeyProtection::OsKeystore);
    store
}

fn slot_file(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(dir.join("keyslots.json")).unwrap()).unwrap()
}

/// The keystore accounts the slots of the store in `dir` are bound to.
fn accounts(dir: &Path) -> Vec<String> {
    slot_file(dir)["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["binding"]["account"].as_str().map(String::from))
        .collect()
}

fn failed_attempts(dir: &Path) -> u32 {
    KeySlots::load(dir).unwrap().failed_attempts()
}

fn copy_store(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn the_keystore_keeps_gives_back_and_forgets_a_secret() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    // the platform's own keystore, never a stand-in
    let expected = if cfg!(windows) {
        "windows_credential"
    } else if cfg!(target_os = "linux") {
        "secret_service"
    } else {
        "apple_keychain"
    };
    assert_eq!(ks.kind(), expected);
    let account = format!(
        "test/{}",
        hex::encode(provide_core::crypto::random_bytes::<8>())
    );
    assert!(ks.get(&account).unwrap().is_none());
    let secret = provide_core::crypto::random_key();
    ks.put(&account, &secret).unwrap();
    assert_eq!(*ks.get(&account).unwrap().unwrap(), *secret);
    let other = provide_core::crypto::random_key();
    ks.put(&account, &other).unwrap();
    assert_eq!(*ks.get(&account).unwrap().unwrap(), *other, "put replaces");
    ks.delete(&account).unwrap();
    assert!(ks.get(&account).unwrap().is_none());
    ks.delete(&account).unwrap(); // deleting what is gone is not an error
}

#[test]
fn a_bound_slot_opens_with_the_passphrase_and_the_keystore_secret() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    drop(bound_store(&dir, &ks, LockPolicy::default()));

    // the slot names the keystore and the account, never the secret
    let file = slot_file(&dir);
    let binding = &file["slots"][0]["binding"];
    assert_eq!(binding["keystore"], ks.kind());
    let account = binding["account"].as_str().unwrap().to_string();
    assert!(account.starts_with("keyslot/"));
    let secret = ks
        .get(&account)
        .unwrap()
        .expect("the secret is in the keystore");
    let text = fs::read_to_string(dir.join("keyslots.json")).unwrap();
    assert!(!text.contains(&hex::encode(*secret)));

    let s = Store::open_with_keystore(&dir, PASS, None, Some(ks.clone())).unwrap();
    assert_eq!(s.session().user, "pc-ada");
    assert_eq!(s.key_protection().unwrap(), KeyProtection::OsKeystore);
    drop(s);

    // without the keystore the right passphrase is not enough, and nothing is counted
    let e = Store::open(&dir, PASS, None).err().unwrap();
    assert!(matches!(e, Error::KeystoreUnavailable(_)), "{e}");
    assert_eq!(e.code(), "keystore_unavailable");
    assert_eq!(failed_attempts(&dir), 0);
    assert_eq!(
        Store::status(&dir).unwrap().key_protection,
        KeyProtection::OsKeystore
    );

    Store::open_with_keystore(&dir, PASS, None, Some(ks.clone()))
        .unwrap()
        .wipe()
        .unwrap();
}

#[test]
fn copied_files_without_the_keystore_secret_cannot_be_unlocked_or_counted() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("device");
    let mut s = bound_store(&dir, &ks, no_backoff(5));
    let id = s
        .create_case(provide_core::model::Deployment::PostIncident, &[])
        .unwrap();
    drop(s);
    // one wrong attempt on the device, counted there
    assert!(matches!(
        Store::open_with_keystore(&dir, "wrong wrong wrong", None, Some(ks.clone())),
        Err(Error::WrongPassphrase)
    ));
    assert_eq!(failed_attempts(&dir), 1);

    // someone copies the files; the copy is tried where the secret is not in the keystore
    let copy = root.path().join("copy");
    copy_store(&dir, &copy);
    let [account] = accounts(&copy).try_into().unwrap();
    let secret = ks.get(&account).unwrap().unwrap();
    ks.delete(&account).unwrap();
    for pass in [PASS, "a guess at the passphrase"] {
        let e = Store::open_with_keystore(&copy, pass, None, Some(ks.clone()))
            .err()
            .unwrap();
        assert!(matches!(e, Error::KeystoreUnavailable(_)), "{e}");
        assert!(e.to_string().contains("not counted"), "{e}");
    }
    assert_eq!(
        failed_attempts(&copy),
        1,
        "keystore failures are not counted"
    );

    // stripping the binding from the copied slot file does not help: the wrapping key was
    // derived from the secret too, so even the right passphrase fails (and now counts)
    let text = fs::read_to_string(copy.join("keyslots.json")).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    file["slots"][0].as_object_mut().unwrap().remove("binding");
    fs::write(copy.join("keyslots.json"), file.to_string()).unwrap();
    assert!(matches!(
        Store::open_with_keystore(&copy, PASS, None, Some(ks.clone())),
        Err(Error::WrongPassphrase)
    ));

    // with the secret back, the device's own store opens and still holds its case
    ks.put(&account, &secret).unwrap();
    let mut s = Store::open_with_keystore(&dir, PASS, None, Some(ks.clone())).unwrap();
    assert_eq!(failed_attempts(&dir), 0);
    assert!(s.show_case(&id).is_ok());
    s.wipe().unwrap();
    assert!(ks.get(&account).unwrap().is_none());
}

#[test]
fn lockout_wipe_and_revocation_delete_the_keystore_secrets() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();

    // lockout: too many wrong passphrases
    let dir = root.path().join("lockout");
    drop(bound_store(&dir, &ks, no_backoff(2)));
    let [account] = accounts(&dir).try_into().unwrap();
    assert!(ks.get(&account).unwrap().is_some());
    assert!(matches!(
        Store::open_with_keystore(&dir, "wrong wrong wrong", None, Some(ks.clone())),
        Err(Error::WrongPassphrase)
    ));
    assert!(matches!(
        Store::open_with_keystore(&dir, "wrong wrong wrong", None, Some(ks.clone())),
        Err(Error::Wiped)
    ));
    assert!(
        ks.get(&account).unwrap().is_none(),
        "lockout deletes the secret"
    );
    assert!(KeySlots::load(&dir).unwrap().is_wiped());

    // wipe (revocation with the store locked) and erase (revoked while open), two users each
    for erase_open in [false, true] {
        let dir = root.path().join(format!("revoked-{erase_open}"));
        let mut s = bound_store(&dir, &ks, LockPolicy::default());
        s.add_user(
            NewUser {
                name: "idva-rowan".into(),
                role: Role::Idva,
                division: "west".into(),
                team: "t1".into(),
            },
            automerge::ActorId::random(),
            "another long passphrase",
            fast_options(LockPolicy::default()).kdf,
        )
        .unwrap();
        let both = accounts(&dir);
        assert_eq!(both.len(), 2, "the second user's slot is bound too");
        assert!(both.iter().all(|a| ks.get(a).unwrap().is_some()));
        if erase_open {
            s.erase_now().unwrap();
        } else {
            s.wipe().unwrap();
        }
        for a in &both {
            assert!(
                ks.get(a).unwrap().is_none(),
                "revocation deletes every secret"
            );
        }
        assert!(matches!(
            Store::open_with_keystore(&dir, PASS, None, Some(ks.clone())),
            Err(Error::Wiped)
        ));
    }
}

#[test]
fn a_changed_passphrase_gets_a_new_secret_and_the_old_one_is_deleted() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let mut s = bound_store(&dir, &ks, LockPolicy::default());
    let [old] = accounts(&dir).try_into().unwrap();
    s.change_passphrase("a brand new passphrase").unwrap();
    drop(s);
    let [new] = accounts(&dir).try_into().unwrap();
    assert_ne!(old, new);
    assert!(ks.get(&old).unwrap().is_none());
    assert!(ks.get(&new).unwrap().is_some());
    Store::open_with_keystore(&dir, "a brand new passphrase", None, Some(ks.clone()))
        .unwrap()
        .wipe()
        .unwrap();
}

#[test]
fn an_unbound_store_still_opens_with_a_keystore_at_hand() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("old");
    // made as every store was before binding existed: no keystore
    drop(Store::init(&dir, officer(), PASS, fast_options(LockPolicy::default())).unwrap());
    let text = fs::read_to_string(dir.join("keyslots.json")).unwrap();
    assert!(
        !text.contains("binding"),
        "the old file format is unchanged"
    );
    assert_eq!(
        Store::status(&dir).unwrap().key_protection,
        KeyProtection::PassphraseOnly
    );
    let s = Store::open_with_keystore(&dir, PASS, None, Some(ks.clone())).unwrap();
    assert_eq!(s.key_protection().unwrap(), KeyProtection::PassphraseOnly);
    drop(s);
    // and still opens with no keystore at all
    drop(Store::open(&dir, PASS, None).unwrap());
}

#[test]
fn a_wrong_passphrase_on_a_bound_slot_counts_and_backs_off() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let policy = LockPolicy {
        backoff_base_ms: 60_000,
        backoff_max_ms: 60_000,
        ..Default::default()
    };
    drop(bound_store(&dir, &ks, policy));
    assert!(matches!(
        Store::open_with_keystore(&dir, "wrong wrong wrong", None, Some(ks.clone())),
        Err(Error::WrongPassphrase)
    ));
    assert_eq!(failed_attempts(&dir), 1);
    // inside the wait even the right passphrase is refused, and not counted
    assert!(matches!(
        Store::open_with_keystore(&dir, PASS, None, Some(ks.clone())),
        Err(Error::BackingOff(_))
    ));
    assert_eq!(failed_attempts(&dir), 1);
    // clean up the secret this store made
    let [account] = accounts(&dir).try_into().unwrap();
    ks.delete(&account).unwrap();
}

#[test]
fn the_app_reports_and_uses_the_keystore() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("app");

    let plain = App::new(&dir, http_transport());
    assert_eq!(
        plain.status().unwrap().key_protection,
        KeyProtection::PassphraseOnly
    );
    let app = App::new(&dir, http_transport()).with_keystore(Some(ks.clone()));
    let st = app.status().unwrap();
    assert_eq!(st.phase, Phase::NotEnrolled);
    assert_eq!(st.key_protection, KeyProtection::OsKeystore);

    drop(bound_store(&dir, &ks, LockPolicy::default()));
    assert_eq!(
        app.status().unwrap().key_protection,
        KeyProtection::OsKeystore
    );
    // an app with no keystore cannot unlock a bound store, and does not count the attempt
    let e = plain.unlock(PASS, None).err().unwrap();
    assert_eq!(e.code(), "keystore_unavailable");
    assert!(matches!(
        plain.status().unwrap().phase,
        Phase::Locked {
            failed_attempts: 0,
            ..
        }
    ));
    let st = app.unlock(PASS, None).unwrap();
    assert!(matches!(st.phase, Phase::Unlocked { .. }));
    assert_eq!(st.key_protection, KeyProtection::OsKeystore);
    app.with_store(|s| s.erase_now()).unwrap();
    let [account] = accounts(&dir)
        .try_into()
        .unwrap_or_else(|_| [String::new()]);
    assert!(account.is_empty(), "no slot is left after erasing");
}

#[test]
fn the_command_line_opens_a_bound_store_only_with_the_keystore() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    drop(bound_store(&dir, &ks, LockPolicy::default()));
    let provide = |with_bus: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_provide"));
        cmd.arg("--data-dir")
            .arg(&dir)
            .args(["case", "list", "--json"])
            .env("PROVIDE_PASSPHRASE", PASS)
            .stdin(std::process::Stdio::null());
        if !with_bus {
            cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
                .env_remove("XDG_RUNTIME_DIR");
        }
        cmd.output().unwrap()
    };
    let out = provide(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // without the keystore: on Linux no session bus; where the keystore cannot be taken away
    // (the Windows Credential Manager), the store's secret is missing from it instead, as on
    // another machine or for another user
    let [account] = accounts(&dir).try_into().unwrap();
    let secret = ks.get(&account).unwrap().unwrap();
    let out = if cfg!(target_os = "linux") {
        provide(false)
    } else {
        ks.delete(&account).unwrap();
        let out = provide(true);
        ks.put(&account, &secret).unwrap();
        out
    };
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key store"), "{err}");
    assert_eq!(failed_attempts(&dir), 0, "not counted");
    Store::open_with_keystore(&dir, PASS, None, Some(ks.clone()))
        .unwrap()
        .wipe()
        .unwrap();
}

/// Issue 13, finding 9: the failure count of a bound store is kept in the keystore too, so
/// rewriting the slot file's counter (or loosening its policy) does not buy more guesses: the
/// store is still wiped at the limit.
#[test]
fn rewriting_the_slot_files_counter_does_not_reset_a_bound_store() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    drop(bound_store(&dir, &ks, no_backoff(4)));
    let [account] = accounts(&dir).try_into().unwrap();
    let wrong = |n: usize| {
        for _ in 0..n {
            let e = Store::open_with_keystore(&dir, "a wrong guess", None, Some(ks.clone()))
                .err()
                .unwrap();
            assert!(matches!(e, Error::WrongPassphrase), "{e}");
        }
    };
    let reset_file = || {
        let mut file = slot_file(&dir);
        file["lockout"]["failed_attempts"] = 0.into();
        file["lockout"]["last_failure_ms"] = 0.into();
        file["policy"]["max_attempts"] = 100.into();
        fs::write(dir.join("keyslots.json"), file.to_string()).unwrap();
    };
    wrong(2);
    reset_file();
    assert_eq!(slot_file(&dir)["lockout"]["failed_attempts"], 0);
    // the keystore remembers: the status shows it, and the limit is the keystore's
    let slots = KeySlots::load(&dir)
        .unwrap()
        .with_keystore(Some(ks.clone()));
    assert_eq!(slots.failed_attempts(), 2);
    assert_eq!(slots.policy().max_attempts, 4);
    wrong(1);
    reset_file();
    let e = Store::open_with_keystore(&dir, "a wrong guess", None, Some(ks.clone()))
        .err()
        .unwrap();
    assert!(matches!(e, Error::Wiped), "the fourth guess wipes: {e}");
    assert!(Store::status(&dir).unwrap().wiped);
    assert!(!dir.join("provide.db").exists());
    // even the right passphrase opens nothing now, and the keystore keeps nothing of it
    assert!(matches!(
        Store::open_with_keystore(&dir, PASS, None, Some(ks.clone())),
        Err(Error::Wiped)
    ));
    assert!(ks.get(&account).unwrap().is_none());
    assert!(ks.get(&format!("{account}/lockout")).unwrap().is_none());
}

/// A success clears the count in both places, so a store used normally never drifts toward
/// the limit.
#[test]
fn a_success_clears_the_keystores_count_too() {
    let Some((_serial, ks)) = keystore() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    drop(bound_store(&dir, &ks, no_backoff(3)));
    for _ in 0..2 {
        assert!(matches!(
            Store::open_with_keystore(&dir, "a wrong guess", None, Some(ks.clone())),
            Err(Error::WrongPassphrase)
        ));
    }
    let s = Store::open_with_keystore(&dir, PASS, None, Some(ks.clone())).unwrap();
    drop(s);
    let slots = KeySlots::load(&dir)
        .unwrap()
        .with_keystore(Some(ks.clone()));
    assert_eq!(slots.failed_attempts(), 0);
    for _ in 0..2 {
        assert!(matches!(
            Store::open_with_keystore(&dir, "a wrong guess", None, Some(ks.clone())),
            Err(Error::WrongPassphrase)
        ));
    }
    Store::open_with_keystore(&dir, PASS, None, Some(ks.clone()))
        .unwrap()
        .wipe()
        .unwrap();
}
