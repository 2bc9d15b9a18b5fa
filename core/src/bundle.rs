//! The encrypted rescue bundle: a record's (or every unsynced) changes in one file, sealed
//! under a passphrase, for carrying work to the safeguarding team when a device is failing and
//! there is no signal.
//!
//! Layout: `PROVBNDL` magic, format byte, Argon2id parameters, salt, nonce, then the
//! XChaCha20-Poly1305 ciphertext of a zstd-compressed JSON payload. Everything before the
//! ciphertext is authenticated as associated data, so no byte of the file can be changed
//! without the import noticing.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::crypto::{self, KdfParams};
use crate::error::{Error, Result};
use crate::record::untrusted::{check_untrusted, DecodeBudget};

pub const MAGIC: &[u8; 8] = b"PROVBNDL";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 12 + 16;
/// The most a bundle may decompress to.
const MAX_PLAINTEXT: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    pub format: u32,
    pub created_at: String,
    pub device_id: String,
    pub user: String,
    pub role: String,
    pub records: Vec<BundleRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleRecord {
    pub id: String,
    pub kind: String,
    /// Automerge changes (hex): the whole document, or the changes after the acknowledged heads.
    pub changes: String,
}

pub fn seal(payload: &Payload, passphrase: &str, kdf: KdfParams) -> Result<Vec<u8>> {
    if passphrase.chars().count() < crate::crypto::keyslots::MIN_PASSPHRASE_CHARS {
        return Err(Error::WeakPassphrase(
            crate::crypto::keyslots::MIN_PASSPHRASE_CHARS,
        ));
    }
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec(payload).map_err(|e| Error::Internal(e.to_string()))?,
    );
    let packed = zeroize::Zeroizing::new(zstd::encode_all(&json[..], 9)?);
    let salt = crypto::random_bytes::<16>();
    let mut header = Vec::with_capacity(HEADER_LEN + 24);
    header.extend_from_slice(MAGIC);
    header.push(FORMAT);
    for v in [kdf.memory_kib, kdf.iterations, kdf.parallelism] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    header.extend_from_slice(&salt);
    let key = crypto::derive_key(passphrase.as_bytes(), &salt, kdf)?;
    let (nonce, ct) = crypto::seal(&key, &packed, &header)?;
    let mut out = header;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub fn open(bytes: &[u8], passphrase: &str) -> Result<Payload> {
    if bytes.len() < HEADER_LEN + 24 + 16 || &bytes[..8] != MAGIC {
        return Err(Error::BadBundle("it is not a Provide bundle".into()));
    }
    if bytes[8] != FORMAT {
        return Err(Error::BadBundle(format!(
            "it has format {} and this app reads format {FORMAT}",
            bytes[8]
        )));
    }
    let word =
        |i: usize| u32::from_le_bytes(bytes[9 + 4 * i..13 + 4 * i].try_into().expect("4 bytes"));
    let kdf = KdfParams {
        memory_kib: word(0),
        iterations: word(1),
        parallelism: word(2),
    };
    kdf.validate()
        .map_err(|_| Error::BadBundle("its key parameters are out of range".into()))?;
    let header = &bytes[..HEADER_LEN];
    let salt = &bytes[21..HEADER_LEN];
    let nonce = &bytes[HEADER_LEN..HEADER_LEN + 24];
    let key = crypto::derive_key(passphrase.as_bytes(), salt, kdf)?;
    let packed = crypto::open(&key, nonce, &bytes[HEADER_LEN + 24..], header).ok_or_else(|| {
        Error::BadBundle("the bundle passphrase is wrong or the file was altered".into())
    })?;
    unpack(&packed)
}

/// The payload from the decrypted contents: zstd-compressed JSON, at most `MAX_PLAINTEXT`.
pub fn unpack(packed: &[u8]) -> Result<Payload> {
    let mut json = zeroize::Zeroizing::new(Vec::new());
    zstd::stream::Decoder::new(packed)
        .and_then(|d| d.take(MAX_PLAINTEXT).read_to_end(&mut json))
        .map_err(|_| Error::BadBundle("its contents could not be decompressed".into()))?;
    let payload: Payload = serde_json::from_slice(&json)
        .map_err(|_| Error::BadBundle("its contents are not understood".into()))?;
    if payload.format != 1 {
        return Err(Error::BadBundle(
            "its payload format is not supported".into(),
        ));
    }
    Ok(payload)
}

impl BundleRecord {
    /// The record's Automerge bytes, checked before any loader sees them
    /// (`untrusted::check_untrusted`), charged to the bundle's `budget`.
    pub fn changes(&self, budget: &mut DecodeBudget) -> Result<Vec<u8>> {
        let changes = hex::decode(&self.changes)
            .map_err(|_| Error::BadBundle("a record's changes are damaged".into()))?;
        check_untrusted(&changes, budget)
            .map_err(|why| Error::BadBundle(format!("record {}'s changes {why}", self.id)))?;
        Ok(changes)
    }
}
