//! Cross-part test support: a crafted client that writes what an attacker would (`attack`), a real sync server on loopback (`server`), devices with real
//! encrypted stores enrolled with it (`device`), and a link shaper that cuts connections and
//! drops, delays and reorders answers (`link`). For the benchmarks: a link shaper imposing
//! bandwidth, latency, loss and cuts by named profile (`shaper`), counting what crosses a
//! transport (`metered`), stock Automerge sync as the baseline to beat (`baseline`), and a
//! lightweight device that speaks the real protocol, for load (`light`), and the load
//! benchmarks' shared setup: backends, server processes, enrolment, seeding, CPU time
//! (`loadgen`). A multi-device scenario full of canary strings, to search a server's output
//! for (`canary`). What a
//! device's files hold, decrypted page by page with its key (`forensics`). A fleet of devices
//! under load while servers are killed and the database restarted (`nemesis`).
//! The crash-point explorer for the device store: a recording SQLite VFS and a model of what
//! a crash leaves on disk (`crash`).
//! Tests live in `tests/tests/`, benchmarks in `tests/benches/`.

pub mod amplifiers;
pub mod attack;
pub mod baseline;
pub mod binaries;
pub mod canary;
pub mod crash;
pub mod device;
pub mod forensics;
pub mod light;
pub mod link;
pub mod loadgen;
pub mod metered;
pub mod nemesis;
pub mod server;
pub mod shaper;
pub mod workload;

pub use device::Device;
pub use server::TestServer;

/// The passphrase of every test device (fictional, and long enough).
pub const PASSPHRASE: &str = "kettle lantern orchard";

/// A case note as `add_case_item(id, "notes", …)` takes it.
pub fn note(text: &str) -> serde_json::Value {
    serde_json::json!({ "text": text })
}

/// Field edits as the store takes them, from `(path, value)` pairs.
pub fn sets(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}
