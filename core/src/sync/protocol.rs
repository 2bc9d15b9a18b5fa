//! The sync protocol's messages (design §5) and their wire form: `PV` magic, a one-byte
//! version, then the binary body (see `codec`), compressed with zstd against the protocol's
//! dictionary when that makes it smaller (see `dictionary::pack`). One request and one response
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

use super::codec::{DecodeError, DecodeResult, Reader, Writer};
use super::{changes, dictionary};
use crate::audit::Entry;
use crate::error::{Error, Result};
use crate::model::RecordKind;

pub const MAGIC: &[u8; 2] = b"PV";
/// The version this build writes. Version 5 added the refusals of the server's write rules
/// (`Refusal::NotAllowed` and after); its layout is version 4's. Version 6 (issue 15) adds
/// the division's retention policy to the answer (`SyncResponse::retention`, flag bit 7);
/// requests are as in version 5. Version 7 (issue 16) adds erasure: the answer lists records
/// erased at the server (`SyncResponse::erased`, in a second flags byte), a request confirms
/// the ones the device purged (`SyncRequest::erased_confirmed`), and `Refusal::Erased`.
/// Version 8 (issue 18) adds the attestations of changes relayed from the partner's device in
/// the car (`SyncRequest::relayed`); answers are as in version 7.
pub const VERSION: u16 = 8;
/// The oldest version still accepted, so a device that has not upgraded is never stranded
/// holding evidence: the server answers it in its own version. (At least the previous one;
/// the 0.1 release's version 4 is still answered.)
pub const OLDEST_VERSION: u16 = 4;
/// The HTTP header on every answer of the sync server naming the versions it speaks, as
/// `OLDEST-NEWEST` (`4-6`): a device that is refused for its version learns from it whether
/// the app or the server is the one to update.
pub const VERSIONS_HEADER: &str = "provide-protocol";

/// `OLDEST-NEWEST`, as `VERSIONS_HEADER` carries it.
pub fn versions_spoken() -> String {
    format!("{OLDEST_VERSION}-{VERSION}")
}

/// Reads `VERSIONS_HEADER`'s value.
pub fn parse_versions(text: &str) -> Option<(u16, u16)> {
    let (a, b) = text.trim().split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// What a device speaking `ours` (its oldest and newest; it sent the newest) makes of a server
/// that refused its version and speaks `theirs` (`None`: the server did not say): a server
/// whose newest is older than what was sent is the one to update, otherwise the app is.
pub fn version_skew(ours: (u16, u16), theirs: Option<(u16, u16)>) -> Error {
    let show = |(a, b): (u16, u16)| {
        if a == b {
            a.to_string()
        } else {
            format!("{a} to {b}")
        }
    };
    let app = show(ours);
    match theirs {
        Some(t) if t.1 < ours.1 => Error::ServerOutdated {
            app,
            server: show(t),
        },
        Some(t) => Error::UpdateRequired {
            app,
            server: show(t),
        },
        None => Error::UpdateRequired {
            app,
            server: "a version this app does not".into(),
        },
    }
}

/// The first version the compression dictionary belongs to (it is shared since).
pub const DICTIONARY_VERSION: u16 = 4;
/// Versions 1 and 2 began `PVSY` and a two-byte version: recognised, to say which they are.
const LEGACY_MAGIC: &[u8; 4] = b"PVSY";
const HEADER_LEN: usize = MAGIC.len() + 1;
/// How much of the last audit entry's hash a request carries: its first 128 bits, which the
/// receiver's rebuilt chain must match. Finding other entries with the same 128 bits is as far
/// out of reach as finding them for all 256.
pub const AUDIT_CLAIM_BYTES: usize = 16;
/// The most a message body may decompress to.
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// The most the changes in one message may rebuild to (see `changes`).
const MAX_REBUILT: usize = 2 * MAX_BODY;

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
    /// Erased records this device has purged, confirmed until an answer arrives (v7).
    pub erased_confirmed: Vec<String>,
    /// The epoch of each uploaded document that is not 0 (a record rectified at the server),
    /// by its place in `docs` (v7).
    pub epochs: Vec<(usize, u32)>,
    /// The authors' attestations of changes in `docs` relayed from the partner's device, by
    /// their document's place in `docs` (v8, `peer::attestation`).
    pub relayed: Vec<(usize, crate::peer::attestation::Attestation)>,
}

/// A record the server re-rooted (rectified): its new epoch, sent whole in the same answer's
/// updates, and the values struck from it, by path and digest (`record::rectify`) (v7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rectified {
    pub id: String,
    pub epoch: u32,
    pub struck: Vec<crate::record::rectify::Struck>,
}

/// Why the server would not take a document's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    OutOfScope = 1,
    UnknownActor = 2,
    CorruptChanges = 3,
    InvalidRecord = 4,
    /// The writer's role may not write this kind of record, this field or this value (v5).
    NotAllowed = 5,
    /// The change's author (its message, or a field naming who wrote an item) is not the
    /// user its actor was registered to (v5).
    AuthorMismatch = 6,
    /// The change's time is before its actor was registered or ahead of the server's clock (v5).
    TimeOutOfRange = 7,
    /// The record's schema is newer than the server knows (v5).
    UnknownSchema = 8,
    /// The record was erased at the server; it is never written again (v7).
    Erased = 9,
    /// The changes were made on an earlier epoch of a record rectified since: the device
    /// replays them onto the new epoch it is sent (v7).
    Rectified = 10,
}

impl Refusal {
    /// The nearest refusal a device speaking `version` understands.
    pub fn for_version(self, version: u16) -> Refusal {
        if version >= 7 {
            return self;
        }
        if version >= 5 {
            return match self {
                Refusal::Erased | Refusal::Rectified => Refusal::OutOfScope,
                other => other,
            };
        }
        match self {
            Refusal::NotAllowed => Refusal::OutOfScope,
            Refusal::AuthorMismatch => Refusal::UnknownActor,
            Refusal::TimeOutOfRange | Refusal::UnknownSchema => Refusal::InvalidRecord,
            Refusal::Erased | Refusal::Rectified => Refusal::OutOfScope,
            other => other,
        }
    }

    fn from_code(code: u8) -> Option<Refusal> {
        Some(match code {
            1 => Refusal::OutOfScope,
            2 => Refusal::UnknownActor,
            3 => Refusal::CorruptChanges,
            4 => Refusal::InvalidRecord,
            5 => Refusal::NotAllowed,
            6 => Refusal::AuthorMismatch,
            7 => Refusal::TimeOutOfRange,
            8 => Refusal::UnknownSchema,
            9 => Refusal::Erased,
            10 => Refusal::Rectified,
            _ => return None,
        })
    }
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
    /// Which of the request's documents this answers, by its place in `SyncRequest::docs`:
    /// an index costs a byte where the id would cost seventeen.
    pub doc: usize,
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
    /// Who each actor of this answer's updates was registered to, from the server's own
    /// records (v5): history and conflicts name authors by this, not by a change's message.
    pub authors: Vec<ActorAuthor>,
    /// The device's division's retention policy (v6): how long handed-over and closed cases
    /// stay on devices after they leave open work.
    pub retention: Option<crate::sync::scope::Retention>,
    /// Records erased at the server (v7): purge them whatever they hold, keep their ids so
    /// they never come back, and confirm. An older device is sent them as `purge`.
    pub erased: Vec<String>,
    /// Records of this answer's updates that were rectified (v7): each is sent whole as its
    /// new epoch, to replace the device's copy (its unacknowledged edits replayed onto it).
    pub rectified: Vec<Rectified>,
}

/// An actor id and the user and role it was registered to at enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorAuthor {
    /// The actor id's bytes.
    pub actor: Vec<u8>,
    pub user: String,
    pub role: crate::model::Role,
}

pub(crate) fn kind_code(k: RecordKind) -> u8 {
    match k {
        RecordKind::Case => 1,
        RecordKind::Health => 2,
        RecordKind::Shift => 3,
    }
}

pub(crate) fn kind_from(c: u8) -> DecodeResult<RecordKind> {
    match c {
        1 => Ok(RecordKind::Case),
        2 => Ok(RecordKind::Health),
        3 => Ok(RecordKind::Shift),
        _ => Err(DecodeError("unknown record kind")),
    }
}

/// The base an upload's changes imply: the dependencies they name that are not among them.
/// None when the bytes are not changes.
fn implied_base(changes: &[u8]) -> Option<Vec<ChangeHash>> {
    let mut doc = automerge::AutoCommit::new();
    crate::record::untrusted::load_incremental(&mut doc, changes).ok()?;
    let mut deps = doc.get_missing_deps(&[]);
    deps.sort();
    Some(deps)
}

/// Each document's id, kind, base and changes. The base is written as a tag: an even tag is
/// twice the number of hashes that follow; 1 says the base is exactly the dependencies the
/// changes name outside themselves (an ordinary edit), which the receiver reads off the
/// changes instead of 32 bytes a head.
pub(crate) fn write_docs(w: &mut Writer, docs: &[DocChanges]) {
    w.varint(docs.len() as u64);
    for d in docs {
        w.id(&d.id);
        w.u8(kind_code(d.kind));
        let mut base = d.base.clone();
        base.sort();
        let known = if !base.is_empty() && implied_base(&d.changes).as_ref() == Some(&base) {
            w.varint(1);
            &[][..]
        } else {
            w.varint(2 * d.base.len() as u64);
            for h in &d.base {
                w.hash(h);
            }
            &d.base[..]
        };
        changes::write(w, &d.changes, known);
    }
}

pub(crate) fn read_docs(r: &mut Reader) -> DecodeResult<Vec<DocChanges>> {
    let n = r.count(4)?;
    let mut budget = MAX_REBUILT;
    let mut rows = crate::record::untrusted::DecodeBudget::message();
    (0..n)
        .map(|_| {
            let id = r.id()?;
            let kind = kind_from(r.u8()?)?;
            let tag = r.varint()?;
            let explicit = if tag % 2 == 0 {
                let count = usize::try_from(tag / 2).map_err(|_| DecodeError("base"))?;
                if count > r.remaining() / 32 {
                    return Err(DecodeError("base"));
                }
                (0..count)
                    .map(|_| r.hash())
                    .collect::<DecodeResult<Vec<_>>>()?
            } else if tag == 1 {
                vec![]
            } else {
                return Err(DecodeError("base"));
            };
            let changes = changes::read(r, &explicit, &mut budget)?;
            // before any Automerge loader sees them (`implied_base` is the first)
            crate::record::untrusted::check_untrusted(&changes, &mut rows)?;
            let base = if tag == 1 {
                implied_base(&changes).ok_or(DecodeError("changes"))?
            } else {
                explicit
            };
            Ok(DocChanges {
                id,
                kind,
                base,
                changes,
            })
        })
        .collect()
}

/// (document index, epoch) pairs.
fn read_epochs(r: &mut Reader) -> DecodeResult<Vec<(usize, u32)>> {
    let n = r.count(2)?;
    (0..n)
        .map(|_| {
            let doc = usize::try_from(r.varint()?).map_err(|_| DecodeError("epoch"))?;
            let epoch = u32::try_from(r.varint()?).map_err(|_| DecodeError("epoch"))?;
            Ok((doc, epoch))
        })
        .collect()
}

/// Each rectified record: id, epoch, and its struck values (path, 32-byte digest).
fn read_rectified(r: &mut Reader) -> DecodeResult<Vec<Rectified>> {
    let n = r.count(3)?;
    (0..n)
        .map(|_| {
            let id = r.id()?;
            let epoch = u32::try_from(r.varint()?).map_err(|_| DecodeError("epoch"))?;
            let k = r.count(33)?;
            let struck = (0..k)
                .map(|_| {
                    let path = r.str()?;
                    let digest: [u8; 32] = r
                        .bytes()?
                        .try_into()
                        .map_err(|_| DecodeError("struck digest"))?;
                    Ok(crate::record::rectify::Struck { path, digest })
                })
                .collect::<DecodeResult<Vec<_>>>()?;
            Ok(Rectified { id, epoch, struck })
        })
        .collect()
}

/// What the authors section holds: actor bytes (at most 32), user and role.
fn read_authors(r: &mut Reader) -> DecodeResult<Vec<ActorAuthor>> {
    // an entry is at least three lengths and a role's shortest name
    let n = r.count(8)?;
    (0..n)
        .map(|_| {
            let actor = r.bytes()?;
            if actor.is_empty() || actor.len() > 32 {
                return Err(DecodeError("actor id"));
            }
            let actor = actor.to_vec();
            let user = r.str()?;
            let role = crate::model::Role::parse(&r.str()?).map_err(|_| DecodeError("role"))?;
            Ok(ActorAuthor { actor, user, role })
        })
        .collect()
}

/// The audit entries of a request, compactly: the first sequence number once (the rest follow
/// it one by one); each time as milliseconds after the entry before (the first after the
/// epoch), or as text when it is not in the log's own format; user and role only when they
/// differ from the entry before, and action and record, as indexes into a table of the
/// message's distinct strings; the detail as text; and the first 128 bits of the last entry's
/// hash. The receiver rebuilds every hash from the chain it
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
    let mut prev_who: Option<(&str, &str)> = None;
    for e in entries {
        // the tag's lowest bit: the time follows as text; the next: user and role follow;
        // the rest: the time as milliseconds after the entry before
        let who = (e.user.as_str(), e.role.as_str());
        let who_bit = u64::from(prev_who != Some(who)) << 1;
        prev_who = Some(who);
        match log_millis(&e.at).filter(|ms| *ms >= prev_ms) {
            Some(ms) => {
                w.varint((((ms - prev_ms) as u64) << 2) | who_bit);
                prev_ms = ms;
            }
            None => {
                w.varint(1 | who_bit);
                w.str(&e.at);
            }
        }
        if who_bit != 0 {
            w.varint(index(&e.user));
            w.varint(index(&e.role));
        }
        w.varint(index(&e.action));
        w.varint(index(&e.record));
        w.str(&e.detail);
    }
    let last = entries.last().expect("not empty");
    let mut claim = hex::decode(&last.hash).unwrap_or_default();
    claim.truncate(AUDIT_CLAIM_BYTES);
    w.bytes(&claim);
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
    let mut prev_who: Option<(String, String)> = None;
    let mut out: Vec<Entry> = Vec::with_capacity(n);
    for i in 0..n {
        let seq = first
            .checked_add(i as i64)
            .ok_or(DecodeError("audit sequence"))?;
        let tag = r.varint()?;
        let at = if tag & 1 == 1 {
            if tag >> 2 != 0 {
                return Err(DecodeError("audit time"));
            }
            r.str()?
        } else {
            let delta = i64::try_from(tag >> 2).map_err(|_| DecodeError("audit time"))?;
            prev_ms = prev_ms
                .checked_add(delta)
                .ok_or(DecodeError("audit time"))?;
            millis_text(prev_ms).ok_or(DecodeError("audit time"))?
        };
        let mut field = || -> DecodeResult<String> {
            let i = usize::try_from(r.varint()?).map_err(|_| DecodeError("audit string"))?;
            table.get(i).cloned().ok_or(DecodeError("audit string"))
        };
        let (user, role) = match (tag & 2 != 0, prev_who.take()) {
            (true, _) => (field()?, field()?),
            (false, Some(who)) => who,
            (false, None) => return Err(DecodeError("audit user")),
        };
        prev_who = Some((user.clone(), role.clone()));
        let (action, record) = (field()?, field()?);
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
    if claimed.len() != AUDIT_CLAIM_BYTES {
        return Err(DecodeError("audit hash"));
    }
    if let Some(last) = out.last_mut() {
        last.hash = hex::encode(claimed);
    }
    Ok(out)
}

/// A message body in its envelope: the magic, the version in one byte, the packed body.
pub fn seal(body: Vec<u8>) -> Vec<u8> {
    seal_as(body, VERSION)
}

fn seal_as(body: Vec<u8>, version: u16) -> Vec<u8> {
    let packed = dictionary::pack(&body);
    let mut out = Vec::with_capacity(HEADER_LEN + packed.len());
    out.extend_from_slice(MAGIC);
    out.push(version as u8);
    out.extend_from_slice(&packed);
    out
}

/// The version a message was sealed with, read from its envelope alone.
pub fn version_of(bytes: &[u8]) -> Option<u16> {
    if bytes.len() >= 6 && bytes.starts_with(LEGACY_MAGIC) {
        Some(u16::from_be_bytes([bytes[4], bytes[5]]))
    } else if bytes.len() >= HEADER_LEN && bytes.starts_with(MAGIC) {
        Some(u16::from(bytes[MAGIC.len()]))
    } else {
        None
    }
}

fn unseal(bytes: &[u8]) -> Result<Vec<u8>> {
    let version = if bytes.len() >= 6 && bytes.starts_with(LEGACY_MAGIC) {
        u16::from_be_bytes([bytes[4], bytes[5]])
    } else if bytes.len() >= HEADER_LEN && bytes.starts_with(MAGIC) {
        u16::from(bytes[MAGIC.len()])
    } else {
        return Err(Error::Protocol("not a Provide sync message".into()));
    };
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(Error::Protocol(format!(
            "protocol version {version} is not supported (this side speaks {OLDEST_VERSION} to {VERSION})"
        )));
    }
    dictionary::unpack(&bytes[HEADER_LEN..], MAX_BODY)
        .ok_or_else(|| Error::Protocol("the message body is damaged or too large".into()))
}

fn malformed(e: DecodeError) -> Error {
    Error::Protocol(format!("malformed message: {}", e.0))
}

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        seal(self.body())
    }

    /// The request as a build speaking `version` seals it (the request's layout is the same
    /// from version 4 on): how a device that has not upgraded yet talks, kept so the previous
    /// version stays tested against the server.
    pub fn encode_as(&self, version: u16) -> Vec<u8> {
        seal_as(self.body_for(version), version)
    }

    /// The message before compression (what the dictionary is built from).
    pub fn body(&self) -> Vec<u8> {
        self.body_for(VERSION)
    }

    fn body_for(&self, version: u16) -> Vec<u8> {
        let mut w = Writer::new();
        w.varint(self.request_seq);
        w.varint(self.cursor);
        // in KiB: the limit is advisory, and a byte smaller
        w.varint(self.max_response_bytes.div_ceil(1024));
        write_docs(&mut w, &self.docs);
        write_audit(&mut w, &self.audit);
        if version >= 7 {
            w.ids(&self.erased_confirmed);
            w.varint(self.epochs.len() as u64);
            for (doc, epoch) in &self.epochs {
                w.varint(*doc as u64);
                w.varint(u64::from(*epoch));
            }
        }
        if version >= 8 {
            crate::peer::attestation::write_list(&mut w, &self.relayed);
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let version = version_of(bytes).unwrap_or(VERSION);
        let body = unseal(bytes)?;
        let mut r = Reader::new(&body);
        let req = (|| {
            Ok(SyncRequest {
                request_seq: r.varint()?,
                cursor: r.varint()?,
                max_response_bytes: r.varint()?.saturating_mul(1024),
                docs: read_docs(&mut r)?,
                audit: read_audit(&mut r)?,
                erased_confirmed: if version >= 7 { r.ids()? } else { vec![] },
                epochs: if version >= 7 {
                    read_epochs(&mut r)?
                } else {
                    vec![]
                },
                relayed: if version >= 8 {
                    crate::peer::attestation::read_list(&mut r)?
                } else {
                    vec![]
                },
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

    /// The answer as a device speaking `version` reads it (refusals it does not know are
    /// given as the nearest it does).
    pub fn encode_for(&self, version: u16) -> Vec<u8> {
        let version = version.clamp(OLDEST_VERSION, VERSION);
        seal_as(self.body_for(version), version)
    }

    /// The message before compression (what the dictionary is built from).
    pub fn body(&self) -> Vec<u8> {
        self.body_for(VERSION)
    }

    fn body_for(&self, version: u16) -> Vec<u8> {
        // a device before version 7 knows no erasure: it is told to purge what was erased
        let merged;
        let purge = if version < 7 && !self.erased.is_empty() {
            let mut all = self.purge.clone();
            all.extend(
                self.erased
                    .iter()
                    .filter(|e| !self.purge.contains(e))
                    .cloned(),
            );
            merged = all;
            &merged
        } else {
            &self.purge
        };
        let mut w = Writer::new();
        w.varint(self.request_seq);
        // what follows: the flags, then only the lists that are not empty
        w.u8(u8::from(self.more)
            | (u8::from(self.revoked) << 1)
            | (u8::from(self.audit_rejected) << 2)
            | (u8::from(!self.acks.is_empty()) << 3)
            | (u8::from(!self.updates.is_empty()) << 4)
            | (u8::from(!purge.is_empty()) << 5)
            | (u8::from(version >= 5 && !self.authors.is_empty()) << 6)
            | (u8::from(version >= 6 && self.retention.is_some()) << 7));
        if version >= 7 {
            // the second flags byte: bit 0, erased records follow; bit 1, rectified ones
            w.u8(u8::from(!self.erased.is_empty()) | (u8::from(!self.rectified.is_empty()) << 1));
        }
        if !self.acks.is_empty() {
            w.varint(self.acks.len() as u64);
        }
        for a in &self.acks {
            w.varint(a.doc as u64);
            match &a.outcome {
                DocOutcome::Accepted => w.u8(0),
                DocOutcome::NeedHistory => w.u8(1),
                DocOutcome::Refused(why) => {
                    w.u8(2);
                    w.u8(why.for_version(version) as u8);
                }
            }
        }
        if !self.updates.is_empty() {
            write_docs(&mut w, &self.updates);
        }
        if !purge.is_empty() {
            w.ids(purge);
        }
        if version >= 5 && !self.authors.is_empty() {
            w.varint(self.authors.len() as u64);
            for a in &self.authors {
                w.bytes(&a.actor);
                w.str(&a.user);
                w.str(a.role.as_str());
            }
        }
        if let Some(r) = self.retention.filter(|_| version >= 6) {
            w.varint(u64::from(r.grace_hours));
        }
        if version >= 7 && !self.erased.is_empty() {
            w.ids(&self.erased);
        }
        if version >= 7 && !self.rectified.is_empty() {
            w.varint(self.rectified.len() as u64);
            for x in &self.rectified {
                w.id(&x.id);
                w.varint(u64::from(x.epoch));
                w.varint(x.struck.len() as u64);
                for st in &x.struck {
                    w.str(&st.path);
                    w.bytes(&st.digest);
                }
            }
        }
        w.varint(self.cursor);
        w.varint(self.audit_acked);
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let version = version_of(bytes).unwrap_or(VERSION);
        let body = unseal(bytes)?;
        let mut r = Reader::new(&body);
        let resp = (|| {
            let request_seq = r.varint()?;
            let flags = r.u8()?;
            let flags2 = if version >= 7 { r.u8()? } else { 0 };
            if flags2 & !3 != 0 {
                return Err(DecodeError("unknown flags"));
            }
            let n = if flags & 8 != 0 { r.count(2)? } else { 0 };
            let mut acks = Vec::with_capacity(n);
            for _ in 0..n {
                let doc = usize::try_from(r.varint()?).map_err(|_| DecodeError("document"))?;
                let outcome = match r.u8()? {
                    0 => DocOutcome::Accepted,
                    1 => DocOutcome::NeedHistory,
                    2 => DocOutcome::Refused(
                        Refusal::from_code(r.u8()?).ok_or(DecodeError("unknown refusal"))?,
                    ),
                    _ => return Err(DecodeError("unknown outcome")),
                };
                acks.push(DocAck { doc, outcome });
            }
            let updates = if flags & 16 != 0 {
                read_docs(&mut r)?
            } else {
                vec![]
            };
            let purge = if flags & 32 != 0 { r.ids()? } else { vec![] };
            let authors = if flags & 64 != 0 {
                read_authors(&mut r)?
            } else {
                vec![]
            };
            let retention = if flags & 128 != 0 {
                // a longer period than this build allows (a later server's) is read as the
                // longest it knows, never as a broken answer
                let hours = u32::try_from(r.varint()?).map_err(|_| DecodeError("retention"))?;
                Some(crate::sync::scope::Retention {
                    grace_hours: hours.min(crate::sync::scope::MAX_GRACE_HOURS),
                })
            } else {
                None
            };
            let erased = if flags2 & 1 != 0 { r.ids()? } else { vec![] };
            let rectified = if flags2 & 2 != 0 {
                read_rectified(&mut r)?
            } else {
                vec![]
            };
            let cursor = r.varint()?;
            let audit_acked = r.varint()?;
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
                authors,
                retention,
                erased,
                rectified,
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
                    doc: 0,
                    outcome: DocOutcome::Accepted,
                },
                DocAck {
                    doc: 1,
                    outcome: DocOutcome::NeedHistory,
                },
                DocAck {
                    doc: 2,
                    outcome: DocOutcome::Refused(Refusal::OutOfScope),
                },
            ],
            updates: vec![DocChanges {
                id: "d".into(),
                kind: RecordKind::Shift,
                base: vec![],
                changes: one_change(),
            }],
            purge: vec!["e".into()],
            cursor: 42,
            more: true,
            revoked: false,
            request_seq: 5,
            audit_acked: 17,
            audit_rejected: true,
            authors: vec![ActorAuthor {
                actor: vec![7; 16],
                user: "pc.abe.fictional".into(),
                role: crate::model::Role::Officer,
            }],
            retention: Some(crate::sync::scope::Retention { grace_hours: 48 }),
            erased: vec!["gone".into()],
            rectified: vec![Rectified {
                id: "d".into(),
                epoch: 2,
                struck: vec![crate::record::rectify::Struck {
                    path: "victim.address".into(),
                    digest: [9; 32],
                }],
            }],
        }
    }

    #[test]
    fn erasure_travels_in_version_7_and_as_a_purge_before() {
        let resp = sample_response();
        assert_eq!(
            SyncResponse::decode(&resp.encode()).unwrap().erased,
            resp.erased
        );
        for v in [4, 5, 6] {
            let read = SyncResponse::decode(&resp.encode_for(v)).unwrap();
            assert!(read.erased.is_empty());
            assert_eq!(
                read.purge,
                vec!["e".to_string(), "gone".to_string()],
                "v{v}"
            );
        }
        let req = SyncRequest {
            request_seq: 2,
            erased_confirmed: vec!["gone".into()],
            epochs: vec![(0, 3)],
            ..Default::default()
        };
        assert_eq!(SyncRequest::decode(&req.encode()).unwrap(), req);
        // a device speaking version 6 sends no confirmations, and reads as one
        let v6 = SyncRequest::decode(&req.encode_as(6)).unwrap();
        assert!(v6.erased_confirmed.is_empty());
        assert!(v6.epochs.is_empty());
        assert!(SyncResponse::decode(&resp.encode_for(6))
            .unwrap()
            .rectified
            .is_empty());
        assert_eq!(Refusal::Erased.for_version(6), Refusal::OutOfScope);
        assert_eq!(Refusal::Erased.for_version(7), Refusal::Erased);
        // an unknown bit of the second flags byte is refused, not ignored
        let mut body = SyncResponse::default().body_for(7);
        body[1 + 1] = 0x80;
        assert_eq!(Refusal::Rectified.for_version(6), Refusal::OutOfScope);
        assert!(SyncResponse::decode(&seal_as(body, 7)).is_err());
    }

    #[test]
    fn a_version_5_device_reads_its_answers_without_the_retention_policy() {
        let resp = sample_response();
        let v5 = resp.encode_for(5);
        assert_eq!(version_of(&v5), Some(5));
        let read = SyncResponse::decode(&v5).unwrap();
        assert_eq!(read.retention, None);
        assert_eq!(read.authors, resp.authors);
        let flags_byte = dictionary::unpack(&v5[HEADER_LEN..], MAX_BODY).unwrap()[1];
        assert_eq!(flags_byte >> 7, 0, "no flag a version 5 reader refuses");
        // a longer period than this build allows is read as the longest it knows
        let mut later = resp.clone();
        later.retention = Some(crate::sync::scope::Retention {
            grace_hours: crate::sync::scope::MAX_GRACE_HOURS + 1,
        });
        assert_eq!(
            SyncResponse::decode(&later.encode()).unwrap().retention,
            Some(crate::sync::scope::Retention {
                grace_hours: crate::sync::scope::MAX_GRACE_HOURS
            })
        );
    }

    /// A real change chunk: what arrives must be Automerge chunks (`record::untrusted`).
    fn one_change() -> Vec<u8> {
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "status", "active").unwrap();
        doc.save_after(&[])
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
                changes: one_change(),
            }],
            erased_confirmed: vec![],
            epochs: vec![],
            relayed: vec![(
                0,
                crate::peer::attestation::Attestation {
                    cert: vec![1; 10],
                    head: ChangeHash([5; 32]),
                    signed_at: -5,
                    signature: vec![2; 70],
                },
            )],
        };
        assert_eq!(SyncRequest::decode(&req.encode()).unwrap(), req);
        // a version 7 request has no attestations
        let mut v7 = SyncRequest::decode(&req.encode_as(7)).unwrap();
        assert!(v7.relayed.is_empty());
        v7.relayed = req.relayed.clone();
        assert_eq!(v7, req);
        let resp = sample_response();
        assert_eq!(SyncResponse::decode(&resp.encode()).unwrap(), resp);
    }

    #[test]
    fn a_version_4_device_reads_its_answers_in_version_4() {
        let mut resp = sample_response();
        resp.acks[2].outcome = DocOutcome::Refused(Refusal::AuthorMismatch);
        let old = resp.encode_for(4);
        assert_eq!(version_of(&old), Some(4));
        let read = SyncResponse::decode(&old).unwrap();
        // the refusals and authors it does not know are left out or given as the nearest
        assert_eq!(
            read.acks[2].outcome,
            DocOutcome::Refused(Refusal::UnknownActor)
        );
        assert!(read.authors.is_empty());
        let body = &old[HEADER_LEN..];
        let flags_byte = dictionary::unpack(body, MAX_BODY).unwrap()[1];
        assert_eq!(flags_byte >> 6, 0, "no flag a version 4 reader refuses");
        // and a version 4 request is still read
        let req = SyncRequest {
            request_seq: 1,
            ..Default::default()
        };
        let v4 = req.encode_as(4);
        assert_eq!(version_of(&v4), Some(4));
        assert_eq!(SyncRequest::decode(&v4).unwrap(), req);
        let mut v3 = req.encode();
        v3[MAGIC.len()] = 3;
        assert!(SyncRequest::decode(&v3).is_err());
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
            max_response_bytes: 1024,
            docs: vec![],
            audit: upload.to_vec(),
            erased_confirmed: vec![],
            epochs: vec![],
            relayed: vec![],
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
            erased_confirmed: vec![],
            epochs: vec![],
            relayed: vec![],
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
    fn an_upload_holding_an_automerge_bundle_is_refused_whole() {
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        for i in 0..3 {
            doc.put(automerge::ROOT, "status", format!("edit {i}"))
                .unwrap();
            doc.commit();
        }
        let hashes: Vec<_> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let bundle = doc.bundle(hashes).unwrap().bytes().to_vec();
        let req = SyncRequest {
            docs: vec![DocChanges {
                id: "a".into(),
                kind: RecordKind::Case,
                base: vec![],
                changes: bundle,
            }],
            ..Default::default()
        };
        let err = SyncRequest::decode(&req.encode()).unwrap_err();
        assert!(matches!(err, Error::Protocol(m) if m.contains("changes")));
        let plain = SyncRequest {
            docs: vec![DocChanges {
                changes: doc.save_after(&[]),
                ..req.docs[0].clone()
            }],
            ..Default::default()
        };
        assert_eq!(SyncRequest::decode(&plain.encode()).unwrap(), plain);
    }

    #[test]
    fn wrong_version_truncation_and_garbage_are_clear_errors() {
        let mut bytes = sample_response().encode();
        bytes[2] = 9;
        assert!(
            matches!(SyncResponse::decode(&bytes), Err(Error::Protocol(m)) if m.contains("version 9"))
        );
        // a version 3 message (hashes in every change) says so, and so does a version 2 one
        assert!(
            matches!(SyncResponse::decode(b"PV\x03\x01\x02"), Err(Error::Protocol(m)) if m.contains("version 3"))
        );
        let mut bytes = b"PVSY".to_vec();
        bytes.extend_from_slice(&[0, 2, 1, 2, 3]);
        assert!(
            matches!(SyncResponse::decode(&bytes), Err(Error::Protocol(m)) if m.contains("version 2"))
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
