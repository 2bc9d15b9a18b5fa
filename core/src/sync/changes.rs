//! Change chunks as they travel in a sync message.
//!
//! A change chunk (Automerge's storage format, what both sides store) opens with four magic
//! bytes, a four-byte checksum, its type and its length. Its body opens with the hashes of the
//! changes it depends on, 32 bytes each, which no compressor can shrink; then its author's
//! actor id, sequence number, first operation number, time and message; then its operations.
//! Within one document's changes nearly every change depends on the one before it, whose hash
//! the receiver can work out from that change's bytes; the base, when it travels, names the
//! rest; the checksum is the first four bytes of the same hash; and the actor and message
//! repeat while the numbers climb by small steps. So each change travels as its dependencies as
//! references back (into the base and the hashes before it, or a hash in full where neither
//! holds it), its actor and message as references to earlier ones or in full, its numbers as
//! differences from the change before, and its operations as they are.
//!
//! The receiver rebuilds every chunk byte for byte, so what it stores and hashes is exactly what
//! the sender held, and Automerge then checks it as it checks any change. The sender only packs
//! chunks it has rebuilt the same way itself; anything else (a whole document, a compressed or
//! damaged chunk) travels as it is.

use std::collections::HashMap;

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

use super::codec::{put_signed_leb, put_varint, DecodeError, DecodeResult, Reader, Writer};
use crate::record::wire::{Chunk, CHUNK_MAGIC};

const CHANGE_TYPE: u8 = 1;
/// The first varint of a document's changes: 0 says the bytes follow as they are; n + 1 says
/// n packed changes follow.
const AS_IS: u64 = 0;
/// A reference back: 0 says the value follows in full; k says the k-th value back in the list
/// both sides have seen so far (for hashes, the base, then every hash read or rebuilt).
const IN_FULL: u64 = 0;

/// One change chunk, taken apart.
#[derive(Default)]
struct Change<'a> {
    deps: Vec<ChangeHash>,
    actor: &'a [u8],
    seq: u64,
    start_op: u64,
    time: i64,
    message: &'a [u8],
    /// The body after the message: other actors and the operations.
    ops: &'a [u8],
}

/// What the change before left behind, for the next one's differences.
#[derive(Default)]
struct Previous {
    seq: u64,
    start_op: u64,
    time: i64,
}

/// Writes a document's changes: packed when every chunk in them is a change chunk that
/// rebuilds exactly, else as they are. `base` is what the receiver will already know.
pub(super) fn write(w: &mut Writer, bytes: &[u8], base: &[ChangeHash]) {
    let Some(changes) = take_apart(bytes) else {
        w.varint(AS_IS);
        w.bytes(bytes);
        return;
    };
    w.varint(changes.len() as u64 + 1);
    let mut hashes = Seen::new(base.iter().copied());
    let mut texts: Seen<&[u8]> = Seen::new([]);
    let mut prev = Previous::default();
    for (c, hash) in &changes {
        w.varint(c.deps.len() as u64);
        for d in &c.deps {
            hashes.write(w, *d, |w, d| w.hash(&d));
        }
        texts.write(w, c.actor, |w, a| w.bytes(a));
        texts.write(w, c.message, |w, m| w.bytes(m));
        w.signed(c.seq.wrapping_sub(prev.seq) as i64);
        w.signed(c.start_op.wrapping_sub(prev.start_op) as i64);
        w.signed(c.time.wrapping_sub(prev.time));
        w.bytes(c.ops);
        hashes.push(*hash);
        prev = Previous {
            seq: c.seq,
            start_op: c.start_op,
            time: c.time,
        };
    }
}

/// Reads what `write` wrote, rebuilding the chunks. `budget` is how many bytes of rebuilt
/// chunks the rest of the message may still make, spent before each allocation: references
/// are small and hashes are not, so without it a hostile message could rebuild to many times
/// its own size.
pub(super) fn read(
    r: &mut Reader,
    base: &[ChangeHash],
    budget: &mut usize,
) -> DecodeResult<Vec<u8>> {
    let tag = r.varint()?;
    if tag == AS_IS {
        return Ok(r.bytes()?.to_vec());
    }
    let count = usize::try_from(tag - 1).map_err(|_| DecodeError("changes"))?;
    // each change takes at least seven bytes: its dependency count, its actor and message
    // references, three numbers and its operations' length
    if count > r.remaining() / 7 {
        return Err(DecodeError("changes"));
    }
    let mut hashes = Seen::new(base.iter().copied());
    let mut texts: Seen<&[u8]> = Seen::new([]);
    let mut prev = Previous::default();
    let mut out = Vec::new();
    for _ in 0..count {
        let n = r.count(1)?;
        // spent before anything is allocated: a byte of reference becomes 32 bytes of hash
        spend(budget, n.saturating_mul(32))?;
        let deps = (0..n)
            .map(|_| hashes.read(r, |r| r.hash()))
            .collect::<DecodeResult<Vec<_>>>()?;
        let c = Change {
            deps,
            actor: texts.read(r, |r| r.bytes())?,
            message: texts.read(r, |r| r.bytes())?,
            seq: prev.seq.wrapping_add(r.signed()? as u64),
            start_op: prev.start_op.wrapping_add(r.signed()? as u64),
            time: prev.time.wrapping_add(r.signed()?),
            ops: r.bytes()?,
        };
        // the rest of the chunk: its parts, and at most 48 bytes of header and numbers
        spend(budget, c.actor.len() + c.message.len() + c.ops.len() + 48)?;
        let (chunk, hash) = rebuild(&c);
        out.extend_from_slice(&chunk);
        hashes.push(hash);
        prev = Previous {
            seq: c.seq,
            start_op: c.start_op,
            time: c.time,
        };
    }
    Ok(out)
}

/// For the fuzzer (fuzz/fuzz_targets/changes.rs): one document's changes read on their own, as
/// a message reads them (with no base, and the rebuild budget of a whole message).
#[doc(hidden)]
pub fn read_alone(bytes: &[u8]) -> DecodeResult<Vec<u8>> {
    let mut r = Reader::new(bytes);
    let mut budget = 2 * super::protocol::MAX_BODY;
    let out = read(&mut r, &[], &mut budget)?;
    r.finish()?;
    Ok(out)
}

/// What `read_alone` reads: for the fuzzer's seeds.
#[doc(hidden)]
pub fn write_alone(bytes: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    write(&mut w, bytes, &[]);
    w.into_bytes()
}

/// Takes `n` bytes from what the message may still rebuild.
fn spend(budget: &mut usize, n: usize) -> DecodeResult<()> {
    *budget = budget.checked_sub(n).ok_or(DecodeError(
        "the changes rebuild to more than a message may hold",
    ))?;
    Ok(())
}

/// The values of one kind both sides have seen so far, in the order they saw them.
struct Seen<T> {
    list: Vec<T>,
    last_at: HashMap<T, usize>,
}

impl<T: Copy + Eq + std::hash::Hash> Seen<T> {
    fn new(first: impl IntoIterator<Item = T>) -> Self {
        let mut seen = Seen {
            list: Vec::new(),
            last_at: HashMap::new(),
        };
        for v in first {
            seen.push(v);
        }
        seen
    }

    fn push(&mut self, v: T) {
        self.last_at.insert(v, self.list.len());
        self.list.push(v);
    }

    /// `v` as a reference back when it has been seen (1 = the newest), else in full.
    fn write(&mut self, w: &mut Writer, v: T, in_full: impl Fn(&mut Writer, T)) {
        match self.last_at.get(&v) {
            Some(i) => w.varint((self.list.len() - i) as u64),
            None => {
                w.varint(IN_FULL);
                in_full(w, v);
                self.push(v);
            }
        }
    }

    /// What `write` wrote.
    fn read<'a>(
        &mut self,
        r: &mut Reader<'a>,
        in_full: impl Fn(&mut Reader<'a>) -> DecodeResult<T>,
    ) -> DecodeResult<T> {
        let back = r.varint()?;
        if back == IN_FULL {
            let v = in_full(r)?;
            self.push(v);
            return Ok(v);
        }
        usize::try_from(back)
            .ok()
            .and_then(|back| self.list.len().checked_sub(back))
            .and_then(|i| self.list.get(i).copied())
            .ok_or(DecodeError("a reference to something not yet sent"))
    }
}

/// The chunks of `bytes` taken apart, with their hashes, when every one is a change chunk that
/// `rebuild` gives back byte for byte (so its checksum is right and its numbers are written
/// the usual way).
fn take_apart(bytes: &[u8]) -> Option<Vec<(Change<'_>, ChangeHash)>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let chunk = Chunk::at(rest).filter(|c| c.kind == CHANGE_TYPE)?;
        let c = parse_body(chunk.body).ok()?;
        let (rebuilt, hash) = rebuild(&c);
        if rest[..chunk.len] != rebuilt[..] {
            return None;
        }
        rest = &rest[chunk.len..];
        out.push((c, hash));
    }
    Some(out)
}

fn parse_body(body: &[u8]) -> DecodeResult<Change<'_>> {
    let mut r = Reader::new(body);
    let n = r.count(32)?;
    let mut c = Change {
        deps: (0..n).map(|_| r.hash()).collect::<DecodeResult<Vec<_>>>()?,
        actor: r.bytes()?,
        seq: r.varint()?,
        start_op: r.varint()?,
        time: r.signed_leb()?,
        message: r.bytes()?,
        ..Change::default()
    };
    c.ops = &body[body.len() - r.remaining()..];
    Ok(c)
}

/// A change chunk from its parts, and its hash (Automerge's: SHA-256 of the type, the body's
/// length and the body).
fn rebuild(c: &Change) -> (Vec<u8>, ChangeHash) {
    let mut body = Vec::with_capacity(64 + 32 * c.deps.len() + c.message.len() + c.ops.len());
    put_varint(&mut body, c.deps.len() as u64);
    for d in &c.deps {
        body.extend_from_slice(&d.0);
    }
    put_varint(&mut body, c.actor.len() as u64);
    body.extend_from_slice(c.actor);
    put_varint(&mut body, c.seq);
    put_varint(&mut body, c.start_op);
    put_signed_leb(&mut body, c.time);
    put_varint(&mut body, c.message.len() as u64);
    body.extend_from_slice(c.message);
    body.extend_from_slice(c.ops);
    let mut typed = vec![CHANGE_TYPE];
    put_varint(&mut typed, body.len() as u64);
    let hash: [u8; 32] = Sha256::new()
        .chain_update(&typed)
        .chain_update(&body)
        .finalize()
        .into();
    let mut chunk = Vec::with_capacity(8 + typed.len() + body.len());
    chunk.extend_from_slice(&CHUNK_MAGIC);
    chunk.extend_from_slice(&hash[..4]);
    chunk.extend_from_slice(&typed);
    chunk.extend_from_slice(&body);
    (chunk, ChangeHash(hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    fn round_trip(bytes: &[u8], base: &[ChangeHash]) -> (Vec<u8>, usize) {
        let mut w = Writer::new();
        write(&mut w, bytes, base);
        let wire = w.into_bytes();
        let mut r = Reader::new(&wire);
        let mut budget = usize::MAX;
        let back = read(&mut r, base, &mut budget).unwrap();
        r.finish().unwrap();
        (back, wire.len())
    }

    /// A record with a history, and two concurrent branches merged, so some changes depend on
    /// two others.
    fn edited() -> (AutoCommit, Vec<ChangeHash>) {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "status", "new").unwrap();
        doc.commit();
        let base = doc.get_heads();
        let mut other = doc.fork();
        for i in 0..5 {
            doc.put(ROOT, "notes", format!("note {i}")).unwrap();
            doc.commit();
            other.put(ROOT, "status", format!("status {i}")).unwrap();
            other.commit();
        }
        doc.merge(&mut other).unwrap();
        doc.put(ROOT, "status", "closed").unwrap();
        doc.commit();
        (doc, base)
    }

    #[test]
    fn changes_rebuild_byte_for_byte_without_their_hashes() {
        let (mut doc, base) = edited();
        let bytes = doc.save_after(&base);
        let (back, wire) = round_trip(&bytes, &base);
        assert_eq!(back, bytes);
        // 11 changes: 12 dependencies, 36 bytes of hash and checksum each, not sent again
        assert!(wire + 11 * 36 < bytes.len(), "{wire} of {}", bytes.len());
        // unknown to the receiver: the base's hash travels once, in full
        let (back, _) = round_trip(&bytes, &[]);
        assert_eq!(back, bytes);
        let mut fresh = AutoCommit::new();
        fresh.load_incremental(&doc.save_after(&[])).unwrap();
        assert_eq!(fresh.get_heads(), doc.get_heads());
    }

    #[test]
    fn a_document_or_a_damaged_chunk_travels_as_it_is() {
        let (mut doc, base) = edited();
        let whole = doc.save_nocompress();
        let mut wire = Writer::new();
        write(&mut wire, &whole, &[]);
        assert_eq!(wire.into_bytes()[0], AS_IS as u8);
        assert_eq!(round_trip(&whole, &[]).0, whole);
        let mut damaged = doc.save_after(&base);
        let last = damaged.len() - 1;
        damaged[last] ^= 1; // the checksum no longer matches
        assert_eq!(round_trip(&damaged, &base).0, damaged);
        assert_eq!(round_trip(b"garbage", &[]).0, b"garbage");
        assert_eq!(round_trip(b"", &[]).0, b"");
    }

    #[test]
    fn references_outside_what_is_known_and_oversized_rebuilds_are_refused() {
        let (mut doc, base) = edited();
        let mut w = Writer::new();
        write(&mut w, &doc.save_after(&base), &base);
        let wire = w.into_bytes();
        // without the base the first reference points before the start
        let mut budget = usize::MAX;
        assert!(read(&mut Reader::new(&wire), &[], &mut budget).is_err());
        let mut budget = 100;
        assert!(read(&mut Reader::new(&wire), &base, &mut budget).is_err());
        // one change naming the same hash a million times, a byte each: refused before the
        // 32 MB of hashes are made
        let mut w = Writer::new();
        w.varint(2);
        w.varint(1_000_000);
        let mut wire = w.into_bytes();
        wire.extend(std::iter::repeat_n(1u8, 1_000_000));
        let mut budget = 1 << 20;
        assert!(read(&mut Reader::new(&wire), &base, &mut budget).is_err());
    }

    #[cfg(not(miri))]
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..600)) {
                let mut budget = 1 << 20;
                let _ = read(&mut Reader::new(&input), &[], &mut budget);
            }

            /// Damage to real packed changes is refused or rebuilds into chunks Automerge then
            /// checks; it never panics.
            #[test]
            fn damaged_packed_changes_never_panic(
                hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
            ) {
                let (mut doc, base) = edited();
                let mut w = Writer::new();
                write(&mut w, &doc.save_after(&base), &base);
                let mut wire = w.into_bytes();
                for (at, v) in hits {
                    let i = at.index(wire.len());
                    wire[i] = v;
                }
                let mut budget = 1 << 20;
                if let Ok(bytes) = read(&mut Reader::new(&wire), &base, &mut budget) {
                    let _ = AutoCommit::new().load_incremental(&bytes);
                }
            }
        }
    }
}
