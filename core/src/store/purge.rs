//! Purging a record from the device so that nothing of it remains in any file.
//!
//! A record leaves a device when the server says it left the device's scope (handed to
//! another team, closed past its grace period, erased). `purge_record` deletes its row, its
//! chunks (by cascade) and anything set aside under its id, inside the caller's transaction,
//! and only when the server has acknowledged every change the device made to it: evidence is
//! never purged before it is safe. `reclaim` then makes the deletion physical:
//! - the database runs with `secure_delete`, so the deleted cells and freed pages are written
//!   over with zeros (in the WAL first);
//! - `incremental_vacuum` gives every free page back, so the file holds no free list that an
//!   older page could hide in (stores run with `auto_vacuum = INCREMENTAL`;
//!   `ensure_reclaimable` converts a store made before, once);
//! - `wal_checkpoint(TRUNCATE)` copies the WAL into the database and cuts the WAL to zero
//!   bytes, so no older frame holding the record survives in it. The shared-memory file holds
//!   only the WAL's index, never page contents.
//!
//! `reclaim` also runs when the store opens, so a purge interrupted after its commit (power
//! lost, app killed) is made physical at the next start.

use rusqlite::{Connection, Transaction};

use crate::audit::{self, Action};
use crate::error::Result;

/// Deletes record `id` if every change to it was acknowledged by the server, and anything set
/// aside under its id in any case, with an audit entry naming the record and `reason` (never
/// its content). Returns whether the record was deleted.
pub(crate) fn purge_record(
    tx: &Transaction,
    id: &str,
    user: &str,
    role: &str,
    reason: &str,
) -> Result<bool> {
    // copies set aside under its id (bytes this device could not use) go whatever happens
    // to the record itself: they are the server's, never an edit of this device's
    let set_aside = tx.execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
    let n = tx.execute(
        "DELETE FROM records WHERE id = ?1 AND heads = acked_heads",
        [id],
    )?;
    if n == 0 && set_aside == 0 {
        return Ok(false);
    }
    if n > 0 {
        super::drafts::discard_of_record(tx, id)?;
        // a partner's older copy must not bring it back (`store::peer`)
        tx.execute(
            "INSERT INTO purged_records (id, purged_at) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET purged_at = excluded.purged_at",
            rusqlite::params![id, super::now_rfc3339()],
        )?;
    }
    audit::append(tx, user, role, Action::Erase, id, reason)?;
    Ok(n > 0)
}

/// Migration 4: the ids of records erased at the server. A tombstone keeps the record from
/// coming back (a rescue bundle holding it is refused), and says whether the server has
/// heard this device purged it.
pub(crate) const ERASED_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS erased_records (
    id TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0
);";

/// Migration 4 also gives each record its epoch: how many times the server re-rooted it
/// (rectification, `record::rectify`).
pub(crate) fn add_epoch(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('records') WHERE name = 'epoch'")?
        .exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE records ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

/// Deletes record `id`, erased at the server, whatever it holds (edits not yet sent included:
/// the server refuses them, and says so), keeps its tombstone, and records what was lost in
/// the audit log in plain words. Returns whether the device held it.
pub(crate) fn erase_record(
    tx: &Transaction,
    id: &str,
    unsent_changes: usize,
    user: &str,
    role: &str,
) -> Result<bool> {
    tx.execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
    let n = tx.execute("DELETE FROM records WHERE id = ?1", [id])?;
    super::drafts::discard_of_record(tx, id)?;
    tx.execute(
        "INSERT OR IGNORE INTO erased_records (id, erased_at) VALUES (?1, ?2)",
        rusqlite::params![id, super::now_rfc3339()],
    )?;
    let detail = match unsent_changes {
        0 => "erased at the server; purged from this device".to_string(),
        n => format!(
            "erased at the server; purged from this device with {n} change(s) not yet sent, \
             which the server refuses"
        ),
    };
    audit::append(tx, user, role, Action::Erase, id, &detail)?;
    Ok(n > 0)
}

/// What `reclaim` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reclaimed {
    /// Free pages given back to the file system.
    pub pages_freed: i64,
    /// The WAL was copied into the database and cut to nothing (false when another
    /// connection's read kept part of it; the next purge or opening finishes it).
    pub wal_truncated: bool,
}

/// Gives free pages back and truncates the WAL (see the module's notes).
pub(crate) fn reclaim(conn: &Connection) -> Result<Reclaimed> {
    let before: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    if before > 0 {
        conn.execute_batch("PRAGMA incremental_vacuum;")?;
    }
    let after: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(Reclaimed {
        pages_freed: before - after,
        wal_truncated: busy == 0,
    })
}

/// Turns on incremental vacuum for a store made without it (stores from before issue 15):
/// `auto_vacuum` only changes with a `VACUUM`, which rebuilds the file once. New stores get
/// it from `schema::PRAGMAS` before their first table.
pub(crate) fn ensure_reclaimable(conn: &Connection) -> Result<()> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != 2 {
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    }
    Ok(())
}
