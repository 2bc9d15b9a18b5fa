//! The health key: health records are readable only by IDVAs, even on a shared device (issue
//! 13, finding 6). Every user's key slot wraps the data key that opens the database; only IDVA
//! slots also wrap this second random key, and each chunk of a health record's document is
//! kept sealed under it (XChaCha20-Poly1305, the record id as associated data). A user who
//! unlocks the store without it, even one reading the database directly with the data key,
//! finds only ciphertext.
//!
//! A sealed chunk is `PHS1`, the 24-byte nonce, then the ciphertext; an Automerge chunk never
//! starts that way, so chunks written before this existed are told apart and still read.
//!
//! The key reaches the writes of `records::persist` as a SQL function registered on the
//! connection of an IDVA's session (`install`): a connection without it cannot seal, so no
//! other session can write a health chunk.
//!
//! Migration (the device store has no migration framework yet; issue 14): meta
//! `health_key_at` says a health key was made for this store, `health_sealed_at` that no
//! plaintext health chunk is left. A store made now has both from the start. In an older store
//! the first IDVA to unlock makes the key, re-wraps their own slot with it, and seals every
//! plaintext health chunk in one transaction, then checkpoints the WAL so no old page keeps
//! them; each step is safe to repeat.

use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OptionalExtension};

use crate::crypto::{open, seal, SecretKey};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"PHS1";
const AAD: &[u8] = b"provide health chunk v1";
const SEAL_FN: &str = "provide_seal_health";
pub(crate) const KEY_AT: &str = "health_key_at";
pub(crate) const SEALED_AT: &str = "health_sealed_at";

fn aad(record_id: &str) -> Vec<u8> {
    [AAD, record_id.as_bytes()].concat()
}

fn seal_with(key: &SecretKey, record_id: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let (nonce, ct) = seal(key, bytes, &aad(record_id))?;
    Ok([MAGIC.as_slice(), &nonce, &ct].concat())
}

/// Whether a stored chunk is sealed under the health key.
pub(crate) fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Registers on `conn` the function that seals health chunks under `key`.
pub(crate) fn install(conn: &Connection, key: &SecretKey) -> Result<()> {
    let key = key.clone();
    conn.create_scalar_function(
        SEAL_FN,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |ctx| {
            let id: String = ctx.get(0)?;
            let bytes: Vec<u8> = ctx.get(1)?;
            seal_with(&key, &id, &bytes)
                .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
        },
    )?;
    Ok(())
}

/// The bytes to store for a chunk of health record `record_id`: sealed, through the function
/// only an IDVA session's connection has.
pub(crate) fn seal_chunk(conn: &Connection, record_id: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    conn.query_row(
        &format!("SELECT {SEAL_FN}(?1, ?2)"),
        params![record_id, bytes],
        |r| r.get(0),
    )
    .map_err(|_| no_key())
}

/// A stored chunk of health record `record_id` as Automerge bytes: opened under `key`, or as
/// it is when it predates sealing.
pub(crate) fn open_chunk(
    key: Option<&SecretKey>,
    record_id: &str,
    bytes: Vec<u8>,
) -> Result<Vec<u8>> {
    if !is_sealed(&bytes) {
        return Ok(bytes);
    }
    let key = key.ok_or_else(no_key)?;
    let body = &bytes[MAGIC.len()..];
    if body.len() < 24 {
        return Err(Error::CorruptRecord(record_id.to_string()));
    }
    let plain = open(key, &body[..24], &body[24..], &aad(record_id))
        .ok_or_else(|| Error::CorruptRecord(record_id.to_string()))?;
    Ok(plain.to_vec())
}

pub(crate) fn no_key() -> Error {
    Error::Crypto(
        "health records are sealed under a key only IDVAs on this device hold, and the signed-in user has none".into(),
    )
}

pub(crate) fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Seals every plaintext health chunk under `key` and records that none is left, in one
/// transaction; then checkpoints the WAL so the plaintext pages are overwritten (the database
/// runs with `secure_delete`). Returns how many chunks were sealed. Safe to repeat.
pub(crate) fn seal_plaintext(conn: &Connection, key: &SecretKey, now: &str) -> Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let rows: Vec<(String, i64, Vec<u8>)> = {
        let mut stmt = tx.prepare(
            "SELECT c.record_id, c.seq, c.bytes FROM chunks c JOIN records r ON r.id = c.record_id WHERE r.kind = 'health'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut sealed = 0;
    for (id, seq, bytes) in rows {
        if is_sealed(&bytes) {
            continue;
        }
        tx.execute(
            "UPDATE chunks SET bytes = ?3 WHERE record_id = ?1 AND seq = ?2",
            params![id, seq, seal_with(key, &id, &bytes)?],
        )?;
        sealed += 1;
    }
    set_meta(&tx, SEALED_AT, now)?;
    tx.commit()?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(sealed)
}
