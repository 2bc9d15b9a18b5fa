//! Re-keying the embedded store (`rotate-key`), and the lock that keeps it apart from `serve`.
//!
//! `serve` holds a shared lock on `DIR/serve.lock` for as long as it runs; `rotate-key` takes it
//! exclusively (and refuses while any server serves the folder), so no server opens the store
//! mid-rotation.
//!
//! Two files are under the store key: the record key store (`record-keys.db`) and the store.
//! Crash safety: at every moment, each file opens with `KEY` or with `KEY.new`.
//! 1. the new key is written to `KEY.new` (synced); the old key is copied to `KEY.old`;
//! 2. `PRAGMA rekey` re-encrypts every page of each file in one transaction per file (a crash
//!    rolls that file back: it stays under the old key, still in `KEY`);
//! 3. `KEY.new` is renamed over `KEY` (atomic); each file is opened with it; `KEY.old` is
//!    removed.
//!
//! After a crash anywhere from 1 to 3, `KEY.new` is still there: the next `rotate-key`
//! finishes that rotation first (each file still under `KEY` is re-keyed to `KEY.new`, then the
//! rename), and says so.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::OpenFlags;

use crate::admin::DataDir;
use crate::backup::{key_path, open_keyed, sync_dir};
use crate::error::{Result, ServerError};
use crate::keyfile::{self, StoreKey};
use crate::storage::sqlite::DB_FILE;

pub const LOCK_FILE: &str = "serve.lock";

/// A held lock on the data folder; released when dropped (or when the process ends).
pub struct FolderLock {
    _file: fs::File,
}

fn lock(dir: &Path, exclusive: bool) -> Result<Option<FolderLock>> {
    fs::create_dir_all(dir)?;
    let mut opts = fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(dir.join(LOCK_FILE))?;
    // flock(2) on Unix, LockFileEx on Windows; released when the file is closed
    let taken = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match taken {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Ok(None),
        Err(fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    Ok(Some(FolderLock { _file: file }))
}

/// The lock `serve` holds on an embedded store's folder (several servers may hold it).
pub fn serving_lock(dir: &Path) -> Result<FolderLock> {
    lock(dir, false)?.ok_or_else(|| {
        ServerError::InvalidInput(
            "the store's key is being rotated (rotate-key); start the server when it is done"
                .into(),
        )
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What `rotate_key` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    /// The store is now under the new key, in the key file.
    Done,
    /// An interrupted rotation was finished: the store was already under the key in
    /// `KEY.new`, now in the key file. Nothing else was changed.
    Finished,
}

fn opens(db: &Path, key: &StoreKey) -> bool {
    open_keyed(db, key, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(ServerError::from)
        })
        .is_ok()
}

/// Re-encrypts every page of the SQLCipher file `db` from `from` to `to` in one transaction
/// (in rollback-journal mode, whose journal SQLCipher re-keys with the pages; the file goes
/// back to the journal mode it had after). A crash rolls it back: the file stays under `from`.
fn rekey(db: &Path, from: &StoreKey, to: &StoreKey) -> Result<()> {
    let conn = open_keyed(db, from, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))?;
    conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })?;
    let pragma = zeroize::Zeroizing::new(format!(
        "PRAGMA rekey = \"x'{}'\";",
        hex::encode(to.as_ref())
    ));
    conn.execute_batch(&pragma)?;
    conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| {
        r.get::<_, String>(0)
    })?;
    Ok(())
}

fn write_key_file(path: &Path, key: &StoreKey) -> Result<()> {
    let _ = fs::remove_file(path);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let text = zeroize::Zeroizing::new(hex::encode(key.as_ref()));
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    f.sync_all()?;
    sync_dir(path);
    Ok(())
}

/// Re-keys the store of `data` with the key in `new_key_file` (or a new random one).
pub fn rotate_key(data: &DataDir, new_key_file: Option<&Path>) -> Result<Rotated> {
    if data.database_url.is_some() {
        return Err(ServerError::InvalidInput(
            "rotate-key is for the embedded store; PostgreSQL's encryption at rest is the \
             database's own"
                .into(),
        ));
    }
    let db = data.dir.join(DB_FILE);
    if !db.exists() {
        return Err(ServerError::InvalidInput(format!(
            "there is no store in {}",
            data.dir.display()
        )));
    }
    let _lock = lock(&data.dir, true)?.ok_or_else(|| {
        ServerError::InvalidInput(
            "a server is serving this data folder; stop it first (rotate-key needs the store \
             to itself)"
                .into(),
        )
    })?;
    let key_file = key_path(data);
    let new_path = with_suffix(&key_file, ".new");
    let old_path = with_suffix(&key_file, ".old");
    // both files are under the store key: the record key store first, then the store
    let files: Vec<PathBuf> = [data.record_keys_path(), db.clone()]
        .into_iter()
        .filter(|f| f.exists())
        .collect();
    let current = keyfile::load_or_create(&key_file)?;
    if new_path.exists() {
        // an interrupted rotation: every file is brought under the key in KEY.new, then it
        // becomes the key
        let pending = keyfile::load_or_create(&new_path)?;
        for f in &files {
            if opens(f, &pending) {
                continue;
            }
            if !opens(f, &current) {
                return Err(ServerError::Key(format!(
                    "{} cannot be decrypted with the key file nor with an interrupted \
                     rotation's new key",
                    f.display()
                )));
            }
            rekey(f, &current, &pending)?;
        }
        fs::rename(&new_path, &key_file)?;
        sync_dir(&key_file);
        let _ = fs::remove_file(&old_path);
        return Ok(Rotated::Finished);
    }
    if let Some(f) = files.iter().find(|f| !opens(f, &current)) {
        return Err(ServerError::Key(format!(
            "{} cannot be decrypted with the key file",
            f.display()
        )));
    }
    let new_key = match new_key_file {
        Some(f) => keyfile::load_or_create(f)?,
        None => {
            let mut k = zeroize::Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, k.as_mut());
            k
        }
    };
    if new_key.as_ref() == current.as_ref() {
        return Err(ServerError::InvalidInput(
            "the new key is the store's present key".into(),
        ));
    }
    // step 1: both keys on disk before any file changes
    write_key_file(&new_path, &new_key)?;
    write_key_file(&old_path, &current)?;
    // step 2: each file re-encrypted in one transaction
    for f in &files {
        rekey(f, &current, &new_key)?;
    }
    // step 3
    fs::rename(&new_path, &key_file)?;
    sync_dir(&key_file);
    let now = keyfile::load_or_create(&key_file)?;
    if let Some(f) = files.iter().find(|f| !opens(f, &now)) {
        return Err(ServerError::Key(format!(
            "the re-keyed {} does not open with the new key; the old key is kept in {}",
            f.display(),
            old_path.display()
        )));
    }
    fs::remove_file(&old_path)?;
    sync_dir(&key_file);
    Ok(Rotated::Done)
}
