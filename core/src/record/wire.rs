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
//! not used, and `from_wire` refuses any bundle chunk before the loaders see it.

use super::RecordDoc;

/// Every Automerge chunk starts with these four bytes, then a 4-byte checksum, then its type.
pub(crate) const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const BUNDLE_TYPE: u8 = 3;

impl RecordDoc {
    /// The whole document as it travels in a sync message.
    pub fn wire_snapshot(&mut self) -> Vec<u8> {
        self.doc_mut().save_nocompress()
    }
}

/// What arrived in a message, for the ordinary loaders: None when it holds a bundle chunk.
/// Chunks are walked by their headers; bytes that do not walk as chunks are left for the
/// loaders to refuse.
pub fn from_wire(bytes: Vec<u8>) -> Option<Vec<u8>> {
    let mut rest = &bytes[..];
    while rest.starts_with(&CHUNK_MAGIC) {
        // refused by its header alone, whole or not
        if rest.get(8) == Some(&BUNDLE_TYPE) {
            return None;
        }
        match Chunk::at(rest) {
            Some(chunk) => rest = &rest[chunk.len..],
            None => break,
        }
    }
    Some(bytes)
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

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{AutoCommit, ROOT};

    #[test]
    fn changes_and_documents_pass_and_a_bundle_anywhere_is_refused() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "status", "active").unwrap();
        doc.commit_with(CommitOptions::default().with_message("m".to_string()));
        let base = doc.get_heads();
        for i in 0..3 {
            doc.put(ROOT, "status", format!("edit {i}")).unwrap();
            doc.commit();
        }
        let chunks = doc.save_after(&base);
        let whole = doc.save_nocompress();
        assert_eq!(from_wire(chunks.clone()).unwrap(), chunks);
        assert_eq!(from_wire(whole.clone()).unwrap(), whole);
        let hashes: Vec<_> = doc.get_changes(&base).iter().map(|c| c.hash()).collect();
        let bundle = doc.bundle(hashes).unwrap().bytes().to_vec();
        assert!(from_wire(bundle.clone()).is_none());
        let mut after_changes = chunks.clone();
        after_changes.extend_from_slice(&bundle);
        assert!(from_wire(after_changes).is_none(), "a bundle after changes");
        assert_eq!(
            from_wire(b"garbage".to_vec()).unwrap(),
            b"garbage",
            "left to the loaders"
        );
    }
}
