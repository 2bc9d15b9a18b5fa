//! One sync exchange (design §5): check the whole request before anything is written, take
//! each document's changes in its own atomic commit, verify and keep the device's audit log,
//! then answer with a page of what changed in the device's scope since its cursor.
//!
//! Rules applied to every uploaded document, on the server's copy:
//! - the changes must parse (else the whole request is refused, 422, and nothing is written);
//! - the device's base must be known here, and the changes must leave no gaps (else
//!   `NeedHistory`: the device sends the whole document);
//! - every change new to the server must come from an actor registered to the uploading
//!   device's user (`UnknownActor`);
//! - the device must be allowed to hold the document before the change, and the change may
//!   only move it to somewhere the device may also hold (`OutOfScope`);
//! - the merged document must be a valid record whose id is the document's (`InvalidRecord`).
//!
//! Changes already held are ignored, so a resent upload is acknowledged and changes nothing.
//! An accepted case also rewrites its reporting row (`report::Attendance`), in the same commit.

use std::collections::{HashMap, HashSet};

use automerge::{AutoCommit, ChangeHash};
use provide_core::audit;
use provide_core::model::{HealthRecord, RecordKind, Role};
use provide_core::record::heads::tips;
use provide_core::record::RecordDoc;
use provide_core::report::Attendance;
use provide_core::sync::protocol::{
    DocAck, DocChanges, DocOutcome, Refusal, SyncRequest, SyncResponse,
};
use provide_core::sync::scope::{may_hold, Holder, Placement};

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, DocMeta, DocWrite, StoredDoc};

/// The longest record id accepted.
const MAX_ID_LEN: usize = 128;

/// What taking one document's upload decided.
struct Taken {
    outcome: DocOutcome,
    /// The heads the device now surely holds (when accepted).
    device_heads: Vec<ChangeHash>,
    /// The document moved to another team or division (its health record must follow).
    moved_to: Option<(String, String)>,
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

impl Service {
    /// Answers one sync request from an authenticated device.
    pub fn sync(&self, device: &crate::storage::Device, body: &[u8]) -> Result<Vec<u8>> {
        let request = SyncRequest::decode(body)?;
        self.check_request(&request)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if !self
            .storage
            .claim_request(&device.id, request.request_seq, &now)?
        {
            return Err(ServerError::Replayed(request.request_seq));
        }
        self.storage
            .confirm_deliveries(&device.id, request.cursor)?;
        let mut response = SyncResponse {
            request_seq: request.request_seq,
            ..Default::default()
        };
        let (audit_acked, audit_rejected) = self.take_device_audit(device, &request)?;
        response.audit_acked = audit_acked;
        response.audit_rejected = audit_rejected;

        let actors = self.storage.actors_of_user(&device.user)?;
        let mut events = Vec::new();
        for (index, doc) in request.docs.iter().enumerate() {
            let taken = self.take_doc(device, &actors, doc)?;
            let what = match &taken.outcome {
                DocOutcome::Accepted => ("receive", "changes accepted".to_string()),
                DocOutcome::NeedHistory => ("need_history", "base unknown here".to_string()),
                DocOutcome::Refused(why) => ("refuse", format!("{why:?}")),
            };
            events.push(event(device, what.0, &doc.id, &what.1));
            if let DocOutcome::Accepted = taken.outcome {
                self.storage
                    .set_known_heads(&device.id, &doc.id, &taken.device_heads)?;
            }
            if let Some((division, team)) = &taken.moved_to {
                self.move_health_record(&doc.id, division, team)?;
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
            return Ok(response.encode());
        }
        self.fill_page(device, &request, &mut response)?;
        Ok(response.encode())
    }

    /// Everything that can be checked before anything is written.
    fn check_request(&self, request: &SyncRequest) -> Result<()> {
        if request.docs.len() > self.config.max_docs_per_request {
            return Err(ServerError::TooLarge);
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
            // parse on its own: missing dependencies are fine here, broken bytes are not
            AutoCommit::new()
                .load_incremental(&d.changes)
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

    /// Takes one document's upload in one atomic update.
    fn take_doc(
        &self,
        device: &crate::storage::Device,
        actors: &HashSet<String>,
        up: &DocChanges,
    ) -> Result<Taken> {
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
                .map(|m| (m.division, m.team))
        } else {
            None
        };
        let delivered = self.storage.known_heads(&device.id, &up.id)?;
        let compact_after = self.config.compact_after_chunks;
        let identity_key = self.storage.identity_key();
        let mut taken = Taken {
            outcome: DocOutcome::Refused(Refusal::InvalidRecord),
            device_heads: vec![],
            moved_to: None,
        };
        self.storage
            .update_doc(&up.id, &mut |stored: Option<StoredDoc>| {
                let refuse = |t: &mut Taken, why| {
                    t.outcome = DocOutcome::Refused(why);
                    Ok(None)
                };
                let (before, chunks) = match stored {
                    Some(s) => (Some(s.meta), s.chunks),
                    None => (None, vec![]),
                };
                if let Some(b) = &before {
                    if b.kind != up.kind {
                        return refuse(&mut taken, Refusal::InvalidRecord);
                    }
                    let placed = Placement {
                        kind: b.kind,
                        division: &b.division,
                        team: &b.team,
                    };
                    if !may_hold(&holder, &placed) && delivered.is_none() {
                        return refuse(&mut taken, Refusal::OutOfScope);
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
                    return refuse(&mut taken, Refusal::CorruptChanges);
                }
                if !rec.missing_deps().is_empty() {
                    taken.outcome = DocOutcome::NeedHistory;
                    return Ok(None);
                }
                let new = if before.is_some() {
                    rec.doc_mut().get_changes(&old_heads)
                } else {
                    rec.doc_mut().get_changes(&[])
                };
                let mut device_heads: Vec<ChangeHash> = delivered.clone().unwrap_or_default();
                device_heads.extend(up.base.iter().copied());
                device_heads.extend(tips(&new));
                if new.is_empty() {
                    // everything was already here: acknowledge, change nothing
                    taken.outcome = DocOutcome::Accepted;
                    taken.device_heads = settle(&mut rec, device_heads);
                    return Ok(None);
                }
                if new
                    .iter()
                    .any(|c| !actors.contains(&c.actor_id().to_hex_string()))
                {
                    return refuse(&mut taken, Refusal::UnknownActor);
                }
                // the typed record, hydrated once: its id, where it belongs, and for a case
                // its reporting row
                let (division, team, case) = match up.kind {
                    RecordKind::Case => match rec.case() {
                        Ok(c) if c.id == up.id => (c.division.clone(), c.team.clone(), Some(c)),
                        _ => return refuse(&mut taken, Refusal::InvalidRecord),
                    },
                    RecordKind::Shift => match rec.shift() {
                        Ok(s) if s.id == up.id => (s.division, s.team, None),
                        _ => return refuse(&mut taken, Refusal::InvalidRecord),
                    },
                    RecordKind::Health => {
                        let h: HealthRecord = match rec.health() {
                            Ok(h) if h.id == up.id => h,
                            _ => return refuse(&mut taken, Refusal::InvalidRecord),
                        };
                        if format!("{}.health", h.case_id) != up.id {
                            return refuse(&mut taken, Refusal::InvalidRecord);
                        }
                        match &case_placement {
                            Some((d, t)) => (d.clone(), t.clone(), None),
                            None => return refuse(&mut taken, Refusal::OutOfScope),
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
                    return refuse(&mut taken, Refusal::OutOfScope);
                }
                if before.is_some() && !unmoved && up.kind == RecordKind::Case {
                    taken.moved_to = Some((division.clone(), team.clone()));
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
                taken.outcome = DocOutcome::Accepted;
                taken.device_heads = settle(&mut rec, device_heads);
                Ok(Some(DocWrite {
                    kind: up.kind,
                    division,
                    team,
                    heads,
                    bytes,
                    replace: compact,
                    attendance,
                }))
            })?;
        Ok(taken)
    }

    /// A case moved team or division: its health record follows it.
    fn move_health_record(&self, case_id: &str, division: &str, team: &str) -> Result<()> {
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
    ) -> Result<()> {
        let holder = Holder {
            role: device.role,
            division: &device.division,
            team: &device.team,
        };
        let budget = request.max_response_bytes.clamp(16 * 1024, 8 * 1024 * 1024) as usize;
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
        for meta in &page.docs {
            if size >= budget {
                cut_short = true;
                break;
            }
            let known = self.storage.known_heads(&device.id, &meta.id)?;
            if !may_hold(&holder, &placement(meta)) {
                if known.is_some() {
                    purged.push(meta.id.clone());
                    events.push(event(device, "purge", &meta.id, "left the device's scope"));
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
            let heads = rec.heads();
            let why = if uploaded.contains_key(meta.id.as_str()) {
                "changes merged from others sent back"
            } else if known.is_empty() {
                "record sent"
            } else {
                "changes sent"
            };
            events.push(event(device, "disclose", &meta.id, why));
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
        self.storage
            .record_delivery(&device.id, &delivered, &purged, &events, cursor)?;
        response.purge = purged;
        response.cursor = cursor;
        response.more = cut_short;
        Ok(())
    }
}

fn placement(meta: &DocMeta) -> Placement<'_> {
    Placement {
        kind: meta.kind,
        division: &meta.division,
        team: &meta.team,
    }
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
