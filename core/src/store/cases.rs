//! Case operations: create, set fields, add list items, assess risk, show, list and search,
//! and field history. Every read of case content is audited as a consultation.

use rusqlite::params_from_iter;
use serde::Serialize;

use super::leaving::{leaving, Leaving};
use super::rows::{visited_on, ContactRow, ListRow};
use super::Store;
use crate::audit::Action;
use crate::error::{Error, Result};
use crate::forms::{self, AssessmentInput, Evaluation};
use crate::model::{Case, Deployment, RecordKind, RiskLevel, Role, Status, TriageReason};
use crate::record::conflicts::{self, Conflict};
use crate::record::history::{self, HistoryEntry};
use crate::record::{edit, RecordDoc};

/// The derived risk of a case: its latest assessment, scored.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RiskView {
    pub assessment_id: String,
    pub form: String,
    pub assessed_at: String,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

/// A recorded risk checklist: its id and what it came to.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Assessed {
    pub assessment_id: String,
    pub evaluation: Evaluation,
}

/// Everything shown on a case screen.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CaseView {
    pub id: String,
    pub record: Case,
    pub risk_level: Option<RiskLevel>,
    pub risk: Option<RiskView>,
    pub assessments: Vec<RiskView>,
    #[ts(type = "number | null")]
    pub days_since_incident: Option<i64>,
    pub conflicts: Vec<Conflict>,
    /// When this case leaves this device (`None` while it is open work here).
    pub leaves_device: Option<Leaving>,
}

/// One row of the case list.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CaseSummary {
    pub id: String,
    pub deployment: String,
    pub status: String,
    pub risk_level: Option<String>,
    pub victim_name: String,
    pub incident_reference: String,
    pub team: String,
    pub updated_at: String,
    #[ts(type = "number")]
    pub conflicts: i64,
    /// When this case leaves this device (`None` while it is open work here).
    pub leaves_device: Option<Leaving>,
    /// How the victim may be contacted (never the phone number).
    pub contact: ContactRow,
    /// The town of the victim's address or of the incident, else the case's division; never
    /// an address.
    pub area: String,
    /// Why the unit sent the team, and its priority (1 is visited first).
    pub triage_reason: Option<TriageReason>,
    #[ts(type = "number | null")]
    pub triage_priority: Option<u64>,
    /// A visit was recorded today (the device's local day).
    pub visited_today: bool,
}

impl CaseSummary {
    /// High risk sorts first, then medium, standard, and unassessed last.
    pub fn risk_order(&self) -> u8 {
        match self.risk_level.as_deref() {
            Some("high") => 0,
            Some("medium") => 1,
            Some("standard") => 2,
            _ => 3,
        }
    }
}

/// What the case list is narrowed to; every part is optional.
#[derive(Debug, Clone, Default, serde::Deserialize, ts_rs::TS)]
#[serde(default, deny_unknown_fields)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub risk: Option<String>,
    pub deployment: Option<String>,
    pub search: Option<String>,
    pub limit: Option<usize>,
}

/// The risk of a case from its most recent assessment (derived, never stored).
pub fn risk_of(case: &Case) -> Option<RiskView> {
    let a = case.latest_assessment()?;
    view_of(a)
}

fn view_of(a: &crate::model::Assessment) -> Option<RiskView> {
    forms::evaluate_stored(a).ok().map(|evaluation| RiskView {
        assessment_id: a.id.clone(),
        form: a.form.clone(),
        assessed_at: a.assessed_at.clone(),
        evaluation,
    })
}

fn days_since(occurred_at: Option<&str>) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(occurred_at?).ok()?;
    Some((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_days())
}

fn paths_detail(sets: &[(String, String)]) -> String {
    let paths: Vec<&str> = sets.iter().map(|(p, _)| p.as_str()).collect();
    format!("set {}", paths.join(", "))
}

impl Store {
    /// Creates a case in the user's division and team and applies `sets`. Returns its id.
    pub fn create_case(
        &mut self,
        deployment: Deployment,
        sets: &[(String, String)],
    ) -> Result<String> {
        self.require_case_access()?;
        let now = super::now_rfc3339();
        let mut case = Case::new(edit::new_id(), deployment, &self.session.user, &now);
        case.division = self.session.division.clone();
        case.team = self.session.team.clone();
        if self.session.role == Role::Safeguarding {
            case.status = Status::Triaged;
            case.triage.triaged_at = Some(now.clone());
            case.triage.triaged_by = self.session.user.clone();
        }
        let author = self.session.author();
        let mut rec = RecordDoc::new_case(&case, &self.actor, &author)?;
        for (path, value) in sets {
            if let Err(e) = edit::set_field(&mut rec, path, value, self.session.role) {
                rec.rollback();
                return Err(e);
            }
        }
        rec.case()?;
        rec.commit(&author);
        let detail = if sets.is_empty() {
            format!("{deployment} case created")
        } else {
            format!("{deployment} case created; {}", paths_detail(sets))
        };
        self.insert_record(&mut rec, &detail)?;
        Ok(case.id)
    }

    /// Sets fields by dotted path. All are applied, or none is.
    pub fn set_case_fields(&mut self, id: &str, sets: &[(String, String)]) -> Result<()> {
        self.require_case_access()?;
        if sets.is_empty() {
            return Err(Error::InvalidInput("give at least one PATH=VALUE".into()));
        }
        let detail = paths_detail(sets);
        self.edit_record(
            id,
            RecordKind::Case,
            |_| detail,
            |rec, s| {
                for (path, value) in sets {
                    edit::set_field(rec, path, value, s.role)?;
                }
                Ok(())
            },
        )
    }

    /// Appends an item to one of the case's lists. Returns the item's id.
    pub fn add_case_item(
        &mut self,
        id: &str,
        list: &str,
        json: &serde_json::Value,
    ) -> Result<String> {
        self.require_case_access()?;
        if !crate::model::fields::CASE_LISTS.contains(&list) {
            return Err(Error::UnknownList(list.to_string()));
        }
        let now = super::now_rfc3339();
        let directory = self.directory()?;
        self.edit_record(
            id,
            RecordKind::Case,
            |item_id: &String| format!("added {list} item {item_id}"),
            |rec, s| edit::add_case_item(rec, list, json, &s.author(), &now, &directory),
        )
    }

    /// Records a completed risk checklist. Returns the assessment id and its evaluation.
    pub fn assess(
        &mut self,
        id: &str,
        form: &str,
        input: &AssessmentInput,
    ) -> Result<(String, Evaluation)> {
        self.require_case_access()?;
        let now = super::now_rfc3339();
        let (assessment, evaluation) =
            forms::build_assessment(&self.form(form)?, input, &self.session.author(), &now)?;
        let aid = assessment.id.clone();
        self.edit_record(
            id,
            RecordKind::Case,
            |_| format!("{form} assessment {aid} recorded"),
            |rec, _| edit::append(rec, "risk_assessments", &assessment),
        )?;
        Ok((assessment.id, evaluation))
    }

    /// The case screen: record, derived risk, conflicts. Audited as a consultation.
    pub fn show_case(&mut self, id: &str) -> Result<CaseView> {
        self.require_case_access()?;
        let mut rec = self.load_record(id, RecordKind::Case)?;
        let case = rec.case()?;
        let conflicts = conflicts::find(rec.doc_mut(), &self.author_registry()?);
        let since: Option<String> = self.conn.query_row(
            "SELECT status_since FROM records WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let leaves_device = leaving(
            self.session.role,
            case.status.as_str(),
            since.as_deref(),
            self.device_policy()?,
            chrono::Utc::now().timestamp_millis(),
        );
        self.audit(Action::View, id, "case opened")?;
        let mut assessments: Vec<RiskView> =
            case.risk_assessments.iter().filter_map(view_of).collect();
        assessments.sort_by(|a, b| {
            (&a.assessed_at, &a.assessment_id).cmp(&(&b.assessed_at, &b.assessment_id))
        });
        Ok(CaseView {
            id: id.to_string(),
            risk_level: risk_of(&case).map(|r| r.evaluation.level),
            risk: risk_of(&case),
            assessments,
            days_since_incident: days_since(case.incident.occurred_at.as_deref()),
            conflicts,
            leaves_device,
            record: case,
        })
    }

    /// Lists cases from the indexed columns, newest first. Audited as one consultation.
    pub fn list_cases(&mut self, filter: &CaseFilter) -> Result<Vec<CaseSummary>> {
        self.require_case_access()?;
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<String> = Vec::new();
        if let Some(s) = &filter.status {
            Status::parse(s).map_err(|e| Error::invalid("--status", e))?;
            clauses.push("status = ?");
            args.push(s.clone());
        }
        if let Some(r) = &filter.risk {
            if r == "none" {
                clauses.push("risk_level IS NULL");
            } else {
                RiskLevel::parse(r).map_err(|e| Error::invalid("--risk", e))?;
                clauses.push("risk_level = ?");
                args.push(r.clone());
            }
        }
        if let Some(d) = &filter.deployment {
            Deployment::parse(d).map_err(|e| Error::invalid("--deployment", e))?;
            clauses.push("deployment = ?");
            args.push(d.clone());
        }
        if let Some(t) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            clauses.push("instr(search_text, ?) > 0");
            args.push(t.to_lowercase());
        }
        let rows = self.case_summaries(&clauses, &args, "updated_at DESC, id", filter.limit)?;
        self.audit(
            Action::View,
            "*",
            &format!("case list viewed ({} rows)", rows.len()),
        )?;
        Ok(rows)
    }

    /// Case rows from the indexed columns matching every clause, in `order`.
    pub(super) fn case_summaries(
        &self,
        clauses: &[&str],
        args: &[String],
        order: &str,
        limit: Option<usize>,
    ) -> Result<Vec<CaseSummary>> {
        let mut sql = String::from(
            "SELECT id, deployment, status, risk_level, coalesce(victim_name, ''), coalesce(incident_reference, ''),
             coalesce(team, ''), updated_at, conflict_count, status_since, list_row FROM records WHERE kind = 'case'",
        );
        for c in clauses {
            sql.push_str(" AND ");
            sql.push_str(c);
        }
        sql.push_str(" ORDER BY ");
        sql.push_str(order);
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let (role, policy) = (self.session.role, self.device_policy()?);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let today = chrono::Local::now().date_naive();
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
            let status: String = r.get(2)?;
            let since: Option<String> = r.get(9)?;
            // a row not yet filled (`fill_list_rows`) knows nothing of the contact rules
            let row: ListRow = r
                .get::<_, Option<String>>(10)?
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
            Ok(CaseSummary {
                visited_today: visited_on(row.last_visit_at.as_deref(), today),
                contact: row.contact,
                area: row.area,
                triage_reason: row.triage_reason,
                triage_priority: row.triage_priority,
                leaves_device: leaving(role, &status, since.as_deref(), policy, now_ms),
                id: r.get(0)?,
                deployment: r.get(1)?,
                status,
                risk_level: r.get(3)?,
                victim_name: r.get(4)?,
                incident_reference: r.get(5)?,
                team: r.get(6)?,
                updated_at: r.get(7)?,
                conflicts: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Who changed what and when, optionally only under one field path.
    pub fn case_history(&mut self, id: &str, path: Option<&str>) -> Result<Vec<HistoryEntry>> {
        self.require_case_access()?;
        let mut rec = self.load_record(id, RecordKind::Case)?;
        let out = history::history(rec.doc_mut(), path, &self.author_registry()?);
        self.audit(Action::View, id, "history viewed")?;
        Ok(out)
    }

    /// The raw document of a record (for sync and tests): kind and the whole document as it
    /// travels (uncompressed, see `record::untrusted`).
    pub fn record_bytes(&mut self, id: &str) -> Result<(RecordKind, Vec<u8>)> {
        let kind = self
            .record_kind(id)?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        if kind == RecordKind::Health && !self.session.role.sees_health() {
            return Err(Error::NotFound(id.to_string()));
        }
        let mut rec = self.load_record(id, kind)?;
        Ok((kind, rec.wire_snapshot()))
    }

    /// The current heads of a record.
    pub fn record_heads(&mut self, id: &str) -> Result<Vec<automerge::ChangeHash>> {
        let kind = self
            .record_kind(id)?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(self.load_record(id, kind)?.heads())
    }
}
