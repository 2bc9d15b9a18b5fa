//! One sync exchange (design §5): check the whole request before anything is written, take
//! each document's changes in its own atomic commit, verify and keep the device's audit log,
//! then answer with a page of what changed in the device's scope since its cursor.
//!
//! Rules applied to every uploaded document, on the server's copy:
//! - the changes must parse (else the whole request is refused, 422, and nothing is written);
//! - the device's base must be known here, and the changes must leave no gaps (else
//!   `NeedHistory`: the device sends the whole document);
//! - the id must fit the kind (`InvalidRecord`), and the device's role must write that kind
//!   (`NotAllowed`) — checked before anything is loaded;
//! - the device must be allowed to hold the document now, and the change may only move it to
//!   somewhere the device may also hold (`OutOfScope`); having held it once is not enough:
//!   what a device wrote to a record that moved away while it was offline is kept apart for
//!   review (`Storage::hold_for_review`) and acknowledged, so evidence is neither lost nor
//!   spread to where the device may not write;
//! - every change new to the server must come from an actor registered to the uploading
//!   device's user, or (relayed from the partner's device in the car, `provide_core::peer`)
//!   to a device of the same division and team that is not revoked, when the uploader is a
//!   patrol device (`UnknownActor`); its message must name that actor's registered user and
//!   role (`AuthorMismatch`), and its time must lie between the actor's registration and a
//!   few minutes past the server's clock (`TimeOutOfRange`);
//! - every operation of every new change must be allowed by the write rules for the
//!   registered role (`record::write_check`, `model::write_rules`): kind, field, value, list,
//!   and the fields naming who wrote an item (`NotAllowed`, `AuthorMismatch`); a record is made
//!   once (a second change without dependencies is `NotAllowed`);
//! - the merged document must be a valid record of a schema this server knows
//!   (`UnknownSchema`) whose id is the document's (`InvalidRecord`).
//!
//! Changes already held are ignored, so a resent upload is acknowledged and changes nothing;
//! an upload that makes nothing (an empty document) is refused and records no delivery.
//! An accepted case also rewrites its reporting row (`report::Attendance`), in the same commit.
//!
//! After a restore from a backup (`backup::restore`, or `mark-restored` after a PostgreSQL
//! restore) the store lacks what devices sent after the backup, though they hold it as
//! acknowledged, and their cursors count changes this store never numbered. Each device's
//! next request is answered (after its uploads are taken as usual) with cursor 0 and `more`,
//! no updates: a cursor below the one it sent tells a device to start over — forget what the
//! server acknowledged, send every record whole, and read everything from cursor 0. Its first
//! request at cursor 0 ends that. A device's cursor above this store's counter (restored by
//! other means) is answered from the start as well (`fill_page`).
//!
//! A record a device sends whole may hold other users' changes this store lacks (after a
//! restore): the device's own changes whose dependencies are here are taken, as if sent alone,
//! and the upload is refused (`UnknownActor`) for the rest, which their author's device brings;
//! the device sends the record again on its next sync, until nothing of it is new here.
//!
//! A revoked device makes one final upload: for a day after the server first answers it as
//! revoked, what it sends is kept apart for review (`Storage::hold_for_review`), audited, and
//! acknowledged so the device can erase itself; nothing of it reaches any other device. After
//! that day every request it makes is refused before its body is decoded.
//!
//! Each request's work is bounded: at most `MAX_TAKEN_DOCS` documents, `MAX_CHECKED_CHANGES`
//! new changes checked and `MAX_TAKING` spent taking them; documents past any of these are left
//! unacknowledged and the device sends them again in its next request.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use automerge::{AutoCommit, Change, ChangeHash};
use provide_core::audit;
use provide_core::model::write_rules::{self, Denied};
use provide_core::model::{id_fits, HealthRecord, RecordKind, Role};
use provide_core::peer::attestation::Attestation;
use provide_core::record::heads::tips;
use provide_core::record::migrate::{current_schema, stored_schema};
use provide_core::record::untrusted;
use provide_core::record::write_check::{self, Writer};
use provide_core::record::RecordDoc;
use provide_core::report::Attendance;
use provide_core::sync::protocol::{
    self, ActorAuthor, DocAck, DocChanges, DocOutcome, Refusal, SyncRequest, SyncResponse,
};
use provide_core::sync::scope::{holds_now, may_hold, next_standing, Holder, Placement, Standing};

use super::retention::placement;

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{ActorOwner, AuditEvent, DocWrite, StoredDoc};

/// How far ahead of the server's clock a change's time may be (devices' clocks drift).
pub const MAX_CLOCK_AHEAD_MS: i64 = 10 * 60_000;
/// How far before its actor's registration a change's time may be (the same drift).
pub const MAX_CLOCK_BEHIND_MS: i64 = 10 * 60_000;
/// The most new changes one request's documents are checked for; documents past it wait for
/// the device's next request.
pub const MAX_CHECKED_CHANGES: usize = 20_000;
/// The most documents one request takes; the rest wait for the device's next request (a
/// device of any version sends what was not acknowledged again).
pub const MAX_TAKEN_DOCS: usize = 500;
/// The most time one request spends taking documents before it leaves the rest for the
/// device's next request, so no request holds a worker and the store for long.
pub const MAX_TAKING: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest record id accepted.
const MAX_ID_LEN: usize = 128;
/// The most erasures one request may confirm (a device is sent at most 500 at a time).
const MAX_ERASED_CONFIRMED: usize = 1_000;

/// What taking one document's upload decided.
struct Taken {
    outcome: DocOutcome,
    /// The heads the device now surely holds (when accepted).
    device_heads: Vec<ChangeHash>,
    /// The case moved to another team or division, or changed status: its health record
    /// follows it (where it belongs, where it stands).
    follow: Option<(String, String, Standing)>,
    /// The rule a refused change broke, for the audit log (names fields, never values).
    denied: Option<String>,
    /// The device held the document once but may not now (it moved away while the device was
    /// offline): its changes are kept apart for review instead of lost or spread.
    hold: bool,
    /// The partner devices whose changes this upload relayed, with their attestations.
    relayed_from: Vec<String>,
}

/// What the checks of one request share: who each actor is, and the work left.
struct Checks {
    owners: HashMap<String, Option<ActorOwner>>,
    /// The actors of the other devices of a patrol device's team: their changes, made in the
    /// car and received by this device from its partner (peer sync), are relayed by it and
    /// taken as theirs, checked against their registered user and role.
    relayed: HashMap<String, ActorOwner>,
    /// The device CA (DER) the attestations of relayed changes must chain to.
    device_ca: Option<Vec<u8>>,
    /// Documents this request may still take.
    docs: Cell<usize>,
    /// When this request must stop taking documents.
    until: std::time::Instant,
    /// New changes this request may still have checked.
    budget: Cell<usize>,
    now_ms: i64,
}

fn event(device: &crate::storage::Device, action: &str, record: &str, detail: &str) -> AuditEvent {
    AuditEvent {
        device: device.id.clone(),
        user: device.user.clone(),
        action: action.into(),
        record: record.into(),
        detail: detail.into(),
    }
}

/// How many documents one sync carried each way.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocCounts {
    /// Documents the device sent up.
    pub received: u64,
    /// Documents sent down to the device.
    pub sent: u64,
}

impl DocCounts {
    fn of(request: &SyncRequest, response: &SyncResponse) -> Self {
        DocCounts {
            received: request.docs.len() as u64,
            sent: response.updates.len() as u64,
        }
    }
}

impl Service {
    /// Answers one sync request from an authenticated device.
    pub fn sync(&self, device: &crate::storage::Device, body: &[u8]) -> Result<Vec<u8>> {
        self.sync_counted(device, body).map(|(answer, _)| answer)
    }

    /// `sync`, also saying how many documents came up and went down (for the metrics).
    pub fn sync_counted(
        &self,
        device: &crate::storage::Device,
        body: &[u8],
    ) -> Result<(Vec<u8>, DocCounts)> {
        let version = protocol::version_of(body).unwrap_or(protocol::VERSION);
        let final_upload = device.revoked && self.final_upload_open(device)?;
        // a request refused whole (malformed, over the decode budget, corrupt changes) is
        // audited once, naming the refusal and never the content
        let request = match SyncRequest::decode(body)
            .map_err(ServerError::from)
            .and_then(|r| self.check_request(&r).map(|()| r))
        {
            Ok(r) => r,
            Err(e) => {
                self.storage.append_audit(&[event(
                    device,
                    "refuse",
                    "",
                    &format!("request refused whole: {}", e.code()),
                )])?;
                return Err(e);
            }
        };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if !self
            .storage
            .claim_request(&device.id, request.request_seq, &now)?
        {
            return Err(ServerError::Replayed(request.request_seq));
        }
        // restored from a backup, this store is behind what the device believes it holds: the
        // device is told once to start over (see the module notes); its request at cursor 0
        // shows it has
        let start_over = self.storage.resync_pending(&device.id)?;
        if start_over && request.cursor == 0 {
            self.storage.resync_done(&device.id)?;
        }
        let start_over = start_over && request.cursor > 0;
        // the device's cursor counts another store's changes: none of this store's pending
        // deliveries can be confirmed by it
        self.storage
            .confirm_deliveries(&device.id, if start_over { 0 } else { request.cursor })?;
        if !request.erased_confirmed.is_empty() {
            self.storage
                .confirm_erasures(&device.id, &request.erased_confirmed, &now)?;
            let confirmed: Vec<AuditEvent> = request
                .erased_confirmed
                .iter()
                .map(|id| event(device, "erase_confirmed", id, "purged from the device"))
                .collect();
            self.storage.append_audit(&confirmed)?;
        }
        let mut response = SyncResponse {
            request_seq: request.request_seq,
            ..Default::default()
        };
        // a device about to start over sends audit entries after the head it last heard of,
        // which this store may lack: they wait for its next request, sent from this head
        let (audit_acked, audit_rejected) = if start_over {
            let head = self.storage.device_audit_head(&device.id)?;
            (head.map_or(0, |(seq, _)| seq as u64), false)
        } else {
            self.take_device_audit(device, &request)?
        };
        response.audit_acked = audit_acked;
        response.audit_rejected = audit_rejected;

        let mut events = Vec::new();
        // the actors this device's changes may come from: its user's, on any of their devices,
        // and those of the users added to it (a shared device)
        let mut owners = HashMap::new();
        let mut actors = self.storage.actors_of_user(&device.user)?;
        actors.extend(self.storage.actors_of_device(&device.id)?);
        for actor in actors {
            let owner = self.storage.actor_owner(&actor)?;
            owners.insert(actor, owner);
        }
        let relays = !request.docs.is_empty()
            && !final_upload
            && matches!(device.role, Role::Officer | Role::Idva);
        let relayed = if relays {
            let mut team = self.storage.team_actors(&device.division, &device.team)?;
            // this device's own actors are its own, never relayed
            team.retain(|_, o| o.device_id != device.id && o.user != device.user);
            team
        } else {
            HashMap::new()
        };
        // the device CA the authors' attestations of relayed changes are checked against
        let device_ca = if relays && !request.relayed.is_empty() {
            self.device_ca()
                .ok()
                .and_then(|ca| provide_core::peer::certificate::pem_to_der(&ca.pem()).ok())
        } else {
            None
        };
        let checks = Checks {
            owners,
            relayed,
            device_ca,
            budget: Cell::new(MAX_CHECKED_CHANGES),
            docs: Cell::new(MAX_TAKEN_DOCS),
            until: std::time::Instant::now() + MAX_TAKING,
            now_ms: chrono::Utc::now().timestamp_millis(),
        };
        for (index, doc) in request.docs.iter().enumerate() {
            // a revoked device's final upload is not taken at all
            let taken = if final_upload {
                None
            } else {
                let epoch = request
                    .epochs
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map_or(0, |(_, e)| *e);
                let attested: Vec<&Attestation> = request
                    .relayed
                    .iter()
                    .filter(|(i, _)| *i == index)
                    .map(|(_, a)| a)
                    .collect();
                match self.take_doc(device, &checks, doc, epoch, &attested)? {
                    Some(t) => Some(t),
                    // over this request's budget: left unacknowledged, sent again next time
                    None => continue,
                }
            };
            let held_because = match &taken {
                None => Some("final upload of a revoked device, kept apart for review".into()),
                Some(t) if t.hold => Some(match &t.denied {
                    Some(rule) => format!("{rule}: changes kept apart for review"),
                    None => {
                        "changes to a record this device may no longer hold, kept apart for review"
                            .into()
                    }
                }),
                Some(_) => None,
            };
            if held_because.is_some()
                && !self
                    .storage
                    .erased_among(std::slice::from_ref(&doc.id))?
                    .is_empty()
            {
                // an erased record is kept nowhere, not even for review
                self.storage.erasure_holder(&doc.id, &device.id)?;
                events.push(event(
                    device,
                    "refuse",
                    &doc.id,
                    "Erased: the record was erased at the server",
                ));
                response.acks.push(DocAck {
                    doc: index,
                    outcome: DocOutcome::Refused(Refusal::Erased),
                });
                continue;
            }
            if let Some(why) = held_because {
                // kept, audited and acknowledged (so the device may let it go), never spread
                self.storage
                    .hold_for_review(&device.id, &doc.id, doc.kind, &doc.changes, &now)?;
                events.push(event(device, "hold_for_review", &doc.id, &why));
                response.acks.push(DocAck {
                    doc: index,
                    outcome: DocOutcome::Accepted,
                });
                continue;
            }
            let Some(taken) = taken else { continue };
            let what = match &taken.outcome {
                DocOutcome::Accepted if !taken.relayed_from.is_empty() => (
                    "receive",
                    format!(
                        "changes accepted, with changes relayed from partner {} under their attestation",
                        taken.relayed_from.join(", ")
                    ),
                ),
                DocOutcome::Accepted => ("receive", "changes accepted".to_string()),
                DocOutcome::NeedHistory => ("need_history", "base unknown here".to_string()),
                DocOutcome::Refused(why) => (
                    "refuse",
                    match &taken.denied {
                        Some(rule) => format!("{why:?}: {rule}"),
                        None => format!("{why:?}"),
                    },
                ),
            };
            events.push(event(device, what.0, &doc.id, &what.1));
            if let DocOutcome::Accepted = taken.outcome {
                self.storage
                    .set_known_heads(&device.id, &doc.id, &taken.device_heads)?;
            }
            if let Some((division, team, standing)) = &taken.follow {
                self.follow_case(&doc.id, division, team, *standing)?;
            }
            response.acks.push(DocAck {
                doc: index,
                outcome: taken.outcome,
            });
        }
        self.storage.append_audit(&events)?;

        if device.revoked {
            // a revoked device hands over what it holds and receives nothing more
            response.revoked = true;
            response.cursor = request.cursor;
            let counts = DocCounts::of(&request, &response);
            return Ok((response.encode_for(version), counts));
        }
        if start_over {
            // a cursor below the device's own is its signal to start over: send every record
            // again (whole, with its history) and receive everything from the start
            response.cursor = 0;
            response.more = true;
            self.storage.append_audit(&[event(
                device,
                "start_over",
                "",
                "the store was restored from a backup; the device is told to start over",
            )])?;
            let counts = DocCounts::of(&request, &response);
            return Ok((response.encode_for(version), counts));
        }
        self.fill_page(device, &request, &mut response, version)?;
        if version >= 7 {
            self.send_rectified(device, &request, &mut response)?;
        }
        let counts = DocCounts::of(&request, &response);
        Ok((response.encode_for(version), counts))
    }

    /// Whether a revoked device's final upload is still open (opening it on first contact);
    /// once it has closed, the refusal is audited and nothing of the request is decoded.
    fn final_upload_open(&self, device: &crate::storage::Device) -> Result<bool> {
        let now = chrono::Utc::now().timestamp_millis();
        let opened = self.storage.open_final_upload(&device.id, now)?;
        // long enough (a day by default) for a car on a poor link to hand over what it holds
        let window = i64::try_from(self.config.final_upload_minutes)
            .unwrap_or(i64::MAX / 60_000)
            .saturating_mul(60_000);
        if now.saturating_sub(opened) <= window {
            return Ok(true);
        }
        self.storage.append_audit(&[event(
            device,
            "refuse",
            "",
            "request from a revoked device after its final upload",
        )])?;
        Err(ServerError::Revoked)
    }

    /// Everything that can be checked before anything is written.
    fn check_request(&self, request: &SyncRequest) -> Result<()> {
        if request.docs.len() > self.config.max_docs_per_request
            || request.erased_confirmed.len() > MAX_ERASED_CONFIRMED
        {
            return Err(ServerError::TooLarge);
        }
        if request
            .erased_confirmed
            .iter()
            .any(|id| id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control))
        {
            return Err(ServerError::BadRequest(
                "a confirmed erasure's id is empty or too long".into(),
            ));
        }
        let mut seen = HashSet::new();
        for d in &request.docs {
            if d.id.is_empty() || d.id.len() > MAX_ID_LEN || d.id.chars().any(char::is_control) {
                return Err(ServerError::BadRequest(
                    "a record id is empty or too long".into(),
                ));
            }
            if !seen.insert(d.id.as_str()) {
                return Err(ServerError::BadRequest(format!(
                    "record {} appears twice",
                    d.id
                )));
            }
            if d.changes.is_empty() {
                return Err(ServerError::CorruptChanges(d.id.clone()));
            }
            // parse on its own: missing dependencies are fine here, broken bytes are not (nor
            // bytes that make Automerge panic: guarded)
            untrusted::load_incremental(&mut AutoCommit::new(), &d.changes)
                .map_err(|_| ServerError::CorruptChanges(d.id.clone()))?;
        }
        Ok(())
    }

    /// Verifies and keeps the device's audit entries; returns (newest held, rejected).
    fn take_device_audit(
        &self,
        device: &crate::storage::Device,
        request: &SyncRequest,
    ) -> Result<(u64, bool)> {
        let head = self.storage.device_audit_head(&device.id)?;
        let (after_seq, after_hash) = head.unwrap_or((0, audit::genesis().to_string()));
        // entries the server already holds (a resend after a lost answer) are skipped
        let mut fresh: Vec<audit::Entry> = request
            .audit
            .iter()
            .filter(|e| e.seq > after_seq)
            .cloned()
            .collect();
        if fresh.is_empty() {
            return Ok((after_seq as u64, false));
        }
        // the protocol carries only the last hash: rebuild the chain from what is held
        match audit::rebuild_continuation(after_seq, &after_hash, &mut fresh) {
            Ok(()) => {
                self.storage.append_device_audit(&device.id, &fresh)?;
                let last = fresh.last().map(|e| e.seq).unwrap_or(after_seq);
                Ok((last as u64, false))
            }
            Err(e) => {
                self.storage.append_audit(&[event(
                    device,
                    "audit_rejected",
                    "",
                    &format!("device audit log failed verification: {e}"),
                )])?;
                Ok((after_seq as u64, true))
            }
        }
    }

    /// Takes one document's upload in one atomic update. None when the request's budget of
    /// checks is spent before this document (it is left for the device's next request).
    fn take_doc(
        &self,
        device: &crate::storage::Device,
        checks: &Checks,
        up: &DocChanges,
        up_epoch: u32,
        attested: &[&Attestation],
    ) -> Result<Option<Taken>> {
        let mut taken = Taken {
            outcome: DocOutcome::Refused(Refusal::InvalidRecord),
            device_heads: vec![],
            follow: None,
            denied: None,
            hold: false,
            relayed_from: vec![],
        };
        if checks.budget.get() == 0
            || checks.docs.get() == 0
            || std::time::Instant::now() >= checks.until
        {
            return Ok(None);
        }
        checks.docs.set(checks.docs.get() - 1);
        // what can be refused from the request alone, before anything is loaded
        if !id_fits(up.kind, &up.id) {
            taken.denied = Some(format!("the id does not fit a {} record", up.kind));
            return Ok(Some(taken));
        }
        // some user of this device must be allowed to write the kind at all
        let roles_here = checks
            .owners
            .values()
            .flatten()
            .filter(|o| o.device_id == device.id)
            .map(|o| o.role);
        if !std::iter::once(device.role)
            .chain(roles_here)
            .any(|r| write_rules::may_write_kind(r, up.kind))
        {
            let d = Denied::Kind {
                role: device.role,
                kind: up.kind,
            };
            taken.outcome = DocOutcome::Refused(Refusal::NotAllowed);
            taken.denied = Some(d.to_string());
            return Ok(Some(taken));
        }
        let holder = Holder {
            role: device.role,
            division: &device.division,
            team: &device.team,
        };
        // a health record belongs where its case does
        let case_placement = if up.kind == RecordKind::Health {
            let case_id = up.id.strip_suffix(".health").unwrap_or("");
            self.storage
                .doc_meta(case_id)?
                .filter(|m| m.kind == RecordKind::Case)
                .map(|m| (m.division, m.team, m.standing))
        } else {
            None
        };
        let delivered = self.storage.known_heads(&device.id, &up.id)?;
        // held now, or let go at the server's word (what it wrote meanwhile is evidence)
        let held_once = delivered.is_some() || self.storage.ever_held(&device.id, &up.id)?;
        let compact_after = self.config.compact_after_chunks;
        let identity_key = self.storage.identity_key();
        let mut over_budget = false;
        let written = self
            .storage
            .update_doc(&up.id, &mut |stored: Option<StoredDoc>| {
                let refuse = |t: &mut Taken, why, rule: Option<String>| {
                    t.outcome = DocOutcome::Refused(why);
                    t.denied = rule;
                    Ok(None)
                };
                let (before, chunks) = match stored {
                    Some(s) => (Some(s.meta), s.chunks),
                    None => (None, vec![]),
                };
                if let Some(b) = &before {
                    if b.kind != up.kind {
                        return refuse(&mut taken, Refusal::InvalidRecord, None);
                    }
                    let placed = Placement {
                        kind: b.kind,
                        division: &b.division,
                        team: &b.team,
                    };
                    // held once is not enough: the device must be allowed to hold it now; what a
                    // device that did hold it wrote meanwhile is evidence, kept for review
                    if !may_hold(&holder, &placed) {
                        taken.hold = held_once;
                        return refuse(&mut taken, Refusal::OutOfScope, None);
                    }
                    if b.epoch > up_epoch {
                        // made on a history the server struck a value from: the device is sent
                        // the new epoch and replays these onto it (`record::rectify`)
                        return refuse(
                            &mut taken,
                            Refusal::Rectified,
                            Some(format!("the record was rectified (epoch {})", b.epoch)),
                        );
                    }
                }
                let mut rec = match RecordDoc::load_unmigrated(&up.id, up.kind, &chunks) {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(ServerError::Storage(format!("record {} is damaged", up.id)))
                    }
                };
                let old_heads = rec.heads();
                if up
                    .base
                    .iter()
                    .any(|h| rec.doc_mut().get_change_by_hash(h).is_none())
                {
                    taken.outcome = DocOutcome::NeedHistory;
                    return Ok(None);
                }
                if rec.merge_bytes(&up.changes).is_err() {
                    return refuse(&mut taken, Refusal::CorruptChanges, None);
                }
                if !rec.missing_deps().is_empty() {
                    taken.outcome = DocOutcome::NeedHistory;
                    return Ok(None);
                }
                let mut new = if before.is_some() {
                    rec.doc_mut().get_changes(&old_heads)
                } else {
                    rec.doc_mut().get_changes(&[])
                };
                if new.is_empty() {
                    if before.is_none() {
                        // an empty document makes nothing and records no delivery
                        return refuse(
                            &mut taken,
                            Refusal::InvalidRecord,
                            Some("the upload holds no changes".into()),
                        );
                    }
                    // everything was already here: acknowledge, change nothing
                    let mut device_heads: Vec<ChangeHash> = delivered.clone().unwrap_or_default();
                    device_heads.extend(up.base.iter().copied());
                    taken.outcome = DocOutcome::Accepted;
                    taken.device_heads = settle(&mut rec, device_heads);
                    return Ok(None);
                }
                if before.as_ref().is_some_and(|b| b.epoch > 0)
                    && new.iter().any(|c| c.deps().is_empty())
                {
                    // a second root: history from before the record was rectified (a bundle made
                    // earlier), which would bring the struck value back
                    return refuse(
                        &mut taken,
                        Refusal::InvalidRecord,
                        Some("changes from before the record was rectified".into()),
                    );
                }
                if new.len() > checks.budget.get() {
                    over_budget = true;
                    return Ok(None);
                }
                checks.budget.set(checks.budget.get() - new.len());
                // a record sent whole after a restore may carry other users' changes this
                // store lost: this device's own, on what is here, are taken (as if sent
                // alone), the rest refused until their author's device sends them
                let mut partial = false;
                // changes relayed from the partner's device, with their author's word
                let relayed = relayed_covered(rec.doc_mut(), &up.id, &new, checks, attested);
                let own = own_part(&new, device, checks, &relayed);
                if !own.is_empty() && own.len() < new.len() {
                    let mut kept = match RecordDoc::load_unmigrated(&up.id, up.kind, &chunks) {
                        Ok(r) => r,
                        Err(_) => {
                            return Err(ServerError::Storage(format!(
                                "record {} is damaged",
                                up.id
                            )))
                        }
                    };
                    let bytes: Vec<u8> = own.iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
                    if kept.merge_bytes(&bytes).is_err() || !kept.missing_deps().is_empty() {
                        return refuse(&mut taken, Refusal::UnknownActor, None);
                    }
                    rec = kept;
                    new = own;
                    partial = true;
                }
                if let Err((why, rule)) = check_changes(
                    rec.doc_mut(),
                    up.kind,
                    &new,
                    before.is_some(),
                    device,
                    checks,
                    &relayed,
                ) {
                    return refuse(&mut taken, why, Some(rule));
                }
                let mut from: Vec<String> = new
                    .iter()
                    .filter(|c| relayed.contains(&c.hash()))
                    .filter_map(|c| checks.relayed.get(&c.actor_id().to_hex_string()))
                    .map(|o| format!("device {} ({})", o.device_id, o.user))
                    .collect();
                from.sort();
                from.dedup();
                taken.relayed_from = from;
                if stored_schema(rec.doc()) > current_schema(up.kind) {
                    return refuse(&mut taken, Refusal::UnknownSchema, None);
                }
                let mut device_heads: Vec<ChangeHash> = delivered.clone().unwrap_or_default();
                device_heads.extend(up.base.iter().copied());
                device_heads.extend(tips(&new));
                // the typed record, hydrated once: its id, where it belongs, and for a case
                // its reporting row
                let (division, team, case, standing) = match up.kind {
                    RecordKind::Case => match rec.case() {
                        Ok(c) if c.id == up.id => {
                            // where it stands now, by the rule of who may move it (server time)
                            let stood = before.as_ref().map_or(Standing::OPEN, |b| b.standing);
                            let wrote_status = stood.status != Some(c.status)
                                && new.iter().any(|ch| {
                                    write_check::writes_top_level(rec.doc_mut(), ch, "status")
                                });
                            let standing = next_standing(
                                device.role,
                                stood,
                                c.status,
                                wrote_status,
                                checks.now_ms,
                            );
                            (c.division.clone(), c.team.clone(), Some(c), standing)
                        }
                        _ => return refuse(&mut taken, Refusal::InvalidRecord, None),
                    },
                    RecordKind::Shift => match rec.shift() {
                        Ok(s) if s.id == up.id => (s.division, s.team, None, Standing::OPEN),
                        _ => return refuse(&mut taken, Refusal::InvalidRecord, None),
                    },
                    RecordKind::Health => {
                        let h: HealthRecord = match rec.health() {
                            Ok(h) if h.id == up.id => h,
                            _ => return refuse(&mut taken, Refusal::InvalidRecord, None),
                        };
                        if format!("{}.health", h.case_id) != up.id {
                            return refuse(&mut taken, Refusal::InvalidRecord, None);
                        }
                        match &case_placement {
                            Some((d, t, standing)) => (d.clone(), t.clone(), None, *standing),
                            None => return refuse(&mut taken, Refusal::OutOfScope, None),
                        }
                    }
                };
                let unmoved = before
                    .as_ref()
                    .is_some_and(|b| b.division == division && b.team == team);
                let after = Placement {
                    kind: up.kind,
                    division: &division,
                    team: &team,
                };
                if !unmoved && !may_hold(&holder, &after) {
                    return refuse(&mut taken, Refusal::OutOfScope, None);
                }
                let restood = before.as_ref().is_some_and(|b| b.standing != standing);
                if before.is_some() && (!unmoved || restood) && up.kind == RecordKind::Case {
                    taken.follow = Some((division.clone(), team.clone(), standing));
                }
                let attendance = case.as_ref().map(|c| Attendance::of(c, identity_key));
                let heads = rec.heads();
                let compact = chunks.len() + 1 > compact_after;
                let bytes = if compact {
                    rec.save()
                } else if before.is_some() {
                    rec.save_after(&old_heads)
                } else {
                    rec.save()
                };
                if partial {
                    taken.outcome = DocOutcome::Refused(Refusal::UnknownActor);
                    taken.denied = Some(
                        "changes of another user's actor are not taken; this device's own were"
                            .into(),
                    );
                } else {
                    taken.outcome = DocOutcome::Accepted;
                    taken.device_heads = settle(&mut rec, device_heads);
                }
                Ok(Some(DocWrite {
                    kind: up.kind,
                    division,
                    team,
                    heads,
                    bytes,
                    replace: compact,
                    attendance,
                    standing,
                }))
            });
        if let Err(ServerError::Erased(_)) = written {
            // never written again: refused, and the device is told to purge it (and is
            // counted among those to confirm)
            self.storage.erasure_holder(&up.id, &device.id)?;
            taken.outcome = DocOutcome::Refused(Refusal::Erased);
            taken.denied = Some("the record was erased at the server".into());
            return Ok(Some(taken));
        }
        written?;
        if over_budget {
            return Ok(None);
        }
        Ok(Some(taken))
    }

    /// A device refused for uploading on a rectified record's old epoch is sent the new epoch
    /// whole in the same answer (its cursor may be past the change that made it), to replay
    /// its edits onto.
    fn send_rectified(
        &self,
        device: &crate::storage::Device,
        request: &SyncRequest,
        response: &mut SyncResponse,
    ) -> Result<()> {
        let refused: Vec<String> = response
            .acks
            .iter()
            .filter(|a| a.outcome == DocOutcome::Refused(Refusal::Rectified))
            .filter_map(|a| request.docs.get(a.doc).map(|d| d.id.clone()))
            .filter(|id| !response.updates.iter().any(|u| u.id == *id))
            .collect();
        let mut delivered = Vec::new();
        let mut events = Vec::new();
        let mut actors = HashSet::new();
        for id in refused {
            let Some(stored) = self.storage.load_doc(&id)? else {
                continue;
            };
            let mut rec = RecordDoc::load_unmigrated(&id, stored.meta.kind, &stored.chunks)
                .map_err(|_| ServerError::Storage(format!("record {id} is damaged")))?;
            actors.extend(
                rec.doc_mut()
                    .get_changes(&[])
                    .iter()
                    .map(|c| c.actor_id().clone()),
            );
            response.updates.push(DocChanges {
                id: id.clone(),
                kind: stored.meta.kind,
                base: vec![],
                changes: rec.wire_snapshot(),
            });
            response.rectified.extend(self.rectified_of(&stored.meta)?);
            delivered.push((id.clone(), rec.heads()));
            events.push(event(
                device,
                "disclose",
                &id,
                "rectified record sent whole",
            ));
        }
        if delivered.is_empty() {
            return Ok(());
        }
        self.storage
            .record_delivery(&device.id, &delivered, &[], &events, response.cursor)?;
        let known: HashSet<Vec<u8>> = response.authors.iter().map(|a| a.actor.clone()).collect();
        response.authors.extend(
            self.authors_of(actors)?
                .into_iter()
                .filter(|a| !known.contains(&a.actor)),
        );
        Ok(())
    }

    /// Who each actor was registered to, as an answer names the authors of what it carries.
    pub(crate) fn authors_of(
        &self,
        actors: impl IntoIterator<Item = automerge::ActorId>,
    ) -> Result<Vec<ActorAuthor>> {
        let mut authors = Vec::new();
        for actor in actors {
            let hex = actor.to_hex_string();
            if let Some(owner) = self.storage.actor_owner(&hex)? {
                authors.push(ActorAuthor {
                    actor: actor.to_bytes().to_vec(),
                    user: owner.user,
                    role: owner.role,
                });
            } else if let Some((user, role)) = self.storage.rectifier(&hex)? {
                // the root of a rectified record's epoch, written by the server for its rectifier
                authors.push(ActorAuthor {
                    actor: actor.to_bytes().to_vec(),
                    user,
                    role,
                });
            }
        }
        Ok(authors)
    }

    /// A case moved team or division, or changed status: its health record follows it.
    fn follow_case(
        &self,
        case_id: &str,
        division: &str,
        team: &str,
        standing: Standing,
    ) -> Result<()> {
        let health_id = format!("{case_id}.health");
        self.storage
            .update_doc(&health_id, &mut |stored: Option<StoredDoc>| {
                Ok(stored.map(|s| DocWrite {
                    kind: s.meta.kind,
                    division: division.to_string(),
                    team: team.to_string(),
                    heads: s.meta.heads,
                    bytes: vec![],
                    replace: false,
                    attendance: None,
                    standing,
                }))
            })?;
        Ok(())
    }

    /// Fills the response with a page of what changed in the device's scope since its cursor,
    /// and what left its scope, recording every disclosure before the answer goes.
    fn fill_page(
        &self,
        device: &crate::storage::Device,
        request: &SyncRequest,
        response: &mut SyncResponse,
        version: u16,
    ) -> Result<()> {
        let holder = Holder {
            role: device.role,
            division: &device.division,
            team: &device.team,
        };
        let budget = request.max_response_bytes.clamp(16 * 1024, 8 * 1024 * 1024) as usize;
        let retention = self.retention_for(&device.division)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        response.retention = Some(retention);
        // a patrol device holds its own team's documents only: never walk the others'
        let team = match device.role {
            Role::Officer | Role::Idva => Some(device.team.as_str()),
            Role::Safeguarding | Role::Admin => None,
        };
        let mut page = self.storage.changed_since(
            request.cursor,
            &device.division,
            team,
            &device.id,
            self.config.page_docs,
        )?;
        if request.cursor > page.upper {
            // the device is ahead of this server (restored from a backup): start again
            page = self.storage.changed_since(
                0,
                &device.division,
                team,
                &device.id,
                self.config.page_docs,
            )?;
        }
        let mut delivered = Vec::new();
        let mut purged = Vec::new();
        let mut events = Vec::new();
        let mut size = 0usize;
        let mut cursor = request.cursor.min(page.upper);
        let mut cut_short = page.truncated;
        let uploaded: HashMap<&str, ()> =
            request.docs.iter().map(|d| (d.id.as_str(), ())).collect();
        let mut actors: HashSet<automerge::ActorId> = HashSet::new();
        for meta in &page.docs {
            if size >= budget {
                cut_short = true;
                break;
            }
            let known = self.storage.known_heads(&device.id, &meta.id)?;
            // a closed case the safeguarding unit fetched on request stays its grace period
            let fetched = if device.role == Role::Safeguarding
                && meta.standing.status == Some(provide_core::model::case::Status::Closed)
            {
                self.storage
                    .holding(&device.id, &meta.id)?
                    .and_then(|h| h.fetched_ms)
            } else {
                None
            };
            if !holds_now(
                &holder,
                &placement(meta),
                meta.standing,
                retention,
                fetched,
                now_ms,
            ) {
                if known.is_some() {
                    purged.push(meta.id.clone());
                    let why = if may_hold(&holder, &placement(meta)) {
                        "handed over or closed, past the grace period"
                    } else {
                        "left the device's scope"
                    };
                    events.push(event(device, "purge", &meta.id, why));
                }
                cursor = meta.seq;
                continue;
            }
            if meta.epoch > 0 && version < 7 {
                // a device too old to replace a rectified record would merge its old history
                // back into the new one: it lets the record go until it is upgraded
                if known.is_some() {
                    purged.push(meta.id.clone());
                    events.push(event(
                        device,
                        "purge",
                        &meta.id,
                        "rectified, and the device's protocol cannot take the corrected record",
                    ));
                }
                cursor = meta.seq;
                continue;
            }
            let known = known.unwrap_or_default();
            if !known.is_empty() && sorted(&known) == sorted(&meta.heads) {
                cursor = meta.seq;
                continue;
            }
            let Some(stored) = self.storage.load_doc(&meta.id)? else {
                cursor = meta.seq;
                continue;
            };
            let mut rec = RecordDoc::load_unmigrated(&meta.id, meta.kind, &stored.chunks)
                .map_err(|_| ServerError::Storage(format!("record {} is damaged", meta.id)))?;
            let known: Vec<ChangeHash> = known
                .into_iter()
                .filter(|h| rec.doc_mut().get_change_by_hash(h).is_some())
                .collect();
            let changes = if known.is_empty() {
                rec.wire_snapshot()
            } else {
                rec.save_after(&known)
            };
            if changes.is_empty() {
                cursor = meta.seq;
                continue;
            }
            size += changes.len();
            let sent_changes = if known.is_empty() {
                rec.doc_mut().get_changes(&[])
            } else {
                rec.doc_mut().get_changes(&known)
            };
            actors.extend(sent_changes.iter().map(|c| c.actor_id().clone()));
            let heads = rec.heads();
            let why = if uploaded.contains_key(meta.id.as_str()) {
                "changes merged from others sent back"
            } else if known.is_empty() {
                "record sent"
            } else {
                "changes sent"
            };
            events.push(event(device, "disclose", &meta.id, why));
            if known.is_empty() {
                // sent whole at its epoch: a device holding an older one replaces its copy
                response.rectified.extend(self.rectified_of(meta)?);
            }
            delivered.push((meta.id.clone(), heads));
            response.updates.push(DocChanges {
                id: meta.id.clone(),
                kind: meta.kind,
                base: vec![],
                changes,
            });
            cursor = meta.seq;
        }
        if !cut_short {
            cursor = page.upper;
        }
        // what the device holds that has aged out since it changed (no change brings these
        // into a page): handed over or closed longer ago than the grace period
        for meta in self.expired_holdings(&device.id, &holder, retention, now_ms)? {
            if !purged.contains(&meta.id) && !delivered.iter().any(|(id, _)| *id == meta.id) {
                events.push(event(
                    device,
                    "purge",
                    &meta.id,
                    "handed over or closed, past the grace period",
                ));
                purged.push(meta.id);
            }
        }
        // what the device handed in, it still holds: if it may not keep it (it held back edits
        // when first told to let it go), it is told again, now that they are acknowledged
        for up in &request.docs {
            if purged.contains(&up.id) || delivered.iter().any(|(id, _)| *id == up.id) {
                continue;
            }
            let Some(meta) = self.storage.doc_meta(&up.id)? else {
                continue;
            };
            let fetched = self
                .storage
                .holding(&device.id, &meta.id)?
                .and_then(|h| h.fetched_ms);
            if !holds_now(
                &holder,
                &placement(&meta),
                meta.standing,
                retention,
                fetched,
                now_ms,
            ) {
                events.push(event(
                    device,
                    "purge",
                    &meta.id,
                    "handed in by a device that may not keep it",
                ));
                purged.push(meta.id);
            }
        }
        self.storage
            .record_delivery(&device.id, &delivered, &purged, &events, cursor)?;
        // who wrote what this page carries, as the server registered them
        response.authors = self.authors_of(actors)?;
        // what was erased and this device is still to confirm purging
        response.erased = self.storage.erasures_pending(&device.id)?;
        response.purge = purged;
        response.cursor = cursor;
        response.more = cut_short;
        Ok(())
    }
}

/// Whether the change's actor is registered to the uploading device's user (on any of their
/// devices) or to a user added to this device.
fn own_actor(change: &Change, device: &crate::storage::Device, checks: &Checks) -> bool {
    checks
        .owners
        .get(&change.actor_id().to_hex_string())
        .and_then(Option::as_ref)
        .is_some_and(|o| o.user == device.user || o.device_id == device.id)
}

/// The changes of `new` by this device's own actors whose dependencies are all held: already
/// here (not in `new`) or themselves kept. One pass over `new`, in the causal order Automerge
/// gives (a change out of that order is only left for later, never taken without its
/// dependencies); `new` is within the request's check budget.
fn own_part(
    new: &[Change],
    device: &crate::storage::Device,
    checks: &Checks,
    relayed: &HashSet<ChangeHash>,
) -> Vec<Change> {
    let fresh: HashSet<ChangeHash> = new.iter().map(Change::hash).collect();
    let mut kept: HashSet<ChangeHash> = HashSet::new();
    let mut own = Vec::new();
    for c in new {
        let ready = (own_actor(c, device, checks) || relayed.contains(&c.hash()))
            && c.deps()
                .iter()
                .all(|d| !fresh.contains(d) || kept.contains(d));
        if ready {
            kept.insert(c.hash());
            own.push(c.clone());
        }
    }
    own
}

/// Every new change checked against who its actor is and what its role may write.
fn check_changes(
    doc: &mut AutoCommit,
    kind: RecordKind,
    new: &[Change],
    had_changes: bool,
    device: &crate::storage::Device,
    checks: &Checks,
    relayed: &HashSet<ChangeHash>,
) -> std::result::Result<(), (Refusal, String)> {
    if write_check::remakes_record(had_changes, new) {
        return Err((
            Refusal::NotAllowed,
            "a change without dependencies would make the record again".into(),
        ));
    }
    for change in new {
        let actor = change.actor_id().to_hex_string();
        // an actor registered to this device's user, on this device or another of theirs, or
        // to the partner's device in its team (relayed)
        let owner = match checks.owners.get(&actor).and_then(Option::as_ref) {
            Some(owner) if owner.user != device.user && owner.device_id != device.id => {
                return Err((
                    Refusal::UnknownActor,
                    "the actor belongs to another user".into(),
                ));
            }
            Some(owner) => owner,
            None => match checks.relayed.get(&actor) {
                Some(owner) => {
                    if !relayed.contains(&change.hash()) {
                        return Err((
                            Refusal::UnknownActor,
                            "a relayed change without its author's attestation".into(),
                        ));
                    }
                    owner
                }
                None => return Err((Refusal::UnknownActor, "the actor is not registered".into())),
            },
        };
        // seconds from devices of this release, milliseconds from those not yet upgraded
        let t = provide_core::record::change_time::change_time_ms(change.timestamp());
        if t < owner.registered_at_ms - MAX_CLOCK_BEHIND_MS
            || t > checks.now_ms + MAX_CLOCK_AHEAD_MS
        {
            return Err((
                Refusal::TimeOutOfRange,
                "the change's time is before its actor was registered or ahead of the server's clock"
                    .into(),
            ));
        }
        let writer = Writer {
            user: &owner.user,
            role: owner.role,
        };
        if let Err(denied) = write_check::check_attributed(doc, kind, change, writer) {
            let why = match denied {
                Denied::Author { .. } => Refusal::AuthorMismatch,
                _ => Refusal::NotAllowed,
            };
            return Err((why, denied.to_string()));
        }
    }
    Ok(())
}

/// The changes of `new` relayed from the partner's device (by an actor of another device of
/// this device's team) that their author's attestation among `attested` covers, by the rule
/// the devices apply too (`peer::attestation::covered`).
fn relayed_covered(
    doc: &mut AutoCommit,
    id: &str,
    new: &[Change],
    checks: &Checks,
    attested: &[&Attestation],
) -> HashSet<ChangeHash> {
    let Some(ca) = checks.device_ca.as_ref() else {
        return HashSet::new();
    };
    if !new
        .iter()
        .any(|c| checks.relayed.contains_key(&c.actor_id().to_hex_string()))
    {
        return HashSet::new();
    }
    let now_s = checks.now_ms / 1000;
    provide_core::peer::attestation::covered(doc, id, new, attested, (ca, now_s), |who| {
        checks
            .relayed
            .get(&who.claims.actor)
            .is_some_and(|owner| owner.device_id == who.claims.device_id)
    })
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort();
    h.dedup();
    h
}

/// Heads a device holds, in their simplest form, keeping only hashes this document has (a
/// device's base may name changes the server never received).
fn settle(rec: &mut RecordDoc, mut candidate: Vec<ChangeHash>) -> Vec<ChangeHash> {
    candidate.retain(|h| rec.doc_mut().get_change_by_hash(h).is_some());
    rec.settle_heads(candidate)
}
