//! Crypto-shredding: every stored record's bytes (each chunk and snapshot, and what a revoked
//! device handed in for review) are sealed under the record's own random key, and the keys are
//! kept apart from the data, in a key store of their own:
//! - the embedded store: a SQLCipher file of its own (`--record-keys FILE`, default
//!   `DIR/record-keys.db`) under the store key, backed up on its own shorter schedule
//!   (`backup-keys`);
//! - PostgreSQL: a `record_keys` table reached through its own URL (`--record-keys-url`,
//!   default the data's database), so it can live in another database with its own dumps.
//!
//! Erasing a record destroys its key and deletes its rows: every earlier copy of its bytes (a
//! free page, the WAL, a backup of the data store, a dump) can no longer be read by anyone
//! holding the key store as it is now.
//!
//! Sealed bytes are `PRK1`, a 24-byte nonce, and XChaCha20-Poly1305 of the plain bytes with the
//! key's name as associated data (a chunk moved to another record or epoch does not open). A
//! key is named by its record and epoch (`key_name`): a rectified record is re-rooted under a
//! new key and its old epoch's key destroyed. Bytes an
//! older release stored unsealed start with Automerge's magic and are sealed when the store
//! opens (`seal_pass`); until then they read as they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use provide_core::crypto::{self, SecretKey};
use rusqlite::{params, Connection, OptionalExtension};

use super::pg_conn::Sql;
use crate::error::{Result, ServerError};
use crate::keyfile::StoreKey;

/// The key store's file in the data folder, by default.
pub const RECORD_KEYS_FILE: &str = "record-keys.db";
/// What sealed bytes start with.
pub const SEALED_MAGIC: &[u8; 4] = b"PRK1";
/// The name under which a store records that its unsealed bytes were sealed.
pub const SEALED_MARK: &str = "records_sealed";
/// At most this many keys are kept in memory (then the cache starts again).
const CACHE_MAX: usize = 4096;

/// Where record keys are kept: one row per record, never updated, deleted to erase.
pub trait KeyStore: Send + Sync {
    /// The record's key, if it has one.
    fn get(&self, id: &str) -> Result<Option<SecretKey>>;
    /// The record's key, making it when it has none (two writers at once agree on one).
    fn get_or_create(&self, id: &str) -> Result<SecretKey>;
    /// Destroys the keys, leaving no copy in the key store's files, and keeps their names
    /// with whether the record was erased (else an older epoch was superseded), so a data
    /// store restored from an older backup learns what was erased since; returns how many
    /// keys there were.
    fn destroy(&self, names: &[String], erased: bool) -> Result<usize>;
    /// The records whose keys were destroyed because they were erased.
    fn destroyed(&self) -> Result<Vec<String>>;
}

/// Seals and opens records' bytes under their own keys.
pub struct RecordKeys {
    store: Box<dyn KeyStore>,
    cache: Mutex<HashMap<String, SecretKey>>,
}

/// The name of a record's key at an epoch (rectification re-roots a record under a new key):
/// the record's id at epoch 0, `ID@N` after.
pub fn key_name(id: &str, epoch: u32) -> String {
    if epoch == 0 {
        id.to_string()
    } else {
        format!("{id}@{epoch}")
    }
}

/// Whether stored bytes are sealed (else they are an older release's plain Automerge bytes).
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(SEALED_MAGIC)
}

impl RecordKeys {
    pub fn new(store: Box<dyn KeyStore>) -> Self {
        RecordKeys {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, id: &str) -> Option<SecretKey> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn remember(&self, id: &str, key: &SecretKey) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(id.to_string(), key.clone());
    }

    fn key_for_writing(&self, id: &str) -> Result<SecretKey> {
        if let Some(k) = self.cached(id) {
            return Ok(k);
        }
        let key = self.store.get_or_create(id)?;
        self.remember(id, &key);
        Ok(key)
    }

    /// Seals `plain` under the record's key (made if it has none).
    pub fn seal(&self, id: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let key = self.key_for_writing(id)?;
        let (nonce, ct) = crypto::seal(&key, plain, id.as_bytes())
            .map_err(|_| ServerError::Internal("a record could not be sealed".into()))?;
        let mut out = Vec::with_capacity(SEALED_MAGIC.len() + nonce.len() + ct.len());
        out.extend_from_slice(SEALED_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens bytes stored for the record: sealed ones with its key, an older release's plain
    /// ones as they are. A record whose key was destroyed (erased) does not open.
    pub fn open(&self, id: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
        if !is_sealed(&stored) {
            return Ok(stored);
        }
        let key = match self.cached(id) {
            Some(k) => k,
            None => {
                let k = self.store.get(id)?.ok_or_else(|| {
                    ServerError::Storage(format!("record {id} has no key (it was erased)"))
                })?;
                self.remember(id, &k);
                k
            }
        };
        let body = &stored[SEALED_MAGIC.len()..];
        if body.len() < 24 {
            return Err(ServerError::Storage(format!("record {id} is damaged")));
        }
        let (nonce, ct) = body.split_at(24);
        crypto::open(&key, nonce, ct, id.as_bytes())
            .map(|plain| plain.to_vec())
            .ok_or_else(|| ServerError::Storage(format!("record {id} does not open")))
    }

    /// Opens every chunk of a record.
    pub fn open_all(&self, id: &str, chunks: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>> {
        chunks.into_iter().map(|c| self.open(id, c)).collect()
    }

    /// The ids whose keys were destroyed.
    pub fn destroyed(&self) -> Result<Vec<String>> {
        self.store.destroyed()
    }

    /// Whether the record has a key (a record stored sealed without one was erased).
    pub fn has_key(&self, id: &str) -> Result<bool> {
        Ok(self.cached(id).is_some() || self.store.get(id)?.is_some())
    }

    /// Destroys erased records' keys (after their rows are gone): every epoch's.
    pub fn destroy(&self, ids: &[String]) -> Result<usize> {
        self.forget(ids, true)
    }

    /// Destroys the key of a record's superseded epoch (after it was re-rooted).
    pub fn destroy_epoch(&self, id: &str, epoch: u32) -> Result<usize> {
        self.forget(&[key_name(id, epoch)], false)
    }

    fn forget(&self, names: &[String], erased: bool) -> Result<usize> {
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for n in names {
                cache.remove(n);
            }
        }
        self.store.destroy(names, erased)
    }
}

/// The embedded key store: a SQLCipher file under the store key, in rollback-journal mode
/// with `secure_delete`, so a destroyed key is overwritten in its page and no journal of it
/// outlives the commit.
pub struct FileKeyStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

const FILE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS record_keys (
    id TEXT PRIMARY KEY,
    key BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS destroyed (id TEXT PRIMARY KEY, at TEXT NOT NULL, erased INTEGER NOT NULL);";

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn key_of(bytes: &[u8]) -> Result<SecretKey> {
    if bytes.len() != 32 {
        return Err(ServerError::Storage("a record key is damaged".into()));
    }
    let mut k = zeroize::Zeroizing::new([0u8; 32]);
    k.copy_from_slice(bytes);
    Ok(k)
}

impl FileKeyStore {
    /// Opens (creating) the key store at `path` under `key`.
    pub fn open(path: &Path, key: &StoreKey) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // a new file is made 0600 on Unix; on Windows it inherits its folder's DACL
        #[cfg(unix)]
        let fresh = !path.exists();
        let conn = Connection::open(path)?;
        provide_core::store::schema::apply_key(&conn, key).map_err(|_| {
            ServerError::Key(format!(
                "the record key store {} cannot be decrypted with the store's key",
                path.display()
            ))
        })?;
        #[cfg(unix)]
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        })?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA busy_timeout = 10000;",
        )?;
        conn.execute_batch(FILE_SCHEMA)?;
        Ok(FileKeyStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyStore for FileKeyStore {
    fn get(&self, id: &str) -> Result<Option<SecretKey>> {
        let conn = self.conn();
        let bytes: Option<zeroize::Zeroizing<Vec<u8>>> = conn
            .prepare_cached("SELECT key FROM record_keys WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .map(zeroize::Zeroizing::new);
        bytes.map(|b| key_of(&b)).transpose()
    }

    fn get_or_create(&self, id: &str) -> Result<SecretKey> {
        if let Some(k) = self.get(id)? {
            return Ok(k);
        }
        let fresh = crypto::random_key();
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT OR IGNORE INTO record_keys (id, key, created_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, fresh.as_slice(), now_text()])?;
        drop(conn);
        self.get(id)?
            .ok_or_else(|| ServerError::Storage("a record key could not be kept".into()))
    }

    fn destroy(&self, ids: &[String], erased: bool) -> Result<usize> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let mut n = 0;
        let at = now_text();
        for id in ids {
            n += tx.execute("DELETE FROM record_keys WHERE id = ?1", [id])?;
            if erased {
                // every epoch's key of an erased record
                n += tx.execute(
                    "DELETE FROM record_keys WHERE substr(id, 1, length(?1) + 1) = ?1 || '@'",
                    [id],
                )?;
            }
            tx.execute(
                "INSERT INTO destroyed (id, at, erased) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET erased = max(erased, excluded.erased)",
                params![id, at, erased],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn destroyed(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let ids = conn
            .prepare("SELECT id FROM destroyed WHERE erased = 1 ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }
}

/// The PostgreSQL key store: the `record_keys` table of the database its URL names.
pub struct PgKeyStore {
    /// `None` only while being dropped.
    pool: Option<r2d2::Pool<super::postgres::Connector>>,
}

impl Drop for PgKeyStore {
    fn drop(&mut self) {
        // as `PostgresStorage`: a synchronous client must not close inside another runtime
        let pool = self.pool.take();
        let _ = std::thread::spawn(move || drop(pool)).join();
    }
}

/// The advisory lock key under which the key table is made.
const PG_KEYS_LOCK: i64 = 0x7072_6b31;

impl PgKeyStore {
    /// Connects with `connector` (a pool of at most `max`), making the table if needed.
    pub fn open(connector: super::postgres::Connector, max: usize) -> Result<Self> {
        // the first connection made directly, so one that cannot be made or secured is
        // reported as what it is (not as a pool's time-out)
        let mut c = connector.connect()?;
        let made = (|| -> Result<()> {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PG_KEYS_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS record_keys (
                id TEXT PRIMARY KEY,
                key BYTEA NOT NULL,
                created_at TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS record_keys_destroyed (id TEXT PRIMARY KEY, at TEXT NOT NULL,
                erased BOOLEAN NOT NULL);",
            )?;
            tx.commit()?;
            Ok(())
        })();
        // a synchronous client closes on its own runtime: not inside another one
        let _ = std::thread::spawn(move || drop(c)).join();
        made?;
        let pool = r2d2::Pool::builder()
            .max_size(max.clamp(1, 64) as u32)
            .min_idle(Some(0))
            .connection_timeout(std::time::Duration::from_secs(10))
            .test_on_check_out(false)
            .build_unchecked(connector);
        Ok(PgKeyStore { pool: Some(pool) })
    }

    fn client(&self) -> Result<super::postgres::Pooled> {
        let pool = self
            .pool
            .as_ref()
            .expect("the pool is there until the store is dropped");
        super::postgres::lend(pool, "no connection to the record key store")
    }
}

impl KeyStore for PgKeyStore {
    fn get(&self, id: &str) -> Result<Option<SecretKey>> {
        let mut c = self.client()?;
        let row = c.query_opt("SELECT key FROM record_keys WHERE id = $1", &[&id])?;
        row.map(|r| key_of(&zeroize::Zeroizing::new(r.get::<_, Vec<u8>>(0))))
            .transpose()
    }

    fn get_or_create(&self, id: &str) -> Result<SecretKey> {
        if let Some(k) = self.get(id)? {
            return Ok(k);
        }
        let fresh = crypto::random_key();
        let mut c = self.client()?;
        c.execute(
            "INSERT INTO record_keys (id, key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&id, &fresh.as_slice(), &now_text()],
        )?;
        drop(c);
        self.get(id)?
            .ok_or_else(|| ServerError::Storage("a record key could not be kept".into()))
    }

    fn destroy(&self, ids: &[String], erased: bool) -> Result<usize> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let mut n = tx.execute("DELETE FROM record_keys WHERE id = ANY($1)", &[&ids])?;
        if erased {
            // every epoch's key of an erased record
            n += tx.execute(
                "DELETE FROM record_keys WHERE split_part(id, '@', 1) = ANY($1) AND id LIKE '%@%'",
                &[&ids],
            )?;
        }
        tx.execute(
            "INSERT INTO record_keys_destroyed (id, at, erased) SELECT unnest($1::text[]), $2, $3
             ON CONFLICT (id) DO UPDATE SET erased = record_keys_destroyed.erased OR excluded.erased",
            &[&ids, &now_text(), &erased],
        )?;
        tx.commit()?;
        Ok(n as usize)
    }

    fn destroyed(&self) -> Result<Vec<String>> {
        let mut c = self.client()?;
        Ok(
            c.query("SELECT id FROM record_keys_destroyed ORDER BY id", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        )
    }
}
