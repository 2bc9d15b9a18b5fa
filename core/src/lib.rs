//! provide-core: the domain model, CRDT records, encrypted device store, keys, audit log and
//! rescue bundles of Provide. No Tauri, no HTTP server: the app shell, the sync server and the
//! `provide` command line all build on this crate.
//!
//! - `model`: the records (Case, Health record, Shift) as typed structs, and settable fields.
//! - `record`: those records as Automerge documents: edits, conflicts, history, migration.
//! - `forms`, `directory`: risk checklists and the services directory, shipped as data.
//! - `crypto`: Argon2id, XChaCha20-Poly1305 and the per-user key slots.
//! - `store`: the SQLCipher device store, the one entry point for reading and writing.
//! - `data_dir`: where a store's folder goes by default, and keeping it to its user.
//! - `audit`: the hash-chained audit log. `bundle`: the encrypted rescue bundle format.
//! - `sync`: the sync protocol, the client, and syncing by itself.
//! - `peer`: the pair's devices syncing with each other in the car (mutual TLS, no server).
//! - `report`: evaluation reports computed from records: projection rows, dashboard, export.
//! - `retention`: the retention review schedule (classes and periods, as data) and its dates.
//! - `app`: the patrol app on a device (lock, idle lock, background sync), for the app shell.

pub mod app;
pub mod audit;
pub mod bundle;
pub mod crypto;
pub mod data_dir;
pub mod directory;
pub mod durable;
pub mod error;
pub mod forms;
pub mod model;
pub mod peer;
pub mod record;
pub mod report;
pub mod retention;
pub mod store;
pub mod sync;

pub use error::{Error, IpcError, Result};
pub use store::{InitOptions, NewUser, Session, Store};
