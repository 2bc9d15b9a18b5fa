//! The one check every Automerge byte string from outside (a sync message, a rescue bundle)
//! passes before an Automerge loader sees it.
//!
//! Automerge's loaders trust sizes they read: a compressed change chunk (type 2) or a column
//! with its DEFLATE bit set is inflated with no limit before any checksum, and a run-length
//! column says "this value, 2^40 times" in a few bytes, which the loader then walks row by row.
//! So the bytes are walked here by their headers first, without inflating or materialising
//! anything: compressed chunks and deflated columns are refused (Provide never writes them:
//! documents travel as `save_nocompress`, changes as plain change chunks), bundle chunks are
//! refused (see `wire`), bytes that are not whole chunks are refused, every count (chunks,
//! actors, dependencies, columns) must fit in the bytes present, and the rows every
//! run-length, delta, boolean and group column stands for are summed with checked arithmetic
//! and charged to a `DecodeBudget` per document and per message.
//!
//! Layout (Automerge's binary format): a chunk is magic, checksum, type, LEB128 body length,
//! body. A change body is its dependencies (count, 32-byte hashes), actor, seq, start op, time,
//! message, other actors, the op columns' metadata (count, then spec and length each), the
//! columns' data, and extra bytes. A document body is its actors, heads, the change columns'
//! metadata, the op columns' metadata, the change columns' data, the op columns' data, and
//! one head index per head.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::AutoCommit;

use super::wire::{Chunk, CHUNK_MAGIC};

const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;
const BUNDLE: u8 = 3;
const DEFLATE_BIT: u64 = 0b1000;
const HASH_LEN: usize = 32;

/// The most rows (summed over every column of every chunk, each chunk counting one) one
/// document's bytes may stand for. A large real case (200 notes and 300 edits of its fields,
/// each its own change; the test `a_large_real_record_is_far_inside_the_budget`) comes to
/// about 23,000 rows as a whole document and 15,000 as changes; this leaves more than 80 times
/// that, while holding the work one document can cause to a fraction of a second.
pub const MAX_ROWS_PER_DOCUMENT: u64 = 2_000_000;
/// The most rows one message may stand for, across its documents. Real records come to under
/// half a row a byte (that case: 23,000 rows in 49 KB), so even a body at the 32 MiB limit of
/// real records stays below it, while a message made of runs alone is held to a few seconds'
/// work.
pub const MAX_ROWS_PER_MESSAGE: u64 = 24_000_000;

/// Why bytes were refused before any loader saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// A compressed change chunk, or a column with its DEFLATE bit set.
    Compressed,
    /// An Automerge bundle chunk (see `wire`).
    Bundle,
    /// Not a sequence of whole, well-formed chunks, or a count larger than the bytes hold.
    Malformed,
    /// More rows than the budget left for the document or the message.
    OverBudget,
}

impl Untrusted {
    /// A sentence part for error messages: "record X's changes {reason}".
    pub fn reason(self) -> &'static str {
        match self {
            Untrusted::Compressed => "are compressed, and compressed chunks are not accepted",
            Untrusted::Bundle => "are an Automerge bundle, which is not accepted",
            Untrusted::Malformed => "are not well-formed Automerge chunks",
            Untrusted::OverBudget => "exceed the decode budget",
        }
    }
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl From<Untrusted> for crate::sync::codec::DecodeError {
    fn from(u: Untrusted) -> Self {
        crate::sync::codec::DecodeError(match u {
            Untrusted::Compressed => "compressed chunks are not accepted",
            Untrusted::Bundle => {
                "a record's changes are an Automerge bundle, which is not accepted"
            }
            Untrusted::Malformed => "a record's changes are not well-formed Automerge chunks",
            Untrusted::OverBudget => "a record's changes exceed the decode budget",
        })
    }
}

/// Rows still allowed: per document (each `check_untrusted` call) and for the whole message.
#[derive(Debug, Clone)]
pub struct DecodeBudget {
    per_document: u64,
    message_left: u64,
}

impl DecodeBudget {
    /// The budget for one message (or one bundle): `MAX_ROWS_PER_DOCUMENT` and
    /// `MAX_ROWS_PER_MESSAGE`.
    pub fn message() -> Self {
        Self::new(MAX_ROWS_PER_DOCUMENT, MAX_ROWS_PER_MESSAGE)
    }

    pub fn new(per_document: u64, per_message: u64) -> Self {
        DecodeBudget {
            per_document,
            message_left: per_message,
        }
    }

    /// What the message may still spend.
    pub fn message_left(&self) -> u64 {
        self.message_left
    }
}

/// Checks one document's bytes (a whole document, changes, or both) and charges their rows to
/// `budget`. Empty bytes pass (they hold nothing); refused bytes charge nothing to the message.
pub fn check_untrusted(bytes: &[u8], budget: &mut DecodeBudget) -> Result<(), Untrusted> {
    let limit = budget.per_document.min(budget.message_left);
    let mut rows = Rows { used: 0, limit };
    let mut rest = bytes;
    while !rest.is_empty() {
        if !rest.starts_with(&CHUNK_MAGIC) {
            return Err(Untrusted::Malformed);
        }
        // refused by the header alone, whole or not
        match rest.get(8) {
            Some(&COMPRESSED) => return Err(Untrusted::Compressed),
            Some(&BUNDLE) => return Err(Untrusted::Bundle),
            _ => {}
        }
        let chunk = Chunk::at(rest).ok_or(Untrusted::Malformed)?;
        rows.charge(1)?;
        let mut body = Cursor(chunk.body);
        match chunk.kind {
            CHANGE => change(&mut body, &mut rows)?,
            DOCUMENT => document(&mut body, &mut rows)?,
            _ => return Err(Untrusted::Malformed),
        }
        rest = &rest[chunk.len..];
    }
    budget.message_left -= rows.used;
    Ok(())
}

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs an Automerge call on bytes that passed `check_untrusted`. Automerge 0.12 still panics
/// on some well-formed input (the fuzzer found a change whose sequence number skips ahead for
/// an actor the document has not seen: `lookup_actor(..).unwrap()` while applying it), so a
/// panic here becomes `Untrusted::Malformed` instead of taking the thread down. Whatever the
/// call was changing is in an unknown state after an error and must be dropped.
pub fn guard<T>(f: impl FnOnce() -> T) -> Result<T, Untrusted> {
    let outer = GUARDED.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.set(outer);
    result.map_err(|_| Untrusted::Malformed)
}

/// Whether this thread is inside `guard`: the fuzz targets' panic hook lets a guarded panic
/// unwind and treats every other one as a crash.
#[doc(hidden)]
pub fn guarded() -> bool {
    GUARDED.get()
}

/// `doc.load_incremental(bytes)` under `guard`, for bytes from outside. Drop `doc` after an
/// error.
pub fn load_incremental(doc: &mut AutoCommit, bytes: &[u8]) -> Result<usize, Untrusted> {
    guard(|| doc.load_incremental(bytes))?.map_err(|_| Untrusted::Malformed)
}

/// A change chunk's body. Extra bytes after the columns are allowed, as Automerge allows them.
fn change(body: &mut Cursor, rows: &mut Rows) -> Result<(), Untrusted> {
    body.hashes()?;
    body.bytes()?; // actor
    body.uleb()?; // seq
    body.uleb()?; // start op
    body.sleb()?; // time
    body.bytes()?; // message
    body.actors()?;
    let ops = body.columns()?;
    columns(body, &ops, rows)
}

/// A document chunk's body: the change columns' data comes before the op columns' data.
fn document(body: &mut Cursor, rows: &mut Rows) -> Result<(), Untrusted> {
    body.actors()?;
    let heads = body.hashes()?;
    let changes = body.columns()?;
    let ops = body.columns()?;
    columns(body, &changes, rows)?;
    columns(body, &ops, rows)?;
    // one index per head, or nothing (older writers)
    if !body.0.is_empty() {
        for _ in 0..heads {
            body.uleb()?;
        }
    }
    if body.0.is_empty() {
        Ok(())
    } else {
        Err(Untrusted::Malformed)
    }
}

/// One column's metadata: its spec (id, DEFLATE bit, type) and its data's length.
struct Column {
    spec: u64,
    len: usize,
}

/// Walks each column's data in turn, charging the rows it stands for.
fn columns(body: &mut Cursor, cols: &[Column], rows: &mut Rows) -> Result<(), Untrusted> {
    for col in cols {
        let data = body.take(col.len)?;
        let mut data = Cursor(data);
        match col.spec & 0b111 {
            // group: a run-length column of counts, each the rows of the columns it groups
            0 => rle(&mut data, rows, |c, rows, repeat| {
                let count = c.uleb()?;
                rows.charge(count.checked_mul(repeat).ok_or(Untrusted::OverBudget)?)
            })?,
            // actor, integer, delta, value metadata: numbers (their values do not matter here)
            1 | 2 | 3 | 6 => rle(&mut data, rows, |c, _, _| c.skip_leb())?,
            // boolean: alternating run lengths, false first
            4 => {
                while !data.0.is_empty() {
                    let run = data.uleb()?;
                    rows.charge(run)?;
                }
            }
            // strings
            5 => rle(&mut data, rows, |c, _, _| c.bytes().map(drop))?,
            // raw values: bounded by their own length
            _ => {}
        }
    }
    Ok(())
}

/// A run-length column: a signed count n, then one value repeated n times (n > 0), -n literal
/// values (n < 0), or an unsigned count of nulls (n = 0). `value` reads one value; it is told
/// how many rows that value stands for, for group columns.
fn rle(
    data: &mut Cursor,
    rows: &mut Rows,
    mut value: impl FnMut(&mut Cursor, &mut Rows, u64) -> Result<(), Untrusted>,
) -> Result<(), Untrusted> {
    while !data.0.is_empty() {
        let n = data.sleb()?;
        if n > 0 {
            let n = n.unsigned_abs();
            rows.charge(n)?;
            value(data, rows, n)?;
        } else if n < 0 {
            // literal values are each present in the bytes: the loop is bounded by them
            for _ in 0..n.unsigned_abs() {
                rows.charge(1)?;
                value(data, rows, 1)?;
            }
        } else {
            let nulls = data.uleb()?;
            rows.charge(nulls)?;
        }
    }
    Ok(())
}

struct Rows {
    used: u64,
    limit: u64,
}

impl Rows {
    fn charge(&mut self, n: u64) -> Result<(), Untrusted> {
        match self.used.checked_add(n) {
            Some(used) if used <= self.limit => {
                self.used = used;
                Ok(())
            }
            _ => Err(Untrusted::OverBudget),
        }
    }
}

/// Reads a chunk body front to back; every read fails on bytes that are not there.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Untrusted> {
        if n > self.0.len() {
            return Err(Untrusted::Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn uleb(&mut self) -> Result<u64, Untrusted> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.0.get(i).ok_or(Untrusted::Malformed)?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(Untrusted::Malformed);
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err(Untrusted::Malformed)
    }

    /// One LEB128 number of either sign, skipped.
    fn skip_leb(&mut self) -> Result<(), Untrusted> {
        let len = self
            .0
            .iter()
            .take(10)
            .position(|b| b & 0x80 == 0)
            .ok_or(Untrusted::Malformed)?;
        self.0 = &self.0[len + 1..];
        Ok(())
    }

    fn sleb(&mut self) -> Result<i64, Untrusted> {
        let mut v: i64 = 0;
        let mut shift = 0;
        for i in 0..10 {
            let b = *self.0.get(i).ok_or(Untrusted::Malformed)?;
            v |= i64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err(Untrusted::Malformed)
    }

    /// A count of items at least `min_len` bytes each, refused when the bytes cannot hold them.
    fn count(&mut self, min_len: usize) -> Result<usize, Untrusted> {
        let n = self.uleb()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.0.len() / min_len => Ok(n),
            _ => Err(Untrusted::Malformed),
        }
    }

    /// Length-prefixed bytes.
    fn bytes(&mut self) -> Result<&'a [u8], Untrusted> {
        let n = self.count(1)?;
        self.take(n)
    }

    /// A count of 32-byte hashes, skipped; returns the count.
    fn hashes(&mut self) -> Result<usize, Untrusted> {
        let n = self.count(HASH_LEN)?;
        self.take(n * HASH_LEN)?;
        Ok(n)
    }

    /// A count of length-prefixed actor ids, skipped.
    fn actors(&mut self) -> Result<(), Untrusted> {
        let n = self.count(1)?;
        for _ in 0..n {
            self.bytes()?;
        }
        Ok(())
    }

    /// Column metadata: a count, then each column's spec and data length. A deflated column
    /// is refused here, before its data is looked at; the lengths must fit in the body.
    fn columns(&mut self) -> Result<Vec<Column>, Untrusted> {
        // each column's metadata is at least two bytes
        let n = self.count(2)?;
        let mut cols = Vec::with_capacity(n);
        let mut total: usize = 0;
        for _ in 0..n {
            let spec = self.uleb()?;
            if spec > u64::from(u32::MAX) {
                return Err(Untrusted::Malformed);
            }
            if spec & DEFLATE_BIT != 0 {
                return Err(Untrusted::Compressed);
            }
            let len = usize::try_from(self.uleb()?).map_err(|_| Untrusted::Malformed)?;
            total = total.checked_add(len).ok_or(Untrusted::Malformed)?;
            cols.push(Column { spec, len });
        }
        // the data follows the metadata (a document has a second metadata block in between,
        // so this is only the first bound; `take` is the exact one)
        if total > self.0.len() {
            return Err(Untrusted::Malformed);
        }
        Ok(cols)
    }
}

#[cfg(test)]
mod tests;
