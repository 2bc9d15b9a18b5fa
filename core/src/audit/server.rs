//! The sync server's own audit log, hash-chained by the device log's rule (`entry_hash`:
//! the sequence number, then every field length-prefixed, the previous entry's hash last).
//! This is the one home of the server chain's rule: both storage backends chain new entries
//! with `ServerEntry::after`, their migration chains the log from before the upgrade with
//! `ServerEntry::relink`, and `ChainCheck` verifies, naming the first wrong entry and how it
//! is wrong. An `Anchor` (`SEQ:HASH`, the head at some moment, kept where the database's
//! administrators cannot write) also catches a log cut short after it.
//!
//! Sequence numbers: a new entry is numbered one past the head it is chained to, read under
//! the lock that serialises appenders, so from the chain's start on the numbers run without a
//! gap (a rolled-back append leaves none: its number is taken again by the next). Entries
//! from before the upgrade keep their numbers, which on PostgreSQL may have gaps (a `BIGSERIAL`
//! skips the numbers of rolled-back inserts). So verification relies on the `prev_hash`
//! links, never on the numbers being contiguous: a gap whose next entry still links to the
//! entry before it is not a removal. Every hash covers its entry's number, so no entry can be
//! renumbered (to close the gap a removal left, or to move it) without breaking its own hash.

use std::fmt;

use serde::Serialize;

use super::{entry_hash, GENESIS};
use crate::error::{Error, Result};

/// Marks a hash as a server entry's, apart from any device entry's.
const DOMAIN: &str = "provide-server-audit-1";

/// One entry of the server's audit log, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerEntry {
    pub seq: i64,
    pub at: String,
    pub device: String,
    pub user: String,
    pub action: String,
    pub record: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl ServerEntry {
    /// The entry after `head` (`None`: the log is empty): numbered `head.seq + 1` and chained
    /// to `head.hash`. Call with the head read under the appenders' lock.
    pub fn after(
        head: Option<&Anchor>,
        at: &str,
        device: &str,
        user: &str,
        action: &str,
        record: &str,
        detail: &str,
    ) -> Self {
        let mut e = ServerEntry {
            seq: head.map_or(1, |h| h.seq + 1),
            at: at.into(),
            device: device.into(),
            user: user.into(),
            action: action.into(),
            record: record.into(),
            detail: detail.into(),
            prev_hash: String::new(),
            hash: String::new(),
        };
        e.relink(head.map_or(GENESIS, |h| h.hash.as_str()));
        e
    }

    /// Chains this entry, keeping its number, to the entry before it (whose hash is
    /// `prev_hash`; `genesis()` for the first).
    pub fn relink(&mut self, prev_hash: &str) {
        self.prev_hash = prev_hash.to_string();
        self.hash = self.expected_hash();
    }

    /// The hash this entry must carry, from its number, its fields and `prev_hash`.
    pub fn expected_hash(&self) -> String {
        entry_hash(
            self.seq,
            &[
                DOMAIN,
                &self.at,
                &self.device,
                &self.user,
                &self.action,
                &self.record,
                &self.detail,
                &self.prev_hash,
            ],
        )
    }

    /// This entry's place in the chain, as an anchor.
    pub fn anchor(&self) -> Anchor {
        Anchor {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// An entry's number and hash: the log's head, written `SEQ:HASH`. `0:` and the genesis hash
/// is the head of an empty log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

impl Anchor {
    /// The head of an empty log.
    pub fn empty() -> Self {
        Anchor {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }

    /// Reads `SEQ:HASH` (a number, a colon, 64 lowercase hex digits).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidInput(
                "an anchor is SEQ:HASH, as `audit anchor` prints it (a number, a colon and 64 hex digits)"
                    .into(),
            )
        };
        let (seq, hash) = text.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        let hex_digits = hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if seq < 0 || hash.len() != 64 || !hex_digits {
            return Err(bad());
        }
        Ok(Anchor {
            seq,
            hash: hash.to_string(),
        })
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// How an entry is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// Its fields (or its `prev_hash`) were changed; or it was rewritten whole, hash and all,
    /// so the entry after it no longer follows it.
    Edited,
    /// It is gone from the middle of the log.
    Removed,
    /// It is not the entry that was written at this place: moved here from elsewhere.
    Reordered,
    /// The log ends before the anchor's entry: entries were removed from its end.
    CutShort,
    /// The anchor's entry is there with another hash (the log up to it was rewritten), or
    /// the anchor names an entry the log never had.
    AnchorDiffers,
}

/// The first wrong entry of a log, and how it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    pub kind: Tamper,
    pub reason: String,
}

impl From<ChainBreak> for Error {
    fn from(b: ChainBreak) -> Self {
        Error::AuditBroken {
            seq: b.seq,
            reason: b.reason,
        }
    }
}

/// A log that verified: how many entries, and its head (to keep as the next anchor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub entries: u64,
    pub head: Anchor,
}

/// Verifies a server log read page by page, oldest first: feed each page to `check`, ask for
/// the next page after `last_seq`, and `finish` after the last.
#[derive(Debug)]
pub struct ChainCheck {
    prev: Anchor,
    anchor: Option<Anchor>,
    anchor_seen: bool,
    entries: u64,
}

impl ChainCheck {
    pub fn new(anchor: Option<Anchor>) -> Self {
        let anchor_seen = anchor.as_ref().is_some_and(|a| *a == Anchor::empty());
        ChainCheck {
            prev: Anchor::empty(),
            anchor,
            anchor_seen,
            entries: 0,
        }
    }

    /// How many entries have verified so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The number of the last entry checked (0 before the first): read the next page after it.
    pub fn last_seq(&self) -> i64 {
        self.prev.seq
    }

    /// Checks the next entries, in order; stops at the first wrong one.
    pub fn check(&mut self, page: &[ServerEntry]) -> Result<(), ChainBreak> {
        for e in page {
            self.check_one(e)?;
        }
        Ok(())
    }

    fn check_one(&mut self, e: &ServerEntry) -> Result<(), ChainBreak> {
        let p = self.prev.seq;
        let broken = |seq: i64, kind: Tamper, reason: String| ChainBreak { seq, kind, reason };
        if e.seq <= p {
            return Err(broken(
                e.seq,
                Tamper::Reordered,
                format!("entry {} comes after entry {p}", e.seq),
            ));
        }
        let hash_ok = e.expected_hash() == e.hash;
        let link_ok = e.prev_hash == self.prev.hash;
        let gap = e.seq > p + 1;
        match (link_ok, hash_ok) {
            (true, true) => {}
            (true, false) => {
                return Err(broken(
                    e.seq,
                    Tamper::Edited,
                    format!(
                        "entry {} was edited: its fields do not match its hash",
                        e.seq
                    ),
                ))
            }
            (false, _) if gap => {
                let removed = if e.seq == p + 2 {
                    format!("entry {} was removed", p + 1)
                } else {
                    format!("entries {} to {} were removed", p + 1, e.seq - 1)
                };
                return Err(broken(
                    p + 1,
                    Tamper::Removed,
                    format!(
                        "{removed}: entry {} was chained to an entry no longer in the log",
                        e.seq
                    ),
                ));
            }
            (false, true) if p > 0 => {
                return Err(broken(
                    p,
                    Tamper::Edited,
                    format!(
                    "entry {p} was rewritten (its hash recomputed): entry {} no longer follows it",
                    e.seq
                ),
                ))
            }
            (false, _) => {
                let mut relinked = e.clone();
                relinked.relink(&self.prev.hash);
                return Err(if relinked.hash == e.hash {
                    broken(
                        e.seq,
                        Tamper::Edited,
                        format!(
                            "entry {} was edited: its link to the entry before it was changed",
                            e.seq
                        ),
                    )
                } else {
                    broken(
                        e.seq,
                        Tamper::Reordered,
                        format!(
                            "entry {} is not the entry written at this place: entries were moved or renumbered",
                            e.seq
                        ),
                    )
                });
            }
        }
        if let Some(a) = &self.anchor {
            if !self.anchor_seen && e.seq >= a.seq {
                if e.seq > a.seq {
                    return Err(broken(
                        a.seq,
                        Tamper::AnchorDiffers,
                        if a.seq == 0 {
                            "the anchor of an empty log has the genesis hash".to_string()
                        } else {
                            format!("the anchor names entry {}, which this log never had", a.seq)
                        },
                    ));
                }
                if e.hash != a.hash {
                    return Err(broken(
                        a.seq,
                        Tamper::AnchorDiffers,
                        format!(
                            "entry {}'s hash is not the anchor's: the log up to it was rewritten",
                            a.seq
                        ),
                    ));
                }
                self.anchor_seen = true;
            }
        }
        self.prev = e.anchor();
        self.entries += 1;
        Ok(())
    }

    /// After the last page: the log verified, or it ends before the anchor's entry.
    pub fn finish(self) -> Result<Verified, ChainBreak> {
        if let Some(a) = self.anchor.as_ref().filter(|_| !self.anchor_seen) {
            if a.seq == 0 {
                return Err(ChainBreak {
                    seq: 0,
                    kind: Tamper::AnchorDiffers,
                    reason: "the anchor of an empty log has the genesis hash".into(),
                });
            }
            let last = self.prev.seq;
            return Err(ChainBreak {
                seq: last + 1,
                kind: Tamper::CutShort,
                reason: format!(
                    "the log was cut short: it ends at entry {last}, before the anchor's entry {}; entries from {} on were removed",
                    a.seq,
                    last + 1
                ),
            });
        }
        Ok(Verified {
            entries: self.entries,
            head: self.prev,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: i64) -> Vec<ServerEntry> {
        let mut out: Vec<ServerEntry> = Vec::new();
        for i in 0..n {
            let head = out.last().map(ServerEntry::anchor);
            out.push(ServerEntry::after(
                head.as_ref(),
                "2026-11-30T10:00:00.000Z",
                "dev-1",
                "pc.fictional",
                "disclose",
                &format!("case-{i}"),
                "sent to the device",
            ));
        }
        out
    }

    fn verify(entries: &[ServerEntry], anchor: Option<Anchor>) -> Result<Verified, ChainBreak> {
        let mut c = ChainCheck::new(anchor);
        // in pages of two, as a backend would read it
        for page in entries.chunks(2) {
            c.check(page)?;
        }
        c.finish()
    }

    fn broken(entries: &[ServerEntry], anchor: Option<Anchor>) -> (i64, Tamper) {
        let b = verify(entries, anchor).expect_err("a broken chain");
        (b.seq, b.kind)
    }

    #[test]
    fn an_intact_log_verifies_and_its_head_is_its_last_entry() {
        let l = log(5);
        let v = verify(&l, None).unwrap();
        assert_eq!(v.entries, 5);
        assert_eq!(v.head, l[4].anchor());
        assert_eq!(verify(&l, Some(l[2].anchor())).unwrap().entries, 5);
        assert_eq!(verify(&[], None).unwrap().head, Anchor::empty());
        assert_eq!(verify(&[], Some(Anchor::empty())).unwrap().entries, 0);
    }

    #[test]
    fn an_edited_field_is_named() {
        let mut l = log(5);
        l[2].detail = "nothing happened".into();
        assert_eq!(broken(&l, None), (3, Tamper::Edited));
        let mut l = log(5);
        l[2].prev_hash = GENESIS.into();
        assert_eq!(broken(&l, None), (3, Tamper::Edited));
    }

    #[test]
    fn a_rewritten_entry_is_named_by_the_entry_after_it() {
        let mut l = log(5);
        l[1].action = "view".into();
        let prev = l[1].prev_hash.clone();
        l[1].relink(&prev);
        assert_eq!(broken(&l, None), (2, Tamper::Edited));
    }

    #[test]
    fn removed_entries_are_named() {
        let mut l = log(6);
        l.remove(2);
        assert_eq!(broken(&l, None), (3, Tamper::Removed));
        let mut l = log(6);
        l.drain(1..4);
        let b = verify(&l, None).unwrap_err();
        assert_eq!((b.seq, b.kind), (2, Tamper::Removed));
        assert!(b.reason.contains("entries 2 to 4"), "{}", b.reason);
        let mut l = log(3);
        l.remove(0);
        assert_eq!(broken(&l, None), (1, Tamper::Removed));
    }

    #[test]
    fn swapped_entries_are_named() {
        let mut l = log(5);
        // the rows of entries 2 and 4 trade places, each keeping its number
        let (a, b) = (l[1].clone(), l[3].clone());
        l[1] = ServerEntry { seq: 2, ..b };
        l[3] = ServerEntry { seq: 4, ..a };
        assert_eq!(broken(&l, None), (2, Tamper::Reordered));
    }

    #[test]
    fn a_log_cut_short_is_caught_only_with_an_anchor() {
        let l = log(6);
        let anchor = l[4].anchor();
        let cut = &l[..3];
        assert!(verify(cut, None).is_ok());
        let b = verify(cut, Some(anchor)).unwrap_err();
        assert_eq!((b.seq, b.kind), (4, Tamper::CutShort));
        assert!(b.reason.contains("entry 5"), "{}", b.reason);
        assert_eq!(broken(&[], Some(l[0].anchor())), (1, Tamper::CutShort));
    }

    #[test]
    fn a_rewritten_log_does_not_match_its_anchor() {
        let l = log(4);
        let anchor = l[2].anchor();
        // the whole log rewritten from entry 2 on, every hash recomputed
        let mut forged = l.clone();
        forged[1].detail = "nothing happened".into();
        for i in 1..forged.len() {
            let prev = forged[i - 1].hash.clone();
            forged[i].relink(&prev);
        }
        assert!(verify(&forged, None).is_ok());
        assert_eq!(broken(&forged, Some(anchor)), (3, Tamper::AnchorDiffers));
        let wrong_empty = Anchor {
            seq: 0,
            hash: "ab".repeat(32),
        };
        assert_eq!(broken(&l, Some(wrong_empty)).1, Tamper::AnchorDiffers);
    }

    #[test]
    fn gaps_from_before_the_chain_are_not_removals() {
        // a pre-upgrade PostgreSQL log numbered 1, 2, 5 (3 and 4 rolled back), chained as is
        let mut l = log(3);
        l[2].seq = 5;
        let mut prev = GENESIS.to_string();
        for e in l.iter_mut() {
            e.relink(&prev);
            prev = e.hash.clone();
        }
        assert_eq!(verify(&l, None).unwrap().entries, 3);
        // and a renumbered entry breaks its own hash
        l[2].seq = 3;
        assert_eq!(broken(&l, None), (3, Tamper::Edited));
    }

    #[test]
    fn anchors_read_back_as_printed_and_nothing_else() {
        let a = log(1)[0].anchor();
        assert_eq!(Anchor::parse(&a.to_string()).unwrap(), a);
        for bad in [
            "",
            "12",
            "x:ab",
            "-1:0000000000000000000000000000000000000000000000000000000000000000",
            "3:ABCDEF",
            "3:00000000000000000000000000000000000000000000000000000000000000zz",
        ] {
            assert!(Anchor::parse(bad).is_err(), "{bad}");
        }
    }
}
