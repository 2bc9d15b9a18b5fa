//! Who may write what (design §7 and §8): the one table of write rules. The device store asks
//! it before an edit, and the sync server asks it of every operation of every uploaded change
//! (`record::write_check`), so a device in an attacker's hands can write nothing its user's
//! role could not write through the app.
//!
//! A path names a field by its keys from the record's root, with `*` for a list item
//! (`referrals.*.status`). Rules:
//! - per kind: only IDVAs write health records; officers and IDVAs write shifts; every role but
//!   admin writes cases; admins write nothing;
//! - per field: the settable fields and their one role (`fields::CASE_FIELDS`,
//!   `fields::LIST_ITEM_FIELDS`), the lists a role may add to (`LIST_WRITERS`), and the fields
//!   set only when their record or item is made (`id`, `created_by`, a note's text ...);
//! - per value: status `triaged` is the safeguarding unit's; a case's `division` and `team` are
//!   set when it is made and changed only by the safeguarding unit;
//! - authorship inside the record: the fields that name who wrote an item must name the
//!   change's author (`AUTHOR_FIELDS`).
//!
//! A field that does not exist yet may always be given its empty default (a migration, or a
//! new record's blank fields); everything else is checked as above.

use automerge::ScalarValue;

use super::fields::{self, FieldSpec};
use super::{RecordKind, Role};

/// Why a write is not allowed; `path` names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The role may not write records of this kind at all.
    Kind { role: Role, kind: RecordKind },
    /// The role may not write this field, or not this value of it.
    Field { role: Role, path: String },
    /// The field is fixed once made, unknown, or of a shape the records never have.
    Shape { path: String },
    /// A field naming who wrote something names somebody else.
    Author { path: String },
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Kind { role, kind } => {
                write!(f, "the {role} role may not write {kind} records")
            }
            Denied::Field { role, path } => write!(f, "the {role} role may not write `{path}`"),
            Denied::Shape { path } => write!(f, "`{path}` may not be written this way"),
            Denied::Author { path } => write!(f, "`{path}` must name the change's author"),
        }
    }
}

/// Whether `role` may write records of `kind` at all.
pub fn may_write_kind(role: Role, kind: RecordKind) -> bool {
    match kind {
        RecordKind::Health => role == Role::Idva,
        RecordKind::Shift => matches!(role, Role::Officer | Role::Idva),
        RecordKind::Case => role != Role::Admin,
    }
}

/// Checks a role against a record kind.
pub fn check_kind(role: Role, kind: RecordKind) -> Result<(), Denied> {
    if may_write_kind(role, kind) {
        Ok(())
    } else {
        Err(Denied::Kind { role, kind })
    }
}

/// Who may add items to each list of a case: `None` is every role that writes cases.
pub const LIST_WRITERS: &[(&str, Option<&[Role]>)] = &[
    ("notes", None),
    ("visits", None),
    ("children", None),
    ("safety_plan", None),
    ("risk_assessments", None),
    ("referrals", Some(&[Role::Idva, Role::Safeguarding])),
    ("safeguarding_actions", Some(&[Role::Safeguarding])),
];

/// Whether `role` may add an item to the case list `list`.
pub fn may_add_to(role: Role, kind: RecordKind, list: &str) -> bool {
    if !may_write_kind(role, kind) {
        return false;
    }
    match kind {
        RecordKind::Case => LIST_WRITERS
            .iter()
            .find(|(l, _)| *l == list)
            .is_some_and(|(_, who)| who.is_none_or(|roles| roles.contains(&role))),
        RecordKind::Health => list == "notes",
        RecordKind::Shift => list == "planned_visits",
    }
}

/// What a field naming a person must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorPart {
    User,
    Role,
}

/// The fields that name who wrote something: they must name the change's author.
pub const AUTHOR_FIELDS: &[(RecordKind, &str, AuthorPart)] = &[
    (RecordKind::Case, "created_by", AuthorPart::User),
    (RecordKind::Case, "notes.*.author", AuthorPart::User),
    (RecordKind::Case, "notes.*.role", AuthorPart::Role),
    (RecordKind::Case, "visits.*.by", AuthorPart::User),
    (RecordKind::Case, "referrals.*.made_by", AuthorPart::User),
    (RecordKind::Case, "safety_plan.*.added_by", AuthorPart::User),
    (
        RecordKind::Case,
        "safeguarding_actions.*.by",
        AuthorPart::User,
    ),
    (
        RecordKind::Case,
        "risk_assessments.*.assessed_by",
        AuthorPart::User,
    ),
    (
        RecordKind::Case,
        "risk_assessments.*.role",
        AuthorPart::Role,
    ),
    (RecordKind::Case, "triage.triaged_by", AuthorPart::User),
    (RecordKind::Case, "review.reviewed_by", AuthorPart::User),
    (RecordKind::Health, "notes.*.author", AuthorPart::User),
    (RecordKind::Health, "notes.*.role", AuthorPart::Role),
];

/// The case fields only the safeguarding unit writes that are not settable by path.
const SAFEGUARDING_ONLY: &[&str] = &[
    "triage.triaged_at",
    "triage.triaged_by",
    "review.reviewed_at",
    "review.reviewed_by",
];

/// Fields set when their record is made (or migrated) and never changed after.
const FIXED: &[(RecordKind, &str)] = &[
    (RecordKind::Case, "id"),
    (RecordKind::Case, "created_at"),
    (RecordKind::Case, "created_by"),
    (RecordKind::Health, "id"),
    (RecordKind::Health, "case_id"),
    (RecordKind::Shift, "id"),
    (RecordKind::Shift, "date"),
    (RecordKind::Shift, "pattern"),
    (RecordKind::Shift, "officer"),
    (RecordKind::Shift, "idva"),
    (RecordKind::Shift, "division"),
    (RecordKind::Shift, "team"),
];

/// Shift fields written after the shift is made.
const SHIFT_CHANGEABLE: &[&str] = &["call_sign", "started_at", "ended_at"];

/// Keys older schemas had, which a migration removes.
pub const RETIRED: &[(RecordKind, &str)] = &[
    (RecordKind::Case, "victim.safe_to_call"),
    (RecordKind::Case, "victim.safe_times"),
];

/// The fields of the items of each list, by record kind: the shape of the records. A field
/// under `risk_assessments.*.answers` is one answer, keyed by its question.
const ITEM_FIELDS: &[(RecordKind, &str, &[&str])] = &[
    (
        RecordKind::Case,
        "notes",
        &["id", "at", "author", "role", "text"],
    ),
    (
        RecordKind::Case,
        "visits",
        &["id", "at", "outcome", "notes", "by"],
    ),
    (
        RecordKind::Case,
        "children",
        &["id", "name", "age", "present_at_incident"],
    ),
    (
        RecordKind::Case,
        "safety_plan",
        &["id", "text", "done", "added_at", "added_by"],
    ),
    (
        RecordKind::Case,
        "referrals",
        &[
            "id",
            "kind",
            "service_id",
            "service",
            "status",
            "consent",
            "notes",
            "made_at",
            "made_by",
        ],
    ),
    (
        RecordKind::Case,
        "safeguarding_actions",
        &["id", "kind", "detail", "done", "at", "by"],
    ),
    (
        RecordKind::Case,
        "risk_assessments",
        &[
            "id",
            "form",
            "form_version",
            "judgement_level",
            "judgement_reason",
            "incidents_12_months",
            "assessed_at",
            "assessed_by",
            "role",
        ],
    ),
    (
        RecordKind::Health,
        "notes",
        &["id", "at", "author", "role", "text"],
    ),
    (
        RecordKind::Shift,
        "planned_visits",
        &["id", "case_id", "order"],
    ),
];

/// The maps and lists each kind of record holds, by path.
const CONTAINERS: &[(RecordKind, &str)] = &[
    (RecordKind::Case, "incident"),
    (RecordKind::Case, "victim"),
    (RecordKind::Case, "victim.safe_contact"),
    (RecordKind::Case, "perpetrator"),
    (RecordKind::Case, "support"),
    (RecordKind::Case, "consent"),
    (RecordKind::Case, "outcome"),
    (RecordKind::Case, "triage"),
    (RecordKind::Case, "review"),
    (RecordKind::Case, "notes"),
    (RecordKind::Case, "visits"),
    (RecordKind::Case, "children"),
    (RecordKind::Case, "safety_plan"),
    (RecordKind::Case, "referrals"),
    (RecordKind::Case, "safeguarding_actions"),
    (RecordKind::Case, "risk_assessments"),
    (RecordKind::Case, "risk_assessments.*.answers"),
    (RecordKind::Health, "notes"),
    (RecordKind::Shift, "planned_visits"),
];

/// The top-level scalar fields of health records and shifts.
const HEALTH_FIELDS: &[&str] = &["schema", "id", "case_id", "discreet_contact"];
const SHIFT_FIELDS: &[&str] = &[
    "schema",
    "id",
    "date",
    "pattern",
    "call_sign",
    "officer",
    "idva",
    "division",
    "team",
    "started_at",
    "ended_at",
];
const CASE_ROOT: &[&str] = &[
    "schema",
    "id",
    "deployment",
    "status",
    "division",
    "team",
    "created_at",
    "created_by",
];

/// Whether `path` names a map or list records of `kind` hold.
pub fn is_container(kind: RecordKind, path: &str) -> bool {
    CONTAINERS.iter().any(|(k, p)| *k == kind && *p == path)
}

/// Whether `path` names a scalar field records of `kind` hold (or held, before a migration).
pub fn is_field(kind: RecordKind, path: &str) -> bool {
    if RETIRED.iter().any(|(k, p)| *k == kind && *p == path) {
        return true;
    }
    if let Some((list, field)) = path.split_once(".*.") {
        if kind == RecordKind::Case && list == "risk_assessments" {
            if let Some(question) = field.strip_prefix("answers.") {
                return !question.is_empty() && !question.contains('.');
            }
        }
        return ITEM_FIELDS
            .iter()
            .any(|(k, l, fields)| *k == kind && *l == list && fields.contains(&field));
    }
    match kind {
        RecordKind::Case => {
            CASE_ROOT.contains(&path)
                || SAFEGUARDING_ONLY.contains(&path)
                || fields::CASE_FIELDS.iter().any(|s| s.path == path)
        }
        RecordKind::Health => HEALTH_FIELDS.contains(&path),
        RecordKind::Shift => SHIFT_FIELDS.contains(&path),
    }
}

/// A value a field may take when it is made by anyone: nothing recorded yet.
pub fn is_empty_default(v: &ScalarValue) -> bool {
    match v {
        ScalarValue::Null => true,
        ScalarValue::Boolean(b) => !b,
        ScalarValue::Str(s) => matches!(s.as_str(), "" | "unknown" | "not_asked"),
        _ => false,
    }
}

/// The spec of a settable case field or list item field, by its `*` path.
fn settable(path: &str) -> Option<FieldSpec> {
    if let Some(spec) = fields::CASE_FIELDS.iter().find(|s| s.path == path) {
        return Some(*spec);
    }
    let (list, field) = path.split_once(".*.")?;
    fields::LIST_ITEM_FIELDS
        .iter()
        .find(|(l, s)| *l == list && s.path == field)
        .map(|(_, s)| *s)
}

/// Whether `role` may put `value` at `path` of a record of `kind`.
///
/// `fresh` says the field did not exist in the state the change was made on (a new record, a
/// new item, a migration): fixed fields may then be set, and anyone may give it its empty
/// default. `in_new_item` says the field belongs to a list item this change adds, whose
/// content the list's own rule already allowed.
pub fn check_put(
    role: Role,
    kind: RecordKind,
    path: &str,
    value: &ScalarValue,
    fresh: bool,
    in_new_item: bool,
) -> Result<(), Denied> {
    check_kind(role, kind)?;
    let field = || Denied::Field {
        role,
        path: path.to_string(),
    };
    let shape = || Denied::Shape {
        path: path.to_string(),
    };
    if !is_field(kind, path) {
        return Err(shape());
    }
    if path == "schema" {
        return Ok(());
    }
    if fresh && is_empty_default(value) {
        return Ok(());
    }
    if FIXED.iter().any(|(k, p)| *k == kind && *p == path) {
        return if fresh { Ok(()) } else { Err(shape()) };
    }
    match kind {
        RecordKind::Health => {
            // IDVAs write every field of their health records; notes are evidence, never edited
            if path == "discreet_contact" || (in_new_item && path.starts_with("notes.*.")) {
                Ok(())
            } else {
                Err(shape())
            }
        }
        RecordKind::Shift => {
            if SHIFT_CHANGEABLE.contains(&path)
                || (in_new_item && path.starts_with("planned_visits.*."))
            {
                Ok(())
            } else {
                Err(shape())
            }
        }
        RecordKind::Case => {
            if SAFEGUARDING_ONLY.contains(&path) {
                return if role == Role::Safeguarding {
                    Ok(())
                } else {
                    Err(field())
                };
            }
            if path == "status" && value.as_str() == Some("triaged") && role != Role::Safeguarding {
                return Err(field());
            }
            if matches!(path, "division" | "team") {
                return if fresh || role == Role::Safeguarding {
                    Ok(())
                } else {
                    Err(field())
                };
            }
            if in_new_item {
                // the list's rule admitted the item; the item's own role-only fields still apply
                return match settable(path).and_then(|s| s.only) {
                    Some(only) if only != role => Err(field()),
                    _ => Ok(()),
                };
            }
            match settable(path) {
                Some(spec) if spec.only.is_some_and(|only| only != role) => Err(field()),
                Some(_) => Ok(()),
                // a new item's fields were checked above; other item fields are fixed once
                // made, and anything else is not part of a case
                None if fresh && is_item_field(path) => Ok(()),
                None if fresh && path.starts_with("risk_assessments.*.") => Ok(()),
                None => Err(shape()),
            }
        }
    }
}

fn is_item_field(path: &str) -> bool {
    path.split_once(".*.")
        .is_some_and(|(list, _)| LIST_WRITERS.iter().any(|(l, _)| *l == list))
}

/// Whether the author field at `path` (if it is one) holds the change's author.
pub fn check_author_field(
    kind: RecordKind,
    path: &str,
    value: &ScalarValue,
    user: &str,
    role: Role,
) -> Result<(), Denied> {
    let Some((_, _, part)) = AUTHOR_FIELDS
        .iter()
        .find(|(k, p, _)| *k == kind && *p == path)
    else {
        return Ok(());
    };
    if is_empty_default(value) {
        return Ok(());
    }
    let expected = match part {
        AuthorPart::User => user,
        AuthorPart::Role => role.as_str(),
    };
    if value.as_str() == Some(expected) {
        Ok(())
    } else {
        Err(Denied::Author {
            path: path.to_string(),
        })
    }
}

/// Whether a key may be deleted: only keys older schemas had, by a migration.
pub fn check_delete(kind: RecordKind, path: &str) -> Result<(), Denied> {
    if RETIRED.iter().any(|(k, p)| *k == kind && *p == path) {
        Ok(())
    } else {
        Err(Denied::Shape {
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Str(v.into())
    }

    #[test]
    fn roles_and_kinds() {
        assert!(may_write_kind(Role::Idva, RecordKind::Health));
        assert!(!may_write_kind(Role::Officer, RecordKind::Health));
        assert!(!may_write_kind(Role::Safeguarding, RecordKind::Health));
        assert!(!may_write_kind(Role::Admin, RecordKind::Case));
        assert!(!may_write_kind(Role::Safeguarding, RecordKind::Shift));
    }

    #[test]
    fn fields_by_role() {
        let put =
            |role, path, v: &ScalarValue| check_put(role, RecordKind::Case, path, v, false, false);
        assert!(put(Role::Officer, "victim.phone", &s("01632 960000")).is_ok());
        assert!(put(
            Role::Officer,
            "support.safety_planning",
            &ScalarValue::Boolean(true)
        )
        .is_err());
        assert!(put(
            Role::Idva,
            "support.safety_planning",
            &ScalarValue::Boolean(true)
        )
        .is_ok());
        assert!(put(Role::Officer, "triage.reason", &s("high_risk")).is_err());
        assert!(put(Role::Safeguarding, "triage.reason", &s("high_risk")).is_ok());
        assert!(put(Role::Officer, "status", &s("triaged")).is_err());
        assert!(put(Role::Officer, "status", &s("closed")).is_ok());
        assert!(put(Role::Officer, "team", &s("t9")).is_err());
        assert!(put(Role::Safeguarding, "team", &s("t9")).is_ok());
        assert!(put(Role::Officer, "id", &s("x")).is_err());
        assert!(put(Role::Officer, "notes.*.text", &s("changed")).is_err());
        assert!(put(Role::Officer, "victim.shoe_size", &s("9")).is_err());
        let fresh_unknown = check_put(
            Role::Officer,
            RecordKind::Case,
            "victim.shoe_size",
            &ScalarValue::Null,
            true,
            false,
        );
        assert!(
            fresh_unknown.is_err(),
            "not even an empty field outside the records' shape"
        );
        assert!(is_field(
            RecordKind::Case,
            "risk_assessments.*.answers.dash_01"
        ));
        assert!(!is_field(RecordKind::Case, "notes.*.shoe_size"));
        assert!(is_container(RecordKind::Case, "victim.safe_contact"));
        assert!(!is_container(RecordKind::Case, "victim.name"));
        assert!(put(Role::Officer, "referrals.*.status", &s("made")).is_ok());
        // a new record's fields
        let fresh =
            |role, path, v: &ScalarValue| check_put(role, RecordKind::Case, path, v, true, false);
        assert!(fresh(Role::Officer, "team", &s("t1")).is_ok());
        assert!(fresh(Role::Officer, "status", &s("triaged")).is_err());
        assert!(fresh(Role::Officer, "triage.reason", &ScalarValue::Null).is_ok());
        assert!(fresh(Role::Officer, "triage.reason", &s("high_risk")).is_err());
    }

    #[test]
    fn lists_and_authors() {
        assert!(may_add_to(Role::Officer, RecordKind::Case, "notes"));
        assert!(!may_add_to(Role::Officer, RecordKind::Case, "referrals"));
        assert!(!may_add_to(
            Role::Idva,
            RecordKind::Case,
            "safeguarding_actions"
        ));
        assert!(!may_add_to(Role::Officer, RecordKind::Health, "notes"));
        assert!(check_author_field(
            RecordKind::Case,
            "notes.*.author",
            &s("pc.a"),
            "pc.a",
            Role::Officer
        )
        .is_ok());
        assert!(check_author_field(
            RecordKind::Case,
            "notes.*.author",
            &s("idva.b"),
            "pc.a",
            Role::Officer
        )
        .is_err());
        assert!(check_delete(RecordKind::Case, "victim.safe_times").is_ok());
        assert!(check_delete(RecordKind::Case, "notes").is_err());
    }
}
