//! Erasure: a case, and its health record with it, erased for good (design: data lifecycle;
//! DPA 2018 s.47, MoPI disposal). No peer of a CRDT can forget history, so the server does it
//! for everyone:
//! - the records' rows go and their keys are destroyed (`storage::record_keys`), so no earlier
//!   copy of their bytes (pages, WAL, a backup of the data, a dump) opens again;
//! - a tombstone of each id stays, with every device that held it: each is told to purge it
//!   on its next contact (`SyncResponse::erased`, protocol version 7) and confirms it did
//!   (`SyncRequest::erased_confirmed`); `erasure_status` lists those still to confirm;
//! - an erased id is never written again: a device that comes back with edits to it, or
//!   uploads it from a rescue bundle, is refused (`Refusal::Erased`), told to purge it, and
//!   both are audited.
//!
//! The reporting row and the lookup digests of an erased case go too: no count of it stays in
//! the evaluation reports (its reporting row holds dates and outcomes that could single the
//! victim out), and the audit log keeps that an erasure happened, of which ids, by whom and
//! why.

use provide_core::model::health::health_id;
use provide_core::model::RecordKind;

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, Erasure};

/// The longest reason an erasure keeps.
pub const MAX_REASON: usize = 500;

/// What an erasure did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Erased {
    pub case: String,
    /// The records erased now (the case, and its health record if it had one).
    pub records: Vec<String>,
    /// The devices still to confirm they purged them.
    pub devices_to_confirm: usize,
}

/// The reason as kept: trimmed, one line, within `MAX_REASON` characters, and not empty.
pub fn checked_reason(reason: &str) -> Result<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ServerError::InvalidInput(
            "give the reason for the erasure (a reference, never personal details)".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(ServerError::InvalidInput(format!(
            "the reason must be one line of at most {MAX_REASON} characters"
        )));
    }
    Ok(reason.to_string())
}

impl Service {
    /// Erases the case `case_id` and its health record, by `by` for `reason`. A case erased
    /// already is reported as it stands; an id that is no case is refused.
    pub fn erase_case(&self, case_id: &str, reason: &str, by: &str) -> Result<Erased> {
        let reason = checked_reason(reason)?;
        let case_id = case_id.trim();
        let known = self.storage.doc_meta(case_id)?;
        let erased_before = self.storage.erasure(case_id)?.is_some();
        match &known {
            Some(m) if m.kind == RecordKind::Case => {}
            None if erased_before => {}
            _ => {
                return Err(ServerError::InvalidInput(format!(
                    "there is no case {case_id}"
                )))
            }
        }
        let ids = vec![case_id.to_string(), health_id(case_id)];
        let records = self.erase_records(&ids, &reason, by)?;
        let mut devices = std::collections::HashSet::new();
        for id in &ids {
            if let Some(e) = self.storage.erasure(id)? {
                devices.extend(
                    e.devices
                        .into_iter()
                        .filter(|d| d.confirmed_at.is_none())
                        .map(|d| d.device),
                );
            }
        }
        Ok(Erased {
            case: case_id.to_string(),
            records,
            devices_to_confirm: devices.len(),
        })
    }

    /// Erases exactly these records (rows deleted, keys destroyed, tombstones kept), audited
    /// one entry each; returns those erased now.
    pub fn erase_records(&self, ids: &[String], reason: &str, by: &str) -> Result<Vec<String>> {
        let reason = checked_reason(reason)?;
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let erased = self
            .storage
            .erase(ids, &at, by, &|erased: &[(String, RecordKind)]| {
                erased
                    .iter()
                    .map(|(id, kind)| AuditEvent {
                        device: String::new(),
                        user: by.to_string(),
                        action: "erase".into(),
                        record: id.clone(),
                        detail: format!("{kind} record erased: {reason}"),
                    })
                    .collect()
            })?;
        Ok(erased.into_iter().map(|(id, _)| id).collect())
    }

    /// The erasure of a case and of its health record (if it had one), with the devices still
    /// to confirm; `None` when the case was not erased.
    pub fn erasure_status(&self, case_id: &str) -> Result<Option<Vec<Erasure>>> {
        let case_id = case_id.trim();
        let Some(case) = self.storage.erasure(case_id)? else {
            return Ok(None);
        };
        let mut out = vec![case];
        out.extend(self.storage.erasure(&health_id(case_id))?);
        Ok(Some(out))
    }
}
