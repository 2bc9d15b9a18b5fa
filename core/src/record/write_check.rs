//! Checks what one change does against the write rules (`model::write_rules`), for a writer
//! whose identity the checker already knows (the sync server: from the actor's registration,
//! never from the change's own message).
//!
//! A change's effect is read from the document itself: the difference between the state it
//! was made on (its dependencies) and that state plus the change, exactly as the field history
//! reads it (`history`). Every effect must be allowed: a put of a scalar (by the field's rule,
//! and an author field must name the writer), an item added to a list (by the list's rule), a
//! new map where none was, a deletion (only of retired keys). Anything else — text, counters,
//! marks, replacing a list item, an object over an existing field — is refused.
//!
//! A change with no dependencies makes a record; a record is made once, so such a change on a
//! document that already has changes is refused (it could otherwise start a concurrent history
//! whose first values nobody checked as changes).

use std::collections::HashSet;

use automerge::{
    AutoCommit, Change, ChangeHash, ObjId, ObjType, PatchAction, Prop, ReadDoc, Value,
};

use crate::model::write_rules::{self, Denied};
use crate::model::{RecordKind, Role};

/// Who wrote a change, as the checker knows it.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub user: &'a str,
    pub role: Role,
}

/// Checks a change whose writer is known (the server's registration of its actor): its
/// message must name that writer (`Denied::Author` at `(message)` if not), and its effect must
/// be allowed for the writer's role. The server asks this of every uploaded change; a device
/// asks it of every change from a registered actor that reaches it by rescue bundle.
pub fn check_attributed(
    doc: &mut AutoCommit,
    kind: RecordKind,
    change: &Change,
    writer: Writer,
) -> Result<(), Denied> {
    let claimed = crate::record::author::change_author(change.message(), change.timestamp());
    if claimed.user != writer.user || claimed.role != writer.role.as_str() {
        return Err(Denied::Author {
            path: "(message)".into(),
        });
    }
    check_change(doc, kind, change, writer)
}

/// Checks one change, which `doc` already holds, against the rules for `writer`.
pub fn check_change(
    doc: &mut AutoCommit,
    kind: RecordKind,
    change: &Change,
    writer: Writer,
) -> Result<(), Denied> {
    write_rules::check_kind(writer.role, kind)?;
    let before: Vec<ChangeHash> = change.deps().to_vec();
    let after = vec![change.hash()];
    // bytes from outside: a panic inside Automerge is a refusal, not a crash
    let patches = crate::record::untrusted::guard(|| doc.diff(&before, &after)).map_err(|_| {
        Denied::Shape {
            path: "(change)".into(),
        }
    })?;
    let doc = &*doc;
    // objects this change made: their content is part of their making
    let mut made: HashSet<ObjId> = HashSet::new();
    for p in &patches {
        match &p.action {
            PatchAction::PutMap {
                value: (Value::Object(_), id),
                ..
            }
            | PatchAction::PutSeq {
                value: (Value::Object(_), id),
                ..
            } => {
                made.insert(id.clone());
            }
            PatchAction::Insert { values, .. } => {
                for (v, id, _) in values.iter() {
                    if let Value::Object(_) = v {
                        made.insert(id.clone());
                    }
                }
            }
            _ => {}
        }
    }
    for p in &patches {
        let (path, in_new_item) = pattern(doc, &p.path, &made, &after);
        let at = |key: &str| join(&path, key);
        match &p.action {
            PatchAction::PutMap { key, value, .. } => {
                let full = at(key);
                let fresh = in_new_item || !exists_at(doc, &p.path, key, &after, &before);
                match &value.0 {
                    Value::Scalar(v) => {
                        write_rules::check_put(writer.role, kind, &full, v, fresh, in_new_item)?;
                        write_rules::check_author_field(kind, &full, v, writer.user, writer.role)?;
                    }
                    // a new map or list where the records have one and none was (a new
                    // record, a migration); its content is checked as it is written
                    Value::Object(ObjType::Map) | Value::Object(ObjType::List)
                        if fresh && write_rules::is_container(kind, &full) => {}
                    Value::Object(_) => return Err(Denied::Shape { path: full }),
                }
            }
            PatchAction::Insert { values, .. } => {
                // items are added to a record's top-level lists only, and are maps
                let list = path.clone();
                let top_level = p.path.len() == 1;
                let all_maps = values
                    .iter()
                    .all(|(v, _, _)| matches!(v, Value::Object(ObjType::Map)));
                if !top_level || !all_maps {
                    return Err(Denied::Shape { path: list });
                }
                if !write_rules::may_add_to(writer.role, kind, &list) {
                    return Err(Denied::Field {
                        role: writer.role,
                        path: list,
                    });
                }
            }
            PatchAction::DeleteMap { key } => {
                write_rules::check_delete(kind, &at(key))?;
            }
            // the conflict flag is a report about other changes, not this change's doing
            PatchAction::Conflict { .. } => {}
            PatchAction::PutSeq { .. }
            | PatchAction::DeleteSeq { .. }
            | PatchAction::SpliceText { .. }
            | PatchAction::Increment { .. }
            | PatchAction::Mark { .. } => {
                return Err(Denied::Shape {
                    path: if path.is_empty() {
                        "(root)".into()
                    } else {
                        path
                    },
                })
            }
        }
    }
    Ok(())
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// A patch path as a rule path (`referrals.*`), and whether it runs through an object this
/// change made inside a list item (so the list's rule already allowed it).
fn pattern(
    doc: &AutoCommit,
    path: &[(ObjId, Prop)],
    made: &HashSet<ObjId>,
    heads: &[ChangeHash],
) -> (String, bool) {
    let mut parts: Vec<String> = Vec::with_capacity(path.len());
    let mut in_new_item = false;
    for (obj, prop) in path {
        match prop {
            Prop::Map(k) => parts.push(k.clone()),
            Prop::Seq(i) => {
                parts.push("*".into());
                if let Ok(Some((Value::Object(_), item))) = doc.get_at(obj, *i, heads) {
                    if made.contains(&item) {
                        in_new_item = true;
                    }
                }
            }
        }
    }
    (parts.join("."), in_new_item)
}

/// Whether `key` of the object the patch path leads to held a value in the state `before`
/// (an object made since did not exist then, so none of its keys did).
fn exists_at(
    doc: &AutoCommit,
    path: &[(ObjId, Prop)],
    key: &str,
    after: &[ChangeHash],
    before: &[ChangeHash],
) -> bool {
    if before.is_empty() {
        return false;
    }
    let target = match path.last() {
        None => automerge::ROOT,
        Some((parent, prop)) => {
            let got = match prop {
                Prop::Map(k) => doc.get_at(parent, k.as_str(), after),
                Prop::Seq(i) => doc.get_at(parent, *i, after),
            };
            match got {
                Ok(Some((Value::Object(_), id))) => id,
                _ => return false,
            }
        }
    };
    matches!(doc.get_at(&target, key, before), Ok(Some(_)))
}

/// Whether the changes, new to a document, make it a second time: a change without
/// dependencies on a document that had changes, or more than one such change.
pub fn remakes_record(had_changes: bool, new: &[Change]) -> bool {
    let roots = new.iter().filter(|c| c.deps().is_empty()).count();
    roots > usize::from(!had_changes)
}

/// Whether `change`, which `doc` already holds, writes the top-level field `key` (a case's
/// `status`): where a case stands moves only by a write of its status (`scope::next_standing`).
pub fn writes_top_level(doc: &mut AutoCommit, change: &Change, key: &str) -> bool {
    let before: Vec<ChangeHash> = change.deps().to_vec();
    let after = vec![change.hash()];
    let Ok(patches) = crate::record::untrusted::guard(|| doc.diff(&before, &after)) else {
        return false;
    };
    patches.iter().any(|p| {
        p.obj == automerge::ROOT
            && matches!(&p.action, PatchAction::PutMap { key: k, .. } if k == key)
    })
}
