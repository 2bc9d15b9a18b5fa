//! The pair syncing with each other in the car, with no signal (issue 18).
//!
//! - `certificate`: device certificates from the server's device CA (issuing and reading).
//! - `attestation`: an author's signed word for changes its partner relays to the server.
//! - `pairing`: the shift's pairing code and the proofs that bind it to both devices.
//! - `tls`: mutual TLS with those certificates.
//! - `message`: the peer protocol's messages, in the server protocol's encoding.
//! - `session`: one session, dialing or listening, start to finish.
//!
//! The store keeps the key, certificate, trust and pairing, and takes the partner's records in
//! with the server's checks (`store::peer`). What passes is decided by `sync::scope`, the same
//! rule the server applies.

pub mod attestation;
pub mod certificate;
pub mod message;
pub mod pairing;
pub mod session;
pub mod tls;

pub use session::{dial, Listener, PeerReport};
