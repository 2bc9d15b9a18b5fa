//! Reports and the audit log for supervisors (design §7): the dashboard and the evaluation
//! export of a division, computed from the reporting rows the server keeps beside each case,
//! and reading the server's audit log.
//!
//! Who may read what: dashboard and export are for `safeguarding` (their own division only);
//! the audit log for `admin` (all of it) and `safeguarding` (entries about their division's
//! shared records and their division's devices). Officers and IDVAs may read none of these,
//! and an admin sees no case content, so no dashboard or export. A refusal is audited.
//!
//! Every export and every reading of the audit log is audited before the answer leaves, with
//! the period, format and row count, never any content. Inputs are checked before anything is
//! read or written; a bad one is a 400 that changes nothing.

use provide_core::model::Role;
use provide_core::report::dashboard::dashboard;
use provide_core::report::export::{export_rows, write};
use provide_core::report::{AuditQuery, AuditRow, Dashboard, ExportFormat, Period};

use super::Service;
use crate::error::{Result, ServerError};
use crate::keyfile;
use crate::storage::{AuditEvent, AuditFilter, Device};

/// Who asks for an export: a device, or an operator at the server's command line.
#[derive(Debug, Clone)]
pub struct Requester {
    pub device: String,
    pub user: String,
}

/// An export as written.
#[derive(Debug, Clone)]
pub struct Export {
    pub format: ExportFormat,
    pub body: String,
    pub rows: usize,
}

/// A checked request's inputs as words the person can act on.
fn bad_request(e: provide_core::Error) -> ServerError {
    match e {
        provide_core::Error::InvalidInput(m) => ServerError::BadRequest(m),
        other => other.into(),
    }
}

fn event(who: &Requester, action: &str, detail: String) -> AuditEvent {
    AuditEvent {
        device: who.device.clone(),
        user: who.user.clone(),
        action: action.into(),
        record: String::new(),
        detail,
    }
}

fn requester(device: &Device) -> Requester {
    Requester {
        device: device.id.clone(),
        user: device.user.clone(),
    }
}

/// What a supervisor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Dashboard,
    Export,
    AuditLog,
}

impl Reading {
    fn roles(self) -> &'static [Role] {
        match self {
            Reading::Dashboard | Reading::Export => &[Role::Safeguarding],
            Reading::AuditLog => &[Role::Admin, Role::Safeguarding],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Reading::Dashboard => "the dashboard",
            Reading::Export => "the evaluation export",
            Reading::AuditLog => "the audit log",
        }
    }
}

/// Parses an export format name.
pub fn parse_format(text: Option<&str>) -> Result<ExportFormat> {
    let text = text.ok_or_else(|| ServerError::BadRequest("`format` is missing".into()))?;
    ExportFormat::parse(text.trim())
        .map_err(|_| ServerError::BadRequest("`format` must be csv or json".into()))
}

impl Service {
    /// Refuses (and audits the refusal) unless the device may read `what`. Checked before
    /// any input, so a refusal says nothing about the input.
    pub fn may_read(&self, device: &Device, what: Reading) -> Result<()> {
        let roles = what.roles();
        let what = what.name();
        let why = if device.revoked {
            Some("this device has been revoked".to_string())
        } else if !roles.contains(&device.role) {
            Some(format!("the {} role may not read {what}", device.role))
        } else {
            None
        };
        let Some(why) = why else { return Ok(()) };
        self.storage.append_audit(&[event(
            &requester(device),
            "forbidden",
            format!("{what} refused: {why}"),
        )])?;
        Err(ServerError::Forbidden(why))
    }

    /// The dashboard of the device's division over `from..=to`.
    pub fn dashboard(
        &self,
        device: &Device,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Dashboard> {
        self.may_read(device, Reading::Dashboard)?;
        let period = Period::parse(from, to).map_err(bad_request)?;
        let (f, t) = (period.from_text(), period.to_text());
        let division = device.division.as_str();
        let rows = self.storage.attendances(Some(division), &f, &t)?;
        let sightings = self.storage.sightings(Some(division), &f, &t)?;
        let figures = dashboard(division, &period, &rows, &sightings);
        self.storage.append_audit(&[event(
            &requester(device),
            "dashboard",
            format!("dashboard of division {division}, {f} to {t}"),
        )])?;
        Ok(figures)
    }

    /// The evaluation export of the device's division over `from..=to`.
    pub fn export_for_device(
        &self,
        device: &Device,
        from: Option<&str>,
        to: Option<&str>,
        format: Option<&str>,
    ) -> Result<Export> {
        self.may_read(device, Reading::Export)?;
        let period = Period::parse(from, to).map_err(bad_request)?;
        let format = parse_format(format)?;
        self.export(&requester(device), Some(&device.division), &period, format)
    }

    /// An evaluation export of one division (or every division, for the operator's command).
    /// Audited as `export` before it is returned.
    pub fn export(
        &self,
        who: &Requester,
        division: Option<&str>,
        period: &Period,
        format: ExportFormat,
    ) -> Result<Export> {
        period.check_export_length().map_err(bad_request)?;
        let path = self.report_key_file.as_ref().ok_or_else(|| {
            ServerError::Key("no report key file is configured for exports".into())
        })?;
        let key = keyfile::load_or_create(path)?;
        let (f, t) = (period.from_text(), period.to_text());
        let rows = self.storage.attendances(division, &f, &t)?;
        let sightings = self.storage.sightings(division, &f, &t)?;
        let cells = export_rows(&rows, &sightings, period, division, &key[..]);
        let body = write(format, &cells);
        let scope = division.map_or("every division".to_string(), |d| format!("division {d}"));
        self.storage.append_audit(&[event(
            who,
            "export",
            format!(
                "evaluation export of {scope}, {f} to {t}, {format}, {} rows",
                cells.len()
            ),
        )])?;
        Ok(Export {
            format,
            body,
            rows: cells.len(),
        })
    }

    /// Entries of the server's audit log, newest first, as far as the device's role may read.
    pub fn read_audit(&self, device: &Device, query: &AuditQuery) -> Result<Vec<AuditRow>> {
        self.may_read(device, Reading::AuditLog)?;
        let filter = AuditFilter {
            entries: query.check().map_err(bad_request)?,
            division: (device.role != Role::Admin).then(|| device.division.clone()),
            newest_first: true,
        };
        let rows = self.storage.audit(&filter)?;
        let used: Vec<&str> = query
            .to_pairs()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| *k != "limit")
            .collect();
        let filters = if used.is_empty() {
            "no filter".to_string()
        } else {
            format!("filtered by {}", used.join(", "))
        };
        let scope = filter
            .division
            .as_deref()
            .map_or("every division".to_string(), |d| format!("division {d}"));
        self.storage.append_audit(&[event(
            &requester(device),
            "audit_read",
            format!(
                "audit log of {scope} read, {filters}, {} entries",
                rows.len()
            ),
        )])?;
        Ok(rows)
    }
}
