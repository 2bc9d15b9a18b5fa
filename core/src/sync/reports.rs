//! Reading reports and the audit log from the sync server, for the supervisors' screens: the
//! dashboard of the device's division, the evaluation export, and the server's audit log.
//! Blocking calls over a `Transport`, authenticated with the device credential as a sync is;
//! the server decides what the device's role may read and answers `{code, message}` otherwise
//! (`Error::ServerRefused`, e.g. code `forbidden` for an officer).
//!
//! Inputs are checked here first, with the server's own rules, so a mistyped date costs no
//! round trip; the server checks them again.

use super::transport::Transport;
use crate::error::{Error, Result};
use crate::report::{AuditQuery, AuditRow, Dashboard, ExportFormat, Period};

pub const DASHBOARD_PATH: &str = "v1/reports/dashboard";
pub const EXPORT_PATH: &str = "v1/reports/export";
pub const AUDIT_PATH: &str = "v1/audit";

fn period_pairs(from: &str, to: &str) -> Result<Vec<(&'static str, String)>> {
    let p = Period::parse(Some(from), Some(to))?;
    Ok(vec![("from", p.from_text()), ("to", p.to_text())])
}

/// The dashboard of the device's division for `from..=to` (dates `YYYY-MM-DD`).
pub fn dashboard(
    transport: &mut dyn Transport,
    credential: &str,
    from: &str,
    to: &str,
) -> Result<Dashboard> {
    let body = transport.get(DASHBOARD_PATH, &period_pairs(from, to)?, Some(credential))?;
    serde_json::from_slice(&body)
        .map_err(|_| Error::Protocol("the dashboard answer could not be read".into()))
}

/// The evaluation export of the device's division for `from..=to`, as the server wrote it
/// (CSV or JSON text). It holds pseudonyms only, but it is still sensitive: the caller decides
/// where it goes, and the server has audited it.
pub fn export(
    transport: &mut dyn Transport,
    credential: &str,
    from: &str,
    to: &str,
    format: ExportFormat,
) -> Result<String> {
    let period = Period::parse(Some(from), Some(to))?;
    period.check_export_length()?;
    let mut query = period_pairs(from, to)?;
    query.push(("format", format.to_string()));
    let body = transport.get(EXPORT_PATH, &query, Some(credential))?;
    String::from_utf8(body).map_err(|_| Error::Protocol("the export is not UTF-8 text".into()))
}

/// Entries of the server's audit log, newest first (this read is itself audited).
pub fn audit(
    transport: &mut dyn Transport,
    credential: &str,
    query: &AuditQuery,
) -> Result<Vec<AuditRow>> {
    query.check()?;
    let body = transport.get(AUDIT_PATH, &query.to_pairs(), Some(credential))?;
    serde_json::from_slice(&body)
        .map_err(|_| Error::Protocol("the audit log answer could not be read".into()))
}
