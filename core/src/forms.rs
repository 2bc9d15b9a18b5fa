//! Risk checklists as data (design §6): versioned form definitions shipped in `core/data/forms`
//! or published by an administrator and delivered on sync (`validate` is the publish check),
//! and the scoring rules that turn answers into a level. Nothing about a form's questions or
//! thresholds is hard-coded here; a new version is a new data file.
//!
//! A definition is immutable once published: (id, version) names one definition everywhere,
//! so an assessment is always scored by the version it was answered with (`evaluate_stored`),
//! whichever versions came after. `find` knows the shipped versions and every published one
//! this process has read (`register`); which version a *new* assessment uses is the store's
//! choice (the newest it holds), so a device that missed an update goes on with its own.
//!
//! DASH: the count of "yes" answers gives the level; 14 or more meets the MARAC threshold;
//! professional judgement may raise (never lower) the level; three or more police-recorded
//! incidents in twelve months is the escalation criterion. DARA: the officer's judgement sets the
//! level, informed by the answers.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Answer, Assessment, RiskLevel, Role};
use crate::record::Author;

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct FormDef {
    pub id: String,
    #[ts(type = "number")]
    pub version: u64,
    pub title: String,
    pub description: String,
    pub answers: Vec<String>,
    pub groups: Vec<QuestionGroup>,
    pub scoring: Scoring,
}

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct QuestionGroup {
    pub id: String,
    pub title: String,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct Question {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub help: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    YesCount,
    Judgement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum JudgementRule {
    MayRaise,
    Required,
}

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct LevelRule {
    pub level: RiskLevel,
    #[ts(type = "number | null")]
    pub min_score: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct Scoring {
    pub method: Method,
    pub levels: Vec<LevelRule>,
    #[ts(type = "number | null")]
    pub marac_min_score: Option<u64>,
    pub judgement: JudgementRule,
    #[ts(type = "number")]
    pub escalation_incidents_12_months: u64,
}

/// What a completed checklist comes to. Always computed, never stored.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Evaluation {
    #[ts(type = "number | null")]
    pub score: Option<u64>,
    /// The level the answers alone give (none for judgement-only forms).
    pub computed_level: Option<RiskLevel>,
    /// The level that stands, after professional judgement.
    pub level: RiskLevel,
    pub raised_by_judgement: bool,
    /// Why the case meets the MARAC criteria, if it does: `visible_high_risk`,
    /// `professional_judgement`, `escalation`.
    pub marac_criteria: Vec<&'static str>,
}

impl Evaluation {
    pub fn meets_marac(&self) -> bool {
        !self.marac_criteria.is_empty()
    }
}

const SHIPPED: &[&str] = &[
    include_str!("../data/forms/dash-v1.json"),
    include_str!("../data/forms/dara-v1.json"),
];

/// The form definitions shipped with this build.
pub fn shipped() -> &'static [FormDef] {
    static FORMS: OnceLock<Vec<FormDef>> = OnceLock::new();
    FORMS.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|s| serde_json::from_str(s).expect("shipped form definitions are valid (tested)"))
            .collect()
    })
}

/// The newest shipped version of a form.
pub fn latest(id: &str) -> Result<&'static FormDef> {
    shipped()
        .iter()
        .filter(|f| f.id == id)
        .max_by_key(|f| f.version)
        .ok_or_else(|| Error::UnknownForm(id.to_string()))
}

/// Published definitions this process has read (from a device store or the server's), each
/// leaked once: they are few and live as long as the process.
fn published() -> &'static std::sync::RwLock<Vec<&'static FormDef>> {
    static PUBLISHED: OnceLock<std::sync::RwLock<Vec<&'static FormDef>>> = OnceLock::new();
    PUBLISHED.get_or_init(Default::default)
}

/// Makes a published definition known to `find`. One already known (shipped or registered)
/// is left as it is: the publish check refuses a second definition under the same version.
pub fn register(def: &FormDef) {
    if shipped()
        .iter()
        .any(|f| f.id == def.id && f.version == def.version)
    {
        return;
    }
    let mut all = published().write().unwrap_or_else(|p| p.into_inner());
    if !all
        .iter()
        .any(|f| f.id == def.id && f.version == def.version)
    {
        all.push(Box::leak(Box::new(def.clone())));
    }
}

/// A specific version of a form: shipped, or published and registered.
pub fn find(id: &str, version: u64) -> Result<&'static FormDef> {
    if let Some(f) = shipped()
        .iter()
        .find(|f| f.id == id && f.version == version)
    {
        return Ok(f);
    }
    published()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|f| f.id == id && f.version == version)
        .copied()
        .ok_or_else(|| Error::UnknownForm(format!("{id} v{version}")))
}

/// The newest of the shipped definitions of `id` and `held` (a store's published ones).
pub fn newest<'a>(id: &str, held: &'a [FormDef]) -> Result<&'a FormDef> {
    shipped()
        .iter()
        .chain(held.iter())
        .filter(|f| f.id == id)
        .max_by_key(|f| f.version)
        .ok_or_else(|| Error::UnknownForm(id.to_string()))
}

/// The newest version of every form, of the shipped ones and `held`.
pub fn newest_of_each(held: &[FormDef]) -> Vec<FormDef> {
    let mut ids: Vec<&str> = shipped()
        .iter()
        .chain(held.iter())
        .map(|f| f.id.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    ids.iter()
        .filter_map(|id| newest(id, held).ok().cloned())
        .collect()
}

/// The publish check: `def` must be a whole, scorable, consistent definition of a known form,
/// newer than every version in `known` (shipped and published). The error names the field.
pub fn validate(def: &FormDef, known: &[FormDef]) -> Result<()> {
    let bad = |path: &str, why: &str| Err(Error::invalid(path, why));
    if !matches!(def.id.as_str(), "dash" | "dara") {
        return bad(
            "id",
            "must be dash or dara (who may complete a form is set per form)",
        );
    }
    if def.version == 0 {
        return bad("version", "must be 1 or more");
    }
    let newest = shipped()
        .iter()
        .chain(known.iter())
        .filter(|f| f.id == def.id)
        .map(|f| f.version)
        .max()
        .unwrap_or(0);
    if def.version <= newest {
        return Err(Error::invalid(
            "version",
            format!(
                "must be above {newest}, the newest {} already published",
                def.id
            ),
        ));
    }
    if def.title.trim().is_empty() {
        return bad("title", "is empty");
    }
    let mut answers = def.answers.clone();
    answers.sort();
    if answers != ["no", "not_known", "yes"] {
        return bad("answers", "must be yes, no and not_known");
    }
    if def.groups.is_empty() {
        return bad("groups", "has no questions");
    }
    let mut ids = std::collections::BTreeSet::new();
    for (g, group) in def.groups.iter().enumerate() {
        if group.questions.is_empty() {
            return Err(Error::invalid(
                &format!("groups[{g}].questions"),
                "is empty",
            ));
        }
        for (n, q) in group.questions.iter().enumerate() {
            let at = format!("groups[{g}].questions[{n}]");
            if q.id.trim().is_empty() || q.text.trim().is_empty() {
                return Err(Error::invalid(&at, "needs an id and a text"));
            }
            if !ids.insert(q.id.as_str()) {
                return Err(Error::invalid(
                    &format!("{at}.id"),
                    format!("`{}` is used twice", q.id),
                ));
            }
        }
    }
    let count = ids.len() as u64;
    let s = &def.scoring;
    let mut levels: Vec<RiskLevel> = s.levels.iter().map(|l| l.level).collect();
    levels.sort();
    levels.dedup();
    if levels.len() != s.levels.len() || levels.len() != 3 {
        return bad(
            "scoring.levels",
            "must give high, medium and standard once each",
        );
    }
    match s.method {
        Method::YesCount => {
            let mut scores = Vec::new();
            for (i, l) in s.levels.iter().enumerate() {
                match l.min_score {
                    Some(m) if m <= count => scores.push((l.level, m)),
                    Some(m) => {
                        return Err(Error::invalid(
                            &format!("scoring.levels[{i}].min_score"),
                            format!("{m} is more than the {count} questions"),
                        ))
                    }
                    None => {
                        return Err(Error::invalid(
                            &format!("scoring.levels[{i}].min_score"),
                            "is needed to count yes answers",
                        ))
                    }
                }
            }
            scores.sort();
            if !scores.windows(2).all(|w| w[0].1 < w[1].1) {
                return bad(
                    "scoring.levels",
                    "a higher level must need more yes answers than a lower one",
                );
            }
            if scores[0].1 != 0 {
                return bad("scoring.levels", "the standard level must start at 0");
            }
            match s.marac_min_score {
                Some(m) if m <= count => {}
                Some(m) => {
                    return Err(Error::invalid(
                        "scoring.marac_min_score",
                        format!("{m} is more than the {count} questions"),
                    ))
                }
                None => return bad("scoring.marac_min_score", "is needed to count yes answers"),
            }
            if s.judgement != JudgementRule::MayRaise {
                return bad(
                    "scoring.judgement",
                    "must be may_raise when yes answers are counted",
                );
            }
        }
        Method::Judgement => {
            if s.judgement != JudgementRule::Required {
                return bad(
                    "scoring.judgement",
                    "must be required when judgement sets the level",
                );
            }
            if s.levels.iter().any(|l| l.min_score.is_some()) || s.marac_min_score.is_some() {
                return bad("scoring", "a judgement form has no scores");
            }
        }
    }
    if s.escalation_incidents_12_months == 0 {
        return bad(
            "scoring.escalation_incidents_12_months",
            "must be 1 or more",
        );
    }
    Ok(())
}

impl FormDef {
    pub fn question_ids(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .flat_map(|g| g.questions.iter().map(|q| q.id.as_str()))
    }

    /// Scores answers against this definition.
    pub fn evaluate(
        &self,
        answers: &BTreeMap<String, Answer>,
        judgement: Option<RiskLevel>,
        incidents_12_months: Option<u64>,
    ) -> Result<Evaluation> {
        let s = &self.scoring;
        let (score, computed) = match s.method {
            Method::YesCount => {
                let score = answers.values().filter(|a| **a == Answer::Yes).count() as u64;
                let level = s
                    .levels
                    .iter()
                    .filter(|r| r.min_score.is_some_and(|m| score >= m))
                    .map(|r| r.level)
                    .max()
                    .unwrap_or(RiskLevel::Standard);
                (Some(score), Some(level))
            }
            Method::Judgement => (None, None),
        };
        let level = match (s.judgement, computed, judgement) {
            (JudgementRule::Required, _, None) => {
                return Err(Error::InvalidInput(format!(
                    "the {} assessment needs the officer's level (high, medium or standard)",
                    self.id.to_uppercase()
                )))
            }
            (JudgementRule::Required, _, Some(j)) => j,
            (JudgementRule::MayRaise, Some(c), Some(j)) if j < c => {
                return Err(Error::InvalidInput(format!(
                    "professional judgement may raise the {} level but not lower it below {c}",
                    self.id.to_uppercase()
                )))
            }
            (JudgementRule::MayRaise, Some(c), j) => j.unwrap_or(c).max(c),
            (JudgementRule::MayRaise, None, j) => j.unwrap_or(RiskLevel::Standard),
        };
        let raised = matches!((computed, judgement), (Some(c), Some(j)) if j > c);
        let mut marac = Vec::new();
        if let (Some(score), Some(min)) = (score, s.marac_min_score) {
            if score >= min {
                marac.push("visible_high_risk");
            }
        }
        if level == RiskLevel::High && (raised || s.method == Method::Judgement) {
            marac.push("professional_judgement");
        }
        if incidents_12_months.is_some_and(|n| n >= s.escalation_incidents_12_months) {
            marac.push("escalation");
        }
        Ok(Evaluation {
            score,
            computed_level: computed,
            level,
            raised_by_judgement: raised,
            marac_criteria: marac,
        })
    }
}

/// What a user submits for an assessment.
#[derive(Debug, Clone, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct AssessmentInput {
    pub answers: BTreeMap<String, String>,
    #[serde(default)]
    pub judgement_level: Option<String>,
    #[serde(default)]
    pub judgement_reason: Option<String>,
    #[serde(default)]
    #[ts(type = "number | null")]
    pub incidents_12_months: Option<u64>,
}

impl AssessmentInput {
    /// Accepts `{"answers": {...}, "judgement_level": ..., ...}` or a bare map of answers.
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::InvalidInput("the answers must be a JSON object".into()))?;
        if obj.contains_key("answers") {
            serde_json::from_value(v.clone()).map_err(|e| {
                Error::InvalidInput(format!(
                    "the assessment is not valid: {}",
                    crate::record::edit::describe_json_error(&e)
                ))
            })
        } else {
            let mut answers = BTreeMap::new();
            for (k, a) in obj {
                let a = a.as_str().ok_or_else(|| {
                    Error::invalid(k, "expected \"yes\", \"no\" or \"not_known\"")
                })?;
                answers.insert(k.clone(), a.to_string());
            }
            Ok(AssessmentInput {
                answers,
                ..Default::default()
            })
        }
    }
}

/// Answers, judgement and reason of an input, checked against `def`.
struct Parsed {
    answers: BTreeMap<String, Answer>,
    judgement: Option<RiskLevel>,
    reason: String,
}

fn parse_input(def: &FormDef, input: &AssessmentInput) -> Result<Parsed> {
    let form_id = def.id.as_str();
    let known: Vec<&str> = def.question_ids().collect();
    let mut answers = BTreeMap::new();
    for (q, a) in &input.answers {
        if !known.contains(&q.as_str()) {
            return Err(Error::InvalidInput(format!(
                "`{q}` is not a question of the {} form",
                form_id.to_uppercase()
            )));
        }
        let a = Answer::parse(a).map_err(|e| Error::invalid(q, e))?;
        answers.insert(q.clone(), a);
    }
    let judgement = input
        .judgement_level
        .as_deref()
        .filter(|l| !l.is_empty())
        .map(|l| RiskLevel::parse(l).map_err(|e| Error::invalid("judgement_level", e)))
        .transpose()?;
    let reason = input.judgement_reason.clone().unwrap_or_default();
    Ok(Parsed {
        answers,
        judgement,
        reason,
    })
}

/// Scores parsed input; a level raised by judgement needs its reason.
fn evaluate_parsed(def: &FormDef, p: &Parsed, incidents: Option<u64>) -> Result<Evaluation> {
    let eval = def.evaluate(&p.answers, p.judgement, incidents)?;
    if eval.raised_by_judgement && p.reason.trim().is_empty() {
        return Err(Error::InvalidInput(
            "raising the level by professional judgement needs a reason".into(),
        ));
    }
    Ok(eval)
}

/// Validates input against `def` (the newest version of the form the store holds) and builds
/// the assessment to store, which names that version.
pub fn build_assessment(
    def: &FormDef,
    input: &AssessmentInput,
    author: &Author,
    now: &str,
) -> Result<(Assessment, Evaluation)> {
    let form_id = def.id.as_str();
    if form_id == "dash" && !matches!(author.role, Role::Idva | Role::Officer | Role::Safeguarding)
    {
        return Err(Error::Forbidden {
            role: author.role.to_string(),
            action: "complete a DASH assessment".into(),
        });
    }
    if form_id == "dara" && !matches!(author.role, Role::Officer | Role::Safeguarding) {
        return Err(Error::Forbidden {
            role: author.role.to_string(),
            action: "complete a DARA assessment".into(),
        });
    }
    let parsed = parse_input(def, input)?;
    let eval = evaluate_parsed(def, &parsed, input.incidents_12_months)?;
    let assessment = Assessment {
        id: crate::record::edit::new_id(),
        form: def.id.clone(),
        form_version: def.version,
        answers: parsed.answers,
        judgement_level: parsed.judgement,
        judgement_reason: parsed.reason,
        incidents_12_months: input.incidents_12_months,
        assessed_at: now.to_string(),
        assessed_by: author.user.clone(),
        role: author.role,
    };
    Ok((assessment, eval))
}

/// A checklist scored while it is being answered: the same rules as [`build_assessment`] and
/// [`FormDef::evaluate`] (the app asks for it on every answer; it is never stored), with what
/// would stop it being saved in plain words instead of an error, and the questions not yet
/// answered (which count as "no" toward the MARAC threshold).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct AssessmentPreview {
    /// Yes-count, or none for judgement-only forms.
    #[ts(type = "number | null")]
    pub score: Option<u64>,
    #[ts(type = "number")]
    pub answered: u64,
    #[ts(type = "number")]
    pub total: u64,
    /// The questions without an answer, in the form's order.
    pub unanswered: Vec<String>,
    /// The level the answers alone give.
    pub computed_level: Option<RiskLevel>,
    /// The level that would stand; none while the form needs a judgement not yet given.
    pub level: Option<RiskLevel>,
    pub raised_by_judgement: bool,
    pub marac_criteria: Vec<String>,
    /// Why it cannot be saved yet, in plain words ("" when it can).
    pub problem: String,
}

/// An input problem as a sentence for the form ("The DARA assessment needs ...").
fn plain(e: &Error) -> String {
    match e {
        Error::InvalidInput(m) => {
            let mut c = m.chars();
            c.next()
                .map(|f| format!("{}{}.", f.to_uppercase(), c.as_str()))
                .unwrap_or_default()
        }
        other => other.to_string(),
    }
}

/// Scores `input` against `def` as [`build_assessment`] would, without saving anything.
pub fn preview(def: &FormDef, input: &AssessmentInput) -> AssessmentPreview {
    let total = def.question_ids().count() as u64;
    let unanswered = |answered: &BTreeMap<String, Answer>| -> Vec<String> {
        def.question_ids()
            .filter(|q| !answered.contains_key(*q))
            .map(str::to_string)
            .collect()
    };
    let parsed = match parse_input(def, input) {
        Ok(p) => p,
        Err(e) => {
            return AssessmentPreview {
                score: None,
                answered: 0,
                total,
                unanswered: unanswered(&BTreeMap::new()),
                computed_level: None,
                level: None,
                raised_by_judgement: false,
                marac_criteria: Vec::new(),
                problem: plain(&e),
            }
        }
    };
    let base = AssessmentPreview {
        score: None,
        answered: parsed.answers.len() as u64,
        total,
        unanswered: unanswered(&parsed.answers),
        computed_level: None,
        level: None,
        raised_by_judgement: false,
        marac_criteria: Vec::new(),
        problem: String::new(),
    };
    let incidents = input.incidents_12_months;
    match evaluate_parsed(def, &parsed, incidents) {
        Ok(e) => AssessmentPreview {
            score: e.score,
            computed_level: e.computed_level,
            level: Some(e.level),
            raised_by_judgement: e.raised_by_judgement,
            marac_criteria: e.marac_criteria.iter().map(|c| c.to_string()).collect(),
            ..base
        },
        Err(problem) => {
            // what the answers alone give, so the score stays live while the judgement is
            // missing or too low
            let alone = def.evaluate(&parsed.answers, None, incidents).ok();
            let alone_level = alone.as_ref().map(|e| e.level);
            let raised = matches!((alone_level, parsed.judgement), (Some(c), Some(j)) if j > c);
            let level = match (
                alone.as_ref().and_then(|e| e.computed_level),
                parsed.judgement,
            ) {
                (Some(c), Some(j)) => Some(c.max(j)),
                (Some(c), None) => Some(c),
                (None, _) => None,
            };
            AssessmentPreview {
                score: alone.as_ref().and_then(|e| e.score),
                computed_level: alone.as_ref().and_then(|e| e.computed_level),
                level,
                raised_by_judgement: raised,
                marac_criteria: alone
                    .map(|e| e.marac_criteria.iter().map(|c| c.to_string()).collect())
                    .unwrap_or_default(),
                problem: plain(&problem),
                ..base
            }
        }
    }
}

/// Scores a stored assessment against the form version it was made with.
pub fn evaluate_stored(a: &Assessment) -> Result<Evaluation> {
    find(&a.form, a.form_version)?.evaluate(&a.answers, a.judgement_level, a.incidents_12_months)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dash_answers(yes: usize) -> BTreeMap<String, Answer> {
        latest("dash")
            .unwrap()
            .question_ids()
            .enumerate()
            .map(|(i, q)| {
                (
                    q.to_string(),
                    if i < yes { Answer::Yes } else { Answer::No },
                )
            })
            .collect()
    }

    #[test]
    fn shipped_forms_parse_and_have_unique_question_ids() {
        for f in shipped() {
            let mut ids: Vec<_> = f.question_ids().collect();
            let n = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(n, ids.len(), "{}", f.id);
            assert!(n >= 15, "{}", f.id);
        }
        assert_eq!(latest("dash").unwrap().question_ids().count(), 27);
    }

    #[test]
    fn dash_thresholds() {
        let d = latest("dash").unwrap();
        let e = d.evaluate(&dash_answers(14), None, None).unwrap();
        assert_eq!((e.score, e.level), (Some(14), RiskLevel::High));
        assert_eq!(e.marac_criteria, vec!["visible_high_risk"]);
        let e = d.evaluate(&dash_answers(13), None, None).unwrap();
        assert_eq!(e.level, RiskLevel::Medium);
        assert!(!e.meets_marac());
        let e = d.evaluate(&dash_answers(3), None, None).unwrap();
        assert_eq!(e.level, RiskLevel::Standard);
        let e = d.evaluate(&dash_answers(3), None, Some(3)).unwrap();
        assert_eq!(e.marac_criteria, vec!["escalation"]);
        let e = d
            .evaluate(&dash_answers(5), Some(RiskLevel::High), None)
            .unwrap();
        assert!(e.raised_by_judgement);
        assert_eq!(e.marac_criteria, vec!["professional_judgement"]);
        assert!(d
            .evaluate(&dash_answers(14), Some(RiskLevel::Medium), None)
            .is_err());
    }

    #[test]
    fn dara_needs_the_officers_level() {
        let d = latest("dara").unwrap();
        assert!(d.evaluate(&BTreeMap::new(), None, None).is_err());
        let e = d
            .evaluate(&BTreeMap::new(), Some(RiskLevel::Medium), None)
            .unwrap();
        assert_eq!((e.score, e.level), (None, RiskLevel::Medium));
    }

    fn input(answers: &[(&str, &str)], judgement: Option<&str>, reason: &str) -> AssessmentInput {
        AssessmentInput {
            answers: answers
                .iter()
                .map(|(q, a)| (q.to_string(), a.to_string()))
                .collect(),
            judgement_level: judgement.map(str::to_string),
            judgement_reason: Some(reason.to_string()),
            incidents_12_months: None,
        }
    }

    #[test]
    fn the_preview_scores_as_saving_does_and_names_what_is_missing() {
        let dash = latest("dash").unwrap();
        let ids: Vec<String> = dash.question_ids().map(str::to_string).collect();
        let yes: Vec<(&str, &str)> = ids[..14].iter().map(|q| (q.as_str(), "yes")).collect();
        let p = preview(dash, &input(&yes, None, ""));
        assert_eq!((p.score, p.answered, p.total), (Some(14), 14, 27));
        assert_eq!(p.level, Some(RiskLevel::High));
        assert_eq!(p.marac_criteria, vec!["visible_high_risk"]);
        assert_eq!(p.unanswered, ids[14..].to_vec());
        assert_eq!(p.problem, "");
        // a judgement below the answers' level: the score stays live, the problem is said
        let p = preview(dash, &input(&yes, Some("medium"), "why"));
        assert_eq!(p.score, Some(14));
        assert_eq!(p.level, Some(RiskLevel::High));
        assert!(p.problem.contains("not lower it below"), "{}", p.problem);
        // raising needs a reason, as saving does
        let few: Vec<(&str, &str)> = ids[..3].iter().map(|q| (q.as_str(), "yes")).collect();
        let p = preview(dash, &input(&few, Some("high"), " "));
        assert!(p.raised_by_judgement);
        assert!(p.problem.contains("needs a reason"), "{}", p.problem);
        let p = preview(
            dash,
            &input(&few, Some("high"), "Fictional: threats to kill"),
        );
        assert_eq!(p.marac_criteria, vec!["professional_judgement"]);
        assert_eq!(p.problem, "");
        // DARA: the officer's level is required
        let dara = latest("dara").unwrap();
        let p = preview(dara, &input(&[], None, ""));
        assert_eq!((p.score, p.level), (None, None));
        assert!(
            p.problem.contains("needs the officer's level"),
            "{}",
            p.problem
        );
        // nonsense is a problem, never a panic
        let p = preview(dash, &input(&[("dash_99", "yes")], None, ""));
        assert!(p.problem.contains("not a question"), "{}", p.problem);
        let p = preview(dash, &input(&[(ids[0].as_str(), "perhaps")], None, ""));
        assert!(!p.problem.is_empty());
    }
}
