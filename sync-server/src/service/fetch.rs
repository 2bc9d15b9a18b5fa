//! The safeguarding unit fetching closed cases from the server on request (issue 15; the
//! device's side and the rules are in provide-core's `sync::fetch`). Only a safeguarding
//! device, for its own division. The query is turned into the keyed digest the server keeps
//! for every case (`Attendance::lookup`), so no name is searched as text, stored or logged;
//! each closed case the device does not hold (or holds only until its next sync) is sent
//! whole and recorded as fetched, so it stays
//! on the device for the grace period after the fetch (`scope::holds_now`) and then leaves on
//! a sync. The search (how, and how many found; never what was searched for) and every case
//! sent are audited as consultations.

use provide_core::model::case::Status;
use provide_core::model::Role;
use provide_core::record::RecordDoc;
use provide_core::report::pseudonym::{name_lookup, reference_lookup};
use provide_core::sync::fetch::{FetchRequest, Query, MAX_FOUND};
use provide_core::sync::protocol::{self, DocChanges, SyncResponse};
use provide_core::sync::scope::{holds_now, Holder};

use super::retention::placement;
use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, Device};

fn event(device: &Device, action: &str, record: &str, detail: String) -> AuditEvent {
    AuditEvent {
        device: device.id.clone(),
        user: device.user.clone(),
        action: action.into(),
        record: record.into(),
        detail,
    }
}

/// Searches one person may make for closed cases: (window in ms, at most). A day's work of
/// the unit needs far fewer; a stolen laptop's enumeration stops at them.
pub const FETCH_QUOTAS: &[(i64, u64)] = &[(3_600_000, 30), (86_400_000, 100)];

impl Service {
    /// Answers a fetch (`body`: JSON `FetchRequest`) with a sync answer carrying the closed
    /// cases found.
    pub fn fetch_closed(&self, device: &Device, body: &[u8]) -> Result<Vec<u8>> {
        // refusals are audited too: a patrol or revoked device asking is a sign to look into
        let refuse = |why: &str| -> Result<Vec<u8>> {
            self.storage
                .append_audit(&[event(device, "fetch_refused", "", why.into())])?;
            Err(ServerError::Forbidden(why.into()))
        };
        if device.revoked {
            return refuse("this device is revoked");
        }
        if device.role != Role::Safeguarding {
            return refuse("only the safeguarding unit fetches closed cases");
        }
        let request: FetchRequest = serde_json::from_slice(body)
            .map_err(|_| ServerError::BadRequest("the request is not valid JSON".into()))?;
        // a stolen unit laptop trying reference after reference, name after name, meets a
        // quota per person (across devices and processes), refused and audited
        let now_ms = chrono::Utc::now().timestamp_millis();
        if let Some(wait_ms) = self
            .storage
            .claim_fetch(&device.user, now_ms, FETCH_QUOTAS)?
        {
            self.storage.append_audit(&[event(
                device,
                "fetch_refused",
                "",
                "the quota of searches for closed cases was reached".into(),
            )])?;
            return Err(ServerError::Throttled((wait_ms / 1000).max(1) as u64));
        }
        let key = self.storage.identity_key();
        let (how, digest) = match request.query().map_err(ServerError::InvalidInput)? {
            Query::Reference(r) => ("reference", reference_lookup(key, r)),
            Query::Name(n) => ("name", name_lookup(key, n)),
        };
        let found = match &digest {
            Some(d) => {
                self.storage
                    .find_cases(std::slice::from_ref(d), &device.division, MAX_FOUND)?
            }
            None => vec![],
        };
        let holder = Holder {
            role: device.role,
            division: &device.division,
            team: &device.team,
        };
        let retention = self.retention_for(&device.division)?;
        let mut response = SyncResponse {
            cursor: request.cursor,
            retention: Some(retention),
            ..Default::default()
        };
        let mut delivered = Vec::new();
        let mut events = Vec::new();
        let mut actors = std::collections::HashSet::new();
        for meta in &found {
            // open cases reach the unit by sync; a closed one it holds and keeps is not sent
            // again
            if meta.standing.status != Some(Status::Closed) {
                continue;
            }
            if let Some(held) = self.storage.holding(&device.id, &meta.id)? {
                let place = placement(meta);
                if holds_now(
                    &holder,
                    &place,
                    meta.standing,
                    retention,
                    held.fetched_ms,
                    now_ms,
                ) {
                    continue;
                }
            }
            let Some(stored) = self.storage.load_doc(&meta.id)? else {
                continue;
            };
            let mut rec = RecordDoc::load_unmigrated(&meta.id, meta.kind, &stored.chunks)
                .map_err(|_| ServerError::Storage(format!("record {} is damaged", meta.id)))?;
            actors.extend(
                rec.doc_mut()
                    .get_changes(&[])
                    .iter()
                    .map(|c| c.actor_id().clone()),
            );
            response.updates.push(DocChanges {
                id: meta.id.clone(),
                kind: meta.kind,
                base: vec![],
                changes: rec.wire_snapshot(),
            });
            response.rectified.extend(self.rectified_of(meta)?);
            delivered.push((meta.id.clone(), rec.heads()));
            events.push(event(
                device,
                "consult",
                &meta.id,
                "closed case fetched on request".into(),
            ));
        }
        events.insert(
            0,
            event(
                device,
                "search",
                "",
                // the lookup (a keyed digest: an investigator with the server can test a
                // suspected name against it) and what it found, never the query's text
                format!(
                    "closed cases searched by {how} (lookup {}): {} found, {} sent; found: {}",
                    digest.as_deref().map_or("none", |d| &d[..16.min(d.len())]),
                    found.len(),
                    delivered.len(),
                    found
                        .iter()
                        .map(|m| m.id.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ),
        );
        self.storage
            .record_fetch(&device.id, &delivered, &events, request.cursor, now_ms)?;
        response.authors = self.authors_of(actors)?;
        Ok(response.encode_for(protocol::VERSION))
    }
}
