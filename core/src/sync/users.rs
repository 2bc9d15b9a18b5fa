//! Adding a user to an enrolled device (a shared device). The user's role, division and team
//! come from the server, never from the device: the device presents its credential, a
//! one-time code an administrator issued for the new user, and a fresh Automerge actor id for
//! that user; the server spends the code, registers the actor to (this device, that user, role)
//! and answers the user's profile, which the store then enrols with its own key slot. A store
//! with no server (`provide init`) has one user and cannot add another.

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use super::transport::{Transport, USERS_PATH};
use crate::crypto::keyslots::MIN_PASSPHRASE_CHARS;
use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::model::Role;
use crate::store::{NewUser, ServerLink, Session, Store};

/// The largest body the server accepts on `USERS_PATH`.
pub const MAX_ADD_USER_BODY: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddUserRequest {
    pub code: String,
    /// The new user's own Automerge actor id, hex.
    pub actor_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddUserResponse {
    pub user: String,
    pub role: String,
    pub division: String,
    pub team: String,
}

/// The server users are added through; a store with none has one user.
pub fn server_of(store: &Store) -> Result<ServerLink> {
    store.server_link().map_err(|e| match e {
        Error::NotEnrolled => Error::InvalidInput(
            "a device with no sync server has one user: another user is added only through the server, with an enrolment code for them".into(),
        ),
        other => other,
    })
}

/// Adds the user the server issued `code` for to this device, with `passphrase` for their key
/// slot. Nothing is written before the server agrees. Returns the new user's profile.
pub fn add_user(
    store: &mut Store,
    code: &str,
    passphrase: &str,
    kdf: KdfParams,
    transport: &mut dyn Transport,
) -> Result<Session> {
    let link = server_of(store)?;
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::WeakPassphrase(MIN_PASSPHRASE_CHARS));
    }
    kdf.validate()?;
    let code = code.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(Error::InvalidInput("the enrolment code is missing".into()));
    }
    let actor = ActorId::random();
    let body = serde_json::to_vec(&AddUserRequest {
        code: code.to_string(),
        actor_id: actor.to_hex_string(),
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    let answer = transport.post(USERS_PATH, &body, Some(&link.credential))?;
    let r: AddUserResponse = serde_json::from_slice(&answer)
        .map_err(|_| Error::Protocol("the server's answer could not be read".into()))?;
    let user = NewUser {
        name: r.user,
        role: Role::parse(&r.role).map_err(Error::Protocol)?,
        division: r.division,
        team: r.team,
    };
    store.add_user(user.clone(), actor, passphrase, kdf)?;
    Ok(Session {
        user: user.name,
        role: user.role,
        division: user.division,
        team: user.team,
    })
}
