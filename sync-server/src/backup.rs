//! Backup and restore of the embedded store. A backup is taken while the server serves, by
//! SQLite's online backup API in one step (one read transaction: a consistent copy), into a
//! destination keyed with the store's own key, so the backup is as encrypted as the store. It
//! is written under a temporary name, synced, and linked into place (never over a file).
//! The key file is not in the backup: keep it apart from the backups.
//!
//! A restore goes into an empty data folder only: the backup must open with the key given and
//! pass `PRAGMA integrity_check`; it is then migrated (it may come from an older release) and
//! every device is marked to start over on its next sync (`Storage::mark_restored`), since
//! devices hold, as acknowledged, what they sent after the backup.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::admin::{DataDir, KEY_FILE};
use crate::error::{Result, ServerError};
use crate::keyfile::{self, StoreKey};
use crate::storage::sqlite::{SqliteStorage, DB_FILE};
use crate::storage::Storage;

/// What a backup or restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub file: PathBuf,
    pub bytes: u64,
    /// The store's schema version.
    pub schema_version: u32,
    /// Devices told to start over (restore only).
    pub devices: usize,
}

fn no_postgres(data: &DataDir, what: &str) -> Result<()> {
    if data.database_url.is_some() {
        return Err(ServerError::InvalidInput(format!(
            "{what} is for the embedded store; back up PostgreSQL with pg_dump or \
             pg_basebackup (see docs/OPERATIONS.md)"
        )));
    }
    Ok(())
}

/// The store key file of `data` (given, or DIR/server.key).
pub fn key_path(data: &DataDir) -> PathBuf {
    data.key_file
        .clone()
        .unwrap_or_else(|| data.dir.join(KEY_FILE))
}

/// Opens the store at `path` with `key`, checking the key opens it.
pub(crate) fn open_keyed(path: &Path, key: &StoreKey, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    provide_core::store::schema::apply_key(&conn, key)
        .map_err(|_| ServerError::Key("the store cannot be decrypted with this key".into()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()))
}

/// Creates an empty file readable only by this user.
fn create_private(path: &Path) -> Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    Ok(opts.open(path)?)
}

pub(crate) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Backs up the store of `data` to the new file `out`, encrypted with the store's key.
pub fn backup(data: &DataDir, out: &Path) -> Result<Summary> {
    no_postgres(data, "backup")?;
    if out.exists() {
        return Err(ServerError::InvalidInput(
            "the backup file already exists; name a new one".into(),
        ));
    }
    let db = data.dir.join(DB_FILE);
    if !db.exists() {
        return Err(ServerError::InvalidInput(format!(
            "there is no store in {} to back up",
            data.dir.display()
        )));
    }
    let key_file = key_path(data);
    if !key_file.exists() {
        return Err(ServerError::Key(format!(
            "the key file {} is missing",
            key_file.display()
        )));
    }
    // held shared, like a serving store's: no backup is taken mid re-key
    let _lock = crate::rotate::serving_lock(&data.dir)?;
    let key = keyfile::load_or_create(&key_file)?;
    let copied = copy_store(&db, &key, out);
    let schema_version = copied?;
    Ok(Summary {
        file: out.to_path_buf(),
        bytes: fs::metadata(out)?.len(),
        schema_version,
        devices: 0,
    })
}

/// Copies the SQLCipher database `db` (under `key`) to the new file `out`, page by page in one
/// read transaction (a copy of one moment even while a server writes), checked whole; returns
/// its schema version.
fn copy_store(db: &Path, key: &StoreKey, out: &Path) -> Result<u32> {
    let source = open_keyed(db, key, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let temp = temp_beside(out);
    drop(create_private(&temp)?);
    let copied = (|| -> Result<u32> {
        let mut dest = open_keyed(&temp, key, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        {
            let b = rusqlite::backup::Backup::new(&source, &mut dest)?;
            // every page in one step: one read transaction on the source, so the copy is of
            // one moment even while the server writes (WAL lets it go on meanwhile)
            use rusqlite::backup::StepResult;
            let mut tries = 0;
            loop {
                match b.step(-1)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    _ if tries < 100 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    _ => {
                        return Err(ServerError::Storage(
                            "the store stayed locked; no backup was written".into(),
                        ))
                    }
                }
            }
        }
        let version: u32 = dest.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let ok: String = dest.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(ServerError::Storage(
                "the backup copy failed its integrity check".into(),
            ));
        }
        drop(dest);
        fs::File::open(&temp)?.sync_all()?;
        fs::hard_link(&temp, out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                ServerError::InvalidInput("the backup file already exists; name a new one".into())
            } else {
                e.into()
            }
        })?;
        sync_dir(out);
        Ok(version)
    })();
    let _ = fs::remove_file(&temp);
    copied
}

/// Backs up the record key store of `data` to the new file `out` (under the store's key): on
/// its own schedule, shorter than the data's (see OPERATIONS.md).
pub fn backup_keys(data: &DataDir, out: &Path) -> Result<Summary> {
    no_postgres(data, "backup-keys")?;
    if out.exists() {
        return Err(ServerError::InvalidInput(
            "the backup file already exists; name a new one".into(),
        ));
    }
    let keys = data.record_keys_path();
    if !keys.exists() {
        return Err(ServerError::InvalidInput(format!(
            "there is no record key store at {}",
            keys.display()
        )));
    }
    let _lock = crate::rotate::serving_lock(&data.dir)?;
    let key = keyfile::load_or_create(&key_path(data))?;
    let schema_version = copy_store(&keys, &key, out)?;
    Ok(Summary {
        file: out.to_path_buf(),
        bytes: fs::metadata(out)?.len(),
        schema_version,
        devices: 0,
    })
}

/// Restores the backup `from` into the empty data folder of `data`, with the key in `key_file`
/// (the key of the store the backup was taken of) and the record keys from `keys_from` (a
/// `backup-keys` copy newer than the data's backup; without it, the key store `data` names
/// must exist already). The key is placed in the restored folder as `server.key` unless
/// `data.key_file` names where it is kept. Records the key store says were erased after the
/// backup was taken are erased again (`Storage::mark_restored`).
pub fn restore(
    data: &DataDir,
    from: &Path,
    key_file: &Path,
    keys_from: Option<&Path>,
) -> Result<Summary> {
    no_postgres(data, "restore")?;
    let keys_at = data.record_keys_path();
    if let Some(k) = keys_from.filter(|k| !k.is_file()) {
        return Err(ServerError::InvalidInput(format!(
            "there is no record key backup {}",
            k.display()
        )));
    }
    if let Ok(mut entries) = fs::read_dir(&data.dir) {
        if entries.next().is_some() {
            return Err(ServerError::InvalidInput(format!(
                "the data folder {} is not empty; restore only into a new, empty folder",
                data.dir.display()
            )));
        }
    }
    if !from.is_file() {
        return Err(ServerError::InvalidInput(format!(
            "there is no backup file {}",
            from.display()
        )));
    }
    if !key_file.is_file() {
        return Err(ServerError::Key(format!(
            "the key file {} is missing",
            key_file.display()
        )));
    }
    let key = keyfile::load_or_create(key_file)?;
    {
        let conn = open_keyed(from, &key, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|_| ServerError::Key("the backup cannot be decrypted with this key".into()))?;
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(ServerError::Storage(
                "the backup failed its integrity check; it is damaged".into(),
            ));
        }
    }
    fs::create_dir_all(&data.dir)?;
    provide_core::data_dir::make_private(&data.dir)?;
    let db = data.dir.join(DB_FILE);
    let temp = temp_beside(&db);
    let mut out = create_private(&temp)?;
    std::io::copy(&mut fs::File::open(from)?, &mut out)?;
    out.sync_all()?;
    drop(out);
    fs::rename(&temp, &db)?;
    sync_dir(&db);
    // the key where `serve` will look for it
    let placed = key_path(data);
    if fs::canonicalize(&placed).ok() != fs::canonicalize(key_file).ok() {
        let temp = temp_beside(&placed);
        let mut f = create_private(&temp)?;
        std::io::Write::write_all(&mut f, hex::encode(key.as_ref()).as_bytes())?;
        f.sync_all()?;
        drop(f);
        let linked = fs::hard_link(&temp, &placed);
        let _ = fs::remove_file(&temp);
        linked.map_err(|e| {
            ServerError::Key(format!(
                "the key could not be placed at {}: {e}",
                placed.display()
            ))
        })?;
        sync_dir(&placed);
    }
    if let Some(k) = keys_from {
        open_keyed(k, &key, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|_| {
            ServerError::Key("the record key backup cannot be decrypted with this key".into())
        })?;
        let temp = temp_beside(&keys_at);
        let mut out = create_private(&temp)?;
        std::io::copy(&mut fs::File::open(k)?, &mut out)?;
        out.sync_all()?;
        drop(out);
        let placed = fs::hard_link(&temp, &keys_at);
        let _ = fs::remove_file(&temp);
        placed.map_err(|e| {
            ServerError::InvalidInput(format!(
                "the record keys could not be placed at {}: {e}",
                keys_at.display()
            ))
        })?;
        sync_dir(&keys_at);
    }
    // migrated on open; then every device starts over on its next sync, and what the key
    // store says was erased since the backup is erased again. A key store older than the data
    // (records without keys) is refused, and the folder left empty to try again.
    let opened = (|| -> Result<(usize, u32)> {
        let storage = SqliteStorage::open(&data.dir, &key, data.record_keys(&key)?)?;
        Ok((storage.mark_restored()?, storage.schema_version()?))
    })();
    let (devices, schema_version) = match opened {
        Ok(done) => done,
        Err(e) => {
            if let Ok(entries) = fs::read_dir(&data.dir) {
                for entry in entries.flatten() {
                    let _ = fs::remove_file(entry.path());
                }
            }
            // a key store placed from a backup goes too; one the operator named stays
            if keys_from.is_some() {
                let _ = fs::remove_file(&keys_at);
            }
            return Err(e);
        }
    };
    Ok(Summary {
        file: db.clone(),
        bytes: fs::metadata(&db)?.len(),
        schema_version,
        devices,
    })
}
