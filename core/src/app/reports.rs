//! The supervisors' reads from the sync server, as the app makes them: the dashboard of the
//! device's division, the evaluation export saved to a folder the shell names, and the
//! server's audit log. Each is one request with the device credential; the server decides what
//! the role may read and audits it. The store is only lent to read the server's address and
//! credential, never held across the network.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::App;
use crate::error::{Error, Result};
use crate::report::{AuditQuery, AuditRow, Dashboard, ExportFormat};
use crate::sync::reports;
use crate::sync::transport::Transport;

/// An evaluator export saved on this device.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ExportSaved {
    pub path: String,
    #[ts(type = "number")]
    pub bytes: u64,
    pub format: String,
}

impl App {
    pub(super) fn ask_server<T>(
        &self,
        f: impl FnOnce(&mut dyn Transport, &str) -> Result<T>,
    ) -> Result<T> {
        let link = self.with_store(|s| s.server_link())?;
        let mut transport = (self.transport)(&link.url, link.ca_cert.as_deref())?;
        f(transport.as_mut(), &link.credential)
    }

    /// The dashboard of the device's division for `from..=to` (YYYY-MM-DD).
    pub fn dashboard(&self, from: &str, to: &str) -> Result<Dashboard> {
        self.ask_server(|t, c| reports::dashboard(t, c, from, to))
    }

    /// The safeguarding unit: fetches the closed cases a police reference or the victim's
    /// whole name finds on the server (`sync::fetch`); the store is not held while the request
    /// travels.
    pub fn fetch_closed(
        &self,
        reference: Option<&str>,
        name: Option<&str>,
    ) -> Result<crate::sync::fetch::FetchReport> {
        use crate::sync::fetch;
        let (request, link) = self.with_store(|s| fetch::prepare(s, reference, name))?;
        let mut transport = (self.transport)(&link.url, link.ca_cert.as_deref())?;
        let response = fetch::ask(transport.as_mut(), &link.credential, &request)?;
        let fetched = self.with_store(|s| s.apply_fetched(&response))?;
        Ok(fetch::FetchReport { fetched })
    }

    /// The server's audit log (admins and supervisors).
    pub fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditRow>> {
        self.ask_server(|t, c| reports::audit(t, c, query))
    }

    /// Fetches the evaluator export for `from..=to` and saves it in `folder` under a new name
    /// (never over an earlier export), readable by this user only. The device's own audit log
    /// records it too.
    pub fn export_report(
        &self,
        from: &str,
        to: &str,
        format: ExportFormat,
        folder: &Path,
    ) -> Result<ExportSaved> {
        let text = self.ask_server(|t, c| reports::export(t, c, from, to, format))?;
        std::fs::create_dir_all(folder)?;
        let (path, mut file) = new_file(folder, &format!("provide-export-{from}-to-{to}"), format)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        let saved = ExportSaved {
            path: path.display().to_string(),
            bytes: text.len() as u64,
            format: format.to_string(),
        };
        self.with_store(|s| {
            s.record_export(&format!(
                "evaluation export {from} to {to} ({format}, {} bytes) saved",
                saved.bytes
            ))
        })?;
        Ok(saved)
    }
}

/// Creates `stem.ext`, or `stem-2.ext` and so on when taken, mode 0600 where there are modes.
fn new_file(folder: &Path, stem: &str, format: ExportFormat) -> Result<(PathBuf, std::fs::File)> {
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.{format}")
        } else {
            format!("{stem}-{n}.{format}")
        };
        let path = folder.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::InvalidInput(
        "too many exports with this name in the folder; move some away".into(),
    ))
}
