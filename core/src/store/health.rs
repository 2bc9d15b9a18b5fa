//! Health records: the IDVA's health-side notes for a case. Only the IDVA role may create,
//! read or change them; to every other role they do not exist.

use serde::Serialize;

use super::Store;
use crate::audit::Action;
use crate::error::{Error, Result};
use crate::model::{health_id, HealthRecord, Note, RecordKind};
use crate::record::conflicts::{self, Conflict};
use crate::record::{edit, RecordDoc};

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct HealthView {
    pub record: HealthRecord,
    pub conflicts: Vec<Conflict>,
}

impl Store {
    fn require_health_access(&self) -> Result<()> {
        if !self.session.role.sees_health() {
            return Err(Error::Forbidden {
                role: self.session.role.to_string(),
                action: "see health records".into(),
            });
        }
        Ok(())
    }

    /// The case's health record id, creating the record if it has none yet.
    fn ensure_health(&mut self, case_id: &str) -> Result<String> {
        if self.record_kind(case_id)? != Some(RecordKind::Case) {
            return Err(Error::NotFound(case_id.to_string()));
        }
        let id = health_id(case_id);
        if self.record_kind(&id)?.is_none() {
            let mut rec = RecordDoc::new_health(
                &HealthRecord::new(case_id),
                &self.actor,
                &self.session.author(),
            )?;
            self.insert_record(&mut rec, "health record created")?;
        }
        Ok(id)
    }

    /// Adds a health note to a case. Returns the note id.
    pub fn add_health_note(&mut self, case_id: &str, text: &str) -> Result<String> {
        self.require_health_access()?;
        let id = self.ensure_health(case_id)?;
        let now = super::now_rfc3339();
        let json = serde_json::json!({ "text": text });
        self.edit_record(
            &id,
            RecordKind::Health,
            |n: &String| format!("added health note {n}"),
            |rec, s| {
                let note: Note = serde_json::from_value(json)
                    .map_err(|_| Error::InvalidInput("bad note".into()))?;
                if note.text.trim().is_empty() {
                    return Err(Error::invalid("text", "it must not be empty"));
                }
                let note = Note {
                    id: edit::new_id(),
                    at: now,
                    author: s.user.clone(),
                    role: Some(s.role),
                    ..note
                };
                edit::append(rec, "notes", &note)?;
                Ok(note.id)
            },
        )
    }

    /// Sets where the victim can be contacted discreetly (GP, dental, hospital appointments).
    pub fn set_discreet_contact(&mut self, case_id: &str, text: &str) -> Result<()> {
        self.require_health_access()?;
        let id = self.ensure_health(case_id)?;
        self.edit_record(
            &id,
            RecordKind::Health,
            |_| "set discreet_contact".into(),
            |rec, _| {
                use automerge::transaction::Transactable;
                rec.doc_mut()
                    .put(automerge::ROOT, "discreet_contact", text)?;
                Ok(())
            },
        )
    }

    /// The health record of a case, if there is one. Audited as a consultation.
    pub fn show_health(&mut self, case_id: &str) -> Result<Option<HealthView>> {
        self.require_health_access()?;
        let id = health_id(case_id);
        if self.record_kind(&id)?.is_none() {
            return Ok(None);
        }
        let mut rec = self.load_record(&id, RecordKind::Health)?;
        let record = rec.health()?;
        let conflicts = conflicts::find(rec.doc_mut(), &self.author_registry()?);
        self.audit(Action::View, &id, "health record opened")?;
        Ok(Some(HealthView { record, conflicts }))
    }
}
