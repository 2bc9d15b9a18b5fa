//! The shift's working lists: today's visits (cases triaged for the team for today or earlier
//! and cases planned on the running shift, highest risk first, then the unit's priority), the running shift, and the handover summary at the
//! end of a shift (what was done to each case, what is still outstanding, what is unsynced).

use serde::Serialize;

use super::cases::CaseSummary;
use super::Store;
use crate::audit::Action;
use crate::error::Result;
use crate::model::{Case, RecordKind, ReferralKind, ReferralStatus, Shift, Status};

/// Risk first (high, medium, standard, none), then the longest waiting.
const BY_RISK: &str = "CASE risk_level WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'standard' THEN 2 ELSE 3 END, updated_at, id";

/// One case in the end-of-shift handover.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct HandoverCase {
    pub case: CaseSummary,
    /// What the user did to it during the shift, oldest first (from the audit log).
    pub done: Vec<String>,
    /// What is still to do: referrals to make, children to refer, safety plan actions.
    pub outstanding: Vec<String>,
    /// Its changes have not reached the server yet.
    pub unsynced: bool,
}

/// The end-of-shift handover summary.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Handover {
    pub shift: Shift,
    pub cases: Vec<HandoverCase>,
    /// Records of any kind with changes the server has not acknowledged.
    pub unsynced: usize,
}

/// What is still to do on a case, in plain words (no personal data).
pub fn outstanding(case: &Case) -> Vec<String> {
    let mut out = Vec::new();
    if case.deployment != crate::model::Deployment::Consultation && case.risk_assessments.is_empty()
    {
        out.push("no risk assessment recorded".to_string());
    }
    for r in &case.referrals {
        if r.status == ReferralStatus::ToMake {
            out.push(format!(
                "referral to make: {}",
                referral_name(r.kind, &r.service)
            ));
        }
    }
    let children_referred = case
        .referrals
        .iter()
        .any(|r| r.kind == ReferralKind::ChildrensServices && r.status != ReferralStatus::ToMake);
    if !case.children.is_empty() && !children_referred {
        out.push(format!(
            "{} child(ren) recorded with no children's services referral made",
            case.children.len()
        ));
    }
    let open = case.safety_plan.iter().filter(|i| !i.done).count();
    if open > 0 {
        out.push(format!("{open} safety plan action(s) open"));
    }
    out
}

fn referral_name(kind: ReferralKind, service: &str) -> String {
    if service.trim().is_empty() {
        kind.as_str().replace('_', " ")
    } else {
        service.to_string()
    }
}

impl Store {
    /// The running shift of the signed-in user (started, not ended), newest first.
    pub fn current_shift(&mut self) -> Result<Option<Shift>> {
        self.require_case_access()?;
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id FROM records WHERE kind = 'shift' ORDER BY updated_at DESC, id LIMIT 50",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let me = self.session.user.clone();
        for id in ids {
            let shift = self.load_record(&id, RecordKind::Shift)?.shift()?;
            if shift.ended_at.is_none() && (shift.officer == me || shift.idva == me) {
                return Ok(Some(shift));
            }
        }
        Ok(None)
    }

    /// Today's visits: cases triaged for the team and cases planned on the running shift,
    /// highest risk first. Audited as one consultation.
    pub fn todays_visits(&mut self) -> Result<Vec<CaseSummary>> {
        self.require_case_access()?;
        let planned: Vec<String> = self
            .current_shift()?
            .map(|s| s.planned_visits.into_iter().map(|v| v.case_id).collect())
            .unwrap_or_default();
        let mut args = vec![Status::Triaged.as_str().to_string()];
        let team_clause = if self.session.role == crate::model::Role::Safeguarding {
            "1 = 1"
        } else {
            args.push(self.session.team.clone());
            "team = ?"
        };
        let placeholders = vec!["?"; planned.len()].join(", ");
        let clause = if planned.is_empty() {
            format!("(status = ? AND {team_clause})")
        } else {
            format!("((status = ? AND {team_clause}) OR id IN ({placeholders}))")
        };
        args.extend(planned);
        let rows = self.case_summaries(&[&clause], &args, BY_RISK, None)?;
        // a triaged case waits for the day the unit set; within a risk level, its priority
        let today = chrono::Local::now().date_naive().to_string();
        let mut keyed = Vec::with_capacity(rows.len());
        for (pos, row) in rows.into_iter().enumerate() {
            let mut priority = u64::MAX;
            if row.status == Status::Triaged.as_str() {
                let triage = self.load_record(&row.id, RecordKind::Case)?.case()?.triage;
                if triage
                    .visit_date
                    .as_deref()
                    .is_some_and(|d| d > today.as_str())
                {
                    continue;
                }
                priority = triage.priority.unwrap_or(u64::MAX);
            }
            keyed.push(((row.risk_order(), priority, pos), row));
        }
        keyed.sort_by_key(|(k, _)| *k);
        let rows: Vec<CaseSummary> = keyed.into_iter().map(|(_, r)| r).collect();
        self.audit(
            Action::View,
            "*",
            &format!("visit list viewed ({} rows)", rows.len()),
        )?;
        Ok(rows)
    }

    /// The handover summary of a shift: each case the user worked on since the shift started,
    /// what they did and what is outstanding, and what has not reached the server.
    pub fn handover(&mut self, shift_id: &str) -> Result<Handover> {
        self.require_case_access()?;
        let shift = self.load_record(shift_id, RecordKind::Shift)?.shift()?;
        let since = shift.started_at.clone().unwrap_or_default();
        let until = shift.ended_at.clone();
        let entries: Vec<(String, String)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT a.record, a.detail FROM audit a JOIN records r ON r.id = a.record
                 WHERE r.kind = 'case' AND a.user = ?1 AND a.at >= ?2
                   AND (?3 IS NULL OR a.at <= ?3) AND a.action IN (?4, ?5)
                 ORDER BY a.seq",
            )?;
            let rows = stmt.query_map(
                rusqlite::params![
                    self.session.user,
                    since,
                    until,
                    Action::Create.as_str(),
                    Action::Alter.as_str()
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let mut order: Vec<String> = Vec::new();
        let mut done: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (id, detail) in entries {
            if !done.contains_key(&id) {
                order.push(id.clone());
            }
            done.entry(id).or_default().push(detail);
        }
        let unsynced_ids: std::collections::HashSet<String> =
            self.unsynced_ids()?.into_iter().collect();
        let mut cases = Vec::new();
        for id in order {
            let case = self.load_record(&id, RecordKind::Case)?.case()?;
            let Some(summary) = self
                .case_summaries(&["id = ?"], std::slice::from_ref(&id), "id", None)?
                .pop()
            else {
                continue;
            };
            cases.push(HandoverCase {
                case: summary,
                done: done.remove(&id).unwrap_or_default(),
                outstanding: outstanding(&case),
                unsynced: unsynced_ids.contains(&id),
            });
        }
        self.audit(Action::View, shift_id, "handover summary viewed")?;
        Ok(Handover {
            shift,
            cases,
            unsynced: unsynced_ids.len(),
        })
    }
}
