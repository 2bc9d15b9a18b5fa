//! Evaluation reports (issue 5), computed from the records and never entered by hand. Pure:
//! no storage and no network, so every figure is testable without a server.
//!
//! - `attendance`: the non-identifying reporting row of one case (the server's projection).
//! - `pseudonym`: the keyed victim digest and the keyed ids of exports.
//! - `repeats`: which attendances share a victim, for repeat victims and prior attendances.
//! - `period`: the dates a report covers. `dashboard`: the figures of a division and period.
//! - `export`: the evaluation export as CSV or JSON. `audit_view`: reading the audit log.

pub mod attendance;
pub mod audit_view;
pub mod dashboard;
pub mod export;
pub mod period;
pub mod pseudonym;
pub mod repeats;

pub use attendance::{Attendance, PROJECTION_VERSION};
pub use audit_view::{AuditQuery, AuditRow, CheckedAuditQuery};
pub use dashboard::{dashboard, Count, Dashboard, Hours, Share};
pub use export::{export_rows, ExportFormat};
pub use period::Period;
pub use repeats::Sighting;
