//! Drafts: a note, visit or assessment in progress, and the screen the user was on, kept in
//! the encrypted store so that they survive the lock (issue 17, item 5). The window never
//! keeps them anywhere else (no browser storage): locking drops the store and with it every
//! way to read them, and they come back only when the same user unlocks.
//!
//! A draft belongs to one user (a device may have two) and is keyed by the UI
//! (`note:<case id>`, `assess:<case id>:dash`, `route`). One naming a record goes with it when
//! the record is purged or erased (`purge`), and the UI discards it once it is saved for real.
//! Deleting runs under `secure_delete`, like every deletion in the store.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{Error, Result};

/// The most a draft's body and screen may hold together, in bytes.
pub const MAX_DRAFT_BYTES: usize = 64 * 1024;
/// The longest key accepted.
const MAX_KEY_LEN: usize = 200;

/// Migration 5: the drafts table.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS drafts (
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    record TEXT,
    screen TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user, key)
);
CREATE INDEX IF NOT EXISTS drafts_record ON drafts (record);";

/// A draft to keep.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct DraftInput {
    /// The UI's name for it: `note:<case id>`, `assess:<case id>:<form>`, `route`…
    pub key: String,
    /// The record it belongs to, if any: the draft goes when the record leaves the device.
    pub record: Option<String>,
    /// The screen to return to (the UI's route, as JSON).
    pub screen: String,
    /// What was typed (JSON).
    pub body: String,
}

/// A kept draft of the signed-in user.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Draft {
    pub key: String,
    pub record: Option<String>,
    pub screen: String,
    pub body: String,
    /// RFC 3339, device clock.
    pub updated_at: String,
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Draft> {
    Ok(Draft {
        key: r.get(0)?,
        record: r.get(1)?,
        screen: r.get(2)?,
        body: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

fn is_json(s: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}

impl Store {
    fn require_open(&self) -> Result<()> {
        if self.erased {
            return Err(Error::Revoked);
        }
        Ok(())
    }

    /// Keeps (or replaces) the signed-in user's draft `input.key`.
    pub fn save_draft(&mut self, input: &DraftInput) -> Result<Draft> {
        self.require_open()?;
        if input.key.trim().is_empty() || input.key.len() > MAX_KEY_LEN {
            return Err(Error::invalid("key", "it must be 1-200 characters"));
        }
        let size = input.body.len() + input.screen.len();
        if size > MAX_DRAFT_BYTES {
            return Err(Error::DraftTooLarge {
                limit_kib: MAX_DRAFT_BYTES / 1024,
            });
        }
        if !is_json(&input.body) {
            return Err(Error::invalid("body", "it must be JSON"));
        }
        if !is_json(&input.screen) {
            return Err(Error::invalid("screen", "it must be JSON"));
        }
        if let Some(id) = &input.record {
            let here = self
                .conn
                .prepare("SELECT 1 FROM records WHERE id = ?1")?
                .exists([id])?;
            if !here {
                return Err(Error::NotFound(id.clone()));
            }
        }
        let draft = Draft {
            key: input.key.clone(),
            record: input.record.clone(),
            screen: input.screen.clone(),
            body: input.body.clone(),
            updated_at: super::now_rfc3339(),
        };
        self.conn.execute(
            "INSERT INTO drafts (user, key, record, screen, body, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (user, key) DO UPDATE SET record = excluded.record,
               screen = excluded.screen, body = excluded.body, updated_at = excluded.updated_at",
            params![
                self.session.user,
                draft.key,
                draft.record,
                draft.screen,
                draft.body,
                draft.updated_at
            ],
        )?;
        Ok(draft)
    }

    /// The signed-in user's drafts, newest first.
    pub fn drafts(&self) -> Result<Vec<Draft>> {
        self.require_open()?;
        let mut stmt = self.conn.prepare(
            "SELECT key, record, screen, body, updated_at FROM drafts WHERE user = ?1
             ORDER BY updated_at DESC, key",
        )?;
        let out = stmt
            .query_map([&self.session.user], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(out)
    }

    /// The signed-in user's draft `key`, if kept.
    pub fn draft(&self, key: &str) -> Result<Option<Draft>> {
        self.require_open()?;
        Ok(self
            .conn
            .query_row(
                "SELECT key, record, screen, body, updated_at FROM drafts
                 WHERE user = ?1 AND key = ?2",
                params![self.session.user, key],
                row,
            )
            .optional()?)
    }

    /// Discards the signed-in user's draft `key` (saved for real, or cancelled). Returns
    /// whether there was one.
    pub fn discard_draft(&mut self, key: &str) -> Result<bool> {
        self.require_open()?;
        let n = self.conn.execute(
            "DELETE FROM drafts WHERE user = ?1 AND key = ?2",
            params![self.session.user, key],
        )?;
        Ok(n > 0)
    }
}

/// Discards every user's drafts of record `id` (it left the device), in the caller's
/// transaction.
pub(crate) fn discard_of_record(tx: &rusqlite::Transaction, id: &str) -> Result<()> {
    tx.execute("DELETE FROM drafts WHERE record = ?1", [id])?;
    Ok(())
}
