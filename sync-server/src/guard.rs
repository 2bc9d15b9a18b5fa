//! The checks a request passes before the server works for it, in order: the credential
//! (throttled per source and per device, refusals counted for the audit log, and checked
//! before a byte of the body is read), then a place among the syncs in flight (one per device,
//! `max_syncs_in_flight` in all) and room for its body, then the body itself, bounded and
//! timed. Anything over a cap is answered at once (`busy`, `throttled`, `too_large`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};

use crate::body;
use crate::error::ServerError;
use crate::limits::{Gates, Limits, Slot};
use crate::service::enrolment::Presented;
use crate::service::Service;
use crate::storage::Device;
use crate::throttle::{source_of, Key, Refusal, Throttle};

pub struct Guard {
    pub gates: Gates,
    pub throttle: Throttle,
    /// Devices with a sync in flight.
    syncing: Arc<Mutex<HashSet<String>>>,
}

/// A sync admitted: its place, its body's room and its device's turn, given back when dropped.
pub struct Admitted {
    _slot: Slot,
    _room: Slot,
    _turn: Turn,
}

struct Turn(Arc<Mutex<HashSet<String>>>, String);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
}

impl Guard {
    pub fn new(limits: Limits) -> Self {
        Guard {
            gates: Gates::new(limits),
            throttle: Throttle::new(&limits),
            syncing: Arc::default(),
        }
    }

    pub fn limits(&self) -> &Limits {
        self.gates.limits()
    }

    /// The device whose credential the request carries. A source or device with too many
    /// failures is refused before the store is asked; every refusal is counted for the audit.
    pub async fn authenticate(
        &self,
        service: &Service,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Device, ServerError> {
        let source = Key::Source(source_of(peer.ip()));
        let credential = bearer(headers);
        let claimed = credential
            .as_deref()
            .and_then(crate::credentials::split_credential);
        let mut keys = vec![source.clone()];
        if let Some((id, _)) = claimed {
            keys.push(Key::Device(id.to_string()));
        }
        if let Err(wait) = self.throttle.check(&keys, claimed) {
            // refused unchecked: counted (audit, metrics), and only a debug line, so a flood
            // cannot fill the log with warnings
            tracing::debug!(source = %peer.ip(), "authentication throttled");
            self.throttle.count(Refusal::Auth, source, "", "", true);
            return Err(ServerError::Throttled(wait));
        }
        // counted as a failure until it succeeds, unless it is a device known to be right (many
        // devices behind one address syncing at once are not held back)
        let taken = if self.throttle.vouched_for(claimed) {
            Some(0.0)
        } else {
            self.throttle.take(&source)
        };
        let failed = |this: &Self| {
            if taken.is_none() {
                this.throttle.failed(std::slice::from_ref(&source), None);
            }
        };
        let Some(credential) = credential else {
            tracing::warn!(source = %peer.ip(), "authentication refused: no credential");
            failed(self);
            self.throttle.count(Refusal::Auth, source, "", "", false);
            return Err(ServerError::Unauthorized);
        };
        let svc = service.clone();
        let presented = tokio::task::spawn_blocking(move || svc.check_credential(&credential))
            .await
            .map_err(|_| ServerError::Internal("the request's task failed".into()))??;
        match presented {
            Presented::Valid(device) => {
                if let Some(t) = taken {
                    self.throttle.refund(&source, t);
                }
                self.throttle.vouch(&device.id, &device.credential_hash);
                Ok(device)
            }
            Presented::Refused { claimed } => {
                // the device is named only when it is one the server enrolled (never the text
                // presented, and never the secret)
                tracing::warn!(
                    source = %peer.ip(),
                    device = claimed.as_ref().map(|d| d.id.as_str()),
                    "authentication refused: unknown, wrong or revoked credential"
                );
                failed(self);
                let (device, user) = match &claimed {
                    Some(d) => {
                        let key = Key::Device(d.id.clone());
                        let proof = Some(d.credential_hash.as_str());
                        self.throttle.failed(std::slice::from_ref(&key), proof);
                        (d.id.as_str(), d.user.as_str())
                    }
                    None => ("", ""),
                };
                self.throttle
                    .count(Refusal::Auth, source, device, user, false);
                Err(ServerError::Unauthorized)
            }
        }
    }

    /// An enrolment: throttled per source, its small body read, the code spent; a refused code
    /// is counted against the source and for the audit.
    pub async fn enrol(
        &self,
        service: &Service,
        peer: SocketAddr,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<provide_core::sync::enrol::EnrolResponse, ServerError> {
        let source = Key::Source(source_of(peer.ip()));
        if let Err(wait) = self.throttle.check(std::slice::from_ref(&source), None) {
            // refused unchecked: counted (audit, metrics), and only a debug line, so a flood
            // cannot fill the log with warnings
            tracing::debug!(source = %peer.ip(), "enrolment throttled");
            self.throttle.count(Refusal::Enrol, source, "", "", true);
            return Err(ServerError::Throttled(wait));
        }
        let taken = self.throttle.take(&source);
        let refund = |this: &Self| {
            if let Some(t) = taken {
                this.throttle.refund(&source, t);
            }
        };
        let limits = *self.limits();
        let bytes = match body::read(body, headers, limits.max_enrol_bytes, &limits).await {
            Ok(b) => b,
            Err(e) => {
                refund(self);
                return Err(e);
            }
        };
        let req: provide_core::sync::enrol::EnrolRequest =
            serde_json::from_slice(&bytes).map_err(|_| {
                ServerError::BadRequest("the enrolment request is not valid JSON".into())
            })?;
        let svc = service.clone();
        let answer = tokio::task::spawn_blocking(move || svc.enrol(&req))
            .await
            .map_err(|_| ServerError::Internal("the request's task failed".into()))?;
        match &answer {
            Err(ServerError::EnrolmentRefused) => {
                // never the code presented
                tracing::warn!(
                    source = %peer.ip(),
                    "enrolment refused: unknown, used or expired code"
                );
                if taken.is_none() {
                    self.throttle.failed(std::slice::from_ref(&source), None);
                }
                self.throttle.count(Refusal::Enrol, source, "", "", false)
            }
            _ => refund(self),
        }
        answer
    }

    /// A place for `device`'s sync and room for its body (declared, or the most allowed), or
    /// an answer at once: `too_large` over `max`, `busy` while this device already has a sync
    /// in flight or a cap is reached.
    pub fn admit_sync(
        &self,
        device: &Device,
        headers: &HeaderMap,
        max: usize,
    ) -> Result<Admitted, ServerError> {
        body::check_declared(headers, max)?;
        let turn = {
            let mut syncing = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
            if !syncing.insert(device.id.clone()) {
                return Err(ServerError::Busy(self.limits().retry_after_secs));
            }
            Turn(self.syncing.clone(), device.id.clone())
        };
        let slot = self.gates.sync_slot()?;
        let room = body::declared_len(headers).map_or(max, |n| n as usize);
        let room = self.gates.body_room(room)?;
        Ok(Admitted {
            _slot: slot,
            _room: room,
            _turn: turn,
        })
    }

    /// Reads an admitted request's body (at most `max` bytes, at the minimum rate).
    pub async fn read_body(
        &self,
        body: Body,
        headers: &HeaderMap,
        max: usize,
    ) -> Result<Bytes, ServerError> {
        body::read(body, headers, max, self.limits()).await
    }

    /// Writes the counted refusals to the audit log (blocking: call it off the runtime).
    pub fn flush_audit(&self, service: &Service) {
        let events = self.throttle.drain_audit();
        if events.is_empty() {
            return;
        }
        if let Err(e) = service.storage.append_audit(&events) {
            tracing::error!(
                code = e.code(),
                cause = %e.loggable(),
                "refused attempts could not be audited"
            );
        }
    }
}
