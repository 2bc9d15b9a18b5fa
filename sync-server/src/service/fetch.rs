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

impl Service {
    /// Answers a fetch (`body`: JSON `FetchRequest`) with a sync answer carrying the closed
    /// cases found.
    pub fn fetch_closed(&self, device: &Device, body: &[u8]) -> Result<Vec<u8>> {
        if device.revoked {
            return Err(ServerError::Forbidden("this device is revoked".into()));
        }
        if device.role != Role::Safeguarding {
            return Err(ServerError::Forbidden(
                "only the safeguarding unit fetches closed cases".into(),
            ));
        }
        let request: FetchRequest = serde_json::from_slice(body)
            .map_err(|_| ServerError::BadRequest("the request is not valid JSON".into()))?;
        let key = self.storage.identity_key();
        let (how, digest) = match request.query().map_err(ServerError::InvalidInput)? {
            Query::Reference(r) => ("reference", reference_lookup(key, r)),
            Query::Name(n) => ("name", name_lookup(key, n)),
        };
        let found = match digest {
            Some(d) => self.storage.find_cases(&[d], &device.division, MAX_FOUND)?,
            None => vec![],
        };
        let holder = Holder {
            role: device.role,
            division: &device.division,
            team: &device.team,
        };
        let retention = self.retention_for(&device.division)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
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
                format!(
                    "closed cases searched by {how}: {} found, {} sent",
                    found.len(),
                    delivered.len()
                ),
            ),
        );
        self.storage
            .record_fetch(&device.id, &delivered, &events, request.cursor, now_ms)?;
        response.authors = self.authors_of(actors)?;
        Ok(response.encode_for(protocol::VERSION))
    }
}
