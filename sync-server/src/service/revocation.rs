//! Revocation: what revoking a device or a user means, and what the audit log says of it.
//! A revoked device is still recognised, so its next contact hands over what it holds (its
//! final upload, see `sync`) and erases it. Revoking a user revokes every device they are
//! enrolled on and spends their unused enrolment codes, so none can enrol them again.

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, Revoke, RevokedDevice};

impl Service {
    /// Revokes one device (again, if it already was; the order is audited each time).
    pub fn revoke_device(&self, id: &str) -> Result<()> {
        let revoked =
            self.storage
                .revoke(Revoke::Device(id), None, &|devices: &[RevokedDevice]| {
                    devices
                        .iter()
                        .map(|d| AuditEvent {
                            device: d.id.clone(),
                            user: d.user.clone(),
                            action: "revoke".into(),
                            record: String::new(),
                            detail: "device revoked".into(),
                        })
                        .collect()
                })?;
        if revoked.is_empty() {
            return Err(ServerError::NoSuchDevice(id.to_string()));
        }
        Ok(())
    }

    /// Revokes every device of `user` not yet revoked and spends the user's unused enrolment
    /// codes; returns how many devices.
    pub fn revoke_user(&self, user: &str) -> Result<usize> {
        let revoked = self.storage.revoke(
            Revoke::DevicesOf(user),
            Some(user),
            &|devices: &[RevokedDevice]| {
                vec![AuditEvent {
                    device: String::new(),
                    user: user.to_string(),
                    action: "revoke".into(),
                    record: String::new(),
                    detail: format!("user revoked ({} devices)", devices.len()),
                }]
            },
        )?;
        Ok(revoked.len())
    }
}
