//! How a record's changes travel in a sync message, and what is refused on arrival.
//!
//! A whole record goes as Automerge's document encoding without its own compression, so the
//! message's compression works across every record in it; a set of changes goes as change
//! chunks, the format both sides store.
//!
//! Automerge 0.12 can also pack changes into a "bundle" (dependencies as indexes instead of
//! 32-byte hashes), which would save about a third of a day offline's bytes. It is marked
//! experimental, and fuzzing it here showed why: its parser panics on about 7% of random
//! mutations of a real bundle, and a 2,000-case property test of damaged bundles had not
//! finished after ten minutes. A sync server cannot take that from the network, so bundles are
//! not used, and `untrusted::check_untrusted` refuses any bundle chunk before the loaders see
//! it.

use super::RecordDoc;

/// Every Automerge chunk starts with these four bytes, then a 4-byte checksum, then its type.
pub(crate) const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

impl RecordDoc {
    /// The whole document as it travels in a sync message.
    pub fn wire_snapshot(&mut self) -> Vec<u8> {
        self.doc_mut().save_nocompress()
    }
}

/// The chunk at the start of some bytes, read from its header: magic, checksum, type, and the
/// body's length as a LEB128 number.
pub(crate) struct Chunk<'a> {
    pub kind: u8,
    pub body: &'a [u8],
    /// Header and body.
    pub len: usize,
}

impl<'a> Chunk<'a> {
    /// None when `bytes` does not start with a whole chunk.
    pub fn at(bytes: &'a [u8]) -> Option<Self> {
        if bytes.get(..4)? != CHUNK_MAGIC {
            return None;
        }
        let kind = *bytes.get(8)?;
        let mut body_len: u64 = 0;
        for (i, b) in bytes.get(9..)?.iter().take(10).enumerate() {
            body_len |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                let start = 9 + i + 1;
                let len = usize::try_from(body_len).ok()?.checked_add(start)?;
                return Some(Chunk {
                    kind,
                    body: bytes.get(start..len)?,
                    len,
                });
            }
        }
        None
    }
}
