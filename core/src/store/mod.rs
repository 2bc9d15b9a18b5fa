//! The encrypted device store (design §4): a SQLCipher database opened by a random data key
//! that only exists wrapped in per-user key slots, holding each record as an Automerge
//! document plus indexed columns for listing, and the device's audit log.
//!
//! `Store` is the one entry point for the command line and the app shell: every operation
//! checks the signed-in user's role, writes its change and its audit entry in one transaction,
//! and returns typed results.

mod bundles;
mod cases;
mod drafts;
mod health;
mod health_key;
mod incoming;
mod leaving;
mod link;
pub mod migrations;
mod peer;
mod purge;
mod records;
mod reference;
pub mod rows;
mod safeguarding;
pub mod schema;
mod shifts;
mod sync_state;
mod visits;

use std::fs;
use std::path::{Path, PathBuf};

use automerge::ActorId;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Action};
use crate::crypto::keyslots::{KeyProtection, KeySlots, LockPolicy, StoreKeys};
use crate::crypto::keystore::SharedKeyStore;
use crate::crypto::{random_key, KdfParams, SecretKey};
use crate::error::{Error, Result};
use crate::model::Role;
use crate::record::Author;

pub use cases::{Assessed, CaseFilter, CaseSummary, CaseView, RiskView};
pub use drafts::{Draft, DraftInput, MAX_DRAFT_BYTES};
pub use health::HealthView;
pub use leaving::{DevicePolicy, Leaving};
pub use link::{ContactStatus, Enrolled, ServerLink};
pub use peer::{Pairing, PeerCredentials, PeerTaken};
pub use records::{summarize, Summary};
pub use safeguarding::{done, marac_grounds, HandoverItem, MaracEntry, TriageInput, TriagedCase};
pub use shifts::ShiftInput;
pub use sync_state::{Applied, Upload};
pub use visits::{outstanding, Handover, HandoverCase};

pub const DB_FILE: &str = "provide.db";

/// Who is using the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub division: String,
    pub team: String,
}

impl Session {
    pub fn author(&self) -> Author {
        Author::new(&self.user, self.role)
    }
}

/// A user to enrol in a store.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub division: String,
    pub team: String,
}

/// Settings chosen when a store is created.
#[derive(Debug, Clone, Copy, Default)]
pub struct InitOptions {
    pub kdf: KdfParams,
    pub policy: LockPolicy,
}

pub struct Store {
    dir: PathBuf,
    conn: Connection,
    session: Session,
    actor: ActorId,
    device_id: String,
    key: SecretKey,
    /// The health key, for an IDVA whose key slot holds it (`health_key`).
    health_key: Option<SecretKey>,
    /// The OS keystore the key slots are bound to, when the store was opened with one.
    keystore: Option<SharedKeyStore>,
    /// Set once the server revoked this device and its data was destroyed.
    erased: bool,
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

/// Opens the SQLCipher database with a raw 256-bit key (SQLCipher's own KDF is skipped).
fn open_db(path: &Path, key: &SecretKey, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    schema::apply_key(&conn, key).map_err(|_| {
        Error::Database("the database could not be decrypted (damaged file or wrong key)".into())
    })?;
    if create {
        conn.execute_batch(schema::NEW_DATABASE)?;
    }
    conn.execute_batch(schema::PRAGMAS)?;
    Ok(conn)
}

impl Store {
    /// Creates a new store in `dir` with its first user; the key slot is unbound (passphrase
    /// only). The command line and tests use this.
    pub fn init(dir: &Path, user: NewUser, passphrase: &str, opts: InitOptions) -> Result<Store> {
        Self::init_with(dir, user, passphrase, opts, None, None)
    }

    /// Creates a new store whose first key slot is bound to `keystore` (design §4). If the
    /// keystore fails while the slot is made, the slot is made unbound instead, and
    /// `key_protection()` says so: a device is never left without a store because its keyring
    /// misbehaved.
    pub fn init_with_keystore(
        dir: &Path,
        user: NewUser,
        passphrase: &str,
        opts: InitOptions,
        keystore: Option<SharedKeyStore>,
    ) -> Result<Store> {
        Self::init_with(dir, user, passphrase, opts, None, keystore)
    }

    /// Creates the store of a device just enrolled with a sync server: its user, actor id and
    /// device id are the ones the server registered, and the server link is kept inside the
    /// encrypted database. The key slot is bound to `keystore` as in `init_with_keystore`.
    pub fn init_enrolled(
        dir: &Path,
        enrolled: &Enrolled,
        passphrase: &str,
        opts: InitOptions,
        keystore: Option<SharedKeyStore>,
    ) -> Result<Store> {
        let user = NewUser {
            name: enrolled.user.clone(),
            role: enrolled.role,
            division: enrolled.division.clone(),
            team: enrolled.team.clone(),
        };
        Self::init_with(dir, user, passphrase, opts, Some(enrolled), keystore)
    }

    fn init_with(
        dir: &Path,
        user: NewUser,
        passphrase: &str,
        opts: InitOptions,
        enrolled: Option<&Enrolled>,
        keystore: Option<SharedKeyStore>,
    ) -> Result<Store> {
        if KeySlots::path_in(dir).exists() || db_path(dir).exists() {
            return Err(Error::StoreExists(dir.display().to_string()));
        }
        if user.name.trim().is_empty() || user.name.len() > 64 {
            return Err(Error::InvalidInput(
                "the user name must be 1-64 characters".into(),
            ));
        }
        if passphrase.chars().count() < crate::crypto::keyslots::MIN_PASSPHRASE_CHARS {
            return Err(Error::WeakPassphrase(
                crate::crypto::keyslots::MIN_PASSPHRASE_CHARS,
            ));
        }
        opts.kdf.validate()?;
        opts.policy.validate()?;
        fs::create_dir_all(dir)?;
        let result = Self::create_files(dir, user, passphrase, opts, enrolled, keystore);
        if result.is_err() {
            // nothing half-made is left behind: a later init must be able to start afresh
            erase_files(dir);
            let _ = fs::remove_file(KeySlots::path_in(dir));
        }
        result
    }

    fn create_files(
        dir: &Path,
        user: NewUser,
        passphrase: &str,
        opts: InitOptions,
        enrolled: Option<&Enrolled>,
        keystore: Option<SharedKeyStore>,
    ) -> Result<Store> {
        crate::data_dir::make_private(dir).map_err(|e| {
            Error::Io(format!(
                "the store's folder could not be made readable by this user only ({e})"
            ))
        })?;
        let key = random_key();
        // only an IDVA's slot wraps the health key; a store made now seals health records from
        // the start
        let health_key = (user.role == Role::Idva).then(random_key);
        let conn = open_db(&db_path(dir), &key, true)?;
        schema::migrate(&conn)?;
        purge::ensure_reclaimable(&conn)?;
        let (actor, device_id) = match enrolled {
            Some(e) => (e.actor.clone(), e.device_id.clone()),
            None => (ActorId::random(), uuid::Uuid::new_v4().to_string()),
        };
        let now = now_rfc3339();
        conn.execute_batch("BEGIN")?;
        conn.execute("INSERT INTO meta (key, value) VALUES ('actor_id', ?1), ('device_id', ?2), ('created_at', ?3)", rusqlite::params![actor.to_hex_string(), device_id, now])?;
        if let Some(e) = enrolled {
            link::save(&conn, e)?;
            // the server registered this actor to this user: its own changes are attributed
            // as the server will attribute them
            conn.execute(
                "INSERT INTO authors (actor, user, role) VALUES (?1, ?2, ?3)",
                rusqlite::params![actor.to_hex_string(), e.user, e.role.as_str()],
            )?;
        }
        health_key::set_meta(&conn, health_key::SEALED_AT, &now)?;
        if health_key.is_some() {
            health_key::set_meta(&conn, health_key::KEY_AT, &now)?;
        }
        conn.execute(
            "INSERT INTO users (name, role, division, team, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![user.name, user.role.as_str(), user.division, user.team, now],
        )?;
        audit::append(
            &conn,
            &user.name,
            user.role.as_str(),
            Action::Create,
            "store",
            "store created",
        )?;
        conn.execute_batch("COMMIT")?;
        // The slot is written last; if anything before fails, `init` removes what was made.
        let keys = StoreKeys {
            data: key.clone(),
            health: health_key.clone(),
        };
        let create = |ks: Option<SharedKeyStore>| {
            KeySlots::create(
                dir,
                &user.name,
                passphrase,
                &keys,
                opts.kdf,
                opts.policy,
                ks,
            )
        };
        let keystore = match create(keystore.clone()) {
            Ok(_) => keystore,
            Err(Error::KeystoreUnavailable(_)) if keystore.is_some() => {
                create(None)?;
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(k) = &health_key {
            health_key::install(&conn, k)?;
        }
        let session = Session {
            user: user.name,
            role: user.role,
            division: user.division,
            team: user.team,
        };
        Ok(Store {
            dir: dir.to_path_buf(),
            conn,
            session,
            actor,
            device_id,
            key,
            health_key,
            keystore,
            erased: false,
        })
    }

    /// Unlocks an existing store with a user's passphrase (`user` narrows which slot is tried).
    /// Slots bound to the OS keystore cannot be opened this way: see `open_with_keystore`.
    pub fn open(dir: &Path, passphrase: &str, user: Option<&str>) -> Result<Store> {
        Self::open_with_keystore(dir, passphrase, user, None)
    }

    /// Unlocks an existing store, reading the secrets of bound key slots from `keystore`. A
    /// keystore that cannot be reached or has lost the secret gives `KeystoreUnavailable`, and
    /// that attempt does not count towards the lockout.
    pub fn open_with_keystore(
        dir: &Path,
        passphrase: &str,
        user: Option<&str>,
        keystore: Option<SharedKeyStore>,
    ) -> Result<Store> {
        let mut slots = KeySlots::load(dir)?.with_keystore(keystore.clone());
        let result = slots.open_keys(passphrase, user);
        if let Err(Error::Wiped) = result {
            erase_files(dir);
        }
        let (name, keys) = result?;
        let key = keys.data.clone();
        let path = db_path(dir);
        if !path.exists() {
            return Err(Error::StoreMissing(dir.display().to_string()));
        }
        let conn = open_db(&path, &key, false)?;
        schema::migrate(&conn)?;
        purge::ensure_reclaimable(&conn)?;
        purge::reclaim(&conn)?;
        let session = conn
            .query_row(
                "SELECT name, role, division, team, actor FROM users WHERE name = ?1",
                [&name],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| {
                Error::Internal("the unlocked user is not enrolled in this store".into())
            })?;
        let role = Role::parse(&session.1).map_err(Error::Internal)?;
        let own_actor = session.4.clone();
        let session = Session {
            user: session.0,
            role,
            division: session.2,
            team: session.3,
        };
        let meta = |k: &str| -> Result<String> {
            Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))?)
        };
        // commits made while a user is signed in carry their own actor id (the one the server
        // registered to them), the enrolling user's being the device's
        let actor_hex = match own_actor {
            Some(a) => a,
            None => meta("actor_id")?,
        };
        let actor = ActorId::from(
            hex::decode(actor_hex).map_err(|_| Error::Internal("bad actor id".into()))?,
        );
        let device_id = meta("device_id")?;
        let mut store = Store {
            dir: dir.to_path_buf(),
            conn,
            session,
            actor,
            device_id,
            key,
            health_key: None,
            keystore,
            erased: false,
        };
        store.take_health_key(keys.health, passphrase)?;
        store.register_held_forms()?;
        store.fill_list_rows()?;
        Ok(store)
    }

    /// Makes the health key usable for an IDVA's session. The first IDVA to unlock a store made
    /// before health keys makes one, re-wraps their own slot with it and seals the health
    /// records already here (`health_key`). Other roles never use one.
    fn take_health_key(&mut self, from_slot: Option<SecretKey>, passphrase: &str) -> Result<()> {
        if self.session.role != Role::Idva {
            return Ok(());
        }
        let now = now_rfc3339();
        let key = match from_slot {
            Some(k) => k,
            None if health_key::meta(&self.conn, health_key::KEY_AT)?.is_none() => {
                let k = random_key();
                let keys = StoreKeys {
                    data: self.key.clone(),
                    health: Some(k.clone()),
                };
                self.slots()?
                    .change_passphrase(&self.session.user, passphrase, &keys)?;
                k
            }
            // the store's health key is wrapped for other IDVAs only: this one cannot read
            // the health records kept here
            None => return Ok(()),
        };
        if health_key::meta(&self.conn, health_key::KEY_AT)?.is_none() {
            health_key::set_meta(&self.conn, health_key::KEY_AT, &now)?;
        }
        health_key::install(&self.conn, &key)?;
        if health_key::meta(&self.conn, health_key::SEALED_AT)?.is_none() {
            let n = health_key::seal_plaintext(&self.conn, &key, &now)?;
            self.audit(
                Action::Alter,
                "store",
                &format!("{n} health record chunk(s) sealed under the health key"),
            )?;
        }
        self.health_key = Some(key);
        Ok(())
    }

    /// Records with unsynced changes this session cannot read (health records, without the
    /// health key): a sync leaves them for a user who can.
    pub fn unreadable_unsynced(&self) -> Result<Vec<String>> {
        if self.health_key.is_some() || self.erased {
            return Ok(vec![]);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM records WHERE heads != acked_heads AND kind = 'health'")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// Whether a store exists in `dir` and, if so, whether it has been wiped.
    pub fn status(dir: &Path) -> Result<StoreStatus> {
        match KeySlots::load(dir) {
            Ok(s) => Ok(StoreStatus {
                exists: true,
                wiped: s.is_wiped(),
                failed_attempts: s.failed_attempts(),
                wait_seconds: s
                    .wait_ms(chrono::Utc::now().timestamp_millis())
                    .div_ceil(1000),
                users: s.users(),
                policy: s.policy(),
                key_protection: s.protection(),
            }),
            Err(Error::StoreMissing(_)) => Ok(StoreStatus {
                exists: false,
                wiped: false,
                failed_attempts: 0,
                wait_seconds: 0,
                users: vec![],
                policy: LockPolicy::default(),
                key_protection: KeyProtection::PassphraseOnly,
            }),
            Err(e) => Err(e),
        }
    }

    /// Enrols another user on this device with their own key slot and actor id, as the server
    /// registered them: `user` and `actor` are the server's answer to an enrolment code for
    /// that user (`sync::users::add_user`, the only way the command line and the app reach
    /// this). No role is ever chosen on the device.
    pub fn add_user(
        &mut self,
        user: NewUser,
        actor: ActorId,
        passphrase: &str,
        kdf: KdfParams,
    ) -> Result<()> {
        if self.erased {
            return Err(Error::Revoked);
        }
        if user.name.trim().is_empty() || user.name.len() > 64 {
            return Err(Error::InvalidInput(
                "the user name must be 1-64 characters".into(),
            ));
        }
        let mut slots = self.slots()?;
        let keys = StoreKeys {
            data: self.key.clone(),
            // an IDVA's slot gets the health key when the one adding them holds it
            health: match user.role {
                Role::Idva => self.health_key.clone(),
                _ => None,
            },
        };
        slots.add(&user.name, passphrase, &keys, kdf)?;
        self.conn.execute(
            "INSERT INTO users (name, role, division, team, created_at, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![user.name, user.role.as_str(), user.division, user.team, now_rfc3339(), actor.to_hex_string()],
        )?;
        self.audit(
            Action::Create,
            "user",
            &format!("user {} enrolled as {}", user.name, user.role),
        )?;
        Ok(())
    }

    /// Changes the signed-in user's passphrase.
    pub fn change_passphrase(&mut self, new_passphrase: &str) -> Result<()> {
        let mut slots = self.slots()?;
        let keys = StoreKeys {
            data: self.key.clone(),
            health: self.health_key.clone(),
        };
        slots.change_passphrase(&self.session.user, new_passphrase, &keys)?;
        self.audit(Action::Alter, "user", "passphrase changed")
    }

    /// Destroys the data key and deletes the database: used on revocation and lockout.
    pub fn wipe(self) -> Result<()> {
        let dir = self.dir.clone();
        let mut slots = self.slots()?;
        drop(self.conn);
        slots.destroy()?;
        erase_files(&dir);
        Ok(())
    }

    /// Destroys the data key and the database while this handle is open (a revoked device):
    /// the handle is left empty, and every later operation answers `Revoked`.
    pub fn erase_now(&mut self) -> Result<()> {
        let old = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        drop(old);
        self.erased = true;
        let mut slots = self.slots()?;
        slots.destroy()?;
        erase_files(&self.dir);
        Ok(())
    }

    /// The key slots, with the keystore this store was opened with.
    fn slots(&self) -> Result<KeySlots> {
        Ok(KeySlots::load(&self.dir)?.with_keystore(self.keystore.clone()))
    }

    /// Whether this store's key slots are bound to the OS keystore.
    pub fn key_protection(&self) -> Result<KeyProtection> {
        Ok(KeySlots::load(&self.dir)?.protection())
    }

    pub fn is_erased(&self) -> bool {
        self.erased
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn lock_policy(&self) -> Result<LockPolicy> {
        Ok(KeySlots::load(&self.dir)?.policy())
    }

    pub fn set_lock_policy(&mut self, policy: LockPolicy) -> Result<()> {
        KeySlots::load(&self.dir)?.set_policy(policy)?;
        self.audit(Action::Alter, "settings", "lock policy changed")
    }

    /// Records an audit entry for the signed-in user.
    fn audit(&self, action: Action, record: &str, detail: &str) -> Result<()> {
        audit::append(
            &self.conn,
            &self.session.user,
            self.session.role.as_str(),
            action,
            record,
            detail,
        )
    }

    /// Records in the device's audit log that an evaluation export was saved here.
    pub fn record_export(&self, detail: &str) -> Result<()> {
        self.audit(Action::Export, "*", detail)
    }

    /// Checks the audit chain; returns the number of entries.
    pub fn audit_verify(&self) -> Result<usize> {
        audit::verify(&self.conn)
    }

    pub fn audit_entries(&self) -> Result<Vec<audit::Entry>> {
        audit::entries(&self.conn)
    }

    fn require_case_access(&self) -> Result<()> {
        if self.erased {
            return Err(Error::Revoked);
        }
        self.require_recent_contact()?;
        if !self.session.role.sees_cases() {
            return Err(Error::Forbidden {
                role: self.session.role.to_string(),
                action: "see case records".into(),
            });
        }
        Ok(())
    }
}

/// What can be known about a store without unlocking it.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    pub exists: bool,
    pub wiped: bool,
    pub failed_attempts: u32,
    pub wait_seconds: u64,
    pub users: Vec<String>,
    pub policy: LockPolicy,
    pub key_protection: KeyProtection,
}

/// Deletes the database files. They are already unreadable once the key slots are gone.
fn erase_files(dir: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = dir.join(format!("{DB_FILE}{suffix}"));
        if p.exists() {
            if let Ok(len) = fs::metadata(&p).map(|m| m.len()) {
                let _ = fs::write(&p, vec![0u8; len.min(64 * 1024 * 1024) as usize]);
            }
            let _ = fs::remove_file(&p);
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
