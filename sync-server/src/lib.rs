//! provide-sync-server: the sync server of Provide (design §5, §7). Devices enrol with a
//! one-time code, then sync in one HTTP round trip: their changes go up, what changed in their
//! scope comes down, and the server decides that scope from role, division, team and audience.
//!
//! - `service`: enrolment, authentication, the sync exchange, and supervisors' reports and
//!   audit reads, free of HTTP.
//! - `storage`: the storage trait and its backends (SQLCipher SQLite by default).
//! - `http`, `serve`: the axum routes and running them, with TLS by rustls.
//! - `limits`, `listener`, `guard`, `body`, `throttle`: what one client may cost: the knobs,
//!   the connection cap and timers, the checks before a request's work, bounded bodies, and
//!   throttled, audited failed credentials.
//! - `credentials`, `keyfile`: secrets handed out, the store's key and the report key.
//! - `admin`: the operator's commands (enrol, revoke, devices, audit, report, subject access).
//! - `outfile`: private files written whole, never over another (the subject access export).
//! - `backup`, `rotate`: backup and restore of the embedded store, and re-keying it.
//! - `logging`, `request`, `metrics`: the log (one line per request, no personal data), and
//!   the Prometheus metrics on their own listener.

pub mod admin;
pub mod backup;
pub mod body;
pub mod credentials;
pub mod error;
pub mod guard;
pub mod http;
pub mod keyfile;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod outfile;
pub mod request;
pub mod rotate;
pub mod serve;
pub mod service;
pub mod storage;
pub mod throttle;

pub use error::{Result, ServerError};
