//! Sync (design §5): the wire protocol shared by the device client and the sync server, who
//! may hold what, and the device's client.
//!
//! - `protocol`, `codec`, `changes`, `dictionary`: the messages, their bounded binary encoding,
//!   how a record's changes travel without their dependency hashes, and the compression
//!   dictionary both sides share.
//! - `scope`: which documents a user may receive and change (design §7).
//! - `endpoint`, `transport`: server addresses (https, or http to loopback) and the HTTP POST.
//! - `enrol`: turning a one-time code into an enrolled device store.
//! - `certificate`: renewing the device certificate the pair's peer sync rests on.
//! - `fetch`: the safeguarding unit fetching a closed case from the server on request.
//! - `client`: one sync, start to finish. `auto`: syncing by itself, with backoff.
//! - `reports`: reading the dashboard, the evaluation export and the audit log from the server.
//! - `review`: the retention review from the unit's and IDVAs' devices: what is due, decisions.

pub mod auto;
pub mod certificate;
#[doc(hidden)]
pub mod changes;
pub mod client;
pub mod codec;
pub mod dictionary;
pub mod endpoint;
pub mod enrol;
pub mod fetch;
pub mod protocol;
pub mod reference;
pub mod reports;
pub mod review;
pub mod scope;
pub mod transport;
pub mod users;

pub use client::{sync, Progress, SyncOptions, SyncReport};
