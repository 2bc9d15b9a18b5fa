//! The field table as the app sees it: every settable path of a case with its kind, choices,
//! the one role that may set it and its name in plain words, generated from `fields.rs` into
//! the UI (`ui/src/lib/bindings/field-table.ts`, by the bindings test) so the UI never keeps a
//! copy by hand.

use serde::Serialize;

use super::common::Role;
use super::fields::{FieldKind, FieldSpec, CASE_FIELDS, LIST_ITEM_FIELDS, LIST_NAMES};

/// One settable field.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct FieldInfo {
    pub path: String,
    /// `text`, `date`, `datetime`, `bool`, `opt_bool`, `tri`, `count` or `choice`.
    pub kind: String,
    /// The words a `choice` field takes (empty for other kinds).
    pub choices: Vec<String>,
    /// The one role that may set it, when only one may.
    pub only: Option<Role>,
    pub label: String,
}

/// A field of the items of one list.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ListItemField {
    pub list: String,
    pub field: FieldInfo,
}

/// A list's name for one of its items ("Referral").
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ListName {
    pub list: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct FieldTable {
    pub fields: Vec<FieldInfo>,
    pub list_item_fields: Vec<ListItemField>,
    pub lists: Vec<ListName>,
}

fn info(s: &FieldSpec) -> FieldInfo {
    let (kind, choices): (&str, &[&str]) = match s.kind {
        FieldKind::Text => ("text", &[]),
        FieldKind::Date => ("date", &[]),
        FieldKind::DateTime => ("datetime", &[]),
        FieldKind::Bool => ("bool", &[]),
        FieldKind::OptBool => ("opt_bool", &[]),
        FieldKind::Tri => ("tri", &[]),
        FieldKind::Count => ("count", &[]),
        FieldKind::Choice(c) => ("choice", c),
    };
    FieldInfo {
        path: s.path.to_string(),
        kind: kind.to_string(),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        only: s.only,
        label: s.label.to_string(),
    }
}

/// The whole table, in the order of `fields.rs`.
pub fn field_table() -> FieldTable {
    FieldTable {
        fields: CASE_FIELDS.iter().map(info).collect(),
        list_item_fields: LIST_ITEM_FIELDS
            .iter()
            .map(|(list, s)| ListItemField {
                list: list.to_string(),
                field: info(s),
            })
            .collect(),
        lists: LIST_NAMES
            .iter()
            .map(|(list, name)| ListName {
                list: list.to_string(),
                name: name.to_string(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_list_has_a_plain_name() {
        let t = field_table();
        assert_eq!(t.fields.len(), CASE_FIELDS.len());
        for f in t
            .fields
            .iter()
            .chain(t.list_item_fields.iter().map(|l| &l.field))
        {
            assert!(!f.label.trim().is_empty(), "{} has no name", f.path);
            assert_eq!(f.kind == "choice", !f.choices.is_empty(), "{}", f.path);
        }
        for l in &t.list_item_fields {
            assert!(
                t.lists.iter().any(|n| n.list == l.list),
                "{} has no name",
                l.list
            );
        }
        let call = t
            .fields
            .iter()
            .find(|f| f.path == "victim.safe_contact.call_ok")
            .unwrap();
        assert_eq!(call.label, "Safe to call");
        assert_eq!(call.kind, "opt_bool");
    }
}
