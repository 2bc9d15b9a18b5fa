//! Device certificates for the pair's peer sync in the car (`provide_core::peer`). A device
//! sends the public half of its device key and the signed-in user's actor; the server answers
//! a certificate from its device CA naming what the server knows of that actor's owner (the
//! device, user, role, and the device's division and team: never what the device claims), the
//! CA's certificate, and the division's revoked devices, which peers then refuse.
//!
//! Refused: a revoked device; an actor not registered to this device; a malformed key. Every
//! certificate issued is audited (`certificate`).

use provide_core::peer::certificate::{DeviceCa, DeviceClaims, LIFETIME_HOURS};
use provide_core::sync::certificate::{CertificateRequest, CertificateResponse};

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, Device};

/// The most revoked devices an answer names (the newest are what matters; a revoked device's
/// certificate is at most a day old anyway).
const MAX_REVOKED_LISTED: usize = 10_000;

impl Service {
    /// The device CA, from its key file (made on first use).
    pub(crate) fn device_ca(&self) -> Result<std::sync::Arc<DeviceCa>> {
        if let Some(ca) = self.device_ca.get() {
            return Ok(ca.clone());
        }
        let path = self.device_ca_file.as_ref().ok_or_else(|| {
            ServerError::Forbidden("this server issues no device certificates".into())
        })?;
        let key = crate::keyfile::load_or_create_secret(path, || {
            DeviceCa::new_key()
                .map(zeroize::Zeroizing::new)
                .map_err(|e| ServerError::Key(e.to_string()))
        })?;
        let ca = DeviceCa::from_key(&key)
            .map_err(|_| ServerError::Key("the device CA key file is damaged".into()))?;
        Ok(self
            .device_ca
            .get_or_init(|| std::sync::Arc::new(ca))
            .clone())
    }

    /// Issues `device` a certificate for the key and actor in `body` (JSON
    /// `CertificateRequest`).
    pub fn issue_device_certificate(
        &self,
        device: &Device,
        body: &[u8],
    ) -> Result<CertificateResponse> {
        if device.revoked {
            return Err(ServerError::Forbidden("this device is revoked".into()));
        }
        let req: CertificateRequest = serde_json::from_slice(body)
            .map_err(|_| ServerError::BadRequest("the request is not valid JSON".into()))?;
        let public = hex::decode(&req.public_key)
            .map_err(|_| ServerError::InvalidInput("the public key is not hex".into()))?;
        let owner = self
            .storage
            .actor_owner(&req.actor)?
            .filter(|o| o.device_id == device.id)
            .ok_or_else(|| {
                ServerError::Forbidden("that actor is not registered to this device".into())
            })?;
        let claims = DeviceClaims {
            device_id: device.id.clone(),
            user: owner.user.clone(),
            role: owner.role,
            division: device.division.clone(),
            team: device.team.clone(),
            actor: req.actor.to_lowercase(),
        };
        let ca = self.device_ca()?;
        let now = chrono::Utc::now();
        let certificate = ca
            .issue(&public, &claims, now.timestamp())
            .map_err(|e| ServerError::InvalidInput(e.to_string()))?;
        let mut revoked: Vec<String> = self
            .storage
            .devices()?
            .into_iter()
            .filter(|d| d.revoked && d.division == device.division)
            .map(|d| d.id)
            .collect();
        revoked.truncate(MAX_REVOKED_LISTED);
        self.storage.append_audit(&[AuditEvent {
            device: device.id.clone(),
            user: owner.user,
            action: "certificate".into(),
            record: String::new(),
            detail: format!("device certificate issued for {LIFETIME_HOURS} h"),
        }])?;
        Ok(CertificateResponse {
            certificate,
            ca: ca.pem(),
            revoked,
            // as issued: ten minutes before now, for the lifetime and ten minutes more
            not_after_ms: now.timestamp_millis() + LIFETIME_HOURS * 3_600_000,
        })
    }
}
