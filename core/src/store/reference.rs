//! The reference data a device holds beyond what it shipped with: risk form versions and
//! service directories published by the administrator and received on sync (`sync::reference`).
//! Kept in the encrypted store (so a tampered phone number cannot be slipped into the
//! directory), checked again on arrival with the same rules the server publishes by, and
//! never deleted: an assessment is scored by the form version it names.

use rusqlite::params;

use super::Store;
use crate::audit::Action;
use crate::directory::Directory;
use crate::error::{Error, Result};
use crate::forms::{self, FormDef};
use crate::sync::reference::{self, ReferenceUpdate, DIRECTORY_ITEM};

const FORM: &str = "form";
const DIRECTORY: &str = "directory";

/// The table (device store migration 2).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reference_data (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (kind, id, version)
);";

impl Store {
    fn reference_bodies(&self, kind: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM reference_data WHERE kind = ?1 ORDER BY id, version")?;
        let rows = stmt.query_map([kind], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The published form versions this device has received.
    pub fn held_forms(&self) -> Result<Vec<FormDef>> {
        self.reference_bodies(FORM)?
            .iter()
            .map(|b| {
                serde_json::from_str(b)
                    .map_err(|_| Error::Database("a stored form definition is damaged".into()))
            })
            .collect()
    }

    /// The version of a form a new assessment uses: the newest this device holds.
    pub fn form(&self, id: &str) -> Result<FormDef> {
        Ok(forms::newest(id, &self.held_forms()?)?.clone())
    }

    /// The newest version of each form this device holds.
    pub fn forms(&self) -> Result<Vec<FormDef>> {
        Ok(forms::newest_of_each(&self.held_forms()?))
    }

    /// The services directory: the newest received, or the one shipped.
    pub fn directory(&self) -> Result<Directory> {
        let mut newest = Directory::shipped().clone();
        for b in self.reference_bodies(DIRECTORY)? {
            let d: Directory = serde_json::from_str(&b)
                .map_err(|_| Error::Database("a stored directory is damaged".into()))?;
            if d.version > newest.version {
                newest = d;
            }
        }
        Ok(newest)
    }

    /// What this device holds, as a tag to compare with the server's.
    pub fn reference_tag(&self) -> Result<String> {
        let held = self.held_forms()?;
        let dir = self.directory()?.version;
        Ok(reference::tag(
            forms::shipped()
                .iter()
                .chain(held.iter())
                .map(|f| (f.id.as_str(), f.version))
                .chain([(DIRECTORY_ITEM, dir)]),
        ))
    }

    /// Keeps what the server sent, each item checked as the server checked it at publishing;
    /// an item that fails is skipped (the rest are kept) and the count of those kept returned.
    pub fn keep_reference(&mut self, update: &ReferenceUpdate) -> Result<usize> {
        let now = super::now_rfc3339();
        let mut kept = Vec::new();
        let tx = self.conn.unchecked_transaction()?;
        for def in &update.forms {
            let held = self.held_forms()?;
            if forms::validate(def, &held).is_err() {
                continue;
            }
            let body = serde_json::to_string(def).map_err(|e| Error::Internal(e.to_string()))?;
            tx.execute(
                "INSERT OR IGNORE INTO reference_data (kind, id, version, body, received_at) VALUES (?1,?2,?3,?4,?5)",
                params![FORM, def.id, def.version as i64, body, now],
            )?;
            kept.push(format!("{} v{}", def.id, def.version));
        }
        if let Some(d) = &update.directory {
            if d.validate(self.directory()?.version).is_ok() {
                let body = serde_json::to_string(d).map_err(|e| Error::Internal(e.to_string()))?;
                tx.execute(
                    "INSERT OR IGNORE INTO reference_data (kind, id, version, body, received_at) VALUES (?1,?2,?3,?4,?5)",
                    params![DIRECTORY, DIRECTORY_ITEM, d.version as i64, body, now],
                )?;
                kept.push(format!("directory v{}", d.version));
            }
        }
        if !kept.is_empty() {
            self.audit(
                Action::Alter,
                "reference",
                &format!("reference data received: {}", kept.join(", ")),
            )?;
        }
        tx.commit()?;
        for def in &update.forms {
            forms::register(def);
        }
        Ok(kept.len())
    }

    /// Makes the held form versions known to scoring (on unlock).
    pub(crate) fn register_held_forms(&self) -> Result<()> {
        for def in self.held_forms()? {
            forms::register(&def);
        }
        Ok(())
    }
}
