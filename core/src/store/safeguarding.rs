//! The safeguarding unit's side of the case store (design §1, §7): triage of the last day's
//! incidents into cases for a team and shift, the queue of cases the patrols handed over (what
//! was done, what is outstanding, the unit's review and long-term actions), and the daily MARAC
//! list with the agenda the meeting needs. Only the `safeguarding` role may use these; the
//! server enforces the same rule on what each device may hold.

use serde::{Deserialize, Serialize};

use super::cases::{risk_of, CaseSummary};
use super::visits::outstanding;
use super::Store;
use crate::audit::Action;
use crate::error::{Error, Result};
use crate::forms::{self, AssessmentInput};
use crate::model::fields::{self, FieldKind};
use crate::model::{
    Case, Deployment, Pattern, RecordKind, ReferralKind, ReferralStatus, RiskLevel, Role,
    SafeguardingAction, Status, TriageReason, VisitOutcome,
};
use crate::record::{edit, RecordDoc};

/// An incident the unit sends the team to: who, what risk, why, and when.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TriageInput {
    /// The police log or crime reference.
    pub reference: String,
    /// When the incident happened (RFC 3339 or YYYY-MM-DDTHH:MM).
    #[serde(default)]
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub location: String,
    pub victim_name: String,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub victim_dob: Option<String>,
    /// The DARA level the attending officer gave.
    pub dara_level: RiskLevel,
    pub reason: TriageReason,
    /// The extra vulnerability or health need (required unless the reason is high risk).
    #[serde(default)]
    pub need: String,
    /// 1 is visited first.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub priority: Option<u64>,
    pub team: String,
    /// YYYY-MM-DD; empty means the next shift.
    #[serde(default)]
    pub visit_date: Option<String>,
    #[serde(default)]
    pub shift: Option<Pattern>,
}

/// A triaged case waiting for its visit.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct TriagedCase {
    pub case: CaseSummary,
    pub reason: Option<TriageReason>,
    #[ts(type = "number | null")]
    pub priority: Option<u64>,
    pub visit_date: Option<String>,
    pub shift: Option<Pattern>,
}

/// A case in the handover queue.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct HandoverItem {
    pub case: CaseSummary,
    /// What the patrol did, in plain words, from the record itself.
    pub done: Vec<String>,
    /// What is still to do: referrals to make, children to refer, safety plan actions.
    pub outstanding: Vec<String>,
    pub reviewed_at: Option<String>,
    pub reviewed_by: String,
    pub actions: Vec<SafeguardingAction>,
}

/// One case on the MARAC agenda: only what the meeting needs (no address, phone, notes,
/// health information or checklist answers).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct MaracEntry {
    pub case_id: String,
    pub incident_reference: String,
    pub incident_date: Option<String>,
    pub victim_name: String,
    pub victim_dob: Option<String>,
    pub perpetrator_name: String,
    pub perpetrator_in_custody: Option<bool>,
    /// Ages of the children (unknown ages as null).
    #[ts(type = "Array<number | null>")]
    pub children_ages: Vec<Option<u64>>,
    pub risk_level: Option<RiskLevel>,
    #[ts(type = "number | null")]
    pub dash_score: Option<u64>,
    /// Why the case is on the list, in plain words.
    pub grounds: Vec<String>,
    /// When and by whom the MARAC referral was made, if it was.
    pub referred_at: Option<String>,
    pub referred_by: String,
    pub team: String,
    pub consent: String,
}

/// Why a case belongs on the MARAC list, or `None` when it does not. A case is listed when it
/// is not closed, its latest assessment meets a MARAC criterion (14 or more "yes" on DASH,
/// escalation, professional judgement) or a MARAC referral was made, and the MARAC has not yet
/// heard it (no MARAC referral accepted or declined).
pub fn marac_grounds(case: &Case) -> Option<Vec<String>> {
    if case.status == Status::Closed {
        return None;
    }
    let marac: Vec<_> = case
        .referrals
        .iter()
        .filter(|r| r.kind == ReferralKind::Marac)
        .collect();
    if marac.iter().any(|r| {
        matches!(
            r.status,
            ReferralStatus::Accepted | ReferralStatus::Declined
        )
    }) {
        return None;
    }
    let mut grounds = Vec::new();
    if let Some(risk) = risk_of(case) {
        for c in &risk.evaluation.marac_criteria {
            grounds.push(match *c {
                "visible_high_risk" => match risk.evaluation.score {
                    Some(s) => format!(
                        "{s} \"yes\" answers on {} (14 or more)",
                        risk.form.to_uppercase()
                    ),
                    None => "high risk on the checklist".to_string(),
                },
                "escalation" => "escalation: 3 or more incidents in 12 months".to_string(),
                "professional_judgement" => "high risk by professional judgement".to_string(),
                other => other.replace('_', " "),
            });
        }
    }
    if !marac.is_empty() {
        grounds.push("referred to MARAC".to_string());
    }
    (!grounds.is_empty()).then_some(grounds)
}

/// What the patrol did, in plain words, from the record (visits, assessments, referrals,
/// support, safety plan, consent). No free text is quoted.
pub fn done(case: &Case) -> Vec<String> {
    let mut out = Vec::new();
    if !case.visits.is_empty() {
        let engaged = case
            .visits
            .iter()
            .filter(|v| v.outcome == VisitOutcome::Engaged)
            .count();
        out.push(format!("{} visit(s), {engaged} engaged", case.visits.len()));
    }
    if let Some(risk) = risk_of(case) {
        out.push(match risk.evaluation.score {
            Some(s) => format!(
                "{} assessment: {} risk ({s} \"yes\")",
                risk.form.to_uppercase(),
                risk.evaluation.level
            ),
            None => format!(
                "{} assessment: {} risk",
                risk.form.to_uppercase(),
                risk.evaluation.level
            ),
        });
    }
    let made: Vec<String> = case
        .referrals
        .iter()
        .filter(|r| r.status != ReferralStatus::ToMake)
        .map(|r| r.kind.as_str().replace('_', " "))
        .collect();
    if !made.is_empty() {
        out.push(format!("referrals made: {}", made.join(", ")));
    }
    let s = &case.support;
    let support: Vec<&str> = [
        (s.risk_assessment, "risk assessment"),
        (s.safety_planning, "safety planning"),
        (s.emotional_support, "emotional support"),
        (s.information_signposting, "information and signposting"),
        (s.criminal_justice_advocacy, "criminal justice advocacy"),
        (s.social_welfare, "social welfare"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if !support.is_empty() {
        out.push(format!("IDVA support: {}", support.join(", ")));
    }
    if !case.safety_plan.is_empty() {
        let done = case.safety_plan.iter().filter(|i| i.done).count();
        out.push(format!(
            "safety plan: {} action(s), {done} done",
            case.safety_plan.len()
        ));
    }
    out.push(format!(
        "consent to share: {}",
        case.consent.information_sharing.as_str().replace('_', " ")
    ));
    out
}

fn checked(path: &str, kind: FieldKind, text: Option<&str>) -> Result<Option<String>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => match fields::parse_value(path, kind, t)? {
            automerge::ScalarValue::Str(s) => Ok(Some(s.to_string())),
            _ => Ok(None),
        },
    }
}

fn required(path: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::invalid(path, "it must not be empty"));
    }
    if t.chars().count() > fields::MAX_TEXT {
        return Err(Error::invalid(path, "it is too long"));
    }
    Ok(t.to_string())
}

impl Store {
    fn require_safeguarding(&self, action: &str) -> Result<()> {
        self.require_case_access()?;
        if self.session.role != Role::Safeguarding {
            return Err(Error::Forbidden {
                role: self.session.role.to_string(),
                action: action.to_string(),
            });
        }
        Ok(())
    }

    /// Creates a triaged post-incident case for a team of the unit's division, with the DARA
    /// level as the first assessment. It reaches the team's devices on their next sync and
    /// appears in their visits for the day. Returns the case id.
    pub fn triage_case(&mut self, input: &TriageInput) -> Result<String> {
        self.require_safeguarding("triage incidents")?;
        let reference = required("reference", &input.reference)?;
        let victim_name = required("victim_name", &input.victim_name)?;
        let team = required("team", &input.team)?;
        let dob = checked("victim_dob", FieldKind::Date, input.victim_dob.as_deref())?;
        let occurred_at = checked(
            "occurred_at",
            FieldKind::DateTime,
            input.occurred_at.as_deref(),
        )?;
        let visit_date = checked("visit_date", FieldKind::Date, input.visit_date.as_deref())?;
        if input.location.chars().count() > fields::MAX_TEXT
            || input.need.chars().count() > fields::MAX_TEXT
        {
            return Err(Error::InvalidInput("a triage field is too long".into()));
        }
        match (input.reason, input.dara_level) {
            (TriageReason::HighRisk, RiskLevel::High) => {}
            (TriageReason::HighRisk, _) => {
                return Err(Error::invalid(
                    "reason",
                    "high risk is the reason only when the DARA level is high",
                ))
            }
            (_, _) if input.need.trim().is_empty() => {
                return Err(Error::invalid(
                    "need",
                    "say what the extra vulnerability or health need is",
                ))
            }
            _ => {}
        }
        if input.priority == Some(0) {
            return Err(Error::invalid("priority", "1 is the first visit"));
        }
        let now = super::now_rfc3339();
        let author = self.session.author();
        let mut case = Case::new(
            edit::new_id(),
            Deployment::PostIncident,
            &self.session.user,
            &now,
        );
        case.status = Status::Triaged;
        case.division = self.session.division.clone();
        case.team = team;
        case.incident.reference = reference;
        case.incident.occurred_at = occurred_at;
        case.incident.location = input.location.trim().to_string();
        case.victim.name = victim_name;
        case.victim.dob = dob;
        case.triage.reason = Some(input.reason);
        case.triage.priority = input.priority;
        case.triage.visit_date = visit_date;
        case.triage.shift = input.shift;
        case.triage.notes = input.need.trim().to_string();
        case.triage.triaged_at = Some(now.clone());
        case.triage.triaged_by = self.session.user.clone();
        let dara = AssessmentInput {
            answers: Default::default(),
            judgement_level: Some(input.dara_level.as_str().to_string()),
            judgement_reason: Some("DARA level at triage".to_string()),
            incidents_12_months: None,
        };
        let (assessment, _) = forms::build_assessment(&self.form("dara")?, &dara, &author, &now)?;
        case.risk_assessments.push(assessment);
        let mut rec = RecordDoc::new_case(&case, &self.actor, &author)?;
        rec.commit(&author);
        self.insert_record(
            &mut rec,
            &format!("triaged for team {} ({})", case.team, input.reason),
        )?;
        Ok(case.id)
    }

    /// Cases triaged and not yet visited, by visit date, priority and risk.
    pub fn triage_queue(&mut self) -> Result<Vec<TriagedCase>> {
        self.require_safeguarding("open the triage queue")?;
        let rows = self.case_summaries(
            &["status = ?"],
            &[Status::Triaged.as_str().to_string()],
            "id",
            None,
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for summary in rows {
            let case = self.load_record(&summary.id, RecordKind::Case)?.case()?;
            out.push(TriagedCase {
                case: summary,
                reason: case.triage.reason,
                priority: case.triage.priority,
                visit_date: case.triage.visit_date,
                shift: case.triage.shift,
            });
        }
        out.sort_by(|a, b| {
            (
                a.visit_date.is_none(),
                &a.visit_date,
                a.priority.unwrap_or(u64::MAX),
                a.case.risk_order(),
                &a.case.id,
            )
                .cmp(&(
                    b.visit_date.is_none(),
                    &b.visit_date,
                    b.priority.unwrap_or(u64::MAX),
                    b.case.risk_order(),
                    &b.case.id,
                ))
        });
        self.audit(
            Action::View,
            "*",
            &format!("triage queue viewed ({} rows)", out.len()),
        )?;
        Ok(out)
    }

    /// Cases the patrols handed over: highest risk first, then the newest.
    pub fn handover_queue(&mut self) -> Result<Vec<HandoverItem>> {
        self.require_safeguarding("open the handover queue")?;
        let rows = self.case_summaries(
            &["status = ?"],
            &[Status::HandedOver.as_str().to_string()],
            "risk_rank DESC, updated_at DESC, id",
            None,
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for summary in rows {
            let case = self.load_record(&summary.id, RecordKind::Case)?.case()?;
            out.push(HandoverItem {
                done: done(&case),
                outstanding: outstanding(&case),
                reviewed_at: case.review.reviewed_at.clone(),
                reviewed_by: case.review.reviewed_by.clone(),
                actions: case.safeguarding_actions.clone(),
                case: summary,
            });
        }
        self.audit(
            Action::View,
            "*",
            &format!("handover queue viewed ({} rows)", out.len()),
        )?;
        Ok(out)
    }

    /// Marks a handed-over case as reviewed by the unit.
    pub fn mark_reviewed(&mut self, id: &str) -> Result<()> {
        self.require_safeguarding("review handovers")?;
        let now = super::now_rfc3339();
        self.edit_record(
            id,
            RecordKind::Case,
            |_| "handover reviewed".to_string(),
            |rec, s| {
                let when = now.clone();
                edit::put_review(rec, &when, &s.user)
            },
        )
    }

    /// The MARAC list of the unit's division: every case that meets the rules of
    /// `marac_grounds`, highest risk first. Audited as one consultation.
    pub fn marac_list(&mut self) -> Result<Vec<MaracEntry>> {
        self.require_safeguarding("open the MARAC list")?;
        let ids: Vec<String> = self
            .case_summaries(
                &["status != ?"],
                &[Status::Closed.as_str().to_string()],
                "risk_rank DESC, updated_at, id",
                None,
            )?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let case = self.load_record(&id, RecordKind::Case)?.case()?;
            let Some(grounds) = marac_grounds(&case) else {
                continue;
            };
            let risk = risk_of(&case);
            let referral = case
                .referrals
                .iter()
                .filter(|r| r.kind == ReferralKind::Marac)
                .min_by(|a, b| a.made_at.cmp(&b.made_at));
            out.push(MaracEntry {
                case_id: id,
                incident_reference: case.incident.reference.clone(),
                incident_date: case
                    .incident
                    .occurred_at
                    .as_deref()
                    .map(|t| t.chars().take(10).collect()),
                victim_name: case.victim.name.clone(),
                victim_dob: case.victim.dob.clone(),
                perpetrator_name: case.perpetrator.name.clone(),
                perpetrator_in_custody: case.perpetrator.in_custody,
                children_ages: case.children.iter().map(|c| c.age).collect(),
                risk_level: risk.as_ref().map(|r| r.evaluation.level),
                dash_score: risk
                    .as_ref()
                    .filter(|r| r.form == "dash")
                    .and_then(|r| r.evaluation.score),
                grounds,
                referred_at: referral.map(|r| r.made_at.clone()),
                referred_by: referral.map(|r| r.made_by.clone()).unwrap_or_default(),
                team: case.team.clone(),
                consent: case.consent.information_sharing.as_str().to_string(),
            });
        }
        self.audit(
            Action::View,
            "*",
            &format!("MARAC list viewed ({} cases)", out.len()),
        )?;
        Ok(out)
    }
}
