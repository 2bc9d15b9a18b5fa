//! Records arriving from another device rather than from the server: a rescue bundle, or the
//! partner's device in the car (`peer`). Both merge the changes into this store's copy and
//! check them as the server would before anything is written: every change by an actor the
//! server registered must name that actor's user and be one their role may make; the merged
//! record must have no gaps in its history, be valid, and carry its own id; a record erased at
//! the server never comes back, and a copy from before a rectification is refused.

use std::collections::HashSet;

use automerge::{Change, ChangeHash};

use super::Store;
use crate::error::Result;
use crate::model::RecordKind;
use crate::record::author::Registry;
use crate::record::{write_check, RecordDoc};

/// A record merged in memory, checked, and ready to be written.
pub(crate) struct Staged {
    pub rec: RecordDoc,
    /// Its heads here before the merge (empty for a new record).
    pub before: Vec<ChangeHash>,
    pub existed: bool,
    pub changed: bool,
}

/// What became of one arriving record.
pub(crate) enum Staging {
    Staged(Box<Staged>),
    /// Erased at the server: never brought back.
    Erased,
    /// From before the record was rectified at the server: it would bring a struck value back.
    Rectified,
    /// Not taken, with why (in words naming the record, never its content).
    Invalid(String),
}

/// Whether a change by an actor the server never registered (as far as this store knows) is
/// taken. A bundle carries work of devices that may be newer than this one's registry; the
/// partner's device is known by its certificate, and what it relays must be known here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnknownAuthors {
    Taken,
    Refused,
}

impl Store {
    /// Merges `changes` into this store's copy of record `id` of `kind` (or a new one) and
    /// checks the result; writes nothing.
    pub(crate) fn stage_incoming(
        &mut self,
        id: &str,
        kind: RecordKind,
        changes: &[u8],
        registry: &Registry,
        unknown: UnknownAuthors,
    ) -> Result<Staging> {
        if self.was_erased_at_server(id)? {
            return Ok(Staging::Erased);
        }
        let existing = self.record_kind(id)?;
        let mut rec = match existing {
            Some(k) if k == kind => self.load_record(id, kind)?,
            Some(_) => {
                return Ok(Staging::Invalid(format!(
                    "record {id} has a different kind here"
                )))
            }
            None => RecordDoc::load(id, kind, &[], &self.actor, &self.session.author())?,
        };
        let before = if existing.is_some() {
            rec.heads()
        } else {
            vec![]
        };
        let held: HashSet<ChangeHash> = rec
            .doc_mut()
            .get_changes(&[])
            .iter()
            .map(|c| c.hash())
            .collect();
        let rectified_here = self.record_epoch(id)? > 0;
        let changed = match rec.merge_bytes(changes) {
            Ok(changed) => changed,
            // the old epoch's history does not merge into the new one (its actors' sequence
            // numbers start again there)
            Err(_) if rectified_here => return Ok(Staging::Rectified),
            Err(_) => {
                return Ok(Staging::Invalid(format!(
                    "record {id} holds damaged changes"
                )))
            }
        };
        if rectified_here
            && rec
                .doc_mut()
                .get_changes(&[])
                .iter()
                .filter(|c| c.deps().is_empty())
                .count()
                > 1
        {
            // the copy is from before the record was re-rooted here
            return Ok(Staging::Rectified);
        }
        let new: Vec<Change> = rec
            .doc_mut()
            .get_changes(&[])
            .into_iter()
            .filter(|c| !held.contains(&c.hash()))
            .collect();
        if write_check::remakes_record(existing.is_some() && !before.is_empty(), &new) {
            return Ok(Staging::Invalid(format!(
                "record {id} holds a second beginning of its history"
            )));
        }
        for change in &new {
            let Some(author) = registry.get(change.actor_id()) else {
                if unknown == UnknownAuthors::Refused {
                    return Ok(Staging::Invalid(format!(
                        "record {id} holds a change by an author this device does not know; it comes with the next sync with the server"
                    )));
                }
                continue;
            };
            let writer = write_check::Writer {
                user: &author.user,
                role: author.role,
            };
            if let Err(denied) = write_check::check_attributed(rec.doc_mut(), kind, change, writer)
            {
                return Ok(Staging::Invalid(format!(
                    "record {id} holds a change its author could not have made ({denied})"
                )));
            }
        }
        if !rec.missing_deps().is_empty() {
            return Ok(Staging::Invalid(format!(
                "record {id} needs earlier history this store does not have"
            )));
        }
        // the merged document must be a valid record of its kind, and carry its own id
        match rec.validated_id() {
            Ok(valid) if valid == id => {}
            Ok(_) => {
                return Ok(Staging::Invalid(format!(
                    "record {id} does not match its contents"
                )))
            }
            Err(_) => {
                return Ok(Staging::Invalid(format!(
                    "record {id} is not a valid {kind}"
                )))
            }
        }
        Ok(Staging::Staged(Box::new(Staged {
            rec,
            before,
            existed: existing.is_some(),
            changed,
        })))
    }
}
