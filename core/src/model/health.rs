//! The Health record: the IDVA's health-side notes for a case. Same case id, a separate document
//! with audience `health`: never synced to police devices, never shown to police roles.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::case::Note;

pub const HEALTH_SCHEMA: u64 = 1;

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize, ts_rs::TS)]
pub struct HealthRecord {
    #[ts(type = "number")]
    pub schema: u64,
    pub id: String,
    pub case_id: String,
    /// Where the victim can be seen discreetly (GP, dental or hospital appointments).
    pub discreet_contact: String,
    pub notes: Vec<Note>,
}

impl HealthRecord {
    pub fn new(case_id: &str) -> Self {
        HealthRecord {
            schema: HEALTH_SCHEMA,
            id: health_id(case_id),
            case_id: case_id.to_string(),
            discreet_contact: String::new(),
            notes: vec![],
        }
    }
}

/// The document id of a case's health record.
pub fn health_id(case_id: &str) -> String {
    format!("{case_id}.health")
}
