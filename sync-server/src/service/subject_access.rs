//! Subject access (DPA 2018 s.45): everything the server holds about one victim, for the data
//! protection officer to review before release. The person is found by name and date of birth
//! under the same normalisation and key as the report digests (`pseudonym::victim_digest`), so
//! the search holds no name either; every case found is checked again against its own record.
//! Each case is given whole with its health record, the history of who changed what and when
//! (attributed by the server's own actor registrations) and the server audit entries about
//! both; what revoked devices handed over for review is listed too, and a case that exists only
//! there (made offline, never synced) is found by reading it. Handing it out is audited as
//! `subject_access`, one entry per case, naming how many cases and the export's SHA-256
//! prefix, never the name or date of birth.

use std::collections::{HashMap, HashSet};

use automerge::ActorId;
use chrono::NaiveDate;
use provide_core::model::{health_id, Case, HealthRecord, RecordKind, Victim};
use provide_core::record::author::{Author, Registry};
use provide_core::record::history::{history, HistoryEntry};
use provide_core::record::RecordDoc;
use provide_core::report::pseudonym::{normalise_name, victim_digest, victim_identity};
use provide_core::report::CheckedAuditQuery;
use serde::Serialize;

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, AuditFilter, AuditRow, HeldRecord};

/// The version of the export's JSON shape; a change that removes or renames a field raises it.
pub const FORMAT: u32 = 1;
/// What the export's `kind` field says.
pub const KIND: &str = "provide-subject-access";
/// The audit action of a subject access disclosure.
pub const ACTION: &str = "subject_access";
/// The most cases one request may find (more is refused, not cut short).
pub const MAX_CASES: usize = 1_000;
/// The most audit entries given per record (the oldest; `audit_truncated` says when more).
pub const MAX_AUDIT_PER_RECORD: usize = 10_000;
/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Hex digits of the export's SHA-256 the audit names.
pub const HASH_PREFIX: usize = 16;

/// Whom the request is about, as checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// The name as given (trimmed).
    pub name: String,
    /// YYYY-MM-DD.
    pub dob: String,
}

impl Subject {
    /// Checks a request's name and date of birth. The errors never repeat either.
    pub fn checked(name: &str, dob: &str) -> Result<Subject> {
        let name = name.trim();
        if normalise_name(name).is_empty() {
            return Err(ServerError::InvalidInput("the name is empty".into()));
        }
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ServerError::InvalidInput(format!(
                "the name must be at most {MAX_NAME_CHARS} printable characters"
            )));
        }
        let dob = dob.trim();
        let valid = dob.len() == 10 && NaiveDate::parse_from_str(dob, "%Y-%m-%d").is_ok();
        if !valid {
            return Err(ServerError::InvalidInput(
                "the date of birth must be a real date written YYYY-MM-DD".into(),
            ));
        }
        Ok(Subject {
            name: name.to_string(),
            dob: dob.to_string(),
        })
    }

    fn victim(&self) -> Victim {
        Victim {
            name: self.name.clone(),
            dob: Some(self.dob.clone()),
            ..Default::default()
        }
    }
}

/// Everything held about one person: the export's JSON shape (`FORMAT` 1).
#[derive(Debug, Clone, Serialize)]
pub struct SubjectAccess {
    pub format: u32,
    pub kind: &'static str,
    /// RFC 3339, UTC.
    pub generated_at: String,
    /// The operator who ran the request.
    pub generated_by: String,
    pub subject: Subject,
    /// The person's cases, by id.
    pub cases: Vec<CaseHeld>,
}

/// One case of the person and its health record.
#[derive(Debug, Clone, Serialize)]
pub struct CaseHeld {
    pub case_id: String,
    pub case: Held<Case>,
    /// `None`: the case has no health record on the server.
    pub health: Option<Held<HealthRecord>>,
}

/// One record as held: its current state, its history and the audit entries about it.
#[derive(Debug, Clone, Serialize)]
pub struct Held<T> {
    pub id: String,
    /// The server stores the record; `false`: it exists only in what a revoked device handed
    /// over for review, and `record` and `history` are read from that.
    pub stored: bool,
    pub record: T,
    /// Every field-level change, oldest first: who (as the server registered the writing
    /// device's user), when, what and to which value.
    pub history: Vec<HistoryEntry>,
    /// The server audit log's entries about the record, oldest first: whom it was disclosed
    /// to (`disclose`, `consult`, earlier `subject_access`), who sent changes (`receive`,
    /// `refuse`), purges and the rest.
    pub audit: Vec<AuditRow>,
    /// More entries exist than `MAX_AUDIT_PER_RECORD`.
    pub audit_truncated: bool,
    /// Changes to the record that revoked devices handed over in their final uploads, kept
    /// apart for review (`held`): which device, when, how many bytes. They are not in
    /// `record` unless it is not `stored`.
    pub held_for_review: Vec<HeldRecord>,
    /// What those changes would do, as `history` says it, for a stored record: the entries
    /// of the held changes that are not in `record` (empty when they cannot be read).
    pub held_history: Vec<HistoryEntry>,
}

/// What was disclosed, for the audit: how many cases and the export's SHA-256.
#[derive(Debug, Clone)]
pub struct Disclosure {
    pub case_ids: Vec<String>,
    pub health_ids: Vec<String>,
    /// The SHA-256 (hex) of the JSON file.
    pub sha256: String,
}

impl SubjectAccess {
    /// The JSON file's bytes.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|_| {
            ServerError::Internal("the subject access export could not be written".into())
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// What the audit records of this export, written as `json`.
    pub fn disclosure(&self, json: &[u8]) -> Disclosure {
        use sha2::Digest;
        Disclosure {
            case_ids: self.cases.iter().map(|c| c.case_id.clone()).collect(),
            health_ids: self
                .cases
                .iter()
                .filter_map(|c| c.health.as_ref().map(|h| h.id.clone()))
                .collect(),
            sha256: hex::encode(sha2::Sha256::digest(json)),
        }
    }
}

impl Service {
    /// Gathers everything held about `subject`: `NoSuchSubject` when no case is theirs.
    pub fn subject_access(&self, subject: &Subject, operator: &str) -> Result<SubjectAccess> {
        let victim = subject.victim();
        let (Some(identity), Some(digest)) = (
            victim_identity(&victim),
            victim_digest(self.storage.identity_key(), &victim),
        ) else {
            return Err(ServerError::InvalidInput("the name is empty".into()));
        };
        let mut ids = self.storage.cases_of_victim(&digest, MAX_CASES + 1)?;
        let held = self.storage.held_for_review()?;
        // cases that exist only in a revoked device's final upload, kept for review: no
        // reporting row finds them, so each is read to see whose it is
        let mut held_only: Vec<String> = held
            .iter()
            .filter(|h| h.kind == RecordKind::Case && !ids.contains(&h.record))
            .map(|h| h.record.clone())
            .collect();
        held_only.sort();
        held_only.dedup();
        for id in held_only {
            if self.storage.doc_meta(&id)?.is_some() {
                continue;
            }
            let chunks = held_chunks(&held, &id);
            let Ok(case) =
                RecordDoc::load_unmigrated(&id, RecordKind::Case, &chunks).and_then(|r| r.case())
            else {
                continue;
            };
            if victim_identity(&case.victim).as_deref() == Some(identity.as_str()) {
                ids.push(id);
            }
        }
        if ids.len() > MAX_CASES {
            return Err(ServerError::InvalidInput(format!(
                "more than {MAX_CASES} cases match; ask the developers for a larger export"
            )));
        }
        ids.sort();
        let mut cases = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(case) = self.held(&id, RecordKind::Case, &held, |r| r.case())? else {
                continue;
            };
            // the reporting row is derived from the record; the record has the last word
            if victim_identity(&case.record.victim).as_deref() != Some(identity.as_str()) {
                continue;
            }
            let health = self.held(&health_id(&id), RecordKind::Health, &held, |r| r.health())?;
            cases.push(CaseHeld {
                case_id: id,
                case,
                health,
            });
        }
        if cases.is_empty() {
            return Err(ServerError::NoSuchSubject);
        }
        Ok(SubjectAccess {
            format: FORMAT,
            kind: KIND,
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            generated_by: operator.to_string(),
            subject: subject.clone(),
            cases,
        })
    }

    /// Audits a subject access export as handed to `operator`: one `subject_access` entry per
    /// case (and per health record), naming how many cases and the export's hash prefix.
    pub fn audit_subject_access(&self, d: &Disclosure, operator: &str) -> Result<()> {
        let n = d.case_ids.len();
        let prefix = &d.sha256[..HASH_PREFIX.min(d.sha256.len())];
        let events: Vec<AuditEvent> = d
            .case_ids
            .iter()
            .chain(&d.health_ids)
            .map(|record| AuditEvent {
                device: "cli".into(),
                user: operator.to_string(),
                action: ACTION.into(),
                record: record.clone(),
                detail: format!(
                    "subject access export of {n} case(s) written for review; sha256 {prefix}"
                ),
            })
            .collect();
        self.storage.append_audit(&events)
    }

    /// Audits a subject access request that found no case (nothing was written).
    pub fn audit_subject_access_found_nothing(&self, operator: &str) -> Result<()> {
        self.storage.append_audit(&[AuditEvent {
            device: "cli".into(),
            user: operator.to_string(),
            action: ACTION.into(),
            record: String::new(),
            detail: "subject access request found no case; nothing written".into(),
        }])
    }

    /// One record as held, or `None` when it is neither stored nor held for review (or not of
    /// `kind`). A record held for review only is read from what was handed over.
    fn held<T>(
        &self,
        id: &str,
        kind: RecordKind,
        held: &[HeldRecord],
        typed: impl Fn(&RecordDoc) -> provide_core::Result<T>,
    ) -> Result<Option<Held<T>>> {
        let (stored, chunks) = match self.storage.load_doc(id)? {
            Some(doc) if doc.meta.kind != kind => return Ok(None),
            Some(doc) => (true, doc.chunks),
            None => (false, held_chunks(held, id)),
        };
        if chunks.is_empty() {
            return Ok(None);
        }
        let mut rec = RecordDoc::load_unmigrated(id, kind, &chunks)?;
        let record = typed(&rec)?;
        let registry = self.registry_of(&mut rec)?;
        let history = history(rec.doc_mut(), None, &registry);
        let (audit, audit_truncated) = self.audit_about(id)?;
        let held_for_review: Vec<HeldRecord> =
            held.iter().filter(|h| h.record == id).cloned().collect();
        let held_history = if stored && !held_for_review.is_empty() {
            self.held_history(&mut rec, &held_for_review)?
        } else {
            vec![]
        };
        Ok(Some(Held {
            id: id.to_string(),
            stored,
            record,
            history,
            audit,
            audit_truncated,
            held_for_review,
            held_history,
        }))
    }

    /// The history entries of changes held for review on top of a stored record, the
    /// record's own changes left out; nothing when they cannot be read.
    fn held_history(&self, rec: &mut RecordDoc, held: &[HeldRecord]) -> Result<Vec<HistoryEntry>> {
        let own: HashSet<String> = rec
            .doc_mut()
            .get_changes(&[])
            .iter()
            .map(|c| c.hash().to_string())
            .collect();
        for h in held {
            if rec.merge_bytes(&h.changes).is_err() {
                return Ok(vec![]);
            }
        }
        let registry = self.registry_of(rec)?;
        Ok(history(rec.doc_mut(), None, &registry)
            .into_iter()
            .filter(|e| !own.contains(&e.change))
            .collect())
    }

    /// Who the server registered each actor of the record's changes to.
    fn registry_of(&self, rec: &mut RecordDoc) -> Result<Registry> {
        let actors: HashSet<ActorId> = rec
            .doc_mut()
            .get_changes(&[])
            .iter()
            .map(|c| c.actor_id().clone())
            .collect();
        let mut registry: Registry = HashMap::new();
        for actor in actors {
            if let Some(owner) = self.storage.actor_owner(&actor.to_hex_string())? {
                registry.insert(actor, Author::new(&owner.user, owner.role));
            }
        }
        Ok(registry)
    }

    /// The server audit log's entries about one record, oldest first, at most
    /// `MAX_AUDIT_PER_RECORD`, and whether there were more.
    fn audit_about(&self, id: &str) -> Result<(Vec<AuditRow>, bool)> {
        let mut rows = self.storage.audit(&AuditFilter {
            entries: CheckedAuditQuery {
                record: Some(id.to_string()),
                limit: Some((MAX_AUDIT_PER_RECORD + 1) as u32),
                ..Default::default()
            },
            division: None,
            newest_first: false,
        })?;
        let truncated = rows.len() > MAX_AUDIT_PER_RECORD;
        rows.truncate(MAX_AUDIT_PER_RECORD);
        Ok((rows, truncated))
    }
}

/// What revoked devices handed over for one record, in the order it arrived.
fn held_chunks(held: &[HeldRecord], id: &str) -> Vec<Vec<u8>> {
    held.iter()
        .filter(|h| h.record == id)
        .map(|h| h.changes.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_needs_a_name_and_a_real_date_and_its_errors_repeat_neither() {
        let ok = Subject::checked("  Wren  Examplecase ", " 1984-02-29 ").unwrap();
        assert_eq!(ok.name, "Wren  Examplecase");
        assert_eq!(ok.dob, "1984-02-29");
        for (name, dob) in [
            ("", "1984-02-29"),
            (" \t ", "1984-02-29"),
            ("Wren\u{7}Examplecase", "1984-02-29"),
            ("Wren Examplecase", "1983-02-29"),
            ("Wren Examplecase", "1984-2-29"),
            ("Wren Examplecase", "29/02/1984"),
            ("Wren Examplecase", "+1984-02-29"),
            ("Wren Examplecase", ""),
        ] {
            let e = Subject::checked(name, dob).unwrap_err();
            assert_eq!(e.code(), "invalid_input", "{name:?} {dob:?}");
            let text = e.to_string().to_lowercase();
            assert!(!text.contains("wren") && !text.contains("1984"), "{text}");
        }
        let long = "W".repeat(MAX_NAME_CHARS + 1);
        assert!(Subject::checked(&long, "1984-02-29").is_err());
    }
}
