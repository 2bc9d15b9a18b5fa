//! Helpers shared by the library-level integration tests: stores with the cheapest accepted
//! key derivation (tests are about behaviour, not Argon2id's cost), and raw access to a
//! store's database as an attacker holding the key would have it.
#![allow(dead_code)] // each test crate uses only some of these

use std::path::Path;

use provide_core::crypto::keyslots::{KeySlots, LockPolicy};
use provide_core::crypto::KdfParams;
use provide_core::model::Role;
use provide_core::{InitOptions, NewUser, Store};

/// The smallest key-derivation cost the store accepts, with a given lock policy.
pub fn fast_options(policy: LockPolicy) -> InitOptions {
    InitOptions {
        kdf: KdfParams::FLOOR,
        policy,
    }
}

/// A new store in `dir` for one user of the given role in division `west`, team `t1`.
pub fn new_store(dir: &Path, name: &str, role: Role, passphrase: &str) -> Store {
    let user = NewUser {
        name: name.into(),
        role,
        division: "west".into(),
        team: "t1".into(),
    };
    Store::init(dir, user, passphrase, fast_options(LockPolicy::default())).unwrap()
}

/// Opens a store's database directly with the key unwrapped from the user's slot.
pub fn open_raw(dir: &Path, passphrase: &str) -> rusqlite::Connection {
    let mut slots = KeySlots::load(dir).unwrap();
    let (_, key) = slots.unlock(passphrase, None).unwrap();
    let conn = rusqlite::Connection::open(dir.join("provide.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";",
        hex::encode(key.as_ref())
    ))
    .unwrap();
    conn
}

/// Field edits as the store takes them, from `(path, value)` pairs.
pub fn sets(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}
