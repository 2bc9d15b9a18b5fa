//! The key of the server's encrypted store: 32 random bytes, hex, in a file readable only by
//! the server's user. Created on first use; an operator may provide their own (for example
//! from a secrets manager) with `--key-file`. Losing it loses the store: back it up apart.

use std::fs;
use std::io::Write;
use std::path::Path;

use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Result, ServerError};

pub type StoreKey = Zeroizing<[u8; 32]>;

/// Reads the key at `path`, creating it (mode 0600) if there is none.
pub fn load_or_create(path: &Path) -> Result<StoreKey> {
    if path.exists() {
        return read(path);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    let text = Zeroizing::new(hex::encode(key.as_ref()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(key)
}

fn read(path: &Path) -> Result<StoreKey> {
    let text = Zeroizing::new(fs::read_to_string(path)?);
    let bytes = Zeroizing::new(
        hex::decode(text.trim()).map_err(|_| ServerError::Key("it is not hex".into()))?,
    );
    if bytes.len() != 32 {
        return Err(ServerError::Key(
            "it must hold 32 bytes (64 hex digits)".into(),
        ));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes);
    Ok(key)
}
