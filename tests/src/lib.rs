//! Cross-part test support: a real sync server on loopback (`server`), devices with real
//! encrypted stores enrolled with it (`device`), and a link shaper that cuts connections and
//! drops, delays and reorders answers (`link`). Tests live in `tests/tests/`.

pub mod binaries;
pub mod device;
pub mod link;
pub mod server;
pub mod workload;

pub use device::Device;
pub use server::TestServer;

/// The passphrase of every test device (fictional, and long enough).
pub const PASSPHRASE: &str = "kettle lantern orchard";
