//! Who changed what, when: each change's effect, read from the document itself by diffing the
//! state before and after it, attributed by the author in its metadata.

use automerge::PatchAction;
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, Prop, ReadDoc, Value};
use serde::Serialize;

use super::author::{attribute, Registry};
use super::conflicts::scalar_json;

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct HistoryEntry {
    pub at: String,
    pub user: String,
    pub role: String,
    /// `set`, `add` or `remove`.
    pub action: &'static str,
    pub path: String,
    pub value: serde_json::Value,
    pub change: String,
    /// The author is the user the server registered the writing device to (not only the
    /// change's own claim).
    pub verified: bool,
}

/// Every field-level effect of every change, oldest first, optionally only under `prefix`.
pub fn history(
    doc: &mut AutoCommit,
    prefix: Option<&str>,
    registry: &Registry,
) -> Vec<HistoryEntry> {
    let mut out = Vec::new();
    let changes = doc.get_changes(&[]);
    for change in changes {
        let author = attribute(&change, registry);
        let after: Vec<ChangeHash> = vec![change.hash()];
        let before: Vec<ChangeHash> = change.deps().to_vec();
        for patch in doc.diff(&before, &after) {
            let base = render_path(doc, &patch.path, &after);
            let (action, key, value) = match &patch.action {
                PatchAction::PutMap {
                    key, value: (v, _), ..
                } => ("set", key.clone(), value_json(v)),
                PatchAction::PutSeq {
                    index,
                    value: (v, _),
                    ..
                } => ("set", index.to_string(), value_json(v)),
                PatchAction::Insert { .. } => ("add", String::new(), serde_json::Value::Null),
                PatchAction::DeleteMap { key } => ("remove", key.clone(), serde_json::Value::Null),
                PatchAction::DeleteSeq { .. } => ("remove", String::new(), serde_json::Value::Null),
                _ => continue,
            };
            // New objects are described by the puts into them that follow.
            if value.is_null() && action == "set" {
                if let PatchAction::PutMap {
                    value: (Value::Object(_), _),
                    ..
                } = &patch.action
                {
                    continue;
                }
            }
            let path = match (base.is_empty(), key.is_empty()) {
                (_, true) => base,
                (true, false) => key,
                (false, false) => format!("{base}.{key}"),
            };
            // a record's first change writes every field's empty default; only real values count
            if change.deps().is_empty() && is_empty_default(&value) && action == "set" {
                continue;
            }
            if let Some(p) = prefix {
                if !(path == p || path.starts_with(&format!("{p}."))) {
                    continue;
                }
            }
            out.push(HistoryEntry {
                at: author.at.clone(),
                user: author.user.clone(),
                role: author.role.clone(),
                action,
                path,
                value,
                change: change.hash().to_string(),
                verified: author.verified,
            });
        }
    }
    out
}

fn is_empty_default(v: &serde_json::Value) -> bool {
    matches!(v, serde_json::Value::Null | serde_json::Value::Bool(false))
        || matches!(v.as_str(), Some("" | "unknown" | "not_asked"))
}

fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Scalar(s) => scalar_json(s),
        Value::Object(_) => serde_json::Value::Null,
    }
}

/// Renders a patch path, naming list items by their `id` rather than their index.
pub(crate) fn render_path(
    doc: &AutoCommit,
    path: &[(ObjId, Prop)],
    heads: &[ChangeHash],
) -> String {
    let mut parts = Vec::with_capacity(path.len());
    for (obj, prop) in path {
        match prop {
            Prop::Map(k) => parts.push(k.clone()),
            Prop::Seq(i) => {
                let id = match doc.get_at(obj, *i, heads) {
                    Ok(Some((Value::Object(ObjType::Map), item))) => {
                        match doc.get_at(&item, "id", heads) {
                            Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_string),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                parts.push(id.unwrap_or_else(|| i.to_string()));
            }
        }
    }
    parts.join(".")
}
