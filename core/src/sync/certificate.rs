//! Renewing the device certificate the pair's peer sync rests on (`crate::peer`): after a sync
//! with the server, a device whose certificate is missing or has less than `RENEW_BEFORE_HOURS`
//! left sends the public half of its device key and the signed-in user's actor; the server
//! answers a certificate naming what it knows of them (never what the device claims), its
//! device CA, and the devices of the division it revoked.

use serde::{Deserialize, Serialize};

use super::transport::{Transport, CERTIFICATE_PATH};
use crate::error::{Error, Result};
use crate::store::Store;

/// The largest body the server accepts on `CERTIFICATE_PATH`.
pub const MAX_CERTIFICATE_BODY: usize = 1024;

/// A certificate is renewed once less than this is left of it.
pub const RENEW_BEFORE_HOURS: i64 = 18;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateRequest {
    /// The signed-in user's Automerge actor on this device, hex.
    pub actor: String,
    /// The device key's public half: an uncompressed P-256 point, hex.
    pub public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateResponse {
    pub certificate: String,
    pub ca: String,
    /// Devices of this division the server revoked: peers refuse them.
    pub revoked: Vec<String>,
    pub not_after_ms: i64,
}

/// Whether the signed-in user's certificate is missing or due for renewal at `now_ms`.
pub fn due(store: &Store, now_ms: i64) -> Result<bool> {
    Ok(match store.peer_certificate_expiry()? {
        Some(at) => at - now_ms < RENEW_BEFORE_HOURS * 3_600_000,
        None => true,
    })
}

/// The request for a certificate for the signed-in user's device key (made if missing).
pub fn request_body(store: &mut Store) -> Result<Vec<u8>> {
    let public = store.peer_public_key()?;
    serde_json::to_vec(&CertificateRequest {
        actor: store.actor().to_hex_string(),
        public_key: hex::encode(public),
    })
    .map_err(|e| Error::Internal(e.to_string()))
}

/// Keeps the server's answer; returns when the certificate expires (ms).
pub fn keep(store: &mut Store, answer: &[u8]) -> Result<i64> {
    let r: CertificateResponse = serde_json::from_slice(answer)
        .map_err(|_| Error::Protocol("the server's certificate answer could not be read".into()))?;
    store.install_peer_certificate(&r.certificate, &r.ca, &r.revoked, r.not_after_ms)?;
    Ok(r.not_after_ms)
}

/// Asks the server for a certificate for this user's device key and keeps it.
pub fn renew(store: &mut Store, transport: &mut dyn Transport) -> Result<i64> {
    let link = store.server_link()?;
    let body = request_body(store)?;
    let answer = transport.post(CERTIFICATE_PATH, &body, Some(&link.credential))?;
    keep(store, &answer)
}
