//! Rectification (DPA 2018 s.46): a wrongly recorded value struck from a case's history.
//!
//! The case is re-rooted (`provide_core::record::rectify`): a new document of its current
//! state with the value cleared becomes its next epoch, written by a fresh actor that stands
//! for the rectifier (named to devices as its author), and the old history is crypto-shredded
//! (its key destroyed, `Storage::reroot`). Every device that held the case is sent the new
//! epoch whole and replaces its copy, replaying the edits it never sent; an upload made on the
//! old epoch is refused (`Refusal::Rectified`) until the device has done so. The audit keeps
//! that a rectification happened, by whom, why and of which path — never the value.

use automerge::ActorId;
use provide_core::model::{RecordKind, Role};
use provide_core::record::rectify::{rerooted_case, Struck};
use provide_core::record::{Author, RecordDoc};
use provide_core::report::Attendance;

use super::erasure::checked_reason;
use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, DocMeta, Reroot};
use provide_core::sync::protocol::Rectified;

/// What a rectification did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rectification {
    pub case: String,
    pub path: String,
    /// The case's new epoch.
    pub epoch: u32,
    /// How many values were struck (several when concurrent writes conflicted).
    pub struck: usize,
}

impl Service {
    /// What a device sent record `meta` whole must know when it was rectified: its epoch and
    /// what was struck (`None` at epoch 0).
    pub(crate) fn rectified_of(&self, meta: &DocMeta) -> Result<Option<Rectified>> {
        if meta.epoch == 0 {
            return Ok(None);
        }
        let struck = self
            .storage
            .struck(&meta.id, meta.epoch)?
            .into_iter()
            .filter_map(|(path, digest)| {
                let digest: [u8; 32] = hex::decode(digest).ok()?.try_into().ok()?;
                Some(Struck { path, digest })
            })
            .collect();
        Ok(Some(Rectified {
            id: meta.id.clone(),
            epoch: meta.epoch,
            struck,
        }))
    }

    /// Strikes the value(s) at `path` from case `case_id`, by `by` (an administrator or the
    /// safeguarding unit) for `reason`.
    pub fn rectify_case(
        &self,
        case_id: &str,
        path: &str,
        reason: &str,
        by: &str,
        role: Role,
    ) -> Result<Rectification> {
        if !matches!(role, Role::Admin | Role::Safeguarding) {
            return Err(ServerError::Forbidden(
                "only an administrator or the safeguarding unit rectifies a record".into(),
            ));
        }
        let reason = checked_reason(reason)?;
        let case_id = case_id.trim();
        let path = path.trim();
        match self.storage.doc_meta(case_id)? {
            Some(m) if m.kind == RecordKind::Case => {}
            _ => {
                return Err(ServerError::InvalidInput(format!(
                    "there is no case {case_id}"
                )))
            }
        }
        let actor = ActorId::random();
        let author = Author::new(by, role);
        let identity_key = *self.storage.identity_key();
        let mut struck_count = 0;
        let epoch = self.storage.reroot(case_id, &mut |stored| {
            let old = RecordDoc::load_unmigrated(case_id, RecordKind::Case, &stored.chunks)
                .map_err(|_| ServerError::Storage(format!("record {case_id} is damaged")))?;
            let (mut new, struck) =
                rerooted_case(&old, path, &actor, &author).map_err(ServerError::from)?;
            struck_count = struck.len();
            let case = new.case().map_err(ServerError::from)?;
            Ok(Reroot {
                bytes: new.save(),
                heads: new.heads(),
                attendance: Some(Attendance::of(&case, &identity_key)),
                struck: struck
                    .iter()
                    .map(|s| (s.path.clone(), hex::encode(s.digest)))
                    .collect(),
                actor: actor.to_hex_string(),
                by: by.to_string(),
                role,
                audit: AuditEvent {
                    device: String::new(),
                    user: by.to_string(),
                    action: "rectify".into(),
                    record: case_id.to_string(),
                    detail: format!(
                        "{} value(s) of `{path}` struck from the record's history: {reason}",
                        struck.len()
                    ),
                },
            })
        })?;
        Ok(Rectification {
            case: case_id.to_string(),
            path: path.to_string(),
            epoch,
            struck: struck_count,
        })
    }
}
