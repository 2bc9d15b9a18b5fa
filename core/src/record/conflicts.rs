//! Finds fields that were written concurrently on different devices and still hold more than
//! one value. Nothing is dropped silently: each value is reported with who wrote it and when,
//! and the conflict lasts until somebody writes a new value over all of them.

use std::collections::HashMap;

use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, Value, ROOT};
use serde::Serialize;

use super::author::{attribute, ChangeAuthor, Registry};

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ConflictValue {
    pub value: serde_json::Value,
    pub user: String,
    pub role: String,
    pub at: String,
    /// The author is the user the server registered the writing device to (not only the
    /// change's own claim).
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Conflict {
    /// The field's dotted path; list items are named by their id (`referrals.<id>.status`).
    pub path: String,
    pub values: Vec<ConflictValue>,
}

/// Maps an operation id to the change that made it, to name its author.
pub struct OpAuthors {
    ranges: HashMap<ActorId, Vec<(u64, u64, ChangeAuthor)>>,
}

impl OpAuthors {
    pub fn new(doc: &mut AutoCommit, registry: &Registry) -> Self {
        let mut ranges: HashMap<ActorId, Vec<(u64, u64, ChangeAuthor)>> = HashMap::new();
        for change in doc.get_changes(&[]) {
            let start = change.start_op().get();
            let end = start + change.len() as u64;
            ranges.entry(change.actor_id().clone()).or_default().push((
                start,
                end,
                attribute(&change, registry),
            ));
        }
        OpAuthors { ranges }
    }

    pub fn author_of(&self, op: &ObjId) -> Option<&ChangeAuthor> {
        match op {
            ObjId::Id(counter, actor, _) => self
                .ranges
                .get(actor)?
                .iter()
                .find(|(s, e, _)| *s <= *counter && *counter < *e)
                .map(|(_, _, a)| a),
            ObjId::Root => None,
        }
    }
}

/// A conflicted field before its values are attributed.
type RawConflict = (String, Vec<(serde_json::Value, ObjId)>);

/// Every conflicted scalar field in the document, in a deterministic order, so that all
/// replicas holding the same changes report identical conflicts. Authors are looked up only
/// when there is a conflict to attribute.
pub fn find(doc: &mut AutoCommit, registry: &Registry) -> Vec<Conflict> {
    let mut raw = Vec::new();
    walk(doc, &ROOT, "", &mut raw);
    if raw.is_empty() {
        return vec![];
    }
    let authors = OpAuthors::new(doc, registry);
    raw.into_iter()
        .map(|(path, values)| Conflict {
            path,
            values: values
                .into_iter()
                .map(|(value, id)| {
                    let a = authors.author_of(&id);
                    ConflictValue {
                        value,
                        user: a.map(|a| a.user.clone()).unwrap_or_default(),
                        role: a.map(|a| a.role.clone()).unwrap_or_default(),
                        at: a.map(|a| a.at.clone()).unwrap_or_default(),
                        verified: a.is_some_and(|a| a.verified),
                    }
                })
                .collect(),
        })
        .collect()
}

/// How many fields are in conflict (cheap: no authors).
pub fn count(doc: &AutoCommit) -> usize {
    paths(doc).len()
}

/// The paths of the fields in conflict, in `find`'s order (cheap: no authors).
pub fn paths(doc: &AutoCommit) -> Vec<String> {
    let mut raw = Vec::new();
    walk(doc, &ROOT, "", &mut raw);
    raw.into_iter().map(|(path, _)| path).collect()
}

fn walk(doc: &AutoCommit, obj: &ObjId, prefix: &str, out: &mut Vec<RawConflict>) {
    match doc.object_type(obj) {
        Ok(ObjType::Map) => {
            for key in doc.keys(obj).collect::<Vec<_>>() {
                let path = join(prefix, &key);
                let all = doc.get_all(obj, key.as_str()).unwrap_or_default();
                if all.len() > 1 {
                    let scalars: Vec<(serde_json::Value, ObjId)> = all
                        .iter()
                        .filter_map(|(v, id)| match v {
                            Value::Scalar(s) => Some((scalar_json(s), id.clone())),
                            Value::Object(_) => None,
                        })
                        .collect();
                    let mut distinct: Vec<String> =
                        scalars.iter().map(|(v, _)| v.to_string()).collect();
                    distinct.sort();
                    distinct.dedup();
                    if distinct.len() > 1 {
                        out.push((path.clone(), scalars));
                    }
                }
                if let Ok(Some((Value::Object(_), child))) = doc.get(obj, key.as_str()) {
                    walk(doc, &child, &path, out);
                }
            }
        }
        Ok(ObjType::List) => {
            for i in 0..doc.length(obj) {
                if let Ok(Some((Value::Object(ObjType::Map), item))) = doc.get(obj, i) {
                    let name = item_id(doc, &item).unwrap_or_else(|| i.to_string());
                    walk(doc, &item, &join(prefix, &name), out);
                }
            }
        }
        _ => {}
    }
}

/// The `id` of a list item map, if it has one.
pub fn item_id(doc: &AutoCommit, item: &ObjId) -> Option<String> {
    match doc.get(item, "id") {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_string),
        _ => None,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A document scalar as JSON.
pub fn scalar_json(s: &automerge::ScalarValue) -> serde_json::Value {
    use automerge::ScalarValue as S;
    match s {
        S::Str(t) => serde_json::Value::String(t.to_string()),
        S::Boolean(b) => serde_json::Value::Bool(*b),
        S::Uint(n) => serde_json::json!(n),
        S::Int(n) => serde_json::json!(n),
        S::F64(n) => serde_json::json!(n),
        S::Timestamp(n) => serde_json::json!(n),
        S::Counter(c) => serde_json::json!(i64::from(c)),
        S::Null => serde_json::Value::Null,
        _ => serde_json::Value::Null,
    }
}
