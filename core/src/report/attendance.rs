//! One attendance as the reports see it: the non-identifying facts of one case, derived from
//! the case and nothing else. The server keeps one such row per case, rewritten whenever the
//! case changes, so reports never open a document.
//!
//! The row holds no name, address, phone number, date of birth or free text. The victim is
//! represented only by a keyed digest (see `pseudonym`), used to count repeat victims.
//! A case is an attendance once its status is no longer `triaged` (`Attendance::counts`).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use super::pseudonym::{name_lookup, reference_lookup, victim_digest};
use crate::forms;
use crate::model::{
    Case, ConsentAnswer, Deployment, ReferralKind, RiskLevel, Role, Status, TriState, VisitOutcome,
};

/// The version of the derivation below. Rows written by an older version are derived again
/// from their documents when the server opens its store.
pub const PROJECTION_VERSION: i64 = 2;

/// The six kinds of IDVA support given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportGiven {
    pub risk_assessment: bool,
    pub safety_planning: bool,
    pub emotional_support: bool,
    pub information_signposting: bool,
    pub criminal_justice_advocacy: bool,
    pub social_welfare: bool,
}

/// The evaluation's outcome measures, as recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub engaged_safeguarding: TriState,
    pub engaged_investigation: TriState,
    pub previously_engaged_safeguarding: TriState,
    pub previously_engaged_investigation: TriState,
    /// Self-reported.
    pub repeat_victim: TriState,
}

/// The reporting row of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attendance {
    /// The case's id: server-internal, never exported (exports carry a keyed pseudonym).
    pub case_id: String,
    /// HMAC of the victim's normalised identity; `None` when the victim has no name.
    pub victim_digest: Option<String>,
    pub division: String,
    pub team: String,
    pub deployment: Deployment,
    pub status: Status,
    /// YYYY-MM-DD: the date of the incident, else of the case's creation (UTC dates, as the
    /// store keeps times in UTC). `None` only when neither time can be read.
    pub incident_date: Option<String>,
    /// The current risk level (from the latest assessment); `None` is unassessed.
    pub risk_level: Option<RiskLevel>,
    /// The yes count of the latest DASH checklist.
    pub dash_score: Option<u64>,
    /// The latest assessment meets a MARAC criterion (visible high risk, professional
    /// judgement, escalation).
    pub marac_threshold_met: bool,
    /// A referral of kind `marac` was recorded (in any status).
    pub marac_referred: bool,
    /// Hours, to one decimal, from the incident to the earliest engaged visit or IDVA
    /// assessment at or after it; `None` when the incident time or any such contact is unknown.
    pub hours_to_first_idva_contact: Option<f64>,
    pub visits: u64,
    pub visits_engaged: u64,
    pub support: SupportGiven,
    /// Referrals recorded, by kind (every kind present, zero included).
    pub referrals: BTreeMap<String, u64>,
    pub consent: ConsentAnswer,
    pub outcome: Outcomes,
    pub children: u64,
    pub children_present: u64,
    /// The digests the case can be found by when closed (`pseudonym::reference_lookup`,
    /// `name_lookup`): kept in the server's lookup table, never in the row's facts.
    #[serde(skip)]
    pub lookup: Vec<String>,
}

fn parse_time(t: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t.trim()).ok()
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl Attendance {
    /// Derives the row of `case`; `identity_key` keys the victim digest.
    pub fn of(case: &Case, identity_key: &[u8]) -> Attendance {
        let incident = case.incident.occurred_at.as_deref().and_then(parse_time);
        let incident_date = incident
            .or_else(|| parse_time(&case.created_at))
            .map(|t| date_text(t.date_naive()));
        let current = case
            .latest_assessment()
            .and_then(|a| forms::evaluate_stored(a).ok());
        let dash_score = case
            .risk_assessments
            .iter()
            .filter(|a| a.form == "dash")
            .max_by(|a, b| (&a.assessed_at, &a.id).cmp(&(&b.assessed_at, &b.id)))
            .and_then(|a| forms::evaluate_stored(a).ok())
            .and_then(|e| e.score);
        let mut referrals: BTreeMap<String, u64> = ReferralKind::ALL
            .iter()
            .map(|k| (k.as_str().to_string(), 0))
            .collect();
        for r in &case.referrals {
            *referrals.entry(r.kind.as_str().to_string()).or_default() += 1;
        }
        let s = &case.support;
        let o = &case.outcome;
        Attendance {
            case_id: case.id.clone(),
            victim_digest: victim_digest(identity_key, &case.victim),
            division: case.division.clone(),
            team: case.team.clone(),
            deployment: case.deployment,
            status: case.status,
            incident_date,
            risk_level: current.as_ref().map(|e| e.level),
            dash_score,
            marac_threshold_met: current.as_ref().is_some_and(|e| e.meets_marac()),
            marac_referred: case.referrals.iter().any(|r| r.kind == ReferralKind::Marac),
            hours_to_first_idva_contact: incident.and_then(|t| hours_to_first_contact(case, t)),
            visits: case.visits.len() as u64,
            visits_engaged: case
                .visits
                .iter()
                .filter(|v| v.outcome == VisitOutcome::Engaged)
                .count() as u64,
            support: SupportGiven {
                risk_assessment: s.risk_assessment,
                safety_planning: s.safety_planning,
                emotional_support: s.emotional_support,
                information_signposting: s.information_signposting,
                criminal_justice_advocacy: s.criminal_justice_advocacy,
                social_welfare: s.social_welfare,
            },
            referrals,
            consent: case.consent.information_sharing,
            outcome: Outcomes {
                engaged_safeguarding: o.engaged_safeguarding,
                engaged_investigation: o.engaged_investigation,
                previously_engaged_safeguarding: o.previously_engaged_safeguarding,
                previously_engaged_investigation: o.previously_engaged_investigation,
                repeat_victim: o.repeat_victim,
            },
            children: case.children.len() as u64,
            children_present: case
                .children
                .iter()
                .filter(|c| c.present_at_incident == Some(true))
                .count() as u64,
            lookup: reference_lookup(identity_key, &case.incident.reference)
                .into_iter()
                .chain(name_lookup(identity_key, &case.victim.name))
                .collect(),
        }
    }

    /// Whether the case counts as an attendance (it has left triage).
    pub fn counts(&self) -> bool {
        self.status != Status::Triaged
    }

    /// Referrals of one kind.
    pub fn referrals_of(&self, kind: ReferralKind) -> u64 {
        self.referrals.get(kind.as_str()).copied().unwrap_or(0)
    }
}

/// Hours from `incident` to the earliest engaged visit or IDVA assessment at or after it.
fn hours_to_first_contact(case: &Case, incident: DateTime<FixedOffset>) -> Option<f64> {
    let visits = case
        .visits
        .iter()
        .filter(|v| v.outcome == VisitOutcome::Engaged)
        .filter_map(|v| parse_time(&v.at));
    let assessments = case
        .risk_assessments
        .iter()
        .filter(|a| a.role == Role::Idva)
        .filter_map(|a| parse_time(&a.assessed_at));
    let first = visits.chain(assessments).filter(|t| *t >= incident).min()?;
    let seconds = (first - incident).num_seconds() as f64;
    Some((seconds / 360.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Answer, Assessment, Child, Referral, ReferralStatus, Visit};

    const KEY: [u8; 32] = [9u8; 32];

    fn case() -> Case {
        let mut c = Case::new(
            "case-1".into(),
            Deployment::PostIncident,
            "pc.ada.fictional",
            "2026-03-05T08:00:00.000Z",
        );
        c.division = "west".into();
        c.team = "t1".into();
        c.victim.name = "Jane Fictional".into();
        c.victim.dob = Some("1990-02-03".into());
        c.victim.address = "1 Example Street".into();
        c.victim.phone = "07700 900123".into();
        c
    }

    fn visit(at: &str, outcome: VisitOutcome) -> Visit {
        Visit {
            id: at.into(),
            at: at.into(),
            outcome,
            notes: "left a card with Jane".into(),
            by: "idva.bea.fictional".into(),
        }
    }

    fn dash(yes: usize, at: &str, role: Role) -> Assessment {
        let def = forms::latest("dash").unwrap();
        Assessment {
            id: format!("dash-{at}"),
            form: "dash".into(),
            form_version: def.version,
            answers: def
                .question_ids()
                .enumerate()
                .map(|(i, q)| {
                    (
                        q.to_string(),
                        if i < yes { Answer::Yes } else { Answer::No },
                    )
                })
                .collect(),
            judgement_level: None,
            judgement_reason: String::new(),
            incidents_12_months: None,
            assessed_at: at.into(),
            assessed_by: "someone".into(),
            role,
        }
    }

    fn dara(level: RiskLevel, at: &str) -> Assessment {
        Assessment {
            id: format!("dara-{at}"),
            form: "dara".into(),
            form_version: forms::latest("dara").unwrap().version,
            answers: BTreeMap::new(),
            judgement_level: Some(level),
            judgement_reason: String::new(),
            incidents_12_months: None,
            assessed_at: at.into(),
            assessed_by: "pc.ada.fictional".into(),
            role: Role::Officer,
        }
    }

    fn referral(kind: ReferralKind) -> Referral {
        Referral {
            id: format!("{kind}"),
            kind,
            service_id: None,
            service: "A Service".into(),
            status: ReferralStatus::ToMake,
            consent: ConsentAnswer::Yes,
            notes: "called Amy".into(),
            made_at: String::new(),
            made_by: String::new(),
        }
    }

    #[test]
    fn an_empty_case_is_unassessed_with_the_creation_date() {
        let mut c = case();
        c.victim.name = "  ".into();
        let a = Attendance::of(&c, &KEY);
        assert_eq!(a.incident_date.as_deref(), Some("2026-03-05"));
        assert_eq!(a.victim_digest, None);
        assert_eq!((a.risk_level, a.dash_score), (None, None));
        assert!(!a.marac_threshold_met && !a.marac_referred);
        assert_eq!(a.hours_to_first_idva_contact, None);
        assert_eq!((a.visits, a.visits_engaged, a.children), (0, 0, 0));
        assert_eq!(a.referrals.len(), ReferralKind::ALL.len());
        assert!(a.referrals.values().all(|n| *n == 0));
        assert_eq!(a.consent, ConsentAnswer::NotAsked);
        assert_eq!(a.outcome, Outcomes::default());
        assert!(a.counts());
    }

    #[test]
    fn a_full_case_derives_every_field() {
        let mut c = case();
        c.incident.occurred_at = Some("2026-03-04T22:30:00Z".into());
        c.visits = vec![
            visit("2026-03-04T20:00:00Z", VisitOutcome::Engaged), // before the incident
            visit("2026-03-05T09:00:00Z", VisitOutcome::NoAnswer),
            visit("2026-03-05T13:15:00Z", VisitOutcome::Engaged),
            visit("2026-03-06T10:00:00Z", VisitOutcome::Engaged),
        ];
        // an IDVA's DASH earlier than the engaged visit, an officer's DARA earlier still
        c.risk_assessments = vec![
            dara(RiskLevel::Medium, "2026-03-05T01:00:00Z"),
            dash(15, "2026-03-05T11:30:00Z", Role::Idva),
            dash(5, "2026-03-06T09:00:00Z", Role::Officer),
        ];
        c.support.safety_planning = true;
        c.support.social_welfare = true;
        c.referrals = vec![
            referral(ReferralKind::Marac),
            referral(ReferralKind::Housing),
            referral(ReferralKind::Housing),
        ];
        c.consent.information_sharing = ConsentAnswer::Yes;
        c.outcome.engaged_safeguarding = TriState::Yes;
        c.outcome.previously_engaged_investigation = TriState::No;
        c.children = vec![
            Child {
                id: "a".into(),
                name: "Amy Example".into(),
                age: Some(4),
                present_at_incident: Some(true),
            },
            Child {
                id: "b".into(),
                name: "Ben Example".into(),
                age: None,
                present_at_incident: None,
            },
        ];
        c.status = Status::HandedOver;
        let a = Attendance::of(&c, &KEY);
        assert_eq!(a.incident_date.as_deref(), Some("2026-03-04"));
        // latest assessment is the officer's DASH of 5: standard, no MARAC criterion
        assert_eq!(a.risk_level, Some(RiskLevel::Standard));
        assert_eq!(a.dash_score, Some(5));
        assert!(!a.marac_threshold_met);
        assert!(a.marac_referred);
        // the IDVA's DASH at 11:30 is 13 hours after 22:30, before the 13:15 visit
        assert_eq!(a.hours_to_first_idva_contact, Some(13.0));
        assert_eq!((a.visits, a.visits_engaged), (4, 3));
        assert!(a.support.safety_planning && a.support.social_welfare);
        assert!(!a.support.risk_assessment && !a.support.emotional_support);
        assert_eq!(a.referrals_of(ReferralKind::Housing), 2);
        assert_eq!(a.referrals_of(ReferralKind::Marac), 1);
        assert_eq!(a.referrals_of(ReferralKind::Refuge), 0);
        assert_eq!(a.consent, ConsentAnswer::Yes);
        assert_eq!(a.outcome.engaged_safeguarding, TriState::Yes);
        assert_eq!(a.outcome.previously_engaged_investigation, TriState::No);
        assert_eq!(a.outcome.engaged_investigation, TriState::Unknown);
        assert_eq!((a.children, a.children_present), (2, 1));
        assert_eq!(a.status, Status::HandedOver);

        // the latest assessment decides the current level and the MARAC threshold
        c.risk_assessments
            .push(dash(14, "2026-03-07T09:00:00Z", Role::Idva));
        let a = Attendance::of(&c, &KEY);
        assert_eq!(a.risk_level, Some(RiskLevel::High));
        assert_eq!(a.dash_score, Some(14));
        assert!(a.marac_threshold_met);
    }

    #[test]
    fn first_contact_is_rounded_to_a_tenth_of_an_hour_and_needs_an_incident_time() {
        let mut c = case();
        c.visits = vec![visit("2026-03-05T10:20:00Z", VisitOutcome::Engaged)];
        assert_eq!(Attendance::of(&c, &KEY).hours_to_first_idva_contact, None);
        c.incident.occurred_at = Some("2026-03-05T08:00:00+01:00".into());
        // 07:00Z to 10:20Z is 3 h 20 min
        assert_eq!(
            Attendance::of(&c, &KEY).hours_to_first_idva_contact,
            Some(3.3)
        );
        c.visits = vec![visit("2026-03-05T06:00:00Z", VisitOutcome::Engaged)];
        assert_eq!(Attendance::of(&c, &KEY).hours_to_first_idva_contact, None);
    }

    #[test]
    fn the_row_holds_no_identifying_text() {
        let mut c = case();
        c.incident.occurred_at = Some("2026-03-04T22:30:00Z".into());
        c.incident.reference = "WE-000123-FICT".into();
        c.incident.location = "2 Sample Road".into();
        c.perpetrator.name = "John Placeholder".into();
        c.visits = vec![visit("2026-03-05T09:00:00Z", VisitOutcome::Engaged)];
        c.referrals = vec![referral(ReferralKind::Refuge)];
        let json = serde_json::to_string(&Attendance::of(&c, &KEY)).unwrap();
        for needle in [
            "Jane",
            "jane",
            "1990",
            "Example Street",
            "07700",
            "WE-000123",
            "Sample Road",
            "John",
            "card",
            "Amy",
            "A Service",
            "pc.ada",
            "idva.bea",
        ] {
            assert!(!json.contains(needle), "{needle} leaked into {json}");
        }
        let back: Attendance = serde_json::from_str(&json).unwrap();
        let row = Attendance::of(&c, &KEY);
        // the lookup digests go to the lookup table, not into the facts
        assert_eq!(row.lookup.len(), 2);
        assert!(row.lookup.iter().all(|d| !json.contains(d.as_str())));
        assert_eq!(
            back,
            Attendance {
                lookup: vec![],
                ..row
            }
        );
    }

    #[test]
    fn a_triaged_case_is_not_an_attendance() {
        let mut c = case();
        c.status = Status::Triaged;
        assert!(!Attendance::of(&c, &KEY).counts());
    }
}
