//! The operator's side: opening the server's store from its data folder and key file, and the
//! administrative commands (issue enrolment codes, revoke devices and users, list devices,
//! read the audit log, write an evaluation export or a subject access export). The same
//! functions serve the command line and the tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use provide_core::audit::server::{Anchor, ChainBreak, ChainCheck};
use provide_core::model::Role;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Result, ServerError};
use crate::keyfile;
use crate::service::reports::{parse_format, Export, Requester};
use crate::service::{Config, Service};
use crate::storage::postgres::PostgresStorage;
use crate::storage::record_keys::{FileKeyStore, RecordKeys};
use crate::storage::sqlite::SqliteStorage;
use crate::storage::{AuditFilter, AuditRow, Device, UserProfile};

pub const KEY_FILE: &str = "server.key";
/// The report key's file in the data folder, by default.
pub const REPORT_KEY_FILE: &str = "report.key";
/// The device CA's key, PKCS#8 as hex: signs the devices' certificates for peer sync.
pub const DEVICE_CA_KEY_FILE: &str = "device-ca.key";

/// Where the server keeps its data.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub dir: PathBuf,
    /// The store key file (default `<dir>/server.key`).
    pub key_file: Option<PathBuf>,
    /// A PostgreSQL database to use instead of the embedded store (`postgres://…`).
    pub database_url: Option<String>,
    /// The CA (PEM) to trust for TLS to that database, when its URL names none.
    pub database_ca_cert: Option<PathBuf>,
    /// The key of export pseudonyms (default `<dir>/report.key`). Every process that exports
    /// must use the same file.
    pub report_key_file: Option<PathBuf>,
    /// The device CA's key (default `<dir>/device-ca.key`). Every process must use the same
    /// file.
    pub device_ca_key_file: Option<PathBuf>,
    /// The embedded store's record key store (default `<dir>/record-keys.db`).
    pub record_keys: Option<PathBuf>,
    /// The PostgreSQL database of the record keys (default the data's database).
    pub record_keys_url: Option<String>,
}

impl DataDir {
    pub fn new(dir: &Path) -> Self {
        DataDir {
            dir: dir.to_path_buf(),
            key_file: None,
            database_url: None,
            database_ca_cert: None,
            report_key_file: None,
            device_ca_key_file: None,
            record_keys: None,
            record_keys_url: None,
        }
    }

    /// Where the embedded store's record keys are kept.
    pub fn record_keys_path(&self) -> PathBuf {
        self.record_keys
            .clone()
            .unwrap_or_else(|| self.dir.join(crate::storage::record_keys::RECORD_KEYS_FILE))
    }

    /// Where the report key is kept.
    pub fn report_key_path(&self) -> PathBuf {
        self.report_key_file
            .clone()
            .unwrap_or_else(|| self.dir.join(REPORT_KEY_FILE))
    }

    /// Where the device CA's key is kept.
    pub fn device_ca_key_path(&self) -> PathBuf {
        self.device_ca_key_file
            .clone()
            .unwrap_or_else(|| self.dir.join(DEVICE_CA_KEY_FILE))
    }

    /// Opens the service: over PostgreSQL when a database URL is given, otherwise over the
    /// encrypted SQLite store, creating store and key if needed.
    pub fn open(&self, config: Config) -> Result<Service> {
        std::fs::create_dir_all(&self.dir)?;
        // the service's user alone (0700; on Windows an owner-only DACL)
        let _ = provide_core::data_dir::make_private(&self.dir);
        if let Some(url) = &self.database_url {
            let storage = PostgresStorage::open(
                url,
                self.database_ca_cert.as_deref(),
                config.database_connections,
                self.record_keys_url.as_deref(),
            )?;
            let service = Service::new(Arc::new(storage), config)
                .with_report_key_file(self.report_key_path())
                .with_device_ca_file(self.device_ca_key_path());
            service.register_published_forms()?;
            return Ok(service);
        }
        let key = keyfile::load_or_create(&crate::backup::key_path(self))?;
        let storage = SqliteStorage::open(&self.dir, &key, self.record_keys(&key)?)?;
        let service = Service::new(Arc::new(storage), config)
            .with_report_key_file(self.report_key_path())
            .with_device_ca_file(self.device_ca_key_path());
        service.register_published_forms()?;
        Ok(service)
    }
}

impl DataDir {
    /// The embedded store's record key store, opened under the store's key.
    pub fn record_keys(&self, key: &keyfile::StoreKey) -> Result<RecordKeys> {
        Ok(RecordKeys::new(Box::new(FileKeyStore::open(
            &self.record_keys_path(),
            key,
        )?)))
    }
}

/// Issues a one-time enrolment code.
pub fn enrol(
    service: &Service,
    user: &str,
    role: &str,
    division: &str,
    team: &str,
    hours: u64,
) -> Result<Zeroizing<String>> {
    let role = Role::parse(role).map_err(ServerError::InvalidInput)?;
    service.issue_code(
        &UserProfile {
            name: user.trim().to_string(),
            role,
            division: division.trim().to_string(),
            team: team.trim().to_string(),
        },
        hours,
    )
}

/// What revoked devices handed over in their final uploads, oldest first.
pub fn held_for_review(service: &Service) -> Result<Vec<crate::storage::HeldRecord>> {
    service.storage.held_for_review()
}

pub fn devices(service: &Service) -> Result<Vec<Device>> {
    service.storage.devices()
}

pub fn audit(service: &Service, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
    service.storage.audit(filter)
}

/// What `subject_access` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectAccessWritten {
    pub cases: usize,
    /// The SHA-256 (hex) of the JSON file, as its audit entries name it (by prefix).
    pub sha256: String,
    pub json: PathBuf,
    pub html: PathBuf,
}

/// Where the printable page of a subject access export written to `out` goes: beside it, with
/// the extension `.html` (`sar.json` → `sar.html`).
pub fn subject_page_path(out: &Path) -> Result<PathBuf> {
    if out.file_name().is_none() {
        return Err(ServerError::InvalidInput(
            "--out must name a file, not a folder".into(),
        ));
    }
    let html = out.with_extension("html");
    if html == out {
        return Err(ServerError::InvalidInput(
            "--out must not end in .html: the printable page is written beside the JSON file, \
             with the extension .html"
                .into(),
        ));
    }
    Ok(html)
}

/// Writes everything held about the person with `name` and `dob` to `out` (JSON) and beside
/// it as a printable page (`subject_page_path`), both 0600, atomically, never over existing
/// files unless `force`; audited as `subject_access` by `operator`. A search that finds no
/// case writes nothing and is audited too.
pub fn subject_access(
    service: &Service,
    operator: &str,
    name: &str,
    dob: &str,
    out: &Path,
    force: bool,
) -> Result<SubjectAccessWritten> {
    use crate::outfile::{check_free, stage};
    use crate::service::subject_access::Subject;
    let subject = Subject::checked(name, dob)?;
    let html = subject_page_path(out)?;
    check_free(out, force)?;
    check_free(&html, force)?;
    let export = match service.subject_access(&subject, operator) {
        Err(ServerError::NoSuchSubject) => {
            service.audit_subject_access_found_nothing(operator)?;
            return Err(ServerError::NoSuchSubject);
        }
        other => other?,
    };
    let json = export.to_json()?;
    let disclosure = export.disclosure(&json);
    let page = crate::service::subject_page::render(&export, &disclosure.sha256)?;
    let staged_json = stage(out, &json)?;
    let staged_html = stage(&html, page.as_bytes())?;
    // audited before the files are in place: a disclosure is never left unrecorded
    service.audit_subject_access(&disclosure, operator)?;
    staged_json.commit(force)?;
    staged_html.commit(force)?;
    Ok(SubjectAccessWritten {
        cases: disclosure.case_ids.len(),
        sha256: disclosure.sha256,
        json: out.to_path_buf(),
        html,
    })
}

/// A device's uploaded audit log and whether its chain verifies from the first entry.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuditCheck {
    pub device: String,
    pub entries: usize,
    pub verified: bool,
    pub problem: Option<String>,
}

pub fn verify_device_audit(service: &Service, device: &str) -> Result<DeviceAuditCheck> {
    let entries = service.storage.device_audit(device)?;
    let result = provide_core::audit::verify_entries(&entries);
    Ok(DeviceAuditCheck {
        device: device.to_string(),
        entries: entries.len(),
        verified: result.is_ok(),
        problem: result.err().map(|e| e.to_string()),
    })
}

/// Entries read at a time by `verify_audit`: its memory stays bounded however long the log.
const AUDIT_PAGE: i64 = 1000;

/// The server's own audit log checked from its first entry, and against an anchor (an earlier
/// head, kept where the database's administrators cannot write) when one is given.
#[derive(Debug, Clone, Serialize)]
pub struct AuditChainCheck {
    pub verified: bool,
    /// The entries that verified (all of them, or those before the first wrong one).
    pub entries: u64,
    /// The log's head, `SEQ:HASH`, when it verified: the next anchor to keep.
    pub head: Option<String>,
    pub anchor: Option<String>,
    /// The first wrong entry and how it is wrong.
    pub problem: Option<ChainBreak>,
}

impl AuditChainCheck {
    /// The check as a result: a broken log is an `AuditBroken` error naming its first wrong
    /// entry.
    pub fn into_result(self) -> Result<Self> {
        match &self.problem {
            Some(b) => Err(ServerError::AuditBroken {
                seq: b.seq,
                reason: b.reason.clone(),
            }),
            None => Ok(self),
        }
    }
}

/// Verifies the server's audit log (provide-core's `audit::server` rule), page by page.
/// `anchor` is `SEQ:HASH` as `audit_anchor` gave it.
pub fn verify_audit(service: &Service, anchor: Option<&str>) -> Result<AuditChainCheck> {
    let anchor = anchor.map(Anchor::parse).transpose()?;
    let mut check = ChainCheck::new(anchor.clone());
    let anchor = anchor.map(|a| a.to_string());
    loop {
        let page = service.storage.audit_chain(check.last_seq(), AUDIT_PAGE)?;
        if let Err(problem) = check.check(&page) {
            return Ok(AuditChainCheck {
                verified: false,
                entries: check.entries(),
                head: None,
                anchor,
                problem: Some(problem),
            });
        }
        if (page.len() as i64) < AUDIT_PAGE {
            break;
        }
    }
    let entries = check.entries();
    Ok(match check.finish() {
        Ok(v) => AuditChainCheck {
            verified: true,
            entries: v.entries,
            head: Some(v.head.to_string()),
            anchor,
            problem: None,
        },
        Err(problem) => AuditChainCheck {
            verified: false,
            entries,
            head: None,
            anchor,
            problem: Some(problem),
        },
    })
}

/// The head of the server's audit log now (its last entry's number and hash), to keep
/// elsewhere as an anchor.
pub fn audit_anchor(service: &Service) -> Result<Anchor> {
    Ok(service.storage.audit_head()?.unwrap_or_else(Anchor::empty))
}

/// Writes an evaluation export at the operator's command line, audited as `export` by
/// `operator` (the login name running the command).
pub fn report(
    service: &Service,
    operator: &str,
    division: Option<&str>,
    from: &str,
    to: &str,
    format: &str,
) -> Result<Export> {
    // at the command line a bad input is the operator's to fix (exit status 2)
    let input = |e: ServerError| match e {
        ServerError::BadRequest(m) => ServerError::InvalidInput(m),
        other => other,
    };
    let period = provide_core::report::Period::parse(Some(from), Some(to))?;
    let format = parse_format(Some(format)).map_err(input)?;
    let division = division.map(str::trim).filter(|d| !d.is_empty());
    service
        .export(
            &Requester {
                device: "cli".into(),
                user: operator.to_string(),
            },
            division,
            &period,
            format,
        )
        .map_err(input)
}
