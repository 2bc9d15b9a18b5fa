//! The compression dictionary of the sync protocol. A sync message is small (one edit is a few
//! hundred bytes) and compressed on its own, so without help its compressor has nothing to
//! refer back to: the Automerge chunk layouts, the record's field names, the author metadata
//! and the audit log's phrases would all be spelled out in every message. Both sides prime
//! zstd with the same frozen bytes (`dictionary.bin`, made by `core/tests/wire_dictionary.rs`
//! from empty records and the schema's names, never from anyone's data), so those recurring
//! parts cost a few bytes each.
//!
//! The dictionary is part of the protocol: a message compressed with one dictionary means
//! nothing read with another. Its hash is pinned to the protocol version below, so changing
//! the file without changing `protocol::DICTIONARY_VERSION` (and the protocol version) fails the tests.

use std::sync::Mutex;

use zstd::bulk::{Compressor, Decompressor};

/// The frozen dictionary of this protocol version.
pub const DICTIONARY: &[u8] = include_bytes!("dictionary.bin");

/// The SHA-256 of `DICTIONARY`, and the protocol version it belongs to.
pub const PINNED: (u16, &str) = (
    4,
    "b612940c6bd3d7f5419311d7a6a2df7c89b827908eefa2c8993ed2d86e79bfe0",
);

/// Messages up to this size are compressed hard (they are the many small ones: an edit, an
/// idle sync); larger pages and first syncs at a level that keeps the server's CPU free.
const SMALL: usize = 64 * 1024;
const SMALL_LEVEL: i32 = 19;
const LARGE_LEVEL: i32 = 3;

/// Contexts kept for the next message, of each kind. A context holds the dictionary's tables
/// and its working space (a few MiB at the small level), so a server answering on hundreds of
/// threads keeps a few of them, not one a thread; one that finds none free makes its own.
const KEPT: usize = 4;
static SMALL_COMPRESSORS: Pool<Compressor<'static>> = Pool::new();
static LARGE_COMPRESSORS: Pool<Compressor<'static>> = Pool::new();
static DECOMPRESSORS: Pool<Decompressor<'static>> = Pool::new();

struct Pool<T>(Mutex<Vec<T>>);

impl<T> Pool<T> {
    const fn new() -> Self {
        Pool(Mutex::new(Vec::new()))
    }

    /// Runs `work` with a context from the pool, or a new one from `make`, and keeps it after.
    fn with<R>(&self, make: impl FnOnce() -> T, work: impl FnOnce(&mut T) -> R) -> R {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut context = taken.unwrap_or_else(make);
        let out = work(&mut context);
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT {
            kept.push(context);
        }
        out
    }
}

/// The first four bytes of every zstd frame: known to both sides, so never sent.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const RAW: u8 = 0;
const ZSTD: u8 = 1;

/// A message body as it travels: a form byte, then either the body itself (when compressing
/// would not make it smaller, as for an idle sync's few bytes) or its zstd frame against the
/// dictionary without the frame's constant magic number.
pub fn pack(body: &[u8]) -> Vec<u8> {
    let frame = compress(body);
    let mut out = Vec::with_capacity(frame.len().min(body.len()) + 1);
    match frame.strip_prefix(&ZSTD_MAGIC[..]) {
        Some(rest) if rest.len() < body.len() => {
            out.push(ZSTD);
            out.extend_from_slice(rest);
        }
        _ => {
            out.push(RAW);
            out.extend_from_slice(body);
        }
    }
    out
}

/// What `pack` made, refused when it is damaged or would be larger than `max` bytes.
pub fn unpack(bytes: &[u8], max: usize) -> Option<Vec<u8>> {
    let (&form, rest) = bytes.split_first()?;
    match form {
        RAW if rest.len() <= max => Some(rest.to_vec()),
        ZSTD => {
            let mut frame = Vec::with_capacity(rest.len() + 4);
            frame.extend_from_slice(&ZSTD_MAGIC);
            frame.extend_from_slice(rest);
            decompress(&frame, max)
        }
        _ => None,
    }
}

/// `body` compressed against the dictionary, as a standard zstd frame.
pub fn compress(body: &[u8]) -> Vec<u8> {
    let (pool, level) = if body.len() <= SMALL {
        (&SMALL_COMPRESSORS, SMALL_LEVEL)
    } else {
        (&LARGE_COMPRESSORS, LARGE_LEVEL)
    };
    pool.with(
        || Compressor::with_dictionary(level, DICTIONARY).expect("a valid dictionary"),
        |c| c.compress(body).expect("in-memory compression"),
    )
}

/// What `compress` made, refused when it is damaged or would be larger than `max` bytes.
pub fn decompress(bytes: &[u8], max: usize) -> Option<Vec<u8>> {
    // the frame says how large its content is; a frame that does not say is refused
    let size = zstd::zstd_safe::get_frame_content_size(bytes).ok()??;
    let size = usize::try_from(size).ok().filter(|s| *s <= max)?;
    DECOMPRESSORS.with(
        || Decompressor::with_dictionary(DICTIONARY).expect("a valid dictionary"),
        |d| d.decompress(bytes, size).ok(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_dictionary_is_the_one_pinned_to_this_protocol_version() {
        let hash = hex::encode(Sha256::digest(DICTIONARY));
        assert_eq!(
            (PINNED.0, PINNED.1),
            (crate::sync::protocol::DICTIONARY_VERSION, hash.as_str()),
            "dictionary.bin changed: a new dictionary needs a new protocol version"
        );
    }

    #[test]
    fn small_bodies_travel_as_they_are_and_larger_ones_compressed() {
        for (body, form) in [
            (vec![], RAW),
            (vec![5, 0, 0, 0], RAW),
            (b"changes to 1 record(s) sent to the server".repeat(3), ZSTD),
            (vec![7u8; 200_000], ZSTD),
        ] {
            let packed = pack(&body);
            assert_eq!(packed[0], form);
            assert!(packed.len() <= body.len() + 1);
            assert_eq!(unpack(&packed, body.len()).unwrap(), body);
        }
        assert!(unpack(&pack(&[1, 2, 3]), 2).is_none(), "over the limit");
        assert!(unpack(&[9, 1, 2], 100).is_none(), "an unknown form");
        assert!(unpack(&[], 100).is_none());
    }

    #[test]
    fn bodies_round_trip_and_damage_is_refused() {
        for body in [
            vec![],
            b"changes to 1 record(s) sent".to_vec(),
            vec![7u8; 200_000],
        ] {
            let packed = compress(&body);
            assert_eq!(decompress(&packed, body.len()).unwrap(), body);
            if !body.is_empty() {
                assert!(
                    decompress(&packed, body.len() - 1).is_none(),
                    "over the limit"
                );
            }
        }
        let mut packed = compress(b"a small body of text, compressed");
        let n = packed.len();
        packed.truncate(n - 3);
        assert!(decompress(&packed, 1000).is_none());
        assert!(decompress(b"not zstd at all", 1000).is_none());
    }
}
