//! The records of design §3 as typed Rust structs, mapped to and from Automerge documents by
//! autosurgeon, and the table of fields a user may set by dotted path.

pub mod case;
pub(crate) mod choice;
pub mod common;
pub mod field_table;
pub mod fields;
pub mod health;
pub mod shift;
pub mod write_rules;

pub use case::*;
pub use common::*;
pub use health::{health_id, HealthRecord, HEALTH_SCHEMA};
pub use shift::{Pattern, PlannedVisit, Shift, SHIFT_SCHEMA};
