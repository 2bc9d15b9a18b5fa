//! Sets of change hashes ("heads"): as stored text, the tips of a set of changes, and heads in
//! their simplest form. The device store and the sync server both keep heads this way.

use std::collections::HashSet;

use automerge::{Change, ChangeHash};

use super::RecordDoc;

/// Heads as stored: sorted hex hashes joined by commas.
pub fn heads_text(heads: &[ChangeHash]) -> String {
    let mut h: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    h.sort();
    h.join(",")
}

/// Stored heads back; anything that is not a hash is skipped.
pub fn parse_heads(text: &str) -> Vec<ChangeHash> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The tips of a set of changes: those no other change in the set depends on.
pub fn tips(changes: &[Change]) -> Vec<ChangeHash> {
    let deps: HashSet<ChangeHash> = changes.iter().flat_map(|c| c.deps().to_vec()).collect();
    changes
        .iter()
        .map(|c| c.hash())
        .filter(|h| !deps.contains(h))
        .collect()
}

impl RecordDoc {
    /// Heads someone holds, in their simplest form: the document's own heads when nothing in
    /// the document lies beyond `candidate`, else `candidate` sorted and without repeats.
    pub fn settle_heads(&mut self, mut candidate: Vec<ChangeHash>) -> Vec<ChangeHash> {
        candidate.sort();
        candidate.dedup();
        if !candidate.is_empty() && self.doc_mut().get_changes(&candidate).is_empty() {
            self.heads()
        } else {
            candidate
        }
    }
}
