//! Adding a user to an enrolled device (a shared device): the device presents its credential,
//! a one-time code an administrator issued for the new user (`provide-sync-server enrol`), and
//! a fresh Automerge actor id for that user. The server spends the code and registers the
//! actor to (this device, that user, role), so authorship of that user's changes is known from
//! the server's own records; the answer is the user's profile. The device never chooses a role.
//!
//! Refused: a revoked device; a code that is unknown, spent or expired; a user outside the
//! device's division and team (the code is then kept); a user already on the device; an actor
//! id already registered.

use provide_core::sync::users::{AddUserRequest, AddUserResponse};

use super::Service;
use crate::credentials;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, Device, NewDeviceUser, Redemption, UserProfile};

/// The rule for who may share a device: the same division and team as its enrolling user.
fn may_share(device: &Device, user: &UserProfile) -> Result<()> {
    if user.division != device.division || user.team != device.team {
        return Err(ServerError::Forbidden(
            "a user of another division or team cannot be added to this device".into(),
        ));
    }
    Ok(())
}

impl Service {
    /// Adds the user `body` (JSON `AddUserRequest`) carries a code for to `device`.
    pub fn add_device_user(&self, device: &Device, body: &[u8]) -> Result<AddUserResponse> {
        if device.revoked {
            return Err(ServerError::Forbidden("this device is revoked".into()));
        }
        let req: AddUserRequest = serde_json::from_slice(body)
            .map_err(|_| ServerError::BadRequest("the request is not valid JSON".into()))?;
        let actor = hex::decode(&req.actor_id)
            .map_err(|_| ServerError::InvalidInput("the actor id is not hex".into()))?;
        if actor.len() != 16 {
            return Err(ServerError::InvalidInput(
                "the actor id must be 16 bytes".into(),
            ));
        }
        let code = credentials::normalise_code(&req.code);
        if code.len() != 20 {
            return Err(ServerError::EnrolmentRefused);
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let user = self.storage.redeem_code(
            &credentials::hash(&code),
            &Redemption::DeviceUser(NewDeviceUser {
                device_id: device.id.clone(),
                actor: req.actor_id.to_lowercase(),
            }),
            &|code| {
                let user = super::enrolment::spendable(code, now_ms)?;
                may_share(device, user)?;
                Ok(AuditEvent {
                    device: device.id.clone(),
                    user: user.name.clone(),
                    action: "add_user".into(),
                    record: String::new(),
                    detail: format!("user added to the device as {}", user.role),
                })
            },
        )?;
        Ok(AddUserResponse {
            user: user.name,
            role: user.role.to_string(),
            division: user.division,
            team: user.team,
        })
    }
}
