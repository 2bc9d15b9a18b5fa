//! The one error type of `provide-core`.
//!
//! Every variant has a stable machine `code()` (it crosses IPC and the CLI as `{code, message}`)
//! and a message written for the person using the app. Messages never contain personal data:
//! they name fields, lists and record ids, never the values typed into them.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("No store was found at {0}. Create one with `provide init` or `provide enrol`.")]
    StoreMissing(String),
    #[error("A store already exists at {0}.")]
    StoreExists(String),
    #[error("This {store} was written by a newer release of Provide (schema {found}; this release reads up to schema {supported}). Install the newer release to open it; nothing in it was changed.")]
    StoreTooNew {
        store: String,
        found: u32,
        supported: u32,
    },
    #[error("The passphrase is wrong.")]
    WrongPassphrase,
    #[error("Too many failed unlock attempts. Try again in {0} s.")]
    BackingOff(u64),
    #[error("This store has been wiped: its data key was destroyed after too many failed unlock attempts or a revocation.")]
    Wiped,
    #[error("The passphrase must be at least {0} characters long.")]
    WeakPassphrase(usize),
    #[error("No passphrase was given: set PROVIDE_PASSPHRASE or run in a terminal.")]
    NoPassphrase,
    #[error("No record with id {0} is in this store.")]
    NotFound(String),
    #[error("Unknown field path `{0}`. See the README for the list of fields.")]
    UnknownPath(String),
    #[error("Unknown list `{0}`. Lists are: notes, visits, referrals, safety_plan, children.")]
    UnknownList(String),
    #[error("Invalid value for `{path}`: {reason}.")]
    InvalidValue { path: String, reason: String },
    #[error("Invalid input: {0}.")]
    InvalidInput(String),
    #[error("Your role ({role}) may not {action}.")]
    Forbidden { role: String, action: String },
    #[error("The bundle could not be read: {0}.")]
    BadBundle(String),
    #[error("The audit log is broken at entry {seq}: {reason}.")]
    AuditBroken { seq: i64, reason: String },
    #[error("The record {0} could not be read: its document is damaged.")]
    CorruptRecord(String),
    #[error("Unknown risk form `{0}`. Forms are: dash, dara.")]
    UnknownForm(String),
    #[error("The device's key store cannot be used: {0}.")]
    KeystoreUnavailable(String),
    #[error("The key-slot file asks for a weaker Argon2id cost than is accepted (at least {min_mib} MiB and {min_passes} passes): it was altered, and is refused.")]
    KdfBelowFloor { min_mib: u32, min_passes: u32 },
    #[error("The draft is too large to keep (over {limit_kib} KiB); save it or shorten it.")]
    DraftTooLarge { limit_kib: usize },
    #[error("Invalid setting: {0}.")]
    InvalidSetting(String),
    #[error("The database failed: {0}.")]
    Database(String),
    #[error("A file could not be read or written: {0}.")]
    Io(String),
    #[error("Encryption failed: {0}.")]
    Crypto(String),
    #[error("The sync message was refused: {0}.")]
    Protocol(String),
    #[error("The sync server cannot be reached: {0}.")]
    Unreachable(String),
    #[error("Security problem: the sync server's certificate is not one this device trusts ({0}). Someone may be intercepting the connection; nothing was sent. Do not keep trying on this network, and tell your IT or security team.")]
    UntrustedServer(String),
    #[error("The sync server is busy; the next try is in {retry_after_secs} s.")]
    ServerBusy { retry_after_secs: u64 },
    #[error("The sync server refused the request ({status}): {message}")]
    ServerRefused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("This app must be updated to sync: the sync server speaks protocol {server}, this app {app}. Everything on this device is kept, and syncs once the app is updated.")]
    UpdateRequired { app: String, server: String },
    #[error("The sync server is older than this app (it speaks protocol {server}, this app {app}): ask the administrator to update the server. Everything on this device is kept.")]
    ServerOutdated { app: String, server: String },
    #[error("This device is not enrolled with a sync server. Enrol it with `provide enrol`.")]
    NotEnrolled,
    #[error(
        "This device has been revoked by the administrator; its data has been uploaded and erased."
    )]
    Revoked,
    #[error("This device has not reached the sync server for more than {0} hours and is locked until it syncs.")]
    ContactOverdue(u64),
    #[error("The app is locked. Unlock it with your passphrase.")]
    Locked,
    #[error("A sync is already running.")]
    SyncBusy,
    #[error("This device has no certificate for syncing with a partner yet: sync with the server once (it issues one for the shift).")]
    NoPeerCertificate,
    #[error(
        "The partner's device cannot be reached: {0}. Check both devices are on the car's network."
    )]
    PeerUnreachable(String),
    #[error("The partner's device was refused: {0}.")]
    PeerRefused(String),
    #[error("Internal error: {0}.")]
    Internal(String),
}

/// An error as it crosses IPC and the command line's JSON: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct IpcError {
    pub code: String,
    pub message: String,
}

impl From<&Error> for IpcError {
    fn from(e: &Error) -> Self {
        let code = match e {
            // the server's refusal of what the role may not do reads the same as the device's
            Error::ServerRefused { code, .. } if code == "forbidden" => "forbidden",
            _ => e.code(),
        };
        IpcError {
            code: code.to_string(),
            message: e.to_string(),
        }
    }
}

impl Error {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::StoreMissing(_) => "store_missing",
            Error::StoreTooNew { .. } => "store_too_new",
            Error::StoreExists(_) => "store_exists",
            Error::WrongPassphrase => "wrong_passphrase",
            Error::BackingOff(_) => "backing_off",
            Error::Wiped => "wiped",
            Error::WeakPassphrase(_) => "weak_passphrase",
            Error::NoPassphrase => "no_passphrase",
            Error::NotFound(_) => "not_found",
            Error::UnknownPath(_) => "unknown_path",
            Error::UnknownList(_) => "unknown_list",
            Error::InvalidValue { .. } => "invalid_value",
            Error::InvalidInput(_) => "invalid_input",
            Error::Forbidden { .. } => "forbidden",
            Error::BadBundle(_) => "bad_bundle",
            Error::AuditBroken { .. } => "audit_broken",
            Error::CorruptRecord(_) => "corrupt_record",
            Error::UnknownForm(_) => "unknown_form",
            Error::KeystoreUnavailable(_) => "keystore_unavailable",
            Error::KdfBelowFloor { .. } => "kdf_below_floor",
            Error::DraftTooLarge { .. } => "draft_too_large",
            Error::InvalidSetting(_) => "invalid_setting",
            Error::Database(_) => "database",
            Error::Io(_) => "io",
            Error::Crypto(_) => "crypto",
            Error::Protocol(_) => "protocol",
            Error::Unreachable(_) => "unreachable",
            Error::UntrustedServer(_) => "untrusted_server",
            Error::ServerBusy { .. } => "server_busy",
            Error::ServerRefused { .. } => "server_refused",
            Error::UpdateRequired { .. } => "update_required",
            Error::ServerOutdated { .. } => "server_outdated",
            Error::NotEnrolled => "not_enrolled",
            Error::Revoked => "revoked",
            Error::ContactOverdue(_) => "contact_overdue",
            Error::Locked => "locked",
            Error::SyncBusy => "sync_busy",
            Error::NoPeerCertificate => "no_peer_certificate",
            Error::PeerUnreachable(_) => "peer_unreachable",
            Error::PeerRefused(_) => "peer_refused",
            Error::Internal(_) => "internal",
        }
    }

    pub fn invalid(path: &str, reason: impl Into<String>) -> Self {
        Error::InvalidValue {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}

// Conversions keep only the library's own description: SQLite and Automerge errors describe
// statements and operations, never the values bound into them.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Database(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.kind().to_string())
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::Internal(format!("document operation failed ({e})"))
    }
}

impl From<autosurgeon::ReconcileError> for Error {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        Error::Internal(format!("document update failed ({e})"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
