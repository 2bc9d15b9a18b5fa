//! Enrolment and authentication. An administrator issues a one-time code for a user (valid
//! 24 hours); a device spends it once, registering its Automerge actor id, and receives a
//! credential that the server keeps only as a hash. Every later request presents that
//! credential; a device revoked since is still recognised (so it can hand over what it holds
//! and erase itself) but the sync answers it with `revoked`.

use provide_core::sync::enrol::{EnrolRequest, EnrolResponse};
use zeroize::Zeroizing;

use super::Service;
use crate::credentials;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, Device, EnrolmentCode, NewDevice, Redemption, UserProfile};

/// The longest an enrolment code may stay valid.
pub const MAX_CODE_HOURS: u64 = 24;

fn check_label(what: &str, value: &str, may_be_empty: bool) -> Result<()> {
    let ok = (may_be_empty || !value.trim().is_empty())
        && value.len() <= 64
        && !value.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ServerError::InvalidInput(format!(
            "{what} must be 1-64 printable characters"
        )))
    }
}

/// The rule for spending a code: it exists, was never spent, and has not expired. Returns
/// whom it enrols.
pub(crate) fn spendable(code: Option<&EnrolmentCode>, now_ms: i64) -> Result<&UserProfile> {
    match code {
        Some(code) if !code.spent && code.expires_at_ms >= now_ms => Ok(&code.user),
        _ => Err(ServerError::EnrolmentRefused),
    }
}

impl Service {
    /// Issues a one-time enrolment code for `user`, valid for `hours` (at most 24).
    pub fn issue_code(&self, user: &UserProfile, hours: u64) -> Result<Zeroizing<String>> {
        check_label("the user name", &user.name, false)?;
        let needs_team = matches!(
            user.role,
            provide_core::model::Role::Officer | provide_core::model::Role::Idva
        );
        let needs_division = user.role != provide_core::model::Role::Admin;
        check_label("the division", &user.division, !needs_division)?;
        check_label("the team", &user.team, !needs_team)?;
        if hours == 0 || hours > MAX_CODE_HOURS {
            return Err(ServerError::InvalidInput(format!(
                "a code is valid for 1 to {MAX_CODE_HOURS} hours"
            )));
        }
        let code = credentials::new_code();
        let expires = chrono::Utc::now().timestamp_millis() + (hours as i64) * 3_600_000;
        self.storage.create_enrolment(
            &credentials::hash(&credentials::normalise_code(&code)),
            user,
            expires,
            &AuditEvent {
                device: String::new(),
                user: user.name.clone(),
                action: "enrolment_code".into(),
                record: String::new(),
                detail: format!(
                    "code issued for {} {} {}",
                    user.role, user.division, user.team
                ),
            },
        )?;
        Ok(code)
    }

    /// Spends a code and enrols the device presenting it.
    pub fn enrol(&self, req: &EnrolRequest) -> Result<EnrolResponse> {
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
        let device_id = uuid::Uuid::new_v4().to_string();
        let (credential, credential_hash) = credentials::new_credential(&device_id);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let user = self.storage.redeem_code(
            &credentials::hash(&code),
            &Redemption::Device(NewDevice {
                id: device_id.clone(),
                actor: req.actor_id.to_lowercase(),
                credential_hash,
            }),
            &|code| {
                let user = spendable(code, now_ms)?;
                Ok(AuditEvent {
                    device: device_id.clone(),
                    user: user.name.clone(),
                    action: "enrol".into(),
                    record: String::new(),
                    detail: format!("device enrolled as {}", user.role),
                })
            },
        )?;
        Ok(EnrolResponse {
            device_id,
            credential: credential.to_string(),
            user: user.name,
            role: user.role.to_string(),
            division: user.division,
            team: user.team,
            max_offline_hours: self.config.max_offline_hours,
        })
    }

    /// The device presenting `bearer` (`<device id>.<secret>`), revoked or not.
    pub fn authenticate(&self, bearer: &str) -> Result<Device> {
        match self.check_credential(bearer)? {
            Presented::Valid(device) => Ok(device),
            Presented::Refused { .. } => Err(ServerError::Unauthorized),
        }
    }

    /// What presenting `bearer` proves: a device, or a refusal naming the enrolled device the
    /// credential claimed to be, if there is one (for throttling and the audit log).
    pub fn check_credential(&self, bearer: &str) -> Result<Presented> {
        let Some((id, secret)) = credentials::split_credential(bearer) else {
            return Ok(Presented::Refused { claimed: None });
        };
        let Some(device) = self.storage.device(id)? else {
            return Ok(Presented::Refused { claimed: None });
        };
        if !credentials::matches(secret, &device.credential_hash) {
            return Ok(Presented::Refused {
                claimed: Some(device),
            });
        }
        Ok(Presented::Valid(device))
    }
}

/// The outcome of presenting a credential.
pub enum Presented {
    Valid(Device),
    /// Refused; `claimed` is the enrolled device it named, when it named one.
    Refused {
        claimed: Option<Device>,
    },
}
