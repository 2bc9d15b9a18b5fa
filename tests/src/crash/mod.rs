//! The crash-point explorer for the device store, after SQLite's own crash tests (`test6.c`):
//! record every file operation a workload makes, then rebuild the files as a crash at each
//! point could have left them on disk, and check the store each time.
//!
//! - `trace`: the recording, a list of file operations and the workload's own marks ("this
//!   edit was acknowledged") in the order they happened;
//! - `vfs`: a SQLite VFS of our own, registered as the process's default, that passes every
//!   call to the platform's VFS and records the writes, truncations, fsyncs and deletions of
//!   the files under the traced folder (the database, its WAL and rollback journal; the
//!   WAL's shared-memory index is never durable state and is left out). The key-slot file,
//!   written outside SQLite, is recorded through `provide_core::durable`'s observer;
//! - `disk`: what the disk holds at a crash point: every file as of its last fsync, plus any
//!   subset of the writes since (one of them torn at 512-byte sectors), with renames durable
//!   only once their directory was fsynced.

pub mod disk;
pub mod trace;
pub mod vfs;
