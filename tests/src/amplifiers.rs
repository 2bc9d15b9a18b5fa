//! Automerge byte strings built to make a decoder do far more work than their size, for the
//! attack tests and the hostile-load benchmark (issue 13, finding 4): a compressed change chunk
//! holding a DEFLATE bomb, a change whose run-length column stands for 2^40 rows, and a
//! document chunk whose column is a DEFLATE bomb. Each has a correct chunk header and checksum,
//! so only the decode budget stands between it and the allocator.

use std::io::Read;

use provide_core::sync::codec::put_varint;
use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// What the bombs inflate to: far beyond the memory bound the test holds the server to.
pub const BOMB_BYTES: u64 = 512 << 20;

/// A chunk with a correct header around `body`.
pub fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut len = Vec::new();
    put_varint(&mut len, body.len() as u64);
    let hash = Sha256::new()
        .chain_update([kind])
        .chain_update(&len)
        .chain_update(body)
        .finalize();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&hash[..4]);
    out.push(kind);
    out.extend_from_slice(&len);
    out.extend_from_slice(body);
    out
}

/// `BOMB_BYTES` zeros, raw DEFLATE: about half a megabyte.
pub fn deflate_bomb() -> Vec<u8> {
    let zeros = std::io::repeat(0).take(BOMB_BYTES);
    let mut out = Vec::new();
    flate2::read::DeflateEncoder::new(zeros, flate2::Compression::best())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A change's fixed fields: no dependencies, a 16-byte actor, seq 1, start op 1, time 0, no
/// message, no other actors.
pub fn change_head() -> Vec<u8> {
    let mut b = vec![0, 16];
    b.extend_from_slice(&[0xab; 16]);
    b.extend_from_slice(&[1, 1, 0, 0, 0]);
    b
}

/// Column metadata: a count, then each column's spec and length.
pub fn columns(cols: &[(u64, usize)]) -> Vec<u8> {
    let mut b = Vec::new();
    put_varint(&mut b, cols.len() as u64);
    for (spec, len) in cols {
        put_varint(&mut b, *spec);
        put_varint(&mut b, *len as u64);
    }
    b
}

/// (a) a compressed change chunk (type 2) whose DEFLATE stream inflates to `BOMB_BYTES`.
pub fn compressed_change(bomb: &[u8]) -> Vec<u8> {
    chunk(2, bomb)
}

/// (b) a change whose action column (id 4, unsigned integers) holds one run of 2^40 rows.
pub fn rle_run() -> Vec<u8> {
    let mut run = Vec::new();
    // a signed LEB128 run length of 2^40, then the value
    let mut n: i64 = 1 << 40;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 && b & 0x40 == 0 {
            run.push(b);
            break;
        }
        run.push(b | 0x80);
    }
    run.push(1);
    let mut body = change_head();
    body.extend(columns(&[(0x42, run.len())]));
    body.extend(run);
    chunk(1, &body)
}

/// (c) a document chunk (type 0) whose one change column has its DEFLATE bit set.
pub fn deflated_document(bomb: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0]; // no actors, no heads
    body.extend(columns(&[(0x42 | 0x08, bomb.len())]));
    body.extend(columns(&[]));
    body.extend_from_slice(bomb);
    chunk(0, &body)
}
