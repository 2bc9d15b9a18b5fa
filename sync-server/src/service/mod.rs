//! What the server does, independent of HTTP: enrolment and authentication (`enrolment`),
//! users added to a shared device (`users`), revocation (`revocation`), how long devices keep
//! handed-over and closed cases (`retention`), closed cases fetched on request (`fetch`), the
//! sync exchange
//! (`sync`), the retention review of closed records (`review`), erasure (`erasure`), rectification (`rectification`), published
//! forms and directory (`reference`), reports and the audit log for supervisors (`reports`),
//! and everything held about one person for a subject access request (`subject_access`,
//! printed by `subject_page`). The service holds the policy and composes every audit event;
//! storage only holds the SQL. The HTTP layer only moves bytes in and out of these, and the
//! admin commands call them directly on the same storage.

pub mod certificates;
pub mod enrolment;
pub mod erasure;
pub mod fetch;
pub mod rectification;
pub mod reference;
pub mod reports;
pub mod retention;
pub mod review;
pub mod revocation;
pub mod subject_access;
pub mod subject_page;
pub mod sync;
pub mod users;

use std::path::PathBuf;
use std::sync::Arc;

use crate::limits::Limits;
use crate::storage::Storage;

/// Server settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// How long a device may go without reaching the server before it locks itself.
    pub max_offline_hours: u64,
    /// Documents considered for one page of updates.
    pub page_docs: usize,
    /// Chunks kept per document before it is compacted into one snapshot.
    pub compact_after_chunks: usize,
    /// The most documents one request may carry.
    pub max_docs_per_request: usize,
    /// Connections kept to a PostgreSQL database.
    pub database_connections: usize,
    /// How long a revoked device's final upload stays open after the server first answers it
    /// as revoked (see `sync`).
    pub final_upload_minutes: u64,
    /// What one client may cost the server (connections, timers, caps, throttling).
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_offline_hours: 72,
            page_docs: 500,
            compact_after_chunks: 32,
            max_docs_per_request: 5_000,
            database_connections: 16,
            final_upload_minutes: 24 * 60,
            limits: Limits::default(),
        }
    }
}

#[derive(Clone)]
pub struct Service {
    pub storage: Arc<dyn Storage>,
    pub config: Config,
    /// The file holding the key of export pseudonyms (created on first export); without one
    /// the server makes no exports.
    pub report_key_file: Option<PathBuf>,
    /// The reference-data tag and when it was computed (`reference`).
    reference_tag: Arc<std::sync::Mutex<Option<(std::time::Instant, String)>>>,
    /// The device CA's key file (created on first use); without one the server issues no
    /// device certificates (`certificates`).
    pub device_ca_file: Option<PathBuf>,
    device_ca: Arc<std::sync::OnceLock<Arc<provide_core::peer::certificate::DeviceCa>>>,
}

impl Service {
    pub fn new(storage: Arc<dyn Storage>, config: Config) -> Self {
        Service {
            storage,
            config,
            report_key_file: None,
            reference_tag: Default::default(),
            device_ca_file: None,
            device_ca: Default::default(),
        }
    }

    /// The same service, issuing device certificates from the CA whose key is in `path`.
    pub fn with_device_ca_file(mut self, path: PathBuf) -> Self {
        self.device_ca_file = Some(path);
        self
    }

    /// The same service, pseudonymising exports with the key in `path`.
    pub fn with_report_key_file(mut self, path: PathBuf) -> Self {
        self.report_key_file = Some(path);
        self
    }
}
