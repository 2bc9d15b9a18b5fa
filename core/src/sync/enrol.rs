//! Enrolling a device: the one-time code an administrator issued is exchanged, with the new
//! device's Automerge actor id, for the user's profile and a device credential; then the
//! encrypted store is created around them. Nothing is written before the server agrees, and
//! the code is not spent when the store could not be made for a reason known beforehand
//! (a store already there, a weak passphrase).

use std::path::Path;

use automerge::ActorId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::transport::{Transport, ENROL_PATH};
use crate::crypto::keyslots::MIN_PASSPHRASE_CHARS;
use crate::crypto::keystore::SharedKeyStore;
use crate::error::{Error, Result};
use crate::model::Role;
use crate::store::{Enrolled, InitOptions, Store};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub code: String,
    /// The device's Automerge actor id, hex.
    pub actor_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub device_id: String,
    /// `<device id>.<secret>`: sent as a bearer token on every request.
    pub credential: String,
    pub user: String,
    pub role: String,
    pub division: String,
    pub team: String,
    pub max_offline_hours: u64,
}

/// Enrols this device with `server_url` using `code` and creates its store in `dir`, with an
/// unbound key slot (the command line and tests).
pub fn enrol(
    dir: &Path,
    server_url: &str,
    code: &str,
    passphrase: &str,
    opts: InitOptions,
    transport: &mut dyn Transport,
) -> Result<Store> {
    enrol_with_keystore(dir, server_url, code, passphrase, opts, None, transport)
}

/// Enrols as `enrol` does, binding the store's key slot to `keystore` (the app).
pub fn enrol_with_keystore(
    dir: &Path,
    server_url: &str,
    code: &str,
    passphrase: &str,
    opts: InitOptions,
    keystore: Option<SharedKeyStore>,
    transport: &mut dyn Transport,
) -> Result<Store> {
    super::endpoint::checked_url(server_url)?;
    if Store::status(dir)?.exists || dir.join(crate::store::DB_FILE).exists() {
        return Err(Error::StoreExists(dir.display().to_string()));
    }
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::WeakPassphrase(MIN_PASSPHRASE_CHARS));
    }
    opts.kdf.validate()?;
    opts.policy.validate()?;
    let code = code.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(Error::InvalidInput("the enrolment code is missing".into()));
    }
    let actor = ActorId::random();
    let request = EnrolRequest {
        code: code.to_string(),
        actor_id: actor.to_hex_string(),
    };
    let body = serde_json::to_vec(&request).map_err(|e| Error::Internal(e.to_string()))?;
    let answer = transport.post(ENROL_PATH, &body, None)?;
    let r: EnrolResponse = serde_json::from_slice(&answer)
        .map_err(|_| Error::Protocol("the enrolment answer could not be read".into()))?;
    let enrolled = Enrolled {
        user: r.user,
        role: Role::parse(&r.role).map_err(Error::Protocol)?,
        division: r.division,
        team: r.team,
        actor,
        device_id: r.device_id,
        server_url: server_url.trim().to_string(),
        credential: Zeroizing::new(r.credential),
        max_offline_hours: r.max_offline_hours,
        // the CA this enrolment trusted is the one every later sync trusts
        ca_cert: transport.trusted_ca().map(str::to_string),
    };
    let mut store = Store::init_enrolled(dir, &enrolled, passphrase, opts, keystore)?;
    // the certificate for syncing with the partner in the car, from the first moment; a
    // failure is made good by the first sync
    let _ = super::certificate::renew(&mut store, transport);
    Ok(store)
}
