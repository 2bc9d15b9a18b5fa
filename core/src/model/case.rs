//! The Case record: one victim's engagement with the team, shared by police and IDVA (design §3).
//!
//! Lists hold maps with their own `id` (autosurgeon `#[key]`), so additions made on two devices
//! at once both survive a merge. Derived values (risk level, days since incident) are computed
//! by `risk_level()` and friends, never stored.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::choice::choice;
use super::common::{RiskLevel, Role, TriState};
use super::shift::Pattern;

/// The schema version written by this build. Older documents migrate forward on load.
pub const CASE_SCHEMA: u64 = 3;

choice!(
    /// How the team came to be involved (the three ways of deployment).
    Deployment { Live => "live", PostIncident => "post_incident", Consultation => "consultation" }
);

choice!(
    /// Where the case stands.
    Status { Triaged => "triaged", Active => "active", HandedOver => "handed_over", Closed => "closed" }
);

choice!(
    /// Consent to share information with partner agencies.
    ConsentAnswer { Yes => "yes", No => "no", NotAsked => "not_asked" }
);

choice!(
    /// The outcome of one visit or contact attempt.
    VisitOutcome { Engaged => "engaged", Declined => "declined", NoAnswer => "no_answer", Unsafe => "unsafe" }
);

choice!(
    /// Where a referral goes.
    ReferralKind {
        Marac => "marac", ChildrensServices => "childrens_services", Refuge => "refuge",
        Housing => "housing", SanctuaryScheme => "sanctuary_scheme",
        SubstanceMisuse => "substance_misuse", MentalHealth => "mental_health",
        DirectoryService => "directory_service", Other => "other"
    }
);

choice!(
    /// Progress of a referral.
    ReferralStatus { ToMake => "to_make", Made => "made", Accepted => "accepted", Declined => "declined" }
);

choice!(
    /// Why the safeguarding unit sent the team: high risk, or medium/standard risk with an
    /// extra vulnerability or a health need.
    TriageReason { HighRisk => "high_risk", Vulnerability => "vulnerability", HealthNeed => "health_need" }
);

choice!(
    /// A long-term safeguarding action taken after handover.
    SafeguardingActionKind {
        Alarm => "alarm", SanctuaryScheme => "sanctuary_scheme", Refuge => "refuge",
        FurtherReferral => "further_referral", Other => "other"
    }
);

choice!(
    /// An answer on a risk checklist.
    Answer { Yes => "yes", No => "no", NotKnown => "not_known" }
);

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
pub struct Case {
    #[ts(type = "number")]
    pub schema: u64,
    pub id: String,
    pub deployment: Deployment,
    pub status: Status,
    pub division: String,
    pub team: String,
    pub created_at: String,
    pub created_by: String,
    pub incident: Incident,
    pub victim: Victim,
    pub children: Vec<Child>,
    pub perpetrator: Perpetrator,
    pub risk_assessments: Vec<Assessment>,
    pub support: Support,
    pub safety_plan: Vec<SafetyPlanItem>,
    pub referrals: Vec<Referral>,
    pub consent: Consent,
    pub visits: Vec<Visit>,
    pub outcome: Outcome,
    pub notes: Vec<Note>,
    /// Set by the safeguarding unit when it sends the team to the victim.
    // a document written before schema 3 (on a server that has not migrated it) reads as empty
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub triage: Triage,
    /// The safeguarding unit's review after the patrol handed the case over.
    // a document written before schema 3 (on a server that has not migrated it) reads as empty
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub review: Review,
    /// Long-term safeguarding after handover (alarm, sanctuary scheme, refuge, referrals).
    // a document written before schema 3 (on a server that has not migrated it) reads as empty
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub safeguarding_actions: Vec<SafeguardingAction>,
}

/// The safeguarding unit's triage of an incident: why the team goes, how urgent, and when.
#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct Triage {
    pub reason: Option<TriageReason>,
    /// 1 is visited first.
    #[ts(type = "number | null")]
    pub priority: Option<u64>,
    /// The day of the visit, YYYY-MM-DD.
    pub visit_date: Option<String>,
    /// The shift that should make the visit.
    pub shift: Option<Pattern>,
    /// The extra vulnerability or health need, in the unit's words.
    pub notes: String,
    pub triaged_at: Option<String>,
    pub triaged_by: String,
}

/// The safeguarding unit has read the patrol's handover.
#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct Review {
    pub reviewed_at: Option<String>,
    pub reviewed_by: String,
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct SafeguardingAction {
    #[key]
    #[serde(default)]
    pub id: String,
    pub kind: SafeguardingActionKind,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub by: String,
}

#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct Incident {
    /// The police reference (log or crime number).
    pub reference: String,
    /// When it happened, RFC 3339.
    pub occurred_at: Option<String>,
    pub location: String,
}

#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct Victim {
    pub name: String,
    /// Date of birth, YYYY-MM-DD.
    pub dob: Option<String>,
    pub address: String,
    pub phone: String,
    pub safe_contact: SafeContact,
    pub language: String,
    pub interpreter_needed: Option<bool>,
    pub disability: String,
    pub pregnant: Option<bool>,
}

/// How the victim may be contacted without alerting the perpetrator.
#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct SafeContact {
    pub call_ok: Option<bool>,
    pub text_ok: Option<bool>,
    pub voicemail_ok: Option<bool>,
    pub safe_times: String,
    pub notes: String,
}

#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(default, deny_unknown_fields)]
pub struct Child {
    #[key]
    pub id: String,
    pub name: String,
    #[ts(type = "number | null")]
    pub age: Option<u64>,
    pub present_at_incident: Option<bool>,
}

#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct Perpetrator {
    pub name: String,
    pub relationship: String,
    pub in_custody: Option<bool>,
    pub bail_conditions: String,
}

/// One completed risk checklist. Score and level are computed from the answers and the form
/// definition it names (see `forms`), never stored.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
pub struct Assessment {
    #[key]
    pub id: String,
    pub form: String,
    #[ts(type = "number")]
    pub form_version: u64,
    pub answers: BTreeMap<String, Answer>,
    /// A level set by professional judgement (may raise a DASH level; is the DARA level).
    pub judgement_level: Option<RiskLevel>,
    pub judgement_reason: String,
    /// Police-recorded incidents in the last twelve months (escalation criterion).
    #[ts(type = "number | null")]
    pub incidents_12_months: Option<u64>,
    pub assessed_at: String,
    pub assessed_by: String,
    pub role: Role,
}

/// The six kinds of IDVA support.
#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct Support {
    pub risk_assessment: bool,
    pub safety_planning: bool,
    pub emotional_support: bool,
    pub information_signposting: bool,
    pub criminal_justice_advocacy: bool,
    pub social_welfare: bool,
}

#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(default, deny_unknown_fields)]
pub struct SafetyPlanItem {
    #[key]
    pub id: String,
    pub text: String,
    pub done: bool,
    pub added_at: String,
    pub added_by: String,
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    #[key]
    #[serde(default)]
    pub id: String,
    pub kind: ReferralKind,
    /// The directory service id, when the referral goes to a listed service.
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub service: String,
    #[serde(default = "referral_status_default")]
    pub status: ReferralStatus,
    #[serde(default = "consent_default")]
    pub consent: ConsentAnswer,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub made_at: String,
    #[serde(default)]
    pub made_by: String,
}

fn referral_status_default() -> ReferralStatus {
    ReferralStatus::ToMake
}

fn consent_default() -> ConsentAnswer {
    ConsentAnswer::NotAsked
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
pub struct Consent {
    pub information_sharing: ConsentAnswer,
    pub basis: String,
}

impl Default for Consent {
    fn default() -> Self {
        Consent {
            information_sharing: ConsentAnswer::NotAsked,
            basis: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    #[key]
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub at: String,
    pub outcome: VisitOutcome,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub by: String,
}

/// What the evaluation measures: engagement now, and self-reported engagement before.
#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
pub struct Outcome {
    pub engaged_safeguarding: TriState,
    pub engaged_investigation: TriState,
    pub previously_engaged_safeguarding: TriState,
    pub previously_engaged_investigation: TriState,
    pub repeat_victim: TriState,
}

#[derive(
    Debug, Clone, Default, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(default, deny_unknown_fields)]
pub struct Note {
    #[key]
    pub id: String,
    pub at: String,
    pub author: String,
    pub role: Option<Role>,
    pub text: String,
}

impl Case {
    /// A new, empty case as its creator starts it.
    pub fn new(id: String, deployment: Deployment, created_by: &str, created_at: &str) -> Self {
        Case {
            schema: CASE_SCHEMA,
            id,
            deployment,
            status: Status::Active,
            division: String::new(),
            team: String::new(),
            created_at: created_at.to_string(),
            created_by: created_by.to_string(),
            incident: Incident::default(),
            victim: Victim::default(),
            children: vec![],
            perpetrator: Perpetrator::default(),
            risk_assessments: vec![],
            support: Support::default(),
            safety_plan: vec![],
            referrals: vec![],
            consent: Consent::default(),
            visits: vec![],
            outcome: Outcome::default(),
            notes: vec![],
            triage: Triage::default(),
            review: Review::default(),
            safeguarding_actions: vec![],
        }
    }

    /// The most recent assessment, by time and then id so every replica picks the same one.
    pub fn latest_assessment(&self) -> Option<&Assessment> {
        self.risk_assessments
            .iter()
            .max_by(|a, b| (&a.assessed_at, &a.id).cmp(&(&b.assessed_at, &b.id)))
    }
}
