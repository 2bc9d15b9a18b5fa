//! The messages two paired devices exchange, in the server protocol's encoding: the same
//! bounded binary codec, the same change packing (`protocol::write_docs`), the same zstd
//! dictionary. Each message is one frame on the TLS stream: a 4-byte big-endian length, then
//! `PP`, the peer protocol's version, a tag, and the packed body.
//!
//! A session is two round trips, opened by the device that dials:
//! 1. `Hello` (dialer): its proof of the pairing code (or none, when already paired), and
//!    the heads of every record it holds that the listener may hold;
//! 2. `Offer` (listener): its proof, the changes the dialer lacks of records the dialer may
//!    hold with their authors' attestations, and the heads of every record it holds that the
//!    dialer may hold;
//! 3. `Push` (dialer): the changes the listener lacks, with their attestations;
//! 4. `Done` (listener): what it took and what it refused.
//!
//! Either side may answer any message with `Refused` and close.

use std::io::{Read, Write};

use automerge::ChangeHash;

use super::attestation::{self, Attestation};
use crate::error::{Error, Result};
use crate::model::RecordKind;
use crate::sync::codec::{DecodeError, DecodeResult, Reader, Writer};
use crate::sync::dictionary;
use crate::sync::protocol::{kind_code, kind_from, read_docs, write_docs, DocChanges};

const MAGIC: &[u8; 2] = b"PP";
pub const VERSION: u8 = 1;
/// The largest frame either side reads (compressed), and the most a body unpacks to: the
/// records of an `Offer` or a `Push`.
pub const MAX_FRAME: usize = 32 * 1024 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;
/// The largest `Hello` or `Done` (read before anything is proven, or carrying only words).
pub const MAX_SMALL_FRAME: usize = 4 * 1024 * 1024;
/// The most records a device lists as held (far more than a team's open work).
pub const MAX_HELD: usize = 100_000;
/// The most refusals a `Done` names, and the longest text a partner's words may be.
const MAX_REFUSALS: usize = 10_000;
const MAX_WORDS: usize = 1_000;

/// One record a device holds: where it is now, and what the server acknowledged of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: String,
    pub kind: RecordKind,
    pub heads: Vec<ChangeHash>,
    /// The heads the server acknowledged: the partner need not upload what lies under them.
    pub acked: Vec<ChangeHash>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello {
        proof: Vec<u8>,
        held: Vec<Held>,
    },
    Offer {
        proof: Vec<u8>,
        docs: Vec<DocChanges>,
        /// Authors' attestations for the changes in `docs`, by index (`attestation`).
        attested: Vec<(usize, Attestation)>,
        held: Vec<Held>,
    },
    Push {
        docs: Vec<DocChanges>,
        attested: Vec<(usize, Attestation)>,
    },
    Done {
        taken: u64,
        refused: Vec<String>,
    },
    Refused {
        reason: String,
    },
}

impl Message {
    fn tag(&self) -> u8 {
        match self {
            Message::Hello { .. } => 1,
            Message::Offer { .. } => 2,
            Message::Push { .. } => 3,
            Message::Done { .. } => 4,
            Message::Refused { .. } => 5,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.tag());
        match self {
            Message::Hello { proof, held } => {
                w.bytes(proof);
                write_held(&mut w, held);
            }
            Message::Offer {
                proof,
                docs,
                attested,
                held,
            } => {
                w.bytes(proof);
                write_docs(&mut w, docs);
                attestation::write_list(&mut w, attested);
                write_held(&mut w, held);
            }
            Message::Push { docs, attested } => {
                write_docs(&mut w, docs);
                attestation::write_list(&mut w, attested);
            }
            Message::Done { taken, refused } => {
                w.varint(*taken);
                w.varint(refused.len() as u64);
                for r in refused {
                    w.str(r);
                }
            }
            Message::Refused { reason } => w.str(reason),
        }
        let packed = dictionary::pack(&w.into_bytes());
        let mut out = Vec::with_capacity(packed.len() + 3);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&packed);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Message> {
        if bytes.len() < 3 || &bytes[..2] != MAGIC {
            return Err(Error::Protocol("not a Provide peer message".into()));
        }
        if bytes[2] != VERSION {
            return Err(Error::Protocol(format!(
                "the partner speaks peer protocol {} and this device {VERSION}: update both apps",
                bytes[2]
            )));
        }
        let body = dictionary::unpack(&bytes[3..], MAX_BODY).ok_or_else(|| {
            Error::Protocol("the partner's message is damaged or too large".into())
        })?;
        let mut r = Reader::new(&body);
        let msg = (|| -> DecodeResult<Message> {
            Ok(match r.u8()? {
                1 => Message::Hello {
                    proof: proof(&mut r)?,
                    held: read_held(&mut r)?,
                },
                2 => Message::Offer {
                    proof: proof(&mut r)?,
                    docs: read_docs(&mut r)?,
                    attested: attestation::read_list(&mut r)?,
                    held: read_held(&mut r)?,
                },
                3 => Message::Push {
                    docs: read_docs(&mut r)?,
                    attested: attestation::read_list(&mut r)?,
                },
                4 => {
                    let taken = r.varint()?;
                    let n = r.count(1)?;
                    if n > MAX_REFUSALS {
                        return Err(DecodeError("refusals"));
                    }
                    let refused = (0..n).map(|_| words(&mut r)).collect::<DecodeResult<_>>()?;
                    Message::Done { taken, refused }
                }
                5 => Message::Refused {
                    reason: words(&mut r)?,
                },
                _ => return Err(DecodeError("message tag")),
            })
        })()
        .map_err(|e| Error::Protocol(format!("malformed peer message: {}", e.0)))?;
        r.finish()
            .map_err(|e| Error::Protocol(format!("malformed peer message: {}", e.0)))?;
        Ok(msg)
    }
}

fn proof(r: &mut Reader) -> DecodeResult<Vec<u8>> {
    let p = r.bytes()?.to_vec();
    if !(p.is_empty() || p.len() == 32) {
        return Err(DecodeError("proof"));
    }
    Ok(p)
}

fn write_heads(w: &mut Writer, heads: &[ChangeHash]) {
    w.varint(heads.len() as u64);
    for h in heads {
        w.hash(h);
    }
}

fn read_heads(r: &mut Reader) -> DecodeResult<Vec<ChangeHash>> {
    let n = r.count(32)?;
    (0..n).map(|_| r.hash()).collect()
}

fn write_held(w: &mut Writer, held: &[Held]) {
    w.varint(held.len() as u64);
    for h in held {
        w.id(&h.id);
        w.u8(kind_code(h.kind));
        write_heads(w, &h.heads);
        write_heads(w, &h.acked);
    }
}

/// A partner's words, for a screen or a terminal: at most `MAX_WORDS` characters, with no
/// control characters (nothing the partner sends can move a cursor or recolour a terminal).
fn words(r: &mut Reader) -> DecodeResult<String> {
    Ok(r.str()?
        .chars()
        .take(MAX_WORDS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect())
}

fn read_held(r: &mut Reader) -> DecodeResult<Vec<Held>> {
    let n = r.count(4)?;
    if n > MAX_HELD {
        return Err(DecodeError("held records"));
    }
    (0..n)
        .map(|_| {
            Ok(Held {
                id: r.id()?,
                kind: kind_from(r.u8()?)?,
                heads: read_heads(r)?,
                acked: read_heads(r)?,
            })
        })
        .collect()
}

/// A failure of the link, in words: a certificate refused either way (a TLS alert) is a
/// refusal, never "no signal".
pub fn link_error(e: std::io::Error) -> Error {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(|t| t.to_string());
    match tls {
        Some(t) => Error::PeerRefused(format!(
            "the certificates did not verify ({t}); a certificate expires a day after the last sync with the server"
        )),
        None => Error::PeerUnreachable(e.kind().to_string()),
    }
}

/// Writes one message as a frame; returns the bytes put on the link.
pub fn send(stream: &mut impl Write, msg: &Message) -> Result<u64> {
    let bytes = msg.encode();
    stream
        .write_all(&(bytes.len() as u32).to_be_bytes())
        .and_then(|_| stream.write_all(&bytes))
        .and_then(|_| stream.flush())
        .map_err(link_error)?;
    Ok(bytes.len() as u64 + 4)
}

/// Reads one frame of at most `max` bytes and decodes it; returns the message and the bytes
/// taken off the link.
pub fn receive(stream: &mut impl Read, max: usize) -> Result<(Message, u64)> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(link_error)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max.min(MAX_FRAME) {
        return Err(Error::Protocol("the partner's message is too large".into()));
    }
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes).map_err(link_error)?;
    Ok((Message::decode(&bytes)?, len as u64 + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_and_garbage_is_refused() {
        let held = vec![Held {
            id: "0b6d3f5e-9d0c-4c1e-8f0a-2b1c3d4e5f60".into(),
            kind: RecordKind::Case,
            heads: vec![ChangeHash([7; 32])],
            acked: vec![],
        }];
        for m in [
            Message::Hello {
                proof: vec![1; 32],
                held: held.clone(),
            },
            Message::Offer {
                proof: vec![],
                docs: vec![],
                attested: vec![(
                    0,
                    Attestation {
                        cert: vec![1, 2, 3],
                        head: ChangeHash([3; 32]),
                        signed_at: 1_800_000_000,
                        signature: vec![4; 70],
                    },
                )],
                held,
            },
            Message::Push {
                docs: vec![],
                attested: vec![],
            },
            Message::Done {
                taken: 3,
                refused: vec!["x: why".into()],
            },
            Message::Refused {
                reason: "no".into(),
            },
        ] {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
        for bad in [&b""[..], b"PP", b"PP\x01garbage", b"XX\x01", b"PP\x09abc"] {
            assert!(Message::decode(bad).is_err());
        }
        let mut frame = (u32::MAX).to_be_bytes().to_vec();
        frame.extend_from_slice(b"PP");
        assert!(receive(&mut &frame[..], MAX_FRAME).is_err());
        // a partner's words reach a screen without control characters
        let said = Message::Refused {
            reason: "no\u{1b}[31m".into(),
        };
        assert_eq!(
            Message::decode(&said.encode()).unwrap(),
            Message::Refused {
                reason: "no?[31m".into()
            }
        );
    }
}
