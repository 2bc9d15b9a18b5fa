//! The Shift record: one patrol shift of the officer and IDVA pair.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::choice::choice;

pub const SHIFT_SCHEMA: u64 = 1;

choice!(
    /// The two shift patterns: 07:00–15:00 and 14:00–22:00.
    Pattern { Early => "early", Late => "late" }
);

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
pub struct Shift {
    #[ts(type = "number")]
    pub schema: u64,
    pub id: String,
    /// YYYY-MM-DD.
    pub date: String,
    pub pattern: Pattern,
    pub call_sign: String,
    pub officer: String,
    pub idva: String,
    pub division: String,
    pub team: String,
    pub planned_visits: Vec<PlannedVisit>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
pub struct PlannedVisit {
    #[key]
    pub id: String,
    pub case_id: String,
    #[ts(type = "number")]
    pub order: u64,
}
