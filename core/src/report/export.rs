//! The evaluation export: one row per attendance in a period, as CSV (RFC 4180) or JSON (an
//! array of objects with the same keys, in the same order).
//!
//! What a row holds is fixed here and holds no direct identifier: cases and victims appear
//! only as keyed pseudonyms (see `pseudonym`), and no name, address, phone number, date of
//! birth or free text is ever written. Every cell is a number, a boolean, a date, one of a
//! closed set of words, a pseudonym, or a division or team label; labels are the only text,
//! and a label that a spreadsheet could read as a formula is written with a leading `'`.

use std::fmt::Write as _;

use super::attendance::Attendance;
use super::period::Period;
use super::pseudonym::{attendance_pseudonym, victim_pseudonym};
use super::repeats::{Repeats, Sighting};
use crate::model::choice::choice;
use crate::model::ReferralKind;

choice!(
    /// The file format of an export.
    ExportFormat { Csv => "csv", Json => "json" }
);

impl ExportFormat {
    /// The HTTP content type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

/// One cell of an export row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(u64),
    /// Hours, written to one decimal.
    Hours(f64),
    Bool(bool),
    Null,
}

/// The columns, in order.
pub fn columns() -> Vec<String> {
    let mut c: Vec<String> = [
        "attendance_id",
        "victim_pseudonym",
        "division",
        "team",
        "deployment",
        "status",
        "incident_date",
        "risk_level",
        "dash_score",
        "marac_threshold_met",
        "marac_referred",
        "hours_to_first_idva_contact",
        "visits",
        "visits_engaged",
        "support_risk_assessment",
        "support_safety_planning",
        "support_emotional_support",
        "support_information_signposting",
        "support_criminal_justice_advocacy",
        "support_social_welfare",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.extend(ReferralKind::ALL.iter().map(|k| format!("referrals_{k}")));
    c.extend(
        [
            "consent",
            "engaged_safeguarding",
            "engaged_investigation",
            "previously_engaged_safeguarding",
            "previously_engaged_investigation",
            "repeat_victim",
            "prior_attendances",
            "children",
            "children_present",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    c
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn opt_text(s: Option<&str>) -> Cell {
    s.map_or(Cell::Null, text)
}

/// The export rows of the attendances dated inside `period` (of `division`, or of every
/// division when `None`), ordered by incident date and then pseudonym. `sightings` are the
/// victims' attendances before the period (more do no harm), for `prior_attendances`.
pub fn export_rows(
    rows: &[Attendance],
    sightings: &[Sighting],
    period: &Period,
    division: Option<&str>,
    report_key: &[u8],
) -> Vec<Vec<Cell>> {
    let rows: Vec<&Attendance> = rows
        .iter()
        .filter(|a| a.counts() && division.is_none_or(|d| a.division == d))
        .filter(|a| {
            a.incident_date
                .as_deref()
                .is_some_and(|d| period.contains(d))
        })
        .collect();
    let repeats = Repeats::new(sightings, rows.iter().copied());
    let mut out: Vec<(String, String, Vec<Cell>)> = rows
        .iter()
        .map(|a| {
            let id = attendance_pseudonym(report_key, &a.case_id);
            let date = a.incident_date.clone().unwrap_or_default();
            (date, id.clone(), cells(a, id, &repeats, report_key))
        })
        .collect();
    out.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    out.into_iter().map(|(_, _, c)| c).collect()
}

fn cells(a: &Attendance, id: String, repeats: &Repeats, report_key: &[u8]) -> Vec<Cell> {
    let date = a.incident_date.as_deref().unwrap_or("");
    let s = &a.support;
    let o = &a.outcome;
    let mut c = vec![
        Cell::Text(id),
        a.victim_digest
            .as_deref()
            .map_or(Cell::Text(String::new()), |d| {
                Cell::Text(victim_pseudonym(report_key, d))
            }),
        text(&a.division),
        text(&a.team),
        text(a.deployment.as_str()),
        text(a.status.as_str()),
        opt_text(a.incident_date.as_deref()),
        text(a.risk_level.map_or("unassessed", |l| l.as_str())),
        a.dash_score.map_or(Cell::Null, Cell::Int),
        Cell::Bool(a.marac_threshold_met),
        Cell::Bool(a.marac_referred),
        a.hours_to_first_idva_contact
            .map_or(Cell::Null, Cell::Hours),
        Cell::Int(a.visits),
        Cell::Int(a.visits_engaged),
        Cell::Bool(s.risk_assessment),
        Cell::Bool(s.safety_planning),
        Cell::Bool(s.emotional_support),
        Cell::Bool(s.information_signposting),
        Cell::Bool(s.criminal_justice_advocacy),
        Cell::Bool(s.social_welfare),
    ];
    c.extend(
        ReferralKind::ALL
            .iter()
            .map(|k| Cell::Int(a.referrals_of(*k))),
    );
    c.extend([
        text(a.consent.as_str()),
        text(o.engaged_safeguarding.as_str()),
        text(o.engaged_investigation.as_str()),
        text(o.previously_engaged_safeguarding.as_str()),
        text(o.previously_engaged_investigation.as_str()),
        text(o.repeat_victim.as_str()),
        Cell::Int(
            a.victim_digest
                .as_deref()
                .map_or(0, |d| repeats.prior(d, date)),
        ),
        Cell::Int(a.children),
        Cell::Int(a.children_present),
    ]);
    c
}

/// A text cell as a spreadsheet must not read it as a formula (OWASP's advice: a leading `'`).
fn defused(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn csv_field(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Text(s) => {
            let s = defused(s);
            if s.contains([',', '"', '\r', '\n']) {
                out.push('"');
                out.push_str(&s.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(&s);
            }
        }
        Cell::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Cell::Hours(h) => {
            let _ = write!(out, "{h:.1}");
        }
        Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Cell::Null => {}
    }
}

/// RFC 4180 CSV: a header line, then one line per row, CRLF line ends.
pub fn write_csv(rows: &[Vec<Cell>]) -> String {
    let header: Vec<Cell> = columns().into_iter().map(Cell::Text).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, cell);
        }
        out.push_str("\r\n");
    }
    out
}

fn json_value(cell: &Cell) -> serde_json::Value {
    match cell {
        Cell::Text(s) => serde_json::Value::String(s.clone()),
        Cell::Int(n) => serde_json::Value::from(*n),
        Cell::Hours(h) => serde_json::Number::from_f64((h * 10.0).round() / 10.0)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Cell::Bool(b) => serde_json::Value::Bool(*b),
        Cell::Null => serde_json::Value::Null,
    }
}

/// A JSON array of objects, keys in column order.
pub fn write_json(rows: &[Vec<Cell>]) -> String {
    let keys: Vec<String> = columns()
        .iter()
        .map(|k| serde_json::Value::String(k.clone()).to_string())
        .collect();
    let mut out = String::from("[");
    for (r, row) in rows.iter().enumerate() {
        out.push_str(if r == 0 { "\n{" } else { ",\n{" });
        for (i, (key, cell)) in keys.iter().zip(row).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            out.push_str(&json_value(cell).to_string());
        }
        out.push('}');
    }
    out.push_str(if rows.is_empty() { "]" } else { "\n]" });
    out
}

/// Writes rows in a format.
pub fn write(format: ExportFormat, rows: &[Vec<Cell>]) -> String {
    match format {
        ExportFormat::Csv => write_csv(rows),
        ExportFormat::Json => write_json(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Case, Deployment, RiskLevel, Status, TriState, Visit, VisitOutcome};

    const IDENTITY: [u8; 32] = [3u8; 32];
    const REPORT: [u8; 32] = [4u8; 32];

    fn case(id: &str, name: &str, occurred: &str) -> Case {
        let mut c = Case::new(
            id.into(),
            Deployment::PostIncident,
            "pc.ada.fictional",
            "2026-03-01T08:00:00Z",
        );
        c.division = "west".into();
        c.team = "t1".into();
        c.victim.name = name.into();
        c.victim.dob = Some("1990-02-03".into());
        c.victim.phone = "07700 900123".into();
        c.incident.occurred_at = Some(occurred.into());
        c
    }

    fn rows() -> Vec<Attendance> {
        let mut a = case("c1", "Jane Fictional", "2026-03-02T10:00:00Z");
        a.visits.push(Visit {
            id: "v".into(),
            at: "2026-03-02T12:30:00Z".into(),
            outcome: VisitOutcome::Engaged,
            notes: "Jane said, \"later\"".into(),
            by: "idva.bea.fictional".into(),
        });
        a.outcome.engaged_safeguarding = TriState::Yes;
        let b = case("c2", "JANE  fictional", "2026-03-09T10:00:00Z");
        let mut t = case("c3", "Amy Example", "2026-03-09T10:00:00Z");
        t.status = Status::Triaged;
        let mut odd = case("c4", "", "2026-03-05T10:00:00Z");
        odd.team = "=HYPERLINK(\"x\")".into();
        [a, b, t, odd]
            .iter()
            .map(|c| Attendance::of(c, &IDENTITY))
            .collect()
    }

    fn period() -> Period {
        Period::parse(Some("2026-03-01"), Some("2026-03-31")).unwrap()
    }

    #[test]
    fn columns_are_in_the_agreed_order_with_every_referral_kind() {
        let c = columns();
        assert_eq!(
            &c[..4],
            ["attendance_id", "victim_pseudonym", "division", "team"]
        );
        assert_eq!(c[11], "hours_to_first_idva_contact");
        for k in ReferralKind::NAMES {
            assert!(c.contains(&format!("referrals_{k}")), "{k}");
        }
        assert_eq!(c.last().unwrap(), "children_present");
        assert_eq!(c.len(), 20 + ReferralKind::ALL.len() + 9);
    }

    #[test]
    fn rows_carry_pseudonyms_and_prior_attendances_only() {
        let r = export_rows(&rows(), &[], &period(), Some("west"), &REPORT);
        assert_eq!(r.len(), 3, "the triaged case is not an attendance");
        let col = |name: &str| columns().iter().position(|c| c == name).unwrap();
        let (first, second, third) = (&r[0], &r[1], &r[2]);
        // ordered by incident date: c1 (2nd), c4 (5th), c2 (9th)
        assert_eq!(first[col("incident_date")], text("2026-03-02"));
        assert_eq!(third[col("incident_date")], text("2026-03-09"));
        assert_eq!(
            first[col("victim_pseudonym")],
            third[col("victim_pseudonym")]
        );
        assert_eq!(second[col("victim_pseudonym")], text(""));
        assert_eq!(first[col("prior_attendances")], Cell::Int(0));
        assert_eq!(third[col("prior_attendances")], Cell::Int(1));
        assert_eq!(first[col("hours_to_first_idva_contact")], Cell::Hours(2.5));
        assert_eq!(first[col("risk_level")], text("unassessed"));
        assert_eq!(first[col("engaged_safeguarding")], text("yes"));
        assert_ne!(first[col("attendance_id")], text("c1"));
        let other_key = export_rows(&rows(), &[], &period(), Some("west"), &[5u8; 32]);
        assert_ne!(
            first[col("victim_pseudonym")],
            other_key[0][col("victim_pseudonym")]
        );
        assert!(export_rows(&rows(), &[], &period(), Some("east"), &REPORT).is_empty());
        assert_eq!(RiskLevel::High.as_str(), "high");
    }

    #[test]
    fn csv_and_json_hold_no_identifier_and_defuse_formulas() {
        let r = export_rows(&rows(), &[], &period(), None, &REPORT);
        let csv = write_csv(&r);
        let json = write_json(&r);
        for out in [&csv, &json] {
            for needle in [
                "Jane",
                "JANE",
                "jane",
                "Amy",
                "1990-02-03",
                "07700 900123",
                "later",
            ] {
                assert!(!out.contains(needle), "{needle} in {out}");
            }
        }
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines.len(), 5, "header, three rows, and the empty tail");
        assert!(lines[0].starts_with("attendance_id,victim_pseudonym,division"));
        assert!(csv.contains(",\"'=HYPERLINK(\"\"x\"\")\","));
        let parsed: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0]["hours_to_first_idva_contact"], 2.5);
        assert_eq!(parsed[1]["team"], "=HYPERLINK(\"x\")");
        assert_eq!(parsed[0]["dash_score"], serde_json::Value::Null);
        assert_eq!(parsed[0]["marac_referred"], false);
        assert_eq!(write_json(&[]), "[]");
        assert_eq!(write_csv(&[]).matches("\r\n").count(), 1);
    }
}
