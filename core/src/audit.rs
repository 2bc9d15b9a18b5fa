//! The device's audit log: append-only and hash-chained, one entry for every creation,
//! alteration, consultation (view), disclosure (export, sync, import) and erasure, with who,
//! when and which record (Data Protection Act 2018 s.62 categories).
//!
//! Each entry's hash covers its own fields and the previous entry's hash, and the newest hash
//! is kept apart from the chain in `meta`, so `verify` finds an entry that was edited, removed
//! (in the middle or from the end) or moved. Entries name record ids and field paths, never
//! the values in them.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub mod server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Alter,
    View,
    Export,
    Import,
    Sync,
    Erase,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Alter => "alter",
            Action::View => "view",
            Action::Export => "export",
            Action::Import => "import",
            Action::Sync => "sync",
            Action::Erase => "erase",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: String,
    pub user: String,
    pub role: String,
    pub action: String,
    pub record: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    record TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);";

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HEAD_KEY: &str = "audit_head";

/// The hash of an entry: its sequence number and its fields in order (at, user, role, action,
/// record, detail, prev_hash), each length-prefixed so no two entries can collide by shifting
/// text between fields. The server's log (`server`) hashes its own fields by the same rule.
fn entry_hash(seq: i64, fields: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(seq.to_be_bytes());
    for field in fields {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends one entry. Call inside the transaction that makes the change it records; called
/// outside one (a change made outside the database, such as the key-slot file), the entry is a
/// transaction of its own.
pub fn append(
    conn: &Connection,
    user: &str,
    role: &str,
    action: Action,
    record: &str,
    detail: &str,
) -> Result<()> {
    // the entry and the head it moves are one change: inside the caller's transaction a
    // savepoint nests, and outside one (a bare `Store::audit`) it is the transaction, so a
    // crash between the two writes cannot leave the head behind the log (found by the
    // crash-point explorer, tests/tests/crash_points.rs)
    conn.execute_batch("SAVEPOINT audit_append")?;
    let result = (|| -> Result<()> {
        let (seq, prev): (i64, String) = conn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, GENESIS.to_string()));
        let seq = seq + 1;
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let hash = entry_hash(
            seq,
            &[&at, user, role, action.as_str(), record, detail, &prev],
        );
        conn.execute(
            "INSERT INTO audit (seq, at, user, role, action, record, detail, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            params![seq, at, user, role, action.as_str(), record, detail, prev, hash],
        )?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![HEAD_KEY, format!("{seq}:{hash}")],
        )?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("RELEASE audit_append")?,
        Err(_) => conn.execute_batch("ROLLBACK TO audit_append; RELEASE audit_append")?,
    }
    result
}

/// All entries, oldest first.
pub fn entries(conn: &Connection) -> Result<Vec<Entry>> {
    entries_after(conn, 0, i64::MAX)
}

/// Up to `limit` entries after sequence number `after`, oldest first.
pub fn entries_after(conn: &Connection, after: i64, limit: i64) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare("SELECT seq, at, user, role, action, record, detail, prev_hash, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map([after, limit], |r| {
        Ok(Entry {
            seq: r.get(0)?,
            at: r.get(1)?,
            user: r.get(2)?,
            role: r.get(3)?,
            action: r.get(4)?,
            record: r.get(5)?,
            detail: r.get(6)?,
            prev_hash: r.get(7)?,
            hash: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Checks the whole chain. Returns the number of entries, or names the first bad one.
pub fn verify(conn: &Connection) -> Result<usize> {
    let all = entries(conn)?;
    verify_entries(&all)?;
    let head: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [HEAD_KEY], |r| {
            r.get(0)
        })
        .optional()?;
    let tail = all.last().map(|e| format!("{}:{}", e.seq, e.hash));
    if head != tail {
        let seq = all.last().map(|e| e.seq + 1).unwrap_or(1);
        return Err(Error::AuditBroken {
            seq,
            reason: "entries are missing from the end of the log".into(),
        });
    }
    Ok(all.len())
}

/// Checks a whole log's entries on their own.
pub fn verify_entries(all: &[Entry]) -> Result<()> {
    verify_continuation(0, GENESIS, all)
}

/// The hash a log starts from, before its first entry.
pub fn genesis() -> &'static str {
    GENESIS
}

/// Checks entries that continue a log whose last verified entry was `after_seq` with hash
/// `after_hash` (a server receiving a device's log piece by piece).
pub fn verify_continuation(after_seq: i64, after_hash: &str, all: &[Entry]) -> Result<()> {
    let mut prev = after_hash.to_string();
    for (i, e) in all.iter().enumerate() {
        let expected_seq = after_seq + i as i64 + 1;
        if e.seq != expected_seq {
            return Err(Error::AuditBroken {
                seq: expected_seq,
                reason: format!("entry {expected_seq} is missing or out of order"),
            });
        }
        if e.prev_hash != prev {
            return Err(Error::AuditBroken {
                seq: e.seq,
                reason: "it does not follow the entry before it (removed or reordered)".into(),
            });
        }
        if hash_of(e) != e.hash {
            return Err(Error::AuditBroken {
                seq: e.seq,
                reason: "its contents were altered".into(),
            });
        }
        prev = e.hash.clone();
    }
    Ok(())
}

/// Rebuilds the hashes of entries received without them (the sync protocol sends only the last
/// entry's hash): each entry is chained to the one before, starting from the receiver's last
/// verified entry (`after_seq`, `after_hash`), and the last hash rebuilt must equal the one the
/// sender claimed in the last entry's `hash` (the whole hash, or at least its first 128 bits
/// as hex). An entry changed, removed or reordered on the device after its predecessors were
/// received gives a different last hash, and fails.
pub fn rebuild_continuation(after_seq: i64, after_hash: &str, all: &mut [Entry]) -> Result<()> {
    let Some(claimed) = all.last().map(|e| e.hash.clone()) else {
        return Ok(());
    };
    let mut prev = after_hash.to_string();
    for e in all.iter_mut() {
        e.prev_hash = prev;
        e.hash = hash_of(e);
        prev = e.hash.clone();
    }
    // the rebuilt chain links by construction; this checks the sequence numbers
    verify_continuation(after_seq, after_hash, all)?;
    if claimed.len() < 32 || !prev.starts_with(&claimed) {
        return Err(Error::AuditBroken {
            seq: all.last().map(|e| e.seq).unwrap_or(after_seq),
            reason: "the entries do not rebuild the chain the device holds (altered, removed or reordered)".into(),
        });
    }
    Ok(())
}

/// The hash an entry must carry, from its own fields and `prev_hash`.
fn hash_of(e: &Entry) -> String {
    entry_hash(
        e.seq,
        &[
            &e.at,
            &e.user,
            &e.role,
            &e.action,
            &e.record,
            &e.detail,
            &e.prev_hash,
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: usize) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
            .unwrap();
        c.execute_batch(SCHEMA).unwrap();
        for i in 0..n {
            append(
                &c,
                "pc-ada",
                "officer",
                Action::Alter,
                &format!("case-{i}"),
                "set status",
            )
            .unwrap();
        }
        c
    }

    fn broken_at(c: &Connection) -> i64 {
        match verify(c) {
            Err(Error::AuditBroken { seq, .. }) => seq,
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&log(5)).unwrap(), 5);
        assert_eq!(verify(&log(0)).unwrap(), 0);
    }

    #[test]
    fn edited_entry_is_found() {
        let c = log(5);
        c.execute("UPDATE audit SET record = 'case-x' WHERE seq = 3", [])
            .unwrap();
        assert_eq!(broken_at(&c), 3);
    }

    #[test]
    fn removed_entry_is_found() {
        let c = log(5);
        c.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
        assert_eq!(broken_at(&c), 2);
        let c = log(5);
        c.execute("DELETE FROM audit WHERE seq = 5", []).unwrap();
        assert_eq!(broken_at(&c), 5);
    }

    #[test]
    fn reordered_entries_are_found() {
        let c = log(5);
        // swap the contents of entries 2 and 4, keeping their sequence numbers
        c.execute_batch(
            "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = -2;",
        )
        .unwrap();
        assert_eq!(broken_at(&c), 2);
    }

    #[test]
    fn rehashed_forgery_of_one_entry_is_still_found() {
        let c = log(4);
        let e = &entries(&c).unwrap()[1];
        let forged = entry_hash(
            e.seq,
            &[
                &e.at,
                &e.user,
                &e.role,
                "view",
                &e.record,
                &e.detail,
                &e.prev_hash,
            ],
        );
        c.execute(
            "UPDATE audit SET action = 'view', hash = ?1 WHERE seq = 2",
            [forged],
        )
        .unwrap();
        assert_eq!(broken_at(&c), 3);
    }
}
