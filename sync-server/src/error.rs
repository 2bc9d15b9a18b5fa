//! The one error type of the sync server. Each variant has a stable `code()` and an HTTP
//! status; it crosses HTTP as `{code, message}`. Messages name what was wrong with a request,
//! never the content of any record.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("The request is malformed: {0}")]
    BadRequest(String),
    #[error("The request's protocol version is not supported: {0}")]
    UnsupportedVersion(String),
    #[error("The request is too large.")]
    TooLarge,
    #[error("The device credential is missing, unknown or wrong.")]
    Unauthorized,
    #[error("Not allowed: {0}.")]
    Forbidden(String),
    #[error("This device has been revoked and its final upload is over.")]
    Revoked,
    #[error("This request was already received (replayed request {0}).")]
    Replayed(u64),
    #[error("The changes for record {0} are not valid Automerge changes.")]
    CorruptChanges(String),
    #[error("The enrolment code is unknown, already used or expired.")]
    EnrolmentRefused,
    #[error("Invalid input: {0}.")]
    InvalidInput(String),
    #[error("No device {0} is enrolled.")]
    NoSuchDevice(String),
    /// A subject access request found no case of that person (the message never repeats the
    /// name or date of birth asked for).
    #[error("No case on this server is of a person with that name and date of birth.")]
    NoSuchSubject,
    #[error("The server's store failed: {0}.")]
    Storage(String),
    /// The store was written by a newer release (the message says which schema).
    #[error("{0}")]
    StoreTooNew(String),
    #[error("The server's key file could not be used: {0}.")]
    Key(String),
    #[error("TLS could not be set up: {0}.")]
    Tls(String),
    #[error("A file could not be read or written: {0}.")]
    Io(String),
    #[error("Internal error: {0}.")]
    Internal(String),
    #[error("The server is busy; try again in {0} s.")]
    Busy(u64),
    #[error("Too many failed attempts from here; try again in {0} s.")]
    Throttled(u64),
    #[error("The request took too long to arrive.")]
    TimedOut,
    /// The record was erased: it is never written again (`erase`).
    #[error("Record {0} was erased; it cannot be written or restored.")]
    Erased(String),
    /// The server's own audit log failed verification (`audit verify`).
    #[error("The server's audit log is broken at entry {seq}: {reason}.")]
    AuditBroken { seq: i64, reason: String },
}

impl ServerError {
    pub fn code(&self) -> &'static str {
        match self {
            ServerError::BadRequest(_) => "bad_request",
            ServerError::UnsupportedVersion(_) => "unsupported_version",
            ServerError::TooLarge => "too_large",
            ServerError::Unauthorized => "unauthorized",
            ServerError::Forbidden(_) => "forbidden",
            ServerError::Replayed(_) => "replayed",
            ServerError::Revoked => "revoked",
            ServerError::CorruptChanges(_) => "corrupt_changes",
            ServerError::EnrolmentRefused => "enrolment_refused",
            ServerError::InvalidInput(_) => "invalid_input",
            ServerError::NoSuchDevice(_) => "no_such_device",
            ServerError::NoSuchSubject => "no_such_subject",
            ServerError::Storage(_) => "storage",
            ServerError::StoreTooNew(_) => "store_too_new",
            ServerError::Key(_) => "key",
            ServerError::Tls(_) => "tls",
            ServerError::Io(_) => "io",
            ServerError::Internal(_) => "internal",
            ServerError::Busy(_) => "busy",
            ServerError::Throttled(_) => "throttled",
            ServerError::TimedOut => "timed_out",
            ServerError::AuditBroken { .. } => "audit_broken",
            ServerError::Erased(_) => "erased",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ServerError::BadRequest(_)
            | ServerError::UnsupportedVersion(_)
            | ServerError::InvalidInput(_) => 400,
            ServerError::Unauthorized => 401,
            ServerError::EnrolmentRefused | ServerError::Forbidden(_) | ServerError::Revoked => 403,
            ServerError::NoSuchDevice(_) | ServerError::NoSuchSubject => 404,
            ServerError::Erased(_) => 410,
            ServerError::Replayed(_) => 409,
            ServerError::TooLarge => 413,
            ServerError::CorruptChanges(_) => 422,
            ServerError::TimedOut => 408,
            ServerError::Throttled(_) => 429,
            ServerError::Busy(_) => 503,
            _ => 500,
        }
    }

    /// A failure of the server itself (a 5xx other than `busy`): logged with its cause, and
    /// answered with a generic message.
    pub fn is_failure(&self) -> bool {
        self.status() >= 500 && !matches!(self, ServerError::Busy(_))
    }

    /// This error's text for the log: its first line, without control characters, at most 300
    /// characters. A failure's text names a statement, a file error kind or a reason, never a
    /// record's content: the database drivers' texts carry no bound values, and any further
    /// lines a driver adds (PostgreSQL's `DETAIL`, which can quote a row) are cut here.
    pub fn loggable(&self) -> String {
        let text = self.to_string();
        text.lines()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect()
    }

    /// The seconds a client should wait before trying again (`Retry-After`), when it should.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ServerError::Busy(s) | ServerError::Throttled(s) => Some(*s),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> Self {
        ServerError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for ServerError {
    fn from(e: std::io::Error) -> Self {
        ServerError::Io(e.kind().to_string())
    }
}

impl From<provide_core::Error> for ServerError {
    fn from(e: provide_core::Error) -> Self {
        use provide_core::Error as E;
        match e {
            E::Protocol(m) if m.contains("version") => ServerError::UnsupportedVersion(m),
            E::Protocol(m) => ServerError::BadRequest(m),
            E::InvalidInput(m) => ServerError::InvalidInput(m),
            E::InvalidValue { path, reason } => {
                ServerError::InvalidInput(format!("`{path}` {reason}"))
            }
            E::Database(m) => ServerError::Storage(m),
            e @ E::UnknownPath(_) => ServerError::InvalidInput(e.to_string()),
            e @ E::StoreTooNew { .. } => ServerError::StoreTooNew(e.to_string()),
            other => ServerError::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;
