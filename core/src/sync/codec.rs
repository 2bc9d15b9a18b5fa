//! A small, bounded binary codec for the sync protocol: unsigned LEB128 varints,
//! length-prefixed bytes and strings, 32-byte change hashes, and record ids (a UUID as its 16
//! bytes rather than 36 characters). Decoding never panics and never allocates more than the
//! input could hold, whatever bytes it is given.

use automerge::ChangeHash;

/// Why a message could not be decoded. Says where, never what the bytes were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

pub type DecodeResult<T> = Result<T, DecodeError>;

#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn varint(&mut self, v: u64) {
        put_varint(&mut self.buf, v);
    }

    /// A signed number, zigzagged so that small ones either side of zero take a byte.
    pub fn signed(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// A record id: a tag, then either a UUID's 16 bytes and the text after it (a health
    /// record's `.health`), or the id as text when it does not start with a UUID as written.
    pub fn id(&mut self, id: &str) {
        let uuid = id
            .get(..36)
            .and_then(|head| uuid::Uuid::try_parse(head).ok())
            .filter(|u| u.hyphenated().to_string() == id[..36]);
        match uuid {
            Some(u) => {
                self.u8(1);
                self.buf.extend_from_slice(u.as_bytes());
                self.str(&id[36..]);
            }
            None => {
                self.u8(0);
                self.str(id);
            }
        }
    }

    pub fn hash(&mut self, h: &ChangeHash) {
        self.buf.extend_from_slice(&h.0);
    }

    /// A list of record ids.
    pub fn ids(&mut self, ids: &[String]) {
        self.varint(ids.len() as u64);
        for id in ids {
            self.id(id);
        }
    }
}

/// An unsigned LEB128 varint appended to `buf` (Automerge writes its numbers the same way).
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf.push(byte);
            return;
        }
        buf.push(byte | 0x80);
    }
}

/// A signed LEB128 number appended to `buf` (how Automerge writes a change's time).
pub fn put_signed_leb(buf: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            buf.push(byte);
            return;
        }
        buf.push(byte | 0x80);
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn finish(&self) -> DecodeResult<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError("trailing bytes after the message"))
        }
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError("message ends early"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn varint(&mut self) -> DecodeResult<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f)
                .checked_shl(shift)
                .ok_or(DecodeError("number too large"))?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("number too large"))
    }

    /// What `Writer::signed` wrote.
    pub fn signed(&mut self) -> DecodeResult<i64> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A signed LEB128 number (what `put_signed_leb` wrote).
    pub fn signed_leb(&mut self) -> DecodeResult<i64> {
        let mut v: i64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= i64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift + 7 < 64 && b & 0x40 != 0 {
                    v |= -1i64 << (shift + 7);
                }
                return Ok(v);
            }
        }
        Err(DecodeError("number too large"))
    }

    /// A count of items, each at least `min_item_len` bytes, that must fit in what is left.
    pub fn count(&mut self, min_item_len: usize) -> DecodeResult<usize> {
        let n = self.varint()?;
        if n.saturating_mul(min_item_len.max(1) as u64) > self.remaining() as u64 {
            return Err(DecodeError("a list is longer than the message"));
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> DecodeResult<&'a [u8]> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(DecodeError("a field is longer than the message"));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    pub fn str(&mut self) -> DecodeResult<String> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_string)
            .map_err(|_| DecodeError("text is not UTF-8"))
    }

    /// What `Writer::id` wrote.
    pub fn id(&mut self) -> DecodeResult<String> {
        match self.u8()? {
            0 => self.str(),
            1 => {
                if self.remaining() < 16 {
                    return Err(DecodeError("record id"));
                }
                let raw = self.fixed::<16>("record id")?;
                let rest = self.str()?;
                Ok(format!(
                    "{}{rest}",
                    uuid::Uuid::from_bytes(raw).hyphenated()
                ))
            }
            _ => Err(DecodeError("record id")),
        }
    }

    pub fn hash(&mut self) -> DecodeResult<ChangeHash> {
        self.fixed::<32>("change hash").map(ChangeHash)
    }

    /// What `Writer::ids` wrote.
    pub fn ids(&mut self) -> DecodeResult<Vec<String>> {
        // an id is at least its tag and an empty text's length
        let n = self.count(2)?;
        (0..n).map(|_| self.id()).collect()
    }

    /// The next `N` bytes, exactly.
    fn fixed<const N: usize>(&mut self, what: &'static str) -> DecodeResult<[u8; N]> {
        if self.remaining() < N {
            return Err(DecodeError(what));
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_record_id_made_of_a_uuid_travels_in_its_16_bytes() {
        let id = "0b6a4d4e-3f0c-4d2a-9a57-2f1d6c0e8b11.health";
        let mut w = Writer::new();
        w.id(id);
        assert_eq!(w.into_bytes().len(), 1 + 16 + 1 + ".health".len());
    }

    proptest! {
        #[test]
        fn values_round_trip(a in any::<u64>(), t in any::<i64>(), b in prop::collection::vec(any::<u8>(), 0..300), s in ".{0,40}") {
            let mut w = Writer::new();
            w.varint(a);
            w.signed(t);
            let mut leb = Vec::new();
            put_signed_leb(&mut leb, t);
            w.buf.extend_from_slice(&leb);
            w.bytes(&b);
            w.str(&s);
            w.hash(&ChangeHash([7; 32]));
            w.ids(std::slice::from_ref(&s));
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(r.varint().unwrap(), a);
            prop_assert_eq!(r.signed().unwrap(), t);
            prop_assert_eq!(r.signed_leb().unwrap(), t);
            prop_assert_eq!(r.bytes().unwrap(), &b[..]);
            prop_assert_eq!(r.str().unwrap(), s.clone());
            prop_assert_eq!(r.hash().unwrap(), ChangeHash([7; 32]));
            prop_assert_eq!(r.ids().unwrap(), vec![s]);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn any_record_id_round_trips(raw in any::<[u8; 16]>(), suffix in ".{0,12}", other in ".{0,60}") {
            let u = uuid::Uuid::from_bytes(raw).hyphenated().to_string();
            for id in [u.clone(), format!("{u}{suffix}"), u.to_uppercase(), other.clone(), format!("{other}{u}")] {
                let mut w = Writer::new();
                w.id(&id);
                let bytes = w.into_bytes();
                let mut r = Reader::new(&bytes);
                prop_assert_eq!(r.id().unwrap(), id);
                prop_assert!(r.finish().is_ok());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut r = Reader::new(&input);
            let _ = r.id();
            let _ = r.varint();
            let _ = r.hash();
            let _ = r.ids();
            let _ = r.bytes();
        }
    }
}
