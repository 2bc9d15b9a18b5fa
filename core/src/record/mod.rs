//! Records as Automerge documents: creation from typed structs, loading with forward migration,
//! attributed commits, targeted edits, conflicts and field history.
//!
//! Edits write only the fields they change (`edit`), never the whole struct: reconciling a whole
//! struct would overwrite a concurrent conflict with whichever value happened to be shown.

pub mod author;
pub mod change_time;
pub mod conflicts;
pub mod edit;
pub mod heads;
pub mod history;
pub mod migrate;
pub mod rectify;
pub mod untrusted;
pub mod wire;
pub mod write_check;

use automerge::{ActorId, AutoCommit, ChangeHash};
use autosurgeon::{hydrate, reconcile};

use crate::error::{Error, Result};
use crate::model::{Case, HealthRecord, RecordKind, Shift};
pub use author::Author;
pub use change_time::change_time;

/// One record's document, with the kind and id it is stored under.
pub struct RecordDoc {
    pub id: String,
    pub kind: RecordKind,
    doc: AutoCommit,
}

impl RecordDoc {
    /// Starts a document from a typed value and commits it as `author`.
    fn create<T: autosurgeon::Reconcile>(
        id: &str,
        kind: RecordKind,
        value: &T,
        actor: &ActorId,
        author: &Author,
    ) -> Result<Self> {
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        reconcile(&mut doc, value)?;
        let mut rec = RecordDoc {
            id: id.to_string(),
            kind,
            doc,
        };
        rec.commit(author);
        Ok(rec)
    }

    /// As `create`, with `edit` applied to the value first. The edit is made on a scratch
    /// document and the value read back from it, so the new document's one change holds only
    /// the edited value, never what the edit replaced.
    pub(crate) fn create_with<T: autosurgeon::Reconcile + autosurgeon::Hydrate>(
        id: &str,
        kind: RecordKind,
        value: &T,
        actor: &ActorId,
        author: &Author,
        edit: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<Self> {
        let mut scratch = AutoCommit::new();
        reconcile(&mut scratch, value)?;
        edit(&mut scratch)?;
        let edited: T = hydrate(&scratch).map_err(|_| Error::CorruptRecord(id.to_string()))?;
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        reconcile(&mut doc, &edited)?;
        let mut rec = RecordDoc {
            id: id.to_string(),
            kind,
            doc,
        };
        rec.commit(author);
        Ok(rec)
    }

    pub fn new_case(case: &Case, actor: &ActorId, author: &Author) -> Result<Self> {
        Self::create(&case.id, RecordKind::Case, case, actor, author)
    }

    pub fn new_health(rec: &HealthRecord, actor: &ActorId, author: &Author) -> Result<Self> {
        Self::create(&rec.id, RecordKind::Health, rec, actor, author)
    }

    pub fn new_shift(shift: &Shift, actor: &ActorId, author: &Author) -> Result<Self> {
        Self::create(&shift.id, RecordKind::Shift, shift, actor, author)
    }

    /// Loads saved bytes (a snapshot followed by any incremental chunks) and migrates the
    /// document forward to this build's schema, committing the migration as `author`.
    pub fn load(
        id: &str,
        kind: RecordKind,
        chunks: &[Vec<u8>],
        actor: &ActorId,
        author: &Author,
    ) -> Result<Self> {
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        for chunk in chunks {
            untrusted::load_incremental(&mut doc, chunk)
                .map_err(|_| Error::CorruptRecord(id.to_string()))?;
        }
        let mut rec = RecordDoc {
            id: id.to_string(),
            kind,
            doc,
        };
        migrate::forward(&mut rec, author)?;
        Ok(rec)
    }

    /// Loads saved bytes exactly as they are, without migrating: for a server that keeps and
    /// relays documents but never writes to them itself.
    pub fn load_unmigrated(id: &str, kind: RecordKind, chunks: &[Vec<u8>]) -> Result<Self> {
        let mut doc = AutoCommit::new();
        for chunk in chunks {
            untrusted::load_incremental(&mut doc, chunk)
                .map_err(|_| Error::CorruptRecord(id.to_string()))?;
        }
        Ok(RecordDoc {
            id: id.to_string(),
            kind,
            doc,
        })
    }

    /// The underlying Automerge document.
    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    pub fn doc_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Commits pending operations with the author and time in the change metadata.
    /// Returns `None` when there was nothing to commit.
    pub fn commit(&mut self, author: &Author) -> Option<ChangeHash> {
        self.doc.commit_with(author.commit_options())
    }

    /// Drops operations that have not been committed.
    pub fn rollback(&mut self) {
        self.doc.rollback();
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    pub fn case(&self) -> Result<Case> {
        self.expect(RecordKind::Case)?;
        hydrate(&self.doc).map_err(|_| Error::CorruptRecord(self.id.clone()))
    }

    pub fn health(&self) -> Result<HealthRecord> {
        self.expect(RecordKind::Health)?;
        hydrate(&self.doc).map_err(|_| Error::CorruptRecord(self.id.clone()))
    }

    pub fn shift(&self) -> Result<Shift> {
        self.expect(RecordKind::Shift)?;
        hydrate(&self.doc).map_err(|_| Error::CorruptRecord(self.id.clone()))
    }

    /// Checks the document is a valid record of its kind and returns the id it carries.
    pub fn validated_id(&self) -> Result<String> {
        match self.kind {
            RecordKind::Case => self.case().map(|c| c.id),
            RecordKind::Health => self.health().map(|h| h.id),
            RecordKind::Shift => self.shift().map(|s| s.id),
        }
    }

    fn expect(&self, kind: RecordKind) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Error::NotFound(self.id.clone()))
        }
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes since the last `save` or `save_incremental`.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        self.doc.save_incremental()
    }

    /// The changes made after `heads` (all changes when `heads` is empty).
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Merges changes from elsewhere (a bundle, the server). Applying a change twice does
    /// nothing. Returns whether the document's heads moved. After an error the document may
    /// hold part of the changes: drop it.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<bool> {
        let before = self.doc.get_heads();
        // guarded: after an error this document must be dropped, not saved
        untrusted::load_incremental(&mut self.doc, bytes)
            .map_err(|_| Error::CorruptRecord(self.id.clone()))?;
        Ok(self.doc.get_heads() != before)
    }

    /// Whether the document holds changes whose dependencies it lacks.
    pub fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }
}
