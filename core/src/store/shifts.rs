//! Shifts: start one (pattern, call sign, partner), plan its visits, end it.

use serde::Deserialize;

use super::Store;
use crate::error::{Error, Result};
use crate::model::{Pattern, PlannedVisit, RecordKind, Role, Shift, SHIFT_SCHEMA};
use crate::record::{edit, RecordDoc};

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ShiftInput {
    pub pattern: Pattern,
    pub call_sign: String,
    /// The partner's user name: the IDVA for an officer, the officer for an IDVA.
    pub partner: String,
    /// YYYY-MM-DD; today when absent.
    pub date: Option<String>,
}

impl Store {
    /// Starts a shift for the signed-in user and their partner. Returns its id.
    pub fn start_shift(&mut self, input: &ShiftInput) -> Result<String> {
        self.require_case_access()?;
        let (officer, idva) = match self.session.role {
            Role::Officer => (self.session.user.clone(), input.partner.clone()),
            Role::Idva => (input.partner.clone(), self.session.user.clone()),
            r => {
                return Err(Error::Forbidden {
                    role: r.to_string(),
                    action: "start a patrol shift".into(),
                })
            }
        };
        if input.call_sign.trim().is_empty() {
            return Err(Error::invalid("call_sign", "it must not be empty"));
        }
        let date = match &input.date {
            Some(d) => {
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| Error::invalid("date", "expected YYYY-MM-DD"))?;
                d.clone()
            }
            None => chrono::Utc::now().format("%Y-%m-%d").to_string(),
        };
        let shift = Shift {
            schema: SHIFT_SCHEMA,
            id: edit::new_id(),
            date,
            pattern: input.pattern,
            call_sign: input.call_sign.clone(),
            officer,
            idva,
            division: self.session.division.clone(),
            team: self.session.team.clone(),
            planned_visits: vec![],
            started_at: Some(super::now_rfc3339()),
            ended_at: None,
        };
        let mut rec = RecordDoc::new_shift(&shift, &self.actor, &self.session.author())?;
        self.insert_record(&mut rec, "shift started")?;
        Ok(shift.id)
    }

    /// Adds a case to a shift's planned visits.
    pub fn plan_visit(&mut self, shift_id: &str, case_id: &str) -> Result<()> {
        self.require_case_access()?;
        if self.record_kind(case_id)? != Some(RecordKind::Case) {
            return Err(Error::NotFound(case_id.to_string()));
        }
        self.edit_record(
            shift_id,
            RecordKind::Shift,
            |_| format!("planned visit to {case_id}"),
            |rec, _| {
                let n = rec.shift()?.planned_visits.len() as u64;
                edit::append(
                    rec,
                    "planned_visits",
                    &PlannedVisit {
                        id: edit::new_id(),
                        case_id: case_id.to_string(),
                        order: n + 1,
                    },
                )
            },
        )
    }

    /// Ends a shift, and with it the pairing with the partner's device (`peer`).
    pub fn end_shift(&mut self, shift_id: &str) -> Result<()> {
        self.require_case_access()?;
        let now = super::now_rfc3339();
        self.edit_record(
            shift_id,
            RecordKind::Shift,
            |_| "shift ended".into(),
            |rec, _| {
                use automerge::transaction::Transactable;
                rec.doc_mut().put(automerge::ROOT, "ended_at", now)?;
                Ok(())
            },
        )?;
        self.end_pairing()?;
        Ok(())
    }

    pub fn show_shift(&mut self, shift_id: &str) -> Result<Shift> {
        self.require_case_access()?;
        self.load_record(shift_id, RecordKind::Shift)?.shift()
    }
}
