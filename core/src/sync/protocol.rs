//! The sync protocol's messages (design §5) and their wire form: `PVSY` magic, a two-byte
//! version, then the binary body (see `codec`) compressed with zstd against the protocol's
//! dictionary (see `dictionary`). One request and one response
//! make a sync in steady state.
//!
//! Request: a sequence number that only ever grows (the server refuses a replay), the server
//! cursor the device last fully received, for each locally changed document the heads the
//! server last acknowledged (`base`) and the changes since them, and the device's audit entries
//! the server has not yet verified.
//! Response: the request's sequence number (so a late or misrouted answer is recognised),
//! per-document outcomes (accepted with the new heads, history needed, or refused), the changes
//! to in-scope documents since the cursor, documents to purge, the new cursor, whether more
//! pages follow, and how far the device's audit log has been received and verified.
//! Unchanged documents cost nothing on either side.

use automerge::ChangeHash;

use super::dictionary;
use super::codec::{DecodeError, DecodeResult, Reader, Writer};
use crate::audit::Entry;
use crate::error::{Error, Result};
use crate::model::RecordKind;

pub const MAGIC: &[u8; 4] = b"PVSY";
pub const VERSION: u16 = 3;
/// The most a message body may decompress to.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// One document's changes, in either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocChanges {
    pub id: String,
    pub kind: RecordKind,
    /// Uploads: the heads the server acknowledged last (empty for a new document).
    /// Downloads: empty.
    pub base: Vec<ChangeHash>,
    /// Automerge changes (`save_after(base)`), or a whole document.
    pub changes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRequest {
    /// Strictly greater than every earlier request's from this device.
    pub request_seq: u64,
    pub cursor: u64,
    pub docs: Vec<DocChanges>,
    /// The largest response the device wants in one page (compressed body bytes, advisory).
    pub max_response_bytes: u64,
    /// The device's audit entries after the last one the server acknowledged, oldest first.
    pub audit: Vec<Entry>,
}

/// Why the server would not take a document's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    OutOfScope = 1,
    UnknownActor = 2,
    CorruptChanges = 3,
    InvalidRecord = 4,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocOutcome {
    /// Stored durably. The device works out what the server now holds itself (what it sent
    /// plus this answer's updates), so no heads travel back.
    Accepted,
    /// The server lacks the changes' base: send the whole document.
    NeedHistory,
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocAck {
    pub id: String,
    pub outcome: DocOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    /// The `request_seq` this answers.
    pub request_seq: u64,
    pub acks: Vec<DocAck>,
    pub updates: Vec<DocChanges>,
    /// Documents that left this device's scope: delete them.
    pub purge: Vec<String>,
    pub cursor: u64,
    /// More updates wait beyond this page.
    pub more: bool,
    /// The device has been revoked: upload what is unsynced, then wipe.
    pub revoked: bool,
    /// The newest device audit entry the server holds, verified.
    pub audit_acked: u64,
    /// The uploaded audit entries did not verify against the chain the server holds.
    pub audit_rejected: bool,
}

fn kind_code(k: RecordKind) -> u8 {
    match k {
        RecordKind::Case => 1,
        RecordKind::Health => 2,
        RecordKind::Shift => 3,
    }
}

fn kind_from(c: u8) -> DecodeResult<RecordKind> {
    match c {
        1 => Ok(RecordKind::Case),
        2 => Ok(RecordKind::Health),
        3 => Ok(RecordKind::Shift),
        _ => Err(DecodeError("unknown record kind")),
    }
}

fn write_docs(w: &mut Writer, docs: &[DocChanges]) {
    w.varint(docs.len() as u64);
    for d in docs {
        w.id(&d.id);
        w.u8(kind_code(d.kind));
        w.heads(&d.base);
        w.bytes(&d.changes);
    }
}

fn read_docs(r: &mut Reader) -> DecodeResult<Vec<DocChanges>> {
    let n = r.count(4)?;
    (0..n)
        .map(|_| {
            Ok(DocChanges {
                id: r.id()?,
                kind: kind_from(r.u8()?)?,
                base: r.heads()?,
                changes: r.bytes()?.to_vec(),
            })
        })
        .collect()
}

/// The audit entries of a request, compactly (protocol version 2): the first sequence number
/// once (the rest follow it one by one); each time as milliseconds after the entry before (the
/// first after the epoch), or as text when it is not in the log's own format; user, role,
/// action and record as indexes into a table of the message's distinct strings; the detail as
/// text; and only the last entry's hash. The receiver rebuilds every hash from the chain it
/// holds and checks the last against the one sent, so a changed, missing or reordered entry
/// still fails verification.
fn write_audit(w: &mut Writer, entries: &[Entry]) {
    w.varint(entries.len() as u64);
    let Some(first) = entries.first() else {
        return;
    };
    w.varint(first.seq.max(0) as u64);
    let mut table: Vec<&str> = Vec::new();
    for e in entries {
        for f in [&e.user, &e.role, &e.action, &e.record] {
            if !table.contains(&f.as_str()) {
                table.push(f);
            }
        }
    }
    w.varint(table.len() as u64);
    for t in &table {
        w.id(t);
    }
    let index = |f: &str| table.iter().position(|t| *t == f).unwrap_or(0) as u64;
    let mut prev_ms: i64 = 0;
    for e in entries {
        match log_millis(&e.at).filter(|ms| *ms >= prev_ms) {
            Some(ms) => {
                // even: a delta in milliseconds; odd: a time as text
                w.varint(((ms - prev_ms) as u64) << 1);
                prev_ms = ms;
            }
            None => {
                w.varint(1);
                w.str(&e.at);
            }
        }
        for f in [&e.user, &e.role, &e.action, &e.record] {
            w.varint(index(f));
        }
        w.str(&e.detail);
    }
    let last = entries.last().expect("not empty");
    w.bytes(&hex::decode(&last.hash).unwrap_or_default());
}

/// Milliseconds since the epoch of a time in the audit log's format
/// (`2026-11-22T09:30:00.123Z`), when it reads back exactly.
fn log_millis(at: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    let ms = t.timestamp_millis();
    (millis_text(ms).as_deref() == Some(at)).then_some(ms)
}

fn millis_text(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Reads what `write_audit` wrote. Every entry's `prev_hash` and `hash` are left empty except
/// the last entry's `hash`, the sender's claim: the receiver rebuilds the chain
/// (`audit::rebuild_continuation`).
fn read_audit(r: &mut Reader) -> DecodeResult<Vec<Entry>> {
    let n = r.count(6)?;
    if n == 0 {
        return Ok(vec![]);
    }
    let first = i64::try_from(r.varint()?).map_err(|_| DecodeError("audit sequence"))?;
    let table = {
        let len = r.count(1)?;
        let mut t = Vec::with_capacity(len);
        for _ in 0..len {
            t.push(r.id()?);
        }
        t
    };
    let mut prev_ms: i64 = 0;
    let mut out: Vec<Entry> = Vec::with_capacity(n);
    for i in 0..n {
        let seq = first
            .checked_add(i as i64)
            .ok_or(DecodeError("audit sequence"))?;
        let tag = r.varint()?;
        let at = if tag & 1 == 1 {
            r.str()?
        } else {
            let delta = i64::try_from(tag >> 1).map_err(|_| DecodeError("audit time"))?;
            prev_ms = prev_ms
                .checked_add(delta)
                .ok_or(DecodeError("audit time"))?;
            millis_text(prev_ms).ok_or(DecodeError("audit time"))?
        };
        let mut field = || -> DecodeResult<String> {
            let i = usize::try_from(r.varint()?).map_err(|_| DecodeError("audit string"))?;
            table.get(i).cloned().ok_or(DecodeError("audit string"))
        };
        let (user, role, action, record) = (field()?, field()?, field()?, field()?);
        let detail = r.str()?;
        out.push(Entry {
            seq,
            at,
            user,
            role,
            action,
            record,
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        });
    }
    let claimed = r.bytes()?;
    if claimed.len() != 32 {
        return Err(DecodeError("audit hash"));
    }
    if let Some(last) = out.last_mut() {
        last.hash = hex::encode(claimed);
    }
    Ok(out)
}

fn seal(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 2 + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&dictionary::compress(&body));
    out
}

fn unseal(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(Error::Protocol("not a Provide sync message".into()));
    }
    let version = u16::from_be_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(Error::Protocol(format!(
            "protocol version {version} is not supported (this side speaks {VERSION})"
        )));
    }
    dictionary::decompress(&bytes[6..], MAX_BODY)
        .ok_or_else(|| Error::Protocol("the message body is damaged or too large".into()))
}

fn malformed(e: DecodeError) -> Error {
    Error::Protocol(format!("malformed message: {}", e.0))
}

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        seal(self.body())
    }

    /// The message before compression (what the dictionary is built from).
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.varint(self.request_seq);
        w.varint(self.cursor);
        w.varint(self.max_response_bytes);
        write_docs(&mut w, &self.docs);
        write_audit(&mut w, &self.audit);
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let body = unseal(bytes)?;
        let mut r = Reader::new(&body);
        let req = (|| {
            Ok(SyncRequest {
                request_seq: r.varint()?,
                cursor: r.varint()?,
                max_response_bytes: r.varint()?,
                docs: read_docs(&mut r)?,
                audit: read_audit(&mut r)?,
            })
        })()
        .map_err(malformed)?;
        r.finish().map_err(malformed)?;
        Ok(req)
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        seal(self.body())
    }

    /// The message before compression (what the dictionary is built from).
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.varint(self.request_seq);
        w.varint(self.acks.len() as u64);
        for a in &self.acks {
            w.id(&a.id);
            match &a.outcome {
                DocOutcome::Accepted => w.u8(0),
                DocOutcome::NeedHistory => w.u8(1),
                DocOutcome::Refused(why) => {
                    w.u8(2);
                    w.u8(*why as u8);
                }
            }
        }
        write_docs(&mut w, &self.updates);
        w.varint(self.purge.len() as u64);
        for id in &self.purge {
            w.id(id);
        }
        w.varint(self.cursor);
        w.varint(self.audit_acked);
        w.u8(u8::from(self.more)
            | (u8::from(self.revoked) << 1)
            | (u8::from(self.audit_rejected) << 2));
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let body = unseal(bytes)?;
        let mut r = Reader::new(&body);
        let resp = (|| {
            let request_seq = r.varint()?;
            let n = r.count(2)?;
            let mut acks = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.id()?;
                let outcome = match r.u8()? {
                    0 => DocOutcome::Accepted,
                    1 => DocOutcome::NeedHistory,
                    2 => DocOutcome::Refused(match r.u8()? {
                        1 => Refusal::OutOfScope,
                        2 => Refusal::UnknownActor,
                        3 => Refusal::CorruptChanges,
                        4 => Refusal::InvalidRecord,
                        _ => return Err(DecodeError("unknown refusal")),
                    }),
                    _ => return Err(DecodeError("unknown outcome")),
                };
                acks.push(DocAck { id, outcome });
            }
            let updates = read_docs(&mut r)?;
            let purge = (0..r.count(2)?)
                .map(|_| r.id())
                .collect::<DecodeResult<Vec<_>>>()?;
            let cursor = r.varint()?;
            let audit_acked = r.varint()?;
            let flags = r.u8()?;
            Ok(SyncResponse {
                request_seq,
                acks,
                updates,
                purge,
                cursor,
                more: flags & 1 != 0,
                revoked: flags & 2 != 0,
                audit_acked,
                audit_rejected: flags & 4 != 0,
            })
        })()
        .map_err(malformed)?;
        r.finish().map_err(malformed)?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_response() -> SyncResponse {
        SyncResponse {
            acks: vec![
                DocAck {
                    id: "a".into(),
                    outcome: DocOutcome::Accepted,
                },
                DocAck {
                    id: "b".into(),
                    outcome: DocOutcome::NeedHistory,
                },
                DocAck {
                    id: "c".into(),
                    outcome: DocOutcome::Refused(Refusal::OutOfScope),
                },
            ],
            updates: vec![DocChanges {
                id: "d".into(),
                kind: RecordKind::Shift,
                base: vec![],
                changes: vec![9; 40],
            }],
            purge: vec!["e".into()],
            cursor: 42,
            more: true,
            revoked: false,
            request_seq: 5,
            audit_acked: 17,
            audit_rejected: true,
        }
    }

    #[test]
    fn messages_round_trip() {
        let req = SyncRequest {
            request_seq: 3,
            audit: vec![],
            cursor: 7,
            max_response_bytes: 65_536,
            docs: vec![DocChanges {
                id: "x".into(),
                kind: RecordKind::Case,
                base: vec![ChangeHash([3; 32])],
                changes: vec![1, 2, 3],
            }],
        };
        assert_eq!(SyncRequest::decode(&req.encode()).unwrap(), req);
        let resp = sample_response();
        assert_eq!(SyncResponse::decode(&resp.encode()).unwrap(), resp);
    }

    /// A real hash-chained log, as the device would upload it after `after` entries.
    fn chained(n: usize, after: usize) -> Vec<crate::audit::Entry> {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
            .unwrap();
        c.execute_batch(crate::audit::SCHEMA).unwrap();
        for i in 0..n {
            crate::audit::append(
                &c,
                "pc.ada.fictional",
                "officer",
                crate::audit::Action::Alter,
                &format!("case-{}", i % 3),
                &format!("set status ({i})"),
            )
            .unwrap();
        }
        crate::audit::entries(&c).unwrap().split_off(after)
    }

    #[test]
    fn audit_entries_travel_without_their_hashes_and_the_chain_is_rebuilt() {
        let all = chained(30, 0);
        let (held, upload) = all.split_at(12);
        let mut req = SyncRequest {
            request_seq: 1,
            cursor: 0,
            max_response_bytes: 1,
            docs: vec![],
            audit: upload.to_vec(),
        };
        // an entry whose time is not in the log's own format still travels exactly
        req.audit[3].at = "2026-11-22T09:30:00+01:00".into();
        let decoded = SyncRequest::decode(&req.encode()).unwrap();
        assert_eq!(decoded.audit.len(), 18);
        for (d, e) in decoded.audit.iter().zip(&req.audit) {
            assert_eq!(
                (d.seq, &d.at, &d.user, &d.role, &d.action, &d.record, &d.detail),
                (e.seq, &e.at, &e.user, &e.role, &e.action, &e.record, &e.detail)
            );
        }
        // the untouched upload rebuilds to exactly the device's hashes
        let plain = SyncRequest {
            audit: upload.to_vec(),
            ..req.clone()
        };
        let mut got = SyncRequest::decode(&plain.encode()).unwrap().audit;
        let last = held.last().unwrap();
        crate::audit::rebuild_continuation(last.seq, &last.hash, &mut got).unwrap();
        assert_eq!(got, upload.to_vec());
        // an altered entry does not
        let mut altered = plain.clone();
        altered.audit[5].detail = "set nothing".into();
        let mut got = SyncRequest::decode(&altered.encode()).unwrap().audit;
        assert!(crate::audit::rebuild_continuation(last.seq, &last.hash, &mut got).is_err());
        // nor a chain continued from a different held entry
        let mut got = SyncRequest::decode(&plain.encode()).unwrap().audit;
        let other = &held[held.len() - 2];
        assert!(crate::audit::rebuild_continuation(last.seq, &other.hash, &mut got).is_err());
        // compact: well under the old ~120 bytes an entry
        let bytes = plain.encode().len();
        assert!(bytes < 18 * 40, "{bytes} bytes for 18 entries");
    }

    #[test]
    fn an_idle_sync_is_tiny() {
        let idle = SyncRequest {
            request_seq: 99,
            audit: vec![],
            cursor: 123_456,
            max_response_bytes: 1 << 20,
            docs: vec![],
        }
        .encode();
        assert!(idle.len() < 32, "{} bytes", idle.len());
        let nothing = SyncResponse {
            cursor: 123_456,
            ..Default::default()
        }
        .encode();
        assert!(nothing.len() < 32, "{} bytes", nothing.len());
    }

    #[test]
    fn wrong_version_truncation_and_garbage_are_clear_errors() {
        let mut bytes = sample_response().encode();
        bytes[5] = 9;
        assert!(
            matches!(SyncResponse::decode(&bytes), Err(Error::Protocol(m)) if m.contains("version 9"))
        );
        let bytes = sample_response().encode();
        assert!(SyncResponse::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(SyncRequest::decode(b"GET / HTTP/1.1").is_err());
        // a valid envelope around a body that does not parse
        assert!(SyncRequest::decode(&seal(vec![0xff; 12])).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(input in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = SyncRequest::decode(&input);
            let _ = SyncResponse::decode(&input);
            let _ = SyncRequest::decode(&seal(input.clone()));
            let _ = SyncResponse::decode(&seal(input));
        }
    }
}
