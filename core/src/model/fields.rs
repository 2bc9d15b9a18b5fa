//! The fields a user may set by dotted path (`victim.name`, `referrals.<id>.status`), with the
//! kind of value each takes. This table drives validation, the command line and the README.

use crate::error::{Error, Result};
use automerge::ScalarValue;

use super::case::{ConsentAnswer, Deployment, ReferralStatus, Status, TriageReason, VisitOutcome};
use super::common::{Role, TriState};
use super::shift::Pattern;

/// The kind of value a field holds, and so how typed text is parsed into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text (up to `MAX_TEXT` characters).
    Text,
    /// A calendar date, YYYY-MM-DD; empty clears it.
    Date,
    /// A moment, RFC 3339 (`2026-11-22T09:30:00Z`); empty clears it.
    DateTime,
    /// true or false.
    Bool,
    /// true, false, or empty/`unknown` for not recorded.
    OptBool,
    /// yes, no or unknown.
    Tri,
    /// A whole number; empty clears it.
    Count,
    /// One of a closed set of words.
    Choice(&'static [&'static str]),
}

pub const MAX_TEXT: usize = 20_000;

/// A settable field of a case.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub path: &'static str,
    pub kind: FieldKind,
    /// The one role that may set it, when only one may.
    pub only: Option<Role>,
    /// Its name in plain words ("Safe to call"), for the app and messages; a list item's
    /// field is named after its list ("Referral status").
    pub label: &'static str,
}

const fn f(path: &'static str, kind: FieldKind, label: &'static str) -> FieldSpec {
    FieldSpec {
        path,
        kind,
        only: None,
        label,
    }
}

const fn idva(path: &'static str, kind: FieldKind, label: &'static str) -> FieldSpec {
    FieldSpec {
        path,
        kind,
        only: Some(Role::Idva),
        label,
    }
}

const fn safeguarding(path: &'static str, kind: FieldKind, label: &'static str) -> FieldSpec {
    FieldSpec {
        path,
        kind,
        only: Some(Role::Safeguarding),
        label,
    }
}

use FieldKind::*;

/// Every scalar field of a case that can be set by path.
pub const CASE_FIELDS: &[FieldSpec] = &[
    f("deployment", Choice(Deployment::NAMES), "Deployment"),
    f("status", Choice(Status::NAMES), "Case status"),
    f("division", Text, "Division"),
    f("team", Text, "Team"),
    f("incident.reference", Text, "Police reference"),
    f("incident.occurred_at", DateTime, "When it happened"),
    f("incident.location", Text, "Where"),
    f("victim.name", Text, "Victim name"),
    f("victim.dob", Date, "Date of birth"),
    f("victim.address", Text, "Address"),
    f("victim.phone", Text, "Phone"),
    f("victim.language", Text, "Language"),
    f("victim.interpreter_needed", OptBool, "Interpreter needed"),
    f("victim.disability", Text, "Disability"),
    f("victim.pregnant", OptBool, "Pregnant"),
    f("victim.safe_contact.call_ok", OptBool, "Safe to call"),
    f("victim.safe_contact.text_ok", OptBool, "Safe to text"),
    f(
        "victim.safe_contact.voicemail_ok",
        OptBool,
        "Safe to leave voicemail",
    ),
    f("victim.safe_contact.safe_times", Text, "Safe times"),
    f("victim.safe_contact.notes", Text, "Contact notes"),
    f("perpetrator.name", Text, "Perpetrator name"),
    f("perpetrator.relationship", Text, "Relationship"),
    f("perpetrator.in_custody", OptBool, "In custody"),
    f("perpetrator.bail_conditions", Text, "Bail conditions"),
    idva("support.risk_assessment", Bool, "Risk assessment"),
    idva("support.safety_planning", Bool, "Safety planning"),
    idva("support.emotional_support", Bool, "Emotional support"),
    idva(
        "support.information_signposting",
        Bool,
        "Information and signposting",
    ),
    idva(
        "support.criminal_justice_advocacy",
        Bool,
        "Criminal justice advocacy",
    ),
    idva("support.social_welfare", Bool, "Social welfare"),
    f(
        "consent.information_sharing",
        Choice(ConsentAnswer::NAMES),
        "Consent to share information",
    ),
    f("consent.basis", Text, "Basis for sharing"),
    f(
        "outcome.engaged_safeguarding",
        Choice(TriState::NAMES),
        "Engaged with safeguarding",
    ),
    f(
        "outcome.engaged_investigation",
        Choice(TriState::NAMES),
        "Engaged with the investigation",
    ),
    f(
        "outcome.previously_engaged_safeguarding",
        Choice(TriState::NAMES),
        "Previously engaged with safeguarding",
    ),
    f(
        "outcome.previously_engaged_investigation",
        Choice(TriState::NAMES),
        "Previously engaged with the investigation",
    ),
    f(
        "outcome.repeat_victim",
        Choice(TriState::NAMES),
        "Repeat victim",
    ),
    safeguarding(
        "triage.reason",
        Choice(TriageReason::NAMES),
        "Triage reason",
    ),
    safeguarding("triage.priority", Count, "Priority"),
    safeguarding("triage.visit_date", Date, "Visit date"),
    safeguarding("triage.shift", Choice(Pattern::NAMES), "Visit shift"),
    safeguarding("triage.notes", Text, "Triage notes"),
];

/// The lists of a case that items can be appended to.
pub const CASE_LISTS: &[&str] = &[
    "notes",
    "visits",
    "referrals",
    "safety_plan",
    "children",
    "safeguarding_actions",
];

/// The lists' names in plain words, as `(list, name of one item)`.
pub const LIST_NAMES: &[(&str, &str)] = &[
    ("notes", "Note"),
    ("visits", "Visit"),
    ("referrals", "Referral"),
    ("safety_plan", "Safety plan item"),
    ("children", "Child"),
    ("safeguarding_actions", "Safeguarding action"),
    ("risk_assessments", "Risk assessment"),
];

/// Fields of list items that may be changed after the item was added, as `(list, field)`.
/// Notes are evidence and are never edited: a correction is a new note.
pub const LIST_ITEM_FIELDS: &[(&str, FieldSpec)] = &[
    ("children", f("name", Text, "name")),
    ("children", f("age", Count, "age")),
    (
        "children",
        f("present_at_incident", OptBool, "present at incident"),
    ),
    ("safety_plan", f("text", Text, "text")),
    ("safety_plan", f("done", Bool, "done")),
    (
        "referrals",
        f("status", Choice(ReferralStatus::NAMES), "status"),
    ),
    (
        "referrals",
        f("consent", Choice(ConsentAnswer::NAMES), "consent"),
    ),
    ("referrals", f("notes", Text, "notes")),
    (
        "visits",
        f("outcome", Choice(VisitOutcome::NAMES), "outcome"),
    ),
    ("visits", f("notes", Text, "notes")),
    ("safeguarding_actions", safeguarding("done", Bool, "done")),
    (
        "safeguarding_actions",
        safeguarding("detail", Text, "detail"),
    ),
];

/// A parsed path: a plain field, or a field of one list item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    Field(Vec<String>),
    ListItem {
        list: String,
        item_id: String,
        field: String,
    },
}

/// Finds the spec of a path and splits it into its parts.
pub fn resolve(path: &str) -> Result<(FieldPath, FieldSpec)> {
    if let Some(spec) = CASE_FIELDS.iter().find(|s| s.path == path) {
        let parts = path.split('.').map(str::to_string).collect();
        return Ok((FieldPath::Field(parts), *spec));
    }
    let parts: Vec<&str> = path.split('.').collect();
    if let [list, item_id, field] = parts.as_slice() {
        if let Some((_, spec)) = LIST_ITEM_FIELDS
            .iter()
            .find(|(l, s)| l == list && s.path == *field)
        {
            if item_id.is_empty() {
                return Err(Error::UnknownPath(path.to_string()));
            }
            return Ok((
                FieldPath::ListItem {
                    list: list.to_string(),
                    item_id: item_id.to_string(),
                    field: field.to_string(),
                },
                *spec,
            ));
        }
    }
    Err(Error::UnknownPath(path.to_string()))
}

/// Parses typed text into the document value for a field of the given kind.
pub fn parse_value(path: &str, kind: FieldKind, text: &str) -> Result<ScalarValue> {
    let t = text.trim();
    let blank = t.is_empty();
    Ok(match kind {
        Text => {
            if text.chars().count() > MAX_TEXT {
                return Err(Error::invalid(
                    path,
                    format!("longer than {MAX_TEXT} characters"),
                ));
            }
            ScalarValue::Str(text.into())
        }
        Date if blank => ScalarValue::Null,
        Date => {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| Error::invalid(path, "expected a date as YYYY-MM-DD"))?;
            ScalarValue::Str(t.into())
        }
        DateTime if blank => ScalarValue::Null,
        DateTime => ScalarValue::Str(
            normalise_datetime(t)
                .ok_or_else(|| {
                    Error::invalid(
                        path,
                        "expected a date and time such as 2026-11-22T09:30:00Z",
                    )
                })?
                .into(),
        ),
        Bool => ScalarValue::Boolean(
            parse_bool(t).ok_or_else(|| Error::invalid(path, "expected true or false"))?,
        ),
        OptBool if blank || t == "unknown" => ScalarValue::Null,
        OptBool => ScalarValue::Boolean(
            parse_bool(t).ok_or_else(|| Error::invalid(path, "expected true, false or unknown"))?,
        ),
        Tri => choice_value(path, TriState::NAMES, t)?,
        Count if blank => ScalarValue::Null,
        Count => ScalarValue::Uint(
            t.parse::<u64>()
                .ok()
                .filter(|n| *n < 1_000)
                .ok_or_else(|| Error::invalid(path, "expected a whole number"))?,
        ),
        Choice(names) => choice_value(path, names, t)?,
    })
}

fn choice_value(path: &str, names: &[&str], t: &str) -> Result<ScalarValue> {
    if names.contains(&t) {
        Ok(ScalarValue::Str(t.into()))
    } else {
        Err(Error::invalid(
            path,
            format!("expected one of {}", names.join(", ")),
        ))
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "yes" => Some(true),
        "false" | "no" => Some(false),
        _ => None,
    }
}

/// Accepts RFC 3339, or a plain `YYYY-MM-DDTHH:MM[:SS]` taken as UTC; returns RFC 3339 UTC.
pub fn normalise_datetime(t: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(
            dt.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(n.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_field_resolves_and_unknown_paths_fail() {
        for spec in CASE_FIELDS {
            assert!(resolve(spec.path).is_ok(), "{}", spec.path);
        }
        assert!(matches!(
            resolve("victim.shoe_size"),
            Err(Error::UnknownPath(_))
        ));
        assert!(matches!(
            resolve("notes.abc.text"),
            Err(Error::UnknownPath(_))
        ));
        assert!(matches!(
            resolve("referrals.r1.status").unwrap().0,
            FieldPath::ListItem { .. }
        ));
    }

    #[test]
    fn values_are_parsed_by_kind() {
        assert_eq!(
            parse_value("p", Date, "1990-02-03").unwrap(),
            ScalarValue::Str("1990-02-03".into())
        );
        assert!(parse_value("p", Date, "03/02/1990").is_err());
        assert_eq!(
            parse_value("p", OptBool, "unknown").unwrap(),
            ScalarValue::Null
        );
        assert!(parse_value("p", Bool, "maybe").is_err());
        assert!(parse_value("p", Tri, "perhaps").is_err());
        assert_eq!(
            parse_value("p", DateTime, "2026-11-22T09:30").unwrap(),
            ScalarValue::Str("2026-11-22T09:30:00Z".into())
        );
        assert!(parse_value("p", Count, "-1").is_err());
    }
}
