//! Targeted edits: set one field by dotted path, or append one item to a list.
//!
//! Each edit touches only the operations it needs, so concurrent edits of other fields merge
//! cleanly and a conflict stays visible until a value is written on purpose: a `put` supersedes
//! every value the device has seen, which is exactly how a user resolves a conflict.

use automerge::{transaction::Transactable, ObjId, ObjType, ReadDoc, Value, ROOT};
use autosurgeon::reconcile_insert;

use super::conflicts::item_id;
use super::{Author, RecordDoc};
use crate::error::{Error, Result};
use crate::model::case::{Child, Note, Referral, SafeguardingAction, SafetyPlanItem, Visit};
use crate::model::fields::{self, FieldPath};
use crate::model::{write_rules, RecordKind, Role};

/// Sets one field of a case from typed text. Does not commit.
pub fn set_field(rec: &mut RecordDoc, path: &str, text: &str, role: Role) -> Result<()> {
    let (field_path, value) = check_set(path, text, role)?;
    put_path(rec.doc_mut(), &field_path, path, value)
}

/// Whether `role` may set `path` to the typed `text`, by the field table and the write rules;
/// the resolved path and the value to write when it may.
pub fn check_set(
    path: &str,
    text: &str,
    role: Role,
) -> Result<(FieldPath, automerge::ScalarValue)> {
    let (field_path, spec) = fields::resolve(path)?;
    let value = fields::parse_value(path, spec.kind, text)?;
    // the same rule the server applies to the change this edit makes
    let rule_path = match &field_path {
        FieldPath::Field(_) => path.to_string(),
        FieldPath::ListItem { list, field, .. } => format!("{list}.*.{field}"),
    };
    if write_rules::check_put(role, RecordKind::Case, &rule_path, &value, false, false).is_err() {
        return Err(Error::Forbidden {
            role: role.to_string(),
            action: match (path, value.as_str()) {
                ("status", Some("triaged")) => "mark a case triaged".into(),
                _ => format!("set `{path}`"),
            },
        });
    }
    Ok((field_path, value))
}

/// Whether `role` may add items to the case list `list` (an unknown list is an error too).
pub fn check_add(role: Role, list: &str) -> Result<()> {
    if !fields::CASE_LISTS.contains(&list) {
        return Err(Error::UnknownList(list.to_string()));
    }
    if write_rules::may_add_to(role, RecordKind::Case, list) {
        return Ok(());
    }
    Err(Error::Forbidden {
        role: role.to_string(),
        action: match list {
            "referrals" => "make referrals".into(),
            "safeguarding_actions" => "record long-term safeguarding actions".into(),
            other => format!("add to `{other}`"),
        },
    })
}

/// Writes `value` at a resolved field path (a field, or a list item's field). Does not commit
/// and checks no rule: `set_field` and rectification (`rectify`) check their own.
pub(crate) fn put_path(
    doc: &mut automerge::AutoCommit,
    field_path: &FieldPath,
    path: &str,
    value: automerge::ScalarValue,
) -> Result<()> {
    match field_path {
        FieldPath::Field(parts) => {
            let (last, parents) = parts.split_last().expect("paths have at least one part");
            let mut obj = ROOT;
            for seg in parents {
                obj = ensure_map(doc, &obj, seg)?;
            }
            doc.put(&obj, last.as_str(), value)?;
        }
        FieldPath::ListItem {
            list,
            item_id: id,
            field,
        } => {
            let item =
                find_item(doc, list, id).ok_or_else(|| Error::UnknownPath(path.to_string()))?;
            doc.put(&item, field.as_str(), value)?;
        }
    }
    Ok(())
}

/// Every value a field path holds now (several when concurrent writes conflict).
pub(crate) fn values_at(
    doc: &automerge::AutoCommit,
    field_path: &FieldPath,
) -> Result<Vec<automerge::ScalarValue>> {
    let (obj, key) = match field_path {
        FieldPath::Field(parts) => {
            let (last, parents) = parts.split_last().expect("paths have at least one part");
            let mut obj = ROOT;
            for seg in parents {
                obj = match doc.get(&obj, seg.as_str())? {
                    Some((Value::Object(ObjType::Map), id)) => id,
                    _ => return Ok(vec![]),
                };
            }
            (obj, last.clone())
        }
        FieldPath::ListItem {
            list,
            item_id: id,
            field,
        } => match find_item(doc, list, id) {
            Some(item) => (item, field.clone()),
            None => return Ok(vec![]),
        },
    };
    Ok(doc
        .get_all(&obj, key.as_str())?
        .into_iter()
        .filter_map(|(v, _)| match v {
            Value::Scalar(s) => Some(s.into_owned()),
            Value::Object(_) => None,
        })
        .collect())
}

/// Records the safeguarding unit's review of a handover. Does not commit.
pub fn put_review(rec: &mut RecordDoc, at: &str, by: &str) -> Result<()> {
    let doc = rec.doc_mut();
    let review = ensure_map(doc, &ROOT, "review")?;
    doc.put(&review, "reviewed_at", at)?;
    doc.put(&review, "reviewed_by", by)?;
    Ok(())
}

fn ensure_map(doc: &mut automerge::AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Ok(doc.put_object(obj, key, ObjType::Map)?),
    }
}

/// The list object at a root key.
pub fn list_obj(doc: &automerge::AutoCommit, list: &str) -> Option<ObjId> {
    match doc.get(ROOT, list) {
        Ok(Some((Value::Object(ObjType::List), id))) => Some(id),
        _ => None,
    }
}

/// The map of the list item with the given id.
pub fn find_item(doc: &automerge::AutoCommit, list: &str, id: &str) -> Option<ObjId> {
    let list = list_obj(doc, list)?;
    (0..doc.length(&list)).find_map(|i| match doc.get(&list, i) {
        Ok(Some((Value::Object(ObjType::Map), item)))
            if item_id(doc, &item).as_deref() == Some(id) =>
        {
            Some(item)
        }
        _ => None,
    })
}

/// Appends a typed item to a root list. Does not commit.
pub fn append<T: autosurgeon::Reconcile>(rec: &mut RecordDoc, list: &str, item: &T) -> Result<()> {
    let doc = rec.doc_mut();
    let obj = match list_obj(doc, list) {
        Some(obj) => obj,
        None => doc.put_object(ROOT, list, ObjType::List)?,
    };
    let len = doc.length(&obj);
    reconcile_insert(doc, obj, len, item)?;
    Ok(())
}

/// Builds a new list item of a case from user JSON, filling id, time and author, and appends it.
/// A referral's `service_id` must name a service of `directory` (the one the device holds).
/// Returns the new item's id.
pub fn add_case_item(
    rec: &mut RecordDoc,
    list: &str,
    json: &serde_json::Value,
    author: &Author,
    now: &str,
    directory: &crate::directory::Directory,
) -> Result<String> {
    if !json.is_object() {
        return Err(Error::InvalidInput(format!(
            "the `{list}` item must be a JSON object"
        )));
    }
    check_add(author.role, list)?;
    let id = new_id();
    let bad = |e: serde_json::Error| {
        Error::InvalidInput(format!(
            "the `{list}` item is not valid: {}",
            describe_json_error(&e)
        ))
    };
    match list {
        "notes" => {
            let mut n: Note = serde_json::from_value(json.clone()).map_err(bad)?;
            require_text(list, &n.text)?;
            n.id = id.clone();
            n.at = now.to_string();
            n.author = author.user.clone();
            n.role = Some(author.role);
            append(rec, list, &n)?;
        }
        "visits" => {
            let mut v: Visit = serde_json::from_value(json.clone()).map_err(bad)?;
            v.id = id.clone();
            if v.at.is_empty() {
                v.at = now.to_string();
            } else {
                v.at = fields::normalise_datetime(&v.at)
                    .ok_or_else(|| Error::invalid("visits.at", "expected a date and time"))?;
            }
            v.by = author.user.clone();
            append(rec, list, &v)?;
        }
        "referrals" => {
            let mut r: Referral = serde_json::from_value(json.clone()).map_err(bad)?;
            if r.service.trim().is_empty() && r.service_id.is_none() {
                return Err(Error::invalid(
                    "referrals.service",
                    "name the service or give its directory id",
                ));
            }
            if let Some(sid) = &r.service_id {
                let svc = directory.find(sid).ok_or_else(|| {
                    Error::invalid("referrals.service_id", "no such service in the directory")
                })?;
                if r.service.trim().is_empty() {
                    r.service = svc.name.clone();
                }
            }
            r.id = id.clone();
            r.made_at = now.to_string();
            r.made_by = author.user.clone();
            append(rec, list, &r)?;
        }
        "safety_plan" => {
            let mut s: SafetyPlanItem = serde_json::from_value(json.clone()).map_err(bad)?;
            require_text(list, &s.text)?;
            s.id = id.clone();
            s.added_at = now.to_string();
            s.added_by = author.user.clone();
            append(rec, list, &s)?;
        }
        "safeguarding_actions" => {
            let mut a: SafeguardingAction = serde_json::from_value(json.clone()).map_err(bad)?;
            if a.detail.chars().count() > fields::MAX_TEXT {
                return Err(Error::invalid(
                    "safeguarding_actions.detail",
                    "it is too long",
                ));
            }
            a.id = id.clone();
            a.at = now.to_string();
            a.by = author.user.clone();
            append(rec, list, &a)?;
        }
        "children" => {
            let mut c: Child = serde_json::from_value(json.clone()).map_err(bad)?;
            c.id = id.clone();
            append(rec, list, &c)?;
        }
        other => return Err(Error::UnknownList(other.to_string())),
    }
    Ok(id)
}

fn require_text(list: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(
            &format!("{list}.text"),
            "it must not be empty",
        ));
    }
    if text.chars().count() > fields::MAX_TEXT {
        return Err(Error::invalid(&format!("{list}.text"), "it is too long"));
    }
    Ok(())
}

/// serde's messages can quote the offending input; keep only its position and category.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    // Field-name and variant errors name schema words, not user data; keep those.
    if msg.starts_with("unknown field")
        || msg.starts_with("missing field")
        || msg.starts_with("expected one of")
    {
        return msg.split(" at line").next().unwrap_or("").to_string();
    }
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// A new random record or item id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
