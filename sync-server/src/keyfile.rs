//! Key files: 32 random bytes, hex, in a file readable only by the server's user. The store's
//! key (`server.key`, `--key-file`; losing it loses the store) and the report key of export
//! pseudonyms (`report.key`, `--report-key-file`; losing it makes new exports' pseudonyms
//! unrelated to old ones). Created on first use, atomically, so two processes starting at once
//! agree on one key; an operator may provide their own (for example from a secrets manager).
//! Back them up apart from the data.

use std::fs;
use std::io::Write;
use std::path::Path;

use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Result, ServerError};

pub type StoreKey = Zeroizing<[u8; 32]>;

/// Reads the key at `path`, creating it (mode 0600) if there is none.
pub fn load_or_create(path: &Path) -> Result<StoreKey> {
    let bytes = load_or_create_secret(path, || {
        let mut key = Zeroizing::new(vec![0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Ok(key)
    })?;
    if bytes.len() != 32 {
        return Err(ServerError::Key(
            "it must hold 32 bytes (64 hex digits)".into(),
        ));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// Reads the secret (hex) at `path`, creating it from `fresh` (mode 0600) if there is none:
/// the store's and the report's keys, and the device CA's key (PKCS#8).
pub fn load_or_create_secret(
    path: &Path,
    fresh: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>> {
    if path.exists() {
        return read(path);
    }
    let key = fresh()?;
    let text = Zeroizing::new(hex::encode(&key[..]));
    // written whole under a temporary name, then linked into place: the link fails if another
    // process made the key first, and then that key is the one
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| -> std::io::Result<()> {
        let mut f = opts.open(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    let linked = written.and_then(|()| fs::hard_link(&temp, path));
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e.into()),
    }
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let text = Zeroizing::new(fs::read_to_string(path)?);
    Ok(Zeroizing::new(
        hex::decode(text.trim()).map_err(|_| ServerError::Key("it is not hex".into()))?,
    ))
}
